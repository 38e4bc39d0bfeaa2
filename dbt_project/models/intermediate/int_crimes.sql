{#-
    Live police crimes with their offence categories, outcome group, the
    persons of their roles and their dyad. A crime without a victim role has
    no dyad (dyad_id null): nothing in the journey can hang off it.
-#}
with

crimes as (
    select * from {{ ref('stg_police__crimes') }}
),

offence_codes as (
    select * from {{ ref('offence_codes') }}
),

outcome_codes as (
    select * from {{ ref('outcome_codes') }}
),

record_persons as (
    select * from {{ ref('int_record_persons') }}
    where source_table = 'crimes'
),

final as (
    select
        crimes.source_id,
        crimes.crime_ref,
        crimes.force,
        crimes.reported_at,
        crimes.offence_from_date,
        crimes.offence_code,
        offence_codes.offence_category,
        crimes.relationship,
        crimes.has_online_element,
        crimes.risk_level,
        crimes.cps_referred_date,
        crimes.charged_date,
        crimes.charge_offence_code,
        charge_codes.offence_category as charge_offence_category,
        crimes.outcome_code,
        outcome_codes.outcome_group,
        crimes.outcome_date,
        record_persons.victim_id,
        record_persons.perpetrator_id,
        case
            when record_persons.victim_id is not null
                then {{ dyad_id('record_persons.victim_id', 'record_persons.perpetrator_id') }}
        end as dyad_id,
        coalesce(
            offence_codes.offence_category in (
                'STALKING_S2A', 'STALKING_S4A_FEAR', 'STALKING_S4A_ALARM'
            ),
            false
        ) as is_stalking_category,
        coalesce(
            offence_codes.offence_category in (
                'STALKING_S2A',
                'STALKING_S4A_FEAR',
                'STALKING_S4A_ALARM',
                'HARASSMENT',
                'MALICIOUS_COMMUNICATIONS',
                'COERCIVE_CONTROL',
                'THREATS_TO_KILL',
                'BREACH_OF_ORDER'
            ),
            false
        ) as is_stalking_related,
        crimes.updated_at,
        crimes.version_id
    from crimes
    left join offence_codes
        on crimes.offence_code = offence_codes.offence_code
    left join offence_codes as charge_codes
        on crimes.charge_offence_code = charge_codes.offence_code
    left join outcome_codes
        on crimes.outcome_code = outcome_codes.outcome_code
    left join record_persons
        on
            crimes.source_id = record_persons.source_id
            and crimes.crime_ref = record_persons.record_ref
)

select * from final
