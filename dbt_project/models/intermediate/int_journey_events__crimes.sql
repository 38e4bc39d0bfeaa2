{#-
    Journey events of police crimes, on the crime's dyad: reported, referred
    to CPS, charged, outcome. Dates become timestamps at 00:00; an event
    whose date is missing did not happen (yet) and is left out.
-#}
with

crimes as (
    select * from {{ ref('int_crimes') }}
    where dyad_id is not null
),

events as (
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        reported_at as event_at,
        'CRIME_REPORTED' as event_type,
        source_id,
        'crimes' as source_table,
        crime_ref as record_ref,
        force,
        offence_category,
        concat_ws(
            '; ',
            'offence ' || offence_code,
            'risk ' || risk_level,
            'relationship ' || relationship
        ) as detail
    from crimes
    union all
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        cast(cps_referred_date as timestamp) as event_at,
        'CPS_REFERRED' as event_type,
        source_id,
        'crimes' as source_table,
        crime_ref as record_ref,
        force,
        offence_category,
        'offence ' || offence_code as detail
    from crimes
    union all
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        cast(charged_date as timestamp) as event_at,
        'CHARGED' as event_type,
        source_id,
        'crimes' as source_table,
        crime_ref as record_ref,
        force,
        -- a charge without its own offence code is taken as the recorded offence
        coalesce(charge_offence_category, offence_category) as offence_category,
        'charged ' || coalesce(charge_offence_code, offence_code) as detail
    from crimes
    union all
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        cast(outcome_date as timestamp) as event_at,
        'OUTCOME' as event_type,
        source_id,
        'crimes' as source_table,
        crime_ref as record_ref,
        force,
        offence_category,
        'outcome ' || coalesce(outcome_code, 'not given')
        || coalesce(' (' || outcome_group || ')', '') as detail
    from crimes
),

final as (
    select * from events
    where event_at is not null
)

select * from final
