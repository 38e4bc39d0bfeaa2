"""What one linkage run hands to the next, so a weekly run scores only what changed.

A national warehouse gains about 2% new or changed records a week. Scoring
every candidate pair again would redo 98% of the work, and retraining would
move every score a little. A :class:`LinkageState` keeps what a run computed
that the next one can reuse:

* ``model``: the Fellegi–Sunter model (Splink's model JSON: comparisons with
  their m and u probabilities and the prior; parameters only, no record);
* ``term_frequencies``: for each column whose exact agreement is weighted by
  how common the value is (forename, surname), the relative frequency of
  each keyed token (as the integer the scorer compares). They are frozen with
  the model because they are part of a pair's score: recomputed on next
  week's records, every stored score would be slightly stale;
* ``records``: every record of the run, ``member_key`` (sorted),
  ``fingerprint`` (a hash of everything a pair's score and blocking read,
  :meth:`masip.linkage.scorer.Scorer.fingerprints`), and what the guarded
  clustering decided for it (``cluster_signature``, ``cluster_root``:
  :class:`masip.linkage.cluster_reuse.GuardedRoots`);
* ``pairs``: every candidate pair the run scored at or above
  :data:`masip.linkage.scorer.MIN_MATCH_WEIGHT`: ``uid_l < uid_r`` (row
  numbers into ``records``), ``match_weight``, ``match_probability``,
  ``forenames_differ`` (:func:`masip.linkage.fuzzy.forenames_differ_sql`);
* ``review_fields``: the field-by-field evidence of the run's clerical review
  queue (:func:`masip.linkage.review.field_agreements`; ``review_id``, field,
  level and weight), which the next run reuses for the queued pairs of two
  unchanged records (:func:`masip.linkage.review.queue_fields`).

A pair of two records whose fingerprints are unchanged scores the same under
the same model and term frequencies, so the next run keeps it, drops the
pairs of records that are gone or changed, and scores only pairs with at
least one new or changed record (:func:`reusable_pairs`). The guarded
clustering takes over last week's clusters of every component whose rows,
edges and decisions are unchanged (:func:`previous_roots`,
:mod:`masip.linkage.cluster_reuse`); the rest (context links, the dyad pass)
is rerun in full, so the output is identical to a full run under the same
frozen state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from masip.linkage.cluster_reuse import GuardedRoots
from masip.linkage.comparisons import arrow_array
from masip.linkage.review import no_fields

#: What the state keeps of each scored pair, with its type.
PAIR_TYPES = {
    "uid_l": np.int64, "uid_r": np.int64, "match_weight": np.float64, "match_probability": np.float64,
    "forenames_differ": np.bool_,
}
PAIR_COLUMNS = tuple(PAIR_TYPES)


#: What the state keeps of each record.
RECORD_COLUMNS = ("member_key", "fingerprint", "cluster_signature", "cluster_root")


def _no_records() -> pd.DataFrame:
    return pd.DataFrame(
        {"member_key": pd.Series([], dtype=pd.ArrowDtype(pa.string())),
         **{c: pd.Series([], dtype=np.int64) for c in RECORD_COLUMNS[1:]}}
    )


def _no_pairs() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in PAIR_TYPES.items()})


@dataclass(frozen=True)
class LinkageState:
    """A run's model, term frequencies, record fingerprints and scored pairs (see the module docstring).

    ``model`` is None when the run had nothing to score (no fuzzy encodings):
    the next run then trains its own model.
    """

    model: str | None = None
    term_frequencies: dict[str, pd.DataFrame] = field(default_factory=dict)
    records: pd.DataFrame = field(default_factory=_no_records)
    pairs: pd.DataFrame = field(default_factory=_no_pairs)
    review_fields: pd.DataFrame = field(default_factory=no_fields)

    @classmethod
    def of_run(
        cls, model: str, term_frequencies: dict[str, pd.DataFrame], keys: pa.Array, fingerprints: np.ndarray,
        pairs: pd.DataFrame,
    ) -> LinkageState:
        roots = GuardedRoots.none(len(keys))
        records = pd.DataFrame(
            {"member_key": pd.arrays.ArrowExtensionArray(keys), "fingerprint": fingerprints,
             "cluster_signature": roots.signature, "cluster_root": roots.root}
        )
        # the scorer's pairs come with exactly these columns: kept as they are, not copied (a national year's
        # pairs take most of a gigabyte)
        kept = pairs if list(pairs.columns) == list(PAIR_COLUMNS) else pairs[list(PAIR_COLUMNS)]
        return cls(model, term_frequencies, records, kept.set_axis(pd.RangeIndex(len(kept)), copy=False))

    def with_roots(self, roots: GuardedRoots) -> LinkageState:
        """The state with what the guarded clustering decided for each of its records."""
        records = self.records.assign(cluster_signature=roots.signature, cluster_root=roots.root)
        return LinkageState(self.model, self.term_frequencies, records, self.pairs, self.review_fields)

    def without_pairs(self) -> LinkageState:
        """The frozen model alone: a run given it scores every pair, without training."""
        return LinkageState(self.model, self.term_frequencies)

    def save(self, directory: Path) -> None:
        """Write the state to ``directory`` (JSON and Parquet files; it holds keyed tokens, no plain value)."""
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"model": self.model, "term_frequency_columns": sorted(self.term_frequencies)}
        (directory / "state.json").write_text(json.dumps(meta, sort_keys=True), encoding="utf-8")
        self.records.to_parquet(directory / "records.parquet", index=False)
        self.pairs.to_parquet(directory / "pairs.parquet", index=False)
        self.review_fields.to_parquet(directory / "review_fields.parquet", index=False)
        for column, lookup in self.term_frequencies.items():
            lookup.to_parquet(directory / f"tf_{column}.parquet", index=False)

    @classmethod
    def load(cls, directory: Path) -> LinkageState:
        meta = json.loads((directory / "state.json").read_text(encoding="utf-8"))
        frequencies = {c: pd.read_parquet(directory / f"tf_{c}.parquet") for c in meta["term_frequency_columns"]}
        records = pd.read_parquet(directory / "records.parquet", dtype_backend="pyarrow")
        for column in RECORD_COLUMNS[1:]:
            records[column] = records[column].astype(np.int64)
        pairs = pd.read_parquet(directory / "pairs.parquet")
        return cls(meta["model"], frequencies, records, pairs, pd.read_parquet(directory / "review_fields.parquet"))


def previous_rows(previous: LinkageState, keys: pa.Array) -> np.ndarray:
    """Each of this run's records' row in ``previous`` (``keys``: this run's member keys, in row order), -1 for a
    record it did not have: found once, for the pairs (:func:`reusable_pairs`) and the clustering
    (:func:`previous_roots`)."""
    found = pc.index_in(keys, value_set=arrow_array(previous.records["member_key"]))
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def reusable_pairs(
    previous: LinkageState, rows: np.ndarray, fingerprints: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The previous run's pairs between records unchanged since (one array per :data:`PAIR_COLUMNS`), and which
    records are new or changed.

    ``rows``: :func:`previous_rows` of this run's records (sorted by member
    key); ``fingerprints``: theirs. The pairs come back renumbered to this
    run's rows; both runs sort by member key, so ``uid_l < uid_r`` still holds.
    """
    known = rows >= 0
    unchanged = np.zeros(len(rows), dtype=bool)
    unchanged[known] = fingerprints[known] == previous.records["fingerprint"].to_numpy()[rows[known]]
    new_row = np.full(len(previous.records), -1, dtype=np.int64)
    new_row[rows[unchanged]] = np.flatnonzero(unchanged)
    left = new_row[previous.pairs["uid_l"].to_numpy(dtype=np.int64)]
    right = new_row[previous.pairs["uid_r"].to_numpy(dtype=np.int64)]
    kept = (left >= 0) & (right >= 0)
    reused = {"uid_l": left[kept], "uid_r": right[kept]}
    del left, right
    for column in PAIR_COLUMNS[2:]:
        reused[column] = previous.pairs[column].to_numpy(dtype=PAIR_TYPES[column])[kept]
    return reused, ~unchanged


def previous_roots(previous: LinkageState, rows: np.ndarray) -> GuardedRoots:
    """``previous``'s guarded clustering on this run's records (``rows``: :func:`previous_rows`): nothing
    (signature 0) for a record it did not have."""
    known = rows >= 0
    roots = GuardedRoots.none(len(rows))
    roots.signature[known] = previous.records["cluster_signature"].to_numpy(dtype=np.int64)[rows[known]]
    roots.root[known] = previous.records["cluster_root"].to_numpy(dtype=np.int64)[rows[known]]
    return roots


def chosen_rows(frame: pd.DataFrame, chosen: np.ndarray) -> pd.DataFrame:
    """The ``chosen`` rows of a frame of pairs or edges (the frame itself when all are), with a fresh index and no
    other copy: a national year's are tens of millions."""
    if chosen.all():
        return frame
    return pd.DataFrame({column: frame[column].to_numpy()[chosen] for column in frame.columns}, copy=False)


def merged_pairs(reused: dict[str, np.ndarray], fresh: pd.DataFrame) -> pd.DataFrame:
    """Reused and freshly scored pairs as one table, in the order a full run returns them (``uid_l, uid_r``).

    ``reused``: :func:`reusable_pairs`'s arrays, which it consumes (each is
    dropped from the dict once copied: a national week reuses tens of millions
    of pairs, and holding them twice was the weekly linkage's peak of memory).
    Each part comes in that order already (the scorer sorts; reused pairs keep
    the previous run's order, renumbered monotonically) and no pair is in both
    (a fresh pair has a new or changed record, a reused one has none), so the
    fresh pairs' places follow from a binary search of their keys among the
    reused ones'.
    """
    def keys(uid_l: np.ndarray, uid_r: np.ndarray) -> np.ndarray:
        return uid_l.astype(np.int64) * width + uid_r.astype(np.int64)

    width = max([int(p["uid_r"].max()) + 1 for p in (reused, fresh) if len(p["uid_r"])], default=1)
    fresh_keys = keys(fresh["uid_l"].to_numpy(), fresh["uid_r"].to_numpy())
    places = np.searchsorted(keys(reused["uid_l"], reused["uid_r"]), fresh_keys, side="right")
    is_fresh = np.zeros(len(reused["uid_l"]) + len(fresh), dtype=bool)
    is_fresh[places + np.arange(len(fresh))] = True
    merged = {}
    for column in PAIR_COLUMNS:
        values = np.empty(len(is_fresh), dtype=PAIR_TYPES[column])
        values[~is_fresh] = reused.pop(column)
        values[is_fresh] = fresh[column].to_numpy()
        merged[column] = values
    return pd.DataFrame(merged, copy=False)
