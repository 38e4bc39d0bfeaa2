{#-
    One row per (dyad, flag) candidate of the flags about Stalking Protection
    Orders (NO_SPO_CONSIDERED, INTERIM_SPO_LATE, SPO_REQUEST_NOT_ACTED_ON,
    SPO_WITHOUT_POSITIVE_REQUIREMENTS), as a view (no table of its
    own), so that dyad_flags reads two flag models, not nine.
-#}
{{ config(materialized='view') }}

with

no_spo_considered as (
    select * from {{ ref('int_flags__no_spo_considered') }}
),

interim_spo_late as (
    select * from {{ ref('int_flags__interim_spo_late') }}
),

spo_request_not_acted_on as (
    select * from {{ ref('int_flags__spo_request_not_acted_on') }}
),

spo_without_positive_requirements as (
    select * from {{ ref('int_flags__spo_without_positive_requirements') }}
),

flags as (
    {{ union_all_by_name(
        [
            'no_spo_considered',
            'interim_spo_late',
            'spo_request_not_acted_on',
            'spo_without_positive_requirements',
        ],
        flag_columns()
    ) }}
)

select * from flags
