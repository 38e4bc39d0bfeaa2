"""Clerical review: the uncertain band of the linkage, and the reviewers' decisions as constraints.

The band. A pair of record roles is *uncertain* when the evidence between
them — a scored Fellegi–Sunter pair, or a ``PROBABILISTIC`` or ``CONTEXT``
link — has a match probability in ``[REVIEW_BAND_LOW, REVIEW_BAND_HIGH)``:
from 0.2 (one chance in five of being the same person: too likely to drop
without a look) to 0.98 (below which one link in fifty would be wrong:
too unlikely to merge without one). Links of ``PNC``, ``NHS``, ``CRN`` and
``NAME_DOB`` and links from 0.98 up are *sure*. A scored pair is linked from
:data:`masip.linkage.LINK_PROBABILITY` = ``REVIEW_BAND_HIGH`` up, so a banded
Fellegi–Sunter pair is not merged but queued: neither merged nor dropped
silently. A ``CONTEXT`` link (a shared crime reference, a partner's other
dyads) is made from its own acceptance threshold and is queued too when it
falls in the band.

One item per question. The sure links (and the reviewers' "same person"
decisions) group the roles into *sure groups*. Only a banded pair between two
different sure groups is a question (inside one group the answer is already
sure), and of the banded pairs between the same two groups only the most
probable one is queued: one decision about it settles the two groups. Pairs
of groups a reviewer has already kept apart ("not the same person" between
any of their roles) are not asked again, nor are pairs of roles decided
either way. Runs with no fuzzy encodings (tokens only) have no model to
weigh fields and queue nothing.

Decisions (:mod:`masip.linkage.review_store`, keyed by record roles) become
``must_link`` and ``cannot_link`` row pairs for
:func:`masip.linkage.cluster.cluster`; decisions about roles that are no
longer live are kept and simply not applied.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from masip.linkage.cluster import METHODS
from masip.linkage.review_store import Decisions

#: Match probability from which a pair is uncertain enough to ask a reviewer about.
REVIEW_BAND_LOW = 0.2
#: Match probability from which a link is sure (no review).
REVIEW_BAND_HIGH = 0.98
#: Link methods whose evidence is weighed by probability (the others are exact identifiers).
BANDED_METHODS = ("PROBABILISTIC", "CONTEXT")
#: Columns of the queue the linkage stage writes (besides the two roles' keys and person_ids).
QUEUE_COLUMNS = ("review_id", "link_method", "match_probability", "match_weight", "linked")
#: Columns of the per-field evidence of each queue item.
FIELD_COLUMNS = ("review_id", "field", "field_position", "agreement_level", "match_weight")


def review_id_for(key_a: str, key_b: str) -> str:
    """A queue item's id: 'R' + 16 hex of SHA-256 of its two member keys in order (agency references only)."""
    first, second = sorted((key_a, key_b))
    return "R" + hashlib.sha256(f"{first}#{second}".encode()).hexdigest()[:16]


def constraint_rows(decisions: Decisions, keys: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``decisions`` as (must_link, cannot_link) row pairs of the records whose sorted member keys are ``keys``."""
    frame = decisions.frame
    if frame.empty:
        empty = np.empty((0, 2), dtype=np.int64)
        return empty, empty
    rows = []
    for column in ("key_a", "key_b"):
        found = pc.index_in(pa.array(frame[column].astype(str).tolist(), pa.string()), value_set=keys)
        rows.append(pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64))
    pairs = np.stack(rows, axis=1)
    live = (pairs >= 0).all(axis=1)
    same = frame["same_person"].to_numpy(dtype=bool)
    return pairs[live & same], pairs[live & ~same]


def _weight(probability: np.ndarray) -> np.ndarray:
    clipped = np.clip(probability, 1e-12, 1 - 1e-12)
    return np.log2(clipped / (1 - clipped))


def banded_pairs(
    n: int, edges: pd.DataFrame, effective: np.ndarray, scored: pd.DataFrame, must: np.ndarray, cannot: np.ndarray,
    held_back: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The queue's pairs of rows: ``i < j``, ``link_method``, ``match_probability``, ``match_weight`` (module docstring).

    ``edges``/``effective``: the run's links and whether clustering kept them;
    ``scored``: its scored candidate pairs (``uid_l, uid_r, match_probability``,
    the probability their link was decided at); ``held_back``: probabilistic links
    kept out of the clustering however strong (:mod:`masip.linkage.ambiguity`), queued too.
    """
    rank = edges["rank"].to_numpy(dtype=np.int64)
    probability = edges["probability"].to_numpy(dtype=float)
    banded_ranks = [METHODS.index(m) for m in BANDED_METHODS]
    sure = effective & (~np.isin(rank, banded_ranks) | (probability >= REVIEW_BAND_HIGH))
    si = np.concatenate([edges["i"].to_numpy(dtype=np.int64)[sure], must[:, 0]])
    sj = np.concatenate([edges["j"].to_numpy(dtype=np.int64)[sure], must[:, 1]])
    graph = coo_matrix((np.ones(len(si), dtype=np.int8), (si, sj)), shape=(n, n))
    _, group = connected_components(graph, directed=False)
    in_band = np.isin(rank, banded_ranks) & (probability >= REVIEW_BAND_LOW) & (probability < REVIEW_BAND_HIGH)
    queued = pd.concat([edges[in_band], held_back], ignore_index=True) if held_back is not None else edges[in_band]
    sp = scored["match_probability"].to_numpy(dtype=float)
    scored_band = (sp >= REVIEW_BAND_LOW) & (sp < REVIEW_BAND_HIGH)
    pairs = pd.DataFrame(
        {
            "i": np.concatenate([queued["i"].to_numpy(dtype=np.int64), scored["uid_l"].to_numpy(dtype=np.int64)[scored_band]]),
            "j": np.concatenate([queued["j"].to_numpy(dtype=np.int64), scored["uid_r"].to_numpy(dtype=np.int64)[scored_band]]),
            "link_method": np.concatenate([np.array(METHODS, dtype=object)[queued["rank"].to_numpy(dtype=np.int64)],
                                           np.full(int(scored_band.sum()), "PROBABILISTIC", dtype=object)]),
            "match_probability": np.concatenate([queued["probability"].to_numpy(dtype=float), sp[scored_band]]),
        }
    )
    pairs["i"], pairs["j"] = np.minimum(pairs["i"], pairs["j"]), np.maximum(pairs["i"], pairs["j"])
    pairs["group_a"] = np.minimum(group[pairs["i"]], group[pairs["j"]])
    pairs["group_b"] = np.maximum(group[pairs["i"]], group[pairs["j"]])
    pairs = pairs[pairs["group_a"] != pairs["group_b"]]
    if len(cannot):
        # only the kept-apart groups that a pair joins (the two roles of every two-role record are a cannot-link)
        apart = pd.DataFrame({"group_a": np.minimum(group[cannot[:, 0]], group[cannot[:, 1]]),
                              "group_b": np.maximum(group[cannot[:, 0]], group[cannot[:, 1]])})
        apart = apart[np.isin(apart["group_a"].to_numpy(), pairs["group_a"].to_numpy())].drop_duplicates()
        pairs = pairs.merge(apart, how="left", indicator=True).query("_merge == 'left_only'").drop(columns="_merge")
    strongest_first = [True, True, False, True, True]
    pairs = pairs.sort_values(["group_a", "group_b", "match_probability", "i", "j"], ascending=strongest_first)
    pairs = pairs.drop_duplicates(["group_a", "group_b"]).sort_values(["i", "j"]).reset_index(drop=True)
    pairs["match_weight"] = np.round(_weight(pairs["match_probability"].to_numpy(dtype=float)), 2)
    pairs["match_probability"] = np.round(pairs["match_probability"], 3)
    return pairs[["i", "j", "link_method", "match_probability", "match_weight"]]


def _levels(settings: dict[str, Any]) -> dict[str, dict[int, str]]:
    """Each comparison's agreement-level labels by comparison vector value (-1: null)."""
    levels: dict[str, dict[int, str]] = {}
    for comparison in settings["comparisons"]:
        name = comparison["output_column_name"]
        values = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        labels = {
            len(values) - 1 - k: str(lv.get("label_for_charts", f"level {len(values) - 1 - k}")).replace("_token", "")
            for k, lv in enumerate(values)
        }
        # the null level: a side lacks the field, or (names) the two records share no salted view to compare in
        labels[-1] = "not compared"
        levels[name] = labels
    return levels


def no_fields() -> pd.DataFrame:
    """An empty table of field evidence (:data:`FIELD_COLUMNS`), typed."""
    return pd.DataFrame({c: pd.Series([], dtype=object if c in ("review_id", "field", "agreement_level") else float)
                         for c in FIELD_COLUMNS})


def typed_fields(fields: pd.DataFrame) -> pd.DataFrame:
    """Field evidence (:data:`FIELD_COLUMNS`) with the types it is stored with, even when empty (an empty column of
    Python objects would reach DuckDB as type NULL)."""
    return pd.DataFrame({
        "review_id": fields["review_id"].astype("string"),
        "field": fields["field"].astype("string"),
        "field_position": fields["field_position"].astype("Int64"),
        "agreement_level": fields["agreement_level"].astype("string"),
        "match_weight": fields["match_weight"].astype("Float64"),
    })


def queue_fields(
    scorer: Any, model: Any, queue: pd.DataFrame, known: pd.DataFrame | None, changed: np.ndarray | None
) -> pd.DataFrame:
    """:func:`field_agreements` of the ``queue``, reusing ``known`` ones for the pairs of two unchanged records.

    ``known``: the fields an earlier run computed under this run's frozen model
    and term frequencies; ``changed``: which records are new or changed since
    that run (:func:`masip.linkage.state.reusable_pairs`). A pair of two
    unchanged records (the same fingerprints) compares field by field exactly
    as it did then, so only the others are scored: a national week's queue is
    almost all last week's, and copying its records into the scorer cost most
    of ten seconds.
    """
    if known is None or changed is None or known.empty or queue.empty:
        return field_agreements(scorer, model, queue)
    ids = queue["review_id"].astype(object)
    unchanged = ~changed[queue["i"].to_numpy(dtype=np.int64)] & ~changed[queue["j"].to_numpy(dtype=np.int64)]
    reusable = unchanged & ids.isin(known["review_id"]).to_numpy()
    parts = [known[known["review_id"].isin(ids[reusable])]]
    if not reusable.all():
        parts.append(field_agreements(scorer, model, queue[~reusable]))
    fields = pd.concat(parts, ignore_index=True)
    return fields.sort_values(["review_id", "field_position"]).reset_index(drop=True)[list(FIELD_COLUMNS)]


def field_agreements(scorer: Any, model: Any, pairs: pd.DataFrame) -> pd.DataFrame:
    """Agreement level and match weight of each compared field of each of ``pairs`` (``i``, ``j``, ``review_id``).

    Scored with the run's model (Splink, keeping its intermediate columns) on
    copies of the pairs' prepared records, numbered by pair, so an equality
    rule on the pair number selects exactly the queued pairs. Levels
    are the comparisons' labels (e.g. ``forename equal``, ``nickname``,
    ``else``; ``not compared`` when a side lacks the field, or two names share
    no salted view to be compared in), weights log2 of the
    level's Bayes factor, term-frequency adjusted: no value, token or filter
    leaves the scorer's database.
    """
    if pairs.empty:
        return no_fields()
    levels = _levels(model.settings)
    order = {name: position for position, name in enumerate(levels)}
    # gamma (the level) needs the matching columns kept; only levels and weights are selected out of Splink's table
    settings = {**model.settings, "retain_intermediate_calculation_columns": True, "retain_matching_columns": True}
    tf_adjusted = {c["output_column_name"] for c in model.settings["comparisons"]
                   if any(lv.get("tf_adjustment_column") for lv in c["comparison_levels"])}
    wanted = ", ".join(
        f"gamma_{name}, mw_{name}" + (f", mw_tf_adj_{name}" if name in tf_adjusted else "") for name in levels
    )
    # one scratch table with a copy of each pair's two records, numbered pair k -> k and len(pairs) + k, so
    # an equality rule on the pair number selects exactly the queued pairs in one pass over the records
    count = len(pairs)
    entries = np.concatenate([pairs["i"].to_numpy(dtype=np.int64), pairs["j"].to_numpy(dtype=np.int64)])
    table = scorer._copies(entries, {"review_slot": np.tile(np.arange(count, dtype=np.int64), 2)}, in_place=True)
    try:
        rules = ["l.review_slot = r.review_slot"]
        linker = scorer._linker(table, {**settings, "blocking_rules_to_generate_predictions": rules}, validate=False)
        scored = scorer.frame(
            f"select least(uid_l, uid_r) as pair, {wanted} from {linker.inference.predict(warning_mode='never').physical_name}"
        )
    finally:
        scorer._drop(table)
    review_ids = pairs["review_id"].to_numpy()[scored["pair"].to_numpy(dtype=np.int64)]
    frames = []
    for name, labels in levels.items():
        weight = scored[f"mw_{name}"].to_numpy(dtype=float)
        if name in tf_adjusted:
            weight = weight + scored[f"mw_tf_adj_{name}"].fillna(0.0).to_numpy(dtype=float)
        gamma = scored[f"gamma_{name}"].to_numpy(dtype=np.int64)
        frames.append(pd.DataFrame({
            "review_id": review_ids,
            "field": name,
            "field_position": order[name],
            "agreement_level": [labels.get(int(g), f"level {int(g)}") for g in gamma],
            "match_weight": np.round(weight, 2),
        }))
    fields = pd.concat(frames, ignore_index=True)
    return fields.sort_values(["review_id", "field_position"]).reset_index(drop=True)[list(FIELD_COLUMNS)]
