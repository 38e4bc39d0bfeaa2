"""The Spark build, as its own process: ``python -m masip.spark.job --inputs DIR --work DIR --out DIR``.

One SparkSession in local mode serves the whole build (Spark's start-up is
the slow part):

1. the session starts with an in-memory catalog and its warehouse under
   ``--work``;
2. every Parquet table under ``--inputs`` (``<schema>/<table>.parquet``, written
   by :func:`masip.spark.export_inputs`: raw, ops and linkage) becomes the table
   ``<schema>.<table>``;
3. dbt builds every model with dbt-spark (target ``spark``, method
   ``session``, which picks up this same session), ``--full-refresh``;
4. the Python model's code (:func:`masip.evaluation.disclosure.protect_attrition`)
   runs here as a Spark job writing ``python_jobs.attrition_disclosure_cells``,
   then dbt builds the published marts that read it;
5. every table of ``marts`` and ``python_jobs`` is written to ``--out/<table>.parquet``.

The data tests run on the DuckDB build; here the marts are checked against
that build instead (:mod:`masip.spark.compare`). The process prints one JSON
line (seconds per step, row counts) as the last line of its standard output.
It never sees the partnership key, nor the vault: its inputs are the
warehouse's own tables.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from masip.dbt_runner import (
    _NO_TELEMETRY,
    DBT_PROJECT_DIR,
    _environment,
    _node_results,
    _short_message,
)

#: Spark settings for a small local build: two worker threads, two shuffle partitions, no web UI.
SPARK_CONF: dict[str, str] = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.catalogImplementation": "in-memory",
    "spark.driver.memory": os.environ.get("MASIP_SPARK_DRIVER_MEMORY", "2g"),
    # Small tables, many short queries: compiling generated code and a tiered JIT cost more than they save.
    "spark.sql.codegen.wholeStage": "false",
    # One code cache for compiled code and call adapters alike: in the default split, the small part for adapters
    # filled up now and then in the equivalence test ("Out of space in CodeCache for adapters").
    "spark.driver.extraJavaOptions": (
        "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-SegmentedCodeCache -XX:ReservedCodeCacheSize=256m"
    ),
}
PYTHON_JOB_OUTPUTS = "source:python_jobs+"
#: Schemas whose tables come back as Parquet: the marts, and the Python job's table (a mart on DuckDB).
EXPORTED_SCHEMAS = ("marts", "python_jobs")


class SparkBuildError(RuntimeError):
    """A step of the Spark build failed; the message names the step and dbt's node errors."""


def start_session(work_dir: Path, cores: int, app: str = "masip-dbt", conf: dict[str, str] | None = None) -> Any:
    """The local SparkSession of this build (dbt-spark's ``getOrCreate`` returns it); ``conf`` adds settings."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(f"local[{cores}]").appName(app)
    settings = {**SPARK_CONF, "spark.sql.warehouse.dir": str(work_dir / "spark-warehouse"), **(conf or {})}
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def register_inputs(session: Any, inputs_dir: Path) -> list[str]:
    """Each ``<schema>/<table>.parquet`` under ``inputs_dir`` as table ``schema.table``; returns their names."""
    names: list[str] = []
    for schema_dir in sorted(p for p in inputs_dir.iterdir() if p.is_dir()):
        session.sql(f"create database if not exists {schema_dir.name}")
        for parquet in sorted(schema_dir.glob("*.parquet")):
            names.append(f"{schema_dir.name}.{parquet.stem}")
            session.sql(f"create table {names[-1]} using parquet location '{parquet.resolve()}'")
    return names


def run_dbt(args: list[str], log_dir: Path, target_dir: Path) -> int:
    """``dbt <args>`` on target ``spark``; raises :class:`SparkBuildError` naming every failed node."""
    from dbt.cli.main import dbtRunner

    command = [
        *args,
        "--target", "spark",
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target_dir),
        "--log-path", str(log_dir),
        "--quiet", "--log-level-file", "debug", "--no-use-colors",
        "--no-send-anonymous-usage-stats", "--no-version-check",
    ]
    with _environment(dict(_NO_TELEMETRY)):
        result = dbtRunner().invoke(command)
    nodes = _node_results(result.result)
    failed = [n for n in nodes if n.status in ("error", "fail", "runtime error")]
    if failed or not result.success:
        lines = [f"dbt {args[0]} on Spark failed:"]
        lines += [f"  - {n.resource_type} {n.name} [{n.status}]: {_short_message(n.message)}" for n in failed]
        if result.exception is not None:
            lines.append(f"  dbt stopped with {type(result.exception).__name__}: {result.exception}")
        lines.append(f"Full log and compiled SQL: {log_dir / 'dbt.log'}, {target_dir}")
        raise SparkBuildError("\n".join(lines))
    return sum(1 for n in nodes if n.resource_type in ("model", "seed"))


def run_python_job(session: Any) -> int:
    """attrition_disclosure_cells: the dbt Python model's code over the four attrition marts, as a Spark job."""
    from masip.evaluation.disclosure import protect_attrition

    cells = protect_attrition(
        funnel=session.table("marts.attrition_funnel").toPandas(),
        outcomes=session.table("marts.attrition_outcomes").toPandas(),
        recorded_split=session.table("marts.attrition_recorded_split").toPandas(),
        downgrades=session.table("marts.attrition_downgrades").toPandas(),
    )
    session.sql("create database if not exists python_jobs")
    session.createDataFrame(cells).write.mode("overwrite").format("parquet").saveAsTable(
        "python_jobs.attrition_disclosure_cells"
    )
    return len(cells)


def export_tables(session: Any, out_dir: Path) -> list[str]:
    """Every table of the exported schemas as ``out_dir/<table>.parquet`` (a Spark output folder)."""
    names: list[str] = []
    for schema in EXPORTED_SCHEMAS:
        for row in session.sql(f"show tables in {schema}").collect():
            names.append(f"{schema}.{row.tableName}")
            session.table(names[-1]).coalesce(1).write.mode("overwrite").parquet(
                str(out_dir / f"{row.tableName}.parquet")
            )
    return names


def build(inputs_dir: Path, work_dir: Path, out_dir: Path, as_of: str | None, cores: int) -> dict[str, Any]:
    """Steps 1-5 of the module docstring; returns the JSON summary."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    session = start_session(work_dir, cores)
    seconds["spark_start"] = time.perf_counter() - started

    started = time.perf_counter()
    inputs = register_inputs(session, inputs_dir)
    seconds["register_inputs"] = time.perf_counter() - started

    dbt_args = ["build", "--full-refresh", "--exclude-resource-type", "test"]
    if as_of:
        dbt_args += ["--vars", json.dumps({"as_of": as_of})]
    dirs = (work_dir / "dbt" / "logs", work_dir / "dbt" / "target")
    started = time.perf_counter()
    nodes = run_dbt([*dbt_args, "--exclude", PYTHON_JOB_OUTPUTS], *dirs)
    seconds["dbt"] = time.perf_counter() - started

    started = time.perf_counter()
    cells = run_python_job(session)
    nodes += run_dbt([*dbt_args, "--select", PYTHON_JOB_OUTPUTS], *dirs)
    seconds["python_job_and_published"] = time.perf_counter() - started

    started = time.perf_counter()
    outputs = export_tables(session, out_dir)
    seconds["export_marts"] = time.perf_counter() - started
    version = session.version
    session.stop()
    return {
        "spark_version": version,
        "nodes_built": nodes,
        "disclosure_cells": cells,
        "inputs": inputs,
        "outputs": outputs,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m masip.spark.job", description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=Path, required=True, help="Parquet inputs (<schema>/<table>.parquet).")
    parser.add_argument("--work", type=Path, required=True, help="Spark warehouse, dbt target and logs.")
    parser.add_argument("--out", type=Path, required=True, help="Folder for the marts as Parquet.")
    parser.add_argument("--as-of", default=None, help="Reference date (dbt var as_of), YYYY-MM-DD.")
    parser.add_argument("--cores", type=int, default=2, help="Local worker threads (local[N]).")
    options = parser.parse_args(argv)
    try:
        summary = build(options.inputs, options.work, options.out, options.as_of, options.cores)
    except SparkBuildError as error:
        print(f"masip spark: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
