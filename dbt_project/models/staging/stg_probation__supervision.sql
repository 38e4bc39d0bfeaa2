{{
    config(
        materialized='incremental',
        unique_key=['source_id', 'event_ref'],
        incremental_strategy=record_replace_strategy(),
        post_hook="{{ delete_deleted_records(source('raw', 'supervision')) }}",
    )
}}

with

supervision as (
    select * from {{ source('raw', 'supervision') }}
),

loaded_drops as (
    select * from {{ source('ops', 'loaded_drops') }}
),

candidate_versions as (
    select * from supervision
    {{ changed_since_last_build('supervision', 'loaded_drops', 'event_ref') }}
),

latest_versions as (
    {{ latest_versions('candidate_versions', 'event_ref') }}
),

final as (
    select
        source_id,
        agency,
        event_ref,
        order_type,
        start_date,
        end_date,
        requirements,
        rosh_level,
        masip_accepted_at as masip_accepted_date,
        masip_ended_at as masip_ended_date,
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
