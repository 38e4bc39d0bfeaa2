{#-
    SPEC §5/§7.4 marts.reoffending: one row per perpetrator with a MASIP
    intervention (their first episode accepted on or before as_of), with
    stalking-related offences in the 18 calendar months before the start
    and after the end. post_offences is null while the intervention has not
    ended, and counts only offences up to as_of; rates must be taken over
    follow_up_complete rows only.
-#}
with

cohort as (
    select * from {{ ref('reoffending_cohort') }}
    where cohort = 'INTERVENTION'
),

final as (
    select
        perpetrator_id,
        index_start as intervention_start,
        index_end as intervention_end,
        pre_offences,
        post_offences,
        follow_up_complete,
        follow_up_end_date,
        post_offences_12m,
        follow_up_12m_complete,
        reoffended_12m,
        first_post_offence_date,
        prior_offences,
        risk_level,
        relationship,
        age_band
    from cohort
)

select * from final
order by perpetrator_id
