"""Separation of functions (SPEC §3 rule 7, issue #13): the analyst warehouse has nothing to decode.

One synthetic partnership (masip.synth) goes end to end: ingest with the key,
then the build (dbt, the linkage process, dbt), publication, run report, case
pack and evaluation with **no key anywhere in the environment**. Then:

- every column of every table of the analyst warehouse, and every output
  file, is scanned for the vault's tokens and Bloom filters (as hex text, as
  bit strings and as raw bytes): none appears;
- no warehouse column has a binary type (BLOB, BIT), and no text column holds
  only hex digests except those of :data:`NOT_FROM_IDENTIFIERS`, which are
  derived from drop manifests or agency references, never from identifiers;
- the vault is owner-only, and the published linkage state belongs to the
  published warehouse (same build id); a publication that crashed between
  the state and the warehouse is noticed and repaired by the next build.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from pypdf import PdfReader

from connectors.ingest import IngestSummary
from connectors.vault import (
    RECORDS_TABLE,
    VAULT_TOKEN_COLUMNS,
    VAULT_TOKEN_LIST_COLUMNS,
    KeyVersionMismatch,
    Vault,
)
from masip.casepack import build_casepack
from masip.dbt_runner import DbtBuildResult
from masip.evaluation import build_evaluation_report
from masip.linkage.stage import (
    LinkageInputError,
    keyless_environment,
    run_linkage_process,
)
from masip.linkage.state_store import stored_build_id
from masip.pipeline import (
    build_stage,
    candidate_path,
    ingest_stage,
    publish_stage,
    report_stage,
)
from masip.report import write_run_report
from masip.synth import DEFAULT_FAULTS, generate_partnership
from pseudonymisation.keys import SECRET_ENV, SECRET_FILE_ENV, Keyring
from tests.conftest import REPO_ROOT
from tests.leakcheck import (
    binary_columns,
    collect_encodings,
    hex_digest_columns,
    scan_cells,
    scan_files_for_encodings,
    scan_warehouse_for_encodings,
)

SECRET = "separation-test-partnership-secret-0123456789"
#: The columns of hex digests in the warehouse, and what they are digests of: none of an identifier.
NOT_FROM_IDENTIFIERS = {
    "version_id": "SHA-256 of the drop's digest, file name and line number (a manifest, not an identifier)",
    "drop_sha256": "HMAC-SHA-256 of the drop's manifest.json bytes under the vault's drop salt",
    "dyad_id": "'D' + MD5 of the two person_ids (a person_id is a hash of agency references)",
    "event_id": "'E' + MD5 of the dyad_id, source, table, agency reference and event type",
    "build_code": "SHA-256 of the dbt project's and the linkage code's files (masip.publication.build_code_fingerprint)",
    "staging_code": "SHA-256 of the dbt project's macros and staging models (masip.publication.staging_code_fingerprint)",
    "quality_rules": "SHA-256 of the data-quality suites' SQL and expectations (masip.quality.rules_digest)",
}

pytestmark = pytest.mark.slow


@dataclass
class Built:
    warehouse: Path
    vault: Vault
    out: Path
    linkage: dict
    ingest: IngestSummary
    build: DbtBuildResult


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    work = tmp_path_factory.mktemp("separation")
    drops = work / "drops"
    generate_partnership(drops, dyads=60, faults=DEFAULT_FAULTS)
    warehouse, out = work / "warehouse" / "masip.duckdb", work / "out"
    ingest = ingest_stage(drops, warehouse, Keyring(SECRET.encode()), show_progress=False)
    keyless = pytest.MonkeyPatch()
    for name in (SECRET_ENV, SECRET_FILE_ENV):
        keyless.delenv(name, raising=False)
    try:  # from here on nothing could load a key: any attempt would raise MissingKeyError
        build = build_stage(warehouse)
        quality = publish_stage(warehouse, out)
        report_stage(warehouse, out, ingest, build, quality, {})
        build_casepack(warehouse, out / "casepack")
        build_evaluation_report(warehouse, out / "evaluation")
    finally:
        keyless.undo()
    assert build.linkage is not None
    return Built(warehouse, Vault.for_warehouse(warehouse), out, build.linkage, ingest, build)


def test_build_publish_casepack_and_evaluation_ran_without_a_key(built: Built):
    assert built.linkage["roles"] > 100 and 0 < built.linkage["persons"] < built.linkage["roles"]
    assert (built.out / "run_report.md").is_file()
    assert list((built.out / "casepack").glob("masip-casepack-*.html")) and list((built.out / "casepack").glob("*.pdf"))
    assert (built.out / "evaluation" / "evaluation_report.html").is_file()


def test_the_linkage_process_gets_no_secret():
    env = keyless_environment({SECRET_ENV: "s", SECRET_FILE_ENV: "/k", "AIRFLOW_CONN_MASIP_PARTNERSHIP": "{}",
                               "MASIP_SECRET_FD": "3", "PATH": "/bin"})
    assert env == {"PATH": "/bin"}


@pytest.mark.parametrize("carrier", [SECRET_ENV, "AIRFLOW_CONN_MASIP_PARTNERSHIP"])
def test_what_a_reader_starts_inherits_no_secret(built: Built, tmp_path: Path, carrier: str):
    """The case pack's Chromium (started through Playwright's driver) sees the environment of `masip casepack`:
    a secret the operator's shell exported must not reach it."""
    from masip.casepack.render import DEFAULT_CHROMIUM

    if not Path(DEFAULT_CHROMIUM).is_file():
        pytest.skip("needs Debian's chromium (`make browser`)")
    dump = tmp_path / "chromium-environment"
    wrapper = tmp_path / "chromium"
    wrapper.write_text(f'#!/bin/sh\nenv > "{dump}"\nexec {DEFAULT_CHROMIUM} "$@"\n')
    wrapper.chmod(0o700)
    secret = "reader-test-partnership-secret-0123456789abcdef"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASIP_")}
    env.update({carrier: secret, "MASIP_CHROMIUM": str(wrapper)})
    pack = subprocess.run(
        [sys.executable, "-m", "masip.cli", "casepack", "--warehouse", str(built.warehouse), "--out", str(tmp_path / "pack")],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert pack.returncode == 0, pack.stderr
    assert list((tmp_path / "pack").glob("*.pdf")) and dump.is_file()
    seen = {name: value for name, _, value in (line.partition("=") for line in dump.read_text().splitlines())}
    assert [name for name, value in seen.items() if secret in value or name == carrier] == []


def test_the_linkage_refuses_a_missing_vault_at_once(tmp_path: Path):
    warehouse = tmp_path / "masip.duckdb"
    duckdb.connect(str(warehouse)).close()
    with pytest.raises(LinkageInputError, match="no vault records at .*point --vault"):
        run_linkage_process(warehouse, Vault(tmp_path / "elsewhere"))


def _as_older_release_wrote_it(records: Path) -> None:
    """The vault's tokens as hex text, as releases before integer tokens stored them (same first 64 bits)."""
    with duckdb.connect(str(records)) as con:
        for column in VAULT_TOKEN_COLUMNS:
            con.execute(f"alter table {RECORDS_TABLE} alter {column} set data type varchar using "
                        f"lower(printf('%016x', {column})) || '00000000deadbeef'")
        for column in VAULT_TOKEN_LIST_COLUMNS:
            con.execute(f"alter table {RECORDS_TABLE} alter {column} set data type varchar[] using "
                        f"list_transform({column}, lambda t: lower(printf('%016x', t)) || '00000000deadbeef')")


def test_a_vault_of_hex_tokens_is_converted_once_and_links_as_before(built: Built, tmp_path: Path):
    """A vault written before tokens were stored as integers: the linkage reads it as it is, and ingest's next
    write converts it in place to exactly what ingest writes now."""
    shutil.copytree(built.warehouse.parent, tmp_path / "copy")
    warehouse = tmp_path / "copy" / built.warehouse.name
    vault = Vault.for_warehouse(warehouse)
    query = f"select * exclude (drop_name, drop_sha256) from {RECORDS_TABLE} order by all"
    with duckdb.connect(str(vault.records_path), read_only=True) as con:
        written = con.execute(query).fetchall()
    _as_older_release_wrote_it(vault.records_path)
    with duckdb.connect(str(vault.records_path), read_only=True) as con:
        assert con.execute(f"select typeof(pnc_token) from {RECORDS_TABLE} limit 1").fetchone()[0] == "VARCHAR"
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        links = con.execute("select * from linkage.person_links order by all").fetchall()
    run_linkage_process(warehouse, vault)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select * from linkage.person_links order by all").fetchall() == links
    vault.open_records().close()
    with duckdb.connect(str(vault.records_path), read_only=True) as con:
        assert con.execute(query).fetchall() == written


def test_the_linkage_refuses_a_vault_whose_tokens_are_not_ingests_without_showing_them(built: Built, tmp_path: Path):
    shutil.copytree(built.warehouse.parent, tmp_path / "copy")
    warehouse = tmp_path / "copy" / built.warehouse.name
    vault = Vault.for_warehouse(warehouse)
    _as_older_release_wrote_it(vault.records_path)
    with duckdb.connect(str(vault.records_path)) as con:
        con.execute(f"update {RECORDS_TABLE} set pnc_token = 'ZZ-NOT-A-TOKEN' where rowid = 0")
    with pytest.raises(LinkageInputError, match="not the hex digests ingest writes.*landing copies") as refused:
        run_linkage_process(warehouse, vault)
    assert "ZZ-NOT-A-TOKEN" not in str(refused.value)
    with pytest.raises(KeyVersionMismatch, match="not the hex digests ingest writes.*landing copies") as refused:
        vault.open_records()
    assert "ZZ-NOT-A-TOKEN" not in str(refused.value)


def test_the_warehouse_holds_no_binary_column(built: Built):
    assert binary_columns(built.warehouse) == []


def test_no_vault_encoding_in_any_warehouse_cell_or_output_file(built: Built):
    encodings = collect_encodings(built.vault.records_path)
    assert len(encodings.hex_text) > 1_000 and len(encodings.bit_text) > 100  # the scan has something to find
    assert scan_warehouse_for_encodings(built.warehouse, encodings) == {}
    assert scan_files_for_encodings(built.out, encodings) == {}
    [pdf] = (built.out / "casepack").glob("*.pdf")  # its text is compressed in the file: scan it extracted too
    assert encodings.in_text("\n".join(page.extract_text() for page in PdfReader(pdf).pages)) == []


def test_the_encoding_scan_finds_a_vault_token_in_every_form_it_could_be_written_in(built: Built, tmp_path: Path):
    """The scan above would see a leaked token: as the vault's integer, as hex (alone or leading the 128-bit hex
    token ingest makes), and as raw bytes in a file."""
    encodings = collect_encodings(built.vault.records_path)
    token = min(encodings.decimal_text)
    as_bytes = int(token).to_bytes(8, "big", signed=True)
    for text in (f"person {token} seen", f"id={as_bytes.hex()};", f"{as_bytes.hex().upper()}0123456789ABCDEF"):
        assert encodings.in_text(text), text
    assert encodings.in_text(f"person {int(token) + 1} seen") == []
    (tmp_path / "export.bin").write_bytes(b"\x00header" + as_bytes + b"trailer")
    assert scan_files_for_encodings(tmp_path, encodings) == {str(tmp_path / "export.bin"): [as_bytes.hex()]}


def test_no_column_of_hex_digests_derived_from_identifiers(built: Built):
    digests = hex_digest_columns(built.warehouse)
    assert {column.rsplit(".", 1)[1] for column in digests} <= set(NOT_FROM_IDENTIFIERS), digests
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        schemas = {s for (s,) in con.execute("select distinct table_schema from information_schema.tables").fetchall()}
        role_columns = [c for (c,) in con.execute(
            "select column_name from information_schema.columns where table_schema = 'raw' and table_name = 'person_roles'"
        ).fetchall()]
    assert "linkage_state" not in schemas  # the linkage state lives in the vault
    assert set(role_columns) == {"source_id", "agency", "source_table", "record_ref", "role", "version_id",
                                 "birth_year", "sex", "postcode_district"}


def test_the_vault_is_owner_only(built: Built):
    vault = built.vault
    assert stat.S_IMODE(vault.directory.stat().st_mode) == 0o700
    files = [p for p in vault.directory.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"records.duckdb", "linkage.duckdb"}
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {p.name: 0o600 for p in files}


def test_published_state_belongs_to_the_published_links_and_a_torn_publication_is_repaired(built: Built):
    vault, warehouse = built.vault, built.warehouse

    def warehouse_build_id() -> str:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.execute("select build_id from linkage.link_run").fetchone()[0]

    def state_build_id() -> str | None:
        with duckdb.connect(str(vault.state_path), read_only=True) as con:
            return stored_build_id(con)

    assert state_build_id() == warehouse_build_id() == built.linkage["build_id"]
    assert not vault.state_candidate_path.exists()
    # a publication that crashed after renaming the state, before renaming the warehouse
    build_stage(warehouse)
    os.replace(vault.state_candidate_path, vault.state_path)
    candidate_path(warehouse).unlink()
    assert state_build_id() != warehouse_build_id()
    repaired = build_stage(warehouse)
    assert repaired.linkage is not None and repaired.linkage["retrained"]  # the stray state was not trusted
    publish_stage(warehouse, built.out / "repaired")
    assert state_build_id() == warehouse_build_id() == repaired.linkage["build_id"]


def test_what_the_linkage_spills_stays_in_the_vault(tmp_path: Path):
    """Past its memory cap DuckDB writes the scored records (encodings) to disk: into the vault, never /tmp."""
    from masip.linkage.backends import DuckDBBackend

    vault_dir = tmp_path / "vault"
    vault_dir.mkdir(mode=0o700)
    backend = DuckDBBackend(spill_under=vault_dir)
    try:
        backend.con.execute("set memory_limit = '40MB'; set threads = 1")
        backend.create("spilled", "select range as uid, md5(range::varchar) as bloom from range(3000000) order by bloom")
        [spill] = list(vault_dir.glob("masip-linkage-*"))
        assert any(p.is_file() for p in spill.rglob("*")), "DuckDB did not spill: the test proves nothing"
    finally:
        backend.close()
    assert list(vault_dir.iterdir()) == []


def test_the_pass_over_every_pair_has_the_scoring_cap_and_then_the_usual_one(monkeypatch: pytest.MonkeyPatch):
    """The candidate pairs of all records are scored when the process holds least (2026-12-07: 86 s whole under
    5 GB, 130 s in chunks under 3 GB); before and after, the scorer's database is back under its usual cap, which
    makes DuckDB give back what the pass took."""
    from masip.linkage.backends import DuckDBBackend

    monkeypatch.setenv("MASIP_LINKAGE_MEMORY", "300MB")
    monkeypatch.setenv("MASIP_LINKAGE_SCORING_MEMORY", "700MB")
    backend = DuckDBBackend()

    def limit() -> str:
        return backend.con.execute("select value from duckdb_settings() where name = 'memory_limit'").fetchone()[0]

    try:
        usual = limit()
        with backend.scoring_every_pair():
            scoring = limit()
        assert usual.startswith("286") and scoring.startswith("667") and limit() == usual  # MiB, as DuckDB says it
    finally:
        backend.close()


def test_what_the_linkage_warns_of_reaches_the_run_report(built: Built, tmp_path: Path):
    """The linkage process's log is not the operator's: a warning it logs (here: a state made by other linkage
    code, so the model is retrained) comes back in its summary and is listed under the run report's Warnings."""
    shutil.copytree(built.warehouse.parent, tmp_path / "copy")
    warehouse = tmp_path / "copy" / built.warehouse.name
    vault = Vault.for_warehouse(warehouse)
    with duckdb.connect(str(vault.state_path)) as con:
        con.execute("update linkage_state.build set linkage_code = 'an older release'")
    summary = run_linkage_process(warehouse, vault)
    assert summary.retrained and len(summary.warnings) == 1 and "made by other linkage code" in summary.warnings[0]
    assert built.linkage["warnings"] == []
    build = dataclasses.replace(built.build, linkage=summary.to_dict())
    write_run_report(warehouse, tmp_path / "out", built.ingest, build, None, {})
    report = (tmp_path / "out" / "run_report.md").read_text()
    assert f"linkage: {summary.warnings[0]}" in report.split("## Warnings")[1].split("## Drops")[0]
    # 60 dyads are far fewer record roles than a model is trained on: the report says the defaults were used
    assert not summary.model_trained and "model default (too few record roles to train on)" in report


def test_no_value_of_the_warehouse_or_the_report_is_a_plain_digest_of_a_delivery(built: Built):
    """A manifest lists its files' SHA-256 and the warehouse holds every other cell of a small file, so a plain
    digest of a manifest or a file let a reader confirm a guessed identity (outside check, 2026-12-07). Deliveries
    are known by a digest keyed with the vault's drop salt (owner-only, 32 bytes); no hex run of 12 digits or more
    anywhere in the warehouse or the run report begins a plain digest of a manifest or a file."""
    drops = built.warehouse.parent.parent / "drops"
    plain = {hashlib.sha256(path.read_bytes()).hexdigest() for path in drops.glob("*/*") if path.is_file()}
    assert len(plain) > 30
    prefixes = {digest[:12] for digest in plain}
    seen: set[str] = set()

    def plain_digests(text: str) -> list[str]:
        runs = {run.lower() for run in re.findall(r"[0-9a-fA-F]{12,}", text)}
        seen.update(runs)
        return [run for run in runs if run[:12] in prefixes]

    found = scan_cells(built.warehouse, plain_digests)
    found.update({report.name: hits for report in built.out.glob("run_report.*")
                  if (hits := plain_digests(report.read_text()))})
    assert len(seen) > 100 and found == {}  # the drops' digests and version ids among what was read
    salt = built.vault.drop_salt_path
    assert len(salt.read_bytes()) == 32 and stat.S_IMODE(salt.stat().st_mode) == 0o600
