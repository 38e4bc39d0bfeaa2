{#-
    One row per (dyad, event) of the police's records: the events of crimes,
    orders, breaches, court results and referrals, as a view (no
    table of its own), so that victim_journey reads
    two event models instead of eight.
-#}
{{ config(materialized='view') }}

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

events as (
    {{ union_all_by_name(
        [
            'crime_events',
            'order_events',
            'breach_events',
            'court_result_events',
            'referral_events',
        ],
        journey_event_columns()
    ) }}
)

select * from events
