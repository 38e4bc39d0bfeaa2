"""Unit tests of the exact-identifier person linkage rules and the clustering guards (masip.linkage).

Fuzzy (Fellegi–Sunter) and context linkage are tested in test_linkage_fuzzy.py.
"""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from masip.linkage import OUTPUT_COLUMNS, link_person_records, person_id_for
from masip.linkage.cluster import (
    METHODS,
    Attributes,
    cluster,
    cluster_reusing,
    recluster,
)
from masip.linkage.cluster_reuse import GuardedRoots, mix, row_identities
from tests.rawkit import token

#: the module (``masip.linkage.cluster`` is also the name of its function in the package's namespace)
clustering = importlib.import_module("masip.linkage.cluster")

TOKENS = ("pnc_token", "nhs_token", "crn_token", "name_dob_token")


def rec(
    ref: str,
    role: str = "VICTIM",
    source_id: str = "police-a",
    table: str = "crimes",
    **tokens: str | None,
) -> dict:
    row = {
        "source_id": source_id,
        "source_table": table,
        "record_ref": ref,
        "role": role,
    }
    row.update({t: token(tokens.get(t.removesuffix("_token"))) for t in TOKENS})
    return row


def link(*rows: dict) -> pd.DataFrame:
    return link_person_records(pd.DataFrame(list(rows)))


def key(row: dict) -> str:
    return "|".join(
        (row["source_id"], row["source_table"], row["record_ref"], row["role"])
    )


def by_ref(out: pd.DataFrame) -> dict[str, pd.Series]:
    return {r.record_ref: r for r in out.itertuples(index=False)}


def groups(out: pd.DataFrame) -> set[frozenset[str]]:
    return {frozenset(g.record_ref) for _, g in out.groupby("person_id")}


def test_output_shape_and_columns():
    out = link(rec("C1", pnc="p1"), rec("C2", pnc="p1"))
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    assert len(out) == 2


def test_pnc_links_records_across_tables():
    a = rec("C1", role="PERPETRATOR", pnc="p1")
    b = rec("O1", role="PERPETRATOR", table="orders", pnc="p1")
    out = by_ref(link(a, b))
    assert out["C1"].person_id == out["O1"].person_id
    assert out["C1"].link_method == out["O1"].link_method == "PNC"
    assert out["C1"].match_probability == 1.0


def test_nhs_links():
    out = by_ref(
        link(
            rec("H1", table="contacts", nhs="n1"), rec("H2", table="contacts", nhs="n1")
        )
    )
    assert out["H1"].person_id == out["H2"].person_id
    assert out["H1"].link_method == "NHS"


def test_crn_links():
    out = by_ref(
        link(
            rec("E1", table="supervision", crn="c1"),
            rec("E2", table="supervision", crn="c1"),
        )
    )
    assert out["E1"].person_id == out["E2"].person_id
    assert out["E1"].link_method == "CRN"


def test_name_dob_links():
    out = by_ref(
        link(rec("C1", name_dob="nd1"), rec("K1", table="cases", name_dob="nd1"))
    )
    assert out["C1"].person_id == out["K1"].person_id
    assert out["C1"].link_method == out["K1"].link_method == "NAME_DOB"


def test_transitive_chain_is_one_person():
    # C1 -PNC- O1 -NAME_DOB- K1 and H1 (name+dob), H1 -NHS- H2: one person by transitivity
    rows = [
        rec("C1", pnc="p1"),
        rec("O1", table="orders", pnc="p1", name_dob="nd1"),
        rec("K1", table="cases", name_dob="nd1"),
        rec("H1", table="contacts", name_dob="nd1", nhs="n1"),
        rec("H2", table="contacts", nhs="n1"),
        rec("E1", table="supervision", crn="c9"),  # unrelated
    ]
    out = link(*rows)
    assert groups(out) == {frozenset({"C1", "O1", "K1", "H1", "H2"}), frozenset({"E1"})}


def test_link_method_is_strongest_rule_that_linked_the_record():
    out = by_ref(
        link(
            rec("A", pnc="p1", name_dob="nd1"),  # shares PNC with B and name+dob with C
            rec("B", pnc="p1"),
            rec("C", name_dob="nd1", nhs="n-only-here"),  # its NHS token links nothing
        )
    )
    assert out["A"].link_method == "PNC"
    assert out["B"].link_method == "PNC"
    assert out["C"].link_method == "NAME_DOB"
    assert len({out[r].person_id for r in "ABC"}) == 1


def test_singleton():
    out = by_ref(link(rec("C1", pnc="p1"), rec("C2", pnc="p2", name_dob=None)))
    assert out["C1"].link_method == out["C2"].link_method == "SINGLETON"
    assert pd.isna(out["C1"].match_probability)
    assert out["C1"].person_id != out["C2"].person_id


def test_null_and_blank_tokens_never_link():
    out = link(
        rec("C1"),
        rec("C2"),
        rec("C3", pnc=None, nhs=np.nan, name_dob=""),
        rec("C4", pnc="", name_dob=""),
    )
    assert out.person_id.nunique() == 4
    assert set(out.link_method) == {"SINGLETON"}


def test_tokens_of_different_purposes_do_not_link():
    # the same string in two different token columns is not a shared identifier
    out = link(rec("C1", pnc="x"), rec("C2", nhs="x"))
    assert out.person_id.nunique() == 2


def test_person_id_is_hash_of_smallest_member_key_among_records_delivered_together():
    rows = [
        rec("Z9", source_id="police-b", pnc="p1"),
        rec("A1", source_id="police-b", table="orders", pnc="p1"),
    ]
    out = link(*rows)
    expected = person_id_for(min(key(r) for r in rows))
    assert set(out.person_id) == {expected}
    assert expected.startswith("P") and len(expected) == 17


@pytest.mark.parametrize(
    ("delivered", "named_by"),
    [
        # a record delivered later, whose key sorts first, does not rename the person it joins
        ({"Z9": "2026-10-19", "M5": "2026-10-19", "A1": "2026-10-26"}, "M5"),
        ({"Z9": "2026-10-19", "M5": "2026-11-02", "A1": "2026-10-26"}, "Z9"),
        # a record whose delivery is unknown counts as delivered last
        ({"Z9": None, "M5": "2026-11-02", "A1": None}, "M5"),
    ],
)
def test_person_id_names_the_person_after_its_first_delivered_record(delivered, named_by):
    rows = [dict(rec(ref, pnc="p1"), first_delivered_date=date) for ref, date in delivered.items()]
    rows.append(dict(rec("B2", pnc="p2"), first_delivered_date="2026-10-19"))  # another person
    out = link(*rows)
    named = next(r for r in rows if r["record_ref"] == named_by)
    assert set(out.loc[out.record_ref != "B2", "person_id"]) == {person_id_for(key(named))}
    assert set(out.loc[out.record_ref == "B2", "person_id"]) == {person_id_for(key(rows[-1]))}


def test_same_record_two_roles_are_distinct_records():
    out = link(
        rec("C1", role="VICTIM", name_dob="v"),
        rec("C1", role="PERPETRATOR", name_dob="s"),
    )
    assert out.person_id.nunique() == 2


def test_duplicate_record_role_is_refused():
    with pytest.raises(ValueError, match="more than once"):
        link(rec("C1", pnc="p1"), rec("C1", pnc="p2"))


def test_empty_input():
    out = link_person_records(
        pd.DataFrame(
            columns=["source_id", "source_table", "record_ref", "role", *TOKENS]
        )
    )
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    assert out.empty


def _random_records(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)

    def tokens(prefix: str, pool: int, share: float) -> pd.Series:
        values = pd.Series(
            [token(f"{prefix}{i}") for i in rng.integers(0, pool, n)], dtype=object
        )
        return values.where(rng.random(n) < share, None)

    return pd.DataFrame(
        {
            "source_id": rng.choice(["police-a", "police-b", "health-x"], n),
            "source_table": "crimes",
            "record_ref": [f"R{i:05d}" for i in range(n)],
            "role": rng.choice(["VICTIM", "PERPETRATOR"], n),
            "pnc_token": tokens("p", n // 3, 0.3),
            "nhs_token": tokens("n", n // 3, 0.3),
            "crn_token": tokens("c", n // 3, 0.1),
            "name_dob_token": tokens("d", n // 2, 0.7),
        }
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_order_independent_and_person_id_stable_under_shuffling(seed: int):
    records = _random_records(2_000, seed=0)
    baseline = link_person_records(records)
    shuffled = link_person_records(
        records.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(baseline, shuffled)


def _records_of_people(n_people: int, seed: int) -> tuple[pd.DataFrame, list[int]]:
    """Records of latent people: each shows a random subset of its person's tokens.

    Tokens belong to one person each, so no two identifiers conflict and the
    components are exactly the people whose records share some token.
    """
    rng = np.random.default_rng(seed)
    rows, owners = [], []
    for person in range(n_people):
        for k in range(int(rng.integers(1, 5))):
            row = rec(f"R{person:05d}-{k}", source_id=str(rng.choice(["police-a", "police-b", "health-x"])))
            for t, share in (("pnc", 0.3), ("nhs", 0.3), ("crn", 0.1), ("name_dob", 0.6)):
                row[f"{t}_token"] = token(f"{t}{person}") if rng.random() < share else None
            rows.append(row)
            owners.append(person)
    return pd.DataFrame(rows), owners


def test_components_match_a_reference_union_find():
    records, _ = _records_of_people(700, seed=7)
    out = link_person_records(records)

    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for row in records.itertuples(index=False):
        node = f"{row.source_id}|{row.source_table}|{row.record_ref}|{row.role}"
        find(node)
        for t in TOKENS:
            value = getattr(row, t)
            if value is not None:
                parent[find(node)] = find(f"{t}:{value}")
    expected: dict[str, set[str]] = {}
    for row in records.itertuples(index=False):
        node = f"{row.source_id}|{row.source_table}|{row.record_ref}|{row.role}"
        expected.setdefault(find(node), set()).add(node)
    expected_ids = {
        person_id_for(min(members)): members for members in expected.values()
    }

    got: dict[str, set[str]] = {}
    for row in out.itertuples(index=False):
        got.setdefault(row.person_id, set()).add(
            f"{row.source_id}|{row.source_table}|{row.record_ref}|{row.role}"
        )
    assert got == expected_ids


def test_conflicting_identifiers_are_never_merged():
    # A and B have different PNCs; C shares A's NHS number and B's name+DOB.
    # Transitive closure would make one person with two PNCs: the guard keeps
    # A and B apart, and C joins A through the stronger (NHS) link.
    out = by_ref(
        link(
            rec("A", pnc="p1", nhs="n1"),
            rec("B", pnc="p2", name_dob="nd2"),
            rec("C", nhs="n1", name_dob="nd2"),
        )
    )
    assert out["A"].person_id != out["B"].person_id
    assert out["C"].person_id == out["A"].person_id
    assert out["B"].link_method == "SINGLETON"
    # and the same with two NHS numbers bridged by a PNC
    out = by_ref(link(rec("D", nhs="n1", pnc="p9"), rec("E", nhs="n2", pnc="p9")))
    assert out["D"].person_id != out["E"].person_id


def test_the_two_roles_of_one_record_are_never_one_person():
    """A crime's victim and suspect bridged by identifiers (a third record carrying the victim's PNC and the
    suspect's NHS number) stay two people: the third joins the stronger (PNC) side (outside check, 2026-12-06)."""
    rows = [rec("X", "VICTIM", pnc="p1"), rec("X", "PERPETRATOR", nhs="n1"), rec("Y", "VICTIM", pnc="p1", nhs="n1")]
    out = {(r.record_ref, r.role): r.person_id for r in link(*rows).itertuples(index=False)}
    assert out[("X", "VICTIM")] != out[("X", "PERPETRATOR")]
    assert out[("Y", "VICTIM")] == out[("X", "VICTIM")]
    in_key_order = pd.DataFrame(sorted(rows, key=key))  # X PERPETRATOR, X VICTIM, Y VICTIM
    assert clustering.same_record_pairs(in_key_order).tolist() == [[0, 1]]


def _identifier_case(sexes: list[str | None], dates: list[str], reviewed: bool = False) -> list[int]:
    """Cluster labels of two records sharing an NHS number (or a reviewer's "same person"), with these sexes and
    dates of birth (each date token stands for all four date tokens: two dates are equal or unlike)."""
    records = pd.DataFrame({"sex": sexes, **{c: dates for c in ("dob_token", "dob_unordered_token",
                                                                 "dob_year_month_token", "dob_year_day_token")}})
    edges = pd.DataFrame({"i": [0], "j": [1], "rank": [METHODS.index("NHS")], "probability": [1.0]})
    if reviewed:
        return cluster(2, edges.iloc[:0], Attributes.from_records(records), must_link=np.array([[0, 1]]))[0].tolist()
    return cluster(2, edges, Attributes.from_records(records))[0].tolist()


@pytest.mark.parametrize(("sexes", "dates", "one_person"), [
    (["F", "M"], ["d1", "d2"], False),  # both unlike: the identifier was copied onto another person's record
    (["F", "M"], ["d1", "d1"], True),  # a sex mis-keyed
    (["F", "F"], ["d1", "d2"], True),  # a false date of birth (an offender's alias)
    ([None, "M"], ["d1", "d2"], True),  # sex unknown on one side
    (["F", "M"], ["d1", None], True),  # a date of birth missing
])
def test_an_identifier_joins_records_unless_they_differ_in_both_sex_and_date_of_birth(sexes, dates, one_person):
    """A victim's health contact carrying her perpetrator's NHS number (a copy-paste) made her part of him (outside
    check, 2026-12-06). An identifier outweighs a sex or a date of birth that differs, not both."""
    labels = _identifier_case(sexes, dates)
    assert (labels[0] == labels[1]) is one_person
    assert _identifier_case(sexes, dates, reviewed=True) == [0, 0]  # a reviewer's "same person" stands


def _guard_case(forenames: list[str | None], dates: list[str], groups: list[list[str]], edges: list[tuple]):
    """Cluster labels of records with these forename tokens, date tokens and nickname-group tokens."""
    n = len(forenames)
    records = pd.DataFrame({
        "forename_token": forenames,
        "forename_variant_tokens": [g or None for g in groups],
        **{c: dates for c in ("dob_token", "dob_unordered_token", "dob_year_day_token")},
        "dob_year_month_token": "0a",  # dates differ in the day only: one person's, mis-keyed
    })
    frame = pd.DataFrame(edges, columns=["i", "j", "method", "probability"])
    frame["rank"] = [METHODS.index(m) for m in frame.pop("method")]
    return cluster(n, frame, Attributes.from_records(records))[0].tolist()


def test_a_record_without_a_forename_does_not_bridge_two_forenames_of_one_date():
    """John (0) and David (1), born on one day, and a record of that day with no forename (2) linked to both:
    it joins the stronger one only. Their own records (3, 4) come along; records that carry both forenames
    decide for themselves, and forenames of one nickname group, or of different dates, are not kept apart."""
    john, david, robert, bob = "a1", "b2", "c3", "d4"
    day, other_day = "e5", "f6"
    bridge = [(0, 3, "NAME_DOB", 1.0), (1, 4, "NAME_DOB", 1.0), (2, 1, "PROBABILISTIC", 0.999),
              (2, 0, "PROBABILISTIC", 0.998)]
    kept_apart = _guard_case([john, david, None, john, david], [day] * 5, [[]] * 5, bridge)
    assert kept_apart == [0, 1, 1, 0, 1]
    # a link between two records that both carry a forename is the model's to make
    assert _guard_case([john, david, None], [day] * 3, [[]] * 3,
                       [(0, 1, "PROBABILISTIC", 0.999), (2, 1, "PROBABILISTIC", 0.999)]) == [0, 0, 0]
    # Robert and Bob share a nickname group; John and David recorded on different dates cannot be compared
    assert _guard_case([robert, bob, None, robert, bob], [day] * 5, [["99"], ["99"], [], ["99"], ["99"]],
                       bridge) == [0] * 5
    assert _guard_case([john, david, None, john, david], [day, other_day, day, day, other_day], [[]] * 5,
                       bridge) == [0] * 5
    # identifiers are not guarded
    assert _guard_case([john, david, None, john, david], [day] * 5, [[]] * 5,
                       [(0, 2, "PNC", 1.0), (1, 2, "PNC", 1.0)])[:3] == [0, 0, 0]


def test_guarded_components_do_not_depend_on_row_order():
    records, _ = _random_records(2_000, seed=3), None
    baseline = link_person_records(records)
    for seed in (4, 5):
        shuffled = records.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        pd.testing.assert_frame_equal(baseline, link_person_records(shuffled))
    # random tokens collide across "people", so some links are refused by the
    # guard: no person may hold two PNC or two NHS tokens
    merged = baseline.merge(records, on=["source_id", "source_table", "record_ref", "role"])
    for column in ("pnc_token", "nhs_token"):
        assert (merged.dropna(subset=[column]).groupby("person_id")[column].nunique() <= 1).all()


def _random_guard_problem(n: int, seed: int) -> tuple[Attributes, pd.DataFrame, np.ndarray, np.ndarray]:
    """Records with colliding identifiers, sexes, dates and forenames, random edges of every method, and
    clerical decisions: a problem in which the guards refuse many unions."""
    rng = np.random.default_rng(seed)

    def codes(domain: int, known: float) -> np.ndarray:
        return np.where(rng.random(n) < known, rng.integers(0, domain, n), -1).astype(np.int64)

    dob = np.stack([codes(6, 0.8), codes(4, 1.0), codes(4, 1.0), codes(4, 1.0)], axis=1)
    dob[dob[:, 0] < 0] = -1
    forename = codes(5, 0.7)
    lengths = rng.integers(0, 3, n)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    attrs = Attributes(codes(8, 0.2), codes(8, 0.1), rng.integers(0, 3, n).astype(np.int8), dob, forename,
                       rng.integers(0, 6, int(offsets[-1])).astype(np.int64), offsets)
    m = n * 6 // 10  # many small components, as in a partnership
    edges = pd.DataFrame({"i": rng.integers(0, n, m), "j": rng.integers(0, n, m),
                          "rank": rng.integers(0, 6, m), "probability": rng.random(m).round(2)})
    edges = edges[edges["i"] != edges["j"]].reset_index(drop=True)
    return attrs, edges, rng.integers(0, n, (3, 2)), rng.integers(0, n, (3, 2))


@pytest.mark.parametrize("seed", range(6))
def test_reclustering_after_added_edges_equals_clustering_everything_again(seed: int):
    """The second clustering (after the dyad pass) clusters again only the components the added edges touch;
    the result must be exactly that of clustering every edge again."""
    n = 3_000
    attrs, edges, must, cannot = _random_guard_problem(n, seed)
    before = edges.iloc[: len(edges) * 9 // 10]
    added = edges.iloc[len(edges) * 9 // 10:]
    labels, _ = cluster(n, before, attrs, must, cannot)
    expected_labels, expected_effective = cluster(n, edges, attrs, must, cannot)
    got_labels, got_effective = recluster(n, edges, added, labels, attrs, must, cannot)
    np.testing.assert_array_equal(got_labels, expected_labels)
    np.testing.assert_array_equal(got_effective, expected_effective)
    # not a trivial case: the added edges change the clusters, and the guards refused unions
    assert (labels != expected_labels).any()
    assert not expected_effective.all()


def _identify(keys: np.ndarray, attrs: Attributes):
    """Identities of rows from their keys and every guarded attribute (as row_identities does from records)."""

    def identities(rows: np.ndarray) -> np.ndarray:
        found = mix(keys[rows].astype(np.uint64))
        for values in (attrs.pnc, attrs.nhs, attrs.sex, attrs.forename, *attrs.dob.T):
            found = mix(found + mix(values[rows].astype(np.uint64)))
        names = np.array([mix(attrs.name_codes[attrs.name_offsets[r]: attrs.name_offsets[r + 1]].astype(np.uint64)).sum()
                          for r in rows], dtype=np.uint64)
        return mix(found + names)

    return identities


def _week(universe: tuple, rows: np.ndarray, edges: pd.DataFrame) -> tuple[Attributes, pd.DataFrame]:
    """The attributes of ``rows`` (universe numbers, ascending) and the edges between them, numbered 0.. ."""
    attrs = universe[0].take(rows)
    local = np.full(len(universe[0].pnc), -1)
    local[rows] = np.arange(len(rows))
    kept = (local[edges["i"]] >= 0) & (local[edges["j"]] >= 0)
    return attrs, edges[kept].assign(i=local[edges["i"][kept]], j=local[edges["j"][kept]]).reset_index(drop=True)


@pytest.mark.parametrize("seed", range(4))
def test_a_week_reuses_last_weeks_clusters_exactly_where_nothing_it_depends_on_changed(seed: int, monkeypatch):
    """Next week: records deleted and added (rows renumbered), guarded values changed, edges dropped and added,
    every probability moved (a new prior): clustering with last week's roots equals clustering afresh, and
    runs the union-find on fewer rows than that."""
    rng = np.random.default_rng(100 + seed)
    size = 3_300
    attrs, edges, must, cannot = _random_guard_problem(size, seed)
    keys = np.arange(size) * 7 + 3  # member keys, in row order
    last = np.sort(rng.choice(size, 3_000, replace=False))
    gone = rng.choice(last, 60, replace=False)
    this = np.union1d(np.setdiff1d(last, gone), rng.choice(np.setdiff1d(np.arange(size), last), 150, replace=False))
    changed = attrs.sex.copy()
    changed[rng.choice(size, 40, replace=False)] = 3  # a guarded value changed
    now = Attributes(attrs.pnc, attrs.nhs, changed, attrs.dob, attrs.forename, attrs.name_codes, attrs.name_offsets)
    extra = edges.sample(frac=0.05, random_state=seed).assign(rank=lambda e: (e["rank"] + 1) % 6)
    this_edges = pd.concat([edges.drop(edges.sample(frac=0.05, random_state=seed + 1).index), extra])
    this_edges = this_edges.assign(probability=this_edges["probability"] * 0.5)  # the order is the same
    week1_attrs, week1_edges = _week((attrs,), last, edges)
    week2_attrs, week2_edges = _week((now,), this, this_edges)

    def rows_of(pairs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        local = np.full(size, -1)
        local[rows] = np.arange(len(rows))
        mapped = local[pairs]
        return mapped[(mapped >= 0).all(axis=1)]

    _, _, roots = cluster_reusing(len(last), week1_edges, week1_attrs, rows_of(must, last), rows_of(cannot, last),
                                  identify=_identify(keys[last], week1_attrs))
    assert (roots.signature != 0).any()
    # last week's roots, on this week's rows (nothing for a new record)
    before = np.searchsorted(last, this)
    known = (before < len(last)) & (last[np.minimum(before, len(last) - 1)] == this)
    previous = GuardedRoots.none(len(this))
    previous.signature[known], previous.root[known] = roots.signature[before[known]], roots.root[before[known]]

    clustered: list[int] = []
    guarded = clustering._guarded_roots

    def counting(nodes, *args):
        clustered.append(len(nodes))
        return guarded(nodes, *args)

    monkeypatch.setattr(clustering, "_guarded_roots", counting)
    args = (len(this), week2_edges, week2_attrs, rows_of(must, this), rows_of(cannot, this))
    identify = _identify(keys[this], week2_attrs)
    expected_labels, expected_effective, expected_roots = cluster_reusing(*args, identify=identify)
    labels, effective, new_roots = cluster_reusing(*args, identify=identify, previous=previous)
    np.testing.assert_array_equal(labels, expected_labels)
    np.testing.assert_array_equal(effective, expected_effective)
    np.testing.assert_array_equal(new_roots.signature, expected_roots.signature)
    np.testing.assert_array_equal(new_roots.root, expected_roots.root)
    assert 0 < clustered[1] < clustered[0]
    np.testing.assert_array_equal(labels, cluster(*args)[0])
    # the roots taken over are used: last week's, corrupted, give other clusters
    wrong = GuardedRoots(previous.signature, np.where(previous.root > 0, 0, previous.root))
    assert (cluster_reusing(*args, identify=identify, previous=wrong)[0] != labels).any()


def test_a_rows_identity_follows_its_key_and_guarded_values_only():
    records = pd.DataFrame({
        "pnc_token": pd.array([1, None, 3, 1], dtype="Int64"), "sex": ["F", "M", None, "F"],
        "forename_variant_tokens": [[5, 6], [], None, [6, 5]], "postcode_district": ["A1", "B2", "C3", "D4"],
    })
    keys = pa.array(["k1", "k2", "k3", "k4"])
    identities = row_identities(records, keys)(np.arange(4))
    assert len(set(identities.tolist())) == 4
    same_key = row_identities(records, pa.array(["k1", "k2", "k3", "k1"]))(np.arange(4))
    assert same_key[0] == same_key[3]  # lists are sets; the postcode district is not guarded
    assert row_identities(records.iloc[[3, 0]].reset_index(drop=True), pa.array(["k1", "k1"]))(np.array([1]))[0] == (
        identities[0]
    )
    for column, value in (("pnc_token", 2), ("sex", "M"), ("forename_variant_tokens", [5])):
        other = records.copy()
        other.at[0, column] = value
        assert row_identities(other, keys)(np.array([0]))[0] != identities[0]


def test_attributes_of_a_subset_of_rows_are_those_rows():
    attrs, _, _, _ = _random_guard_problem(50, seed=1)
    rows = np.array([3, 7, 8, 20, 49])
    part = attrs.take(rows)
    np.testing.assert_array_equal(part.dob, attrs.dob[rows])
    np.testing.assert_array_equal(part.pnc, attrs.pnc[rows])
    for k, row in enumerate(rows):
        names = part.name_codes[part.name_offsets[k]: part.name_offsets[k + 1]]
        np.testing.assert_array_equal(names, attrs.name_codes[attrs.name_offsets[row]: attrs.name_offsets[row + 1]])


def test_each_rows_forename_evidence_is_its_forename_and_nickname_groups():
    from masip.linkage.comparisons import token_ints

    records = pd.DataFrame({
        "forename_token": ["a1", None, "b2", "", "c3"],
        "forename_variant_tokens": [["f0", "e0"], ["d0"], None, [], ["e0"]],
    })
    attrs = Attributes.from_records(records)
    as_int = dict(zip(["a1", "b2", "c3", "d0", "e0", "f0"],
                      token_ints(pd.Series(["a1", "b2", "c3", "d0", "e0", "f0"])).to_pylist()))
    expected = [{"a1", "e0", "f0"}, {"d0"}, {"b2"}, set(), {"c3", "e0"}]
    got = [set(attrs.name_codes[attrs.name_offsets[k]: attrs.name_offsets[k + 1]].tolist()) for k in range(5)]
    assert got == [{as_int[t] for t in row} for row in expected]


def test_links_a_large_frame_completely():
    """Vectorised path on 200k rows: every record gets a person. Speed is measured by `make bench`, not here."""
    n = 200_000
    rng = np.random.default_rng(0)
    records = pd.DataFrame(
        {
            "source_id": "police-a",
            "source_table": "crimes",
            "record_ref": np.char.add("C", np.arange(n).astype(str)),
            "role": "VICTIM",
            "pnc_token": pd.Series(rng.integers(0, 300_000, n))
            .astype(str)
            .where(rng.random(n) < 0.3),
            "name_dob_token": pd.Series(rng.integers(0, 500_000, n))
            .astype(str)
            .where(rng.random(n) < 0.8),
        }
    )
    out = link_person_records(records)
    assert len(out) == n and out["person_id"].notna().all()
    assert out["person_id"].nunique() < n  # records sharing tokens were merged
    assert set(out["record_ref"]) == set(records["record_ref"])
