{#-
    One row per source record ever delivered, of any agency: the extract
    date of the first delivery that held it (any version, deleted ones
    included), from the police's and the partner agencies' staging models.
    A view (no table of its own).
-#}
{{ config(materialized='view') }}

with

police_deliveries as (
    select * from {{ ref('stg_raw__police_first_deliveries') }}
),

partner_deliveries as (
    select * from {{ ref('stg_raw__partner_first_deliveries') }}
),

deliveries as (
    {{ union_all_by_name(
        ['police_deliveries', 'partner_deliveries'],
        ['source_id', 'source_table', 'record_ref', 'first_extract_date']
    ) }}
)

select * from deliveries
