"""Guarded clustering of record roles into persons.

Edges (pairs of record roles believed to be the same person) are merged
greedily, strongest first, into clusters, with guards against chaining:

* never put two different valid PNC tokens, or two different NHS number
  tokens, in one cluster (national identifiers are unique per person);
* for edges that are not a national or probation identifier (``NAME_DOB``,
  ``PROBABILISTIC``, ``CONTEXT``): never merge clusters holding different
  known sexes (F and M), or dates of birth that cannot be the same one
  mis-keyed (see :func:`dobs_compatible`);
* for an identifier edge (PNC, NHS number, CRN): never merge clusters that
  differ in both, known sex and date of birth. An identifier outweighs one
  of them wrong (an offender's false date of birth, a sex mis-keyed), but
  not both at once: that is an identifier copied onto another person's
  record (outside check, 2026-12-06: a victim's health contact carrying her
  perpetrator's NHS number made her part of him);
* never the two roles of one record (a crime's victim and suspect, an
  order's protected person and subject, an advocacy case's client and
  perpetrator): :func:`same_record_pairs` are cannot-links (below);
* for such an edge with a record that has no forename at one end: never
  merge two clusters whose forenames, compared where they were recorded
  with the same date of birth, share neither a forename token nor a
  nickname group (:meth:`Attributes.from_records`). A record of "Jones,
  born 3 May 1970" without a forename agrees with John Jones and David
  Jones of that date alike; it joins the one it links to most strongly
  and must not make the two men one person (issue 14: at a national year
  such bridges were a third of all false merges). Edges whose two records
  both carry a forename are left to the model, which weighs their own
  forename evidence.

An edge refused by a guard is simply not used; later, weaker edges are
still tried. Edges are ordered by (method rank, descending probability,
smaller endpoint, larger endpoint), and endpoints are row numbers in
member-key order, so the result depends only on the content.

Clerical review decisions (:mod:`masip.linkage.review`) come in as two
explicit constraints, each an array of row pairs:

* ``must_link``: united before any edge, skipping the sex and date-of-birth
  guards (the reviewer looked both records up), but never joining two
  different PNCs or NHS numbers, nor breaking a cannot-link;
* ``cannot_link``: the two rows never end up in one cluster. This beats
  every edge, identifier edges included: a reviewer's "not the same person"
  on two records sharing a PNC or NHS number token says that identifier was
  mis-recorded, so the shared identifier joins each record to its own side
  only (strongest edges first, as always) and the two persons stay apart.

Scale: most components contain no conflict at all. Connected components
are found first with :mod:`scipy.sparse.csgraph`; only components that hold
a conflicting pair of values are re-clustered edge by edge in Python, so a
million records of exact tokens still cluster in seconds. When more edges
arrive after a clustering (the dyad pass), :func:`recluster` clusters again
only the components they touch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import ArrayLike
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from masip.linkage import comparisons as C
from masip.linkage.cluster_reuse import (
    GuardedRoots,
    component_signatures,
    positions_in_groups,
    reusable,
)

#: Link methods, strongest first (the order of ``link_method`` precedence).
#: ``CLERICAL`` (a reviewer's "same person", :mod:`masip.linkage.review`) comes last: it never enters
#: the edge order (must-links are their own parameter of :func:`cluster`) and names a role's link only
#: when no algorithmic link joined it.
METHODS: tuple[str, ...] = ("PNC", "NHS", "CRN", "NAME_DOB", "PROBABILISTIC", "CONTEXT", "CLERICAL")
SINGLETON = "SINGLETON"
#: Methods whose edges skip the sex and date-of-birth guards (identifiers).
IDENTIFIER_METHODS = frozenset({"PNC", "NHS", "CRN"})


def _codes(records: pd.DataFrame, column: str) -> np.ndarray:
    """Integer code of each value of ``column``; -1 for missing or blank."""
    if column not in records:
        return np.full(len(records), -1, dtype=np.int64)
    codes, uniques = pd.factorize(records[column], use_na_sentinel=True)
    codes = codes.astype(np.int64)
    blank = np.flatnonzero(np.asarray(uniques, dtype=object) == "")
    codes[np.isin(codes, blank)] = -1
    return codes


@dataclass(frozen=True)
class Attributes:
    """Per-record values the guards look at (arrays aligned with the records; -1 = unknown)."""

    pnc: np.ndarray  # int codes, -1 unknown
    nhs: np.ndarray
    sex: np.ndarray  # 0 unknown, 1 F, 2 M
    dob: np.ndarray  # (n, 4) codes of (dob, unordered, year+month, year+day); dob[:, 0] == -1: no date of birth
    forename: np.ndarray  # int codes of the forename token, -1 unknown
    #: each row's forename evidence as a CSR list of codes: its forename token and its nickname-group
    #: tokens (both keyed with the whole date of birth, so equal codes mean equal names or groups of one date)
    name_codes: np.ndarray
    name_offsets: np.ndarray

    @classmethod
    def from_records(cls, records: pd.DataFrame) -> Attributes:
        n = len(records)
        sex = np.zeros(n, dtype=np.int8)
        if "sex" in records:
            s = records["sex"].to_numpy(dtype=object, na_value=None)
            sex[s == "F"] = 1
            sex[s == "M"] = 2
        dob = np.full((n, 4), -1, dtype=np.int64)
        if "dob_token" in records:
            columns = ("dob_token", "dob_unordered_token", "dob_year_month_token", "dob_year_day_token")
            dob = np.stack([_codes(records, c) for c in columns], axis=1)
        forename = _codes(records, "forename_token")
        return cls(_codes(records, "pnc_token"), _codes(records, "nhs_token"), sex, dob, forename,
                   *_name_codes(records, forename))

    def take(self, rows: np.ndarray) -> Attributes:
        """The attributes of ``rows`` (row numbers), in that order."""
        starts = self.name_offsets[rows]
        lengths = self.name_offsets[rows + 1] - starts
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        codes = self.name_codes[np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])]
        return Attributes(self.pnc[rows], self.nhs[rows], self.sex[rows], self.dob[rows], self.forename[rows], codes,
                          offsets)


def _name_codes(records: pd.DataFrame, forename: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, offsets): each row's forename token and nickname-group tokens, as the 64-bit integers the
    scorer compares (:func:`comparisons.token_ints`), laid out row after row (no sort of a national year's
    36 million codes: the group lists already come in row order).

    Forename and group tokens are keyed for different purposes, so they are equal only by a 64-bit
    collision, the risk every token comparison of the linkage takes.
    """
    variants = C.token_int_lists(C.column_array(records, "forename_variant_tokens"))
    variants = variants.combine_chunks() if isinstance(variants, pa.ChunkedArray) else variants
    groups = pc.fill_null(pc.list_value_length(variants), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    has_forename = (forename >= 0).astype(np.int64)
    offsets = np.zeros(len(forename) + 1, dtype=np.int64)
    np.cumsum(has_forename + groups, out=offsets[1:])
    codes = np.empty(int(offsets[-1]), dtype=np.int64)
    own = pc.fill_null(C.token_ints(C.column_array(records, "forename_token")), 0).to_numpy(zero_copy_only=False)
    codes[offsets[:-1][has_forename == 1]] = own[has_forename == 1]
    group_starts = np.cumsum(groups) - groups
    within = np.arange(int(groups.sum())) - np.repeat(group_starts, groups)
    codes[np.repeat(offsets[:-1] + has_forename, groups) + within] = pc.list_flatten(variants).to_numpy(
        zero_copy_only=False
    )
    return codes, offsets


def dobs_compatible(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Whether two known dates of birth can be one person's, mis-keyed.

    Equal; day and month swapped (equal unordered tokens); or the year and
    one of day and month equal (one part mis-typed). A record without the
    partial tokens (older input) is compared on the full date only and
    otherwise given the benefit of the doubt. ``a`` and ``b`` are (dob,
    unordered, year+month, year+day) codes (-1 unknown), or arrays of them
    along the last axis, which broadcast.
    """
    a, b = np.asarray(a), np.asarray(b)
    parts_a, parts_b = a[..., 1:4], b[..., 1:4]
    return (
        (a[..., 0] == b[..., 0])
        | (np.minimum(parts_a.min(axis=-1), parts_b.min(axis=-1)) < 0)
        | (parts_a == parts_b).any(axis=-1)
    )


def _dob_pair_compatible(a: tuple, b: tuple) -> bool:
    """:func:`dobs_compatible` of two single (dob, unordered, year+month, year+day) tuples, in plain Python
    (the union-find asks it once per guarded union: building arrays for it cost more than the rule)."""
    return (
        a[0] == b[0] or min(a[1], a[2], a[3], b[1], b[2], b[3]) < 0 or a[1] == b[1] or a[2] == b[2] or a[3] == b[3]
    )


class _Clusters:
    """Union-find whose roots carry the guarded attributes of their cluster.

    Plain Python lists indexed by row number (a million-row list is cheaper
    than building dicts for the conflicting components).
    """

    def __init__(self, attrs: Attributes, cannot_link: np.ndarray | None = None) -> None:
        n = len(attrs.pnc)
        self.parent = list(range(n))
        self.pnc = attrs.pnc.tolist()
        self.nhs = attrs.nhs.tolist()
        self.sex = attrs.sex.tolist()
        self.dob = attrs.dob.tolist()
        self.dobs: dict[int, set[tuple]] = {}
        self.has_forename = (attrs.forename >= 0).tolist()
        self.name_codes, self.name_offsets = attrs.name_codes.tolist(), attrs.name_offsets.tolist()
        self.names: dict[int, tuple[set[int], set[int]]] = {}
        # --- clerical review: rows each cluster root must never be joined with (cannot-link) ---
        self.apart: dict[int, set[int]] = {}
        for a, b in (cannot_link if cannot_link is not None else np.empty((0, 2), dtype=np.int64)).tolist():
            self.apart.setdefault(a, set()).add(b)
            self.apart.setdefault(b, set()).add(a)

    def _kept_apart(self, ra: int, rb: int) -> bool:
        """Whether a cannot-link forbids joining the clusters of roots ``ra`` and ``rb``."""
        return any(self.find(x) == rb for x in self.apart.get(ra, ())) or any(
            self.find(x) == ra for x in self.apart.get(rb, ())
        )

    def _dobs(self, root: int) -> set[tuple] | None:
        """The dates of birth of ``root``'s cluster, or None when it has none."""
        found = self.dobs.get(root)
        if found is None and self.dob[root][0] >= 0:
            found = self.dobs[root] = {tuple(self.dob[root])}
        return found

    def _dobs_compatible(self, ra: int, rb: int) -> bool:
        """Whether every date of birth of one cluster can be every one of the other's, mis-keyed."""
        da, db = self._dobs(ra), self._dobs(rb)
        return not (da and db) or all(_dob_pair_compatible(x, y) for x in da for y in db)

    def _names(self, root: int) -> tuple[set[int], set[int]] | None:
        """(dates of birth, forename and nickname-group codes) of ``root``'s cluster's records that have both."""
        found = self.names.get(root)
        if found is None and self.has_forename[root] and self.dob[root][1] >= 0:
            start, end = self.name_offsets[root], self.name_offsets[root + 1]
            found = self.names[root] = ({self.dob[root][1]}, set(self.name_codes[start:end]))
        return found

    def _forenames_differ(self, ra: int, rb: int) -> bool:
        """Whether the clusters hold forenames recorded with one date of birth, none the same name or group."""
        na, nb = self._names(ra), self._names(rb)
        return bool(na and nb and na[0] & nb[0] and not na[1] & nb[1])

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(self, a: int, b: int, identifier: bool, reviewed: bool = False) -> bool:
        """Join the clusters of rows ``a`` and ``b`` unless a guard (module docstring) refuses; whether they are one.
        ``identifier``: an edge of :data:`IDENTIFIER_METHODS`; ``reviewed``: a reviewer's "same person"."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        pnc, nhs, sex = self.pnc, self.nhs, self.sex
        if pnc[ra] >= 0 and pnc[rb] >= 0 and pnc[ra] != pnc[rb]:
            return False
        if nhs[ra] >= 0 and nhs[rb] >= 0 and nhs[ra] != nhs[rb]:
            return False
        if self.apart and self._kept_apart(ra, rb):
            return False
        sexes_differ = bool(sex[ra] and sex[rb] and sex[ra] != sex[rb])
        if identifier:
            if sexes_differ and not reviewed and not self._dobs_compatible(ra, rb):
                return False  # an identifier copied onto another person's record (module docstring)
        else:
            if sexes_differ or not self._dobs_compatible(ra, rb):
                return False
            if not (self.has_forename[a] and self.has_forename[b]) and self._forenames_differ(ra, rb):
                return False
        if ra > rb:
            ra, rb = rb, ra
        self.parent[rb] = ra
        pnc[ra] = max(pnc[ra], pnc[rb])
        nhs[ra] = max(nhs[ra], nhs[rb])
        sex[ra] = sex[ra] or sex[rb]
        da, db = self._dobs(ra), self._dobs(rb)
        if db:
            self.dobs[ra] = (da or set()) | db
            self.dobs.pop(rb, None)
        na, nb = self._names(ra), self._names(rb)
        if nb:
            self.names[ra] = (na[0] | nb[0], na[1] | nb[1]) if na else nb
            self.names.pop(rb, None)
        if rb in self.apart:
            self.apart[ra] = self.apart.get(ra, set()) | self.apart.pop(rb)
        return True


#: A component with more distinct dates of birth than this is re-clustered
#: without checking their pairs (which grow with the square of the count).
MAX_DOBS_CHECKED = 64


def _incompatible_dobs(labels: np.ndarray, dob: np.ndarray) -> set[int]:
    """Components holding two dates of birth that :func:`dobs_compatible` would keep apart.

    A mis-keyed date (a typo, day and month swapped) gives one person's
    component two different dates that are still compatible; such a
    component needs no edge-by-edge clustering, since no union in it can be
    refused on dates.
    """
    known = dob[:, 0] >= 0
    columns = ["d", "unordered", "year_month", "year_day"]
    frame = pd.DataFrame(dob[known], columns=columns)
    frame.insert(0, "c", labels[known])
    frame = frame.drop_duplicates()
    counts = frame["c"].value_counts()
    bad = set(counts.index[counts > MAX_DOBS_CHECKED].tolist())
    several = frame[frame["c"].isin(counts.index[(counts > 1) & (counts <= MAX_DOBS_CHECKED)])]
    pairs = several.merge(several, on="c", suffixes=("_a", "_b"))
    pairs = pairs[pairs["d_a"] < pairs["d_b"]]
    compatible = dobs_compatible(
        pairs[[f"{k}_a" for k in columns]].to_numpy(), pairs[[f"{k}_b" for k in columns]].to_numpy()
    )
    return bad | set(pairs["c"].to_numpy()[~compatible].tolist())


def _different_forenames(labels: np.ndarray, attrs: Attributes) -> set[int]:
    """Components with a record without a forename and two forename tokens of one date of birth.

    Only there can the forename guard refuse a union (a superset: forenames of
    one nickname group have different tokens but are not kept apart).
    """
    known = (attrs.forename >= 0) & (attrs.dob[:, 1] >= 0)
    frame = pd.DataFrame({"c": labels[known], "d": attrs.dob[known, 1], "f": attrs.forename[known]}).drop_duplicates()
    counts = frame.groupby(["c", "d"]).size()
    several = set(counts.index.get_level_values("c")[counts.to_numpy() > 1].tolist())
    return several & set(labels[attrs.forename < 0].tolist())


def _conflicting_components(labels: np.ndarray, attrs: Attributes) -> np.ndarray:
    """Component labels that hold two different PNCs, NHS numbers or known sexes, incompatible dates of birth,
    or forenames the forename guard may keep apart.

    Only these need the guarded edge-by-edge clustering: in any other
    component no guard can refuse a union, so it is one person.
    """
    bad: set[int] = set()
    sex = np.where(attrs.sex > 0, attrs.sex, -1).astype(np.int64)
    for values in (attrs.pnc, attrs.nhs, sex):
        known = values >= 0
        frame = pd.DataFrame({"c": labels[known], "v": values[known]})
        counts = frame.drop_duplicates().groupby("c").size()
        bad |= set(counts.index[counts > 1].tolist())
    bad |= _incompatible_dobs(labels, attrs.dob)
    bad |= _different_forenames(labels, attrs)
    return np.array(sorted(bad), dtype=np.int64)


def same_record_pairs(records: pd.DataFrame) -> np.ndarray:
    """Row pairs of the two roles of one record, never one person: neighbours in member-key order (``records``
    sorted by ``source_id|source_table|record_ref|role``) whose ``source_id``, ``source_table`` and ``record_ref``
    are equal."""
    if len(records) < 2:
        return np.empty((0, 2), dtype=np.int64)
    same = np.ones(len(records) - 1, dtype=bool)
    for column in ("source_id", "source_table", "record_ref"):
        values = C.column_array(records, column)
        same &= pc.fill_null(pc.equal(values[:-1], values[1:]), False).to_numpy(zero_copy_only=False)
    first = np.flatnonzero(same)
    return np.stack([first, first + 1], axis=1).astype(np.int64)


def _pairs(pairs: np.ndarray | None) -> np.ndarray:
    """Row pairs as an (k, 2) int64 array (none: an empty one)."""
    return np.empty((0, 2), dtype=np.int64) if pairs is None else np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


def cluster(
    n: int, edges: pd.DataFrame, attrs: Attributes, must_link: np.ndarray | None = None,
    cannot_link: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster ``n`` records joined by ``edges``; returns (labels, edge_is_effective).

    ``edges``: columns ``i``, ``j`` (row numbers), ``rank`` (index into
    :data:`METHODS`) and ``probability``. ``must_link`` and ``cannot_link``:
    clerical review decisions as (k, 2) arrays of row numbers (see the module
    docstring). ``labels[k]`` is the smallest row number of ``k``'s cluster.
    An edge is effective when its two ends end up in the same cluster.
    """
    labels, effective, _ = cluster_reusing(n, edges, attrs, must_link, cannot_link)
    return labels, effective


def cluster_reusing(
    n: int, edges: pd.DataFrame, attrs: Attributes, must_link: np.ndarray | None = None,
    cannot_link: np.ndarray | None = None, identify: Callable[[np.ndarray], np.ndarray] | None = None,
    previous: GuardedRoots | None = None,
) -> tuple[np.ndarray, np.ndarray, GuardedRoots]:
    """:func:`cluster`, taking over ``previous``'s roots for the components it clustered identically.

    ``identify``: row numbers -> their identities (:func:`cluster_reuse.row_identities`); without it
    nothing is signed or reused. ``previous``: the :class:`GuardedRoots` of an earlier run, mapped onto
    these rows (signature 0 for rows it did not have). Returns the labels, the effective edges, and this
    run's :class:`GuardedRoots` (for the next run; empty without ``identify``). The labels are those of
    :func:`cluster` (:mod:`masip.linkage.cluster_reuse`).
    """
    if n == 0:
        return np.empty(0, dtype=np.int64), np.zeros(len(edges), dtype=bool), GuardedRoots.none(0)
    must, cannot = _pairs(must_link), _pairs(cannot_link)
    i = edges["i"].to_numpy(dtype=np.int64)
    j = edges["j"].to_numpy(dtype=np.int64)
    components = _components(n, np.concatenate([i, must[:, 0]]), np.concatenate([j, must[:, 1]]))
    bad = _conflicting_components(components, attrs)
    # --- a component holding both rows of a cannot-link, or a must-link, is clustered edge by edge; a cannot-link
    # across components can never be broken, and is left out (the roles of every two-role record are one each)
    cannot = cannot[components[cannot[:, 0]] == components[cannot[:, 1]]]
    bad = np.union1d(bad, np.union1d(components[cannot[:, 0]], components[must[:, 0]]))
    labels = components.astype(np.int64)
    roots = GuardedRoots.none(n)
    if len(bad):
        nodes = np.flatnonzero(np.isin(components, bad))
        found = _guarded_rows(nodes, components[nodes], edges, attrs, must, cannot, identify, previous, roots)
        # conflicting components re-labelled by their roots, kept apart from the untouched numbers
        labels[nodes] = int(components.max()) + 1 + found
    return (*_canonical(labels, i, j), roots)


def _guarded_rows(
    nodes: np.ndarray, component: np.ndarray, edges: pd.DataFrame, attrs: Attributes, must: np.ndarray,
    cannot: np.ndarray, identify: Callable[[np.ndarray], np.ndarray] | None, previous: GuardedRoots | None,
    roots: GuardedRoots,
) -> np.ndarray:
    """The root row of each of ``nodes`` (whole components, ascending; ``component``: theirs): taken over from
    ``previous`` where its component's signature is unchanged, else by the guarded union-find. Fills ``roots``
    (this run's, every row) for ``nodes`` when ``identify`` is given."""
    if identify is None:
        return nodes[_guarded_roots(nodes, edges, attrs, must, cannot)]
    local = _numbered(len(roots.root), nodes)
    i, j = local[edges["i"].to_numpy(dtype=np.int64)], local[edges["j"].to_numpy(dtype=np.int64)]
    inside = i >= 0
    signature = component_signatures(
        component, identify(nodes),
        (i[inside], j[inside], edges["rank"].to_numpy(dtype=np.int64)[inside],
         edges["probability"].to_numpy(dtype=float)[inside]),
        _within(must, local), _within(cannot, local),
    )
    # each node's position among its component's rows, and where its component's rows start in `grouped`
    order = np.argsort(component, kind="stable")
    grouped = nodes[order]
    index, position = np.empty(len(nodes), dtype=np.int64), np.empty(len(nodes), dtype=np.int64)
    index[order] = np.arange(len(nodes))
    position[order] = positions_in_groups(component[order])
    first = index - position
    taken = reusable(component, signature, previous.signature[nodes]) if previous is not None else np.zeros(
        len(nodes), dtype=bool
    )
    found = np.empty(len(nodes), dtype=np.int64)
    found[taken] = grouped[first[taken] + previous.root[nodes][taken]] if taken.any() else []
    redo = nodes[~taken]
    found[~taken] = redo[_guarded_roots(redo, edges, attrs, must, cannot)] if len(redo) else []
    roots.signature[nodes] = signature
    roots.root[nodes] = position[local[found]]
    return found


def recluster(
    n: int, edges: pd.DataFrame, added: pd.DataFrame, labels: np.ndarray, attrs: Attributes,
    must_link: np.ndarray | None = None, cannot_link: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cluster` of ``edges`` and ``added`` together, given ``labels`` = :func:`cluster` of ``edges`` alone.

    Only the connected components that an added edge touches are clustered
    again: any other component holds the same edges and records as before,
    so its clusters are the same (the result equals clustering everything
    again; a national year's second clustering touches a small part of it).
    ``edges`` must already include ``added``.
    """
    must, cannot = _pairs(must_link), _pairs(cannot_link)
    i = edges["i"].to_numpy(dtype=np.int64)
    j = edges["j"].to_numpy(dtype=np.int64)
    if n == 0 or not len(added):
        return _canonical(labels, i, j)
    components = _components(n, np.concatenate([i, must[:, 0]]), np.concatenate([j, must[:, 1]]))
    cannot = cannot[components[cannot[:, 0]] == components[cannot[:, 1]]]  # as in cluster_reusing
    nodes = np.flatnonzero(np.isin(components, components[added["i"].to_numpy(dtype=np.int64)]))
    local = _numbered(n, nodes)
    inside = local[i] >= 0
    part = pd.DataFrame({
        "i": local[i[inside]], "j": local[j[inside]],
        "rank": edges["rank"].to_numpy()[inside], "probability": edges["probability"].to_numpy()[inside],
    })
    part_labels, _ = cluster(len(nodes), part, attrs.take(nodes), _within(must, local), _within(cannot, local))
    merged = labels.astype(np.int64)
    merged[nodes] = nodes[part_labels]
    return _canonical(merged, i, j)


def _components(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Connected component number of each of ``n`` rows joined by the row pairs (``i``, ``j``)."""
    graph = coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n)).tocsr()
    return connected_components(graph, directed=False)[1]


def _numbered(n: int, rows: np.ndarray) -> np.ndarray:
    """Each of ``n`` rows' position in ``rows`` (ascending: numbering keeps the row order), -1 for the others."""
    local = np.full(n, -1, dtype=np.int64)
    local[rows] = np.arange(len(rows))
    return local


def _within(pairs: np.ndarray, local: np.ndarray) -> np.ndarray:
    """The row pairs whose both rows have a local number (``local >= 0``), in local numbers."""
    mapped = local[pairs]
    return mapped[(mapped >= 0).all(axis=1)]


def _guarded_roots(
    nodes: np.ndarray, edges: pd.DataFrame, attrs: Attributes, must: np.ndarray, cannot: np.ndarray
) -> np.ndarray:
    """Union-find root (a local row number) of each of ``nodes``, merging their edges strongest first, guarded.

    ``nodes`` (ascending) are whole components; they are renumbered 0.. in
    order, which keeps the edge order (ties break on row numbers).
    """
    local = _numbered(len(attrs.pnc), nodes)
    i, j = local[edges["i"].to_numpy(dtype=np.int64)], local[edges["j"].to_numpy(dtype=np.int64)]
    inside = np.flatnonzero(i >= 0)
    a, b = i[inside], j[inside]
    ranks = edges["rank"].to_numpy(dtype=np.int64)[inside]
    probability = edges["probability"].to_numpy(dtype=float)[inside]
    order = np.lexsort((np.maximum(a, b), np.minimum(a, b), -probability, ranks))
    identifier = np.isin(ranks, [METHODS.index(m) for m in IDENTIFIER_METHODS])
    # Python lists: a loop over numpy scalars costs several times more per edge
    uf = _Clusters(attrs.take(nodes), _within(cannot, local))
    for left, right in _within(must, local).tolist():  # reviewers' "same person" first, past the sex and date guards
        uf.union(left, right, True, reviewed=True)
    for left, right, skip_guards in zip(a[order].tolist(), b[order].tolist(), identifier[order].tolist()):
        uf.union(left, right, skip_guards)
    return np.array([uf.find(k) for k in range(len(nodes))], dtype=np.int64)


def _canonical(labels: np.ndarray, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels as the smallest row number of each cluster, whether each edge (``i``, ``j``) is within a cluster)."""
    smallest = pd.Series(np.arange(len(labels))).groupby(labels).transform("min").to_numpy()
    effective = smallest[i] == smallest[j] if len(i) else np.zeros(0, dtype=bool)
    return smallest.astype(np.int64), effective
