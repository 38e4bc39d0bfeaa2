{#-
    The first MASIP episode of every supervised person (SPEC §7.4): the
    supervision episode with the earliest masip_accepted_at (ties: earlier
    masip_ended_at, then source_id, event_ref). Only episodes accepted on or
    before as_of count as interventions. ever_masip marks everyone with a
    MASIP acceptance at any date, so that nobody who was (or will be) on the
    caseload is used as a comparison.
-#}
with

supervision as (
    select * from {{ ref('stg_probation__supervision') }}
    where masip_accepted_date is not null
),

record_persons as (
    select * from {{ ref('int_record_persons') }}
    where
        source_table = 'supervision'
        and perpetrator_id is not null
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

episodes as (
    select
        record_persons.perpetrator_id,
        supervision.source_id,
        supervision.event_ref,
        supervision.masip_accepted_date,
        supervision.masip_ended_date,
        supervision.masip_accepted_date <= as_of.as_of_date as is_started
    from supervision
    inner join record_persons
        on
            supervision.source_id = record_persons.source_id
            and supervision.event_ref = record_persons.record_ref
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
        masip_accepted_date as intervention_start,
        masip_ended_date as intervention_end,
        masip_episodes,
        is_started
    from ranked
    where episode_number = 1
)

select * from final
