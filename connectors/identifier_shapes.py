"""Which raw values could be a person's identifier, read loosely (SPEC §3).

A value that the product keeps (an agency's record reference) or shows to an
operator (an unknown code in a quarantine detail) must not be able to carry a
name, a date of birth, a postcode, a PNC ID, an NHS number, a CRN or a phone
number. The normalisers of :mod:`connectors.normalise` accept only the exact,
valid forms of those identifiers; a sender can write the same identifier in
many other ways (``ZZ9-9ZZ``, ``943.476.5919``, a PNC ID with a wrong check
letter, ``11-Nov-1911``, a date inside a longer reference). So the shapes here
are loose: check digits and letters are ignored, separators are allowed, and
a shape anywhere inside the value counts.

Digits can also be regrouped (``40-1023-2137``, ``1961-0729``, ``44-7700-900123``), and
a reference can carry an identifier among its own characters (``N-401--023--2137``,
``QQ.123.456.C``, ``29-VII-1961``, ``ZQXC-ANAR-Y1``). So the shapes of a CRN, a
National Insurance number and a PNC ID allow separators anywhere among their
characters; months are also read in Roman numerals and other languages'
abbreviations between a day and a year; eight letters or more once separators
are removed are a word cut into pieces; phone numbers, and ten digits from 3
on whose NHS check digit holds, are read a second time with the separators
between digits removed (:data:`REGROUPED_SHAPES`, :func:`_holds_nhs_number`),
a year may be followed by separators
(``D-1961-0729``, but not ``ADV-20-001206``, a year's serial), and two shapes are common in
agencies' own references and count only when the whole value is digits and
separators (:func:`_six_digit_date`, :func:`_holds_nhs_number`): six digits that read as a date, day
first as the UK writes it (``29-0761``, but not the serial of
``HT-CO-001206`` or ``HT-CO-011231``, which a sender cannot renumber: one
small zero-padded serial in five read as a date year first), and ten
digits, an NHS number only if its check digit holds and they do not start
with a year and a separator (``2024-123456``, a year's serial: England and
Wales issue NHS numbers from 400 000 0000 up). These spellings are not
refused, because they are the agencies' own formats. A PNC ID without its check letter (``2011-0987654``)
has the shape of a force's crime number (``24-1543408``). A name of four
letters or fewer has the shape of an agency prefix (``CHS``, ``ADV``).

A digit glued on or cut off does not hide an identifier either: an NHS number is found anywhere in a longer
run of digits, and nine digits alone are an NHS number without its check digit (:func:`_holds_nhs_number`); a
mobile number is found among other digits; and a date's parts may be divided by letters (``21A10B1979``).

Each rule is one regular expression that Python's ``re`` and Arrow's RE2 read
alike (no look-arounds, no back-references), so the rule over one cell
(:func:`could_hold_identifier`, :func:`is_reference`) and over a whole column
(:func:`references_ok`) are the same rule.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from text_unidecode import unidecode

from connectors.column_rules import mask, present
from connectors.normalise import normalise_nhs_number

_SEP = r"[-/._:# ]"
_NOT_DIGIT_BEFORE = r"(?:^|[^0-9])"
_NOT_DIGIT_AFTER = r"(?:[^0-9]|$)"
_DAY = r"(?:0[1-9]|[12][0-9]|3[01])"
_MONTH = r"(?:0[1-9]|1[0-2])"
_YEAR = r"(?:19|20)[0-9]{2}"
#: A day and a month in one or two digits, and what may stand between the parts of a date: one to three letters
#: or separators (:data:`IDENTIFIER_SHAPES`, "lettered date").
_DAY_OF = r"(?:0?[1-9]|[12][0-9]|3[01])"
_MONTH_OF = r"(?:0?[1-9]|1[0-2])"
_GAP = r"[^0-9]{1,3}"
#: Month names and abbreviations in English (Python does not set the time locale, so ``calendar`` gives English).
_MONTH_NAMES = "|".join(sorted({name.upper() for name in (*calendar.month_name[1:], *calendar.month_abbr[1:], "Sept")}))

#: Languages whose month names (CLDR, through Babel) a date of birth may be written with: those of the UK and
#: Ireland, and of the largest communities that speak another language in England and Wales.
MONTH_LANGUAGES = (
    "cy", "ga", "gd", "fr", "de", "es", "it", "pt", "nl", "pl", "ro", "lt", "lv", "bg", "ru", "uk", "tr", "sq", "hu",
    "cs", "sk", "sv", "da", "nb", "fi", "hr", "sl", "el", "so",
)
_ROMAN_MONTHS = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")


def _other_month_words() -> str:
    """Months in Roman numerals, and every month name of :data:`MONTH_LANGUAGES` of four letters or fewer, in
    Latin letters (a longer word is refused as a word), as one alternation, longest first."""
    from babel.dates import get_month_names

    words = set(_ROMAN_MONTHS)
    for language in MONTH_LANGUAGES:
        for width in ("abbreviated", "wide"):
            for context in ("format", "stand-alone"):
                for name in get_month_names(width, context=context, locale=language).values():
                    word = re.sub("[^A-Z]", "", unidecode(name).upper())
                    if 0 < len(word) <= 4:
                        words.add(word)
    return "|".join(sorted(words, key=lambda word: (-len(word), word)))


_OTHER_MONTHS = _other_month_words()

#: Shapes of an identifier anywhere in the value as sent (letters in any case).
IDENTIFIER_SHAPES: dict[str, str] = {
    # three groups of digits with separators, as dates are written (1911-11-11, 11/11/1911, 1911/11/11T10:00)
    "date": rf"{_NOT_DIGIT_BEFORE}[0-9]{{1,4}}{_SEP}+[0-9]{{1,2}}{_SEP}+[0-9]{{1,4}}{_NOT_DIGIT_AFTER}",
    # eight digits that read as a date since 1900 (19111111, REF-11111911, 1911-1111, D-1911--1111, REF-1111-1911), as
    # a word of their own: glued to letters they are the serial number of a reference (HC01021985), which agencies
    # really issue; day, then month and year (REF-11-111911) is the shape of a year's serial (ADV-24-011985), kept
    "compact date": rf"(?:^|[^A-Z0-9])(?:{_YEAR}{_SEP}*{_MONTH}{_DAY}|{_DAY}{_MONTH}{_SEP}*{_YEAR})(?:[^A-Z0-9]|$)",
    # a day, month and year with letters as well as separators between them (21A10B1979, D21M10Y1979, 1979Y10M21D),
    # month first too (10A21B1979): a sender writing a date cannot hide it behind one to three letters per gap
    "lettered date": rf"(?i){_NOT_DIGIT_BEFORE}(?:{_DAY_OF}{_GAP}{_MONTH_OF}{_GAP}{_YEAR}|{_YEAR}{_GAP}{_MONTH_OF}{_GAP}"
    rf"{_DAY_OF}|{_MONTH_OF}{_GAP}{_DAY_OF}{_GAP}{_YEAR}){_NOT_DIGIT_AFTER}",
    # a month's name or abbreviation as a word (11-Nov-1911, 11NOV1911)
    "month name": rf"(?i)(?:^|[^A-Z])(?:{_MONTH_NAMES})(?:[^A-Z]|$)",
    # a month in Roman numerals or abbreviated in another language, between a day and a year (29-VII-1961, 29MAI1961)
    "written month": rf"(?i){_NOT_DIGIT_BEFORE}(?:[0-9]{{1,2}}{_SEP}*(?:{_OTHER_MONTHS}){_SEP}*{_YEAR}"
    rf"|{_YEAR}{_SEP}*(?:{_OTHER_MONTHS}){_SEP}*[0-9]{{1,2}}){_NOT_DIGIT_AFTER}",
    # a PNC ID whatever its check letter and separators: year, serial, letter (11/123456Z, 2016 6605185X, 11-123456-Z)
    "PNC ID": rf"(?i){_NOT_DIGIT_BEFORE}(?:[0-9]{{2}}|[0-9]{{4}}){_SEP}*[0-9]{{1,7}}{_SEP}*[A-Z](?:[^A-Z]|$)",
    # a National Insurance number however its digits are grouped (QQ123456C, QQ-12-34-56-C, QQ.123.456.C)
    "National Insurance number": rf"(?i)(?:^|[^A-Z])[A-Z]{{2}}{_SEP}*[0-9](?:{_SEP}*[0-9]){{5}}{_SEP}*[A-D](?:[^A-Z0-9]|$)",
    # an NHS number whatever its check digit: ten digits, or 3-3-4 with separators (943.476.5919)
    "NHS number": rf"{_NOT_DIGIT_BEFORE}[0-9]{{3}}{_SEP}?[0-9]{{3}}{_SEP}?[0-9]{{4}}{_NOT_DIGIT_AFTER}",
    # a CRN: one letter and six digits as a word of its own, however they are grouped (X123456, X-123456, X12-3456)
    "CRN": rf"(?i)(?:^|[^A-Z0-9])[A-Z]{_SEP}*[0-9](?:{_SEP}*[0-9]){{5}}(?:[^0-9]|$)",
    # a UK phone number: 0 and ten digits, or 0 and nine, in the usual groups (07700 900123, 0161-496-0000)
    "phone number": rf"{_NOT_DIGIT_BEFORE}0[0-9]{{2,4}}{_SEP}?[0-9]{{3,4}}{_SEP}?[0-9]{{3,4}}{_NOT_DIGIT_AFTER}",
    # a landline that lost its 0, as a spreadsheet drops it, in the groups of its area code (20-7946-0123,
    # 161 496 0000); a year's serial starts with four digits (2024-1234-5678)
    "phone number without its 0": rf"{_NOT_DIGIT_BEFORE}[12][0-9]{{1,2}}{_SEP}[0-9]{{3,4}}{_SEP}[0-9]{{4}}{_NOT_DIGIT_AFTER}",
    # a UK driving licence number: a surname's first five letters (padded with 9), the date of birth encoded
    # (decade, month plus 5 for a woman, day, year), initials, a digit, two check characters (KHAN9811021PD9AB)
    "driving licence number": r"(?i)[A-Z][A-Z9]{4}[0-9][0156][0-9][0-3][0-9]{2}[A-Z9]{2}[0-9][A-Z0-9]{2}",
}
#: Separators between two digits: removed (twice, for groups of one digit) to read a value however its digits
#: are grouped.
_BETWEEN_DIGITS = rf"([0-9]){_SEP}+([0-9])"
#: Shapes of an identifier once the separators between digits are removed, i.e. whatever the digits' grouping.
REGROUPED_SHAPES: dict[str, str] = {
    # a UK phone number: 0 and nine or ten digits, (00)44 and nine or ten, or a mobile's ten digits without the 0
    "phone number": rf"{_NOT_DIGIT_BEFORE}(?:0[0-9]{{9,10}}|(?:00)?44[0-9]{{9,10}}|7[0-9]{{9}}){_NOT_DIGIT_AFTER}",
    # a mobile number among other digits (807700900123, 0774477009001230): a stray digit does not hide it
    "mobile number": r"(?:07|447)[0-9]{9}",
}
#: A value of digits alone (separators removed) that reads as a date of six digits, day first as the UK writes
#: it (290761, 29-0761).
_SIX_DIGIT_DATE = rf"^{_DAY}{_MONTH}[0-9]{{2}}$"
#: A value of ten digits alone (separators removed): an NHS number if its check digit holds.
_TEN_DIGITS = r"^[0-9]{10}$"
#: Ten digits once the separators between digits are removed, first digit 3 to 9, also among other digits
#: (N-401--023--2137, 89434765919): an NHS number if its check digit holds. NHS numbers are issued from 300 000 0000
#: up (Northern Ireland; England and Wales from 400 000 0000), so a year's serial (2024-123456) never reads as one.
_REGROUPED_TEN_DIGITS = r"[3-9][0-9]{9}"
#: Nine digits alone once the separators between digits are removed, first digit 4 to 9 (943476591, X-943-476-591):
#: an NHS number of England and Wales without its check digit, which anyone can compute, unless no check digit
#: completes it. From 4, not 3: a force's crime number of the 2030s (31-1543408) keeps its year's serial.
_REGROUPED_NINE_DIGITS = r"(?:^|[^0-9])[4-9][0-9]{8}(?:[^0-9]|$)"
#: A year and a separator at the start: a year's serial (2024-123456), never an NHS number (England and
#: Wales issue them from 400 000 0000 up).
_YEAR_SERIAL = rf"^{_YEAR}{_SEP}"
#: A postcode anywhere once separators are removed (ZZ9-9ZZ, ZZ9.9ZZ, REF1SK89DQ), also with one or two letters
#: between its outward and inward codes (ZE3ZZ5QF).
POSTCODE_SHAPE = r"(?i)[A-Z]{1,2}[0-9][A-Z0-9]?[A-Z]{0,2}[0-9][A-Z]{2}"
#: Everything but digits: removed to read a value's digits through the letters between them (HC4800XY1739XY14).
_NOT_DIGITS = "[^0-9]+"
_NOT_ALNUM = r"[^A-Za-z0-9]"


def _any_of(shapes: dict[str, str]) -> str:
    """``shapes`` in one expression, letters in any case."""
    return "(?i)" + "|".join(f"(?:{pattern.removeprefix('(?i)')})" for pattern in shapes.values())


_ANY_SHAPE = _any_of(IDENTIFIER_SHAPES)
_ANY_REGROUPED_SHAPE = _any_of(REGROUPED_SHAPES)

#: A record reference: one word of ASCII letters, digits and ``/ _ - . : #``.
_REFERENCE = r"^[A-Za-z0-9][A-Za-z0-9/_\-.:#]{0,63}$"
#: A web address or a link's scheme (``http://x1.io``, ``www.a1.io``, ``file:///1``, ``mailto:``): a viewer of the
#: case pack's PDF or HTML would offer it as a link to follow. No agency numbers its records so. (A phone link's
#: number is refused as a phone number.)
_LINK = r"(?i)://|^www[.]|^(?:https?|ftp|file|mailto|javascript|data):"
#: A run of five letters or more: a word, so perhaps a name.
_WORD = r"(?i)[A-Z]{5}"
#: Eight letters or more once the separators are removed: a word cut into short pieces (ZQXC-ANAR-Y), so perhaps a
#: name. Agencies' prefixes together (CHS-ORD, HAM-RF) are shorter.
_CUT_WORD = r"(?i)[A-Z]{8}"


def _digits_regrouped(value: str) -> str:
    return re.sub(_BETWEEN_DIGITS, r"\1\2", re.sub(_BETWEEN_DIGITS, r"\1\2", value))


def _holds_nhs_number(value: str) -> bool:
    """Whether ``value`` holds an NHS number: ten digits whose check digit holds, as its digits alone (separators
    removed, not a year's serial) or, once separators between digits are removed, as ten digits from 3 on anywhere
    in a run of digits (:data:`_REGROUPED_TEN_DIGITS`); or nine digits alone from 4 on that a check digit completes
    (:data:`_REGROUPED_NINE_DIGITS`)."""
    digits = re.sub(_SEP, "", value)
    runs = [*re.findall("[0-9]+", _digits_regrouped(value)), re.sub(_NOT_DIGITS, "", value)]
    alone = [digits] if re.fullmatch(_TEN_DIGITS, digits) and not re.match(_YEAR_SERIAL, value) else []
    windows = [run[start : start + 10] for run in runs for start in range(len(run) - 9) if run[start] >= "3"]
    completed = [run + check for run in runs if len(run) == 9 and run[0] >= "4" for check in "0123456789"]
    return any(normalise_nhs_number(candidate) is not None for candidate in (*alone, *windows, *completed))


def _six_digit_date(value: str) -> bool:
    """Whether ``value``, separators removed, is six digits that read as a date, day first."""
    return re.fullmatch(_SIX_DIGIT_DATE, re.sub(_SEP, "", value)) is not None


def could_hold_identifier(value: str) -> bool:
    """Whether ``value`` has, anywhere, the loose shape of a date, PNC ID, NHS number, postcode, CRN or phone number,
    however its digits are grouped."""
    regrouped = _digits_regrouped(value)
    return (
        re.search(_ANY_SHAPE, value) is not None
        or re.search(POSTCODE_SHAPE, re.sub(_NOT_ALNUM, "", value)) is not None
        or re.search(_ANY_REGROUPED_SHAPE, regrouped) is not None
        or re.search(_ANY_REGROUPED_SHAPE, re.sub(_NOT_DIGITS, "", value)) is not None
        or _holds_nhs_number(value)
        or _six_digit_date(value)
    )


def is_reference(value: str) -> bool:
    """Whether a cell can be kept as an agency's own record reference (``CHS-24-1543408``, ``EV0089791``).

    References are kept in the warehouse (SPEC §3.5), so a value that could
    be a person's identifier instead is refused. A reference is one word of
    ASCII letters, digits and ``/ _ - . : #`` with at least one digit; it
    holds no run of five letters or more (a word, perhaps a name: agency
    prefixes such as ``CHS``, ``ORD``, ``ADV`` are shorter) and no web address
    or link (:data:`_LINK`); and it has none of
    the identifier shapes of :func:`could_hold_identifier`.
    """
    return (
        re.fullmatch(_REFERENCE, value) is not None
        and re.search("[0-9]", value) is not None
        and re.search(_WORD, value) is None
        and re.search(_LINK, value) is None
        and re.search(_CUT_WORD, re.sub(_SEP, "", value)) is None
        and not could_hold_identifier(value)
    )


def references_ok(values: pa.Array) -> pa.Array:
    """:func:`is_reference` over a column of strings (null for a null cell)."""
    regrouped = values
    for _ in range(2):
        regrouped = pc.replace_substring_regex(regrouped, _BETWEEN_DIGITS, r"\1\2")
    digits = pc.replace_substring_regex(values, _SEP, "")
    through_letters = pc.replace_substring_regex(values, _NOT_DIGITS, "")
    # ten digits alone (not a year's serial), ten from 3 on among other characters or through letters, or nine
    # alone from 4 on: the check digit decides, per cell (few cells hold any)
    ten_digits = pc.or_(
        pc.and_(pc.match_substring_regex(digits, _TEN_DIGITS), pc.invert(pc.match_substring_regex(values, _YEAR_SERIAL))),
        pc.or_(
            pc.or_(
                pc.match_substring_regex(regrouped, _REGROUPED_TEN_DIGITS),
                pc.match_substring_regex(through_letters, _REGROUPED_TEN_DIGITS),
            ),
            pc.match_substring_regex(regrouped, _REGROUPED_NINE_DIGITS),
        ),
    )
    nhs = pc.fill_null(ten_digits, False).to_numpy(zero_copy_only=False)
    nhs[nhs] = [_holds_nhs_number(v) for v in pc.filter(values, pa.array(nhs)).to_pylist()]
    shaped = pc.or_(
        pc.or_(
            pc.match_substring_regex(values, _ANY_SHAPE),
            pc.match_substring_regex(pc.replace_substring_regex(values, _NOT_ALNUM, ""), POSTCODE_SHAPE),
        ),
        pc.or_(
            pc.or_(
                pc.or_(pc.match_substring_regex(regrouped, _ANY_REGROUPED_SHAPE), pa.array(nhs)),
                pc.match_substring_regex(through_letters, _ANY_REGROUPED_SHAPE),
            ),
            pc.match_substring_regex(digits, _SIX_DIGIT_DATE),
        ),
    )
    checks = (
        pc.match_substring_regex(values, _REFERENCE),
        pc.match_substring_regex(values, "[0-9]"),
        pc.invert(pc.match_substring_regex(values, _WORD)),
        pc.invert(pc.match_substring_regex(values, _LINK)),
        pc.invert(pc.match_substring_regex(digits, _CUT_WORD)),
        pc.invert(shaped),
    )
    result = checks[0]
    for check in checks[1:]:
        result = pc.and_(result, check)
    return result


#: How a date of birth is written inside a reference, read through its separators (``REF-29-071961``): day, month
#: and year in the orders agencies write dates, with the year in four digits or two; as (day, month, year)
#: multipliers of the number the digits make, and how many digits.
_DATE_SPELLINGS = (
    ((10**6, 10**4, 1), 8), ((1, 100, 10**4), 8), ((10**4, 10**6, 1), 8),  # ddmmyyyy, yyyymmdd, mmddyyyy
    ((10**4, 100, 1), 6), ((1, 100, 10**4), 6), ((100, 10**4, 1), 6),  # ddmmyy, yymmdd, mmddyy
)
#: A name shorter than this is not looked for alone in a reference: three and four letters are the agencies' own
#: prefixes (``HAM-22-8781402`` of a victim called Ham, ``CHS-ORD-8464337`` of one called Ord: 83 rows of the
#: generator's national year). A word of five letters is refused anyway (:func:`references_ok`): this finds
#: the name cut by separators (``PE-TER-5``, ``SMI-TH-12``).
_SHORTEST_NAME = 5
#: A person's forename and surname found together in a reference are theirs, however short (``IXO-VUK-7``): an
#: agency's prefixes spell two names of one person by chance too rarely to count.
_SHORTEST_NAME_OF_PAIR = 2
#: The fewest characters of an identifier's core looked for in a reference: a PNC ID's year and serial without
#: its check letter (``03-412389`` of ``2003/0412389E``), an NHS number without its check digit, a CRN (a letter
#: and six digits). Shorter runs would turn up in agencies' serials by chance.
_SHORTEST_CORE = 6
_PNC_PARTS = r"^(?:[0-9]{2})?(?P<year>[0-9]{2})/(?P<serial>[0-9]{7})[A-Z]$"
_POSTCODE_PARTS = r"^(?P<outward>[A-Z0-9]+) (?P<inward>[A-Z0-9]+)$"
#: What a reference holding a postcode's inward code must have among its letters and digits.
_INWARD_CODE = "[0-9][A-Z]{2}"


def holds_row_identity(
    references: pa.Array, birth_dates: list[pa.Array], persons: list[Mapping[str, pa.Array]]
) -> np.ndarray:
    """Which references hold a date of birth, a name or an identifier of a person on their own row.

    The shapes of :func:`references_ok` cannot refuse a serial that is
    written like a date (``REF-29-071961`` reads as ``ADV-24-011985``, a
    year's serial), an identifier glued to a prefix (``EV`` and a CRN), cut
    short of its check character or with its parts swapped (``9QZ-NE47``),
    but the row says whose record it is. A reference carries an identifier
    when, separators removed, its digits hold that person's date of birth in
    any of :data:`_DATE_SPELLINGS`, or the core of their PNC ID or NHS number
    (:data:`_SHORTEST_CORE`); its letters hold their forename or surname (of
    :data:`_SHORTEST_NAME` letters or more) or both their names; or its
    letters and digits hold their CRN, or both parts of their postcode in
    either order. ``birth_dates``: each date-of-birth column of the row
    (date32, every reading of it); ``persons``: each person role's normalised
    ``forename``, ``surname``, ``postcode``, ``pnc``, ``nhs`` and ``crn``
    (:class:`connectors.person_columns.RoleColumns` values), one value per
    row in each.
    """
    found = np.zeros(len(references), dtype=bool)
    if not len(references):
        return found
    digits = _Digits(pc.replace_substring_regex(references, "[^0-9]", ""))
    for dates in birth_dates:
        day, month, year = (pc.fill_null(part(dates), -1).to_numpy(zero_copy_only=False).astype(np.int64)
                            for part in (pc.day, pc.month, pc.year))
        for (at_day, at_month, at_year), width in _DATE_SPELLINGS:
            spelled = day * at_day + month * at_month + (year if width == 8 else year % 100) * at_year
            # six digits only when they are all of the reference's: a six-digit run inside a longer serial
            # matches a date of birth by chance one row in tens of thousands
            numbers = digits.runs(8) if width == 8 else digits.whole(6)[:, None]
            found |= (numbers == np.where(day < 0, -2, spelled)[:, None]).any(axis=1)
    upper = pc.ascii_upper(references)  # a reference is ASCII
    letters = pc.replace_substring_regex(upper, "[^A-Z]+", "")
    alphanumerics = pc.replace_substring_regex(upper, "[^A-Z0-9]+", "")
    for person in persons:
        pnc = pc.extract_regex(person["pnc"], _PNC_PARTS)
        postcode = pc.extract_regex(person["postcode"], _POSTCODE_PARTS)
        for serial in (pnc.field("serial"), pc.replace_substring_regex(pnc.field("serial"), "^0+", "")):
            found |= digits.hold(pc.binary_join_element_wise(pnc.field("year"), serial, ""), _SHORTEST_CORE)
        found |= digits.hold(pc.utf8_slice_codeunits(person["nhs"], 0, 9), _SHORTEST_CORE)
        # a CRN's six digits, whatever letters stand among them (EVR4ZZ82913 of R482913)
        found |= digits.hold(pc.replace_substring_regex(person["crn"], _NOT_DIGITS, ""), _SHORTEST_CORE)
        for text, parts, shortest, shape in (
            (letters, [person["forename"]], _SHORTEST_NAME, None),
            (letters, [person["surname"]], _SHORTEST_NAME, None),
            (letters, [person["forename"], person["surname"]], _SHORTEST_NAME_OF_PAIR, None),
            (alphanumerics, [person["crn"]], _SHORTEST_CORE, None),
            (alphanumerics, [postcode.field("outward"), postcode.field("inward")], 1, _INWARD_CODE),
        ):
            found |= _holds_all(text, parts, shortest, shape)
    return found


def _holds_all(texts: pa.Array, parts: list[pa.Array], shortest: int, shape: str | None) -> np.ndarray:
    """Which of ``texts`` hold every one of ``parts`` (one value per text in each), each of ``shortest`` characters
    or more; a text shorter than its parts together, a null text or part, and with ``shape`` a text that does not
    match it, hold nothing.

    Read in Python once per distinct combination of a text and its parts:
    references share prefixes, and persons recur.
    """
    rows = present(texts)
    needed = np.zeros(len(texts), dtype=np.int64)
    for part in parts:
        length = pc.fill_null(pc.utf8_length(part), 0).to_numpy(zero_copy_only=False)
        rows &= length >= shortest
        needed += length
    rows &= pc.fill_null(pc.utf8_length(texts), 0).to_numpy(zero_copy_only=False) >= needed
    if shape is not None:
        rows &= mask(pc.match_substring_regex(texts, shape))
    found = np.zeros(len(texts), dtype=bool)
    chosen = pa.array(np.flatnonzero(rows), pa.int64())
    if len(chosen):
        combinations = pc.binary_join_element_wise(texts.take(chosen), *(p.take(chosen) for p in parts), "|")
        distinct = combinations.dictionary_encode()
        holds = [all(part in text for part in wanted)
                 for text, *wanted in (combination.split("|") for combination in distinct.dictionary.to_pylist())]
        found[rows] = np.asarray(holds, dtype=bool)[distinct.indices.to_numpy(zero_copy_only=False)]
    return found


class _Digits:
    """The digits of each reference (separators and letters removed), and the numbers their runs make."""

    def __init__(self, digits: pa.Array) -> None:
        self.lengths = pc.utf8_length(pc.fill_null(digits, "")).to_numpy(zero_copy_only=False)
        self.longest = max(int(self.lengths.max(initial=0)), 8)
        padded = pc.utf8_rpad(pc.fill_null(digits, ""), self.longest, "/")  # "/" is the character before "0"
        matrix = np.frombuffer(padded.buffers()[2], dtype=np.uint8, count=len(digits) * self.longest)
        self.matrix = (matrix.reshape(-1, self.longest) - ord("0")).view(np.int8)  # digits, -1 past the last

    def whole(self, width: int) -> np.ndarray:
        """The number of each reference's digits where there are exactly ``width`` of them; -1 elsewhere."""
        number = self.matrix[:, :width].astype(np.int64) @ (10 ** np.arange(width - 1, -1, -1, dtype=np.int64))
        return np.where(self.lengths == width, number, -1)

    def runs(self, width: int, rows: np.ndarray | None = None) -> np.ndarray:
        """The numbers of the runs of ``width`` consecutive digits, one column per starting position (-1 where
        the run would pass the last digit), of every reference or of ``rows``."""
        matrix, lengths = (self.matrix, self.lengths) if rows is None else (self.matrix[rows], self.lengths[rows])
        starts = self.longest - width + 1
        numbers = np.zeros((len(matrix), max(starts, 0)), dtype=np.int64)
        for k in range(width):
            numbers = numbers * 10 + matrix[:, k : k + starts]
        return np.where(lengths[:, None] >= np.arange(width, self.longest + 1), numbers, -1)

    def hold(self, numbers: pa.Array, shortest: int) -> np.ndarray:
        """Which references hold, among their digits, their row's ``numbers`` (strings of digits) of ``shortest``
        digits or more."""
        widths = pc.fill_null(pc.utf8_length(numbers), 0).to_numpy(zero_copy_only=False)
        found = np.zeros(len(widths), dtype=bool)
        for width in np.unique(widths[(widths >= shortest) & (widths <= self.longest)]):
            rows = np.flatnonzero(widths == width)
            wanted = pc.cast(numbers.take(pa.array(rows, pa.int64())), pa.int64()).to_numpy(zero_copy_only=False)
            found[rows] = (self.runs(int(width), rows) == wanted[:, None]).any(axis=1)
        return found
