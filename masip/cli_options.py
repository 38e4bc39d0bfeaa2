"""What the ``masip`` commands share on their command line: default paths, dates, and paths checked up front.

A path the run writes to is checked before any work starts: an ``--out`` that
is a file, or a warehouse under a file, would otherwise stop a run minutes
later, after ingest and build, with an error that names neither.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click

from connectors.vault import Vault
from masip.warehouse import warehouse_file

DEFAULT_WAREHOUSE = Path("warehouse/masip.duckdb")
DEFAULT_OUT = Path("output")
VAULT_HELP = "Linkage vault folder (default: $MASIP_VAULT_DIR, else vault/ beside the warehouse)."


class Refusal(click.ClickException):
    """A command refused before doing any work, for a reason the operator can mend (a warehouse not built yet, a
    file that is not a decisions file, an unknown person): exit code 2, as every other refusal
    (:data:`masip.operator_errors.USAGE`), not click's 1, which the README keeps for failures of the data."""

    exit_code = 2


#: The reference dates (``as_of``) a run or a case pack may be computed at: no partnership's data start before
#: 1990, and a date over a year ahead of today is a slip of the keyboard (9999-12-31 published every flag as
#: overdue, and stopped every case pack after it).
EARLIEST_AS_OF = date(1990, 1, 1)
AS_OF_DAYS_AHEAD = 366


def checked_as_of(value: date) -> date:
    """``value`` if it is a plausible reference date (:data:`EARLIEST_AS_OF` to a year from today); else a
    ``ValueError`` saying what to do."""
    latest = date.today() + timedelta(days=AS_OF_DAYS_AHEAD)
    if not EARLIEST_AS_OF <= value <= latest:
        raise ValueError(
            f"{value.isoformat()} is not a plausible reference date: it must be from {EARLIEST_AS_OF.isoformat()} to "
            f"{latest.isoformat()} (a year from today). What to do: give the date of the week to report on, as "
            "YYYY-MM-DD, or leave it out for the latest extract date"
        )
    return value


def parse_as_of(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    """A reference date option (:func:`parse_date`), refused unless plausible (:func:`checked_as_of`)."""
    parsed = parse_date(ctx, param, value)
    try:
        return None if parsed is None else checked_as_of(parsed)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def parse_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    """A ``YYYY-MM-DD`` option as a date."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD") from None


def folder(_ctx: click.Context | None, _param: click.Parameter | None, value: Path | None) -> Path | None:
    """A folder to write into, created if missing: refused if it, or a folder it would be created in, is a file."""
    if value is None:
        return None
    for existing in (value, *value.parents):
        if existing.is_dir():
            return value
        if existing.exists():
            raise click.BadParameter(
                f"{existing} is a file, not a folder. What to do: pass a folder (it is created if missing), or move "
                "the file away"
            )
    return value


def output_folder(ctx: click.Context | None, param: click.Parameter | None, value: Path | None) -> Path | None:
    """:func:`folder`, which this user must also be able to write into: a read-only ``--out`` was found only after
    the whole build had run (outside audit 5)."""
    value = folder(ctx, param, value)
    if value is not None:
        vault = next((p for p in (value, *value.parents) if Vault(p).holds_stores), None)
        if vault is not None:  # owner-only, apart from what is published: no report or pack is written into it
            raise click.BadParameter(
                f"{value} is inside the linkage vault {vault}, which holds every encoding of an identifier and no "
                "output. What to do: pass a folder outside the vault"
            )
        existing = next(p for p in (value, *value.parents) if p.exists())
        if not os.access(existing, os.W_OK | os.X_OK):
            raise click.BadParameter(
                f"{existing} is read-only for this user (a read-only file system, or no permission). What to do: "
                "pass a folder this user can write, or fix its permissions"
            )
    return value


def file_in_folder(ctx: click.Context | None, param: click.Parameter | None, value: Path | None) -> Path | None:
    """A file to create or update, such as the warehouse: refused if it is a folder, or its folder is a file."""
    if value is None:
        return None
    if value.is_dir():
        raise click.BadParameter(f"{value} is a folder. What to do: pass a file in it, e.g. {value / 'masip.duckdb'}")
    folder(ctx, param, value.parent)
    return warehouse_file(value)


def rebuild_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options of a command that rebuilds a warehouse from its landing copies (``reread``, ``rotate-key``):
    an existing ``--warehouse``, ``--out`` and ``--vault``."""
    for option in reversed([
        click.option("--warehouse", type=click.Path(path_type=Path, exists=True), callback=file_in_folder,
                     default=DEFAULT_WAREHOUSE, show_default=True),
        click.option("--out", "out_dir", type=click.Path(path_type=Path), callback=output_folder, default=DEFAULT_OUT,
                     show_default=True),
        click.option("--vault", "vault_dir", type=click.Path(path_type=Path), callback=folder, default=None,
                     help=VAULT_HELP),
    ]):
        command = option(command)
    return command
