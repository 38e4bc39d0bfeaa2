{#-
    Live orders with the persons of their roles and their dyad (protected
    person, subject). An order without a protected-person role has no dyad.
-#}
with

orders as (
    select * from {{ ref('stg_police__orders') }}
),

record_persons as (
    select * from {{ ref('int_record_persons') }}
    where source_table = 'orders'
),

final as (
    select
        orders.source_id,
        orders.order_ref,
        orders.force,
        orders.crime_ref,
        orders.order_type,
        orders.status,
        orders.applied_date,
        orders.granted_date,
        orders.expires_date,
        orders.positive_requirements,
        orders.order_type in ('SPO_INTERIM', 'SPO_FULL') as is_spo,
        record_persons.victim_id,
        record_persons.perpetrator_id,
        case
            when record_persons.victim_id is not null
                then {{ dyad_id('record_persons.victim_id', 'record_persons.perpetrator_id') }}
        end as dyad_id,
        orders.updated_at,
        orders.version_id
    from orders
    left join record_persons
        on
            orders.source_id = record_persons.source_id
            and orders.order_ref = record_persons.record_ref
)

select * from final
