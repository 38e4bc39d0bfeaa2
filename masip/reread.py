"""Reading a source's loaded drops again after its profile was fixed (``masip reread``).

A drop loaded before its source's profile was complete (a ``value_maps``
entry missing, a column renamed too late) kept what it loaded: the same
delivery again is skipped as loaded, and a rebuild reads raw rows, not drops
(outside check, 2026-12-07). Here the source's encrypted landing copies are
decrypted into the vault's owner-only folder (as a key rotation does) and
read again with the current profiles, each drop replacing what it loaded in
one transaction (:func:`connectors.ingest.ingest_drops`, ``reread``); then the
marts are built from every raw row again (a full refresh), so nothing of the
old reading stays in staging, and published.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from connectors.ingest import default_archive_dir
from connectors.vault import Vault
from masip.pipeline import PipelineResult, build_and_publish, ingest_stage
from masip.rotation import decrypted
from masip.warehouse import warehouse_lock
from pseudonymisation.keys import Keyring
from pseudonymisation.landing import LandingArchive


class RereadError(RuntimeError):
    """Nothing to read again, or landing copies missing: the message says what to do."""


def reread_source(
    source_id: str, warehouse: Path, keyring: Keyring, out_dir: Path, vault_dir: Path | None = None,
    archive_dir: Path | None = None,
) -> PipelineResult:
    """Read every loaded drop of ``source_id`` again from its landing copy with the current profiles, then build
    (full refresh) and publish; returns the run's result (its report lists the drops read again)."""
    archive_dir = archive_dir or default_archive_dir(warehouse)
    with warehouse_lock(warehouse, "reread"):
        started = time.perf_counter()
        with duckdb.connect(str(warehouse), read_only=True) as con:
            drops = con.execute(
                "select drop_name, drop_sha256 from ops.loaded_drops where source_id = ? "
                "order by coalesce(load_seq, 0), drop_name", [source_id]
            ).fetchall()
        if not drops:
            raise RereadError(f"no drop of source {source_id} is loaded in {warehouse}: nothing to read again. What "
                              "to do: check the source id (the profile's source_id) and --warehouse")
        archive = LandingArchive(archive_dir, keyring)
        copies = [archive.path_for(name, sha) for name, sha in drops]
        missing = [name for (name, _), path in zip(drops, copies) if not path.is_file()]
        if missing:
            raise RereadError(
                f"{len(missing)} loaded drop(s) of {source_id} have no landing copy in {archive_dir} "
                f"({', '.join(missing[:5])}); nothing was read again. What to do: restore the copies from backup, "
                "or ask the sender to deliver those extracts again, then re-run"
            )
        with decrypted(archive, Vault.for_warehouse(warehouse, vault_dir), copies) as restored:
            # each copy in a folder of its own, read in load order: two deliveries may share a name
            ingest = ingest_stage([drop.parent for drop in restored], warehouse, keyring, show_progress=False,
                                  archive_dir=archive_dir, source_ids=[source_id], vault_dir=vault_dir, reread=True)
        return build_and_publish(warehouse, out_dir, ingest, time.perf_counter() - started, full_refresh=True,
                                 vault_dir=vault_dir, archive_dir=archive_dir)
