{#-
    One row per dyad with a stalking-category crime known at as_of: its
    first stalking crime (earliest reported_at; ties by source and ref).
-#}
with

crimes as (
    select * from {{ ref('int_safeguarding__crimes') }}
),

final as (
    select
        dyad_id,
        victim_id,
        perpetrator_id,
        source_id,
        crime_ref,
        evidence_ref,
        reported_at,
        reported_date,
        offence_category
    from crimes
    where is_stalking_category
    qualify row_number() over (
        partition by dyad_id
        order by reported_at, source_id, crime_ref
    ) = 1
)

select * from final
