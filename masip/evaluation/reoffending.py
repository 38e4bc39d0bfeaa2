"""Reoffending (SPEC §7.4): the analyses of the evaluation report, and how their figures are published.

Each analysis reads person-level rows (``marts.reoffending_cohort``) and
returns only aggregates, under the Justice Data Lab's rule: an analysis whose
cohort (either group) has fewer than 60 people is refused with the
reason instead of figures, and numbers of people are rounded to 5
(:func:`published_people`). :mod:`masip.evaluation.report` writes them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from masip.evaluation.disclosure import publish_count
from masip.evaluation.effects import (
    Estimate,
    Rate,
    difference_in_differences,
    rate,
    rate_difference,
    window_rates,
)
from masip.evaluation.matching import (
    CALIPER_SD,
    COMPARISON,
    COVARIATES,
    INTERVENTION,
    MatchResult,
    propensity_match,
)
from masip.evaluation.survival import km_curve, logrank_p

#: The Justice Data Lab does not report on cohorts smaller than this.
MIN_COHORT = 60

JDL_REASON = (
    "The Justice Data Lab does not publish results for cohorts of fewer than {min} people: "
    "estimates from so few people are too uncertain to support a conclusion, and small groups "
    "risk identifying individuals. This evaluation applies the same rule."
)


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
        f"Not reported: fewer than 60 people in {population} ({'; '.join(parts)}). "
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


def _match_or_refuse(analysis: Analysis, cohort: pd.DataFrame, eligible: pd.Series, population: str) -> MatchResult | None:
    """Propensity-matched groups over the ``eligible`` people, or ``None`` (with ``analysis.refused`` saying
    why) when either group, before or after matching, is under 60."""
    treated, comparison = _groups(cohort, eligible)
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
    match = _match_or_refuse(analysis, cohort, cohort["follow_up_complete"].astype(bool),
                             "the groups with complete 18-month follow-up")
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
    match = _match_or_refuse(analysis, cohort, cohort["follow_up_12m_complete"].astype(bool),
                             "the groups with at least 12 months of follow-up")
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
    match = _match_or_refuse(analysis, cohort, observed, "the groups observed after the (pseudo) end")
    if match is None:
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
