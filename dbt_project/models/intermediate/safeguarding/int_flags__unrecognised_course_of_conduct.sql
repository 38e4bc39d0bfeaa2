{#-
    UNRECOGNISED_COURSE_OF_CONDUCT (SPEC §7.1): the dyad has at least
    `course_of_conduct_min_crimes` police crimes reported within
    `course_of_conduct_window_days` of each other (calendar dates), and none
    of its crimes is in a stalking category.

    raised_at: the reported_at of the crime that first completes such a
    group. evidence_refs: every crime in a qualifying group. Candidate rows;
    marts.dyad_flags keeps those raised on or before as_of.
-#}
with

crimes as (
    select * from {{ ref('int_safeguarding__crimes') }}
),

thresholds as (
    select * from {{ ref('int_flag_thresholds') }}
),

dyads_with_stalking_crime as (
    select dyad_id
    from crimes
    group by dyad_id
    having bool_or(is_stalking_category)
),

numbered_crimes as (
    select
        crimes.*,
        row_number() over (
            partition by crimes.dyad_id
            order by crimes.reported_at, crimes.source_id, crimes.crime_ref
        ) as crime_number
    from crimes
    where not exists (
        select 1 from dyads_with_stalking_crime
        where crimes.dyad_id = dyads_with_stalking_crime.dyad_id
    )
),

-- each crime with the earlier (or same) crimes of its dyad reported within the window before it
crime_groups as (
    select
        later.dyad_id,
        later.victim_id,
        later.perpetrator_id,
        later.crime_number as closing_crime_number,
        later.reported_at as closing_reported_at,
        earlier.evidence_ref,
        earlier.reported_date,
        count(*) over (partition by later.dyad_id, later.crime_number) as crimes_in_group,
        thresholds.course_of_conduct_min_crimes,
        thresholds.course_of_conduct_window_days
    from numbered_crimes as later
    inner join numbered_crimes as earlier
        on
            later.dyad_id = earlier.dyad_id
            and later.crime_number >= earlier.crime_number
    cross join thresholds
    where
        {{ date_diff('day', 'earlier.reported_date', 'later.reported_date') }}
        <= thresholds.course_of_conduct_window_days
),

qualifying_groups as (
    select * from crime_groups
    where crimes_in_group >= course_of_conduct_min_crimes
),

final as (
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        'UNRECOGNISED_COURSE_OF_CONDUCT' as flag_code,
        min(closing_reported_at) as raised_at,
        {{ string_agg_ordered('evidence_ref', "', '", 'evidence_ref', distinct=true) }}
            as evidence_refs,
        cast(count(distinct evidence_ref) as {{ text_type() }}) || ' crimes reported within '
        || cast(any_value(course_of_conduct_window_days) as {{ text_type() }})
        || ' days of each other between '
        || {{ format_timestamp('min(reported_date)', '%Y-%m-%d') }} || ' and '
        || {{ format_timestamp('max(reported_date)', '%Y-%m-%d') }}
        || '; none recorded as a stalking offence' as detail
    from qualifying_groups
    group by dyad_id, victim_id, perpetrator_id
)

select * from final
