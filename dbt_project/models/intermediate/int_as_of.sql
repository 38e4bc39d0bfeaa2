{#-
    The run's reference date (SPEC §7): the `as_of` var when given
    (YYYY-MM-DD), else the latest extract_date loaded. One row; flag and
    panel models read as_of_date from here and nowhere else.
-#}
{%- set as_of = var('as_of', none) -%}

with

loaded_drops as (
    select * from {{ ref('stg_ops__loaded_drops') }}
),

final as (
    select
        {% if as_of -%}
            cast('{{ as_of }}' as date)
        {%- else -%}
            max(extract_date)
        {%- endif %} as as_of_date,
        max(extract_date) as latest_extract_date,
        {{ 'true' if as_of else 'false' }} as is_as_of_given
    from loaded_drops
)

select * from final
