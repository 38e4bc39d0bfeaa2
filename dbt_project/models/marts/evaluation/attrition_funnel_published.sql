{#-
    SPEC §7.3 published copy of attrition_funnel: every (force, financial
    year, stage) cell plus an ALL_FORCES total per (financial year, stage),
    after disclosure control (masip.evaluation.disclosure): counts 1-7
    suppressed (crimes null, marker '*'), others rounded to the nearest 5,
    secondary suppression so that no suppressed cell can be recovered from
    the totals or from the other published attrition tables.
-#}
with

cells as (
    select * from {{ python_model_relation('attrition_disclosure_cells') }}
    where published_table = 'attrition_funnel_published'
),

final as (
    select
        force,
        financial_year,
        stage,
        stage_order,
        crimes,
        marker,
        is_all_forces,
        is_complete_year
    from cells
)

select * from final
order by is_all_forces, force, financial_year, stage_order
