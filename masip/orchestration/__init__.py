"""Airflow glue for the MASIP DAGs: run parameters, the partnership key, and the task bodies.

The DAG files in ``dags/`` only wire tasks together; everything a task does
lives here (and, below that, in ``masip.pipeline``, the same stage functions
the ``masip`` CLI runs).

The DAGs:

* ``masip_pipeline`` — manual end-to-end run, the same as ``masip run``.
* ``masip_ingest_<source>`` — one per source profile (``connectors/profiles/*.yaml``):
  waits for that source's new drops (``<landing>/<source_id>_*/manifest.json`` not
  yet loaded or rejected), ingests only them, and updates the asset
  ``masip://warehouse/raw/<source_id>`` when something was loaded.
* ``masip_build`` — scheduled on any of those assets: dbt's staging group on a
  candidate copy, the linkage stage (its own process, reading the linkage
  vault; no key), dbt's intermediate and marts groups, then the Great
  Expectations gate and the swap (asset ``masip://warehouse/marts``). Its task
  bodies live in ``masip.build_tasks``.
* ``masip_weekly_evaluation`` — weekly (Tuesdays), the evaluation report of the
  published warehouse. (``masip_weekly_casepack``, on the marts asset, lives in
  ``masip.casepack.tasks``.)

The package, by concern (each module imports nothing heavy at import time):

* :mod:`~masip.orchestration.config` — run parameters, :func:`default_args`, the warehouse pool;
* :mod:`~masip.orchestration.assets` — the source and marts assets;
* :mod:`~masip.orchestration.keys` — the partnership key (ingest tasks only);
* :mod:`~masip.orchestration.errors` — which failures a retry cannot fix;
* :mod:`~masip.orchestration.xcom` — the plain summaries tasks pass on;
* :mod:`~masip.orchestration.drops` — the per-source drop sensor and asset announcement;
* :mod:`~masip.orchestration.coalesce` — one build per batch of deliveries (settle window, no-op runs);
* :mod:`~masip.orchestration.tasks` — the other DAGs' task bodies.

Every task gets :func:`default_args`: retries with exponential back-off and the
alert callbacks of :mod:`masip.alerts`. Tasks that write the warehouse run in the
one-slot pool :data:`WAREHOUSE_POOL`.

Two rules hold for everything in this package:

* **Nothing happens at import time** beyond defining constants: the DAG
  processor imports it every time it parses ``dags/``. Paths, dates
  and the key are resolved when a task runs, and heavy modules (DuckDB, dbt)
  are imported inside the task functions.
* **The secret never leaves** :func:`load_partnership_keyring`.

The names below are this package's public interface: DAG files and other
modules import them from ``masip.orchestration``.
"""

from masip.orchestration.assets import (
    MARTS_ASSET,
    MARTS_ASSET_URI,
    SOURCE_ASSET_URI_TEMPLATE,
    any_source_updated,
    build_schedule,
    ingest_dag_id,
    source_asset,
    source_asset_uri,
    source_ids,
)
from masip.orchestration.config import (
    LANDING_ENV,
    OUTPUT_ENV,
    WAREHOUSE_ENV,
    WAREHOUSE_POOL,
    RunConfig,
    build_params,
    default_args,
    ingest_params,
    resolve_run_config,
    run_params,
    run_report_dir,
)
from masip.orchestration.drops import (
    DROP_POKE_INTERVAL,
    DROP_WAIT_TIMEOUT,
    announce_source_update,
    pending_drops,
    poke_for_drops,
)
from masip.orchestration.errors import (
    DbtDataTestFailed,
    ReconciliationError,
    RunConfigError,
    WarehouseStateError,
    fail_without_retry,
)
from masip.orchestration.keys import PARTNERSHIP_CONN_ID, load_partnership_keyring
from masip.orchestration.tasks import (
    log_warnings,
    run_build,
    run_evaluation,
    run_ingest,
    run_ingest_report,
    run_publish,
    run_report,
)
from masip.orchestration.xcom import (
    build_result_from_dict,
    build_result_to_dict,
    quality_report_from_dict,
    quality_report_to_dict,
)

__all__ = [
    "DROP_POKE_INTERVAL",
    "DROP_WAIT_TIMEOUT",
    "LANDING_ENV",
    "MARTS_ASSET",
    "MARTS_ASSET_URI",
    "OUTPUT_ENV",
    "PARTNERSHIP_CONN_ID",
    "SOURCE_ASSET_URI_TEMPLATE",
    "WAREHOUSE_ENV",
    "WAREHOUSE_POOL",
    "DbtDataTestFailed",
    "ReconciliationError",
    "RunConfig",
    "RunConfigError",
    "WarehouseStateError",
    "announce_source_update",
    "any_source_updated",
    "build_params",
    "build_result_from_dict",
    "build_result_to_dict",
    "build_schedule",
    "default_args",
    "fail_without_retry",
    "ingest_dag_id",
    "ingest_params",
    "load_partnership_keyring",
    "log_warnings",
    "pending_drops",
    "poke_for_drops",
    "quality_report_from_dict",
    "quality_report_to_dict",
    "resolve_run_config",
    "run_build",
    "run_evaluation",
    "run_ingest",
    "run_ingest_report",
    "run_params",
    "run_publish",
    "run_report",
    "run_report_dir",
    "source_asset",
    "source_asset_uri",
    "source_ids",
]
