{#-
    Probation events (supervision start/end, MASIP caseload accepted/ended)
    on every dyad where the supervised person is the perpetrator; an episode
    of a person who is perpetrator in no dyad is left out.
-#}
with

supervision_episodes as (
    select * from {{ ref('int_supervision_episodes') }}
),

dyads as (
    select * from {{ ref('int_dyads') }}
),

supervision_dyads as (
    select
        supervision_episodes.*,
        dyads.dyad_id,
        dyads.victim_id
    from supervision_episodes
    inner join dyads
        on supervision_episodes.perpetrator_id = dyads.perpetrator_id
),

events as (
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        cast(start_date as timestamp) as event_at,
        'SUPERVISION_START' as event_type,
        source_id,
        'supervision' as source_table,
        event_ref as record_ref,
        concat_ws('; ', order_type, 'RoSH ' || rosh_level, requirements) as detail
    from supervision_dyads
    union all
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        cast(end_date as timestamp) as event_at,
        'SUPERVISION_END' as event_type,
        source_id,
        'supervision' as source_table,
        event_ref as record_ref,
        coalesce(order_type, 'supervision') || ' ended' as detail
    from supervision_dyads
    union all
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        cast(masip_accepted_date as timestamp) as event_at,
        'MASIP_ACCEPTED' as event_type,
        source_id,
        'supervision' as source_table,
        event_ref as record_ref,
        'accepted onto MASIP caseload' as detail
    from supervision_dyads
    union all
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        cast(masip_ended_date as timestamp) as event_at,
        'MASIP_ENDED' as event_type,
        source_id,
        'supervision' as source_table,
        event_ref as record_ref,
        'left MASIP caseload' as detail
    from supervision_dyads
),

final as (
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        event_at,
        event_type,
        source_id,
        source_table,
        record_ref,
        cast(null as {{ text_type() }}) as force,
        cast(null as {{ text_type() }}) as offence_category,
        detail
    from events
    where event_at is not null
)

select * from final
