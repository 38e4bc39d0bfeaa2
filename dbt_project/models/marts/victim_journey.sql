{#-
    SPEC §5 marts.victim_journey: one row per (dyad, event), ordered by
    event_at. Events come from every agency's live records; the
    int_journey_events__* models decide which dyads each record's events
    belong to. first_delivered_date: when the event's record first arrived
    (the case pack's "new" counts late deliveries too).
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

first_deliveries as (
    select * from {{ ref('stg_raw__first_deliveries') }}
),

events as (
    {{ union_all_by_name(
        [
            'crime_events',
            'order_events',
            'breach_events',
            'court_result_events',
            'referral_events',
            'case_events',
            'contact_events',
            'supervision_events',
        ],
        [
            'dyad_id',
            'victim_id',
            'perpetrator_id',
            'event_at',
            'event_type',
            'source_id',
            'source_table',
            'record_ref',
            'force',
            'offence_category',
            'detail',
        ]
    ) }}
),

final as (
    select
        {{ event_id(
            'events.dyad_id', 'events.source_id', 'events.source_table', 'events.record_ref', 'events.event_type'
        ) }}
            as event_id,
        events.dyad_id,
        events.victim_id,
        events.perpetrator_id,
        events.event_at,
        events.event_type,
        events.source_id,
        events.record_ref,
        events.offence_category,
        events.detail,
        events.source_table,
        events.force,
        first_deliveries.first_extract_date as first_delivered_date
    from events
    left join first_deliveries
        on
            events.source_id = first_deliveries.source_id
            and events.source_table = first_deliveries.source_table
            and events.record_ref = first_deliveries.record_ref
)

select * from final
order by event_at, event_id
