"""Finds plain identifiers of the input anywhere in a warehouse or output files (SPEC §3.1).

Names are matched as whole words, case-insensitively, in their delivered and
normalised forms (so "Ali" is not found inside "MALICIOUS"); dates of birth,
postcodes, PNC IDs, NHS numbers and CRNs are matched as substrings in every
written form (delivered, normalised, ISO). Free text (``offence_desc``) is
matched as whole values.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from connectors.contracts import TABLES
from connectors.normalise import (
    clean_cell,
    date_parser,
    normalise_name,
    normalise_nhs_number,
    normalise_pnc,
    normalise_postcode,
)

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


@dataclass
class PlainIdentifiers:
    name_words: set[str] = field(default_factory=set)  # upper-case
    strings: set[str] = field(default_factory=set)  # exact substrings
    free_text: set[str] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.name_words) + len(self.strings) + len(self.free_text)


def collect_identifiers(drops_dir: Path) -> PlainIdentifiers:
    found = PlainIdentifiers()
    for manifest_path in sorted(drops_dir.glob("*/manifest.json")):
        manifest = json.loads(manifest_path.read_text(encoding="utf-8-sig"))
        encoding = "cp1252" if manifest["encoding"].lower() == "cp1252" else "utf-8-sig"
        parse_date = date_parser(manifest["date_format"])
        for listed in manifest["files"]:
            path = manifest_path.parent / listed["name"]
            contract = TABLES[path.stem]
            text = path.read_bytes().decode(encoding, errors="replace")
            for row in csv.DictReader(io.StringIO(text)):
                for person in contract.persons:
                    for column in person.identifier_columns:
                        value = clean_cell(row.get(column))
                        if not value:
                            continue
                        kind = column.removeprefix(person.prefix)
                        if kind in ("forename", "surname"):
                            words = {w.upper() for w in _WORD.findall(value) if len(w) >= 2}
                            normalised = normalise_name(value)
                            found.name_words |= words | ({normalised} if normalised else set())
                        elif kind == "dob":
                            found.strings.add(value)
                            parsed = parse_date(value)
                            if parsed:
                                found.strings |= {parsed.isoformat(), parsed.strftime("%d/%m/%Y")}
                        elif kind == "postcode":
                            normalised = normalise_postcode(value)
                            if normalised:
                                found.strings |= {normalised, normalised.replace(" ", "")}
                        elif kind == "sex":
                            continue
                        else:  # pnc, nhs_number, crn
                            found.strings.add(value.replace(" ", ""))
                            for normalise in (normalise_pnc, normalise_nhs_number):
                                normalised = normalise(value)
                                if normalised:
                                    found.strings.add(normalised)
                for column in contract.dropped_columns:
                    value = clean_cell(row.get(column))
                    if value and len(value) >= 8:
                        found.free_text.add(value)
    return found


def leaks_in_text(text: str, plain: PlainIdentifiers) -> list[str]:
    hits = [s for s in plain.strings if s in text]
    hits += [w for w in {w.upper() for w in _WORD.findall(text)} if w in plain.name_words]
    hits += [t for t in plain.free_text if t in text]
    return hits


def scan_cells(warehouse: Path, find: Callable[[str], list[str]]) -> dict[str, list[str]]:
    """``{schema.table.column: [hits]}``: what ``find`` finds in the text of any cell of any table."""
    leaks: dict[str, list[str]] = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_schema not in ('information_schema', 'pg_catalog')"
        ).fetchall()
        for schema, table, column in columns:
            values = con.execute(
                f'select distinct cast("{column}" as varchar) from "{schema}"."{table}" where "{column}" is not null'
            ).fetchall()
            hits = [h for (v,) in values for h in find(v)]
            if hits:
                leaks[f"{schema}.{table}.{column}"] = sorted(set(hits))[:5]
    return leaks


def scan_warehouse(warehouse: Path, plain: PlainIdentifiers) -> dict[str, list[str]]:
    """``{schema.table.column: [leaked values]}`` over every column of every table."""
    return scan_cells(warehouse, lambda text: leaks_in_text(text, plain))


def scan_files(root: Path, plain: PlainIdentifiers, suffixes: tuple[str, ...] = (".json", ".md", ".html", ".csv", ".txt", ".log")) -> dict[str, list[str]]:
    leaks: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in suffixes:
            hits = leaks_in_text(path.read_text(encoding="utf-8", errors="replace"), plain)
            if hits:
                leaks[str(path)] = sorted(set(hits))[:5]
    return leaks


# -- encodings of identifiers (SPEC §3 rule 7): the vault's values, anywhere outside the vault ----------------

_HEX_RUN = re.compile(r"[0-9a-fA-F]{16,}")
_BIT_RUN = re.compile(r"[01]{64,}")
_DECIMAL_RUN = re.compile(r"-?[0-9]{12,}")


@dataclass
class VaultEncodings:
    """Every token, filter and encoding the vault holds, in the forms it could be written elsewhere."""

    hex_text: set[str] = field(default_factory=set)  # tokens' 64 bits as hex text (lower case)
    decimal_text: set[str] = field(default_factory=set)  # tokens as the vault stores them, signed integers
    bit_text: set[str] = field(default_factory=set)  # Bloom filters as '0101…' text
    raw_bytes: set[bytes] = field(default_factory=set)  # tokens and filters as bytes

    def __len__(self) -> int:
        return len(self.hex_text) + len(self.bit_text)

    def in_text(self, text: str) -> list[str]:
        # a token's 64 bits may lead a longer hex run (the 128-bit hex token ingest makes)
        hits = [run for run in _HEX_RUN.findall(text) if run[:16].lower() in self.hex_text]
        hits += [run for run in _DECIMAL_RUN.findall(text) if run in self.decimal_text]
        hits += [run[:16] + "…" for run in _BIT_RUN.findall(text) if run in self.bit_text]
        return hits


def collect_encodings(records: Path) -> VaultEncodings:
    """The encodings in the vault's ``records.duckdb`` (every column but the record keys and the key version)."""
    from connectors.raw_schema import PERSON_ENCODED_COLUMNS

    found = VaultEncodings()
    with duckdb.connect(str(records), read_only=True) as con:
        for name, sql_type in PERSON_ENCODED_COLUMNS:
            if sql_type == "bit":
                for (bits,) in con.execute(
                    f"select distinct {name}::varchar from person_encodings where {name} is not null"
                ).fetchall():
                    found.bit_text.add(bits)
                    found.raw_bytes.add(int(bits, 2).to_bytes(len(bits) // 8, "big"))
                continue
            values = f"unnest({name})" if sql_type.endswith("[]") else name
            for (token,) in con.execute(
                f"select distinct {values} from person_encodings where {name} is not null"
            ).fetchall():
                if token is not None:
                    as_bytes = token.to_bytes(8, "big", signed=True)
                    found.hex_text.add(as_bytes.hex())
                    found.decimal_text.add(str(token))
                    found.raw_bytes.add(as_bytes)
    return found


def scan_warehouse_for_encodings(warehouse: Path, encodings: VaultEncodings) -> dict[str, list[str]]:
    """``{schema.table.column: [hits]}``: vault values in any cell of any table (as text, lists included)."""
    return scan_cells(warehouse, encodings.in_text)


def scan_files_for_encodings(root: Path, encodings: VaultEncodings) -> dict[str, list[str]]:
    """``{file: [hits]}``: vault values in any file under ``root``, as hex or bit text or as raw bytes."""
    leaks: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        blob = path.read_bytes()
        hits = encodings.in_text(blob.decode("latin-1"))
        hits += [needle.hex() for needle in encodings.raw_bytes if needle in blob]
        if hits:
            leaks[str(path)] = sorted(set(hits))[:5]
    return leaks


def binary_columns(warehouse: Path) -> list[str]:
    """Columns of type BLOB or BIT (or lists of them): the types encodings of identifiers take."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select table_schema, table_name, column_name, data_type from information_schema.columns "
            "where table_schema not in ('information_schema', 'pg_catalog')"
        ).fetchall()
    return [f"{s}.{t}.{c} {d}" for s, t, c, d in rows if re.search(r"\b(BLOB|BIT|BYTEA|VARBINARY)\b", d.upper())]


def hex_digest_columns(warehouse: Path) -> dict[str, str]:
    """``{schema.table.column: example}`` for every text column whose values are all hex digests (≥ 16 digits)."""
    found: dict[str, str] = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_schema not in ('information_schema', 'pg_catalog') and data_type = 'VARCHAR'"
        ).fetchall()
        for schema, table, column in columns:
            total, digests, example = con.execute(
                f'select count("{column}"), count(*) filter (where regexp_full_match("{column}", \'[0-9a-fA-F]{{16,}}\')), '
                f'min("{column}") from "{schema}"."{table}"'
            ).fetchone()
            if total and digests == total:
                found[f"{schema}.{table}.{column}"] = example
    return found
