with

loaded_drops as (
    select * from {{ source('ops', 'loaded_drops') }}
),

final as (
    select
        drop_name,
        drop_sha256,
        source_id,
        agency,
        extract_date
    from loaded_drops
)

select * from final
