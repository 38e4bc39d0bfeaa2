"""Why a linkage went wrong: false merges and missed links by cause, from the
plain values and the truth (which only the benchmark may read).

A clustering and the truth cut the record roles into *fragments*: the roles of
one true person in one predicted person. A predicted person holding fragments
of several true people is a false merge; each pair of its fragments is one
pair of people wrongly merged and ``n_a × n_b`` false record pairs. A true
person spread over several predicted people is a missed link, likewise per
pair of fragments. Each fragment pair gets the first cause that fits, from its
fragments' sets of plain values.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from itertools import combinations

import duckdb

CHAIN = 100  # a group of more fragments is counted in bulk: its pairs of people are too many to compare one by one
MERGE_CAUSES = (
    "identifier collision (same PNC, NHS number or CRN)",
    "same name and date of birth (a true coincidence)",
    "one side has no date of birth (name-only record)",
    "same forename, equal or near date of birth, different surname",
    "same forename and surname, different date of birth",
    "other",
    f"inside one predicted person of more than {CHAIN} true people (chained merges)",
)
MISS_CAUSES = (
    "date of birth missing on one side",
    "forename or surname missing on one side",
    "forename and surname swapped",
    "forename and surname both differ",
    "surname differs (married name, typo, hyphenation)",
    "forename differs (nickname, typo)",
    "date of birth differs (day/month swapped)",
    "values agree (evidence below the threshold)",
    f"spread over more than {CHAIN} predicted people",
)


@dataclass(frozen=True)
class Fragment:
    size: int
    forenames: frozenset[str]
    surnames: frozenset[str]
    dobs: frozenset[str]
    identifiers: frozenset[str]


def _near(a: str, b: str) -> bool:
    """Equal, day and month swapped, or two of day, month and year equal."""
    x, y = date.fromisoformat(a), date.fromisoformat(b)
    same = (x.year == y.year) + (x.month == y.month) + (x.day == y.day)
    return same >= 2 or (x.year == y.year and x.month == y.day and x.day == y.month)


def merge_cause(a: Fragment, b: Fragment) -> str:
    if a.identifiers & b.identifiers:
        return MERGE_CAUSES[0]
    if a.forenames & b.forenames and a.surnames & b.surnames and a.dobs & b.dobs:
        return MERGE_CAUSES[1]
    if not a.dobs or not b.dobs:
        return MERGE_CAUSES[2]
    if a.forenames & b.forenames and not a.surnames & b.surnames and any(_near(x, y) for x in a.dobs for y in b.dobs):
        return MERGE_CAUSES[3]
    if a.forenames & b.forenames and a.surnames & b.surnames:
        return MERGE_CAUSES[4]
    return MERGE_CAUSES[5]


def miss_cause(a: Fragment, b: Fragment) -> str:
    if not a.dobs or not b.dobs:
        return MISS_CAUSES[0]
    if not (a.forenames and b.forenames and a.surnames and b.surnames):
        return MISS_CAUSES[1]
    forename, surname = a.forenames & b.forenames, a.surnames & b.surnames
    if not forename and not surname and (a.forenames & b.surnames or a.surnames & b.forenames):
        return MISS_CAUSES[2]
    if not forename and not surname:
        return MISS_CAUSES[3]
    if not surname:
        return MISS_CAUSES[4]
    if not forename:
        return MISS_CAUSES[5]
    if not a.dobs & b.dobs:
        return MISS_CAUSES[6]
    return MISS_CAUSES[7]


def _fragments(con: duckdb.DuckDBPyConnection, clusters: str, group: str) -> dict[str, list[Fragment]]:
    """``{group id: fragments}`` of the impure groups only (``group``: 'predicted' for merges, 'truth' for misses)."""
    other = "truth" if group == "predicted" else "predicted"
    rows = con.execute(f"""
        with roles as (
            select truth.person_id as truth, found.person_id as predicted,
                plain.forename, plain.surname, plain.dob, plain.pnc, plain.nhs, plain.crn,
            from truth
            inner join {clusters} as found using (source_id, source_table, record_ref, role)
            left join plain using (source_id, source_table, record_ref, role)
        ),
        impure as (select {group} from roles group by {group} having count(distinct {other}) > 1)
        select {group}, count(*),
            list(distinct forename) filter (where forename is not null),
            list(distinct surname) filter (where surname is not null),
            list(distinct dob) filter (where dob is not null),
            list_concat(
                coalesce(list(distinct 'pnc:' || pnc) filter (where pnc is not null), []),
                coalesce(list(distinct 'nhs:' || nhs) filter (where nhs is not null), []),
                coalesce(list(distinct 'crn:' || crn) filter (where crn is not null), []),
            ),
        from roles
        semi join impure using ({group})
        group by {group}, {other}
        order by {group}, {other}
    """).fetchall()
    out: dict[str, list[Fragment]] = defaultdict(list)
    for key, size, forenames, surnames, dobs, identifiers in rows:
        out[key].append(Fragment(size, *(frozenset(v or ()) for v in (forenames, surnames, dobs, identifiers))))
    return out


def breakdown(con: duckdb.DuckDBPyConnection, clusters: str) -> dict[str, dict[str, dict[str, int]]]:
    """``{"merges" | "misses": {cause: {"pairs", "people", "fused"}}}`` for table ``clusters`` (record key, role,
    person_id) against tables ``truth`` and ``plain``. ``pairs``: record pairs; ``people``: fragment pairs;
    ``fused``: fragment pairs whose two sides both hold two records or more (two evidenced people joined)."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for kind, group, classify, causes in (("merges", "predicted", merge_cause, MERGE_CAUSES),
                                          ("misses", "truth", miss_cause, MISS_CAUSES)):
        counts = {cause: {"pairs": 0, "people": 0, "fused": 0} for cause in causes}
        for fragments in _fragments(con, clusters, group).values():
            if len(fragments) > CHAIN:
                sizes = [f.size for f in fragments]
                count = counts[causes[-1]]
                count["pairs"] += (sum(sizes) ** 2 - sum(n * n for n in sizes)) // 2
                count["people"] += len(sizes) * (len(sizes) - 1) // 2
                count["fused"] += sum(n >= 2 for n in sizes) * (sum(n >= 2 for n in sizes) - 1) // 2
                continue
            for a, b in combinations(fragments, 2):
                count = counts[classify(a, b)]
                count["pairs"] += a.size * b.size
                count["people"] += 1
                count["fused"] += a.size >= 2 and b.size >= 2
        out[kind] = counts
    return out
