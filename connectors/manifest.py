"""Reading and verifying a drop's ``manifest.json`` (SPEC §2).

A drop that fails verification is rejected whole, with a reason naming the
file and what was expected versus found, so the sender can re-deliver it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from connectors.contracts import AGENCY_TABLES

ENCODINGS = {"utf-8": "utf-8-sig", "utf-8-sig": "utf-8-sig", "cp1252": "cp1252"}


class DropRejected(Exception):
    """The drop cannot be loaded; ``reason`` says why and what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ManifestFile:
    name: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    drop_dir: Path
    sha256: str  # of the manifest bytes: with the directory name, identifies the drop
    source_id: str
    agency: str
    extract_date: date
    schema_version: int
    encoding: str  # a Python codec name (BOM-tolerant for utf-8)
    date_format: str
    files: tuple[ManifestFile, ...]

    @property
    def drop_name(self) -> str:
        return self.drop_dir.name


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(drop_dir: Path) -> Manifest:
    """Parse ``manifest.json``; raise ``DropRejected`` if it is missing or malformed."""
    path = drop_dir / "manifest.json"
    if not path.is_file():
        raise DropRejected("no manifest.json in the drop directory; the sender must include one (SPEC §2)")
    raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8-sig"))
        files = tuple(ManifestFile(str(f["name"]), int(f["rows"]), str(f["sha256"]).lower()) for f in data["files"])
        encoding = str(data.get("encoding", "utf-8")).lower()
        manifest = Manifest(
            drop_dir=drop_dir,
            sha256=hashlib.sha256(raw).hexdigest(),
            source_id=str(data["source_id"]),
            agency=str(data["agency"]).lower(),
            extract_date=date.fromisoformat(str(data["extract_date"])),
            schema_version=int(data.get("schema_version", 1)),
            encoding=ENCODINGS.get(encoding, encoding),
            date_format=str(data.get("date_format", "%Y-%m-%d")),
            files=files,
        )
    except (ValueError, KeyError, TypeError) as error:
        raise DropRejected(f"manifest.json is malformed ({type(error).__name__}: {error}); ask the sender to re-export it") from None
    if manifest.agency not in AGENCY_TABLES:
        raise DropRejected(f"manifest agency {manifest.agency!r} is not one of {sorted(AGENCY_TABLES)}")
    if manifest.encoding not in ENCODINGS.values():
        raise DropRejected(f"manifest encoding {encoding!r} is not supported (utf-8 or cp1252)")
    if manifest.schema_version != 1:
        raise DropRejected(f"schema_version {manifest.schema_version} is not supported (this pipeline reads version 1)")
    return manifest


def count_data_rows(text: str) -> int:
    """Data rows of a decoded CSV (header excluded), honouring quoted newlines."""
    return max(sum(1 for _ in csv.reader(io.StringIO(text))) - 1, 0)


def verify_drop(manifest: Manifest) -> dict[str, str]:
    """Check every listed file: present, checksum, decodable, row count.

    Returns the decoded text of each file, keyed by file name, so files are
    read once. Raises ``DropRejected`` naming the first file that fails.
    """
    expected_tables = set(AGENCY_TABLES[manifest.agency])
    texts: dict[str, str] = {}
    for listed in manifest.files:
        stem = Path(listed.name).stem
        if stem not in expected_tables:
            raise DropRejected(
                f"{listed.name}: not a table of a {manifest.agency} drop (expected {sorted(expected_tables)})"
            )
        path = manifest.drop_dir / listed.name
        if not path.is_file():
            raise DropRejected(f"{listed.name}: listed in the manifest but missing from the drop")
        found_sha = sha256_of(path)
        if found_sha != listed.sha256:
            raise DropRejected(
                f"{listed.name}: checksum mismatch (expected {listed.sha256[:12]}…, found {found_sha[:12]}…, "
                f"{path.stat().st_size} bytes): the file changed or was cut short in transfer; ask for a re-delivery"
            )
        try:
            text = path.read_bytes().decode(manifest.encoding)
        except UnicodeDecodeError as error:
            raise DropRejected(
                f"{listed.name}: not valid {manifest.encoding} at byte {error.start}; the manifest's encoding is wrong"
            ) from None
        rows = count_data_rows(text)
        if rows != listed.rows:
            raise DropRejected(f"{listed.name}: {rows} data rows found, manifest says {listed.rows}")
        texts[listed.name] = text
    return texts
