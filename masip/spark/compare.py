"""Are the marts Spark built the marts DuckDB built? (issue #16)

Each mart is compared as a multiset of rows (stored order is not part of a
mart's contract), cell by cell after one normalisation that hides no
difference of meaning: a null is a null (NaN, NaT, None), a number is compared
by value whatever its storage type (DuckDB's double and Spark's decimal of
the same value are equal; integers are numbers too), a timestamp is read in
UTC. A date and a timestamp are NOT equal, nor are ``'1'`` and ``1``.

``person_xref`` is also compared as a partition of record roles: which
record roles resolve to the same person, whatever the person ids are called;
so is ``linkage.person_links``, the linkage stage's output on either engine,
which is compared with the review tables the stage writes
(:func:`compare_linkage`).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

#: The marts the equivalence test asserts identical (issue #16).
CHECKED_MARTS = ("person_xref", "victim_journey", "dyad_flags", "panel", "attrition_funnel", "reoffending")
ROLE_KEY = ("source_id", "source_table", "record_ref", "role")
#: The linkage stage's output (record role -> person), as the DuckDB run wrote it into the warehouse.
PERSON_LINKS = "linkage.person_links"
#: The tables the linkage on Spark writes (masip.spark.linkage), under the warehouse's schema ``linkage``.
LINKAGE_TABLES = ("person_links", "review_queue", "review_fields")
#: Tables also compared as a partition of record roles into persons.
PARTITIONED = ("person_xref", PERSON_LINKS)


@dataclass
class MartComparison:
    """The outcome for one mart: identical, or every difference found."""

    table: str
    duckdb_rows: int
    spark_rows: int
    differences: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.differences


def _cell(value: Any) -> Any:
    """The normalised form of one cell (see the module docstring)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        number = round(float(value), 9)
        return 0.0 if number == 0 else number
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return ("timestamp", value.isoformat())
    if isinstance(value, date):
        return ("date", value.isoformat())
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return _cell(value.tolist())
    if isinstance(value, (list, tuple)):
        return tuple(_cell(v) for v in value)
    return value


def _rows(frame: pd.DataFrame, columns: list[str]) -> Counter:
    records = frame[columns].astype(object).itertuples(index=False, name=None)
    return Counter(tuple(_cell(v) for v in row) for row in records)


def type_class(sql_type: str) -> str:
    """text, number, boolean, date, timestamp or the type itself: what a column's values mean, not their width."""
    upper = sql_type.upper()
    if upper.startswith("TIMESTAMP"):
        return "timestamp"
    if upper in ("VARCHAR", "STRING") or upper.startswith("VARCHAR"):
        return "text"
    if upper.startswith(("DECIMAL", "NUMERIC")) or upper in (
        "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
        "FLOAT", "DOUBLE", "REAL",
    ):
        return "number"
    return upper.lower()


def _read(con: duckdb.DuckDBPyConnection, query: str) -> pd.DataFrame:
    """The query's rows; ``attrs['types']`` holds each column's :func:`type_class` (DuckDB's pandas
    conversion turns a date into a timestamp, so the types are compared separately)."""
    relation = con.sql(query)
    frame = relation.df()
    frame.attrs["types"] = {name: type_class(str(t)) for name, t in zip(relation.columns, relation.types)}
    return frame


def read_duckdb_mart(warehouse: Path, table: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return _read(con, f"select * from marts.{table}")


def read_spark_mart(marts_dir: Path, table: str) -> pd.DataFrame:
    with duckdb.connect() as con:
        con.execute("set timezone = 'UTC'")
        return _read(con, f"select * from read_parquet('{marts_dir / (table + '.parquet')}/*.parquet')")


def person_partition(frame: pd.DataFrame) -> set[frozenset[tuple[str, ...]]]:
    """person_xref as the set of groups of record roles that share a person."""
    groups = frame.groupby("person_id")[list(ROLE_KEY)].apply(
        lambda rows: frozenset(rows.itertuples(index=False, name=None))
    )
    return set(groups.tolist())


def compare_frames(table: str, on_duckdb: pd.DataFrame, on_spark: pd.DataFrame, examples: int = 5) -> MartComparison:
    """Compare one mart (columns, rows, and for person_xref the partition of record roles)."""
    result = MartComparison(table, len(on_duckdb), len(on_spark))
    missing = sorted(set(on_duckdb.columns) - set(on_spark.columns))
    extra = sorted(set(on_spark.columns) - set(on_duckdb.columns))
    if missing or extra:
        result.differences.append(f"columns only on DuckDB: {missing}; only on Spark: {extra}")
    columns = [c for c in on_duckdb.columns if c in set(on_spark.columns)]
    duck_types, spark_types = on_duckdb.attrs.get("types", {}), on_spark.attrs.get("types", {})
    retyped = {c: (duck_types[c], spark_types[c]) for c in columns
               if c in duck_types and c in spark_types and duck_types[c] != spark_types[c]}
    if retyped:
        result.differences.append(f"column types (DuckDB, Spark): {retyped}")
    duck_rows, spark_rows = _rows(on_duckdb, columns), _rows(on_spark, columns)
    if duck_rows != spark_rows:
        only_duck = list((duck_rows - spark_rows).elements())
        only_spark = list((spark_rows - duck_rows).elements())
        result.differences.append(
            f"{len(only_duck)} row(s) only on DuckDB, {len(only_spark)} only on Spark; columns {columns}; "
            f"e.g. DuckDB {only_duck[:examples]} vs Spark {only_spark[:examples]}"
        )
    if table in PARTITIONED and person_partition(on_duckdb) != person_partition(on_spark):
        result.differences.append(f"{table} groups the record roles into different persons")
    return result


def compare_marts(warehouse: Path, marts_dir: Path, tables: tuple[str, ...] = CHECKED_MARTS) -> list[MartComparison]:
    """Compare ``tables`` of the DuckDB ``warehouse`` with the Spark build's Parquet marts in ``marts_dir``."""
    return [
        compare_frames(table, read_duckdb_mart(warehouse, table), read_spark_mart(marts_dir, table))
        for table in tables
    ]


def compare_linkage(warehouse: Path, inputs_dir: Path) -> list[MartComparison]:
    """The DuckDB linkage's tables (in ``warehouse``) against the linkage on Spark's (``inputs_dir/linkage``)."""
    comparisons = []
    for table in LINKAGE_TABLES:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            on_duckdb = _read(con, f"select * from linkage.{table}")
        with duckdb.connect() as con:
            on_spark = _read(con, f"select * from read_parquet('{inputs_dir / 'linkage' / f'{table}.parquet'}')")
        comparisons.append(compare_frames(f"linkage.{table}", on_duckdb, on_spark))
    return comparisons


def describe(comparisons: list[MartComparison]) -> str:
    """One line per mart: identical (with its row count) or its differences."""
    lines = []
    for c in comparisons:
        if c.identical:
            lines.append(f"  {c.table}: identical ({c.duckdb_rows} rows)")
        else:
            lines.append(f"  {c.table}: DIFFERENT (DuckDB {c.duckdb_rows} rows, Spark {c.spark_rows})")
            lines += [f"    - {d}" for d in c.differences]
    return "\n".join(lines)
