with

orders as (
    select * from {{ source('raw', 'orders') }}
),

latest_versions as (
    {{ latest_versions('orders', 'order_ref') }}
),

final as (
    select
        source_id,
        agency,
        order_ref,
        force,
        crime_ref,
        order_type,
        status,
        applied_at as applied_date,
        granted_at as granted_date,
        expires_at as expires_date,
        positive_requirements,
        updated_at,
        extract_date,
        drop_name,
        drop_sha256,
        file_name,
        line_number,
        version_id
    from latest_versions
    where record_status is distinct from 'DELETED'
)

select * from final
