{#-
    One row per dyad with a stalking-category crime known at as_of: its
    first stalking crime (earliest reported_at; ties by source and ref).
-#}
with

crimes as (
    select * from {{ ref('int_safeguarding__crimes') }}
),

final as (
    {{ first_row_per(
        'crimes',
        partition_by='dyad_id',
        order_by='reported_at, source_id, crime_ref',
        where='is_stalking_category',
        columns='dyad_id, victim_id, perpetrator_id, source_id, crime_ref, evidence_ref,
        reported_at, reported_date, offence_category'
    ) }}
)

select * from final
