{#-
    The version rule of docs/warehouse.md, for one raw entity relation.

    Per (source_id, <ref_column>) keep the row with the latest updated_at;
    ties go to the later extract_date, then the longer drop_name and the
    greater of names of one length (a re-delivery numbered on: `_10` after
    `_9`, `_2` after the first delivery's unnumbered name; by text alone a
    tenth re-delivery lost to the ninth, outside check 2026-12-07), then the
    greater line_number (version_id last, so the order is total even for a
    pathological re-delivery). The rule reads only row content, so drops
    loaded in any order give the same result. The caller drops the kept row
    when its record_status is DELETED.

    A whole select statement over `relation` (a CTE name), because the rule
    is a QUALIFY on DuckDB and a ranked subquery elsewhere (first_row_per, macros/dialect.sql);
    the caller selects its columns explicitly.
-#}
{% macro latest_versions(relation, ref_column) -%}
    {{ first_row_per(
        relation,
        partition_by='source_id, ' ~ ref_column,
        order_by='updated_at desc, extract_date desc, length(drop_name) desc, drop_name desc, '
            ~ 'line_number desc, version_id desc'
    ) }}
{%- endmacro %}

{#-
    Per (source_id, <ref_column>) of one raw entity table (read from the
    import CTE of the same name), the extract date of the first delivery that
    held any version of the record: int_first_deliveries.
-#}
{% macro first_delivery(table, ref_column) -%}
    select
        source_id,
        '{{ table }}' as source_table,
        {{ ref_column }} as record_ref,
        min(extract_date) as first_extract_date
    from {{ table }}
    group by source_id, {{ ref_column }}
{%- endmacro %}
