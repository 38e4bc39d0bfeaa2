"""Normalisers for the values agencies send (SPEC §2, §2.5).

Each function takes the raw text of one cell (already stripped, never blank)
and returns the canonical form, or ``None`` when the value is not valid. The
canonical form is what gets tokenised, so two spellings of the same thing
must normalise to the same string.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime, timedelta

from text_unidecode import unidecode

MISSING_MARKERS = frozenset({"", "NULL", "N/A", "NA", "NONE", "NIL", "-"})

PNC_CHECK_LETTERS = "ZABCDEFGHJKLMNPQRTUVWXY"
_PNC = re.compile(r"^(\d{2}|\d{4})/(\d{1,7})([A-Z])$", re.ASCII)
_POSTCODE = re.compile(r"^([A-Z]{1,2}\d[A-Z\d]?)(\d[A-Z]{2})$", re.ASCII)
_NON_LETTERS = re.compile(r"[^A-Z]")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})


def clean_cell(value: str | None) -> str | None:
    """Blank, ``NULL`` and ``N/A`` (any case, any surrounding spaces) mean missing."""
    if value is None:
        return None
    stripped = value.strip()
    return None if stripped.upper() in MISSING_MARKERS else stripped


def without_format_characters(value: str) -> str:
    """``value`` without invisible format characters (a zero-width space, a byte-order mark, a direction mark)."""
    return "".join(ch for ch in value if unicodedata.category(ch) != "Cf")


def without_spaces(value: str) -> str:
    """``value`` without any kind of space: ``SK8\u00a09DQ`` (a no-break space, as cp1252 exports write) → ``SK89DQ``."""
    return "".join(value.split())


def normalise_code(value: str) -> str:
    """Codes are case-insensitive and may carry spaces: ``' ex_partner '`` → ``EX_PARTNER``."""
    return value.strip().upper()


_NOT_WORD = re.compile(r"[^A-Z0-9]+", re.ASCII)
_FORCE_SUFFIXES = ("_POLICE_SERVICE", "_POLICE_FORCE", "_POLICE", "_CONSTABULARY")
_FORCE_ALIASES = {
    "METROPOLITAN": "MET", "MPS": "MET", "GMP": "GREATER_MANCHESTER", "BTP": "BRITISH_TRANSPORT",
    "CITY_OF_LONDON_POLICE": "CITY_OF_LONDON", "DYFED_POWYS_POLICE": "DYFED_POWYS",
}


def normalise_force(value: str) -> str:
    """A police force's canonical code: ``' West Midlands Police '`` → ``WEST_MIDLANDS``, ``Met`` → ``MET``.

    Upper case, ``&`` as ``AND``, every run of other characters one ``_``,
    without a trailing "Police"/"Constabulary"; a few common short forms
    (``MPS``, ``GMP``, ``BTP``) map to their force. Whether the result is a
    known force is the reader's check (code list ``police_force`` and the
    source profiles' own forces).
    """
    code = _NOT_WORD.sub("_", value.upper().replace("&", " AND ")).strip("_")
    for suffix in _FORCE_SUFFIXES:
        if code.endswith(suffix) and code != suffix.lstrip("_"):
            code = code[: -len(suffix)]
            break
    return _FORCE_ALIASES.get(code, code)


def normalise_name(value: str) -> str | None:
    """Upper-case ASCII letters only: every letter spelled in Latin letters, apostrophes, hyphens and spaces dropped.

    ``D’Souza`` and ``D'SOUZA`` and ``d souza`` all become ``DSOUZA``;
    ``Siobhán`` becomes ``SIOBHAN``. Letters that are not an accented letter
    (``Ł``, ``Ø``, ``Æ``, ``ß``, ``Þ``) and other alphabets (``Иван``) are
    transliterated by ``text_unidecode``: folding accents alone dropped them,
    so one agency's ``Michał`` became ``MICHA`` and never met another's
    ``Michal`` (encodings v5). Compatibility forms of a letter (``𝐉𝐨𝐡𝐧`` in
    mathematical bold, fullwidth ``Ｊｏｈｎ``, circled ``ⓙ``, superscript ``ᴶ``)
    are read as the letter first (NFKC): the transliteration has no table for
    most of them, and dropped them. So are look-alikes from another script
    inside a Latin word (:func:`read_lookalikes`).
    """
    text = value.translate(_APOSTROPHES)
    latin = text if text.isascii() else unidecode(in_latin(text))
    letters = _NON_LETTERS.sub("", latin.upper())
    return letters or None


#: What agencies write where a name is not known, as :func:`normalise_name` reads it (``Not known``, ``N/K``,
#: ``Person Unknown``): never a name. Read as one, every unknown suspect born on one (default) day became one
#: person, and the copies of one placeholder made the linkage quadratic (outside check, 2026-12-07).
PLACEHOLDER_NAMES = frozenset({
    "UNKNOWN", "UNK", "UNKN", "NK", "NOTKNOWN", "NAMENOTKNOWN", "NAMEUNKNOWN", "PERSONUNKNOWN", "UNKNOWNPERSON",
    "UNKNOWNMALE", "UNKNOWNFEMALE", "UNKNOWNSUSPECT", "UNKNOWNOFFENDER", "UNKNOWNVICTIM", "ANON", "ANONYMOUS",
    "UNNAMED", "NONAME", "NOTGIVEN", "NOTSTATED", "NOTRECORDED", "NOTPROVIDED", "REFUSED", "WITHHELD", "TBC", "TBA",
})

_WORD = re.compile(r"(?:[^\W\d_]|[\u0300-\u036f])+")  # letters, and the accents of a decomposed letter
_LATIN = "LATIN"
_NO_SCRIPT = frozenset({"COMMON", "INHERITED"})
_FIRST_OTHER_SCRIPT = "\u0250"  # after Latin-1 Supplement and Latin Extended-A and -B


def in_latin(value: str, *, latin_format: bool = False) -> str:
    """``value`` with look-alikes of Latin letters (:func:`read_lookalikes`) and compatibility forms of letters
    and digits (fullwidth ``ＳＫ８``, mathematical bold, circled: NFKC) read as what they look like.

    ``latin_format``: the value's format is Latin letters and digits (a postcode, a PNC ID), so every letter
    of another script that has a Latin twin is read as it; otherwise (a name) only in words that mix scripts.
    """
    if value.isascii():
        return value
    if max(value) < _FIRST_OTHER_SCRIPT:  # Latin letters with accents only (Zoë, Łukasz): nothing looks alike
        return unicodedata.normalize("NFKC", value)
    return unicodedata.normalize("NFKC", read_lookalikes(value, latin_format))


def read_lookalikes(text: str, every_word: bool = False) -> str:
    """Each word that mixes Latin letters with letters of another script (``every_word``: each word), with those
    letters read as the Latin letters they are drawn like (Unicode's confusables, UTS #39), when every one of
    them has such a twin.

    A Cyrillic ``С`` typed or pasted into ``Сhristopher`` is transliterated by its sound (``SHRISTOPHER``)
    and the record never meets ``Christopher``. A word in one script (``Иван``) is left to the
    transliteration, and so is a word with a letter that looks like no Latin letter (``Mария``: its ``и``).
    Accented letters are read as their base letter and accent (Cyrillic ``ё`` as ``ë``).
    """
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", _WORD.sub(functools.partial(_latin_word, every_word=every_word), decomposed))


def _latin_word(word: re.Match[str], every_word: bool) -> str:
    from confusable_homoglyphs import categories

    letters = word.group()
    scripts = {c: categories.alias(c) for c in set(letters)}
    others = {c for c, script in scripts.items() if script not in (_LATIN, *_NO_SCRIPT)}
    mixed = _LATIN in scripts.values() or every_word
    if not others or not mixed or not all(_latin_twin(c) for c in others):
        return letters
    return "".join(_latin_twin(c) if c in others else c for c in letters)


@functools.cache
def _latin_twin(letter: str) -> str | None:
    """The Latin letter ``letter`` is drawn like, in its case (Cyrillic ``С``: ``C``, ``І``: ``I``), or ``None``:
    only a twin read as one ASCII letter counts (not a small capital or a letter of phonetic notation).

    Unicode draws some letters of both cases alike (``I`` and ``l`` share one class, whose prototype is
    ``l``), so the twin is looked for in the prototype's whole class, in the letter's own case first.
    """
    from confusable_homoglyphs import categories, confusables

    found = confusables.is_confusable(letter, greedy=True, preferred_aliases=["latin"]) or ()
    prototypes = [glyph["c"] for hit in found for glyph in hit["homoglyphs"]]
    alike = [glyph["c"] for prototype in prototypes for glyph in confusables.confusables_data.get(prototype, ())]
    twins = [
        c for c in (*prototypes, *alike) if len(c) == 1 and categories.alias(c) == _LATIN and _one_ascii_letter(c)
    ]
    return next((t for t in twins if t.isupper() == letter.isupper()), twins[0] if twins else None)


def _one_ascii_letter(letter: str) -> bool:
    read = unidecode(unicodedata.normalize("NFKC", letter))
    return len(read) == 1 and read.isascii() and read.isalpha()


def normalise_postcode(value: str) -> str | None:
    """``sk89dq``, ``SK8  9DQ``, ``SK8\u00a09DQ`` → ``SK8 9DQ``; anything that is not a UK postcode → ``None``."""
    compact = without_spaces(in_latin(value, latin_format=True)).upper()
    match = _POSTCODE.match(compact)
    return f"{match.group(1)} {match.group(2)}" if match else None


def postcode_district(normalised_postcode: str | None) -> str | None:
    """The outward code (``SK8``), kept for analysis in place of the full postcode."""
    return normalised_postcode.split(" ")[0] if normalised_postcode else None


def pnc_check_letter(year: str, serial: str) -> str:
    return PNC_CHECK_LETTERS[int(year[-2:] + serial.zfill(7)) % 23]


def normalise_pnc(value: str) -> str | None:
    """``2016/6605185R`` with a valid check letter, serial padded to 7 digits; else ``None``.

    Two-digit years are kept as given (the century cannot be known for sure).
    """
    match = _PNC.match(without_spaces(in_latin(value, latin_format=True)).upper())
    if not match:
        return None
    year, serial, check = match.groups()
    if pnc_check_letter(year, serial) != check:
        return None
    return f"{year}/{serial.zfill(7)}{check}"


def normalise_nhs_number(value: str) -> str | None:
    """Ten digits (spaces of any kind and dashes allowed) with a valid modulus-11 check digit."""
    digits = without_spaces(in_latin(value, latin_format=True)).replace("-", "")
    if len(digits) != 10 or not (digits.isascii() and digits.isdigit()):
        return None
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1)))
    check = 11 - total % 11
    if check == 11:
        check = 0
    if check == 10 or check != int(digits[9]):
        return None
    return digits


def normalise_crn(value: str) -> str | None:
    """Letters and digits (ASCII), spaces of any kind dropped; anything else is not a CRN."""
    crn = without_spaces(in_latin(value, latin_format=True)).upper()
    return crn if crn.isascii() and crn.isalnum() and len(crn) <= 20 else None


_TRUE = frozenset({"Y", "YES", "TRUE", "1"})
_FALSE = frozenset({"N", "NO", "FALSE", "0"})


def parse_flag(value: str) -> bool | None:
    code = value.strip().upper()
    if code in _TRUE:
        return True
    if code in _FALSE:
        return False
    return None


_WHOLE_NUMBER = re.compile(r"[+-]?\d{1,9}", re.ASCII)


def parse_int(value: str) -> int | None:
    """A whole number written with ASCII digits (at most nine of them); anything else is ``None``.

    Python's ``int()`` also reads digits of other scripts and numbers of any
    size, which no extract legitimately sends and no integer column can hold.
    """
    return int(value) if _WHOLE_NUMBER.fullmatch(value) else None


#: Ways of writing a date that extracts use, whatever a drop's declared format: day or month first, two- or
#: four-digit years, any separator or none, a month's name (:func:`date_readings`).
LOOSE_DATE_FORMATS = (
    "%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%d%m%Y", "%m/%d/%Y",
    "%m-%d-%Y", "%d/%m/%y", "%d-%m-%y", "%d.%m.%y", "%d%m%y", "%m/%d/%y", "%d-%b-%Y", "%d %b %Y", "%d%b%Y",
    "%d-%B-%Y", "%d %B %Y", "%d-%b-%y", "%d %b %y", "%d%b%y", "%b %d %Y", "%B %d %Y",
)
_TIME_MARK = re.compile(r"(?<![A-Za-z])T")
_TIME_AFTER_DATE = re.compile(r"[T ]+[0-9]{1,2}:[0-9]{2}.*$")
_ORDINAL_DAY = re.compile(r"\b([0-9]{1,2})(?:st|nd|rd|th)\b", re.IGNORECASE)
#: ``Sept``, which a drop's ``%b`` reads (:func:`_months_named`) and ``strptime`` does not: read without its ``t``.
_SEPT = re.compile(r"(?<![A-Za-z])sept(?![A-Za-z])", re.IGNORECASE)
#: Day 0 of a spreadsheet's date serial numbers (Excel and LibreOffice, 1900 system): a date cell saved as a
#: number reads 25437 for 1969-08-22.
SPREADSHEET_EPOCH = date(1899, 12, 30)


@functools.lru_cache(maxsize=100_000)  # a file's dates of birth repeat across its rows and roles
def date_readings(value: str) -> frozenset[date]:
    """Every date that ``value`` reads as in one of :data:`LOOSE_DATE_FORMATS`, a time after it ignored, or as a
    spreadsheet's date serial number (five digits, 1927 to 2173).

    Not a parser for any column: a date of birth written in another format
    than the drop's is not one (it is set to null), but the same date typed
    into an event column of its row must still be recognised (and withheld).
    Digits of any script, full-width forms, invisible format characters (a
    zero-width space) and ordinal days (``24th Oct 1962``) are read through, and ``Sept`` as a month's name.
    """
    folded = unidecode(without_format_characters(value))
    text = re.sub(r" ?([-/.]) ?", r"\1", _TIME_AFTER_DATE.sub("", " ".join(folded.split())).strip(" ,"))
    text = _SEPT.sub(lambda sept: sept[0][:3], _ORDINAL_DAY.sub(r"\1", text))
    if not text.isascii() or len(text) > 20:
        return frozenset()
    readings = set()
    if len(text) == 5 and text.isdigit() and text[0] != "0":
        readings.add(SPREADSHEET_EPOCH + timedelta(days=int(text)))
    for date_format in LOOSE_DATE_FORMATS:
        try:
            read = datetime.strptime(text, date_format).date()
        except ValueError:
            continue
        readings.add(read)
        if "%y" in date_format and read.year >= 2000 and (read.month, read.day) != (2, 29):
            readings.add(read.replace(year=read.year - 100))  # a two-digit year of either century (61: 2061 or 1961)
    return frozenset(readings)


_DATE_PARTS = {"%d": r"(?P<day>[0-9]{1,2})", "%m": r"(?P<month>[0-9]{1,2})", "%Y": r"(?P<year>[0-9]{4})",
               "%b": r"(?P<name>[A-Za-z]{3,4})", "%B": r"(?P<name>[A-Za-z]{3,9})"}


@functools.cache
def _months_named(directive: str) -> dict[str, int]:
    """The month each name a date format's ``%b`` (abbreviated, ``Sept`` too) or ``%B`` (in full) reads, lower-cased:
    English, CLDR's names through Babel, whatever the process's locale (strptime's are the locale's)."""
    from babel.dates import get_month_names

    width = "abbreviated" if directive == "%b" else "wide"
    names = {name.lower(): number for number, name in get_month_names(width, locale="en").items()}
    return names | {"sept": 9} if directive == "%b" else names


def _named_month_parser(date_format: str) -> Callable[[str], date | None]:
    """A parser for a date format that writes the month's English name (``%b`` or ``%B``, in any case), read the
    same whatever the locale."""
    pieces = re.findall(r"%[a-zA-Z]|[^%]", date_format)
    pattern = re.compile("".join(_DATE_PARTS.get(piece, re.escape(piece)) for piece in pieces), re.ASCII)
    months = _months_named("%b" if "%b" in pieces else "%B")

    def parse_named(value: str) -> date | None:
        found = pattern.fullmatch(value)
        month = months.get(found["name"].lower()) if found else None
        if month is None:
            return None
        try:
            return date(int(found["year"]), month, int(found["day"]))
        except ValueError:
            return None

    return parse_named


def date_parser(date_format: str) -> Callable[[str], date | None]:
    """A parser for one drop's date format; fast paths for the two seen in practice. A month's name (``%b``,
    ``%B``) is read in English whatever the locale (:func:`_named_month_parser`)."""
    if "%b" in date_format or "%B" in date_format:
        return _named_month_parser(date_format)
    if date_format == "%Y-%m-%d":

        def parse_iso(value: str) -> date | None:
            if len(value) != 10 or not value.isascii():
                return None
            try:
                return date.fromisoformat(value)
            except ValueError:
                return None

        return parse_iso
    if date_format == "%d/%m/%Y":

        def parse_uk(value: str) -> date | None:
            parts = value.split("/")
            if len(parts) != 3 or len(parts[2]) != 4 or not value.isascii() or not "".join(parts).isdigit():
                return None
            try:
                return date(int(parts[2]), int(parts[1]), int(parts[0]))
            except ValueError:
                return None

        return parse_uk

    def parse_generic(value: str) -> date | None:
        if not value.isascii():
            return None
        try:
            return datetime.strptime(value, date_format).date()
        except ValueError:
            return None

    return parse_generic


def datetime_parser(date_format: str) -> Callable[[str], datetime | None]:
    """Datetimes are the date part then `` %H:%M`` (or ``:%S``), or ISO ``T%H:%M:%S`` (SPEC §2).

    A bare date is read as midnight: some systems drop the time when it is unknown.
    """
    parse_date = date_parser(date_format)

    def parse(value: str) -> datetime | None:
        # ISO's T before the time; not a T of a month's name (OCT, AUGUST), which follows a letter
        day_text, sep, time_text = _TIME_MARK.sub(" ", value, count=1).partition(" ")
        day = parse_date(day_text)
        if day is None:
            return None
        if not sep:
            return datetime(day.year, day.month, day.day)
        pieces = time_text.strip().split(":")
        if len(pieces) not in (2, 3) or not all(p.isascii() and p.isdigit() and len(p) <= 2 for p in pieces):
            return None
        try:
            return datetime(day.year, day.month, day.day, *(int(p) for p in pieces))
        except ValueError:
            return None

    return parse
