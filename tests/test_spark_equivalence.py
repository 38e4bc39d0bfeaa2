"""The dbt project on Apache Spark (local mode) gives the marts DuckDB gives (issue #16).

A small generated partnership goes through ingest, the dbt build and the
linkage stage on DuckDB; then every model is built again with dbt-spark from
the same inputs (Parquet) by ``masip run --engine spark``'s stage, the checked
marts must be identical, and so must every other mart; the quality gate must
pass on the warehouse holding Spark's marts.
``make test-spark`` runs this module (marked ``spark``, so the plain pytest
run leaves it out); ``make test`` runs it after the rest. The compare itself
is tested without Spark below, on frames that do differ.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from connectors.ingest import ingest_drops
from masip.pipeline import build_linked
from masip.spark import java_missing_reason
from masip.spark.compare import CHECKED_MARTS, compare_frames, compare_marts, describe
from masip.spark.stage import spark_stage
from masip.synth import DEFAULT_FAULTS, generate_partnership
from pseudonymisation.keys import Keyring

SECRET = b"spark-equivalence-test-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    reason = java_missing_reason()
    if reason:
        pytest.skip(f"Spark cannot start: {reason}")
    work = tmp_path_factory.mktemp("spark-equivalence")
    drops = work / "drops"
    generate_partnership(drops, dyads=40, faults=DEFAULT_FAULTS)
    warehouse = work / "warehouse" / "masip.duckdb"
    ingest_drops(drops, warehouse, Keyring(SECRET), show_progress=False)
    build_linked(warehouse)
    spark = spark_stage(warehouse, work / "out")
    assert spark.quality_success, f"the quality gate failed on Spark's marts: {spark.report_path}"
    return warehouse, spark.build.marts_dir, spark.build.summary


@pytest.mark.spark
@pytest.mark.slow
def test_checked_marts_are_identical_on_spark_and_duckdb(both_engines):
    warehouse, marts_dir, summary = both_engines
    comparisons = compare_marts(warehouse, marts_dir, CHECKED_MARTS)
    assert all(c.identical for c in comparisons), "Spark and DuckDB differ:\n" + describe(comparisons)
    assert all(c.duckdb_rows > 0 for c in comparisons), describe(comparisons)
    # every other mart too, the published attrition marts (from the Python job's table) included
    others = tuple(sorted({name.split(".", 1)[1] for name in summary["outputs"]} - set(CHECKED_MARTS)))
    assert {"attrition_disclosure_cells", "attrition_funnel_published", "case_pack"} <= set(others)
    comparisons = compare_marts(warehouse, marts_dir, others)
    assert all(c.identical for c in comparisons), "Spark and DuckDB differ:\n" + describe(comparisons)


# --- the compare, without Spark: it must see every kind of difference ---------------------------------

def _xref() -> pd.DataFrame:
    return pd.DataFrame({
        "source_id": ["P1", "P1", "H1"], "source_table": ["crimes", "crimes", "contacts"],
        "record_ref": ["C1", "C2", "X1"], "role": ["victim", "victim", "patient"],
        "person_id": ["A", "A", "B"], "match_probability": [1.0, 0.97, None],
    })


def test_compare_accepts_the_same_rows_in_another_order_and_storage_type():
    duck = _xref()
    spark = duck.iloc[::-1].reset_index(drop=True)
    spark["match_probability"] = spark["match_probability"].astype(object)  # a decimal column read back
    assert compare_frames("person_xref", duck, spark).identical


def test_compare_sees_a_changed_cell_a_missing_row_and_a_missing_column():
    duck = _xref()
    changed = duck.copy()
    changed.loc[1, "match_probability"] = 0.96
    assert not compare_frames("person_xref", duck, changed).identical
    assert not compare_frames("person_xref", duck, duck.iloc[:2]).identical
    assert not compare_frames("person_xref", duck, duck.drop(columns=["match_probability"])).identical


def test_compare_sees_a_different_partition_of_record_roles():
    duck = _xref()
    split = duck.copy()
    split.loc[1, "person_id"] = "C"  # C2's victim is now a person of their own
    result = compare_frames("person_xref", duck, split)
    assert any("different persons" in d for d in result.differences)


def test_compare_tells_a_date_from_a_timestamp_and_text_from_a_number():
    on_date = pd.DataFrame({"d": [date(2026, 1, 5)], "n": ["1"]})
    on_timestamp = pd.DataFrame({"d": [datetime(2026, 1, 5)], "n": ["1"]})
    assert not compare_frames("panel", on_date, on_timestamp).identical
    assert not compare_frames("panel", on_date, on_date.assign(n=[1])).identical


def test_compare_sees_a_column_of_another_type():
    duck = _xref()
    duck.attrs["types"] = {"match_probability": "number"}
    spark = duck.copy()
    spark.attrs["types"] = {"match_probability": "text"}
    assert not compare_frames("person_xref", duck, spark).identical
