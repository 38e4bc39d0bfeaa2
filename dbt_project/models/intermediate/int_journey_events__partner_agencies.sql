{#-
    One row per (dyad, event) of the partner agencies' records: advocacy
    cases, health contacts and probation supervision, as a view (no table of its
    own).
-#}
{{ config(materialized='view') }}

with

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
            'case_events',
            'contact_events',
            'supervision_events',
        ],
        journey_event_columns()
    ) }}
)

select * from events
