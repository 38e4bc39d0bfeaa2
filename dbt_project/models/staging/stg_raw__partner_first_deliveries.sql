{#-
    One row per partner agency's record ever delivered (probation
    supervision, health contacts, advocacy cases): the extract date of the
    first delivery that held it (any version, deleted ones included). The case pack
    counts an event as new when its record first arrived in the week, however
    old the event's own date: a crime reported a month ago and delivered
    late is new to the panel. Rebuilt in full on every build (one grouped
    scan of the raw row versions), so a redelivered earlier extract moves
    the date back. int_first_deliveries joins it with stg_raw__police_first_deliveries.
-#}
with

supervision as (
    select * from {{ source('raw', 'supervision') }}
),

contacts as (
    select * from {{ source('raw', 'contacts') }}
),

cases as (
    select * from {{ source('raw', 'cases') }}
),

deliveries as (
    {{ first_delivery('supervision', 'event_ref') }}
    union all
    {{ first_delivery('contacts', 'contact_ref') }}
    union all
    {{ first_delivery('cases', 'case_ref') }}
),

final as (
    select
        source_id,
        source_table,
        record_ref,
        first_extract_date
    from deliveries
)

select * from final
