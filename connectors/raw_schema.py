"""DDL of the warehouse's ``raw`` and ``ops`` schemas, and the person columns (see docs/warehouse.md).

Derived from the contracts so that a new column in a contract reaches the
warehouse without a second edit.
"""

from __future__ import annotations

import duckdb

from connectors.contracts import TABLES, ColumnType, TableContract
from pseudonymisation.encodings import PERSON_ENCODING_COLUMNS
from pseudonymisation.tokens import TOKEN_PURPOSES

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
    ColumnType.REFERENCE: "varchar",
    ColumnType.FORCE: "varchar",
    ColumnType.CODE: "varchar",
    ColumnType.CODE_SET: "varchar",
    ColumnType.DATE: "date",
    ColumnType.DATETIME: "timestamp",
    ColumnType.INTEGER: "integer",
    ColumnType.FLAG: "boolean",
}

#: ``raw.person_roles``: one row per record role per input row version, with the generalised
#: attributes of SPEC §3.4 only. The analyst warehouse holds nothing else about a person.
PERSON_ROLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source_id", "varchar"),
    ("agency", "varchar"),
    ("source_table", "varchar"),
    ("record_ref", "varchar"),
    ("role", "varchar"),
    ("version_id", "varchar"),
    ("birth_year", "integer"),
    ("sex", "varchar"),
    ("postcode_district", "varchar"),
)

#: What identifies one record role version, in the warehouse and in the vault alike.
ROLE_KEY_COLUMNS: tuple[str, ...] = ("source_id", "source_table", "record_ref", "role", "version_id")

#: Every encoding of a person's identifiers, as the linkage vault stores them: the keyed tokens (one per
#: purpose; each the signed 64-bit integer the linkage compares, ``pseudonymisation.prf.leading_int64``) and
#: the keyed fuzzy-linkage encodings (Bloom filters as BIT, compared with bit_count(a & b); variant tokens
#: as sorted lists of those integers). They live in the linkage vault only (``connectors.vault``), never in
#: the warehouse.
PERSON_ENCODED_COLUMNS: tuple[tuple[str, str], ...] = (
    *((f"{purpose}_token", "bigint") for purpose in TOKEN_PURPOSES),
    *PERSON_ENCODING_COLUMNS,
)

#: One person record role as the linkage reads it: the warehouse's role and generalised attributes
#: joined with the vault's encodings, and the key version that made them.
PERSON_RECORD_COLUMNS: tuple[tuple[str, str], ...] = (
    *PERSON_ROLE_COLUMNS,
    ("key_version", "varchar"),
    *PERSON_ENCODED_COLUMNS,
)

#: A row of ``ops.quarantine`` or ``ops.warnings`` (:class:`connectors.reader.FlaggedRow` with its drop and file).
FLAGGED_ROW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source_id", "varchar"),
    ("drop_name", "varchar"),
    ("drop_sha256", "varchar"),  # the delivery's: two deliveries may share a drop name (a corrected re-delivery)
    ("file", "varchar"),
    ("line_number", "integer"),
    ("record_ref", "varchar"),
    ("rule", "varchar"),
    ("detail", "varchar"),
)
#: How the rejection of a changed copy of a delivery already loaded begins (``connectors.ingest``).
LOADED_BEFORE = "its manifest.json was loaded before"

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
        # rejected as a changed copy of a delivery already loaded (its manifest's sha256), not before it loaded
        ("is_changed_copy", "boolean"),
    ),
    # one row per row quarantined, and per value set to null as a warning: where, and which rule (value withheld)
    "quarantine": FLAGGED_ROW_COLUMNS,
    "warnings": FLAGGED_ROW_COLUMNS,
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


class PreVaultWarehouse(RuntimeError):
    """The warehouse still holds identifier encodings (``raw.person_records``, from before the linkage vault)."""


def _add_delivery_digest(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Give ``ops.<table>`` of a warehouse from before its ``drop_sha256`` the column, filled in where the drop name
    was loaded once (where two deliveries share it, a row's delivery is not known: it stays null)."""
    present = con.execute(
        "select count(*) from information_schema.columns "
        "where table_schema = 'ops' and table_name = ? and column_name = 'drop_sha256'", [table]
    ).fetchone()[0]
    if present:
        return
    con.execute(f"alter table ops.{table} add column drop_sha256 varchar")
    con.execute(
        f"update ops.{table} as flagged set drop_sha256 = drops.drop_sha256 from ("
        "select source_id, drop_name, any_value(drop_sha256) as drop_sha256 from ops.loaded_drops "
        "group by source_id, drop_name having count(*) = 1"
        ") as drops where flagged.source_id = drops.source_id and flagged.drop_name = drops.drop_name"
    )


def create_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every ``raw`` and ``ops`` table that does not exist yet.

    Refuses a warehouse from before the linkage vault: its ``raw.person_records``
    holds tokens and Bloom filters, which the analyst warehouse must not.
    """
    old = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'raw' and table_name = 'person_records'"
    ).fetchone()[0]
    if old:
        raise PreVaultWarehouse(
            "this warehouse holds raw.person_records (identifier encodings, from before the linkage vault). "
            "Move it and its landing_archive aside, then rebuild warehouse and vault with `masip run` over the "
            "landing folder (or the drops restored from the archive); destroy the old file once the rebuild is published."
        )
    con.execute("create schema if not exists raw")
    con.execute("create schema if not exists ops")
    for contract in TABLES.values():
        _create(con, f"raw.{contract.name}", entity_columns(contract))
    _create(con, "raw.person_roles", PERSON_ROLE_COLUMNS)
    con.execute("create sequence if not exists ops.drop_load_seq start 1")
    for name, columns in OPS_TABLES.items():
        _create(con, f"ops.{name}", columns)
    # warehouses from before load_seq: their drops count as loaded before any numbered one
    con.execute("alter table ops.loaded_drops add column if not exists load_seq bigint")
    for table in ("quarantine", "warnings"):
        _add_delivery_digest(con, table)
    # warehouses from before is_changed_copy: their rejections said so only in the reason's first words
    con.execute("alter table ops.rejected_drops add column if not exists is_changed_copy boolean")
    con.execute(
        "update ops.rejected_drops set is_changed_copy = starts_with(reason, ?) where is_changed_copy is null",
        [LOADED_BEFORE],
    )
