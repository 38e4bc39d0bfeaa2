{#-
    The clerical review queue as the linkage stage (masip/linkage/review.py,
    its own process) wrote it into the candidate warehouse.
-#}
with

review_queue as (
    select * from {{ source('linkage', 'review_queue') }}
),

final as (
    select
        review_id,
        source_id_a,
        source_table_a,
        record_ref_a,
        role_a,
        person_id_a,
        source_id_b,
        source_table_b,
        record_ref_b,
        role_b,
        person_id_b,
        link_method,
        match_probability,
        match_weight,
        linked
    from review_queue
)

select * from final
