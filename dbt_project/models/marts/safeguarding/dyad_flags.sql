{#-
    SPEC §5 / §7.1 marts.dyad_flags: one row per (dyad, flag) raised on or
    before as_of. Each flag's rule lives in its own int_flags__* model and
    reads its thresholds from seed flag_thresholds; int_order_flags and
    int_response_flags gather them, and this model only unions those two
    and keeps the flags whose raised_at falls on or before as_of (calendar
    date).
-#}
with

order_flags as (
    select * from {{ ref('int_order_flags') }}
),

response_flags as (
    select * from {{ ref('int_response_flags') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

candidate_flags as (
    {{ union_all_by_name(
        ['order_flags', 'response_flags'],
        flag_columns()
    ) }}
),

final as (
    select
        candidate_flags.dyad_id,
        candidate_flags.victim_id,
        candidate_flags.perpetrator_id,
        candidate_flags.flag_code,
        candidate_flags.raised_at,
        candidate_flags.evidence_refs,
        candidate_flags.detail,
        as_of.as_of_date
    from candidate_flags
    cross join as_of
    where cast(candidate_flags.raised_at as date) <= as_of.as_of_date
)

select * from final
order by dyad_id, flag_code
