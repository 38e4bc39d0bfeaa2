"""Disclosure control of published counts (SPEC §7.3): pure, tested functions.

The rule is NHS Digital's for HES small numbers:

* a count from 1 to 7 is suppressed (published as null, with the marker ``*``)
  - **primary suppression**;
* every other count is rounded to the nearest 5 (0 stays 0: a zero is not
  a small number under the HES rule and is published as 0);
* where a total is published next to the cells it adds up (an all-forces
  total, a force's RECORDED count beside its outcome breakdown, ...), further
  cells are suppressed - **secondary suppression** - so that no suppressed
  cell can be recovered by differencing ("the total minus the other forces").

Secondary suppression is driven by an exact check rather than a rule of
thumb. The published tables and the additive relations between their cells
(``total = member_1 + ... + member_k``) form a linear system; a suppressed cell
is *recoverable* when its value follows from that system with every
published value taken as exact (:func:`determined_cells`). That attacker is
stronger than the real one, who only sees rounded values. While some
suppressed cell is recoverable, one more cell is suppressed (see
:func:`_secondary_choice`): the recoverable cell whose least-protected
relation has the fewest suppressed cells is handled first, and in that
relation the smallest unsuppressed non-zero member cell (ties: the smallest
key) is suppressed - the relation's total only when no non-zero member is
left. Zero cells are suppressed only when nothing else can protect a cell
(which cannot happen for a one-level table: a total whose only non-zero
member is suppressed is itself 1-7 and suppressed). The loop ends when no
suppressed cell is recoverable, so the result is checked, not assumed.

For one level - forces under an all-forces total - this is exactly the rule
"if exactly one force cell of a (financial year, stage) is suppressed, also
suppress the smallest other non-zero force cell (ties by force name)". The
published total is always the rounded *true* total (never the sum of rounded
cells), and is itself suppressed when it is 1-7.

The attrition tables are protected together (:func:`protect_attrition`),
because they share cells: a force's RECORDED count is the total of its
outcome breakdown and of its s2A/s4A split, and its CHARGED count the total
of its charge split. Suppressing each table on its own would let one table
give away another's suppressed cells.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Counts from 1 to this value are suppressed (NHS Digital HES rule).
SUPPRESSION_THRESHOLD = 7
#: Every other count is rounded to the nearest multiple of this.
ROUNDING_BASE = 5
#: Shown in place of a suppressed count.
MARKER = "*"
#: Force name of the all-forces total rows in the published tables.
ALL_FORCES = "ALL_FORCES"

PRIMARY = "PRIMARY"
SECONDARY = "SECONDARY"

Key = Hashable


def round_to_base(count: int, base: int = ROUNDING_BASE) -> int:
    """``count`` rounded to the nearest multiple of ``base`` (halves up; 0 stays 0)."""
    if count < 0:
        raise ValueError(f"a count cannot be negative: {count}")
    if base <= 1:
        return int(count)
    return int(base * math.floor(count / base + 0.5))


def is_small(count: int, threshold: int = SUPPRESSION_THRESHOLD) -> bool:
    """True when the count is 1..threshold (primary suppression)."""
    return 1 <= count <= threshold


def publish_count(
    count: int, threshold: int = SUPPRESSION_THRESHOLD, base: int = ROUNDING_BASE
) -> int | None:
    """One stand-alone count as published: None when 1-7, else rounded to 5."""
    return None if is_small(count, threshold) else round_to_base(count, base)


def format_count(value: int | None) -> str:
    """A published count for display: the marker when suppressed."""
    return MARKER if value is None else f"{value:,}"


@dataclass(frozen=True)
class Relation:
    """``total`` = sum of ``members`` (keys of cells of the published tables)."""

    total: Key
    members: tuple[Key, ...]

    def cells(self) -> tuple[Key, ...]:
        return (self.total, *self.members)


@dataclass(frozen=True)
class ProtectedCell:
    """A cell as published: ``value`` is None when suppressed."""

    key: Key
    value: int | None
    suppression: str | None  # None, PRIMARY or SECONDARY

    @property
    def is_suppressed(self) -> bool:
        return self.suppression is not None

    @property
    def marker(self) -> str | None:
        return MARKER if self.is_suppressed else None


def determined_cells(
    unknown: Iterable[Key], relations: Sequence[Relation], tolerance: float = 1e-9
) -> set[Key]:
    """Unknown cells whose value follows exactly from ``relations``.

    Every cell not in ``unknown`` is treated as known exactly. With the
    relations written as rows of a matrix over the unknown cells (+1 for the
    total, -1 for a member), an unknown cell is determined exactly when every
    vector of the matrix's null space is zero at that cell (it is then a
    linear combination of the equations).
    """
    unknown_list = sorted(set(unknown), key=repr)
    if not unknown_list:
        return set()
    index = {key: i for i, key in enumerate(unknown_list)}
    rows = []
    for relation in relations:
        row = np.zeros(len(unknown_list))
        touched = False
        for sign, key in ((1.0, relation.total), *((-1.0, m) for m in relation.members)):
            if key in index:
                row[index[key]] += sign
                touched = True
        if touched and np.any(row != 0):
            rows.append(row)
    if not rows:
        return set()
    matrix = np.vstack(rows)
    _, singular, vt = np.linalg.svd(matrix, full_matrices=True)
    rank = int(np.sum(singular > tolerance * max(matrix.shape)))
    null_space = vt[rank:]
    if null_space.shape[0] == 0:
        return set(unknown_list)
    free = np.max(np.abs(null_space), axis=0) > tolerance
    return {key for key, is_free in zip(unknown_list, free) if not is_free}


def _components(keys: Iterable[Key], relations: Sequence[Relation]) -> list[tuple[set[Key], list[Relation]]]:
    """Split cells and relations into independent groups (no relation spans two)."""
    parent: dict[Key, Key] = {k: k for k in keys}

    def find(k: Key) -> Key:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for relation in relations:
        cells = relation.cells()
        root = find(cells[0])
        for other in cells[1:]:
            r = find(other)
            if r != root:
                parent[r] = root
    groups: dict[Key, tuple[set[Key], list[Relation]]] = {}
    for k in parent:
        groups.setdefault(find(k), (set(), []))[0].add(k)
    for relation in relations:
        groups[find(relation.total)][1].append(relation)
    return [groups[r] for r in sorted(groups, key=repr)]


def protect(
    counts: Mapping[Key, int],
    relations: Sequence[Relation] = (),
    threshold: int = SUPPRESSION_THRESHOLD,
    base: int = ROUNDING_BASE,
) -> dict[Key, ProtectedCell]:
    """Apply the disclosure control to every cell of ``counts``.

    ``counts`` holds the true count of every published cell (totals
    included); ``relations`` says which published cells add up to which.
    Returns each cell as published. Deterministic: ties are broken by the
    cells' keys (compared as given, so keys should be tuples of strings).
    """
    for relation in relations:
        missing = [k for k in relation.cells() if k not in counts]
        if missing:
            raise KeyError(f"relation refers to cells without a count: {missing[:3]}")
        if counts[relation.total] != sum(counts[m] for m in relation.members):
            raise ValueError(
                f"relation does not add up: {relation.total!r} = {counts[relation.total]} but its "
                f"members sum to {sum(counts[m] for m in relation.members)}"
            )
    suppression: dict[Key, str] = {k: PRIMARY for k, n in counts.items() if is_small(n, threshold)}

    for cells, group_relations in _components(counts, relations):
        by_cell: dict[Key, list[Relation]] = defaultdict(list)
        for relation in group_relations:
            for key in relation.cells():
                by_cell[key].append(relation)
        while True:
            unknown = [k for k in cells if k in suppression]
            exposed = determined_cells(unknown, group_relations)
            if not exposed:
                break
            target = min(exposed, key=lambda k: (_fewest_suppressed(by_cell[k], suppression), _sort_key(k)))
            choice = _secondary_choice(target, by_cell[target], cells, group_relations, counts, suppression)
            if choice is None:  # pragma: no cover - impossible: an exposed cell has a relation
                raise RuntimeError(f"no cell can protect {target!r}")
            suppression[choice] = SECONDARY

    return {
        key: ProtectedCell(
            key=key,
            value=None if key in suppression else round_to_base(int(n), base),
            suppression=suppression.get(key),
        )
        for key, n in counts.items()
    }


def _sort_key(key: Key) -> tuple:
    return (0, key) if isinstance(key, tuple) else (1, repr(key))


def _fewest_suppressed(relations: Sequence[Relation], suppression: Mapping[Key, str]) -> int:
    """Suppressed cells in the least-protected relation of a cell."""
    return min((sum(1 for k in r.cells() if k in suppression) for r in relations), default=0)


def _secondary_choice(
    target: Key,
    target_relations: Sequence[Relation],
    component: set[Key],
    component_relations: Sequence[Relation],
    counts: Mapping[Key, int],
    suppression: Mapping[Key, str],
) -> Key | None:
    """The cell to suppress next so that ``target`` is no longer recoverable.

    Candidates are the unsuppressed cells of the target's own relations, in
    order of preference: the least-protected relation first; a non-zero cell
    before a zero one; a member before the relation's total; the smallest
    count; the key. The first is taken - for one level of forces under a
    total, the smallest other non-zero force cell - even when another
    relation still exposes the target: the loop then protects that one too,
    which keeps totals published. Only when the target's relations have no
    unsuppressed cell left is every other cell of its component a candidate,
    and then the first (non-zero, non-total, smallest) whose suppression
    makes the target undetermined is taken.
    """
    candidates = []
    for relation in target_relations:
        n_suppressed = sum(1 for k in relation.cells() if k in suppression)
        for key in relation.cells():
            if key == target or key in suppression:
                continue
            candidates.append(
                (n_suppressed, counts[key] == 0, key == relation.total, counts[key], _sort_key(key), key)
            )
    if candidates:
        return min(candidates)[-1]
    totals = {r.total for r in component_relations}
    ordered = [
        c[-1]
        for c in sorted(
            (counts[key] == 0, key in totals, counts[key], _sort_key(key), key)
            for key in component
            if key not in suppression
        )
    ]
    unknown = [k for k in component if k in suppression]
    for key in ordered:
        if target not in determined_cells([*unknown, key], component_relations):
            return key
    return ordered[0] if ordered else None


# --- the attrition tables ---------------------------------------------------------------------

FUNNEL = "attrition_funnel_published"
OUTCOMES = "attrition_outcomes_published"
RECORDED_SPLIT = "attrition_recorded_split_published"
DOWNGRADES = "attrition_downgrades_published"

#: Columns of :func:`protect_attrition`'s result, one row per published cell.
PUBLISHED_COLUMNS = (
    "cell_id",
    "published_table",
    "force",
    "is_all_forces",
    "financial_year",
    "is_complete_year",
    "stage",
    "stage_order",
    "outcome_group",
    "recorded_category",
    "charge_category",
    "is_downgrade",
    "crimes",
    "marker",
    "suppression",
)


def protect_attrition(
    funnel: pd.DataFrame,
    outcomes: pd.DataFrame,
    recorded_split: pd.DataFrame,
    downgrades: pd.DataFrame,
    threshold: int = SUPPRESSION_THRESHOLD,
    base: int = ROUNDING_BASE,
) -> pd.DataFrame:
    """Protect the four attrition tables jointly and return every published cell.

    Inputs are the unpublished marts (``attrition_funnel``: force,
    financial_year, stage, stage_order, crimes, is_complete_year;
    ``attrition_outcomes``: ... outcome_group, crimes (per outcome code, summed
    here to groups); ``attrition_recorded_split``: ... recorded_category;
    ``attrition_downgrades``: ... recorded_category, charge_category,
    is_downgrade). Adds an ``ALL_FORCES`` total row for every cell and the
    relations: all forces = sum of forces; a force's outcome groups and its
    s2A/s4A split each add up to its RECORDED count; its charge split adds up
    to its CHARGED count.
    """
    counts: dict[tuple, int] = {}
    meta: dict[tuple, dict] = {}
    relations: list[Relation] = []
    complete = dict(zip(funnel["financial_year"], funnel["is_complete_year"].astype(bool)))
    stage_order = dict(zip(funnel["stage"], funnel["stage_order"].astype(int)))
    forces = sorted(set(funnel["force"]) | set(outcomes["force"]) | set(recorded_split["force"]) | set(downgrades["force"]))

    def add_table(table: str, frame: pd.DataFrame, dims: Sequence[str]) -> None:
        grouped = frame.groupby(["force", "financial_year", *dims], sort=True)["crimes"].sum()
        totals: dict[tuple, list[tuple]] = defaultdict(list)
        for index, n in grouped.items():
            force, year, *values = index
            key = (table, str(force), str(year), *(str(v) for v in values))
            counts[key] = int(n)
            meta[key] = {"force": str(force), "financial_year": str(year), **dict(zip(dims, values))}
            totals[(table, ALL_FORCES, str(year), *(str(v) for v in values))].append(key)
        for total_key, members in totals.items():
            counts[total_key] = sum(counts[m] for m in members)
            first = meta[members[0]]
            meta[total_key] = {**first, "force": ALL_FORCES}
            relations.append(Relation(total_key, tuple(sorted(members))))

    add_table(FUNNEL, funnel, ["stage"])
    add_table(OUTCOMES, outcomes, ["outcome_group"])
    add_table(RECORDED_SPLIT, recorded_split, ["recorded_category"])
    add_table(DOWNGRADES, downgrades, ["recorded_category", "charge_category"])

    years = sorted({k[2] for k in counts})
    for force in [*forces, ALL_FORCES]:
        for year in years:
            recorded = (FUNNEL, force, year, "RECORDED")
            charged = (FUNNEL, force, year, "CHARGED")
            for table, total in ((OUTCOMES, recorded), (RECORDED_SPLIT, recorded), (DOWNGRADES, charged)):
                members = tuple(sorted(k for k in counts if k[0] == table and k[1] == force and k[2] == year))
                if members and total in counts:
                    relations.append(Relation(total, members))

    protected = protect(counts, relations, threshold=threshold, base=base)
    downgrade_flags = {
        (str(r.recorded_category), str(r.charge_category)): bool(r.is_downgrade)
        for r in downgrades.itertuples()
    }
    rows = []
    for key in sorted(counts):
        m = meta[key]
        cell = protected[key]
        table = key[0]
        rows.append(
            {
                "cell_id": "|".join(key),
                "published_table": table,
                "force": m["force"],
                "is_all_forces": m["force"] == ALL_FORCES,
                "financial_year": m["financial_year"],
                "is_complete_year": complete.get(m["financial_year"]),
                "stage": m.get("stage"),
                "stage_order": stage_order.get(m["stage"]) if "stage" in m else None,
                "outcome_group": m.get("outcome_group"),
                "recorded_category": m.get("recorded_category"),
                "charge_category": m.get("charge_category"),
                "is_downgrade": downgrade_flags.get((m.get("recorded_category"), m.get("charge_category")))
                if table == DOWNGRADES
                else None,
                "crimes": cell.value,
                "marker": cell.marker,
                "suppression": cell.suppression,
            }
        )
    return typed_published_frame(pd.DataFrame(rows, columns=list(PUBLISHED_COLUMNS)))


def typed_published_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Explicit nullable dtypes, so that empty or all-null columns reach DuckDB typed."""
    text = ["cell_id", "published_table", "force", "financial_year", "stage", "outcome_group",
            "recorded_category", "charge_category", "marker", "suppression"]
    out = {c: frame[c].astype("string") for c in text}
    out["is_all_forces"] = frame["is_all_forces"].astype("boolean")
    out["is_complete_year"] = frame["is_complete_year"].astype("boolean")
    out["is_downgrade"] = frame["is_downgrade"].astype("boolean")
    out["stage_order"] = frame["stage_order"].astype("Int32")
    out["crimes"] = frame["crimes"].astype("Int64")
    return pd.DataFrame(out)[list(PUBLISHED_COLUMNS)]


def relations_of_published(published: pd.DataFrame) -> list[Relation]:
    """The additive relations an outsider can read off the published attrition tables.

    Rebuilt from the published rows alone (what leaves the secure area), for
    checks such as :func:`recoverable_from_published`.
    """
    keys = {row.cell_id: tuple(row.cell_id.split("|")) for row in published.itertuples()}
    cells = set(keys.values())
    relations = []
    # all forces = sum of forces, within each table and (year, dims)
    members_of: dict[tuple, list[tuple]] = defaultdict(list)
    for key in cells:
        if key[1] != ALL_FORCES:
            members_of[(key[0], ALL_FORCES, *key[2:])].append(key)
    for total, members in members_of.items():
        if total in cells:
            relations.append(Relation(total, tuple(sorted(members))))
    forces = {k[1] for k in cells}
    years = {k[2] for k in cells}
    for force in forces:
        for year in years:
            for table, stage in ((OUTCOMES, "RECORDED"), (RECORDED_SPLIT, "RECORDED"), (DOWNGRADES, "CHARGED")):
                total = (FUNNEL, force, year, stage)
                members = tuple(sorted(k for k in cells if k[0] == table and k[1] == force and k[2] == year))
                if total in cells and members:
                    relations.append(Relation(total, members))
    return relations


def recoverable_from_published(published: pd.DataFrame) -> set[tuple]:
    """Suppressed cells of published attrition tables that differencing recovers exactly.

    Uses only what is published (cell values, markers and the additive
    structure of the tables) and takes every published value as exact.
    Empty for a correctly protected publication.
    """
    relations = relations_of_published(published)
    suppressed = {tuple(c.split("|")) for c in published.loc[published["crimes"].isna(), "cell_id"]}
    return determined_cells(suppressed, relations)
