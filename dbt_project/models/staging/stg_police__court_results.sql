{{
    config(
        materialized='incremental',
        unique_key=['source_id', 'result_ref'],
        incremental_strategy=record_replace_strategy(),
        post_hook="{{ delete_deleted_records(source('raw', 'court_results')) }}",
    )
}}

with

court_results as (
    select * from {{ source('raw', 'court_results') }}
),

loaded_drops as (
    select * from {{ source('ops', 'loaded_drops') }}
),

candidate_versions as (
    select * from court_results
    {{ changed_since_last_build('court_results', 'loaded_drops', 'result_ref') }}
),

latest_versions as (
    {{ latest_versions('candidate_versions', 'result_ref') }}
),

final as (
    select
        source_id,
        agency,
        result_ref,
        force,
        crime_ref,
        hearing_at as hearing_date,
        court,
        result,
        convicted_offence_code,
        sentence_type,
        sentence_months,
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
