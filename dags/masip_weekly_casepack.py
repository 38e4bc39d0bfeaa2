"""The weekly MASIP case pack as an Airflow DAG: the same as ``masip casepack``.

This file only wires the task; what it does lives in ``masip.casepack.tasks``
and ``masip.casepack``. It does no I/O when parsed.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag, task

from masip import orchestration
from masip.casepack import tasks

DOC_MD = """
# MASIP weekly case pack (`masip_weekly_casepack`)

Writes the panel coordinator's **weekly case pack** (SPEC §7.2), exactly as
`masip casepack` does: one HTML document and the same as PDF,
`masip-casepack-<as_of>.html` / `.pdf`, in `$MASIP_OUTPUT_DIR/casepacks/`.

## When it runs

After every publication of the warehouse marts: it is scheduled on the asset
`masip://warehouse/marts`, which the pipeline updates only when a build has
passed every data-quality check. The partnership delivers and builds weekly,
so this gives one pack a week, made from the freshly validated marts. A
failed or rejected build publishes nothing, so no pack is made from it; the
last good pack stays in place. Trigger it by hand (with `as_of`) to remake a
pack.

## What it contains

Every case (victim–perpetrator pair) on the MASIP panel, then every other
case with an open flag whose latest risk level is HIGH. Per case: the
pseudonymous ids and each agency's own references, a journey timeline, open
flags with the records behind them, orders in force with expiry, risk level
over time, and what is new in the 7 days up to `as_of`. No plain identifiers:
the warehouse holds none.

## Parameters (all optional)

| parameter | default |
|---|---|
| `warehouse` | `$MASIP_WAREHOUSE`, else `warehouse/masip.duckdb` |
| `out_dir` | `$MASIP_OUTPUT_DIR/casepacks`, else `output/casepacks` |
| `as_of` | the date the warehouse was built as of; another date is computed on a temporary copy (the warehouse is only read) |

## Failures and retries

Retries twice with exponential backoff (a busy file, a browser crash).
Fails at once, without retrying, when the warehouse has no case-pack marts
(rebuild it with the current dbt project) or when `as_of` is malformed.
Without Chromium the HTML pack is written and the PDF skipped, with a warning
in the log and a `.pdf-skipped.txt` note beside the pack (`make browser`
installs it). The task reads the
warehouse, so it runs in the warehouse pool, never beside a writer.
"""


@dag(
    dag_id="masip_weekly_casepack",
    description="Weekly MASIP panel case pack (HTML + PDF) from the published marts (as `masip casepack`)",
    schedule=[orchestration.MARTS_ASSET],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["masip", "casepack"],
    default_args=orchestration.default_args(),
    params=tasks.casepack_params(),
    doc_md=DOC_MD,
)
def masip_weekly_casepack() -> None:
    @task(task_id="casepack", pool=orchestration.WAREHOUSE_POOL)
    def casepack(params: dict[str, Any] | None = None) -> dict[str, Any]:
        return tasks.run_casepack(params)

    casepack()


masip_weekly_casepack()
