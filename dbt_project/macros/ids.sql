{#- Content-derived identifiers: the same inputs give the same ids in any load order. -#}

{% macro dyad_id(victim_id, perpetrator_id) -%}
    'D' || left(md5({{ victim_id }} || '|' || coalesce({{ perpetrator_id }}, '')), 16)
{%- endmacro %}

{% macro event_id(dyad_id, source_id, source_table, record_ref, event_type) -%}
    'E' || left(
        md5(
            {{ dyad_id }} || '|' || {{ source_id }} || '|' || {{ source_table }}
            || '|' || {{ record_ref }} || '|' || {{ event_type }}
        ),
        16
    )
{%- endmacro %}
