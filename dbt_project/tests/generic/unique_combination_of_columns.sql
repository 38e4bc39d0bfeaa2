{#-
    Fails for every combination of combination_of_columns that occurs more
    than once. A package-free stand-in for dbt_utils' test of the same name
    (packages cannot be downloaded on the build machines).
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

with

validated as (
    select
        {{ combination_of_columns | join(', ') }},
        count(*) as n_rows
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1
)

select * from validated

{% endtest %}
