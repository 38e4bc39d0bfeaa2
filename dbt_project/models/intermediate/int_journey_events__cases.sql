{#-
    Journey events of advocacy cases. A case naming a perpetrator sits on
    its own (client, perpetrator) dyad. A case that names none belongs to
    every dyad where the client is the victim, or, when there is none, to
    the client's (client, no perpetrator) dyad. A case without a client
    role has no victim and is left out.
-#}
with

cases as (
    select * from {{ ref('int_cases') }}
    where victim_id is not null
),

dyads as (
    select * from {{ ref('int_dyads') }}
),

case_dyads as (
    -- the case names the perpetrator
    select
        cases.*,
        cases.dyad_id as journey_dyad_id,
        cases.perpetrator_id as journey_perpetrator_id
    from cases
    where cases.dyad_id is not null
    union all
    -- no perpetrator named: every dyad of the client as victim
    select
        cases.*,
        dyads.dyad_id as journey_dyad_id,
        dyads.perpetrator_id as journey_perpetrator_id
    from cases
    inner join dyads
        on cases.victim_id = dyads.victim_id
    where cases.perpetrator_id is null
    union all
    -- ... or the client alone when the client is victim in no dyad
    select
        cases.*,
        {{ dyad_id('cases.victim_id', 'null') }} as journey_dyad_id,
        cast(null as {{ text_type() }}) as journey_perpetrator_id
    from cases
    where
        cases.perpetrator_id is null
        and not exists (
            select 1 from dyads
            where cases.victim_id = dyads.victim_id
        )
),

events as (
    select
        journey_dyad_id as dyad_id,
        victim_id,
        journey_perpetrator_id as perpetrator_id,
        cast(referral_date as timestamp) as event_at,
        'ADVOCACY_REFERRAL' as event_type,
        source_id,
        'cases' as source_table,
        case_ref as record_ref,
        force,
        cast(null as {{ text_type() }}) as offence_category,
        concat_ws(
            '; ',
            'referred by ' || referral_source,
            'risk ' || risk_level,
            'relationship ' || relationship
        ) as detail
    from case_dyads
    union all
    select
        journey_dyad_id as dyad_id,
        victim_id,
        journey_perpetrator_id as perpetrator_id,
        cast(closed_date as timestamp) as event_at,
        'ADVOCACY_CLOSED' as event_type,
        source_id,
        'cases' as source_table,
        case_ref as record_ref,
        force,
        cast(null as {{ text_type() }}) as offence_category,
        coalesce(closure_reason, 'closure reason not given') as detail
    from case_dyads
    union all
    select
        journey_dyad_id as dyad_id,
        victim_id,
        journey_perpetrator_id as perpetrator_id,
        cast(spo_requested_date as timestamp) as event_at,
        'SPO_REQUESTED' as event_type,
        source_id,
        'cases' as source_table,
        case_ref as record_ref,
        force,
        cast(null as {{ text_type() }}) as offence_category,
        'SPO requested via advocacy' as detail
    from case_dyads
),

final as (
    select * from events
    where event_at is not null
)

select * from final
