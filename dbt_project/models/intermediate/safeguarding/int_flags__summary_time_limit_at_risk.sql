{#-
    SUMMARY_TIME_LIMIT_AT_RISK (SPEC §7.1): a STALKING_S2A crime of the dyad
    (latest version's category) with no charge and no outcome at as_of,
    whose offence_from date (else the reported date) + `summary_time_limit_months`
    calendar months (clamped to month end) is on or before as_of +
    `summary_time_limit_warning_days`.

    raised_at: time limit - warning days, or the reported date if the crime
    was reported later (the first day the rule held). evidence_refs: every
    such crime at risk by as_of (an open s2A crime whose limit is further
    off is not evidence: the case pack listed crimes due months later).
-#}
with

crimes as (
    select * from {{ ref('int_safeguarding__crimes') }}
),

thresholds as (
    select * from {{ ref('int_flag_thresholds') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

open_s2a_crimes as (
    select
        crimes.*,
        cast(
            {{ add_interval(
                'coalesce(crimes.offence_from_date, crimes.reported_date)',
                'thresholds.summary_time_limit_months',
                'month'
            ) }} as date
        ) as time_limit_date,
        thresholds.summary_time_limit_months,
        thresholds.summary_time_limit_warning_days
    from crimes
    cross join thresholds
    where
        crimes.offence_category = 'STALKING_S2A'
        and crimes.charged_date is null
        and crimes.outcome_code is null
),

raised as (
    select
        *,
        {{ greatest_ignoring_nulls([
            'cast('
            ~ subtract_interval('time_limit_date', 'summary_time_limit_warning_days', 'day')
            ~ ' as date)',
            'reported_date',
        ]) }} as crime_raised_date
    from open_s2a_crimes
),

at_risk as (
    select raised.*
    from raised
    cross join as_of
    where raised.crime_raised_date <= as_of.as_of_date
),

{%- set crime_text -%}
    's2A stalking crime ' || crime_ref || ' not charged and no outcome; '
            || cast(summary_time_limit_months as {{ text_type() }}) || '-month time limit '
            || {{ format_timestamp('time_limit_date', '%Y-%m-%d') }}
{%- endset %}

final as (
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        'SUMMARY_TIME_LIMIT_AT_RISK' as flag_code,
        cast(min(crime_raised_date) as timestamp) as raised_at,
        {{ string_agg_ordered('evidence_ref', "', '", 'evidence_ref') }} as evidence_refs,
        {{ string_agg_ordered(crime_text, "'; '", 'time_limit_date, source_id, crime_ref') }}
            as detail
    from at_risk
    group by dyad_id, victim_id, perpetrator_id
)

select * from final
