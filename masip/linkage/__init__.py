"""Person linkage: resolve every source record role to a pseudonymous person_id (SPEC §4).

The pipeline's linkage stage (:mod:`masip.linkage.stage`, its own process)
calls :func:`link_with_state`, which also returns what a weekly run needs
to score only new and changed records (:mod:`masip.linkage.state`).
Everything it reads is pseudonymised: keyed tokens and keyed Bloom filters
from the linkage vault, generalised values and agency-local references
(SPEC §3.5) from the warehouse (``connectors.raw_schema.PERSON_RECORD_COLUMNS``).

How records become persons:

1. **Exact identifiers** (:mod:`masip.linkage.deterministic`): records
   sharing a keyed PNC, NHS number, CRN or name+date-of-birth token.
2. **Fellegi–Sunter** (:mod:`masip.linkage.fuzzy`, Splink 5 on DuckDB, or Spark):
   candidate pairs from blocking on keyed tokens are scored on forename,
   surname, a forename/surname swap, date of birth, sex and postcode, using
   Dice similarity of Bloom filters, nickname-group and date-part tokens.
   Pairs with posterior probability >= :data:`LINK_PROBABILITY` (under the
   prior for this run's number of records, :meth:`fuzzy.Model.prior_for`)
   are linked if they compare more than names (a date of birth or a postcode on both
   sides): nobody is linked on a name alone.
3. **Context** (:mod:`masip.linkage.context`): roles of a case or order and
   of the crime it references are linked when the reference (a prior of
   0.95) and their own evidence together make it probable; a name-only
   perpetrator (or victim) is resolved among the persons already seen
   opposite the same partner.
4. **Clustering with guards** (:mod:`masip.linkage.cluster`): links are
   merged strongest first, never joining two different PNCs or NHS numbers,
   and — for links that are not identifiers — never joining different known
   sexes or incompatible dates of birth, nor, through a record without a
   forename, two persons whose forenames of one date of birth all differ.
5. **Clerical review** (:mod:`masip.linkage.review`): reviewers' decisions
   are must-link / cannot-link constraints of the clustering (a role joined
   only by one has ``link_method`` ``CLERICAL``), and pairs in the uncertain
   band go to a review queue (:func:`link_for_review`).

``person_id`` is a hash of the member key of the person's first-delivered
record (:data:`FIRST_DELIVERED`; among records first delivered on one day,
the smallest key), so it depends on content only, never on row order, and a
full build and a weekly one give the same ids. A record delivered later
never changes the id of the person it joins; when two persons merge, the
one delivered first gives the merged person its id; when a person splits,
the part with that record keeps it. Only deleting that record changes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from masip.linkage import context as ctx
from masip.linkage.ambiguity import undated_between_namesakes
from masip.linkage.cluster import (
    METHODS,
    SINGLETON,
    Attributes,
    cluster,
    cluster_reusing,
    recluster,
    same_record_pairs,
)
from masip.linkage.cluster_reuse import row_identities
from masip.linkage.copies import Copies
from masip.linkage.deterministic import (
    KEY_COLUMNS,
    LINK_METHODS,
    OUTPUT_COLUMNS,
    TOKEN_RULES,
    link_deterministic,
    person_id_for,
    sorted_member_keys,
    token_edges,
)
from masip.linkage.review import REVIEW_BAND_HIGH
from masip.linkage.review_store import Decisions
from masip.linkage.state import (
    LinkageState,
    chosen_rows,
    merged_pairs,
    previous_roots,
    previous_rows,
    reusable_pairs,
)

if TYPE_CHECKING:
    from masip.linkage.backends import ScoringBackend

__all__ = [
    "KEY_COLUMNS",
    "LINK_METHODS",
    "LINK_PROBABILITY",
    "OUTPUT_COLUMNS",
    "TOKEN_RULES",
    "LinkageRun",
    "LinkageState",
    "link_deterministic",
    "link_for_review",
    "link_person_records",
    "link_with_state",
    "person_id_for",
]

log = logging.getLogger(__name__)

#: Posterior probability from which a scored pair is linked: the top of the clerical review band. Below
#: it a pair is not merged but queued for review (issue 14): a false merge puts a stranger's crimes into
#: a victim's case pack, which costs far more than a missed link a reviewer can still make. On the
#: 20,000-dyad benchmark partnership this took precision from 0.9932 to 0.9957 for 0.0001 of recall.
LINK_PROBABILITY = REVIEW_BAND_HIGH
#: Decimals of the reported match_probability (see _output).
PROBABILITY_DECIMALS = 3
PROBABILISTIC_RANK = METHODS.index("PROBABILISTIC")
CONTEXT_RANK = METHODS.index("CONTEXT")
CLERICAL_RANK = METHODS.index("CLERICAL")
#: The exact-identifier token columns (:data:`TOKEN_RULES`).
IDENTIFIER_TOKENS = frozenset(column for column, _ in TOKEN_RULES)
#: The date a record role's record was first delivered (optional column of the records): the person's
#: first-delivered record names the person (see the module docstring). Records without it count as
#: delivered last.
FIRST_DELIVERED = "first_delivered_date"


@dataclass(frozen=True)
class CanonicalRecords:
    """Record roles as the linkage reads them (:func:`canonical_records`): ``frame``, sorted by member key and
    compacted, and the sorted member ``keys``."""

    frame: pd.DataFrame
    keys: pa.Array


def canonical_records(records: pd.DataFrame, consume: bool = False) -> CanonicalRecords:
    """:func:`_canonical` as :class:`CanonicalRecords`, for :func:`link_for_review`.

    With ``consume``, each column of ``records`` is dropped from it once compacted, so a national year's
    records are never in memory twice; the caller is left with an empty frame.
    """
    return CanonicalRecords(*_canonical(records, consume))


def compact_tokens(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with its tokens and token lists as 64-bit integers (:func:`comparisons.token_ints`), each
    column copied out of the batch.

    The vault stores tokens as these integers (ingest makes them so); a vault of an
    older release holds hex text, converted here batch by batch as it is read, so its hex tokens are never
    all in memory at once. :func:`_canonical` leaves integers as they are.
    """

    def compacted(name: str) -> pa.Array:
        scored = _token_integers(name, batch.column(name))
        # a copy either way: a column imported from DuckDB keeps its whole batch alive (integers pass through
        # the conversion as they are, in the batch's own buffers)
        return pa.concat_arrays([batch.column(name) if scored is None else scored])

    return pa.RecordBatch.from_arrays([compacted(name) for name in batch.schema.names], names=batch.schema.names)


def _token_integers(name: str, values: pd.Series | pa.Array) -> pa.Array | None:
    """Token column ``name`` as 64-bit integers (lists of them for token lists): what the scorer compares, and
    for the identifier tokens equality codes that are the same in every run (the clustering reuses last
    week's decisions by them); ``None`` for any other column. Integers pass through unchanged."""
    from masip.linkage import comparisons as C
    from masip.linkage import fuzzy

    if name in fuzzy.TOKEN_COLUMNS or name in IDENTIFIER_TOKENS:
        return C.token_ints(values)
    if name in fuzzy.TOKEN_LIST_COLUMNS:
        return C.token_int_lists(values)
    return None


def _canonical(records: pd.DataFrame, consume: bool = False) -> tuple[pd.DataFrame, pa.Array]:
    """The columns the linkage reads, sorted by member key and compacted, and the sorted keys.

    Sorted so that everything downstream depends on content, not row order
    (duplicate record roles are refused). Compacted because this is a copy
    of millions of rows: tokens become 64-bit integers
    (:func:`_token_integers`), a quarter of the memory of hex strings; Bloom
    filters stay as they are; other columns are not read.
    """
    from masip.linkage import comparisons as C
    from masip.linkage import fuzzy

    order, sorted_keys = sorted_member_keys(records)

    def compacted(values: pd.Series) -> pa.Array:
        integers = _token_integers(values.name, values)
        return integers if integers is not None else C.column_array(values.to_frame(), values.name)

    read = {
        *KEY_COLUMNS, FIRST_DELIVERED, "sex", *fuzzy.CLEAR_COLUMNS, *IDENTIFIER_TOKENS, *fuzzy.TOKEN_COLUMNS,
        *fuzzy.TOKEN_LIST_COLUMNS, *fuzzy.BLOOM_BITS,
    }
    take = pa.array(order)
    compact = {}
    for column in [c for c in records.columns if c in read]:
        values = records.pop(column) if consume else records[column]
        compact[column] = pd.arrays.ArrowExtensionArray(compacted(values).take(take))
        del values
    return pd.DataFrame(compact), sorted_keys


def _edges(i, j, rank, probability) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "i": np.asarray(i, dtype=np.int64),
            "j": np.asarray(j, dtype=np.int64),
            "rank": np.broadcast_to(np.asarray(rank, dtype=np.int64), np.shape(i)).copy(),
            "probability": np.asarray(probability, dtype=float),
        }
    )


def _scored_edges(
    records: pd.DataFrame, weak: np.ndarray, pairs: pd.DataFrame, model
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fellegi–Sunter and crime-reference edges from the scored candidate ``pairs``, and those of them held
    back from the clustering because the two forenames differ (:mod:`masip.linkage.ambiguity`)."""
    from masip.linkage import fuzzy

    a = pairs["uid_l"].to_numpy(dtype=np.int64)
    b = pairs["uid_r"].to_numpy(dtype=np.int64)
    weight = pairs["match_weight"].to_numpy(dtype=float)
    probability = fuzzy.rescore(weight, model.prior_weight, model.prior_for(len(records)))
    # never on the name alone: the pair must also compare a date of birth or a postcode
    dob = ctx.present(records, "dob_token")
    postcode = ctx.present(records, "postcode_token")
    beyond_name = (dob[a] & dob[b]) | (postcode[a] & postcode[b])
    probabilistic = (probability >= LINK_PROBABILITY) & beyond_name & ~weak[a] & ~weak[b]
    keys = pd.factorize(records["ctx_key"].to_numpy(dtype=object), use_na_sentinel=True)[0]
    same_ctx = (keys[a] >= 0) & (keys[a] == keys[b])
    in_context = fuzzy.rescore(weight, model.prior_weight, ctx.CRIME_REF_PRIOR)
    context_links = same_ctx & (in_context >= ctx.ACCEPT)
    differ = pairs["forenames_differ"].to_numpy(dtype=bool)

    def edges(kept: np.ndarray) -> pd.DataFrame:  # masked before the frame is made: a national year's edges are
        # tens of millions, and a frame filtered afterwards would be a second copy of them
        linked, in_ctx = probabilistic & kept, context_links & kept
        return pd.concat(
            [
                _edges(a[linked], b[linked], PROBABILISTIC_RANK, probability[linked]),
                _edges(a[in_ctx], b[in_ctx], CONTEXT_RANK, in_context[in_ctx]),
            ],
            ignore_index=True,
        )

    return edges(~differ), edges(differ)


def _context_edges_without_model(records: pd.DataFrame) -> pd.DataFrame:
    """Crime-reference links when there is nothing to score (tokens-only input)."""
    keys = records["ctx_key"]
    rows = pd.Series(np.arange(len(records)))[keys.notna().to_numpy()]
    if rows.empty:
        return _edges([], [], CONTEXT_RANK, [])
    first = rows.groupby(keys[keys.notna()].to_numpy()).transform("min").to_numpy()
    keep = rows.to_numpy() != first
    return _edges(first[keep], rows.to_numpy()[keep], CONTEXT_RANK, np.full(keep.sum(), ctx.CRIME_REF_PRIOR))


def _dyad_edges(records: pd.DataFrame, labels: np.ndarray, scorer, model) -> pd.DataFrame:
    """Context links of unresolved roles through their partner's other dyads.

    Unresolved: a singleton, or in a cluster with no date of birth and no
    identifier (e.g. a name-only perpetrator tied to a crime's suspect that
    was itself recorded with a surname and postcode only).
    """
    n = len(records)
    partner = ctx.partners(records)
    sizes = np.bincount(labels, minlength=n)
    anchored = np.zeros(n, dtype=bool)  # cluster holds a date of birth or an identifier
    anchored[labels[ctx.anchored(records)]] = True
    unresolved = (sizes[labels] == 1) | ~anchored[labels]
    todo = np.flatnonzero(unresolved & (partner >= 0))
    if not len(todo):
        return _edges([], [], CONTEXT_RANK, [])
    partner_person = np.where(partner >= 0, labels[np.maximum(partner, 0)], -1)
    role = (records["role"].astype(str).to_numpy() == "VICTIM").astype(np.int64)
    group = partner_person * 2 + role
    crowded = ctx.crowded_groups(group, todo)
    if crowded.any():
        log.warning(
            "%d record roles were not linked through their partner's other records: each is one of over %d roles "
            "of one kind opposite one person (a default or placeholder partner in a delivery?); they stay as the "
            "identifiers link them", int(crowded.sum()), ctx.MAX_DYAD_GROUP,
        )
        todo = todo[~crowded]
        if not len(todo):
            return _edges([], [], CONTEXT_RANK, [])
    extra = {
        "partner_person": partner_person,
        "role_code": role,
        "needs_context": np.isin(np.arange(n), todo).astype(np.int64),
    }
    rule = (
        "l.partner_person = r.partner_person and l.partner_person >= 0 and l.role_code = r.role_code "
        "and (l.needs_context = 1 or r.needs_context = 1)"
    )
    # only roles opposite a partner person of a role to resolve can pair under the rule
    rows = np.flatnonzero((partner_person >= 0) & np.isin(group, group[todo]))
    # every candidate is scored (no weight cut-off): each one dilutes the prior
    rescored = scorer.predict(model, rules=[rule], rows=rows, extra=extra, min_weight=-1000.0)
    found = ctx.resolve_dyads(rescored, labels, partner, todo, model.prior_weight)
    return _edges(found["i"], found["j"], CONTEXT_RANK, found["probability"])


def link_person_records(
    records: pd.DataFrame, context: pd.DataFrame | None = None, previous: LinkageState | None = None
) -> pd.DataFrame:
    """Assign a ``person_id`` to each record role in ``records``.

    ``records`` holds live record roles joined to their vault encodings (the
    columns ``connectors.raw_schema.PERSON_RECORD_COLUMNS``; columns that are
    absent count as missing; object or Arrow-backed columns). ``context``
    optionally says which police crime each record is about (``source_id,
    source_table, record_ref, force, crime_ref``; see
    :func:`masip.linkage.context.context_keys`). ``previous``: see
    :func:`link_with_state`.

    Returns one row per input row: ``source_id, source_table, record_ref,
    role, person_id, link_method, match_probability``, sorted by member key
    so the result does not depend on input order. ``link_method`` is the
    strongest kind of link that joined the role to another one (``PNC``,
    ``NHS``, ``CRN``, ``NAME_DOB``, ``PROBABILISTIC``, ``CONTEXT``) or
    ``SINGLETON``; ``match_probability`` is 1.0 for identifier links, the
    highest posterior probability of its links of that kind otherwise, and
    NULL for a singleton.
    """
    return link_with_state(records, context, previous)[0]


def link_with_state(
    records: pd.DataFrame, context: pd.DataFrame | None = None, previous: LinkageState | None = None
) -> tuple[pd.DataFrame, LinkageState]:
    """:func:`link_person_records`, and the :class:`LinkageState` the next run can start from.

    Without ``previous`` (or with one that has no model) the model is
    trained on ``records``. With ``previous`` its model and term frequencies
    are used as they are (no training), and its scored pairs between records
    whose fingerprint is unchanged are reused: only pairs with at least one
    new or changed record are scored. The links are identical to those of a
    run given ``previous.without_pairs()`` (the same frozen model, every pair
    scored). Typical use::

        links, state = link_with_state(records, context)                   # full run: trains
        state.save(directory)                                              # keep it
        links, state = link_with_state(new_records, new_context,           # a week later:
                                       previous=LinkageState.load(directory))  # incremental

    Retrain from time to time (a run without ``previous``): the frozen model
    does not learn from new data.
    """
    run = link_for_review(records, context, previous, with_queue=False)
    return run.links, run.state


@dataclass(frozen=True)
class LinkageRun:
    """What :func:`link_for_review` returns: the links, the state, and the clerical review queue.

    ``review_queue``: one row per uncertain pair (:mod:`masip.linkage.review`):
    both roles' key columns (suffixes ``_a``, ``_b``) and person_ids, then
    :data:`masip.linkage.review.QUEUE_COLUMNS`; ``review_fields``: the
    agreement level and match weight of each compared field of each item.
    """

    links: pd.DataFrame
    state: LinkageState
    review_queue: pd.DataFrame
    review_fields: pd.DataFrame


def link_for_review(
    records: pd.DataFrame | CanonicalRecords, context: pd.DataFrame | None = None, previous: LinkageState | None = None,
    decisions: Decisions | None = None, with_queue: bool = True, backend: ScoringBackend | None = None,
) -> LinkageRun:
    """:func:`link_with_state` under clerical review ``decisions`` (must-link / cannot-link), with the review queue.

    ``with_queue=False`` leaves the queue empty (and skips scoring its fields): what
    :func:`link_with_state` and the benchmarks, which have no reviewers, do.
    ``backend``: where Splink scores (default: an in-process DuckDB database;
    :class:`masip.spark.linkage.SparkBackend` on Spark), which the scorer closes.
    ``records`` may come canonical already (:func:`canonical_records`).
    """
    from masip.linkage import fuzzy
    from masip.linkage import review as rv
    from masip.linkage.scorer import Scorer, training_sample

    canonical = records if isinstance(records, CanonicalRecords) else canonical_records(records)
    recs, sorted_keys = canonical.frame, canonical.keys
    del records, canonical
    n = len(recs)
    recs["ctx_key"] = ctx.context_keys(recs, context)
    weak = ctx.name_only(recs)
    attrs = Attributes.from_records(recs)
    must, cannot = rv.constraint_rows(decisions or Decisions.none(), sorted_keys)
    cannot = np.concatenate([cannot, same_record_pairs(recs)])  # a record's two roles: never one person
    frozen = previous if previous is not None and previous.model is not None else None
    # a caller that hands these over without keeping them (the linkage stage) gets their memory back here
    del context, previous
    queue = pd.DataFrame({"i": [], "j": [], "review_id": []})
    fields = rv.no_fields()
    if n >= 2 and fuzzy.has_fuzzy_encodings(recs):
        encoded = fuzzy.encoded_rows(recs)
        with Scorer(recs, frozen.term_frequencies if frozen else None, backend) as scorer:
            # the scorer holds its own copy of the filters: a third of a national year's memory otherwise
            recs.drop(columns=[c for c in fuzzy.BLOOM_BITS if c in recs], inplace=True)
            # and Arrow's allocator keeps what it frees: about 2 GiB of a national year (the filters, the
            # prepared batches) would stay in the process through the scoring, beside the scorer's database
            pa.default_memory_pool().release_unused()
            # identical records beyond the first hundred are paired with their first alone (masip.linkage.copies)
            copies = scorer.pair_copies_once()
            model = fuzzy.Model.from_json(frozen.model) if frozen else scorer.train(
                copies.trained(training_sample(sorted_keys), encoded)
            )
            del encoded
            fingerprints = scorer.fingerprints()
            carried = previous_rows(frozen, sorted_keys) if frozen else None
            known_fields = frozen.review_fields if frozen else None
            clustered = previous_roots(frozen, carried) if frozen else None
            reuse = reusable_pairs(frozen, carried, fingerprints) if frozen and not frozen.records.empty else None
            # the previous run's pairs, not needed once renumbered: most of a gigabyte at a national year
            frozen = carried = None
            state, changed = _scored_state(scorer, model, sorted_keys, fingerprints, reuse, copies)
            scored_links, twins = _scored_edges(recs, weak, state.pairs, model)
            # pairs whose forenames differ, and an undated record that two namesakes' sure links reach, are not
            # linked: queued (masip.linkage.ambiguity). Found among the scored links, the only probabilistic
            # ones, before they join the token links: a national year's edges are copied once, not three times
            held = undated_between_namesakes(scored_links, attrs.dob, PROBABILISTIC_RANK)
            held_back = _combined([twins, chosen_rows(scored_links, held)])
            edges = _combined([token_edges(recs), chosen_rows(scored_links, ~held)])
            del scored_links, twins
            labels, effective, roots = cluster_reusing(
                n, edges, attrs, must, cannot, row_identities(recs, sorted_keys), clustered
            )
            state = state.with_roots(roots)
            more = _dyad_edges(recs, labels, scorer, model)
            if len(more):
                edges = _combined([edges, more])
                labels, effective = recluster(n, edges, more, labels, attrs, must, cannot)
            if with_queue:
                # scored pairs at the probability their link was decided at (the prior for this run's size)
                decided_at = fuzzy.rescore(state.pairs["match_weight"].to_numpy(dtype=float), model.prior_weight,
                                           model.prior_for(n))
                # a frame of views, not a copy of a national year's tens of millions of pairs
                scored = pd.DataFrame(
                    {"uid_l": state.pairs["uid_l"], "uid_r": state.pairs["uid_r"], "match_probability": decided_at},
                    copy=False,
                )
                queue = rv.banded_pairs(n, edges, effective, scored, must, cannot, held_back)
                keys = sorted_keys.to_numpy(zero_copy_only=False)
                queue["review_id"] = [rv.review_id_for(keys[a], keys[b]) for a, b in zip(queue["i"], queue["j"])]
                fields = rv.queue_fields(scorer, model, queue, known_fields, changed)
                state = replace(state, review_fields=fields)
    else:
        state = frozen.without_pairs() if frozen else LinkageState()
        edges = _combined([token_edges(recs), _context_edges_without_model(recs) if n >= 2 else _edges([], [], 0, [])])
        labels, effective = cluster(n, edges, attrs, must, cannot)
    # the reviewers' "same person" links that joined two roles (for link_method CLERICAL)
    joined = must[labels[must[:, 0]] == labels[must[:, 1]]] if len(must) else must
    clerical = _edges(joined[:, 0], joined[:, 1], CLERICAL_RANK, np.ones(len(joined)))
    links = _output(recs, sorted_keys, labels, [(edges, effective), (clerical, np.ones(len(clerical), dtype=bool))])
    return LinkageRun(links, state, _queue_output(links, queue), fields)


def _queue_output(links: pd.DataFrame, queue: pd.DataFrame) -> pd.DataFrame:
    """The queue's pairs of rows as both roles' keys and current person_ids, and the pair's evidence."""
    from masip.linkage import review as rv

    a = links.iloc[queue["i"].to_numpy(dtype=np.int64)].reset_index(drop=True)
    b = links.iloc[queue["j"].to_numpy(dtype=np.int64)].reset_index(drop=True)
    out = pd.concat(
        [a[[*KEY_COLUMNS, "person_id"]].add_suffix("_a"), b[[*KEY_COLUMNS, "person_id"]].add_suffix("_b")], axis=1
    )
    for column in rv.QUEUE_COLUMNS:
        if column != "linked":
            out[column] = queue[column].to_numpy() if len(queue) else pd.Series([], dtype=object)
    out["linked"] = (out["person_id_a"] == out["person_id_b"]).astype(bool)
    return out


def _scored_state(
    scorer, model, keys: pa.Array, fingerprints: np.ndarray, reuse: tuple[dict[str, np.ndarray], np.ndarray] | None,
    copies: Copies,
) -> tuple[LinkageState, np.ndarray | None]:
    """Score the candidate pairs into a new state, only those of new or changed records when given ``reuse``
    (:func:`state.reusable_pairs`: the previous run's pairs between unchanged records, which this consumes, and
    which records are new or changed); and those records (None when every pair was scored). Surplus ``copies``
    are paired with their group's first (:mod:`masip.linkage.copies`)."""
    if reuse is None:
        pairs, changed = scorer.predict(model), None
    else:
        reused, changed = reuse
        log.info("person linkage: %d pairs reused, %d records new or changed", len(reused["uid_l"]), int(changed.sum()))
        pairs = merged_pairs(reused, scorer.predict(model, changed=changed))
    pairs = copies.with_pairs_to_first(pairs)
    return LinkageState.of_run(model.to_json(), scorer.term_frequencies(model), keys, fingerprints, pairs), changed


def _combined(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Edge lists as one, with the edge dtypes even when empty."""
    parts = [p for p in parts if len(p)] or [_edges([], [], 0, [])]
    edges = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    # columns already of these types are not copied: tens of millions of edges at a national year
    return edges.astype({"i": np.int64, "j": np.int64, "rank": np.int64, "probability": float}, copy=False)


def _strongest_links(n: int, parts: list[tuple[pd.DataFrame, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Each of ``n`` records' strongest effective link: (rank, its best probability); ``len(METHODS)`` and NaN
    for a record no effective edge touches.

    ``parts``: edge lists, each with whether each edge is effective. Each end of each part is folded in on
    its own, never one concatenated copy of a national year's tens of millions of edge ends.
    """
    kept = [{c: edges[c].to_numpy()[effective] for c in ("i", "j", "rank", "probability")} for edges, effective in parts]
    rank = np.full(n, len(METHODS), dtype=np.int64)
    for part in kept:
        for end in ("i", "j"):
            np.minimum.at(rank, part[end], part["rank"])
    probability = np.full(n, -np.inf)
    for part in kept:
        for end in ("i", "j"):
            strongest = part["rank"] == rank[part[end]]
            np.maximum.at(probability, part[end][strongest], part["probability"][strongest])
    probability[rank == len(METHODS)] = np.nan
    return rank, probability


def _person_ids(recs: pd.DataFrame, sorted_keys: pa.Array, labels: np.ndarray) -> np.ndarray:
    """Each row's ``person_id``: the hash of the member key of its person's first-delivered record, the
    smallest key among those first delivered on one day (rows are sorted by member key)."""
    from masip.linkage import comparisons as C

    n = len(recs)
    if not n:
        return np.empty(0, dtype=object)
    delivered = C.column_array(recs, FIRST_DELIVERED).cast(pa.date32()).cast(pa.int32())
    days = pc.fill_null(delivered, np.iinfo(np.int32).max).to_numpy()
    by_person = np.lexsort((np.arange(n), days, labels))  # person, then first delivered, then member key
    first = np.ones(n, dtype=bool)
    first[1:] = labels[by_person][1:] != labels[by_person][:-1]
    named_by = by_person[first]  # one row per person, in label order
    _, person = np.unique(labels, return_inverse=True)
    return np.array([person_id_for(k) for k in sorted_keys.take(named_by).to_pylist()], dtype=object)[person]


def _output(recs, sorted_keys, labels, parts: list[tuple[pd.DataFrame, np.ndarray]]) -> pd.DataFrame:
    n = len(recs)
    person_ids = _person_ids(recs, sorted_keys, labels)
    rank, probability = _strongest_links(n, parts)
    methods = np.array([*METHODS, SINGLETON], dtype=object)
    out = pd.DataFrame({c: recs[c].astype(object).to_numpy() for c in KEY_COLUMNS})
    out["person_id"] = person_ids
    out["link_method"] = methods[rank]
    # Rounded to 3 decimals, which is all the precision the estimate has: the
    # last bits of a score depend on DuckDB's parallel summation order, and
    # the Dice similarity of two keyed Bloom filters moves by a few hundredths
    # with the key (which bigrams share bit positions), so after a key
    # rotation a probability can change in its 4th decimal (clusters do not).
    out["match_probability"] = pd.array(np.round(probability, PROBABILITY_DECIMALS), dtype="Float64")
    out.loc[rank == len(METHODS), "match_probability"] = pd.NA
    return out[list(OUTPUT_COLUMNS)]
