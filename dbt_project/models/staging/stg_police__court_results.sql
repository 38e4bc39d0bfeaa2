with

court_results as (
    select * from {{ source('raw', 'court_results') }}
),

latest_versions as (
    {{ latest_versions('court_results', 'result_ref') }}
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
    where record_status is distinct from 'DELETED'
)

select * from final
