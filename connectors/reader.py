"""Turns one verified CSV file into typed rows, person tokens and quarantine records, a whole column at a time.

The file is read in bulk (:mod:`connectors.csv_columns`), its contract rules
run over whole columns (:mod:`connectors.column_rules`), and its person
roles are normalised, tokenised and encoded per file
(:mod:`connectors.person_columns`). The plain identifiers live only inside
one :meth:`TableReader.read` call: nothing returned from here holds a name,
full date of birth, full postcode, PNC ID, NHS number or CRN. Operator text
(quarantine details, rejection reasons, notes) quotes a raw value only when
it has the strict format of its column's own kind of code
(:func:`describe_value`), and a header cell only when it is a known column
name (:func:`describe_header_cell`); everything else is "(value withheld)",
with the column and line.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.acero  # before ingest forks its workers: see _repeats
import pyarrow.compute as pc

from connectors.column_rules import (
    STRING_NULL,
    WITHHELD,
    CheckedColumn,
    Fault,
    clean_column,
    map_distinct,
    mask,
    outside,
    parse_datetimes,
    present,
)
from connectors.contracts import (
    DATE_ORDER_GRACE,
    EARLIEST_DATE,
    MAX_CELL_CHARS,
    TABLES,
    Column,
    ColumnType,
    DateOrder,
    TableContract,
    latest_plausible_date,
)
from connectors.csv_columns import CsvColumns, header_row, read_columns
from connectors.identifier_shapes import (
    could_hold_identifier,
    holds_row_identity,
    references_ok,
)
from connectors.manifest import DropRejected, Manifest
from connectors.normalise import (
    date_parser,
    normalise_code,
    normalise_force,
    parse_flag,
    parse_int,
    without_format_characters,
)
from connectors.person_columns import PersonColumns
from connectors.profiles import SourceProfile, profile_path
from pseudonymisation.encodings import PersonEncoder
from pseudonymisation.tokens import Tokeniser

#: The strict formats of the code lists whose unknown values may be quoted: an offence
#: classification (``8L``, ``8/66``, ``195/12``) or an outcome type (``1A``, ``14``) of digits and at
#: most one letter cannot hold a name, a postcode, a PNC ID, an NHS number, a CRN or a date, and a
#: value of these shapes is quoted only if it has none of the loose identifier shapes either. Local
#: codes with letters (``STK1``, ``L-BSPO``) are withheld when unknown: two to four letters can be a
#: name (``L-COX``, ``KHAN1``). Every other code list is closed: an unknown value there could be anything.
_QUOTABLE_CODES = {
    "offence_code": re.compile(r"[0-9]{1,3}[A-Z]?|[0-9]{1,3}/[0-9]{1,2}", re.ASCII),
    "outcome_code": re.compile(r"[0-9]{1,2}[A-Z]?", re.ASCII),
}
#: Every column name of every contract: a header cell is echoed only if it is one of these (or a profile's rename).
_COLUMN_NAMES = frozenset(name for contract in TABLES.values() for name in contract.all_column_names)


def describe_value(column: Column, value: str) -> str:
    """A bad cell's value for operator text: quoted only when it has its column's strict code format and is not
    a day and month (``26/12``, which a record's birth year, in the warehouse, makes a date of birth)."""
    pattern = _QUOTABLE_CODES.get(column.code_list or "")
    code = normalise_code(value)
    quotable = pattern is not None and pattern.fullmatch(code) and not could_hold_identifier(code)
    return f"'{code}'" if quotable and not _reads_as_day_and_month(code) else WITHHELD


def _reads_as_day_and_month(code: str) -> bool:
    """Whether ``code`` is two numbers that are a day and a month, in either order."""
    first, slash, second = code.partition("/")
    if not (slash and first.isdigit() and second.isdigit()):
        return False
    a, b = int(first), int(second)
    return (1 <= a <= 31 and 1 <= b <= 12) or (1 <= a <= 12 and 1 <= b <= 31)


def describe_header_cell(cell: str, known: frozenset[str]) -> str | None:
    """A header cell for operator text if it is a known column name (of any table, or a rename), else ``None``."""
    name = cell.strip()
    return name if name in known or name in _COLUMN_NAMES else None


def describe_header_cells(cells: list[str], known: frozenset[str]) -> str:
    """Header cells as a list for operator text; the ones that are not known column names are counted, not shown."""
    shown = [d for d in (describe_header_cell(c, known) for c in cells) if d is not None]
    hidden = len(cells) - len(shown)
    return f"{shown}" + (f" and {hidden} more not shown (not a known column name: see the file's header row)" if hidden else "")


#: A date column whose values do not read in the manifest's date_format in more than this share of its filled
#: cells (of at least WRONG_FORMAT_MIN_CELLS) rejects its drop: the format is wrong, not a few dates. Read as
#: %m/%d/%Y, a day-first file loaded a third of its dates with day and month swapped, and its corrected
#: re-delivery could not replace them (their swapped updated_at was later; outside check, 2026-12-06).
WRONG_FORMAT_SHARE = 1 / 3
WRONG_FORMAT_MIN_CELLS = 20


@dataclass
class FlaggedRow:
    """A row quarantined, or a value of it set to null as a warning: where, and which rule (the value withheld)."""

    line_number: int
    record_ref: str | None
    rule: str
    detail: str


@dataclass
class FileResult:
    """What one file produced: columns for ``raw.<table>``, person rows, quarantine, warnings (``warned``: one per
    value set to null)."""

    table: str
    file_name: str
    entity: dict[str, Any] = field(default_factory=dict)  # column name -> list or Arrow array
    persons: dict[str, Any] = field(default_factory=dict)
    quarantined: list[FlaggedRow] = field(default_factory=list)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_duplicate: int = 0
    warned: list[FlaggedRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def warnings(self) -> int:
        """Values set to null (or codes dropped from a set) as warnings."""
        return len(self.warned)


def _empty_file(file_name: str) -> DropRejected:
    return DropRejected(
        f"{file_name}: the file is empty (not even a header row), as an export that failed leaves it; a week with no "
        "records is a header row alone. Ask the sender to re-export the file"
    )


def column_name(cell: str) -> str:
    """A header cell as the column name it shows: letters in any case and compatibility form (``ＣＲＩＭＥ_ref``),
    without invisible format characters (a zero-width space, a byte-order mark, a direction mark) or spaces of any
    kind around it. An operator who opens the file sees ``crime_ref``; so does the reader."""
    return without_format_characters(unicodedata.normalize("NFKC", cell)).strip().lower()


class TableReader:
    """Reads files of one contract for one drop."""

    def __init__(
        self,
        contract: TableContract,
        manifest: Manifest,
        profile: SourceProfile,
        code_lists: dict[str, frozenset[str]],
        tokenisers: dict[str, Tokeniser],
        encoder: PersonEncoder,
    ) -> None:
        self.contract = contract
        self.manifest = manifest
        self.profile = profile
        self.code_lists = code_lists
        # dates repeat across the columns and rows of a file: each distinct text is parsed once
        self.parse_date = functools.lru_cache(maxsize=200_000)(date_parser(manifest.date_format))
        # the person roles: plain identifiers in, generalised values, tokens and keyed encodings out
        self.persons = PersonColumns(
            contract, self.parse_date, manifest.extract_date, code_lists["sex"], tokenisers, encoder
        )
        self._checks: dict[ColumnType, Callable[[Column, pa.Array], CheckedColumn]] = {
            ColumnType.TEXT: lambda column, values: CheckedColumn(values),
            ColumnType.REFERENCE: self._reference,
            ColumnType.FORCE: self._force,
            ColumnType.CODE: self._code,
            ColumnType.CODE_SET: self._code_set,
            ColumnType.DATE: self._dated,
            ColumnType.DATETIME: self._dated,
            ColumnType.INTEGER: self._integer,
            ColumnType.FLAG: self._flag,
        }

    # -- header -------------------------------------------------------------------
    def check_header(self, file_name: str, text: str) -> None:
        """Reject the file as :meth:`read` would for its header row (empty, absent, ambiguous or incomplete), reading
        that row alone: a drop's files are all checked so before any is read whole (``connectors.ingest``)."""
        header = header_row(text, file_name)
        if header is None:
            raise _empty_file(file_name)
        self._map_header(header, file_name, FileResult(table=self.contract.name, file_name=file_name))

    def _map_header(self, header: list[str], file_name: str, result: FileResult) -> list[str]:
        """The contract column of each header cell; rejects a file whose header is absent, ambiguous or incomplete.

        Column names are read in any case (``CRIME_REF`` is ``crime_ref``), as codes are; so are a profile's
        renames, looked up as delivered first.
        """
        renames = self.profile.renames_in(self.contract.name)
        folded = {column_name(delivered): name for delivered, name in renames.items()}
        mapped = [renames.get(name.strip()) or folded.get(column_name(name), column_name(name)) for name in header]
        known = frozenset(self.contract.all_column_names)
        nameable = known | frozenset(renames) | frozenset(folded)
        if not known & set(mapped):
            raise DropRejected(
                f"{file_name}: line 1 is not a header row (none of its {len(header)} cells is a column of "
                f"{self.contract.name}.csv); ask the sender to re-export the file with its header row"
            )
        repeated = sorted({m for m in mapped if m and mapped.count(m) > 1})
        renamed = [m for m in repeated if any(to == m and column_name(cell) != m for cell, to in zip(header, mapped))]
        if renamed:
            raise DropRejected(
                f"{file_name}: the profile's column_renames give the name {renamed[0]} to more than one column of "
                f"its header, so it is ambiguous which one holds the values; fix column_renames in "
                f"{profile_path(self.profile.source_id)} (keep the rename of the column that holds {renamed[0]}) and "
                "re-run"
            )
        if repeated:
            raise DropRejected(
                f"{file_name}: the header names column(s) {describe_header_cells(repeated, nameable)} more than once, "
                "so it is ambiguous which one holds the values; ask the sender to fix the export"
            )
        required = [c.name for c in self.contract.columns if c.required]
        missing_required = [name for name in required if name not in mapped]
        unknown = [h for h, m in zip(header, mapped) if m not in known]
        if missing_required:
            hint = f"; unrecognised columns {describe_header_cells(unknown, nameable)}" if unknown else ""
            raise DropRejected(
                f"{file_name}: required column(s) {missing_required} missing{hint}. If the source renamed "
                f"a column, map it under column_renames in {profile_path(self.profile.source_id)} "
                "and re-run"
            )
        absent = [name for name in self.contract.all_column_names if name not in mapped]
        undeclared = [name for name in absent if name not in self.profile.absent_columns]
        if unknown and undeclared:
            profile = profile_path(self.profile.source_id)
            raise DropRejected(
                f"{file_name}: column(s) {undeclared} missing while column(s) {describe_header_cells(unknown, nameable)} "
                "are not known: a renamed column would lose every value it holds. If the source renamed a column, "
                f"map it under column_renames in {profile}; if the source does not send {undeclared}, list them under "
                f"absent_columns in {profile}; then re-run"
            )
        if unknown:
            result.notes.append(
                f"{file_name}: unknown column(s) {describe_header_cells(unknown, nameable)} ignored; if one holds a "
                f"column of the contract under a new name, map it under column_renames in "
                f"{profile_path(self.profile.source_id)} and deliver the drop again"
            )
        if absent:
            result.notes.append(f"{file_name}: optional column(s) {absent} absent, read as blank")
        return mapped

    def _mapped_values(self, column: Column, values: pa.Array) -> pa.Array:
        """``values`` with the source's own values of a coded column put as the contract's codes (the profile's
        ``value_maps``; each code of a code set on its own); others as they are, to be checked."""
        mapping = self.profile.value_maps.get(column.name)
        if not mapping:
            return values

        def mapped(value: str) -> str:
            return mapping.get(normalise_code(value), value)

        if column.type is ColumnType.CODE_SET:
            return map_distinct(values, lambda value: ";".join(mapped(part) for part in value.split(";")), pa.string())
        return map_distinct(values, mapped, pa.string())

    # -- column checks ------------------------------------------------------------
    @staticmethod
    def _failed(values: pa.Array, typed: pa.Array) -> np.ndarray:
        """The cells with a value whose typed value is null: they broke the column's rule."""
        return present(values) & ~present(typed)

    def _reference(self, column: Column, values: pa.Array) -> CheckedColumn:
        ok = references_ok(values)
        typed = pc.if_else(pc.fill_null(ok, False), values, STRING_NULL)
        return CheckedColumn(typed, [Fault(
            self._failed(values, typed), "invalid_reference",
            f"{column.name}: {WITHHELD} is not a record reference (one word of letters, digits and / _ - . : #, "
            "mostly digits, with no word of five letters and nothing shaped like a date, PNC ID, NHS number, "
            "postcode, CRN or phone number)",
        )])

    def _force(self, column: Column, values: pa.Array) -> CheckedColumn:
        forces = self.code_lists["police_force"]
        typed = map_distinct(values, lambda value: force if (force := normalise_force(value)) in forces else None, pa.string())
        return CheckedColumn(typed, [Fault(
            self._failed(values, typed), "unknown_code",
            f"{column.name}: {WITHHELD} is not a police force of England and Wales (code list police_force) "
            "nor the force of a source profile",
        )])

    def _code(self, column: Column, values: pa.Array) -> CheckedColumn:
        allowed = self.code_lists[column.code_list] if column.code_list else None

        def known(value: str) -> str | None:
            code = normalise_code(value)
            return code if allowed is None or code in allowed else None

        typed = map_distinct(values, known, pa.string())
        failed = self._failed(values, typed)
        details = map_distinct(
            pc.if_else(pa.array(failed), values, STRING_NULL),
            lambda value: f"{column.name}: {describe_value(column, value)} is not in code list {column.code_list}",
            pa.string(),
        )
        return CheckedColumn(typed, [Fault(failed, "unknown_code", details.to_numpy(zero_copy_only=False))])

    def _code_set(self, column: Column, values: pa.Array) -> CheckedColumn:
        allowed = self.code_lists[column.code_list]  # type: ignore[index]

        def codes(value: str) -> set[str]:
            return {normalise_code(part) for part in value.split(";") if part.strip()}

        typed = map_distinct(values, lambda value: ";".join(sorted(codes(value) & allowed)) or None, pa.string())
        unknown = map_distinct(values, lambda value: bool(codes(value) - allowed), pa.bool_())
        return CheckedColumn(typed, notices=[Fault(
            mask(unknown), "unknown_code",
            f"{column.name}: a code of {WITHHELD} is not in code list {column.code_list}; the others are kept",
        )])

    def _dated(self, column: Column, values: pa.Array) -> CheckedColumn:
        if column.type is ColumnType.DATE:
            parsed, what = map_distinct(values, self.parse_date, pa.date32()), "a date"
        else:
            parsed, what = parse_datetimes(values, self.parse_date, self.manifest.date_format), "a date-time"
        unread, given = self._failed(values, parsed), present(values)
        if given.sum() >= WRONG_FORMAT_MIN_CELLS and unread.sum() > WRONG_FORMAT_SHARE * given.sum():
            raise DropRejected(
                f"{self.contract.name}.csv: {unread.sum():,} of {given.sum():,} {column.name} values are not {what} in "
                f"the manifest's date_format {self.manifest.date_format}, so the file's dates are probably written "
                "another way (read in the wrong one, day and month would swap in the others). The drop is rejected "
                "whole, nothing of it loaded. What to do: ask the sender to correct date_format in manifest.json "
                "(or the dates), then re-deliver and re-run"
            )
        latest = latest_plausible_date(column, self.manifest.extract_date)
        implausible = outside(pc.cast(parsed, pa.date32(), safe=False), EARLIEST_DATE, latest)
        typed = pc.if_else(pa.array(implausible), pa.scalar(None, parsed.type), parsed)
        return CheckedColumn(typed, [
            Fault(unread, "unparseable_date",
                  f"{column.name}: {WITHHELD} is not {what} in format {self.manifest.date_format}"),
            Fault(implausible, "implausible_date",
                  f"{column.name}: {WITHHELD} is outside the plausible window {EARLIEST_DATE} to {latest} "
                  f"(extract date {self.manifest.extract_date})"),
        ])

    def _integer(self, column: Column, values: pa.Array) -> CheckedColumn:
        parsed = map_distinct(values, parse_int, pa.int64())
        faults = [Fault(self._failed(values, parsed), "not_an_integer", f"{column.name}: {WITHHELD} is not a whole number")]
        if column.bounds:
            low, high = column.bounds
            beyond = mask(pc.or_(pc.less(parsed, low), pc.greater(parsed, high)))
            parsed = pc.if_else(pa.array(beyond), pa.scalar(None, pa.int64()), parsed)
            faults.append(Fault(beyond, "out_of_range", f"{column.name}: {WITHHELD} is not between {low} and {high}"))
        return CheckedColumn(parsed, faults)

    def _flag(self, column: Column, values: pa.Array) -> CheckedColumn:
        parsed = map_distinct(values, parse_flag, pa.bool_())
        return CheckedColumn(parsed, [Fault(self._failed(values, parsed), "not_a_flag", f"{column.name}: {WITHHELD} is not Y or N")])

    # -- file ---------------------------------------------------------------------
    def read(self, file_name: str, text: str, part: tuple[int, int] = (0, 1)) -> FileResult:
        """Read one verified file, or only part ``k`` of ``n`` (``part=(k, n)``) of its data rows.

        The parts of a file split its data rows (as counted in the manifest)
        into ``n`` consecutive blocks, so worker processes can share one big
        file; together they give exactly the whole file's result. A row that
        repeats an earlier one counts as a duplicate in whichever part it falls.
        """
        index, parts = part
        total = next((f.rows for f in self.manifest.files if f.name == file_name), 0)
        first = total * index // parts
        end = total * (index + 1) // parts if index + 1 < parts else np.iinfo(np.int64).max
        result = FileResult(table=self.contract.name, file_name=file_name)
        table = read_columns(text, file_name, total)
        if table.header is None:
            raise _empty_file(file_name)
        mapped = self._map_header(table.header, file_name, result)
        if index:
            result.notes.clear()  # header notes are reported once, by the first part
        for position, line, fields in table.misfits:
            if first <= position < end:
                result.rows_read += 1
                result.quarantined.append(
                    FlaggedRow(line, None, "wrong_column_count", f"{fields} fields, header has {len(mapped)}")
                )
        in_part = (table.positions >= first) & (table.positions < end)
        ref = mapped.index(self.contract.ref_column)
        shared = _shares_its_reference(table.columns[ref])
        repeated = _repeats(table.columns, shared)
        result.rows_read += int(in_part.sum())
        result.rows_duplicate = int((in_part & repeated).sum())
        if "updated_at" in mapped:
            conflicting = int((in_part & _conflicting_versions(table.columns, ref, mapped.index("updated_at"), shared & ~repeated)).sum())
            if conflicting:
                result.notes.append(
                    f"{file_name}: {conflicting} line(s) repeat the {self.contract.ref_column} and updated_at of an "
                    "earlier line with other values; each loads, and staging keeps the last line of its record. Ask "
                    "the sender which line is right; a corrected re-delivery with a later updated_at replaces them"
                )
        rows = np.nonzero(in_part & ~repeated)[0]
        if len(rows):
            self._read_rows(table, mapped, rows, file_name, result)
        result.quarantined.sort(key=lambda row: row.line_number)
        return result

    def _read_rows(self, table: CsvColumns, mapped: list[str], rows: np.ndarray, file_name: str, result: FileResult) -> None:
        """Check, type and load the given rows of the file (neither duplicates nor misfits)."""
        contract, manifest = self.contract, self.manifest
        count = len(rows)
        chosen = pa.array(rows, type=pa.int64())
        lines = table.lines[rows]
        checked = (*contract.kept_columns, contract.column("updated_at"), contract.column("record_status"))
        read_names = {column.name for column in checked} | contract.person_columns
        breaks: list[tuple[str, Fault]] = []  # (column, fault) of required columns: they quarantine the row
        warned: list[Fault] = []

        def report(column: Column, fault: Fault) -> None:
            """A bad required value quarantines the row; a bad optional one is a warning (SPEC §5)."""
            if column.required:
                breaks.append((column.name, fault))
            else:
                warned.append(fault)

        cells: dict[str, pa.Array] = {name: pa.nulls(count, pa.string()) for name in read_names}
        too_long: dict[str, np.ndarray] = {}
        for position, name in enumerate(mapped):
            if name not in read_names:
                continue
            raw = table.columns[position].take(chosen)
            cells[name] = self._mapped_values(contract.column(name), clean_column(raw))
            long = mask(pc.greater(pc.utf8_length(raw), MAX_CELL_CHARS))
            if long.any():
                too_long[name] = long
                cells[name] = pc.if_else(pa.array(long), STRING_NULL, cells[name])
                report(contract.column(name), Fault(
                    long, "value_too_long", f"{name}: {WITHHELD} is longer than {MAX_CELL_CHARS} characters"
                ))
        nowhere = np.zeros(count, dtype=bool)
        typed: dict[str, pa.Array] = {}
        for column in checked:
            values = cells[column.name]
            if column.required:
                blank = ~present(values) & ~too_long.get(column.name, nowhere)
                breaks.append((column.name, Fault(blank, "required_missing", f"{column.name} is blank")))
            check = self._checks[column.type](column, values)
            for fault in check.faults:
                report(column, fault)
            warned.extend(check.notices)
            typed[column.name] = check.values
        for order in contract.date_orders:
            wrong = _out_of_order(typed[order.column], typed[order.anchor], order)
            if wrong.any():
                typed[order.column] = pc.if_else(pa.array(wrong), pa.scalar(None, typed[order.column].type),
                                                 typed[order.column])
                side = "after" if order.column_first else "before"
                warned.append(Fault(wrong, "date_out_of_order", f"{order.column}: {WITHHELD} is {side} {order.anchor}"))
        for column in contract.columns:
            if column.required and column.name in contract.person_columns:
                blank = ~present(cells[column.name]) & ~too_long.get(column.name, nowhere)
                breaks.append((column.name, Fault(blank, "required_missing", f"{column.name} is blank")))
        roles = self.persons.check(cells, typed, count, report)
        warned.extend(fault for role in roles for fault in role.warnings)
        births = [birth for role in roles for birth in role.birth_dates]
        persons = [role.values for role in roles]
        for column in checked:
            if births and column.type in (ColumnType.DATE, ColumnType.DATETIME):
                typed[column.name] = _birth_dates_withheld(column, typed[column.name], births, report)
            if roles and column.type is ColumnType.REFERENCE:
                typed[column.name] = _identities_withheld(column, typed[column.name], births, persons, report)

        # a deletion (record_status DELETED, with a valid reference and updated_at) loads whatever its other cells
        # hold, each broken one null with a warning: the version only removes the record, and quarantined for a
        # blank or bad code it left the record in every mart (outside check, 2026-12-06)
        deletion = mask(pc.equal(typed["record_status"], "DELETED"))
        tombstone_columns = {contract.ref_column, "updated_at", "record_status"}
        quarantining = [fault if name in tombstone_columns else replace(fault, cells=fault.cells & ~deletion)
                        for name, fault in breaks]
        warned += [replace(fault, cells=fault.cells & deletion) for name, fault in breaks if name not in tombstone_columns]
        record_refs = typed[contract.ref_column]
        for fault in warned:
            result.warned.extend(FlaggedRow(int(lines[row]), record_refs[int(row)].as_py(), fault.rule, fault.detail_at(row))
                                 for row in np.nonzero(fault.cells)[0])
        broken = np.zeros(count, dtype=bool)
        for fault in quarantining:
            broken |= fault.cells
        for row in np.nonzero(broken)[0]:
            hits = [fault for fault in quarantining if fault.cells[row]]
            result.quarantined.append(FlaggedRow(
                int(lines[row]), record_refs[int(row)].as_py(), hits[0].rule, "; ".join(f.detail_at(row) for f in hits)
            ))
        loaded = ~broken
        kept = pa.array(loaded)
        prefix = f"{manifest.sha256}|{file_name}|"
        version_ids = pa.array(
            [hashlib.sha256(f"{prefix}{line}".encode()).hexdigest()[:20] for line in lines.tolist()], type=pa.string()
        )
        result.rows_loaded = loaded_count = int(loaded.sum())
        constants = {
            "source_id": manifest.source_id, "agency": manifest.agency, "drop_name": manifest.drop_name,
            "drop_sha256": manifest.sha256, "extract_date": manifest.extract_date, "file_name": file_name,
        }
        result.entity = {
            **{name: [value] * loaded_count for name, value in constants.items()},
            "line_number": pa.array(lines[loaded], type=pa.int32()),
            "version_id": version_ids.filter(kept),
            **{name: values.filter(kept) for name, values in typed.items()},
        }
        if roles:
            source = {"source_id": manifest.source_id, "agency": manifest.agency}
            result.persons = self.persons.encode(roles, loaded, record_refs, version_ids, source)


def _birth_dates_withheld(
    column: Column, values: pa.Array, births: list[pa.Array], report: Callable[[Column, Fault], None]
) -> pa.Array:
    """``values`` (an event date or date-time column) without the dates of birth of the row's persons.

    No event happens on the day a person on its row was born: such a value is
    a date of birth typed into the wrong column, and would reach the warehouse
    as an event date. It is withheld like an implausible date: the row is
    quarantined if the column is required, else the value is set to null with
    a warning. (A date of birth of someone on another table's row cannot be
    told from an event date.)
    """
    days = pc.cast(values, pa.date32(), safe=False)
    same = np.zeros(len(values), dtype=bool)
    for birth in births:
        same |= mask(pc.equal(days, birth))
    if not same.any():
        return values
    report(column, Fault(same, "implausible_date", f"{column.name}: {WITHHELD} is the date of birth of a person on the row"))
    return pc.if_else(pa.array(same), pa.scalar(None, values.type), values)


def _identities_withheld(
    column: Column, values: pa.Array, births: list[pa.Array], persons: list[dict[str, pa.Array]],
    report: Callable[[Column, Fault], None],
) -> pa.Array:
    """``values`` (a reference column) without the references that hold a date of birth, a name or an identifier
    of a person on their own row (:func:`holds_row_identity`), withheld like any other invalid reference."""
    held = holds_row_identity(values, births, persons)
    if not held.any():
        return values
    report(column, Fault(held, "invalid_reference",
                         f"{column.name}: {WITHHELD} holds the date of birth, a name or an identifier of a person on "
                         "its row"))
    return pc.if_else(pa.array(held), STRING_NULL, values)


def _out_of_order(values: pa.Array, anchor: pa.Array, order: DateOrder) -> np.ndarray:
    """Which rows' ``values`` lie on the wrong side of their ``anchor`` (:class:`connectors.contracts.DateOrder`);
    a date against a datetime is compared by day."""
    if pa.types.is_timestamp(values.type) and pa.types.is_timestamp(anchor.type):
        grace = pa.scalar(DATE_ORDER_GRACE, pa.duration("us"))  # moved towards the anchor by the grace
        values = pc.subtract(values, grace) if order.column_first else pc.add(values, grace)
    else:
        values, anchor = (pc.cast(v, pa.date32(), safe=False) for v in (values, anchor))
    return mask(pc.greater(values, anchor) if order.column_first else pc.less(values, anchor))


def _conflicting_versions(columns: list[pa.Array], key: int, updated: int, candidates: np.ndarray) -> np.ndarray:
    """Which of the ``candidates`` (rows whose reference, in column ``key``, is on several lines and that do not
    repeat an earlier row cell for cell) give a version of a record, by reference and cell ``updated``, that an
    earlier line gave with other values: two versions the version rule can only tell apart by their line numbers
    (the sender's export order). Rows with a blank reference are left to the quarantine."""
    conflicting = np.zeros(len(candidates), dtype=bool)
    chosen = pa.array(np.nonzero(candidates)[0], type=pa.int64())
    if not len(chosen):
        return conflicting
    table = pa.table({"k": columns[key].take(chosen), "u": columns[updated].take(chosen), "row": chosen})
    table = table.filter(pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(table["k"])), 0), False))
    firsts = table.group_by(["k", "u"], use_threads=False).aggregate([("row", "min"), ("row", "count")])
    firsts = firsts.filter(pc.greater(firsts["row_count"], 1))
    if firsts.num_rows:
        versions = table.join(firsts.select(["k", "u", "row_min"]), ["k", "u"], join_type="inner", use_threads=False)
        rows, first_rows = versions["row"].to_numpy(), versions["row_min"].to_numpy()
        conflicting[rows[rows != first_rows]] = True
    return conflicting


def _shares_its_reference(references: pa.Array) -> np.ndarray:
    """Which rows' reference occurs on more than one line: only those can repeat a row or a version."""
    if not len(references):
        return np.zeros(0, dtype=bool)
    keys = pc.dictionary_encode(references).indices.to_numpy()
    return np.bincount(keys)[keys] > 1


def _repeats(columns: list[pa.Array], shared: np.ndarray) -> np.ndarray:
    """Which rows repeat an earlier row cell for cell: the first loads, the others count as duplicates. Only the
    rows whose reference is on several lines (``shared``: :func:`_shares_its_reference`) are compared whole."""
    repeated = np.zeros(len(shared), dtype=bool)
    candidates = np.nonzero(shared)[0]
    if len(candidates):
        chosen = pa.array(candidates, type=pa.int64())
        names = [f"c{i}" for i in range(len(columns))]
        table = pa.table([*(column.take(chosen) for column in columns), chosen], names=[*names, "row"])
        # group_by needs pyarrow.acero, imported at the top of this module, before ingest forks its workers: a
        # forked worker that imported it on first use here crashed once (a segfault in the garbage collector
        # during the import, in CI), and a forked child should not import C extensions anyway
        firsts = table.group_by(names, use_threads=False).aggregate([("row", "min")])["row_min"].to_numpy()
        repeated[candidates] = True
        repeated[firsts] = False
    return repeated
