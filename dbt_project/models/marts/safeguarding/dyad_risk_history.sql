{#-
    Risk level over time per dyad, for the case pack: one row per crime or
    advocacy case that recorded a DASH / S-DASH risk level for the dyad, up
    to as_of (see int_safeguarding__risk_assessments for which cases count).
    is_latest marks the dyad's latest known level (latest date; at the same
    date the higher level, then source and ref).
-#}
with

risk_assessments as (
    select * from {{ ref('int_safeguarding__risk_assessments') }}
),

final as (
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        assessed_at,
        risk_level,
        source_id,
        source_table,
        record_ref,
        row_number() over (
            partition by dyad_id
            order by
                assessed_at desc, risk_rank desc, source_id desc, source_table desc, record_ref desc
        ) = 1 as is_latest
    from risk_assessments
)

select * from final
order by dyad_id, assessed_at, source_id, source_table, record_ref
