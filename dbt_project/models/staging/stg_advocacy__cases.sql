{{
    config(
        materialized='incremental',
        unique_key=['source_id', 'case_ref'],
        incremental_strategy=record_replace_strategy(),
        post_hook="{{ delete_deleted_records(source('raw', 'cases')) }}",
    )
}}

with

cases as (
    select * from {{ source('raw', 'cases') }}
),

loaded_drops as (
    select * from {{ source('ops', 'loaded_drops') }}
),

candidate_versions as (
    select * from cases
    {{ changed_since_last_build('cases', 'loaded_drops', 'case_ref') }}
),

latest_versions as (
    {{ latest_versions('candidate_versions', 'case_ref') }}
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
    {{ without_deleted_records() }}
)

select * from final
