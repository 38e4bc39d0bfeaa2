"""Encrypted landing copies (AES-GCM), retention, and key rotation with identical linkage."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from connectors.ingest import default_archive_dir, ingest_drops
from connectors.vault import KeyVersionMismatch, Vault
from masip.pipeline import run_pipeline
from masip.rotation import rotate_key
from masip.synth import generate_partnership
from pseudonymisation.keys import Keyring
from pseudonymisation.landing import LandingArchive, LandingArchiveError
from tests.leakcheck import collect_identifiers

SAMPLES = Path(__file__).parent / "fixtures" / "sample_drops"
OLD = Keyring(b"rotation-test-old-secret-0123456789abcdef")
NEW = Keyring(b"rotation-test-new-secret-fedcba9876543210")
XREF = (
    "select source_id, source_table, record_ref, role, person_id, link_method, match_probability "
    "from marts.person_xref order by all"
)


@pytest.fixture()
def archived(tmp_path) -> tuple[Path, LandingArchive]:
    warehouse = tmp_path / "w" / "masip.duckdb"
    ingest_drops(SAMPLES, warehouse, OLD, show_progress=False)
    return warehouse, LandingArchive(default_archive_dir(warehouse), OLD)


def test_every_loaded_drop_is_archived_encrypted(archived):
    _, archive = archived
    paths = archive.archives()
    assert len(paths) == 6
    plain = collect_identifiers(SAMPLES)
    headers = {f.read_bytes().splitlines()[0][:40] for f in SAMPLES.glob("*/*.csv")}
    for path in paths:
        assert path.stat().st_mode & 0o077 == 0  # owner-only
        data = path.read_bytes()
        # identifiers as whole strings and the files' own header lines; not single name words, which
        # random ciphertext read as text contains by chance (e.g. "SAM")
        assert [s for s in plain.strings if s.encode("latin-1", "replace") in data] == []
        assert [h for h in headers if h in data] == []


def test_archive_round_trips_byte_for_byte(archived, tmp_path):
    _, archive = archived
    restored = archive.restore_all(tmp_path / "restored")
    for drop in restored:
        for original in (SAMPLES / drop.name).iterdir():
            assert (drop / original.name).read_bytes() == original.read_bytes()


def test_wrong_key_or_tampering_is_detected(archived):
    _, archive = archived
    with pytest.raises(LandingArchiveError, match="cannot be opened with key"):
        LandingArchive(archive.directory, NEW).restore_all(archive.directory.parent / "x")
    victim = archive.archives()[0]
    data = bytearray(victim.read_bytes())
    data[-5] ^= 0x01
    victim.write_bytes(bytes(data))
    with pytest.raises(LandingArchiveError):
        archive.restore_all(archive.directory.parent / "y")


def test_retention_deletes_only_old_archives(archived):
    _, archive = archived
    assert archive.prune(retention_days=400, today=date(2026, 11, 22)) == []
    assert len(archive.prune(retention_days=30, today=date(2026, 11, 22))) == 6
    assert archive.archives() == []


def test_rotation_gives_identical_linkage_and_retires_the_old_key(tmp_path):
    drops = tmp_path / "drops"
    generate_partnership(drops, dyads=40)
    warehouse = tmp_path / "w" / "masip.duckdb"
    records = Vault.for_warehouse(warehouse).records_path
    run_pipeline(drops, warehouse, OLD, tmp_path / "out", show_progress=False)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        before = con.execute(XREF).fetchall()
        journey_before = con.execute("select * from marts.victim_journey order by all").fetchall()
    with duckdb.connect(str(records), read_only=True) as con:
        old_tokens = con.execute("select pnc_token from person_encodings where pnc_token is not null limit 1").fetchone()
    shutil.rmtree(drops)  # the agencies' drops are gone: only the encrypted landing copies remain

    result = rotate_key(warehouse, OLD, NEW, tmp_path / "out-rotated")

    assert (result.old_key_version, result.new_key_version) == (OLD.key_version, NEW.key_version)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        after = con.execute(XREF).fetchall()
        journey_after = con.execute("select * from marts.victim_journey order by all").fetchall()
    with duckdb.connect(str(records), read_only=True) as con:  # the vault was rebuilt under the new key
        versions = con.execute("select distinct key_version from person_encodings").fetchall()
        still_there = con.execute("select count(*) from person_encodings where pnc_token = ?", old_tokens).fetchone()[0]
    # the same people, linked the same way; scores may move in the third decimal because keyed
    # Bloom filters collide differently under a new key
    assert [row[:-1] for row in after] == [row[:-1] for row in before]
    assert all(abs((a[-1] or 0) - (b[-1] or 0)) <= 0.05 for a, b in zip(after, before))
    assert journey_after == journey_before
    assert versions == [(NEW.key_version,)] and still_there == 0
    assert not any(p.name.endswith((".rotating", ".retired")) for p in warehouse.parent.iterdir())
    archive = LandingArchive(default_archive_dir(warehouse), NEW)
    assert archive.archives() and {archive.read_header(p).key_version for p in archive.archives()} == {NEW.key_version}
    with pytest.raises(KeyVersionMismatch):
        ingest_drops(tmp_path / "out", warehouse, OLD, show_progress=False)
