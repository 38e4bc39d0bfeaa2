{#-
    The weekly case pack's index (SPEC §7.2): every dyad on the panel
    (section PANEL), then every other dyad with an open flag whose latest
    known risk level is HIGH (section HIGH_RISK_FLAGGED). pack_position is
    the order of the cases in the pack: panel first; within a section, the
    cases with something new in the last 7 days (a flag raised or an event
    on or before as_of), then by latest risk (HIGH, MEDIUM, STANDARD, none),
    then the most recent activity first, then more open flags, then
    dyad_id. (By open flags first, a case whose five flags were raised in
    2023 led the pack and every flag raised that month came last.)
-#}
with

panel as (
    select * from {{ ref('panel') }}
),

dyad_flags as (
    select * from {{ ref('dyad_flags') }}
),

dyad_risk_history as (
    select * from {{ ref('dyad_risk_history') }}
),

victim_journey as (
    select * from {{ ref('victim_journey') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

latest_events as (
    select
        victim_journey.dyad_id,
        max(victim_journey.event_at) as latest_event_at
    from victim_journey
    cross join as_of
    where cast(victim_journey.event_at as date) <= as_of.as_of_date
    group by victim_journey.dyad_id
),

latest_risk as (
    select
        dyad_id,
        risk_level as latest_risk_level,
        assessed_at as latest_risk_at
    from dyad_risk_history
    where is_latest
),

flag_summary as (
    select
        dyad_id,
        any_value(victim_id) as victim_id,
        any_value(perpetrator_id) as perpetrator_id,
        count(*) as open_flag_count,
        max(raised_at) as latest_flag_raised_at,
        {{ string_agg_ordered('flag_code', "', '", 'flag_code') }} as flag_codes
    from dyad_flags
    group by dyad_id
),

pack_dyads as (
    select
        panel.dyad_id,
        panel.victim_id,
        panel.perpetrator_id,
        'PANEL' as pack_section,
        1 as section_order,
        panel.reason as panel_reason
    from panel
    union all
    select
        flag_summary.dyad_id,
        flag_summary.victim_id,
        flag_summary.perpetrator_id,
        'HIGH_RISK_FLAGGED' as pack_section,
        2 as section_order,
        cast(null as {{ text_type() }}) as panel_reason
    from flag_summary
    inner join latest_risk
        on flag_summary.dyad_id = latest_risk.dyad_id
    where
        latest_risk.latest_risk_level = 'HIGH'
        and not exists (
            select 1 from panel
            where flag_summary.dyad_id = panel.dyad_id
        )
),

activity as (
    select
        pack_dyads.*,
        {{ greatest_ignoring_nulls([
            'flag_summary.latest_flag_raised_at', 'latest_events.latest_event_at',
        ]) }} as last_activity_at
    from pack_dyads
    left join flag_summary
        on pack_dyads.dyad_id = flag_summary.dyad_id
    left join latest_events
        on pack_dyads.dyad_id = latest_events.dyad_id
),

final as (
    select
        row_number() over (
            order by
                activity.section_order asc,
                coalesce(
                    cast(activity.last_activity_at as date)
                    > {{ add_days('as_of.as_of_date', -7) }},
                    false
                ) desc,
                case latest_risk.latest_risk_level
                    when 'HIGH' then 1 when 'MEDIUM' then 2 when 'STANDARD' then 3 else 4
                end asc,
                activity.last_activity_at desc nulls last,
                coalesce(flag_summary.open_flag_count, 0) desc,
                activity.dyad_id asc
        ) as pack_position,
        activity.dyad_id,
        activity.victim_id,
        activity.perpetrator_id,
        activity.pack_section,
        activity.panel_reason,
        latest_risk.latest_risk_level,
        latest_risk.latest_risk_at,
        coalesce(flag_summary.open_flag_count, 0) as open_flag_count,
        flag_summary.flag_codes,
        activity.last_activity_at,
        as_of.as_of_date
    from activity
    left join flag_summary
        on activity.dyad_id = flag_summary.dyad_id
    left join latest_risk
        on activity.dyad_id = latest_risk.dyad_id
    cross join as_of
)

select * from final
order by pack_position
