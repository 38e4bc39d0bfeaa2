{#-
    SPEC §5 marts.victim_journey: one row per (dyad, event), ordered by
    event_at. Events come from every agency's live records; the
    int_journey_events__* models decide which dyads each record's events
    belong to.
-#}
with

crime_events as (
    select * from {{ ref('int_journey_events__crimes') }}
),

order_events as (
    select * from {{ ref('int_journey_events__orders') }}
),

breach_events as (
    select * from {{ ref('int_journey_events__breaches') }}
),

court_result_events as (
    select * from {{ ref('int_journey_events__court_results') }}
),

referral_events as (
    select * from {{ ref('int_journey_events__referrals') }}
),

case_events as (
    select * from {{ ref('int_journey_events__cases') }}
),

contact_events as (
    select * from {{ ref('int_journey_events__contacts') }}
),

supervision_events as (
    select * from {{ ref('int_journey_events__supervision') }}
),

events as (
    select * from crime_events
    union all by name
    select * from order_events
    union all by name
    select * from breach_events
    union all by name
    select * from court_result_events
    union all by name
    select * from referral_events
    union all by name
    select * from case_events
    union all by name
    select * from contact_events
    union all by name
    select * from supervision_events
),

final as (
    select
        {{ event_id('dyad_id', 'source_id', 'source_table', 'record_ref', 'event_type') }}
            as event_id,
        dyad_id,
        victim_id,
        perpetrator_id,
        event_at,
        event_type,
        source_id,
        record_ref,
        offence_category,
        detail,
        source_table,
        force
    from events
)

select * from final
order by event_at, event_id
