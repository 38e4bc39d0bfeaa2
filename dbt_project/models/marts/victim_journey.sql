{#-
    SPEC §5 marts.victim_journey: one row per (dyad, event), ordered by
    event_at. Events come from every agency's live records; the
    int_journey_events__* models decide which dyads each record's events
    belong to. first_delivered_date: when the event's record first arrived
    (the case pack's "new" counts late deliveries too).
-#}
with

police_events as (
    select * from {{ ref('int_journey_events__police') }}
),

partner_agency_events as (
    select * from {{ ref('int_journey_events__partner_agencies') }}
),

first_deliveries as (
    select * from {{ ref('int_first_deliveries') }}
),

events as (
    {{ union_all_by_name(
        ['police_events', 'partner_agency_events'],
        journey_event_columns()
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
