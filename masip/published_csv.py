"""Every CSV the product publishes is written here, safe to open in a spreadsheet.

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is a formula to Excel, LibreOffice and Google Sheets (CSV injection):
``=HYPERLINK(...)`` in a free-text value such as a force name would become a
live link in the published tables. Following OWASP's advice
(https://owasp.org/www-community/attacks/CSV_Injection), such a cell is
prefixed with a single quote, and every text cell is enclosed in double quotes.

The rule is decided by the cell's type, not its text: numbers (Python and
NumPy ints and floats) are written as numbers, so a legitimate ``-3`` in a
numeric column stays a number; strings are neutralised, so the text ``"-3"``
is written ``"'-3"``. Missing values (None, NaN, pandas NA) are empty cells.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from masip.output_files import write_output

#: First characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """``text`` with a leading single quote if a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def csv_cell(value: Any) -> str:
    """One cell as CSV text: numbers bare, missing values empty, everything else neutralised and quoted."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return _quoted(str(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, (date, datetime)):
        return _quoted(value.isoformat())
    return _quoted(neutralise(str(value)))


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Write a published CSV (UTF-8, ``\\r\\n`` line ends as RFC 4180); see the module docstring."""
    lines = [",".join(_quoted(neutralise(str(name))) for name in header)]
    lines += [",".join(csv_cell(value) for value in row) for row in rows]
    return write_output(path, "\r\n".join(lines) + "\r\n")


def write_frame(path: Path, frame: pd.DataFrame) -> Path:
    """Write a DataFrame (no index) as a published CSV."""
    rows = frame.astype(object).itertuples(index=False, name=None)
    return write_csv(path, [str(c) for c in frame.columns], rows)
