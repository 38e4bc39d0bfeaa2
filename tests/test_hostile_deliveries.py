"""Hostile and broken deliveries, part two (hostile-input audit): what the drop is, not what its cells hold.

Manifest values never echoed, files that changed under a loaded manifest,
deliveries that are not folders, table files the manifest does not list,
drops dated in the future, and messages that say what is wrong and what to
do. As in ``test_hostile_input``, each hostile drop sits beside a good drop of
another agency, which must load; every drop ends loaded or rejected with a
reason; and no sentinel identifier reaches any operator text or table.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from connectors.drop_folders import UNPACK_ADVICE
from tests.hostile import (
    AGENCY_SOURCE,
    DOB_ISO,
    NAME_AS_COLUMN,
    NHS,
    SURNAME,
    CsvFile,
    IngestRun,
    base_row,
    csv_line,
    leaks,
    manifest_for,
    run_ingest,
    valid_drop,
    write_raw_drop,
)

GOOD = "probation-service_2026-11-16"
POLICE = "police-met_2026-11-16"
#: Numbers that are identifiers: an NHS number, a date of birth's digits, a phone number's.
IDENTIFIER_NUMBERS = [int(NHS), int(DOB_ISO.replace("-", "")), 7700900123]


def _landing(tmp_path: Path) -> Path:
    landing = tmp_path / "landing"
    valid_drop(landing, "probation")  # another agency's good drop: its week must go on
    return landing


def _run(tmp_path: Path, landing: Path) -> IngestRun:
    """Ingest ``landing`` into the test's warehouse; the good drop loads (or was loaded), nothing leaks."""
    run = run_ingest(landing, tmp_path / "warehouse" / "masip.duckdb")
    assert run.error is None, f"the run crashed: {type(run.error).__name__}"
    assert "Traceback" not in run.output
    statuses = {d.drop_name: d.status for d in run.summary.drops}
    assert statuses[GOOD] in ("loaded", "already_loaded")
    assert all(d.status in ("loaded", "rejected", "already_loaded") for d in run.summary.drops)
    assert all(d.reason for d in run.summary.drops if d.status == "rejected")
    assert all(f.reconciles for d in run.summary.drops for f in d.files)
    assert leaks(run) == []
    return run


def _outcome(run: IngestRun, name: str = POLICE):
    return next(d for d in run.summary.drops if d.drop_name == name)


def _crimes_drop(landing: Path, name: str = POLICE, rows: int = 1, **manifest) -> Path:
    """A police drop listing only crimes.csv (``rows`` rows carrying the sentinels), manifest fields overridden."""
    csv_file = CsvFile.of("crimes", [base_row("crimes", f"-{n}") for n in range(rows)])
    data = {"crimes.csv": csv_file.encode("utf-8")}
    return write_raw_drop(landing, name, manifest_for("police", data, {"crimes.csv": rows}, **manifest), data)


def _edit_manifest(drop: Path, change: Callable[[dict], None]) -> None:
    manifest = json.loads((drop / "manifest.json").read_text())
    change(manifest)
    (drop / "manifest.json").write_text(json.dumps(manifest))


def _count(run: IngestRun, sql: str, *params) -> int:
    with duckdb.connect(str(run.warehouse), read_only=True) as con:
        return con.execute(sql, list(params)).fetchone()[0]


# -- 1. manifest values are never echoed ----------------------------------------------------------------------

@pytest.mark.parametrize("number", IDENTIFIER_NUMBERS)
@pytest.mark.parametrize("field", ["rows", "schema_version"])
def test_a_manifest_number_is_never_echoed(tmp_path, field, number):
    landing = _landing(tmp_path)
    drop = _crimes_drop(landing)
    if field == "rows":
        _edit_manifest(drop, lambda m: m["files"][0].update(rows=number))
    else:
        _edit_manifest(drop, lambda m: m.update(schema_version=number))
    run = _run(tmp_path, landing)
    outcome = _outcome(run)
    assert outcome.status == "rejected" and str(number) not in run.operator_text()
    assert str(number) not in json.dumps(run.table_text())
    if field == "rows":
        assert "crimes.csv: 1 data rows found, fewer than the manifest's row count" in outcome.reason
    else:
        assert "schema_version is not 1" in outcome.reason
    assert "What to do:" in outcome.reason


def test_a_row_count_below_the_files_is_compared_not_quoted(tmp_path):
    landing = _landing(tmp_path)
    _edit_manifest(_crimes_drop(landing, rows=3), lambda m: m["files"][0].update(rows=2))
    outcome = _outcome(_run(tmp_path, landing))
    assert outcome.status == "rejected" and "3 data rows found, more than the manifest's row count" in outcome.reason


@pytest.mark.parametrize("number", IDENTIFIER_NUMBERS)
def test_a_manifest_checksum_is_never_echoed(tmp_path, number):
    """Hex digits can spell a number: the manifest's checksum is compared with ours, never shown."""
    planted = (str(number) * 10)[:64]
    landing = _landing(tmp_path)
    _edit_manifest(_crimes_drop(landing), lambda m: m["files"][0].update(sha256=planted))
    run = _run(tmp_path, landing)
    outcome = _outcome(run)
    assert outcome.status == "rejected" and "crimes.csv: checksum mismatch" in outcome.reason
    assert str(number) not in run.operator_text() and planted[:12] not in run.operator_text()
    assert "What to do:" in outcome.reason


# -- 2. files that changed under a manifest loaded before -----------------------------------------------------

def _add_row(landing: Path) -> None:
    """A row carrying the sentinels appended to a loaded drop's crimes.csv; its manifest untouched."""
    header = CsvFile.of("crimes", []).header
    row = base_row("crimes", "-added")
    with (landing / POLICE / "crimes.csv").open("a", encoding="utf-8") as handle:
        handle.write(csv_line([row.get(c, "") for c in header]) + "\n")


def _truncated_copy(landing: Path) -> None:
    copy = Path(shutil.copytree(landing / POLICE, landing / f"{POLICE}_redelivery"))
    data = (copy / "crimes.csv").read_bytes()
    (copy / "crimes.csv").write_bytes(data[: len(data) // 2])


def _remove_file(landing: Path) -> None:
    (landing / POLICE / "referrals.csv").unlink()


def _replace_with_folder(landing: Path) -> None:
    (landing / POLICE / "breaches.csv").unlink()
    (landing / POLICE / "breaches.csv").mkdir()


def _stray_file(landing: Path) -> None:
    (landing / POLICE / f"{NAME_AS_COLUMN}.csv").write_bytes((landing / POLICE / "crimes.csv").read_bytes())


CHANGES = {"row added": _add_row, "truncated copy": _truncated_copy, "file removed": _remove_file,
           "file replaced by a folder": _replace_with_folder, "unlisted file added": _stray_file}


def test_a_copy_cut_short_then_re_delivered_intact_is_a_copy_of_the_loaded_delivery_on_later_runs(tmp_path):
    """The cut-short copy was rejected; its intact re-delivery loaded. Later runs rejected it again, under a new
    reason, with a new row, and as outstanding, every week (outside audit 5, D2; the README's promise since c53486c)."""
    from masip.report import _warehouse_facts

    landing = _landing(tmp_path)
    valid_drop(landing, "police")
    shutil.copytree(landing / POLICE, landing / f"{POLICE}_redelivery")
    data = (landing / POLICE / "crimes.csv").read_bytes()
    (landing / POLICE / "crimes.csv").write_bytes(data[: len(data) // 2])
    first = _run(tmp_path, landing)
    assert _outcome(first).status == "rejected" and "checksum mismatch" in _outcome(first).reason
    assert _outcome(first, f"{POLICE}_redelivery").status == "loaded"
    for _ in range(2):
        run = _run(tmp_path, landing)
        outcome = _outcome(run)
        assert outcome.status == "already_loaded", outcome.reason
        assert f"already loaded as {POLICE}_redelivery" in outcome.reason and "Remove this copy" in outcome.reason
        assert _count(run, "select count(*) from ops.rejected_drops where drop_name = ? and not is_changed_copy",
                      POLICE) == 1
        facts = _warehouse_facts(run.warehouse, tmp_path / "no-archive")
        assert [r["drop_name"] for r in facts["rejected_drops_outstanding"]] == []


def test_a_warehouse_from_before_the_changed_copy_column_keeps_what_its_rejections_said(tmp_path):
    """Rejections recorded before ``ops.rejected_drops.is_changed_copy`` said so only in their reason: the column
    is added and filled from it once, so a changed copy rejected then is still checked, not skipped."""
    import duckdb

    from connectors.raw_schema import LOADED_BEFORE, create_raw_schema

    with duckdb.connect(str(tmp_path / "old.duckdb")) as con:
        create_raw_schema(con)
        con.execute("alter table ops.rejected_drops drop column is_changed_copy")
        con.execute("insert into ops.rejected_drops values ('police-met', 'a', 'sha-a', null, ?), "
                    "('police-met', 'b', 'sha-b', null, 'checksum mismatch')", [f"{LOADED_BEFORE} (as x), but"])
        create_raw_schema(con)
        create_raw_schema(con)  # once: a later run changes nothing
        assert con.execute("select drop_name, is_changed_copy from ops.rejected_drops order by 1").fetchall() == [
            ("a", True), ("b", False)]


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_files_changed_under_a_loaded_manifest_reject_the_copy_not_skip_it(tmp_path, change):
    landing = _landing(tmp_path)
    valid_drop(landing, "police")
    first = _run(tmp_path, landing)
    assert _outcome(first).status == "loaded"
    crimes = _count(first, "select count(*) from raw.crimes")
    change(landing)
    changed = f"{POLICE}_redelivery" if change is _truncated_copy else POLICE
    for _ in range(2):  # re-running changes nothing: the same rejection, recorded once
        run = _run(tmp_path, landing)
        outcome = _outcome(run, changed)
        assert outcome.status == "rejected"
        assert f"its manifest.json was loaded before (as {POLICE}), but its files no longer match it" in outcome.reason
        assert "nothing of this copy was loaded" in outcome.reason and "What to do:" in outcome.reason
        assert "new drop with its own manifest.json" in outcome.reason
        assert _outcome(run, GOOD).status == "already_loaded"
        assert _count(run, "select count(*) from raw.crimes") == crimes  # the rows loaded before stay
        assert _count(run, "select count(*) from ops.rejected_drops where drop_name = ? and is_changed_copy",
                      changed) == 1
    assert _count(run, "select count(*) from raw.crimes where crime_ref like '%-added'") == 0


def test_an_unchanged_rerun_and_an_identical_copy_stay_already_loaded(tmp_path):
    landing = _landing(tmp_path)
    valid_drop(landing, "police")
    _run(tmp_path, landing)
    shutil.copytree(landing / POLICE, landing / f"{POLICE}_2")
    run = _run(tmp_path, landing)
    assert {d.drop_name: d.status for d in run.summary.drops} == dict.fromkeys([GOOD, POLICE, f"{POLICE}_2"],
                                                                               "already_loaded")
    assert _count(run, "select count(*) from ops.rejected_drops") == 0


# -- 3. deliveries that are not folders -----------------------------------------------------------------------

def _zip_named_like_a_drop(landing: Path) -> None:
    (landing / "police-met_2026-11-23.zip").write_bytes(b"PK\x03\x04" + SURNAME.encode())


def _file_named_like_a_drop(landing: Path) -> None:
    (landing / "police-met_2026-11-24").write_text(SURNAME)


def _file_named_after_a_person(landing: Path) -> None:
    (landing / f"{NAME_AS_COLUMN}.csv").write_text(SURNAME)


def _dangling_link(landing: Path) -> None:
    (landing / "police-met_2026-11-25").symlink_to(landing / "nowhere")


def _link_loop(landing: Path) -> None:
    (landing / "police-met_2026-11-26").symlink_to(landing / "police-met_2026-11-26")


def _link_out_of_the_landing(landing: Path) -> None:
    """A valid drop elsewhere on the machine (another partnership's, say), linked in: never read."""
    (landing / "police-met_2026-11-27").symlink_to(valid_drop(landing.parent / "elsewhere", "police"))


NOT_FOLDERS = {"zip": _zip_named_like_a_drop, "file": _file_named_like_a_drop, "person's name": _file_named_after_a_person,
               "dangling link": _dangling_link, "link loop": _link_loop, "link out of the landing": _link_out_of_the_landing}


@pytest.mark.parametrize("make", NOT_FOLDERS.values(), ids=NOT_FOLDERS.keys())
def test_an_entry_that_is_not_a_folder_is_counted_never_named(tmp_path, make):
    landing = _landing(tmp_path)
    make(landing)
    (landing / "_notes.txt").write_text("operator's own file: skipped like _ folders")
    (landing / ".DS_Store").write_bytes(b"\x00")
    run = _run(tmp_path, landing)
    assert [d.drop_name for d in run.summary.drops] == [GOOD]
    assert run.summary.warnings == [(
        f"1 item(s) in {landing} are not folders (a file, or a link that leads to no folder or out of the input folder) "
        "and were not read (their names are not shown: they could hold anything). A drop is a folder holding "
        "manifest.json and its CSV files. "
        f"What to do: {UNPACK_ADVICE}."
    )]
    assert "2026-11-2" not in run.operator_text()


def test_every_kind_of_entry_not_read_is_counted_once(tmp_path):
    landing = _landing(tmp_path)
    for make in NOT_FOLDERS.values():
        make(landing)
    valid_drop(landing, "police", name=f"police-met_{SURNAME}")  # misnamed: counted apart
    # a link to a folder inside the landing: read
    (landing / "police-met_2026-11-30").symlink_to(valid_drop(landing / "_incoming", "police"))
    run = _run(tmp_path, landing)
    assert _outcome(run, "police-met_2026-11-30").status == "rejected"  # read: its manifest says another date
    [misnamed, not_folders] = run.summary.warnings
    assert misnamed.startswith("1 folder(s)") and not_folders.startswith(f"{len(NOT_FOLDERS)} item(s)")


# -- 4. table files the manifest does not list ----------------------------------------------------------------

@pytest.mark.parametrize("name, shown", [
    ("orders.csv", "orders.csv"), ("contacts.csv", "contacts.csv"), ("Orders.CSV", None), ("crimes.CSV", None),
    (f"{NAME_AS_COLUMN}.csv", None), ("orders", None), ("orders.csv.gz", None), ("Breaches.txt", None),
])
def test_an_unlisted_table_file_rejects_the_drop_and_a_corrected_drop_loads(tmp_path, name, shown):
    landing = _landing(tmp_path)
    drop = _crimes_drop(landing)
    (drop / name).write_bytes(CsvFile.of("orders", [base_row("orders")]).encode("utf-8"))
    run = _run(tmp_path, landing)
    outcome = _outcome(run)
    assert outcome.status == "rejected"
    assert outcome.reason.startswith("1 table file(s) in the drop folder are not listed in its manifest.json (")
    assert (f"({shown})" if shown else "(1 more whose names are not shown") in outcome.reason
    assert "What to do: ask the sender for a manifest.json listing every file" in outcome.reason
    assert _count(run, "select count(*) from raw.crimes") == 0
    assert _count(run, "select count(*) from ops.rejected_drops where drop_name = ?", POLICE) == 1
    corrected = _crimes_drop(landing, name=f"{POLICE}_2")  # its own manifest, no stray file
    shutil.rmtree(drop)
    again = _run(tmp_path, landing)
    assert _outcome(again, corrected.name).status == "loaded" and _count(again, "select count(*) from raw.crimes") == 1


def test_several_unlisted_files_are_counted_and_only_table_names_shown(tmp_path):
    landing = _landing(tmp_path)
    drop = _crimes_drop(landing)
    for name in ("orders.csv", f"{SURNAME}.csv", "referrals.csv"):
        (drop / name).write_text("x\n")
    outcome = _outcome(_run(tmp_path, landing))
    assert "3 table file(s) in the drop folder are not listed in its manifest.json (orders.csv, referrals.csv, 1 more " \
           "whose names are not shown" in outcome.reason


@pytest.mark.parametrize("extra", ["readme.txt", ".crimes.csv.swp", ".hidden.csv", "notes.pdf", "archive"])
def test_hidden_files_and_non_table_extras_do_not_reject_the_drop(tmp_path, extra):
    landing = _landing(tmp_path)
    drop = _crimes_drop(landing)
    (drop / extra).mkdir() if extra == "archive" else (drop / extra).write_text("not a table")
    assert _outcome(_run(tmp_path, landing)).status == "loaded"


# -- 5. a drop dated in the future ----------------------------------------------------------------------------

def _today() -> datetime:
    return datetime.now(UTC)


@pytest.mark.parametrize("days", [2, 40, 365])
def test_a_future_extract_date_rejects_the_drop_and_moves_nobodys_week(tmp_path, days):
    extract = (_today() + timedelta(days=days)).date().isoformat()
    landing = _landing(tmp_path)
    _crimes_drop(landing, name=f"police-met_{extract}", extract_date=extract)
    run = _run(tmp_path, landing)
    outcome = _outcome(run, f"police-met_{extract}")  # read (not counted as misnamed), then rejected
    assert run.summary.warnings == []
    assert outcome.status == "rejected" and "extract_date is later than tomorrow (UTC)" in outcome.reason
    assert "What to do: ask the sender to correct extract_date (or the sending system's clock)" in outcome.reason
    assert _count(run, "select count(*) from ops.loaded_drops where extract_date > current_date + 1") == 0


def test_an_extract_date_of_tomorrow_is_a_clock_a_day_ahead_and_loads(tmp_path):
    extract = (_today() + timedelta(days=1)).date().isoformat()
    landing = _landing(tmp_path)
    _crimes_drop(landing, name=f"police-met_{extract}", extract_date=extract)
    assert _outcome(_run(tmp_path, landing), f"police-met_{extract}").status == "loaded"


# -- 6. messages that say what is wrong and what to do --------------------------------------------------------

@pytest.mark.parametrize("encoding, bad", [("utf-8", b"\xff"), ("utf-8", b"\xc3("), ("cp1252", b"\x81"), ("cp1252", b"\x9d")])
def test_an_undecodable_byte_says_which_encoding_and_what_to_do(tmp_path, encoding, bad):
    data = CsvFile.of("crimes", [base_row("crimes")]).encode(encoding).replace(SURNAME.encode(), SURNAME.encode() + bad)
    landing = _landing(tmp_path)
    write_raw_drop(landing, POLICE, manifest_for("police", {"crimes.csv": data}, {"crimes.csv": 1}, encoding=encoding),
                   {"crimes.csv": data})
    outcome = _outcome(_run(tmp_path, landing))
    assert outcome.status == "rejected" and f"crimes.csv: cannot be decoded as {encoding} at byte " in outcome.reason
    assert "either the manifest declares the wrong encoding or the file is damaged" in outcome.reason
    assert "What to do:" in outcome.reason and "utf-8-sig" not in outcome.reason


@pytest.mark.parametrize("written", ["utf-16-le", "utf-16-be", "utf-16", "utf-32-le"])
def test_a_file_in_utf16_or_utf32_declared_utf8_is_said_to_be_so(tmp_path, written):
    """Without a byte-order mark, UTF-16 decodes as UTF-8 with a zero byte between characters: the drop was
    rejected for a row count it did not have (outside check, 2026-12-07)."""
    data = CsvFile.of("crimes", [base_row("crimes")]).encode(written)
    landing = _landing(tmp_path)
    write_raw_drop(landing, POLICE, manifest_for("police", {"crimes.csv": data}, {"crimes.csv": 1}), {"crimes.csv": data})
    run = _run(tmp_path, landing)
    outcome = _outcome(run)
    assert outcome.status == "rejected" and "crimes.csv: its header row holds zero bytes" in outcome.reason
    assert "UTF-16 or UTF-32" in outcome.reason and "What to do:" in outcome.reason


def test_a_zero_byte_in_a_data_row_of_a_file_with_carriage_return_line_ends_is_not_taken_for_utf16(tmp_path):
    """Lines ended by carriage returns alone made the whole file its "header row", so a zero byte in a data row
    rejected the drop as UTF-16 (outside check, 2026-12-07); the header is the first line, whatever ends it."""
    hostile = CsvFile.of("crimes", [base_row("crimes"), {**base_row("crimes", "b"), "offence_desc": "a\x00b"}])
    hostile.newline = "\r"
    data = hostile.encode("utf-8")
    landing = _landing(tmp_path)
    write_raw_drop(landing, POLICE, manifest_for("police", {"crimes.csv": data}, {"crimes.csv": 2}), {"crimes.csv": data})
    outcome = _outcome(_run(tmp_path, landing))
    assert outcome.status == "loaded", outcome.reason


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf"], ids=["no bytes", "a byte-order mark alone"])
def test_an_empty_file_rejects_its_drop_where_a_header_alone_loads(tmp_path, content):
    """A file with not even a header row is what a failed export leaves, and its manifest, made from the file,
    agrees with it: it loaded as a week with no rows (outside check, 2026-12-07). A header alone still loads."""
    landing = _landing(tmp_path)
    write_raw_drop(landing, POLICE, manifest_for("police", {"crimes.csv": content}, {"crimes.csv": 0}),
                   {"crimes.csv": content})
    outcome = _outcome(_run(tmp_path, landing))
    assert outcome.status == "rejected" and "crimes.csv: the file is empty (not even a header row)" in outcome.reason
    header_alone = CsvFile.of("crimes", []).encode("utf-8")
    again = _landing(tmp_path / "again")
    write_raw_drop(again, POLICE, manifest_for("police", {"crimes.csv": header_alone}, {"crimes.csv": 0}),
                   {"crimes.csv": header_alone})
    assert _outcome(_run(tmp_path / "again", again)).status == "loaded"


@pytest.fixture()
def no_hang() -> Iterator[None]:
    """Opening a FIFO for reading blocks until someone writes: fail the test instead of hanging."""

    def expire(*_) -> None:
        raise TimeoutError("the ingest blocked: it opened a FIFO")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_listed_file_that_is_not_a_regular_file_is_said_so(tmp_path, kind, no_hang):
    landing = _landing(tmp_path)
    drop = _crimes_drop(landing)
    (drop / "crimes.csv").unlink()
    (drop / "crimes.csv").mkdir() if kind == "folder" else os.mkfifo(drop / "crimes.csv")
    outcome = _outcome(_run(tmp_path, landing))
    assert outcome.status == "rejected" and "crimes.csv: is not a regular file" in outcome.reason
    assert "missing" not in outcome.reason and "What to do:" in outcome.reason


def test_a_missing_listed_file_is_still_said_missing(tmp_path):
    landing = _landing(tmp_path)
    (_crimes_drop(landing) / "crimes.csv").unlink()
    outcome = _outcome(_run(tmp_path, landing))
    assert outcome.status == "rejected" and "crimes.csv: listed in the manifest but missing from the drop" in outcome.reason


def test_reasons_are_stable_so_a_rerun_records_a_rejection_once(tmp_path):
    landing = _landing(tmp_path)
    _edit_manifest(_crimes_drop(landing), lambda m: m["files"][0].update(sha256=hashlib.sha256(b"other").hexdigest()))
    _run(tmp_path, landing)
    run = _run(tmp_path, landing)
    assert _count(run, "select count(*) from ops.rejected_drops where drop_name = ?", POLICE) == 1
    assert AGENCY_SOURCE["police"] == _outcome(run).source_id


def test_a_re_delivery_numbered_past_nine_wins_a_tie_on_its_update_time(tmp_path):
    """Two deliveries of one extract date whose records carry the same ``updated_at``: the later re-delivery's
    version is live. By the drop name as text, ``_10`` sorted before ``_9`` and the correction was lost without a
    word (outside check, 2026-12-07)."""
    from masip.dbt_runner import build_warehouse

    landing = _landing(tmp_path)
    for number, risk in ((9, "HIGH"), (10, "STANDARD")):
        data = {"crimes.csv": CsvFile.of("crimes", [{**base_row("crimes"), "risk_level": risk}]).encode("utf-8")}
        write_raw_drop(landing, f"{POLICE}_{number}", manifest_for("police", data, {"crimes.csv": 1}), data)
    run = _run(tmp_path, landing)
    assert {d.status for d in run.summary.drops} == {"loaded"}
    build_warehouse(run.warehouse, select="stg_police__crimes")
    with duckdb.connect(str(run.warehouse), read_only=True) as con:
        live = con.execute("select risk_level, drop_name from staging.stg_police__crimes").fetchall()
    assert live == [("STANDARD", f"{POLICE}_10")]


@pytest.mark.parametrize("change", ["moved away", "rewritten"])
def test_a_drop_changed_after_it_was_read_is_rejected_alone_and_its_copy_never_made(tmp_path, monkeypatch, change):
    """The landing copy is made from the files read again; a drop moved away in between stopped every later drop
    with a wrong message, and one rewritten was archived with bytes that were never loaded (outside check,
    2026-12-07). A hook after verification stands in for the sender's sync, which does this at any moment."""
    import connectors.ingest as ingest_module

    landing = _landing(tmp_path)
    _crimes_drop(landing)
    verified = ingest_module.verified_texts

    def then_changed(manifest, failures):
        texts = verified(manifest, failures)
        if manifest.drop_name == POLICE:
            if change == "moved away":
                shutil.move(str(manifest.drop_dir), str(tmp_path / "elsewhere"))
            else:
                with (manifest.drop_dir / "crimes.csv").open("ab") as handle:
                    handle.write(b"X,Y\n")
        return texts

    monkeypatch.setattr(ingest_module, "verified_texts", then_changed)
    run = _run(tmp_path, landing)
    outcome = _outcome(run)
    assert outcome.status == "rejected" and "was moved away or changed while this run read it" in outcome.reason
    assert "What to do:" in outcome.reason
    copies = [path.name for path in (tmp_path / "warehouse" / "landing_archive").glob("*")]
    assert not any(name.startswith(POLICE) for name in copies) and len(copies) == 1  # the good drop's only


def test_a_drop_moved_away_before_it_was_read_is_said_to_be_so(tmp_path, monkeypatch):
    """It was rejected as having no manifest.json (outside check, 2026-12-07); the others load."""
    import connectors.ingest as ingest_module

    landing = _landing(tmp_path)
    _crimes_drop(landing)
    read_manifest = ingest_module.read_manifest

    def moved_first(drop_dir, salt):
        if drop_dir.name == POLICE:
            shutil.move(str(drop_dir), str(tmp_path / "elsewhere"))
        return read_manifest(drop_dir, salt)

    monkeypatch.setattr(ingest_module, "read_manifest", moved_first)
    outcome = _outcome(_run(tmp_path, landing))
    assert outcome.status == "rejected" and "its folder was moved away or deleted before this run read it" in outcome.reason
