"""Reading and verifying a drop's ``manifest.json`` (SPEC §2).

A drop that fails verification is rejected whole, with a reason naming the
file and what was expected versus found, so the sender can re-deliver it.
The manifest is typed strictly (a whole number of rows, an ISO extract date
no later than tomorrow, a plain file name per table), every file it names
must be a regular file directly inside the drop (no ``..``, absolute path,
symbolic link or second spelling of one file), the drop may hold no table
file the manifest does not list, and no reason quotes a manifest value: any
of them could hold an identifier (an NHS number as a row count), so a reason
says what was found and how it compares.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import hmac
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.contracts import AGENCY_TABLES, TABLES
from connectors.rejections import DropRejected, FileFailures
from connectors.settings import whole_number

ENCODINGS = {"utf-8": "utf-8-sig", "utf-8-sig": "utf-8-sig", "cp1252": "cp1252"}
#: A date format names day, month (its number, or its English name: ``%b`` abbreviated, ``%B`` in full) and
#: four-digit year once each, with separators ``-/.`` or none.
_DATE_FORMAT = re.compile(r"(?=.*%d)(?=.*%[mbB])(?=.*%Y)(%[dmbBY][-/.]?){3}", re.ASCII)
#: An extract date outside this window is a broken manifest (it also bounds every date of the drop).
EARLIEST_EXTRACT = date(2000, 1, 1)
#: How far past today (UTC) an extract date may be: the sender's clock or time zone may be a day ahead.
EXTRACT_LEAD = timedelta(days=1)
#: How far ahead a drop folder's name may date it: such a folder is read, so a future-dated manifest is rejected
#: with its reason instead of the folder being counted as misnamed.
FOLDER_DATE_LEAD = timedelta(days=366)
#: A source id: lower-case letters and digits in hyphen-separated words (``police-cheshire``).
SOURCE_ID_PATTERN = r"[a-z0-9]+(?:-[a-z0-9]+)*"
_SOURCE_ID = re.compile(SOURCE_ID_PATTERN, re.ASCII)
_SHA256 = re.compile(r"[0-9a-f]{64}", re.ASCII)
_TABLE_FILES = frozenset(f"{table}.csv" for table in TABLES)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
#: Every cell read is bounded by the contract's MAX_CELL_CHARS; the csv module's own limit (128 KiB) would
#: otherwise stop a whole run on one long cell, so it is raised to what a file can hold in memory anyway.
csv.field_size_limit(1 << 30)
#: The largest table file read, in MB (``$MASIP_MAX_FILE_MB``, :func:`max_file_bytes`): reading a file takes
#: several times its size in memory (a 400 MB file took 2.7 GB), so one sender's oversized file is rejected
#: instead of stopping every agency's week. A national year's largest file (a force's first delivery) is 70 MB.
MAX_FILE_MB = 512
MAX_FILE_ENV = "MASIP_MAX_FILE_MB"
#: The largest manifest.json read: one lists a few files in well under a kilobyte.
MAX_MANIFEST_BYTES = 1 << 20


def max_file_bytes() -> int:
    """The largest table file read, in bytes: ``$MASIP_MAX_FILE_MB`` megabytes, else :data:`MAX_FILE_MB`."""
    return whole_number(MAX_FILE_ENV, MAX_FILE_MB, 1, "megabytes (the largest table file a drop may hold)") * 1_000_000


@dataclass(frozen=True)
class ManifestFile:
    name: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    drop_dir: Path
    sha256: str  # of the manifest bytes: with the directory name, identifies the drop
    source_id: str
    agency: str
    extract_date: date
    schema_version: int
    encoding: str  # a Python codec name (BOM-tolerant for utf-8)
    date_format: str
    files: tuple[ManifestFile, ...]

    @property
    def drop_name(self) -> str:
        return self.drop_dir.name


def manifest_digest(raw: bytes, salt: bytes | None) -> str:
    """How a delivery is known (``Manifest.sha256``, the warehouse's ``drop_sha256``): HMAC-SHA-256 of
    ``manifest.json``'s bytes under the vault's drop salt (:meth:`connectors.vault.Vault.drop_salt`).

    A manifest lists its files' SHA-256, and the warehouse holds every other cell of a small file: a plain digest
    let whoever reads the warehouse confirm a supposed name, date of birth or NHS number by rebuilding the file
    and its manifest (28 tries for one person in an outside check, 2026-12-07). ``salt`` None: a vault made before
    the salt, whose deliveries stay known by the plain digest until it is rebuilt (``masip rotate-key``)."""
    if salt is None:
        return hashlib.sha256(raw).hexdigest()
    return hmac.new(salt, raw, hashlib.sha256).hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _malformed(field: str, expected: str) -> DropRejected:
    return DropRejected(f"manifest.json: {field} must be {expected}; ask the sender to re-export the manifest")


def _text_field(data: dict[str, Any], name: str, default: str | None = None) -> str:
    value = data.get(name, default)
    if not isinstance(value, str):
        raise _malformed(name, "a text value" if name in data else "present")
    return value


def _whole_number(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _malformed(field, "a whole number, 0 or more")
    return value


def _today() -> date:
    return datetime.now(UTC).date()


def latest_extract_date() -> date:
    """The latest extract date a manifest may give: tomorrow (UTC)."""
    return _today() + EXTRACT_LEAD


def plausible_extract_date(text: str) -> date | None:
    """``text`` as the date of a drop folder's name (``YYYY-MM-DD``, from 2000 to a year ahead), or ``None``.

    A manifest's own extract date must also be no later than :func:`latest_extract_date` (see ``_extract_date``).
    """
    try:
        extract = date.fromisoformat(text) if _ISO_DATE.fullmatch(text) else None
    except ValueError:
        return None
    return extract if extract is not None and EARLIEST_EXTRACT <= extract <= _today() + FOLDER_DATE_LEAD else None


def _extract_date(data: dict[str, Any]) -> date:
    extract = plausible_extract_date(_text_field(data, "extract_date"))
    if extract is None:
        raise _malformed("extract_date", f"a date written YYYY-MM-DD, from {EARLIEST_EXTRACT} to tomorrow (UTC)")
    if extract > latest_extract_date():
        # a future date would widen the drop's own plausibility window and move the whole run's as-of date
        raise DropRejected(
            "manifest.json: extract_date is later than tomorrow (UTC), so it cannot be the day the data was "
            "extracted; nothing of the drop was loaded. What to do: ask the sender to correct extract_date (or the "
            "sending system's clock) and re-deliver the drop; then re-run"
        )
    return extract


def _listed_file(entry: Any, position: int) -> ManifestFile:
    where = f"files[{position}]"
    if not isinstance(entry, dict):
        raise _malformed(where, 'an object {"name": …, "rows": …, "sha256": …}')
    name = _text_field(entry, "name")
    sha = _text_field(entry, "sha256").lower()
    if not _SHA256.fullmatch(sha):
        raise _malformed(f"{where}.sha256", "64 hexadecimal digits")
    return ManifestFile(name, _whole_number(entry.get("rows"), f"{where}.rows"), sha)


#: The manifest's own field names (SPEC §2): the only names of its fields a rejection may show.
MANIFEST_FIELDS = frozenset({
    "source_id", "agency", "extract_date", "schema_version", "encoding", "date_format", "files", "name", "rows", "sha256",
})


class _RepeatedField(ValueError):
    """A JSON object of the manifest names one field twice."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def _object_without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict, refused when it names a field twice: JSON readers disagree on which value counts
    (Python's keeps the last, others the first), so the sender's system and this pipeline could read two manifests."""
    data: dict[str, Any] = {}
    for field, value in pairs:
        if field in data:
            raise _RepeatedField(field)
        data[field] = value
    return data


def _not_a_number(constant: str) -> Any:
    """``NaN`` and ``Infinity`` are not JSON, though Python's reader accepts them."""
    raise ValueError("not JSON")


def _parse(drop_dir: Path, raw: bytes, salt: bytes | None) -> Manifest:
    try:
        data = json.loads(
            raw.decode("utf-8-sig"), object_pairs_hook=_object_without_repeats, parse_constant=_not_a_number,
        )
    except _RepeatedField as repeated:
        shown = f"the field {repeated.field}" if repeated.field in MANIFEST_FIELDS else "a field (its name is not shown)"
        raise DropRejected(
            f"manifest.json names {shown} twice in one object, so which value counts is ambiguous; nothing of the "
            "drop was loaded. What to do: ask the sender to re-export the manifest with each field once; then re-run"
        ) from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise DropRejected("manifest.json is not valid JSON (UTF-8); ask the sender to re-export it") from None
    if not isinstance(data, dict):
        raise _malformed("the manifest", "a JSON object")
    source_id = _text_field(data, "source_id")
    if not _SOURCE_ID.fullmatch(source_id) or len(source_id) > 64:
        raise _malformed("source_id", "a source id such as 'police-cheshire' (lower-case letters, digits, hyphens)")
    agency = _text_field(data, "agency").lower()
    if agency not in AGENCY_TABLES:
        raise _malformed("agency", f"one of {', '.join(AGENCY_TABLES)}")
    encoding = _text_field(data, "encoding", "utf-8").lower()
    if encoding not in ENCODINGS:
        raise _malformed("encoding", "utf-8 or cp1252")
    date_format = _text_field(data, "date_format", "%Y-%m-%d")
    if not _DATE_FORMAT.fullmatch(date_format) or date_format[-1] in "-/.":
        raise DropRejected(
            "manifest.json: date_format must be a pattern of day %d, month %m (or its name: %b for Oct, %B for "
            "October) and four-digit year %Y, each once, separated by -, / or . or nothing, such as %Y-%m-%d, "
            "%d/%m/%Y or %d-%b-%Y (a two-digit year, a space or a time in it are not read); a corrected manifest "
            "alone will not do if the file's dates are written otherwise. What to do: ask the sender to export the "
            "dates in such a pattern, declare it as date_format, and re-deliver the drop"
        )
    schema_version = _whole_number(data.get("schema_version", 1), "schema_version")
    if schema_version != 1:
        raise DropRejected(
            "manifest.json: schema_version is not 1, the only version this pipeline reads (the value is not shown). "
            "What to do: ask the sender to export the drop with manifest schema version 1; then re-run"
        )
    files = data.get("files")
    if not isinstance(files, list) or not files:
        raise _malformed("files", "a non-empty list")
    return Manifest(
        drop_dir=drop_dir,
        sha256=manifest_digest(raw, salt),
        source_id=source_id,
        agency=agency,
        extract_date=_extract_date(data),
        schema_version=schema_version,
        encoding=ENCODINGS[encoding],
        date_format=date_format,
        files=tuple(_listed_file(entry, position) for position, entry in enumerate(files)),
    )


def read_manifest(drop_dir: Path, salt: bytes | None) -> Manifest:
    """Parse ``manifest.json``; raise ``DropRejected`` if it is missing, malformed or names files outside the drop.
    ``salt``: the vault's drop salt, which the delivery's digest is keyed with (:func:`manifest_digest`)."""
    path = drop_dir / "manifest.json"
    if not drop_dir.is_dir():
        raise DropRejected("its folder was moved away or deleted before this run read it; nothing of it was loaded. "
                           "What to do: leave a drop in the landing folder until the run that reads it has ended")
    if path.is_symlink() or not path.is_file():
        raise DropRejected("no manifest.json (a regular file) in the drop directory; the sender must include one (SPEC §2)")
    size = path.stat().st_size
    if size > MAX_MANIFEST_BYTES:
        raise _rejected(
            f"manifest.json is {size:,} bytes, over the {MAX_MANIFEST_BYTES:,} a manifest may have (it "
            "lists a few files), so it was not read"
        )
    manifest = _parse(drop_dir, path.read_bytes(), salt)
    _check_file_names(manifest)
    return manifest


#: What operator text shows instead of a file name that is not a table's.
_WITHHELD = "(withheld)"


def _shown_file_name(name: str) -> str:
    """A file name as operator text may show it: only a table's file name; any other name could hold anything."""
    return name if name in _TABLE_FILES else _WITHHELD


def _check_file_names(manifest: Manifest) -> None:
    """Every listed file is a plain ``<table>.csv`` of the drop's agency, named once."""
    expected = {f"{table}.csv": table for table in AGENCY_TABLES[manifest.agency]}
    seen: set[str] = set()
    for position, listed in enumerate(manifest.files):
        if listed.name in _TABLE_FILES and listed.name not in expected:
            raise DropRejected(
                f"manifest.json: files[{position}].name {listed.name} is a table of another agency than the "
                f"manifest's agency, {manifest.agency} (whose tables are {', '.join(expected)}): the agency or the "
                "file list is wrong. What to do: ask the sender to fix the manifest; then re-run"
            )
        if listed.name not in expected:  # no table's name, so anything: never shown
            raise DropRejected(
                f"manifest.json: files[{position}].name {_WITHHELD} is not a plain file name of a {manifest.agency} table "
                f"(one of {', '.join(expected)}, directly in the drop folder: no folders, '..' or absolute paths); "
                "ask the sender to fix the manifest"
            )
        if listed.name in seen:
            raise DropRejected(f"manifest.json: {listed.name} is listed twice; ask the sender to fix the manifest")
        seen.add(listed.name)


def csv_rows(text: str) -> Iterator[list[str]]:
    """A CSV reader over decoded text that accepts every line ending (``\\r\\n``, ``\\n`` and a lone ``\\r``)."""
    return csv.reader(io.StringIO(text, newline=""))


def describe_csv_error(error: csv.Error) -> str:
    """What the csv module found wrong, in fixed words (its message is not shown: it may echo the data)."""
    message = str(error)
    for fragment, words in (("NUL", "a NUL byte"), ("field larger", "a field too long"), ("new-line", "a stray line break"),
                            ("expected", "a misplaced quote"), ("EOF", "a quote that is never closed")):
        if fragment in message:
            return words
    return "malformed CSV"


#: A line of well-formed cells: quoted ones (doubled quotes inside, no line break) or ones without a quote.
_PLAIN_LINE = re.compile(r'(?:"(?:[^"\r\n]|"")*"|[^"\r\n,]*)(?:,(?:"(?:[^"\r\n]|"")*"|[^"\r\n,]*))*')
_LINE_END = re.compile(r"[\r\n]")
#: Two line endings in a row (a blank line) hold one of these; ``\r\n`` is one line ending.
_BLANK_LINES = ("\n\n", "\n\r", "\r\r")


def plain_csv(text: str) -> bool:
    """Whether every line of ``text`` is one CSV row of well-formed cells: no NUL, no blank line, and every
    quote in a quoted cell that opens at the cell's start, closes at its end and holds no line break.

    On such text any CSV reader agrees with :func:`csv_rows`, and row ``k`` is line ``k + 1``. Only the
    lines holding a quote are matched, so this costs a scan of the text.
    """
    if "\x00" in text or any(blank in text for blank in _BLANK_LINES):
        return False
    position = 0
    while (quote := text.find('"', position)) >= 0:
        start = max(text.rfind("\n", position, quote), text.rfind("\r", position, quote)) + 1
        found = _LINE_END.search(text, quote)
        end = found.start() if found else len(text)
        if not _PLAIN_LINE.fullmatch(text, start, end):
            return False
        position = end
    return True


def count_data_rows(text: str, file_name: str) -> int:
    """Data rows of a decoded CSV (header excluded), honouring quoted newlines."""
    if plain_csv(text):
        lines = text.count("\n") + text.count("\r") - text.count("\r\n") + (not text.endswith(("\n", "\r")))
        return max(lines - 1, 0) if text else 0
    rows = csv_rows(text)
    try:
        return max(sum(1 for _ in rows) - 1, 0)
    except csv.Error as error:
        raise DropRejected(
            f"{file_name}: line {rows.line_num} cannot be read as CSV ({describe_csv_error(error)}); "
            "ask the sender to re-export the file"
        ) from None


#: What the operator is told to do when a drop's files do not match its manifest.
_REDELIVER = "What to do: ask the sender to re-deliver the drop (its files and manifest.json together); then re-run"


def _rejected(problem: str, advice: str = _REDELIVER) -> DropRejected:
    return DropRejected(f"{problem}. {advice}", problem)


def _unlisted_files(manifest: Manifest) -> list[str]:
    """Files of the drop folder that look like table files but are not listed: any ``.csv`` file (any case) and
    anything named like one of the agency's tables (``orders``, ``Orders.CSV``, ``orders.csv.gz``). Hidden
    (``.…``) entries and other extras (``readme.txt``) are not table files."""
    listed = {f.name for f in manifest.files} | {"manifest.json"}
    tables = set(AGENCY_TABLES[manifest.agency])
    return sorted(
        entry.name for entry in manifest.drop_dir.iterdir()
        if entry.name not in listed and not entry.name.startswith(".") and (
            (entry.suffix.lower() == ".csv" and entry.is_file()) or entry.name.split(".")[0].lower() in tables)
    )


def _check_all_listed(manifest: Manifest) -> None:
    """Rejects a drop holding a table file its manifest does not list: its rows would be neither loaded nor quarantined."""
    unlisted = _unlisted_files(manifest)
    if not unlisted:
        return
    shown = [name for name in map(_shown_file_name, unlisted) if name != _WITHHELD]
    withheld = len(unlisted) - len(shown)
    names = ", ".join(shown + ([f"{withheld} more whose names are not shown (they could hold anything)"] if withheld else []))
    raise _rejected(
        f"{len(unlisted)} table file(s) in the drop folder are not listed in its manifest.json ({names}), so their rows "
        "would be neither loaded nor quarantined; nothing of the drop was loaded",
        "What to do: ask the sender for a manifest.json listing every file of the drop, or remove the stray file(s) "
        "from the drop folder; then re-run",
    )


def _checked_file(manifest: Manifest, listed: ManifestFile) -> Path:
    """The listed file's path, once it is a regular file directly in the drop whose bytes match the manifest's checksum.

    Only ``stat`` is used before the checksum, so a FIFO or device named like a table file is never opened.
    """
    path = manifest.drop_dir / listed.name
    if path.is_symlink() or path.resolve().parent != manifest.drop_dir.resolve():
        raise _rejected(f"{listed.name}: is a symbolic link, not a file of the drop")
    if not path.exists():
        raise _rejected(f"{listed.name}: listed in the manifest but missing from the drop")
    if not path.is_file():
        raise _rejected(f"{listed.name}: is not a regular file (it is a folder, a FIFO or a device), so it was not read")
    size, limit = path.stat().st_size, max_file_bytes()
    if size > limit:
        raise _rejected(
            f"{listed.name}: is {size:,} bytes, over the {limit // 1_000_000:,} MB a table file may have, so it was "
            "not read (reading takes several times a file's size in memory)",
            f"What to do: ask the sender to split the extract into several drops (by extract date); if files of this "
            f"size are expected, raise {MAX_FILE_ENV} (the machine needs about 7 times the file's size in memory per "
            "ingest worker); then re-run",
        )
    found_sha = sha256_of(path)
    if found_sha != listed.sha256:
        raise _rejected(
            f"{listed.name}: checksum mismatch ({path.stat().st_size} bytes, whose SHA-256 is not the one its manifest "
            "gives; a digest of the file is not shown, as it could confirm what someone supposes it holds): the file changed "
            "or was cut short in transfer"
        )
    return path


def check_drop_files(manifest: Manifest) -> list[Path]:
    """Check the drop's files against its manifest, without decoding them: every table file is listed, and every
    listed file is present, regular and matches its checksum. Returns the listed files' paths, in manifest order;
    raises ``DropRejected`` (its ``problem`` says what is wrong, without what to do) naming every file that fails
    (:mod:`connectors.rejections`)."""
    _check_all_listed(manifest)
    failures, paths = FileFailures(), []
    for listed in manifest.files:
        with failures.checking():
            paths.append(_checked_file(manifest, listed))
    failures.raise_if_any()
    return paths


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _decoded(manifest: Manifest, listed: ManifestFile, data: bytes) -> str:
    name = "utf-8" if manifest.encoding == "utf-8-sig" else manifest.encoding
    if manifest.encoding == "cp1252" and data.startswith(codecs.BOM_UTF8):
        raise DropRejected(
            f"{listed.name}: starts with a UTF-8 byte-order mark but the manifest declares cp1252; the manifest's "
            "encoding is wrong: ask the sender to declare utf-8"
        )
    if manifest.encoding == "cp1252" and not data.isascii() and _is_utf8(data):
        # read as cp1252, UTF-8 loads without an error, every accented letter as two or three others: D'Souza's
        # typographic apostrophe and Müller's u came out as letters that link to nobody (outside check, 2026-12-06).
        # cp1252 text whose every byte over 127 falls into valid UTF-8 sequences is not written in practice.
        raise DropRejected(
            f"{listed.name}: is UTF-8 (its non-ASCII bytes are valid UTF-8 sequences) but the manifest declares "
            "cp1252, so every accented letter would load as others; nothing of the drop was loaded. What to do: ask "
            "the sender to declare utf-8 in manifest.json and re-deliver the drop; then re-run"
        )
    header = re.split(rb"[\r\n]", data, maxsplit=1)[0]  # lone carriage returns end lines too
    if b"\x00" in header:
        # UTF-16 or UTF-32 without a byte-order mark decodes as UTF-8 with a zero byte between characters: the
        # header then matched no column, and its rows miscounted (outside check, 2026-12-07)
        raise DropRejected(
            f"{listed.name}: its header row holds zero bytes, as text written in UTF-16 or UTF-32 does, but the "
            f"manifest declares {name}; nothing of the drop was loaded. What to do: ask the sender to export the "
            "file as UTF-8 (or cp1252, as the manifest says) and re-deliver the drop; then re-run"
        )
    try:
        return data.decode(manifest.encoding)
    except UnicodeDecodeError as error:
        raise DropRejected(
            f"{listed.name}: cannot be decoded as {name} at byte {error.start}: either the manifest declares the wrong "
            "encoding or the file is damaged; nothing of the drop was loaded. What to do: ask the sender to check the "
            "manifest's encoding (utf-8 or cp1252) and re-deliver the drop; then re-run"
        ) from None


#: Blank lines at the end of a file (spaces or tabs at most), and a DOS end-of-file mark after them.
_BLANK_OR_END = frozenset(" \t\f\v\r\n\x1a")
_TRAILING_BLANK_LINES = re.compile(r"(?:\r\n|\r|\n)((?:[ \t\f\v]*(?:\r\n|\r|\n))*[ \t\f\v]*\x1a?)\Z")


def _without_trailing_blank_lines(text: str) -> tuple[str, int]:
    """``text`` without the blank lines after its last row, and how many there were. Many exports end with one;
    read as rows, they rejected the whole drop for a row count it did not have (outside check, 2026-12-07)."""
    # searched from where the last row ends: a match holds only line breaks, blanks and the end mark, so none
    # starts earlier, and a search from the start tries every line of the file (0.2 s for a 70 MB file)
    last_row_end = len(text)
    while last_row_end and text[last_row_end - 1] in _BLANK_OR_END:
        last_row_end -= 1
    found = _TRAILING_BLANK_LINES.search(text, last_row_end)
    if found is None or not found.group(1):
        return text, 0
    blank = found.group(1)
    *_, after_last_break = re.split(r"\r\n|\r|\n", blank)
    lines = blank.count("\n") + blank.count("\r") - blank.count("\r\n") + bool(after_last_break)
    return text[: found.start(1)], lines


def _verified_text(manifest: Manifest, listed: ManifestFile) -> str:
    """The listed file checked (:func:`_checked_file`), decoded, and its rows counted against the manifest."""
    text, blank = _without_trailing_blank_lines(_decoded(manifest, listed, _checked_file(manifest, listed).read_bytes()))
    rows = count_data_rows(text, listed.name)
    if rows != listed.rows and rows + blank != listed.rows:  # a sender may count its blank lines, or not
        compared = "fewer than" if rows < listed.rows else "more than"
        raise DropRejected(
            f"{listed.name}: {rows} data rows found, {compared} the manifest's row count (not shown): the manifest "
            "is wrong or the file was cut short before it was checksummed. What to do: ask the sender to "
            "re-deliver the drop with a manifest.json matching its files; then re-run"
        )
    return text


def verified_texts(manifest: Manifest, failures: FileFailures) -> dict[str, str]:
    """Check that every table file is listed, then each listed file (see :func:`check_drop_files`), decode it and
    count its rows; returns the decoded text of each file that passes, keyed by file name, so files are read
    once. A file that fails is added to ``failures``, and the next is checked."""
    _check_all_listed(manifest)
    texts: dict[str, str] = {}
    for listed in manifest.files:
        with failures.checking():
            texts[listed.name] = _verified_text(manifest, listed)
    return texts


def verify_drop(manifest: Manifest) -> dict[str, str]:
    """:func:`verified_texts` of every file, or ``DropRejected`` naming every file that fails."""
    failures = FileFailures()
    texts = verified_texts(manifest, failures)
    failures.raise_if_any()
    return texts
