{#-
    The s2A/s4A split at recording: stalking-category crimes by force,
    financial year and recorded category (STALKING_S2A; STALKING_S4A =
    STALKING_S4A_FEAR + STALKING_S4A_ALARM). Both categories listed for
    every (force, year); they add up to the RECORDED stage. Not
    disclosure-controlled.
-#}
with

grid as (
    select * from {{ ref('int_evaluation__attrition_grid') }}
),

attrition_crimes as (
    select * from {{ ref('int_evaluation__attrition_crimes') }}
),

categories as (
    select category_list.recorded_category
    from (
        values ('STALKING_S2A'), ('STALKING_S4A')
    ) as category_list (recorded_category)
),

counts as (
    select
        force,
        fy_start_year,
        recorded_category,
        count(*) as crimes
    from attrition_crimes
    group by force, fy_start_year, recorded_category
),

final as (
    select
        grid.force,
        grid.financial_year,
        categories.recorded_category,
        cast(coalesce(counts.crimes, 0) as integer) as crimes,
        grid.is_complete_year
    from grid
    cross join categories
    left join counts
        on
            grid.force = counts.force
            and grid.fy_start_year = counts.fy_start_year
            and categories.recorded_category = counts.recorded_category
)

select * from final
order by force, financial_year, recorded_category
