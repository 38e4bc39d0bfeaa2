{#-
    Field-by-field evidence of each clerical review item: agreement level and
    match weight, as the linkage stage wrote it.
-#}
with

review_fields as (
    select * from {{ source('linkage', 'review_fields') }}
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
