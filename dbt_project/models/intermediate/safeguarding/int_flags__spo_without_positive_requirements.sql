{#-
    SPO_WITHOUT_POSITIVE_REQUIREMENTS (SPEC §7.1): a granted SPO_FULL of the
    dyad (granted_date present by as_of; expired ones included) has no
    positive requirements.

    raised_at: the earliest such grant date. evidence_refs: every such order.
-#}
with

orders as (
    select * from {{ ref('int_safeguarding__orders') }}
),

{%- set order_text -%}
    'full SPO ' || order_ref || ' granted ' || {{ format_timestamp('granted_date', '%Y-%m-%d') }}
            || ' with no positive requirements'
{%- endset %}

final as (
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        'SPO_WITHOUT_POSITIVE_REQUIREMENTS' as flag_code,
        cast(min(granted_date) as timestamp) as raised_at,
        {{ string_agg_ordered('evidence_ref', "', '", 'evidence_ref') }} as evidence_refs,
        {{ string_agg_ordered(order_text, "'; '", 'granted_date, source_id, order_ref') }} as detail
    from orders
    where
        order_type = 'SPO_FULL'
        and granted_date is not null
        and not has_positive_requirements
    group by dyad_id, victim_id, perpetrator_id
)

select * from final
