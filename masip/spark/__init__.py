"""The dbt project on Apache Spark in local mode, checked against the DuckDB build (issue #16).

What runs where (after the DuckDB run has built and published the warehouse):

- :func:`export_inputs` writes the warehouse's input schemas (``raw``,
  ``ops``, ``linkage``) as Parquet: the tables Spark reads;
- the linkage again, on Spark (:mod:`masip.spark.linkage`, a keyless child
  process with its own local SparkSession): Splink's Spark backend scores
  every candidate pair of the live record roles, read from the vault, under
  the model the DuckDB run's links were decided with, and its
  ``person_links`` and review tables replace the exported ones;
- :func:`run_spark_build` then runs :mod:`masip.spark.job` in a child
  process: one local SparkSession, dbt-spark (method ``session``) builds every
  model, and the marts come back as Parquet;
- :mod:`masip.spark.compare` checks Spark's ``person_links`` and marts
  against the DuckDB build.

Java is needed (Spark runs in a JVM): ``make java`` installs Debian's
``openjdk-17-jre-headless``; :func:`java_missing_reason` says when it is absent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from connectors.vault import Vault
from masip.child_processes import module_command

#: The warehouse schemas the dbt project reads (its sources), exported for Spark.
INPUT_SCHEMAS = ("raw", "ops", "linkage")


class SparkRunError(RuntimeError):
    """The Spark build could not run or failed; the message says what to do."""


@dataclass(frozen=True)
class SparkBuildResult:
    """Outcome of :func:`run_spark_build`: where the marts are, and the job's summary."""

    marts_dir: Path
    summary: dict[str, Any]
    seconds: float


def java_missing_reason() -> str | None:
    """Why Spark cannot start here (no ``java`` on PATH nor in JAVA_HOME), or None when it can."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return None
    if shutil.which("java"):
        return None
    return "no Java runtime (java not on PATH, JAVA_HOME unset): run `make java` (Debian: openjdk-17-jre-headless)"


def export_inputs(warehouse: Path, inputs_dir: Path) -> dict[str, int]:
    """Write every table of :data:`INPUT_SCHEMAS` of the DuckDB ``warehouse`` as ``<schema>/<table>.parquet``.

    Returns the row count of each exported table. The warehouse holds no
    plain identifier and no encoding (those stay in the vault), so neither do
    these files.
    """
    counts: dict[str, int] = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            f"where table_schema in ({', '.join('?' for _ in INPUT_SCHEMAS)}) order by 1, 2",
            list(INPUT_SCHEMAS),
        ).fetchall()
        for schema, table in tables:
            folder = inputs_dir / schema
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{table}.parquet"
            con.execute(f"copy (select * from {schema}.{table}) to '{target}' (format parquet)")
            (counts[f"{schema}.{table}"],) = con.execute(f"select count(*) from {schema}.{table}").fetchone()
    if "linkage.person_links" not in counts:
        raise SparkRunError(
            f"warehouse {warehouse} has no linkage.person_links: the linkage stage has not run on it. "
            "What to do: build it first (`masip run`, or masip.pipeline.build_linked), then run on Spark."
        )
    return counts


def run_spark_build(
    warehouse: Path, work_dir: Path, as_of: date | None = None, cores: int = 2, vault: Vault | None = None,
) -> SparkBuildResult:
    """Export the inputs of ``warehouse``, link on Spark, and build every model on Spark, each in a child process.

    ``vault`` (default :meth:`Vault.for_warehouse`) holds the encodings and the
    linkage state of the warehouse's links. ``work_dir`` receives ``inputs/``
    (Parquet inputs; ``inputs/linkage`` from the linkage on Spark), ``spark/``
    (Spark's warehouse, dbt's target and log) and ``marts/`` (the marts Spark
    built, as Parquet). Raises :class:`SparkRunError` when Java is missing or
    a step fails.
    """
    from masip.spark.linkage import run_spark_linkage

    reason = java_missing_reason()
    if reason:
        raise SparkRunError(f"cannot run on Spark: {reason}")
    started = time.perf_counter()
    for sub in ("inputs", "spark", "marts"):
        shutil.rmtree(work_dir / sub, ignore_errors=True)
    input_rows = export_inputs(warehouse, work_dir / "inputs")
    vault = vault or Vault.for_warehouse(warehouse)
    linkage = run_spark_linkage(warehouse, vault, work_dir / "inputs" / "linkage", cores)
    command = module_command(
        "masip.spark.job", "--inputs", str(work_dir / "inputs"), "--work", str(work_dir / "spark"),
        "--out", str(work_dir / "marts"), "--cores", str(cores),
    )
    if as_of is not None:
        command += ["--as-of", as_of.isoformat()]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if line.startswith(("masip spark:", "  "))]
        tail = "\n".join(errors[-40:]) or "\n".join(done.stderr.splitlines()[-20:])
        raise SparkRunError(
            f"the Spark build failed (exit code {done.returncode}):\n{tail}\n"
            f"What to do: read dbt's log under {work_dir / 'spark' / 'dbt' / 'logs'}; a SQL error there is a "
            "dialect difference to cover in dbt_project/macros/dialect.sql."
        )
    summary = {**json.loads(done.stdout.strip().splitlines()[-1]), "input_rows": input_rows, "linkage": linkage}
    return SparkBuildResult(marts_dir=work_dir / "marts", summary=summary, seconds=time.perf_counter() - started)
