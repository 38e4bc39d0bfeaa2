with

referrals as (
    select * from {{ source('raw', 'referrals') }}
),

latest_versions as (
    {{ latest_versions('referrals', 'referral_ref') }}
),

final as (
    select
        source_id,
        agency,
        referral_ref,
        force,
        crime_ref,
        referred_at as referred_date,
        referred_to,
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
