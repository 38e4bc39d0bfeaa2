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

Only the ingest stage takes the partnership key. The build (dbt, with the
linkage stage in a child process that has no key in its environment),
the quality gate and publication never need it (SPEC §3 rule 7).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from connectors.ingest import (
    IngestSummary,
    InputFolders,
    default_archive_dir,
    ingest_drops,
)
from connectors.vault import Vault
from masip.child_processes import module_command
from masip.dbt_runner import DbtBuildResult, build_warehouse, dbt_work_dirs
from masip.linkage.stage import run_linkage_process
from masip.operator_errors import killed
from masip.publication import record_publication, staging_refresh_due
from masip.quality import DataQualityError, QualityReport, validate_warehouse
from masip.report import RunReport, write_run_report
from masip.settings import check_settings
from masip.store_swaps import discard_abandoned_rebuilds, rebuilt_path
from masip.warehouse import (
    check_warehouse,
    child_lock_env,
    copy_database,
    loaded_drop_count,
    lock_path,
    replace_database,
    warehouse_file,
    warehouse_lock,
)
from pseudonymisation.keys import Keyring, piped_secret_fds

STAGE_NOTE = "masip stage: "


@contextmanager
def stage(name: str, warehouse: Path) -> Iterator[None]:
    """Run a stage under the warehouse lock, its settings checked first (:func:`masip.settings.check_settings`); an
    exception leaving it carries the stage's name in its notes."""
    try:
        check_settings()
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
    input_dir: InputFolders,
    warehouse: Path,
    keyring: Keyring,
    show_progress: bool = True,
    archive_dir: Path | None = None,
    source_ids: Iterable[str] | None = None,
    vault_dir: Path | None = None,
    reread: bool = False,
) -> IngestSummary:
    """Verify, pseudonymise and load every drop under ``input_dir``, keeping encrypted landing copies (``reread``:
    :func:`connectors.ingest.ingest_drops`).

    Encodings of identifiers go to the linkage vault (``vault_dir``, default
    :meth:`Vault.for_warehouse`), everything else to the warehouse. With
    ``source_ids``, only the drops of those sources (directories ``<source_id>_…``).
    The warehouse is checked first (:func:`masip.warehouse.check_warehouse`): ingest never writes into a
    damaged file or a read-only folder.
    """
    with stage("ingest", warehouse):
        check_warehouse(warehouse)
        vault = Vault.for_warehouse(warehouse, vault_dir).directory
        stores = [warehouse_file(warehouse), vault, archive_dir or default_archive_dir(warehouse)]
        abandoned = discard_abandoned_rebuilds(stores)  # of a key rotation stopped before its swaps
        remove_side_build(rebuilt_path(warehouse_file(warehouse)))
        summary = ingest_drops(
            input_dir, warehouse, keyring, show_progress=show_progress, archive_dir=archive_dir,
            source_ids=source_ids, vault_dir=vault_dir, reread=reread,
        )
        summary.warnings[:0] = abandoned
        return summary


def candidate_path(warehouse: Path) -> Path:
    """Where the next version of the warehouse is built before it is published."""
    return warehouse.with_name(f"{warehouse.stem}.candidate{warehouse.suffix}")


def remove_side_build(side_warehouse: Path) -> None:
    """A key rotation's side warehouse, if still there, and what building it left: its lock file and dbt's folder
    of its candidate (neither holds data). Call under the warehouse lock, which a rotation holds throughout."""
    side_warehouse.unlink(missing_ok=True)
    lock_path(side_warehouse).unlink(missing_ok=True)
    shutil.rmtree(dbt_work_dirs(candidate_path(side_warehouse))[0].parent, ignore_errors=True)


#: dbt nodes built before the linkage stage: seeds, staging models, and the models the linkage reads.
BEFORE_LINKAGE = ("resource_type:seed", "path:models/staging", "tag:linkage_input")
#: dbt nodes built after it: what reads its output (source ``linkage.person_links``), and the rest.
AFTER_LINKAGE = ("source:linkage+", "path:models/intermediate", "path:models/marts")
LINKAGE_INPUT = "tag:linkage_input"
LINKAGE_OUTPUT = "source:linkage+"


def _within(select: str | None, groups: tuple[str, ...]) -> str:
    """The dbt selection of ``groups`` intersected with ``select`` (a space-separated union), if given."""
    if not select:
        return " ".join(groups)
    return " ".join(f"{token},{group}" for token in select.split() for group in groups)


def build_linked(
    warehouse: Path, vault: Vault | None = None, as_of: date | None = None, full_refresh: bool = False,
    select: str | None = None,
) -> DbtBuildResult:
    """dbt before the linkage → the linkage stage (its own keyless process) → dbt after it, on ``warehouse`` in place.

    ``vault`` defaults to :meth:`Vault.for_warehouse`. ``select`` narrows both
    dbt runs (the linkage inputs are always built).
    ``full_refresh`` rebuilds the incremental staging models from every raw
    row and retrains the linkage model; the staging models alone are rebuilt so
    when the staging code differs from the published build's
    (:func:`masip.publication.staging_refresh_due`). Raises
    :class:`masip.dbt_runner.WarehouseBuildError` or
    :class:`masip.linkage.stage.LinkageProcessError`.
    """
    before = build_warehouse(
        warehouse, as_of=as_of, select=f"{_within(select, BEFORE_LINKAGE)} +{LINKAGE_INPUT}", exclude=LINKAGE_OUTPUT,
        full_refresh=full_refresh or staging_refresh_due(warehouse), indirect_selection="buildable",
    )
    linkage = run_linkage_process(warehouse, vault or Vault.for_warehouse(warehouse), retrain=full_refresh)
    after = build_warehouse(
        warehouse, as_of=as_of, select=_within(select, AFTER_LINKAGE), exclude=LINKAGE_INPUT,
        full_refresh=full_refresh, indirect_selection="buildable",
    )
    return DbtBuildResult(
        success=before.success and after.success,
        nodes=before.nodes + after.nodes,
        elapsed_seconds=before.elapsed_seconds + linkage.seconds + after.elapsed_seconds,
        target_path=after.target_path,
        log_path=after.log_path,
        linkage=linkage.to_dict(),
    )


def build_stage(
    warehouse: Path, as_of: date | None = None, full_refresh: bool = False, vault_dir: Path | None = None
) -> DbtBuildResult:
    """Link persons and build every mart with dbt (tests included) on a candidate copy.

    The published warehouse is untouched until ``publish_stage`` accepts the
    candidate, and the new linkage state waits in the vault as a candidate
    too, so a failed build never leaves half-built marts where readers look,
    nor a state its published links did not come from.
    """
    with stage("build", warehouse):
        candidate = candidate_path(warehouse)
        copy_database(warehouse, candidate)
        return build_linked(
            candidate, Vault.for_warehouse(warehouse, vault_dir), as_of=as_of, full_refresh=full_refresh
        )


def publish_stage(
    warehouse: Path, out_dir: Path, vault_dir: Path | None = None, full_validation: bool = False
) -> QualityReport:
    """Validate the candidate with Great Expectations; publish it and its linkage state only if every suite passes.

    The gate validates what changed since the published build (``warehouse``), or every row with
    ``full_validation`` or when there is no published build yet (:func:`masip.quality.validate_warehouse`).
    The candidate records which drops it was built from (:mod:`masip.publication`) before it is swapped in.

    The state is renamed into place first, then the warehouse. A crash between
    the two leaves a state whose build id is not the warehouse's: the next
    build notices and retrains the linkage model, so it converges. Then the
    vault drops the encodings the published build superseded or deleted
    (:meth:`connectors.vault.Vault.prune`).
    """
    with stage("quality", warehouse):
        candidate = candidate_path(warehouse)
        quality = validate_warehouse(
            candidate, out_dir / "data_quality", published=None if full_validation else warehouse
        )
        if not quality.success:
            raise DataQualityError(
                "data-quality checks failed, so the marts were NOT published "
                f"({warehouse} still holds the last good build):\n{quality.describe_failures()}\n"
                f"Full results: {quality.results_path}. The rejected build is kept at {candidate} for inspection; "
                "fix the source data or the model, then re-run."
            )
        record_publication(candidate, quality.scope, quality.rules)
        vault = Vault.for_warehouse(warehouse, vault_dir)
        if vault.state_candidate_path.is_file():
            replace_database(vault.state_candidate_path, vault.state_path)
        replace_database(candidate, warehouse)
        vault.prune(warehouse)
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
    input_dir: InputFolders,
    warehouse: Path,
    keyring: Keyring,
    out_dir: Path,
    as_of: date | None = None,
    show_progress: bool = True,
    archive_dir: Path | None = None,
    full_refresh: bool = False,
    vault_dir: Path | None = None,
) -> PipelineResult:
    """Ingest → link and build → validate and publish → report, timing each stage, under one warehouse lock.

    Ingest runs in this process (the CLI runs it in a child process instead:
    :func:`run_ingest_process`). When no drop has been loaded yet (a first run
    whose drops were all rejected), there is nothing to build or publish: the
    run report lists the rejections and the run succeeds.
    """
    with warehouse_lock(warehouse, "run"):
        started = time.perf_counter()
        ingest = ingest_stage(
            input_dir, warehouse, keyring, show_progress=show_progress, archive_dir=archive_dir, vault_dir=vault_dir
        )
        return build_and_publish(
            warehouse, out_dir, ingest, time.perf_counter() - started, as_of=as_of, full_refresh=full_refresh,
            vault_dir=vault_dir, archive_dir=archive_dir,
        )


def build_and_publish(
    warehouse: Path,
    out_dir: Path,
    ingest: IngestSummary,
    ingest_seconds: float,
    as_of: date | None = None,
    full_refresh: bool = False,
    vault_dir: Path | None = None,
    archive_dir: Path | None = None,
) -> PipelineResult:
    """Link and build → validate and publish → report, after ``ingest``: everything of a run that needs no key.

    Skips build and publication when no drop has been loaded yet (nothing to build).
    """
    seconds: dict[str, float] = {"ingest": ingest_seconds}
    build: DbtBuildResult | None = None
    quality: QualityReport | None = None
    with warehouse_lock(warehouse, "run"):
        if not nothing_loaded_yet(warehouse):
            started = time.perf_counter()
            build = build_stage(warehouse, as_of=as_of, full_refresh=full_refresh, vault_dir=vault_dir)
            seconds["build"] = time.perf_counter() - started
            started = time.perf_counter()
            quality = publish_stage(warehouse, out_dir, vault_dir=vault_dir, full_validation=full_refresh)
            seconds["quality"] = time.perf_counter() - started
        report = report_stage(warehouse, out_dir, ingest, build, quality, seconds, archive_dir=archive_dir)
    return PipelineResult(ingest=ingest, build=build, quality=quality, report=report, stage_seconds=seconds)


class IngestProcessError(RuntimeError):
    """The ingest process failed; it has said why on standard error."""

    def __init__(self, exit_code: int) -> None:
        if exit_code < 0:  # killed: it could say nothing
            super().__init__(
                f"{killed('the ingest process', exit_code)}. Each drop is loaded whole or not at all, so the drops it "
                "finished stay loaded. What to do: check the machine's memory (its system log names the killer), then re-run: "
                "it loads the rest."
            )
        else:
            super().__init__(f"the ingest process failed with exit code {exit_code}; its error is above")
        self.exit_code = exit_code


def run_ingest_process(input_dir: Path, warehouse: Path, vault_dir: Path | None = None) -> tuple[IngestSummary, float]:
    """:func:`ingest_stage` as ``masip ingest`` in a child process: the only process of a CLI run that loads the key.

    Its progress and errors go to this process's standard error; its summary
    (counts, names and reasons) comes back as JSON. Returns the summary and
    the seconds it took.
    """
    started = time.perf_counter()
    command = module_command("masip.cli", "ingest", "--input", str(input_dir), "--warehouse", str(warehouse))
    if vault_dir is not None:
        command += ["--vault", str(vault_dir)]
    environment = {**os.environ, **child_lock_env(warehouse)}
    # the pipe holding the secret, when `masip` moved it there from its environment (masip.cli.entry)
    done = subprocess.run(
        command, stdout=subprocess.PIPE, text=True, check=False, env=environment, pass_fds=piped_secret_fds()
    )
    if done.returncode != 0:
        raise IngestProcessError(done.returncode)
    summary = IngestSummary.from_dict(json.loads(done.stdout.strip().splitlines()[-1]))
    return summary, time.perf_counter() - started
