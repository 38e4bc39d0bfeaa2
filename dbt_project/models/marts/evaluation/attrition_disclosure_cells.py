"""Every cell of the published attrition tables, after disclosure control (SPEC §7.3).

A Python model so that the rule lives in one tested pure function,
masip.evaluation.disclosure.protect_attrition, which protects the funnel,
the outcome breakdown and the s2A/s4A splits together (they share totals).
The four *_published marts select their rows from here. This table keeps
the kind of suppression (PRIMARY/SECONDARY) for audit; the published marts
show only the marker.
"""

from masip.evaluation.disclosure import protect_attrition


def model(dbt, session):
    dbt.config(materialized="table")
    return protect_attrition(
        funnel=dbt.ref("attrition_funnel").df(),
        outcomes=dbt.ref("attrition_outcomes").df(),
        recorded_split=dbt.ref("attrition_recorded_split").df(),
        downgrades=dbt.ref("attrition_downgrades").df(),
    )
