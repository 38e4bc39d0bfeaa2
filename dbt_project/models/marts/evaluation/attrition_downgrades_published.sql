{#-
    Published s2A/s4A split at charge (recorded category × charge
    category, with the downgrade flag), plus ALL_FORCES totals, after the
    joint disclosure control of attrition_disclosure_cells.
-#}
with

cells as (
    select * from {{ python_model_relation('attrition_disclosure_cells') }}
    where published_table = 'attrition_downgrades_published'
),

final as (
    select
        force,
        financial_year,
        recorded_category,
        charge_category,
        is_downgrade,
        crimes,
        marker,
        is_all_forces,
        is_complete_year
    from cells
)

select * from final
order by is_all_forces, force, financial_year, recorded_category, charge_category
