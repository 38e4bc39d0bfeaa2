{#-
    Every (victim, perpetrator) dyad of SPEC §7: from crimes (victim,
    suspect; no suspect -> (victim, null)), orders (protected person,
    subject) and advocacy cases that name a perpetrator.
-#}
with

crimes as (
    select * from {{ ref('int_crimes') }}
),

orders as (
    select * from {{ ref('int_orders') }}
),

cases as (
    select * from {{ ref('int_cases') }}
),

dyad_sources as (
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        'crimes' as source_table
    from crimes
    where dyad_id is not null
    union all
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        'orders' as source_table
    from orders
    where dyad_id is not null
    union all
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        'cases' as source_table
    from cases
    where dyad_id is not null
),

final as (
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        bool_or(source_table = 'crimes') as has_crime,
        bool_or(source_table = 'orders') as has_order,
        bool_or(source_table = 'cases') as has_advocacy_case
    from dyad_sources
    group by dyad_id, victim_id, perpetrator_id
)

select * from final
