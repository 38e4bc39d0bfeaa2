{#-
    NO_SPO_CONSIDERED (SPEC §7.1): the dyad has a stalking-category crime
    and no SPO (interim or full) of the dyad was applied for within
    `no_spo_window_days` of the first stalking crime's reported date
    (that date inclusive to date + N inclusive; an application before it does
    not count).

    raised_at: the first stalking crime's reported date + N days (the day
    the check starts: as_of is then N days past it). evidence_refs: that
    crime. Candidate rows; marts.dyad_flags keeps those raised on or before
    as_of.
-#}
with

first_stalking_crimes as (
    select * from {{ ref('int_safeguarding__first_stalking_crimes') }}
),

orders as (
    select * from {{ ref('int_safeguarding__orders') }}
),

thresholds as (
    select * from {{ ref('int_flag_thresholds') }}
),

spo_applications as (
    select
        dyad_id,
        applied_date
    from orders
    where is_spo and applied_date is not null
),

windows as (
    select
        first_stalking_crimes.*,
        cast(
            {{ add_interval(
                'first_stalking_crimes.reported_date', 'thresholds.no_spo_window_days', 'day'
            ) }} as date
        ) as window_end_date
    from first_stalking_crimes
    cross join thresholds
),

considered as (
    select distinct windows.dyad_id
    from windows
    inner join spo_applications
        on
            windows.dyad_id = spo_applications.dyad_id
            and spo_applications.applied_date
            between windows.reported_date and windows.window_end_date
),

final as (
    select
        windows.dyad_id,
        windows.victim_id,
        windows.perpetrator_id,
        'NO_SPO_CONSIDERED' as flag_code,
        cast(windows.window_end_date as timestamp) as raised_at,
        windows.evidence_ref as evidence_refs,
        'first stalking crime ' || windows.crime_ref || ' reported '
        || {{ format_timestamp('windows.reported_date', '%Y-%m-%d') }}
        || '; no SPO application for this pair by '
        || {{ format_timestamp('windows.window_end_date', '%Y-%m-%d') }} as detail
    from windows
    where not exists (
        select 1 from considered
        where windows.dyad_id = considered.dyad_id
    )
)

select * from final
