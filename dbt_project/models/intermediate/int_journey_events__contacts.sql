{#-
    HEALTH_CONTACT events. A contact with a victim belongs to every dyad
    where that person is the victim, or to the person's (victim, no
    perpetrator) dyad when there is none. A contact with a perpetrator
    belongs to every dyad where that person is the perpetrator and is left
    out when there is none (no victim to follow).
-#}
with

contacts as (
    select * from {{ ref('stg_health__contacts') }}
),

record_persons as (
    select * from {{ ref('int_record_persons') }}
    where source_table = 'contacts'
),

dyads as (
    select * from {{ ref('int_dyads') }}
),

contact_persons as (
    select
        contacts.*,
        case contacts.person_role
            when 'VICTIM' then record_persons.victim_id
            when 'PERPETRATOR' then record_persons.perpetrator_id
        end as person_id
    from contacts
    inner join record_persons
        on
            contacts.source_id = record_persons.source_id
            and contacts.contact_ref = record_persons.record_ref
),

contact_dyads as (
    select
        contact_persons.*,
        dyads.dyad_id,
        dyads.victim_id,
        dyads.perpetrator_id
    from contact_persons
    inner join dyads
        on contact_persons.person_id = dyads.victim_id
    where contact_persons.person_role = 'VICTIM'
    union all
    select
        contact_persons.*,
        {{ dyad_id('contact_persons.person_id', 'null') }} as dyad_id,
        contact_persons.person_id as victim_id,
        cast(null as {{ text_type() }}) as perpetrator_id
    from contact_persons
    where
        contact_persons.person_role = 'VICTIM'
        and not exists (
            select 1 from dyads
            where contact_persons.person_id = dyads.victim_id
        )
    union all
    select
        contact_persons.*,
        dyads.dyad_id,
        dyads.victim_id,
        dyads.perpetrator_id
    from contact_persons
    inner join dyads
        on contact_persons.person_id = dyads.perpetrator_id
    where contact_persons.person_role = 'PERPETRATOR'
),

final as (
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        cast(contact_date as timestamp) as event_at,
        'HEALTH_CONTACT' as event_type,
        source_id,
        'contacts' as source_table,
        contact_ref as record_ref,
        cast(null as {{ text_type() }}) as force,
        cast(null as {{ text_type() }}) as offence_category,
        concat_ws('; ', service, contact_type, lower(person_role) || ' seen') as detail
    from contact_dyads
    where person_id is not null
)

select * from final
