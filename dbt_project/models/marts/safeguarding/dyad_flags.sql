{#-
    SPEC §5 / §7.1 marts.dyad_flags: one row per (dyad, flag) raised on or
    before as_of. Each flag's rule lives in its own int_flags__* model and
    reads its thresholds from seed flag_thresholds; this model only unions
    them and keeps the flags whose raised_at falls on or before as_of
    (calendar date).
-#}
with

unrecognised_course_of_conduct as (
    select * from {{ ref('int_flags__unrecognised_course_of_conduct') }}
),

no_spo_considered as (
    select * from {{ ref('int_flags__no_spo_considered') }}
),

interim_spo_late as (
    select * from {{ ref('int_flags__interim_spo_late') }}
),

breach_response_over_24h as (
    select * from {{ ref('int_flags__breach_response_over_24h') }}
),

repeat_breaches_not_recorded_as_stalking as (
    select * from {{ ref('int_flags__repeat_breaches_not_recorded_as_stalking') }}
),

no_advocacy_referral as (
    select * from {{ ref('int_flags__no_advocacy_referral') }}
),

spo_request_not_acted_on as (
    select * from {{ ref('int_flags__spo_request_not_acted_on') }}
),

summary_time_limit_at_risk as (
    select * from {{ ref('int_flags__summary_time_limit_at_risk') }}
),

spo_without_positive_requirements as (
    select * from {{ ref('int_flags__spo_without_positive_requirements') }}
),

as_of as (
    select * from {{ ref('int_as_of') }}
),

candidate_flags as (
    {{ union_all_by_name(
        [
            'unrecognised_course_of_conduct',
            'no_spo_considered',
            'interim_spo_late',
            'breach_response_over_24h',
            'repeat_breaches_not_recorded_as_stalking',
            'no_advocacy_referral',
            'spo_request_not_acted_on',
            'summary_time_limit_at_risk',
            'spo_without_positive_requirements',
        ],
        [
            'dyad_id',
            'victim_id',
            'perpetrator_id',
            'flag_code',
            'raised_at',
            'evidence_refs',
            'detail',
        ]
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
