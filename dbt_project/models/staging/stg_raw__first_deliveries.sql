{#-
    One row per source record ever delivered: the extract date of the first
    delivery that held it (any version, deleted ones included). The case pack
    counts an event as new when its record first arrived in the week, however
    old the event's own date: a crime reported a month ago and delivered
    late is new to the panel. Rebuilt in full on every build (one grouped
    scan of the raw row versions), so a redelivered earlier extract moves
    the date back.
-#}
with

crimes as (
    select * from {{ source('raw', 'crimes') }}
),

orders as (
    select * from {{ source('raw', 'orders') }}
),

breaches as (
    select * from {{ source('raw', 'breaches') }}
),

court_results as (
    select * from {{ source('raw', 'court_results') }}
),

referrals as (
    select * from {{ source('raw', 'referrals') }}
),

supervision as (
    select * from {{ source('raw', 'supervision') }}
),

contacts as (
    select * from {{ source('raw', 'contacts') }}
),

cases as (
    select * from {{ source('raw', 'cases') }}
),

deliveries as (
    select
        source_id,
        'crimes' as source_table,
        crime_ref as record_ref,
        min(extract_date) as first_extract_date
    from crimes
    group by source_id, crime_ref
    union all
    select
        source_id,
        'orders' as source_table,
        order_ref as record_ref,
        min(extract_date) as first_extract_date
    from orders
    group by source_id, order_ref
    union all
    select
        source_id,
        'breaches' as source_table,
        breach_ref as record_ref,
        min(extract_date) as first_extract_date
    from breaches
    group by source_id, breach_ref
    union all
    select
        source_id,
        'court_results' as source_table,
        result_ref as record_ref,
        min(extract_date) as first_extract_date
    from court_results
    group by source_id, result_ref
    union all
    select
        source_id,
        'referrals' as source_table,
        referral_ref as record_ref,
        min(extract_date) as first_extract_date
    from referrals
    group by source_id, referral_ref
    union all
    select
        source_id,
        'supervision' as source_table,
        event_ref as record_ref,
        min(extract_date) as first_extract_date
    from supervision
    group by source_id, event_ref
    union all
    select
        source_id,
        'contacts' as source_table,
        contact_ref as record_ref,
        min(extract_date) as first_extract_date
    from contacts
    group by source_id, contact_ref
    union all
    select
        source_id,
        'cases' as source_table,
        case_ref as record_ref,
        min(extract_date) as first_extract_date
    from cases
    group by source_id, case_ref
),

final as (
    select
        source_id,
        source_table,
        record_ref,
        first_extract_date
    from deliveries
)

select * from final
