{#-
    INTERIM_SPO_LATE (SPEC §7.1): an SPO_INTERIM of the dyad was granted
    more than `interim_spo_max_days` calendar days after the reported date of
    the crime it relates to (same source, crime_ref). An interim SPO with no
    live related crime cannot be timed and is not flagged.

    raised_at: the grant date (the rule is true once the late grant
    happens). evidence_refs: the late orders and their crimes.
-#}
with

orders as (
    select * from {{ ref('int_safeguarding__orders') }}
),

crimes as (
    select * from {{ ref('int_crimes') }}
),

thresholds as (
    select * from {{ ref('int_flag_thresholds') }}
),

late_grants as (
    select
        orders.dyad_id,
        orders.victim_id,
        orders.perpetrator_id,
        orders.order_ref,
        orders.evidence_ref as order_evidence_ref,
        crimes.source_id || ':' || crimes.crime_ref as crime_evidence_ref,
        orders.granted_date,
        cast(crimes.reported_at as date) as crime_reported_date,
        {{ date_diff('day', 'cast(crimes.reported_at as date)', 'orders.granted_date') }}
            as days_to_grant
    from orders
    inner join crimes
        on
            orders.source_id = crimes.source_id
            and orders.crime_ref = crimes.crime_ref
    cross join thresholds
    where
        orders.order_type = 'SPO_INTERIM'
        and orders.granted_date is not null
        and {{ date_diff('day', 'cast(crimes.reported_at as date)', 'orders.granted_date') }}
        > thresholds.interim_spo_max_days
),

evidence as (
    select
        dyad_id,
        order_evidence_ref as evidence_ref
    from late_grants
    union
    select
        dyad_id,
        crime_evidence_ref as evidence_ref
    from late_grants
),

evidence_lists as (
    select
        dyad_id,
        {{ string_agg_ordered('evidence_ref', "', '", 'evidence_ref') }} as evidence_refs
    from evidence
    group by dyad_id
),

{%- set grant_text -%}
    'interim SPO ' || late_grants.order_ref || ' granted '
            || {{ format_timestamp('late_grants.granted_date', '%Y-%m-%d') }} || ', '
            || cast(late_grants.days_to_grant as {{ text_type() }}) || ' days after the crime was reported ('
            || {{ format_timestamp('late_grants.crime_reported_date', '%Y-%m-%d') }} || ')'
{%- endset %}

final as (
    select
        late_grants.dyad_id,
        late_grants.victim_id,
        late_grants.perpetrator_id,
        'INTERIM_SPO_LATE' as flag_code,
        cast(min(late_grants.granted_date) as timestamp) as raised_at,
        any_value(evidence_lists.evidence_refs) as evidence_refs,
        {{ string_agg_ordered(
            grant_text, "'; '", 'late_grants.granted_date, late_grants.order_ref'
        ) }} as detail
    from late_grants
    inner join evidence_lists
        on late_grants.dyad_id = evidence_lists.dyad_id
    group by late_grants.dyad_id, late_grants.victim_id, late_grants.perpetrator_id
)

select * from final
