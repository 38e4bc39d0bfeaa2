"""What a clustering hands to the next run, so a week re-clusters edge by edge only the components it changed.

The guarded union-find (:func:`masip.linkage.cluster.cluster`) is the one
part of clustering that runs edge by edge in Python, and only on the
components holding a conflict; at a national year those are about 40,000
small components with four million edges, most of them the same as last
week. Its result for one component depends on nothing but

* the component's rows in member-key order, and what the guards read of
  each (:data:`GUARDED_COLUMNS`);
* the order in which its edges are tried (method, then descending
  probability, then row numbers) and each edge's method;
* the reviewers' must-links and cannot-links inside it.

A component's **signature** hashes exactly these: each row's *identity*
(its member key and guarded values, :func:`row_identities`), and each edge
and decision by its two identities, its method and its *position* in that
order — not its probability, which moves every week with the prior for the
partnership's size while the order stays. Two runs that give a component the
same signature give it the same clusters, so the next run takes the roots
this run found (:class:`GuardedRoots`, kept in the linkage state) instead of
running the union-find again. Hashes are 64-bit: a false reuse needs a
collision, the risk every token comparison of the linkage takes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from masip.linkage import comparisons as C

#: What the guards read of a record (:class:`masip.linkage.cluster.Attributes`): part of its identity.
GUARDED_COLUMNS = (
    "pnc_token", "nhs_token", "sex", "dob_token", "dob_unordered_token", "dob_year_month_token",
    "dob_year_day_token", "forename_token", "forename_variant_tokens",
)
_NULL = np.uint64(0x9E3779B97F4A7C15)
_ROW, _EDGE, _MUST, _CANNOT = (np.uint64(tag) for tag in (1, 2, 3, 4))


@dataclass(frozen=True)
class GuardedRoots:
    """The guarded union-find's result per row, for a later run to reuse (see the module docstring).

    ``signature``: the row's component's signature (int64), for the
    components clustered edge by edge; 0 for the others. ``root``: the
    position of the row's cluster root (its smallest row) among its
    component's rows in ascending order; -1 where the signature is 0.
    """

    signature: np.ndarray
    root: np.ndarray

    @classmethod
    def none(cls, n: int) -> GuardedRoots:
        return cls(np.zeros(n, dtype=np.int64), np.full(n, -1, dtype=np.int64))


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser over 64-bit unsigned integers (numpy's unsigned arithmetic wraps)."""
    x = np.asarray(x, dtype=np.uint64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _value_hashes(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A 64-bit hash of each value: integers by value, lists as the multiset of their elements, others as text."""
    array = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
        lengths = pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        sums = np.concatenate([np.zeros(1, dtype=np.uint64), np.cumsum(_value_hashes(pc.list_flatten(array)), dtype=np.uint64)])
        ends = np.cumsum(lengths)
        return mix(sums[ends] - sums[ends - lengths] + lengths.astype(np.uint64))
    if pa.types.is_integer(array.type):
        values = pc.fill_null(array.cast(pa.int64()), 0).to_numpy(zero_copy_only=False).view(np.uint64)
    else:
        text = array.cast(pa.string()).to_numpy(zero_copy_only=False)
        values = pd.util.hash_array(np.asarray(text, dtype=object))
    nulls = array.is_null().to_numpy(zero_copy_only=False)
    return np.where(nulls, _NULL, mix(values))


def row_identities(records: pd.DataFrame, keys: pa.Array) -> Callable[[np.ndarray], np.ndarray]:
    """A function of row numbers giving each row's identity: a 64-bit hash of its member key (``keys``, in row
    order) and of its :data:`GUARDED_COLUMNS`, the same in every run (tokens as their 64-bit integers)."""

    def identities(rows: np.ndarray) -> np.ndarray:
        take = pa.array(np.asarray(rows, dtype=np.int64))
        found = mix(_value_hashes(keys.take(take)))
        for column in GUARDED_COLUMNS:
            if column in records:
                found = mix(found + _value_hashes(C.column_array(records, column).take(take)))
        return found

    return identities


def positions_in_groups(groups: np.ndarray) -> np.ndarray:
    """Each element's position among the elements of its group (``groups`` sorted)."""
    if not len(groups):
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    return np.arange(len(groups)) - np.repeat(starts, np.diff(np.r_[starts, len(groups)]))


def component_signatures(
    component: np.ndarray, identity: np.ndarray, edges: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    must: np.ndarray, cannot: np.ndarray,
) -> np.ndarray:
    """The signature (int64, never 0) of each row's component, for rows numbered 0..k-1 of whole components.

    ``component``: each row's component (any integers); ``identity``: each row's identity; ``edges``: (i, j,
    rank, probability) between these rows; ``must``/``cannot``: (m, 2) row pairs of reviewers' decisions
    between these rows.
    """
    groups, row_group = np.unique(component, return_inverse=True)
    signature = np.zeros(len(groups), dtype=np.uint64)
    np.add.at(signature, row_group, mix(identity + _ROW))
    i, j, rank, probability = edges
    low, high = np.minimum(i, j), np.maximum(i, j)
    # the order in which the union-find tries them (cluster._guarded_roots), grouped by component
    order = np.lexsort((high, low, -probability, rank, row_group[low]))
    low, high, rank = low[order], high[order], rank[order]
    edge = mix(mix(mix(identity[low] + _EDGE) + identity[high]) + rank.astype(np.uint64))
    np.add.at(signature, row_group[low], mix(edge + mix(positions_in_groups(row_group[low]).astype(np.uint64))))
    for tag, pairs in ((_MUST, must), (_CANNOT, cannot)):
        inside = row_group[pairs[:, 0]] == row_group[pairs[:, 1]]
        a, b = pairs[inside, 0], pairs[inside, 1]
        order_given = mix(np.flatnonzero(inside).astype(np.uint64))
        np.add.at(signature, row_group[a], mix(mix(mix(identity[a] + tag) + identity[b]) + order_given))
    signature[signature == 0] = 1
    return signature[row_group].view(np.int64)


def reusable(component: np.ndarray, signature: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Which rows (numbered as in :func:`component_signatures`) belong to a component whose every row had the
    same signature in the previous run (``previous``: their signatures then, 0 for a new row): its roots can be
    taken over."""
    return ~np.isin(component, component[previous != signature])
