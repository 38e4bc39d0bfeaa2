"""Run parameters of the MASIP DAGs, resolved at run time from the DAG run's ``params`` and the worker's environment.

Also the settings every DAG shares: :func:`default_args` and the warehouse pool.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Param

from masip import alerts
from masip.cli_options import DEFAULT_OUT, DEFAULT_WAREHOUSE, checked_as_of
from masip.orchestration.errors import RunConfigError
from masip.warehouse import warehouse_file

LANDING_ENV = "MASIP_LANDING_DIR"
WAREHOUSE_ENV = "MASIP_WAREHOUSE"
OUTPUT_ENV = "MASIP_OUTPUT_DIR"


#: Every task that writes (or copies) the warehouse or its candidate runs in this pool. Create it with
#: ONE slot (``airflow pools set masip_warehouse 1 ...``; scripts/airflow_local.sh and the Docker
#: init do): DuckDB allows one writer per file, and the per-source DAGs would otherwise ingest at
#: the same time. Tasks in a pool that does not exist are never scheduled.
WAREHOUSE_POOL = "masip_warehouse"


def default_args() -> dict[str, Any]:
    """``default_args`` of every MASIP DAG: retries with exponential back-off, and the alert callbacks."""
    return {
        "owner": "masip",
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": 2.0,  # Airflow 3.3: a multiplier, not a bool
        "max_retry_delay": timedelta(minutes=30),
        "execution_timeout": timedelta(hours=2),
        "on_failure_callback": [alerts.on_task_failure],
        "on_retry_callback": [alerts.on_task_retry],
    }


# --------------------------------------------------------------------------- parameters


def run_params() -> dict[str, Param]:
    """The DAG's run parameters. All default to ``None``: the environment fills them in at run time."""
    optional_string = ["null", "string"]
    return {
        "input_dir": Param(
            None,
            type=optional_string,
            title="Landing folder",
            description=f"Folder holding the drops, one sub-folder per drop. Default: ${LANDING_ENV}.",
        ),
        "warehouse": Param(
            None,
            type=optional_string,
            title="Warehouse file",
            description=f"DuckDB warehouse file. Default: ${WAREHOUSE_ENV}, else {DEFAULT_WAREHOUSE}.",
        ),
        "out_dir": Param(
            None,
            type=optional_string,
            title="Report folder",
            description=f"Folder for run_report.json/.md. Default: ${OUTPUT_ENV}, else {DEFAULT_OUT}.",
        ),
        "as_of": Param(
            None,
            type=optional_string,
            format="date",
            title="Reference date",
            description="YYYY-MM-DD; default: the latest extract date in the warehouse.",
        ),
    }


def ingest_params() -> dict[str, Param]:
    """Parameters of the per-source ingest DAGs (no ``as_of``: ingest does not depend on it)."""
    params = run_params()
    return {name: params[name] for name in ("input_dir", "warehouse", "out_dir")}


def build_params() -> dict[str, Param]:
    """Parameters of ``masip_build`` (no landing folder: it reads the warehouse only; see
    :mod:`masip.orchestration.coalesce` for ``settle_minutes`` and ``rebuild``)."""
    params = run_params()
    return {
        **{name: params[name] for name in ("warehouse", "out_dir", "as_of")},
        "settle_minutes": Param(
            None,
            type=["null", "number"],
            minimum=0,
            title="Settle window (minutes)",
            description="Wait until no source has delivered for this long before building; 0 builds at once. "
            "Default: $MASIP_BUILD_SETTLE_MINUTES, else 15.",
        ),
        "rebuild": Param(
            None,
            type=["null", "boolean"],
            title="Rebuild",
            description="Build even if no drop was loaded since the published build (otherwise such a run is a no-op).",
        ),
    }


@dataclass(frozen=True)
class RunConfig:
    input_dir: Path | None  # None only for DAGs that do not read the landing folder
    warehouse: Path
    out_dir: Path
    as_of: date | None

    def describe(self) -> str:
        as_of = self.as_of.isoformat() if self.as_of else "latest extract date"
        return f"input {self.input_dir}, warehouse {self.warehouse}, report folder {self.out_dir}, as of {as_of}"


def param_text(value: Any) -> str | None:
    """A parameter value, treating ``None`` and blank strings (empty UI form fields) as not given."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def confined_param(params: Mapping[str, Any], name: str, env: Mapping[str, str], root_env: str) -> str | None:
    """The path the run parameter ``name`` gives, refused unless it lies inside the folder the workers' ``root_env``
    sets (for the warehouse, that warehouse's folder, and a warehouse that exists: a mistyped name would start a new,
    empty warehouse, vault and landing archive). Without ``root_env`` set any path is taken, as a local run needs.

    Anyone who may trigger a DAG may set its parameters; the ingest task holds the key, and `..` or another folder
    made it read another partnership's drops and write reports anywhere (outside check, 2026-12-06)."""
    given, root_text = param_text(params.get(name)), param_text(env.get(root_env))
    if given is None or root_text is None:
        return given
    root = Path(root_text).resolve()
    if name == "warehouse":
        root = root.parent
    path = Path(given).resolve()
    if not path.is_relative_to(root):
        raise RunConfigError(
            f"the parameter {name} names a path outside {root} (set by {root_env} on the workers); it is refused, "
            f"and nothing was read or written. What to do: leave {name} empty, or name a path inside {root}."
        )
    if name == "warehouse" and not warehouse_file(path).is_file():
        raise RunConfigError(
            f"the parameter warehouse names no existing warehouse in {root}; it is refused (a mistyped name would start "
            f"a new, empty one). What to do: leave it empty for {root_env}'s warehouse, or name one that exists."
        )
    return given


def resolve_run_config(
    params: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None, require_input: bool = True
) -> RunConfig:
    """Run parameters, falling back to the environment *of the worker at run time*; a path parameter must lie
    inside the folder the environment sets for it (:func:`confined_param`)."""
    params = params or {}
    env = os.environ if environ is None else environ
    input_dir = confined_param(params, "input_dir", env, LANDING_ENV) or param_text(env.get(LANDING_ENV))
    if input_dir is None and require_input:
        raise RunConfigError(
            f"No landing folder: trigger the run with the parameter input_dir, or set {LANDING_ENV} on the workers."
        )
    if require_input and not Path(input_dir).is_dir():
        raise RunConfigError(
            f"the landing folder {input_dir} is not a folder (it does not exist, or is a file). What to do: pass "
            f"input_dir the folder that holds the drops, or set {LANDING_ENV} on the workers to it."
        )
    warehouse = (confined_param(params, "warehouse", env, WAREHOUSE_ENV) or param_text(env.get(WAREHOUSE_ENV))
                 or str(DEFAULT_WAREHOUSE))
    out_dir = confined_param(params, "out_dir", env, OUTPUT_ENV) or param_text(env.get(OUTPUT_ENV)) or str(DEFAULT_OUT)
    as_of_text = param_text(params.get("as_of"))
    as_of: date | None = None
    if as_of_text is not None:
        try:
            parsed = date.fromisoformat(as_of_text)
        except ValueError:
            raise RunConfigError(f"as_of={as_of_text!r} is not a date; use YYYY-MM-DD") from None
        try:
            as_of = checked_as_of(parsed)
        except ValueError as error:
            raise RunConfigError(f"as_of: {error}") from None
    return RunConfig(Path(input_dir) if input_dir else None, warehouse_file(Path(warehouse)), Path(out_dir), as_of)


def run_report_dir(out_dir: Path, dag_id: str, run_id: str) -> Path:
    """``<out_dir>/runs/<dag_id>/<run_id>/``: one report folder per DAG run (run id made file-name safe)."""
    return out_dir / "runs" / dag_id / re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
