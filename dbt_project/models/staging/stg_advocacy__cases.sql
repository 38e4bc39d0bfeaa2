with

cases as (
    select * from {{ source('raw', 'cases') }}
),

latest_versions as (
    {{ latest_versions('cases', 'case_ref') }}
),

final as (
    select
        source_id,
        agency,
        case_ref,
        relationship,
        referral_at as referral_date,
        referral_source,
        force,
        police_crime_ref,
        risk_level,
        spo_requested_at as spo_requested_date,
        first_contact_at as first_contact_date,
        closed_at as closed_date,
        closure_reason,
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
