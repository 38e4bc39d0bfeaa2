"""Fellegi–Sunter (Splink 5, on DuckDB or Spark) scoring of person record pairs on keyed encodings.

Every column the model reads is a keyed token (compared for equality) or a
keyed Bloom filter (compared by Dice similarity); see
:mod:`masip.linkage.comparisons` and :mod:`pseudonymisation.encodings`. The
comparisons:

==============  ===========================================================================
forename        exact / nickname group / Dice ≥ 0.8 / Dice ≥ 0.6 / else
surname         exact / Dice ≥ 0.8 / one name inside the other (double-barrelled,
                hyphenated) / Dice ≥ 0.6 / different, both women (a married name) / else
name_swap       forename and surname swapped (the unordered pair of Soundex codes agrees,
                neither field resembles the other record's same field) / else
dob             exact / day and month swapped / year and one of day, month / year / else
sex             equal / else (F, M, X; U and missing are null)
role            same role (victim/perpetrator) / else — people seldom change sides, and
                EM learns how seldom from the data
postcode        exact / Dice ≥ 0.7 (typo) / same district / else — moving house is "else"
==============  ===========================================================================

The name encodings are salted with parts of the date of birth and with the
postcode, in four views (:data:`pseudonymisation.encodings.NAME_VIEWS`), and
with the partner's date of birth: a Dice level holds when it holds in any
view. A view compares only where the pair's tokens show its salts are
equal (:func:`masip.linkage.comparisons.name_views`); names of two records
whose dates of birth share no view, at different postcodes and with
different partners, are not compared at all (the null level), rather than
scored as unrelated.

Training and scoring: :mod:`masip.linkage.scorer`.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from connectors.raw_schema import PERSON_ENCODED_COLUMNS
from masip.linkage import comparisons as C
from pseudonymisation.encodings import NAME_BLOOM_BITS, NAME_VIEWS, POSTCODE_BLOOM_BITS

#: Default prior probability that two random record roles are the same person.
DEFAULT_PRIOR = 0.002

BLOOM_BITS: dict[str, int] = {
    **{f"{name}_bloom_{view}": NAME_BLOOM_BITS for name in ("forename", "surname") for view in NAME_VIEWS},
    "forename_partner_bloom": NAME_BLOOM_BITS,
    "surname_partner_bloom": NAME_BLOOM_BITS,
    "postcode_bloom": POSTCODE_BLOOM_BITS,
}
TOKEN_COLUMNS: tuple[str, ...] = (
    "forename_token",
    "surname_token",
    "dob_token",
    "postcode_token",
    "name_pair_token",
    "partner_salt_token",
    "dob_unordered_token",
    "dob_year_month_token",
    "dob_year_day_token",
    "ctx_key",
)
#: Generalised values kept in clear (SPEC §3.4) that the model compares and blocks on.
CLEAR_COLUMNS: tuple[str, ...] = ("birth_year", "postcode_district")
TOKEN_LIST_COLUMNS: tuple[str, ...] = ("forename_variant_tokens",)

# Default (m, u) per comparison level, in level order, null level excluded.
# m: how often a true match lands in the level; u: how often a random pair
# does. They follow the kinds of noise SPEC §2.5 lists (a few per cent of
# typos, nicknames, swaps and missing values; married names; moving house)
# and the frequency of English names and dates of birth (~1 in 100 share a
# forename, ~1 in 200 a surname, ~1 in 20,000 a date of birth).
DEFAULT_M_U: dict[str, list[tuple[float, float]]] = {
    "forename": [(0.86, 0.01), (0.05, 0.002), (0.04, 0.002), (0.02, 0.01), (0.03, 0.976)],
    "surname": [(0.84, 0.005), (0.04, 0.001), (0.02, 0.001), (0.02, 0.01), (0.07, 0.3), (0.01, 0.683)],
    "name_swap": [(0.02, 0.00002), (0.98, 0.99998)],
    "dob": [(0.88, 0.00005), (0.05, 0.00002), (0.05, 0.0045), (0.01, 0.015), (0.01, 0.98045)],
    "sex": [(0.99, 0.5), (0.01, 0.5)],
    "role": [(0.98, 0.5), (0.02, 0.5)],
    "postcode": [(0.70, 0.0005), (0.02, 0.0005), (0.12, 0.02), (0.16, 0.979)],
}


def married_name(dialect: C.Dialect) -> tuple[str, str]:
    """A different surname weighs little against two women's records (a married or maiden name) and much
    against anyone else's: one weak "else" for everyone let strangers with the same forename and date
    of birth link (issue 14)."""
    return "{} = 'F' and {} = 'F'".format(*dialect.sides("sex")), "different, both women"


#: The Dice levels of both name comparisons, and the surname's "one name inside the other" level: two names
#: below all of them are unlike (the "else" level, or "different, both women").
NAME_DICE_THRESHOLDS = (0.8, 0.6)
SURNAME_CONTAINMENT = 0.8


def _declare_blooms() -> None:
    for column, bits in BLOOM_BITS.items():
        C.declare_bloom(column, bits)


def comparisons(tf: bool, dialect: C.Dialect = C.DUCKDB) -> list[dict[str, Any]]:
    """The Splink comparisons of the person model (``tf``: term-frequency adjustments), in ``dialect``."""
    _declare_blooms()
    sex_null = C.null_level("sex", dialect=dialect)
    sex_null["sql_condition"] = "{0} is null or {1} is null or {0} = 'U' or {1} = 'U'".format(*dialect.sides("sex"))

    def views(field: str) -> list[C.SaltedView]:
        return C.name_views(
            field, "birth_year", "dob_unordered_token", "postcode_token", "partner_salt_token", dialect=dialect
        )

    def exact(*levels: str) -> list[dict[str, Any]]:
        return [C.exact_level(column, dialect=dialect) for column in levels]

    return [
        C.name_comparison(
            "forename", "forename_token", views("forename"), variants="forename_variant_tokens",
            thresholds=NAME_DICE_THRESHOLDS, tf=tf,
        ),
        C.name_comparison(
            "surname", "surname_token", views("surname"), thresholds=NAME_DICE_THRESHOLDS, tf=tf,
            containment=SURNAME_CONTAINMENT, differs_when=married_name(dialect),
        ),
        C.swap_comparison("name_swap", "name_pair_token", views("forename"), views("surname")),
        C.dob_comparison(
            "dob", "dob_token", "dob_unordered_token", "dob_year_month_token", "dob_year_day_token", "birth_year",
            dialect=dialect,
        ),
        C.comparison("sex", [sex_null, *exact("sex"), C.else_level()]),
        C.comparison("role", [C.null_level("role", dialect=dialect), *exact("role"), C.else_level()]),
        C.comparison(
            "postcode",
            [
                C.null_level("postcode_token", dialect=dialect),
                *exact("postcode_token"),
                C.dice_level("postcode_bloom", 0.7, dialect),
                C.exact_level("postcode_district", label="same district", dialect=dialect),
                C.else_level(),
            ],
        ),
    ]


def in_dialect(settings: dict[str, Any], dialect: C.Dialect) -> dict[str, Any]:
    """Model ``settings`` with every comparison level's SQL in ``dialect`` (parameters untouched).

    Models are made, stored and passed around in DuckDB's dialect (settings
    without ``sql_dialect`` are in it); Splink on another engine parses the
    levels in that engine's dialect. Each level's SQL is found among the
    renderings of :func:`comparisons` at the same comparison and level and
    replaced by the rendering for ``dialect``: the same comparisons, spelled
    for the other engine. Settings already in ``dialect`` come back as they are.
    """
    source = C.DIALECTS[settings.get("sql_dialect", C.DUCKDB.name)]
    if source == dialect:
        return settings
    # with and without term-frequency adjustment: the exact name levels are spelled differently (comparisons)
    renderings = {
        (d, tf): {c["output_column_name"]: c["comparison_levels"] for c in comparisons(tf=tf, dialect=d)}
        for d in (source, dialect) for tf in (False, True)
    }
    moved = []
    for comp in settings["comparisons"]:
        name = comp["output_column_name"]
        tf = any(level.get("tf_adjustment_column") for level in comp["comparison_levels"])
        ours, theirs = renderings[(source, tf)].get(name, []), renderings[(dialect, tf)].get(name, [])
        levels = []
        for position, level in enumerate(comp["comparison_levels"]):
            if position >= len(ours) or level["sql_condition"] != ours[position]["sql_condition"]:
                raise ValueError(
                    f"the linkage model's comparison {name!r} (level {position}) is not one this version of MASIP "
                    f"renders, so it cannot run on {dialect.name}: the model was made by another version. "
                    "What to do: retrain it (`masip run --full-refresh` on DuckDB), then run again."
                )
            levels.append({**level, "sql_condition": theirs[position]["sql_condition"]})
        moved.append({**comp, "comparison_levels": levels})
    out = {**settings, "comparisons": moved, "sql_dialect": dialect.name}
    if "blocking_rules_to_generate_predictions" in settings:  # their SQL means the same on both engines
        out["blocking_rules_to_generate_predictions"] = [
            {**rule, "sql_dialect": dialect.name} if isinstance(rule, dict) and "sql_dialect" in rule else rule
            for rule in settings["blocking_rules_to_generate_predictions"]
        ]
    return out


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


def _same(*columns: str) -> str:
    return " and ".join(f"l.{c} = r.{c}" for c in columns)


def _partner_names_may_agree() -> str:
    """Not both names compared in the partner view and unlike there (below every Dice and containment level
    of the name comparisons): such a pair has no name evidence but against it."""
    _declare_blooms()
    least = min(NAME_DICE_THRESHOLDS)
    forename = C.resemblance_sql("forename_partner_bloom", least)
    surname = C.resemblance_sql("surname_partner_bloom", least, SURNAME_CONTAINMENT)
    return f"(coalesce({forename}, true) or coalesce({surname}, true))"


def blocking_rules() -> list[str]:
    """Candidate pairs: who could plausibly be the same person (keyed tokens and clear generalised values).

    Each rule pairs records that agree on a date of birth (up to a day/month
    swap: the unordered token), on two of its parts, or on names, and on one
    more thing — a name, the unordered pair of Soundex codes, the postcode
    district — so that a block holds about one person's records however
    many records there are. A broad rule alone (all records born on one day, or all John
    Smiths) grows with the square of the input: at a national year's 2.5
    million records, date of birth alone gives over a hundred million
    candidate pairs, nearly all of them strangers. The name tokens are
    salted with the date of birth, so they imply it; the name-pair token
    (Soundex codes of both names, unordered, salted with the birth year) is
    selective on its own and catches typos, day typos and forename/surname
    swaps. Records without a date of birth meet their
    person's other records through the postcode (with the sex or the role, either
    of which may be missing), or opposite the same
    partner (the partner-salt token: the other person of the record has the
    same date of birth) when two parts of the date agree, or when one of the
    two has no date of birth and their names, which only the partner view
    compares then, are not unlike; crime-reference pairs have their own rule.
    """
    fn, sn, pair = "forename_token", "surname_token", "name_pair_token"
    dob, district = "dob_unordered_token", "postcode_district"
    return [
        _same(dob, fn),
        _same(dob, sn),
        _same(dob, pair),
        _same(dob, district),
        _same(fn, sn),
        _same(pair),
        _same("dob_year_month_token", district),
        _same("dob_year_day_token", district),
        _same("postcode_token", "sex"),
        _same("postcode_token", "role"),
        # the partner's date of birth alone is a broad key (90 million pairs at a national year's 2.5 million
        # records): only where two parts of the date of birth agree, or one is missing and the names, which
        # only the partner view compares then, are not unlike (11.6 million pairs without that at a national
        # year, 3.7% of them the same person; 2.0 million with it, the same links). One rule per side that
        # may miss its date and per part: each joins on keys alone and reads the filters only of its pairs.
        *(
            f"{_same('partner_salt_token', 'role')} and {side}.{dob} is null and {_partner_names_may_agree()}"
            for side in ("l", "r")
        ),
        _same("partner_salt_token", "role", "dob_year_month_token"),
        _same("partner_salt_token", "role", "dob_year_day_token"),
        _same("ctx_key"),
    ]


@dataclass(frozen=True)
class Model:
    """A Fellegi–Sunter person model: Splink's model JSON and whether it was estimated on data.

    ``settings`` holds the comparisons with their m and u probabilities and the
    prior (``probability_two_random_records_match``): parameters only, no
    record. ``trained`` is False for the documented defaults
    (:data:`DEFAULT_M_U`).
    """

    settings: dict[str, Any]
    trained: bool
    #: How many records the prior was estimated for (None: the defaults, which assume nothing).
    records: int | None = None

    @property
    def prior(self) -> float:
        return float(self.settings["probability_two_random_records_match"])

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1 - self.prior))

    def prior_for(self, records: int) -> float:
        """The prior for a run over ``records`` records (a frozen model meets a grown partnership).

        Each person has a few records whatever the partnership's size, so
        the share of record pairs that match falls as 1/n: 1,000 times more
        records need about 10 more bits of evidence for the same posterior.
        Pairs are scored (and stored) under :attr:`prior`; links are decided
        under this one (:func:`rescore`), so a weekly run's reused and fresh
        pairs stay comparable and a run right after training is unchanged.
        """
        if not self.records or records <= 0:
            return self.prior
        return min(self.prior * self.records / records, 0.5)

    @property
    def tf_columns(self) -> list[str]:
        """Columns whose exact-agreement levels are adjusted by term frequency."""
        return tf_columns_of(self.settings)

    def to_json(self) -> str:
        return json.dumps({"settings": self.settings, "trained": self.trained, "records": self.records}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Model:
        """A stored model (:meth:`to_json`), its level SQL in this version's DuckDB spelling."""
        data = json.loads(text)
        return cls(_respelled(data["settings"]), bool(data["trained"]), data.get("records"))


def _respelled(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` (DuckDB's dialect) with each level's SQL as :func:`comparisons.current_spelling` gives it."""
    if settings.get("sql_dialect", C.DUCKDB.name) != C.DUCKDB.name:
        return settings
    comps = [
        {**comp, "comparison_levels": [
            {**level, "sql_condition": C.current_spelling(level["sql_condition"])} for level in comp["comparison_levels"]
        ]}
        for comp in settings["comparisons"]
    ]
    return {**settings, "comparisons": comps}


def tf_columns_of(settings: dict[str, Any]) -> list[str]:
    columns = {
        level["tf_adjustment_column"]
        for comp in settings["comparisons"]
        for level in comp["comparison_levels"]
        if level.get("tf_adjustment_column")
    }
    return sorted(columns)


def _labels(records: pd.DataFrame, column: str) -> pa.Array:
    """A short text column (sex, role) for the scorer: NULL when missing or blank."""
    array = C.column_array(records, column)
    array = pa.nulls(len(records), pa.string()) if pa.types.is_null(array.type) else array.cast(pa.string())
    return pc.if_else(pc.equal(array, ""), pa.scalar(None, pa.string()), array)


def prepare(records: pd.DataFrame, first_uid: int = 0) -> pa.Table:
    """The table Splink scores: ``uid`` (row number, from ``first_uid``), sex, role, clear generalised values,
    tokens as integers, filters as 64-bit words."""
    columns = {"uid": pa.array(np.arange(first_uid, first_uid + len(records), dtype=np.int64))}
    columns |= {c: _labels(records, c) for c in ("sex", "role", "postcode_district")}
    columns["birth_year"] = C.column_array(records, "birth_year").cast(pa.int64())
    columns |= C.encoding_columns(records, BLOOM_BITS, TOKEN_COLUMNS, TOKEN_LIST_COLUMNS)
    return pa.table(columns)


def has_fuzzy_encodings(records: pd.DataFrame) -> bool:
    """Whether any record carries an encoding the model can compare."""
    columns = [c for c in (*BLOOM_BITS, "dob_unordered_token") if c in records]
    return bool(columns) and bool(records[columns].notna().any().any())


def encoded_rows(records: pd.DataFrame) -> np.ndarray:
    """Which records hold any encoding of an identifier (a token or a filter), one column at a time."""
    encoded = np.zeros(len(records), dtype=bool)
    for column in (name for name, _ in PERSON_ENCODED_COLUMNS if name in records):
        encoded |= records[column].notna().to_numpy(dtype=bool)
    return encoded


def model_settings(comps: list[dict[str, Any]], prior: float, rules: list[str]) -> dict[str, Any]:
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


def default_settings(tf: bool = False) -> dict[str, Any]:
    """Splink settings of the documented default model (``tf``: with term-frequency adjustments)."""
    return model_settings(with_defaults(comparisons(tf=tf)), DEFAULT_PRIOR, blocking_rules())


def quiet_splink() -> None:
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)


def is_sane_model(model: dict[str, Any]) -> bool:
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


def rescore(match_weight: np.ndarray, prior_weight: float, new_prior: float) -> np.ndarray:
    """Posterior match probability of pairs scored under ``prior_weight`` if the prior were ``new_prior``.

    Fellegi–Sunter: match weight = prior log-odds + Σ level log Bayes factors,
    so replacing the prior term moves the posterior exactly.
    """
    weight = match_weight - prior_weight + math.log2(new_prior / (1 - new_prior))
    return 1.0 / (1.0 + np.exp2(-weight))


#: How far apart two level weights (log2 Bayes factors) may be and still be read as one level: Splink writes
#: each level's Bayes factor into its SQL as a literal, so a level's pairs all weigh exactly the same.
LEVEL_WEIGHT_TOLERANCE = 1e-6


def _level_weights(settings: dict[str, Any], name: str) -> list[float]:
    """The weights (log2 m/u) of comparison ``name``'s levels, null level excluded; none when it is absent."""
    comparison = next((c for c in settings["comparisons"] if c["output_column_name"] == name), None)
    levels = [] if comparison is None else comparison["comparison_levels"]
    return [math.log2(lv["m_probability"] / lv["u_probability"]) for lv in levels if not lv.get("is_null_level")]


def forenames_differ_sql(settings: dict[str, Any]) -> str:
    """SQL over a scored pair's own forename and surname weights (``mw_forename``, ``mw_surname``): both
    forenames recorded and unalike at every level of the model (the forename weighs as little as any of its
    levels can), while the surnames are alike (their comparison weighs for a match).

    Twins, or two siblings born on one day, share a surname, a date of birth
    and an address: everything but the forename, which the other agreements
    outweigh. A forename and surname swapped, or a surname written as the
    forename, leave the surnames unalike or uncompared, and are not held.
    :mod:`masip.linkage.ambiguity` holds such a pair back from linking.
    """
    forename = _level_weights(settings, "forename")
    if not forename or min(forename) >= 0 or not _level_weights(settings, "surname"):
        return "false"
    return f"coalesce(mw_forename <= {min(forename) + LEVEL_WEIGHT_TOLERANCE!r} and mw_surname > 0, false)"
