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
