{#-
    SPEC §5 / §7.2 marts.panel: one row per dyad on the MASIP panel at
    as_of. A dyad is on the panel when its perpetrator has a probation
    supervision episode accepted onto the MASIP caseload on or before as_of
    and not ended before as_of (MASIP_CASELOAD), or when a police referral
    to MASIP made on or before as_of names one of the dyad's live crimes
    (MASIP_REFERRAL).
-#}
with

supervision_episodes as (
    select * from {{ ref('int_supervision_episodes') }}
),

dyads as (
    select * from {{ ref('int_dyads') }}
),

referrals as (
    select * from {{ ref('int_safeguarding__referrals') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

caseload_episodes as (
    select
        supervision_episodes.perpetrator_id,
        supervision_episodes.source_id || ':' || supervision_episodes.event_ref as evidence_ref
    from supervision_episodes
    cross join as_of
    where
        supervision_episodes.masip_accepted_date <= as_of.as_of_date
        and (
            supervision_episodes.masip_ended_date is null
            or supervision_episodes.masip_ended_date >= as_of.as_of_date
        )
),

panel_reasons as (
    select
        dyads.dyad_id,
        dyads.victim_id,
        dyads.perpetrator_id,
        'MASIP_CASELOAD' as reason,
        caseload_episodes.evidence_ref
    from dyads
    inner join caseload_episodes
        on dyads.perpetrator_id = caseload_episodes.perpetrator_id
    union all
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        'MASIP_REFERRAL' as reason,
        evidence_ref
    from referrals
    where referred_to = 'MASIP'
),

final as (
    select
        panel_reasons.dyad_id,
        panel_reasons.victim_id,
        panel_reasons.perpetrator_id,
        {{ string_agg_ordered(
            'panel_reasons.reason', "'+'", 'panel_reasons.reason', distinct=true
        ) }} as reason,
        bool_or(panel_reasons.reason = 'MASIP_CASELOAD') as is_on_masip_caseload,
        bool_or(panel_reasons.reason = 'MASIP_REFERRAL') as has_masip_referral,
        {{ string_agg_ordered(
            'panel_reasons.evidence_ref', "', '", 'panel_reasons.evidence_ref', distinct=true
        ) }} as reason_refs,
        any_value(as_of.as_of_date) as as_of_date
    from panel_reasons
    cross join as_of
    group by panel_reasons.dyad_id, panel_reasons.victim_id, panel_reasons.perpetrator_id
)

select * from final
order by dyad_id
