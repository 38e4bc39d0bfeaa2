{#-
    Fails unless the model holds exactly one row: the key of a one-row model
    (the run's reference date, the pivoted thresholds) is the model itself.
-#}
{% test one_row(model) %}

with

counted as (
    select count(*) as n_rows
    from {{ model }}
)

select * from counted
where n_rows != 1

{% endtest %}
