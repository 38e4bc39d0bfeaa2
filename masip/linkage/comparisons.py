"""Splink comparison levels over keyed encodings (no plain value anywhere).

Splink compares the two sides of a candidate pair with SQL over columns
suffixed ``_l`` / ``_r``. Here every such column is a keyed token (equal or
not) or a keyed Bloom filter; similarity of two filters is the Dice
coefficient ``2|a∧b| / (|a|+|b|)``, computed with ``bit_count(a & b)``
against per-record popcounts prepared once.

The warehouse stores a filter as DuckDB ``BIT`` (LINKAGE-BASELINES.md:
``bit_count`` on BIT is ~70× faster than bit-position lists). For scoring,
:func:`bloom_word_columns` splits each filter into 64-bit words
(``<col>_w0`` …, signed ``BIGINT``; DuckDB's ``bit_count`` has no UBIGINT
overload and would cast an unsigned word, very slowly): ``bit_count(a_w &
b_w)`` summed over the words is a fixed-width integer operation with no
allocation, measured 3× faster than ``bit_count`` on a 1024-bit ``BIT``
value (0.39 s against 1.27 s for two million comparisons), which matters
because estimating u probabilities scores millions of random pairs. Tokens
are compared as 64-bit integers for the same reason (:func:`token_ints`).

The same building blocks serve the person linkage of the pipeline
(:mod:`masip.linkage.fuzzy`) and the FEBRL benchmark
(:mod:`masip.bench_linkage`), so the benchmark measures the method the
pipeline runs. Each takes a :class:`Dialect` (DuckDB's by default): on
Spark the same levels are spelled with backquoted identifiers,
``cast(bit_count(a & b) as int)`` and ``size(array_intersect(..))``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

POPCOUNT_SUFFIX = "_n"
WORD_BITS = 64

#: Number of 64-bit words of each Bloom column in the prepared table; set by
#: :func:`declare_bloom` (also called by :func:`bloom_word_columns`) and read
#: when the comparison SQL is generated. Filter sizes are constants of the
#: encodings, so this registry only ever holds the same values.
_WORDS: dict[str, int] = {}


@dataclass(frozen=True)
class Dialect:
    """How the comparison SQL is spelled on one engine (Splink parses a level's SQL in its backend's dialect).

    The levels mean the same on every engine; only three spellings differ:
    identifier quotes, the integer cast of a popcount, and the overlap of
    two integer lists.
    """

    name: str
    quote: str
    integer_cast: str  # "{expr}" cast to a 32-bit integer
    lists_overlap: str  # "{left}" and "{right}" share an element

    def column(self, name: str) -> str:
        """``name`` as a quoted identifier."""
        return f"{self.quote}{name}{self.quote}"

    def sides(self, column: str) -> tuple[str, str]:
        """The left and right record's ``column`` in a candidate pair (Splink's ``_l`` / ``_r`` suffixes)."""
        return self.column(f"{column}_l"), self.column(f"{column}_r")

    def integer(self, expr: str) -> str:
        return self.integer_cast.format(expr=expr)

    def overlap(self, left: str, right: str) -> str:
        return self.lists_overlap.format(left=left, right=right)


#: DuckDB's overlap is ``list_has_any``, which stops at the first shared element: ``len(list_intersect(..)) > 0``
#: built the whole intersection, and the nickname level was half the forename comparison's cost (a national
#: year's sample of a million blocked pairs: 1.9 s against 0.44 s). The two differ only where one list is
#: NULL (NULL against false), which a level's ``case when`` reads alike.
DUCKDB = Dialect("duckdb", '"', "{expr}::integer", "list_has_any({left}, {right})")
SPARK = Dialect("spark", "`", "cast({expr} as int)", "size(array_intersect({left}, {right})) > 0")
DIALECTS: dict[str, Dialect] = {d.name: d for d in (DUCKDB, SPARK)}


def declare_bloom(column: str, bits: int) -> None:
    """Say that Bloom column ``column`` has ``bits`` bits (its SQL reads ``bits/64`` words)."""
    if bits % WORD_BITS:
        raise ValueError("Bloom filter sizes must be multiples of 64 bits")
    _WORDS[column] = bits // WORD_BITS


def _level(sql: str, label: str, **config: Any) -> dict[str, Any]:
    return {"sql_condition": sql, "label_for_charts": label, **config}


def _present(column: str) -> str:
    """The SQL column that is NULL exactly when ``column`` is missing."""
    return f"{column}{POPCOUNT_SUFFIX}" if column in _WORDS else column


def null_level(*columns: str, dialect: Dialect = DUCKDB) -> dict[str, Any]:
    sql = " or ".join("{} is null or {} is null".format(*dialect.sides(_present(c))) for c in columns)
    return _level(sql, "null", is_null_level=True)


def else_level() -> dict[str, Any]:
    return _level("ELSE", "else")


def exact_level(
    column: str, tf: bool = False, label: str | None = None, dialect: Dialect = DUCKDB
) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if tf:
        config["tf_adjustment_column"] = column
        config["tf_adjustment_weight"] = 1.0
    return _level(equal(column, dialect), label or f"{column} equal", **config)


def _words(*columns: str) -> int:
    """The 64-bit words of Bloom ``columns``, which must have been prepared alike."""
    words = {_WORDS.get(column) for column in columns}
    if None in words or len(words) != 1:
        raise ValueError(f"Bloom columns {columns!r} were not prepared with bloom_word_columns")
    return words.pop()


def _shared_bits(words: int, sides: Callable[[int], tuple[str, str]], integer: Callable[[str], str]) -> str:
    """The popcount of ``left & right`` summed over the word pairs ``sides(k)``.

    ``bit_count`` of a BIGINT is a TINYINT in DuckDB; the first term is
    widened to INTEGER by ``integer`` and the sum follows it (one cast instead
    of one per word). Spark's ``bit_count`` is an INT already; the cast costs nothing.
    """
    terms = [f"bit_count({left} & {right})" for left, right in map(sides, range(words))]
    terms[0] = integer(terms[0])
    return "(" + " + ".join(terms) + ")"


def _dice_at_least(shared: str, left_n: str, right_n: str, threshold: float) -> str:
    """Dice >= ``threshold`` without division, 2|a∧b| >= t(|a|+|b|), in integers (t in hundredths)."""
    return f"200 * {shared} >= {round(threshold * 100)} * ({left_n} + {right_n})"


def _contained_at_least(shared: str, left_n: str, right_n: str, share: float) -> str:
    """At least ``share`` of the smaller filter's bits are in the other: |a∧b| >= s·min(|a|, |b|)."""
    return f"100 * {shared} >= {round(share * 100)} * least({left_n}, {right_n})"


def intersection_sql(left: str, right: str, dialect: Dialect = DUCKDB) -> str:
    """|left ∧ right|: bits set in filter ``left`` of the left record and ``right`` of the right one."""
    column = dialect.column
    return _shared_bits(
        _words(left, right), lambda k: (column(f"{left}_w{k}_l"), column(f"{right}_w{k}_r")), dialect.integer
    )


def dice_sql(left: str, right: str, threshold: float, dialect: Dialect = DUCKDB) -> str:
    """Dice(filter ``left`` of the left record, ``right`` of the right one) >= ``threshold``; NULL (a missing
    filter) when either side is missing."""
    n = POPCOUNT_SUFFIX
    left_n, right_n = dialect.column(f"{left}{n}_l"), dialect.column(f"{right}{n}_r")
    return _dice_at_least(intersection_sql(left, right, dialect), left_n, right_n, threshold)


def contained_sql(column: str, share: float, dialect: Dialect = DUCKDB) -> str:
    """One record's filter ``column`` lies in the other's, up to ``1 - share`` of its bits (a double name)."""
    return _contained_at_least(
        intersection_sql(column, column, dialect), *dialect.sides(f"{column}{POPCOUNT_SUFFIX}"), share
    )


def resemblance_sql(column: str, dice: float, containment: float | None = None) -> str:
    """For a blocking rule: the filters ``column`` of records ``l`` and ``r`` resemble, Dice >= ``dice`` (or,
    given ``containment``, :func:`contained_sql`); NULL when one is missing.

    Blocking rules are not rendered per engine (:func:`masip.linkage.fuzzy.in_dialect` renders the
    comparisons), so this is spelled the same for DuckDB and Spark: unquoted ``l.``/``r.`` columns and a
    standard cast. The conditions are those of the comparison levels (:func:`dice_sql`, :func:`contained_sql`).
    """
    shared = _shared_bits(
        _words(column), lambda k: (f"l.{column}_w{k}", f"r.{column}_w{k}"), lambda term: f"cast({term} as integer)"
    )
    left_n, right_n = (f"{side}.{column}{POPCOUNT_SUFFIX}" for side in ("l", "r"))
    sql = _dice_at_least(shared, left_n, right_n, dice)
    if containment is not None:
        sql += f" or {_contained_at_least(shared, left_n, right_n, containment)}"
    return f"({sql})"


def dice_level(column: str, threshold: float, dialect: Dialect = DUCKDB) -> dict[str, Any]:
    """Dice(``column``) >= threshold (missing filters: false)."""
    return _level(dice_sql(column, column, threshold, dialect), f"dice({column}) >= {threshold}")


def list_overlap_level(column: str, label: str, dialect: Dialect = DUCKDB) -> dict[str, Any]:
    return _level(dialect.overlap(*dialect.sides(column)), label)


#: DuckDB's earlier spelling of the overlap of two lists, as models stored before it changed hold it.
_EARLIER_DUCKDB_OVERLAP = re.compile(r'len\(list_intersect\(("[^"]+"), ("[^"]+")\)\) > 0')


def current_spelling(sql: str) -> str:
    """A DuckDB level's SQL as this version renders it: a stored model's earlier spellings replaced by
    their equivalents (:data:`DUCKDB`), so that a model stored before the change scores as fast and can
    still be moved to another engine's dialect (:func:`masip.linkage.fuzzy.in_dialect`)."""
    return _EARLIER_DUCKDB_OVERLAP.sub(lambda m: DUCKDB.overlap(m.group(1), m.group(2)), sql)


def comparison(name: str, levels: Sequence[dict[str, Any]], description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"output_column_name": name, "comparison_levels": list(levels)}
    if description:
        out["comparison_description"] = description
    return out


def text_comparison(
    name: str, token: str, bloom: str, thresholds: Sequence[float] = (0.8, 0.6), tf: bool = False,
    dialect: Dialect = DUCKDB,
) -> dict[str, Any]:
    """A free-text field: null / exact token / Dice >= each threshold / else."""
    levels = [null_level(bloom, dialect=dialect), exact_level(token, tf=tf, dialect=dialect)]
    levels += [dice_level(bloom, t, dialect) for t in thresholds]
    levels.append(else_level())
    return comparison(name, levels)


@dataclass(frozen=True)
class SaltedView:
    """One salted Bloom filter of a field, and when two records' salts are known to be equal.

    Filters of one view made with different salts have unrelated bits (Dice
    about 0.1). The salts themselves are never stored, but what the linkage
    can see often implies them: ``equal_salts`` is SQL over a candidate pair
    that holds when both records certainly share this view's salt (e.g. the
    same birth year for a view salted with year and month, which then only
    differs when the month does), ``None`` when nothing can tell.
    A view is *comparable* when both filters are present and
    ``equal_salts`` does not rule it out; a pair none of whose views is
    comparable carries no evidence about the name (the null level), rather
    than the strong evidence against that unrelated bits would give.
    """

    bloom: str
    equal_salts: str | None = None
    dialect: Dialect = DUCKDB

    def usable(self) -> str:
        """Both filters present (and ``equal_salts`` holds)."""
        sql = "{} is not null and {} is not null".format(*self.dialect.sides(f"{self.bloom}{POPCOUNT_SUFFIX}"))
        return f"{sql} and coalesce({self.equal_salts}, false)" if self.equal_salts else sql


def equal(column: str, dialect: Dialect = DUCKDB) -> str:
    """SQL: ``column`` present and equal on both sides of a pair."""
    return "{} = {}".format(*dialect.sides(column))


def name_views(
    field: str, year: str, unordered: str, postcode: str, partner: str | None = None, dialect: Dialect = DUCKDB
) -> list[SaltedView]:
    """The salted views of a name field (``pseudonymisation.encodings.NAME_VIEWS`` and the partner view).

    Year+month and year+day views need the same birth year ``year``, the
    whole-date view the same unordered date token ``unordered``, the postcode
    view the same postcode token ``postcode``, the partner view the same
    partner-salt token ``partner``.
    """
    salted = {"ym": year, "yd": year, "u": unordered, "pc": postcode}
    views = [SaltedView(f"{field}_bloom_{view}", equal(salt, dialect), dialect) for view, salt in salted.items()]
    return [*views, SaltedView(f"{field}_partner_bloom", equal(partner, dialect), dialect)] if partner else views


def _dialect_of(views: Sequence[SaltedView]) -> Dialect:
    """The one dialect ``views`` are written in."""
    dialects = {v.dialect for v in views}
    if len(dialects) != 1:
        raise ValueError(f"salted views of {len(dialects)} SQL dialects in one comparison")
    return dialects.pop()


def any_view(views: Sequence[SaltedView], sql_of: Any) -> str:
    """``sql_of(view)`` holds for some usable view of the pair."""
    return "(" + " or ".join(f"({v.usable()} and {sql_of(v)})" for v in views) + ")"


def any_view_dice(views: Sequence[SaltedView], threshold: float) -> str:
    return any_view(views, lambda v: dice_sql(v.bloom, v.bloom, threshold, v.dialect))


def name_comparison(
    name: str, token: str, views: Sequence[SaltedView], variants: str | None = None,
    thresholds: Sequence[float] = (0.8, 0.6), tf: bool = False, containment: float | None = None,
    differs_when: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """A name field with nickname and typo levels, over salted filters (in the ``views``' dialect).

    null (no view comparable) / exact (salted token, term-frequency adjusted
    if ``tf``, which a token salted with the date of birth must not be: its
    frequency is that of the name and the date; Splink needs a plain equality
    here; without ``tf``, also identical filters in a usable view where a
    side has no token — a record without a date of birth, whose identical
    name otherwise fell to "Dice >= 0.8", the level of typos, which weighed
    against a match) / nickname groups intersect / Dice >= first threshold / [part of a double name] / Dice >=
    the other thresholds / [different, where ``differs_when`` = (SQL, label)
    holds] / else; a Dice level holds when it holds in any usable view
    (views with different salts score like strangers). Swapped forename and surname are a
    separate comparison (:func:`swap_comparison`): as a level here it would
    be rare enough that estimating its u probability needs every sampled
    pair, and each of those would pay for two more Dice computations.
    """
    dialect = _dialect_of(views)
    usable = " or ".join(f"({v.usable()})" for v in views)
    levels: list[dict[str, Any]] = [_level(f"not ({usable})", "null", is_null_level=True)]
    exact = exact_level(token, tf=tf, dialect=dialect)
    if not tf:  # a name-only record has no token (it is keyed with the date of birth): identical filters are exact
        missing = "({} is null or {} is null)".format(*dialect.sides(token))
        exact["sql_condition"] = f"{exact['sql_condition']} or ({missing} and {any_view_dice(views, 1.0)})"
    levels.append(exact)
    if variants:
        levels.append(list_overlap_level(variants, "nickname", dialect))

    def dice_at(t: float) -> dict[str, Any]:
        return _level(any_view_dice(views, t), f"dice({name}) >= {t}")

    levels += [dice_at(t) for t in thresholds[:1]]
    if containment is not None:
        contained = any_view(views, lambda v: contained_sql(v.bloom, containment, v.dialect))
        levels.append(_level(contained, f"containment({name}) >= {containment}"))
    levels += [dice_at(t) for t in thresholds[1:]]
    if differs_when is not None:  # a disagreement that is common among matches in one group only
        levels.append(_level(*differs_when))
    levels.append(else_level())
    return comparison(name, levels)


def swap_comparison(
    name: str, pair: str, first: Sequence[SaltedView], second: Sequence[SaltedView], threshold: float = 0.6,
) -> dict[str, Any]:
    """Forename and surname swapped: ``pair`` is a token of the *unordered* pair of both names.

    Levels: null (``pair`` missing) / swapped (the unordered pairs are
    equal, yet neither field resembles the same field of the other record
    in any of its views ``first``, ``second``: Dice below ``threshold``) /
    else. The Dice part is only evaluated for pairs with equal ``pair``
    tokens, so it costs next to nothing on random pairs.
    """
    dialect = _dialect_of([*first, *second])
    swapped = (
        f"{equal(pair, dialect)} and not coalesce({any_view_dice(first, threshold)}, false) "
        f"and not coalesce({any_view_dice(second, threshold)}, false)"
    )
    levels = [null_level(pair, dialect=dialect), _level(swapped, "forename/surname swapped"), else_level()]
    return comparison(name, levels)


#: The label of the date-of-birth level "the year and one of day and month agree" (read by the training).
DATE_PARTS_LABEL = "year and day or month equal"


def dob_comparison(
    name: str, dob: str, unordered: str, year_month: str, year_day: str, year: str, dialect: Dialect = DUCKDB
) -> dict[str, Any]:
    """Date of birth: exact / day-month swapped / year and one of day, month / year / else.

    ``unordered``: token of the year with the unordered day/month pair;
    ``year_month``, ``year_day``: tokens of those pairs; ``year``: the
    (clear, generalised) birth year.
    """
    levels = [null_level(dob, dialect=dialect), exact_level(dob, label="dob equal", dialect=dialect)]
    levels.append(_level(equal(unordered, dialect), "day/month swapped"))
    two_of_three = f"{equal(year_month, dialect)} or {equal(year_day, dialect)}"
    levels.append(_level(two_of_three, DATE_PARTS_LABEL))
    levels.append(_level(equal(year, dialect), "year equal"))
    levels.append(else_level())
    return comparison(name, levels)


def exact_comparison(name: str, token: str, tf: bool = False, dialect: Dialect = DUCKDB) -> dict[str, Any]:
    levels = [null_level(token, dialect=dialect), exact_level(token, tf=tf, dialect=dialect), else_level()]
    return comparison(name, levels)


# -- input preparation -------------------------------------------------------------------
#
# Vectorised with Arrow and numpy: the warehouse hands over millions of rows,
# and a Python call per value (what ``Series.map`` does) costs seconds per
# column at that size. The input may be object columns (``DuckDB .df()``) or
# Arrow-backed ones (``pd.ArrowDtype``, several times smaller in memory).

_HEX_DIGITS = 16  # a token's first 64 bits
#: Rows converted at a time (slices of the input's chunks, zero-copy): any text these rows hold fits the
#: 32-bit offsets of an Arrow string array, whatever the size of the partnership.
CHUNK_ROWS = 1 << 18


def arrow_chunks(values: pd.Series | pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    """``values`` as Arrow arrays, chunk by chunk as they come (NaN and None are null).

    Kept in chunks because a national partnership's text columns (token lists
    above all) hold more than the 2 GiB one Arrow string array can address:
    every conversion below works on one chunk at a time and only its
    fixed-width result is joined up.
    """
    chunked = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, from_pandas=True)
    chunks = [chunked] if isinstance(chunked, pa.Array) else list(chunked.chunks)
    pieces = [chunk.slice(start, CHUNK_ROWS) for chunk in chunks for start in range(0, len(chunk), CHUNK_ROWS)]
    return pieces or [pa.array([], chunked.type)]


def arrow_array(values: pd.Series | pa.Array | pa.ChunkedArray) -> pa.Array:
    """``values`` as one Arrow array (NaN and None are null); for columns that fit one array."""
    chunks = arrow_chunks(values)
    return chunks[0] if len(chunks) == 1 else pa.concat_arrays(chunks)


def by_chunk(values: pd.Series | pa.Array | pa.ChunkedArray, convert: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """``convert`` applied to each chunk of ``values``, the (fixed-width) results joined into one array."""
    chunks = [convert(chunk) for chunk in arrow_chunks(values)]
    return chunks[0] if len(chunks) == 1 else pa.concat_arrays(chunks)


def column_array(frame: pd.DataFrame, column: str) -> pa.ChunkedArray:
    """``frame[column]`` as Arrow (in its chunks), or all null when the frame has no such column."""
    if column not in frame:
        return pa.chunked_array([pa.nulls(len(frame))])
    values = frame[column]
    chunked = pa.array(values, from_pandas=True)
    return chunked if isinstance(chunked, pa.ChunkedArray) else pa.chunked_array([chunked])


def _lengths(array: pa.Array) -> np.ndarray:
    """Byte length of each value (0 for null)."""
    return pc.fill_null(pc.binary_length(array), 0).to_numpy(zero_copy_only=False)


def _fixed_width_rows(array: pa.Array, width: int) -> np.ndarray:
    """The bytes of the non-null values of ``array`` (each ``width`` long) as an ``(n, width)`` matrix.

    Null values take no bytes, so the data buffer holds the values back to
    back: one reshape, no per-value copy.
    """
    if not pa.types.is_binary(array.type):
        array = array.cast(pa.binary())
    if array.null_count == len(array):
        return np.zeros((0, width), dtype=np.uint8)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32, count=len(array) + 1, offset=array.offset * 4)
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)
    return data[offsets[0] : offsets[-1]].reshape(-1, width)


def _rows_of_width(array: pa.Array, lengths: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers whose value is ``width`` bytes long, and those values as a matrix."""
    rows = np.flatnonzero(lengths == width)
    subset = array if len(rows) == len(array) - array.null_count else array.take(pa.array(rows))
    return rows, _fixed_width_rows(subset, width)


def filter_matrix(values: pd.Series | pa.Array, nbytes: int) -> tuple[np.ndarray, np.ndarray]:
    """Bloom filters as an ``(n, nbytes)`` byte matrix and whether each row has one.

    A ``BLOB`` arrives as ``nbytes`` bytes; a DuckDB ``BIT`` read into pandas
    or Arrow arrives as its internal form, one padding-count byte (0, as the
    filter sizes are whole bytes) followed by the data; a ``BIT`` fetched as
    Python values arrives as a ``'0101…'`` string. Anything else (another
    size, an empty value) is a missing filter.
    """
    parts = [_filter_matrix_of(chunk, nbytes) for chunk in arrow_chunks(values)]
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([m for m, _ in parts]), np.concatenate([p for _, p in parts])


def _filter_matrix_of(array: pa.Array, nbytes: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`filter_matrix` of one Arrow array."""
    matrix = np.zeros((len(array), nbytes), dtype=np.uint8)
    present = np.zeros(len(array), dtype=bool)
    if pa.types.is_null(array.type):
        return matrix, present
    lengths = _lengths(array)
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        rows, bits = _rows_of_width(array.cast(pa.string()), lengths, nbytes * 8)
        matrix[rows] = np.packbits(bits == ord("1"), axis=1)
        present[rows] = True
        return matrix, present
    array = array.cast(pa.binary())
    rows, block = _rows_of_width(array, lengths, nbytes)
    matrix[rows], present[rows] = block, True
    rows, block = _rows_of_width(array, lengths, nbytes + 1)
    padded = block[:, 0] == 0
    matrix[rows[padded]], present[rows[padded]] = block[padded, 1:], True
    return matrix, present


def bloom_word_columns(values: pd.Series | pa.Array, column: str, bits: int) -> dict[str, pa.Array]:
    """``<column>_w0 …`` (64-bit words, most significant first) and ``<column>_n`` (popcount).

    Missing filters give NULL words and a NULL popcount. ``values`` may hold
    ``BLOB`` bytes, DuckDB ``BIT`` values as read into pandas or Arrow, or bit
    strings (:func:`filter_matrix`).
    """
    declare_bloom(column, bits)
    matrix, present = filter_matrix(values, bits // 8)
    missing = ~present
    # signed 64-bit words: DuckDB's bit_count has BIGINT but no UBIGINT overload
    # (a UBIGINT argument would be cast, slowly), and & is the same on either.
    words = matrix.view(">i8").astype(np.int64)
    out = {f"{column}_w{k}": pa.array(words[:, k], mask=missing) for k in range(bits // WORD_BITS)}
    popcount = np.bitwise_count(matrix).sum(axis=1, dtype=np.int32)
    out[f"{column}{POPCOUNT_SUFFIX}"] = pa.array(popcount, mask=missing)
    return out


def token_ints(values: pd.Series | pa.Array) -> pa.Array:
    """Hex tokens as signed 64-bit integers (their first 64 bits); NULL or blank -> NULL; integers as they are.

    Equality of two tokens is what linkage needs; integers compare several
    times faster in DuckDB than 32-character strings. Two different values
    collide with probability 2^-64 per pair, negligible for any partnership
    (about 10^-9 for 200,000 distinct values).
    """
    return by_chunk(values, _token_ints_of)


def _token_ints_of(array: pa.Array) -> pa.Array:
    """:func:`token_ints` of one Arrow array."""
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), pa.int64())
    if pa.types.is_integer(array.type):  # already converted
        return array.cast(pa.int64())
    array = array.cast(pa.string())
    missing = pc.fill_null(pc.equal(array, ""), True)
    digits = _leading_digits(array)
    ints = np.frombuffer(bytes.fromhex(digits.tobytes().decode("ascii")), dtype=">i8").astype(np.int64)
    return pa.array(ints, mask=missing.to_numpy(zero_copy_only=False))


def _leading_digits(array: pa.Array) -> np.ndarray:
    """The first :data:`_HEX_DIGITS` characters of each value, left-padded with ``0`` (null and blank: all
    ``0``), as an ``(n, _HEX_DIGITS)`` byte matrix.

    Tokens as ingest writes them are all one width: their bytes are read straight from the Arrow buffer
    (a national year's nickname lists hold tens of millions); anything else is sliced and padded value by
    value.
    """
    lengths = _lengths(array)
    present = lengths > 0
    width = int(lengths.max(initial=0))
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32, count=len(array) + 1, offset=array.offset * 4)
    # null slots may hold bytes in Arrow: only a buffer holding exactly the present values is read as is
    if width >= _HEX_DIGITS and np.all(lengths[present] == width) and offsets[-1] - offsets[0] == lengths.sum():
        digits = np.full((len(array), _HEX_DIGITS), ord("0"), dtype=np.uint8)
        digits[present] = _fixed_width_rows(array, width)[:, :_HEX_DIGITS]
        return digits
    head = pc.utf8_lpad(pc.utf8_slice_codeunits(array, 0, _HEX_DIGITS), _HEX_DIGITS, "0")
    return _fixed_width_rows(pc.fill_null(head, "0" * _HEX_DIGITS), _HEX_DIGITS)


def token_int_lists(values: pd.Series | pa.Array) -> pa.Array:
    """A column of token lists as sorted lists of signed 64-bit integers (see :func:`token_ints`).

    Sorted so that equal sets of tokens are equal lists, whatever order they
    were written in.
    """
    return by_chunk(values, _token_int_lists_of)


def _token_int_lists_of(array: pa.Array) -> pa.Array:
    """:func:`token_int_lists` of one Arrow array."""
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), pa.list_(pa.int64()))
    if pa.types.is_integer(array.type.value_type):  # already converted
        return array.cast(pa.list_(pa.int64()))
    lengths = pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False)
    flat = token_ints(pc.list_flatten(array)).to_numpy(zero_copy_only=False)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    ordered = _sorted_within_lists(flat, offsets[:-1], lengths)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(ordered), mask=array.is_null())


def _sorted_within_lists(flat: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``flat`` with each list's values sorted (list ``k`` is ``flat[starts[k]:starts[k] + lengths[k]]``).

    The lists of one length are one matrix sorted along its rows, so a national year's nickname lists
    (millions of lists of about 17 tokens) take one sort per distinct length, not a sort of every token.
    """
    sizes = np.unique(lengths[lengths > 0])
    if len(sizes) == 1:  # lists of one length (the padded nickname lists): the values are that matrix's rows
        return np.sort(flat.reshape(-1, sizes[0]), axis=1).ravel()
    ordered = flat.copy()
    for length in np.unique(lengths[lengths > 1]):
        positions = starts[lengths == length][:, None] + np.arange(length)
        ordered[positions] = np.sort(flat[positions], axis=1)
    return ordered


def encoding_columns(
    frame: pd.DataFrame, blooms: dict[str, int], tokens: Sequence[str] = (), token_lists: Sequence[str] = ()
) -> dict[str, pa.Array]:
    """The scoring-table columns of ``frame``'s encodings; a column ``frame`` lacks is all NULL.

    Bloom columns (name -> bits) become words + popcount, tokens integers,
    token lists sorted integer lists.
    """
    out = {c: token_ints(column_array(frame, c)) for c in tokens}
    out |= {c: token_int_lists(column_array(frame, c)) for c in token_lists}
    for column, bits in blooms.items():
        out |= bloom_word_columns(column_array(frame, column), column, bits)
    return out


def prepare_encodings(
    frame: pd.DataFrame, blooms: dict[str, int], tokens: Sequence[str] = (), token_lists: Sequence[str] = ()
) -> pa.Table:
    """The table Splink scores: ``frame``'s other columns as they are, then :func:`encoding_columns`."""
    encoded = set(blooms) | set(tokens) | set(token_lists)
    table = pa.Table.from_pandas(frame[[c for c in frame.columns if c not in encoded]], preserve_index=False)
    for name, column in encoding_columns(frame, blooms, tokens, token_lists).items():
        table = table.append_column(name, column)
    return table
