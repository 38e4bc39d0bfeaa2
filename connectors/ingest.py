"""Ingest: every drop in a folder → encodings in the linkage vault, the rest in the warehouse's ``raw`` schema.

Each drop is all-or-nothing: it is verified and read completely in memory
first. Its person encodings (tokens, Bloom filters, …) go to the linkage vault
(:mod:`connectors.vault`, committed first and idempotently), then the rest is
written to the warehouse in one transaction: entity rows, record roles with
generalised attributes only, quarantine rows, run-report rows and its entry in
``ops.loaded_drops``. A crash between the two commits is repaired by the next
run (see :mod:`connectors.vault`). Reading (parsing,
normalising, tokenising: the CPU work) runs in a pool of worker processes,
one drop per task, while the parent writes the finished drops to DuckDB in
drop order, so a run uses every core and loads exactly what a one-process
run would. A drop already loaded (the same manifest checksum, under this
or another directory name) is skipped, so re-running, or a copy of a
delivery, loads nothing twice; but its files are checked against that
manifest again, and a copy whose files changed (a row added, a file cut
short) is rejected, not skipped in silence. A rejected drop leaves no rows
and loads normally once re-delivered. Only folders named as drops are read
(:mod:`connectors.drop_folders`).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import secrets
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from tqdm import tqdm

from connectors.code_lists import load_code_lists
from connectors.contracts import AGENCY_TABLES, TABLES
from connectors.drop_folders import check_folder_matches, find_drops, parse_drop_name
from connectors.encoding_fingerprint import encoding_fingerprint
from connectors.handoff import start_worker
from connectors.manifest import (
    DropRejected,
    Manifest,
    check_drop_files,
    manifest_digest,
    max_file_bytes,
    read_manifest,
    verified_texts,
)
from connectors.normalise import normalise_force
from connectors.profiles import Profiles, load_profiles
from connectors.raw_schema import (
    LOADED_BEFORE,
    OPS_TABLES,
    PERSON_RECORD_COLUMNS,
    PERSON_ROLE_COLUMNS,
    create_raw_schema,
    entity_columns,
)
from connectors.reader import FileResult, TableReader
from connectors.rejections import FileFailures
from connectors.settings import landing_retention_days, whole_number
from connectors.vault import HANDOFF_PREFIX, VAULT_RECORD_COLUMNS, Vault
from connectors.worker_pool import results_in_order
from pseudonymisation.encodings import PersonEncoder
from pseudonymisation.keys import Keyring
from pseudonymisation.landing import DropChangedError, LandingArchive
from pseudonymisation.tokens import tokenisers

#: What ingest reads: a folder of drop folders, or several read one after another (the drops restored from the
#: landing copies, one per numbered folder in load order: :meth:`pseudonymisation.landing.LandingArchive.restore_all`).
InputFolders = Path | Sequence[Path]

WORKERS_ENV = "MASIP_INGEST_WORKERS"
DEBUG_ENV = "MASIP_DEBUG"  # "1": an unexpected error while reading a drop is raised, not turned into a rejection

#: Errors of the data itself when a read drop is written: the drop is rejected, the run goes on.
_DATA_WRITE_ERRORS = (
    duckdb.ConversionException, duckdb.OutOfRangeException, duckdb.InvalidInputException,
    duckdb.TypeMismatchException, duckdb.ConstraintException, pa.ArrowException,
)
#: The vault's columns that ingest fills from the read rows (the drop columns come from the manifest).
_ENCODING_FIELDS = [name for name, _ in VAULT_RECORD_COLUMNS if name not in ("drop_name", "drop_sha256")]


@dataclass
class FileReport:
    file: str
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    rows_duplicate: int
    warnings: int
    notes: list[str] = field(default_factory=list)

    @property
    def reconciles(self) -> bool:
        return self.rows_read == self.rows_loaded + self.rows_quarantined + self.rows_duplicate


@dataclass
class DropOutcome:
    drop_name: str
    source_id: str | None
    status: str  # loaded | rejected | already_loaded
    reason: str | None = None
    files: list[FileReport] = field(default_factory=list)


@dataclass
class IngestSummary:
    run_id: str
    key_version: str
    drops: list[DropOutcome] = field(default_factory=list)
    archives_pruned: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # about the input folder (entries not read), for the operator

    def count(self, status: str) -> int:
        return sum(1 for d in self.drops if d.status == status)

    def total(self, attribute: str) -> int:
        return sum(getattr(f, attribute) for d in self.drops for f in d.files)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (counts, names, reasons; no identifiers) for XComs and reports."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IngestSummary:
        drops = [
            DropOutcome(**{**d, "files": [FileReport(**f) for f in d["files"]]}) for d in data["drops"]
        ]
        return cls(
            run_id=data["run_id"], key_version=data["key_version"], drops=drops,
            archives_pruned=list(data.get("archives_pruned", [])), warnings=list(data.get("warnings", [])),
        )


def default_archive_dir(warehouse: Path) -> Path:
    """Encrypted landing copies live beside the warehouse unless configured otherwise."""
    return warehouse.parent / "landing_archive"


def _new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def _arrow(columns: tuple[tuple[str, str], ...], data: dict[str, Any]) -> pa.Table | None:
    """Columns (lists or Arrow arrays) → an Arrow table (``None`` when empty): cheap to hand from a worker to the writer."""
    rows = len(next(iter(data.values()))) if data else 0
    if not rows:
        return None
    return pa.table({name: data.get(name, [None] * rows) for name, _ in columns})


def _insert(con: duckdb.DuckDBPyConnection, table: str, batch: pa.Table | None) -> None:
    if batch is None:
        return
    con.register("ingest_batch", batch)
    try:
        con.execute(f"insert into {table} by name select * from ingest_batch")
    finally:
        con.unregister("ingest_batch")


@dataclass
class _FileLoad:
    """One read file, ready to write: its counts and quarantine, its rows as Arrow tables.

    ``roles`` go to the warehouse (generalised attributes only), ``encodings`` to the vault.
    """

    result: FileResult
    entity: pa.Table | None
    roles: pa.Table | None
    encodings: pa.Table | None


@dataclass
class _DropRead:
    """What reading one drop gave: the files to load, or why the drop was skipped or rejected."""

    manifest: Manifest | None
    files: list[_FileLoad] | None = None
    rejection: str | None = None
    is_changed_copy: bool = False  # rejected as a changed copy of a delivery already loaded


def ingest_workers() -> int:
    """Worker processes for reading: ``MASIP_INGEST_WORKERS``, else one per core."""
    return whole_number(WORKERS_ENV, os.cpu_count() or 1, 1, "worker processes (reading drops)")


#: Drops smaller than this many rows per extra worker are read whole, by one worker.
MIN_PART_ROWS = 20_000

_WORKER_INGESTOR: Ingestor | None = None


def _read_in_worker(task: tuple[Path, tuple[int, int]]) -> _DropRead:
    assert _WORKER_INGESTOR is not None
    drop_dir, part = task
    return _WORKER_INGESTOR._read(drop_dir, part)


def _forget_drop(con: duckdb.DuckDBPyConnection, manifest: Manifest) -> None:
    """Delete what an earlier load of the drop wrote to the warehouse (in the caller's transaction), before it is
    read again: its row versions and their roles, its quarantine and warnings, its ``ops.loaded_drops`` row."""
    drop = [manifest.drop_name, manifest.sha256]
    for table in AGENCY_TABLES[manifest.agency]:
        con.execute(
            f"delete from raw.person_roles where source_id = ? and version_id in (select version_id from raw.{table} "
            "where drop_name = ? and drop_sha256 = ?)", [manifest.source_id, *drop],
        )
        con.execute(f"delete from raw.{table} where drop_name = ? and drop_sha256 = ?", drop)
    for table in ("quarantine", "warnings"):  # null: a row of a warehouse from before drop_sha256 (raw_schema)
        con.execute(
            f"delete from ops.{table} where source_id = ? and drop_name = ? "
            "and (drop_sha256 = ? or drop_sha256 is null)", [manifest.source_id, *drop],
        )
    con.execute("delete from ops.loaded_drops where drop_name = ? and drop_sha256 = ?", drop)


def _as_verified(manifest: Manifest, salt: bytes | None, name: str, content: bytes) -> bool:
    """Whether ``content`` is still what the drop's file ``name`` held when ingest verified it against ``manifest``."""
    if name == "manifest.json":
        return manifest_digest(content, salt) == manifest.sha256
    return any(f.name == name and f.sha256 == hashlib.sha256(content).hexdigest() for f in manifest.files)


def _lost(_task: tuple[Path, tuple[int, int]], exit_code: int | None) -> _DropRead:
    """The rejection of a drop whose worker ended without reading it (:mod:`connectors.worker_pool`)."""
    how = f"killed by signal {-exit_code}" if exit_code is not None and exit_code < 0 else f"exit status {exit_code}"
    return _DropRead(None, rejection=(
        f"could not be read: the process reading it ended without a result ({how}; the system's memory killer "
        "sends signal 9); nothing of it was loaded, and the other drops were read. What to do: if the drop holds a "
        f"very large file, give the pipeline more memory or fewer workers ({WORKERS_ENV}=1), or ask the sender to "
        "split the extract; then re-run, which reads the drop again"
    ))


def _parts(drop_dir: Path, workers: int, salt: bytes | None, loaded: Iterable[str] = ()) -> int:
    """How many workers share a drop: one per ``MIN_PART_ROWS`` rows it declares, at most ``workers``
    (one for a drop whose manifest is ``loaded``: its files are only checked)."""
    try:
        manifest = read_manifest(drop_dir, salt)
    except Exception:  # noqa: BLE001 - read whole, so the rejection (or the unexpected error) is reported once
        return 1
    if manifest.sha256 in loaded:
        return 1
    return max(1, min(workers, sum(f.rows for f in manifest.files) // MIN_PART_ROWS))


class ChangedCopyRejected(DropRejected):
    """A copy of a delivery already loaded whose files no longer match its manifest (:func:`_check_unchanged`)."""


def _check_unchanged(manifest: Manifest, loaded_as: str) -> None:
    """Rejects a drop whose manifest was loaded before (as ``loaded_as``) if its files no longer match it: a row
    added or a file cut short under an unchanged manifest would otherwise be skipped without a word.

    Not asked of a copy that was rejected before its delivery loaded (cut short in transfer, then re-delivered
    intact as ``…_redelivery``): that copy is the delivery now loaded, skipped as ``already_loaded`` with a note,
    and no longer rejected, and told to be re-delivered, every week (outside audit 5, D2).
    """
    try:
        check_drop_files(manifest)
    except DropRejected as mismatch:
        raise ChangedCopyRejected(
            f"{LOADED_BEFORE} (as {loaded_as}), but its files no longer match it "
            f"({mismatch.problem}). The rows loaded before stay; nothing of this copy was loaded. What to do: a "
            "correction must come as a new drop with its own manifest.json; restore this copy's files as they were "
            "delivered, or remove it from the landing folder; then re-run"
        ) from None


def _loaded_file(reader: TableReader, file_name: str, text: str, part: tuple[int, int]) -> _FileLoad:
    """One verified file read (part ``part`` of its rows) and made ready to write."""
    result = reader.read(file_name, text, part)
    entity = _arrow(entity_columns(reader.contract), result.entity)
    persons = _arrow(PERSON_RECORD_COLUMNS, result.persons)
    result.entity, result.persons = {}, {}
    roles = persons.select([name for name, _ in PERSON_ROLE_COLUMNS]) if persons is not None else None
    encodings = persons.select(_ENCODING_FIELDS) if persons is not None else None
    return _FileLoad(result, entity, roles, encodings)


def _combine(parts: list[_DropRead]) -> _DropRead:
    """The parts of one drop as if it had been read whole (a rejection in any part rejects it)."""
    first = parts[0]
    rejected = next((p for p in parts if p.rejection is not None), None)
    if len(parts) == 1 or rejected is not None or first.files is None:
        return rejected or first
    files = []
    for loads in zip(*(p.files for p in parts)):  # type: ignore[misc]
        result = loads[0].result
        for other in (load.result for load in loads[1:]):
            result.rows_read += other.rows_read
            result.rows_loaded += other.rows_loaded
            result.rows_duplicate += other.rows_duplicate
            result.quarantined.extend(other.quarantined)
            result.warned.extend(other.warned)
            result.notes.extend(other.notes)
        files.append(_FileLoad(
            result, *(_concat([getattr(load, part) for load in loads]) for part in ("entity", "roles", "encodings"))
        ))
    return _DropRead(first.manifest, files=files)


def _concat(tables: list[pa.Table | None]) -> pa.Table | None:
    present = [t for t in tables if t is not None]
    return pa.concat_tables(present, promote_options="permissive") if present else None


class Ingestor:
    """Loads drops into one warehouse and its vault under one key, keeping an encrypted landing copy of each."""

    def __init__(
        self,
        warehouse: Path,
        keyring: Keyring,
        profiles: Profiles | None = None,
        archive: LandingArchive | None = None,
        vault: Vault | None = None,
        reread: bool = False,
    ) -> None:
        self.warehouse = warehouse
        self.reread = reread
        self.keyring = keyring
        self.vault = vault or Vault.for_warehouse(warehouse)
        self.archive = archive or LandingArchive(default_archive_dir(warehouse), keyring)
        self.profiles = load_profiles() if profiles is None else profiles
        self.sources = self.profiles.source_ids
        code_lists = load_code_lists()
        profile_forces = {normalise_force(p.force) for p in self.profiles.values() if p.force}
        self.code_lists = {**code_lists, "police_force": code_lists["police_force"] | profile_forces}
        self.tokenisers = tokenisers(keyring)
        # one encoder per ingest, so its caches of bigram masks and encoded values serve every file
        self.encoder = PersonEncoder(keyring)
        # the vault's drop salt, which deliveries' digests are keyed with (read, or made, when ingest starts)
        self._salt: bytes | None = None
        # manifest digest -> the drop loaded with it (ops.loaded_drops): identical manifests are one delivery
        self._loaded: dict[str, str] = {}
        # (drop name, manifest sha256) of copies rejected before their delivery had loaded (ops.rejected_drops)
        self._rejected_unloaded: set[tuple[str, str]] = set()

    def run(
        self, input_dir: InputFolders, show_progress: bool = True, source_ids: Iterable[str] | None = None
    ) -> IngestSummary:
        summary = IngestSummary(run_id=_new_run_id(), key_version=self.keyring.key_version)
        drops = []
        for folder in input_folders(input_dir):  # in order: the drops load in the order they are found
            found = find_drops(folder, self.sources, source_ids)
            drops += found.drops
            summary.warnings.extend(found.warnings(folder))
        summary.warnings.extend(self.profiles.broken.values())
        self.warehouse.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(self.warehouse)) as con:
            con.execute("set enable_progress_bar = false")
            try:
                loaded = set(con.execute("select drop_name, drop_sha256 from ops.loaded_drops").fetchall())
            except duckdb.CatalogException:  # a new warehouse
                loaded = set()
            self.vault.check_belongs_to(self.warehouse, loaded)  # before anything is written, or a new vault started
            self._salt = self.vault.drop_salt(self.keyring)
            create_raw_schema(con)
            # identical manifests are one delivery, known by the first of its names; a re-read reads them again
            self._loaded = {}
            for name, sha in sorted(loaded) if not self.reread else ():
                self._loaded.setdefault(sha, name)
            self._rejected_unloaded = set(con.execute(
                "select drop_name, drop_sha256 from ops.rejected_drops where drop_sha256 is not null "
                "and not is_changed_copy"
            ).fetchall())
            with self.vault.open_records() as vault_con:
                self.vault.check_encodings(vault_con, self.keyring.key_version, encoding_fingerprint())
                self.vault.check_drop_salt(vault_con, self._salt is not None)
                if self._salt is None:
                    summary.warnings.append(
                        "the linkage vault was made before deliveries were known by a keyed digest: the warehouse "
                        "(ops.loaded_drops) holds each delivery's plain manifest SHA-256, with which whoever reads "
                        "it could confirm a supposed file. What to do: rotate the key (`masip rotate-key`); the "
                        "rebuilt vault keys every digest"
                    )
                reads = self._read_all(drops)
                for drop_dir, read in tqdm(zip(drops, reads), total=len(drops), desc="ingest", unit="drop",
                                           disable=not show_progress):
                    summary.drops.append(self._load(con, vault_con, drop_dir, read, summary.run_id))
        self.vault.protect()
        summary.archives_pruned = self.archive.prune(landing_retention_days(), datetime.now(UTC).date())
        return summary

    def _read_all(self, drops: list[Path]) -> Iterator[_DropRead]:
        """Each drop read, in order; by worker processes when there is more than one core.

        A big drop is read in parts (consecutive blocks of each file's rows)
        by several workers at once, then put back together here, so one
        force's year-long backfill does not leave the other cores idle.
        Workers are forked, so the keyring reaches them as process memory,
        never through a pipe; they return only tokens, counts and Arrow tables,
        the tables as files in the vault's folder (:mod:`connectors.handoff`).
        """
        workers = ingest_workers()
        tasks = [
            (drop_dir, (index, parts))
            for drop_dir in drops
            for parts in [_parts(drop_dir, workers, self._salt, self._loaded) if workers > 1 else 1]
            for index in range(parts)
        ]
        if min(workers, len(tasks)) == 1:
            yield from (self._read(drop_dir) for drop_dir in drops)
            return
        global _WORKER_INGESTOR
        _WORKER_INGESTOR = self
        handoff = tempfile.TemporaryDirectory(dir=self.vault.directory, prefix=HANDOFF_PREFIX)
        start = functools.partial(start_worker, Path(handoff.name), os.getpid())
        try:
            reads = zip(tasks, results_in_order(_read_in_worker, tasks, workers, start, _lost))
            for _, group in itertools.groupby(reads, key=lambda task_read: task_read[0][0]):
                yield _combine([read for _, read in group])
        finally:
            handoff.cleanup()
            _WORKER_INGESTOR = None

    def _read(self, drop_dir: Path, part: tuple[int, int] = (0, 1)) -> _DropRead:
        """One drop read; whatever goes wrong, it ends as a rejection with a reason, never a crash of the run."""
        manifest: Manifest | None = None
        try:
            broken = self.profiles.broken.get(self._source_of(drop_dir))
            if broken:
                raise DropRejected(f"the source's {broken}; the drop stays where it is")
            manifest = read_manifest(drop_dir, self._salt)
            check_folder_matches(manifest, self.profiles)
            loaded_as = self._loaded.get(manifest.sha256)
            if loaded_as is not None:
                if (drop_dir.name, manifest.sha256) not in self._rejected_unloaded:
                    _check_unchanged(manifest, loaded_as)
                return _DropRead(manifest)
            return _DropRead(manifest, files=self._read_drop(manifest, part))
        except DropRejected as rejection:
            return _DropRead(manifest, rejection=rejection.reason,
                             is_changed_copy=isinstance(rejection, ChangedCopyRejected))
        except Exception as error:  # one broken drop must not stop the others' week
            if os.environ.get(DEBUG_ENV) == "1":
                raise
            if isinstance(error, PermissionError):
                return _DropRead(manifest, rejection=(
                    "could not be read: the account running MASIP may not read one of its files or folders "
                    "(permission denied); nothing of it was loaded. What to do: make the drop readable by that "
                    "account (or ask whoever copies drops into the landing folder to), then re-run"
                ))
            # The error's own text is not shown: it may quote a value of the file.
            return _DropRead(manifest, rejection=(
                f"could not be read: unexpected {type(error).__name__}; nothing of it was loaded. Keep the drop, "
                "report the drop name to the MASIP data engineers, and re-run with --debug to see where it failed"
            ))

    def _load(
        self, con: duckdb.DuckDBPyConnection, vault_con: duckdb.DuckDBPyConnection, drop_dir: Path, read: _DropRead,
        run_id: str,
    ) -> DropOutcome:
        manifest = read.manifest
        if read.rejection is not None:
            self._record_rejection(con, drop_dir, manifest, read.rejection, read.is_changed_copy)
            return DropOutcome(drop_dir.name, self._source_of(drop_dir), "rejected", read.rejection)
        assert manifest is not None
        loaded_as = self._loaded.get(manifest.sha256)
        if read.files is None or loaded_as is not None:
            # the same manifest (so the same files) under another folder name is the same delivery: loading it
            # again would only repeat its rows
            again = None if loaded_as in (None, manifest.drop_name) else (
                f"the same delivery (an identical manifest.json) was already loaded as {loaded_as}; nothing was "
                "loaded again. Remove this copy from the landing folder")
            return DropOutcome(drop_dir.name, manifest.source_id, "already_loaded", again)
        try:
            archived = self.archive.store(
                drop_dir, [f.name for f in manifest.files], manifest.sha256, manifest.extract_date,
                functools.partial(_as_verified, manifest, self._salt),
            )
        except DropChangedError:
            reason = ("was moved away or changed while this run read it; nothing of it was loaded. What to do: leave "
                      "a drop in the landing folder, unchanged, until the run that reads it has ended; then re-run")
            self._record_rejection(con, drop_dir, manifest, reason)
            return DropOutcome(drop_dir.name, manifest.source_id, "rejected", reason)
        try:
            # the vault first: a crash before the warehouse commits leaves rows that nothing reads and a re-run replaces
            encodings = [f.encodings for f in read.files if f.encodings is not None]
            self.vault.write_drop(vault_con, manifest.drop_name, manifest.sha256, encodings)
            self._write_drop(con, manifest, read.files, run_id)
        except _DATA_WRITE_ERRORS as error:
            archived.unlink(missing_ok=True)
            reason = (f"could not be written: {type(error).__name__} (a value does not fit its column); nothing of "
                      "it was loaded. Report the drop name to the MASIP data engineers")
            self._record_rejection(con, drop_dir, manifest, reason)
            return DropOutcome(drop_dir.name, manifest.source_id, "rejected", reason)
        except Exception:
            archived.unlink(missing_ok=True)
            raise
        self._loaded[manifest.sha256] = manifest.drop_name
        files = [
            FileReport(r.file_name, r.rows_read, r.rows_loaded, len(r.quarantined), r.rows_duplicate, r.warnings, r.notes)
            for r in (f.result for f in read.files)
        ]
        return DropOutcome(drop_dir.name, manifest.source_id, "loaded", files=files)

    def _source_of(self, drop_dir: Path) -> str:
        """The source a drop folder is named after (find_drops returns only folders named as drops)."""
        name = parse_drop_name(drop_dir.name, self.sources)
        assert name is not None
        return name.source_id

    def _read_drop(self, manifest: Manifest, part: tuple[int, int] = (0, 1)) -> list[_FileLoad]:
        """Each file of the drop read (part ``part`` of its rows). Every file is verified and its header row checked
        before any is read whole, and a drop whose files fail is rejected naming each (:mod:`connectors.rejections`)."""
        profile = self.profiles[manifest.source_id]  # check_folder_matches: the folder's own, known source
        if profile.agency != manifest.agency:
            raise DropRejected(
                f"manifest says agency {manifest.agency!r} but the profile of {manifest.source_id!r} says {profile.agency!r}"
            )
        failures = FileFailures()
        texts = verified_texts(manifest, failures)
        readers = {
            name: TableReader(TABLES[Path(name).stem], manifest, profile, self.code_lists, self.tokenisers, self.encoder)
            for name in texts
        }
        for file_name, text in texts.items():
            with failures.checking():
                readers[file_name].check_header(file_name, text)
        failures.raise_if_any()
        results = []
        for file_name, text in texts.items():
            with failures.checking():
                results.append(_loaded_file(readers[file_name], file_name, text, part))
        failures.raise_if_any()
        return results

    def _write_drop(self, con: duckdb.DuckDBPyConnection, manifest: Manifest, files: list[_FileLoad], run_id: str) -> None:
        con.execute("begin transaction")
        try:
            if self.reread:
                _forget_drop(con, manifest)
            for load in files:
                result = load.result
                _insert(con, f"raw.{result.table}", load.entity)
                _insert(con, "raw.person_roles", load.roles)
                for table, rows in (("quarantine", result.quarantined), ("warnings", result.warned)):
                    flagged = {
                        "source_id": [manifest.source_id] * len(rows),
                        "drop_name": [manifest.drop_name] * len(rows),
                        "drop_sha256": [manifest.sha256] * len(rows),
                        "file": [result.file_name] * len(rows),
                        "line_number": [row.line_number for row in rows],
                        "record_ref": [row.record_ref for row in rows],
                        "rule": [row.rule for row in rows],
                        "detail": [row.detail for row in rows],
                    }
                    _insert(con, f"ops.{table}", _arrow(OPS_TABLES[table], flagged))
                con.execute(
                    "insert into ops.run_report values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [run_id, manifest.source_id, manifest.drop_name, result.file_name, result.rows_read,
                     result.rows_loaded, len(result.quarantined), result.rows_duplicate, result.warnings],
                )
            con.execute(
                "insert into ops.loaded_drops (drop_name, drop_sha256, source_id, agency, extract_date) values (?, ?, ?, ?, ?)",
                [manifest.drop_name, manifest.sha256, manifest.source_id, manifest.agency, manifest.extract_date],
            )
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise

    def _record_rejection(
        self, con: duckdb.DuckDBPyConnection, drop_dir: Path, manifest: Manifest | None, reason: str,
        is_changed_copy: bool = False,
    ) -> None:
        sha = manifest.sha256 if manifest else None
        con.execute(
            "delete from ops.rejected_drops where drop_name = ? and drop_sha256 is not distinct from ? and reason = ?",
            [drop_dir.name, sha, reason],
        )
        con.execute(
            "insert into ops.rejected_drops (source_id, drop_name, drop_sha256, extract_date, reason, is_changed_copy) "
            "values (?, ?, ?, ?, ?, ?)",
            [self._source_of(drop_dir), drop_dir.name, sha, manifest.extract_date if manifest else None, reason,
             is_changed_copy],
        )


def input_folders(input_dir: InputFolders) -> list[Path]:
    """The folders of drop folders ``input_dir`` names, in the order they are read."""
    return [input_dir] if isinstance(input_dir, Path) else list(input_dir)


def ingest_drops(
    input_dir: InputFolders,
    warehouse: Path,
    keyring: Keyring,
    show_progress: bool = True,
    archive_dir: Path | None = None,
    source_ids: Iterable[str] | None = None,
    vault_dir: Path | None = None,
    reread: bool = False,
) -> IngestSummary:
    """Load every drop under ``input_dir`` (only those of ``source_ids``, if given) into ``warehouse`` and its vault.

    ``input_dir``: a folder of drop folders, read in name order, or several such folders, read one after another
    (:data:`InputFolders`).

    ``vault_dir``: the linkage vault (default :meth:`connectors.vault.Vault.for_warehouse`); see module docstring.
    ``reread``: drops already loaded are read again with the current profiles and replace what they loaded
    (``masip reread``: a profile fixed after its source's drops loaded).
    """
    max_file_bytes(), ingest_workers(), landing_retention_days()  # bad settings stop the run before it reads
    archive = LandingArchive(archive_dir or default_archive_dir(warehouse), keyring)
    vault = Vault.for_warehouse(warehouse, vault_dir)
    leftovers = vault.remove_leftovers(input_folders(input_dir))  # under the warehouse lock: no rotation or ingest is using them
    summary = Ingestor(warehouse, keyring, archive=archive, vault=vault, reread=reread).run(
        input_dir, show_progress=show_progress, source_ids=source_ids
    )
    summary.warnings[:0] = leftovers
    return summary
