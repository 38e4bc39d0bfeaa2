"""Attrition (SPEC §7.3): the funnel, outcome and s2A/s4A marts, and their disclosure control.

One hand-built scenario of three forces is built once with the real dbt
project; the true counts are checked cell by cell against answers worked
out by hand, and the published copies against the disclosure rule worked
out by hand. The disclosure functions are also checked on their own, on
hand-made and on random tables, including an attacker who differences
totals (exactly, and with the rounding intervals).

Scenario (as_of 2026-11-16; financial year = April-March of reported_at):

  CHESHIRE  C1 8/65 (s4A) 2025-04-01 00:30 -> 2025-26; CPS, charged as 195/12 (s2A: a downgrade),
               outcome 1, court CONVICTED of 195/12 (stalking)
            C2 195/12 2026-03-31 23:59 -> 2025-26; outcome 16
            C3 8Q (s2A) 2024-03-31 -> 2023-24; CPS, outcome 1A without charged_at or charge code
               (CHARGED, charge NOT_RECORDED), court ACQUITTED (COURT, not CONVICTED)
            C4 8L harassment: not a stalking category, not counted (nor its conviction)
            C5 8/66 (s4A) 2025-06-01; CPS, charged as 8L (non-stalking: a downgrade), outcome 1,
               court ADJOURNED then CONVICTED of 8L (CONVICTED, not CONVICTED_STALKING)
            C6 195/12, DELETED in a later version (its conviction is ignored)
            R99 a court result of a crime that never arrives (ignored)
  HAMPSHIRE H1 195/12 2025-09-01, no outcome (OPEN); H2 8/65 2025-10-01, CPS, outcome 15
  MET       M01-M09 195/12 May 2025, all CPS; M01-M08 charged as 195/12 (outcome 1), M09 open
            M10-M19 8Q June 2023, nothing further (open)
            M20 195/12 2026-06-01 (2026-27, incomplete year)
  -> financial years 2023-24, 2024-25 (no crime: zero rows), 2025-26, 2026-27.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from masip.evaluation.disclosure import (
    ALL_FORCES,
    PRIMARY,
    SECONDARY,
    Relation,
    determined_cells,
    protect,
    protect_attrition,
    publish_count,
    recoverable_from_published,
    round_to_base,
)
from masip.pipeline import build_linked
from tests.test_evaluation import Drop, Row, load_raw

AS_OF = date(2026, 11, 16)
CHESHIRE = Drop("police-cheshire-2026-11-16", "police-cheshire", "police", AS_OF)
HAMPSHIRE = Drop("police-hampshire-2026-11-16", "police-hampshire", "police", AS_OF)
MET = Drop("police-met-2026-11-16", "police-met", "police", AS_OF)
STAGES = ["RECORDED", "CPS_REFERRED", "CHARGED", "COURT", "CONVICTED", "CONVICTED_STALKING"]
VICTIM = {"VICTIM": {"name_dob_token": "nd-victim"}}


def d(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def crime(drop: Drop, ref: str, code: str, reported: str, cps: str | None = None, charged: str | None = None,
          charge_code: str | None = None, outcome: str | None = None, status: str = "ACTIVE",
          updated: str | None = None) -> Row:
    force = drop.source_id.split("-")[1].upper()
    return Row("crimes", drop, {
        "crime_ref": ref, "force": force,
        "reported_at": datetime.fromisoformat(reported if " " in reported else reported + " 12:00"),
        "offence_code": code, "cps_referred_at": d(cps), "charged_at": d(charged),
        "charge_offence_code": charge_code, "outcome_code": outcome,
        "outcome_at": d(charged or cps or reported[:10]) if outcome else None,
    }, VICTIM, status=status, updated_at=datetime.fromisoformat(updated) if updated else None)


def court(drop: Drop, ref: str, crime_ref: str, hearing: str, result: str, code: str | None = None) -> Row:
    force = drop.source_id.split("-")[1].upper()
    return Row("court_results", drop, {
        "result_ref": ref, "force": force, "crime_ref": crime_ref, "hearing_at": d(hearing),
        "result": result, "convicted_offence_code": code,
    }, {})


def scenario() -> list[Row]:
    rows = [
        crime(CHESHIRE, "C1", "8/65", "2025-04-01 00:30", cps="2025-04-10", charged="2025-04-20",
              charge_code="195/12", outcome="1"),
        court(CHESHIRE, "R1", "C1", "2025-06-01", "CONVICTED", "195/12"),
        crime(CHESHIRE, "C2", "195/12", "2026-03-31 23:59", outcome="16"),
        crime(CHESHIRE, "C3", "8Q", "2024-03-31", cps="2024-04-02", outcome="1A"),
        court(CHESHIRE, "R3", "C3", "2024-06-01", "ACQUITTED"),
        crime(CHESHIRE, "C4", "8L", "2025-05-01", cps="2025-05-05", charged="2025-05-06", charge_code="8L",
              outcome="1"),
        court(CHESHIRE, "R4", "C4", "2025-07-01", "CONVICTED", "8L"),
        crime(CHESHIRE, "C5", "8/66", "2025-06-01", cps="2025-06-10", charged="2025-07-01", charge_code="8L",
              outcome="1"),
        court(CHESHIRE, "R5A", "C5", "2025-08-01", "ADJOURNED"),
        court(CHESHIRE, "R5B", "C5", "2025-09-01", "CONVICTED", "8L"),
        crime(CHESHIRE, "C6", "195/12", "2025-07-01", updated="2025-07-01 13:00"),
        crime(CHESHIRE, "C6", "195/12", "2025-07-01", status="DELETED", updated="2025-08-01 13:00"),
        court(CHESHIRE, "R6", "C6", "2025-09-01", "CONVICTED", "195/12"),
        court(CHESHIRE, "R99", "C99", "2025-09-01", "CONVICTED", "195/12"),
        crime(HAMPSHIRE, "H1", "195/12", "2025-09-01"),
        crime(HAMPSHIRE, "H2", "8/65", "2025-10-01", cps="2025-10-05", outcome="15"),
    ]
    for i in range(1, 10):
        charged = {"charged": "2025-06-15", "charge_code": "195/12", "outcome": "1"} if i <= 8 else {}
        rows.append(crime(MET, f"M{i:02d}", "195/12", f"2025-05-{i:02d}", cps="2025-06-01", **charged))
    for i in range(10, 20):
        rows.append(crime(MET, f"M{i:02d}", "8Q", f"2023-06-{i - 9:02d}"))
    rows.append(crime(MET, "M20", "195/12", "2026-06-01"))
    return rows


# True funnel: (force, financial_year) -> counts by stage.
EXPECTED_FUNNEL = {
    ("CHESHIRE", "2023-24"): [1, 1, 1, 1, 0, 0],
    ("CHESHIRE", "2024-25"): [0, 0, 0, 0, 0, 0],
    ("CHESHIRE", "2025-26"): [3, 2, 2, 2, 2, 1],
    ("CHESHIRE", "2026-27"): [0, 0, 0, 0, 0, 0],
    ("HAMPSHIRE", "2023-24"): [0, 0, 0, 0, 0, 0],
    ("HAMPSHIRE", "2024-25"): [0, 0, 0, 0, 0, 0],
    ("HAMPSHIRE", "2025-26"): [2, 1, 0, 0, 0, 0],
    ("HAMPSHIRE", "2026-27"): [0, 0, 0, 0, 0, 0],
    ("MET", "2023-24"): [10, 0, 0, 0, 0, 0],
    ("MET", "2024-25"): [0, 0, 0, 0, 0, 0],
    ("MET", "2025-26"): [9, 9, 8, 0, 0, 0],
    ("MET", "2026-27"): [1, 0, 0, 0, 0, 0],
}

S = None  # a suppressed published count
# Published funnel worked out by hand (forces C, H, M, then ALL_FORCES).
EXPECTED_PUBLISHED = {
    # 1 suppressed, 0, and MET's 10 suppressed too (the only other non-zero cell); total 11 -> 10
    ("2023-24", "RECORDED"): [S, 0, S, 10],
    ("2023-24", "CPS_REFERRED"): [S, 0, 0, S],  # the total is 1: suppressed itself
    ("2024-25", "RECORDED"): [0, 0, 0, 0],
    # two small cells protect each other; 9 -> 10, total 14 -> 15
    ("2025-26", "RECORDED"): [S, S, 10, 15],
    ("2025-26", "CPS_REFERRED"): [S, S, 10, 10],  # total 12 -> 10
    # one small cell (2): the smallest other non-zero cell (MET, 8) is suppressed; total 10
    ("2025-26", "CHARGED"): [S, 0, S, 10],
    ("2025-26", "COURT"): [S, 0, 0, S],
    ("2025-26", "CONVICTED_STALKING"): [S, 0, 0, S],
    ("2026-27", "RECORDED"): [0, 0, S, S],
}


@dataclass
class Built:
    warehouse: Path
    tables: dict[str, pd.DataFrame]
    seconds: float


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    warehouse = tmp_path_factory.mktemp("attrition") / "masip.duckdb"
    load_raw(warehouse, (CHESHIRE, HAMPSHIRE, MET), scenario())
    result = build_linked(warehouse)
    names = ["attrition_funnel", "attrition_outcomes", "attrition_recorded_split", "attrition_downgrades",
             "attrition_funnel_published", "attrition_outcomes_published", "attrition_recorded_split_published",
             "attrition_downgrades_published", "attrition_disclosure_cells"]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = {n: con.execute(f"select * from marts.{n}").df() for n in names}
    return Built(warehouse, tables, result.elapsed_seconds)


# --- true counts ---------------------------------------------------------------------------------


def test_funnel_counts_every_cell_including_zero_cells(built: Built):
    funnel = built.tables["attrition_funnel"]
    assert len(funnel) == 3 * 4 * 6  # forces x financial years x stages, zero cells listed
    got = {
        key: sub.set_index("stage").loc[STAGES, "crimes"].tolist()
        for key, sub in funnel.groupby(["force", "financial_year"])
    }
    assert got == EXPECTED_FUNNEL
    assert funnel.groupby("stage").stage_order.first().to_dict() == {s: i + 1 for i, s in enumerate(STAGES)}
    complete = funnel.groupby("financial_year").is_complete_year.first().to_dict()
    assert complete == {"2023-24": True, "2024-25": True, "2025-26": True, "2026-27": False}


def test_outcome_breakdown_adds_up_to_recorded(built: Built):
    outcomes = built.tables["attrition_outcomes"]
    nonzero = outcomes[outcomes.crimes > 0]
    assert {(r.force, r.financial_year, r.outcome_code, r.outcome_group, r.crimes) for r in nonzero.itertuples()} == {
        ("CHESHIRE", "2023-24", "1A", "CHARGED", 1),
        ("CHESHIRE", "2025-26", "1", "CHARGED", 2),
        ("CHESHIRE", "2025-26", "16", "EVIDENTIAL_DIFFICULTIES", 1),
        ("HAMPSHIRE", "2025-26", "OPEN", "OPEN", 1),
        ("HAMPSHIRE", "2025-26", "15", "EVIDENTIAL_DIFFICULTIES", 1),
        ("MET", "2023-24", "OPEN", "OPEN", 10),
        ("MET", "2025-26", "1", "CHARGED", 8),
        ("MET", "2025-26", "OPEN", "OPEN", 1),
        ("MET", "2026-27", "OPEN", "OPEN", 1),
    }
    assert len(outcomes) == 3 * 4 * (22 + 1)  # every Home Office code and OPEN, every (force, year)
    funnel = built.tables["attrition_funnel"]
    recorded = funnel[funnel.stage == "RECORDED"].set_index(["force", "financial_year"]).crimes
    assert outcomes.groupby(["force", "financial_year"]).crimes.sum().equals(recorded.sort_index())


def test_s2a_s4a_split_and_downgrades(built: Built):
    split = built.tables["attrition_recorded_split"]
    got = {(r.force, r.financial_year, r.recorded_category): r.crimes for r in split.itertuples() if r.crimes}
    assert got == {
        ("CHESHIRE", "2023-24", "STALKING_S2A"): 1,
        ("CHESHIRE", "2025-26", "STALKING_S2A"): 1,
        ("CHESHIRE", "2025-26", "STALKING_S4A"): 2,  # fear (C1) and alarm (C5) together
        ("HAMPSHIRE", "2025-26", "STALKING_S2A"): 1,
        ("HAMPSHIRE", "2025-26", "STALKING_S4A"): 1,
        ("MET", "2023-24", "STALKING_S2A"): 10,
        ("MET", "2025-26", "STALKING_S2A"): 9,
        ("MET", "2026-27", "STALKING_S2A"): 1,
    }
    down = built.tables["attrition_downgrades"]
    assert len(down) == 3 * 4 * 8
    got = {(r.force, r.financial_year, r.recorded_category, r.charge_category, r.is_downgrade): r.crimes
           for r in down.itertuples() if r.crimes}
    assert got == {
        ("CHESHIRE", "2023-24", "STALKING_S2A", "NOT_RECORDED", False): 1,  # outcome 1A, no charge code
        ("CHESHIRE", "2025-26", "STALKING_S4A", "STALKING_S2A", True): 1,
        ("CHESHIRE", "2025-26", "STALKING_S4A", "OTHER_OFFENCE", True): 1,
        ("MET", "2025-26", "STALKING_S2A", "STALKING_S2A", False): 8,
    }


# --- the published copies ------------------------------------------------------------------------


def test_published_funnel_worked_out_by_hand(built: Built):
    pub = built.tables["attrition_funnel_published"]
    assert len(pub) == 4 * 4 * 6  # three forces and ALL_FORCES
    for (year, stage), expected in EXPECTED_PUBLISHED.items():
        cells = pub[(pub.financial_year == year) & (pub.stage == stage)].set_index("force")
        got = [None if pd.isna(v) else int(v) for v in cells.loc[["CHESHIRE", "HAMPSHIRE", "MET", ALL_FORCES], "crimes"]]
        assert got == expected, (year, stage)
        markers = cells.loc[["CHESHIRE", "HAMPSHIRE", "MET", ALL_FORCES], "marker"]
        assert [m == "*" for m in markers] == [v is None for v in expected]


def test_published_values_follow_the_rule(built: Built):
    cells = built.tables["attrition_disclosure_cells"]
    true = _true_cells(built)
    merged = cells.merge(true, on="cell_id", validate="one_to_one")
    assert len(merged) == len(cells) == len(true)
    small = merged.true_crimes.between(1, 7)
    assert merged.loc[small, "crimes"].isna().all() and (merged.loc[small, "suppression"] == PRIMARY).all()
    shown = merged[merged.crimes.notna()]
    assert (shown.crimes == shown.true_crimes.map(round_to_base)).all()  # totals are rounded TRUE totals
    assert (merged.loc[merged.true_crimes == 0, "crimes"] == 0).all()  # zero cells published as 0
    assert set(merged.loc[merged.suppression == SECONDARY, "true_crimes"]) >= {8, 10}
    # the published marts carry the marker, never the kind of suppression
    for name in ("attrition_funnel_published", "attrition_outcomes_published"):
        assert "suppression" not in built.tables[name].columns


def test_published_marts_match_the_pure_function(built: Built):
    t = built.tables
    again = protect_attrition(t["attrition_funnel"], t["attrition_outcomes"], t["attrition_recorded_split"],
                              t["attrition_downgrades"])
    def plain(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.sort_values("cell_id").reset_index(drop=True).astype(object)
        return frame.where(frame.notna(), None)

    pd.testing.assert_frame_equal(plain(again), plain(t["attrition_disclosure_cells"]))


def test_total_minus_other_forces_recovers_no_suppressed_cell(built: Built):
    """The attack of SPEC §7.3 on every (table, year, dimensions) group of the published marts."""
    published = _published_cells(built)
    attempts = recovered = 0
    for _, group in published.groupby(["table", "financial_year", "dims"]):
        total = group[group.force == ALL_FORCES]
        forces = group[group.force != ALL_FORCES]
        suppressed = forces[forces.crimes.isna()]
        if total.crimes.isna().all() or suppressed.empty:
            continue
        attempts += 1
        if len(suppressed) == 1:  # total - sum(others) would give it away
            recovered += 1
    assert attempts >= 5 and recovered == 0
    # and no combination of all the published tables' additive relations recovers any cell
    assert recoverable_from_published(published.rename(columns={"table": "published_table"})) == set()


def test_rounding_intervals_do_not_pin_any_suppressed_cell(built: Built):
    published = _published_cells(built).rename(columns={"table": "published_table"})
    widths = _feasible_widths(published)
    assert widths and min(widths.values()) >= 1


# --- helpers: the published marts as cells --------------------------------------------------------

DIMS = {
    "attrition_funnel_published": ["stage"],
    "attrition_outcomes_published": ["outcome_group"],
    "attrition_recorded_split_published": ["recorded_category"],
    "attrition_downgrades_published": ["recorded_category", "charge_category"],
}
UNPUBLISHED = {
    "attrition_funnel_published": "attrition_funnel",
    "attrition_outcomes_published": "attrition_outcomes",
    "attrition_recorded_split_published": "attrition_recorded_split",
    "attrition_downgrades_published": "attrition_downgrades",
}


def _published_cells(built: Built) -> pd.DataFrame:
    """Every cell of the four published marts, keyed from published columns only."""
    frames = []
    for table, dims in DIMS.items():
        pub = built.tables[table]
        dim_values = pub[dims].astype(str).agg("|".join, axis=1)
        frames.append(pd.DataFrame({
            "table": table, "force": pub.force, "financial_year": pub.financial_year, "dims": dim_values,
            "crimes": pub.crimes,
            "cell_id": table + "|" + pub.force + "|" + pub.financial_year + "|" + dim_values,
        }))
    return pd.concat(frames, ignore_index=True)


def _true_cells(built: Built) -> pd.DataFrame:
    frames = []
    for table, dims in DIMS.items():
        true = built.tables[UNPUBLISHED[table]].groupby(["force", "financial_year", *dims], as_index=False).crimes.sum()
        totals = true.groupby(["financial_year", *dims], as_index=False).crimes.sum().assign(force=ALL_FORCES)
        true = pd.concat([true, totals], ignore_index=True)
        dim_values = true[dims].astype(str).agg("|".join, axis=1)
        frames.append(pd.DataFrame({
            "cell_id": table + "|" + true.force + "|" + true.financial_year + "|" + dim_values,
            "true_crimes": true.crimes,
        }))
    return pd.concat(frames, ignore_index=True)


def _feasible_widths(published: pd.DataFrame, base: int = 5) -> dict[str, float]:
    """For each suppressed cell: max - min of its value over every table consistent with what is published.

    The attacker knows the additive relations, that a published v > 0 hides a true count in
    [v - 2, v + 2] that is at least 8, that a published 0 is exactly 0, and that a suppressed
    count is at least 1. Solved as linear programmes (scipy).
    """
    from masip.evaluation.disclosure import relations_of_published

    relations = relations_of_published(published)
    keys = [tuple(c.split("|")) for c in published.cell_id]
    index = {k: i for i, k in enumerate(keys)}
    bounds = []
    for value in published.crimes:
        if pd.isna(value):
            bounds.append((1, None))
        elif value == 0:
            bounds.append((0, 0))
        else:
            bounds.append((max(8, value - base // 2), value + base // 2))
    a_eq = np.zeros((len(relations), len(keys)))
    for r, relation in enumerate(relations):
        a_eq[r, index[relation.total]] += 1
        for m in relation.members:
            a_eq[r, index[m]] -= 1
    widths = {}
    for i, value in enumerate(published.crimes):
        if not pd.isna(value):
            continue
        c = np.zeros(len(keys))
        c[i] = 1
        low = linprog(c, A_eq=a_eq, b_eq=np.zeros(len(relations)), bounds=bounds, method="highs")
        high = linprog(-c, A_eq=a_eq, b_eq=np.zeros(len(relations)), bounds=bounds, method="highs")
        assert low.status == 0, "the published table must be consistent with some true table"
        top = math.inf if high.status == 3 else -high.fun
        widths[published.cell_id.iloc[i]] = top - low.fun
    return widths


# --- the disclosure functions on their own --------------------------------------------------------


def test_round_and_primary_suppression():
    assert [round_to_base(n) for n in (0, 8, 12, 13, 17, 18, 22, 23)] == [0, 10, 10, 15, 15, 20, 20, 25]
    assert [publish_count(n) for n in (0, 1, 7, 8)] == [0, None, None, 10]


def _one_level(counts: dict[str, int]) -> tuple[dict, list[Relation]]:
    cells = {("t", f): n for f, n in counts.items()}
    cells[("t", "ALL")] = sum(counts.values())
    return cells, [Relation(("t", "ALL"), tuple(k for k in cells if k[1] != "ALL"))]


def test_secondary_suppression_one_level():
    cells, relations = _one_level({"A": 3, "B": 0, "C": 12, "D": 9})
    out = protect(cells, relations)
    assert {k[1]: (v.value, v.suppression) for k, v in out.items()} == {
        "A": (None, PRIMARY), "B": (0, None), "C": (10, None), "D": (None, SECONDARY), "ALL": (25, None),
    }
    # ties on the smallest other non-zero cell go to the force name
    cells, relations = _one_level({"A": 3, "C": 9, "B": 9, "D": 20})
    assert {k[1] for k, v in protect(cells, relations).items() if v.suppression == SECONDARY} == {"B"}
    # two small cells protect each other: no secondary suppression
    cells, relations = _one_level({"A": 3, "B": 5, "C": 20})
    assert [v.suppression for v in protect(cells, relations).values()] == [PRIMARY, PRIMARY, None, None]


def test_the_attack_works_without_secondary_suppression():
    """The check is not vacuous: with primary suppression only, differencing recovers the cell."""
    cells, relations = _one_level({"A": 3, "B": 0, "C": 12, "D": 9})
    primary_only = {k for k, n in cells.items() if 1 <= n <= 7}
    assert determined_cells(primary_only, relations) == {("t", "A")}
    published = {k: (None if k in primary_only else n) for k, n in cells.items()}  # unrounded
    assert published[("t", "ALL")] - sum(v for k, v in published.items() if k[1] not in ("A", "ALL")) == 3


def _random_tables(seed: int) -> tuple[dict, list[Relation]]:
    """Forces x categories with force totals, category totals and a grand total (2-D, like the outcomes)."""
    rng = np.random.default_rng(seed)
    n_forces, n_cats = rng.integers(2, 5), rng.integers(2, 6)
    counts = rng.choice([0, 0, 1, 2, 3, 5, 7, 8, 9, 12, 20, 40], size=(n_forces, n_cats))
    cells: dict = {}
    for f, c in itertools.product(range(n_forces), range(n_cats)):
        cells[("cell", f"F{f}", f"K{c}")] = int(counts[f, c])
    for f in range(n_forces):
        cells[("cell", f"F{f}", "TOTAL")] = int(counts[f].sum())
    for c in range(n_cats):
        cells[("cell", "ALL", f"K{c}")] = int(counts[:, c].sum())
    cells[("cell", "ALL", "TOTAL")] = int(counts.sum())
    relations = [Relation(("cell", f"F{f}", "TOTAL"), tuple(("cell", f"F{f}", f"K{c}") for c in range(n_cats)))
                 for f in range(n_forces)]
    relations += [Relation(("cell", "ALL", f"K{c}"), tuple(("cell", f"F{f}", f"K{c}") for f in range(n_forces)))
                  for c in range(n_cats)]
    relations.append(Relation(("cell", "ALL", "TOTAL"), tuple(("cell", "ALL", f"K{c}") for c in range(n_cats))))
    return cells, relations


@pytest.mark.parametrize("base", [5, 1])
def test_no_suppressed_cell_recoverable_in_random_two_way_tables(base: int):
    for seed in range(150):
        cells, relations = _random_tables(seed)
        out = protect(cells, relations, base=base)
        suppressed = {k for k, v in out.items() if v.suppression}
        assert {k for k, n in cells.items() if 1 <= n <= 7} <= suppressed
        assert determined_cells(suppressed, relations) == set(), seed
        for relation in relations:  # no line with exactly one unknown
            assert sum(1 for k in relation.cells() if k in suppressed) != 1, (seed, relation)
        assert all(out[k].value == round_to_base(n, base) for k, n in cells.items() if k not in suppressed)
