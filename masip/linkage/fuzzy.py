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

Training. With enough records (:data:`MIN_TRAINING_RECORDS`) the u
probabilities are estimated by random sampling (seeded), the m
probabilities by expectation maximisation on two blockings (date of birth;
forename + surname) and the prior from exact forename + surname + date of
birth agreement. The m probabilities of the names are estimated on pairs
with the same date of birth *and* postcode district: on the date alone,
strangers who share a forename and a birthday taught EM that a match's
surname often differs, the more so the larger the partnership. Corrections
keep one agreement from counting twice (issue 14): no term-frequency
adjustment (a name token is keyed with the whole date of birth, so its
frequency is that of the name and the date together), and the u
probabilities of the exact names and of the date-part level are the
chances of those agreements alone (:mod:`masip.linkage.calibration`), not
with the date or the like-sounding surname their keys also carry. Above
:data:`MAX_TRAINING_RECORDS` records (a national year) the model is trained on a sample of that many, chosen by a hash of
the records' member keys (:func:`training_sample`): the training blocks grow
with the square of their input, and a few hundred thousand records estimate
the parameters as well. Smaller inputs — a unit test, the first week of a
new partnership — use the documented default parameters in this module,
and so does a training run that fails or produces a degenerate model. The
input is sorted by member key first, so the same records in any order give
the same model and the same scores.

Scale. Every blocking rule pins a person down (:func:`blocking_rules`), so
the candidate pairs grow with the number of records, not its square; the
encodings are prepared once, vectorised, into one database that every
scoring pass reads (:class:`Scorer`): an in-process DuckDB one, or Spark
(:mod:`masip.linkage.backends`), with the same comparisons rendered in
either engine's SQL dialect.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from masip.linkage import comparisons as C
from masip.linkage.backends import DuckDBBackend, ScoringBackend
from masip.linkage.calibration import (
    namesake_shares_sql,
    same_year_share_sql,
    unconditional_date_parts,
    unconditional_exact_names,
)
from pseudonymisation.encodings import NAME_BLOOM_BITS, NAME_VIEWS, POSTCODE_BLOOM_BITS

log = logging.getLogger(__name__)

#: Fewer records than this and the model is not trained on the data.
MIN_TRAINING_RECORDS = 600
#: Above this many records the model is trained on a sample of this many (:func:`training_sample`).
MAX_TRAINING_RECORDS = 300_000
#: Random pairs sampled to estimate u probabilities.
U_SAMPLE_PAIRS = 1_000_000
SEED = 20261122
#: Pairs scoring below this match weight are not returned at all.
MIN_MATCH_WEIGHT = -12.0
#: Records per side of one prediction chunk. Splink carries every comparison column of both records through
#: the join before the weight threshold drops a pair, so a national year's tens of millions of candidate
#: pairs would spill tens of GB at once; in chunks each pass holds about 1/chunks² of them.
PREDICTION_CHUNK_RECORDS = 400_000
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


def comparisons(tf: bool, dialect: C.Dialect = C.DUCKDB) -> list[dict[str, Any]]:
    """The Splink comparisons of the person model (``tf``: term-frequency adjustments), in ``dialect``."""
    for column, bits in BLOOM_BITS.items():
        C.declare_bloom(column, bits)
    sex_null = C.null_level("sex", dialect=dialect)
    sex_null["sql_condition"] = "{0} is null or {1} is null or {0} = 'U' or {1} = 'U'".format(*dialect.sides("sex"))

    def views(field: str) -> list[C.SaltedView]:
        return C.name_views(
            field, "birth_year", "dob_unordered_token", "postcode_token", "partner_salt_token", dialect=dialect
        )

    def exact(*levels: str) -> list[dict[str, Any]]:
        return [C.exact_level(column, dialect=dialect) for column in levels]

    return [
        C.name_comparison("forename", "forename_token", views("forename"), variants="forename_variant_tokens", tf=tf),
        C.name_comparison(
            "surname", "surname_token", views("surname"), tf=tf, containment=0.8, differs_when=married_name(dialect),
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


def _one_missing(column: str) -> str:
    return f"(l.{column} is null or r.{column} is null)"


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
    same date of birth) when one of the two has no date of birth or two of
    its parts agree; crime-reference pairs have their own rule.
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
        # the partner's date of birth alone is a broad key (90 million pairs at a national year's 2.6 million
        # records): only where a date of birth is missing, or two of its parts agree
        f"{_same('partner_salt_token', 'role')} and ({_one_missing(dob)} or {_same('dob_year_month_token')} "
        f"or {_same('dob_year_day_token')})",
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
        return _tf_columns(self.settings)

    def to_json(self) -> str:
        return json.dumps({"settings": self.settings, "trained": self.trained, "records": self.records}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Model:
        data = json.loads(text)
        return cls(data["settings"], bool(data["trained"]), data.get("records"))


def _tf_columns(settings: dict[str, Any]) -> list[str]:
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


def prepare(records: pd.DataFrame) -> pa.Table:
    """The table Splink scores: ``uid`` (row number), sex, role, clear generalised values,
    tokens as integers, filters as 64-bit words."""
    columns = {"uid": pa.array(np.arange(len(records), dtype=np.int64))}
    columns |= {c: _labels(records, c) for c in ("sex", "role", "postcode_district")}
    columns["birth_year"] = C.column_array(records, "birth_year").cast(pa.int64())
    columns |= C.encoding_columns(records, BLOOM_BITS, TOKEN_COLUMNS, TOKEN_LIST_COLUMNS)
    return pa.table(columns)


def has_fuzzy_encodings(records: pd.DataFrame) -> bool:
    """Whether any record carries an encoding the model can compare."""
    columns = [c for c in (*BLOOM_BITS, "dob_unordered_token") if c in records]
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


def default_settings(tf: bool = False) -> dict[str, Any]:
    """Splink settings of the documented default model (``tf``: with term-frequency adjustments)."""
    return _settings(with_defaults(comparisons(tf=tf)), DEFAULT_PRIOR, blocking_rules())


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


def training_sample(keys: pa.Array, size: int = MAX_TRAINING_RECORDS) -> np.ndarray | None:
    """Rows to train the model on: None (all) up to ``size`` records, else ``size`` of them.

    The sample is the records whose member keys hash lowest (a fixed-key
    SipHash), so it depends on the records' content only, never on their
    order or on a random state. Sampling records uniformly keeps the share of
    true matches among blocked pairs (each pair survives with the same
    probability), which is what EM and the prior estimate read, while the
    number of training pairs stays bounded however large the input.
    """
    if len(keys) <= size:
        return None
    hashes = pd.util.hash_array(keys.to_numpy(zero_copy_only=False))
    return np.sort(np.argpartition(hashes, size)[:size])


def _touching_changed(rules: Sequence[str]) -> list[str]:
    """``rules`` restricted to pairs with at least one changed record (``is_changed = 1``).

    Each rule is split in two disjoint halves, left record changed / only the
    right one changed: plain conditions on one side that DuckDB applies before
    the join, which an OR of the two sides would not allow.
    """
    halves = ("l.is_changed = 1", "l.is_changed = 0 and r.is_changed = 1")
    return [f"({rule}) and {half}" for rule in rules for half in halves]


class Scorer:
    """The prepared records in one database, for training and for every scoring pass.

    Why one: the encodings are prepared and loaded once per linkage run,
    however many passes score pairs; and term frequencies are computed once
    over all records (or given, frozen, by an earlier run), so a pass over a
    subset of the records (the dyad pass, an incremental run) scores every
    pair exactly as a pass over all of them would. The database is an
    in-memory DuckDB one unless ``backend`` says otherwise (Spark:
    :class:`masip.spark.linkage.SparkBackend`); the model is stored in
    DuckDB's dialect whatever the engine (:func:`in_dialect`). Use it as a
    context manager (it closes the backend).
    """

    def __init__(
        self, records: pd.DataFrame, term_frequencies: dict[str, pd.DataFrame] | None = None,
        backend: ScoringBackend | None = None,
    ) -> None:
        _quiet()
        self.size = len(records)
        self.backend: ScoringBackend = backend if backend is not None else DuckDBBackend()
        self.dialect = self.backend.dialect
        self._create("records", prepare(records))
        self.db = self.backend.splink_api()
        self._registered: dict[str, Any] = {}
        self._scratch = 0
        self._tf_given = term_frequencies is not None
        self._tf_tables: set[str] = set()
        for column, lookup in (term_frequencies or {}).items():
            self._create(f"tf_{column}", pa.Table.from_pandas(lookup, preserve_index=False))
            self._tf_tables.add(f"tf_{column}")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.backend.close()

    def _create(self, name: str, table: pa.Table) -> None:
        self.backend.register("arrow_input", table)
        self.backend.create(name, "select * from arrow_input order by 1")
        self.backend.unregister("arrow_input")

    def frame(self, select: str) -> pd.DataFrame:
        """The rows of ``select`` over the scorer's tables, as pandas."""
        return self.backend.frame(select)

    def _sdf(self, name: str) -> Any:
        """The Splink handle of table ``name`` (Splink accepts each name once per database)."""
        if name not in self._registered:
            self._registered[name] = self.db.register(name)
        return self._registered[name]

    def _tf_table(self, column: str) -> str:
        """The term-frequency lookup of ``column``, over all records as Splink computes it."""
        name = f"tf_{column}"
        if name in self._tf_tables:
            return name
        if self._tf_given:
            raise ValueError(f"the frozen term frequencies lack column {column!r}, which the model adjusts on")
        self.backend.create(
            name,
            f"select {column}, cast(count(*) as double) / (select count({column}) from records) as tf_{column} "
            f"from records where {column} is not null group by {column} order by {column}",
        )
        self._tf_tables.add(name)
        return name

    def term_frequencies(self, model: Model) -> dict[str, pd.DataFrame]:
        """The term-frequency lookups ``model`` scores with (token integer -> relative frequency)."""
        return {c: self.frame(f"select * from {self._tf_table(c)} order by 1") for c in model.tf_columns}

    def fingerprints(self) -> np.ndarray:
        """A 64-bit hash of each record's scoring columns (everything a pair's score or blocking reads).

        Two runs that give a record the same fingerprint score its pairs with
        any other unchanged record identically (under the same model and term
        frequencies), which is what lets an incremental run reuse them.
        DuckDB's hash may change with its version: every record then counts
        as changed once, which costs time, never correctness.
        """
        return self.backend.fingerprints("records")

    def _linker(self, table: str, settings: dict[str, Any], validate: bool = True) -> Any:
        from splink import Linker

        settings = in_dialect(settings, self.dialect)
        linker = Linker(self._sdf(table), settings, log_level=logging.ERROR, validate_settings=validate)
        for column in _tf_columns(settings):
            linker.table_management.register_term_frequency_lookup(self._sdf(self._tf_table(column)), column)
        return linker

    def _saved(self, linker: Any) -> dict[str, Any]:
        """The linker's model JSON, in DuckDB's dialect (how every model is stored)."""
        return in_dialect(linker.misc.save_model_to_json(), C.DUCKDB)

    def _subset(self, rows: np.ndarray | None, columns: dict[str, np.ndarray]) -> str:
        """A scratch table of the records ``rows`` (all if None) with further integer ``columns``."""
        self._scratch += 1
        name = f"records_{self._scratch}"
        uid = np.arange(self.size, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        extra = {c: pa.array(np.asarray(v, dtype=np.int64)[uid]) for c, v in columns.items()}
        self.backend.register("subset_input", pa.table({"uid": pa.array(uid), **extra}))
        selected = "".join(f", s.{c}" for c in extra)
        self.backend.create(
            name,
            f"select r.*{selected} from records as r join subset_input as s on r.uid = s.uid order by r.uid",
        )
        self.backend.unregister("subset_input")
        return name

    def _drop(self, table: str) -> None:
        """Free what a pass created: Splink's intermediate tables and the scratch ``table``."""
        self.db.delete_tables_created_by_splink_from_db()
        if table != "records":
            self._registered.pop(table, None)
            self.backend.drop(table)

    def default_model(self) -> Model:
        """The documented default parameters (:data:`DEFAULT_M_U`, :data:`DEFAULT_PRIOR`)."""
        return Model(self._saved(self._linker("records", default_settings())), trained=False)

    def train(self, rows: np.ndarray | None = None) -> Model:
        """Estimate the model on all records, or on ``rows`` only (:func:`training_sample`).

        u by random sampling (seeded), m by EM on two blockings (date of birth;
        forename + surname), the prior from exact forename + surname + date of
        birth agreement. Too few records, a failed or a degenerate training:
        the default model.
        """
        from splink import block_on

        if (self.size if rows is None else len(rows)) < MIN_TRAINING_RECORDS:
            return self.default_model()
        table = "records" if rows is None else self._subset(rows, {})
        try:
            # no term-frequency adjustment: a name token is keyed with the whole date of birth, so its frequency
            # is that of the name *and* the date, and would count the date's agreement twice (issue 14)
            linker = self._linker(table, _settings(comparisons(tf=False), DEFAULT_PRIOR, blocking_rules()))
            linker.training.estimate_probability_two_random_records_match(
                [block_on("forename_token", "surname_token", "dob_token")], recall=0.6
            )
            linker.training.estimate_u_using_random_sampling(max_pairs=U_SAMPLE_PAIRS, seed=SEED)
            # names' m on pairs with the same date of birth *and* postcode district: strangers who share a date
            # of birth share a forename by chance, and EM on date of birth alone counted more of them as matches
            # (a weaker "different surname") the larger the partnership (issue 14)
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on("dob_token", "postcode_district")
            )
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on("forename_token", "surname_token")
            )
            same_year = self.frame(same_year_share_sql(table))["share"].iloc[0]
            namesakes = self.frame(namesake_shares_sql(table, self.dialect)).iloc[0].to_dict()
            trained = unconditional_exact_names(
                unconditional_date_parts(regularise(self._saved(linker)), float(same_year or 0.0)), namesakes
            )
        except Exception as error:  # noqa: BLE001 - any training failure falls back to defaults
            log.warning("person linkage: model training failed (%s); using default parameters", type(error).__name__)
            return self.default_model()
        finally:
            self._drop(table)
        if not _trained_model_is_sane(trained):
            return self.default_model()
        settings = self._saved(self._linker("records", trained, validate=False))
        return Model(settings, trained=True, records=self.size)

    def predict(
        self, model: Model, rules: Sequence[str] | None = None, rows: np.ndarray | None = None,
        extra: dict[str, np.ndarray] | None = None, changed: np.ndarray | None = None,
        min_weight: float = MIN_MATCH_WEIGHT,
    ) -> pd.DataFrame:
        """Scored candidate pairs ``uid_l < uid_r, match_weight, match_probability``, sorted.

        ``rules``: blocking rules (default :func:`blocking_rules`); ``rows``:
        only pairs among these rows; ``extra``: integer columns (one value
        per record) the rules may use; ``changed``: one boolean per record,
        only pairs with at least one changed record (an incremental run);
        pairs below ``min_weight`` are not returned. u probabilities come
        from random pairs, which in a partnership (many records per person)
        include a few true matches: agreement then weighs a little less than
        it should, never more.
        """
        rules = list(rules or blocking_rules())
        columns = dict(extra or {})
        if changed is not None:
            columns["is_changed"] = np.asarray(changed, dtype=np.int64)
            rules = _touching_changed(rules)
        table = "records" if rows is None and not columns else self._subset(rows, columns)
        try:
            settings = {**model.settings, "blocking_rules_to_generate_predictions": rules}
            chunks = prediction_chunks(self.size if rows is None else len(rows))
            predictions = self._linker(table, settings, validate=False).inference.predict(
                threshold_match_weight=min_weight, warning_mode="never", num_chunks_left=chunks,
                num_chunks_right=chunks,
            )
            return self.frame(
                f"select least(uid_l, uid_r) as uid_l, greatest(uid_l, uid_r) as uid_r, "
                f"match_weight, match_probability from {predictions.physical_name} order by 1, 2"
            )
        finally:
            self._drop(table)


def prediction_chunks(records: int) -> int:
    """Chunks per side for scoring ``records`` records (1 up to :data:`PREDICTION_CHUNK_RECORDS`)."""
    return max(1, math.ceil(records / PREDICTION_CHUNK_RECORDS))


def rescore(match_weight: np.ndarray, prior_weight: float, new_prior: float) -> np.ndarray:
    """Posterior match probability of pairs scored under ``prior_weight`` if the prior were ``new_prior``.

    Fellegi–Sunter: match weight = prior log-odds + Σ level log Bayes factors,
    so replacing the prior term moves the posterior exactly.
    """
    weight = match_weight - prior_weight + math.log2(new_prior / (1 - new_prior))
    return 1.0 / (1.0 + np.exp2(-weight))
