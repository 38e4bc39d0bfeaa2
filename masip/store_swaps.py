"""Swapping rebuilt stores into place so that a crash at any point is finished by the next writer.

Key rotation rebuilds the warehouse, the linkage vault and the landing archive
beside the current ones, then puts all three in their places. That takes
several renames; a process killed between two of them left a vault or an
archive under no name of its own (only ``*.retired`` and ``*.rotating``), or
new-key stores beside an old-key archive, for an operator to untangle by hand.

So the swaps are written down first, in a journal beside the warehouse
(``<warehouse>.swaps.json``, written atomically and synced), and every step
is one rename or one deletion that can be repeated: which step comes next is
read from what exists on disk. The process that finishes them is the rotation
itself, or, if it died, the next one to take the warehouse lock
(:func:`masip.warehouse.warehouse_lock`: a run, an Airflow task, the next
rotation), which then deletes the journal and says what it did. Nothing in the
journal is data: paths and a key version.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

JOURNAL_SUFFIX = ".swaps.json"
RETIRED_SUFFIX = ".retired"


class SwapError(RuntimeError):
    """A journalled swap cannot be finished as things stand on disk; the message says what to do."""


@dataclass(frozen=True)
class Swap:
    """Put ``replacement`` in the place of ``current``: a folder (the old one deleted) or a DuckDB file."""

    current: str
    replacement: str
    is_folder: bool

    @classmethod
    def folder(cls, current: Path, replacement: Path) -> Swap:
        return cls(str(current), str(replacement), is_folder=True)

    @classmethod
    def database(cls, current: Path, replacement: Path) -> Swap:
        """``replacement`` must hold all its changes (no ``.wal``): see :func:`masip.warehouse.write_out`."""
        return cls(str(current), str(replacement), is_folder=False)

    def steps(self) -> Iterator[None]:
        """Do what is left of this swap, one atomic rename or deletion at a time (each followed by a yield)."""
        current, replacement = Path(self.current), Path(self.replacement)
        if not self.is_folder:
            if replacement.exists():
                Path(f"{current}.wal").unlink(missing_ok=True)  # the old file's log must not replay onto the new one
                os.replace(replacement, current)
                yield
            return
        retired = current.with_name(current.name + RETIRED_SUFFIX)
        if replacement.exists() and current.exists():
            if retired.exists():
                shutil.rmtree(retired)
                yield
            os.replace(current, retired)
            yield
        if replacement.exists():
            os.replace(replacement, current)
            yield
        if not current.exists():
            raise SwapError(
                f"neither {current} nor its replacement {replacement} exists, so the interrupted swap cannot be "
                f"finished. What to do: restore {current.name} from backup (or {retired.name}, if it is still "
                f"there, to {current.name}), then delete {current.parent / (current.name + JOURNAL_SUFFIX)}."
            )
        if retired.exists():
            shutil.rmtree(retired)
            yield


def journal_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + JOURNAL_SUFFIX)


def write_journal(warehouse: Path, swaps: list[Swap], purpose: str, what_to_do: str) -> Path:
    """Record ``swaps`` (done in order) for ``warehouse``; ``purpose`` and ``what_to_do`` are what the operator is
    told if another process has to finish them. Durable before it returns: written beside, synced, renamed."""
    journal = journal_path(warehouse)
    draft = journal.with_name(journal.name + ".draft")
    with draft.open("w", encoding="utf-8") as handle:
        json.dump({"purpose": purpose, "what_to_do": what_to_do, "swaps": [asdict(swap) for swap in swaps]}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(draft, journal)
    _sync_folder(journal.parent)
    return journal


def swap_in(warehouse: Path, swaps: list[Swap], purpose: str, what_to_do: str) -> None:
    """Journal ``swaps`` (see :func:`write_journal`), then do them."""
    write_journal(warehouse, swaps, purpose, what_to_do)
    _finish(warehouse)


def swap_steps(warehouse: Path) -> Iterator[None]:
    """Every step still to do in ``warehouse``'s journal, in order; the journal is deleted after the last."""
    journal = journal_path(warehouse)
    if not journal.exists():
        return
    recorded = json.loads(journal.read_text(encoding="utf-8"))
    for swap in recorded["swaps"]:
        yield from Swap(**swap).steps()
    for folder in {Path(swap["current"]).parent for swap in recorded["swaps"]}:
        _sync_folder(folder)
    journal.unlink()
    _sync_folder(journal.parent)


def finish_swaps(warehouse: Path) -> str | None:
    """Finish the swaps journalled for ``warehouse``, if any; the operator's message when there were some."""
    journal = journal_path(warehouse)
    if not journal.exists():
        return None
    recorded = json.loads(journal.read_text(encoding="utf-8"))
    _finish(warehouse)
    return (
        f"finished swapping {recorded['purpose']} into place: the process doing it was stopped part-way (journal "
        f"{journal.name}, now deleted), so this one completed the swaps before anything else. "
        f"What to do: {recorded['what_to_do']}"
    )


def _finish(warehouse: Path) -> None:
    for _ in swap_steps(warehouse):
        pass


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
