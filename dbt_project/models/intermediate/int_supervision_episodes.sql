{#-
    Every live probation supervision episode of a known perpetrator, one row
    per episode: the episode's own columns and the person_id of the
    supervised person. The journey's probation events, the panel's MASIP
    caseload, the MASIP episodes and the reoffending comparison pool
    (supervised, never on MASIP) are read from here.
-#}
with

supervision as (
    select * from {{ ref('stg_probation__supervision') }}
),

record_persons as (
    select * from {{ ref('int_record_persons') }}
    where
        source_table = 'supervision'
        and perpetrator_id is not null
),

final as (
    select
        record_persons.perpetrator_id,
        supervision.source_id,
        supervision.event_ref,
        supervision.order_type,
        supervision.requirements,
        supervision.rosh_level,
        supervision.start_date,
        supervision.end_date,
        supervision.masip_accepted_date,
        supervision.masip_ended_date
    from supervision
    inner join record_persons
        on
            supervision.source_id = record_persons.source_id
            and supervision.event_ref = record_persons.record_ref
)

select * from final
