"""The evaluation report: attrition (SPEC §7.3) and reoffending (SPEC §7.4) as HTML.

:func:`build_evaluation_report` opens the warehouse read-only and writes,
into ``out_dir``:

* ``evaluation_report.html`` - funnel chart per force, outcome breakdown,
  s2A/s4A splits and downgrades, pre/post and matched comparison tables,
  one-year proven reoffending, Kaplan-Meier plot;
* ``funnel.png``, ``outcomes.png``, ``km.png`` - the charts;
* ``attrition_*_published.csv`` - the published attrition tables, formula-safe
  for spreadsheets (:mod:`masip.published_csv`);
* ``evaluation_summary.json`` - every published figure and every refusal.

Everything in ``out_dir`` may leave the secure area. The attrition figures
come from the ``*_published`` marts only (disclosure-controlled in the
warehouse). The reoffending figures are computed here from person-level rows
(``marts.reoffending_cohort``) and only aggregates are written, under the
Justice Data Lab's rule: an analysis whose cohort (either group) has fewer
than 60 people is refused and the report says why instead of showing
figures; numbers of people are rounded to 5 (numbers at risk of the KM
table also suppressed when 1-7); rates and estimates are rounded to 0.001 in
the JSON and 0.1 percentage point in the HTML; curves are read at month ends.
``EvaluationResult.analyses`` keeps the estimates unrounded (for tests).
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from masip.evaluation.disclosure import ALL_FORCES, MARKER, publish_count
from masip.evaluation.effects import (
    Estimate,
    Rate,
    difference_in_differences,
    rate,
    rate_difference,
    window_rates,
)
from masip.evaluation.matching import CALIPER_SD, COMPARISON, COVARIATES, INTERVENTION, MatchResult, propensity_match
from masip.evaluation.survival import MONTHS, km_curve, logrank_p
from masip.published_csv import write_frame

#: The Justice Data Lab does not report on cohorts smaller than this.
MIN_COHORT = 60

STAGES = ("RECORDED", "CPS_REFERRED", "CHARGED", "COURT", "CONVICTED", "CONVICTED_STALKING")
PUBLISHED_TABLES = (
    "attrition_funnel_published",
    "attrition_outcomes_published",
    "attrition_recorded_split_published",
    "attrition_downgrades_published",
)
COHORT_TABLE = "reoffending_cohort"

JDL_REASON = (
    "The Justice Data Lab does not publish results for cohorts of fewer than {min} people: "
    "estimates from so few people are too uncertain to support a conclusion, and small groups "
    "risk identifying individuals. This evaluation applies the same rule."
)


class EvaluationError(RuntimeError):
    """The warehouse cannot be evaluated; the message says what to do."""


@dataclass
class Analysis:
    """One reoffending analysis: its published figures, or why it was refused."""

    key: str
    title: str
    refused: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def is_reported(self) -> bool:
        return self.refused is None


@dataclass
class EvaluationResult:
    """What :func:`build_evaluation_report` wrote and the published figures in it."""

    out_dir: Path
    html_path: Path
    summary_path: Path
    files: tuple[Path, ...]
    as_of: date | None
    funnel: pd.DataFrame  # attrition_funnel_published, as read
    analyses: dict[str, Analysis]

    @property
    def refusals(self) -> dict[str, str]:
        """Analysis key -> why it was not reported (empty when all were reported)."""
        return {k: a.refused for k, a in self.analyses.items() if a.refused is not None}


# --- disclosure of reoffending aggregates ------------------------------------------------------


def published_people(n: int) -> int | None:
    """A number of people as published: rounded to 5, None when 1-7."""
    return publish_count(int(n))


def published_rate(r: Rate) -> dict[str, Any]:
    """A rate as published: the number of people rounded to 5, the rate and its interval.

    Reoffending figures follow the Justice Data Lab's rule - no figures for a
    cohort under 60 people (checked by every analysis before it publishes) -
    rather than cell suppression: a rate over 60 or more people is published
    even when few of them reoffended, as the JDL does, because suppressing it
    would be undone by the published change and difference-in-differences.
    """
    out: dict[str, Any] = {"n": published_people(r.n)}
    if r.n > 0:
        out.update(estimate=r.estimate, low=r.low, high=r.high)
    return out


def published_mean(est: Estimate) -> dict[str, Any]:
    """A mean number of offences per person, with its interval (cohorts of 60 or more only)."""
    return est.as_dict()


def cohort_refusal(sizes: dict[str, int], population: str) -> str | None:
    """The refusal text when any group of ``sizes`` has fewer than MIN_COHORT people."""
    small = {group: n for group, n in sizes.items() if n < MIN_COHORT}
    if not small:
        return None
    parts = []
    for group, n in small.items():
        shown = published_people(n)
        size = "none" if n == 0 else (f"about {shown}" if shown is not None else "fewer than 8")
        parts.append(f"{group}: {size}")
    return (
        f"Not reported: fewer than {MIN_COHORT} people in {population} ({'; '.join(parts)}). "
        + JDL_REASON.format(min=MIN_COHORT)
    )


# --- analyses ----------------------------------------------------------------------------------


def _groups(cohort: pd.DataFrame, mask: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    sub = cohort[mask]
    return sub[sub["cohort"] == INTERVENTION], sub[sub["cohort"] == COMPARISON]


def _match_summary(match: MatchResult) -> dict[str, Any]:
    balance = match.balance
    return {
        "method": (
            "1:1 nearest-neighbour propensity-score matching without replacement, caliper "
            f"{CALIPER_SD} SD of the logit; covariates: {', '.join(COVARIATES)}"
        ),
        "treated_eligible": published_people(match.n_treated_eligible),
        "controls_eligible": published_people(match.n_controls_eligible),
        "pairs": published_people(match.n_pairs),
        "treated_unmatched": published_people(match.n_treated_unmatched),
        "max_abs_smd_before": float(balance["smd_before"].abs().max()) if len(balance) else None,
        "max_abs_smd_after": float(balance["smd_after"].abs().max()) if len(balance) else None,
        "balance": [
            {"covariate_level": r.covariate_level, "smd_before": float(r.smd_before), "smd_after": float(r.smd_after)}
            for r in balance.itertuples()
        ],
    }


def _published_window_rates(frame: pd.DataFrame) -> dict[str, Any]:
    w = window_rates(frame)
    return {
        "n": published_people(w["n"]),
        "pre_rate": published_rate(w["pre_rate"]),
        "post_rate": published_rate(w["post_rate"]),
        "rate_change": w["rate_change"].as_dict(),
        "pre_mean": published_mean(w["pre_mean"]),
        "post_mean": published_mean(w["post_mean"]),
        "mean_change": w["mean_change"].as_dict(),
    }


def analyse_prepost(cohort: pd.DataFrame) -> Analysis:
    """SPEC §7.4 pre/post reoffending of the intervention group, complete follow-up only."""
    analysis = Analysis("prepost", "Reoffending 18 months before and after MASIP (intervention group)")
    treated, comparison = _groups(cohort, cohort["follow_up_complete"].astype(bool))
    analysis.refused = cohort_refusal(
        {"intervention group with complete 18-month follow-up": len(treated)},
        "the intervention group with complete follow-up",
    )
    if analysis.refused:
        return analysis
    analysis.figures = {"intervention": _published_window_rates(treated)}
    if len(comparison) >= MIN_COHORT:
        analysis.figures["comparison_pool"] = _published_window_rates(comparison)
    return analysis


def _match_or_refuse(
    analysis: Analysis, cohort: pd.DataFrame, complete_column: str, population: str
) -> MatchResult | None:
    """Propensity-matched groups over people with complete follow-up, or ``None`` (with
    ``analysis.refused`` saying why) when either group, before or after matching, is under 60."""
    treated, comparison = _groups(cohort, cohort[complete_column].astype(bool))
    analysis.refused = cohort_refusal(
        {"intervention group": len(treated), "comparison pool": len(comparison)}, population
    )
    if analysis.refused:
        return None
    match = propensity_match(pd.concat([treated, comparison]))
    analysis.figures["matching"] = _match_summary(match)
    analysis.refused = cohort_refusal(
        {"matched intervention group": match.n_pairs, "matched comparison group": match.n_pairs},
        "the matched groups",
    )
    return None if analysis.refused else match


def analyse_matched(cohort: pd.DataFrame) -> Analysis:
    """Matched comparison and difference-in-differences over complete 18-month follow-up."""
    analysis = Analysis("matched", "Matched comparison: difference-in-differences")
    match = _match_or_refuse(analysis, cohort, "follow_up_complete", "the groups with complete 18-month follow-up")
    if match is None:
        return analysis
    t, c = match.treated, match.controls
    t_pre, t_post = (t["pre_offences"] > 0).astype(int), (t["post_offences"] > 0).astype(int)
    c_pre, c_post = (c["pre_offences"] > 0).astype(int), (c["post_offences"] > 0).astype(int)
    analysis.figures.update(
        intervention=_published_window_rates(t),
        comparison=_published_window_rates(c),
        did_rate=difference_in_differences(t_pre, t_post, c_pre, c_post).as_dict(),
        did_mean=difference_in_differences(
            t["pre_offences"], t["post_offences"], c["pre_offences"], c["post_offences"]
        ).as_dict(),
    )
    return analysis


def analyse_one_year(cohort: pd.DataFrame) -> Analysis:
    """Justice Data Lab style one-year proven reoffending rate, matched groups."""
    analysis = Analysis("one_year", "One-year proven reoffending rate (Justice Data Lab style)")
    match = _match_or_refuse(analysis, cohort, "follow_up_12m_complete", "the groups with at least 12 months of follow-up")
    if match is None:
        return analysis
    rt = rate(int(match.treated["reoffended_12m"].astype(bool).sum()), match.n_pairs)
    rc = rate(int(match.controls["reoffended_12m"].astype(bool).sum()), match.n_pairs)
    analysis.figures.update(
        intervention=published_rate(rt),
        comparison=published_rate(rc),
        difference=rate_difference(rt, rc).as_dict(),
    )
    return analysis


def analyse_survival(cohort: pd.DataFrame) -> Analysis:
    """Kaplan-Meier time to first reoffence after the (pseudo) end, matched groups, censored."""
    analysis = Analysis("survival", "Time to first reoffence after the intervention (Kaplan-Meier)")
    observed = cohort["index_end"].notna() & (cohort["days_observed"].fillna(0) > 0)
    treated, comparison = _groups(cohort, observed)
    analysis.refused = cohort_refusal(
        {"intervention group": len(treated), "comparison pool": len(comparison)},
        "the groups observed after the (pseudo) end",
    )
    if analysis.refused:
        return analysis
    match = propensity_match(pd.concat([treated, comparison]))
    analysis.figures["matching"] = _match_summary(match)
    analysis.refused = cohort_refusal(
        {"matched intervention group": match.n_pairs, "matched comparison group": match.n_pairs},
        "the matched groups",
    )
    if analysis.refused:
        return analysis
    curves = {}
    for key, frame, label in (("intervention", match.treated, "MASIP"),
                              ("comparison", match.controls, "Matched comparison")):
        curve = km_curve(frame["days_to_reoffence_or_censoring"], frame["reoffence_observed"], label)
        curves[key] = {
            "label": label,
            "n": published_people(curve.n),
            "months": list(curve.months),
            "survival": list(curve.survival),
            "low": list(curve.low),
            "high": list(curve.high),
            "at_risk": [published_people(n) for n in curve.at_risk],
        }
    t, c = match.treated, match.controls
    analysis.figures.update(
        curves=curves,
        logrank_p=logrank_p(t["days_to_reoffence_or_censoring"], t["reoffence_observed"],
                            c["days_to_reoffence_or_censoring"], c["reoffence_observed"]),
    )
    return analysis


def analyse_reoffending(cohort: pd.DataFrame) -> dict[str, Analysis]:
    """Every reoffending analysis of the report, keyed prepost / matched / one_year / survival."""
    return {a.key: a for a in (analyse_prepost(cohort), analyse_matched(cohort),
                               analyse_one_year(cohort), analyse_survival(cohort))}


# --- reading the warehouse -----------------------------------------------------------------------


def read_evaluation_inputs(warehouse: Path) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, date | None]:
    """(published attrition tables, reoffending cohort, as_of), read-only."""
    warehouse = Path(warehouse)
    if not warehouse.is_file():
        raise EvaluationError(
            f"warehouse {warehouse} does not exist. What to do: run the pipeline first "
            "(`masip run` or `masip demo`), or pass --warehouse with the right path."
        )
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        present = {
            t for (t,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        }
        missing = [t for t in (*PUBLISHED_TABLES, COHORT_TABLE) if t not in present]
        if missing:
            raise EvaluationError(
                f"warehouse {warehouse} has no {', '.join('marts.' + m for m in missing)}. What to do: "
                "rebuild the marts with the current dbt project (`masip run`), then evaluate again."
            )
        published = {t: con.execute(f"select * from marts.{t}").df() for t in PUBLISHED_TABLES}
        cohort = con.execute(f"select * from marts.{COHORT_TABLE} order by perpetrator_id").df()
        as_of_row = con.execute("select as_of_date from intermediate.int_as_of").fetchone()
    finally:
        con.close()
    as_of = as_of_row[0] if as_of_row else None
    return published, cohort, as_of


# --- charts ------------------------------------------------------------------------------------


def _figure_to_file(fig: Any, path: Path) -> None:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)


def _empty_chart(path: Path, message: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center")
    _figure_to_file(fig, path)


def funnel_chart(funnel: pd.DataFrame, path: Path, years: int = 4) -> None:
    """One panel per force (and all forces): published count per stage, a bar per financial year."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if funnel.empty:
        _empty_chart(path, "No stalking-category crimes to show")
        return
    forces = [f for f in sorted(funnel["force"].unique()) if f != ALL_FORCES] + [ALL_FORCES]
    shown_years = sorted(funnel["financial_year"].unique())[-years:]
    fig, axes = plt.subplots(1, len(forces), figsize=(4.2 * len(forces), 3.8), sharey=False, squeeze=False)
    width = 0.8 / max(len(shown_years), 1)
    for ax, force in zip(axes[0], forces):
        sub = funnel[funnel["force"] == force]
        for k, year in enumerate(shown_years):
            rows = sub[sub["financial_year"] == year].set_index("stage").reindex(list(STAGES))
            xs = np.arange(len(STAGES)) + (k - (len(shown_years) - 1) / 2) * width
            values = rows["crimes"].astype("Float64")
            ax.bar(xs, values.fillna(0).astype(float), width, label=year)
            for x, v in zip(xs, values):
                if pd.isna(v):
                    ax.text(x, 0, MARKER, ha="center", va="bottom", fontsize=9)
        ax.set_title(force.replace("_", " ").title())
        ax.set_xticks(np.arange(len(STAGES)))
        ax.set_xticklabels([s.replace("_", "\n").lower() for s in STAGES], fontsize=7)
        ax.set_ylabel("crimes (rounded to 5)")
    axes[0][-1].legend(title="financial year", fontsize=7)
    fig.suptitle("Stalking crimes by attrition stage (published figures; * suppressed)", y=1.03)
    _figure_to_file(fig, path)


def outcomes_chart(outcomes: pd.DataFrame, path: Path, years: int = 4) -> None:
    """All-forces outcome groups, a bar per financial year (published figures)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    total = outcomes[outcomes["force"] == ALL_FORCES]
    if total.empty:
        _empty_chart(path, "No stalking-category crimes to show")
        return
    groups = sorted(total["outcome_group"].unique())
    shown_years = sorted(total["financial_year"].unique())[-years:]
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / max(len(shown_years), 1)
    for k, year in enumerate(shown_years):
        rows = total[total["financial_year"] == year].set_index("outcome_group").reindex(groups)
        xs = np.arange(len(groups)) + (k - (len(shown_years) - 1) / 2) * width
        values = rows["crimes"].astype("Float64")
        ax.bar(xs, values.fillna(0).astype(float), width, label=year)
        for x, v in zip(xs, values):
            if pd.isna(v):
                ax.text(x, 0, MARKER, ha="center", va="bottom", fontsize=9)
    ax.set_xticks(np.arange(len(groups)))
    ax.set_xticklabels([g.replace("_", "\n").lower() for g in groups], fontsize=7)
    ax.set_ylabel("crimes (rounded to 5)")
    ax.legend(title="financial year", fontsize=7)
    ax.set_title("Outcomes of recorded stalking crimes, all forces (published figures; * suppressed)")
    _figure_to_file(fig, path)


def km_chart(curves: dict[str, Any], path: Path) -> None:
    """Kaplan-Meier curves (share reoffended), read at month ends, with 95% bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for key, colour in (("intervention", "tab:blue"), ("comparison", "tab:orange")):
        c = curves[key]
        months = np.array(c["months"])
        reoffended = 1 - np.array(c["survival"])
        ax.step(months, reoffended, where="post", color=colour, label=f"{c['label']} (n ≈ {c['n']})")
        ax.fill_between(months, 1 - np.array(c["high"]), 1 - np.array(c["low"]), step="post",
                        color=colour, alpha=0.15)
    ax.set_xlabel("months after the (pseudo) intervention end")
    ax.set_ylabel("share reoffended (1 − KM survival)")
    ax.set_xlim(0, max(MONTHS))
    ax.set_ylim(0, 1)
    ax.set_xticks(range(0, max(MONTHS) + 1, 3))
    ax.legend(loc="upper left")
    ax.set_title("Time to first stalking-related reoffence (Kaplan-Meier, censored)")
    _figure_to_file(fig, path)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


# --- tables for the HTML -----------------------------------------------------------------------


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
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def _rate_text(r: dict[str, Any]) -> str:
    if "estimate" not in r:
        return "–"
    return f"{_pct(r['estimate'])} ({_pct(r['low'])} to {_pct(r['high'])})"


def _est_text(e: dict[str, Any], percent: bool = False) -> str:
    fmt = (lambda v: f"{100 * v:+.1f} pp") if percent else (lambda v: f"{v:+.2f}")
    if any(isinstance(e.get(k), float) and math.isnan(e[k]) for k in ("estimate", "low", "high")):
        return "–"
    return f"{fmt(e['estimate'])} ({fmt(e['low'])} to {fmt(e['high'])})"


def _mean_text(e: dict[str, Any]) -> str:
    if any(isinstance(e.get(k), float) and math.isnan(e[k]) for k in ("estimate", "low", "high")):
        return "–"
    return f"{e['estimate']:.2f} ({e['low']:.2f} to {e['high']:.2f})"


def _people(n: int | None) -> str:
    return MARKER if n is None else f"{n:,}"


def _window_row(label: str, w: dict[str, Any]) -> list[str]:
    return [label, _people(w["n"]), _rate_text(w["pre_rate"]), _rate_text(w["post_rate"]),
            _est_text(w["rate_change"], percent=True), _mean_text(w["pre_mean"]), _mean_text(w["post_mean"])]


# --- the report ----------------------------------------------------------------------------------

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
<p>Comparison: perpetrators never accepted onto MASIP, each given a pseudo intervention start (their first
stalking-related offence plus the intervention group's median time from first offence to MASIP) and a pseudo
end (plus the median MASIP length; {{ pseudo_text }}). {{ matching_method }}. Because the pseudo start follows
the first offence, nearly every comparison perpetrator has an offence in the pre window by construction; matching
on pre-window offending keeps the groups comparable, and MASIP perpetrators without one go unmatched.</p>
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


def _render(published: dict[str, pd.DataFrame], analyses: dict[str, Analysis], as_of: date | None,
            cohort: pd.DataFrame, images: dict[str, str]) -> str:
    from jinja2 import Environment

    funnel = published["attrition_funnel_published"].copy()
    incomplete = set(funnel.loc[~funnel["is_complete_year"].astype(bool), "financial_year"])
    for name, frame in list(published.items()):
        published[name] = frame.assign(
            financial_year=frame["financial_year"].map(lambda y: f"{y} †" if y in incomplete else y)
        )
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
            prepost_rows.append(_window_row("All never-MASIP perpetrators (unmatched)", prepost.figures["comparison_pool"]))
    matched_rows, did_rate, did_mean, matched_summary, smd_before, smd_after = [], "", "", "", "", ""
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
    pseudo_text = (f"in this data the median time to MASIP is {int(gap.iloc[0])} days and the median MASIP "
                   f"length {int(duration.iloc[0])} days"
                   if len(gap) and len(duration) else "there is no intervention group to take them from")
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
        matched_summary=matched_summary, smd_before=smd_before, smd_after=smd_after,
        pseudo_text=pseudo_text, matching_method=matching_method,
        one_year=one_year, one_year_rows=one_year_rows, one_year_diff=one_year_diff,
        survival=survival, km_months=list(MONTHS[::3]), km_rows=km_rows, km_12=km_12, logrank=logrank,
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if np.isnan(value) else float(value)
    if value is pd.NA:
        return None
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


#: Decimals of the estimates written to evaluation_summary.json (0.1 percentage point for rates).
PUBLISHED_DECIMALS = 3


def _for_publication(obj: Any) -> Any:
    """NaN -> None and every estimate rounded to PUBLISHED_DECIMALS, recursively."""
    if isinstance(obj, (float, np.floating)):
        return None if math.isnan(obj) else round(float(obj), PUBLISHED_DECIMALS)
    if isinstance(obj, dict):
        return {k: _for_publication(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_for_publication(v) for v in obj]
    return obj


def build_evaluation_report(warehouse: Path, out_dir: Path) -> EvaluationResult:
    """Write the evaluation report of ``warehouse`` (opened read-only) into ``out_dir``.

    Raises :class:`EvaluationError` when the warehouse or its evaluation
    marts are missing. A cohort under 60 people does not raise: that
    analysis is refused, the report says why, and ``result.refusals`` records it.
    """
    published, cohort, as_of = read_evaluation_inputs(Path(warehouse))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    analyses = analyse_reoffending(cohort)

    files: list[Path] = []
    for name, frame in published.items():
        path = out_dir / f"{name}.csv"
        files.append(write_frame(path, frame))
    images: dict[str, str] = {}
    funnel_png, outcomes_png = out_dir / "funnel.png", out_dir / "outcomes.png"
    funnel_chart(published["attrition_funnel_published"], funnel_png)
    outcomes_chart(published["attrition_outcomes_published"], outcomes_png)
    images["funnel"], images["outcomes"] = _data_uri(funnel_png), _data_uri(outcomes_png)
    files += [funnel_png, outcomes_png]
    stale_km = out_dir / "km.png"
    stale_km.unlink(missing_ok=True)
    if analyses["survival"].is_reported:
        km_chart(analyses["survival"].figures["curves"], stale_km)
        images["km"] = _data_uri(stale_km)
        files.append(stale_km)

    html = _render(dict(published), analyses, as_of, cohort, images)
    html_path = out_dir / "evaluation_report.html"
    html_path.write_text(html, encoding="utf-8")
    files.insert(0, html_path)

    summary = {
        "as_of": as_of,
        "min_cohort": MIN_COHORT,
        "analyses": {
            k: {"title": a.title, "reported": a.is_reported, "refused": a.refused, "figures": a.figures}
            for k, a in analyses.items()
        },
    }
    summary_path = out_dir / "evaluation_summary.json"
    summary_path.write_text(json.dumps(_for_publication(summary), default=_json_default, indent=2), encoding="utf-8")
    files.append(summary_path)
    return EvaluationResult(
        out_dir=out_dir,
        html_path=html_path,
        summary_path=summary_path,
        files=tuple(files),
        as_of=as_of,
        funnel=published["attrition_funnel_published"],
        analyses=analyses,
    )
