with

contacts as (
    select * from {{ source('raw', 'contacts') }}
),

latest_versions as (
    {{ latest_versions('contacts', 'contact_ref') }}
),

final as (
    select
        source_id,
        agency,
        contact_ref,
        person_role,
        service,
        contact_at as contact_date,
        contact_type,
        referral_source,
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
