"""The pipeline's stages, shared by the CLI and the Airflow DAGs.

Each stage is a plain function over paths, so a DAG task and a CLI command
call exactly the same code. Stages hand each other only plain data (counts,
names, reasons), never identifiers or keys, so their results are safe to
pass through Airflow XComs.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from connectors.ingest import IngestSummary, ingest_drops
from masip.dbt_runner import DbtBuildResult, build_warehouse
from masip.quality import DataQualityError, QualityReport, validate_warehouse
from masip.report import RunReport, write_run_report
from pseudonymisation.keys import Keyring


@dataclass
class PipelineResult:
    ingest: IngestSummary
    build: DbtBuildResult
    quality: QualityReport
    report: RunReport
    stage_seconds: dict[str, float] = field(default_factory=dict)


def ingest_stage(
    input_dir: Path,
    warehouse: Path,
    keyring: Keyring,
    show_progress: bool = True,
    archive_dir: Path | None = None,
    source_ids: Iterable[str] | None = None,
) -> IngestSummary:
    """Verify, pseudonymise and load every drop under ``input_dir``, keeping encrypted landing copies.

    With ``source_ids``, only the drops of those sources (directories ``<source_id>_…``).
    """
    return ingest_drops(
        input_dir, warehouse, keyring, show_progress=show_progress, archive_dir=archive_dir, source_ids=source_ids
    )


def candidate_path(warehouse: Path) -> Path:
    """Where the next version of the warehouse is built before it is published."""
    return warehouse.with_name(f"{warehouse.stem}.candidate{warehouse.suffix}")


def build_stage(warehouse: Path, as_of: date | None = None, full_refresh: bool = False) -> DbtBuildResult:
    """Link persons and build every mart with dbt (tests included) on a candidate copy.

    The published warehouse is untouched until ``publish_stage`` accepts the
    candidate, so a failed build never leaves half-built marts where readers look.
    """
    candidate = candidate_path(warehouse)
    shutil.copyfile(warehouse, candidate)
    return build_warehouse(candidate, as_of=as_of, full_refresh=full_refresh)


def publish_stage(warehouse: Path, out_dir: Path) -> QualityReport:
    """Validate the candidate with Great Expectations; publish it only if every suite passes."""
    candidate = candidate_path(warehouse)
    quality = validate_warehouse(candidate, out_dir / "data_quality")
    if not quality.success:
        raise DataQualityError(
            "data-quality checks failed, so the marts were NOT published "
            f"({warehouse} still holds the last good build):\n{quality.describe_failures()}\n"
            f"Full results: {quality.results_path}. The rejected build is kept at {candidate} for inspection; "
            "fix the source data or the model, then re-run."
        )
    os.replace(candidate, warehouse)
    return quality


def report_stage(
    warehouse: Path,
    out_dir: Path,
    ingest: IngestSummary,
    build: DbtBuildResult | None,
    quality: QualityReport | None,
    stage_seconds: dict[str, Any],
) -> RunReport:
    """Write the run report (reconciled counts, rejections, quarantine, quality, mart sizes)."""
    return write_run_report(warehouse, out_dir, ingest, build, quality, stage_seconds)


def run_pipeline(
    input_dir: Path,
    warehouse: Path,
    keyring: Keyring,
    out_dir: Path,
    as_of: date | None = None,
    show_progress: bool = True,
    archive_dir: Path | None = None,
    full_refresh: bool = False,
) -> PipelineResult:
    """Ingest → link and build → validate and publish → report, timing each stage."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    ingest = ingest_stage(input_dir, warehouse, keyring, show_progress=show_progress, archive_dir=archive_dir)
    seconds["ingest"] = time.perf_counter() - started
    started = time.perf_counter()
    build = build_stage(warehouse, as_of=as_of, full_refresh=full_refresh)
    seconds["build"] = time.perf_counter() - started
    started = time.perf_counter()
    quality = publish_stage(warehouse, out_dir)
    seconds["quality"] = time.perf_counter() - started
    report = report_stage(warehouse, out_dir, ingest, build, quality, seconds)
    return PipelineResult(ingest=ingest, build=build, quality=quality, report=report, stage_seconds=seconds)
