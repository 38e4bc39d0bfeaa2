"""The linkage and the dbt project on Apache Spark (local mode) give what DuckDB gives (issue #16).

A small generated partnership goes through ingest, the dbt build and the
linkage stage on DuckDB; then ``masip run --engine spark``'s stage links the
record roles again with Splink's Spark backend (every candidate pair scored
on Spark, from the vault's encodings) and builds every model again with
dbt-spark from the same inputs (Parquet) and those links: ``person_links``
and the checked marts must be identical, and so must every other mart; the
quality gate must pass on the warehouse holding Spark's marts. Scoring is
also compared pair by pair: the same prepared records, scored by the DuckDB
and the Spark backend, give the same pairs and match weights.
``make test-spark`` runs this module alone (marked ``spark``, so a plain pytest
run leaves it out); ``make test`` runs it on one of its workers beside the rest. The compare itself
is tested without Spark below, on frames that do differ.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from connectors.ingest import ingest_drops
from connectors.vault import Vault
from masip.linkage import comparisons as C
from masip.linkage import fuzzy
from masip.linkage import review as rv
from masip.linkage.scorer import Scorer
from masip.linkage.stage import read_inputs, warehouse_build_id
from masip.pipeline import build_linked
from masip.spark import java_missing_reason
from masip.spark.compare import (
    CHECKED_MARTS,
    compare_frames,
    compare_linkage,
    compare_marts,
    describe,
)
from masip.spark.linkage import SparkBackend, start_linkage_session, state_of_links
from masip.spark.stage import spark_stage
from masip.synth import DEFAULT_FAULTS, generate_partnership
from pseudonymisation.keys import Keyring

SECRET = b"spark-equivalence-test-secret-0123456789abcdef"


def _skip_without_java() -> None:
    reason = java_missing_reason()
    if reason:
        pytest.skip(f"Spark cannot start: {reason}")


@pytest.fixture(scope="module")
def linked_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small partnership ingested, linked and built on DuckDB (the vault beside the warehouse)."""
    _skip_without_java()
    work = tmp_path_factory.mktemp("spark-equivalence")
    drops = work / "drops"
    generate_partnership(drops, dyads=40, faults=DEFAULT_FAULTS)
    warehouse = work / "warehouse" / "masip.duckdb"
    ingest_drops(drops, warehouse, Keyring(SECRET), show_progress=False)
    build_linked(warehouse)
    return warehouse


@pytest.fixture(scope="module")
def both_engines(linked_warehouse: Path) -> tuple[Path, Path, dict]:
    warehouse = linked_warehouse
    spark = spark_stage(warehouse, warehouse.parent.parent / "out")
    assert spark.quality_success, f"the quality gate failed on Spark's marts: {spark.report_path}"
    return warehouse, spark.build.marts_dir, spark.build.summary


@pytest.mark.spark
@pytest.mark.slow
def test_checked_marts_are_identical_on_spark_and_duckdb(both_engines):
    warehouse, marts_dir, summary = both_engines
    # the links Spark's dbt build read came from the linkage on Spark, which scored every candidate pair
    with duckdb.connect(str(warehouse), read_only=True) as con:
        state = state_of_links(Vault.for_warehouse(warehouse), warehouse_build_id(con))
    assert summary["linkage"]["scored_pairs"] == len(state.pairs) > 1000
    links = compare_linkage(warehouse, marts_dir.parent / "inputs")
    assert [c.table for c in links] == ["linkage.person_links", "linkage.review_queue", "linkage.review_fields"]
    assert all(c.identical for c in links) and links[0].duckdb_rows > 400, describe(links)
    comparisons = compare_marts(warehouse, marts_dir, CHECKED_MARTS)
    assert all(c.identical for c in comparisons), "Spark and DuckDB differ:\n" + describe(comparisons)
    assert all(c.duckdb_rows > 0 for c in comparisons), describe(comparisons)
    # every other mart too, the published attrition marts (from the Python job's table) included
    others = tuple(sorted({name.split(".", 1)[1] for name in summary["outputs"]} - set(CHECKED_MARTS)))
    assert {"attrition_disclosure_cells", "attrition_funnel_published", "case_pack"} <= set(others)
    comparisons = compare_marts(warehouse, marts_dir, others)
    assert all(c.identical for c in comparisons), "Spark and DuckDB differ:\n" + describe(comparisons)


@pytest.mark.spark
@pytest.mark.slow
def test_no_encoding_reaches_the_spark_outputs(both_engines):
    """The vault split: the encodings went to Spark as in-memory DataFrames only, never into a file of the run."""
    _, marts_dir, _ = both_engines
    out = marts_dir.parent
    files = sorted(out.rglob("*.parquet"))
    assert any(f.match("inputs/linkage/person_links.parquet") for f in files)
    for path in (f for f in files if f.is_file()):
        columns = pq.read_schema(path).names
        assert not [c for c in columns if "token" in c or "bloom" in c], f"{path} holds encodings: {columns}"


@pytest.mark.spark
@pytest.mark.slow
def test_the_spark_backend_scores_every_pair_as_the_duckdb_one(linked_warehouse, tmp_path):
    """The same prepared records, scored by Splink on DuckDB and on Spark: the same pairs, weights and evidence.

    The model adjusts exact name agreement by term frequency, so the
    frequency tables (computed on each engine) are compared too.
    """
    with duckdb.connect(str(linked_warehouse), read_only=True) as con:
        records, _ = read_inputs(con, Vault.for_warehouse(linked_warehouse))
    model = fuzzy.Model(fuzzy.default_settings(tf=True), trained=False)
    with Scorer(records) as scorer:
        duck = _scored(scorer, model)
        duck_default = scorer.default_model().settings
    session = start_linkage_session(tmp_path, cores=2)
    try:
        with Scorer(records, backend=SparkBackend(session)) as scorer:
            spark = _scored(scorer, model)
            spark_default = scorer.default_model().settings  # Splink's JSON from Spark, stored in DuckDB's dialect
    finally:
        session.stop()
    assert {**spark_default, "linker_uid": None} == {**duck_default, "linker_uid": None}
    pairs_d, pairs_s = duck["pairs"], spark["pairs"]
    assert len(pairs_d) > 1000 and pairs_d["match_weight"].round(6).nunique() > 50  # many kinds of pair
    assert pairs_s[["uid_l", "uid_r"]].equals(pairs_d[["uid_l", "uid_r"]])
    np.testing.assert_allclose(pairs_s["match_weight"], pairs_d["match_weight"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(pairs_s["match_probability"], pairs_d["match_probability"], rtol=0, atol=1e-12)
    assert sorted(duck["frequencies"]) == ["forename_token", "surname_token"]
    for column, lookup in duck["frequencies"].items():
        pd.testing.assert_frame_equal(spark["frequencies"][column], lookup)
    assert np.array_equal(spark["fingerprints"], duck["fingerprints"])
    pd.testing.assert_frame_equal(spark["fields"], duck["fields"])
    assert duck["fields"]["agreement_level"].nunique() > 5


def _scored(scorer: Scorer, model: fuzzy.Model) -> dict:
    """Every candidate pair, the term frequencies, the fingerprints, and the field evidence of 40 pairs."""
    pairs = scorer.predict(model)
    sample = pairs.iloc[:: max(len(pairs) // 40, 1)].rename(columns={"uid_l": "i", "uid_r": "j"})
    sample = sample.assign(review_id=[f"{i}-{j}" for i, j in zip(sample["i"], sample["j"])])
    return {
        "pairs": pairs,
        "frequencies": scorer.term_frequencies(model),
        "fingerprints": scorer.fingerprints(),
        "fields": rv.field_agreements(scorer, model, sample[["i", "j", "review_id"]]),
    }


# --- without Spark: the comparisons in Spark's dialect, and the compare, which must see every difference ---

def test_the_comparisons_in_sparks_dialect_are_the_same_levels_spelled_for_spark():
    duck = fuzzy.default_settings(tf=True)
    spark = fuzzy.in_dialect(duck, C.SPARK)
    conditions = [lv["sql_condition"] for c in spark["comparisons"] for lv in c["comparison_levels"]]
    rendered = fuzzy.comparisons(tf=True, dialect=C.SPARK)
    assert spark["sql_dialect"] == "spark"
    assert conditions == [lv["sql_condition"] for c in rendered for lv in c["comparison_levels"]]
    assert not [c for c in conditions if '"' in c or "::" in c or "list_" in c or "len(" in c]
    assert any("size(array_intersect(`forename_variant_tokens_l`" in c for c in conditions)
    # parameters untouched, and back to DuckDB's spelling exactly
    assert [lv.get("m_probability") for c in spark["comparisons"] for lv in c["comparison_levels"]] == [
        lv.get("m_probability") for c in duck["comparisons"] for lv in c["comparison_levels"]
    ]
    assert fuzzy.in_dialect(spark, C.DUCKDB)["comparisons"] == duck["comparisons"]


def test_a_model_of_other_comparisons_is_not_moved_to_spark():
    settings = fuzzy.default_settings()
    level = settings["comparisons"][0]["comparison_levels"][2]
    level["sql_condition"] = f"not ({level['sql_condition']})"
    with pytest.raises(ValueError, match="retrain"):
        fuzzy.in_dialect(settings, C.SPARK)


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
