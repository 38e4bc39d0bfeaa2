"""The evaluation report as one HTML page: the published attrition tables and the reoffending analyses.

:func:`render` formats published figures only (rounded counts, the
disclosure marker for suppressed cells, rates to 0.1 percentage point) into
:data:`TEMPLATE`, autoescaped.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from masip.evaluation.charts import STAGES
from masip.evaluation.disclosure import ALL_FORCES, MARKER
from masip.evaluation.matching import BALANCED_SMD, CALIPER_SD
from masip.evaluation.reoffending import MIN_COHORT, Analysis
from masip.evaluation.survival import MONTHS


def _cell(value: Any) -> str:
    return MARKER if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value) else f"{int(value):,}"


def _pivot(frame: pd.DataFrame, index: list[str], column: str, order: list[str]) -> tuple[list[str], list[list[str]]]:
    """Rows of (index values..., formatted cells in ``order``), forces before ALL_FORCES."""
    frame = frame.assign(_all=frame["force"] == ALL_FORCES)
    header = [*index, *order]
    rows = []
    for keys, sub in frame.sort_values(["financial_year", "_all", "force"]).groupby(index, sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        values = sub.set_index(column)["crimes"].reindex(order)
        rows.append([*(str(k) for k in keys), *(_cell(v) for v in values)])
    return header, rows


def _pct(x: float | None) -> str:
    """A share as a whole percentage: with one more digit, a rate and its interval gave away the exact numbers of
    people behind counts rounded to 5, and two weeks' reports whether the people who joined had reoffended."""
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}%"


def _rate_text(r: dict[str, Any]) -> str:
    if "estimate" not in r:
        return "–"
    return f"{_pct(r['estimate'])} ({_pct(r['low'])} to {_pct(r['high'])})"


def _est_text(e: dict[str, Any], percent: bool = False) -> str:
    fmt = (lambda v: f"{100 * v:+.0f} pp") if percent else (lambda v: f"{v:+.1f}")
    if any(isinstance(e.get(k), float) and math.isnan(e[k]) for k in ("estimate", "low", "high")):
        return "–"
    return f"{fmt(e['estimate'])} ({fmt(e['low'])} to {fmt(e['high'])})"


def _mean_text(e: dict[str, Any]) -> str:
    if any(isinstance(e.get(k), float) and math.isnan(e[k]) for k in ("estimate", "low", "high")):
        return "–"
    return f"{e['estimate']:.1f} ({e['low']:.1f} to {e['high']:.1f})"


def _people(n: int | None) -> str:
    return MARKER if n is None else f"{n:,}"


def _window_row(label: str, w: dict[str, Any]) -> list[str]:
    return [label, _people(w["n"]), _rate_text(w["pre_rate"]), _rate_text(w["post_rate"]),
            _est_text(w["rate_change"], percent=True), _mean_text(w["pre_mean"]), _mean_text(w["post_mean"])]


# --- the page ----------------------------------------------------------------------------------

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>MASIP evaluation report</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; color: #1b1b1b; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2rem; margin-top: 2.2rem; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.86rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right; }
th { background: #f2f2f2; } td:first-child, th:first-child, td.l { text-align: left; }
.note { color: #555; font-size: 0.9rem; } .refusal { background: #fff4e5; border-left: 4px solid #e68a00; padding: 0.6rem 1rem; }
.down { background: #fde8e8; } img { max-width: 100%; }
</style></head><body>
<h1>MASIP evaluation report</h1>
<p class="note">Reference date (as_of): <strong>{{ as_of or "unknown" }}</strong>. Generated {{ generated }}.
Only disclosure-controlled figures are shown: counts from 1 to 7 are suppressed (<strong>{{ marker }}</strong>),
every other count is rounded to the nearest 5, and further cells are suppressed where a suppressed one could be
worked out from a total (NHS Digital HES rule, SPEC §7.3). Reoffending figures follow the Justice Data Lab's
rule: nothing is reported for a group of fewer than {{ min_cohort }} people; numbers of people are rounded to 5 and
rates to 0.1 percentage point.</p>

<h2>1. Attrition from report to conviction</h2>
<p>Crimes recorded in a stalking category, by force and financial year (April–March) of the report; each stage
counts the crimes that reached it: CPS referral, charge (or outcome 1/1A), any court result, conviction, and
conviction for a stalking offence. Years marked † are not complete at the reference date.</p>
<img src="{{ funnel_png }}" alt="Attrition funnel per force">
<table><tr>{% for h in funnel_header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in funnel_rows %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</table>

<h2>2. Outcomes of recorded stalking crimes</h2>
<p>Home Office outcome groups (OPEN: no outcome recorded yet). A force's groups add up to its recorded crimes.</p>
<img src="{{ outcomes_png }}" alt="Outcome groups, all forces">
<table><tr>{% for h in outcome_header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in outcome_rows %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</table>

<h2>3. Section 2A and 4A: at recording and at charge</h2>
<p>At recording: crimes recorded as s2A (stalking) or s4A (stalking involving fear of violence or serious
alarm or distress).</p>
<table><tr>{% for h in split_header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in split_rows %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</table>
<p>At charge: charged crimes by the category recorded and the offence charged. Shaded cells are downgrades
(s4A charged as s2A or as a non-stalking offence; s2A charged as a non-stalking offence).</p>
<table><tr>{% for h in downgrade_header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in downgrade_rows %}<tr>{% for v in row %}<td{% if loop.index0 in downgrade_cols.get(row[2], []) %} class="down"{% endif %}>{{ v }}</td>{% endfor %}</tr>{% endfor %}</table>

<h2>4. Reoffending before and after MASIP</h2>
<p>An offence is a stalking-related crime (stalking, harassment, malicious communications, coercive control,
threats to kill, breach of order) with the person as suspect, dated by the start of the offending. Pre window:
the 18 months before the intervention starts; post window: the 18 months after it ends (calendar months).
Only people whose 18 months of follow-up are complete count. Reoffending rate: share of people with at least
one offence in the window (95% Wilson interval); change: post minus pre (paired 95% interval).</p>

<h3>4.1 {{ prepost.title }}</h3>
{% if prepost.refused %}<p class="refusal">{{ prepost.refused }}</p>{% else %}
<table><tr><th>group</th><th>people</th><th>pre: reoffending rate</th><th>post: reoffending rate</th>
<th>change (post − pre)</th><th>pre: offences per person</th><th>post: offences per person</th></tr>
{% for row in prepost_rows %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</table>
{% endif %}

<h3>4.2 {{ matched.title }}</h3>
<p>Comparison: perpetrators under probation supervision who were never accepted onto MASIP nor referred to it
by the police (supervised and convicted, like the MASIP group), each given a pseudo intervention start (the start
of their first supervision plus the intervention group's median time from the start of supervision to MASIP) and
a pseudo end (plus the median MASIP length; {{ pseudo_text }}). {{ matching_method }}.</p>
<p class="note">Read with care: people join MASIP after offending, so their pre window holds the offending that
brought them there, and their offending would fall afterwards even without MASIP (selection and regression to the
mean: see 4.1). The matched comparison removes this only as far as its supervised perpetrators, matched on
their recorded history, resemble the MASIP group; what led a team to refer one person and not another is not in
the data. This is an observational comparison, not a trial.</p>
{% if matched.refused %}<p class="refusal">{{ matched.refused }}</p>{% else %}
<table><tr><th>group</th><th>people</th><th>pre: reoffending rate</th><th>post: reoffending rate</th>
<th>change (post − pre)</th><th>pre: offences per person</th><th>post: offences per person</th></tr>
{% for row in matched_rows %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</table>
<p><strong>Difference-in-differences</strong> (MASIP change minus matched comparison change, OLS with errors
clustered by matched pair): reoffending rate <strong>{{ did_rate }}</strong>; offences per person
<strong>{{ did_mean }}</strong>. A negative value means reoffending fell more (or rose less) after MASIP than in
the matched comparison group.</p>
<p class="note">Matching: {{ matched_summary }}. Largest absolute standardised mean difference of a covariate
level: {{ smd_before }} before matching, {{ smd_after }} after (below 0.1 is usually taken as balanced).</p>
{% if imbalanced %}<p class="refusal">The matched groups are not balanced: a covariate still differs by
{{ smd_after }} standard deviations (more than 0.1), so part of the difference above may come from who was
matched rather than from MASIP.</p>{% endif %}
{% endif %}

<h3>4.3 {{ one_year.title }}</h3>
<p>Share of people with a stalking-related offence within 12 months after the (pseudo) intervention end, among
those with at least 12 months of follow-up, matched as above. "Proven" is approximated by a recorded crime with
the person as suspect (not a conviction).</p>
{% if one_year.refused %}<p class="refusal">{{ one_year.refused }}</p>{% else %}
<table><tr><th>group</th><th>people</th><th>one-year reoffending rate (95% CI)</th></tr>
{% for row in one_year_rows %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</table>
<p>Difference (MASIP − comparison): <strong>{{ one_year_diff }}</strong> (Newcombe 95% interval).</p>
{% endif %}

<h3>4.4 {{ survival.title }}</h3>
<p>Time from the (pseudo) intervention end to the first offence, censored at 18 months or at the reference date
(people whose follow-up is not yet complete count for the time they were observed). Curves read at month ends.</p>
{% if survival.refused %}<p class="refusal">{{ survival.refused }}</p>{% else %}
<img src="{{ km_png }}" alt="Kaplan-Meier curves">
<table><tr><th>number at risk (rounded)</th>{% for m in km_months %}<th>{{ m }} m</th>{% endfor %}</tr>
{% for row in km_rows %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</table>
<p>Share reoffended within 12 months (KM): {{ km_12 }}. Log-rank test p {{ logrank }}.</p>
{% endif %}

<h2>5. Notes</h2>
<ul class="note">
<li>Funnel stages follow SPEC §7.3 definitions independently; a financial year is that of the report date.</li>
<li>Disclosure control is applied jointly to the funnel, outcome and s2A/s4A tables because they share totals;
a cell may be suppressed although its own count is 8 or more (secondary suppression).</li>
<li>Reoffending figures are estimates from matched observational data and do not by themselves prove that MASIP
caused a change.</li>
</ul>
</body></html>
"""


def render(published: dict[str, pd.DataFrame], analyses: dict[str, Analysis], as_of: date | None,
            cohort: pd.DataFrame, images: dict[str, str]) -> str:
    """The report's HTML; ``published``: the tables with incomplete years marked
    (:func:`masip.evaluation.charts.with_incomplete_years_marked`)."""
    from jinja2 import Environment

    funnel_header, funnel_rows = _pivot(published["attrition_funnel_published"], ["financial_year", "force"],
                                        "stage", list(STAGES))
    outcomes = published["attrition_outcomes_published"]
    groups = sorted(outcomes["outcome_group"].unique(), key=lambda g: (g != "CHARGED", g == "OPEN", g))
    outcome_header, outcome_rows = _pivot(outcomes, ["financial_year", "force"], "outcome_group", groups)
    split_header, split_rows = _pivot(published["attrition_recorded_split_published"], ["financial_year", "force"],
                                      "recorded_category", ["STALKING_S2A", "STALKING_S4A"])
    charge_order = ["STALKING_S2A", "STALKING_S4A", "OTHER_OFFENCE", "NOT_RECORDED"]
    downgrade_header, downgrade_rows = _pivot(published["attrition_downgrades_published"],
                                              ["financial_year", "force", "recorded_category"],
                                              "charge_category", charge_order)
    downgrade_cols = {"STALKING_S4A": [3 + charge_order.index("STALKING_S2A"), 3 + charge_order.index("OTHER_OFFENCE")],
                      "STALKING_S2A": [3 + charge_order.index("OTHER_OFFENCE")]}

    prepost, matched, one_year, survival = (analyses[k] for k in ("prepost", "matched", "one_year", "survival"))
    prepost_rows = []
    if prepost.is_reported:
        prepost_rows.append(_window_row("MASIP", prepost.figures["intervention"]))
        if "comparison_pool" in prepost.figures:
            prepost_rows.append(_window_row("All supervised never-MASIP perpetrators (unmatched)", prepost.figures["comparison_pool"]))
    matched_rows, did_rate, did_mean, matched_summary, smd_before, smd_after = [], "", "", "", "", ""
    imbalanced = False
    if matched.is_reported:
        f = matched.figures
        matched_rows = [_window_row("MASIP (matched)", f["intervention"]),
                        _window_row("Matched comparison", f["comparison"])]
        did_rate = _est_text(f["did_rate"], percent=True)
        did_mean = _est_text(f["did_mean"])
        m = f["matching"]
        matched_summary = (f"{_people(m['pairs'])} matched pairs from {_people(m['treated_eligible'])} MASIP and "
                           f"{_people(m['controls_eligible'])} comparison perpetrators; "
                           f"{_people(m['treated_unmatched'])} MASIP perpetrators had no match within the caliper")
        smd_before, smd_after = f"{m['max_abs_smd_before']:.2f}", f"{m['max_abs_smd_after']:.2f}"
        imbalanced = m["max_abs_smd_after"] is not None and m["max_abs_smd_after"] > BALANCED_SMD
    one_year_rows, one_year_diff = [], ""
    if one_year.is_reported:
        f = one_year.figures
        one_year_rows = [["MASIP (matched)", _people(f["intervention"]["n"]), _rate_text(f["intervention"])],
                         ["Matched comparison", _people(f["comparison"]["n"]), _rate_text(f["comparison"])]]
        one_year_diff = _est_text(f["difference"], percent=True)
    km_rows, km_12, logrank = [], "", ""
    if survival.is_reported:
        curves = survival.figures["curves"]
        km_rows = [[curves[k]["label"], *(_people(n) for n in curves[k]["at_risk"][::3])]
                   for k in ("intervention", "comparison")]
        km_12 = "; ".join(
            f"{curves[k]['label']} {_pct(1 - curves[k]['survival'][12])} "
            f"({_pct(1 - curves[k]['high'][12])} to {_pct(1 - curves[k]['low'][12])})"
            for k in ("intervention", "comparison")
        )
        p = survival.figures["logrank_p"]
        logrank = "< 0.001" if p < 0.001 else f"= {p:.3f}"

    gap = cohort["median_gap_days"].dropna()
    duration = cohort["median_duration_days"].dropna()
    # the medians describe the intervention group: of fewer than MIN_COHORT people, one can be a person's own dates
    interventions = int((cohort["cohort"] == "INTERVENTION").sum())
    if not (len(gap) and len(duration)):
        pseudo_text = "there is no intervention group to take them from"
    elif interventions < MIN_COHORT:
        pseudo_text = (f"their values are not shown: the intervention group has fewer than {MIN_COHORT} people, and "
                       "the median of a small group can be one person's own dates")
    else:
        pseudo_text = (f"in this data the median time to MASIP is {int(gap.iloc[0])} days and the median MASIP "
                       f"length {int(duration.iloc[0])} days")
    matching_method = (
        "Each MASIP perpetrator is matched to one comparison perpetrator (nearest propensity score, logistic "
        "regression on prior offending (all history and the 18-month pre window), latest risk level, "
        "relationship to the victims and age band at the start; without replacement; caliper "
        f"{CALIPER_SD} standard deviations of the logit)"
    )
    env = Environment(autoescape=True)
    return env.from_string(TEMPLATE).render(
        as_of=as_of, min_cohort=MIN_COHORT, marker=MARKER,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        funnel_png=images["funnel"], outcomes_png=images["outcomes"], km_png=images.get("km", ""),
        funnel_header=funnel_header, funnel_rows=funnel_rows,
        outcome_header=outcome_header, outcome_rows=outcome_rows,
        split_header=split_header, split_rows=split_rows,
        downgrade_header=downgrade_header, downgrade_rows=downgrade_rows, downgrade_cols=downgrade_cols,
        prepost=prepost, prepost_rows=prepost_rows,
        matched=matched, matched_rows=matched_rows, did_rate=did_rate, did_mean=did_mean,
        matched_summary=matched_summary, smd_before=smd_before, smd_after=smd_after, imbalanced=imbalanced,
        pseudo_text=pseudo_text, matching_method=matching_method,
        one_year=one_year, one_year_rows=one_year_rows, one_year_diff=one_year_diff,
        survival=survival, km_months=list(MONTHS[::3]), km_rows=km_rows, km_12=km_12, logrank=logrank,
    )
