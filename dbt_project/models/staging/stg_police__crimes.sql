{{
    config(
        materialized='incremental',
        unique_key=['source_id', 'crime_ref'],
        incremental_strategy=record_replace_strategy(),
        post_hook="{{ delete_deleted_records(source('raw', 'crimes')) }}",
    )
}}

with

crimes as (
    select * from {{ source('raw', 'crimes') }}
),

loaded_drops as (
    select * from {{ source('ops', 'loaded_drops') }}
),

candidate_versions as (
    select * from crimes
    {{ changed_since_last_build('crimes', 'loaded_drops', 'crime_ref') }}
),

latest_versions as (
    {{ latest_versions('candidate_versions', 'crime_ref') }}
),

final as (
    select
        source_id,
        agency,
        crime_ref,
        force,
        reported_at,
        offence_from as offence_from_date,
        offence_code,
        relationship,
        online_element as has_online_element,
        risk_level,
        cps_referred_at as cps_referred_date,
        charged_at as charged_date,
        charge_offence_code,
        outcome_code,
        outcome_at as outcome_date,
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
