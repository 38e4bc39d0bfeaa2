{{
    config(
        materialized='incremental',
        unique_key=['source_id', 'referral_ref'],
        incremental_strategy=record_replace_strategy(),
        post_hook="{{ delete_deleted_records(source('raw', 'referrals')) }}",
    )
}}

with

referrals as (
    select * from {{ source('raw', 'referrals') }}
),

loaded_drops as (
    select * from {{ source('ops', 'loaded_drops') }}
),

candidate_versions as (
    select * from referrals
    {{ changed_since_last_build('referrals', 'loaded_drops', 'referral_ref') }}
),

latest_versions as (
    {{ latest_versions('candidate_versions', 'referral_ref') }}
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
    {{ without_deleted_records() }}
)

select * from final
