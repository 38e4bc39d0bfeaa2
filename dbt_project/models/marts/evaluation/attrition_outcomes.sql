{#-
    Outcome breakdown of the RECORDED stage: stalking-category crimes by
    force, financial year and Home Office outcome code (seed outcome_codes,
    SPEC §6), with the code's outcome group. Crimes with no outcome yet are
    outcome_code 'OPEN' (group 'OPEN'); every code of the seed is listed
    for every (force, year), zero cells included, so the codes of a
    (force, year) add up to its RECORDED count. Not disclosure-controlled.
-#}
with

grid as (
    select * from {{ ref('int_evaluation__attrition_grid') }}
),

attrition_crimes as (
    select * from {{ ref('int_evaluation__attrition_crimes') }}
),

outcome_codes as (
    select * from {{ ref('outcome_codes') }}
),

code_list as (
    select
        outcome_code,
        outcome_group,
        description as outcome_description
    from outcome_codes
    union all
    select
        'OPEN' as outcome_code,
        'OPEN' as outcome_group,
        'No outcome recorded yet (investigation open)' as outcome_description
    union all
    -- defensive: a code missing from the seed still adds up to RECORDED
    select distinct
        attrition_crimes.outcome_code,
        'UNKNOWN' as outcome_group,
        'Code not in the outcome_codes seed' as outcome_description
    from attrition_crimes
    left join outcome_codes
        on attrition_crimes.outcome_code = outcome_codes.outcome_code
    where
        outcome_codes.outcome_code is null
        and attrition_crimes.outcome_code != 'OPEN'
),

counts as (
    select
        force,
        fy_start_year,
        outcome_code,
        count(*) as crimes
    from attrition_crimes
    group by force, fy_start_year, outcome_code
),

final as (
    select
        grid.force,
        grid.financial_year,
        code_list.outcome_code,
        code_list.outcome_group,
        code_list.outcome_description,
        cast(coalesce(counts.crimes, 0) as integer) as crimes,
        grid.is_complete_year
    from grid
    cross join code_list
    left join counts
        on
            grid.force = counts.force
            and grid.fy_start_year = counts.fy_start_year
            and code_list.outcome_code = counts.outcome_code
)

select * from final
order by force, financial_year, outcome_group, outcome_code
