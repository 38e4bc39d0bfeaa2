"""Incremental person linkage (masip.linkage.link_with_state, masip.linkage.state).

A weekly run given the previous run's state must give exactly what a full
run under the same frozen model gives, while scoring only the pairs of new
and changed records. The population (about 800 record roles) is trained on, as a partnership that size may
choose (``MASIP_MIN_TRAINING_RECORDS``, default 3,000), so the first run trains its model on the data.
"""

from __future__ import annotations

import importlib
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from masip.linkage import (
    LinkageState,
    fuzzy,
    link_for_review,
    link_person_records,
    link_with_state,
    scorer,
)
from masip.linkage.state import PAIR_COLUMNS, merged_pairs
from tests.test_linkage_fuzzy import HEALTH, ORDERS, person, records_frame

cluster_module = importlib.import_module("masip.linkage.cluster")

FORENAMES = ["Amelia", "Olivia", "Isla", "Emily", "Jack", "Harry", "Oliver", "Charlie", "Thomas", "Sophie",
             "Daniel", "Megan", "Liam", "Chloe", "Ryan", "Hannah", "Adam", "Laura", "James", "Zara"]
SURNAMES = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Wright",
            "Walker", "Evans", "Roberts", "Khan", "Hughes", "Green", "Hall", "Wood", "Clarke", "Ahmed"]
POSTCODES = ["SK8 9DQ", "CW1 2AB", "WA4 6PL", "SO15 2JX", "PO1 3AX", "N1 9GU", "E14 5AB", "CH2 4LT", "WA1 1QA",
             "CW9 5NP"]


def _typo(name: str, rng: np.random.Generator) -> str:
    k = int(rng.integers(1, len(name)))
    return name[:k] + name[k + 1:]


def _noisy(forename: str, surname: str, dob: str, postcode: str, rng: np.random.Generator) -> tuple:
    """One recording of a person, with the kinds of noise real records have (and EM needs to see)."""
    year, month, day = dob.split("-")
    noise = rng.random(6)
    if noise[0] < 0.15:
        surname = _typo(surname, rng)
    if noise[1] < 0.1:
        forename = _typo(forename, rng)
    if noise[2] < 0.05:
        forename, surname = surname, forename
    if noise[3] < 0.1:
        dob = f"{year}-{day}-{month}" if int(day) <= 12 else f"{int(year) + 1}-{month}-{day}"
    elif noise[3] < 0.15:
        dob = None
    if noise[4] < 0.15:
        postcode = str(rng.choice(POSTCODES))
    elif noise[4] < 0.25:
        postcode = None
    return forename, surname, dob, postcode


def _population(people: int, seed: int) -> list[dict]:
    """Records of ``people`` persons (victims and perpetrators) in several sources, with noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(people):
        forename, surname = str(rng.choice(FORENAMES)), str(rng.choice(SURNAMES))
        dob = f"{rng.integers(1950, 2005)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}"
        sex, postcode = str(rng.choice(["F", "M"])), str(rng.choice(POSTCODES))
        role = "VICTIM" if p % 2 else "PERPETRATOR"
        for k, source in enumerate(({}, HEALTH, ORDERS, {})[: int(rng.integers(2, 5))]):
            values = _noisy(forename, surname, dob, postcode, rng)
            rows.append(person(f"R{p:04d}-{k}", role, *values[:3], sex, values[3], **source))
    return rows


@pytest.fixture(scope="module")
def weeks(trained_from_600_records: None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Last week's records, and this week's: some added, some changed, some deleted."""
    this_week = _population(260, seed=11)
    rng = np.random.default_rng(5)
    shuffled = rng.permutation(len(this_week))
    added, changed, deleted = set(shuffled[:15]), set(shuffled[15:30]), set(shuffled[30:40])
    last_week = []
    for i, row in enumerate(this_week):
        if i in changed:  # last week the record named someone else
            row = person(row["record_ref"], row["role"], "Robert", "Oldname", None, row["sex"], "SW2 1AA",
                         table=row["source_table"], source=row["source_id"])
        if i not in added:
            last_week.append(row)
    this_week = [row for i, row in enumerate(this_week) if i not in deleted]
    return records_frame(last_week), records_frame(this_week)


@pytest.fixture(scope="module")
def runs(weeks):
    last_week, this_week = weeks
    _, state = link_with_state(last_week)
    full = link_with_state(this_week, previous=state.without_pairs())
    incremental = link_with_state(this_week, previous=state)
    return state, full, incremental


def test_first_run_trains_a_model(runs, weeks):
    state, _, _ = runs
    assert len(weeks[0]) >= scorer.min_training_records()
    model = fuzzy.Model.from_json(state.model)
    # no term-frequency adjustment: the name tokens are keyed with the date of birth (issue 14)
    assert model.trained and model.tf_columns == []
    dob = next(c for c in model.settings["comparisons"] if c["output_column_name"] == "dob")
    parts = next(lv for lv in dob["comparison_levels"] if lv["label_for_charts"] == "year and day or month equal")
    assert parts["u_probability"] > 1e-3  # the date parts alone, not with a like-sounding surname (~4e-6)
    assert set(state.term_frequencies) == set(model.tf_columns)
    assert len(state.records) == len(weeks[0]) and len(state.pairs)


def test_a_frozen_model_decides_under_the_prior_of_the_grown_partnership(runs, weeks):
    """The share of record pairs that match falls as 1/n: a weekly run on more records needs more evidence."""
    state, _, _ = runs
    model = fuzzy.Model.from_json(state.model)
    assert model.records == len(weeks[0])  # trained on last week's records
    assert model.prior_for(model.records) == model.prior
    assert model.prior_for(10 * model.records) == pytest.approx(model.prior / 10)
    assert fuzzy.Model.from_json(model.to_json()) == model
    # the same pairs, decided for a partnership ten times the size: no link gets more probable, some get less
    grown = fuzzy.Model(model.settings, model.trained, records=model.records // 10)
    weights = state.pairs["match_weight"].to_numpy()
    now = fuzzy.rescore(weights, model.prior_weight, model.prior_for(len(weeks[1])))
    later = fuzzy.rescore(weights, grown.prior_weight, grown.prior_for(len(weeks[1])))
    assert (later <= now).all() and (later < now - 0.05).any()


def test_incremental_run_equals_a_full_run_under_the_same_model(runs):
    _, (full_links, full_state), (links, state) = runs
    pd.testing.assert_frame_equal(links, full_links)
    pd.testing.assert_frame_equal(state.pairs, full_state.pairs)
    pd.testing.assert_frame_equal(state.records, full_state.records)
    assert state.model == full_state.model


def test_incremental_run_scores_only_pairs_of_new_and_changed_records(weeks, monkeypatch):
    last_week, this_week = weeks
    _, state = link_with_state(last_week)
    scored: list[int] = []
    predict = scorer.Scorer.predict

    def counting(self, model, rules=None, **kwargs):
        pairs = predict(self, model, rules, **kwargs)
        if rules is None:  # the first pass (the dyad pass has its own rule)
            scored.append(len(pairs))
        return pairs

    monkeypatch.setattr(scorer.Scorer, "predict", counting)
    _, new_state = link_with_state(this_week, previous=state)
    assert 0 < scored[0] < len(new_state.pairs) / 4


def test_an_incremental_run_clusters_again_only_the_components_a_week_changed(monkeypatch):
    """Components whose records, edges and decisions are last week's keep last week's clusters; the guarded
    union-find runs on the others only, and the links are exactly a full run's."""
    this_week = records_frame(_population(260, seed=11))
    rng = np.random.default_rng(3)
    flipped = rng.random(len(this_week)) < 0.1  # a sex recorded wrongly: components the guards must split
    this_week.loc[flipped, "sex"] = this_week.loc[flipped, "sex"].map({"F": "M", "M": "F"})
    last_week = this_week.drop(index=rng.choice(len(this_week), 30, replace=False))
    _, state = link_with_state(last_week)
    assert (state.records["cluster_signature"] != 0).any()
    clustered: list[int] = []
    guarded = cluster_module._guarded_roots
    monkeypatch.setattr(cluster_module, "_guarded_roots", lambda nodes, *a: clustered.append(len(nodes)) or guarded(nodes, *a))
    full_links, full_state = link_with_state(this_week, previous=state.without_pairs())
    full = clustered[0]  # the first clustering (a dyad pass may cluster again after it)
    clustered.clear()
    links, new_state = link_with_state(this_week, previous=state)
    assert 0 < clustered[0] < full
    pd.testing.assert_frame_equal(links, full_links)
    pd.testing.assert_frame_equal(new_state.records, full_state.records)


def test_the_guards_read_nothing_a_rows_identity_leaves_out(weeks):
    """A component's signature may stand for its clusters only if it covers every value the guards read: the
    guards' attributes of a records frame cut down to GUARDED_COLUMNS are those of the whole frame."""
    from masip import linkage
    from masip.linkage.cluster_reuse import GUARDED_COLUMNS

    records = linkage.canonical_records(weeks[1]).frame
    assert set(GUARDED_COLUMNS) <= set(records.columns)
    whole = cluster_module.Attributes.from_records(records)
    cut = cluster_module.Attributes.from_records(records[list(GUARDED_COLUMNS)])
    for name, values in vars(whole).items():
        np.testing.assert_array_equal(getattr(cut, name), values, err_msg=name)


def test_an_incremental_run_reuses_the_review_fields_of_unchanged_pairs_only(weeks):
    """The queue's field-by-field evidence of two unchanged records is last week's; the rest is scored, and the
    whole equals what scoring every queued pair again gives."""
    last_week, this_week = weeks
    state = link_for_review(last_week).state
    full = link_for_review(this_week, previous=state.without_pairs())
    incremental = link_for_review(this_week, previous=state)
    assert len(state.review_fields) and len(full.review_queue)
    pd.testing.assert_frame_equal(incremental.review_queue, full.review_queue)
    pd.testing.assert_frame_equal(incremental.review_fields, full.review_fields)
    pd.testing.assert_frame_equal(incremental.state.review_fields, full.review_fields)
    # every queued pair "known" last week with a weight no scoring gives: only pairs of two unchanged records keep it
    marked = full.review_fields.assign(match_weight=1000.0)
    fields = link_for_review(this_week, previous=replace(state, review_fields=marked)).review_fields
    kept = fields["match_weight"] == 1000.0
    assert kept.any() and not kept.all()
    scored = full.review_fields[full.review_fields["review_id"].isin(fields.loc[~kept, "review_id"])]
    pd.testing.assert_frame_equal(fields[~kept].reset_index(drop=True), scored.reset_index(drop=True))


def test_state_survives_save_and_load(runs, weeks, tmp_path):
    state = runs[0]
    state.save(tmp_path / "state")
    loaded = LinkageState.load(tmp_path / "state")
    pd.testing.assert_frame_equal(loaded.records, state.records)
    pd.testing.assert_frame_equal(loaded.pairs, state.pairs)
    pd.testing.assert_frame_equal(loaded.review_fields, state.review_fields)
    assert loaded.model == state.model and loaded.term_frequencies.keys() == state.term_frequencies.keys()
    this_week = weeks[1]
    pd.testing.assert_frame_equal(link_person_records(this_week, previous=loaded), runs[2][0])


def test_frozen_model_without_pairs_skips_training(runs, weeks, monkeypatch):
    state = runs[0]
    monkeypatch.setattr(scorer.Scorer, "train", lambda *a, **k: pytest.fail("trained under a frozen model"))
    links, new_state = link_with_state(weeks[1], previous=state.without_pairs())
    assert new_state.model == state.model and len(links) == len(weeks[1])


@pytest.mark.parametrize("frequencies", [{}, {"forename_token": pd.DataFrame({"token": [7, 9], "frequency": [0.25, 0.75]})}])
def test_state_kept_in_the_vault_round_trips(frequencies):
    """What the linkage stage stores in the vault's state file comes back row for row (pairs index records by row)."""
    import duckdb
    import pyarrow as pa

    from masip.linkage.state_store import load_state, store_state, stored_build_id

    con = duckdb.connect()
    assert load_state(con) is None and stored_build_id(con) is None
    records = pd.DataFrame({"member_key": pd.arrays.ArrowExtensionArray(pa.array(["c", "a", "b"])),
                            "fingerprint": np.array([3, 1, 2], dtype=np.int64)})
    pairs = pd.DataFrame({"uid_l": [0, 1], "uid_r": [2, 2], "match_weight": [4.5, -1.0], "match_probability": [0.9, 0.3],
                          "forenames_differ": [False, True]})
    fields = pd.DataFrame({"review_id": ["R1", "R1"], "field": ["forename", "dob"], "field_position": [0, 3],
                           "agreement_level": ["nickname", "else"], "match_weight": [2.5, -4.0]})
    store_state(con, LinkageState('{"model": 1}', frequencies, records, pairs, fields), "build-1")
    loaded = load_state(con)
    assert stored_build_id(con) == "build-1"
    assert loaded.model == '{"model": 1}'
    assert list(loaded.records["member_key"]) == ["c", "a", "b"]
    assert loaded.records["fingerprint"].tolist() == [3, 1, 2]
    # stored without the clustering's columns (a state from before they were kept): nothing to reuse
    assert loaded.records["cluster_signature"].tolist() == [0, 0, 0] and loaded.records["cluster_root"].tolist() == [-1] * 3
    clustered = records.assign(cluster_signature=np.array([7, 0, 7], dtype=np.int64), cluster_root=np.array([1, -1, 0]))
    store_state(con, LinkageState('{"model": 1}', frequencies, clustered, pairs, fields), "build-2")
    pd.testing.assert_frame_equal(load_state(con).records, clustered, check_dtype=False)
    pd.testing.assert_frame_equal(loaded.pairs, pairs, check_dtype=False)
    pd.testing.assert_frame_equal(loaded.review_fields, fields, check_dtype=False)
    assert {c: f.to_dict("list") for c, f in loaded.term_frequencies.items()} == {
        c: f.to_dict("list") for c, f in frequencies.items()}
    # pairs stored before they kept whether their forenames differ: the frozen model alone, every pair scored again
    store_state(con, LinkageState('{"model": 1}', frequencies, records, pairs.drop(columns="forenames_differ")), "build-3")
    older = load_state(con)
    assert older.model == '{"model": 1}' and older.pairs.empty and older.records.empty


def test_reused_and_fresh_pairs_merge_into_a_full_runs_order():
    rng = np.random.default_rng(4)
    left = rng.integers(0, 500, 4_000)
    right = left + rng.integers(1, 500, 4_000)
    pairs = pd.DataFrame({"uid_l": left, "uid_r": right, "match_weight": rng.normal(size=4_000)})
    pairs = pairs.drop_duplicates(["uid_l", "uid_r"]).sort_values(["uid_l", "uid_r"]).reset_index(drop=True)
    pairs["match_probability"] = rng.random(len(pairs))
    pairs["forenames_differ"] = rng.random(len(pairs)) < 0.05
    fresh = rng.random(len(pairs)) < 0.1
    reused = {c: pairs[c].to_numpy()[~fresh] for c in PAIR_COLUMNS}
    merged = merged_pairs(reused, pairs[fresh].reset_index(drop=True))
    pd.testing.assert_frame_equal(merged, pairs)
    assert reused == {}  # consumed
    every = {c: pairs[c].to_numpy() for c in PAIR_COLUMNS}
    assert merged_pairs({c: v[:0] for c, v in every.items()}, pairs).equals(pairs)
    assert merged_pairs(every, pairs.iloc[:0]).equals(pairs)
