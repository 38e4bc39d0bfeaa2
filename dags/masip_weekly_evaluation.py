"""The weekly MASIP evaluation report as an Airflow DAG: the same as ``masip evaluate``.

This file only wires the task; what it does lives in ``masip.orchestration``
and ``masip.evaluation``. It does no I/O when parsed.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import CronTriggerTimetable, dag, task

from masip import orchestration

DOC_MD = """
# MASIP weekly evaluation (`masip_weekly_evaluation`)

Writes the partnership's **evaluation report** (attrition, SPEC §7.3;
reoffending, SPEC §7.4), exactly as `masip evaluate` does, from the published
warehouse (read-only): `evaluation_report.html`, charts, the published
(disclosure-controlled) CSVs and `evaluation_summary.json`, in
`<out_dir>/evaluation/<run date>/`.

## When it runs

Weekly, **Tuesdays 06:00 UK time**: after the Monday extracts have been
delivered, ingested and built (`masip_ingest_<source>` → `masip_build`). It
reads whatever build is published then; a failed build leaves the last good
one published, so the report is never made from unvalidated marts. Trigger it
by hand to remake this week's report.

## Failures and retries

Retries twice with exponential backoff (a busy file). Fails at once when there
is no published warehouse or it has no evaluation marts (rebuild with the
current dbt project). A cohort too small to report (under 60 people) does not
fail: that analysis is refused and the report says why. The task reads the
warehouse, so it runs in the pool `masip_warehouse`, never beside a writer.

## Parameters (all optional)

| parameter | default |
|---|---|
| `warehouse` | `$MASIP_WAREHOUSE`, else `warehouse/masip.duckdb` |
| `out_dir` | `$MASIP_OUTPUT_DIR`, else `output` |
"""


@dag(
    dag_id="masip_weekly_evaluation",
    description="Weekly attrition and reoffending evaluation report from the published marts (as `masip evaluate`)",
    schedule=CronTriggerTimetable("0 6 * * 2", timezone="Europe/London"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["masip", "evaluation", "weekly"],
    default_args=orchestration.default_args(),
    params={k: v for k, v in orchestration.build_params().items() if k in ("warehouse", "out_dir")},
    doc_md=DOC_MD,
)
def masip_weekly_evaluation() -> None:
    @task(task_id="evaluation", pool=orchestration.WAREHOUSE_POOL)
    def evaluation(params: dict[str, Any] | None = None, dag_run: Any = None) -> dict[str, Any]:
        run_after = getattr(dag_run, "run_after", None)  # Airflow 3: manual runs may have no logical date
        return orchestration.run_evaluation(params, run_after.date().isoformat() if run_after else "manual")

    evaluation()


masip_weekly_evaluation()
