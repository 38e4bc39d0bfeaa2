"""SPEC §7.1 dyad flags and the §7.2 panel on hand-built scenarios, at the boundaries.

One raw scenario (below) is loaded with ``create_raw_schema`` and plain
inserts into two warehouses and built with the real dbt project:

* ``built`` — default as_of, the latest extract date (2026-11-16);
* ``built_early`` — the same rows with ``as_of`` 2026-09-20, to check that
  records dated after as_of do not count yet (windows not closed, responses
  not made, crimes not reported).

Every pair of people (a "pair": one victim token, one perpetrator token) is
built to sit on one side of one rule's boundary, so each boundary is tested
from both sides: one pair raises the flag, its twin does not.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from masip.pipeline import build_linked
from tests import rawkit
from tests.rawkit import Drop, Row

AS_OF = date(2026, 11, 16)
AS_OF_EARLY = date(2026, 9, 20)
POLICE, ADVOCACY, PROBATION = "police-test", "advocacy-test", "probation-test"

FLAG_CODES = (
    "UNRECOGNISED_COURSE_OF_CONDUCT",
    "NO_SPO_CONSIDERED",
    "INTERIM_SPO_LATE",
    "BREACH_RESPONSE_OVER_24H",
    "REPEAT_BREACHES_NOT_RECORDED_AS_STALKING",
    "NO_ADVOCACY_REFERRAL",
    "SPO_REQUEST_NOT_ACTED_ON",
    "SUMMARY_TIME_LIMIT_AT_RISK",
    "SPO_WITHOUT_POSITIVE_REQUIREMENTS",
)

# Offence codes (seed offence_codes): 8L harassment, 195/12 stalking s2A, 8/65 stalking s4A (fear).
HARASSMENT, STALKING_S2A, STALKING_S4A = "8L", "195/12", "8/65"


P1 = Drop("police-test-2026-11-09", POLICE, "police", date(2026, 11, 9))
P2 = Drop("police-test-2026-11-16", POLICE, "police", date(2026, 11, 16))
A1 = Drop("advocacy-test-2026-11-16", ADVOCACY, "advocacy", date(2026, 11, 16))
R1 = Drop("probation-test-2026-11-16", PROBATION, "probation", date(2026, 11, 16))
DROPS = (P1, P2, A1, R1)



def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def d(text: str) -> date:
    return date.fromisoformat(text)


def victim(pair: str) -> dict:
    return {"name_dob_token": f"nd-victim-{pair}"}


def perpetrator(pair: str) -> dict:
    return {"pnc_token": f"pnc-perp-{pair}"}


class Scenario:
    """Raw rows of a scenario, written the way ingest would write them."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self._lines: dict[tuple[str, str], int] = defaultdict(lambda: 1)

    def add(self, table: str, drop: Drop, values: dict, *, updated_at: datetime | None = None,
            status: str = "ACTIVE", persons: dict[str, dict] | None = None) -> None:
        self._lines[(drop.name, table)] += 1
        stamp = updated_at or datetime.combine(drop.extract_date, datetime.min.time())
        self.rows.append(Row(table, drop, self._lines[(drop.name, table)], values, stamp, status, persons or {}))

    def crime(self, ref: str, pair: str | None, reported: str, code: str = HARASSMENT, *, drop: Drop = P1,
              victim_of: str | None = None, status: str = "ACTIVE", updated_at: str | None = None,
              **values) -> None:
        persons = {"VICTIM": victim(victim_of or pair)}
        if pair is not None:
            persons["PERPETRATOR"] = perpetrator(pair)
        self.add("crimes", drop, {"crime_ref": ref, "force": "TEST", "reported_at": ts(reported),
                                  "offence_code": code, **values},
                 updated_at=ts(updated_at) if updated_at else None, status=status, persons=persons)

    def order(self, ref: str, pair: str, order_type: str, status: str, *, drop: Drop = P1,
              record_status: str = "ACTIVE", **values) -> None:
        self.add("orders", drop, {"order_ref": ref, "force": "TEST", "order_type": order_type, "status": status,
                                  **values},
                 status=record_status, persons={"VICTIM": victim(pair), "PERPETRATOR": perpetrator(pair)})

    def breach(self, ref: str, order_ref: str, reported: str, responded: str | None = None, *,
               drop: Drop = P1) -> None:
        self.add("breaches", drop, {"breach_ref": ref, "force": "TEST", "order_ref": order_ref,
                                    "reported_at": ts(reported),
                                    "responded_at": ts(responded) if responded else None})

    def referral(self, ref: str, crime_ref: str, referred: str, to: str, *, drop: Drop = P1) -> None:
        self.add("referrals", drop, {"referral_ref": ref, "force": "TEST", "crime_ref": crime_ref,
                                     "referred_at": d(referred), "referred_to": to})

    def case(self, ref: str, client: str, referral: str, *, names_perpetrator: bool = True, **values) -> None:
        persons = {"VICTIM": victim(client)}
        if names_perpetrator:
            persons["PERPETRATOR"] = perpetrator(client)
        self.add("cases", A1, {"case_ref": ref, "referral_at": d(referral), "referral_source": "POLICE", **values},
                 persons=persons)

    def supervision(self, ref: str, pair: str, accepted: str | None, ended: str | None = None) -> None:
        self.add("supervision", R1, {"event_ref": ref, "order_type": "COMMUNITY_ORDER", "start_date": d("2025-12-01"),
                                     "masip_accepted_at": d(accepted) if accepted else None,
                                     "masip_ended_at": d(ended) if ended else None},
                 persons={"PERPETRATOR": {**perpetrator(pair), "crn_token": f"crn-{pair}"}})


def granted_order(s: Scenario, ref: str, pair: str, *, drop: Drop = P1, **values) -> None:
    s.order(ref, pair, "RESTRAINING_ORDER", "GRANTED", drop=drop, applied_at=d("2026-01-05"),
            granted_at=d("2026-01-10"), expires_at=d("2027-01-10"), **values)


def scenario() -> Scenario:
    s = Scenario()

    # --- UNRECOGNISED_COURSE_OF_CONDUCT: >= 2 crimes within 365 days, none stalking ----------
    s.crime("U365-C1", "U365", "2025-01-01 10:00")
    s.crime("U365-C2", "U365", "2026-01-01 09:00")  # exactly 365 calendar days later
    s.crime("U366-C1", "U366", "2025-01-01 10:00")
    s.crime("U366-C2", "U366", "2026-01-02 08:00")  # 366 days
    s.crime("UST-C1", "UST", "2026-03-01 10:00")
    s.crime("UST-C2", "UST", "2026-03-05 10:00")
    s.crime("UST-C3", "UST", "2026-04-01 10:00", STALKING_S4A)  # a stalking crime: recognised
    s.crime("UDEL-C1", "UDEL", "2026-03-01 10:00")
    s.crime("UDEL-C2", "UDEL", "2026-03-05 10:00")
    s.crime("UDEL-C2", "UDEL", "2026-03-05 10:00", drop=P2, status="DELETED", updated_at="2026-11-12 09:00")
    # first recorded as stalking, corrected to harassment: the latest version's category counts
    s.crime("UREC-C1", "UREC", "2026-02-01 10:00", STALKING_S2A)
    s.crime("UREC-C1", "UREC", "2026-02-01 10:00", HARASSMENT, drop=P2, updated_at="2026-11-10 09:00")
    s.crime("UREC-C2", "UREC", "2026-02-20 10:00")

    # --- NO_SPO_CONSIDERED: no SPO applied for within 28 days of the first stalking crime -----
    s.crime("N28-C1", "N28", "2026-09-01 10:00", STALKING_S4A)
    s.order("N28-O1", "N28", "SPO_FULL", "APPLIED", applied_at=d("2026-09-29"))  # day 28: in time
    s.crime("N29-C1", "N29", "2026-09-01 10:00", STALKING_S4A)
    s.order("N29-O1", "N29", "SPO_FULL", "APPLIED", applied_at=d("2026-09-30"))  # day 29: late
    s.crime("NREF-C1", "NREF", "2026-09-01 10:00", STALKING_S4A)
    s.order("NREF-O1", "NREF", "SPO_INTERIM", "REFUSED", applied_at=d("2026-09-10"))  # refused, still considered
    s.crime("NBEFORE-C1", "NBEFORE", "2026-09-01 10:00", STALKING_S4A)
    s.order("NBEFORE-O1", "NBEFORE", "SPO_FULL", "APPLIED", applied_at=d("2026-08-31"))  # before the crime
    s.crime("NRO-C1", "NRO", "2026-09-01 10:00", STALKING_S4A)
    s.order("NRO-O1", "NRO", "RESTRAINING_ORDER", "APPLIED", applied_at=d("2026-09-05"))  # not an SPO
    s.crime("NDEL-C1", "NDEL", "2026-08-01 10:00")
    s.crime("NDEL-C2", "NDEL", "2026-08-05 10:00", STALKING_S4A)
    s.crime("NDEL-C2", "NDEL", "2026-08-05 10:00", STALKING_S4A, drop=P2, status="DELETED",
            updated_at="2026-11-11 09:00")
    s.crime("NAS27-C1", "NAS27", "2026-10-20 10:00", STALKING_S4A)  # as_of is 27 days past it
    s.crime("NAS28-C1", "NAS28", "2026-10-19 23:00", STALKING_S4A)  # as_of is 28 days past it
    s.crime("NB28-C1", "NB28", "2026-08-23 10:00", STALKING_S4A)  # 28 days before AS_OF_EARLY
    s.crime("NB27-C1", "NB27", "2026-08-24 10:00", STALKING_S4A)  # 27 days before AS_OF_EARLY

    # --- INTERIM_SPO_LATE: interim SPO granted more than 2 days after the crime's report ------
    s.crime("I2-C1", "I2", "2026-06-01 23:50", STALKING_S4A)
    s.order("I2-O1", "I2", "SPO_INTERIM", "GRANTED", crime_ref="I2-C1", applied_at=d("2026-06-02"),
            granted_at=d("2026-06-03"), expires_at=d("2026-07-03"))
    s.crime("I3-C1", "I3", "2026-06-01 00:10", STALKING_S4A)
    s.order("I3-O1", "I3", "SPO_INTERIM", "EXPIRED", crime_ref="I3-C1", applied_at=d("2026-06-02"),
            granted_at=d("2026-06-04"), expires_at=d("2026-07-04"))

    # --- BREACH_RESPONSE_OVER_24H ------------------------------------------------------------
    for pair in ("B24", "B2401", "BNR", "BNR24", "BAFTER"):
        granted_order(s, f"{pair}-O1", pair)
    s.breach("B24-X1", "B24-O1", "2026-10-01 10:00", "2026-10-02 10:00")  # exactly 24 h
    s.breach("B2401-X1", "B2401-O1", "2026-10-01 10:00", "2026-10-02 10:01")  # 24 h 1 min
    s.breach("BNR-X1", "BNR-O1", "2026-11-14 23:59")  # no response, 24 h 1 min before as_of 00:00
    s.breach("BNR24-X1", "BNR24-O1", "2026-11-15 00:00")  # no response, exactly 24 h before as_of
    s.breach("BAFTER-X1", "BAFTER-O1", "2026-09-18 10:00", "2026-09-25 10:00")  # answered after AS_OF_EARLY
    # the breach arrives a week before its order
    s.breach("BLATE-X1", "BLATE-O1", "2026-10-20 08:00", drop=P1)
    granted_order(s, "BLATE-O1", "BLATE", drop=P2)
    s.breach("BORPHAN-X1", "BORPHAN-O1", "2026-10-20 08:00")  # order never arrives

    # --- REPEAT_BREACHES_NOT_RECORDED_AS_STALKING ----------------------------------------------
    for pair in ("R30", "R31", "RNOW", "RONE", "RDEL"):
        granted_order(s, f"{pair}-O1", pair)
    for pair in ("R30", "R31"):
        s.breach(f"{pair}-X1", f"{pair}-O1", "2026-08-01 09:00", "2026-08-01 10:00")
        s.breach(f"{pair}-X2", f"{pair}-O1", "2026-09-01 12:00", "2026-09-01 13:00")
    s.crime("R30-C1", "R30", "2026-10-01 10:00", STALKING_S4A)  # 30 days after the second breach
    s.crime("R31-C1", "R31", "2026-10-02 10:00", STALKING_S4A)  # 31 days
    s.breach("RNOW-X1", "RNOW-O1", "2026-11-01 09:00", "2026-11-01 10:00")
    s.breach("RNOW-X2", "RNOW-O1", "2026-11-10 10:00", "2026-11-10 11:00")  # 6 days ago: no waiting
    s.breach("RONE-X1", "RONE-O1", "2026-08-01 09:00", "2026-08-01 10:00")
    s.breach("RDEL-X1", "RDEL-O1", "2026-08-01 09:00", "2026-08-01 10:00")
    s.breach("RDEL-X2", "RDEL-O1", "2026-09-01 12:00", "2026-09-01 13:00")
    s.order("RDEL-O1", "RDEL", "RESTRAINING_ORDER", "GRANTED", drop=P2, record_status="DELETED",
            applied_at=d("2026-01-05"), granted_at=d("2026-01-10"))

    # --- NO_ADVOCACY_REFERRAL: no advocacy referral within 14 days of the first stalking crime -
    for pair in ("A14", "A15", "ACASE", "AIDVA", "AOTHER", "ADEL"):
        s.crime(f"{pair}-C1", pair, "2026-09-01 10:00", STALKING_S4A)
    s.referral("A14-F1", "A14-C1", "2026-09-15", "STALKING_ADVOCACY")  # day 14
    s.referral("A15-F1", "A15-C1", "2026-09-16", "STALKING_ADVOCACY")  # day 15
    s.case("ACASE-K1", "ACASE", "2026-09-15", names_perpetrator=False)
    s.referral("AIDVA-F1", "AIDVA-C1", "2026-09-02", "IDVA")  # not specialist stalking advocacy
    s.crime("AOTHER-C2", None, "2026-09-04 10:00", victim_of="AOTHER")  # the victim's crime, no suspect
    s.referral("AOTHER-F1", "AOTHER-C2", "2026-09-05", "STALKING_ADVOCACY")
    s.crime("ADEL-C2", None, "2026-09-02 10:00", victim_of="ADEL")
    s.crime("ADEL-C2", None, "2026-09-02 10:00", victim_of="ADEL", drop=P2, status="DELETED",
            updated_at="2026-11-12 10:00")
    s.referral("ADEL-F1", "ADEL-C2", "2026-09-03", "STALKING_ADVOCACY")  # its crime was deleted
    s.crime("AAS13-C1", "AAS13", "2026-11-03 10:00", STALKING_S4A)  # as_of 13 days past it
    s.crime("AAS14-C1", "AAS14", "2026-11-02 10:00", STALKING_S4A)  # 14 days

    # --- SPO_REQUEST_NOT_ACTED_ON -------------------------------------------------------------
    s.case("S28-K1", "S28", "2026-08-20", spo_requested_at=d("2026-09-01"))
    s.order("S28-O1", "S28", "SPO_FULL", "APPLIED", applied_at=d("2026-09-29"))
    s.case("S29-K1", "S29", "2026-08-20", spo_requested_at=d("2026-09-01"))
    s.order("S29-O1", "S29", "SPO_FULL", "APPLIED", applied_at=d("2026-09-30"))
    s.case("SAS28-K1", "SAS28", "2026-10-01", spo_requested_at=d("2026-10-19"))
    s.case("SAS27-K1", "SAS27", "2026-10-01", spo_requested_at=d("2026-10-20"))
    # the victim of SOTHER also has another, known perpetrator and an unknown one
    s.case("SOTHER-K1", "SOTHER", "2026-08-20", spo_requested_at=d("2026-09-01"))
    s.crime("SOTHER-Q-C1", "SOTHER-Q", "2026-05-01 10:00", victim_of="SOTHER")
    s.crime("SOTHER-N-C1", None, "2026-05-02 10:00", victim_of="SOTHER")

    # --- SUMMARY_TIME_LIMIT_AT_RISK: s2A, uncharged, limit (6 months) <= as_of + 30 days ------
    s.crime("T16-C1", "T16", "2026-07-01 10:00", STALKING_S2A, offence_from=d("2026-06-16"))  # limit 12-16
    # the dyad's later s2A crime, limit 2027-04-01, is not at risk yet: not evidence (the case pack listed it)
    s.crime("T16-C2", "T16", "2026-10-05 10:00", STALKING_S2A, offence_from=d("2026-10-01"))
    s.crime("T17-C1", "T17", "2026-07-01 10:00", STALKING_S2A, offence_from=d("2026-06-17"))  # limit 12-17
    s.crime("TREP-C1", "TREP", "2026-06-10 09:00", STALKING_S2A)  # no offence_from: reported date
    s.crime("TCHG-C1", "TCHG", "2026-02-01 10:00", STALKING_S2A, offence_from=d("2026-01-01"),
            charged_at=d("2026-03-01"))
    s.crime("TOUT-C1", "TOUT", "2026-02-01 10:00", STALKING_S2A, offence_from=d("2026-01-01"),
            outcome_code="14", outcome_at=d("2026-04-01"))
    s.crime("TS4A-C1", "TS4A", "2026-02-01 10:00", STALKING_S4A, offence_from=d("2026-01-01"))
    s.crime("TLATE-C1", "TLATE", "2026-10-01 10:00", STALKING_S2A, offence_from=d("2026-01-01"))
    s.crime("TCLAMP-C1", "TCLAMP", "2026-06-05 10:00", STALKING_S2A, offence_from=d("2026-05-31"))

    # --- SPO_WITHOUT_POSITIVE_REQUIREMENTS ----------------------------------------------------
    s.order("PNONE-O1", "PNONE", "SPO_FULL", "GRANTED", applied_at=d("2026-03-01"), granted_at=d("2026-03-20"),
            expires_at=d("2028-03-20"))
    s.order("PREQ-O1", "PREQ", "SPO_FULL", "GRANTED", applied_at=d("2026-03-01"), granted_at=d("2026-03-20"),
            expires_at=d("2028-03-20"), positive_requirements="PERPETRATOR_PROGRAMME")
    s.order("PEXP-O1", "PEXP", "SPO_FULL", "EXPIRED", applied_at=d("2024-12-01"), granted_at=d("2025-01-10"),
            expires_at=d("2026-01-10"))
    s.order("PAPP-O1", "PAPP", "SPO_FULL", "APPLIED", applied_at=d("2026-10-01"))
    s.order("PINT-O1", "PINT", "SPO_INTERIM", "GRANTED", applied_at=d("2026-03-01"), granted_at=d("2026-03-02"),
            expires_at=d("2026-04-02"))

    # --- panel (SPEC §7.2) -------------------------------------------------------------------------
    for pair in ("PAN_CASE", "PAN_END16", "PAN_END15", "PAN_REF", "PAN_BOTH"):
        s.crime(f"{pair}-C1", pair, "2026-05-01 10:00", risk_level="MEDIUM")
    s.supervision("PAN_CASE-E1", "PAN_CASE", accepted="2026-10-01")
    s.supervision("PAN_END16-E1", "PAN_END16", accepted="2026-01-01", ended="2026-11-16")
    s.supervision("PAN_END15-E1", "PAN_END15", accepted="2026-01-01", ended="2026-11-15")
    s.referral("PAN_REF-F1", "PAN_REF-C1", "2026-10-01", "MASIP")
    s.supervision("PAN_BOTH-E1", "PAN_BOTH", accepted="2026-06-01")
    s.referral("PAN_BOTH-F1", "PAN_BOTH-C1", "2026-06-01", "MASIP")

    # --- case pack index: HIGH risk (latest known level) with an open flag ------------------------
    s.crime("HIGHFLAG-C1", "HIGHFLAG", "2026-03-01 10:00", risk_level="MEDIUM")
    s.crime("HIGHFLAG-C2", "HIGHFLAG", "2026-04-01 10:00", risk_level="HIGH")
    s.crime("HIGHTHENMED-C1", "HIGHTHENMED", "2026-03-01 10:00", risk_level="HIGH")
    s.crime("HIGHTHENMED-C2", "HIGHTHENMED", "2026-04-01 10:00", risk_level="MEDIUM")
    s.crime("HIGHCASE-C1", "HIGHCASE", "2026-03-01 10:00", risk_level="MEDIUM")
    s.crime("HIGHCASE-C2", "HIGHCASE", "2026-04-01 10:00", risk_level="MEDIUM")
    s.case("HIGHCASE-K1", "HIGHCASE", "2026-06-01", risk_level="HIGH")
    s.crime("HIGHNOFLAG-C1", "HIGHNOFLAG", "2026-03-01 10:00", risk_level="HIGH")
    return s


def load(warehouse: Path, rows: list[Row]) -> None:
    rawkit.load(warehouse, rows, DROPS)


@dataclass
class Built:
    warehouse: Path
    flags: pd.DataFrame
    panel: pd.DataFrame
    case_pack: pd.DataFrame
    candidates: dict[str, pd.DataFrame]
    dyads: dict[str, str]  # anchor record ref -> dyad_id
    as_of: date

    def dyad(self, record_ref: str) -> str:
        return self.dyads[record_ref]

    def flag(self, record_ref: str, code: str) -> pd.Series | None:
        hit = self.flags[(self.flags.dyad_id == self.dyad(record_ref)) & (self.flags.flag_code == code)]
        assert len(hit) <= 1
        return None if hit.empty else hit.iloc[0]


#: Only the safeguarding marts and what they are built from (with their tests): flags do not depend
#: on the other marts, and a build of this small scenario should not wait for them.
SELECT = "+path:models/marts/safeguarding"


def _build(warehouse: Path, as_of: date | None) -> Built:
    load(warehouse, scenario().rows)
    with pytest.MonkeyPatch.context() as mp:  # only tests whose every parent is built (not other marts')
        mp.setenv("DBT_INDIRECT_SELECTION", "buildable")
        build_linked(warehouse, as_of=as_of, select=SELECT)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        dyads = dict(con.execute(
            "select crime_ref, dyad_id from intermediate.int_crimes where dyad_id is not null "
            "union all select order_ref, dyad_id from intermediate.int_orders where dyad_id is not null "
            "union all select case_ref, dyad_id from intermediate.int_cases where dyad_id is not null"
        ).fetchall())
        candidates = {
            code: con.execute(f"select * from intermediate.int_flags__{code.lower()}").df() for code in FLAG_CODES
        }
        built_as_of = con.execute("select as_of_date from intermediate.int_as_of").fetchone()[0]
        return Built(
            warehouse,
            con.execute("select * from marts.dyad_flags").df(),
            con.execute("select * from marts.panel").df(),
            con.execute("select * from marts.case_pack").df(),
            candidates,
            dyads,
            built_as_of,
        )
    finally:
        con.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return _build(tmp_path_factory.mktemp("flags") / "masip.duckdb", None)


@pytest.fixture(scope="module")
def built_early(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return _build(tmp_path_factory.mktemp("flags-early") / "masip.duckdb", AS_OF_EARLY)


# (anchor record of the pair, flag, raised_at or None when the flag must not be raised) at AS_OF
CASES_AT_AS_OF = [
    # UNRECOGNISED_COURSE_OF_CONDUCT
    ("U365-C1", "UNRECOGNISED_COURSE_OF_CONDUCT", "2026-01-01 09:00"),
    ("U366-C1", "UNRECOGNISED_COURSE_OF_CONDUCT", None),
    ("UST-C1", "UNRECOGNISED_COURSE_OF_CONDUCT", None),
    ("UDEL-C1", "UNRECOGNISED_COURSE_OF_CONDUCT", None),
    ("UREC-C1", "UNRECOGNISED_COURSE_OF_CONDUCT", "2026-02-20 10:00"),
    ("UREC-C1", "NO_SPO_CONSIDERED", None),
    # NO_SPO_CONSIDERED
    ("N28-C1", "NO_SPO_CONSIDERED", None),
    ("N29-C1", "NO_SPO_CONSIDERED", "2026-09-29 00:00"),
    ("NREF-C1", "NO_SPO_CONSIDERED", None),
    ("NBEFORE-C1", "NO_SPO_CONSIDERED", "2026-09-29 00:00"),
    ("NRO-C1", "NO_SPO_CONSIDERED", "2026-09-29 00:00"),
    ("NDEL-C1", "NO_SPO_CONSIDERED", None),
    ("NAS27-C1", "NO_SPO_CONSIDERED", None),
    ("NAS28-C1", "NO_SPO_CONSIDERED", "2026-11-16 00:00"),
    ("NB28-C1", "NO_SPO_CONSIDERED", "2026-09-20 00:00"),
    ("NB27-C1", "NO_SPO_CONSIDERED", "2026-09-21 00:00"),
    # INTERIM_SPO_LATE
    ("I2-C1", "INTERIM_SPO_LATE", None),
    ("I3-C1", "INTERIM_SPO_LATE", "2026-06-04 00:00"),
    # BREACH_RESPONSE_OVER_24H
    ("B24-O1", "BREACH_RESPONSE_OVER_24H", None),
    ("B2401-O1", "BREACH_RESPONSE_OVER_24H", "2026-10-02 10:01"),
    ("BNR-O1", "BREACH_RESPONSE_OVER_24H", "2026-11-15 23:59"),
    ("BNR24-O1", "BREACH_RESPONSE_OVER_24H", None),
    ("BAFTER-O1", "BREACH_RESPONSE_OVER_24H", "2026-09-25 10:00"),
    ("BLATE-O1", "BREACH_RESPONSE_OVER_24H", "2026-10-21 08:00"),
    # REPEAT_BREACHES_NOT_RECORDED_AS_STALKING
    ("R30-O1", "REPEAT_BREACHES_NOT_RECORDED_AS_STALKING", None),
    ("R31-O1", "REPEAT_BREACHES_NOT_RECORDED_AS_STALKING", "2026-09-01 12:00"),
    ("RNOW-O1", "REPEAT_BREACHES_NOT_RECORDED_AS_STALKING", "2026-11-10 10:00"),
    ("RONE-O1", "REPEAT_BREACHES_NOT_RECORDED_AS_STALKING", None),
    # NO_ADVOCACY_REFERRAL
    ("A14-C1", "NO_ADVOCACY_REFERRAL", None),
    ("A15-C1", "NO_ADVOCACY_REFERRAL", "2026-09-15 00:00"),
    ("ACASE-C1", "NO_ADVOCACY_REFERRAL", None),
    ("AIDVA-C1", "NO_ADVOCACY_REFERRAL", "2026-09-15 00:00"),
    ("AOTHER-C1", "NO_ADVOCACY_REFERRAL", None),
    ("ADEL-C1", "NO_ADVOCACY_REFERRAL", "2026-09-15 00:00"),
    ("AAS13-C1", "NO_ADVOCACY_REFERRAL", None),
    ("AAS14-C1", "NO_ADVOCACY_REFERRAL", "2026-11-16 00:00"),
    # SPO_REQUEST_NOT_ACTED_ON
    ("S28-K1", "SPO_REQUEST_NOT_ACTED_ON", None),
    ("S29-K1", "SPO_REQUEST_NOT_ACTED_ON", "2026-09-29 00:00"),
    ("SAS28-K1", "SPO_REQUEST_NOT_ACTED_ON", "2026-11-16 00:00"),
    ("SAS27-K1", "SPO_REQUEST_NOT_ACTED_ON", None),
    ("SOTHER-K1", "SPO_REQUEST_NOT_ACTED_ON", "2026-09-29 00:00"),
    ("SOTHER-Q-C1", "SPO_REQUEST_NOT_ACTED_ON", "2026-09-29 00:00"),  # every dyad with a known perpetrator
    ("SOTHER-N-C1", "SPO_REQUEST_NOT_ACTED_ON", None),  # ... not the unknown one
    # SUMMARY_TIME_LIMIT_AT_RISK
    ("T16-C1", "SUMMARY_TIME_LIMIT_AT_RISK", "2026-11-16 00:00"),
    ("T17-C1", "SUMMARY_TIME_LIMIT_AT_RISK", None),
    ("TREP-C1", "SUMMARY_TIME_LIMIT_AT_RISK", "2026-11-10 00:00"),
    ("TCHG-C1", "SUMMARY_TIME_LIMIT_AT_RISK", None),
    ("TOUT-C1", "SUMMARY_TIME_LIMIT_AT_RISK", None),
    ("TS4A-C1", "SUMMARY_TIME_LIMIT_AT_RISK", None),
    ("TLATE-C1", "SUMMARY_TIME_LIMIT_AT_RISK", "2026-10-01 00:00"),
    ("TCLAMP-C1", "SUMMARY_TIME_LIMIT_AT_RISK", "2026-10-31 00:00"),  # limit 11-31 clamped to 11-30
    # SPO_WITHOUT_POSITIVE_REQUIREMENTS
    ("PNONE-O1", "SPO_WITHOUT_POSITIVE_REQUIREMENTS", "2026-03-20 00:00"),
    ("PREQ-O1", "SPO_WITHOUT_POSITIVE_REQUIREMENTS", None),
    ("PEXP-O1", "SPO_WITHOUT_POSITIVE_REQUIREMENTS", "2025-01-10 00:00"),
    ("PAPP-O1", "SPO_WITHOUT_POSITIVE_REQUIREMENTS", None),
    ("PINT-O1", "SPO_WITHOUT_POSITIVE_REQUIREMENTS", None),
]

# The same rows seen at AS_OF_EARLY (2026-09-20): later records do not count yet.
CASES_AT_AS_OF_EARLY = [
    ("NB28-C1", "NO_SPO_CONSIDERED", "2026-09-20 00:00"),  # as_of is 28 days past the crime
    ("NB27-C1", "NO_SPO_CONSIDERED", None),  # window still open at as_of
    ("N29-C1", "NO_SPO_CONSIDERED", None),  # crime 2026-09-01: window closes 09-29, after as_of
    ("R30-O1", "REPEAT_BREACHES_NOT_RECORDED_AS_STALKING", "2026-09-01 12:00"),  # stalking crime not reported yet
    ("BAFTER-O1", "BREACH_RESPONSE_OVER_24H", "2026-09-19 10:00"),  # response after as_of: unanswered at as_of
    ("B2401-O1", "BREACH_RESPONSE_OVER_24H", None),  # breach not reported yet
    ("PNONE-O1", "SPO_WITHOUT_POSITIVE_REQUIREMENTS", "2026-03-20 00:00"),
    ("PAPP-O1", "SPO_WITHOUT_POSITIVE_REQUIREMENTS", None),
    ("T16-C1", "SUMMARY_TIME_LIMIT_AT_RISK", None),  # limit 12-16 is more than 30 days after 09-20
    ("TLATE-C1", "SUMMARY_TIME_LIMIT_AT_RISK", None),  # reported 10-01, after as_of
    ("TREP-C1", "SUMMARY_TIME_LIMIT_AT_RISK", None),
]


def _check(built: Built, anchor: str, code: str, raised_at: str | None) -> None:
    row = built.flag(anchor, code)
    if raised_at is None:
        assert row is None, f"{code} must not be raised on the pair of {anchor} (as_of {built.as_of}): {row.detail}"
    else:
        assert row is not None, f"{code} must be raised on the pair of {anchor} (as_of {built.as_of})"
        assert row.raised_at == pd.Timestamp(raised_at), (anchor, code, row.raised_at)
        assert row.raised_at.date() <= built.as_of
        assert row.as_of_date == pd.Timestamp(built.as_of)


@pytest.mark.parametrize(("anchor", "code", "raised_at"), CASES_AT_AS_OF,
                         ids=[f"{a}-{c}-{'raised' if r else 'not'}" for a, c, r in CASES_AT_AS_OF])
def test_flag_at_as_of(built: Built, anchor: str, code: str, raised_at: str | None):
    assert built.as_of == AS_OF
    _check(built, anchor, code, raised_at)


@pytest.mark.parametrize(("anchor", "code", "raised_at"), CASES_AT_AS_OF_EARLY,
                         ids=[f"{a}-{c}-{'raised' if r else 'not'}" for a, c, r in CASES_AT_AS_OF_EARLY])
def test_flag_at_an_earlier_as_of(built_early: Built, anchor: str, code: str, raised_at: str | None):
    assert built_early.as_of == AS_OF_EARLY
    _check(built_early, anchor, code, raised_at)


def test_evidence_refs_point_at_the_records_behind_each_flag(built: Built):
    def refs(anchor: str, code: str) -> str:
        return built.flag(anchor, code).evidence_refs

    p = POLICE
    assert refs("U365-C1", "UNRECOGNISED_COURSE_OF_CONDUCT") == f"{p}:U365-C1, {p}:U365-C2"
    assert refs("N29-C1", "NO_SPO_CONSIDERED") == f"{p}:N29-C1"
    assert refs("I3-C1", "INTERIM_SPO_LATE") == f"{p}:I3-C1, {p}:I3-O1"
    assert refs("B2401-O1", "BREACH_RESPONSE_OVER_24H") == f"{p}:B2401-X1"
    assert refs("BLATE-O1", "BREACH_RESPONSE_OVER_24H") == f"{p}:BLATE-X1"
    assert refs("R31-O1", "REPEAT_BREACHES_NOT_RECORDED_AS_STALKING") == f"{p}:R31-X1, {p}:R31-X2"
    assert refs("A15-C1", "NO_ADVOCACY_REFERRAL") == f"{p}:A15-C1"
    assert refs("S29-K1", "SPO_REQUEST_NOT_ACTED_ON") == f"{ADVOCACY}:S29-K1"
    assert refs("T16-C1", "SUMMARY_TIME_LIMIT_AT_RISK") == f"{p}:T16-C1"
    assert refs("PNONE-O1", "SPO_WITHOUT_POSITIVE_REQUIREMENTS") == f"{p}:PNONE-O1"
    # the detail is plain language built from refs and dates
    assert "responded after 24.0 h" in built.flag("B2401-O1", "BREACH_RESPONSE_OVER_24H").detail
    assert "no response recorded" in built.flag("BNR-O1", "BREACH_RESPONSE_OVER_24H").detail


def test_records_that_are_not_in_the_final_state_raise_nothing(built: Built):
    every_ref = ", ".join(built.flags.evidence_refs)
    assert "UDEL-C2" not in every_ref and "NDEL-C2" not in every_ref  # deleted crimes
    assert "BORPHAN-X1" not in every_ref  # breach of an order that never arrived
    assert "RDEL-O1" not in built.dyads  # deleted order: its breaches are ignored
    assert not any("RDEL-X" in refs for refs in built.flags.evidence_refs)


def test_summary_time_limit_is_clamped_to_month_end(built: Built):
    # offence_from 2026-05-31 + 6 months = 2026-11-30 (clamped); raised 30 days before
    candidates = built.candidates["SUMMARY_TIME_LIMIT_AT_RISK"]
    row = candidates[candidates.dyad_id == built.dyad("TCLAMP-C1")].iloc[0]
    assert row.raised_at == pd.Timestamp("2026-10-31")
    assert "time limit 2026-11-30" in row.detail


def test_dyad_flags_shape(built: Built):
    flags = built.flags
    assert list(flags.columns[:6]) == ["dyad_id", "victim_id", "perpetrator_id", "flag_code", "raised_at",
                                      "evidence_refs"]
    assert set(flags.flag_code) == set(FLAG_CODES)  # the scenario raises every flag at least once
    assert not flags.duplicated(["dyad_id", "flag_code"]).any()
    assert (flags.raised_at.dt.date <= AS_OF).all()
    # stored order is deterministic
    assert list(zip(flags.dyad_id, flags.flag_code)) == sorted(zip(flags.dyad_id, flags.flag_code))
    # evidence lists are sorted
    for refs in flags.evidence_refs:
        parts = refs.split(", ")
        assert parts == sorted(set(parts))


def test_thresholds_come_from_the_seed(built: Built):
    con = duckdb.connect(str(built.warehouse), read_only=True)
    try:
        thresholds = con.execute("select * from intermediate.int_flag_thresholds").df()
        seed = con.execute("select flag_code, threshold_name, value, unit from seeds.flag_thresholds").df()
    finally:
        con.close()
    assert len(thresholds) == 1 and thresholds.notna().all(axis=None)
    assert thresholds.breach_response_max_hours.iloc[0] == 24
    assert thresholds.summary_time_limit_months.iloc[0] == 6
    assert set(seed.flag_code) <= set(FLAG_CODES)
    assert len(seed) == len(thresholds.columns)


def test_panel(built: Built, built_early: Built):
    def reason(b: Built, anchor: str) -> str | None:
        hit = b.panel[b.panel.dyad_id == b.dyad(anchor)]
        return None if hit.empty else hit.reason.iloc[0]

    assert reason(built, "PAN_CASE-C1") == "MASIP_CASELOAD"
    assert reason(built, "PAN_END16-C1") == "MASIP_CASELOAD"  # ends on as_of: still on
    assert reason(built, "PAN_END15-C1") is None  # ended the day before
    assert reason(built, "PAN_REF-C1") == "MASIP_REFERRAL"
    assert reason(built, "PAN_BOTH-C1") == "MASIP_CASELOAD+MASIP_REFERRAL"
    assert reason(built, "U365-C1") is None
    assert set(built.panel.columns[:4]) == {"dyad_id", "victim_id", "perpetrator_id", "reason"}
    # at 2026-09-20 the caseload acceptance of 2026-10-01 and the referral of 2026-10-01 had not happened
    assert reason(built_early, "PAN_CASE-C1") is None
    assert reason(built_early, "PAN_REF-C1") is None
    assert reason(built_early, "PAN_END15-C1") == "MASIP_CASELOAD"
    assert reason(built_early, "PAN_BOTH-C1") == "MASIP_CASELOAD+MASIP_REFERRAL"


def test_case_pack_index(built: Built):
    pack = built.case_pack.set_index("dyad_id")
    section = {anchor: (pack.pack_section.get(built.dyad(anchor))) for anchor in (
        "PAN_CASE-C1", "PAN_REF-C1", "PAN_BOTH-C1", "HIGHFLAG-C1", "HIGHTHENMED-C1", "HIGHCASE-C1",
        "HIGHNOFLAG-C1", "U365-C1")}
    assert section == {
        "PAN_CASE-C1": "PANEL", "PAN_REF-C1": "PANEL", "PAN_BOTH-C1": "PANEL",
        "HIGHFLAG-C1": "HIGH_RISK_FLAGGED",  # latest level HIGH, flagged
        "HIGHTHENMED-C1": None,  # HIGH once, MEDIUM since
        "HIGHCASE-C1": "HIGH_RISK_FLAGGED",  # the advocacy case's HIGH is the latest
        "HIGHNOFLAG-C1": None,  # HIGH but no open flag
        "U365-C1": None,  # flagged, risk unknown
    }
    ordered = built.case_pack.sort_values("pack_position")
    assert list(ordered.pack_position) == list(range(1, len(ordered) + 1))
    sections = list(ordered.pack_section)
    assert sections == sorted(sections, key=lambda s: s != "PANEL")  # panel first
    assert len(built.case_pack) == len(built.panel) + 2
    # within a section: something new in the last 7 days first, then by risk, then the latest activity (a case whose
    # flags were all raised years ago led the pack, and every flag of the month sat at its end: outside check)
    as_of = pd.Timestamp(built.as_of)
    for _, section in ordered.groupby("pack_section", sort=False):
        recent = (section.last_activity_at.dt.normalize() > as_of - pd.Timedelta(days=7)).tolist()
        assert recent == sorted(recent, reverse=True)
        risk = section.latest_risk_level.map({"HIGH": 1, "MEDIUM": 2, "STANDARD": 3}).fillna(4)
        keys = list(zip([not r for r in recent], risk, -section.last_activity_at.astype("int64")))
        assert keys == sorted(keys)
    assert ordered.last_activity_at.notna().all() and (ordered.last_activity_at.dt.date <= built.as_of).all()
