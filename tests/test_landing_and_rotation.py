"""Encrypted landing copies (AES-GCM) and retention.

Key rotation with identical linkage runs in tests/test_clerical_review.py.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from connectors.ingest import default_archive_dir, ingest_drops
from pseudonymisation.keys import Keyring
from pseudonymisation.landing import LandingArchive, LandingArchiveError
from tests.leakcheck import collect_identifiers

SAMPLES = Path(__file__).parent / "fixtures" / "sample_drops"
OLD = Keyring(b"rotation-test-old-secret-0123456789abcdef")
NEW = Keyring(b"rotation-test-new-secret-fedcba9876543210")


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

