{#-
    The flag thresholds of seed flag_thresholds as one row, one column per
    threshold, so that each flag model cross joins it and names what it
    uses. A threshold missing from the seed is null here and fails this
    model's not_null tests (instead of silently never raising its flag).
-#}
with

flag_thresholds as (
    select * from {{ ref('flag_thresholds') }}
),

final as (
    select
        max(value) filter (
            where flag_code = 'UNRECOGNISED_COURSE_OF_CONDUCT' and threshold_name = 'min_crimes'
        ) as course_of_conduct_min_crimes,
        max(value) filter (
            where flag_code = 'UNRECOGNISED_COURSE_OF_CONDUCT' and threshold_name = 'crime_window'
        ) as course_of_conduct_window_days,
        max(value) filter (
            where flag_code = 'NO_SPO_CONSIDERED' and threshold_name = 'spo_application_window'
        ) as no_spo_window_days,
        max(value) filter (
            where flag_code = 'INTERIM_SPO_LATE' and threshold_name = 'max_report_to_grant'
        ) as interim_spo_max_days,
        max(value) filter (
            where flag_code = 'BREACH_RESPONSE_OVER_24H' and threshold_name = 'max_response_time'
        ) as breach_response_max_hours,
        max(value) filter (
            where
            flag_code = 'REPEAT_BREACHES_NOT_RECORDED_AS_STALKING'
            and threshold_name = 'min_breaches'
        ) as repeat_breaches_min_breaches,
        max(value) filter (
            where
            flag_code = 'REPEAT_BREACHES_NOT_RECORDED_AS_STALKING'
            and threshold_name = 'stalking_crime_window'
        ) as repeat_breaches_window_days,
        max(value) filter (
            where flag_code = 'NO_ADVOCACY_REFERRAL' and threshold_name = 'referral_window'
        ) as advocacy_referral_window_days,
        max(value) filter (
            where
            flag_code = 'SPO_REQUEST_NOT_ACTED_ON'
            and threshold_name = 'spo_application_window'
        ) as spo_request_window_days,
        max(value) filter (
            where flag_code = 'SUMMARY_TIME_LIMIT_AT_RISK' and threshold_name = 'time_limit'
        ) as summary_time_limit_months,
        max(value) filter (
            where flag_code = 'SUMMARY_TIME_LIMIT_AT_RISK' and threshold_name = 'warning_window'
        ) as summary_time_limit_warning_days
    from flag_thresholds
)

select * from final
