{#-
    Every live probation supervision episode of a known perpetrator, one row
    per episode: who it supervises, when it started, and its MASIP
    acceptance and end (null when never on MASIP). The MASIP episodes and
    the reoffending comparison pool (supervised, never on MASIP) are read
    from here.
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
        supervision.start_date,
        supervision.masip_accepted_date,
        supervision.masip_ended_date
    from supervision
    inner join record_persons
        on
            supervision.source_id = record_persons.source_id
            and supervision.event_ref = record_persons.record_ref
)

select * from final
