with

breaches as (
    select * from {{ source('raw', 'breaches') }}
),

latest_versions as (
    {{ latest_versions('breaches', 'breach_ref') }}
),

final as (
    select
        source_id,
        agency,
        breach_ref,
        force,
        order_ref,
        reported_at,
        responded_at,
        arrested_at,
        new_crime_ref,
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
