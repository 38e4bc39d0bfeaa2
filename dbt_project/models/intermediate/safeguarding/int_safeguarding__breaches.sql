{#-
    Live breaches of the dyads' live orders, reported on or before as_of. A
    breach whose order has not arrived (or was deleted) is left out until the
    order is live; it then joins the order's dyad. A response dated after
    as_of has not happened yet (null).
-#}
with

breaches as (
    select * from {{ ref('stg_police__breaches') }}
),

orders as (
    select * from {{ ref('int_orders') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

final as (
    select
        orders.dyad_id,
        orders.victim_id,
        orders.perpetrator_id,
        breaches.source_id,
        breaches.breach_ref,
        breaches.source_id || ':' || breaches.breach_ref as evidence_ref,
        breaches.order_ref,
        orders.order_type,
        breaches.reported_at,
        cast(breaches.reported_at as date) as reported_date,
        case
            when cast(breaches.responded_at as date) <= as_of.as_of_date then breaches.responded_at
        end as responded_at
    from breaches
    inner join orders
        on
            breaches.source_id = orders.source_id
            and breaches.order_ref = orders.order_ref
    cross join as_of
    where
        orders.dyad_id is not null
        and cast(breaches.reported_at as date) <= as_of.as_of_date
)

select * from final
