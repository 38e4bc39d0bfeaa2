"""What the ``masip`` CLI tells the operator when a command fails: the catalogue of known failures.

Each known failure becomes one message — what happened, which file, what to
do — and an exit code: **2** when the set-up is wrong (no key, wrong key, a
warehouse that is locked, read-only or missing its input folder: fix the
configuration and re-run), **1** when the data or the warehouse's content
stopped the run (data-quality checks, counts that do not reconcile, a damaged
warehouse, a failed dbt build or key rotation). The messages of these
exceptions are written by this project and quote no input value.

Anything else is unexpected: its text may quote a value (a DuckDB conversion
error names the cell), so only its type and the stage it left are shown, and
``masip --debug`` gives the traceback.
"""

from __future__ import annotations

import errno
import os
import signal
from dataclasses import dataclass

USAGE = 2
DATA = 1


@dataclass(frozen=True)
class OperatorMessage:
    text: str
    exit_code: int


def _dbt_failure(error: BaseException) -> str:
    """A failed dbt build by node name and status only (dbt's own messages can quote data)."""
    result = getattr(error, "result", None)
    failed = [n for n in (result.nodes if result else ()) if n.status in ("error", "fail")]
    names = ", ".join(f"{n.resource_type} {n.name} [{n.status}]" for n in failed[:10]) or "no node named"
    log = f" Details: {result.log_path / 'dbt.log'}." if result else ""
    return (
        f"the dbt build failed ({names}); the published warehouse was not changed.{log} What to do: a failed "
        "data test means rows break a contract (run the test's query, fix the drop or the model); a failed "
        "model is an error in the dbt project. Then re-run."
    )


def _database_failure(error: BaseException, stage: str) -> OperatorMessage | None:
    """A DuckDB error that says how the warehouse or vault is set up, by its kind only (its text can quote data)."""
    import duckdb

    from masip.warehouse import held_elsewhere

    if held_elsewhere(error):
        return OperatorMessage(
            f"stage {stage} cannot open the warehouse (or the vault): another process holds it (a MASIP run, or a "
            "DuckDB shell or notebook). What to do: wait until the run has finished, or close the other program, "
            "then re-run.",
            USAGE,
        )
    if isinstance(error, duckdb.CatalogException):
        return OperatorMessage(
            f"stage {stage} found the warehouse without a table it reads: it has not been built yet, or it is not a "
            "MASIP warehouse. What to do: run `masip run` on the drops first, or pass --warehouse the built "
            "warehouse, then re-run.",
            USAGE,
        )
    return None


def stopped(signal_name: str, command: str) -> OperatorMessage:
    """What the operator is told when ``command`` was stopped by ``signal_name`` (SIGINT: Ctrl-C; SIGTERM)."""
    return OperatorMessage(
        f"`masip {command}` was stopped by {signal_name} before it finished. Nothing is half-done: each drop loads "
        "whole or not at all (those loaded before the stop stay loaded), and a build or publication under way is "
        "discarded or finished by the next run, which deletes what this one left. What to do: re-run the command "
        "when you are ready.",
        128 + signal.Signals[signal_name].value,
    )


def killed(process: str, exit_code: int) -> str:
    """How ``process`` (a child that a negative ``exit_code`` says was killed, so could say nothing) ended, for
    the start of its operator message."""
    return (f"{process} was stopped by {signal.Signals(-exit_code).name} (the system's out-of-memory killer, or "
            "someone killed it)")


#: What each stage writes or reads from disk, named for a message about a full, read-only or failing disk.
_STAGE_STORES = {
    "ingest": ("the warehouse, the linkage vault and the landing archive",
               ("each drop is loaded whole or not at all, so the drops loaded before the fault stay loaded and a "
                "re-run loads the rest")),
    "link": ("the linkage vault and the warehouse's build candidate",
             "the published warehouse and linkage state are unchanged"),
    "build": ("the warehouse's build candidate (beside the warehouse) and the linkage vault",
              "the published warehouse and linkage state are unchanged"),
    "quality": ("the build candidate and the output folder (--out)",
                "the marts were not published: the published warehouse is unchanged"),
    "report": ("the output folder (--out)", "the build was published; a re-run writes the report"),
}
_DAMAGED = ("corrupt database file", "not a valid duckdb database", "could not read enough bytes")


def _storage_failure(error: BaseException, stage: str) -> OperatorMessage | None:
    """A full, read-only or failing disk, or a damaged DuckDB file, by its kind only: the system's or DuckDB's own
    text names a file, whose name a sender may have chosen."""
    import duckdb

    code = error.errno if isinstance(error, OSError) else None
    text = str(error).lower() if isinstance(error, duckdb.Error) else ""
    where, state = _STAGE_STORES.get(stage, ("the files the command writes", "re-running is safe"))
    if code in (errno.ENOSPC, errno.EDQUOT) or "no space left" in text:
        fault, todo = f"ran out of disk space (or quota) writing {where}", "free space on that disk, or move them to a larger one"
    elif code == errno.EROFS or "read-only file system" in text:
        fault, todo = f"found a read-only file system under {where}", "put them on a writable disk (or remount it read-write)"
    elif code == errno.EIO:
        fault, todo = f"got an input/output error from the disk under {where}", "check the disk (its system log); restore from backup what it damaged"
    elif any(sign in text for sign in _DAMAGED):
        fault = f"found a damaged DuckDB file (truncated or corrupt) among {where}"
        todo = ("restore the last good copies of the warehouse and of the vault folder from your backup (or rebuild "
                "both from the landing copies: README, \"Keys, the linkage vault, landing copies and rotation\")")
    elif isinstance(error, OSError) and not isinstance(error, (PermissionError, FileNotFoundError)):
        fault, todo = f"could not read or write {where} ({os.strerror(code) if code else type(error).__name__})", "fix the disk or the folders named"
    else:
        return None
    return OperatorMessage(f"stage {stage} {fault}; {state}. What to do: {todo}, then re-run.", USAGE)


def describe(error: BaseException, stage: str) -> OperatorMessage:
    """The operator message for ``error``, which stopped ``stage``."""
    from connectors.settings import SettingError
    from connectors.vault import KeyVersionMismatch, WrongVault
    from masip.dbt_runner import WarehouseBuildError
    from masip.linkage.stage import LinkageInputError, LinkageProcessError
    from masip.quality import DataQualityError
    from masip.reread import RereadError
    from masip.rotation import RotationMismatch, RotationToSameKey
    from masip.spark import SparkRunError
    from masip.store_swaps import SwapError
    from masip.warehouse import WarehouseDamaged, WarehouseError
    from pseudonymisation.keys import MissingKeyError
    from pseudonymisation.landing import LandingArchiveError

    if isinstance(error, (MissingKeyError, KeyVersionMismatch, WrongVault, LandingArchiveError, SettingError,
                          RotationToSameKey, RereadError)):
        return OperatorMessage(str(error), USAGE)
    if isinstance(error, WarehouseDamaged):
        return OperatorMessage(str(error), DATA)
    if isinstance(error, WarehouseError):  # busy, read-only
        return OperatorMessage(str(error), USAGE)
    if isinstance(error, LinkageInputError):  # no vault, or another warehouse's
        return OperatorMessage(str(error), USAGE)
    if isinstance(error, LinkageProcessError):  # its text is the linkage process's own operator message
        return OperatorMessage(str(error), DATA)
    database = _database_failure(error, stage)
    if database is not None:
        return database
    if isinstance(error, (DataQualityError, RotationMismatch, SparkRunError, SwapError)):
        return OperatorMessage(str(error), DATA)
    if isinstance(error, WarehouseBuildError):
        return OperatorMessage(_dbt_failure(error), DATA)
    if isinstance(error, FileNotFoundError) and stage == "ingest":
        return OperatorMessage(
            "the input folder (or a file in it) is missing. What to do: pass --input the folder that holds the "
            "drops (one sub-folder per drop), then re-run.",
            USAGE,
        )
    storage = _storage_failure(error, stage)
    if storage is not None:
        return storage
    if isinstance(error, PermissionError):
        return OperatorMessage(
            f"permission denied in stage {stage}: this user cannot read or write a file the command needs. "
            "What to do: run as the user that owns the warehouse and output folders, then re-run.",
            USAGE,
        )
    return OperatorMessage(
        f"unexpected error ({type(error).__name__}) in stage {stage}; re-run with --debug for the traceback",
        DATA,
    )
