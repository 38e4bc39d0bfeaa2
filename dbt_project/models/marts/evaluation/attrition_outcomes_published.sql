{#-
    Published outcome breakdown: stalking-category crimes by force,
    financial year and Home Office outcome group (OPEN = no outcome yet),
    plus ALL_FORCES totals, after the joint disclosure control of
    attrition_disclosure_cells. A force's groups add up to its RECORDED
    count in attrition_funnel_published (before rounding).
-#}
with

cells as (
    select * from {{ python_model_relation('attrition_disclosure_cells') }}
    where published_table = 'attrition_outcomes_published'
),

final as (
    select
        force,
        financial_year,
        outcome_group,
        crimes,
        marker,
        is_all_forces,
        is_complete_year
    from cells
)

select * from final
order by is_all_forces, force, financial_year, outcome_group
