{#-
    Live police referrals of live crimes, made on or before as_of, on the
    crime's dyad. Referrals of crimes that are not live are left out.
-#}
with

referrals as (
    select * from {{ ref('stg_police__referrals') }}
),

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
        referrals.source_id,
        referrals.referral_ref,
        referrals.source_id || ':' || referrals.referral_ref as evidence_ref,
        referrals.crime_ref,
        referrals.referred_to,
        referrals.referred_date
    from referrals
    inner join crimes
        on
            referrals.source_id = crimes.source_id
            and referrals.crime_ref = crimes.crime_ref
    cross join as_of
    where
        crimes.dyad_id is not null
        and referrals.referred_date <= as_of.as_of_date
)

select * from final
