"""Reoffending rates, pre/post change and difference-in-differences, with 95% intervals.

Definitions (per person, from ``marts.reoffending_cohort``):

* *reoffending rate* of a window: share of people with at least one
  stalking-related offence in it (Wilson score interval);
* *offence frequency*: mean number of offences per person in the window;
* *pre/post change* within a group: mean of (post - pre) per person, with a
  paired t interval;
* *difference-in-differences* (matched pairs): (post - pre) of the
  intervention group minus (post - pre) of the matched comparison group,
  estimated by OLS ``y ~ treated * post`` on the stacked person-window rows,
  with standard errors clustered by matched pair (statsmodels, t with
  pairs - 1 degrees of freedom). The point estimate equals the mean of the
  pairs' differences;
* *one-year proven reoffending* (Justice Data Lab style): share with an
  offence within 12 months after the (pseudo) end, among people with at least
  12 months of follow-up; intervention minus comparison with a Newcombe
  (hybrid score) interval. Unlike the JDL measure, "proven" here means a
  recorded stalking-related crime with the person as suspect, not a
  conviction or caution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

ALPHA = 0.05


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% interval."""

    estimate: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class Rate:
    """events / n with a Wilson 95% interval."""

    events: int
    n: int
    estimate: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"events": self.events, "n": self.n, "estimate": self.estimate, "low": self.low, "high": self.high}


def rate(events: int, n: int) -> Rate:
    """Share of ``n`` people with the event, with a Wilson score interval."""
    if n <= 0:
        return Rate(events, n, float("nan"), float("nan"), float("nan"))
    low, high = proportion_confint(events, n, alpha=ALPHA, method="wilson")
    return Rate(int(events), int(n), events / n, float(low), float(high))


def mean_with_ci(values: np.ndarray | pd.Series) -> Estimate:
    """Mean with a t interval (paired differences, frequencies)."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    m = float(x.mean())
    if n < 2:
        return Estimate(m, float("nan"), float("nan"))
    half = float(stats.t.ppf(1 - ALPHA / 2, n - 1) * x.std(ddof=1) / np.sqrt(n))
    return Estimate(m, m - half, m + half)


def paired_change(pre: np.ndarray | pd.Series, post: np.ndarray | pd.Series) -> Estimate:
    """Mean of post - pre per person with a paired t interval."""
    return mean_with_ci(np.asarray(post, dtype=float) - np.asarray(pre, dtype=float))


def difference_in_differences(
    treated_pre: np.ndarray | pd.Series,
    treated_post: np.ndarray | pd.Series,
    control_pre: np.ndarray | pd.Series,
    control_post: np.ndarray | pd.Series,
) -> Estimate:
    """DiD over matched pairs (arrays aligned by pair), OLS with pair-clustered errors."""
    tp, tq = np.asarray(treated_pre, float), np.asarray(treated_post, float)
    cp, cq = np.asarray(control_pre, float), np.asarray(control_post, float)
    g = len(tp)
    if not (len(tq) == len(cp) == len(cq) == g):
        raise ValueError("treated and control arrays must be aligned by matched pair")
    if g < 2:
        return Estimate(float("nan"), float("nan"), float("nan"))
    pair = np.arange(g)
    long = pd.DataFrame(
        {
            "y": np.concatenate([tp, tq, cp, cq]),
            "treated": np.repeat([1, 1, 0, 0], g),
            "post": np.repeat([0, 1, 0, 1], g),
            "pair": np.tile(pair, 4),
        }
    )
    if long["y"].nunique() == 1:  # no variation at all: the difference is exactly 0
        return Estimate(0.0, 0.0, 0.0)
    fit = smf.ols("y ~ treated * post", data=long).fit(
        cov_type="cluster", cov_kwds={"groups": long["pair"]}, use_t=True
    )
    low, high = fit.conf_int(alpha=ALPHA).loc["treated:post"]
    return Estimate(float(fit.params["treated:post"]), float(low), float(high))


def rate_difference(a: Rate, b: Rate) -> Estimate:
    """a - b with a Newcombe hybrid-score interval (independent proportions)."""
    if a.n == 0 or b.n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    low, high = confint_proportions_2indep(a.events, a.n, b.events, b.n, method="newcomb", compare="diff",
                                           alpha=ALPHA)
    return Estimate(a.estimate - b.estimate, float(low), float(high))


def window_rates(frame: pd.DataFrame) -> dict[str, object]:
    """Pre/post reoffending rates, frequencies and change of one group (complete follow-up rows)."""
    pre_any = (frame["pre_offences"] > 0).astype(int)
    post_any = (frame["post_offences"] > 0).astype(int)
    return {
        "n": len(frame),
        "pre_rate": rate(int(pre_any.sum()), len(frame)),
        "post_rate": rate(int(post_any.sum()), len(frame)),
        "rate_change": paired_change(pre_any, post_any),
        "pre_mean": mean_with_ci(frame["pre_offences"]),
        "post_mean": mean_with_ci(frame["post_offences"]),
        "mean_change": paired_change(frame["pre_offences"], frame["post_offences"]),
        "pre_offences": int(frame["pre_offences"].sum()),
        "post_offences": int(frame["post_offences"].sum()),
    }
