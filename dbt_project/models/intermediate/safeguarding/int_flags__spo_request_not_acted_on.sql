{#-
    SPO_REQUEST_NOT_ACTED_ON (SPEC §7.1): for every dyad with a known
    perpetrator of a victim whose advocacy case records spo_requested_date:
    no SPO (interim or full) of the dyad was applied for within
    `spo_request_window_days` of that date (inclusive both ends).

    raised_at: the (earliest unanswered) request date + N days (checked once
    as_of is N days past it). evidence_refs: the advocacy cases whose
    request was not acted on.
-#}
with

cases as (
    select * from {{ ref('int_safeguarding__cases') }}
),

dyads as (
    select * from {{ ref('int_dyads') }}
),

orders as (
    select * from {{ ref('int_safeguarding__orders') }}
),

thresholds as (
    select * from {{ ref('int_flag_thresholds') }}
),

requests as (
    select
        dyads.dyad_id,
        dyads.victim_id,
        dyads.perpetrator_id,
        cases.case_ref,
        cases.evidence_ref,
        cases.spo_requested_date,
        cast(
            {{ add_interval(
                'cases.spo_requested_date', 'thresholds.spo_request_window_days', 'day'
            ) }} as date
        ) as window_end_date
    from cases
    inner join dyads
        on cases.victim_id = dyads.victim_id
    cross join thresholds
    where
        cases.spo_requested_date is not null
        and dyads.perpetrator_id is not null
),

spo_applications as (
    select
        dyad_id,
        applied_date
    from orders
    where is_spo and applied_date is not null
),

acted_on as (
    select distinct
        requests.dyad_id,
        requests.evidence_ref
    from requests
    inner join spo_applications
        on
            requests.dyad_id = spo_applications.dyad_id
            and spo_applications.applied_date
            between requests.spo_requested_date and requests.window_end_date
),

unanswered as (
    select requests.*
    from requests
    where not exists (
        select 1 from acted_on
        where
            requests.dyad_id = acted_on.dyad_id
            and requests.evidence_ref = acted_on.evidence_ref
    )
),

{%- set request_text -%}
    'SPO requested via advocacy case ' || case_ref || ' on '
            || {{ format_timestamp('spo_requested_date', '%Y-%m-%d') }}
            || '; no SPO application for this pair by '
            || {{ format_timestamp('window_end_date', '%Y-%m-%d') }}
{%- endset %}

final as (
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        'SPO_REQUEST_NOT_ACTED_ON' as flag_code,
        cast(min(window_end_date) as timestamp) as raised_at,
        {{ string_agg_ordered('evidence_ref', "', '", 'evidence_ref', distinct=true) }}
            as evidence_refs,
        {{ string_agg_ordered(request_text, "'; '", 'spo_requested_date, case_ref') }} as detail
    from unanswered
    group by dyad_id, victim_id, perpetrator_id
)

select * from final
