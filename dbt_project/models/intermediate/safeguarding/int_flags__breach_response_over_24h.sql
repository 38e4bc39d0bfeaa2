{#-
    BREACH_RESPONSE_OVER_24H (SPEC §7.1): a breach of an order of the dyad
    (protecting its victim from its perpetrator) was responded to more than
    `breach_response_max_hours` after it was reported, or has no response
    (by as_of) and was reported more than that long before as_of at 00:00.
    Exactly 24 h is in time; 24 h 1 min is not.

    raised_at, per breach: the response time of a late response; for a
    breach with no response, reported_at + 24 h. The dyad's flag takes the
    earliest. evidence_refs: every late or unanswered breach.
-#}
with

breaches as (
    select * from {{ ref('int_safeguarding__breaches') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

thresholds as (
    select * from {{ ref('int_flag_thresholds') }}
),

timed_breaches as (
    select
        breaches.*,
        {{ add_interval('breaches.reported_at', 'thresholds.breach_response_max_hours', 'hour') }}
            as response_due_at,
        cast(as_of.as_of_date as timestamp) as as_of_at
    from breaches
    cross join as_of
    cross join thresholds
),

late_breaches as (
    select
        *,
        case
            when responded_at > response_due_at then responded_at
            when responded_at is null and response_due_at < as_of_at then response_due_at
        end as breach_raised_at,
        case
            when responded_at is not null
                then
                    'responded after '
                    || cast(round(
                        {{ date_diff('minute', 'reported_at', 'responded_at') }} / 60.0, 1
                    ) as {{ text_type() }})
                    || ' h'
            else 'no response recorded'
        end as response_text
    from timed_breaches
),

{%- set breach_text -%}
    'breach ' || breach_ref || ' of ' || order_type || ' reported '
            || {{ format_timestamp('reported_at', '%Y-%m-%d %H:%M') }} || ', ' || response_text
{%- endset %}

final as (
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        'BREACH_RESPONSE_OVER_24H' as flag_code,
        min(breach_raised_at) as raised_at,
        {{ string_agg_ordered('evidence_ref', "', '", 'evidence_ref') }} as evidence_refs,
        {{ string_agg_ordered(breach_text, "'; '", 'reported_at, source_id, breach_ref') }}
            as detail
    from late_breaches
    where breach_raised_at is not null
    group by dyad_id, victim_id, perpetrator_id
)

select * from final
