"""Data-quality gate: Great Expectations suites over staged tables and marts.

Suites are Python, derived from the extract contracts (keys, required
columns, code lists, plausible dates) plus mart rules (keys, accepted values,
referential integrity such as breach events → live orders). The pipeline
runs them after dbt on a candidate copy of the warehouse and publishes the
copy only if every suite passes (see ``masip.pipeline.build_stage``).

A weekly run validates what the week changed, and still fails on any bad row in it
(:func:`validate_warehouse` with ``published``):

* staging: the records with a version in a drop loaded since the last
  publication (``ops.loaded_drops.load_seq`` above the mark in
  ``ops.published_builds``, :mod:`masip.publication`), and those whose staged
  row differs from the published one (a model change), every row of each;
* dyad marts (journey, flags, panel): every row of the *changed dyads*, those
  with any row added, removed or altered in any of the three since the
  published build (a relinked person, a date-driven flag and a tampered row
  all count). The run's reference date, which some marts repeat on every
  row (:data:`RUN_DATE_COLUMNS`), is left out of that comparison: it moves
  every week, so with it 158,946 of a national year's 181,655 dyads counted
  as changed in one week (24,563 without it), and no expectation reads it;
* the other row-level marts: every row whose key has a changed row;
* table-level expectations (row counts) and the small aggregate marts: whole.

A first publication, a full refresh, a published warehouse whose staging
tables or marts differ in columns from the candidate's, and one published
under other rules (:func:`rules_digest`: a release that changed an
expectation, a contract or a code list) are validated whole: the rows the
old rules passed were never checked against the new ones.

Each suite is checked pass/fail first; only a failing one is validated again for
its unexpected counts and examples (the national year's full gate: 77 -> 22 s
with the two fixes in :func:`_quiet_context` and :func:`_frame`).

Full validation results can quote data values (record refs, tokens), so they
are written under the run's output folder, never into git; the summary that
goes into the run report carries counts only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from connectors.code_lists import load_code_lists
from connectors.contracts import (
    EARLIEST_DATE,
    TABLES,
    Column,
    ColumnType,
    TableContract,
    latest_plausible_date,
)
from masip.output_files import write_output
from masip.publication import published_code_fingerprint, published_through
from masip.warehouse import attach_read_only

log = logging.getLogger(__name__)

#: The ingest's plausibility window starts here too, so no date that ingest let through fails the gate.
EARLIEST_EVENT = datetime(EARLIEST_DATE.year, EARLIEST_DATE.month, EARLIEST_DATE.day)
STAGING_MODELS: dict[str, str] = {
    "crimes": "stg_police__crimes",
    "orders": "stg_police__orders",
    "breaches": "stg_police__breaches",
    "court_results": "stg_police__court_results",
    "referrals": "stg_police__referrals",
    "supervision": "stg_probation__supervision",
    "contacts": "stg_health__contacts",
    "cases": "stg_advocacy__cases",
}
FLAG_CODES = (
    "UNRECOGNISED_COURSE_OF_CONDUCT", "NO_SPO_CONSIDERED", "INTERIM_SPO_LATE", "BREACH_RESPONSE_OVER_24H",
    "REPEAT_BREACHES_NOT_RECORDED_AS_STALKING", "NO_ADVOCACY_REFERRAL", "SPO_REQUEST_NOT_ACTED_ON",
    "SUMMARY_TIME_LIMIT_AT_RISK", "SPO_WITHOUT_POSITIVE_REQUIREMENTS",
)
FUNNEL_STAGES = ("RECORDED", "CPS_REFERRED", "CHARGED", "COURT", "CONVICTED", "CONVICTED_STALKING")
JOURNEY_EVENT_TYPES = (
    "CRIME_REPORTED", "CPS_REFERRED", "CHARGED", "OUTCOME", "ORDER_APPLIED", "ORDER_GRANTED", "ORDER_REFUSED",
    "BREACH_REPORTED", "BREACH_RESPONDED", "ARREST", "COURT_RESULT", "REFERRAL", "ADVOCACY_REFERRAL",
    "ADVOCACY_CLOSED", "SPO_REQUESTED", "HEALTH_CONTACT", "SUPERVISION_START", "SUPERVISION_END",
    "MASIP_ACCEPTED", "MASIP_ENDED",
)


#: Validate every row (a first publication, a full refresh), or only what changed since the published build.
FULL, CHANGED = "full", "changed"
#: How each mart's rows are narrowed in a CHANGED validation: to the changed dyads, to the rows whose key
#: columns have a changed row, or not at all (small aggregates).
DYAD_MARTS = ("victim_journey", "dyad_flags", "panel")
#: Columns holding the run's reference date on every row: not compared when finding what changed.
RUN_DATE_COLUMNS = ("as_of_date",)
MART_KEYS: dict[str, tuple[str, ...]] = {
    "person_xref": ("source_id", "source_table", "record_ref", "role"),
    "reoffending": ("perpetrator_id",),
}


class DataQualityError(RuntimeError):
    """A suite failed; the candidate warehouse was not published."""


@dataclass(frozen=True)
class SuiteResult:
    suite: str
    rows: int
    evaluated: int
    failures: tuple[dict[str, Any], ...]

    @property
    def success(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class QualityReport:
    suites: tuple[SuiteResult, ...]
    results_path: Path
    scope: str = FULL  # FULL or CHANGED (only what changed since the published build)
    rules: str | None = None  # rules_digest of the suites validated (recorded by the publication)

    @property
    def success(self) -> bool:
        return all(s.success for s in self.suites)

    def summary(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "scope": self.scope,
            "suites": len(self.suites),
            "expectations": sum(s.evaluated for s in self.suites),
            "failed": [{"suite": s.suite, **f} for s in self.suites for f in s.failures],
        }

    def describe_failures(self) -> str:
        lines = [
            f"- {s.suite}: {f['expectation']} on {f['column'] or 'table'} ({f['unexpected_count']} unexpected rows)"
            for s in self.suites
            for f in s.failures
        ]
        return "\n".join(lines)


def staged_column_name(column: Column) -> str:
    """The staging models' name for a contract column (the dbt naming convention:
    ``_date`` for dates, ``has_`` for booleans); a renamed column fails its suite loudly."""
    if column.type is ColumnType.DATE and not column.name.endswith("_date"):
        return column.name.removesuffix("_at") + "_date"
    if column.type is ColumnType.FLAG:
        return f"has_{column.name}"
    return column.name


def _contract_suite(contract: TableContract, code_lists: dict[str, frozenset[str]], latest_extract: date) -> list[Any]:
    """A staging model's suite: its contract's rules, with dates bounded as ingest bounds them (so that only a
    model defect, never a row ingest accepted, can fail it)."""
    import great_expectations.expectations as gxe

    expectations: list[Any] = [gxe.ExpectCompoundColumnsToBeUnique(column_list=["source_id", contract.ref_column])]
    for column in contract.kept_columns:
        name = staged_column_name(column)
        if column.required:
            expectations.append(gxe.ExpectColumnValuesToNotBeNull(column=name))
        if column.type is ColumnType.CODE and column.code_list:
            expectations.append(gxe.ExpectColumnValuesToBeInSet(column=name, value_set=sorted(code_lists[column.code_list])))
        if column.type in (ColumnType.DATE, ColumnType.DATETIME):
            day_after = latest_plausible_date(column, latest_extract) + timedelta(days=1)
            expectations.append(gxe.ExpectColumnValuesToBeBetween(
                column=name, min_value=EARLIEST_EVENT, max_value=datetime.combine(day_after, time.min), strict_max=True,
            ))
    return expectations


#: The model each of these marts is built from: the mart may be empty only when that model is (a partnership's first
#: week may bring only probation or health records, so no dyad and no journey); otherwise an empty mart is a defect.
MART_INPUTS = {"marts.person_xref": "intermediate.int_person_records", "marts.victim_journey": "intermediate.int_dyads"}


def _mart_suites(has_inputs: dict[str, bool]) -> dict[str, tuple[str, list[Any]]]:
    """Each mart suite: the SQL of the rows it checks (every row of the mart, with derived check columns), and its
    expectations. The SQL keeps the mart's key columns, so :func:`_changed_rows` can narrow it. ``has_inputs``:
    whether each mart of :data:`MART_INPUTS` has rows to be built from."""
    import great_expectations.expectations as gxe

    breach_events = "('BREACH_REPORTED', 'BREACH_RESPONDED', 'ARREST')"
    return {
        "marts.person_xref": (
            "select * from marts.person_xref",
            [
                gxe.ExpectTableRowCountToBeBetween(min_value=int(has_inputs["marts.person_xref"])),
                gxe.ExpectCompoundColumnsToBeUnique(column_list=["source_id", "source_table", "record_ref", "role"]),
                gxe.ExpectColumnValuesToNotBeNull(column="person_id"),
                gxe.ExpectColumnValuesToBeInSet(column="role", value_set=["VICTIM", "PERPETRATOR"]),
                gxe.ExpectColumnValuesToBeBetween(column="match_probability", min_value=0, max_value=1),
            ],
        ),
        "marts.victim_journey": (
            f"""
            select journey.*,
                journey.event_type not in {breach_events} or orders.order_ref is not null as has_live_order
            from marts.victim_journey as journey
            left join staging.stg_police__breaches as breaches
                on journey.event_type in {breach_events}
                and journey.source_id = breaches.source_id and journey.record_ref = breaches.breach_ref
            left join staging.stg_police__orders as orders
                on breaches.source_id = orders.source_id and breaches.order_ref = orders.order_ref
            """,
            [
                gxe.ExpectTableRowCountToBeBetween(min_value=int(has_inputs["marts.victim_journey"])),
                gxe.ExpectColumnValuesToBeUnique(column="event_id"),
                gxe.ExpectColumnValuesToNotBeNull(column="event_id"),
                gxe.ExpectColumnValuesToNotBeNull(column="dyad_id"),
                gxe.ExpectColumnValuesToNotBeNull(column="victim_id"),
                gxe.ExpectColumnValuesToBeInSet(column="event_type", value_set=list(JOURNEY_EVENT_TYPES)),
                gxe.ExpectColumnValuesToBeBetween(column="event_at", min_value=EARLIEST_EVENT),
                gxe.ExpectColumnValuesToBeInSet(column="has_live_order", value_set=[True]),
            ],
        ),
        "marts.dyad_flags": (
            """
            select flags.*, flags.dyad_id in (select dyad_id from marts.victim_journey) as has_journey
            from marts.dyad_flags as flags
            """,
            [
                gxe.ExpectCompoundColumnsToBeUnique(column_list=["dyad_id", "flag_code"]),
                gxe.ExpectColumnValuesToBeInSet(column="flag_code", value_set=list(FLAG_CODES)),
                gxe.ExpectColumnValuesToNotBeNull(column="raised_at"),
                gxe.ExpectColumnValuesToNotBeNull(column="evidence_refs"),
                gxe.ExpectColumnValuesToBeInSet(column="has_journey", value_set=[True]),
            ],
        ),
        "marts.panel": (
            # a MASIP referral may name a crime whose suspect is unknown: only a caseload reason needs a perpetrator
            (
                "select *, perpetrator_id is not null or not is_on_masip_caseload as has_perpetrator_if_on_caseload "
                "from marts.panel"
            ),
            [
                gxe.ExpectColumnValuesToBeUnique(column="dyad_id"),
                gxe.ExpectColumnValuesToNotBeNull(column="reason"),
                gxe.ExpectColumnValuesToNotBeNull(column="victim_id"),
                gxe.ExpectColumnValuesToBeInSet(column="has_perpetrator_if_on_caseload", value_set=[True]),
            ],
        ),
        "marts.attrition_funnel": (
            "select * from marts.attrition_funnel",
            [
                gxe.ExpectCompoundColumnsToBeUnique(column_list=["force", "financial_year", "stage"]),
                gxe.ExpectColumnValuesToBeInSet(column="stage", value_set=list(FUNNEL_STAGES)),
                gxe.ExpectColumnValuesToBeBetween(column="crimes", min_value=0),
                gxe.ExpectColumnValuesToMatchRegex(column="financial_year", regex=r"^\d{4}-\d{2}$"),
            ],
        ),
        "marts.attrition_funnel_published": (
            # what leaves the secure area: every count is suppressed (null) or a multiple of 5, never 1–7
            (
                "select *, crimes is null or (crimes % 5 = 0 and crimes not between 1 and 7) as is_disclosable "
                "from marts.attrition_funnel_published"
            ),
            [
                gxe.ExpectCompoundColumnsToBeUnique(column_list=["force", "financial_year", "stage"]),
                gxe.ExpectColumnValuesToBeInSet(column="is_disclosable", value_set=[True]),
            ],
        ),
        "marts.reoffending": (
            "select * from marts.reoffending",
            [
                gxe.ExpectColumnValuesToBeUnique(column="perpetrator_id"),
                gxe.ExpectColumnValuesToNotBeNull(column="intervention_start"),
                gxe.ExpectColumnValuesToBeBetween(column="pre_offences", min_value=0),
                gxe.ExpectColumnValuesToBeBetween(column="post_offences", min_value=0),
            ],
        ),
    }


def _is_table_level(expectation: Any) -> bool:
    return not (getattr(expectation, "column", None) or getattr(expectation, "column_list", None))


def _checked_columns(sql: str, expectations: list[Any]) -> str:
    """``sql`` narrowed to the columns the expectations look at, so a national-size mart fits in memory."""
    columns: dict[str, None] = {}
    for expectation in expectations:
        for name in [getattr(expectation, "column", None), *(getattr(expectation, "column_list", None) or [])]:
            if name:
                columns[name] = None
    selected = ", ".join(f'"{name}"' for name in columns) or "1 as row_present"
    return f"select {selected} from ({sql}) as checked"


def _frame(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    """The rows of ``sql`` as pandas, timestamps in nanoseconds where they fit.

    DuckDB hands timestamps over in microseconds, and GX compares only nanosecond ones in one vectorised
    step: others it compares value by value in Python (19 of a national year's 55 s of validation). A
    timestamp outside the nanosecond range (before 1677 or after 2262) keeps its column as it is, so it is
    still judged, only slower.
    """
    frame = con.execute(sql).df()
    for name, dtype in frame.dtypes.items():
        if pd.api.types.is_datetime64_dtype(dtype) and dtype != "datetime64[ns]":
            try:
                frame[name] = frame[name].astype("datetime64[ns]")
            except (OverflowError, pd.errors.OutOfBoundsDatetime):
                pass  # out of the nanosecond range: validated as it is
    return frame


def _key_list(columns: tuple[str, ...]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def _changed_keys_sql(table: str, keys: tuple[str, ...], ignored: tuple[str, ...] = ()) -> str:
    """The ``keys`` of every row of ``table`` added, removed or altered since the published build (attached as
    ``published``): the symmetric difference of the two tables, duplicates counted, ``ignored`` columns left out.

    Rows are compared by their keys and a 64-bit hash of the row, three to four times faster than whole rows
    at national size (victim_journey's 3.3 million rows: 1.4 s, not 6.0); an altered row is missed only if
    its hash equals the old row's, one chance in 2^64.
    """
    columns = f"* exclude ({_key_list(ignored)})" if ignored else "*"
    rows = f"{_key_list(keys)}, hash(*columns({columns})) as row_hash"
    return (
        f"select {_key_list(keys)} from (select {rows} from {table} except all select {rows} from published.{table}) "
        f"union select {_key_list(keys)} from (select {rows} from published.{table} except all select {rows} from {table})"
    )


def _table_columns(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> list[tuple[str, str]]:
    """(name, type) of each column of ``catalog.schema.table``, in order (empty when there is no such table)."""
    return con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = ? and table_schema = ? and table_name = ? order by ordinal_position",
        [catalog, schema, table],
    ).fetchall()


def _run_date_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> tuple[str, ...]:
    """The :data:`RUN_DATE_COLUMNS` that ``schema.table`` of the candidate has."""
    catalog = con.execute("select current_database()").fetchone()[0]
    found = {name for name, _ in _table_columns(con, catalog, schema, table)}
    return tuple(c for c in RUN_DATE_COLUMNS if c in found)


def _staging_changed_sql(model: str, ref_column: str, mark: int) -> str:
    """Every row of the records with a version in a drop loaded after the publication mark ``mark``, and of those
    whose staged row differs from the published one in any way (a model change, a deletion)."""
    return (
        f"select staged.* from staging.{model} as staged semi join ("
        f"select changed.source_id, changed.{ref_column} from staging.{model} as changed "
        "inner join ops.loaded_drops as drops "
        "on changed.drop_name = drops.drop_name and changed.drop_sha256 = drops.drop_sha256 "
        f"where coalesce(drops.load_seq, 0) > {int(mark)} "
        f"union {_changed_keys_sql(f'staging.{model}', ('source_id', ref_column))}"
        f") as keys using (source_id, {ref_column})"
    )


def _has_same_tables(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the published warehouse has every table the changed validation diffs, with the same columns."""
    catalog = con.execute("select current_database()").fetchone()[0]
    tables = [("staging", model) for model in STAGING_MODELS.values()]
    tables += [("marts", table) for table in (*DYAD_MARTS, *MART_KEYS)]
    return all(
        (mine := _table_columns(con, catalog, schema, table)) and mine == _table_columns(con, "published", schema, table)
        for schema, table in tables
    )


def _changed_rows(con: duckdb.DuckDBPyConnection, suites: dict[str, tuple[str, list[Any]]], mark: int) -> dict[str, str]:
    """The SQL of each suite's rows to validate in a CHANGED validation (suites not listed: every row)."""
    narrowed: dict[str, str] = {}
    for table, model in STAGING_MODELS.items():
        narrowed[f"staging.{model}"] = _staging_changed_sql(model, TABLES[table].ref_column, mark)
    dyads = con.execute(" union ".join(
        _changed_keys_sql(f"marts.{t}", ("dyad_id",), _run_date_columns(con, "marts", t)) for t in DYAD_MARTS
    )).df()
    con.register("changed_dyads", dyads)
    for table in DYAD_MARTS:
        sql, _ = suites[f"marts.{table}"]
        narrowed[f"marts.{table}"] = f"select * from ({sql}) as rows semi join changed_dyads using (dyad_id)"
    for table, keys in MART_KEYS.items():
        sql, _ = suites[f"marts.{table}"]
        narrowed[f"marts.{table}"] = (
            f"select * from ({sql}) as rows semi join "
            f"({_changed_keys_sql(f'marts.{table}', keys, _run_date_columns(con, 'marts', table))}) as keys "
            f"using ({_key_list(keys)})"
        )
    log.info("Data quality: validating what changed since the published build (drops after load number %d, "
             "%d changed dyads)", mark, len(dyads))
    return narrowed


def _quiet_context() -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    # base.py sets its own logger to INFO, so it announced an "ephemeral docs site" temporary directory every run
    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # GX fingerprints every pandas batch below this many bytes by hashing every cell, twice per suite (the batch,
    # then its validator's copy of it): a marker nothing here reads, and 17 of a national year's 55 s
    pandas_execution_engine.HASH_THRESHOLD = 0
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _suites(
    code_lists: dict[str, frozenset[str]], latest_extract: date, has_inputs: dict[str, bool],
) -> dict[str, tuple[str, list[Any]]]:
    """Every suite by name: the SQL of the rows it checks and its expectations (the staging models' contract
    suites, then the marts'; see :func:`_contract_suite` and :func:`_mart_suites` for the arguments)."""
    suites = {
        f"staging.{model}": (f"select * from staging.{model}", _contract_suite(TABLES[table], code_lists, latest_extract))
        for table, model in STAGING_MODELS.items()
    }
    suites.update(_mart_suites(has_inputs))
    return suites


#: The reference date of :func:`rules_digest`: the suites' date bounds follow each run's latest extract, and
#: a bound that moves with the calendar is not a change of the rules.
_RULES_DATE = date(2000, 1, 1)


def rules_digest(code_lists: dict[str, frozenset[str]] | None = None) -> str:
    """A digest of every suite: its rows' SQL and its expectations' types and arguments, with the date bounds
    taken at a fixed date. It changes with a release that changes an expectation, a contract or a code list
    (``code_lists``: :func:`connectors.code_lists.load_code_lists`, read when not given)."""
    code_lists = code_lists if code_lists is not None else load_code_lists()
    suites = _suites(code_lists, _RULES_DATE, dict.fromkeys(MART_INPUTS, True))
    described = {
        name: [sql, [e.configuration.to_json_dict() for e in expectations]]
        for name, (sql, expectations) in sorted(suites.items())
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()[:16]


def validate_warehouse(warehouse: Path, results_dir: Path, published: Path | None = None) -> QualityReport:
    """Run every suite against ``warehouse``; write full results to ``results_dir``.

    With ``published`` (the published warehouse the candidate ``warehouse`` would replace), validate only what
    changed since that build (see the module's docstring); without it, or when the published warehouse was never
    published, has other marts or was published under other rules (:func:`rules_digest`), every row.
    """
    import great_expectations as gx

    context = _quiet_context()
    source = context.data_sources.add_pandas(name="warehouse")
    code_lists = load_code_lists()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        latest_date = con.execute("select max(extract_date) from ops.loaded_drops").fetchone()[0]
        if latest_date is None:
            raise DataQualityError(
                f"no drop has been loaded into {warehouse} yet, so there is nothing to validate or publish; "
                "see the run report's rejected drops, ask the senders to re-deliver, then re-run"
            )
        has_inputs = {mart: con.execute(f"select count(*) > 0 from {model}").fetchone()[0]
                      for mart, model in MART_INPUTS.items()}
        suites = _suites(code_lists, latest_date, has_inputs)
        scope, rows = FULL, {name: sql for name, (sql, _) in suites.items()}
        mark = published_through(con)
        rules = rules_digest(code_lists)
        same_rules = published_code_fingerprint(con, "quality_rules") == rules
        if published is not None and published.is_file() and mark is not None and same_rules:
            attach_read_only(con, published, "published")
            if _has_same_tables(con):
                scope = CHANGED
                rows.update(_changed_rows(con, suites, mark))
        frames = {}
        for name, (sql, expectations) in suites.items():
            column_level = [e for e in expectations if not _is_table_level(e)]
            table_level = [e for e in expectations if _is_table_level(e)]
            frames[name] = [(_frame(con, _checked_columns(rows[name], column_level)), column_level)]
            if table_level:  # row counts: of the whole table, whatever the scope
                frames[name].append((_frame(con, _checked_columns(sql, table_level)), table_level))
    results: list[SuiteResult] = []
    full: dict[str, Any] = {}
    for name, parts in frames.items():
        outcomes = []
        for part, (frame, expectations) in enumerate(parts):
            batch = (
                source.add_dataframe_asset(name=f"{name}#{part}")
                .add_batch_definition_whole_dataframe(name="whole")
                .get_batch(batch_parameters={"dataframe": frame})
            )
            suite = gx.ExpectationSuite(name=f"{name}#{part}", expectations=expectations)
            # pass/fail only first: a publication that passes (the usual case) skips the lists of unexpected
            # values every expectation collects otherwise (national year: 77 -> 55 s); a failing suite is
            # validated again for its unexpected counts and examples
            validation = batch.validate(suite, result_format="BOOLEAN_ONLY")
            if not validation.success:
                validation = batch.validate(suite, result_format="SUMMARY")
            full[f"{name}#{part}"] = validation.to_json_dict()
            outcomes.extend(validation.results)
        failures = tuple(
            {
                "expectation": r.expectation_config.type,
                "column": r.expectation_config.kwargs.get("column")
                or ",".join(r.expectation_config.kwargs.get("column_list") or []),
                "unexpected_count": (r.result or {}).get("unexpected_count"),
            }
            for r in outcomes
            if not r.success
        )
        results.append(SuiteResult(name, len(parts[0][0]), len(outcomes), failures))
    results_dir.mkdir(parents=True, exist_ok=True)
    results_path = results_dir / "validation_results.json"
    write_output(results_path, json.dumps({"scope": scope, **full}, indent=1, default=str))
    return QualityReport(tuple(results), results_path, scope, rules)
