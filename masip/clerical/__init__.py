"""Clerical review for reviewers: export the queue (CSV + HTML), import their decisions.

``masip review export`` reads the published warehouse's ``ops.review_queue``
and ``ops.review_queue_fields`` (pseudonymous ids, agency references,
agreement levels and weights: nothing else) and writes

* ``review_queue.csv`` (:mod:`masip.published_csv`): one row per item, both
  roles' references, each field's level and weight, and four empty columns
  for the reviewer: ``decision`` (``SAME`` or ``NOT_SAME``), ``reviewer``,
  ``decided_at`` (ISO 8601) and ``reason``;
* ``review_queue.html``: the same, readable, one card per item.

``masip review import FILE`` validates every row of a filled-in CSV
(:func:`read_decisions`) and, only if every row is valid, records the
decided rows in the vault (:mod:`masip.linkage.review_store`). Rows with an
empty ``decision`` are left for later. The next linkage run applies them.
A decision on a pair that is not in the warehouse's review queue (a row
added by hand, e.g. to split two roles a mis-recorded PNC joined) is as
strong as any other ("same person" passes the sex and date-of-birth guards),
so it is refused unless the import is told to take such rows
(``allow_unqueued``): a row slipped into the file is never recorded
unnoticed. A decision already recorded (the same file imported again) is
not recorded twice. Nothing here needs or loads the partnership key.
"""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from connectors.identifier_shapes import could_hold_identifier, is_reference
from connectors.manifest import describe_csv_error
from connectors.vault import Vault
from masip.linkage.deterministic import KEY_COLUMNS
from masip.linkage.review import review_id_for
from masip.linkage.review_store import ROLE_COLUMNS, member_key, record_decisions
from masip.output_files import write_output
from masip.published_csv import FORMULA_TRIGGERS, write_frame

TEMPLATES = Path(__file__).resolve().parent / "templates"
CASEPACK_CSS = Path(__file__).resolve().parents[1] / "casepack" / "templates" / "casepack.css"
DECISIONS = {"SAME": True, "NOT_SAME": False}
REVIEWER_COLUMNS = ("decision", "reviewer", "decided_at", "reason")
REQUIRED_COLUMNS = ("review_id", *ROLE_COLUMNS, *REVIEWER_COLUMNS)
MAX_TEXT = {"reviewer": 100, "reason": 1000}
#: The largest decisions file read (it is read whole).
MAX_DECISIONS_BYTES = 20_000_000
#: Errors listed in one message (the count says how many more there are).
MAX_LISTED_ERRORS = 20


class ReviewFileError(ValueError):
    """A decisions file that cannot be imported; the message lists every problem, quoting no raw value."""


@dataclass(frozen=True)
class ExportResult:
    items: int
    csv_path: Path
    html_path: Path


@dataclass(frozen=True)
class ImportResult:
    recorded: int
    same: int
    not_same: int
    undecided: int
    already_recorded: int = 0  # decisions of the file the vault holds already (the file imported again)
    unqueued: int = 0  # decisions on pairs that were not in the review queue (rows added by hand)


def _queue(warehouse: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    if not warehouse.is_file():
        raise ReviewFileError(f"no warehouse at {warehouse}: run `masip run` first, or pass --warehouse")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        found = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'ops' and table_name = 'review_queue'"
        ).fetchone()[0]
        if not found:
            raise ReviewFileError(f"{warehouse} has no ops.review_queue yet: run a build (`masip run`) first")
        queue = con.execute("select * from ops.review_queue order by review_id").df()
        fields = con.execute("select * from ops.review_queue_fields order by review_id, field_position").df()
    return queue, fields


def export_queue(warehouse: Path, out_dir: Path) -> ExportResult:
    """Write ``review_queue.csv`` and ``review_queue.html`` into ``out_dir`` (see module docstring)."""
    queue, fields = _queue(warehouse)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = list(dict.fromkeys(fields.sort_values("field_position")["field"]))
    wide = queue.copy()
    for name in names:
        of_field = fields[fields["field"] == name].set_index("review_id")
        wide[f"{name}_level"] = wide["review_id"].map(of_field["agreement_level"])
        wide[f"{name}_weight"] = wide["review_id"].map(of_field["match_weight"])
    for column in REVIEWER_COLUMNS:
        wide[column] = None
    csv_path = write_frame(out_dir / "review_queue.csv", wide)
    items = [
        {**row, "fields": fields[fields["review_id"] == row["review_id"]].to_dict("records")}
        for row in queue.astype(object).where(queue.notna(), None).to_dict("records")
    ]
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    html = env.get_template("review_queue.html.j2").render(
        items=items, css=CASEPACK_CSS.read_text(encoding="utf-8"), generated=datetime.now(UTC)
    )
    html_path = out_dir / "review_queue.html"
    write_output(html_path, html)
    return ExportResult(len(queue), csv_path, html_path)


def _cell(value: str | None) -> str:
    """A cell as the reviewer meant it: stripped, and without the quote a published CSV puts before a formula."""
    text = (value or "").strip()
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_TRIGGERS) else text


def _shown(value: str, known: frozenset[str] = frozenset()) -> str:
    """A raw value for an error message: only a known code (source, table, role) or an agency reference's shape."""
    if value in known or is_reference(value):
        return repr(value)
    return f"(a value of {len(value)} characters, not shown)"


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _live_roles(warehouse: Path) -> tuple[set[str], frozenset[str]]:
    """The warehouse's live record roles (member keys), and its codes (sources, tables, roles) safe to quote."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(f"select {', '.join(KEY_COLUMNS)} from marts.person_xref").fetchall()
    codes = frozenset(v for row in rows for k, v in zip(KEY_COLUMNS, row) if k != "record_ref")
    return {member_key(*row) for row in rows}, codes


def _read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise ReviewFileError(f"no decisions file at {path}")
    if path.stat().st_size > MAX_DECISIONS_BYTES:  # read whole into memory: 100 MB took 1.2 GB
        raise ReviewFileError(
            f"{path} is {path.stat().st_size:,} bytes, over the {MAX_DECISIONS_BYTES // 1_000_000} MB a decisions file "
            "may have (a queue of 10,000 items fills about 5 MB): import the review_queue.csv that `masip review "
            "export` wrote, with a decision in each row, or split it into several files"
        )
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ReviewFileError(
                    f"{path} lacks the column(s) {', '.join(missing)}. Fill in the review_queue.csv that "
                    "`masip review export` wrote (columns decision, reviewer, decided_at, reason) and import that."
                )
            return [{k: _cell(v) for k, v in row.items() if k is not None} for row in reader]
    except UnicodeDecodeError:
        raise ReviewFileError(f"{path} is not UTF-8 text: save it as CSV (UTF-8) and import it again") from None
    except csv.Error as error:
        raise ReviewFileError(
            f"{path} is not a readable CSV file ({describe_csv_error(error)}): save it again as CSV (UTF-8) from the "
            "spreadsheet, and import it again"
        ) from None


def _row_problems(row: dict[str, str], live: set[str], codes: frozenset[str], now: datetime) -> list[str]:
    problems = []
    decision = row["decision"].upper()
    if decision not in DECISIONS:
        problems.append(f"decision must be SAME or NOT_SAME, not {_shown(row['decision'])}")
    for column, limit in MAX_TEXT.items():
        if not row[column]:
            problems.append(f"{column} is empty: say who decided and why")
        elif len(row[column]) > limit:
            problems.append(f"{column} is longer than {limit} characters")
        elif any(unicodedata.category(c) in ("Cc", "Cf") for c in row[column]):  # a terminal escape, a bidi override
            problems.append(f"{column} holds control characters (a terminal escape, a tab or a direction mark): type "
                            "it as plain text")
        elif could_hold_identifier(row[column]):  # it would be kept in the vault as typed
            problems.append(f"{column} has the shape of an identifier (a date, postcode, PNC ID, NHS number, CRN or "
                            "phone number): say who decided and why without any")
    moment = _parse_time(row["decided_at"])
    if moment is None:
        problems.append(f"decided_at {_shown(row['decided_at'])} is not an ISO 8601 date and time (2026-11-30T14:05)")
    elif moment > now + timedelta(days=1):
        problems.append("decided_at is in the future")
    keys = {}
    for side in ("a", "b"):
        values = [row[f"{c}_{side}"] for c in KEY_COLUMNS]
        keys[side] = member_key(*values)
        if keys[side] not in live:
            shown = "/".join(_shown(v, codes) if v else "(empty)" for v in values)
            problems.append(f"role {side} ({shown}) is not a live record role of the warehouse")
    if keys["a"] == keys["b"]:
        problems.append("roles a and b are the same record role")
    elif decision == "SAME" and keys["a"].rsplit("|", 1)[0] == keys["b"].rsplit("|", 1)[0]:
        # the linkage never joins them (a record's victim and perpetrator): recorded, it was ignored without a word
        problems.append("roles a and b are the victim and the perpetrator of one record, who are never one person")
    elif row["review_id"] and row["review_id"] != review_id_for(keys["a"], keys["b"]):
        problems.append(f"review_id {_shown(row['review_id'])} is not the id of these two roles (columns mixed up?)")
    return problems


def read_decisions(path: Path, warehouse: Path, allow_unqueued: bool = False) -> tuple[pd.DataFrame, int, int]:
    """The decided rows of ``path``, validated against ``warehouse``'s live roles and review queue; how many rows
    were undecided; and how many decided pairs are not in the queue.

    Raises :class:`ReviewFileError` listing every problem (by row number)
    when any row is invalid, when one pair is decided both ways, or when a
    pair is not in the queue and ``allow_unqueued`` is not given.
    """
    rows = _read_rows(path)
    live, codes = _live_roles(warehouse)
    queued = set(_queue(warehouse)[0]["review_id"])
    unqueued: list[int] = []
    now = datetime.now(UTC)
    errors: list[str] = []
    decided: list[dict[str, object]] = []
    seen: dict[str, tuple[int, bool]] = {}
    undecided = 0
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        if not row["decision"]:
            undecided += 1
            continue
        problems = _row_problems(row, live, codes, now)
        if problems:
            errors += [f"row {number}: {p}" for p in problems]
            continue
        same = DECISIONS[row["decision"].upper()]
        pair = review_id_for(member_key(*(row[f"{c}_a"] for c in KEY_COLUMNS)),
                             member_key(*(row[f"{c}_b"] for c in KEY_COLUMNS)))
        if pair in seen and seen[pair][1] != same:
            errors.append(f"row {number}: decides the same two roles as row {seen[pair][0]} the other way")
        seen.setdefault(pair, (number, same))
        if pair not in queued:
            unqueued.append(number)
        decided.append({**{c: row[c] for c in ROLE_COLUMNS}, "same_person": same, "reviewer": row["reviewer"],
                        "decided_at": _parse_time(row["decided_at"]), "reason": row["reason"]})
    if unqueued and not allow_unqueued:
        errors += [f"row {number}: decides a pair that is not in the review queue (a row added by hand, or an item a "
                   "later run has settled); if it is meant, import again with --allow-unqueued, else remove it"
                   for number in unqueued]
    if errors:
        listed = errors[:MAX_LISTED_ERRORS]
        more = f"\n  … and {len(errors) - len(listed)} more" if len(errors) > len(listed) else ""
        raise ReviewFileError(
            f"{path}: {len(errors)} problem(s); nothing was imported. Correct them and import the file again:\n  "
            + "\n  ".join(listed) + more
        )
    frame = pd.DataFrame(decided, columns=[*ROLE_COLUMNS, "same_person", "reviewer", "decided_at", "reason"])
    return frame, undecided, len(unqueued)


def import_decisions(path: Path, warehouse: Path, vault: Vault, allow_unqueued: bool = False) -> ImportResult:
    """Validate ``path`` (:func:`read_decisions`) and record its decisions in ``vault``, all or nothing; decisions
    the vault holds already are not recorded again."""
    vault.require_records()  # a wrong --vault must not start a new, empty vault
    decided, undecided, unqueued = read_decisions(path, warehouse, allow_unqueued)
    new = record_decisions(vault, decided) if len(decided) else decided
    same = int(new["same_person"].sum())
    return ImportResult(len(new), same, len(new) - same, undecided, len(decided) - len(new), unqueued)
