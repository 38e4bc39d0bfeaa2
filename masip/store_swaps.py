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
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

JOURNAL_SUFFIX = ".swaps.json"
RETIRED_SUFFIX = ".retired"
REBUILT_INFIX = ".rotating"


class SwapError(RuntimeError):
    """A journalled swap cannot be finished as things stand on disk; the message says what to do."""


def rebuilt_path(store: Path) -> Path:
    """Where a replacement of ``store`` is built, beside it: ``masip.rotating.duckdb``, ``vault.rotating``."""
    return store.with_name(f"{store.stem}{REBUILT_INFIX}{store.suffix}")


@dataclass(frozen=True)
class Swap:
    """Put :func:`rebuilt_path` of ``current`` in its place: a folder (the old one deleted) or a DuckDB file.

    Only a store's own rebuilt copy, beside it, can replace it, so a journal can move nothing else.
    """

    current: str
    is_folder: bool

    @classmethod
    def folder(cls, current: Path) -> Swap:
        return cls(str(current), is_folder=True)

    @classmethod
    def database(cls, current: Path) -> Swap:
        """Its rebuilt copy must hold all its changes (no ``.wal``): see :func:`masip.warehouse.write_out`."""
        return cls(str(current), is_folder=False)

    def steps(self, journal: Path) -> Iterator[None]:
        """Do what is left of this swap, one atomic rename or deletion at a time (each followed by a yield)."""
        current = Path(self.current)
        replacement = rebuilt_path(current)
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
                f"neither {current} nor its replacement {replacement.name} exists, so the interrupted swap cannot be "
                f"finished. What to do: restore {current.name} from backup (or {retired.name}, if it is still "
                f"there, to {current.name}), then delete {journal} and re-run."
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
    journal = write_journal(warehouse, swaps, purpose, what_to_do)
    for _ in _steps(journal, swaps):
        pass


def swap_steps(warehouse: Path) -> Iterator[None]:
    """Every step still to do in ``warehouse``'s journal, in order; the journal is deleted after the last."""
    journal = journal_path(warehouse)
    if journal.exists():
        yield from _steps(journal, _read(journal)[2])


def _steps(journal: Path, swaps: list[Swap]) -> Iterator[None]:
    for swap in swaps:
        yield from swap.steps(journal)
    for folder in {Path(swap.current).parent for swap in swaps}:
        _sync_folder(folder)
    journal.unlink()
    _sync_folder(journal.parent)


def finish_swaps(warehouse: Path) -> str | None:
    """Finish the swaps journalled for ``warehouse``, if any; the operator's message when there were some."""
    journal = journal_path(warehouse)
    if not journal.exists():
        return None
    purpose, what_to_do, swaps = _read(journal)
    for _ in _steps(journal, swaps):
        pass
    return (
        f"finished swapping {purpose} into place: the process doing it was stopped part-way (journal "
        f"{journal.name}, now deleted), so this one completed the swaps before anything else. What to do: {what_to_do}"
    )


def _read(journal: Path) -> tuple[str, str, list[Swap]]:
    """The journal's purpose, what the operator is to do, and its swaps; refused unless it is one masip wrote."""
    try:
        recorded = json.loads(journal.read_text(encoding="utf-8"))
        return str(recorded["purpose"]), str(recorded["what_to_do"]), [Swap(**swap) for swap in recorded["swaps"]]
    except (ValueError, KeyError, TypeError):
        raise SwapError(
            f"{journal} is not a journal of store swaps that masip wrote (it is damaged, or was edited), so the "
            "swaps it should list were not finished. What to do: look for folders or files ending in "
            f"{REBUILT_INFIX} or {RETIRED_SUFFIX} beside the warehouse, vault and landing archive, put the rebuilt "
            f"ones in place by hand (or restore from backup), then delete {journal.name} and re-run."
        ) from None


def discard_abandoned_rebuilds(stores: Iterable[Path]) -> list[str]:
    """Delete the rebuilt copies (:func:`rebuilt_path`) of ``stores`` that a rotation stopped before its swaps
    left behind, and say so for each. Call under the warehouse lock, which a rotation holds from start to end and
    whose taking finished any journalled swaps: what is left then belongs to no process."""
    warnings = []
    for store in stores:
        rebuilt = rebuilt_path(store)
        if rebuilt.is_dir():
            shutil.rmtree(rebuilt)
        elif rebuilt.exists():
            rebuilt.unlink()
            Path(f"{rebuilt}.wal").unlink(missing_ok=True)
        else:
            continue
        warnings.append(
            f"deleted {rebuilt}: a key rotation stopped before its swaps had rebuilt {store.name} there, under a "
            "key that never came into use. What to do: nothing for the files; to rotate the key, run `masip "
            "rotate-key` again."
        )
    return warnings


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
