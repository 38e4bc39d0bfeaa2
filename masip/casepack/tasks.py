"""The Airflow task body of ``dags/masip_weekly_casepack.py``.

Nothing happens at import time (the DAG processor imports this module when
it parses ``dags/``): paths come from the run's parameters or, at run time,
the worker's environment, and the heavy modules are imported inside the task.
The task returns counts and paths only (no identifiers) for XCom.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from airflow.sdk import Param

from masip.cli_options import DEFAULT_OUT, DEFAULT_WAREHOUSE
from masip.orchestration import OUTPUT_ENV, WAREHOUSE_ENV, RunConfigError
from masip.orchestration.config import confined_param, param_text
from pseudonymisation.keys import keyless

log = logging.getLogger(__name__)

#: Packs go to <output folder>/casepacks/masip-casepack-<as_of>.{html,pdf}
CASEPACK_SUBDIR = "casepacks"


class CasePackConfigError(ValueError):
    """A run parameter is malformed; retrying will not fix it."""


def casepack_params() -> dict[str, Param]:
    """Run parameters of the case-pack DAG; all default to None (the environment fills them in at run time)."""
    optional_string = ["null", "string"]
    return {
        "warehouse": Param(None, type=optional_string, title="Warehouse file",
                           description=f"DuckDB warehouse. Default: ${WAREHOUSE_ENV}, else {DEFAULT_WAREHOUSE}."),
        "out_dir": Param(None, type=optional_string, title="Case pack folder",
                         description=f"Where the pack is written. Default: ${OUTPUT_ENV}/{CASEPACK_SUBDIR}, "
                                     f"else {DEFAULT_OUT}/{CASEPACK_SUBDIR}."),
        "as_of": Param(None, type=optional_string, format="date", title="Week to",
                       description="YYYY-MM-DD; default: the date the warehouse was built as of."),
    }


def resolve_casepack_config(params: Mapping[str, Any] | None,
                            environ: Mapping[str, str] | None = None) -> tuple[Path, Path, date | None]:
    """(warehouse, output folder, as_of) from the run parameters, else the worker's environment at run time."""
    params = params or {}
    env = os.environ if environ is None else environ
    try:
        warehouse = Path(confined_param(params, "warehouse", env, WAREHOUSE_ENV) or param_text(env.get(WAREHOUSE_ENV))
                         or DEFAULT_WAREHOUSE)
        out_dir = confined_param(params, "out_dir", env, OUTPUT_ENV)
    except RunConfigError as refused:
        raise CasePackConfigError(str(refused)) from None
    if out_dir is None:
        out_dir = str(Path(param_text(env.get(OUTPUT_ENV)) or DEFAULT_OUT) / CASEPACK_SUBDIR)
    as_of_text = param_text(params.get("as_of"))
    try:
        as_of = date.fromisoformat(as_of_text) if as_of_text else None
    except ValueError:
        raise CasePackConfigError(f"as_of {as_of_text!r} is not a date; use YYYY-MM-DD") from None
    return warehouse, Path(out_dir), as_of


@keyless  # Chromium and Playwright's driver inherit this process's environment
def run_casepack(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``casepack`` task: write the weekly case pack (HTML + PDF) from the published warehouse."""
    from airflow.sdk.exceptions import AirflowFailException

    from masip.casepack import CasePackError, build_casepack

    try:
        warehouse, out_dir, as_of = resolve_casepack_config(params)
    except CasePackConfigError as error:
        raise AirflowFailException(str(error)) from error
    log.info("Case pack: warehouse %s, folder %s, as of %s", warehouse, out_dir, as_of or "the warehouse's as_of")
    try:
        result = build_casepack(warehouse, out_dir, as_of)
    except CasePackError as error:  # a retry will not build marts
        raise AirflowFailException(f"{type(error).__name__}: {error}") from error
    log.info("Case pack for the week to %s: %d cases (%d on the panel); %s and %s", result.as_of, result.cases,
             result.panel_cases, result.html_path, result.pdf_path)
    return result.to_dict()
