"""Propensity-score matching of the comparison pool to the intervention group.

Method (documented in the report): a logistic regression (scikit-learn,
L2-penalised, C=1) of "is in the intervention group" on one-hot coded
covariates - prior offending (all history, and the 18-month pre window,
each banded 0/1/2/3+), risk level, relationship, age band (all taken at the
index date by ``marts.reoffending_cohort``) - gives each person
a propensity score. Intervention-group members are then matched 1:1, greedy
nearest neighbour on the logit of the score, **without replacement**,
within a caliper of 0.2 standard deviations of the pooled logit (Austin
2011). Treated people are processed from the highest score down (the hardest
to match first); ties in distance go to the smaller perpetrator_id, so the
result is deterministic. Treated people without a control inside the
caliper stay unmatched and are counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

#: Matching covariates (columns of marts.reoffending_cohort).
COVARIATES: tuple[str, ...] = (
    "prior_offences_band", "pre_offences_band", "risk_level", "relationship", "age_band",
)
#: Caliper in standard deviations of the pooled logit of the propensity score.
CALIPER_SD = 0.2
#: The largest absolute standardised mean difference of a covariate level usually taken as balanced.
BALANCED_SMD = 0.1

INTERVENTION = "INTERVENTION"
COMPARISON = "COMPARISON"


@dataclass(frozen=True)
class MatchResult:
    """Matched pairs and how well they balance the covariates."""

    pairs: pd.DataFrame  # pair_id, treated_id, control_id, treated_logit, control_logit
    treated: pd.DataFrame  # the matched intervention rows, in pair order
    controls: pd.DataFrame  # the matched comparison rows, in pair order
    n_treated_eligible: int
    n_controls_eligible: int
    caliper: float
    balance: pd.DataFrame  # covariate, level, smd_before, smd_after

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)

    @property
    def n_treated_unmatched(self) -> int:
        return self.n_treated_eligible - self.n_pairs


def design_matrix(frame: pd.DataFrame, covariates: Sequence[str] = COVARIATES) -> pd.DataFrame:
    """One-hot indicators of every covariate level (columns ``covariate=level``), sorted."""
    parts = []
    for column in covariates:
        values = frame[column].astype("string").fillna("UNKNOWN")
        dummies = pd.get_dummies(values, prefix=column, prefix_sep="=", dtype=float)
        parts.append(dummies)
    if not parts:
        return pd.DataFrame(index=frame.index)
    matrix = pd.concat(parts, axis=1)
    return matrix[sorted(matrix.columns)]


def propensity_logits(frame: pd.DataFrame, covariates: Sequence[str] = COVARIATES) -> np.ndarray:
    """Logit of the estimated probability of being in the intervention group."""
    x = design_matrix(frame, covariates).to_numpy()
    y = (frame["cohort"] == INTERVENTION).to_numpy().astype(int)
    if len(set(y)) < 2 or x.shape[1] == 0:
        return np.zeros(len(frame))
    model = LogisticRegression(C=1.0, solver="lbfgs", max_iter=5000)
    model.fit(x, y)
    return model.decision_function(x)


def standardised_differences(treated: pd.DataFrame, controls: pd.DataFrame,
                             covariates: Sequence[str] = COVARIATES) -> pd.Series:
    """Standardised mean difference of every covariate level (treated - control)."""
    both = pd.concat([treated.assign(_t=1), controls.assign(_t=0)], ignore_index=True)
    x = design_matrix(both, covariates)
    t = x[both["_t"].to_numpy() == 1]
    c = x[both["_t"].to_numpy() == 0]
    out = {}
    for column in x.columns:
        mt, mc = t[column].mean() if len(t) else np.nan, c[column].mean() if len(c) else np.nan
        vt, vc = t[column].var(ddof=1) if len(t) > 1 else 0.0, c[column].var(ddof=1) if len(c) > 1 else 0.0
        pooled = np.sqrt((vt + vc) / 2)
        out[column] = 0.0 if pooled == 0 or np.isnan(pooled) else (mt - mc) / pooled
    return pd.Series(out, dtype=float)


def propensity_match(
    cohort: pd.DataFrame,
    covariates: Sequence[str] = COVARIATES,
    caliper_sd: float = CALIPER_SD,
) -> MatchResult:
    """Match every intervention row of ``cohort`` to at most one comparison row.

    ``cohort`` has ``perpetrator_id``, ``cohort`` (INTERVENTION/COMPARISON)
    and the covariate columns; the caller restricts it to the population of
    the analysis (e.g. complete follow-up) first.
    """
    frame = cohort.sort_values("perpetrator_id").reset_index(drop=True)
    is_treated = (frame["cohort"] == INTERVENTION).to_numpy()
    logits = propensity_logits(frame, covariates)
    caliper = float(caliper_sd * np.std(logits, ddof=1)) if len(frame) > 1 else 0.0
    caliper = max(caliper, 1e-9)

    t_idx = np.flatnonzero(is_treated)
    c_idx = np.flatnonzero(~is_treated)
    order = sorted(t_idx, key=lambda i: (-logits[i], frame.at[i, "perpetrator_id"]))
    available = np.ones(len(c_idx), dtype=bool)
    c_logits = logits[c_idx]
    pairs = []
    for i in order:
        if not available.any():
            break
        distance = np.abs(c_logits - logits[i])
        distance[~available] = np.inf
        best = float(distance.min())
        if best > caliper + 1e-12:
            continue
        # ties: smallest perpetrator_id (c_idx is in perpetrator_id order)
        j = int(np.flatnonzero(distance <= best + 1e-12)[0])
        available[j] = False
        pairs.append((i, int(c_idx[j])))

    pair_frame = pd.DataFrame(
        {
            "pair_id": np.arange(1, len(pairs) + 1, dtype=int),
            "treated_id": [frame.at[i, "perpetrator_id"] for i, _ in pairs],
            "control_id": [frame.at[j, "perpetrator_id"] for _, j in pairs],
            "treated_logit": [logits[i] for i, _ in pairs],
            "control_logit": [logits[j] for _, j in pairs],
        }
    )
    treated = frame.loc[[i for i, _ in pairs]].reset_index(drop=True)
    controls = frame.loc[[j for _, j in pairs]].reset_index(drop=True)
    before = standardised_differences(frame[is_treated], frame[~is_treated], covariates)
    after = standardised_differences(treated, controls, covariates)
    # a level absent from both matched groups is perfectly balanced (both shares are 0)
    balance = pd.DataFrame({"smd_before": before, "smd_after": after.reindex(before.index).fillna(0.0)})
    balance.index.name = "covariate_level"
    return MatchResult(
        pairs=pair_frame,
        treated=treated,
        controls=controls,
        n_treated_eligible=int(is_treated.sum()),
        n_controls_eligible=int((~is_treated).sum()),
        caliper=caliper,
        balance=balance.reset_index(),
    )
