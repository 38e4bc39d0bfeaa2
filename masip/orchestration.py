"""Airflow glue for the MASIP DAGs: run parameters, the partnership key, and the task bodies.

The DAG files in ``dags/`` only wire tasks together; everything a task does
lives here (and, below that, in ``masip.pipeline``, the same stage functions
the ``masip`` CLI runs).

The DAGs:

* ``masip_pipeline`` — manual end-to-end run, the same as ``masip run``.
* ``masip_ingest_<source>`` — one per source profile (``connectors/profiles/*.yaml``):
  waits for that source's new drops (``<landing>/<source_id>_*/manifest.json`` not
  yet loaded or rejected), ingests only them, and updates the asset
  ``masip://warehouse/raw/<source_id>`` when something was loaded.
* ``masip_build`` — scheduled on any of those assets: dbt's staging group on a
  candidate copy, the linkage stage (its own process, reading the linkage
  vault; no key), dbt's intermediate and marts groups, then the Great
  Expectations gate and the swap (asset ``masip://warehouse/marts``). Its task
  bodies live in ``masip.build_tasks``.
* ``masip_weekly_evaluation`` — weekly (Tuesdays), the evaluation report of the
  published warehouse. (``masip_weekly_casepack``, on the marts asset, lives in
  ``masip.casepack.tasks``.)

Every task gets :func:`default_args`: retries with exponential back-off and the
alert callbacks of :mod:`masip.alerts`. Tasks that write the warehouse run in the
one-slot pool :data:`WAREHOUSE_POOL`.

Two rules hold for everything in this module:

* **Nothing happens at import time** beyond defining constants: the DAG
  processor imports this module every time it parses ``dags/``. Paths, dates
  and the key are resolved when a task runs, and heavy modules (DuckDB, dbt)
  are imported inside the task functions.
* **The secret never leaves** :func:`load_partnership_keyring`: it is not
  logged, not returned through XCom and not put into any exception message.
  Task results are plain counts, names and reasons. Only the ingest tasks
  load it; the build, linkage, publish, case pack and evaluation tasks never do.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, AssetAny, Param

from masip import alerts
from masip.cli import DEFAULT_OUT, DEFAULT_WAREHOUSE
from pseudonymisation.keys import Keyring, MissingKeyError, load_keyring

if TYPE_CHECKING:
    from masip.dbt_runner import DbtBuildResult
    from masip.quality import QualityReport

log = logging.getLogger(__name__)

#: The Airflow connection whose *password* holds the partnership secret.
PARTNERSHIP_CONN_ID = "masip_partnership"

LANDING_ENV = "MASIP_LANDING_DIR"
WAREHOUSE_ENV = "MASIP_WAREHOUSE"
OUTPUT_ENV = "MASIP_OUTPUT_DIR"

#: Asset URIs, defined once. The marts are the pipeline's public interface
#: (SPEC §5); downstream DAGs (publication, case packs) schedule on this asset.
MARTS_ASSET_URI = "masip://warehouse/marts"
MARTS_ASSET = Asset(name="masip_warehouse_marts", uri=MARTS_ASSET_URI, group="masip")

#: One asset per source: "new drops of this source were loaded into the warehouse's raw schema".
#: The per-source ingest DAGs produce them; ``masip_build`` is scheduled on any of them.
SOURCE_ASSET_URI_TEMPLATE = "masip://warehouse/raw/{source_id}"

#: Every task that writes (or copies) the warehouse or its candidate runs in this pool. Create it with
#: ONE slot (``airflow pools set masip_warehouse 1 ...``; scripts/airflow_local.sh and the Docker
#: init do): DuckDB allows one writer per file, and the per-source DAGs would otherwise ingest at
#: the same time. Tasks in a pool that does not exist are never scheduled.
WAREHOUSE_POOL = "masip_warehouse"

#: The per-source sensor: how often it looks at the landing folder, and for how long (the DAG runs daily).
DROP_POKE_INTERVAL = timedelta(minutes=10)
DROP_WAIT_TIMEOUT = timedelta(hours=23)


def default_args() -> dict[str, Any]:
    """``default_args`` of every MASIP DAG: retries with exponential back-off, and the alert callbacks."""
    return {
        "owner": "masip",
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": 2.0,  # Airflow 3.3: a multiplier, not a bool
        "max_retry_delay": timedelta(minutes=30),
        "execution_timeout": timedelta(hours=2),
        "on_failure_callback": [alerts.on_task_failure],
        "on_retry_callback": [alerts.on_task_retry],
    }


def source_ids() -> list[str]:
    """The source ids of every profile in ``connectors/profiles/`` (reads those YAML files, nothing else)."""
    from connectors.profiles import load_profiles

    return sorted(load_profiles())


def source_asset_uri(source_id: str) -> str:
    return SOURCE_ASSET_URI_TEMPLATE.format(source_id=source_id)


def source_asset(source_id: str) -> Asset:
    """The asset updated when new drops of ``source_id`` have been loaded."""
    return Asset(name=f"masip_raw_{source_id}", uri=source_asset_uri(source_id), group="masip")


def any_source_updated(sources: Iterable[str]) -> AssetAny:
    """The build's schedule: a run whenever any source's asset is updated."""
    return AssetAny(*(source_asset(s) for s in sources))


def ingest_dag_id(source_id: str) -> str:
    """``police-met`` -> ``masip_ingest_police_met``."""
    return "masip_ingest_" + re.sub(r"[^A-Za-z0-9_]", "_", source_id)


class RunConfigError(ValueError):
    """A run parameter is missing or malformed; retrying will not fix it."""


class ReconciliationError(RuntimeError):
    """Row counts in the run report do not reconcile (read ≠ loaded + quarantined + duplicates)."""


class WarehouseStateError(RuntimeError):
    """The warehouse or its candidate is missing, corrupt or not a MASIP warehouse; retrying will not fix it."""


class DbtDataTestFailed(RuntimeError):
    """A dbt data test failed: the data breaks a contract, so a retry would fail the same way."""


# --------------------------------------------------------------------------- parameters


def run_params() -> dict[str, Param]:
    """The DAG's run parameters. All default to ``None``: the environment fills them in at run time."""
    optional_string = ["null", "string"]
    return {
        "input_dir": Param(
            None,
            type=optional_string,
            title="Landing folder",
            description=f"Folder holding the drops, one sub-folder per drop. Default: ${LANDING_ENV}.",
        ),
        "warehouse": Param(
            None,
            type=optional_string,
            title="Warehouse file",
            description=f"DuckDB warehouse file. Default: ${WAREHOUSE_ENV}, else {DEFAULT_WAREHOUSE}.",
        ),
        "out_dir": Param(
            None,
            type=optional_string,
            title="Report folder",
            description=f"Folder for run_report.json/.md. Default: ${OUTPUT_ENV}, else {DEFAULT_OUT}.",
        ),
        "as_of": Param(
            None,
            type=optional_string,
            format="date",
            title="Reference date",
            description="YYYY-MM-DD; default: the latest extract date in the warehouse.",
        ),
    }


def ingest_params() -> dict[str, Param]:
    """Parameters of the per-source ingest DAGs (no ``as_of``: ingest does not depend on it)."""
    params = run_params()
    return {name: params[name] for name in ("input_dir", "warehouse", "out_dir")}


def build_params() -> dict[str, Param]:
    """Parameters of ``masip_build`` (no landing folder: it reads the warehouse only)."""
    params = run_params()
    return {name: params[name] for name in ("warehouse", "out_dir", "as_of")}


@dataclass(frozen=True)
class RunConfig:
    input_dir: Path | None  # None only for DAGs that do not read the landing folder
    warehouse: Path
    out_dir: Path
    as_of: date | None

    def describe(self) -> str:
        as_of = self.as_of.isoformat() if self.as_of else "latest extract date"
        return f"input {self.input_dir}, warehouse {self.warehouse}, report folder {self.out_dir}, as of {as_of}"


def _given(value: Any) -> str | None:
    """A parameter value, treating ``None`` and blank strings (empty UI form fields) as not given."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def resolve_run_config(
    params: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None, require_input: bool = True
) -> RunConfig:
    """Run parameters, falling back to the environment *of the worker at run time*."""
    params = params or {}
    env = os.environ if environ is None else environ
    input_dir = _given(params.get("input_dir")) or _given(env.get(LANDING_ENV))
    if input_dir is None and require_input:
        raise RunConfigError(
            f"No landing folder: trigger the run with the parameter input_dir, or set {LANDING_ENV} on the workers."
        )
    warehouse = _given(params.get("warehouse")) or _given(env.get(WAREHOUSE_ENV)) or str(DEFAULT_WAREHOUSE)
    out_dir = _given(params.get("out_dir")) or _given(env.get(OUTPUT_ENV)) or str(DEFAULT_OUT)
    as_of_text = _given(params.get("as_of"))
    as_of: date | None = None
    if as_of_text is not None:
        try:
            as_of = date.fromisoformat(as_of_text)
        except ValueError:
            raise RunConfigError(f"as_of={as_of_text!r} is not a date; use YYYY-MM-DD") from None
    return RunConfig(Path(input_dir) if input_dir else None, Path(warehouse), Path(out_dir), as_of)


# --------------------------------------------------------------------------- the key


def _secret_from_connection() -> str | None:
    """The password of the ``masip_partnership`` connection, or ``None`` when there is no such connection."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = Connection.get(PARTNERSHIP_CONN_ID)
    except AirflowNotFoundException:
        return None
    except Exception as error:  # noqa: BLE001 - a broken backend must not leak the URI it choked on
        # ``from None``: the original exception may quote the connection URI, password included.
        raise MissingKeyError(
            f"Could not read the Airflow connection `{PARTNERSHIP_CONN_ID}` ({type(error).__name__}). "
            "Check the secrets backend and the connection's definition."
        ) from None
    password = (conn.password or "").strip()
    if not password:
        raise MissingKeyError(
            f"The Airflow connection `{PARTNERSHIP_CONN_ID}` exists but its password is empty; "
            "put the partnership secret in the password field (or delete the connection to use MASIP_SECRET_FILE)."
        )
    return password


def load_partnership_keyring(environ: Mapping[str, str] | None = None) -> Keyring:
    """The partnership keyring: Airflow connection ``masip_partnership`` first, then MASIP_SECRET(_FILE).

    Raises :class:`MissingKeyError` (whose message names every place a key can
    come from, and never the key) when there is none.
    """
    secret = _secret_from_connection()
    if secret is not None:
        keyring = Keyring(secret.encode())
        source = f"Airflow connection {PARTNERSHIP_CONN_ID}"
    else:
        keyring = load_keyring(environ)
        source = "environment"
    log.info("Partnership key loaded from the %s (key version %s)", source, keyring.key_version)
    return keyring


# --------------------------------------------------------------------------- task bodies


@contextmanager
def fail_without_retry() -> Iterator[None]:
    """Turn problems a retry cannot fix into immediate failures (Airflow skips the remaining retries).

    Those are: no key, a key that does not match the vault's key version, a
    malformed parameter, a missing or foreign linkage vault, failed data-quality
    checks, counts that do not reconcile, a damaged warehouse or a read-only
    warehouse folder. The message is kept; none of these exceptions carries key
    material. (A warehouse held by another run is retried with back-off.)
    """
    from airflow.sdk.exceptions import AirflowFailException

    from connectors.vault import KeyVersionMismatch
    from masip.linkage.stage import LinkageInputError
    from masip.quality import DataQualityError
    from masip.warehouse import WarehouseDamaged, WarehouseNotWritable

    try:
        yield
    except (
        MissingKeyError, KeyVersionMismatch, RunConfigError, DataQualityError, ReconciliationError,
        WarehouseStateError, DbtDataTestFailed, WarehouseDamaged, WarehouseNotWritable, LinkageInputError,
    ) as error:
        raise AirflowFailException(f"{type(error).__name__}: {error}") from error


def run_ingest(params: Mapping[str, Any] | None, source_ids: Iterable[str] | None = None) -> dict[str, Any]:
    """The ``ingest`` task: verify, pseudonymise and load every drop. Rejected drops are reported, not fatal.

    With ``source_ids``, only the drops of those sources (``<source_id>_…`` folders) are looked at.
    """
    with fail_without_retry():
        keyring = load_partnership_keyring()  # first: no key, no work
        config = resolve_run_config(params)
    from masip.pipeline import ingest_stage

    sources = sorted(source_ids) if source_ids is not None else None
    log.info("Ingest (%s): %s", ", ".join(sources) if sources else "every source", config.describe())
    started = time.perf_counter()
    with fail_without_retry():
        summary = ingest_stage(config.input_dir, config.warehouse, keyring, show_progress=False, source_ids=sources)
    seconds = round(time.perf_counter() - started, 3)
    log.info(
        "Ingest done in %.1f s: %d drops loaded, %d rejected, %d already loaded; %d rows read, %d loaded, "
        "%d quarantined, %d duplicates",
        seconds, summary.count("loaded"), summary.count("rejected"), summary.count("already_loaded"),
        summary.total("rows_read"), summary.total("rows_loaded"), summary.total("rows_quarantined"),
        summary.total("rows_duplicate"),
    )
    for drop in summary.drops:
        if drop.status == "rejected":
            log.warning("Drop %s rejected (nothing loaded; re-deliver to load): %s", drop.drop_name, drop.reason)
    return {"summary": summary.to_dict(), "seconds": seconds, "source_ids": sources}


def build_result_to_dict(build: DbtBuildResult) -> dict[str, Any]:
    """A plain summary of a dbt build for XCom: each node's name, id, type, status and timing; totals.

    dbt's per-node messages are left out: a failed test's message can quote data.
    """
    nodes = [
        {
            "name": n.name,
            "unique_id": n.unique_id,
            "resource_type": n.resource_type,
            "status": n.status,
            "execution_seconds": round(n.execution_seconds, 3),
        }
        for n in build.nodes
    ]
    statuses: dict[str, int] = {}
    for node in nodes:
        statuses[node["status"]] = statuses.get(node["status"], 0) + 1
    return {
        "success": build.success,
        "statuses": dict(sorted(statuses.items())),
        "elapsed_seconds": round(build.elapsed_seconds, 3),
        "target_path": str(build.target_path),
        "log_path": str(build.log_path),
        "nodes": nodes,
        "linkage": build.linkage,
    }


def build_result_from_dict(data: Mapping[str, Any]) -> DbtBuildResult:
    from masip.dbt_runner import DbtBuildResult, NodeResult

    return DbtBuildResult(
        success=data["success"],
        nodes=tuple(NodeResult(**node) for node in data["nodes"]),
        elapsed_seconds=data["elapsed_seconds"],
        target_path=Path(data["target_path"]),
        log_path=Path(data["log_path"]),
        linkage=data.get("linkage"),
    )


def run_build(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``build`` task: link persons and build every mart with dbt (tests included) on a candidate copy.

    The published warehouse is not touched; ``publish`` swaps the candidate in. Skipped (and so is
    ``publish``) when no drop has been loaded yet: the ``report`` task still lists the rejections.
    """
    from airflow.sdk.exceptions import AirflowSkipException

    from masip.pipeline import build_stage, nothing_loaded_yet, stage

    with fail_without_retry():
        config = resolve_run_config(params)
    with stage("build", config.warehouse):  # before the warehouse is read: another run may be writing it
        if nothing_loaded_yet(config.warehouse):
            raise AirflowSkipException(
                "no drop has been loaded into the warehouse yet (every drop was rejected): nothing to build or "
                "publish; the report task lists the rejected drops"
            )
        log.info("Build: warehouse %s, as of %s", config.warehouse, config.as_of or "latest extract date")
        started = time.perf_counter()
        build = build_stage(config.warehouse, as_of=config.as_of)
    result = build_result_to_dict(build)
    result["seconds"] = round(time.perf_counter() - started, 3)
    log.info("dbt build done in %.1f s: %s", result["seconds"], result["statuses"])
    return result


def quality_report_to_dict(quality: QualityReport) -> dict[str, Any]:
    """Suite names, row and expectation counts, failed expectations (type, column, count): no data values."""
    return {
        "suites": [
            {"suite": s.suite, "rows": s.rows, "evaluated": s.evaluated, "failures": [dict(f) for f in s.failures]}
            for s in quality.suites
        ],
        "results_path": str(quality.results_path),
        "success": quality.success,
    }


def quality_report_from_dict(data: Mapping[str, Any]) -> QualityReport:
    from masip.quality import QualityReport, SuiteResult

    suites = tuple(
        SuiteResult(s["suite"], s["rows"], s["evaluated"], tuple(dict(f) for f in s["failures"]))
        for s in data["suites"]
    )
    return QualityReport(suites, Path(data["results_path"]))


def run_publish(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``publish`` task: validate the candidate with Great Expectations and publish it only if every suite passes.

    A failed check fails the task at once (no retry: the data will not change);
    the published warehouse keeps the last good build.
    """
    with fail_without_retry():
        config = resolve_run_config(params, require_input=False)
    from masip.pipeline import publish_stage

    started = time.perf_counter()
    with fail_without_retry():
        quality = publish_stage(config.warehouse, config.out_dir)
    result = quality_report_to_dict(quality)
    result["seconds"] = round(time.perf_counter() - started, 3)
    log.info("Data quality passed (%d suites) in %.1f s; published %s",
             len(quality.suites), result["seconds"], config.warehouse)
    return result


def run_report(
    params: Mapping[str, Any] | None,
    ingest: Mapping[str, Any],
    build: Mapping[str, Any] | None,
    quality: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The ``report`` task: write the run report; fails (after writing it) if the counts do not reconcile.

    ``build`` and ``quality`` are ``None`` when those tasks were skipped (no drop loaded yet).
    """
    from connectors.ingest import IngestSummary
    from masip.pipeline import report_stage

    with fail_without_retry():
        config = resolve_run_config(params)
    seconds = {"ingest": ingest["seconds"]}
    seconds.update({name: result["seconds"] for name, result in (("build", build), ("quality", quality)) if result})
    report = report_stage(
        config.warehouse,
        config.out_dir,
        IngestSummary.from_dict(ingest["summary"]),
        build_result_from_dict(build) if build else None,
        quality_report_from_dict(quality) if quality else None,
        seconds,
    )
    log.info("Run report written: %s and %s", report.markdown_path, report.json_path)
    log_warnings(report.warnings)
    result = {
        "report_json": str(report.json_path),
        "report_markdown": str(report.markdown_path),
        "reconciliation": report.data["reconciliation"],
        "marts": report.data["warehouse"]["marts"],
    }
    if not report.reconciled:
        with fail_without_retry():
            raise ReconciliationError(f"row counts do not reconcile; see the run report {report.markdown_path}")
    return result


def log_warnings(warnings: Iterable[str]) -> None:
    """The run report's warnings (no marts yet, missing landing copies) as warnings in the task log."""
    for warning in warnings:
        log.warning("%s", warning)


# --------------------------------------------------------------------------- per-source ingest DAGs


def run_report_dir(out_dir: Path, dag_id: str, run_id: str) -> Path:
    """``<out_dir>/runs/<dag_id>/<run_id>/``: one report folder per DAG run (run id made file-name safe)."""
    return out_dir / "runs" / dag_id / re.sub(r"[^A-Za-z0-9._-]", "_", run_id)


def _processed_drops(warehouse: Path) -> tuple[set[tuple[str, str | None]], set[str]] | None:
    """(drop name, manifest sha) of every drop loaded or rejected, and the names of drops rejected unread.

    ``None`` when the warehouse is busy (another process is writing it): the sensor looks again later.
    """
    import duckdb

    if not warehouse.is_file():
        return set(), set()
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.IOException as error:
        if "lock" in str(error).lower():
            return None
        raise WarehouseStateError(
            f"cannot read the warehouse {warehouse} ({type(error).__name__}); is it a MASIP warehouse?"
        ) from None
    try:
        seen: set[tuple[str, str | None]] = set()
        for table in ("ops.loaded_drops", "ops.rejected_drops"):
            try:
                seen |= set(con.execute(f"select drop_name, drop_sha256 from {table}").fetchall())
            except duckdb.CatalogException:  # a warehouse from before that table existed
                continue
    finally:
        con.close()
    unread = {name for name, sha in seen if sha is None}  # manifest unreadable: re-deliver under a new folder name
    return seen, unread


def pending_drops(landing: Path, source_id: str, warehouse: Path) -> list[str] | None:
    """Drop folders ``<landing>/<source_id>_*`` with a ``manifest.json`` not yet loaded nor rejected.

    A drop is identified by folder name and manifest checksum (SPEC §2), so a
    re-delivered or corrected drop is pending again. Folders without a
    ``manifest.json`` are still being delivered and are not pending yet.
    Returns ``None`` if the warehouse is busy.
    """
    from connectors.ingest import find_drops

    drops = [d for d in find_drops(landing, [source_id]) if (d / "manifest.json").is_file()]
    if not drops:
        return []
    processed = _processed_drops(warehouse)
    if processed is None:
        return None
    seen, unread = processed
    pending = []
    for drop in drops:
        sha = hashlib.sha256((drop / "manifest.json").read_bytes()).hexdigest()
        if (drop.name, sha) not in seen and drop.name not in unread:
            pending.append(drop.name)
    return pending


def poke_for_drops(source_id: str, params: Mapping[str, Any] | None, run_type: str | None) -> Any:
    """The ``wait_for_drop`` sensor: done when ``source_id`` has pending drops (their names go to XCom).

    A scheduled run waits (reschedule mode: no worker slot is held between
    looks). A manual run or backfill (re-run one source) goes ahead at once:
    its ingest loads whatever is pending, and re-checks the rest.
    """
    from airflow.sdk import PokeReturnValue

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


def loaded_count(ingest: Mapping[str, Any]) -> int:
    return sum(1 for d in ingest["summary"]["drops"] if d["status"] == "loaded")


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


def run_ingest_report(
    params: Mapping[str, Any] | None, ingest: Mapping[str, Any], dag_id: str, run_id: str
) -> dict[str, Any]:
    """The per-source ``report`` task: this run's report in ``<out_dir>/runs/<dag_id>/<run_id>/``."""
    from connectors.ingest import IngestSummary
    from masip.pipeline import report_stage

    with fail_without_retry():
        config = resolve_run_config(params, require_input=False)
    folder = run_report_dir(config.out_dir, dag_id, run_id)
    report = report_stage(
        config.warehouse, folder, IngestSummary.from_dict(ingest["summary"]), None, None, {"ingest": ingest["seconds"]}
    )
    log.info("Run report written: %s", report.markdown_path)
    log_warnings(report.warnings)
    result = {"report_json": str(report.json_path), "report_markdown": str(report.markdown_path),
              "reconciliation": report.data["reconciliation"]}
    if not report.reconciled:
        with fail_without_retry():
            raise ReconciliationError(f"row counts do not reconcile; see the run report {report.markdown_path}")
    return result


# --------------------------------------------------------------------------- the weekly evaluation DAG


def run_evaluation(params: Mapping[str, Any] | None, week: str) -> dict[str, Any]:
    """The ``evaluation`` task: the attrition and reoffending report of the published warehouse (read-only).

    Written to ``<out_dir>/evaluation/<week>/`` (``week``: the run's date), as
    ``masip evaluate`` does. Fails at once if the warehouse has no evaluation marts.
    """
    with fail_without_retry():
        config = resolve_run_config(params, require_input=False)
        if not config.warehouse.is_file():
            raise WarehouseStateError(f"there is no published warehouse at {config.warehouse} to evaluate yet")
    from masip.evaluation.report import EvaluationError, build_evaluation_report

    out_dir = config.out_dir / "evaluation" / re.sub(r"[^A-Za-z0-9._-]", "_", week)
    started = time.perf_counter()
    try:
        result = build_evaluation_report(config.warehouse, out_dir)
    except EvaluationError as error:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"EvaluationError: {error}") from error
    seconds = round(time.perf_counter() - started, 3)
    reported = sorted(k for k, a in result.analyses.items() if a.is_reported)
    refused = sorted(result.refusals)
    log.info("Evaluation report written in %.1f s: %s (reported: %s; refused: %s)", seconds, result.html_path,
             ", ".join(reported) or "none", ", ".join(refused) or "none")
    return {"report_html": str(result.html_path), "summary_json": str(result.summary_path),
            "as_of": result.as_of.isoformat() if result.as_of else None, "reported": reported,
            "refused": refused, "seconds": seconds}
