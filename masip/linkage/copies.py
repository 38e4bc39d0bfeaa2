"""Records identical in everything the scorer reads: one block of thousands of copies must not stop the week.

Every blocking rule pins a person down, so candidate pairs grow with the
number of records, except where one person's records are many: a block of
``k`` records holds ``k²/2`` pairs, and each of a dozen rules joins them
again. One delivery whose every row carried the same victim and suspect
(a placeholder person, or an export that repeated one row's person) made
the linkage of 3,000 rows take 92 s and would have taken hours at 30,000
(outside check, 2026-12-07), holding up every agency's week.

Copies of a record (everything a pair's score or blocking reads the same,
the role included, but the crime it is about, :data:`CONTEXT`) score
identically with any other record. So of each group of copies only the first
:data:`SCORED_COPIES` (in row order, i.e. member-key order) are paired by
blocking; each further copy is paired with the group's first alone, at the
score of the group's first two copies, which is exactly what that pair would
score. Its pairs with anyone else would score as the first copy's do, and
the clustering reaches them through the first. Training leaves out the
surplus copies that hold an encoding; the dyad pass reads every record (it
bounds its own groups, :data:`masip.linkage.context.MAX_DYAD_GROUP`). In the generator's national
year (2,540,060 record roles) the only groups over the bound are of records
with no encoding at all (a role and at most a sex: 2,657, 938, 751, 222 and
208 of them), which no blocking rule pairs anyway, so its candidate pairs are
unchanged; above the bound the pairs grow with ``k`` instead of ``k²``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from masip.linkage.cluster_reuse import positions_in_groups
from masip.linkage.state import chosen_rows, merged_pairs

#: Of each group of copies, how many are paired by blocking (see the module docstring).
SCORED_COPIES = 100
#: What copies may differ in: the police crime each record is about, which only the crime-reference blocking
#: rule reads (no comparison does). A surplus copy loses its pair with the other roles of its crime, and keeps
#: its link through the first copy.
CONTEXT = ("ctx_key",)


@dataclass(frozen=True)
class Copies:
    """Each row's group of copies: ``surplus`` (a copy beyond the first :data:`SCORED_COPIES`), the group's
    ``first`` and ``second`` rows (-1 for a group of one)."""

    surplus: np.ndarray
    first: np.ndarray
    second: np.ndarray

    @classmethod
    def of(cls, fingerprints: np.ndarray, scored: int | None = None) -> Copies:
        """The groups of rows with equal ``fingerprints`` (one per row, rows in member-key order), of which the
        first ``scored`` (default :data:`SCORED_COPIES`) are paired by blocking."""
        scored = SCORED_COPIES if scored is None else scored
        n = len(fingerprints)
        order = np.lexsort((np.arange(n), fingerprints))
        position = positions_in_groups(np.asarray(fingerprints)[order])
        starts = np.flatnonzero(position == 0)
        group = np.cumsum(position == 0) - 1
        sizes = np.diff(np.r_[starts, n])
        first, second, surplus = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, bool)
        first[order] = order[starts][group]
        second[order] = np.where(sizes[group] > 1, order[np.minimum(starts[group] + 1, n - 1)], -1)
        surplus[order] = position >= scored
        return cls(surplus, first, second)

    def scored(self, rows: np.ndarray | None) -> np.ndarray | None:
        """``rows`` (None: all) without the surplus copies; None when that is all rows."""
        if not self.surplus.any():
            return rows
        return np.flatnonzero(~self.surplus) if rows is None else rows[~self.surplus[rows]]

    def trained(self, rows: np.ndarray | None, encoded: np.ndarray) -> np.ndarray | None:
        """``rows`` (None: all) to train on: without the surplus copies that hold an encoding (None when that is
        all rows). Each would add the same pairs to every training block its encodings reach (3,000 copies: 4.5
        million pairs a block, 100 s of EM); a copy with no encoding is in no block and a random pair with it
        compares nothing, and keeping it keeps a national year's training sample as it was."""
        left_out = self.surplus & encoded
        if not left_out.any():
            return rows
        return np.flatnonzero(~left_out) if rows is None else rows[~left_out[rows]]

    def with_pairs_to_first(self, pairs: pd.DataFrame) -> pd.DataFrame:
        """``pairs`` (sorted by ``uid_l, uid_r``), each surplus copy's pairs replaced by its pair with its group's
        first row, at the score of the group's first two rows (none if those two were not paired).

        ``pairs`` is a national week's tens of millions: it is copied once at most (only when a pair goes or one
        comes), and a copy's template pair is found by binary search, not a hash index of every pair (the
        national week's peak of memory, 2026-12-07)."""
        if not self.surplus.any():
            return pairs
        stale = self.surplus[pairs["uid_l"].to_numpy()] | self.surplus[pairs["uid_r"].to_numpy()]
        # pairs a previous run scored for a row that is a surplus copy now: a full run would not have them
        kept = chosen_rows(pairs, ~stale)
        surplus = np.flatnonzero(self.surplus)
        found = _positions(kept, self.first[surplus], self.second[surplus])
        paired = found >= 0
        if not paired.any():
            return kept
        template = {column: kept[column].to_numpy()[found[paired]] for column in kept.columns}
        template["uid_l"], template["uid_r"] = self.first[surplus][paired], surplus[paired]
        order = np.lexsort((template["uid_r"], template["uid_l"]))
        return merged_pairs(
            {column: kept[column].to_numpy() for column in kept.columns},
            pd.DataFrame({column: values[order] for column, values in template.items()}),
        )


def _positions(pairs: pd.DataFrame, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The row of ``pairs`` (sorted by ``uid_l, uid_r``) holding each pair ``(left, right)``; -1 where none does."""
    if not len(pairs):
        return np.full(len(left), -1, dtype=np.int64)
    width = int(max(pairs["uid_r"].max(), right.max())) + 1
    keys = pairs["uid_l"].to_numpy().astype(np.int64) * width + pairs["uid_r"].to_numpy()
    wanted = left.astype(np.int64) * width + right
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[at] == wanted, at, -1)
