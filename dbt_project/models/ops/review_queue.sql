{#-
    ops.review_queue: one row per pair of record roles awaiting clerical
    review, with each role's agency and current person_id; what `masip review
    export` writes for reviewers. Pseudonymous ids and agency references only.
-#}
with

review_queue as (
    select * from {{ ref('stg_linkage__review_queue') }}
),

person_records as (
    select * from {{ ref('int_person_records') }}
),

final as (
    select
        review_queue.review_id,
        review_queue.link_method,
        review_queue.match_probability,
        review_queue.match_weight,
        review_queue.linked,
        review_queue.source_id_a,
        review_queue.source_table_a,
        review_queue.record_ref_a,
        review_queue.role_a,
        records_a.agency as agency_a,
        review_queue.person_id_a,
        review_queue.source_id_b,
        review_queue.source_table_b,
        review_queue.record_ref_b,
        review_queue.role_b,
        records_b.agency as agency_b,
        review_queue.person_id_b
    from review_queue
    left join person_records as records_a
        on
            review_queue.source_id_a = records_a.source_id
            and review_queue.source_table_a = records_a.source_table
            and review_queue.record_ref_a = records_a.record_ref
            and review_queue.role_a = records_a.role
    left join person_records as records_b
        on
            review_queue.source_id_b = records_b.source_id
            and review_queue.source_table_b = records_b.source_table
            and review_queue.record_ref_b = records_b.record_ref
            and review_queue.role_b = records_b.role
)

select * from final
order by review_id
