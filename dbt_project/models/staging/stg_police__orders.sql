{{
    config(
        materialized='incremental',
        unique_key=['source_id', 'order_ref'],
        incremental_strategy=record_replace_strategy(),
        post_hook="{{ delete_deleted_records(source('raw', 'orders')) }}",
    )
}}

with

orders as (
    select * from {{ source('raw', 'orders') }}
),

loaded_drops as (
    select * from {{ source('ops', 'loaded_drops') }}
),

candidate_versions as (
    select * from orders
    {{ changed_since_last_build('orders', 'loaded_drops', 'order_ref') }}
),

latest_versions as (
    {{ latest_versions('candidate_versions', 'order_ref') }}
),

final as (
    select
        source_id,
        agency,
        order_ref,
        force,
        crime_ref,
        order_type,
        status,
        applied_at as applied_date,
        granted_at as granted_date,
        expires_at as expires_date,
        positive_requirements,
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
