"""The bulk reader (issue #15): whole-column rules give what the per-cell functions give, and a file read in bulk
by Arrow gives what the csv module gives, cell for cell, line for line, quarantine row for quarantine row."""

from __future__ import annotations

import csv
import dataclasses
import io

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.column_rules import (
    clean_column,
    crn_column,
    nhs_column,
    parse_datetimes,
    pnc_column,
)
from connectors.contracts import TABLES
from connectors.csv_columns import read_columns
from connectors.identifier_shapes import is_reference, references_ok
from connectors.ingest import Ingestor
from connectors.manifest import ManifestFile, count_data_rows, plain_csv, read_manifest
from connectors.normalise import (
    clean_cell,
    date_parser,
    datetime_parser,
    normalise_crn,
    normalise_nhs_number,
    normalise_pnc,
)
from connectors.reader import TableReader
from tests.hostile import (
    CRN,
    KEYRING,
    NHS,
    PNC,
    SENTINELS,
    CsvFile,
    base_row,
    manifest_for,
    write_raw_drop,
)

#: Cells that sit on the edge of a plain shape: the vectorised path must hand each to the per-cell function or agree.
EDGE_CELLS = [
    "", " ", "NULL", " n/a ", "-", "\t7\t", "\u00a07\u00a0", "\x1c7", "7\u2003", "ß", "ſ", "١٢", "２０２４-01-01",
    "CHS-24-1543408", "EV0089791", "ab", "A1", "a" * 64 + "1", "1" + "a" * 64, "#1", "1#", "2016/6605185R", "16/6605185r",
    "2016/6605185S", "4010232137", "401-023-2137", "4010232138", "SK89DQ", "sk8 9dq", "2024-01-01", "2024/1/1",
    "20240101", "21101979", "19791021", "99999999", "1.2.3", "2024-01-01T10:00", "2024-01-01 10:00:59",
    "2024-01-01 24:00", "2024-01-01 1:5", "2024-01-01  10:00", "2024-01-01T10:00:00Z", "2024-02-30 10:00",
    "2024-W01-1 10:00", "2024-01-01 10:00:60", "2024-01-01T", "0001-01-01 00:00", "9999-12-31 23:59", "16/0000001A",
    "2016/66051850R", "0000000000", "4010232130", "x9k4q2z7", "X9K4Q2Z7X9K4Q2Z7X9K4Q", "X9 K4", *SENTINELS,
    "ZZ9-9zz", "1911-11-11T10:00", "11-nov-1911", "1911/11/11#1", "11/123456z", "943.476.5919", "ref1sk89dq", "x123456",
    "07700 900123", "0161-496-0000", "Smith1", "MPS-ORD-1", "HC01021985", "ab12cd", "Ñ1", "1\n", "a1\n", "JAN1",
    "40-1023-2137", "4010-232-138", "1-2-3-4-5-6-7-8-9-0", "44 7700 900123", "7700-900-123", "290761", "D-1961-0729",
    "Q-987123", "2024-123456", "HT-CO-001206", "HT-CO-011231", "ADV-20-001206", "CR/190107/19", "2019-000075",
    "1961-0729", "29-0761", "N-401--023--2137", "A-4010232137-B", "QQ.123.456.C", "29-VII-1961", "1961MAI29",
    "ZQXC-ANAR-Y1", "0044-7700-900987", "X12-3456", "P-11-0987654-D", "REF-2907-1961", "D-1961--0729",
]
cells = st.one_of(
    st.sampled_from(EDGE_CELLS), st.text(max_size=14), st.text("0123456789-/.: T", max_size=19), st.text("0123456789-", min_size=8, max_size=16),
    st.text("0123456789/ABRZ", max_size=14),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(cells, min_size=1, max_size=12))
def test_column_rules_give_what_the_per_cell_functions_give(values: list[str]) -> None:
    column = pa.array(values, type=pa.string())
    assert clean_column(column).to_pylist() == [clean_cell(v) for v in values]
    cleaned = [clean_cell(v) for v in values]
    assert references_ok(pa.array(cleaned, type=pa.string())).to_pylist() == [
        None if v is None else is_reference(v) for v in cleaned
    ]
    for column_rule, normalise in ((pnc_column, normalise_pnc), (nhs_column, normalise_nhs_number), (crn_column, normalise_crn)):
        assert column_rule(pa.array(cleaned, type=pa.string())).to_pylist() == [
            None if v is None else normalise(v) for v in cleaned
        ]
    for date_format in ("%Y-%m-%d", "%d/%m/%Y", "%Y%m%d"):
        expected = [None if v is None else datetime_parser(date_format)(v) for v in cleaned]
        parsed = parse_datetimes(pa.array(cleaned, type=pa.string()), date_parser(date_format), date_format)
        assert parsed.to_pylist() == expected


#: Agencies' own numbering: a prefix, perhaps a year, and a zero-padded serial. A sender cannot renumber its records.
AGENCY_NUMBERING = [
    lambda n, y: f"HT-CO-{n:06d}", lambda n, y: f"ADV-{y}-{n:06d}", lambda n, y: f"CHS-{y}-{n:07d}",
    lambda n, y: f"HC{n:08d}", lambda n, y: f"EV{n:07d}", lambda n, y: f"20{y}-{n:06d}", lambda n, y: f"CR/{n:05d}/{y}",
    lambda n, y: f"CHS-ORD-{n:07d}", lambda n, y: f"REF{n}",
]


@pytest.mark.parametrize("numbering", AGENCY_NUMBERING, ids=lambda f: f(1, 24))
def test_agency_serials_are_kept_as_references_whatever_their_digits(numbering):
    """Every serial from 1 to 200,000 (and the first 2,000 of each year since 2019): six zero-padded digits read
    as a date year first (001206) one time in five below 1232, and ten digits carry a valid NHS check digit one
    time in eleven; neither makes an agency's reference an identifier."""
    refs = [numbering(n, y) for y in range(19, 27) for n in range(1, 2_000)]
    refs += [numbering(n, 24) for n in range(2_000, 200_000, 7)]
    refused = [ref for ref, ok in zip(refs, references_ok(pa.array(refs)).to_pylist()) if not ok]
    assert refused == []


TRICKY_TEXTS = [
    "a,b\n1,2\n", "a,b\r1,2\r3,4", "a,b\r\n1,2\r\n", 'a,b\n"1,5","x""y"\n', 'a,b\n1, "2"\n', 'a,b\n"1"x,2\n',
    'a,b\n"1\n2",3\n', "a,b\n1,2\n\n3,4\n", "a,b\n\r\n1,2\n", "a,b\n1,2,3\n", "a,b\n1\x002,3\n", 'a,b\n"",""\n',
    'a,b\n1,2"\n', "a,b\n1,2\n\r", "a,b", "", "\n", 'a,"b\nc"\n1,2\n',
]


def test_plain_text_is_read_in_bulk_exactly_as_the_csv_module_reads_it() -> None:
    alphabet = st.sampled_from(["a", ",", '"', "\n", "\r", "\r\n", " ", '""', "é", "\t"])

    @settings(max_examples=400, deadline=None)
    @given(st.lists(alphabet, max_size=16))
    def agree(pieces: list[str]) -> None:
        check("h1,h2\n" + "".join(pieces))

    def check(text: str) -> None:
        try:
            expected_rows = [row for row in csv.reader(io.StringIO(text, newline=""))][1:]
        except csv.Error:
            return
        if plain_csv(text):
            assert count_data_rows(text, "x.csv") == len(expected_rows)
        header = next(csv.reader(io.StringIO(text, newline="")), None)
        columns = read_columns(text, "x.csv", len(expected_rows))
        if header is None:
            assert columns.header is None
            return
        fitting = [row for row in expected_rows if len(row) == len(header)]
        assert [list(row) for row in zip(*(c.to_pylist() for c in columns.columns))] == fitting
        assert len(columns.misfits) == len(expected_rows) - len(fitting)

    for text in TRICKY_TEXTS:
        check(text)
    agree()


def _reader(drop, table: str) -> TableReader:
    """A reader of one table of ``drop`` with everything ingest gives it (code lists, tokenisers, encoder)."""
    ingestor = Ingestor(drop.parent / "warehouse" / "masip.duckdb", KEYRING)
    manifest = read_manifest(drop, None)
    return TableReader(
        TABLES[table], manifest, ingestor.profiles[manifest.source_id], ingestor.code_lists, ingestor.tokenisers,
        ingestor.encoder,
    )


def _outcome(result) -> tuple:
    persons = {k: (v.to_pylist() if hasattr(v, "to_pylist") else list(v)) for k, v in result.persons.items()}
    entity = {k: (v.to_pylist() if hasattr(v, "to_pylist") else list(v)) for k, v in result.entity.items()}
    quarantine = [(q.line_number, q.record_ref, q.rule, q.detail) for q in result.quarantined]
    return result.rows_read, result.rows_loaded, result.rows_duplicate, result.warnings, quarantine, entity, persons


def test_a_file_read_in_bulk_loads_exactly_what_the_csv_module_path_loads(tmp_path) -> None:
    """The same rows, once plain (read by Arrow) and once with a blank line at the end, which sends the file down
    the csv-module path: every count, quarantine row, typed value, token and encoding is the same, and the blank
    line is one more row read and quarantined."""
    rows = [base_row("crimes", str(i)) for i in range(6)]
    rows[1]["reported_at"] = "2026-02-30 10:00"  # quarantined: unparseable
    rows[2]["victim_dob"] = "31/02/1979"  # a warning
    rows[3]["suspect_pnc"] = PNC[:-1] + ("A" if PNC[-1] != "A" else "B")  # an invalid identifier: a warning
    rows[4]["victim_postcode"] = "x" * 300  # too long: a warning
    rows[5]["offence_desc"] = 'said "no", twice'  # a quoted cell, still plain
    rows.append(dict(rows[0]))  # a duplicate
    file = CsvFile.of("crimes", rows)
    payload = file.encode("utf-8")
    drop = write_raw_drop(tmp_path, "police-met_2026-11-16", manifest_for(
        "police", {"crimes.csv": payload}, {"crimes.csv": file.data_rows()}
    ), {"crimes.csv": payload})
    outcomes = []
    for text in (payload.decode("utf-8"), payload.decode("utf-8") + "\n"):
        reader = _reader(drop, "crimes")
        rows_declared = count_data_rows(text, "crimes.csv")
        reader.manifest = dataclasses.replace(reader.manifest, files=(ManifestFile("crimes.csv", rows_declared, "0" * 64),))
        outcomes.append(_outcome(reader.read("crimes.csv", text)))
    bulk, exact = outcomes
    assert plain_csv(payload.decode("utf-8")) and not plain_csv(payload.decode("utf-8") + "\n")
    read, loaded, duplicates, warnings, quarantine, entity, persons = bulk
    assert (read, loaded, duplicates) == (7, 5, 1) and warnings >= 3
    assert [q[2] for q in quarantine] == ["unparseable_date"]
    assert exact[:4] == (read + 1, loaded, duplicates, warnings)
    assert exact[4] == [*quarantine, (9, None, "wrong_column_count", "0 fields, header has 27")]
    assert exact[5:] == (entity, persons)
    # two roles a row; the victim with a bad date of birth has no name+dob token
    assert len(persons["version_id"]) == 10 and sum(t is not None for t in persons["name_dob_token"]) == 9
    assert not any(value in str(quarantine) for value in (PNC, NHS, CRN, *SENTINELS))


@pytest.mark.parametrize("parts", [1, 2])
def test_two_versions_of_one_record_at_one_time_are_noted_with_neither_value(tmp_path, parts: int) -> None:
    """A record on two lines with one updated_at and other values is a version the rule can only choose by line
    order: both lines load, and the file's notes say how many lines did so (the values withheld), however the file
    is split between workers. An exact copy stays a duplicate; another record's version at another time is no
    conflict."""
    first = base_row("crimes", "1")
    other = dict(first, risk_level="STANDARD" if first["risk_level"] != "STANDARD" else "HIGH")
    later = dict(base_row("crimes", "2"))
    rows = [first, base_row("crimes", "3"), dict(first), other, later, dict(later, updated_at="2026-11-02 09:00")]
    file = CsvFile.of("crimes", rows)
    payload = file.encode("utf-8")
    drop = write_raw_drop(tmp_path, "police-met_2026-11-16", manifest_for(
        "police", {"crimes.csv": payload}, {"crimes.csv": file.data_rows()}
    ), {"crimes.csv": payload})
    results = [_reader(drop, "crimes").read("crimes.csv", payload.decode("utf-8"), (k, parts)) for k in range(parts)]
    assert sum(r.rows_loaded for r in results) == 5 and sum(r.rows_duplicate for r in results) == 1
    notes = [note for r in results for note in r.notes if "updated_at of an earlier line" in note]
    assert len(notes) == 1 and notes[0].startswith("crimes.csv: 1 line(s) repeat the crime_ref")
    assert not any(value in notes[0] for value in (first["crime_ref"], first["risk_level"], other["risk_level"]))


@pytest.mark.parametrize(("table", "drop_name", "changes", "nulled", "kept"), [
    ("breaches", "police-met_2026-11-16", {"responded_at": "2001-01-01 09:00", "arrested_at": "2026-10-01 07:30"},
     ["responded_at"], ["arrested_at"]),  # an arrest logged half an hour before its report is ordinary
    ("supervision", "probation-service_2026-11-16",
     {"masip_accepted_at": "2024-05-06", "masip_ended_at": "2001-01-01", "end_date": "2025-01-05"},
     ["end_date", "masip_ended_at"], ["masip_accepted_at", "start_date"]),
    ("crimes", "police-met_2026-11-16", {"offence_from": "2026-09-10", "charged_at": "2026-09-01"},
     ["offence_from"], ["charged_at", "reported_at"]),  # charged on the day of the report: not before it
])
def test_dates_that_contradict_their_row_are_set_to_null_as_warnings(tmp_path, table, drop_name, changes, nulled, kept):
    """A breach answered in 2001 for a report of 2022 hid the late response from the panel's flag, and a caseload
    left before it was joined fed the evaluation (outside check, 2026-12-07): a date on the wrong side of its
    row's anchor is set to null with a `date_out_of_order` warning, the value withheld; the row loads."""
    row = {**base_row(table), **changes}
    file = CsvFile.of(table, [row])
    payload = file.encode("utf-8")
    agency = TABLES[table].agency
    drop = write_raw_drop(tmp_path, drop_name, manifest_for(agency, {f"{table}.csv": payload}, {
        f"{table}.csv": file.data_rows()}), {f"{table}.csv": payload})
    result = _reader(drop, table).read(f"{table}.csv", payload.decode("utf-8"))
    assert result.rows_loaded == 1 and not result.quarantined
    warned = {w.detail.split(":")[0]: w for w in result.warned if w.rule == "date_out_of_order"}
    assert sorted(warned) == nulled
    for column in nulled:
        assert _column(result.entity[column]) == [None] and changes[column] not in warned[column].detail
    for column in kept:
        assert _column(result.entity[column]) != [None]


def _column(values) -> list:
    return values.to_pylist() if hasattr(values, "to_pylist") else list(values)
