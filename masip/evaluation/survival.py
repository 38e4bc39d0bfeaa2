"""Kaplan-Meier time to first reoffence after the (pseudo) intervention end (lifelines).

Time origin: ``index_end``. Event: the first stalking-related offence dated
after it, within 18 calendar months and up to as_of. Censoring: at the
earlier of end + 18 months and as_of, so people whose follow-up is not
complete still contribute the time they were observed
(``marts.reoffending_cohort.days_to_reoffence_or_censoring``).

What leaves the secure area is coarsened: the curves are read at month ends
(0-18 months) instead of at the days of individual events, and the numbers
at risk are published under the same small-number rule as every count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test

#: Average days in a month (time axis of the published curves).
DAYS_PER_MONTH = 365.25 / 12
#: Months at which the published curves and numbers at risk are read.
MONTHS = tuple(range(19))


@dataclass(frozen=True)
class SurvivalCurve:
    """One group's KM estimate of the share not yet reoffended, read at month ends."""

    label: str
    n: int
    events: int
    months: tuple[int, ...]
    survival: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    at_risk: tuple[int, ...]

    def reoffended_by(self, month: int) -> float:
        """1 - S(month): estimated share reoffended within ``month`` months."""
        return 1.0 - self.survival[self.months.index(month)]


def km_curve(durations_days: pd.Series | np.ndarray, events: pd.Series | np.ndarray, label: str,
             months: tuple[int, ...] = MONTHS) -> SurvivalCurve:
    """Fit a Kaplan-Meier curve and read it at month ends."""
    t = np.asarray(durations_days, dtype=float)
    e = np.asarray(events, dtype=bool)
    kmf = KaplanMeierFitter(label=label)
    kmf.fit(t, event_observed=e)
    days = np.array(months, dtype=float) * DAYS_PER_MONTH
    survival = kmf.survival_function_at_times(days).to_numpy()
    ci = kmf.confidence_interval_survival_function_
    lower = ci.iloc[:, 0].reindex(ci.index.union(days)).sort_index().ffill().loc[days].to_numpy()
    upper = ci.iloc[:, 1].reindex(ci.index.union(days)).sort_index().ffill().loc[days].to_numpy()
    at_risk = tuple(int((t >= d).sum()) for d in days)
    return SurvivalCurve(
        label=label,
        n=len(t),
        events=int(e.sum()),
        months=tuple(months),
        survival=tuple(float(s) for s in survival),
        low=tuple(float(x) for x in np.nan_to_num(lower, nan=1.0)),
        high=tuple(float(x) for x in np.nan_to_num(upper, nan=1.0)),
        at_risk=at_risk,
    )


def logrank_p(durations_a, events_a, durations_b, events_b) -> float:
    """Two-sided log-rank test p-value of two groups."""
    result = logrank_test(
        np.asarray(durations_a, float), np.asarray(durations_b, float),
        event_observed_A=np.asarray(events_a, bool), event_observed_B=np.asarray(events_b, bool),
    )
    return float(result.p_value)
