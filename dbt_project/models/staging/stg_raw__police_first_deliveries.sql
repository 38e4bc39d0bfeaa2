{#-
    One row per police record ever delivered (crimes, orders, breaches,
    court results, referrals): the extract date of the first delivery that
    held it (any version, deleted ones included). The case pack
    counts an event as new when its record first arrived in the week, however
    old the event's own date: a crime reported a month ago and delivered
    late is new to the panel. Rebuilt in full on every build (one grouped
    scan of the raw row versions), so a redelivered earlier extract moves
    the date back. int_first_deliveries joins it with stg_raw__partner_first_deliveries.
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

deliveries as (
    {{ first_delivery('crimes', 'crime_ref') }}
    union all
    {{ first_delivery('orders', 'order_ref') }}
    union all
    {{ first_delivery('breaches', 'breach_ref') }}
    union all
    {{ first_delivery('court_results', 'result_ref') }}
    union all
    {{ first_delivery('referrals', 'referral_ref') }}
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
