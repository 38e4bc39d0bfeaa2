{#-
    One row per linked source record: the person_id of its victim and of its
    perpetrator role (null when the record has no such role).
-#}
with

person_links as (
    select * from {{ ref('stg_linkage__person_links') }}
),

final as (
    select
        source_id,
        source_table,
        record_ref,
        max(person_id) filter (where role = 'VICTIM') as victim_id,
        max(person_id) filter (where role = 'PERPETRATOR') as perpetrator_id
    from person_links
    group by source_id, source_table, record_ref
)

select * from final
