{{
    config(
        materialized='incremental',
        unique_key=['source_id', 'contact_ref'],
        incremental_strategy=record_replace_strategy(),
        post_hook="{{ delete_deleted_records(source('raw', 'contacts')) }}",
    )
}}

with

contacts as (
    select * from {{ source('raw', 'contacts') }}
),

loaded_drops as (
    select * from {{ source('ops', 'loaded_drops') }}
),

candidate_versions as (
    select * from contacts
    {{ changed_since_last_build('contacts', 'loaded_drops', 'contact_ref') }}
),

latest_versions as (
    {{ latest_versions('candidate_versions', 'contact_ref') }}
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
    {{ without_deleted_records() }}
)

select * from final
