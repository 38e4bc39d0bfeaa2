"""``masip run --engine spark``: after the DuckDB run, the linkage and every model again on Spark, checked.

:func:`spark_stage` takes a warehouse that the pipeline has just built and
published (ingest, linkage stage, dbt on DuckDB, quality gate) and

1. links the record roles again with Splink's Spark backend
   (:mod:`masip.spark.linkage`) and builds every dbt model again on Spark in
   local mode from the warehouse's inputs and those links
   (:func:`masip.spark.run_spark_build`);
2. compares Spark's ``person_links`` (and review tables) and every mart it
   built with DuckDB's (:mod:`masip.spark.compare`);
3. writes the Spark result warehouse: a copy of the warehouse whose
   ``marts`` tables are the ones Spark built, so that the quality gate
   (Great Expectations), the case pack and the evaluation read Spark's
   result through their usual code;
4. validates it with the same suites as the DuckDB build;
5. writes ``<out>/spark/equivalence.md``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from connectors.vault import Vault
from masip.output_files import write_output
from masip.spark import SparkBuildResult, run_spark_build
from masip.spark.compare import MartComparison, compare_linkage, compare_marts, describe
from masip.warehouse import copy_database


@dataclass
class SparkStageResult:
    build: SparkBuildResult
    comparisons: list[MartComparison]
    result_warehouse: Path
    quality_success: bool
    report_path: Path
    seconds: float

    @property
    def identical(self) -> bool:
        return all(c.identical for c in self.comparisons)


def spark_result_warehouse(warehouse: Path, marts_dir: Path, target: Path) -> Path:
    """A copy of ``warehouse`` with each ``marts`` table replaced by the one Spark built (``marts_dir``)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    copy_database(warehouse, target)
    with duckdb.connect(str(target)) as con:
        con.execute("set timezone = 'UTC'")
        for folder in sorted(marts_dir.glob("*.parquet")):
            con.execute(
                f"create or replace table marts.{folder.stem} as "
                f"select * from read_parquet('{folder}/*.parquet')"
            )
    return target


def _report(result: SparkStageResult, rows: int) -> str:
    build = result.build.summary
    linkage = build["linkage"]
    steps = ", ".join(f"{k} {v:.0f} s" for k, v in build["seconds"].items())
    return "\n".join([
        "# The linkage and the marts on Spark, checked against DuckDB",
        "",
        (f"Linkage with Splink's Spark backend (Spark {linkage['spark_version']}, local mode) under the model of "
         f"linkage build {linkage['build_id']}: {linkage['scored_pairs']} candidate pairs scored, "
         f"{linkage['roles']} record roles into {linkage['persons']} persons, in {linkage['seconds']:.0f} s "
         f"(scoring and clustering {linkage['linkage_seconds']:.0f} s)."),
        "",
        (f"Spark {build['spark_version']} in local mode; {build['nodes_built']} dbt nodes built with dbt-spark "
         f"(method session) from {rows} input rows, in {result.build.seconds:.0f} s in all ({steps})."),
        "",
        ("The linkage's tables and every mart (identical = the same rows, cell by cell; person_links and "
         "person_xref also as a partition of record roles):"),
        "",
        describe(result.comparisons),
        "",
        f"Quality gate (Great Expectations) on the Spark result warehouse {result.result_warehouse}: "
        + ("passed" if result.quality_success else "FAILED"),
        "",
    ])


def spark_stage(
    warehouse: Path, out_dir: Path, as_of: date | None = None, vault_dir: Path | None = None
) -> SparkStageResult:
    """Steps 1-5 of the module docstring; work files under ``<out_dir>/spark``.

    ``vault_dir``: the warehouse's linkage vault (default: as :meth:`Vault.for_warehouse` finds it).
    """
    from masip.quality import validate_warehouse

    started = time.perf_counter()
    work = out_dir / "spark"
    build = run_spark_build(warehouse, work, as_of=as_of, vault=Vault.for_warehouse(warehouse, vault_dir))
    built = tuple(sorted(folder.stem for folder in build.marts_dir.glob("*.parquet")))
    comparisons = [*compare_linkage(warehouse, work / "inputs"), *compare_marts(warehouse, build.marts_dir, built)]
    result_warehouse = spark_result_warehouse(warehouse, build.marts_dir, work / "masip-spark.duckdb")
    quality = validate_warehouse(result_warehouse, work / "data_quality")
    result = SparkStageResult(
        build=build, comparisons=comparisons, result_warehouse=result_warehouse,
        quality_success=quality.success, report_path=work / "equivalence.md", seconds=0.0,
    )
    result.seconds = time.perf_counter() - started
    rows = sum(v for k, v in build.summary.get("input_rows", {}).items())
    write_output(result.report_path, _report(result, rows))
    return result
