"""The MASIP build DAG: dbt per model group and the linkage stage on a candidate copy, then the Great Expectations gate and the swap.

Scheduled on the per-source assets (``masip://warehouse/raw/<source_id>``) or
daily: a run starts when any source has new data, waits for the batch of
deliveries to settle, and builds them all once. What each task does lives in
``masip.orchestration`` and ``masip.build_tasks``; parsing reads the source
profiles and nothing else.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pendulum
from airflow.sdk import dag, task

from masip import build_tasks, orchestration
from masip.orchestration import coalesce

DOC_MD = """
# MASIP build (`masip_build`)

Runs when **any** source's asset `masip://warehouse/raw/<source_id>` is updated
(an ingest DAG loaded new drops), daily at 06:00 UTC (drops loaded outside
Airflow, e.g. `masip ingest`), or when triggered by hand. **One build per batch
of deliveries**:

0. **settle**: waits (reschedule mode) until no source asset has been updated
   for the settle window (`settle_minutes`, default 15; never more than an hour
   in all), so that a Monday's deliveries are built together. `settle_minutes=0`
   builds at once.
1. **prepare_candidate**: checkpoint the warehouse and copy it to the candidate
   `<name>.candidate.duckdb`. Fails at once if there is no warehouse yet or it is
   damaged (truncated, corrupt, not a MASIP warehouse: restore the last good
   copy); skipped, with the whole build, if no drop has been loaded yet, **or if
   no drop was loaded since the published build**: the runs that deliveries
   queued behind a build finish at once as no-ops (`rebuild=true` builds anyway).
2. **dbt_staging → link → dbt_intermediate → dbt_marts**: `dbt build`
   (models, seeds and their tests) of one model group each, on the candidate:
   seeds, staging and the live record roles; then **link**, the linkage stage in
   its own process (`masip link`, no key in its environment): it joins the live
   record roles to their encodings in the linkage vault, links persons, writes
   `linkage.person_links` into the candidate and the new linkage state into the
   vault's state candidate; then the rest of the intermediate models (from the
   person links on); the marts. Each test runs in the first group in which all
   its parents are built. A failed **data test** fails at once; a failed model
   (locked file, crash) is retried. After a fix, *clear* the failed task and
   those after it: the candidate keeps the groups already built.
3. **publish**: the Great Expectations suites on the candidate; only if every
   suite passes are it and the vault's linkage state candidate swapped in as the
   published warehouse and state (asset `masip://warehouse/marts`). A failed check fails here, at once: the last good
   build stays published and the rejected candidate is kept for inspection.
   *Skipped* if drops were loaded while this build ran (the build their asset
   events queued publishes them).
4. **report**: this run's report in `<out_dir>/runs/masip_build/<run id>/`
   (`run_report.md/.json`, `airflow_run.json` with the triggering ingest runs).

A re-run over unchanged data rebuilds identical marts. No task of this DAG loads
the partnership key. One run at a time; every task that writes runs in the pool
`masip_warehouse` (one slot: one DuckDB writer).
Failures write an alert to `<out_dir>/ops_alerts.sqlite` (and e-mail/Slack if configured).

## Parameters (optional; defaults from the worker's environment at run time)

| parameter | default |
|---|---|
| `warehouse` | `$MASIP_WAREHOUSE`, else `warehouse/masip.duckdb` (the linkage vault: `$MASIP_VAULT_DIR`, else `vault/` beside it) |
| `out_dir` | `$MASIP_OUTPUT_DIR`, else `output` |
| `as_of` | latest extract date in the warehouse (`YYYY-MM-DD`) |
| `settle_minutes` | `$MASIP_BUILD_SETTLE_MINUTES`, else 15 |
| `rebuild` | false: a run with nothing new (no drop, no review decision, no code change since the published build) is a no-op |
"""


@dag(
    dag_id="masip_build",
    description="dbt per model group and the linkage stage on a candidate copy, GX gate, publish (once per batch of deliveries)",
    schedule=orchestration.build_schedule(orchestration.source_ids()),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["masip", "build", "dbt"],
    default_args=orchestration.default_args(),
    params=orchestration.build_params(),
    doc_md=DOC_MD,
)
def masip_build() -> None:
    pool = orchestration.WAREHOUSE_POOL
    sources = [orchestration.source_asset(s) for s in orchestration.source_ids()]

    @task.sensor(
        task_id="settle", inlets=sources, mode="reschedule", poke_interval=coalesce.SETTLE_POKE_INTERVAL,
        timeout=coalesce.MAX_SETTLE_WAIT * 2, doc_md="Waits until no source has delivered for the settle window.",
    )
    def settle(params: dict[str, Any] | None = None, inlet_events: Any = None, dag_run: Any = None) -> Any:
        return coalesce.poke_settled(params, inlet_events, sources, getattr(dag_run, "start_date", None))

    @task(task_id="prepare_candidate", pool=pool)
    def prepare_candidate(params: dict[str, Any] | None = None) -> dict[str, Any]:
        return build_tasks.prepare_candidate(params)

    def dbt_group(group: str):
        @task(task_id=f"dbt_{group}", pool=pool, doc_md=f"`dbt build` of the {group} model group on the candidate.")
        def run(params: dict[str, Any] | None = None) -> dict[str, Any]:
            return build_tasks.run_dbt_group(params, group)

        return run()

    @task(task_id="link", pool=pool, doc_md="The linkage stage on the candidate, in its own process (no key).")
    def link(params: dict[str, Any] | None = None) -> dict[str, Any]:
        return build_tasks.run_link(params)

    @task(task_id="publish", pool=pool, outlets=[orchestration.MARTS_ASSET])
    def publish(params: dict[str, Any] | None = None) -> dict[str, Any]:
        return build_tasks.run_publish_candidate(params)

    @task(task_id="report", pool=pool)
    def report(
        groups: list[dict[str, Any]],
        linkage: dict[str, Any],
        quality: dict[str, Any],
        params: dict[str, Any] | None = None,
        run_id: str | None = None,
        triggering_asset_events: Any = None,
    ) -> dict[str, Any]:
        return build_tasks.run_build_report(
            params, groups, linkage, quality, "masip_build", run_id or "manual",
            build_tasks.describe_triggers(triggering_asset_events),
        )

    settled = settle()
    prepared = prepare_candidate()
    staging, *after_linkage = [dbt_group(g) for g in build_tasks.DBT_MODEL_GROUPS]
    linked = link()
    published = publish()
    chain = [settled, prepared, staging, linked, *after_linkage, published]
    for before, after in pairwise(chain):
        before >> after
    report([staging, *after_linkage], linked, published)


masip_build()
