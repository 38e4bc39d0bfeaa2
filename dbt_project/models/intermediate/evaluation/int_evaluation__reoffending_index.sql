{#-
    Index dates of the reoffending comparison (SPEC §7.4), one row per
    perpetrator in either cohort:

    - INTERVENTION: the person's first MASIP episode accepted on or before
      as_of; index_start/index_end are masip_accepted_at/masip_ended_at.
    - COMPARISON: a person under probation supervision (any episode) who
      was never accepted onto MASIP (at any date) nor named by a police
      referral to MASIP: like the intervention group, supervised, convicted
      perpetrators, only without MASIP. With no intervention, each gets a
      pseudo index: index_start = the start of their first supervision + the
      median gap (days) from the start of the supervision episode to MASIP
      acceptance in the intervention group (episodes starting on or before
      their acceptance); index_end = index_start + the median intervention
      length (days) of interventions that have ended. Both medians are
      quantile_disc(0.5) (an observed value, no averaging). Pseudo indexes
      after as_of are dropped. Without an intervention group there are no
      medians and so no comparison rows.

    Every suspect never on MASIP, with a pseudo start after their first
    offence, was the comparison before 2026-12-06: mostly people never
    convicted nor supervised, so MASIP looked about 30 points worse than it
    was on partnerships whose true effect was known (outside check).
-#}
with

episodes as (
    select * from {{ ref('int_evaluation__masip_episodes') }}
),

offences as (
    select * from {{ ref('int_evaluation__offences') }}
),

supervision_episodes as (
    select * from {{ ref('int_supervision_episodes') }}
),

masip_referrals as (
    select * from {{ ref('int_safeguarding__referrals') }}
    where referred_to = 'MASIP'
),

referred as (
    select distinct perpetrator_id
    from masip_referrals
    where perpetrator_id is not null
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

first_offences as (
    select
        perpetrator_id,
        min(offence_date) as first_offence_date
    from offences
    group by perpetrator_id
),

supervised as (
    select
        perpetrator_id,
        min(start_date) as first_supervision_date
    from supervision_episodes
    group by perpetrator_id
),

treated as (
    select
        episodes.perpetrator_id,
        episodes.intervention_start as index_start,
        episodes.intervention_end as index_end,
        episodes.supervision_start_date,
        first_offences.first_offence_date
    from episodes
    left join first_offences
        on episodes.perpetrator_id = first_offences.perpetrator_id
    where episodes.is_started
),

medians as (
    select
        cast(
            {{ quantile_disc(
                date_diff('day', 'supervision_start_date', 'index_start'), 0.5,
                where='supervision_start_date <= index_start'
            ) }}
            as integer
        ) as median_gap_days,
        cast(
            {{ quantile_disc(
                date_diff('day', 'index_start', 'index_end'), 0.5,
                where='index_end >= index_start'
            ) }}
            as integer
        ) as median_duration_days
    from treated
),

comparison as (
    select
        supervised.perpetrator_id,
        first_offences.first_offence_date,
        {{ add_days('supervised.first_supervision_date', 'medians.median_gap_days') }}
            as index_start,
        {{ add_days(
            add_days('supervised.first_supervision_date', 'medians.median_gap_days'),
            'medians.median_duration_days'
        ) }} as index_end
    from supervised
    cross join medians
    left join first_offences
        on supervised.perpetrator_id = first_offences.perpetrator_id
    left join episodes
        on supervised.perpetrator_id = episodes.perpetrator_id
    left join referred
        on supervised.perpetrator_id = referred.perpetrator_id
    where
        episodes.perpetrator_id is null
        and referred.perpetrator_id is null
        and medians.median_gap_days is not null
        and medians.median_duration_days is not null
),

cohorts as (
    select
        perpetrator_id,
        'INTERVENTION' as cohort,
        false as is_pseudo_index,
        index_start,
        index_end,
        first_offence_date
    from treated
    union all
    select
        perpetrator_id,
        'COMPARISON' as cohort,
        true as is_pseudo_index,
        index_start,
        index_end,
        first_offence_date
    from comparison
),

final as (
    select
        cohorts.perpetrator_id,
        cohorts.cohort,
        cohorts.is_pseudo_index,
        cohorts.index_start,
        cohorts.index_end,
        cohorts.first_offence_date,
        medians.median_gap_days,
        medians.median_duration_days
    from cohorts
    cross join medians
    cross join as_of
    where cohorts.index_start <= as_of.as_of_date
)

select * from final
