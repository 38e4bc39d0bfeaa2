"""What changed since the previous pack: the flags it showed that are no longer open, and the cases it held
that left.

A pack shows the flags open at its date; a flag that closed in the week (a
breach answered, an SPO sought) simply vanished, and the panel could not tell
"dealt with" from "overlooked". Each pack therefore writes beside its HTML
which flags it showed (``masip-casepack-<as_of>.flags.json``: pseudonymous
dyad ids, flag codes and the dates they were raised, and each case's agency
references: what the HTML shows already), and the next pack written to the
same folder compares itself with the latest earlier one. A case whose dyad id
changed (two persons found to be one, a person split, or the record a person
was named after deleted: ``masip.linkage``) is found again by its records, so
it is not listed as gone.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from masip.output_files import write_output

if TYPE_CHECKING:
    from masip.casepack.data import Case, PackData

log = logging.getLogger(__name__)

_SHOWN = re.compile(r"masip-casepack-(\d{4}-\d{2}-\d{2})\.flags\.json")
#: A dyad id as the marts write it (macros/ids.sql): what a previous pack's record may name, nothing else.
_DYAD_ID = re.compile(r"D[0-9a-f]{16}")


class _NotAPackRecord(ValueError):
    """A previous pack's record holds what no pack writes: it was altered, so none of it is shown."""


@dataclass(frozen=True)
class ClearedFlag:
    """A flag the previous pack showed on a case that is no longer open."""

    flag_code: str
    raised_date: date


@dataclass(frozen=True)
class PreviousPack:
    """The flags a previous pack showed (dyad id -> flag code -> the date it was raised), and the records each of
    its cases held (dyad id -> "source_id|table|ref")."""

    as_of: date
    flags: dict[str, dict[str, date]]
    records: dict[str, frozenset[str]]


def shown_flags_path(out_dir: Path, as_of: date) -> Path:
    return out_dir / f"masip-casepack-{as_of.isoformat()}.flags.json"


def write_shown_flags(out_dir: Path, pack: PackData) -> Path:
    """Record which flags ``pack`` shows on each of its cases, for the next pack to compare with."""
    shown = {case.dyad_id: {f.flag_code: f.raised_at.date().isoformat() for f in case.flags} for case in pack.cases}
    records = {case.dyad_id: sorted(_records(case)) for case in pack.cases}
    path = shown_flags_path(out_dir, pack.as_of)
    content = {"as_of": pack.as_of.isoformat(), "cases": shown, "records": records}
    return write_output(path, json.dumps(content, sort_keys=True))


def previous_pack(out_dir: Path, as_of: date) -> PreviousPack | None:
    """The latest pack written to ``out_dir`` for a date before ``as_of``, or None. A record that cannot be read
    is passed over with a warning naming the file (the pack says nothing changed rather than stop)."""
    dated = sorted(
        (date.fromisoformat(m.group(1)), path)
        for path in (out_dir.glob("masip-casepack-*.flags.json") if out_dir.is_dir() else ())
        if (m := _SHOWN.fullmatch(path.name)) and _is_date(m.group(1)) and date.fromisoformat(m.group(1)) < as_of
    )
    for when, path in reversed(dated):
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
            flags = {str(dyad): {str(code): date.fromisoformat(raised) for code, raised in shown.items()}
                     for dyad, shown in content["cases"].items()}
            records = {str(dyad): frozenset(map(str, refs)) for dyad, refs in content.get("records", {}).items()}
            _check_record(flags, records)
        except _NotAPackRecord:
            # what it holds is shown in the pack: a name or a link written into it must never reach the panel
            log.warning(
                "Case pack: %s holds what no case pack writes (it was altered), so it is not compared with; "
                "comparing with an earlier pack. What to do: find out who changed the case pack folder, and "
                "delete that file", path.name,
            )
            continue
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            log.warning("Case pack: %s cannot be read; comparing with an earlier pack", path.name)
            continue
        return PreviousPack(when, flags, records)
    return None


def _check_record(flags: dict[str, dict[str, date]], records: dict[str, frozenset[str]]) -> None:
    """Raises :class:`_NotAPackRecord` unless every dyad id, flag code and record of a previous pack's record is one
    a pack writes: the next pack shows them (the cases that left, the flags cleared)."""
    from connectors.contracts import TABLES
    from connectors.identifier_shapes import is_reference
    from connectors.manifest import SOURCE_ID_PATTERN
    from masip.casepack.data import FLAG_CODES

    def is_record(text: str) -> bool:
        source_id, _, rest = text.partition("|")
        table, _, ref = rest.partition("|")
        return re.fullmatch(SOURCE_ID_PATTERN, source_id) is not None and table in TABLES and is_reference(ref)

    if not (
        all(_DYAD_ID.fullmatch(dyad) for dyad in (*flags, *records))
        and all(code in FLAG_CODES for shown in flags.values() for code in shown)
        and all(is_record(record) for held in records.values() for record in held)
    ):
        raise _NotAPackRecord


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _records(case: Case) -> set[str]:
    return {f"{e.source_id}|{e.source_table}|{e.record_ref}" for e in case.events}


def _same_cases(pack: PackData, previous: PreviousPack) -> dict[str, str]:
    """Each previous case's case in ``pack``: the one of the same dyad id, else (an id that changed when one of its
    people merged or split) the one that holds most of its records, if any does."""
    current = {case.dyad_id: _records(case) for case in pack.cases}
    same = {dyad: dyad for dyad in previous.flags if dyad in current}
    for dyad in previous.flags.keys() - same.keys():
        held = previous.records.get(dyad, frozenset())
        overlap, best = max(((len(held & records), other) for other, records in current.items()), default=(0, ""))
        if overlap:
            same[dyad] = best
    return same


def cleared_since(pack: PackData, previous: PreviousPack) -> tuple[dict[str, list[ClearedFlag]], list[str]]:
    """The flags ``previous`` showed that ``pack`` no longer has open, per case of ``pack``; and the cases
    ``previous`` held that ``pack`` does not (sorted)."""
    open_flags = {case.dyad_id: {f.flag_code for f in case.flags} for case in pack.cases}
    same = _same_cases(pack, previous)
    cleared: dict[str, list[ClearedFlag]] = {}
    for dyad, now in sorted(same.items()):
        gone = [ClearedFlag(code, raised) for code, raised in sorted(previous.flags[dyad].items())
                if code not in open_flags[now]]
        cleared.setdefault(now, []).extend(gone)
    return {dyad: flags for dyad, flags in cleared.items() if flags}, sorted(previous.flags.keys() - same.keys())


def compare_with_previous(pack: PackData, out_dir: Path) -> None:
    """Mark on ``pack`` what changed since the latest earlier pack written to ``out_dir`` (nothing if none):
    each case's cleared flags, and the cases that left."""
    previous = previous_pack(out_dir, pack.as_of)
    if previous is None:
        return
    cleared, left = cleared_since(pack, previous)
    for case in pack.cases:
        case.cleared_flags = cleared.get(case.dyad_id, [])
    pack.previous_as_of, pack.left_cases = previous.as_of, left
