{#-
    The weekly case pack's index (SPEC §7.2): every dyad on the panel
    (section PANEL), then every other dyad with an open flag whose latest
    known risk level is HIGH (section HIGH_RISK_FLAGGED). pack_position is
    the order of the cases in the pack: panel first; within a section, more
    open flags first, then dyad_id.
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

as_of as (
    select * from {{ ref('int_as_of') }}
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

final as (
    select
        row_number() over (
            order by
                pack_dyads.section_order asc,
                coalesce(flag_summary.open_flag_count, 0) desc,
                pack_dyads.dyad_id asc
        ) as pack_position,
        pack_dyads.dyad_id,
        pack_dyads.victim_id,
        pack_dyads.perpetrator_id,
        pack_dyads.pack_section,
        pack_dyads.panel_reason,
        latest_risk.latest_risk_level,
        latest_risk.latest_risk_at,
        coalesce(flag_summary.open_flag_count, 0) as open_flag_count,
        flag_summary.flag_codes,
        as_of.as_of_date
    from pack_dyads
    left join flag_summary
        on pack_dyads.dyad_id = flag_summary.dyad_id
    left join latest_risk
        on pack_dyads.dyad_id = latest_risk.dyad_id
    cross join as_of
)

select * from final
order by pack_position
