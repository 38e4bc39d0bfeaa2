{#-
    The dyads' live orders with the dates known at as_of: an application or
    grant dated after as_of has not happened yet (null). "Applied for" means
    applied_date is present, "granted" means granted_date is present,
    whatever the status (SPEC §7).
-#}
with

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
        orders.source_id,
        orders.order_ref,
        orders.source_id || ':' || orders.order_ref as evidence_ref,
        orders.crime_ref,
        orders.order_type,
        orders.status,
        orders.is_spo,
        case
            when orders.applied_date <= as_of.as_of_date then orders.applied_date
        end as applied_date,
        case
            when orders.granted_date <= as_of.as_of_date then orders.granted_date
        end as granted_date,
        orders.expires_date,
        orders.positive_requirements,
        coalesce(trim(orders.positive_requirements) <> '', false) as has_positive_requirements
    from orders
    cross join as_of
    where orders.dyad_id is not null
)

select * from final
