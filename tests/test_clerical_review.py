"""Clerical review (issue 14, items 4 and 5) on the real pipeline: queue, export/import, constraints, explain.

One synthetic partnership (60 dyads) is built once. Reviewers' decisions
(one "same person" joining two persons, one "not the same person" splitting
a person) are imported through the CLI and applied by the next run; they
then survive a key rotation, which rebuilds the vault and the warehouse
under a new key, retraining the model, and relinks the current warehouse
with ``--full-refresh`` to compare (this module also holds the end-to-end
rotation test: identical linkage, old key retired).
"""

from __future__ import annotations

import csv
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from connectors.ingest import default_archive_dir, ingest_drops
from connectors.vault import KeyVersionMismatch, Vault
from masip.cli import main
from masip.linkage.cluster import METHODS, Attributes, cluster
from masip.linkage.review import review_id_for
from masip.linkage.review_store import ROLE_COLUMNS, load_decisions, member_key
from masip.pipeline import run_pipeline
from masip.rotation import rotate_key
from masip.synth import generate_partnership
from pseudonymisation.keys import Keyring
from pseudonymisation.landing import LandingArchive
from tests.leakcheck import (
    collect_encodings,
    collect_identifiers,
    leaks_in_text,
    scan_files,
    scan_warehouse,
)

OLD = Keyring(b"clerical-review-test-secret-0123456789abcdef")
NEW = Keyring(b"clerical-review-test-secret-fedcba9876543210")
KEYS = ("source_id", "source_table", "record_ref", "role")
XREF = (
    "select source_id, source_table, record_ref, role, person_id, link_method, match_probability "
    "from marts.person_xref order by all"
)
HEADER = ["review_id", *ROLE_COLUMNS, "decision", "reviewer", "decided_at", "reason"]


@dataclass
class Built:
    drops: Path
    warehouse: Path
    vault: Vault
    out: Path


def _xref(warehouse: Path) -> dict[tuple, tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(f"select {', '.join(KEYS)}, person_id, link_method from marts.person_xref").fetchall()
    return {row[:4]: row[4:] for row in rows}


def _decision_row(a: tuple, b: tuple, decision: str) -> dict[str, str]:
    row = {f"{c}_a": v for c, v in zip(KEYS, a)} | {f"{c}_b": v for c, v in zip(KEYS, b)}
    return {"review_id": review_id_for(member_key(*a), member_key(*b)), **row, "decision": decision,
            "reviewer": "reviewer 7", "decided_at": "2026-11-30T14:05:00", "reason": "checked both systems"}


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _invoke(*args: str) -> object:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, trained_from_600_records: None) -> Built:
    work = tmp_path_factory.mktemp("clerical")
    drops = work / "drops"
    generate_partnership(drops, dyads=60)
    warehouse = work / "w" / "masip.duckdb"
    run_pipeline(drops, warehouse, OLD, work / "out", show_progress=False)
    return Built(drops, warehouse, Vault.for_warehouse(warehouse), work / "out")


@pytest.fixture(scope="module")
def decided(built: Built) -> dict[str, tuple]:
    """Pick a merge (a singleton role and another person's role) and an unmerge (two roles of one person)."""
    xref = _xref(built.warehouse)
    singles = sorted(k for k, (_, method) in xref.items() if method == "SINGLETON" and k[1] == "cases")
    singles = singles or sorted(k for k, (_, method) in xref.items() if method == "SINGLETON")
    merge_a = singles[0]
    merge_b = min(k for k, (person, _) in xref.items() if person != xref[merge_a][0] and k[3] == merge_a[3])
    by_person: dict[str, list[tuple]] = {}
    for key, (person, _) in xref.items():
        by_person.setdefault(person, []).append(key)
    group = min(roles for roles in by_person.values() if len(roles) >= 2 and merge_b not in roles)
    split_a, split_b = sorted(group)[:2]
    return {"merge": (merge_a, merge_b), "split": (split_a, split_b)}


def test_queue_is_built_documented_and_exported_without_plain_values(built: Built, tmp_path: Path):
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        queue = con.execute("select count(*), count(distinct review_id) from ops.review_queue").fetchone()
        fields = con.execute("select count(distinct field) from ops.review_queue_fields").fetchone()[0]
        bands = con.execute("select min(match_probability), max(match_probability) from ops.review_queue").fetchone()
    assert queue[0] == queue[1] > 0 and fields >= 5
    assert 0.2 <= bands[0] and bands[1] < 0.98
    report = (built.out / "run_report.md").read_text(encoding="utf-8")
    assert f"Clerical review: {queue[0]} pairs" in report

    result = _invoke("review", "export", "--warehouse", str(built.warehouse), "--out", str(tmp_path))
    assert f"{queue[0]} pairs await review" in result.output
    with (tmp_path / "review_queue.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == queue[0] and {"forename_level", "dob_weight", "decision", "record_ref_b"} <= set(rows[0])
    html = (tmp_path / "review_queue.html").read_text(encoding="utf-8")
    assert html.count('class="item"') == queue[0] and rows[0]["record_ref_a"] in html
    plain = collect_identifiers(built.drops)
    encodings = collect_encodings(built.vault.records_path)
    assert scan_files(tmp_path, plain) == {}
    assert encodings.in_text(html) == [] and encodings.in_text((tmp_path / "review_queue.csv").read_text()) == []
    leaks = scan_warehouse(built.warehouse, plain)
    assert {k: v for k, v in leaks.items() if "review" in k} == {}


def test_the_case_pack_says_which_cases_await_clerical_review(built: Built, tmp_path: Path):
    from masip.casepack import build_casepack

    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        pending = con.execute(
            "select count(*) from marts.case_pack where victim_id in (select person_id_a from ops.review_queue "
            "union select person_id_b from ops.review_queue) or perpetrator_id in (select person_id_a from "
            "ops.review_queue union select person_id_b from ops.review_queue)"
        ).fetchone()[0]
    html = build_casepack(built.warehouse, tmp_path, pdf=False).html_path.read_text(encoding="utf-8")
    assert pending > 0
    assert html.count("awaits clerical review") == pending


def test_bad_import_file_is_refused_whole_and_quotes_no_raw_value(built: Built, decided, tmp_path: Path):
    merge_a, merge_b = decided["merge"]
    good = _decision_row(merge_a, merge_b, "SAME")
    unknown = _decision_row(merge_a, (merge_b[0], merge_b[1], "Smith 1980-01-01", merge_b[3]), "NOT_SAME")
    bad_decision = _decision_row(*decided["split"], "MAYBE SMITH")
    bad_time = {**_decision_row(*decided["split"], "NOT_SAME"), "decided_at": "yesterday"}
    identified = {**_decision_row(*decided["split"], "NOT_SAME"), "reason": "same NHS no 943 476 5919, DOB 21/10/1979"}
    path = _write(tmp_path / "bad.csv", [good, unknown, bad_decision, bad_time, identified])
    recorded = len(load_decisions(built.vault))
    result = CliRunner().invoke(main, ["review", "import", str(path), "--warehouse", str(built.warehouse),
                                       "--allow-unqueued"])
    assert result.exit_code != 0
    assert "4 problem(s); nothing was imported" in result.output
    assert "row 3: role b" in result.output and "row 4: decision must be SAME or NOT_SAME" in result.output
    assert "row 5: decided_at" in result.output and "row 6: reason has the shape of an identifier" in result.output
    assert "Smith" not in result.output and "1980" not in result.output and "yesterday" not in result.output
    assert "5919" not in result.output and "1979" not in result.output
    assert len(load_decisions(built.vault)) == recorded
    missing = tmp_path / "missing_columns.csv"
    missing.write_text("review_id,decision\nR1,SAME\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["review", "import", str(missing), "--warehouse", str(built.warehouse)])
    assert result.exit_code != 0 and "lacks the column(s)" in result.output


def test_escapes_one_records_two_roles_and_oversize_files_are_refused(built: Built, decided, tmp_path: Path,
                                                                        monkeypatch):
    """A reviewer field holding a terminal escape was stored as typed; SAME between a record's victim and its
    perpetrator was recorded, then ignored by every run without a word; a 100 MB file took 1.2 GB to read, and
    a 200,000-character cell was "not a readable CSV file (Error)" (outside check, 2026-12-07)."""
    from masip import clerical

    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        record = con.execute(
            "select source_id, source_table, record_ref from marts.person_xref group by all "
            "having count(distinct role) = 2 order by all limit 1"
        ).fetchone()
    victim, perpetrator = (*record, "VICTIM"), (*record, "PERPETRATOR")
    escaped = {**_decision_row(*decided["split"], "NOT_SAME"), "reviewer": "\x1b[2Jreviewer \x1b]8;;http://x\x07"}
    one_record = _decision_row(victim, perpetrator, "SAME")
    path = _write(tmp_path / "decisions.csv", [escaped, one_record])
    recorded = len(load_decisions(built.vault))
    result = CliRunner().invoke(main, ["review", "import", str(path), "--warehouse", str(built.warehouse),
                                       "--allow-unqueued"])
    assert result.exit_code != 0 and "2 problem(s); nothing was imported" in result.output
    assert "row 2: reviewer holds control characters" in result.output and "\x1b" not in result.output
    assert "row 3: roles a and b are the victim and the perpetrator of one record" in result.output
    long_cell = _write(tmp_path / "long.csv", [{**escaped, "reason": "x" * 200_000}])
    limit = csv.field_size_limit(131_072)  # the csv module's own limit, which a fresh `masip review import` has
    try:
        result = CliRunner().invoke(main, ["review", "import", str(long_cell), "--warehouse", str(built.warehouse)])
    finally:
        csv.field_size_limit(limit)
    assert result.exit_code != 0 and "is not a readable CSV file (a field too long)" in result.output
    monkeypatch.setattr(clerical, "MAX_DECISIONS_BYTES", path.stat().st_size - 1)
    result = CliRunner().invoke(main, ["review", "import", str(path), "--warehouse", str(built.warehouse)])
    assert result.exit_code != 0 and "MB a decisions file may have" in result.output
    assert len(load_decisions(built.vault)) == recorded


def test_a_row_added_by_hand_needs_allow_unqueued_and_a_file_imported_twice_is_recorded_once(
    built: Built, decided, tmp_path: Path,
):
    """A decision on a pair that is not in the queue is as strong as any (SAME passes the guards): a row slipped into
    the file with no review_id was recorded unnoticed (outside check, 2026-12-06). And a file imported again
    recorded every decision again."""
    shutil.copytree(built.warehouse.parent, tmp_path / "w", ignore=shutil.ignore_patterns("*.lock", ".dbt"))
    warehouse = tmp_path / "w" / built.warehouse.name
    with duckdb.connect(str(warehouse), read_only=True) as con:
        item = con.execute(f"select {', '.join(ROLE_COLUMNS)} from ops.review_queue order by review_id limit 1").fetchone()
    queued = _decision_row(item[:4], item[4:], "NOT_SAME")
    added = {**_decision_row(*decided["merge"], "SAME"), "review_id": ""}
    path = _write(tmp_path / "decisions.csv", [queued, added])
    vault = Vault.for_warehouse(warehouse)
    refused = CliRunner().invoke(main, ["review", "import", str(path), "--warehouse", str(warehouse)])
    assert refused.exit_code != 0 and "1 problem(s); nothing was imported" in refused.output
    assert "row 3: decides a pair that is not in the review queue" in refused.output and "--allow-unqueued" in refused.output
    assert not vault.decisions_path.exists() or len(load_decisions(vault)) == len(load_decisions(built.vault))

    first = _invoke("review", "import", str(path), "--warehouse", str(warehouse), "--allow-unqueued")
    assert "Recorded 2 decisions (1 same person, 1 not the same, 1 on pairs not in the review queue)" in first.output
    again = _invoke("review", "import", str(path), "--warehouse", str(warehouse), "--allow-unqueued")
    assert "Recorded 0 decisions (0 same person, 0 not the same, 2 recorded before (not again)" in again.output
    with duckdb.connect(str(vault.decisions_path), read_only=True) as con:
        assert con.execute("select count(*) from review_decisions").fetchone()[0] == 2 + _stored(built.vault)


def _stored(vault: Vault) -> int:
    """Decision rows stored in ``vault`` (history included)."""
    if not vault.decisions_path.exists():
        return 0
    with duckdb.connect(str(vault.decisions_path), read_only=True) as con:
        return con.execute("select count(*) from review_decisions").fetchone()[0]


@dataclass
class Applied:
    """What importing the decisions and re-running did: person_xref before the import and right after it
    (the import alone changes nothing), and the import's output."""

    before: dict[tuple, tuple]
    after_import: dict[tuple, tuple]
    output: str


@pytest.fixture(scope="module")
def applied(built: Built, decided, tmp_path_factory: pytest.TempPathFactory) -> Applied:
    """The decisions imported through the CLI and applied by a re-run (frozen model), once per module: every
    test that needs them asks for this fixture, so each also passes on its own."""
    (merge_a, merge_b), (split_a, split_b) = decided["merge"], decided["split"]
    before = _xref(built.warehouse)
    path = _write(tmp_path_factory.mktemp("decisions") / "decisions.csv", [
        _decision_row(merge_a, merge_b, "SAME"), _decision_row(split_b, split_a, "NOT_SAME"),
        {**_decision_row(merge_a, split_a, ""), "reviewer": "", "reason": ""},  # undecided: left for later
    ])
    result = _invoke("review", "import", str(path), "--warehouse", str(built.warehouse), "--allow-unqueued")
    after_import = _xref(built.warehouse)
    run_pipeline(built.drops, built.warehouse, OLD, built.out, show_progress=False)
    return Applied(before, after_import, result.output)


def test_decisions_apply_on_the_next_run_merge_and_unmerge(built: Built, decided, applied: Applied):
    (merge_a, merge_b), (split_a, split_b) = decided["merge"], decided["split"]
    before = applied.before
    assert before[merge_a][0] != before[merge_b][0] and before[split_a][0] == before[split_b][0]
    assert ("Recorded 2 decisions (1 same person, 1 not the same, 2 on pairs not in the review queue); 1 rows left "
            "undecided") in applied.output
    assert applied.after_import == before  # applied by the next run, not by the import
    assert stat.S_IMODE(built.vault.decisions_path.stat().st_mode) == 0o600  # in the vault, owner-only

    after = _xref(built.warehouse)
    assert after[merge_a][0] == after[merge_b][0]
    assert after[split_a][0] != after[split_b][0]
    assert after[merge_a][1] == "CLERICAL"  # a singleton joined by the reviewer alone
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        queued = {r for (r,) in con.execute("select review_id from ops.review_queue").fetchall()}
        victims = {v for (v,) in con.execute("select victim_id from marts.victim_journey").fetchall()}
    assert review_id_for(member_key(*merge_a), member_key(*merge_b)) not in queued
    assert review_id_for(member_key(*split_a), member_key(*split_b)) not in queued
    if merge_a[3] == "VICTIM":  # the marts follow: the journey names the merged person
        assert after[merge_b][0] in victims


def test_explain_person_lists_roles_and_evidence_without_plain_values(built: Built, decided, applied: Applied):
    split_a, _ = decided["split"]
    xref = _xref(built.warehouse)
    people = sorted({p for p, m in xref.values() if m in ("PROBABILISTIC", "NAME_DOB")})
    person = xref[split_a][0] if sum(1 for p, _ in xref.values() if p == xref[split_a][0]) > 1 else people[0]
    result = _invoke("explain-person", person, "--warehouse", str(built.warehouse))
    roles = [k for k, (p, _) in xref.items() if p == person]
    assert f"Person {person}: {len(roles)} record role(s)" in result.output
    assert all("/".join(role) in result.output for role in roles)
    if len(roles) > 1:
        assert "Evidence between the roles" in result.output and "forename:" in result.output
    assert leaks_in_text(result.output, collect_identifiers(built.drops)) == []
    assert collect_encodings(built.vault.records_path).in_text(result.output) == []
    unknown = CliRunner().invoke(main, ["explain-person", "Pffffffffffffffff", "--warehouse", str(built.warehouse)])
    assert unknown.exit_code != 0 and "no person Pffffffffffffffff" in unknown.output


def test_explain_person_refuses_a_vault_the_warehouse_was_not_built_with(built: Built, tmp_path: Path):
    """Pointed at another vault, it printed "shared identifiers none" for roles that share an NHS number
    (outside check, 2026-12-06): evidence that was not there to read, shown as evidence against."""
    person = next(iter(_xref(built.warehouse).values()))[0]
    other = Vault(tmp_path / "other-vault")
    other.open_records().close()  # a vault, but not this warehouse's: none of its roles is in it
    result = CliRunner().invoke(main, ["explain-person", person, "--warehouse", str(built.warehouse),
                                       "--vault", str(other.directory)])
    assert result.exit_code != 0 and "have no encodings in the vault" in result.output
    assert "--vault" in result.output and "shared identifiers" not in result.output


def test_rotation_keeps_the_decisions_links_identically_and_retires_the_old_key(
    built: Built, decided, applied: Applied, tmp_path: Path
):
    """Rotation relinks the current warehouse with --full-refresh (a retrained model) and rebuilds warehouse
    and vault under the new key from the landing copies (trained again): both apply the decisions alike."""
    (merge_a, merge_b), (split_a, split_b) = decided["merge"], decided["split"]
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        before = con.execute(XREF).fetchall()
        journey_before = con.execute("select * from marts.victim_journey order by all").fetchall()
    with duckdb.connect(str(built.vault.records_path), read_only=True) as con:
        old_tokens = con.execute("select pnc_token from person_encodings where pnc_token is not null limit 1").fetchone()
    shutil.rmtree(built.drops)  # the agencies' drops are gone: only the encrypted landing copies remain

    result = rotate_key(built.warehouse, OLD, NEW, tmp_path / "out-rotated")

    assert (result.old_key_version, result.new_key_version) == (OLD.key_version, NEW.key_version)
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        after = con.execute(XREF).fetchall()
        journey_after = con.execute("select * from marts.victim_journey order by all").fetchall()
    with duckdb.connect(str(built.vault.records_path), read_only=True) as con:  # the vault was rebuilt under the new key
        versions = con.execute("select distinct key_version from person_encodings").fetchall()
        still_there = con.execute("select count(*) from person_encodings where pnc_token = ?", old_tokens).fetchone()[0]
    # the same people, linked the same way; scores may move in the third decimal because keyed
    # Bloom filters collide differently under a new key
    assert [row[:-1] for row in after] == [row[:-1] for row in before]
    assert all(abs((a[-1] or 0) - (b[-1] or 0)) <= 0.05 for a, b in zip(after, before))
    assert journey_after == journey_before
    assert versions == [(NEW.key_version,)] and still_there == 0
    left = [*built.warehouse.parent.iterdir(), *(built.warehouse.parent / ".dbt").iterdir()]
    assert [p.name for p in left if "rotating" in p.name or p.name.endswith(".retired")] == []
    archive = LandingArchive(default_archive_dir(built.warehouse), NEW)
    assert archive.archives() and {archive.read_header(p).key_version for p in archive.archives()} == {NEW.key_version}
    with pytest.raises(KeyVersionMismatch):
        ingest_drops(tmp_path / "out-rotated", built.warehouse, OLD, show_progress=False)
    # the decisions are still in the (rebuilt) vault and still applied
    xref = _xref(built.warehouse)
    assert xref[merge_a][0] == xref[merge_b][0] and xref[split_a][0] != xref[split_b][0]
    assert len(load_decisions(built.vault)) == 2


def test_cannot_link_beats_an_identifier_edge_and_must_link_passes_the_sex_guard():
    """The clustering rules of a decision, on four records: 0-1 share a PNC, 2 is F and 3 is M."""
    records = pd.DataFrame({"pnc_token": ["p1", "p1", None, None], "sex": ["F", "F", "F", "M"]})
    edges = pd.DataFrame({"i": [0, 2], "j": [1, 3], "rank": [METHODS.index("PNC"), METHODS.index("PROBABILISTIC")],
                          "probability": [1.0, 0.99]})
    attrs = Attributes.from_records(records)
    labels, effective = cluster(4, edges, attrs)
    assert labels.tolist() == [0, 0, 2, 3] and effective.tolist() == [True, False]  # the sex guard refuses 2-3
    labels, effective = cluster(4, edges, attrs, must_link=np.array([[2, 3]]), cannot_link=np.array([[0, 1]]))
    assert labels.tolist() == [0, 1, 2, 2] and effective.tolist() == [False, True]
