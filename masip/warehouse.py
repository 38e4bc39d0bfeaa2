"""The warehouse file's guards: one writer at a time, and no writing into a damaged file.

* :func:`warehouse_lock` — an OS file lock (``fcntl.flock``, non-blocking) on
  ``<warehouse>.lock``, taken by every stage that writes the warehouse or its
  candidate (``masip run``, ``demo``, ``rotate-key``, and the Airflow tasks,
  which call the same stage functions). A second writer refuses at once,
  before it touches anything, instead of copying the warehouse over the
  first run's open candidate. The lock is re-entrant within one process (a
  run holds it and its stages take it again) and is released by the OS if
  the process dies, so a crashed run never leaves a stale lock behind.
* :func:`check_warehouse` — before ingest writes: the folder is writable,
  and an existing file opens read-only, answers a query over its catalog
  and ``ops.loaded_drops``, and is long enough for the blocks in use. A
  truncated or corrupt file fails here, so ingest never writes into it.
* :func:`copy_database` and :func:`replace_database` — every copy of a DuckDB
  file (the build candidate) and every swap (publication, rotation, the
  vault's compaction) folds the file's write-ahead log into it first, and
  refuses if it cannot: a checkpoint that fails on a full disk leaves the
  changes in ``<file>.wal``, and a file moved without it loses them
  silently (outside audit 5: a published warehouse without its marts).

Every error says what happened, which file, and what to do; none quotes data.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from masip.store_swaps import finish_swaps

LOCK_SUFFIX = ".lock"
#: Set by a process that holds a warehouse's lock for the child process it runs a stage in (``masip run``'s
#: ingest child): ``<parent pid>:<warehouse>``. The child then works under its parent's lock.
LOCK_HOLDER_ENV = "MASIP_WAREHOUSE_LOCK_HOLDER"
#: A DuckDB file is its headers (a file header and two database headers, 4 KiB each) then its blocks, at
#: least every block in use (free blocks at the end are trimmed); a file shorter than that was cut short
#: (copy or disk full) even if its catalog still opens.
DUCKDB_HEADER_BYTES = 3 * 4096

log = logging.getLogger(__name__)

#: Locks this process holds: warehouse (absolute path) -> nesting depth.
_held: dict[Path, int] = {}
#: What taking a lock did that the operator must hear of (swaps it finished), until the run report takes it.
_notices: list[str] = []


class WarehouseError(RuntimeError):
    """The warehouse cannot be written as things stand; the message says what to do."""


class WarehouseBusy(WarehouseError):
    """Another process is writing (or has open) the warehouse; wait for it, then re-run."""


class WarehouseDamaged(WarehouseError):
    """The warehouse file cannot be read: restore the last good copy; retrying will not fix it."""


class WarehouseNotWritable(WarehouseError):
    """The warehouse or its folder is read-only for this user; retrying will not fix it."""


class DatabaseNotWrittenOut(WarehouseError):
    """A DuckDB file's write-ahead log could not be folded into it; it must not be copied or moved."""


def write_out(database: Path) -> None:
    """Fold ``database``'s write-ahead log (``<file>.wal``) into the file, so the file alone holds every change.

    DuckDB does this when its last connection closes, but not when that checkpoint fails (a full disk): the
    changes then live only in the log, which a copy or a rename of the file leaves behind. A checkpoint that
    fails now raises DuckDB's own error (a full disk is reported as such, see :mod:`masip.operator_errors`).
    """
    wal = Path(f"{database}.wal")
    if not wal.exists():
        return
    with duckdb.connect(str(database)) as con:
        con.execute("force checkpoint")
    if wal.exists() and wal.stat().st_size:
        raise DatabaseNotWrittenOut(
            f"the changes to {database} are still only in its write-ahead log {wal.name} after a checkpoint, so it "
            "was neither copied nor published. What to do: check the disk (free space, errors), then re-run; "
            "leave the .wal file where it is: DuckDB replays it when the file is next opened."
        )


def copy_database(source: Path, target: Path) -> None:
    """``target`` becomes a copy of DuckDB file ``source`` with every change it holds (its log folded in first);
    a log left by an earlier ``target`` (a crashed build) is deleted, so it is never replayed onto the copy."""
    write_out(source)
    Path(f"{target}.wal").unlink(missing_ok=True)
    shutil.copyfile(source, target)


def attach_read_only(con: duckdb.DuckDBPyConnection, database: Path | str, alias: str) -> None:
    """Attach DuckDB file ``database`` to ``con`` as ``alias``, read-only, whatever its path holds: ATTACH takes
    no parameter, so the path is a quoted SQL string, and a folder named ``O'Brien`` stopped the linkage stage
    with a parser error."""
    quoted = str(database).replace("'", "''")
    con.execute(f"attach '{quoted}' as {alias} (read_only)")


def replace_database(source: Path, target: Path) -> None:
    """Move DuckDB file ``source`` over ``target`` atomically, both logs folded in first: none of ``source``'s
    changes stays behind in its log, and no log of the old ``target`` is replayed onto the new file."""
    write_out(source)
    if target.exists():
        write_out(target)
    os.replace(source, target)


def warehouse_file(warehouse: Path) -> Path:
    """The file a warehouse path names, links followed: what is locked, built beside and replaced at publication.
    Two names of one file (a symbolic link, a relative path) are one warehouse (outside audit 5: a run through a
    link ran beside the first, and publication replaced the link with a file)."""
    return Path(os.path.realpath(warehouse))


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + LOCK_SUFFIX)


def _not_writable(warehouse: Path, what: Path) -> WarehouseNotWritable:
    return WarehouseNotWritable(
        f"cannot write {what}: the warehouse folder {warehouse.parent} (or the file) is read-only for this process "
        "(permissions or a read-only file system). What to do: run as the user that owns the warehouse, or make "
        "the folder writable "
        "(or pass --warehouse / the `warehouse` parameter for a writable location), then re-run. Nothing was changed."
    )


@contextmanager
def warehouse_lock(warehouse: Path, stage: str) -> Iterator[None]:
    """Hold ``<warehouse>.lock`` for the duration; raise :class:`WarehouseBusy` at once if another process has it."""
    key = warehouse_file(warehouse)
    if os.environ.get(LOCK_HOLDER_ENV) == f"{os.getppid()}:{key}":  # the parent holds it for this child
        yield
        return
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    path = lock_path(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        raise _not_writable(warehouse, path) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 200).decode("ascii", "replace").strip() or "another process"
        os.close(fd)
        raise WarehouseBusy(
            f"another MASIP run is writing the warehouse {warehouse} ({holder}; lock file {path}). "
            "What to do: wait until it has finished, then re-run. Nothing was changed by this run."
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{stage}, process {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S %Z')}".encode("ascii"))
    _held[key] = 1
    try:
        if finished := finish_swaps(key):  # a rotation killed while swapping its stores into place
            log.warning(finished)
            _notices.append(finished)
        yield
    finally:
        del _held[key]
        os.close(fd)  # releases the lock; the file stays (removing it would race with the next writer)


def lock_notices() -> list[str]:
    """What this process's warehouse locks did for the operator to know (swaps they finished), each given once."""
    notices = _notices.copy()
    _notices.clear()
    return notices


def child_lock_env(warehouse: Path) -> dict[str, str]:
    """The environment entry that lets a child process work under this process's lock on ``warehouse``.

    Empty when this process does not hold it: the child then takes the lock itself.
    """
    key = warehouse_file(warehouse)
    return {LOCK_HOLDER_ENV: f"{os.getpid()}:{key}"} if key in _held else {}


def held_elsewhere(error: BaseException) -> bool:
    """Whether a DuckDB error is another process holding the database file's lock (a run, a shell, a notebook)."""
    return isinstance(error, duckdb.IOException) and "lock" in str(error).lower()


def check_warehouse(warehouse: Path) -> None:
    """Raise unless ``warehouse`` can be written safely: a writable folder, and a readable file if it exists."""
    folder = warehouse.parent
    if (folder.exists() and not os.access(folder, os.W_OK)) or (warehouse.exists() and not os.access(warehouse, os.W_OK)):
        raise _not_writable(warehouse, warehouse)
    if not warehouse.exists():
        return
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as error:
        if held_elsewhere(error):
            raise WarehouseBusy(
                f"the warehouse {warehouse} is open in another process (a DuckDB shell, a notebook, the case pack "
                "or evaluation, an Airflow task). What to do: close it or wait for it to finish, then re-run."
            ) from None
        raise damaged(warehouse) from None
    try:
        tables = set(con.execute("select schema_name, table_name from duckdb_tables()").fetchall())
        if ("ops", "loaded_drops") in tables:
            con.execute("select count(*), max(extract_date) from ops.loaded_drops").fetchone()
        block_size, blocks = con.execute("select block_size, used_blocks from pragma_database_size()").fetchone()
    except duckdb.Error:
        raise damaged(warehouse) from None
    finally:
        con.close()
    if warehouse.stat().st_size < DUCKDB_HEADER_BYTES + block_size * blocks:
        raise damaged(warehouse)  # cut short: the catalog opens, but blocks it lists are gone


def damaged(warehouse: Path) -> WarehouseDamaged:
    """The operator message for a warehouse file that cannot be read."""
    return WarehouseDamaged(
        f"the warehouse file {warehouse} is damaged (truncated or corrupt: DuckDB cannot read it). What to do: "
        f"restore the last good copy of {warehouse.name} (and remove any {warehouse.name}.wal beside it) from "
        "your backup, then re-run; the run loads the drops since that copy again. Nothing was written to the "
        "damaged file."
    )


def loaded_drop_count(warehouse: Path) -> int:
    """How many drops the warehouse holds (0 if it has none yet, or no ``ops.loaded_drops``)."""
    if not warehouse.is_file():
        return 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        try:
            return int(con.execute("select count(*) from ops.loaded_drops").fetchone()[0])
        except duckdb.CatalogException:
            return 0
