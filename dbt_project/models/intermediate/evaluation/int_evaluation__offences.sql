{#-
    SPEC §7.4 offences: live police crimes that are stalking-related (SPEC
    §6) with a known suspect, one row per crime, dated by offence_from
    (else the date of reported_at). The suspect's person_id comes from the
    crime's PERPETRATOR role (int_record_persons via int_crimes).
-#}
with

crimes as (
    select * from {{ ref('int_crimes') }}
    where
        is_stalking_related
        and perpetrator_id is not null
),

final as (
    select
        perpetrator_id,
        source_id,
        crime_ref,
        cast(reported_at as date) as reported_date,
        force,
        offence_category,
        coalesce(offence_from_date, cast(reported_at as date)) as offence_date
    from crimes
)

select * from final
