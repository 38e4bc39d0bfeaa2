"""The MASIP_* settings that are numbers or sizes, read and checked in one place.

Each is read where it is used, through :func:`whole_number`; every stage
checks them all first (:func:`masip.settings.check_settings`), so a bad value
stops the run before it does any work, naming the variable. Read only when
first needed, a bad value stopped runs half-way: the landing copies'
retention after every drop had loaded (the next run then listed that week's
drops as loaded with no counts in any report), a memory cap at the dbt build
(outside check, 2026-12-07).
"""

from __future__ import annotations

import os

from pseudonymisation.landing import DEFAULT_RETENTION_DAYS, RETENTION_ENV


class SettingError(ValueError):
    """A MASIP_* setting holds a value it cannot have; the message names it and says what to do."""


def whole_number(name: str, default: int, minimum: int, unit: str) -> int:
    """``$name`` as a whole number of ``unit`` of at least ``minimum``, else ``default`` when it is unset or blank."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit() and int(value) >= minimum):
        raise SettingError(
            f"{name} must be a whole number of {unit}, at least {minimum}; set one, or unset it for the default "
            f"({default:,}), and re-run"
        )
    return int(value)


def landing_retention_days() -> int:
    """How many days encrypted landing copies are kept after their extract date (``MASIP_LANDING_RETENTION_DAYS``)."""
    return whole_number(RETENTION_ENV, DEFAULT_RETENTION_DAYS, 1, "days (how long landing copies are kept)")
