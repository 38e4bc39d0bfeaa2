{#-
    Live advocacy cases with a client (victim), referred on or before as_of.
    An SPO request dated after as_of has not happened yet (null). dyad_id is
    set only when the case names a perpetrator.
-#}
with

cases as (
    select * from {{ ref('int_cases') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

final as (
    select
        cases.dyad_id,
        cases.victim_id,
        cases.perpetrator_id,
        cases.source_id,
        cases.case_ref,
        cases.source_id || ':' || cases.case_ref as evidence_ref,
        cases.referral_date,
        cases.risk_level,
        case
            when cases.spo_requested_date <= as_of.as_of_date then cases.spo_requested_date
        end as spo_requested_date
    from cases
    cross join as_of
    where
        cases.victim_id is not null
        and cases.referral_date <= as_of.as_of_date
)

select * from final
