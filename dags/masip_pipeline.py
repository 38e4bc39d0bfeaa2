"""The MASIP pipeline as an Airflow DAG: the same stages as ``masip run``.

This file only wires tasks; what each task does lives in
``masip.orchestration`` and ``masip.pipeline``. It does no I/O when parsed.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag, task

from masip import orchestration

DOC_MD = """
# MASIP pipeline (`masip_pipeline`)

Runs the multi-agency stalking data pipeline, exactly as `masip run` does:

1. **ingest**: verify every drop in the landing folder (manifest, checksums),
   pseudonymise identifiers with the partnership key, write every token and
   encoding of an identifier to the linkage vault and the rest of the rows to
   the warehouse's `raw` schema. Each drop is all-or-nothing. A **rejected drop is
   normal**: the run carries on, nothing of that drop is loaded, and the run
   report lists it with its reason (re-deliver it to load it). Drops already
   loaded are skipped, so re-running is safe.
2. **build**: dbt's staging models, then the linkage stage in its own process
   (reads the vault, needs no key), then every other model, tests included, on a
   *candidate* copy of the warehouse (`<name>.candidate.duckdb`). Readers of the
   published warehouse see nothing of it yet.
3. **publish**: validate the candidate with the Great Expectations suites and,
   only if every suite passes, swap it in as the published warehouse. Updates the
   asset `masip://warehouse/marts`. If a check fails, the last good build stays
   published and the rejected candidate is kept for inspection.
   **build** and **publish** are skipped when no drop has been loaded yet (a
   first run whose drops were all rejected): there is nothing to build.
4. **report** (also after a skipped build): write `run_report.json` and
   `run_report.md` to the report folder:
   rows read = loaded + quarantined + duplicates for every file, rejected drops,
   quarantine by rule, data-quality summary, mart sizes. Fails if the counts do
   not reconcile.

## Parameters (all optional; defaults come from the worker's environment at run time)

| parameter | default |
|---|---|
| `input_dir` | `$MASIP_LANDING_DIR` (required one way or the other) |
| `warehouse` | `$MASIP_WAREHOUSE`, else `warehouse/masip.duckdb` |
| `out_dir` | `$MASIP_OUTPUT_DIR`, else `output` |
| `as_of` | latest extract date in the warehouse (`YYYY-MM-DD`) |

## The partnership key

Taken from the password of the Airflow connection **`masip_partnership`**,
else from `MASIP_SECRET_FILE` / `MASIP_SECRET` on the workers, by the `ingest`
task only (build, publish and report never load it). Without a key
the `ingest` task fails at once (no retry) with a message saying where to put
it. The key is never logged or stored in XCom: task results are counts, names
and reasons only.

## Failures and retries

Tasks retry twice with exponential backoff (crashes, a busy file system).
Problems a retry cannot fix fail immediately: no key, a key that does not
match the warehouse's key version, a malformed parameter, failed data-quality
checks, counts that do not reconcile.

Only one run at a time (`max_active_runs=1`): DuckDB has a single writer, and
the tasks run in the pool `masip_warehouse` (one slot) shared with the
per-source DAGs. The per-source DAGs (`masip_ingest_<source>` → `masip_build`)
are the weekly routine; this DAG is for a manual full run: do not run it while
`masip_build` is running (both build the same candidate file).

A failed task writes an alert (DAG, task, run, try, error type and scrubbed
message) to `<out_dir>/ops_alerts.sqlite`, and e-mails/Slacks it if configured
(`MASIP_ALERT_EMAIL`, `MASIP_ALERT_SLACK_CONN_ID`; see `masip/alerts.py`).
"""

#: Retries twice with exponential back-off (2 min, 4 min; at most 30 min); alert callbacks (masip.alerts).
DEFAULT_ARGS: dict[str, Any] = orchestration.default_args()
POOL = orchestration.WAREHOUSE_POOL  # one slot: one DuckDB writer across all MASIP DAGs


@dag(
    dag_id="masip_pipeline",
    description="Ingest, pseudonymise, link, validate, publish and report the partnership's drops (as `masip run`)",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["masip"],
    default_args=DEFAULT_ARGS,
    params=orchestration.run_params(),
    doc_md=DOC_MD,
)
def masip_pipeline() -> None:
    @task(task_id="ingest", pool=POOL)
    def ingest(params: dict[str, Any] | None = None) -> dict[str, Any]:
        return orchestration.run_ingest(params)

    @task(task_id="build", pool=POOL)
    def build(params: dict[str, Any] | None = None) -> dict[str, Any]:
        return orchestration.run_build(params)

    @task(task_id="publish", pool=POOL, outlets=[orchestration.MARTS_ASSET])
    def publish(params: dict[str, Any] | None = None) -> dict[str, Any]:
        return orchestration.run_publish(params)

    @task(task_id="report", pool=POOL, trigger_rule="none_failed")
    def report(
        ingest_result: dict[str, Any],
        build_result: dict[str, Any] | None,
        quality_result: dict[str, Any] | None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return orchestration.run_report(params, ingest_result, build_result, quality_result)

    ingested = ingest()
    built = build()
    published = publish()
    ingested >> built >> published
    report(ingested, built, published)


masip_pipeline()
