{#-
    One row per (dyad, flag) candidate of the flags about recognising and
    answering the conduct (UNRECOGNISED_COURSE_OF_CONDUCT,
    BREACH_RESPONSE_OVER_24H, REPEAT_BREACHES_NOT_RECORDED_AS_STALKING,
    NO_ADVOCACY_REFERRAL, SUMMARY_TIME_LIMIT_AT_RISK), as a view (no table of
    its own).
-#}
{{ config(materialized='view') }}

with

unrecognised_course_of_conduct as (
    select * from {{ ref('int_flags__unrecognised_course_of_conduct') }}
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

summary_time_limit_at_risk as (
    select * from {{ ref('int_flags__summary_time_limit_at_risk') }}
),

flags as (
    {{ union_all_by_name(
        [
            'unrecognised_course_of_conduct',
            'breach_response_over_24h',
            'repeat_breaches_not_recorded_as_stalking',
            'no_advocacy_referral',
            'summary_time_limit_at_risk',
        ],
        flag_columns()
    ) }}
)

select * from flags
