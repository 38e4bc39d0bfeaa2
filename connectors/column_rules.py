"""The contract rules of SPEC §2 and §5 over whole columns (Arrow compute), as the per-cell rules would give.

Each rule keeps one definition: the per-cell function of
:mod:`connectors.normalise`. Over a column it runs in one of two ways, with
the same result:

- over the column's *distinct* values (:func:`map_distinct`): code lists,
  dates, flags, whole numbers, names, postcodes, sex. A column of two million
  cells holds a few thousand distinct dates or codes, so the Python function
  runs a few thousand times;
- as a vectorised expression for the cells of a plain shape, the columns whose
  values are mostly distinct (record references, date-times, cleaning), and
  through the per-cell function, per distinct value, for every cell of any
  other shape (:func:`blend`). The plain shapes are chosen so that the
  expression provably agrees with the function on them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.normalise import (
    MISSING_MARKERS,
    PNC_CHECK_LETTERS,
    clean_cell,
    datetime_parser,
    normalise_crn,
    normalise_nhs_number,
    normalise_pnc,
)

STRING_NULL = pa.scalar(None, pa.string())
#: What operator text shows in place of a value that could be an identifier.
WITHHELD = "(value withheld)"
_MARKERS = pa.array(sorted(MISSING_MARKERS), type=pa.string())
#: Printable ASCII: the only character ``str.strip`` removes there is the space.
_PRINTABLE = r"^[ -~]*$"
#: A date-time of a plain shape: a date part, then nothing or ``[ T]H:M[:S]`` with one or two digits each.
_PLAIN_DATETIME = r"^(?P<day>[0-9A-Za-z./-]{1,17})(?:[ T](?P<h>[0-9]{1,2}):(?P<m>[0-9]{1,2})(?::(?P<s>[0-9]{1,2}))?)?$"
_MICROS_PER_DAY = 86_400_000_000


def mask(values: pa.Array) -> np.ndarray:
    """A boolean Arrow array as numpy, null as False."""
    return pc.fill_null(values, False).to_numpy(zero_copy_only=False)


def present(values: pa.Array) -> np.ndarray:
    return mask(pc.is_valid(values))


def map_distinct(values: pa.Array, function: Callable[[str], Any], type: pa.DataType) -> pa.Array:
    """``function`` of each cell, called once per distinct value; null stays null."""
    encoded = pc.dictionary_encode(values)
    results = pa.array([function(value) for value in encoded.dictionary.to_pylist()], type=type)
    return results.take(encoded.indices)


def blend(values: pa.Array, plain: pa.Array, fast: pa.Array, function: Callable[[str], Any], type: pa.DataType) -> pa.Array:
    """``fast`` where ``plain``; elsewhere ``function`` of the cell, once per distinct value."""
    plain = pc.fill_null(plain, True)
    if pc.all(plain).as_py() is not False:
        return fast.cast(type)
    odd = pc.if_else(plain, pa.scalar(None, values.type), values)
    return pc.if_else(plain, fast.cast(type), map_distinct(odd, function, type))


def clean_column(raw: pa.Array) -> pa.Array:
    """:func:`connectors.normalise.clean_cell` over a column: stripped, missing markers as null."""
    stripped = pc.utf8_trim(raw, characters=" ")
    fast = pc.if_else(pc.is_in(pc.ascii_upper(stripped), value_set=_MARKERS), STRING_NULL, stripped)
    return blend(raw, pc.match_substring_regex(raw, _PRINTABLE), fast, clean_cell, pa.string())


def parse_datetimes(values: pa.Array, parse_date: Callable[[str], date | None], date_format: str) -> pa.Array:
    """:func:`connectors.normalise.datetime_parser` over a column, as ``timestamp[us]`` (null: not a date-time).

    A plain cell is split into its date part, parsed once per distinct day,
    and its time, checked as numbers; any other cell goes through the parser.
    """
    parts = pc.extract_regex(values, _PLAIN_DATETIME)
    plain = pc.is_valid(parts)
    days = map_distinct(pc.struct_field(parts, "day"), parse_date, pa.date32())

    def number(name: str) -> pa.Array:
        text = pc.struct_field(parts, name)
        return pc.cast(pc.if_else(pc.equal(text, ""), "0", text), pa.int64())

    hours, minutes, seconds = number("h"), number("m"), number("s")
    valid_time = pc.and_(pc.and_(pc.less(hours, 24), pc.less(minutes, 60)), pc.less(seconds, 60))
    micros = pc.multiply(pc.add(pc.add(pc.multiply(hours, 3600), pc.multiply(minutes, 60)), seconds), 1_000_000)
    stamps = pc.add(pc.multiply(pc.cast(pc.cast(days, pa.int32()), pa.int64()), _MICROS_PER_DAY), micros)
    fast = pc.if_else(valid_time, stamps, pa.scalar(None, pa.int64())).cast(pa.timestamp("us"))
    return blend(values, plain, fast, datetime_parser(date_format), pa.timestamp("us"))


def outside(days: pa.Array, earliest: date, latest: date) -> np.ndarray:
    """Which (non-null) dates fall outside ``earliest``..``latest``."""
    days = days.cast(pa.date32())
    return mask(pc.or_(pc.less(days, pa.scalar(earliest, pa.date32())), pc.greater(days, pa.scalar(latest, pa.date32()))))


@dataclass
class Fault:
    """One rule a column's cells broke: which cells, and the operator's detail (one text, or one per cell)."""

    cells: np.ndarray
    rule: str
    detail: str | np.ndarray

    def detail_at(self, row: int) -> str:
        return self.detail if isinstance(self.detail, str) else self.detail[row]


@dataclass
class CheckedColumn:
    """A column's typed values (null where a rule failed) and the rules its cells broke."""

    values: pa.Array
    faults: list[Fault] = field(default_factory=list)
    notices: list[Fault] = field(default_factory=list)  # warnings whatever the column's requiredness (unknown codes in a code set)


_PLAIN_PNC = r"^(?P<year>[0-9]{2}|[0-9]{4})/(?P<serial>[0-9]{1,7})(?P<check>[A-Z])$"
_PLAIN_NHS = r"^[0-9]{10}$"


def _numbers(values: pa.Array) -> np.ndarray:
    """Digit strings as int64 (0 where null)."""
    return pc.fill_null(pc.cast(values, pa.int64()), 0).to_numpy(zero_copy_only=False)


def pnc_column(values: pa.Array) -> pa.Array:
    """:func:`connectors.normalise.normalise_pnc` over a column: a canonical PNC ID with its check letter
    computed as numbers; any cell not already canonical in shape goes through the function."""
    parts = pc.extract_regex(values, _PLAIN_PNC)
    year, serial, check = (pc.struct_field(parts, name) for name in ("year", "serial", "check"))
    remainder = (_numbers(pc.utf8_slice_codeunits(year, -2)) * 10_000_000 + _numbers(serial)) % 23
    expected = pa.array(np.array(list(PNC_CHECK_LETTERS))[remainder], type=pa.string())
    canonical = pc.binary_join_element_wise(year, "/", pc.utf8_lpad(serial, 7, "0"), check, "")
    fast = pc.if_else(pc.equal(check, expected), canonical, STRING_NULL)
    return blend(values, pc.is_valid(parts), fast, normalise_pnc, pa.string())


def nhs_column(values: pa.Array) -> pa.Array:
    """:func:`connectors.normalise.normalise_nhs_number` over a column: ten plain digits checked modulo 11 as
    numbers; any other cell goes through the function."""
    plain = pc.match_substring_regex(values, _PLAIN_NHS)
    number = _numbers(pc.if_else(plain, values, STRING_NULL))
    digits = [(number // 10 ** (9 - position)) % 10 for position in range(10)]
    check = 11 - sum(digit * weight for digit, weight in zip(digits[:9], range(10, 1, -1))) % 11
    check = np.where(check == 11, 0, check)
    valid = pa.array((check != 10) & (check == digits[9]))
    return blend(values, plain, pc.if_else(valid, values, STRING_NULL), normalise_nhs_number, pa.string())


def crn_column(values: pa.Array) -> pa.Array:
    """:func:`connectors.normalise.normalise_crn` over a column: plain letters and digits upper-cased; any other
    cell goes through the function."""
    plain = pc.match_substring_regex(values, r"^[A-Za-z0-9]{1,20}$")
    return blend(values, plain, pc.ascii_upper(values), normalise_crn, pa.string())
