{#-
    Fails for every row with a null in any of column_names; each failing row
    says which of them are null (one boolean column per name). One query per
    model instead of one dbt test per column: a build ran some 300 not_null
    tests, each a node with its own compile, transaction and log lines, which
    cost more than the scans themselves. A primary key column keeps dbt's own
    unique + not_null pair.
-#}
{% test not_null_columns(model, column_names) %}

with

nulls as (
    select
        {% for column_name in column_names -%}
            {{ column_name }} is null as {{ column_name }}_is_null{{ "," if not loop.last }}
        {% endfor %}
    from {{ model }}
    where
        {% for column_name in column_names -%}
            {{ column_name }} is null{{ " or" if not loop.last }}
        {% endfor %}
)

select * from nulls

{% endtest %}
