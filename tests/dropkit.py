"""Writes small hand-made drops (SPEC §2 layout, correct manifest) for tests."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import date
from pathlib import Path

from connectors.contracts import AGENCY_TABLES, TABLES


def write_drop(
    root: Path,
    source_id: str,
    agency: str,
    extract_date: date,
    tables: dict[str, list[dict[str, str]]],
    encoding: str = "utf-8",
    date_format: str = "%Y-%m-%d",
    bom: bool = False,
    name: str | None = None,
) -> Path:
    """One drop folder with every table of the agency (missing tables empty)."""
    drop = root / (name or f"{source_id}_{extract_date.isoformat()}")
    drop.mkdir(parents=True)
    files = []
    for table in AGENCY_TABLES[agency]:
        columns = TABLES[table].all_column_names
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        rows = tables.get(table, [])
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
        data = (("\ufeff" if bom else "") + buffer.getvalue()).encode(encoding)
        (drop / f"{table}.csv").write_bytes(data)
        files.append({"name": f"{table}.csv", "rows": len(rows), "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {
        "source_id": source_id, "agency": agency, "extract_date": extract_date.isoformat(), "schema_version": 1,
        "encoding": encoding, "date_format": date_format, "files": files,
    }
    (drop / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return drop
