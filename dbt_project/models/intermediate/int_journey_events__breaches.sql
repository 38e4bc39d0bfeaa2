{#-
    Journey events of breaches, on the dyad of the breached order (same
    source, order_ref). A breach whose order is not live in staging (not
    arrived yet, or deleted) has no dyad and stays out until the order
    arrives.
-#}
with

breaches as (
    select * from {{ ref('stg_police__breaches') }}
),

orders as (
    select * from {{ ref('int_orders') }}
    where dyad_id is not null
),

breaches_of_orders as (
    select
        breaches.*,
        orders.dyad_id,
        orders.victim_id,
        orders.perpetrator_id,
        'breach of ' || orders.order_type as breach_detail
    from breaches
    inner join orders
        on
            breaches.source_id = orders.source_id
            and breaches.order_ref = orders.order_ref
),

events as (
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        reported_at as event_at,
        'BREACH_REPORTED' as event_type,
        source_id,
        'breaches' as source_table,
        breach_ref as record_ref,
        force,
        cast(null as {{ text_type() }}) as offence_category,
        breach_detail as detail
    from breaches_of_orders
    union all
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        responded_at as event_at,
        'BREACH_RESPONDED' as event_type,
        source_id,
        'breaches' as source_table,
        breach_ref as record_ref,
        force,
        cast(null as {{ text_type() }}) as offence_category,
        breach_detail || '; responded after '
        || cast(
            round(
                {{ date_diff('minute', 'reported_at', 'responded_at') }} / 60.0, 1
            ) as {{ text_type() }}
        )
        || ' h' as detail
    from breaches_of_orders
    union all
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        arrested_at as event_at,
        'ARREST' as event_type,
        source_id,
        'breaches' as source_table,
        breach_ref as record_ref,
        force,
        cast(null as {{ text_type() }}) as offence_category,
        breach_detail as detail
    from breaches_of_orders
),

final as (
    select * from events
    where event_at is not null
)

select * from final
