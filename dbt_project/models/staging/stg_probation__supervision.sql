with

supervision as (
    select * from {{ source('raw', 'supervision') }}
),

latest_versions as (
    {{ latest_versions('supervision', 'event_ref') }}
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
    where record_status is distinct from 'DELETED'
)

select * from final
