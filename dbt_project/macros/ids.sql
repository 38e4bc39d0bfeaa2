{#- Content-derived identifiers: the same inputs give the same ids in any load order. -#}

{% macro dyad_id(victim_id, perpetrator_id) -%}
    {%- set key -%}
        {{ victim_id }} || '|' || coalesce({{ perpetrator_id }}, '')
    {%- endset -%}
    'D' || {{ md5_prefix(key, 16) }}
{%- endmacro %}

{% macro event_id(dyad_id, source_id, source_table, record_ref, event_type) -%}
    {%- set key -%}
        {{ dyad_id }} || '|' || {{ source_id }} || '|' || {{ source_table }}
        || '|' || {{ record_ref }} || '|' || {{ event_type }}
    {%- endset -%}
    'E' || {{ md5_prefix(key, 16) }}
{%- endmacro %}
