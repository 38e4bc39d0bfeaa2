"""Hostile drops for the ingest tests: sentinel identifiers, raw drop writing, and the leak search.

A drop here is written byte for byte (header, cells, line endings, encoding,
manifest), so a test can break any part of it. The sentinel identifiers are
values that occur nowhere else, so finding one in any operator text, table
or file is a leak (SPEC §3.1, §3.9).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from connectors.contracts import AGENCY_TABLES, TABLES
from connectors.ingest import DEBUG_ENV, WORKERS_ENV, IngestSummary, ingest_drops
from connectors.normalise import pnc_check_letter
from connectors.vault import Vault
from pseudonymisation.keys import Keyring

KEYRING = Keyring(b"hostile-input-tests-partnership-secret-0123456789")
FORENAME, SURNAME = "Quillonette", "Featherstonehaugh"
DOB_ISO, DOB_UK = "1979-10-21", "21/10/1979"
POSTCODE = "SW1A 2PW"
PNC = f"2015/0012345{pnc_check_letter('2015', '0012345')}"
NHS = "9434765919"
CRN = "X9K4Q2Z7"
FREE_TEXT = "Followed Quillonette home from the station"

#: Every written form of every sentinel: none of them may appear in operator text.
SENTINELS: tuple[str, ...] = (
    FORENAME, SURNAME, DOB_ISO, DOB_UK, "19791021", POSTCODE, POSTCODE.replace(" ", ""), PNC, NHS, "943 476 5919",
    CRN, FREE_TEXT,
)
#: The sentinels written loosely: separators, wrong check letters and digits, a time or a prefix added, a month's
#: name. No reference or quotable code may hold any of them (SPEC §3).
#: What a run writes that is random or a digest: run and build ids, the key's fingerprint, hex digests (16 hex
#: digits or more: no plain identifier is that long a run of hex).
_RANDOM_IDS = re.compile(r"\b\d{8}T\d{6}Z-[0-9a-f]{6}\b|\bkv-[0-9a-f]{12}\b|\b[0-9a-f]{16,}\b")
WRONG_PNC_LETTER = next(letter for letter in "ZABC" if letter != PNC[-1])
LOOSE_SPELLINGS: tuple[str, ...] = (
    "SW1A-2PW", "sw1a.2pw", "REF1SW1A2PW", "SW1A_2PW#1",  # postcode
    "1979-10-21T10:00", "21-Oct-1979", "21OCT1979", "1979/10/21#1", "REF-21101979", "21.10.79", "21101979",  # DOB
    PNC[:-1] + WRONG_PNC_LETTER, PNC[2:].replace("/", "-"), "REF-" + PNC.replace("/", ""),  # PNC ID, any check letter
    "9434765918", "943.476.5919", "943/476/5919", "REF-9434765919",  # NHS number, any check digit
    "X123456", "X-123456", "07700900123", "0161-496-0000",  # a CRN of one letter and six digits, phone numbers
    # the same identifiers with their digits regrouped: NHS number, phone numbers, dates of birth
    "94-3476-5919", "9434-765-919", "9434765-919", "447700900123", "44-7700-900123", "7700-900-123",
    "211079", "21-1079", "1979-1021", "D-1979-1021",
    f"{SURNAME.upper()}1", f"{FORENAME[:6]}-7",  # names with a digit
    # disguised in a reference: several separators, a separator before a check letter, a month in Roman numerals or
    # another language, an international prefix, a name cut into short pieces (outside audit 4, D1)
    "N-943--476--5919", "N-9434-765-919", "N-943.4765.919", "REF-2110-1979", "D-1979--1021", "21-X-1979",
    "1979.X.21", "21-OKT-1979", "21OKT1979", f"P-{PNC[:4]}-{PNC[5:-1]}-{PNC[-1]}", f"{PNC[2:4]}-{PNC[5:-1]}-{PNC[-1]}",
    "X12-3456", "X-123-456", "0044-7700-900123", "QQ-12-34-56-C", "QQ.123.456.C", "QQ/123456/C",
    f"{SURNAME[:4]}-{SURNAME[4:8]}-{SURNAME[8:12]}-1",
    # an NHS number glued to another digit or cut short of its check digit, a mobile number glued to a digit, and a
    # date of birth with letters between its parts, day or month first
    "89434765919", "94347659190", "943476591", "N-943-476-591", "807700900123", "21A10B1979", "D21M10Y1979",
    "21l10l1979", "10A21B1979",
    # digits read through letters (an NHS number, a mobile, a landline), a postcode with letters between its halves,
    # a landline that lost its 0, a driving licence number of a short surname (outside check, 2026-12-07)
    "N943XY4765XY919", "M07700XY900123", "0161XY4960XY000", "SW1AZZ2PW", "20-7946-0123", "161-496-0000",
    "VUQ99710219QF9AB",
)
#: A name written as a column name, or as a slug (a header cell, a manifest's file name or source_id, a folder).
NAME_AS_COLUMN = f"{FORENAME.lower()}_{SURNAME.lower()}"
#: Everything the leak search looks for.
LEAK_MARKERS: tuple[str, ...] = (*SENTINELS, *LOOSE_SPELLINGS, NAME_AS_COLUMN)


def person(prefix: str) -> dict[str, str]:
    return {f"{prefix}forename": FORENAME, f"{prefix}surname": SURNAME, f"{prefix}dob": DOB_ISO,
            f"{prefix}sex": "F", f"{prefix}postcode": POSTCODE}


#: One valid row per table (ISO dates), carrying the sentinels in its identifier columns.
BASE_ROWS: dict[str, dict[str, str]] = {
    "crimes": {"crime_ref": "MPS-1", "force": "MET", "reported_at": "2026-09-01 10:00", "offence_code": "8L",
               "offence_desc": FREE_TEXT, **person("victim_"), **person("suspect_"), "suspect_pnc": PNC,
               "relationship": "EX_PARTNER", "online_element": "Y", "risk_level": "HIGH"},
    "orders": {"order_ref": "MPS-ORD-1", "force": "MET", "crime_ref": "MPS-1", "order_type": "SPO_FULL",
               "status": "GRANTED", "applied_at": "2026-09-02", "granted_at": "2026-09-03", "expires_at": "2028-09-03",
               **person("protected_"), **person("subject_"), "subject_pnc": PNC},
    "breaches": {"breach_ref": "MPS-BR-1", "force": "MET", "order_ref": "MPS-ORD-1", "reported_at": "2026-10-01 08:00"},
    "court_results": {"result_ref": "MPS-CR-1", "force": "MET", "crime_ref": "MPS-1", "hearing_at": "2026-10-05",
                      "court": "CROWN", "result": "CONVICTED", "convicted_offence_code": "8L", "sentence_type": "CUSTODY",
                      "sentence_months": "12"},
    "referrals": {"referral_ref": "MPS-RF-1", "force": "MET", "crime_ref": "MPS-1", "referred_at": "2026-09-02",
                  "referred_to": "STALKING_ADVOCACY"},
    "supervision": {"event_ref": "EV-1", "crn": CRN, "pnc": PNC, **person(""), "order_type": "LICENCE",
                    "start_date": "2026-01-05", "end_date": "2027-01-05", "rosh_level": "HIGH"},
    "contacts": {"contact_ref": "HC-1", "nhs_number": NHS, **person(""), "person_role": "VICTIM",
                 "service": "STALKING_CLINIC", "contact_at": "2026-09-10", "contact_type": "ASSESSMENT"},
    "cases": {"case_ref": "ADV-1", **person("client_"), "perpetrator_forename": FORENAME, "perpetrator_surname": SURNAME,
              "referral_at": "2026-09-03", "force": "MET", "police_crime_ref": "MPS-1", "spo_requested_at": "2026-09-04"},
}
AGENCY_SOURCE = {"police": "police-met", "probation": "probation-service", "health": "health-trust",
                 "advocacy": "advocacy-service"}


def base_row(table: str, ref_suffix: str = "") -> dict[str, str]:
    row = {**BASE_ROWS[table], "updated_at": "2026-10-10 12:00", "record_status": "ACTIVE"}
    ref = TABLES[table].ref_column
    row[ref] = row[ref] + ref_suffix
    return row


def csv_line(cells: list[str]) -> str:
    """One CSV line: cells quoted when they need it (commas, quotes, line breaks)."""
    quoted = ['"' + c.replace('"', '""') + '"' if any(ch in c for ch in ',"\r\n') else c for c in cells]
    return ",".join(quoted)


@dataclass
class CsvFile:
    table: str
    header: list[str]
    rows: list[list[str]]
    newline: str = "\n"
    bom: bool = False
    include_header: bool = True

    @classmethod
    def of(cls, table: str, rows: list[dict[str, str]]) -> CsvFile:
        header = list(TABLES[table].all_column_names)
        return cls(table, header, [[row.get(c, "") for c in header] for row in rows])

    def data_rows(self) -> int:
        """The row count a manifest states: lines after the first."""
        return len(self.rows) - (0 if self.include_header else 1)

    def encode(self, encoding: str) -> bytes:
        lines = ([csv_line(self.header)] if self.include_header else []) + [csv_line(r) for r in self.rows]
        text = "".join(line + self.newline for line in lines)
        return (b"\xef\xbb\xbf" if self.bom else b"") + text.encode(encoding, errors="replace")


def write_raw_drop(
    landing: Path,
    name: str,
    manifest: dict[str, Any],
    files: dict[str, bytes],
) -> Path:
    """A drop folder with exactly these file bytes and this manifest (which may be wrong on purpose)."""
    drop = landing / name
    drop.mkdir(parents=True)
    for file_name, data in files.items():
        (drop / file_name).write_bytes(data)
    (drop / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return drop


def manifest_for(agency: str, files: dict[str, bytes], rows: dict[str, int], /, **overrides: Any) -> dict[str, Any]:
    """A correct manifest for these file bytes, with any field overridden (``files=…`` included)."""
    return {
        "source_id": AGENCY_SOURCE[agency], "agency": agency, "extract_date": "2026-11-16", "schema_version": 1,
        "encoding": "utf-8", "date_format": "%Y-%m-%d",
        "files": [{"name": n, "rows": rows[n], "sha256": hashlib.sha256(d).hexdigest()} for n, d in files.items()],
        **overrides,
    }


def valid_drop(landing: Path, agency: str, name: str | None = None, **csv_options: Any) -> Path:
    """A well-formed drop of one agency (one row per table) carrying the sentinels."""
    files = {f"{t}.csv": CsvFile.of(t, [base_row(t)]) for t in AGENCY_TABLES[agency]}
    for f in files.values():
        for option, value in csv_options.items():
            setattr(f, option, value)
    encoded = {n: f.encode("utf-8") for n, f in files.items()}
    manifest = manifest_for(agency, encoded, {n: f.data_rows() for n, f in files.items()})
    return write_raw_drop(landing, name or f"{AGENCY_SOURCE[agency]}_2026-11-16", manifest, encoded)


@dataclass
class IngestRun:
    summary: IngestSummary | None
    output: str  # everything printed, to stdout and stderr
    error: BaseException | None
    warehouse: Path

    def operator_text(self) -> str:
        """Every word the run tells an operator: the summary (reasons, notes) and what it printed; the run's
        random ids (run and build ids, the key's fingerprint) blanked, whose hex digits can spell any number (a
        run id ending ab1961 failed a check that a year of birth is never shown)."""
        summary = json.dumps(self.summary.to_dict()) if self.summary else ""
        text = summary + "\n" + self.output + "\n" + (repr(self.error) if self.error else "")
        return _RANDOM_IDS.sub("<id>", text)

    def table_text(self) -> dict[str, str]:
        """``{file:schema.table: all its values as text}`` for every table with rows, of the warehouse and of the
        linkage vault (an empty table holds nothing to leak)."""
        found: dict[str, str] = {}
        for store in (self.warehouse, Vault.for_warehouse(self.warehouse).records_path):
            if not store.exists():
                continue
            with duckdb.connect(str(store), read_only=True) as con:
                columns = con.execute(
                    "select table_schema, table_name, column_name from information_schema.columns "
                    "where table_schema not in ('information_schema', 'pg_catalog')"
                ).fetchall()
                tables: dict[tuple[str, str], list[str]] = {}
                for schema, table, column in columns:
                    tables.setdefault((schema, table), []).append(f'cast("{column}" as varchar)')
                # one query for every table of the store: a query per table was most of this search's time
                every_table = " union all ".join(
                    f"select '{schema}.{table}' as place, concat_ws(chr(10), {', '.join(cells)}) as line "
                    f'from "{schema}"."{table}"' for (schema, table), cells in tables.items()
                )
                if every_table:
                    found.update({f"{store.name}:{place}": text for place, text in con.execute(
                        f"select place, string_agg(line, chr(10)) from ({every_table}) group by place").fetchall()})
        return found


def leaks(run: IngestRun) -> list[str]:
    """Where a sentinel, or a loose spelling of one, appears: in operator text, or in any column of any table (a
    date of birth typed into an event date of its row is withheld, so date columns are searched too)."""
    places = []
    text = run.operator_text().lower()
    places += [f"operator text: {s}" for s in LEAK_MARKERS if s.lower() in text]
    for column, values in run.table_text().items():
        lowered = values.lower()
        places += [f"{column}: {s}" for s in LEAK_MARKERS if s.lower() in lowered]
    return places


def run_ingest(landing: Path, warehouse: Path) -> IngestRun:
    """Ingest as the pipeline does (one worker, so the test sees every exception), capturing all it prints."""
    saved = {name: os.environ.get(name) for name in (WORKERS_ENV, DEBUG_ENV)}
    os.environ[WORKERS_ENV] = "1"
    os.environ.pop(DEBUG_ENV, None)
    printed = io.StringIO()
    summary, error = None, None
    try:
        with redirect_stdout(printed), redirect_stderr(printed):
            summary = ingest_drops(landing, warehouse, KEYRING, show_progress=False)
    except Exception as raised:  # noqa: BLE001 - the tests assert there is none
        error = raised
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return IngestRun(summary, printed.getvalue(), error, warehouse)
