"""One test per bad-input class of SPEC §2.5 that needs the whole pipeline (ingest → dbt → GX).

Built from small hand-made drops over three weeks, so each assertion can name
the exact record it is about.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from connectors.normalise import pnc_check_letter
from connectors.vault import Vault
from masip.pipeline import build_stage, candidate_path, publish_stage, run_pipeline
from masip.quality import DataQualityError
from pseudonymisation.keys import Keyring
from tests.dropkit import write_drop
from tests.leakcheck import collect_identifiers, scan_warehouse

KEYRING = Keyring(b"fault-tests-partnership-secret-0123456789")
PNC = f"2015/0012345{pnc_check_letter('2015', '0012345')}"
VALID_NHS = "9434765919"
INVALID_NHS = "9434765918"  # wrong check digit


def _crime(ref: str, code: str, reported: str, updated: str, status: str = "ACTIVE") -> dict[str, str]:
    return {
        "crime_ref": ref, "force": " met ", "reported_at": reported, "offence_from": "NULL", "offence_code": code,
        "offence_desc": "Messages sent by Ivor to Zoë", "victim_forename": "Zoë", "victim_surname": "O’Neill",
        "victim_dob": "1984-03-07", "victim_sex": " f ", "victim_postcode": "sw1a1aa", "suspect_forename": "Ivor",
        "suspect_surname": "Pennington", "suspect_dob": "1979-10-21", "suspect_sex": "m", "suspect_postcode": "N/A",
        "suspect_pnc": PNC, "relationship": "ex_partner", "online_element": "y", "risk_level": "high",
        "updated_at": updated, "record_status": status,
    }


WEEK1_POLICE = {
    "crimes": [_crime("MPS-1", "8L", "2026-09-01 10:00", "2026-09-01 10:00"),
               _crime("MPS-2", "8Q", "2026-10-20 21:15", "2026-10-20 21:15")],
    "breaches": [{"breach_ref": "MPS-BR-1", "force": "MET", "order_ref": "MPS-ORD-1", "reported_at": "2026-10-25 08:00",
                  "responded_at": "", "arrested_at": "NULL", "new_crime_ref": "N/A",
                  "updated_at": "2026-10-25 08:00", "record_status": "active"}],
}
# cp1252, UK dates: the same victim (curly apostrophe, diaeresis) and two people sharing an invalid NHS number.
WEEK1_HEALTH = {
    "contacts": [
        {"contact_ref": "HC-1", "nhs_number": INVALID_NHS, "forename": "ZOË", "surname": "O’NEILL", "dob": "07/03/1984",
         "sex": "F", "postcode": "SW1A 1AA", "person_role": "victim", "service": "psychological_therapy",
         "contact_at": "15/10/2026", "contact_type": "ASSESSMENT", "referral_source": "advocacy",
         "updated_at": "15/10/2026 09:30", "record_status": "ACTIVE"},
        {"contact_ref": "HC-2", "nhs_number": INVALID_NHS, "forename": "Gideon", "surname": "Trelawny", "dob": "02/02/1961",
         "sex": "M", "postcode": "", "person_role": "PERPETRATOR", "service": "STALKING_CLINIC",
         "contact_at": "16/10/2026", "contact_type": "ASSESSMENT", "referral_source": "", "updated_at": "16/10/2026 11:00",
         "record_status": "ACTIVE"},
        {"contact_ref": "HC-3", "nhs_number": VALID_NHS, "forename": "Gideon", "surname": "Trelawny", "dob": "02/02/1961",
         "sex": "M", "postcode": "", "person_role": "PERPETRATOR", "service": "STALKING_CLINIC",
         "contact_at": "17/10/2026", "contact_type": "TREATMENT", "referral_source": "", "updated_at": "17/10/2026 11:00",
         "record_status": "ACTIVE"},
    ]
}
WEEK2_POLICE = {
    "crimes": [_crime("MPS-2", "8Q", "2026-10-20 21:15", "2026-11-03 09:00", status="deleted")],
    "orders": [{"order_ref": "MPS-ORD-1", "force": "MET", "crime_ref": "MPS-1", "order_type": "restraining_order",
                "status": "GRANTED", "applied_at": "2026-09-10", "granted_at": "2026-09-12", "expires_at": "2028-09-12",
                "protected_forename": "Zoe", "protected_surname": "O'Neill", "protected_dob": "1984-03-07",
                "subject_forename": "Ivor", "subject_surname": "Pennington", "subject_pnc": PNC,
                "updated_at": "2026-11-04 12:00", "record_status": "ACTIVE"}],
}


def _journey(warehouse: Path, where: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(f"select record_ref, event_type, dyad_id from marts.victim_journey where {where} order by all").fetchall()


@pytest.fixture(scope="module")
def weeks(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    landing, warehouse = root / "landing", root / "warehouse" / "masip.duckdb"
    write_drop(landing, "police-met", "police", date(2026, 11, 2), WEEK1_POLICE, bom=True)
    write_drop(landing, "health-trust", "health", date(2026, 11, 2), WEEK1_HEALTH, encoding="cp1252", date_format="%d/%m/%Y")
    first = run_pipeline(landing, warehouse, KEYRING, root / "out1", show_progress=False)
    state = {"after_week1": {
        "breach_events": _journey(warehouse, "record_ref = 'MPS-BR-1'"),
        "crime2_events": _journey(warehouse, "record_ref = 'MPS-2'"),
    }}
    write_drop(landing, "police-met", "police", date(2026, 11, 9), WEEK2_POLICE)
    second = run_pipeline(landing, warehouse, KEYRING, root / "out2", show_progress=False)
    return {"root": root, "landing": landing, "warehouse": warehouse, "first": first, "second": second, **state}


def test_bom_cp1252_null_markers_and_lowercase_codes_all_load(weeks):
    files = [f for d in weeks["first"].ingest.drops for f in d.files]
    assert all(f.rows_quarantined == 0 for f in files)
    assert sum(f.rows_loaded for f in files) == 6
    with duckdb.connect(str(weeks["warehouse"]), read_only=True) as con:
        crime = con.execute(
            "select force, relationship, risk_level, has_online_element, offence_from_date from staging.stg_police__crimes "
            "where crime_ref = 'MPS-1'").fetchone()
        contact = con.execute("select person_role, service, referral_source from staging.stg_health__contacts "
                              "where contact_ref = 'HC-1'").fetchone()
    assert crime == ("MET", "EX_PARTNER", "HIGH", True, None)
    assert contact == ("VICTIM", "PSYCHOLOGICAL_THERAPY", "ADVOCACY")


def test_same_person_across_encodings_and_spellings_is_linked(weeks):
    with duckdb.connect(str(weeks["warehouse"]), read_only=True) as con:
        people = dict(con.execute(
            "select source_table || ':' || record_ref || ':' || role, person_id from marts.person_xref").fetchall())
    assert people["crimes:MPS-1:VICTIM"] == people["contacts:HC-1:VICTIM"] == people["orders:MPS-ORD-1:VICTIM"]
    assert people["crimes:MPS-1:PERPETRATOR"] == people["orders:MPS-ORD-1:PERPETRATOR"]


def test_invalid_nhs_number_is_flagged_and_never_linked_on(weeks):
    health = next(d for d in weeks["first"].ingest.drops if d.source_id == "health-trust")
    assert health.files[0].warnings >= 2  # both invalid NHS numbers counted
    with duckdb.connect(str(weeks["warehouse"]), read_only=True) as con:
        people = dict(con.execute("select record_ref, person_id from marts.person_xref where source_table = 'contacts'").fetchall())
    with duckdb.connect(str(Vault.for_warehouse(weeks["warehouse"]).records_path), read_only=True) as con:
        tokens = dict(con.execute(
            "select record_ref, nhs_token from person_encodings where source_table = 'contacts'").fetchall())
    assert tokens["HC-1"] is None and tokens["HC-2"] is None and tokens["HC-3"] is not None
    assert people["HC-1"] != people["HC-2"]  # the shared invalid NHS number did not merge two people


def test_breach_waits_for_its_order_then_joins_the_dyad(weeks):
    assert weeks["after_week1"]["breach_events"] == []
    events = _journey(weeks["warehouse"], "record_ref in ('MPS-BR-1', 'MPS-ORD-1')")
    breach = [e for e in events if e[0] == "MPS-BR-1"]
    order = [e for e in events if e[0] == "MPS-ORD-1"]
    assert [e[1] for e in breach] == ["BREACH_REPORTED"]
    assert breach[0][2] == order[0][2]  # same dyad as the order it breached


def test_deleted_crime_leaves_every_mart(weeks):
    assert weeks["after_week1"]["crime2_events"]  # it was there in week 1
    assert _journey(weeks["warehouse"], "record_ref = 'MPS-2'") == []
    with duckdb.connect(str(weeks["warehouse"]), read_only=True) as con:
        tables = [t for (t,) in con.execute(
            "select table_name from information_schema.columns where table_schema = 'marts' and column_name = 'record_ref'").fetchall()]
        for table in tables:
            assert con.execute(f"select count(*) from marts.{table} where record_ref = 'MPS-2'").fetchone()[0] == 0


def test_no_plain_identifier_from_the_fault_drops(weeks):
    assert scan_warehouse(weeks["warehouse"], collect_identifiers(weeks["landing"])) == {}


NO_SUSPECT = {column: "" for column in ("suspect_forename", "suspect_surname", "suspect_dob", "suspect_sex",
                                        "suspect_postcode", "suspect_pnc")}


def test_what_ingest_accepts_publishes_and_a_future_dated_crime_is_quarantined(weeks):
    """Whatever ingest loads, the quality gate lets through: a crime reported early on the day after its extract
    (ingest's one-day margin), a MASIP referral of a crime whose suspect is unknown (a panel dyad without a
    perpetrator). A crime reported months after its extract is quarantined at ingest."""
    warehouse, landing = weeks["warehouse"], weeks["landing"]
    future = _crime("MPS-3", "8Q", "2027-06-01 10:00", "2026-11-15 10:00")  # reported after its own extract
    next_morning = _crime("MPS-5", "8Q", "2026-11-17 09:00", "2026-11-17 09:30")
    no_suspect = {**_crime("MPS-6", "8Q", "2026-11-12 10:00", "2026-11-12 10:00"), **NO_SUSPECT}
    referral = {"referral_ref": "MPS-RF-6", "force": "MET", "crime_ref": "MPS-6", "referred_at": "2026-11-13",
                "referred_to": "MASIP", "updated_at": "2026-11-13 10:00", "record_status": "ACTIVE"}
    crimes = [future, _crime("MPS-4", "8Q", "2026-11-10 10:00", "2026-11-10 10:00"), next_morning, no_suspect]
    write_drop(landing, "police-met", "police", date(2026, 11, 16), {"crimes": crimes, "referrals": [referral]})
    result = run_pipeline(landing, warehouse, KEYRING, weeks["root"] / "out3", show_progress=False)
    assert result.quality.success
    with duckdb.connect(str(warehouse), read_only=True) as con:
        quarantined = con.execute("select record_ref, rule from ops.quarantine where drop_name like '%2026-11-16'").fetchall()
        panel = con.execute("select reason, perpetrator_id from marts.panel where dyad_id = "
                            "(select dyad_id from marts.victim_journey where record_ref = 'MPS-6')").fetchall()
    assert quarantined == [("MPS-3", "implausible_date")]
    assert _journey(warehouse, "record_ref = 'MPS-3'") == []
    assert _journey(warehouse, "record_ref = 'MPS-4'")  # the rest of the drop was published
    assert _journey(warehouse, "record_ref = 'MPS-5'")
    assert panel == [("MASIP_REFERRAL", None)]


def test_failing_quality_suite_stops_publication(weeks):
    """A build whose candidate breaks a Great Expectations suite is never published."""
    warehouse = weeks["warehouse"]
    before = _journey(warehouse, "true")
    build_stage(warehouse)
    with duckdb.connect(str(candidate_path(warehouse))) as con:  # a defect no ingest rule catches: a model bug
        con.execute("update staging.stg_police__crimes set reported_at = timestamp '2031-01-01 10:00'")
    with pytest.raises(DataQualityError) as failure:
        publish_stage(warehouse, weeks["root"] / "out4")
    message = str(failure.value)
    assert "NOT published" in message and "reported_at" in message and "stg_police__crimes" in message
    assert _journey(warehouse, "true") == before  # readers still see the last good build
    assert candidate_path(warehouse).exists()


def test_a_first_week_of_probation_alone_publishes(tmp_path):
    """A partnership may onboard probation first: no record names a victim yet, so the journey is empty, and that
    is no reason to refuse the week (only a mart that is empty while its inputs are not is a defect)."""
    from tests.hostile import KEYRING as HOSTILE_KEYRING
    from tests.hostile import valid_drop

    landing = tmp_path / "landing"
    valid_drop(landing, "probation")
    result = run_pipeline(landing, tmp_path / "warehouse" / "masip.duckdb", HOSTILE_KEYRING, tmp_path / "out",
                          show_progress=False)
    assert result.quality.success
    with duckdb.connect(str(tmp_path / "warehouse" / "masip.duckdb"), read_only=True) as con:
        counts = con.execute("select (select count(*) from marts.person_xref), (select count(*) from marts.victim_journey)"
                             ).fetchone()
    assert counts == (1, 0)
