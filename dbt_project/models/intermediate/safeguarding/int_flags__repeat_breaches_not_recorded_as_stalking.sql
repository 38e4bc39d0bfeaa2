{#-
    REPEAT_BREACHES_NOT_RECORDED_AS_STALKING (SPEC §7.1): at least
    `repeat_breaches_min_breaches` breaches of the dyad's orders, and no
    stalking-category crime of the dyad (known at as_of) was reported within
    `repeat_breaches_window_days` of the second breach's reported date.
    Raised as soon as the second breach is reported: no waiting for the
    window to pass; a stalking crime recorded within it clears the flag.

    raised_at: the second breach's reported_at. evidence_refs: every breach
    of the dyad known at as_of.
-#}
with

breaches as (
    select * from {{ ref('int_safeguarding__breaches') }}
),

crimes as (
    select * from {{ ref('int_safeguarding__crimes') }}
),

thresholds as (
    select * from {{ ref('int_flag_thresholds') }}
),

numbered_breaches as (
    select
        breaches.*,
        row_number() over (
            partition by breaches.dyad_id
            order by breaches.reported_at, breaches.source_id, breaches.breach_ref
        ) as breach_number,
        count(*) over (partition by breaches.dyad_id) as breaches_of_dyad
    from breaches
),

repeat_breaches as (
    select
        numbered_breaches.*,
        cast(
            {{ add_interval(
                'numbered_breaches.reported_date', 'thresholds.repeat_breaches_window_days', 'day'
            ) }} as date
        ) as window_end_date
    from numbered_breaches
    cross join thresholds
    where numbered_breaches.breach_number = thresholds.repeat_breaches_min_breaches
),

recorded_as_stalking as (
    select distinct repeat_breaches.dyad_id
    from repeat_breaches
    inner join crimes
        on
            repeat_breaches.dyad_id = crimes.dyad_id
            and crimes.is_stalking_category
            and crimes.reported_date
            between repeat_breaches.reported_date and repeat_breaches.window_end_date
),

evidence_lists as (
    select
        dyad_id,
        {{ string_agg_ordered('evidence_ref', "', '", 'evidence_ref') }} as evidence_refs
    from breaches
    group by dyad_id
),

final as (
    select
        repeat_breaches.dyad_id,
        repeat_breaches.victim_id,
        repeat_breaches.perpetrator_id,
        'REPEAT_BREACHES_NOT_RECORDED_AS_STALKING' as flag_code,
        repeat_breaches.reported_at as raised_at,
        evidence_lists.evidence_refs,
        cast(repeat_breaches.breaches_of_dyad as {{ text_type() }})
        || ' breaches of orders; breach number '
        || cast(repeat_breaches.breach_number as {{ text_type() }})
        || ' (' || repeat_breaches.breach_ref || ') reported '
        || {{ format_timestamp('repeat_breaches.reported_at', '%Y-%m-%d %H:%M') }}
        || '; no stalking crime recorded for this pair within '
        || cast(thresholds.repeat_breaches_window_days as {{ text_type() }})
        || ' days of it (window ends '
        || {{ format_timestamp('repeat_breaches.window_end_date', '%Y-%m-%d') }} || ')' as detail
    from repeat_breaches
    inner join evidence_lists
        on repeat_breaches.dyad_id = evidence_lists.dyad_id
    cross join thresholds
    where not exists (
        select 1 from recorded_as_stalking
        where repeat_breaches.dyad_id = recorded_as_stalking.dyad_id
    )
)

select * from final
