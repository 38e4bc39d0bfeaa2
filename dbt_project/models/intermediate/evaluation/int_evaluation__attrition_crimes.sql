{#-
    SPEC §7.3: one row per live police crime in a stalking category, with
    its force, financial year (April–March, of reported_at) and the
    attrition stages it reached. Each stage follows its SPEC definition on
    its own (no nesting is imposed): a crime charged without a CPS referral
    date still counts as CHARGED. Court results of crimes that are not live
    are ignored (they do not join).
-#}
with

crimes as (
    select * from {{ ref('int_crimes') }}
    where is_stalking_category
),

court_results as (
    select * from {{ ref('stg_police__court_results') }}
),

offence_codes as (
    select * from {{ ref('offence_codes') }}
),

court_by_crime as (
    select
        court_results.source_id,
        court_results.crime_ref,
        count(*) as court_results,
        bool_or(court_results.result = 'CONVICTED') as is_convicted,
        coalesce(
            bool_or(
                court_results.result = 'CONVICTED'
                and offence_codes.offence_category in (
                    'STALKING_S2A', 'STALKING_S4A_FEAR', 'STALKING_S4A_ALARM'
                )
            ),
            false
        ) as is_convicted_stalking
    from court_results
    left join offence_codes
        on court_results.convicted_offence_code = offence_codes.offence_code
    group by court_results.source_id, court_results.crime_ref
),

staged as (
    select
        crimes.source_id,
        crimes.crime_ref,
        crimes.force,
        cast(crimes.reported_at as date) as reported_date,
        crimes.offence_category,
        crimes.charge_offence_category,
        case
            when month(crimes.reported_at) >= 4 then year(crimes.reported_at)
            else year(crimes.reported_at) - 1
        end as fy_start_year,
        case
            when crimes.offence_category = 'STALKING_S2A' then 'STALKING_S2A'
            else 'STALKING_S4A'
        end as recorded_category,
        crimes.cps_referred_date is not null as is_cps_referred,
        (
            crimes.charged_date is not null
            or coalesce(crimes.outcome_code in ('1', '1A'), false)
        ) as is_charged,
        court_by_crime.crime_ref is not null as has_court_result,
        coalesce(court_by_crime.is_convicted, false) as is_convicted,
        coalesce(court_by_crime.is_convicted_stalking, false) as is_convicted_stalking,
        coalesce(crimes.outcome_code, 'OPEN') as outcome_code,
        case
            when crimes.outcome_code is null then 'OPEN'
            else coalesce(crimes.outcome_group, 'UNKNOWN')
        end as outcome_group
    from crimes
    left join court_by_crime
        on
            crimes.source_id = court_by_crime.source_id
            and crimes.crime_ref = court_by_crime.crime_ref
),

final as (
    select
        source_id,
        crime_ref,
        force,
        reported_date,
        fy_start_year,
        offence_category,
        recorded_category,
        is_cps_referred,
        is_charged,
        has_court_result,
        is_convicted,
        is_convicted_stalking,
        outcome_code,
        outcome_group,
        case
            when not is_charged then null
            when charge_offence_category is null then 'NOT_RECORDED'
            when charge_offence_category = 'STALKING_S2A' then 'STALKING_S2A'
            when
                charge_offence_category in ('STALKING_S4A_FEAR', 'STALKING_S4A_ALARM')
                then 'STALKING_S4A'
            else 'OTHER_OFFENCE'
        end as charge_category
    from staged
)

select * from final
