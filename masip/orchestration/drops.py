"""The per-source ingest DAGs' drop sensing and asset announcement (``masip_ingest_<source>``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from masip.orchestration.assets import source_asset, source_asset_uri
from masip.orchestration.config import resolve_run_config
from masip.orchestration.errors import WarehouseStateError, fail_without_retry

log = logging.getLogger(__name__)

#: The per-source sensor: how often it looks at the landing folder, and for how long (the DAG runs daily).
DROP_POKE_INTERVAL = timedelta(minutes=10)
DROP_WAIT_TIMEOUT = timedelta(hours=23)


@dataclass(frozen=True)
class _Processed:
    """What the warehouse already holds of the landing folder's drops."""

    seen: set[tuple[str, str | None]]  # (drop name, manifest sha) of every drop loaded or rejected
    unread: set[str]  # names of drops rejected unread (manifest unreadable): re-delivered under a new folder name
    loaded_manifests: set[str]  # an identical manifest under another folder name is the same delivery: not pending


def _processed_drops(warehouse: Path) -> _Processed | None:
    """What the warehouse holds already; ``None`` when it is busy (another process is writing it): the sensor looks
    again later."""
    import duckdb

    if not warehouse.is_file():
        return _Processed(set(), set(), set())
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.IOException as error:
        from masip.warehouse import held_elsewhere

        if held_elsewhere(error):
            return None
        raise WarehouseStateError(
            f"cannot read the warehouse {warehouse} ({type(error).__name__}); is it a MASIP warehouse?"
        ) from None
    found: dict[str, set[tuple[str, str | None]]] = {}
    try:
        for table in ("ops.loaded_drops", "ops.rejected_drops"):
            try:
                found[table] = set(con.execute(f"select drop_name, drop_sha256 from {table}").fetchall())
            except duckdb.CatalogException:  # a warehouse from before that table existed
                found[table] = set()
    finally:
        con.close()
    seen = found["ops.loaded_drops"] | found["ops.rejected_drops"]
    return _Processed(seen, {name for name, sha in seen if sha is None},
                      {sha for _, sha in found["ops.loaded_drops"] if sha is not None})


def pending_drops(landing: Path, source_id: str, warehouse: Path) -> list[str] | None:
    """Drop folders ``<landing>/<source_id>_*`` with a ``manifest.json`` not yet loaded nor rejected.

    A drop is identified by folder name and manifest checksum (SPEC §2), so a
    re-delivered or corrected drop is pending again, but a copy of a loaded drop
    (the same manifest under another folder name) is not. Folders without a
    ``manifest.json`` are still being delivered and are not pending yet.
    Returns ``None`` if the warehouse is busy.
    """
    from connectors.drop_folders import find_drops
    from connectors.manifest import manifest_digest
    from connectors.profiles import load_profiles
    from connectors.vault import Vault

    # a broken profile's drops are pending too: ingest rejects them, saying why
    drops = [d for d in find_drops(landing, load_profiles().source_ids, [source_id]).drops
             if (d / "manifest.json").is_file()]
    if not drops:
        return []
    processed = _processed_drops(warehouse)
    if processed is None:
        return None
    salt = Vault.for_warehouse(warehouse).drop_salt()  # the vault the ingest task writes: $MASIP_VAULT_DIR or beside
    pending = []
    for drop in drops:
        sha = manifest_digest((drop / "manifest.json").read_bytes(), salt)
        new = (drop.name, sha) not in processed.seen and sha not in processed.loaded_manifests
        if new and drop.name not in processed.unread:
            pending.append(drop.name)
    return pending


def poke_for_drops(source_id: str, params: Mapping[str, Any] | None, run_type: str | None) -> Any:
    """The ``wait_for_drop`` sensor: done when ``source_id`` has pending drops (their names go to XCom).

    A scheduled run waits (reschedule mode: no worker slot is held between
    looks). A manual run or backfill (re-run one source) goes ahead at once:
    its ingest loads whatever is pending, and re-checks the rest.
    """
    from airflow.sdk import PokeReturnValue

    with fail_without_retry():  # a landing folder that is not there, or a path outside it: no retry mends it
        config = resolve_run_config(params)
    assert config.input_dir is not None
    pending = pending_drops(config.input_dir, source_id, config.warehouse)
    waits = str(run_type or "").lower().endswith("scheduled")
    if pending is None:
        log.info("Warehouse busy (another task is writing it); %s", "looking again later" if waits else "going ahead")
        return PokeReturnValue(is_done=not waits, xcom_value=[])
    if pending:
        log.info("%d new drop(s) of %s: %s", len(pending), source_id, ", ".join(pending))
        return PokeReturnValue(is_done=True, xcom_value=pending)
    if not waits:
        log.info("No new drop of %s; this %s run re-checks every drop of %s anyway", source_id, run_type, source_id)
        return PokeReturnValue(is_done=True, xcom_value=[])
    log.info("No new drop of %s in %s yet", source_id, config.input_dir)
    return PokeReturnValue(is_done=False)


def announce_source_update(source_id: str, ingest: Mapping[str, Any], outlet_events: Any) -> dict[str, Any]:
    """The ``announce`` task: update the source's asset (so the build runs) only if drops were loaded.

    Skipped (no asset event, no build) when nothing new was loaded: a re-run of
    already-loaded drops, or only rejected drops.
    """
    from airflow.sdk.exceptions import AirflowSkipException

    drops = [d for d in ingest["summary"]["drops"] if d["status"] == "loaded"]
    if not drops:
        raise AirflowSkipException(f"no new drop of {source_id} was loaded: the asset is not updated, no build runs")
    extra = {
        "source_id": source_id,
        "drops_loaded": [d["drop_name"] for d in drops],
        "rows_loaded": sum(f["rows_loaded"] for d in drops for f in d["files"]),
        "ingest_run_id": ingest["summary"]["run_id"],
    }
    if outlet_events is not None:
        outlet_events[source_asset(source_id)].extra = extra
    log.info("Asset %s updated: %d drop(s), %d rows", source_asset_uri(source_id), len(drops), extra["rows_loaded"])
    return extra
