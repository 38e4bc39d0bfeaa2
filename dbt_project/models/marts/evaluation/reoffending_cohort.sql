{#-
    Person-level data of the reoffending evaluation, one row per perpetrator
    of either cohort (int_evaluation__reoffending_index): the intervention
    group (first MASIP episode) and the comparison pool (supervised, never
    on MASIP nor referred to it, with a pseudo index). Windows follow SPEC §7.4 with calendar months
    (clamped to month end): pre = [start - 18 months, start), post = (end,
    end + 18 months], follow-up complete when end + 18 months <= as_of.
    Offences (int_evaluation__offences) dated after as_of are not counted.
    Matching covariates are taken at index_start. Stays in the secure area:
    the evaluation report publishes only aggregates of it.
-#}
with

index_dates as (
    select * from {{ ref('int_evaluation__reoffending_index') }}
),

offences as (
    select * from {{ ref('int_evaluation__offences') }}
),

crimes as (
    select * from {{ ref('int_crimes') }}
    where perpetrator_id is not null
),

person_attributes as (
    select * from {{ ref('int_evaluation__person_attributes') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

windows as (
    select
        index_dates.*,
        as_of.as_of_date,
        cast({{ subtract_interval('index_dates.index_start', 18, 'month') }} as date)
            as pre_window_start,
        cast({{ add_interval('index_dates.index_end', 12, 'month') }} as date)
            as follow_up_12m_end_date,
        cast({{ add_interval('index_dates.index_end', 18, 'month') }} as date)
            as follow_up_end_date
    from index_dates
    cross join as_of
),

offence_counts as (
    select
        windows.perpetrator_id,
        count(offences.crime_ref) filter (
            where offences.offence_date < windows.index_start
        ) as prior_offences,
        count(offences.crime_ref) filter (
            where
            offences.offence_date >= windows.pre_window_start
            and offences.offence_date < windows.index_start
        ) as pre_offences,
        count(offences.crime_ref) filter (
            where
            offences.offence_date > windows.index_end
            and offences.offence_date <= windows.follow_up_end_date
            and offences.offence_date <= windows.as_of_date
        ) as post_offences,
        count(offences.crime_ref) filter (
            where
            offences.offence_date > windows.index_end
            and offences.offence_date <= windows.follow_up_12m_end_date
            and offences.offence_date <= windows.as_of_date
        ) as post_offences_12m,
        min(offences.offence_date) filter (
            where
            offences.offence_date > windows.index_end
            and offences.offence_date <= windows.follow_up_end_date
            and offences.offence_date <= windows.as_of_date
        ) as first_post_offence_date
    from windows
    left join offences
        on windows.perpetrator_id = offences.perpetrator_id
    group by windows.perpetrator_id
),

known_crimes as (
    select
        windows.perpetrator_id,
        crimes.risk_level,
        crimes.relationship,
        crimes.reported_at,
        crimes.source_id,
        crimes.crime_ref
    from windows
    inner join crimes
        on
            windows.perpetrator_id = crimes.perpetrator_id
            and cast(crimes.reported_at as date) <= windows.index_start
),

latest_risk as (
    {{ first_row_per(
        'known_crimes',
        partition_by='perpetrator_id',
        order_by='reported_at desc, source_id desc, crime_ref desc',
        where='risk_level is not null',
        columns='perpetrator_id, risk_level'
    ) }}
),

relationship_counts as (
    select
        perpetrator_id,
        relationship,
        count(*) as crimes
    from known_crimes
    where relationship is not null
    group by perpetrator_id, relationship
),

modal_relationship as (
    {{ first_row_per(
        'relationship_counts',
        partition_by='perpetrator_id',
        order_by='crimes desc, relationship asc',
        columns='perpetrator_id, relationship'
    ) }}
),

joined as (
    select
        windows.perpetrator_id,
        windows.cohort,
        windows.is_pseudo_index,
        windows.index_start,
        windows.index_end,
        windows.first_offence_date,
        windows.pre_window_start,
        windows.follow_up_12m_end_date,
        windows.follow_up_end_date,
        windows.as_of_date,
        windows.median_gap_days,
        windows.median_duration_days,
        offence_counts.prior_offences,
        offence_counts.pre_offences,
        offence_counts.post_offences,
        offence_counts.post_offences_12m,
        offence_counts.first_post_offence_date,
        person_attributes.birth_year,
        coalesce(latest_risk.risk_level, 'UNKNOWN') as risk_level,
        coalesce(modal_relationship.relationship, 'UNKNOWN') as relationship,
        year(windows.index_start) - person_attributes.birth_year as age_at_index
    from windows
    inner join offence_counts
        on windows.perpetrator_id = offence_counts.perpetrator_id
    left join latest_risk
        on windows.perpetrator_id = latest_risk.perpetrator_id
    left join modal_relationship
        on windows.perpetrator_id = modal_relationship.perpetrator_id
    left join person_attributes
        on windows.perpetrator_id = person_attributes.person_id
),

final as (
    select
        perpetrator_id,
        cohort,
        is_pseudo_index,
        index_start,
        index_end,
        first_offence_date,
        pre_window_start,
        follow_up_end_date,
        follow_up_12m_end_date,
        prior_offences,
        pre_offences,
        first_post_offence_date,
        risk_level,
        relationship,
        birth_year,
        age_at_index,
        median_gap_days,
        median_duration_days,
        case
            when prior_offences >= 3 then '3_PLUS'
            else cast(prior_offences as {{ text_type() }})
        end as prior_offences_band,
        case
            when pre_offences >= 3 then '3_PLUS'
            else cast(pre_offences as {{ text_type() }})
        end as pre_offences_band,
        case when index_end is not null then post_offences end as post_offences,
        coalesce(
            index_end is not null and follow_up_end_date <= as_of_date, false
        ) as follow_up_complete,
        case when index_end is not null then post_offences_12m end as post_offences_12m,
        coalesce(
            index_end is not null and follow_up_12m_end_date <= as_of_date, false
        ) as follow_up_12m_complete,
        case when index_end is not null then post_offences_12m > 0 end as reoffended_12m,
        case
            when index_end is not null
                then {{ least_ignoring_nulls(['follow_up_end_date', 'as_of_date']) }}
        end as observed_until_date,
        {{ date_diff(
            'day', 'index_end', least_ignoring_nulls(['follow_up_end_date', 'as_of_date'])
        ) }} as days_observed,
        first_post_offence_date is not null as reoffence_observed,
        {{ date_diff(
            'day',
            'index_end',
            'coalesce(first_post_offence_date, '
            ~ least_ignoring_nulls(['follow_up_end_date', 'as_of_date'])
            ~ ')'
        ) }} as days_to_reoffence_or_censoring,
        case
            when age_at_index is null then 'UNKNOWN'
            when age_at_index < 18 then 'UNDER_18'
            when age_at_index < 25 then '18_24'
            when age_at_index < 35 then '25_34'
            when age_at_index < 45 then '35_44'
            when age_at_index < 55 then '45_54'
            else '55_PLUS'
        end as age_band
    from joined
)

select * from final
order by cohort desc, perpetrator_id asc
