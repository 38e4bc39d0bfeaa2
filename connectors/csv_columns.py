"""A verified CSV file's text as whole columns of strings, read in bulk by Arrow's CSV reader.

Arrow reads a file at the speed of the disk, but it does not read every file
exactly as Python's ``csv`` module (the reference the drop was verified and
counted with, :func:`connectors.manifest.csv_rows`) does: a blank line is a
row of empty cells to Arrow and a row of no fields to Python; a quote that
does not open a field, or text after a closing quote, is read differently;
and with a line break inside a quoted cell, row ``k`` is no longer line
``k + 2``. So a file is read in bulk only when none of these can happen:

- no NUL byte;
- every ``"`` belongs to a well-formed quoted cell (opening at the start of a
  cell, closing right before a comma or a line end) with no line break inside;
- no blank line;
- Arrow finds exactly the rows the manifest declares, each as wide as the header.

Any other file (hostile or oddly exported: stray quotes, quoted line breaks,
blank lines, rows of the wrong width) is read by the ``csv`` module instead,
row by row but into the same columns, so the rules that follow are the same.
Lone CR, CRLF and LF line endings are all read in bulk. The first three
conditions are :func:`connectors.manifest.plain_csv`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from connectors.manifest import DropRejected, csv_rows, describe_csv_error, plain_csv


@dataclass
class CsvColumns:
    """The data rows of one file: the rows as wide as the header as columns, the others by position.

    ``positions`` (0-based data row index) and ``lines`` (line number in the
    file, header = 1) describe the rows of ``columns``; ``misfits`` holds
    ``(position, line, fields)`` of every row of another width.
    """

    header: list[str] | None
    columns: list[pa.Array] = field(default_factory=list)
    positions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    misfits: list[tuple[int, int, int]] = field(default_factory=list)
    bulk: bool = True  # read by Arrow (False: by the csv module)


def header_row(text: str, file_name: str) -> list[str] | None:
    """The file's header row (``None`` for an empty file), read alone."""
    return _header(text, file_name)[0]


def _header(text: str, file_name: str) -> tuple[list[str] | None, int]:
    """The header row and the line after it."""
    rows = csv_rows(text)
    try:
        return next(rows), rows.line_num + 1
    except StopIteration:
        return None, 1
    except csv.Error as error:
        raise _unreadable(file_name, rows.line_num, error) from None


def _unreadable(file_name: str, line: int, error: csv.Error) -> DropRejected:
    return DropRejected(
        f"{file_name}: line {line} cannot be read as CSV ({describe_csv_error(error)}); ask the sender to re-export the file"
    )


def _read_bulk(text: str, width: int, rows: int) -> list[pa.Array] | None:
    """The data rows as ``width`` string columns, or ``None`` when Arrow does not find exactly ``rows`` of them."""
    names = [f"c{i}" for i in range(width)]
    try:
        table = pacsv.read_csv(
            pa.py_buffer(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, use_threads=False, block_size=1 << 22),
            parse_options=pacsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=False, quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException):
        return None
    if table.num_rows != rows:
        return None
    return [column.combine_chunks() if column.num_chunks != 1 else column.chunk(0) for column in table.columns]


def _read_rows(text: str, file_name: str, width: int) -> CsvColumns:
    """The exact path: the csv module, row by row, into the same columns."""
    reader = csv_rows(text)
    fitting: list[list[str]] = []
    positions: list[int] = []
    lines: list[int] = []
    misfits: list[tuple[int, int, int]] = []
    try:
        header = next(reader)
        line = reader.line_num + 1
        for position, row in enumerate(reader):
            if len(row) == width:
                fitting.append(row)
                positions.append(position)
                lines.append(line)
            else:
                misfits.append((position, line, len(row)))
            line = reader.line_num + 1
    except csv.Error as error:
        raise _unreadable(file_name, reader.line_num, error) from None
    columns = [pa.array(values, type=pa.string()) for values in zip(*fitting)] if fitting else [
        pa.array([], type=pa.string()) for _ in range(width)
    ]
    return CsvColumns(header, columns, np.array(positions, dtype=np.int64), np.array(lines, dtype=np.int64), misfits, False)


def read_columns(text: str, file_name: str, rows: int) -> CsvColumns:
    """Every data row of ``text`` (``rows`` of them, as the manifest declares) as columns; see the module docstring."""
    header, first_line = _header(text, file_name)
    if header is None:
        return CsvColumns(None)
    width = len(header)
    if width and rows and first_line == 2 and plain_csv(text):
        columns = _read_bulk(text, width, rows)
        if columns is not None:
            positions = np.arange(rows, dtype=np.int64)
            return CsvColumns(header, columns, positions, positions + 2)
    return _read_rows(text, file_name, width)
