"""Task bodies of ``masip_pipeline``, the per-source ingest DAGs' ingest and report, and ``masip_weekly_evaluation``.

(The build DAG's task bodies live in :mod:`masip.build_tasks`.)
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from masip.orchestration.config import resolve_run_config, run_report_dir
from masip.orchestration.errors import (
    ReconciliationError,
    WarehouseStateError,
    fail_without_retry,
)
from masip.orchestration.keys import load_partnership_keyring
from masip.orchestration.xcom import (
    build_result_from_dict,
    build_result_to_dict,
    quality_report_from_dict,
    quality_report_to_dict,
)
from pseudonymisation.keys import keyless

log = logging.getLogger(__name__)

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
    for warning in summary.warnings:
        log.warning("%s", warning)
    for drop in summary.drops:
        if drop.status == "rejected":
            log.warning("Drop %s rejected (nothing loaded; re-deliver to load): %s", drop.drop_name, drop.reason)
    return {"summary": summary.to_dict(), "seconds": seconds, "source_ids": sources}


@keyless  # dbt and the linkage process inherit this process's environment
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


@keyless
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


@keyless
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


@keyless
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


@keyless
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
