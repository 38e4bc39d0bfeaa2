{#-
    REFERRAL events (police onward referrals) on the dyad of the live crime
    they belong to; referrals of crimes that are not live are left out.
-#}
with

referrals as (
    select * from {{ ref('stg_police__referrals') }}
),

crimes as (
    select * from {{ ref('int_crimes') }}
    where dyad_id is not null
),

final as (
    select
        crimes.dyad_id,
        crimes.victim_id,
        crimes.perpetrator_id,
        cast(referrals.referred_date as timestamp) as event_at,
        'REFERRAL' as event_type,
        referrals.source_id,
        'referrals' as source_table,
        referrals.referral_ref as record_ref,
        referrals.force,
        cast(null as {{ text_type() }}) as offence_category,
        'referred to ' || referrals.referred_to as detail
    from referrals
    inner join crimes
        on
            referrals.source_id = crimes.source_id
            and referrals.crime_ref = crimes.crime_ref
)

select * from final
