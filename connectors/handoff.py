"""Arrow tables from ingest's worker processes to the parent through files, not through a pipe.

A worker's result is pickled and sent to the parent. Pickled, a national
year's encodings (about 1.6 kB a record role, four gigabytes in all) were
copied four times: into the pickle, through the pipe in pieces, out of it,
and into new Arrow buffers. Here a worker writes each table of its result as
an Arrow IPC file into a private hand-over folder and pickles only the file's
name; the parent memory-maps the file (no copy) and unlinks it at once, so
the pages go when the table does. The folder is made inside the linkage
vault's folder (owner-only, where encodings may live) and removed, with
anything a failed run left in it, when the pool is done.

A worker also dies with the ingest process (:func:`start_worker`): killed
(the out-of-memory killer, an operator), the ingest process left its workers
waiting for tasks that never came, holding ``masip run``'s pipe to it open,
so the run waited for ever under its warehouse lock (outside audit 5).
"""

from __future__ import annotations

import ctypes
import os
import secrets
import signal
import sys
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import pyarrow as pa

_PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies


def start_worker(folder: Path, parent: int) -> None:
    """A worker's initializer: it dies with ``parent`` (the ingest process), and sends its tables through ``folder``."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the call above
        os._exit(1)
    send_tables_through(folder)


def send_tables_through(folder: Path) -> None:
    """In a worker process: from now on, every Arrow table it pickles travels as a file in ``folder``."""
    ForkingPickler.register(pa.Table, lambda table: (mapped_table, (str(_written(table, folder)),)))


def _written(table: pa.Table, folder: Path) -> Path:
    path = folder / f"{os.getpid()}-{secrets.token_hex(8)}.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return path


def mapped_table(path: str) -> pa.Table:
    """In the parent: the table a worker wrote to ``path``, memory-mapped; the file is unlinked at once."""
    try:
        return pa.ipc.open_file(pa.memory_map(path)).read_all()
    finally:
        os.unlink(path)
