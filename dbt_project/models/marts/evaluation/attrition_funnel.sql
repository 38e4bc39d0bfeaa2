{#-
    SPEC §5/§7.3 marts.attrition_funnel: stalking-category crimes by force,
    financial year of reported_at and attrition stage, zero cells listed
    (every force × every year of the grid × every stage). Not
    disclosure-controlled: stays in the secure area; the copy that may leave
    it is attrition_funnel_published.
-#}
with

grid as (
    select * from {{ ref('int_evaluation__attrition_grid') }}
),

attrition_crimes as (
    select * from {{ ref('int_evaluation__attrition_crimes') }}
),

stages as (
    select
        stage_list.stage_order,
        stage_list.stage
    from (
        values
        (1, 'RECORDED'),
        (2, 'CPS_REFERRED'),
        (3, 'CHARGED'),
        (4, 'COURT'),
        (5, 'CONVICTED'),
        (6, 'CONVICTED_STALKING')
    ) as stage_list (stage_order, stage)
),

crime_stages as (
    select
        attrition_crimes.force,
        attrition_crimes.fy_start_year,
        stages.stage
    from attrition_crimes
    inner join stages
        on
            stages.stage = 'RECORDED'
            or (stages.stage = 'CPS_REFERRED' and attrition_crimes.is_cps_referred)
            or (stages.stage = 'CHARGED' and attrition_crimes.is_charged)
            or (stages.stage = 'COURT' and attrition_crimes.has_court_result)
            or (stages.stage = 'CONVICTED' and attrition_crimes.is_convicted)
            or (stages.stage = 'CONVICTED_STALKING' and attrition_crimes.is_convicted_stalking)
),

counts as (
    select
        force,
        fy_start_year,
        stage,
        count(*) as crimes
    from crime_stages
    group by force, fy_start_year, stage
),

final as (
    select
        grid.force,
        grid.financial_year,
        stages.stage,
        stages.stage_order,
        cast(coalesce(counts.crimes, 0) as integer) as crimes,
        grid.fy_start_date,
        grid.is_complete_year
    from grid
    cross join stages
    left join counts
        on
            grid.force = counts.force
            and grid.fy_start_year = counts.fy_start_year
            and stages.stage = counts.stage
)

select * from final
order by force, financial_year, stage_order
