{{
    config(
        materialized='incremental',
        unique_key=['source_id', 'breach_ref'],
        incremental_strategy=record_replace_strategy(),
        post_hook="{{ delete_deleted_records(source('raw', 'breaches')) }}",
    )
}}

with

breaches as (
    select * from {{ source('raw', 'breaches') }}
),

loaded_drops as (
    select * from {{ source('ops', 'loaded_drops') }}
),

candidate_versions as (
    select * from breaches
    {{ changed_since_last_build('breaches', 'loaded_drops', 'breach_ref') }}
),

latest_versions as (
    {{ latest_versions('candidate_versions', 'breach_ref') }}
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
    {{ without_deleted_records() }}
)

select * from final
