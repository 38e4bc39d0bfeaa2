"""Run the dbt project against one warehouse file, in-process.

Why in-process (``dbt.cli.main.dbtRunner``) rather than a ``dbt`` subprocess:
the pipeline, the CLI and the tests get structured per-node results back
(status, timing, dbt's own failure message) and can turn them into one
readable :class:`WarehouseBuildError`, without parsing terminal output.

Each warehouse gets its own dbt target and log directory
(``<warehouse dir>/.dbt/<warehouse stem>/``) so that builds of different
warehouses, e.g. parallel test runs, never share a manifest or log file.
A process parses the project once per warehouse name and dbt variables
(:func:`_parsed_project`), not once per warehouse.
"""

from __future__ import annotations

import errno
import gc
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from masip.code_digest import files_digest, folder_files

#: The dbt project: ``<repo>/dbt_project``, where the repo root is the parent of ``masip/``.
DBT_PROJECT_DIR: Path = Path(__file__).resolve().parent.parent / "dbt_project"

#: dbt must never phone home from a partnership machine (see STACK-NOTES).
_NO_TELEMETRY = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "False", "DO_NOT_TRACK": "1"}

#: dbtRunner keeps process-global state (flags, adapter registry); one build at a time.
_BUILD_LOCK = threading.Lock()

_FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})


@dataclass(frozen=True)
class NodeResult:
    """Outcome of one dbt node (model, seed or test) in a build."""

    name: str
    unique_id: str
    resource_type: str
    status: str
    execution_seconds: float
    message: str | None = None
    defined_in: str | None = None  # the project file that declares the node
    tested_node: str | None = None  # for a data test: the model/seed/source it tests
    compiled_sql_path: str | None = None


@dataclass(frozen=True)
class DbtBuildResult:
    """Outcome of :func:`build_warehouse`: every node's result and the wall time."""

    success: bool
    nodes: tuple[NodeResult, ...]
    elapsed_seconds: float
    target_path: Path
    log_path: Path
    #: the linkage stage's summary (:class:`masip.linkage.stage.LinkageSummary` as a dict) when it ran in this build
    linkage: dict[str, Any] | None = None

    def by_status(self, status: str) -> tuple[NodeResult, ...]:
        return tuple(n for n in self.nodes if n.status == status)


class WarehouseBuildError(RuntimeError):
    """dbt could not build the warehouse; the message says what failed and what to do."""

    def __init__(self, message: str, result: DbtBuildResult | None = None) -> None:
        super().__init__(message)
        self.result = result


def dbt_work_dirs(warehouse: Path) -> tuple[Path, Path]:
    """(target path, log path) of a warehouse: ``<dir>/.dbt/<stem>/{target,logs}``."""
    base = warehouse.resolve().parent / ".dbt" / warehouse.stem
    return base / "target", base / "logs"


@contextmanager
def _environment(overrides: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore them."""
    saved = {k: os.environ.get(k) for k in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _release_duckdb() -> None:
    """Close the DuckDB database that dbt-duckdb keeps open after an in-process run.

    dbt-duckdb holds its connection in a class-level environment that
    outlives ``dbtRunner.invoke``; until it is closed, the caller (or the
    next build, with another configuration) cannot open the warehouse file.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover - dbt-duckdb is a hard dependency
        return
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        if env is not None:
            env.close()
        DuckDBConnectionManager.close_all_connections()
    gc.collect()  # cursors of Python models are only dropped by the collector


def _short_id(unique_id: str | None) -> str | None:
    """``model.masip.stg_police__crimes`` -> ``stg_police__crimes``."""
    return unique_id.split(".")[-1] if unique_id else None


def _node_results(run_result: object) -> tuple[NodeResult, ...]:
    results = getattr(run_result, "results", None) or []
    nodes = []
    for r in results:
        node = r.node
        if node.resource_type == "exposure":  # a product that reads the marts (models/_exposures.yml): nothing is built
            continue
        status = str(getattr(r.status, "value", r.status))
        nodes.append(
            NodeResult(
                name=node.name,
                unique_id=node.unique_id,
                resource_type=str(
                    getattr(node.resource_type, "value", node.resource_type)
                ),
                status=status,
                execution_seconds=float(r.execution_time or 0.0),
                message=r.message,
                defined_in=getattr(node, "original_file_path", None),
                tested_node=_short_id(getattr(node, "attached_node", None)),
                compiled_sql_path=getattr(node, "compiled_path", None),
            )
        )
    return tuple(sorted(nodes, key=lambda n: n.unique_id))


def _short_message(message: str | None, limit: int = 500) -> str:
    """dbt's message on one line; of a Python traceback only the final error line."""
    if not message:
        return "no message from dbt"
    if "Traceback (most recent call last)" in message:
        tail = [line.strip() for line in message.strip().splitlines() if line.strip()]
        message = f"Python model failed: {tail[-1]}"
    flat = " ".join(message.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _failure_message(
    warehouse: Path, result: DbtBuildResult, exception: BaseException | None
) -> str:
    lines = [f"dbt build of warehouse {warehouse} failed."]
    failed = [n for n in result.nodes if n.status in _FAILED_STATUSES]
    for n in failed:
        msg = _short_message(n.message)
        if n.resource_type == "test":
            on = f" on {n.tested_node}" if n.tested_node else ""
            lines.append(
                f"  - data test {n.name}{on} [{n.status}]: {msg} ({n.defined_in})"
            )
            if n.compiled_sql_path:
                lines.append(
                    f"      query that finds the offending rows: {n.compiled_sql_path}"
                )
        else:
            lines.append(
                f"  - {n.resource_type} {n.name} [{n.status}]: {msg} ({n.defined_in})"
            )
    skipped = result.by_status("skipped")
    if skipped:
        lines.append(f"  ({len(skipped)} node(s) skipped because of these failures)")
    if exception is not None:
        lines.append(f"  dbt stopped with {type(exception).__name__}: {exception}")
    if not failed and exception is None:
        lines.append("  dbt reported failure without naming a failed node.")
    lines.append(
        "What to do: a failed data test means rows in the warehouse break a contract - "
        "run its query against the warehouse to see them, fix the ingest or the input "
        "drop that produced them, and re-run. A failed model or seed is an error in the "
        "dbt project or a warehouse that is locked or missing tables - the full error "
        f"and compiled SQL are in dbt's log, {result.log_path / 'dbt.log'}. Nodes "
        "downstream of a failure were not rebuilt, so those tables may be stale or missing."
    )
    return "\n".join(lines)


def _invoked(runner: Any, args: list[str]) -> Any:
    """``runner.invoke(args)``, a stop raised while dbt ran raised again: Ctrl-C, or SIGTERM through the CLI's
    handler or a key rotation's. dbt returns every exception as its result, so a run stopped during the parse went
    on to the end (a key rotation too, to its swaps), and one stopped during the build said its build had failed."""
    res = runner.invoke(args)
    if isinstance(res.exception, KeyboardInterrupt | SystemExit):
        raise res.exception
    return res


#: Parsed dbt projects of this process, by what their parse read (:func:`_parsed_project`), the most recent last.
_PARSED: OrderedDict[tuple[str, ...], Any] = OrderedDict()
_PARSED_KEPT = 4
#: What the project's parse never reads: dbt's own output, and the logs a run of dbt in the folder writes.
_NOT_PARSED = ("target", "logs")


def _parsed_project(warehouse: Path, common: list[str], dbt_vars: str) -> Any:
    """The dbt project parsed (a dbt ``Manifest``) for builds of ``warehouse`` with the options ``common`` and the
    dbt variables ``dbt_vars`` (the JSON that ``common`` passes, or empty), parsed once per process; None when dbt
    cannot parse it (the build then reports why, as without it).

    dbt parses the whole project (about 5 s of a small build) when the target folder has no parse of its own, and
    each warehouse has its own (:func:`dbt_work_dirs`); what a parse makes depends only on the project's files, the
    dbt variables and the database name (the warehouse file's stem), so a parse serves every warehouse of that
    name in the process: the build tasks of one Airflow run, the tests. dbt supports handing a parsed project to
    ``dbtRunner``; its build compiles every node afresh, and writes ``manifest.json`` as before.
    """
    from dbt.cli.main import dbtRunner

    key = (warehouse.stem, files_digest(folder_files(DBT_PROJECT_DIR, skip=_NOT_PARSED), DBT_PROJECT_DIR), dbt_vars)
    if key not in _PARSED:
        parsed = _invoked(dbtRunner(), ["parse", *common])
        if not parsed.success or parsed.result is None:
            return None
        _PARSED[key] = parsed.result
        while len(_PARSED) > _PARSED_KEPT:
            _PARSED.popitem(last=False)
    _PARSED.move_to_end(key)
    return _PARSED[key]


def build_warehouse(
    warehouse: Path,
    as_of: date | None = None,
    select: str | None = None,
    full_refresh: bool = False,
    exclude: str | None = None,
    indirect_selection: str | None = None,
) -> DbtBuildResult:
    """Run ``dbt build`` (seeds, models, tests) against the DuckDB file ``warehouse``.

    ``as_of`` sets the run's reference date (dbt var ``as_of``); by default
    the models use the latest extract_date loaded. ``select`` / ``exclude``
    are dbt node selections (e.g. ``"+victim_journey"``); by default
    everything is built. ``indirect_selection`` is dbt's mode for the tests
    of the selected nodes (``buildable``: a test runs once all its parents
    are built). The staging models are incremental (only records with rows
    in drops loaded since their last build are recomputed); ``full_refresh``
    rebuilds them from all raw rows, as needed after a change to a staging
    model. The person links come from the linkage stage, not from dbt: a
    whole build is :func:`masip.pipeline.build_linked`.

    The caller must not hold ``warehouse`` open while this runs: DuckDB allows
    one writer per file. dbt's terminal output is silenced to errors; its full
    debug log is kept under ``<warehouse dir>/.dbt/<stem>/logs``.

    Raises :class:`WarehouseBuildError` listing every failed model and test
    with dbt's message when anything fails.
    """
    from dbt.cli.main import dbtRunner  # imported lazily: dbt is slow to import

    warehouse = Path(warehouse).resolve()
    if not warehouse.is_file():
        raise WarehouseBuildError(
            f"warehouse {warehouse} does not exist. What to do: run the ingest first "
            "(it creates the raw and ops tables dbt reads), or pass the right path."
        )
    target_path, log_path = dbt_work_dirs(warehouse)
    common = [
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target_path),
        "--log-path",
        str(log_path),
        "--quiet",
        # nothing on the console, not even dbt's traceback of an unhandled error (a full disk while it writes
        # its files): the caller tells the operator what failed and what to do; the log file keeps everything
        "--log-level",
        "none",
        "--log-level-file",
        "debug",
        "--no-use-colors",
        "--no-send-anonymous-usage-stats",
        "--no-version-check",
    ]
    variables: dict[str, object] = {}
    if as_of is not None:
        variables["as_of"] = as_of.isoformat()
    dbt_vars = json.dumps(variables, sort_keys=True) if variables else ""
    if dbt_vars:
        common += ["--vars", dbt_vars]
    args = ["build", *common]
    if full_refresh:
        args.append("--full-refresh")
    if select:
        args += ["--select", select]
    if exclude:
        args += ["--exclude", exclude]
    if indirect_selection:
        args += ["--indirect-selection", indirect_selection]

    started = time.monotonic()
    with (
        _BUILD_LOCK,
        _environment({"MASIP_WAREHOUSE": str(warehouse), **_NO_TELEMETRY}),
    ):
        # a log file that cannot be written (a full disk) is dbt's failure to report, not a traceback on stderr
        raising, logging.raiseExceptions = logging.raiseExceptions, False
        try:
            res = _invoked(dbtRunner(manifest=_parsed_project(warehouse, common, dbt_vars)), args)
        finally:
            logging.raiseExceptions = raising
            _release_duckdb()
    elapsed = time.monotonic() - started

    nodes = _node_results(res.result)
    failed = any(n.status in _FAILED_STATUSES for n in nodes)
    result = DbtBuildResult(
        success=bool(res.success) and not failed and res.exception is None,
        nodes=nodes,
        elapsed_seconds=elapsed,
        target_path=target_path,
        log_path=log_path,
    )
    if not result.success:
        disk = _disk_fault(res.exception, nodes)
        if disk is not None:
            raise disk
        raise WarehouseBuildError(
            _failure_message(warehouse, result, res.exception), result
        )
    return result


#: The system errors of a disk rather than of the project: told to the operator as such (masip.operator_errors).
_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO)


def _disk_fault(exception: BaseException | None, nodes: list[NodeResult]) -> OSError | None:
    """The disk's fault under a failed build, if that is what stopped it: an ``OSError`` of a full, read-only or
    failing disk in the chain of dbt's exception (dbt writing its own files: it wraps it as ``ExceptionExit``,
    whose text is lost), or a node DuckDB stopped for want of space. Otherwise None."""
    seen: set[int] = set()
    while exception is not None and id(exception) not in seen:
        seen.add(id(exception))
        if isinstance(exception, OSError) and exception.errno in _DISK_ERRNOS:
            return exception
        exception = getattr(exception, "exception", None) or exception.__cause__ or exception.__context__
    if any("no space left on device" in (n.message or "").lower() for n in nodes if n.status in _FAILED_STATUSES):
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return None
