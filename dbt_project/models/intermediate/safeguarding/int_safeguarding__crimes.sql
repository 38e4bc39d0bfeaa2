{#-
    The dyads' live crimes as known at as_of: reported on or before as_of,
    with a charge or outcome dated after as_of not yet counted. A crime's
    category is its latest version's (staging keeps only that version).
-#}
with

crimes as (
    select * from {{ ref('int_crimes') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

final as (
    select
        crimes.dyad_id,
        crimes.victim_id,
        crimes.perpetrator_id,
        crimes.source_id,
        crimes.crime_ref,
        crimes.source_id || ':' || crimes.crime_ref as evidence_ref,
        crimes.reported_at,
        cast(crimes.reported_at as date) as reported_date,
        crimes.offence_from_date,
        crimes.offence_code,
        crimes.offence_category,
        crimes.is_stalking_category,
        crimes.risk_level,
        case
            when crimes.charged_date <= as_of.as_of_date then crimes.charged_date
        end as charged_date,
        case
            when
                crimes.outcome_code is not null
                and coalesce(crimes.outcome_date <= as_of.as_of_date, true)
                then crimes.outcome_code
        end as outcome_code
    from crimes
    cross join as_of
    where
        crimes.dyad_id is not null
        and cast(crimes.reported_at as date) <= as_of.as_of_date
)

select * from final
