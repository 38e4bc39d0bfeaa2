"""Fellegi–Sunter (Splink 5 on DuckDB) scoring of person record pairs on keyed encodings.

Every column the model reads is a keyed token (compared for equality) or a
keyed Bloom filter (compared by Dice similarity); see
:mod:`masip.linkage.comparisons` and :mod:`pseudonymisation.encodings`. The
comparisons:

==============  ===========================================================================
forename        exact (term-frequency adjusted) / nickname group / Dice ≥ 0.8 / Dice ≥ 0.6 / else
surname         exact (tf) / Dice ≥ 0.8 / one name inside the other (double-barrelled,
                hyphenated) / Dice ≥ 0.6 / else — a married name lands in "else"
name_swap       forename and surname swapped (Soundex tokens under one key) / swapped with
                one of them misspelt (one Soundex cross match, cross Dice ≥ 0.6) / else
dob             exact / day and month swapped / two of day, month, year / year / else
sex             equal / else (F, M, X; U and missing are null)
role            same role (victim/perpetrator) / else — people seldom change sides, and
                EM learns how seldom from the data
postcode        exact / Dice ≥ 0.7 (typo) / same district / else — moving house is "else"
==============  ===========================================================================

Training. With enough records (:data:`MIN_TRAINING_RECORDS`) the u
probabilities are estimated by random sampling (seeded), the m
probabilities by expectation maximisation on two blockings (date of birth;
forename + surname) and the prior from exact forename + surname + date of
birth agreement. Smaller inputs — a unit test, the first week of a new
partnership — use the documented default parameters in this module, and so
does a training run that fails or produces a degenerate model. The input is
sorted by member key first, so the same records in any order give the same
model and the same scores.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from masip.linkage import comparisons as C
from pseudonymisation.encodings import NAME_BLOOM_BITS, POSTCODE_BLOOM_BITS

log = logging.getLogger(__name__)

#: Fewer records than this and the model is not trained on the data.
MIN_TRAINING_RECORDS = 600
#: Random pairs sampled to estimate u probabilities.
U_SAMPLE_PAIRS = 1_000_000
SEED = 20261122
#: Pairs scoring below this match weight are not returned at all.
MIN_MATCH_WEIGHT = -12.0
#: Default prior probability that two random record roles are the same person.
DEFAULT_PRIOR = 0.002

BLOOM_BITS: dict[str, int] = {
    "forename_bloom": NAME_BLOOM_BITS,
    "surname_bloom": NAME_BLOOM_BITS,
    "postcode_bloom": POSTCODE_BLOOM_BITS,
}
TOKEN_COLUMNS: tuple[str, ...] = (
    "forename_token",
    "surname_token",
    "dob_token",
    "postcode_token",
    "forename_phonetic_token",
    "surname_phonetic_token",
    "dob_day_token",
    "dob_month_token",
    "dob_year_token",
    "dob_swap_token",
    "postcode_district_token",
    "ctx_key",
)
TOKEN_LIST_COLUMNS: tuple[str, ...] = ("forename_variant_tokens",)

# Default (m, u) per comparison level, in level order, null level excluded.
# m: how often a true match lands in the level; u: how often a random pair
# does. They follow the kinds of noise SPEC §2.5 lists (a few per cent of
# typos, nicknames, swaps and missing values; married names; moving house)
# and the frequency of English names and dates of birth (~1 in 100 share a
# forename, ~1 in 200 a surname, ~1 in 20,000 a date of birth).
DEFAULT_M_U: dict[str, list[tuple[float, float]]] = {
    "forename": [(0.86, 0.01), (0.05, 0.002), (0.04, 0.002), (0.02, 0.01), (0.03, 0.976)],
    "surname": [(0.84, 0.005), (0.04, 0.001), (0.02, 0.001), (0.02, 0.01), (0.08, 0.983)],
    "name_swap": [(0.02, 0.00002), (0.002, 0.00001), (0.978, 0.99997)],
    "dob": [(0.88, 0.00005), (0.05, 0.00002), (0.05, 0.0045), (0.01, 0.015), (0.01, 0.98045)],
    "sex": [(0.99, 0.5), (0.01, 0.5)],
    "role": [(0.98, 0.5), (0.02, 0.5)],
    "postcode": [(0.70, 0.0005), (0.02, 0.0005), (0.12, 0.02), (0.16, 0.979)],
}


def comparisons(tf: bool) -> list[dict[str, Any]]:
    """The Splink comparisons of the person model (``tf``: term-frequency adjustments)."""
    for column, bits in BLOOM_BITS.items():
        C.declare_bloom(column, bits)
    sex_null = C.null_level("sex")
    sex_null["sql_condition"] = "\"sex_l\" is null or \"sex_r\" is null or \"sex_l\" = 'U' or \"sex_r\" = 'U'"
    return [
        C.name_comparison(
            "forename", "forename_token", "forename_bloom", variants="forename_variant_tokens", tf=tf
        ),
        C.name_comparison("surname", "surname_token", "surname_bloom", tf=tf, containment=0.8),
        C.swap_comparison(
            "name_swap", "forename_phonetic_token", "surname_phonetic_token", "forename_bloom", "surname_bloom"
        ),
        C.dob_comparison("dob", "dob_token", "dob_day_token", "dob_month_token", "dob_year_token", "dob_swap_token"),
        C.comparison("sex", [sex_null, C.exact_level("sex"), C.else_level()]),
        C.comparison("role", [C.null_level("role"), C.exact_level("role"), C.else_level()]),
        C.comparison(
            "postcode",
            [
                C.null_level("postcode_bloom"),
                C.exact_level("postcode_token"),
                C.dice_level("postcode_bloom", 0.7),
                C.exact_level("postcode_district_token", label="same district"),
                C.else_level(),
            ],
        ),
    ]


def with_defaults(comps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``comps`` with the default m and u probabilities written into every non-null level."""
    out = []
    for comp in comps:
        defaults = iter(DEFAULT_M_U[comp["output_column_name"]])
        levels = []
        for level in comp["comparison_levels"]:
            level = dict(level)
            if not level.get("is_null_level"):
                m, u = next(defaults)
                level["m_probability"], level["u_probability"] = m, u
            levels.append(level)
        out.append({**comp, "comparison_levels": levels})
    return out


def blocking_rules() -> list[str]:
    """Candidate pairs: who could plausibly be the same person (keyed tokens only)."""
    return [
        "l.dob_token = r.dob_token",
        "l.dob_swap_token = r.dob_token",
        "l.dob_token = r.dob_swap_token",
        "l.forename_token = r.forename_token and l.surname_token = r.surname_token",
        "l.surname_token = r.surname_token and l.dob_year_token = r.dob_year_token",
        "l.forename_phonetic_token = r.forename_phonetic_token and l.surname_phonetic_token = r.surname_phonetic_token",
        "l.forename_phonetic_token = r.surname_phonetic_token and l.surname_phonetic_token = r.forename_phonetic_token",
        "l.postcode_token = r.postcode_token and l.forename_phonetic_token = r.forename_phonetic_token",
        "l.ctx_key = r.ctx_key",
    ]


@dataclass
class ScoredPairs:
    """Scored candidate pairs (``uid_l < uid_r``) and the model that scored them."""

    pairs: pd.DataFrame  # uid_l, uid_r, match_weight, match_probability
    prior: float
    trained: bool
    model: dict[str, Any] = field(default_factory=dict)

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1 - self.prior))


def prepare(records: pd.DataFrame, extra: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """The table Splink scores: ``uid``, tokens as integers, filters as 64-bit words.

    ``extra``: further integer columns (e.g. for context blocking rules).
    """
    frame = pd.DataFrame({"uid": np.arange(len(records), dtype=np.int64)})
    for column, values in (extra or {}).items():
        frame[column] = np.asarray(values, dtype=np.int64)
    for column in (*TOKEN_COLUMNS, *TOKEN_LIST_COLUMNS, *BLOOM_BITS):
        frame[column] = records[column].to_numpy(dtype=object) if column in records else None
    for column in ("sex", "role"):
        values = records[column] if column in records else pd.Series([None] * len(records))
        frame[column] = pd.array([v if isinstance(v, str) and v else None for v in values], dtype="string")
    return C.prepare_encodings(frame, BLOOM_BITS, TOKEN_COLUMNS, TOKEN_LIST_COLUMNS)


def has_fuzzy_encodings(records: pd.DataFrame) -> bool:
    """Whether any record carries an encoding the model can compare."""
    columns = [c for c in ("forename_bloom", "surname_bloom", "dob_day_token") if c in records]
    return bool(columns) and bool(records[columns].notna().any().any())


def _settings(comps: list[dict[str, Any]], prior: float, rules: list[str]) -> dict[str, Any]:
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "uid",
        "comparisons": comps,
        "blocking_rules_to_generate_predictions": rules,
        "probability_two_random_records_match": prior,
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
        "em_convergence": 0.001,
        "max_iterations": 20,
    }


def _quiet() -> None:
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _trained_model_is_sane(model: dict[str, Any]) -> bool:
    """Exact agreement must favour a match on every comparison that has it."""
    prior = model.get("probability_two_random_records_match")
    if not isinstance(prior, float) or not 0 < prior < 0.5:
        return False
    for comp in model["comparisons"]:
        levels = [lv for lv in comp["comparison_levels"] if not lv.get("is_null_level")]
        first = levels[0]
        m, u = first.get("m_probability"), first.get("u_probability")
        if not isinstance(m, (int, float)) or not isinstance(u, (int, float)) or not m > u:
            return False
    return True


#: Floors for trained probabilities: a level never seen among matches (or
#: non-matches) in one partnership's data is rare, not impossible, and must
#: not get an infinite weight.
M_FLOOR = 0.001
U_FLOOR = 0.000001


def regularise(model: dict[str, Any]) -> dict[str, Any]:
    """The trained ``model`` with unestimated or extreme m/u probabilities made usable.

    A level EM could not estimate (no such pairs among the training blocks,
    e.g. a kind of date-of-birth error the data does not contain) takes its
    default m; every m and u is floored (:data:`M_FLOOR`, :data:`U_FLOOR`)
    and the m and u of each comparison are renormalised to sum to one.
    """
    out = dict(model)
    comps = []
    for comp in model["comparisons"]:
        defaults = iter(DEFAULT_M_U.get(comp["output_column_name"], []))
        levels = [dict(level) for level in comp["comparison_levels"]]
        scored = [lv for lv in levels if not lv.get("is_null_level")]
        for level in scored:
            m_default, u_default = next(defaults, (M_FLOOR, U_FLOOR))
            m, u = level.get("m_probability"), level.get("u_probability")
            level["m_probability"] = max(m if isinstance(m, (int, float)) else m_default, M_FLOOR)
            level["u_probability"] = max(u if isinstance(u, (int, float)) else u_default, U_FLOOR)
        for key in ("m_probability", "u_probability"):
            total = sum(lv[key] for lv in scored)
            for level in scored:
                level[key] = level[key] / total
        comps.append({**comp, "comparison_levels": levels})
    out["comparisons"] = comps
    return out


def score_pairs(
    records: pd.DataFrame, rules: list[str] | None = None, model: dict[str, Any] | None = None,
    extra: dict[str, np.ndarray] | None = None, min_weight: float = MIN_MATCH_WEIGHT,
) -> ScoredPairs:
    """Score the candidate pairs of ``records`` (rows in canonical order; ``uid`` = row number).

    ``model``: a model returned by an earlier call (its parameters are reused
    and not re-estimated); ``rules``: blocking rules (default
    :func:`blocking_rules`); ``extra``: integer columns the rules may use;
    pairs below ``min_weight`` are not returned.

    u probabilities come from random pairs, which in a partnership (many
    records per person) include a few true matches: agreement then weighs a
    little less than it should, never more.
    """
    from splink import DuckDBAPI, Linker, block_on

    _quiet()
    table = prepare(records, extra)
    rules = rules or blocking_rules()
    con = duckdb.connect()
    try:
        con.register("records_frame", table)
        con.execute("create table records as select * from records_frame")
        con.unregister("records_frame")
        db = DuckDBAPI(con)
        sdf = db.register("records")
        trained = False
        if model is not None:
            settings = {**model, "blocking_rules_to_generate_predictions": rules}
            trained = bool(model.get("_masip_trained"))
            settings.pop("_masip_trained", None)
            linker = Linker(sdf, settings, log_level=logging.ERROR, validate_settings=False)
        elif len(table) >= MIN_TRAINING_RECORDS:
            linker = Linker(sdf, _settings(comparisons(tf=True), DEFAULT_PRIOR, rules), log_level=logging.ERROR)
            try:
                linker.training.estimate_probability_two_random_records_match(
                    [block_on("forename_token", "surname_token", "dob_token")], recall=0.6
                )
                linker.training.estimate_u_using_random_sampling(max_pairs=U_SAMPLE_PAIRS, seed=SEED)
                linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob_token"))
                linker.training.estimate_parameters_using_expectation_maximisation(
                    block_on("forename_token", "surname_token")
                )
                trained_model = regularise(linker.misc.save_model_to_json())
                trained = _trained_model_is_sane(trained_model)
                if trained:
                    linker = Linker(sdf, trained_model, log_level=logging.ERROR, validate_settings=False)
            except Exception as error:  # noqa: BLE001 - any training failure falls back to defaults
                log.warning("person linkage: model training failed (%s); using default parameters", type(error).__name__)
            if not trained:
                linker = Linker(sdf, _settings(with_defaults(comparisons(tf=False)), DEFAULT_PRIOR, rules), log_level=logging.ERROR)
        else:
            linker = Linker(sdf, _settings(with_defaults(comparisons(tf=False)), DEFAULT_PRIOR, rules), log_level=logging.ERROR)
        saved = linker.misc.save_model_to_json()
        prior = float(saved["probability_two_random_records_match"])
        predictions = linker.inference.predict(threshold_match_weight=min_weight, warning_mode="never")
        pairs = con.execute(
            f"select uid_l, uid_r, match_weight, match_probability "
            f"from {predictions.physical_name} order by uid_l, uid_r"
        ).df()
    finally:
        con.close()
    saved["_masip_trained"] = trained
    lo = np.minimum(pairs.uid_l.to_numpy(), pairs.uid_r.to_numpy())
    hi = np.maximum(pairs.uid_l.to_numpy(), pairs.uid_r.to_numpy())
    pairs = pairs.assign(uid_l=lo, uid_r=hi).sort_values(["uid_l", "uid_r"], kind="stable").reset_index(drop=True)
    return ScoredPairs(pairs, prior, trained, saved)


def rescore(match_weight: np.ndarray, prior_weight: float, new_prior: float) -> np.ndarray:
    """Posterior match probability of pairs scored under ``prior_weight`` if the prior were ``new_prior``.

    Fellegi–Sunter: match weight = prior log-odds + Σ level log Bayes factors,
    so replacing the prior term moves the posterior exactly.
    """
    weight = match_weight - prior_weight + math.log2(new_prior / (1 - new_prior))
    return 1.0 / (1.0 + np.exp2(-weight))
