"""Airflow glue for the MASIP DAGs: run parameters, the partnership key, and the task bodies.

The DAG files in ``dags/`` only wire tasks together; everything a task does
lives here (and, below that, in ``masip.pipeline``, the same stage functions
the ``masip`` CLI runs).

Two rules hold for everything in this module:

* **Nothing happens at import time** beyond defining constants: the DAG
  processor imports this module every time it parses ``dags/``. Paths, dates
  and the key are resolved when a task runs, and heavy modules (DuckDB, dbt)
  are imported inside the task functions.
* **The secret never leaves** :func:`load_partnership_keyring`: it is not
  logged, not returned through XCom and not put into any exception message.
  Task results are plain counts, names and reasons.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, Param

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


class RunConfigError(ValueError):
    """A run parameter is missing or malformed; retrying will not fix it."""


class ReconciliationError(RuntimeError):
    """Row counts in the run report do not reconcile (read ≠ loaded + quarantined + duplicates)."""


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


@dataclass(frozen=True)
class RunConfig:
    input_dir: Path
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


def resolve_run_config(params: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None) -> RunConfig:
    """Run parameters, falling back to the environment *of the worker at run time*."""
    params = params or {}
    env = os.environ if environ is None else environ
    input_dir = _given(params.get("input_dir")) or _given(env.get(LANDING_ENV))
    if input_dir is None:
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
    return RunConfig(Path(input_dir), Path(warehouse), Path(out_dir), as_of)


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

    Those are: no key, a key that does not match the warehouse's key version, a
    malformed parameter, failed data-quality checks, counts that do not
    reconcile. The message is kept; none of these exceptions carries key material.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from connectors.ingest import KeyVersionMismatch
    from masip.quality import DataQualityError

    try:
        yield
    except (MissingKeyError, KeyVersionMismatch, RunConfigError, DataQualityError, ReconciliationError) as error:
        raise AirflowFailException(f"{type(error).__name__}: {error}") from error


def run_ingest(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``ingest`` task: verify, pseudonymise and load every drop. Rejected drops are reported, not fatal."""
    with fail_without_retry():
        keyring = load_partnership_keyring()  # first: no key, no work
        config = resolve_run_config(params)
    from masip.pipeline import ingest_stage

    log.info("Ingest: %s", config.describe())
    started = time.perf_counter()
    with fail_without_retry():
        summary = ingest_stage(config.input_dir, config.warehouse, keyring, show_progress=False)
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
    return {"summary": summary.to_dict(), "seconds": seconds}


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
    }


def build_result_from_dict(data: Mapping[str, Any]) -> DbtBuildResult:
    from masip.dbt_runner import DbtBuildResult, NodeResult

    return DbtBuildResult(
        success=data["success"],
        nodes=tuple(NodeResult(**node) for node in data["nodes"]),
        elapsed_seconds=data["elapsed_seconds"],
        target_path=Path(data["target_path"]),
        log_path=Path(data["log_path"]),
    )


def run_build(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``build`` task: link persons and build every mart with dbt (tests included) on a candidate copy.

    The published warehouse is not touched; ``publish`` swaps the candidate in.
    """
    with fail_without_retry():
        config = resolve_run_config(params)
    from masip.pipeline import build_stage

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
        config = resolve_run_config(params)
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
    build: Mapping[str, Any],
    quality: Mapping[str, Any],
) -> dict[str, Any]:
    """The ``report`` task: write the run report; fails (after writing it) if the counts do not reconcile."""
    from connectors.ingest import IngestSummary
    from masip.pipeline import report_stage

    with fail_without_retry():
        config = resolve_run_config(params)
    seconds = {"ingest": ingest["seconds"], "build": build["seconds"], "quality": quality["seconds"]}
    report = report_stage(
        config.warehouse,
        config.out_dir,
        IngestSummary.from_dict(ingest["summary"]),
        build_result_from_dict(build),
        quality_report_from_dict(quality),
        seconds,
    )
    log.info("Run report written: %s and %s", report.markdown_path, report.json_path)
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
