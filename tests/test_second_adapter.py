"""Issue #7: the dbt project compiles on a second adapter, dbt-trino, with no Trino server.

The real ``dbt compile --target trino --no-populate-cache`` runs in process
(masip.dbt_offline: the only stand-ins are an empty or full catalog for
``adapter.get_relation``, and a connection that refuses to open). Then:

- every enabled model compiles, and the Python model is replaced by source
  ``python_jobs`` (dbt-trino runs no Python models); the person links are
  source ``linkage`` on every adapter (the linkage stage writes them);
- no compiled model contains DuckDB-only SQL (``DUCKDB_ONLY`` below), and
  the same scan does flag the DuckDB compile of the same models, so a
  model that bypasses the dispatch macros fails here;
- key models carry the Trino forms of macros/dialect.sql;
- ``is_incremental()`` compiles both ways without a server, so incremental
  models can be added without breaking this test.

Compiling is not running: whether Trino accepts every statement is only
known on a Trino cluster (docs/national-deployment.md).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from masip.dbt_offline import OfflineCompileResult, compile_offline

PROJECT_MODELS = Path(__file__).resolve().parent.parent / "dbt_project" / "models"
PYTHON_MODELS = frozenset(p.stem for p in PROJECT_MODELS.rglob("*.py"))
SQL_MODELS = frozenset(p.stem for p in PROJECT_MODELS.rglob("*.sql"))

#: DuckDB SQL that Trino does not have (or that means something else there).
DUCKDB_ONLY: dict[str, str] = {
    "QUALIFY": r"\bqualify\b",
    "ANTI JOIN": r"\banti\s+join\b",
    "SEMI JOIN": r"\bsemi\s+join\b",
    "UNION ... BY NAME": r"\bunion\s+(all\s+)?by\s+name\b",
    "SELECT * EXCLUDE/REPLACE": r"\*\s*(exclude|replace)\s*\(",
    ":: cast": r"::",
    "unquoted interval literal": r"\binterval\s+\d",
    "to_hours/to_days/... interval constructors": r"\bto_(seconds|minutes|hours|days|weeks|months|years)\s*\(",
    "strftime()": r"\bstrftime\s*\(",
    "strptime()": r"\bstrptime\s*\(",
    "string_agg()": r"\bstring_agg\s*\(",
    "quantile_disc()/quantile_cont()": r"\bquantile(_disc|_cont)?\s*\(",
    "generate_series()/range()": r"\b(generate_series|range)\s*\(",
    "make_date()": r"\bmake_date\s*\(",
    "left()/right() (LEFT/RIGHT are join keywords in Trino)": r"\b(left|right)\s*\(",
    "md5() of varchar (Trino hashes varbinary)": r"\bmd5\s*\((?!\s*to_utf8\s*\()",
    "list_*() functions": r"\blist_\w+\s*\(",
    "epoch()": r"\bepoch(_ms|_us|_ns)?\s*\(",
    "regexp_matches()": r"\bregexp_matches\s*\(",
    "struct_pack()/struct_extract()": r"\bstruct_(pack|extract)\s*\(",
    "hash() (engine-specific hash)": r"\bhash\s*\(",
}

#: The key models and what their Trino SQL must contain (compared whitespace-insensitively).
TRINO_FORMS: dict[str, list[str]] = {
    # version rule: ranked subquery instead of QUALIFY
    "stg_police__crimes": ["row_number() over", "masip_row_number = 1"],
    # content-derived ids on varbinary md5; explicit UNION ALL column lists
    "victim_journey": [
        "substr(lower(to_hex(md5(to_utf8(",
        "union all select dyad_id, victim_id, perpetrator_id, event_at",
    ],
    "dyad_flags": ["union all select dyad_id, victim_id, perpetrator_id, flag_code"],
    "int_flags__breach_response_over_24h": [
        "date_add('hour', (thresholds.breach_response_max_hours), breaches.reported_at)",
        "date_diff('minute', date_trunc('minute', reported_at), date_trunc('minute', responded_at))",
        "listagg(evidence_ref, ', ') within group (order by evidence_ref)",
        "date_format(cast(reported_at as timestamp), '%Y-%m-%d %H:%i')",
    ],
    "panel": ["array_join(array_sort(array_distinct(array_agg(panel_reasons.reason)"],
    "int_journey_events__orders": [
        "array_max(filter(array[applied_date, cast(updated_at as date)]"
    ],
    "int_evaluation__reoffending_index": [
        "element_at(array_sort(array_agg(",
        "date_add('day', medians.median_gap_days, supervised.first_supervision_date)",
    ],
    "int_evaluation__attrition_grid": [
        "unnest(sequence(year_range.first_year, year_range.last_year))",
        "cast(format('%04d-%02d-%02d', years.fy_start_year, 4, 1) as date)",
    ],
    "reoffending_cohort": ["date_add('month', -(18), index_dates.index_start)"],
    # the person links come from the linkage stage (its own process) on every adapter, read as a source
    "int_record_persons": ['"staging"."stg_linkage__person_links"'],
    "stg_linkage__person_links": ['"linkage"."person_links"'],
    "attrition_funnel_published": ['"python_jobs"."attrition_disclosure_cells"'],
}


def _flat(sql: str) -> str:
    """``sql`` on one line: runs of whitespace as one space, none inside parentheses."""
    sql = " ".join(sql.split())
    return re.sub(r"\s+\)", ")", re.sub(r"\(\s+", "(", sql))


def _sql_only(sql: str) -> str:
    """The SQL with string literals and comments blanked, lower case."""
    sql = re.sub(r"'(?:[^']|'')*'", "''", sql)
    sql = re.sub(r"--[^\n]*", "", sql)
    sql = re.sub(r"/\*.*?\*/", "", sql, flags=re.DOTALL)
    return sql.lower()


def duckdb_only_constructs(sql: str) -> list[str]:
    """Names of the DUCKDB_ONLY constructs found in ``sql``."""
    text = _sql_only(sql)
    return [name for name, pattern in DUCKDB_ONLY.items() if re.search(pattern, text)]


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dbt-offline")


@pytest.fixture(scope="module")
def trino(work_dir: Path) -> OfflineCompileResult:
    """The whole project compiled for dbt-trino, against an empty catalog."""
    return compile_offline("trino", work_dir=work_dir / "trino")


def test_scanner_flags_duckdb_sql_and_passes_trino_sql():
    assert duckdb_only_constructs(
        "select * from t qualify row_number() over (partition by a order by b) = 1"
    ) == ["QUALIFY"]
    assert duckdb_only_constructs("select left(md5(x), 16), strftime(d, '%Y')") == [
        "strftime()",
        "left()/right() (LEFT/RIGHT are join keywords in Trino)",
        "md5() of varchar (Trino hashes varbinary)",
    ]
    assert duckdb_only_constructs("select x::date, d + interval 18 month") == [
        ":: cast",
        "unquoted interval literal",
    ]
    # Trino SQL, and DuckDB words inside literals, comments or longer names, pass.
    assert not duckdb_only_constructs(
        "select substr(lower(to_hex(md5(to_utf8(x)))), 1, 16), 'qualify strftime(' as s, "
        "qualifying_groups.n -- anti join\nfrom qualifying_groups left join t on true"
    )


def test_whole_project_compiles_for_trino_without_a_server(trino: OfflineCompileResult):
    assert trino.success, (
        f"dbt compile --target trino failed: {trino.error} (log: {trino.log_path})"
    )
    assert trino.enabled_models == SQL_MODELS
    assert set(trino.compiled) == SQL_MODELS
    assert all(sql.strip() for sql in trino.compiled.values())
    # dbt-trino runs no Python models: they are disabled and read as sources.
    assert (
        trino.disabled_models
        == PYTHON_MODELS
        == {"attrition_disclosure_cells"}
    )
    assert {f"python_jobs.{name}" for name in PYTHON_MODELS} <= trino.sources_used
    assert "linkage.person_links" in trino.sources_used
    assert "Opening a new connection" not in (trino.log_path / "dbt.log").read_text(
        encoding="utf-8"
    )


def test_no_duckdb_only_sql_in_the_trino_output(trino: OfflineCompileResult):
    assert trino.success, trino.error
    found = {
        name: hits
        for name, sql in trino.compiled.items()
        if (hits := duckdb_only_constructs(sql))
    }
    assert not found, (
        f"DuckDB-only SQL in the Trino compile: {found}. Route it through a macro of "
        "dbt_project/macros/dialect.sql (adapter.dispatch with a trino__ implementation)."
    )


@pytest.mark.parametrize("model", sorted(TRINO_FORMS))
def test_key_models_use_the_trino_forms(trino: OfflineCompileResult, model: str):
    assert trino.success, trino.error
    sql = trino.compiled[model]
    missing = [form for form in TRINO_FORMS[model] if _flat(form) not in _flat(sql)]
    assert not missing, (
        f"{model}: expected Trino SQL not found: {missing}\n--- compiled:\n{sql}"
    )


def test_the_scan_fails_on_the_duckdb_compile_of_the_same_models(work_dir: Path):
    """The DuckDB SQL of the key models is what a model without the macros would give Trino."""
    duckdb = compile_offline(
        "dev",
        adapter_type="duckdb",
        select="stg_police__crimes victim_journey dyad_flags int_flags__breach_response_over_24h",
        work_dir=work_dir / "duckdb",
    )
    assert duckdb.success, duckdb.error
    found = {name: duckdb_only_constructs(sql) for name, sql in duckdb.compiled.items()}
    assert "QUALIFY" in found["stg_police__crimes"]
    assert "md5() of varchar (Trino hashes varbinary)" in found["victim_journey"]
    assert (
        "UNION ... BY NAME" not in found["dyad_flags"]
    )  # the explicit column list is portable
    assert {
        "strftime()",
        "string_agg()",
        "to_hours/to_days/... interval constructors",
    } <= set(found["int_flags__breach_response_over_24h"])


INCREMENTAL_PROBE = "{{ config(materialized='incremental') }} select {{ is_incremental() }} as is_incremental"


@pytest.mark.parametrize(("existing", "expected"), [("none", "false"), ("all", "true")])
def test_is_incremental_compiles_without_a_server(
    trino: OfflineCompileResult, work_dir: Path, existing: str, expected: str
):
    """is_incremental() asks the warehouse whether the table exists; offline the catalog answers."""
    probe = compile_offline(
        "trino",
        existing_relations=existing,
        inline=INCREMENTAL_PROBE,
        work_dir=work_dir / "trino",
    )
    assert probe.success, probe.error
    assert probe.compiled["inline_query"].split() == [
        "select",
        expected.capitalize(),
        "as",
        "is_incremental",
    ]


def test_incremental_models_compile_their_incremental_branch(
    trino: OfflineCompileResult, work_dir: Path
):
    """The whole-project compile above is the first run; this is a later run of every incremental model."""
    later = compile_offline(
        "trino",
        existing_relations="all",
        select="config.materialized:incremental",
        work_dir=work_dir / "trino",
    )
    assert later.success, later.error
    assert not {
        name: hits
        for name, sql in later.compiled.items()
        if (hits := duckdb_only_constructs(sql))
    }


def test_a_compile_time_warehouse_query_fails_loudly(
    trino: OfflineCompileResult, work_dir: Path
):
    probe = compile_offline(
        "trino",
        inline="select {% if execute %}{{ run_query('select 1').columns | length }}{% endif %} as n",
        work_dir=work_dir / "trino",
    )
    assert not probe.success
    assert "tried to open a connection" in (probe.error or "")
