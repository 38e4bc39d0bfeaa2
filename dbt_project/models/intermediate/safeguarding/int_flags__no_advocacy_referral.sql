{#-
    NO_ADVOCACY_REFERRAL (SPEC §7.1): the dyad has a stalking-category
    crime, and within `advocacy_referral_window_days` of the first stalking
    crime's reported date (inclusive both ends, never before it) the victim
    has neither a police referral to STALKING_ADVOCACY (referred_date, from
    any of the victim's crimes) nor an advocacy case (referral_date).

    raised_at: first stalking crime's reported date + N days (checked once
    as_of is N days past it). evidence_refs: that crime.
-#}
with

first_stalking_crimes as (
    select * from {{ ref('int_safeguarding__first_stalking_crimes') }}
),

referrals as (
    select * from {{ ref('int_safeguarding__referrals') }}
),

cases as (
    select * from {{ ref('int_safeguarding__cases') }}
),

thresholds as (
    select * from {{ ref('int_flag_thresholds') }}
),

windows as (
    select
        first_stalking_crimes.*,
        cast(
            {{ add_interval(
                'first_stalking_crimes.reported_date',
                'thresholds.advocacy_referral_window_days',
                'day'
            ) }} as date
        ) as window_end_date
    from first_stalking_crimes
    cross join thresholds
),

victim_advocacy_dates as (
    select
        victim_id,
        referred_date as advocacy_date
    from referrals
    where referred_to = 'STALKING_ADVOCACY'
    union all
    select
        victim_id,
        referral_date as advocacy_date
    from cases
),

referred as (
    select distinct windows.dyad_id
    from windows
    inner join victim_advocacy_dates
        on
            windows.victim_id = victim_advocacy_dates.victim_id
            and victim_advocacy_dates.advocacy_date
            between windows.reported_date and windows.window_end_date
),

final as (
    select
        windows.dyad_id,
        windows.victim_id,
        windows.perpetrator_id,
        'NO_ADVOCACY_REFERRAL' as flag_code,
        cast(windows.window_end_date as timestamp) as raised_at,
        windows.evidence_ref as evidence_refs,
        'first stalking crime ' || windows.crime_ref || ' reported '
        || {{ format_timestamp('windows.reported_date', '%Y-%m-%d') }}
        || '; no referral of the victim to specialist stalking advocacy by '
        || {{ format_timestamp('windows.window_end_date', '%Y-%m-%d') }} as detail
    from windows
    where not exists (
        select 1 from referred
        where windows.dyad_id = referred.dyad_id
    )
)

select * from final
