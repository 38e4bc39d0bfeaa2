"""Hand-built raw rows for dbt tests: written the way ingest writes them (docs/warehouse.md).

Tests of dbt models build tiny scenarios directly in the ``raw`` schema, so
each assertion can name the record it is about and no CSV round trip is paid.
As ingest does, a person role's generalised attributes go to
``raw.person_roles`` and its tokens to the linkage vault beside the warehouse.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb

from connectors.contracts import TABLES
from connectors.raw_schema import PERSON_ROLE_COLUMNS, create_raw_schema
from connectors.vault import Vault

REF_COLUMN = {name: contract.ref_column for name, contract in TABLES.items()}


@dataclass(frozen=True)
class Drop:
    name: str
    source_id: str
    agency: str
    extract_date: date

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()


@dataclass
class Row:
    """One input row version of an entity table, with its person roles."""

    table: str
    drop: Drop
    line: int
    values: dict
    updated_at: datetime
    status: str = "ACTIVE"
    persons: dict[str, dict] = field(default_factory=dict)  # role -> tokens and generalised attributes

    @property
    def version_id(self) -> str:
        return hashlib.sha256(f"{self.drop.sha256}|{self.table}.csv|{self.line}".encode()).hexdigest()[:32]


def _insert(con: duckdb.DuckDBPyConnection, table: str, values: dict) -> None:
    con.execute(
        f"insert into {table} ({', '.join(values)}) values ({', '.join('?' for _ in values)})", list(values.values())
    )


_GENERALISED = {name for name, _ in PERSON_ROLE_COLUMNS}


def token(label: object) -> object:
    """A readable test token (``pnc-bob``) as ingest makes tokens: 32 hex digits (equal labels, equal tokens);
    blank and missing stay so."""
    return hashlib.sha256(label.encode()).hexdigest()[:32] if isinstance(label, str) and label else label


def _as_token(column: str, value: object) -> object:
    """The vault's form of a test token (as ingest makes tokens, :func:`pseudonymisation.prf.leading_int64`): its
    first 64 bits as a signed integer."""
    if not column.endswith("_token"):
        return value
    made = token(value)
    return int.from_bytes(bytes.fromhex(made[:16]), "big", signed=True) if made else None


def load(warehouse: Path, rows: list[Row], drops: tuple[Drop, ...]) -> None:
    """Write ``rows`` to the raw tables of a new warehouse and its vault, in the given order."""
    with Vault.for_warehouse(warehouse).open_records() as vault, duckdb.connect(str(warehouse)) as con:
        create_raw_schema(con)
        for drop in drops:
            _insert(con, "ops.loaded_drops", {
                "drop_name": drop.name, "drop_sha256": drop.sha256, "source_id": drop.source_id,
                "agency": drop.agency, "extract_date": drop.extract_date,
            })
        for row in rows:
            _insert(con, f"raw.{row.table}", {
                "source_id": row.drop.source_id, "agency": row.drop.agency, "drop_name": row.drop.name,
                "drop_sha256": row.drop.sha256, "extract_date": row.drop.extract_date,
                "file_name": f"{row.table}.csv", "line_number": row.line, "version_id": row.version_id,
                "updated_at": row.updated_at, "record_status": row.status, **row.values,
            })
            for role, person in row.persons.items():
                keys = {"source_id": row.drop.source_id, "source_table": row.table,
                        "record_ref": row.values[REF_COLUMN[row.table]], "role": role, "version_id": row.version_id}
                _insert(con, "raw.person_roles", {
                    **keys, "agency": row.drop.agency, **{k: v for k, v in person.items() if k in _GENERALISED},
                })
                _insert(vault, "person_encodings", {
                    **keys, "drop_name": row.drop.name, "drop_sha256": row.drop.sha256, "key_version": "test-key-1",
                    **{k: _as_token(k, v) for k, v in person.items() if k not in _GENERALISED},
                })
