"""Training and scoring of the person model (:mod:`masip.linkage.fuzzy`) on prepared records.

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
new partnership — use the documented default parameters of :mod:`masip.linkage.fuzzy`,
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

import itertools
import logging
import math
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any, Self

import numpy as np
import pandas as pd
import pyarrow as pa

from connectors.settings import whole_number
from masip.linkage import comparisons as C
from masip.linkage.backends import DuckDBBackend, ScoringBackend
from masip.linkage.calibration import (
    namesake_shares_sql,
    same_year_share_sql,
    unconditional_date_parts,
    unconditional_exact_names,
)
from masip.linkage.copies import CONTEXT, Copies
from masip.linkage.fuzzy import (
    DEFAULT_PRIOR,
    Model,
    blocking_rules,
    comparisons,
    default_settings,
    forenames_differ_sql,
    in_dialect,
    is_sane_model,
    model_settings,
    prepare,
    quiet_splink,
    regularise,
    tf_columns_of,
)
from masip.linkage.state import PAIR_TYPES

log = logging.getLogger(__name__)

#: Fewer records than this and the model is not trained on the data, but keeps the documented defaults (its m and u
#: are worse: on an outside partnership, recall 0.834 trained against 0.886 at 658 record roles, 0.894 against
#: 0.914 at 1,307 and 0.883 against 0.890 at 2,710, with the same precision; from about 4,000 on, training is
#: as precise or more). ``$MASIP_MIN_TRAINING_RECORDS`` sets another threshold (:func:`min_training_records`).
MIN_TRAINING_RECORDS = 3_000
MIN_TRAINING_ENV = "MASIP_MIN_TRAINING_RECORDS"
#: Above this many records the model is trained on a sample of this many (:func:`training_sample`).
MAX_TRAINING_RECORDS = 300_000
#: Random pairs sampled to estimate u probabilities.
U_SAMPLE_PAIRS = 1_000_000
SEED = 20261122
#: The columns of a scored pair that :meth:`Scorer.predict` keeps of Splink's predictions, ``{differ}`` the SQL
#: of :func:`masip.linkage.fuzzy.forenames_differ_sql` over the comparisons' own weights (``mw_*``): computed as
#: each chunk's pairs are kept, so the kept pairs hold one boolean, not two weights (a national year's
#: tens of millions of pairs).
SCORED_COLUMNS = "uid_l, uid_r, match_weight, match_probability, {differ} as forenames_differ"
#: Pairs scoring below this match weight are not returned at all.
MIN_MATCH_WEIGHT = -12.0
#: Records per side of one prediction chunk. Splink carries every comparison column of both records through
#: the join before the weight threshold drops a pair, so a national year's tens of millions of candidate
#: pairs would spill tens of GB at once; in chunks each pass holds about 1/chunks² of them. But each chunk
#: pair also copies its records out of the whole table (Splink's source pruning; until 2026-12 it also
#: repeated the blocking join, :meth:`Scorer._predict_in_chunks`): at 400,000 (49 chunk pairs for 2.8 million
#: records) those copies were two thirds of a national linkage. A national year's retraining linkage (2.5
#: million records, same links in each case) took 298 s unchunked (spilling), 276 s at a million (9 chunk
#: pairs) and 252 s at 1.5 million (4 chunk pairs).
PREDICTION_CHUNK_RECORDS = 1_500_000
#: The same for the pass over the candidate pairs of all records, which has the scoring cap
#: (:data:`masip.linkage.backends.SCORING_MEMORY_ENV`): a national year's (2.5 million records) runs whole,
#: predicting in 86 s against 130 s in four chunks (2026-12-07).
EVERY_PAIR_CHUNK_RECORDS = 3_000_000


def min_training_records() -> int:
    """The fewest records the model is trained on: ``$MASIP_MIN_TRAINING_RECORDS``, else :data:`MIN_TRAINING_RECORDS`."""
    return whole_number(MIN_TRAINING_ENV, MIN_TRAINING_RECORDS, 0, "record roles (the fewest the model is trained on)")


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
    # every key is distinct: hashed as they are, not factorised first (the same hashes, 2.1 → 0.2 s a national year)
    hashes = pd.util.hash_array(keys.to_numpy(zero_copy_only=False), categorize=False)
    return np.sort(np.argpartition(hashes, size)[:size])


#: The column of an incremental pass's copy of the records that marks the changed ones (1; others 0).
CHANGED_COLUMN = "is_changed"


def _touching_changed(rules: Sequence[str]) -> list[str]:
    """``rules`` restricted to pairs with at least one changed record (:data:`CHANGED_COLUMN` = 1).

    Each rule is split in two disjoint halves, left record changed / only the
    right one changed: plain conditions on one side that DuckDB applies before
    the join, which an OR of the two sides would not allow.
    """
    changed = CHANGED_COLUMN
    halves = (f"l.{changed} = 1", f"l.{changed} = 0 and r.{changed} = 1")
    return [f"({rule}) and {half}" for rule in rules for half in halves]


#: Records prepared per batch on their way into the scorer's database: a national year's 64-bit filter words
#: are never all in memory twice (once in Python, once in the database).
PREPARE_ROWS = 250_000


def _prepared_batches(records: pd.DataFrame) -> pa.RecordBatchReader:
    """:func:`prepare` of ``records``, made a slice at a time as it is read."""

    def prepared(start: int) -> pa.Table:
        return prepare(records.iloc[start : start + PREPARE_ROWS], first_uid=start)

    first = prepared(0)

    def batches():
        yield from first.to_batches()
        for start in range(PREPARE_ROWS, len(records), PREPARE_ROWS):
            yield from prepared(start).cast(first.schema).to_batches()

    return pa.RecordBatchReader.from_batches(first.schema, batches())


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
        quiet_splink()
        self.size = len(records)
        self.backend: ScoringBackend = backend if backend is not None else DuckDBBackend()
        self.dialect = self.backend.dialect
        self._create("records", _prepared_batches(records))
        self.db = self.backend.splink_api()
        self._registered: dict[str, Any] = {}
        self._scratch = 0
        self._tf_given = term_frequencies is not None
        self._tf_tables: set[str] = set()
        #: Records identical in everything scored: only the first copies are blocked (:meth:`pair_copies_once`).
        self.identical: Copies | None = None
        for column, lookup in (term_frequencies or {}).items():
            self._create(f"tf_{column}", pa.Table.from_pandas(lookup, preserve_index=False))
            self._tf_tables.add(f"tf_{column}")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.backend.close()

    def _create(self, name: str, table: pa.Table | pa.RecordBatchReader) -> None:
        """Table ``name`` of ``table``'s rows, which come sorted on their first column (records by ``uid``, lookups
        by value) and stay in that order (DuckDB keeps the insertion order): sorting a national year's filters
        again took half the scorer's start."""
        self.backend.register("arrow_input", table)
        self.backend.create(name, "select * from arrow_input")
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

    def pair_copies_once(self) -> Copies:
        """From now on, pair by blocking only the first :data:`masip.linkage.copies.SCORED_COPIES` records of each
        group of identical ones (everything a pair's score reads the same: :data:`masip.linkage.copies.CONTEXT`
        aside) when scoring the candidate pairs of all records, in full or incrementally; the caller pairs the
        others with their group's first (:meth:`Copies.with_pairs_to_first`). Training and passes over given rows
        (the dyad pass) read every record. Returns the groups."""
        self.identical = Copies.of(self.backend.fingerprints("records", exclude=CONTEXT))
        return self.identical

    def _scored_rows(self, rows: np.ndarray | None) -> np.ndarray | None:
        return rows if self.identical is None else self.identical.scored(rows)

    def _linker(self, table: str, settings: dict[str, Any], validate: bool = True) -> Any:
        from splink import Linker

        settings = in_dialect(settings, self.dialect)
        linker = Linker(self._sdf(table), settings, log_level=logging.ERROR, validate_settings=validate)
        for column in tf_columns_of(settings):
            linker.table_management.register_term_frequency_lookup(self._sdf(self._tf_table(column)), column)
        return linker

    def _saved(self, linker: Any) -> dict[str, Any]:
        """The linker's model JSON, in DuckDB's dialect (how every model is stored)."""
        return in_dialect(linker.misc.save_model_to_json(), C.DUCKDB)

    def _subset(self, rows: np.ndarray | None, columns: dict[str, np.ndarray], in_place: bool = False) -> str:
        """A scratch table of the records ``rows`` (all if None), keeping their ``uid``, with further integer
        ``columns`` (one value per record of the scorer); ``in_place``: see :meth:`_copies`."""
        uid = np.arange(self.size, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        return self._copies(
            uid, {c: np.asarray(v, dtype=np.int64)[uid] for c, v in columns.items()}, numbered=uid, in_place=in_place
        )

    def _copies(
        self, rows: np.ndarray, columns: dict[str, np.ndarray], numbered: np.ndarray | None = None,
        in_place: bool = False,
    ) -> str:
        """A scratch table of a copy of record ``rows[k]`` as ``uid`` ``numbered[k]`` (default k; a record may
        repeat), with further integer ``columns`` (one value per copy): one scan of the records, in ``uid`` order.

        ``in_place``: a view that reads the records where it is read (:meth:`ScoringBackend.view`), in no
        particular order, for a pass whose result does not depend on the order of its input (scoring: every
        pair is scored alone), never for training (random sampling reads rows in order). Copying every record's
        filters to leave out 0.2% of them (the surplus copies of identical records) cost a national year's full
        linkage 3 to 14 s (paired runs, 2026-12-08).
        """
        self._scratch += 1
        name = f"records_{self._scratch}"
        uid = np.arange(len(rows), dtype=np.int64) if numbered is None else numbered
        extra = {c: pa.array(np.asarray(v, dtype=np.int64)) for c, v in columns.items()}
        self.backend.register("copies_input", pa.table({
            "copy": pa.array(uid), "record": pa.array(np.asarray(rows, dtype=np.int64)), **extra,
        }))
        kept = [c for c in self.frame("select * from records limit 0").columns if c != "uid"]
        selected = "".join(f", r.{c}" for c in kept) + "".join(f", s.{c}" for c in extra)
        if in_place:
            self.backend.create(f"{name}_copies", "select * from copies_input")
            self.backend.view(
                name, f"select s.copy as uid{selected} from records as r join {name}_copies as s on r.uid = s.record",
                owned=(f"{name}_copies",),
            )
        else:
            self.backend.create(
                name, f"select s.copy as uid{selected} from records as r join copies_input as s on r.uid = s.record "
                "order by 1"
            )
        self.backend.unregister("copies_input")
        return name

    def _drop(self, table: str) -> None:
        """Free what a pass created: Splink's intermediate tables and the scratch ``table`` (with its copies'
        table, when it is a view of them)."""
        self.db.delete_tables_created_by_splink_from_db()
        if table != "records":
            self._registered.pop(table, None)
            self.backend.drop(table)

    def default_model(self) -> Model:
        """The documented default parameters (:data:`masip.linkage.fuzzy.DEFAULT_M_U`, ``DEFAULT_PRIOR``)."""
        return Model(self._saved(self._linker("records", default_settings())), trained=False)

    def train(self, rows: np.ndarray | None = None) -> Model:
        """Estimate the model on all records, or on ``rows`` only (:func:`training_sample`).

        u by random sampling (seeded), m by EM on two blockings (date of birth;
        forename + surname), the prior from exact forename + surname + date of
        birth agreement. Too few records, a failed or a degenerate training:
        the default model.
        """
        from splink import block_on

        if (self.size if rows is None else len(rows)) < min_training_records():
            return self.default_model()
        table = "records" if rows is None else self._subset(rows, {})
        try:
            # no term-frequency adjustment: a name token is keyed with the whole date of birth, so its frequency
            # is that of the name *and* the date, and would count the date's agreement twice (issue 14)
            linker = self._linker(table, model_settings(comparisons(tf=False), DEFAULT_PRIOR, blocking_rules()))
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
        if not is_sane_model(trained):
            return self.default_model()
        settings = self._saved(self._linker("records", trained, validate=False))
        return Model(settings, trained=True, records=self.size)

    def _rows_blocked_with(self, rules: Sequence[str], changed: np.ndarray, among: np.ndarray | None) -> np.ndarray:
        """The rows of the records that ``rules`` pair with one of the ``changed`` rows (those included): the
        only records an incremental pass's pairs can hold.

        Splink scores a pass over every record of its table (joining each to its
        term frequencies) whatever the rules select; a week's changed records and
        the records they block with are a few percent of a national year, so
        the pass runs on their copy instead (same pairs, same scores).
        """
        self.backend.register("changed_rows", pa.table({"uid": pa.array(changed, pa.int64())}))
        records = "records"
        if among is not None:  # only these rows are paired (the first copies of identical records)
            self.backend.register("among_rows", pa.table({"uid": pa.array(among, pa.int64())}))
            records = "(select * from records where uid in (select uid from among_rows))"
        try:
            pairs = " union all ".join(
                f"select l.uid as a, r.uid as b from {records} as l join {records} as r on ({rule}) "
                f"where {side}.uid in (select uid from changed_rows)"
                for rule in rules for side in ("l", "r")
            )
            return self.frame(f"select distinct unnest([a, b]) as uid from ({pairs}) order by 1")["uid"].to_numpy()
        finally:
            self.backend.unregister("changed_rows")
            if among is not None:
                self.backend.unregister("among_rows")

    def predict(
        self, model: Model, rules: Sequence[str] | None = None, rows: np.ndarray | None = None,
        extra: dict[str, np.ndarray] | None = None, changed: np.ndarray | None = None,
        min_weight: float = MIN_MATCH_WEIGHT,
    ) -> pd.DataFrame:
        """Scored candidate pairs (:data:`masip.linkage.state.PAIR_TYPES`: ``uid_l < uid_r, match_weight,
        match_probability, forenames_differ``), sorted.

        ``rules``: blocking rules (default :func:`blocking_rules`); ``rows``:
        only pairs among these rows; ``extra``: integer columns (one value
        per record) the rules may use; ``changed``: one boolean per record,
        only pairs with at least one changed record (an incremental run);
        pairs below ``min_weight`` are not returned. ``forenames_differ``: both
        forenames recorded and unalike at every level of the model, the surnames
        alike (:func:`masip.linkage.fuzzy.forenames_differ_sql`). u probabilities come
        from random pairs, which in a partnership (many records per person)
        include a few true matches: agreement then weighs a little less than
        it should, never more.
        """
        rules = list(rules or blocking_rules())
        columns = dict(extra or {})
        every_pair = rows is None and changed is None and not columns
        if rows is None:  # the candidate pairs of all records: of identical ones, only the first copies are blocked
            rows = self._scored_rows(None)
        if changed is not None:
            among = self._scored_rows(None)
            blocked = self._rows_blocked_with(rules, self._scored_rows(np.flatnonzero(changed)), among)
            rows = blocked if rows is None else np.intersect1d(rows, blocked)
            columns[CHANGED_COLUMN] = np.asarray(changed, dtype=np.int64)
            rules = _touching_changed(rules)
        if rows is not None and len(rows) < 2:
            return pd.DataFrame({c: np.empty(0, dtype=t) for c, t in PAIR_TYPES.items()})
        table = "records" if rows is None and not columns else self._subset(rows, columns, in_place=True)
        records = self.size if rows is None else len(rows)
        parts: list[str] = []  # the chunks' scored pairs, when scored in chunks
        try:
            # each comparison's own weight kept (``mw_*``), for whether the forenames differ
            settings = {**model.settings, "blocking_rules_to_generate_predictions": rules,
                        "retain_intermediate_calculation_columns": True}
            chunks = prediction_chunks(
                records, None if changed is None else int(np.count_nonzero(changed)), every_pair=every_pair
            )
            linker = self._linker(table, settings, validate=False)
            kept = SCORED_COLUMNS.format(differ=forenames_differ_sql(model.settings))
            with self.backend.scoring_every_pair() if every_pair else nullcontext():
                if chunks == 1:
                    predicted = linker.inference.predict(threshold_match_weight=min_weight, warning_mode="never")
                    scored = f"(select {kept} from {predicted.physical_name})"
                else:
                    self._predict_in_chunks(linker, chunks, min_weight, kept, parts)
                    scored = "(" + " union all ".join(f"select * from {p}" for p in parts) + ")"
                return self.frame(
                    f"select least(uid_l, uid_r) as uid_l, greatest(uid_l, uid_r) as uid_r, "
                    f"match_weight, match_probability, forenames_differ from {scored} order by 1, 2"
                )
        finally:
            for part in parts:
                self.backend.drop(part)
            self._drop(table)

    def _predict_in_chunks(self, linker: Any, chunks: int, min_weight: float, kept: str, parts: list[str]) -> None:
        """Score ``linker``'s candidate pairs in ``chunks``² parts, one after the other, each into a table of the
        ``kept`` columns whose name is appended to ``parts`` (the caller drops them).

        The candidate pairs are found in one blocking pass, then split by both
        records' ``uid`` modulo ``chunks``. Splink's own chunked prediction
        repeats the blocking join over all records for every chunk pair: at a
        national year's 2.5 million records its four blocking passes took 51 s
        (py-spy), against 22 s for one.
        """
        blocked = linker.inference.compute_blocked_pairs_for_predict().physical_name
        try:
            for left, right in itertools.product(range(chunks), repeat=2):
                self._scratch += 1
                part = f"blocked_{self._scratch}"
                self.backend.create(
                    part, f"select * from {blocked} where join_key_l % {chunks} = {left} and join_key_r % {chunks} = {right}"
                )
                linker.table_management.register_blocked_pairs_for_predict(self._sdf(part))
                predicted = linker.inference.predict(threshold_match_weight=min_weight, warning_mode="never")
                self._registered.pop(part)
                self.backend.drop(part)
                # kept apart: the next part's prediction has the same SQL, so Splink would give it the same table
                self.backend.create(part, f"select {kept} from {predicted.physical_name}")
                parts.append(part)
                predicted.drop_table_from_database_and_remove_from_cache()
        finally:
            # Splink's cache belongs to the database: a registration left in it would stand in for the next
            # linker's blocking (the tables Splink created are still dropped, by _drop)
            linker.table_management.invalidate_cache()


def prediction_chunks(records: int, changed: int | None = None, every_pair: bool = False) -> int:
    """Chunks per side for scoring ``records`` records, of which only ``changed`` ones' pairs if given.

    A full pass over ``k`` chunks per side holds ``1/k²`` of all pairs at a
    time, and ``k`` is 1 up to :data:`PREDICTION_CHUNK_RECORDS` records
    (:data:`EVERY_PAIR_CHUNK_RECORDS` for ``every_pair``, the pass over all records' candidate pairs). An
    incremental pass scores only pairs with a changed record, about
    ``2·changed/records`` of them: it takes the fewest chunks that hold no more
    per chunk pair than a full pass would (one, for a weekly delta of a
    national year). Every chunk pair copies its records out of all of them
    (Splink's source pruning), so chunking what is already small would cost
    minutes for nothing.
    """
    full = max(1, math.ceil(records / (EVERY_PAIR_CHUNK_RECORDS if every_pair else PREDICTION_CHUNK_RECORDS)))
    if changed is None:
        return full
    return min(full, max(1, math.ceil(math.sqrt(2 * changed * records) / PREDICTION_CHUNK_RECORDS)))
