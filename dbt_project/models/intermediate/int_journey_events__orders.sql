{#-
    Journey events of orders, on the order's (protected person, subject)
    dyad: applied, granted, refused. A refusal has no date of its own, so it
    is dated by the later of applied_date and the date of the version's
    updated_at.
-#}
with

orders as (
    select * from {{ ref('int_orders') }}
    where dyad_id is not null
),

described_orders as (
    select
        *,
        concat_ws(
            '; ',
            order_type,
            status,
            'expires ' || cast(expires_date as {{ text_type() }})
        ) as order_detail
    from orders
),

events as (
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        cast(applied_date as timestamp) as event_at,
        'ORDER_APPLIED' as event_type,
        source_id,
        'orders' as source_table,
        order_ref as record_ref,
        force,
        cast(null as {{ text_type() }}) as offence_category,
        order_detail as detail
    from described_orders
    union all
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        cast(granted_date as timestamp) as event_at,
        'ORDER_GRANTED' as event_type,
        source_id,
        'orders' as source_table,
        order_ref as record_ref,
        force,
        cast(null as {{ text_type() }}) as offence_category,
        order_detail as detail
    from described_orders
    union all
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        cast(
            {{ greatest_ignoring_nulls(['applied_date', 'cast(updated_at as date)']) }} as timestamp
        ) as event_at,
        'ORDER_REFUSED' as event_type,
        source_id,
        'orders' as source_table,
        order_ref as record_ref,
        force,
        cast(null as {{ text_type() }}) as offence_category,
        order_detail as detail
    from described_orders
    where status = 'REFUSED'
),

final as (
    select * from events
    where event_at is not null
)

select * from final
