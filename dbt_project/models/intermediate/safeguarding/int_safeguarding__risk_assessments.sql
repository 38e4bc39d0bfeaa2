{#-
    Every known risk level of a dyad up to as_of: the risk_level of each of
    its crimes (dated by reported_at) and of each advocacy case of its victim
    (dated by referral_date). A case naming a perpetrator counts for that
    dyad only; a case naming none counts for every dyad of the client as
    victim (as in victim_journey).
-#}
with

crimes as (
    select * from {{ ref('int_safeguarding__crimes') }}
),

cases as (
    select * from {{ ref('int_safeguarding__cases') }}
),

dyads as (
    select * from {{ ref('int_dyads') }}
),

assessments as (
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        reported_at as assessed_at,
        risk_level,
        source_id,
        'crimes' as source_table,
        crime_ref as record_ref
    from crimes
    where risk_level is not null
    union all
    select
        cases.dyad_id,
        cases.victim_id,
        cases.perpetrator_id,
        cast(cases.referral_date as timestamp) as assessed_at,
        cases.risk_level,
        cases.source_id,
        'cases' as source_table,
        cases.case_ref as record_ref
    from cases
    where cases.risk_level is not null and cases.dyad_id is not null
    union all
    select
        dyads.dyad_id,
        dyads.victim_id,
        dyads.perpetrator_id,
        cast(cases.referral_date as timestamp) as assessed_at,
        cases.risk_level,
        cases.source_id,
        'cases' as source_table,
        cases.case_ref as record_ref
    from cases
    inner join dyads
        on cases.victim_id = dyads.victim_id
    where cases.risk_level is not null and cases.perpetrator_id is null
),

final as (
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        assessed_at,
        risk_level,
        case risk_level
            when 'HIGH' then 3 when 'MEDIUM' then 2 when 'STANDARD' then 1
        end as risk_rank,
        source_id,
        source_table,
        record_ref,
        source_id || ':' || record_ref as evidence_ref
    from assessments
)

select * from final
