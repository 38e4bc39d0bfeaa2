"""DDL of the ``raw`` and ``ops`` schemas (see docs/warehouse.md).

Derived from the contracts so that a new column in a contract reaches the
warehouse without a second edit.
"""

from __future__ import annotations

import duckdb

from connectors.contracts import TABLES, ColumnType, TableContract
from pseudonymisation.encodings import PERSON_ENCODING_COLUMNS

METADATA_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source_id", "varchar"),
    ("agency", "varchar"),
    ("drop_name", "varchar"),
    ("drop_sha256", "varchar"),
    ("extract_date", "date"),
    ("file_name", "varchar"),
    ("line_number", "integer"),
    ("version_id", "varchar"),
    ("updated_at", "timestamp"),
    ("record_status", "varchar"),
)

SQL_TYPES: dict[ColumnType, str] = {
    ColumnType.TEXT: "varchar",
    ColumnType.CODE: "varchar",
    ColumnType.CODE_SET: "varchar",
    ColumnType.DATE: "date",
    ColumnType.DATETIME: "timestamp",
    ColumnType.INTEGER: "integer",
    ColumnType.FLAG: "boolean",
}

PERSON_RECORD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source_id", "varchar"),
    ("agency", "varchar"),
    ("source_table", "varchar"),
    ("record_ref", "varchar"),
    ("role", "varchar"),
    ("version_id", "varchar"),
    ("key_version", "varchar"),
    ("pnc_token", "varchar"),
    ("nhs_token", "varchar"),
    ("crn_token", "varchar"),
    ("name_dob_token", "varchar"),
    ("dob_token", "varchar"),
    ("postcode_token", "varchar"),
    ("birth_year", "integer"),
    ("sex", "varchar"),
    ("postcode_district", "varchar"),
    # salted keyed fuzzy-linkage encodings (pseudonymisation.encodings.PersonEncoder):
    # Bloom filters as BIT (compared with bit_count(a & b) in SQL), salted tokens
    *PERSON_ENCODING_COLUMNS,
)

OPS_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "loaded_drops": (
        ("drop_name", "varchar"),
        ("drop_sha256", "varchar"),
        ("source_id", "varchar"),
        ("agency", "varchar"),
        ("extract_date", "date"),
        # the order drops were loaded in; incremental dbt models read only drops newer than their last build
        ("load_seq", "bigint default nextval('ops.drop_load_seq')"),
    ),
    "rejected_drops": (
        ("source_id", "varchar"),
        ("drop_name", "varchar"),
        ("drop_sha256", "varchar"),
        ("extract_date", "date"),
        ("reason", "varchar"),
    ),
    "quarantine": (
        ("source_id", "varchar"),
        ("drop_name", "varchar"),
        ("file", "varchar"),
        ("line_number", "integer"),
        ("record_ref", "varchar"),
        ("rule", "varchar"),
        ("detail", "varchar"),
    ),
    "run_report": (
        ("run_id", "varchar"),
        ("source_id", "varchar"),
        ("drop_name", "varchar"),
        ("file", "varchar"),
        ("rows_read", "integer"),
        ("rows_loaded", "integer"),
        ("rows_quarantined", "integer"),
        ("rows_duplicate", "integer"),
        ("warnings", "integer"),
    ),
}


def entity_columns(contract: TableContract) -> tuple[tuple[str, str], ...]:
    """Column names and SQL types of ``raw.<table>``."""
    kept = tuple((c.name, SQL_TYPES[c.type]) for c in contract.kept_columns)
    return METADATA_COLUMNS + kept


def _create(con: duckdb.DuckDBPyConnection, table: str, columns: tuple[tuple[str, str], ...]) -> None:
    body = ", ".join(f"{name} {sql_type}" for name, sql_type in columns)
    con.execute(f"create table if not exists {table} ({body})")


def _add_missing_columns(con: duckdb.DuckDBPyConnection, table: str, columns: tuple[tuple[str, str], ...]) -> None:
    """Columns added to a table after a warehouse was created (e.g. the linkage encodings).

    Rows loaded before have NULL there; re-ingesting from the landing copies
    (as a key rotation does) fills them in.
    """
    for name, sql_type in columns:
        con.execute(f"alter table {table} add column if not exists {name} {sql_type}")


def create_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every ``raw`` and ``ops`` table that does not exist yet."""
    con.execute("create schema if not exists raw")
    con.execute("create schema if not exists ops")
    for contract in TABLES.values():
        _create(con, f"raw.{contract.name}", entity_columns(contract))
    _create(con, "raw.person_records", PERSON_RECORD_COLUMNS)
    _add_missing_columns(con, "raw.person_records", PERSON_RECORD_COLUMNS)
    con.execute("create sequence if not exists ops.drop_load_seq start 1")
    for name, columns in OPS_TABLES.items():
        _create(con, f"ops.{name}", columns)
    # warehouses from before load_seq: their drops count as loaded before any numbered one
    con.execute("alter table ops.loaded_drops add column if not exists load_seq bigint")
