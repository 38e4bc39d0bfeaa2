{#-
    One person_id per live record role, as the linkage stage
    (masip/linkage/stage.py, its own process) wrote it into the candidate
    warehouse between the staging models and the rest of the build.
-#}
with

person_links as (
    select * from {{ source('linkage', 'person_links') }}
),

final as (
    select
        source_id,
        source_table,
        record_ref,
        role,
        person_id,
        link_method,
        match_probability
    from person_links
)

select * from final
