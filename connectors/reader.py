"""Turns one verified CSV file into typed rows, person tokens and quarantine records.

This is the only place where plain identifiers are handled: they are read
from the cell, normalised, tokenised and dropped in the same function call.
Nothing returned from here holds a name, full date of birth, full postcode,
PNC ID, NHS number or CRN. Operator text (quarantine details, rejection
reasons, notes) quotes a raw value only when it has the strict format of
its column's own kind of code (:func:`describe_value`), and a header cell
only when it looks like a column name (:func:`describe_header_cell`);
everything else is "(value withheld)", with the column and line.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable

from connectors.contracts import (
    EARLIEST_DATE,
    FUTURE_MARGIN,
    MAX_CELL_CHARS,
    PLANNED_HORIZON,
    Column,
    ColumnType,
    PersonRole,
    TableContract,
)
from connectors.manifest import DropRejected, Manifest, csv_rows, describe_csv_error
from connectors.normalise import (
    clean_cell,
    date_parser,
    datetime_parser,
    is_reference,
    normalise_code,
    normalise_crn,
    normalise_force,
    normalise_name,
    normalise_nhs_number,
    normalise_pnc,
    normalise_postcode,
    parse_flag,
    parse_int,
    postcode_district,
)
from connectors.profiles import SourceProfile
from pseudonymisation.encodings import PersonEncoder
from pseudonymisation.tokens import TOKEN_PURPOSES, Tokeniser

_UNSEEN = object()
WITHHELD = "(value withheld)"

#: The strict formats of the code lists whose unknown values may be quoted: an offence
#: classification (``8L``, ``8/66``, ``195/12``, ``STK1``; a local ``L-BSPO``) or an outcome type
#: (``1A``, ``14``) is too short and too coded to be a name, a full postcode, a PNC ID, an NHS number
#: or a date. Every other code list is closed: an unknown value there could be anything.
_QUOTABLE_CODES = {
    "offence_code": re.compile(r"(?=.*\d)[A-Z0-9]{1,6}([/-][A-Z0-9]{1,4})?|L-[A-Z]{2,8}", re.ASCII),
    "outcome_code": re.compile(r"\d{1,2}[A-Z]?", re.ASCII),
}
#: A header cell that is not a known column is echoed only if it is snake_case, as column names are.
_COLUMN_NAME = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)+", re.ASCII)


def describe_value(column: Column, value: str) -> str:
    """A bad cell's value for operator text: quoted only when it has its column's strict code format."""
    pattern = _QUOTABLE_CODES.get(column.code_list or "")
    code = normalise_code(value)
    quotable = pattern is not None and pattern.fullmatch(code) and normalise_postcode(code) is None
    return f"'{code}'" if quotable else WITHHELD


def describe_header_cell(cell: str, known: frozenset[str]) -> str | None:
    """A header cell for operator text, or ``None`` when it does not look like a column name."""
    name = cell.strip()
    return name if name in known or (len(name) <= 40 and _COLUMN_NAME.fullmatch(name)) else None


def describe_header_cells(cells: list[str], known: frozenset[str]) -> str:
    """Header cells as a list for operator text; the ones that do not look like column names are counted, not shown."""
    shown = [d for d in (describe_header_cell(c, known) for c in cells) if d is not None]
    hidden = len(cells) - len(shown)
    return f"{shown}" + (f" and {hidden} more withheld (not column-name-like)" if hidden else "")


def _memoised(parse: Callable[[str], Any], limit: int = 200_000) -> Callable[[str], Any]:
    """``parse`` remembering its results: dates and times repeat thousands of times in a file."""
    cache: dict[str, Any] = {}

    def parse_once(value: str) -> Any:
        hit = cache.get(value, _UNSEEN)
        if hit is _UNSEEN:
            if len(cache) >= limit:
                cache.clear()
            hit = cache[value] = parse(value)
        return hit

    return parse_once


@dataclass
class QuarantinedRow:
    line_number: int
    record_ref: str | None
    rule: str
    detail: str


@dataclass
class FileResult:
    """What one file produced: columns for ``raw.<table>``, person rows, quarantine."""

    table: str
    file_name: str
    entity: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    persons: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    quarantined: list[QuarantinedRow] = field(default_factory=list)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_duplicate: int = 0
    warnings: int = 0
    notes: list[str] = field(default_factory=list)


class _RowProblems:
    """Collects the contract breaks (quarantine) and warnings of one row."""

    def __init__(self) -> None:
        self.breaks: list[tuple[str, str]] = []
        self.warnings = 0

    def broken(self, rule: str, detail: str) -> None:
        self.breaks.append((rule, detail))


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
        self.tokenisers = tokenisers
        self.key_version = next(iter(tokenisers.values())).key_version
        # salted keyed fuzzy-linkage encodings, under HKDF keys of the same keyring
        self.encoder = encoder
        self._names: dict[str, str | None] = {}  # plain names, only for this file's read
        self.parse_date = _memoised(date_parser(manifest.date_format))
        self.parse_datetime = _memoised(datetime_parser(manifest.date_format))
        self.latest_date = manifest.extract_date + FUTURE_MARGIN
        self.latest_planned_date = manifest.extract_date + PLANNED_HORIZON
        self._parsers: dict[ColumnType, Callable[[Column, str, _RowProblems], Any]] = {
            ColumnType.TEXT: lambda column, value, problems: value,
            ColumnType.REFERENCE: self._reference,
            ColumnType.FORCE: self._force,
            ColumnType.CODE: self._code,
            ColumnType.CODE_SET: self._code_set,
            ColumnType.DATE: self._dated(self.parse_date, "a date"),
            ColumnType.DATETIME: self._dated(self.parse_datetime, "a date-time"),
            ColumnType.INTEGER: self._integer,
            ColumnType.FLAG: self._flag,
        }

    # -- header -------------------------------------------------------------------
    def _map_header(self, header: list[str], file_name: str, result: FileResult) -> list[str]:
        """The contract column of each header cell; rejects a file whose header is absent, ambiguous or incomplete."""
        renames = self.profile.column_renames
        mapped = [renames.get(name.strip(), name.strip()) for name in header]
        known = frozenset(self.contract.all_column_names)
        nameable = known | frozenset(renames)
        if not known & set(mapped):
            raise DropRejected(
                f"{file_name}: line 1 is not a header row (none of its {len(header)} cells is a column of "
                f"{self.contract.name}.csv); ask the sender to re-export the file with its header row"
            )
        repeated = sorted({m for m in mapped if m and mapped.count(m) > 1})
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
                f"a column, map it under column_renames in connectors/profiles/{self.profile.source_id}.yaml "
                "and re-run"
            )
        if unknown:
            result.notes.append(f"{file_name}: unknown column(s) {describe_header_cells(unknown, nameable)} ignored")
        absent = [name for name in self.contract.all_column_names if name not in mapped]
        if absent:
            result.notes.append(f"{file_name}: optional column(s) {absent} absent, read as blank")
        return mapped

    # -- value parsers ------------------------------------------------------------
    def _code(self, column: Column, value: str, problems: _RowProblems) -> str | None:
        code = normalise_code(value)
        allowed = self.code_lists[column.code_list] if column.code_list else None
        if allowed is not None and code not in allowed:
            self._bad(column, problems, "unknown_code", f"{column.name}: {describe_value(column, value)} is not in code list {column.code_list}")
            return None
        return code

    def _force(self, column: Column, value: str, problems: _RowProblems) -> str | None:
        force = normalise_force(value)
        if force not in self.code_lists["police_force"]:
            self._bad(
                column, problems, "unknown_code",
                f"{column.name}: {WITHHELD} is not a police force of England and Wales (code list police_force) "
                "nor the force of a source profile",
            )
            return None
        return force

    def _reference(self, column: Column, value: str, problems: _RowProblems) -> str | None:
        if not is_reference(value):
            self._bad(
                column, problems, "invalid_reference",
                f"{column.name}: {WITHHELD} is not a record reference (one word of letters, digits and / _ - . : #, "
                "with a digit, not shaped like a PNC ID, NHS number, postcode or date)",
            )
            return None
        return value

    def _code_set(self, column: Column, value: str, problems: _RowProblems) -> str | None:
        allowed = self.code_lists[column.code_list]  # type: ignore[index]
        codes = {normalise_code(part) for part in value.split(";") if part.strip()}
        unknown = codes - allowed
        if unknown:
            problems.warnings += 1
        known = sorted(codes & allowed)
        return ";".join(known) or None

    def _dated(self, parse: Callable[[str], Any], what: str) -> Callable[[Column, str, _RowProblems], Any]:
        def parse_column(column: Column, value: str, problems: _RowProblems) -> Any:
            parsed = parse(value)
            if parsed is None:
                self._bad(
                    column, problems, "unparseable_date",
                    f"{column.name}: {WITHHELD} is not {what} in format {self.manifest.date_format}",
                )
                return None
            latest = self.latest_planned_date if column.future_ok else self.latest_date
            day = parsed.date() if isinstance(parsed, datetime) else parsed
            if not EARLIEST_DATE <= day <= latest:
                self._bad(
                    column, problems, "implausible_date",
                    f"{column.name}: {WITHHELD} is outside the plausible window {EARLIEST_DATE} to {latest} "
                    f"(extract date {self.manifest.extract_date})",
                )
                return None
            return parsed

        return parse_column

    def _integer(self, column: Column, value: str, problems: _RowProblems) -> int | None:
        parsed = parse_int(value)
        if parsed is None:
            self._bad(column, problems, "not_an_integer", f"{column.name}: {WITHHELD} is not a whole number")
            return None
        if column.bounds and not column.bounds[0] <= parsed <= column.bounds[1]:
            low, high = column.bounds
            self._bad(column, problems, "out_of_range", f"{column.name}: {WITHHELD} is not between {low} and {high}")
            return None
        return parsed

    def _flag(self, column: Column, value: str, problems: _RowProblems) -> bool | None:
        parsed = parse_flag(value)
        if parsed is None:
            self._bad(column, problems, "not_a_flag", f"{column.name}: {WITHHELD} is not Y or N")
        return parsed

    @staticmethod
    def _bad(column: Column, problems: _RowProblems, rule: str, detail: str) -> None:
        """A bad required value quarantines the row; a bad optional one is a warning (SPEC §5)."""
        if column.required:
            problems.broken(rule, detail)
        else:
            problems.warnings += 1

    # -- persons ------------------------------------------------------------------
    def _name(self, value: str | None) -> str | None:
        if not value:
            return None
        hit = self._names.get(value, _UNSEEN)
        if hit is _UNSEEN:
            hit = self._names[value] = normalise_name(value)
        return hit  # type: ignore[return-value]

    def _person(
        self, person: PersonRole, cells: dict[str, str | None], problems: _RowProblems
    ) -> tuple[dict[str, Any], tuple[str | None, ...], tuple[Any, ...]] | None:
        """One person role of a row: its generalised values, its normalised identifiers, and what it is encoded from.

        The identifiers (in ``TOKEN_PURPOSES`` order) are tokenised per column,
        and the names, dates of birth and postcode encoded per column
        (:meth:`PersonEncoder.encode_columns`), at the end of the file; then dropped.
        """
        if not any(cells.get(c) for c in person.naming_columns):
            return None
        role = person.role
        if person.role_column:
            role = normalise_code(cells[person.role_column] or "")
        prefix = person.prefix
        forename = self._name(cells.get(prefix + "forename"))
        surname = self._name(cells.get(prefix + "surname"))
        raw_dob = cells.get(prefix + "dob")
        dob: date | None = self.parse_date(raw_dob) if raw_dob else None
        if dob is not None and not EARLIEST_DATE <= dob <= self.manifest.extract_date:
            dob = None  # a date of birth in the future or before 1900 is a typo: never linked on
        if raw_dob and dob is None:
            problems.warnings += 1
        postcode = None
        raw_postcode = cells.get(prefix + "postcode")
        if raw_postcode and "postcode" in person.fields:
            postcode = normalise_postcode(raw_postcode)
            problems.warnings += postcode is None
        sex = None
        raw_sex = cells.get(prefix + "sex")
        if raw_sex and "sex" in person.fields:
            sex = normalise_code(raw_sex)
            if sex not in self.code_lists["sex"]:
                sex = None
                problems.warnings += 1
        pnc = self._identifier(person.pnc_column, cells, normalise_pnc, problems)
        nhs = self._identifier(person.nhs_column, cells, normalise_nhs_number, problems)
        crn = self._identifier(person.crn_column, cells, normalise_crn, problems)
        dob_text = dob.isoformat() if dob else None
        name_dob = f"{forename}|{surname}|{dob_text}" if forename and surname and dob_text else None
        district = postcode_district(postcode)
        generalised = {
            "role": role,
            "key_version": self.key_version,
            "birth_year": dob.year if dob else None,
            "sex": sex,
            "postcode_district": district,
        }
        encoding_inputs = (forename, surname, dob, postcode, self._partner_dob(person, cells))
        return generalised, (pnc, nhs, crn, name_dob, dob_text, postcode), encoding_inputs

    def _partner_dob(self, person: PersonRole, cells: dict[str, str | None]) -> date | None:
        """The date of birth of the row's other person (victim <-> perpetrator): it salts the partner view."""
        for other in self.contract.persons:
            if other is not person and "dob" in other.fields:
                raw = cells.get(other.prefix + "dob")
                return self.parse_date(raw) if raw else None
        return None

    def _identifier(
        self, column: str | None, cells: dict[str, str | None], normalise: Callable[[str], str | None], problems: _RowProblems
    ) -> str | None:
        """A normalised identifier; an invalid one is a warning (never linked on), or quarantines the row if required."""
        if not column or not cells.get(column):
            return None
        value = normalise(cells[column])  # type: ignore[arg-type]
        if value is None:
            self._bad(self.contract.column(column), problems, "invalid_identifier", f"{column}: {WITHHELD} is not valid")
        return value

    # -- file ---------------------------------------------------------------------
    def read(self, file_name: str, text: str, part: tuple[int, int] = (0, 1)) -> FileResult:
        """Read one verified file, or only part ``k`` of ``n`` (``part=(k, n)``) of its data rows.

        The parts of a file split its data rows (as counted in the manifest)
        into ``n`` consecutive blocks, so worker processes can share one big
        file; together they give exactly the whole file's result. A part
        still looks at the rows before its block, so that a row repeating an
        earlier one counts as a duplicate in whichever part it falls.
        """
        index, parts = part
        total = next((f.rows for f in self.manifest.files if f.name == file_name), 0)
        first = total * index // parts
        stop = total * (index + 1) // parts if index + 1 < parts else None
        result = FileResult(table=self.contract.name, file_name=file_name)
        reader = csv_rows(text)
        try:
            return self._read_rows(reader, file_name, result, first, stop, index)
        except csv.Error as error:
            raise DropRejected(
                f"{file_name}: line {reader.line_num} cannot be read as CSV ({describe_csv_error(error)}); "
                "ask the sender to re-export the file"
            ) from None

    def _read_rows(
        self, reader: Any, file_name: str, result: FileResult, first: int, stop: int | None, index: int
    ) -> FileResult:
        try:
            header = next(reader)
        except StopIteration:
            return result
        mapped = self._map_header(header, file_name, result)
        if index:
            result.notes.clear()  # header notes are reported once, by the first part
        width = len(mapped)
        checked = [
            (column.name, column.required, self._parsers[column.type], column)
            for column in (*self.contract.kept_columns, self.contract.column("updated_at"), self.contract.column("record_status"))
        ]
        ref_column = self.contract.ref_column
        contract = self.contract
        required_identifiers = [c.name for c in contract.columns if c.required and c.name in contract.person_columns]
        read_columns = {name for name, *_ in checked} | contract.person_columns
        length_checked = [position for position, name in enumerate(mapped) if name in read_columns]
        seen: set[tuple[str, ...]] = set()
        identifiers: list[tuple[str | None, ...]] = []  # normalised, tokenised per column below
        encoding_inputs: list[tuple[Any, ...]] = []  # encoded per column below
        manifest = self.manifest
        line_number = reader.line_num + 1
        for position, row in enumerate(reader):
            if stop is not None and position >= stop:
                break
            line, line_number = line_number, reader.line_num + 1
            if position < first:
                if len(row) == width:
                    seen.add(tuple(row))
                continue
            result.rows_read += 1
            if len(row) != width:
                result.quarantined.append(
                    QuarantinedRow(line, None, "wrong_column_count", f"{len(row)} fields, header has {width}")
                )
                continue
            key = tuple(row)
            if key in seen:
                result.rows_duplicate += 1
                continue
            seen.add(key)
            cells = dict(zip(mapped, map(clean_cell, row)))
            problems = _RowProblems()
            too_long = {mapped[position] for position in length_checked if len(row[position]) > MAX_CELL_CHARS}
            for name in too_long:
                cells[name] = None
                self._bad(contract.column(name), problems, "value_too_long",
                          f"{name}: {WITHHELD} is longer than {MAX_CELL_CHARS} characters")
            typed: dict[str, Any] = {}
            for name, required, parse, column in checked:
                value = cells.get(name)
                if value is None:
                    if required and name not in too_long:
                        problems.broken("required_missing", f"{name} is blank")
                    typed[name] = None
                    continue
                typed[name] = parse(column, value, problems)
            for name in required_identifiers:
                if cells.get(name) is None and name not in too_long:
                    problems.broken("required_missing", f"{name} is blank")
            persons = [p for p in (self._person(role, cells, problems) for role in contract.persons) if p]
            record_ref = typed.get(ref_column)
            result.warnings += problems.warnings
            if problems.breaks:
                rules = [rule for rule, _ in problems.breaks]
                detail = "; ".join(d for _, d in problems.breaks)
                result.quarantined.append(QuarantinedRow(line, record_ref, rules[0], detail))
                continue
            version_id = hashlib.sha256(f"{manifest.sha256}|{file_name}|{line}".encode()).hexdigest()[:20]
            entity = result.entity
            entity["source_id"].append(manifest.source_id)
            entity["agency"].append(manifest.agency)
            entity["drop_name"].append(manifest.drop_name)
            entity["drop_sha256"].append(manifest.sha256)
            entity["extract_date"].append(manifest.extract_date)
            entity["file_name"].append(file_name)
            entity["line_number"].append(line)
            entity["version_id"].append(version_id)
            for name, value in typed.items():
                entity[name].append(value)
            for person, plain, inputs in persons:
                out = result.persons
                out["source_id"].append(manifest.source_id)
                out["agency"].append(manifest.agency)
                out["source_table"].append(self.contract.name)
                out["record_ref"].append(record_ref)
                out["version_id"].append(version_id)
                for name, value in person.items():
                    out[name].append(value)
                identifiers.append(plain)
                encoding_inputs.append(inputs)
            result.rows_loaded += 1
        for purpose, values in zip(TOKEN_PURPOSES, zip(*identifiers)):
            result.persons[f"{purpose}_token"] = self.tokenisers[purpose].token_column(values)
        if encoding_inputs:
            result.persons.update(self.encoder.encode_columns(*(list(c) for c in zip(*encoding_inputs))))
        return result
