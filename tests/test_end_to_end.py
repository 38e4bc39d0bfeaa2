"""From generated drops to published marts, through the same code the CLI and DAGs use."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import duckdb
import pytest

from connectors.ingest import ingest_drops
from connectors.vault import Vault
from masip.linkage import person_id_for
from masip.pipeline import build_stage, publish_stage, run_pipeline
from masip.quality import DataQualityError, validate_warehouse
from masip.synth import DEFAULT_FAULTS, generate_partnership
from pseudonymisation.keys import Keyring
from tests.leakcheck import collect_identifiers, scan_files, scan_warehouse

SECRET = "e2e-test-partnership-secret-0123456789abcdef"
REPO = Path(__file__).resolve().parents[1]


def _schema_fingerprint(warehouse: Path, schema: str = "marts") -> dict[str, str]:
    """A content hash per table of ``schema``, independent of physical row order."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = [t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = ? order by 1", [schema]).fetchall()]
        return {
            t: hashlib.sha256(repr(con.execute(f"select * from {schema}.{t} order by all").fetchall()).encode()).hexdigest()
            for t in tables
        }


def _marts_fingerprint(warehouse: Path) -> dict[str, str]:
    return _schema_fingerprint(warehouse, "marts")


def _staging_fingerprint(warehouse: Path) -> dict[str, str]:
    return _schema_fingerprint(warehouse, "staging")


def _landing(folder: Path, drops: list[Path]) -> Path:
    """A landing folder holding just ``drops`` (their files hard-linked: a link to a folder out of the landing is not
    read), as one delivery."""
    folder.mkdir()
    for drop in drops:
        shutil.copytree(drop, folder / drop.name, copy_function=os.link)
    return folder


def _person_ids(warehouse: Path) -> dict[str, str]:
    """Each record role's person_id in the published marts, by member key."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("select source_id, source_table, record_ref, role, person_id from marts.person_xref").fetchall()
    return {"|".join(row[:4]): row[4] for row in rows}


def _kept_ids(before: dict[str, str], after: dict[str, str]) -> tuple[bool, int]:
    """Whether every person of ``before`` that ``after`` holds whole, merged with no other person of ``before``
    and with the record it was named after, kept its id; and how many of them a later record with a smaller
    member key joined (the old rule, the smallest key names the person, renamed those)."""
    members: dict[str, set[str]] = {}
    for key, person in before.items():
        members.setdefault(person, set()).add(key)
    earlier_persons: dict[str, set[str]] = {}
    for key, person in after.items():
        if key in before:
            earlier_persons.setdefault(person, set()).add(before[key])
    kept, joined_by_earlier_key = True, 0
    for person, keys in members.items():
        live = {key for key in keys if key in after}
        named_by = [key for key in live if person_id_for(key) == person]
        now = {after[key] for key in live}
        if not named_by or len(now) != 1 or earlier_persons[next(iter(now))] != {person}:
            continue  # its record gone, split, or merged with another earlier person
        kept &= now == {person}
        new_keys = {key for key, p in after.items() if p in now and key not in before}
        joined_by_earlier_key += any(key < min(live) for key in new_keys)
    return kept, joined_by_earlier_key


@pytest.fixture(scope="module")
def partnership(tmp_path_factory, trained_from_600_records) -> Path:
    drops = tmp_path_factory.mktemp("partnership") / "drops"
    generate_partnership(drops, dyads=60, faults=DEFAULT_FAULTS)
    return drops


@pytest.fixture(scope="module")
def first_run(partnership, tmp_path_factory):
    work = tmp_path_factory.mktemp("run")
    warehouse, out = work / "warehouse" / "masip.duckdb", work / "out"
    result = run_pipeline(partnership, warehouse, Keyring(SECRET.encode()), out, show_progress=False)
    return warehouse, out, result


def test_marts_are_built_and_non_empty(first_run):
    warehouse, _, result = first_run
    with duckdb.connect(str(warehouse), read_only=True) as con:
        xref = con.execute("select count(*), count(distinct person_id) from marts.person_xref").fetchone()
        journey = con.execute("select count(*), count(distinct dyad_id) from marts.victim_journey").fetchone()
        roles = con.execute("select count(*) from raw.person_roles").fetchone()[0]
    assert xref[0] > 100 and 0 < xref[1] < xref[0]  # people were linked across records
    assert journey[0] > 100 and journey[1] > 10
    assert result.quality.success and result.build.success
    assert roles >= xref[0]  # older versions and deleted records stay out of the marts


def test_run_report_reconciles_and_lists_faults(first_run):
    _, out, result = first_run
    data = result.report.data
    rec = data["reconciliation"]
    assert rec["all_files_reconcile"]
    assert rec["rows_read"] == rec["rows_loaded"] + rec["rows_quarantined"] + rec["rows_duplicate"]
    assert rec["drops_rejected"] >= 1 and rec["rows_quarantined"] >= 1 and rec["rows_duplicate"] >= 1
    assert (out / "run_report.md").read_text().count("Reconciliation") == 1


def test_no_plain_identifier_in_warehouse_or_outputs(partnership, first_run):
    warehouse, out, _ = first_run
    plain = collect_identifiers(partnership)
    assert len(plain.name_words) > 50
    assert scan_warehouse(warehouse, plain) == {}
    assert scan_files(out, plain) == {}


def test_no_secret_in_warehouse_or_outputs(first_run):
    warehouse, out, _ = first_run
    keyring = Keyring(SECRET.encode())
    needles = [SECRET, keyring.purpose_key("token/pnc").hex()]
    vault = Vault.for_warehouse(warehouse).directory  # it holds tokens, never the key they were made with
    blob = b"".join(p.read_bytes() for p in [warehouse, *out.rglob("*"), *vault.rglob("*")] if p.is_file())
    assert not any(n.encode() in blob for n in needles)


def test_rerun_and_reordered_delivery_give_identical_marts(partnership, first_run, tmp_path):
    warehouse, out, _ = first_run
    before = _marts_fingerprint(warehouse)
    run_pipeline(partnership, warehouse, Keyring(SECRET.encode()), out, show_progress=False)
    assert _marts_fingerprint(warehouse) == before
    # a fresh warehouse fed the drops newest-first, one delivery at a time, ends the same
    keyring = Keyring(SECRET.encode())
    fresh = tmp_path / "fresh.duckdb"
    drops = sorted((p for p in partnership.iterdir() if p.is_dir() and not p.name.startswith("_")), reverse=True)
    for index, drop in enumerate(drops):
        ingest_drops(_landing(tmp_path / f"landing-{index}", [drop]), fresh, keyring, show_progress=False)
    build_stage(fresh)
    publish_stage(fresh, tmp_path / "out-reordered")
    assert _marts_fingerprint(fresh) == before


def test_cli_refuses_to_run_without_a_key(partnership, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASIP_SECRET")}
    completed = subprocess.run(
        [sys.executable, "-m", "masip.cli", "run", "--input", str(partnership), "--warehouse", str(tmp_path / "w.duckdb")],
        capture_output=True, text=True, env=env, cwd=REPO, check=False,
    )
    assert completed.returncode == 2
    assert "No partnership secret, so refusing to start" in completed.stderr
    assert not (tmp_path / "w.duckdb").exists()


def test_quality_gate_catches_a_disclosive_count_and_an_unknown_flag(first_run, tmp_path):
    warehouse, _, result = first_run
    assert {s.suite for s in result.quality.suites} >= {"marts.dyad_flags", "marts.attrition_funnel_published"}
    broken = tmp_path / "broken.duckdb"
    shutil.copyfile(warehouse, broken)
    with duckdb.connect(str(broken)) as con:
        con.execute("update marts.attrition_funnel_published set crimes = 3 where stage = 'RECORDED'")
        con.execute("update marts.dyad_flags set flag_code = 'MADE_UP' where flag_code = (select min(flag_code) from marts.dyad_flags)")
        # a timestamp the gate compares in one step (as nanoseconds), and one past that range: both judged
        con.execute("update marts.victim_journey set event_at = timestamp '1800-01-01' "
                    "where event_id = (select min(event_id) from marts.victim_journey)")
        con.execute("update staging.stg_police__crimes set reported_at = timestamp '2500-01-01' "
                    "where crime_ref = (select min(crime_ref) from staging.stg_police__crimes)")
    report = validate_warehouse(broken, tmp_path / "dq")
    failed = {(f["suite"], f["column"]) for f in report.summary()["failed"]}
    assert ("marts.attrition_funnel_published", "is_disclosable") in failed
    assert ("marts.dyad_flags", "flag_code") in failed
    assert ("staging.stg_police__crimes", "reported_at") in failed
    assert ("marts.victim_journey", "event_at") in failed
    assert len(failed) == 4
    # a failing suite is validated again for its counts (the first pass is pass/fail only)
    unknown_flags = next(f for f in report.summary()["failed"] if (f["suite"], f["column"]) == ("marts.dyad_flags", "flag_code"))
    assert unknown_flags["unexpected_count"] >= 1


def _the_weekly_gate_validates_the_week_and_blocks_its_bad_rows(published: Path, work: Path) -> None:
    """On copies of a weekly build's published warehouse and candidate: a bad row in the new week's staging
    rows, or any altered mart row, blocks the publication; a bad row that is the same in the published
    build (validated when it was published) is out of the week's scope, and a full validation (as after
    a --full-refresh, or under rules other than the published build's) still finds it."""
    candidate = published.with_name(f"{published.stem}.candidate{published.suffix}")

    def copies(name: str, *tamper: str, in_published_too: bool = False) -> tuple[Path, Path]:
        folder = work / name
        folder.mkdir(parents=True)
        shutil.copyfile(published, folder / published.name)
        shutil.copyfile(candidate, folder / candidate.name)
        for copy in (folder / candidate.name, folder / published.name)[:2 if in_published_too else 1]:
            with duckdb.connect(str(copy)) as con:
                con.execute(f"attach '{published}' as published (read_only)")
                for sql in tamper:
                    assert con.execute(sql).fetchone()[0] >= 1, sql
        return folder / published.name, folder / candidate.name

    def crime_in(drops: str) -> str:  # one live crime whose version came from the new (or old) drops
        return (
            "update staging.stg_police__crimes set risk_level = 'NOT_A_LEVEL' where version_id = ("
            "select min(crimes.version_id) from staging.stg_police__crimes as crimes inner join ops.loaded_drops "
            "using (drop_name, drop_sha256) where coalesce(load_seq, 0) "
            f"{drops} (select max(through_load_seq) from published.ops.published_builds))"
        )

    new_week_bad, new_candidate = copies("new-week-bad", crime_in(">"))
    before = _marts_fingerprint(new_week_bad)
    with pytest.raises(DataQualityError, match="stg_police__crimes: expect_column_values_to_be_in_set on risk_level"):
        publish_stage(new_week_bad, work / "out-new")
    assert _marts_fingerprint(new_week_bad) == before and new_candidate.exists()  # not published

    # an unchanged dyad's journey row altered: it is a changed dyad now, so it is validated and fails
    old_dyad_bad, _ = copies("old-dyad-bad", "update marts.victim_journey set event_type = 'MADE_UP' where event_id = ("
                             "select min(event_id) from marts.victim_journey where dyad_id not in (select dyad_id from ("
                             "select * from marts.victim_journey except all select * from published.marts.victim_journey"
                             ")))")
    with pytest.raises(DataQualityError, match="marts.victim_journey: expect_column_values_to_be_in_set on event_type"):
        publish_stage(old_dyad_bad, work / "out-dyad")

    # a model change that alters an old record: a changed staging row, so validated
    model_bug, _ = copies("model-bug", crime_in("<="))
    with pytest.raises(DataQualityError, match="stg_police__crimes: expect_column_values_to_be_in_set on risk_level"):
        publish_stage(model_bug, work / "out-model")

    old_week_bad, old_candidate = copies("old-week-bad", crime_in("<="), in_published_too=True)
    scoped = validate_warehouse(old_candidate, work / "dq-scoped", published=old_week_bad)
    assert scoped.scope == "changed" and scoped.success  # that record is not this week's
    staged = {s.suite: s.rows for s in scoped.suites}
    with duckdb.connect(str(old_candidate), read_only=True) as con:
        all_crimes = con.execute("select count(*) from staging.stg_police__crimes").fetchone()[0]
    assert 0 < staged["staging.stg_police__crimes"] < all_crimes
    # the run's reference date moved a week on every flag row, yet only the flags of the dyads the week changed
    # are validated (with the date compared, every flagged dyad counted as changed)
    with duckdb.connect(str(old_candidate), read_only=True) as con:
        con.execute(f"attach '{old_week_bad}' as published (read_only)")
        moved, flags = con.execute(
            "select (select min(as_of_date) from marts.dyad_flags) > (select max(as_of_date) from published.marts.dyad_flags), "
            "(select count(*) from marts.dyad_flags)"
        ).fetchone()
    assert moved and staged["marts.dyad_flags"] < flags
    # the same build, published under other rules (a release that changed an expectation, a contract or a code
    # list): the rows the old rules passed were never checked against these, so every row is validated
    with duckdb.connect(str(old_candidate)) as con:
        con.execute("update ops.published_builds set quality_rules = 'an earlier release'")
    ruled = validate_warehouse(old_candidate, work / "dq-rules", published=old_week_bad)
    assert ruled.scope == "full" and not ruled.success
    whole = validate_warehouse(old_candidate, work / "dq-full")
    assert whole.scope == "full" and not whole.success


def _the_vault_holds_the_live_versions_only(warehouse: Path) -> None:
    """Publication pruned the encodings of superseded and deleted versions (data minimisation), and no more."""
    key = "source_table, version_id, role"
    with duckdb.connect(str(Vault.for_warehouse(warehouse).records_path), read_only=True) as con:
        con.execute(f"attach '{warehouse}' as warehouse (read_only)")
        kept = set(con.execute(f"select {key} from person_encodings").fetchall())
        live = set(con.execute(f"select {key} from warehouse.intermediate.int_person_records").fetchall())
        versions = con.execute("select count(*) from warehouse.raw.person_roles").fetchone()[0]
    assert kept == live
    assert versions > len(live)  # there were superseded or deleted versions to prune


def test_weekly_incremental_builds_end_as_a_full_build(partnership, first_run, tmp_path):
    """One build per weekly delivery: incremental staging and linkage, checked against full recomputation.

    Staging must equal the full build's exactly. The weekly linkage keeps the
    model trained on the first week, so its marts must equal those of scoring
    every pair again under that model; and a --full-refresh build (retrained
    on everything) must give the full build's marts.
    """
    warehouse, _, _ = first_run
    keyring = Keyring(SECRET.encode())
    weekly = tmp_path / "weekly" / "masip.duckdb"
    drops = sorted((p for p in partnership.iterdir() if p.is_dir() and not p.name.startswith("_")),
                   key=lambda p: (p.name.split("_")[1], p.name))
    weeks = sorted({p.name.split("_")[1] for p in drops})
    assert len(weeks) >= 3
    person_ids: list[dict[str, str]] = []
    for week in weeks:
        delivered = [p for p in drops if p.name.split("_")[1] == week]
        ingest_drops(_landing(tmp_path / f"landing-{week}", delivered), weekly, keyring, show_progress=False)
        build_stage(weekly)
        if week == weeks[-1]:
            _the_weekly_gate_validates_the_week_and_blocks_its_bad_rows(weekly, tmp_path / "gate")
        quality = publish_stage(weekly, tmp_path / "out-weekly")
        assert quality.scope == ("full" if week == weeks[0] else "changed")
        person_ids.append(_person_ids(weekly))
    # a person keeps its id from week to week while its first-delivered record lives, whatever joins it later
    kept, joined_by_earlier_key = zip(*(_kept_ids(before, after) for before, after in pairwise(person_ids)))
    assert all(kept) and sum(joined_by_earlier_key) > 0  # some persons were joined by a record whose key sorts first
    tables = {"crimes": "stg_police__crimes", "referrals": "stg_police__referrals", "contacts": "stg_health__contacts"}
    with duckdb.connect(str(weekly), read_only=True) as con:
        deletions = sum(con.execute(f"select count(*) from raw.{t} where record_status = 'DELETED'").fetchone()[0]
                        for t in tables)
        deleted_live = sum(con.execute(
            f"select count(*) from staging.{model} where version_id in "
            f"(select version_id from raw.{table} where record_status = 'DELETED')").fetchone()[0]
            for table, model in tables.items())
    with duckdb.connect(str(Vault.for_warehouse(weekly).state_path), read_only=True) as con:
        reused_pairs = con.execute("select count(*) from linkage_state.pairs").fetchone()[0]
    assert deletions > 0 and deleted_live == 0  # later weeks delete records the first weeks loaded
    _the_vault_holds_the_live_versions_only(weekly)
    assert reused_pairs > 0
    # the version rule's staging tables equal the full build's (what the linkage stage wrote differs: the
    # person links and the review queue come from a frozen model)
    linkage = {"stg_linkage__person_links", "stg_linkage__review_queue", "stg_linkage__review_fields"}
    assert {k: v for k, v in _staging_fingerprint(weekly).items() if k not in linkage} == {
        k: v for k, v in _staging_fingerprint(warehouse).items() if k not in linkage}

    rescored = tmp_path / "rescored" / "masip.duckdb"
    rescored.parent.mkdir()
    shutil.copyfile(weekly, rescored)
    shutil.copytree(Vault.for_warehouse(weekly).directory, Vault.for_warehouse(rescored).directory)
    with duckdb.connect(str(Vault.for_warehouse(rescored).state_path)) as con:
        con.execute("drop table linkage_state.pairs")  # the frozen model alone: every pair scored again
        con.execute("drop table linkage_state.records")
    build_stage(rescored)
    publish_stage(rescored, tmp_path / "out-rescored")
    assert _marts_fingerprint(rescored) == _marts_fingerprint(weekly)
    # the links and the review queue with its field evidence too, of which the weekly run reused the unchanged pairs'
    assert {k: v for k, v in _staging_fingerprint(rescored).items() if k in linkage} == {
        k: v for k, v in _staging_fingerprint(weekly).items() if k in linkage}

    build_stage(weekly, full_refresh=True)
    publish_stage(weekly, tmp_path / "out-refreshed")
    assert _staging_fingerprint(weekly) == _staging_fingerprint(warehouse)
    assert _marts_fingerprint(weekly) == _marts_fingerprint(warehouse)


def test_a_release_that_changes_the_staging_code_stages_every_raw_row_again(first_run, tmp_path):
    """The staging models are incremental: a build stages only the records of new drops. After a release that
    changes how they stage rows (``ops.published_builds.staging_code`` differs from this release's), the next
    build stages every raw row again, so no old record keeps what the old code made of it; the linkage model
    is not retrained for it."""
    from masip.publication import staging_refresh_due

    published, _, _ = first_run
    warehouse = tmp_path / "warehouse" / "masip.duckdb"
    warehouse.parent.mkdir()
    shutil.copyfile(published, warehouse)
    shutil.copytree(Vault.for_warehouse(published).directory, Vault.for_warehouse(warehouse).directory)
    assert not staging_refresh_due(warehouse)  # built and published by this release
    with duckdb.connect(str(warehouse)) as con:
        # what an older release's staging code made of every order: a status the staging model does not give
        staged = con.execute("update staging.stg_police__orders set status = lower(status)").fetchone()[0]
        con.execute("update ops.published_builds set staging_code = 'an earlier release'")
    assert staged > 0 and staging_refresh_due(warehouse)

    build = build_stage(warehouse)
    publish_stage(warehouse, tmp_path / "out")

    assert build.linkage["retrained"] is False
    assert _staging_fingerprint(warehouse) == _staging_fingerprint(published)
    assert _marts_fingerprint(warehouse) == _marts_fingerprint(published)
    assert not staging_refresh_due(warehouse)  # the publication recorded this release's staging code
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update ops.published_builds set staging_code = null")  # published before the digest existed
    assert staging_refresh_due(warehouse)


def test_the_staging_code_digest_moves_with_staging_models_and_macros_only(tmp_path):
    from masip.dbt_runner import DBT_PROJECT_DIR
    from masip.publication import build_code_fingerprint, staging_code_fingerprint

    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "*.pyc"))
    assert staging_code_fingerprint(project) == staging_code_fingerprint()  # content, not where the project sits
    digests = [(staging_code_fingerprint(project), build_code_fingerprint(project))]
    for changed in ("models/marts/victim_journey.sql", "seeds/flag_thresholds.csv",
                    "models/staging/stg_police__orders.sql", "macros/incremental.sql"):
        with (project / changed).open("a", encoding="utf-8") as file:
            file.write("\n")
        digests.append((staging_code_fingerprint(project), build_code_fingerprint(project)))
    staging, build = zip(*digests)
    assert staging[0] == staging[1] == staging[2] != staging[3] != staging[4]  # marts and seeds are tables
    assert len(set(build)) == len(build)  # every change is a change of the build


def test_a_release_that_changes_the_linkage_code_retrains_instead_of_reusing_the_old_codes_state(first_run, tmp_path):
    """The weekly linkage reuses the stored pair scores, fingerprints and clustering decisions: what the code that
    stored them made of the records. A state stored by other linkage code (or before the code was recorded) is
    not reused: the linkage retrains and scores every pair once, and stores this code's state."""
    from masip.linkage.stage import run_linkage_process
    from masip.linkage.state_store import linkage_code_fingerprint, stored_linkage_code

    published, _, _ = first_run
    warehouse = tmp_path / "warehouse" / "masip.duckdb"
    warehouse.parent.mkdir()
    vault = Vault.for_warehouse(warehouse)
    shutil.copytree(Vault.for_warehouse(published).directory, vault.directory)

    def stored_code(path: Path) -> str | None:
        with duckdb.connect(str(path), read_only=True) as con:
            return stored_linkage_code(con)

    def linkage_retrains() -> bool:  # on the published warehouse, whose links the stored state made
        shutil.copyfile(published, warehouse)
        return run_linkage_process(warehouse, vault).retrained

    assert stored_code(vault.state_path) == linkage_code_fingerprint()
    assert not linkage_retrains()  # this code's state: reused
    for stale in ("update linkage_state.build set linkage_code = 'an earlier release'",
                  "alter table linkage_state.build drop column linkage_code"):
        with duckdb.connect(str(vault.state_path)) as con:
            con.execute(stale)
        assert linkage_retrains()
        assert stored_code(vault.state_candidate_path) == linkage_code_fingerprint()


def test_the_quality_rules_digest_moves_with_a_code_list_not_with_the_calendar():
    from connectors.code_lists import load_code_lists
    from masip.quality import rules_digest

    code_lists = load_code_lists()
    assert rules_digest(code_lists) == rules_digest()  # the week's latest extract date is not part of it
    name, codes = next((n, c) for n, c in sorted(code_lists.items()) if len(c) > 1)
    assert rules_digest({**code_lists, name: codes - {min(codes)}}) != rules_digest(code_lists)
