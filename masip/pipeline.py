"""The pipeline's stages, shared by the CLI and the Airflow DAGs.

Each stage is a plain function over paths, so a DAG task and a CLI command
call exactly the same code. Stages hand each other only plain data (counts,
names, reasons), never identifiers or keys, so their results are safe to
pass through Airflow XComs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from connectors.ingest import IngestSummary, ingest_drops
from masip.dbt_runner import DbtBuildResult, build_warehouse
from masip.report import RunReport, write_run_report
from pseudonymisation.keys import Keyring


@dataclass
class PipelineResult:
    ingest: IngestSummary
    build: DbtBuildResult
    report: RunReport
    stage_seconds: dict[str, float] = field(default_factory=dict)


def ingest_stage(input_dir: Path, warehouse: Path, keyring: Keyring, show_progress: bool = True) -> IngestSummary:
    """Verify, pseudonymise and load every drop under ``input_dir``."""
    return ingest_drops(input_dir, warehouse, keyring, show_progress=show_progress)


def build_stage(warehouse: Path, as_of: date | None = None) -> DbtBuildResult:
    """Link persons and build every mart with dbt (tests included); raises on any failure."""
    return build_warehouse(warehouse, as_of=as_of)


def report_stage(
    warehouse: Path, out_dir: Path, ingest: IngestSummary, build: DbtBuildResult | None, stage_seconds: dict[str, Any]
) -> RunReport:
    """Write the run report (reconciled counts, rejections, quarantine, mart sizes)."""
    return write_run_report(warehouse, out_dir, ingest, build, stage_seconds)


def run_pipeline(
    input_dir: Path,
    warehouse: Path,
    keyring: Keyring,
    out_dir: Path,
    as_of: date | None = None,
    show_progress: bool = True,
) -> PipelineResult:
    """Ingest → link and build → report, timing each stage."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    ingest = ingest_stage(input_dir, warehouse, keyring, show_progress=show_progress)
    seconds["ingest"] = time.perf_counter() - started
    started = time.perf_counter()
    build = build_stage(warehouse, as_of=as_of)
    seconds["build"] = time.perf_counter() - started
    report = report_stage(warehouse, out_dir, ingest, build, seconds)
    return PipelineResult(ingest=ingest, build=build, report=report, stage_seconds=seconds)
