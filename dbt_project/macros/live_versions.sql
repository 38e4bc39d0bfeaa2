{#-
    The version rule of docs/warehouse.md, for one raw entity relation.

    Per (source_id, <ref_column>) keep the row with the latest updated_at;
    ties go to the later extract_date, then the greater drop_name, then the
    greater line_number (version_id last, so the order is total even for a
    pathological re-delivery). The rule reads only row content, so drops
    loaded in any order give the same result. The caller drops the kept row
    when its record_status is DELETED.
-#}
{% macro latest_version_filter(ref_column) -%}
    qualify row_number() over (
        partition by source_id, {{ ref_column }}
        order by
            updated_at desc,
            extract_date desc,
            drop_name desc,
            line_number desc,
            version_id desc
    ) = 1
{%- endmacro %}
