"""The dbt project on a real DuckDB warehouse: staging version rule, person_xref, victim_journey.

One hand-built raw scenario (below) is loaded with ``create_raw_schema`` and
plain inserts (tokens into the vault beside it), then built once with
``build_linked`` (dbt, the linkage process, dbt); every test reads the
resulting marts. A second warehouse receives the same rows in a shuffled
order and must give identical marts.

People in the scenario (tokens are stand-ins for the keyed HMACs):
  Alice  victim of crimes C1, C4, C5; protected by orders O1, O2; advocacy
         client K1; health contact H2 (victim)            -> linked by name+dob
  Bob    suspect of C1, C4; subject of O1, O2; supervision E1; health
         contact H1 (perpetrator); named in case K1       -> PNC / name+dob
  Carol  victim of C2 (no suspect); advocacy client K2 (no perpetrator named)
  Mal    suspect of C5 only                               -> singleton
  Dana   advocacy client K3 (no perpetrator), in no dyad
  Eve    health contact H3 (victim), in no dyad
  Ned    supervision E2 + health contact H4 (perpetrator), in no dyad
  Zed    victim of C3, which is DELETED in the second police drop
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from masip.dbt_runner import DbtBuildResult, WarehouseBuildError, build_warehouse
from masip.linkage import person_id_for
from masip.pipeline import build_linked
from tests import rawkit
from tests.rawkit import REF_COLUMN, Drop, Row

POLICE, PROBATION, HEALTH, ADVOCACY = (
    "police-cheshire",
    "probation-nw",
    "health-trust",
    "advocacy-svc",
)


POLICE_1 = Drop("police-cheshire-2026-11-09", POLICE, "police", date(2026, 11, 9))
POLICE_2 = Drop("police-cheshire-2026-11-16", POLICE, "police", date(2026, 11, 16))
PROBATION_1 = Drop(
    "probation-nw-2026-11-16", PROBATION, "probation", date(2026, 11, 16)
)
HEALTH_1 = Drop("health-trust-2026-11-15", HEALTH, "health", date(2026, 11, 15))
ADVOCACY_1 = Drop("advocacy-svc-2026-11-14", ADVOCACY, "advocacy", date(2026, 11, 14))
DROPS = (POLICE_1, POLICE_2, PROBATION_1, HEALTH_1, ADVOCACY_1)


# Token sets of the people (what ingest would write to the linkage vault).
ALICE = {"name_dob_token": "nd-alice"}
ALICE_H = {"name_dob_token": "nd-alice", "nhs_token": "nhs-alice"}
BOB_PNC = {"pnc_token": "pnc-bob", "name_dob_token": "nd-bob"}
BOB_PNC_ONLY = {"pnc_token": "pnc-bob"}
BOB_SUPERVISION = {"pnc_token": "pnc-bob", "crn_token": "crn-bob"}
BOB_HEALTH = {"nhs_token": "nhs-bob", "name_dob_token": "nd-bob"}
BOB_NAMED = {"name_dob_token": "nd-bob"}
CAROL = {"name_dob_token": "nd-carol"}
MAL = {"pnc_token": "pnc-mal"}
DANA = {"name_dob_token": "nd-dana"}
EVE = {"nhs_token": "nhs-eve"}
NED_SUPERVISION = {
    "pnc_token": "pnc-ned",
    "crn_token": "crn-ned",
    "name_dob_token": "nd-ned",
}
NED_HEALTH = {"name_dob_token": "nd-ned"}
ZED = {"name_dob_token": "nd-zed"}
ZED_SUSPECT = {"pnc_token": "pnc-zed-suspect"}


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def d(text: str) -> date:
    return date.fromisoformat(text)


def scenario() -> list[Row]:
    return [
        # --- crimes -------------------------------------------------------
        # C1: corrected in the second drop (offence 8L -> 8/65, CPS/charge/outcome added)
        Row(
            "crimes",
            POLICE_1,
            2,
            {
                "crime_ref": "C1",
                "force": "CHESHIRE",
                "reported_at": ts("2026-10-01 10:00"),
                "offence_code": "8L",
                "relationship": "EX_PARTNER",
                "risk_level": "MEDIUM",
            },
            ts("2026-10-01 12:00"),
            persons={"VICTIM": ALICE, "PERPETRATOR": BOB_PNC},
        ),
        Row(
            "crimes",
            POLICE_2,
            2,
            {
                "crime_ref": "C1",
                "force": "CHESHIRE",
                "reported_at": ts("2026-10-01 10:00"),
                "offence_from": d("2026-09-01"),
                "offence_code": "8/65",
                "relationship": "EX_PARTNER",
                "risk_level": "HIGH",
                "cps_referred_at": d("2026-10-10"),
                "charged_at": d("2026-10-20"),
                "charge_offence_code": "195/12",
                "outcome_code": "1",
                "outcome_at": d("2026-10-20"),
            },
            ts("2026-11-10 09:00"),
            persons={"VICTIM": ALICE, "PERPETRATOR": BOB_PNC},
        ),
        # C2: no suspect -> dyad (Carol, null)
        Row(
            "crimes",
            POLICE_1,
            3,
            {
                "crime_ref": "C2",
                "force": "CHESHIRE",
                "reported_at": ts("2026-10-05 08:30"),
                "offence_code": "8L",
                "risk_level": "STANDARD",
            },
            ts("2026-10-05 09:00"),
            persons={"VICTIM": CAROL},
        ),
        # C3: deleted in the second drop
        Row(
            "crimes",
            POLICE_1,
            4,
            {
                "crime_ref": "C3",
                "force": "CHESHIRE",
                "reported_at": ts("2026-10-02 11:00"),
                "offence_code": "8Q",
            },
            ts("2026-10-02 12:00"),
            persons={"VICTIM": ZED, "PERPETRATOR": ZED_SUSPECT},
        ),
        Row(
            "crimes",
            POLICE_2,
            3,
            {
                "crime_ref": "C3",
                "force": "CHESHIRE",
                "reported_at": ts("2026-10-02 11:00"),
                "offence_code": "8Q",
            },
            ts("2026-11-12 12:00"),
            status="DELETED",
            persons={"VICTIM": ZED, "PERPETRATOR": ZED_SUSPECT},
        ),
        # C4: two versions with the same updated_at; the later extract_date (3B) wins
        # although its line number is lower.
        Row(
            "crimes",
            POLICE_1,
            9,
            {
                "crime_ref": "C4",
                "force": "CHESHIRE",
                "reported_at": ts("2026-10-15 09:00"),
                "offence_code": "8R",
            },
            ts("2026-10-15 09:00"),
            persons={
                "VICTIM": {"name_dob_token": "nd-old-version"},
                "PERPETRATOR": BOB_PNC_ONLY,
            },
        ),
        Row(
            "crimes",
            POLICE_2,
            1,
            {
                "crime_ref": "C4",
                "force": "CHESHIRE",
                "reported_at": ts("2026-10-15 09:00"),
                "offence_code": "3B",
            },
            ts("2026-10-15 09:00"),
            persons={"VICTIM": ALICE, "PERPETRATOR": BOB_PNC_ONLY},
        ),
        # C5: Alice and a second perpetrator, Mal
        Row(
            "crimes",
            POLICE_2,
            4,
            {
                "crime_ref": "C5",
                "force": "CHESHIRE",
                "reported_at": ts("2026-11-02 22:15"),
                "offence_code": "8R",
            },
            ts("2026-11-03 08:00"),
            persons={"VICTIM": ALICE, "PERPETRATOR": MAL},
        ),
        # --- orders -------------------------------------------------------
        Row(
            "orders",
            POLICE_1,
            2,
            {
                "order_ref": "O1",
                "force": "CHESHIRE",
                "crime_ref": "C1",
                "order_type": "SPO_INTERIM",
                "status": "GRANTED",
                "applied_at": d("2026-10-02"),
                "granted_at": d("2026-10-03"),
                "expires_at": d("2027-04-03"),
            },
            ts("2026-10-03 16:00"),
            persons={"VICTIM": ALICE, "PERPETRATOR": BOB_PNC_ONLY},
        ),
        Row(
            "orders",
            POLICE_2,
            2,
            {
                "order_ref": "O2",
                "force": "CHESHIRE",
                "crime_ref": "C1",
                "order_type": "SPO_FULL",
                "status": "REFUSED",
                "applied_at": d("2026-10-25"),
            },
            ts("2026-11-05 14:00"),
            persons={"VICTIM": ALICE, "PERPETRATOR": BOB_PNC_ONLY},
        ),
        # --- breaches -----------------------------------------------------
        Row(
            "breaches",
            POLICE_2,
            2,
            {
                "breach_ref": "B1",
                "force": "CHESHIRE",
                "order_ref": "O1",
                "reported_at": ts("2026-10-10 20:00"),
                "responded_at": ts("2026-10-12 08:00"),
                "arrested_at": ts("2026-10-12 09:00"),
            },
            ts("2026-10-12 10:00"),
        ),
        # B2: its order has not arrived
        Row(
            "breaches",
            POLICE_2,
            3,
            {
                "breach_ref": "B2",
                "force": "CHESHIRE",
                "order_ref": "O-NOT-YET",
                "reported_at": ts("2026-11-11 07:00"),
            },
            ts("2026-11-11 08:00"),
        ),
        # --- court results / referrals ---------------------------------------
        Row(
            "court_results",
            POLICE_2,
            2,
            {
                "result_ref": "R1",
                "force": "CHESHIRE",
                "crime_ref": "C1",
                "hearing_at": d("2026-11-01"),
                "court": "MAGISTRATES",
                "result": "CONVICTED",
                "convicted_offence_code": "195/12",
                "sentence_type": "COMMUNITY",
                "sentence_months": 12,
            },
            ts("2026-11-01 17:00"),
        ),
        Row(
            "court_results",
            POLICE_2,
            3,
            {
                "result_ref": "R2",
                "force": "CHESHIRE",
                "crime_ref": "C3",
                "hearing_at": d("2026-11-03"),
                "court": "MAGISTRATES",
                "result": "ADJOURNED",
            },
            ts("2026-11-03 17:00"),
        ),
        Row(
            "referrals",
            POLICE_2,
            2,
            {
                "referral_ref": "F1",
                "force": "CHESHIRE",
                "crime_ref": "C2",
                "referred_at": d("2026-10-06"),
                "referred_to": "STALKING_ADVOCACY",
            },
            ts("2026-10-06 09:00"),
        ),
        # --- probation ----------------------------------------------------
        Row(
            "supervision",
            PROBATION_1,
            2,
            {
                "event_ref": "E1",
                "order_type": "COMMUNITY_ORDER",
                "start_date": d("2026-11-01"),
                "requirements": "ACCREDITED_PROGRAMME;NON_CONTACT",
                "rosh_level": "HIGH",
                "masip_accepted_at": d("2026-11-03"),
            },
            ts("2026-11-03 12:00"),
            persons={"PERPETRATOR": BOB_SUPERVISION},
        ),
        Row(
            "supervision",
            PROBATION_1,
            3,
            {
                "event_ref": "E2",
                "order_type": "LICENCE",
                "start_date": d("2026-06-01"),
                "end_date": d("2026-09-01"),
                "masip_accepted_at": d("2026-06-10"),
                "masip_ended_at": d("2026-09-01"),
            },
            ts("2026-09-01 12:00"),
            persons={"PERPETRATOR": NED_SUPERVISION},
        ),
        # --- health -------------------------------------------------------
        Row(
            "contacts",
            HEALTH_1,
            2,
            {
                "contact_ref": "H1",
                "person_role": "PERPETRATOR",
                "service": "STALKING_CLINIC",
                "contact_at": d("2026-11-04"),
                "contact_type": "ASSESSMENT",
                "referral_source": "PROBATION",
            },
            ts("2026-11-04 12:00"),
            persons={"PERPETRATOR": BOB_HEALTH},
        ),
        Row(
            "contacts",
            HEALTH_1,
            3,
            {
                "contact_ref": "H2",
                "person_role": "VICTIM",
                "service": "PSYCHOLOGICAL_THERAPY",
                "contact_at": d("2026-11-06"),
                "contact_type": "TREATMENT",
            },
            ts("2026-11-06 12:00"),
            persons={"VICTIM": ALICE_H},
        ),
        Row(
            "contacts",
            HEALTH_1,
            4,
            {
                "contact_ref": "H3",
                "person_role": "VICTIM",
                "service": "EMERGENCY_DEPARTMENT",
                "contact_at": d("2026-11-07"),
                "contact_type": "ASSESSMENT",
            },
            ts("2026-11-07 12:00"),
            persons={"VICTIM": EVE},
        ),
        Row(
            "contacts",
            HEALTH_1,
            5,
            {
                "contact_ref": "H4",
                "person_role": "PERPETRATOR",
                "service": "COMMUNITY_MH",
                "contact_at": d("2026-11-08"),
                "contact_type": "TREATMENT",
            },
            ts("2026-11-08 12:00"),
            persons={"PERPETRATOR": NED_HEALTH},
        ),
        # --- advocacy -----------------------------------------------------
        Row(
            "cases",
            ADVOCACY_1,
            2,
            {
                "case_ref": "K1",
                "relationship": "EX_PARTNER",
                "referral_at": d("2026-10-08"),
                "referral_source": "POLICE",
                "risk_level": "HIGH",
                "spo_requested_at": d("2026-10-09"),
            },
            ts("2026-10-09 12:00"),
            persons={"VICTIM": ALICE, "PERPETRATOR": BOB_NAMED},
        ),
        Row(
            "cases",
            ADVOCACY_1,
            3,
            {
                "case_ref": "K2",
                "referral_at": d("2026-10-07"),
                "referral_source": "SELF",
                "closed_at": d("2026-11-10"),
                "closure_reason": "DISENGAGED",
            },
            ts("2026-11-10 12:00"),
            persons={"VICTIM": CAROL},
        ),
        Row(
            "cases",
            ADVOCACY_1,
            4,
            {
                "case_ref": "K3",
                "referral_at": d("2026-11-01"),
                "referral_source": "HEALTH",
            },
            ts("2026-11-01 12:00"),
            persons={"VICTIM": DANA},
        ),
    ]


def load(warehouse: Path, rows: list[Row], drops: tuple[Drop, ...] = DROPS) -> None:
    rawkit.load(warehouse, rows, drops)


MART_ORDER = {
    "person_xref": "source_id, source_table, record_ref, role",
    "victim_journey": "event_at, event_id",
}


def read_marts(warehouse: Path) -> dict[str, pd.DataFrame]:
    """Every staging and mart table, as stored (no ORDER BY: stored order must be deterministic too)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('staging', 'intermediate', 'marts') order by 1, 2"
        ).fetchall()
        return {
            f"{s}.{t}": con.execute(f"select * from {s}.{t}").df() for s, t in tables
        }
    finally:
        con.close()


@dataclass
class Built:
    warehouse: Path
    result: DbtBuildResult
    tables: dict[str, pd.DataFrame]

    @property
    def xref(self) -> pd.DataFrame:
        return self.tables["marts.person_xref"]

    @property
    def journey(self) -> pd.DataFrame:
        return self.tables["marts.victim_journey"]

    def pid(self, source_table: str, ref: str, role: str) -> str:
        x = self.xref
        hit = x[
            (x.source_table == source_table) & (x.record_ref == ref) & (x.role == role)
        ]
        assert len(hit) == 1, (source_table, ref, role)
        return hit.person_id.iloc[0]

    def dyad(self, victim: str, perpetrator: str | None) -> str:
        return (
            "D" + hashlib.md5(f"{victim}|{perpetrator or ''}".encode()).hexdigest()[:16]
        )

    def events(self, dyad_id: str) -> set[tuple[str, str]]:
        j = self.journey[self.journey.dyad_id == dyad_id]
        return set(zip(j.event_type, j.record_ref))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    warehouse = tmp_path_factory.mktemp("wh") / "masip.duckdb"
    load(warehouse, scenario())
    result = build_linked(warehouse)
    return Built(warehouse, result, read_marts(warehouse))


# --- build result -------------------------------------------------------------


def test_build_reports_every_node(built: Built):
    r = built.result
    assert r.success
    names = {n.name for n in r.nodes}
    assert {
        "person_xref",
        "victim_journey",
        "stg_linkage__person_links",
        "int_person_records",
        "offence_codes",
    } <= names
    assert "int_person_links" not in names  # linkage is its own process, not a dbt model
    assert r.linkage is not None and r.linkage["roles"] == 21 and r.linkage["key_version"] == "test-key-1"
    assert {n.resource_type for n in r.nodes} >= {"model", "seed", "test"}
    assert all(n.status in {"success", "pass"} for n in r.nodes)
    assert r.elapsed_seconds > 0
    assert (r.log_path / "dbt.log").exists()
    assert r.target_path.parent.parent == built.warehouse.parent / ".dbt"


def test_schemas_and_seed_types(built: Built):
    con = duckdb.connect(str(built.warehouse), read_only=True)
    try:
        schemas = {
            s
            for (s,) in con.execute(
                "select schema_name from information_schema.schemata"
            ).fetchall()
        }
        assert {"raw", "ops", "seeds", "staging", "intermediate", "marts"} <= schemas
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'seeds' and table_name = 'outcome_codes'"
            ).fetchall()
        )
        assert types["outcome_code"] == "VARCHAR"
        assert con.execute(
            "select offence_category from seeds.offence_codes where offence_code = '8/65'"
        ).fetchone() == ("STALKING_S4A_FEAR",)
        as_of = con.execute(
            "select as_of_date, is_as_of_given from intermediate.int_as_of"
        ).fetchone()
        assert as_of == (date(2026, 11, 16), False)
        journey_types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'marts' and table_name = 'victim_journey'"
            ).fetchall()
        )
        assert journey_types["event_at"] == "TIMESTAMP"
    finally:
        con.close()


# --- staging version rule ----------------------------------------------------------


def test_version_rule_latest_updated_at_wins(built: Built):
    crimes = built.tables["staging.stg_police__crimes"].set_index("crime_ref")
    assert crimes.loc["C1", "offence_code"] == "8/65"
    assert crimes.loc["C1", "drop_name"] == POLICE_2.name
    assert crimes.loc["C1", "charged_date"] == pd.Timestamp("2026-10-20")


def test_version_rule_tie_on_updated_at_goes_to_later_extract(built: Built):
    crimes = built.tables["staging.stg_police__crimes"].set_index("crime_ref")
    assert crimes.loc["C4", "offence_code"] == "3B"
    assert crimes.loc["C4", "extract_date"] == pd.Timestamp(POLICE_2.extract_date)


def test_staging_one_row_per_record_and_deleted_removed(built: Built):
    crimes = built.tables["staging.stg_police__crimes"]
    assert sorted(crimes.crime_ref) == ["C1", "C2", "C4", "C5"]
    for table, ref in REF_COLUMN.items():
        staged = next(
            v
            for k, v in built.tables.items()
            if k.startswith("staging.stg_") and k.endswith(f"__{table}")
        )
        assert not staged.duplicated(["source_id", ref]).any(), table


def test_deleted_record_absent_from_every_mart(built: Built):
    xref, journey = built.xref, built.journey
    assert "C3" not in set(xref.record_ref)
    assert "C3" not in set(journey.record_ref)
    assert "R2" not in set(journey.record_ref)  # court result of the deleted crime
    zed_ids = set(xref.person_id[xref.record_ref == "C3"])
    assert not zed_ids
    for name, df in built.tables.items():
        if name.startswith("marts."):
            assert (
                not df.astype(str).isin(["C3", "nd-zed", "pnc-zed-suspect"]).any().any()
            ), name


# --- person_xref -------------------------------------------------------------


def test_person_xref_one_row_per_live_role(built: Built):
    xref = built.xref
    assert list(xref.columns[:7]) == [
        "source_id",
        "source_table",
        "record_ref",
        "role",
        "person_id",
        "link_method",
        "match_probability",
    ]
    assert not xref.duplicated(
        ["source_id", "source_table", "record_ref", "role"]
    ).any()
    expected_roles = {
        (row.table, row.values[REF_COLUMN[row.table]], role)
        for row in scenario()
        for role in row.persons
        if row.values[REF_COLUMN[row.table]] != "C3"
    }
    assert set(zip(xref.source_table, xref.record_ref, xref.role)) == expected_roles
    assert len(xref) == 21
    assert "key_version" not in xref.columns  # the key's fingerprint stays in the vault


def test_person_xref_groups_people(built: Built):
    xref = built.xref
    members = {
        pid: frozenset(f"{r}:{role}" for r, role in zip(g.record_ref, g.role))
        for pid, g in xref.groupby("person_id")
    }
    expected = {
        frozenset(
            {
                "C1:VICTIM",
                "C4:VICTIM",
                "C5:VICTIM",
                "O1:VICTIM",
                "O2:VICTIM",
                "K1:VICTIM",
                "H2:VICTIM",
            }
        ),  # Alice
        frozenset(
            {
                "C1:PERPETRATOR",
                "C4:PERPETRATOR",
                "O1:PERPETRATOR",
                "O2:PERPETRATOR",
                "E1:PERPETRATOR",
                "H1:PERPETRATOR",
                "K1:PERPETRATOR",
            }
        ),  # Bob
        frozenset({"C2:VICTIM", "K2:VICTIM"}),  # Carol
        frozenset({"C5:PERPETRATOR"}),  # Mal
        frozenset({"K3:VICTIM"}),  # Dana
        frozenset({"H3:VICTIM"}),  # Eve
        frozenset({"E2:PERPETRATOR", "H4:PERPETRATOR"}),  # Ned
    }
    assert set(members.values()) == expected
    # person_id = hash of the member key of the person's first-delivered record: Alice's is her crime C1 of the
    # first police drop (9 November), not her advocacy case K1 (14 November), whose key sorts first
    assert built.pid("cases", "K1", "VICTIM") == person_id_for(f"{POLICE}|crimes|C1|VICTIM")
    assert f"{ADVOCACY}|cases|K1|VICTIM" < f"{POLICE}|crimes|C1|VICTIM"


def test_person_xref_link_methods(built: Built):
    x = built.xref.set_index(["record_ref", "role"])
    method = lambda ref, role: x.loc[(ref, role), "link_method"]
    assert method("C1", "PERPETRATOR") == "PNC"
    assert method("E1", "PERPETRATOR") == "PNC"
    assert (
        method("H1", "PERPETRATOR") == "NAME_DOB"
    )  # its NHS token is shared with no one
    assert method("H2", "VICTIM") == "NAME_DOB"
    assert method("E2", "PERPETRATOR") == "NAME_DOB"
    assert method("C5", "PERPETRATOR") == "SINGLETON"
    assert pd.isna(x.loc[("C5", "PERPETRATOR"), "match_probability"])
    assert x.loc[("C1", "PERPETRATOR"), "match_probability"] == 1.0
    # the superseded C4 version's victim tokens do not count
    assert method("C4", "VICTIM") == "NAME_DOB"


# --- victim_journey ---------------------------------------------------------------


def test_victim_journey_columns_and_keys(built: Built):
    j = built.journey
    assert list(j.columns[:10]) == [
        "event_id",
        "dyad_id",
        "victim_id",
        "perpetrator_id",
        "event_at",
        "event_type",
        "source_id",
        "record_ref",
        "offence_category",
        "detail",
    ]
    assert j.event_id.is_unique
    assert j.event_at.is_monotonic_increasing
    expected_ids = [
        "E"
        + hashlib.md5(
            f"{r.dyad_id}|{r.source_id}|{r.source_table}|{r.record_ref}|{r.event_type}".encode()
        ).hexdigest()[:16]
        for r in j.itertuples()
    ]
    assert list(j.event_id) == expected_ids
    assert set(j.victim_id) <= set(built.xref.person_id)


def test_victim_journey_dyads(built: Built):
    alice, bob = (
        built.pid("crimes", "C1", "VICTIM"),
        built.pid("crimes", "C1", "PERPETRATOR"),
    )
    carol, mal = (
        built.pid("crimes", "C2", "VICTIM"),
        built.pid("crimes", "C5", "PERPETRATOR"),
    )
    dana, eve = (
        built.pid("cases", "K3", "VICTIM"),
        built.pid("contacts", "H3", "VICTIM"),
    )
    dyads = set(
        zip(
            built.journey.dyad_id,
            built.journey.victim_id,
            built.journey.perpetrator_id.fillna("-"),
        )
    )
    assert dyads == {
        (built.dyad(alice, bob), alice, bob),
        (built.dyad(alice, mal), alice, mal),
        (built.dyad(carol, None), carol, "-"),
        (built.dyad(dana, None), dana, "-"),
        (built.dyad(eve, None), eve, "-"),
    }


def test_victim_journey_events_of_the_main_dyad(built: Built):
    alice, bob = (
        built.pid("crimes", "C1", "VICTIM"),
        built.pid("crimes", "C1", "PERPETRATOR"),
    )
    assert built.events(built.dyad(alice, bob)) == {
        ("CRIME_REPORTED", "C1"),
        ("CPS_REFERRED", "C1"),
        ("CHARGED", "C1"),
        ("OUTCOME", "C1"),
        ("CRIME_REPORTED", "C4"),
        ("ORDER_APPLIED", "O1"),
        ("ORDER_GRANTED", "O1"),
        ("ORDER_APPLIED", "O2"),
        ("ORDER_REFUSED", "O2"),
        ("BREACH_REPORTED", "B1"),
        ("BREACH_RESPONDED", "B1"),
        ("ARREST", "B1"),
        ("COURT_RESULT", "R1"),
        ("ADVOCACY_REFERRAL", "K1"),
        ("SPO_REQUESTED", "K1"),
        ("HEALTH_CONTACT", "H1"),
        ("HEALTH_CONTACT", "H2"),
        ("SUPERVISION_START", "E1"),
        ("MASIP_ACCEPTED", "E1"),
    }


def test_victim_journey_events_of_other_dyads(built: Built):
    alice, mal = (
        built.pid("crimes", "C5", "VICTIM"),
        built.pid("crimes", "C5", "PERPETRATOR"),
    )
    carol = built.pid("crimes", "C2", "VICTIM")
    dana, eve = (
        built.pid("cases", "K3", "VICTIM"),
        built.pid("contacts", "H3", "VICTIM"),
    )
    # a victim's health contact goes on every dyad where she is the victim
    assert built.events(built.dyad(alice, mal)) == {
        ("CRIME_REPORTED", "C5"),
        ("HEALTH_CONTACT", "H2"),
    }
    # a case naming no perpetrator goes on the client's dyads (here the no-suspect crime's)
    assert built.events(built.dyad(carol, None)) == {
        ("CRIME_REPORTED", "C2"),
        ("REFERRAL", "F1"),
        ("ADVOCACY_REFERRAL", "K2"),
        ("ADVOCACY_CLOSED", "K2"),
    }
    # ... or on (client, null) when the client is in no dyad
    assert built.events(built.dyad(dana, None)) == {("ADVOCACY_REFERRAL", "K3")}
    assert built.events(built.dyad(eve, None)) == {("HEALTH_CONTACT", "H3")}


def test_victim_journey_leaves_out_orphans_and_unattached_perpetrators(built: Built):
    refs = set(built.journey.record_ref)
    assert "B2" not in refs  # breach of an order not yet arrived
    assert "R2" not in refs  # court result of a deleted crime
    assert not {"E2", "H4"} & refs  # perpetrator (Ned) in no dyad


def test_victim_journey_says_when_each_record_was_first_delivered(built: Built):
    """The case pack counts an event as new when its record first arrived in the week: C5, reported on
    2 November, first came in the drop of 16 November; C1 and C4 came on 9 November and were corrected on the
    16th, which leaves their first delivery where it was."""
    j = built.journey
    first = j.groupby(["source_table", "record_ref"])["first_delivered_date"].agg(set)
    assert first[("crimes", "C5")] == {pd.Timestamp(POLICE_2.extract_date)}
    assert first[("crimes", "C1")] == first[("crimes", "C4")] == {pd.Timestamp(POLICE_1.extract_date)}
    assert first[("supervision", "E1")] == {pd.Timestamp(PROBATION_1.extract_date)}
    assert j.first_delivered_date.notna().all()


def test_victim_journey_event_values(built: Built):
    j = built.journey

    def value(ref: str, kind: str, column: str):
        values = j.loc[
            (j.record_ref == ref) & (j.event_type == kind), column
        ].drop_duplicates()
        assert len(values) == 1, (ref, kind, column, list(values))
        return values.iloc[0]

    assert value("C1", "CRIME_REPORTED", "event_at") == pd.Timestamp("2026-10-01 10:00")
    assert value("C1", "CPS_REFERRED", "event_at") == pd.Timestamp("2026-10-10 00:00")
    assert value("O2", "ORDER_REFUSED", "event_at") == pd.Timestamp(
        "2026-11-05 00:00"
    )  # later of applied/updated
    assert value("B1", "BREACH_RESPONDED", "event_at") == pd.Timestamp(
        "2026-10-12 08:00"
    )
    assert value("H2", "HEALTH_CONTACT", "event_at") == pd.Timestamp("2026-11-06 00:00")
    assert value("C1", "CRIME_REPORTED", "offence_category") == "STALKING_S4A_FEAR"
    assert value("C1", "CHARGED", "offence_category") == "STALKING_S2A"
    assert value("C4", "CRIME_REPORTED", "offence_category") == "THREATS_TO_KILL"
    assert value("R1", "COURT_RESULT", "offence_category") == "STALKING_S2A"
    assert pd.isna(value("O1", "ORDER_GRANTED", "offence_category"))
    assert "outcome 1 (CHARGED)" in value("C1", "OUTCOME", "detail")
    assert "SPO_INTERIM" in value("O1", "ORDER_GRANTED", "detail")
    assert "2027-04-03" in value("O1", "ORDER_GRANTED", "detail")
    assert "CONVICTED" in value("R1", "COURT_RESULT", "detail")
    assert "36.0 h" in value("B1", "BREACH_RESPONDED", "detail")
    assert "STALKING_ADVOCACY" in value("F1", "REFERRAL", "detail")
    assert "DISENGAGED" in value("K2", "ADVOCACY_CLOSED", "detail")
    assert "STALKING_CLINIC" in value("H1", "HEALTH_CONTACT", "detail")
    # detail is built from codes and dates only: no person id, token or reference
    forbidden = (
        "nd-",
        "pnc-",
        "nhs-",
        "crn-",
        *set(built.xref.person_id),
        *set(j.record_ref),
    )
    for detail in j.detail.dropna():
        assert not any(f in detail for f in forbidden), detail


# --- determinism and failure -----------------------------------------------------------


def test_same_rows_in_another_order_give_identical_marts(built: Built, tmp_path: Path):
    rows = scenario()
    random.Random(20261116).shuffle(rows)
    warehouse = tmp_path / "shuffled.duckdb"
    load(warehouse, rows, drops=tuple(reversed(DROPS)))
    # as_of given explicitly this time: it moves int_as_of but no mart column
    build_linked(warehouse, as_of=date(2026, 11, 20))
    again = read_marts(warehouse)
    as_of = again["intermediate.int_as_of"].iloc[0]
    assert (as_of.as_of_date, as_of.latest_extract_date, as_of.is_as_of_given) == (
        pd.Timestamp("2026-11-20"),
        pd.Timestamp("2026-11-16"),
        True,
    )
    assert again.keys() == built.tables.keys()
    for name in ("marts.person_xref", "marts.victim_journey"):
        pd.testing.assert_frame_equal(
            again[name], built.tables[name], check_exact=True, obj=name
        )


def test_failing_build_raises_readable_error(tmp_path: Path):
    warehouse = tmp_path / "broken.duckdb"
    broken = Row(
        "crimes",
        POLICE_1,
        2,
        {
            "crime_ref": "C9",
            "force": "CHESHIRE",
            "reported_at": None,
            "offence_code": "8L",
        },
        ts("2026-10-01 12:00"),
    )
    load(warehouse, [broken])
    with pytest.raises(WarehouseBuildError) as caught:
        build_warehouse(warehouse, select="stg_police__crimes")
    message = str(caught.value)
    assert "not_null_columns_stg_police__crimes" in message  # its query shows reported_at_is_null
    assert "Got 1 result" in message
    assert "What to do" in message
    assert caught.value.result is not None and not caught.value.result.success
    # the warehouse is free again for the operator
    duckdb.connect(str(warehouse)).close()


def test_a_process_parses_the_dbt_project_once_per_warehouse_name_and_dbt_variables(tmp_path: Path):
    """dbt parses the whole project for a target folder without a parse of its own (each warehouse has one): a
    process keeps its parse for every warehouse of the same name and dbt variables; other variables parse again."""
    from masip.dbt_runner import dbt_work_dirs

    first, second = tmp_path / "a" / "parsed_once.duckdb", tmp_path / "b" / "parsed_once.duckdb"
    for warehouse in (first, second):
        warehouse.parent.mkdir()
        load(warehouse, scenario())
        assert build_warehouse(warehouse, select="stg_police__crimes").success
    parsed = [(dbt_work_dirs(w)[0] / "partial_parse.msgpack").is_file() for w in (first, second)]
    assert parsed == [True, False]  # the second warehouse's build used the first one's parse
    assert build_warehouse(second, as_of=date(2026, 11, 20), select="stg_police__crimes").success
    assert (dbt_work_dirs(second)[0] / "partial_parse.msgpack").is_file()  # another as_of: parsed for it


# --- the project's own rules (README, "How we write code"; dbt-project-evaluator's) ------------------------------

#: What a model may read directly (dbt-project-evaluator's "too many joins") and how many models that nothing
#: reads may read one model (its "model fan-out"); a mart that a product reads (an exposure) is read.
MAX_PARENTS, MAX_LEAF_CHILDREN = 7, 3


def _manifest(built: Built) -> dict:
    found = sorted(built.warehouse.parent.glob(".dbt/*/target/manifest.json"), key=lambda p: p.stat().st_mtime)
    assert found, "the build wrote no manifest"
    return json.loads(found[-1].read_text(encoding="utf-8"))


def _models(manifest: dict) -> dict[str, dict]:
    return {key: node for key, node in manifest["nodes"].items()
            if node["resource_type"] == "model" and node["package_name"] == "masip"}


def test_every_model_is_documented_and_every_table_has_its_key_tested(built: Built):
    """Every model and column documented; every model stored as a table tested on its key (unique and not null on
    a column, a unique combination of columns, or one row); a view, which stores nothing, is tested through
    its parents."""
    manifest = _manifest(built)
    tests: dict[str, set[tuple[str, str | None]]] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "test":
            name = (node.get("test_metadata") or {}).get("name", "singular")
            for parent in node["depends_on"]["nodes"]:
                tests.setdefault(parent, set()).add((name, node.get("column_name")))
    faults = []
    for key, model in _models(manifest).items():
        if not model["description"].strip():
            faults.append(f"{model['name']}: no description")
        faults += [f"{model['name']}.{column}: no description" for column, spec in model["columns"].items()
                   if not spec["description"].strip()]
        if model["config"]["materialized"] == "view":
            continue
        held = tests.get(key, set())
        names = {name for name, _ in held}
        keyed = {column for name, column in held if name == "unique"} & {column for name, column in held if name == "not_null"}
        if not (keyed or names & {"unique_combination_of_columns", "one_row"}):
            faults.append(f"{model['name']}: no test of its key")
    assert len(_models(manifest)) > 70 and faults == []


def test_no_model_reads_more_than_seven_relations_or_feeds_more_than_three_unread_ones(built: Built):
    manifest = _manifest(built)
    models = _models(manifest)
    readers: dict[str, set[str]] = {}
    for key, node in [*models.items(), *manifest["exposures"].items()]:
        for parent in node["depends_on"]["nodes"]:
            readers.setdefault(parent, set()).add(key)
    wide = {m["name"]: len(m["depends_on"]["nodes"]) for m in models.values() if len(m["depends_on"]["nodes"]) > MAX_PARENTS}
    fanned = {}
    for key, model in models.items():
        leaves = [reader for reader in readers.get(key, ()) if reader in models and not readers.get(reader)]
        if len(leaves) > MAX_LEAF_CHILDREN:
            fanned[model["name"]] = sorted(models[leaf]["name"] for leaf in leaves)
    assert manifest["exposures"] and wide == {} and fanned == {}


def test_every_column_of_every_mart_and_ops_table_is_documented(built: Built):
    """The documented columns of each mart and ops model are exactly the columns its table has."""
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        columns = con.execute(
            "select table_schema, table_name, list(column_name) from information_schema.columns "
            "where table_schema in ('marts', 'ops') group by all"
        ).fetchall()
    documented = {(m["schema"], m["alias"] or m["name"]): set(m["columns"]) for m in _models(_manifest(built)).values()}
    differ = {f"{schema}.{table}": sorted(set(found) ^ documented[schema, table])
              for schema, table, found in columns if (schema, table) in documented
              and set(found) != documented[schema, table]}
    assert len([key for key in documented if key[0] == "marts"]) > 15 and differ == {}
