{#-
    The first MASIP episode of every supervised person (SPEC §7.4): the
    supervision episode with the earliest masip_accepted_at (ties: earlier
    masip_ended_at, then source_id, event_ref). Only episodes accepted on or
    before as_of count as interventions. ever_masip marks everyone with a
    MASIP acceptance at any date, so that nobody who was (or will be) on the
    caseload is used as a comparison.
-#}
with

supervision_episodes as (
    select * from {{ ref('int_supervision_episodes') }}
    where masip_accepted_date is not null
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

episodes as (
    select
        supervision_episodes.perpetrator_id,
        supervision_episodes.source_id,
        supervision_episodes.event_ref,
        supervision_episodes.start_date,
        supervision_episodes.masip_accepted_date,
        supervision_episodes.masip_ended_date,
        supervision_episodes.masip_accepted_date <= as_of.as_of_date as is_started
    from supervision_episodes
    cross join as_of
),

ranked as (
    select
        *,
        count(*) over (partition by perpetrator_id) as masip_episodes,
        row_number() over (
            partition by perpetrator_id
            order by masip_accepted_date, masip_ended_date nulls last, source_id, event_ref
        ) as episode_number
    from episodes
),

final as (
    select
        perpetrator_id,
        source_id,
        event_ref,
        start_date as supervision_start_date,
        masip_accepted_date as intervention_start,
        masip_ended_date as intervention_end,
        masip_episodes,
        is_started
    from ranked
    where episode_number = 1
)

select * from final
