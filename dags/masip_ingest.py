"""One ingest DAG per MASIP source, generated from the source profiles (``connectors/profiles/*.yaml``).

Onboarding a new force or service is one new profile YAML: its DAG
``masip_ingest_<source_id>`` appears at the next parse, with no DAG code.
Parsing reads the profile files and nothing else (no landing folder, no
warehouse, no key). What each task does lives in ``masip.orchestration``.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from masip import orchestration

DOC_MD = """
# MASIP ingest for `{source_id}` (`{dag_id}`)

Loads the drops of **one source**, `{source_id}`, and nothing else: only the
folders `<landing>/{source_id}_*` are looked at, so this DAG can be re-run or
backfilled without touching any other source.

1. **wait_for_drop** (sensor, reschedule mode: no worker slot is held while
   waiting): looks every {poke} minutes for a folder `{source_id}_*` holding a
   `manifest.json` that is neither loaded nor rejected yet (a drop is its
   folder name + manifest checksum). A scheduled (daily) run that sees no new
   drop for {timeout} hours ends as *skipped*. A **manual run goes ahead at once**.
2. **ingest**: verify, pseudonymise (partnership key) and load the pending drops,
   each all-or-nothing: every token and encoding of an identifier into the linkage
   vault (`$MASIP_VAULT_DIR`, else `vault/` beside the warehouse), the rest into the
   warehouse's `raw` schema. The only task that loads the key. Drops already loaded
   are skipped, so re-running is safe. A **rejected drop does not fail the run**:
   it is recorded in `ops.rejected_drops` and listed in the run report (re-deliver it).
3. **announce**: updates the asset `masip://warehouse/raw/{source_id}`, which
   triggers `masip_build`, only if something new was loaded (else *skipped*).
4. **report**: this run's report in `<out_dir>/runs/{dag_id}/<run id>/`.

## Operating

- **Re-run this source**: trigger this DAG (parameters optional). It picks up
  every drop of `{source_id}` that is not loaded yet, oldest folder first.
- **Backfill** (late history, a re-delivery): put the drop folders in the landing
  folder and trigger this DAG, or `airflow backfill create --dag-id {dag_id} ...`;
  runs are idempotent, so overlapping ranges are harmless.
- Failures write an alert to `<out_dir>/ops_alerts.sqlite` (and e-mail/Slack if
  configured). No key, or a key that does not match the vault's: fails at once.
  Tasks writing the warehouse run in the pool `masip_warehouse` (one slot).

## Parameters (optional; defaults from the worker's environment at run time)

| parameter | default |
|---|---|
| `input_dir` | `$MASIP_LANDING_DIR` |
| `warehouse` | `$MASIP_WAREHOUSE`, else `warehouse/masip.duckdb` |
| `out_dir` | `$MASIP_OUTPUT_DIR`, else `output` |
"""


def make_ingest_dag(source_id: str) -> DAG:
    dag_id = orchestration.ingest_dag_id(source_id)
    asset = orchestration.source_asset(source_id)
    with DAG(
        dag_id=dag_id,
        description=f"Watch the landing folder for {source_id} drops; ingest them; update its asset",
        schedule="@daily",
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        tags=["masip", "ingest", f"source:{source_id}"],
        default_args=orchestration.default_args(),
        params=orchestration.ingest_params(),
        doc_md=DOC_MD.format(
            source_id=source_id, dag_id=dag_id,
            poke=int(orchestration.DROP_POKE_INTERVAL.total_seconds() // 60),
            timeout=int(orchestration.DROP_WAIT_TIMEOUT.total_seconds() // 3600),
        ),
    ) as dag:

        @task.sensor(
            task_id="wait_for_drop",
            mode="reschedule",
            poke_interval=orchestration.DROP_POKE_INTERVAL,
            timeout=orchestration.DROP_WAIT_TIMEOUT,
            soft_fail=True,
        )
        def wait_for_drop(params: dict[str, Any] | None = None, dag_run: Any = None) -> Any:
            return orchestration.poke_for_drops(source_id, params, getattr(dag_run, "run_type", None))

        @task(task_id="ingest", pool=orchestration.WAREHOUSE_POOL)
        def ingest(pending: list[str], params: dict[str, Any] | None = None) -> dict[str, Any]:
            return orchestration.run_ingest(params, source_ids=[source_id])

        @task(task_id="announce", outlets=[asset])
        def announce(ingest_result: dict[str, Any], outlet_events: Any = None) -> dict[str, Any]:
            return orchestration.announce_source_update(source_id, ingest_result, outlet_events)

        @task(task_id="report", pool=orchestration.WAREHOUSE_POOL)
        def report(ingest_result: dict[str, Any], params: dict[str, Any] | None = None,
                   run_id: str | None = None) -> dict[str, Any]:
            return orchestration.run_ingest_report(params, ingest_result, dag_id, run_id or "manual")

        ingested = ingest(wait_for_drop())
        announce(ingested)
        report(ingested)
    return dag


for _source_id in orchestration.source_ids():
    _dag = make_ingest_dag(_source_id)
    globals()[_dag.dag_id] = _dag
