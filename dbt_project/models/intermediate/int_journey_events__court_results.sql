{#-
    COURT_RESULT events on the dyad of the live crime they belong to (same
    source, crime_ref); results of crimes that are not live are left out.
-#}
with

court_results as (
    select * from {{ ref('stg_police__court_results') }}
),

crimes as (
    select * from {{ ref('int_crimes') }}
    where dyad_id is not null
),

offence_codes as (
    select * from {{ ref('offence_codes') }}
),

final as (
    select
        crimes.dyad_id,
        crimes.victim_id,
        crimes.perpetrator_id,
        cast(court_results.hearing_date as timestamp) as event_at,
        'COURT_RESULT' as event_type,
        court_results.source_id,
        'court_results' as source_table,
        court_results.result_ref as record_ref,
        court_results.force,
        offence_codes.offence_category,
        concat_ws(
            '; ',
            court_results.court,
            court_results.result,
            court_results.sentence_type
            || coalesce(
                ' ' || cast(court_results.sentence_months as {{ text_type() }}) || ' months', ''
            ),
            'convicted of ' || court_results.convicted_offence_code
        ) as detail
    from court_results
    inner join crimes
        on
            court_results.source_id = crimes.source_id
            and court_results.crime_ref = crimes.crime_ref
    left join offence_codes
        on court_results.convicted_offence_code = offence_codes.offence_code
)

select * from final
