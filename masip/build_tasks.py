"""Airflow task bodies of ``dags/masip_build.py``: dbt per model group on a candidate copy, the gate, the report.

Split out of :mod:`masip.orchestration` (parameters, key, error policy and the
other DAGs' tasks live there). As there, nothing happens at import time, and
every task that writes the warehouse or its candidate holds the warehouse
lock (:mod:`masip.warehouse`), so a ``masip run`` on the same warehouse and
this DAG never write at once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from masip.orchestration import (
    DbtDataTestFailed,
    RunConfig,
    RunConfigError,
    WarehouseStateError,
    build_result_from_dict,
    build_result_to_dict,
    fail_without_retry,
    log_warnings,
    quality_report_from_dict,
    resolve_run_config,
    run_publish,
    run_report_dir,
)
from masip.output_files import write_output
from pseudonymisation.keys import keyless

log = logging.getLogger(__name__)

#: dbt model groups, in build order; one Airflow task each (see :func:`dbt_group_selection`).
#: The linkage task runs between the first two.
DBT_MODEL_GROUPS = ("staging", "intermediate", "marts")
#: dbt tag of the models the linkage stage reads (built with the staging group).
LINKAGE_INPUT_TAG = "linkage_input"
#: dbt source the linkage stage writes (what reads it is built after the linkage task).
LINKAGE_SOURCE = "linkage"

@keyless  # no build task loads the key: dbt, GX and their children inherit this environment
def prepare_candidate(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``prepare_candidate`` task: checkpoint the warehouse and copy it to the candidate that dbt builds.

    Fails at once (no retry) if there is no warehouse yet, it is damaged or it is not a MASIP warehouse;
    retries if another run holds it. Skipped (with the whole build) when no drop has been loaded yet
    (every drop so far was rejected, and the ingest runs' reports list them), and when no drop was loaded,
    no clerical review decision imported and no code changed since the published build (a queued run behind
    the one that built them: a no-op, see :mod:`masip.orchestration.coalesce`).
    """
    import duckdb
    from airflow.sdk.exceptions import AirflowSkipException

    from connectors.vault import Vault
    from masip.orchestration.coalesce import skip_if_nothing_new
    from masip.pipeline import candidate_path, nothing_loaded_yet, stage
    from masip.publication import whats_new
    from masip.warehouse import check_warehouse, copy_database

    with fail_without_retry():
        config = resolve_run_config(params, require_input=False)
    warehouse = config.warehouse
    with stage("build", warehouse):
        with fail_without_retry():
            if not warehouse.is_file():
                raise WarehouseStateError(
                    f"there is no warehouse at {warehouse} yet: run the ingest DAGs (masip_ingest_<source>) or "
                    "masip_pipeline first, or pass the right `warehouse` parameter"
                )
            check_warehouse(warehouse)
            con = duckdb.connect(str(warehouse))
            try:
                con.execute("checkpoint")  # everything in the .duckdb file, so that a file copy is complete
                try:
                    drops = con.execute("select count(*) from ops.loaded_drops").fetchone()[0]
                except duckdb.CatalogException:
                    raise WarehouseStateError(
                        f"{warehouse} is a DuckDB file but not a MASIP warehouse (no ops.loaded_drops); check the path"
                    ) from None
            finally:
                con.close()
        if nothing_loaded_yet(warehouse):
            raise AirflowSkipException(
                "no drop has been loaded into the warehouse yet (every drop so far was rejected): nothing to build; "
                "the ingest runs' reports list the rejected drops"
            )
        new = whats_new(warehouse, Vault.for_warehouse(warehouse))
        skip_if_nothing_new(params, new)
        candidate = candidate_path(warehouse)
        copy_database(warehouse, candidate)
    log.info("Candidate %s prepared from %s (%d drops loaded, %d since the published build; %d clerical review "
             "decisions imported since; code %s)", candidate.name, warehouse, drops, len(new["drops"]),
             new["review_decisions"], "changed since" if new["code_changed"] else "the same")
    return {"warehouse": str(warehouse), "candidate": str(candidate), "drops_loaded": drops,
            "new_drops": new["drops"], "new_review_decisions": new["review_decisions"],
            "code_changed": new["code_changed"]}


def _buildable_nodes(manifest: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    project = manifest.get("metadata", {}).get("project_name")
    return {
        uid: node for uid, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "seed", "snapshot")
        and (project is None or node.get("package_name") == project)
    }


def dbt_model_groups(manifest: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every model and seed of the project, partitioned into :data:`DBT_MODEL_GROUPS` (names, sorted).

    * staging: seeds, ``models/staging`` and the models tagged :data:`LINKAGE_INPUT_TAG`
      (what the linkage task reads) with what they read, except what reads the linkage's output;
    * intermediate: the rest of ``models/intermediate``, and the staging models of
      the linkage's output (source :data:`LINKAGE_SOURCE`);
    * marts: everything else (``models/marts`` and any other folder).

    Raises :class:`RunConfigError` if a node depends on a node of a later group
    (the order would build it on stale tables).
    """
    nodes = _buildable_nodes(manifest)
    by_name = {uid: node["name"] for uid, node in nodes.items()}

    def folder(uid: str) -> str:
        path = str(nodes[uid].get("original_file_path", ""))
        return path.split("/")[1] if path.startswith("models/") and path.count("/") >= 2 else ""

    def parents(uid: str) -> list[str]:
        return list(nodes[uid].get("depends_on", {}).get("nodes", []))

    def reads_linkage(parent: str) -> bool:
        return parent.startswith("source.") and parent.split(".")[-2] == LINKAGE_SOURCE

    after_linkage: set[str] = set()
    changed = True
    while changed:  # the descendants of the linkage source, to a fixed point
        changed = False
        for uid in set(nodes) - after_linkage:
            if any(p in after_linkage or reads_linkage(p) for p in parents(uid)):
                after_linkage.add(uid)
                changed = True
    staging = {
        u for u in nodes
        if nodes[u]["resource_type"] == "seed" or folder(u) == "staging" or LINKAGE_INPUT_TAG in nodes[u].get("tags", [])
    } - after_linkage
    ancestors = [u for u in staging if LINKAGE_INPUT_TAG in nodes[u].get("tags", [])]
    while ancestors:  # and what the linkage's inputs read (dbt's "+tag:linkage_input"), as the staging build selects
        ancestors = [p for u in ancestors for p in parents(u) if p in nodes and p not in staging]
        staging.update(ancestors)
    intermediate = {u for u in nodes if folder(u) in ("staging", "intermediate")} - staging
    groups = {
        "staging": staging,
        "intermediate": intermediate,
        "marts": set(nodes) - staging - intermediate,
    }
    order = {uid: i for i, g in enumerate(DBT_MODEL_GROUPS) for uid in groups[g]}
    for uid in nodes:
        for parent in parents(uid):
            if parent in order and order[parent] > order[uid]:
                raise RunConfigError(
                    f"dbt model {by_name[uid]} ({DBT_MODEL_GROUPS[order[uid]]} group) depends on {by_name[parent]} "
                    f"({DBT_MODEL_GROUPS[order[parent]]} group), which is built later; move one of them"
                )
    return {g: sorted(by_name[u] for u in groups[g]) for g in DBT_MODEL_GROUPS}


def dbt_group_selection(group: str, manifest_path: Path | None) -> tuple[str, str | None]:
    """``dbt build`` ``--select`` and ``--exclude`` of one group. Staging first: its build writes the manifest."""
    if group == "staging":
        from masip.pipeline import BEFORE_LINKAGE, LINKAGE_INPUT, LINKAGE_OUTPUT

        return f"{' '.join(BEFORE_LINKAGE)} +{LINKAGE_INPUT}", LINKAGE_OUTPUT
    if manifest_path is None or not manifest_path.is_file():
        raise WarehouseStateError(
            f"no dbt manifest at {manifest_path}: the staging group must run first in this build (clear the whole "
            "build run, from prepare_candidate, to rebuild)"
        )
    names = dbt_model_groups(json.loads(manifest_path.read_text(encoding="utf-8")))[group]
    return " ".join(names), None


@keyless
def run_dbt_group(params: Mapping[str, Any] | None, group: str) -> dict[str, Any]:
    """A ``dbt_<group>`` task: ``dbt build`` (models, seeds and their tests) of one model group on the candidate.

    A failed data test fails at once (the data will not change on retry); a
    failed model (e.g. the file is locked, a crash) is retried.
    """
    from masip.dbt_runner import WarehouseBuildError, build_warehouse, dbt_work_dirs
    from masip.pipeline import stage
    from masip.publication import staging_refresh_due

    with fail_without_retry():
        if group not in DBT_MODEL_GROUPS:
            raise RunConfigError(f"unknown dbt model group {group!r}; one of {DBT_MODEL_GROUPS}")
    config, candidate = _build_candidate(params)
    with fail_without_retry():
        target_path, _ = dbt_work_dirs(candidate)
        selection, exclude = dbt_group_selection(group, target_path / "manifest.json")
        # the incremental staging models, after a release that changed how they stage rows: from every raw row
        full_refresh = group == "staging" and staging_refresh_due(candidate)
    if not selection:
        log.info("dbt group %s is empty", group)
        return {"group": group, "selection": "", **_empty_build(target_path)}
    log.info("dbt build of the %s group on %s (as of %s)%s", group, candidate.name, config.as_of or "latest extract",
             ": the staging code changed since the published build, so every raw row is staged again"
             if full_refresh else "")
    started = time.perf_counter()
    try:
        # a test runs in the first group in which all its parents are built
        with stage("build", config.warehouse):
            build = build_warehouse(
                candidate, as_of=config.as_of, select=selection, exclude=exclude, indirect_selection="buildable",
                full_refresh=full_refresh,
            )
    except WarehouseBuildError as error:
        failed_tests = [n for n in (error.result.nodes if error.result else ()) if n.status == "fail"]
        if failed_tests:
            with fail_without_retry():
                raise DbtDataTestFailed(str(error)) from None
        raise
    result = build_result_to_dict(build)
    result.update(group=group, selection=selection, seconds=round(time.perf_counter() - started, 3))
    log.info("dbt %s group done in %.1f s: %s", group, result["seconds"], result["statuses"])
    return result


@keyless
def run_link(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The build DAG's ``link`` task: the linkage stage on the candidate, in a child process with no key.

    It reads the candidate's live record roles and their encodings in the
    linkage vault, and writes ``linkage.person_links`` into the candidate and
    the new linkage state into the vault's state candidate (published with the warehouse).
    """
    from connectors.vault import Vault
    from masip.linkage.stage import run_linkage_process
    from masip.pipeline import stage

    config, candidate = _build_candidate(params)
    # a missing or foreign vault fails at once (LinkageInputError); a crash is retried
    with fail_without_retry(), stage("build", config.warehouse):
        summary = run_linkage_process(candidate, Vault.for_warehouse(config.warehouse))
    log.info("Linkage done in %.1f s: %d record roles, %d persons (model %s), %d pairs await clerical review",
             summary.seconds, summary.roles, summary.persons, "retrained" if summary.retrained else "reused",
             summary.review_queue)
    return summary.to_dict()


def _build_candidate(params: Mapping[str, Any] | None) -> tuple[RunConfig, Path]:
    """The run's configuration and the candidate this build works on; fails at once (no retry) without one."""
    from masip.pipeline import candidate_path

    with fail_without_retry():
        config = resolve_run_config(params, require_input=False)
        candidate = candidate_path(config.warehouse)
        if not candidate.is_file():
            raise WarehouseStateError(
                f"no candidate {candidate}: prepare_candidate did not run in this build, or another run published "
                "or replaced it; clear the whole build run to rebuild"
            )
    return config, candidate


def _empty_build(target_path: Path) -> dict[str, Any]:
    return {"success": True, "statuses": {}, "elapsed_seconds": 0.0, "target_path": str(target_path),
            "log_path": str(target_path.parent / "logs"), "nodes": [], "seconds": 0.0}


def _loaded_drops(path: Path) -> set[tuple[str, str]]:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        return set(con.execute("select drop_name, drop_sha256 from ops.loaded_drops").fetchall())


@keyless
def run_publish_candidate(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The build DAG's ``publish`` task: the Great Expectations gate, then the swap (as ``masip_pipeline``).

    Skipped, not failed, if drops were loaded into the warehouse while this
    build ran: publishing the candidate would drop them. Their asset events
    have queued another build, which publishes them.
    """
    from airflow.sdk.exceptions import AirflowSkipException

    from masip.pipeline import stage

    config, candidate = _build_candidate(params)
    with stage("quality", config.warehouse):
        missing = _loaded_drops(config.warehouse) - _loaded_drops(candidate)
        if missing:
            names = ", ".join(sorted(name for name, _ in missing))
            raise AirflowSkipException(
                f"{len(missing)} drop(s) were loaded while this build ran ({names}): not publishing a build without "
                "them; the build run their asset events queued will publish them"
            )
        return run_publish(params)


def describe_triggers(events: Mapping[Any, Any] | None) -> list[dict[str, Any]]:
    """The asset events that triggered a build run: asset, source DAG run and the extra (counts and drop names)."""
    triggers = []
    for asset, asset_events in (events or {}).items():
        for event in asset_events:
            triggers.append({
                "asset": getattr(asset, "uri", str(asset)),
                "source_dag_id": getattr(event, "source_dag_id", None),
                "source_run_id": getattr(event, "source_run_id", None),
                "extra": dict(getattr(event, "extra", None) or {}),
            })
    return triggers


@keyless
def run_build_report(
    params: Mapping[str, Any] | None,
    groups: list[Mapping[str, Any]],
    linkage: Mapping[str, Any],
    quality: Mapping[str, Any],
    dag_id: str,
    run_id: str,
    triggers: list[dict[str, Any]],
) -> dict[str, Any]:
    """The build DAG's ``report`` task: this run's report in ``<out_dir>/runs/<dag_id>/<run_id>/``.

    The drops themselves are in the reports of the ingest runs that loaded
    them (listed in ``airflow_run.json`` when the build was asset-triggered).
    """
    from connectors.ingest import IngestSummary
    from masip.dbt_runner import DbtBuildResult
    from masip.pipeline import report_stage

    with fail_without_retry():
        config = resolve_run_config(params, require_input=False)
    folder = run_report_dir(config.out_dir, dag_id, run_id)
    builds = [build_result_from_dict(g) for g in groups]
    build = DbtBuildResult(
        success=all(b.success for b in builds),
        nodes=tuple(n for b in builds for n in b.nodes),
        elapsed_seconds=sum(b.elapsed_seconds for b in builds) + linkage["seconds"],
        target_path=builds[-1].target_path,
        log_path=builds[-1].log_path,
        linkage=dict(linkage),
    )
    seconds = {f"dbt_{g['group']}": g["seconds"] for g in groups}
    seconds["linkage"] = linkage["seconds"]
    seconds["quality"] = quality["seconds"]
    # the key version (a fingerprint of the key, not of an identifier) as the linkage found it in the vault
    ingest = IngestSummary(run_id=run_id, key_version=linkage.get("key_version") or "none")
    report = report_stage(config.warehouse, folder, ingest, build, quality_report_from_dict(quality), seconds)
    summary = {
        "dag_id": dag_id,
        "run_id": run_id,
        "triggered_by": triggers,
        "dbt_groups": [{"group": g["group"], "statuses": g["statuses"], "seconds": g["seconds"]} for g in groups],
        "linkage": {
            k: linkage.get(k) for k in ("build_id", "roles", "persons", "retrained", "seconds", "review_queue")
        },
        "quality_success": quality["success"],
        "marts": report.data["warehouse"]["marts"],
    }
    write_output(folder / "airflow_run.json", json.dumps(summary, indent=2, default=str))
    log.info("Run report written: %s (marts: %d tables)", report.markdown_path, len(summary["marts"]))
    log_warnings(report.warnings)
    return {"report_json": str(report.json_path), "report_markdown": str(report.markdown_path),
            "marts": report.data["warehouse"]["marts"], "review_queue": report.data["warehouse"]["review_queue"],
            "triggered_by": triggers}
