{#-
    Live advocacy cases with the client (victim) and named perpetrator. Only
    a case that names a perpetrator has a dyad of its own; see
    int_journey_events__cases for where the others' events go.
-#}
with

cases as (
    select * from {{ ref('stg_advocacy__cases') }}
),

record_persons as (
    select * from {{ ref('int_record_persons') }}
    where source_table = 'cases'
),

final as (
    select
        cases.source_id,
        cases.case_ref,
        cases.force,
        cases.police_crime_ref,
        cases.relationship,
        cases.referral_date,
        cases.referral_source,
        cases.risk_level,
        cases.spo_requested_date,
        cases.first_contact_date,
        cases.closed_date,
        cases.closure_reason,
        record_persons.victim_id,
        record_persons.perpetrator_id,
        case
            when record_persons.victim_id is not null and record_persons.perpetrator_id is not null
                then {{ dyad_id('record_persons.victim_id', 'record_persons.perpetrator_id') }}
        end as dyad_id,
        cases.updated_at,
        cases.version_id
    from cases
    left join record_persons
        on
            cases.source_id = record_persons.source_id
            and cases.case_ref = record_persons.record_ref
)

select * from final
