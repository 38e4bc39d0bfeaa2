"""The pipeline's stages, shared by the CLI and the Airflow DAGs.

Each stage is a plain function over paths, so a DAG task and a CLI command
call exactly the same code. Stages hand each other only plain data (counts,
names, reasons), never identifiers or keys, so their results are safe to
pass through Airflow XComs.

Every stage holds the warehouse lock (:mod:`masip.warehouse`) while it runs,
so a CLI run and an Airflow task never write the same warehouse at once, and
marks any exception with its stage name (``masip stage: <name>`` in the
exception's notes), so the CLI can say where an unexpected error happened
without quoting it.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from connectors.ingest import IngestSummary, ingest_drops
from masip.dbt_runner import DbtBuildResult, build_warehouse
from masip.quality import DataQualityError, QualityReport, validate_warehouse
from masip.report import RunReport, write_run_report
from masip.warehouse import check_warehouse, loaded_drop_count, warehouse_lock
from pseudonymisation.keys import Keyring

STAGE_NOTE = "masip stage: "


@contextmanager
def stage(name: str, warehouse: Path) -> Iterator[None]:
    """Run a stage under the warehouse lock; an exception leaving it carries the stage's name in its notes."""
    try:
        with warehouse_lock(warehouse, name):
            yield
    except Exception as error:
        if not any(note.startswith(STAGE_NOTE) for note in getattr(error, "__notes__", ())):
            error.add_note(STAGE_NOTE + name)
        raise


def stage_of(error: BaseException) -> str | None:
    """The stage an exception left (see :func:`stage`), if any."""
    notes = [n for n in getattr(error, "__notes__", ()) if n.startswith(STAGE_NOTE)]
    return notes[0][len(STAGE_NOTE):] if notes else None


def nothing_loaded_yet(warehouse: Path) -> bool:
    """True when no drop has ever been loaded (e.g. a first run whose drops were all rejected): nothing to build."""
    return loaded_drop_count(warehouse) == 0


@dataclass
class PipelineResult:
    ingest: IngestSummary
    build: DbtBuildResult | None  # None when nothing has been loaded yet (nothing to build)
    quality: QualityReport | None
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
    The warehouse is checked first (:func:`masip.warehouse.check_warehouse`): ingest never writes into a
    damaged file or a read-only folder.
    """
    with stage("ingest", warehouse):
        check_warehouse(warehouse)
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
    with stage("build", warehouse):
        candidate = candidate_path(warehouse)
        shutil.copyfile(warehouse, candidate)
        return build_warehouse(candidate, as_of=as_of, full_refresh=full_refresh)


def publish_stage(warehouse: Path, out_dir: Path) -> QualityReport:
    """Validate the candidate with Great Expectations; publish it only if every suite passes."""
    with stage("quality", warehouse):
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
    archive_dir: Path | None = None,
) -> RunReport:
    """Write the run report (reconciled counts, rejections, quarantine, quality, mart sizes, warnings)."""
    with stage("report", warehouse):
        return write_run_report(warehouse, out_dir, ingest, build, quality, stage_seconds, archive_dir=archive_dir)


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
    """Ingest → link and build → validate and publish → report, timing each stage, under one warehouse lock.

    When no drop has been loaded yet (a first run whose drops were all rejected), there is nothing to build
    or publish: the run report lists the rejections and the run succeeds.
    """
    seconds: dict[str, float] = {}
    build: DbtBuildResult | None = None
    quality: QualityReport | None = None
    with warehouse_lock(warehouse, "run"):
        started = time.perf_counter()
        ingest = ingest_stage(input_dir, warehouse, keyring, show_progress=show_progress, archive_dir=archive_dir)
        seconds["ingest"] = time.perf_counter() - started
        if not nothing_loaded_yet(warehouse):
            started = time.perf_counter()
            build = build_stage(warehouse, as_of=as_of, full_refresh=full_refresh)
            seconds["build"] = time.perf_counter() - started
            started = time.perf_counter()
            quality = publish_stage(warehouse, out_dir)
            seconds["quality"] = time.perf_counter() - started
        report = report_stage(warehouse, out_dir, ingest, build, quality, seconds, archive_dir=archive_dir)
    return PipelineResult(ingest=ingest, build=build, quality=quality, report=report, stage_seconds=seconds)
