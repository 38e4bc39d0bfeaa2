{#-
    SPEC §5 marts.person_xref: one row per live source record role, with the
    person it resolves to and how it was linked.
-#}
with

person_links as (
    select * from {{ ref('stg_linkage__person_links') }}
),

person_records as (
    select * from {{ ref('int_person_records') }}
),

final as (
    select
        person_links.source_id,
        person_links.source_table,
        person_links.record_ref,
        person_links.role,
        person_links.person_id,
        person_links.link_method,
        person_links.match_probability,
        person_records.agency
    from person_links
    inner join person_records
        on
            person_links.source_id = person_records.source_id
            and person_links.source_table = person_records.source_table
            and person_links.record_ref = person_records.record_ref
            and person_links.role = person_records.role
)

select * from final
order by source_id, source_table, record_ref, role
