"""The linkage benchmark's scoring (benchmarks/linkage): pairwise precision and recall over record roles, and
false merges and missed links sorted by cause from the plain values."""

from __future__ import annotations

import duckdb
import pytest

from benchmarks.linkage.__main__ import _sizes
from benchmarks.linkage.causes import (
    CHAIN,
    MERGE_CAUSES,
    MISS_CAUSES,
    Fragment,
    breakdown,
    merge_cause,
    miss_cause,
)
from benchmarks.linkage.partnership import pairwise_scores


def fragment(size=1, forenames=("ANNA",), surnames=("NOWAK",), dobs=("1990-03-04",), identifiers=()) -> Fragment:
    return Fragment(size, *(frozenset(v) for v in (forenames, surnames, dobs, identifiers)))


@pytest.mark.parametrize(("other", "cause"), [
    (fragment(identifiers=("pnc:1",)), MERGE_CAUSES[0]),
    (fragment(), MERGE_CAUSES[1]),
    (fragment(dobs=()), MERGE_CAUSES[2]),
    (fragment(surnames=("JONES",), dobs=("1990-04-03",)), MERGE_CAUSES[3]),  # day and month swapped
    (fragment(surnames=("JONES",), dobs=("1990-03-28",)), MERGE_CAUSES[3]),  # year and month equal
    (fragment(dobs=("1971-08-19",)), MERGE_CAUSES[4]),
    (fragment(forenames=("EWA",), surnames=("JONES",)), MERGE_CAUSES[5]),
])
def test_each_false_merge_gets_its_cause(other, cause):
    assert merge_cause(fragment(identifiers=("pnc:1",) if cause == MERGE_CAUSES[0] else ()), other) == cause


@pytest.mark.parametrize(("other", "cause"), [
    (fragment(dobs=()), MISS_CAUSES[0]),
    (fragment(surnames=()), MISS_CAUSES[1]),
    (fragment(forenames=("NOWAK",), surnames=("ANNA",)), MISS_CAUSES[2]),
    (fragment(forenames=("ANA",), surnames=("NOWAC",)), MISS_CAUSES[3]),
    (fragment(surnames=("SMYTH-NOWAK",)), MISS_CAUSES[4]),
    (fragment(forenames=("ANIA",)), MISS_CAUSES[5]),
    (fragment(dobs=("1990-04-03",)), MISS_CAUSES[6]),
    (fragment(), MISS_CAUSES[7]),
])
def test_each_missed_link_gets_its_cause(other, cause):
    assert miss_cause(fragment(), other) == cause


def test_scores_and_breakdown_over_record_roles():
    con = duckdb.connect()
    key = "'s' as source_id, 'crimes' as source_table, ref as record_ref, 'VICTIM' as role"
    # truth: A has roles 1-3, B has 4-5; predicted: {1, 2}, {3, 4, 5} (A's role 3 merged into B)
    con.execute(f"create table truth as select {key}, person from (values ('1', 'A'), ('2', 'A'), ('3', 'A'), "
                "('4', 'B'), ('5', 'B')) as t(ref, person)")
    con.execute("alter table truth rename column person to person_id")
    con.execute(f"create table found as select {key}, person_id from (values ('1', 'x'), ('2', 'x'), ('3', 'y'), "
                "('4', 'y'), ('5', 'y')) as t(ref, person_id)")
    con.execute(f"create table plain as select {key}, forename, surname, dob, null as pnc, null as nhs, null as crn "
                "from (values ('1', 'ANNA', 'NOWAK', '1990-03-04'), ('2', 'ANNA', 'NOWAK', '1990-03-04'), "
                "('3', 'ANNA', 'NOWAK', null), ('4', 'ANNA', 'JONES', '1990-04-03'), "
                "('5', 'ANNA', 'JONES', '1990-04-03')) as t(ref, forename, surname, dob)")
    scores = pairwise_scores(con, "found")
    # true pairs: A 3 + B 1 = 4; predicted pairs: 1 + 3 = 4; right: (1,2) and (4,5)
    assert (scores["roles"], scores["false_pairs"], scores["missed_pairs"]) == (5, 2, 2)
    assert scores["precision"] == scores["recall"] == 0.5
    causes = breakdown(con, "found")
    # in y: A's role 3 (no DOB) with B's two roles -> 2 false pairs, one pair of people
    assert causes["merges"][MERGE_CAUSES[2]] == {"pairs": 2, "people": 1, "fused": 0}
    # A split into {1, 2} and {3}: role 3 has no DOB -> 2 missed pairs
    assert causes["misses"][MISS_CAUSES[0]] == {"pairs": 2, "people": 1, "fused": 0}
    assert sum(c["pairs"] for c in causes["merges"].values()) == scores["false_pairs"]
    assert sum(c["pairs"] for c in causes["misses"].values()) == scores["missed_pairs"]


def test_sizes_option():
    assert _sizes("2000,20_000, 200000") == [2000, 20000, 200000]
    with pytest.raises(Exception, match="dyad counts"):
        _sizes("2k")


def test_a_chained_merge_of_many_people_is_counted_in_bulk():
    con = duckdb.connect()
    people = CHAIN + 1
    con.execute(f"create table truth as select 's' as source_id, 'crimes' as source_table, cast(i as varchar) as "
                f"record_ref, 'VICTIM' as role, 'P' || i as person_id from range({people}) as t(i)")
    con.execute("create table found as select * exclude (person_id), 'z' as person_id from truth")
    con.execute("create table plain as select * exclude (person_id), 'ANNA' as forename, null as surname, "
                "null as dob, null as pnc, null as nhs, null as crn from truth")
    merges = breakdown(con, "found")["merges"]
    assert merges[MERGE_CAUSES[-1]] == {"pairs": people * CHAIN // 2, "people": people * CHAIN // 2, "fused": 0}
    assert pairwise_scores(con, "found")["false_pairs"] == people * CHAIN // 2
