{#-
    Orders in force at as_of, per dyad, for the case pack: granted on or
    before as_of and not expired (expires_date on or after as_of; an order
    with no expiry date is in force unless its status is EXPIRED).
-#}
with

orders as (
    select * from {{ ref('int_safeguarding__orders') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

final as (
    select
        orders.dyad_id,
        orders.victim_id,
        orders.perpetrator_id,
        orders.source_id,
        orders.order_ref,
        orders.order_type,
        orders.status,
        orders.granted_date,
        orders.expires_date,
        {{ date_diff('day', 'as_of.as_of_date', 'orders.expires_date') }} as days_to_expiry,
        orders.positive_requirements,
        orders.has_positive_requirements,
        as_of.as_of_date
    from orders
    cross join as_of
    where
        orders.granted_date is not null
        and (
            orders.expires_date >= as_of.as_of_date
            or (orders.expires_date is null and orders.status <> 'EXPIRED')
        )
)

select * from final
order by dyad_id, expires_date, source_id, order_ref
