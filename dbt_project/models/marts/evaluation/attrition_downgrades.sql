{#-
    The s2A/s4A split at charge: crimes of the CHARGED stage by force,
    financial year, the category they were recorded as and the category of
    the offence charged (charge_offence_code): STALKING_S2A, STALKING_S4A,
    OTHER_OFFENCE (a non-stalking offence) or NOT_RECORDED (charged, or
    outcome 1/1A, with no charge code). A downgrade is a charge less serious
    than the recording: s4A charged as s2A or as a non-stalking offence, s2A
    charged as a non-stalking offence. All 2 × 4 combinations listed for
    every (force, year); they add up to the CHARGED stage. Not
    disclosure-controlled.
-#}
with

grid as (
    select * from {{ ref('int_evaluation__attrition_grid') }}
),

attrition_crimes as (
    select * from {{ ref('int_evaluation__attrition_crimes') }}
    where is_charged
),

combinations as (
    select
        combination_list.recorded_category,
        combination_list.charge_category,
        combination_list.is_downgrade
    from (
        values
        ('STALKING_S2A', 'STALKING_S2A', false),
        ('STALKING_S2A', 'STALKING_S4A', false),
        ('STALKING_S2A', 'OTHER_OFFENCE', true),
        ('STALKING_S2A', 'NOT_RECORDED', false),
        ('STALKING_S4A', 'STALKING_S2A', true),
        ('STALKING_S4A', 'STALKING_S4A', false),
        ('STALKING_S4A', 'OTHER_OFFENCE', true),
        ('STALKING_S4A', 'NOT_RECORDED', false)
    ) as combination_list (recorded_category, charge_category, is_downgrade)
),

counts as (
    select
        force,
        fy_start_year,
        recorded_category,
        charge_category,
        count(*) as crimes
    from attrition_crimes
    group by force, fy_start_year, recorded_category, charge_category
),

final as (
    select
        grid.force,
        grid.financial_year,
        combinations.recorded_category,
        combinations.charge_category,
        combinations.is_downgrade,
        cast(coalesce(counts.crimes, 0) as integer) as crimes,
        grid.is_complete_year
    from grid
    cross join combinations
    left join counts
        on
            grid.force = counts.force
            and grid.fy_start_year = counts.fy_start_year
            and combinations.recorded_category = counts.recorded_category
            and combinations.charge_category = counts.charge_category
)

select * from final
order by force, financial_year, recorded_category, charge_category
