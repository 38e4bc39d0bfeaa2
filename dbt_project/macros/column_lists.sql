{#-
    The columns every model of one kind has, named once: the journey's
    events (the int_journey_events__* models and what gathers them) and the
    candidate flags (the int_flags__* models and what gathers them), as the
    unions of union_all_by_name read them.
-#}
{% macro journey_event_columns() -%}
    {{ return([
        'dyad_id', 'victim_id', 'perpetrator_id', 'event_at', 'event_type', 'source_id', 'source_table',
        'record_ref', 'force', 'offence_category', 'detail',
    ]) }}
{%- endmacro %}

{% macro flag_columns() -%}
    {{ return(['dyad_id', 'victim_id', 'perpetrator_id', 'flag_code', 'raised_at', 'evidence_refs', 'detail']) }}
{%- endmacro %}
