{#-
    The (force, financial year) grid every attrition mart is listed over, so
    that zero cells appear: every force with a live police crime (of any
    category) × every financial year from the earliest to the latest one
    with a stalking-category crime (years in between with none included).
    The financial year label is written here and nowhere else.
-#}
with

crimes as (
    select * from {{ ref('int_crimes') }}
),

attrition_crimes as (
    select * from {{ ref('int_evaluation__attrition_crimes') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

forces as (
    select distinct force
    from crimes
    where force is not null
),

year_range as (
    select
        min(fy_start_year) as first_year,
        max(fy_start_year) as last_year
    from attrition_crimes
),

years as (
    select cast(year_series.fy_start_year as integer) as fy_start_year
    from year_range
    cross join
        {{ integer_range('year_range.first_year', 'year_range.last_year') }}
            as year_series (fy_start_year)
    where year_range.first_year is not null
),

final as (
    select
        forces.force,
        years.fy_start_year,
        cast(years.fy_start_year as {{ text_type() }})
        || '-'
        || lpad(
            cast((years.fy_start_year + 1) % 100 as {{ text_type() }}), 2, '0'
        ) as financial_year,
        {{ make_date('years.fy_start_year', 4, 1) }} as fy_start_date,
        {{ make_date('years.fy_start_year + 1', 3, 31) }} as fy_end_date,
        coalesce(
            {{ make_date('years.fy_start_year + 1', 3, 31) }} <= as_of.as_of_date, false
        ) as is_complete_year
    from forces
    cross join years
    cross join as_of
)

select * from final
