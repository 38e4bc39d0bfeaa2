{#-
    ops.review_queue_fields: one row per review item per compared field, the
    agreement level and match weight a reviewer reads (never a value).
-#}
with

review_fields as (
    select * from {{ ref('stg_linkage__review_fields') }}
),

final as (
    select
        review_id,
        field,
        field_position,
        agreement_level,
        match_weight
    from review_fields
)

select * from final
order by review_id, field_position
