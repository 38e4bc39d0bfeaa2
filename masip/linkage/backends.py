"""Where the person model's Splink runs: an in-process DuckDB database (the default) or Spark.

:class:`masip.linkage.scorer.Scorer` keeps the prepared records in a backend
and asks it for very little: tables from Arrow and from a ``select``, rows
back as pandas, each record's fingerprint, and Splink's database API. The
SQL the scorer sends means the same on both engines; the comparison levels
are rendered in the backend's :attr:`dialect`
(:class:`masip.linkage.comparisons.Dialect`). The Spark backend is
:class:`masip.spark.linkage.SparkBackend`.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from connectors.settings import SettingError
from masip.linkage import comparisons as C

#: DuckDB's memory cap for the linkage's own database; dbt's connection uses the same variable (profiles.yml)
MEMORY_ENV = "MASIP_DUCKDB_MEMORY"
DEFAULT_MEMORY = "2GB"


#: The scorer's own cap: its table of a national year's prepared records takes 2.7 GB, and under a smaller
#: cap part of it lives in DuckDB's spill files, read back from disk by every pass over the records
LINKAGE_MEMORY_ENV = "MASIP_LINKAGE_MEMORY"
DEFAULT_LINKAGE_MEMORY = "3GB"
#: The scorer's cap while it scores the candidate pairs of all records (:meth:`ScoringBackend.scoring_every_pair`):
#: the pass that needs DuckDB's memory most comes when the process holds least (the filters live in the scorer
#: alone by then). A national year's pass runs whole under 5 GB in 86 s, against 130 s in four chunks under
#: 3 GB, the process peaking at 6.8 GiB (2026-12-07)
SCORING_MEMORY_ENV = "MASIP_LINKAGE_SCORING_MEMORY"
DEFAULT_SCORING_MEMORY = "5GB"


#: The smallest memory cap a setting may give: below it DuckDB cannot hold a query's working set, and the run
#: stopped half-way with an unexpected out-of-memory error (outside check, 2026-12-07: 0GB, 1KB, 10MB)
MINIMUM_MEMORY_MB = 100
#: The units DuckDB says a memory limit in, in MB (DuckDB says it to one decimal: 100MB is "95.3 MiB").
_MB_PER_UNIT = {"bytes": 1e-6, "KiB": 1.024e-3, "MiB": 1.048576, "GiB": 1073.741824, "TiB": 1.099511627776e6,
                "PiB": 1.125899906842624e9}


def memory_capped(variable: str = MEMORY_ENV, default: str = DEFAULT_MEMORY) -> dict[str, str]:
    """DuckDB connection settings with the memory cap that environment ``variable`` sets (by default the
    warehouse's and the linkage's reading connections', :data:`MEMORY_ENV`); a cap DuckDB cannot read, a negative
    one (DuckDB would read it as no cap) or one under :data:`MINIMUM_MEMORY_MB` raises
    :class:`connectors.settings.SettingError`."""
    cap = os.environ.get(variable, "").strip() or default
    try:
        with duckdb.connect(config={"memory_limit": cap}) as con:
            number, unit = con.execute("select current_setting('memory_limit')").fetchone()[0].split()
        megabytes = float(number) * _MB_PER_UNIT[unit]
    except (duckdb.Error, KeyError, ValueError):  # a cap too small for the query itself is an error too
        megabytes = None
    if megabytes is None or cap.startswith("-") or megabytes < MINIMUM_MEMORY_MB * 0.999:
        raise SettingError(
            f"{variable} must be a memory size DuckDB reads, of at least {MINIMUM_MEMORY_MB}MB, such as {default} "
            f"or 500MB; set one, or unset it for the default ({default}), and re-run"
        )
    return {"memory_limit": cap}


class ScoringBackend(Protocol):
    """The database a :class:`masip.linkage.scorer.Scorer` scores in."""

    dialect: C.Dialect

    def register(self, name: str, table: pa.Table | pa.RecordBatchReader) -> None:
        """``table`` readable as ``name`` until :meth:`unregister` (a view where the engine allows one; a reader
        is read once, by the next statement that reads ``name``)."""

    def unregister(self, name: str) -> None: ...

    def create(self, name: str, select: str) -> None:
        """Table ``name`` holding the rows of ``select``."""

    def view(self, name: str, select: str, owned: tuple[str, ...] = ()) -> None:
        """``select`` readable as ``name``, run where it is read; :meth:`drop` drops the tables ``owned`` with it
        (the tables only it reads)."""

    def drop(self, name: str) -> None:
        """Drop table or view ``name`` (a view with the tables it owns)."""

    def frame(self, select: str) -> pd.DataFrame:
        """The rows of ``select`` as pandas (numpy dtypes, as DuckDB's ``.df()``)."""

    def fingerprints(self, table: str, exclude: tuple[str, ...] = ()) -> np.ndarray:
        """:func:`record_hashes` of ``table``'s rows, in ``uid`` order, without the columns ``exclude``."""

    def splink_api(self) -> Any:
        """Splink's database API over this database."""

    def scoring_every_pair(self) -> AbstractContextManager[None]:
        """The block in which the candidate pairs of all records are scored: DuckDB may take
        :data:`SCORING_MEMORY_ENV` in it (Spark: the session's own limits)."""

    def close(self) -> None: ...


def record_hashes(con: duckdb.DuckDBPyConnection, table: str, exclude: tuple[str, ...] = ()) -> np.ndarray:
    """A 64-bit DuckDB hash of each row of ``table`` but its ``uid`` (and the columns ``exclude``), in ``uid`` order.

    Computed by DuckDB on either backend (the Spark backend hands its table
    over as Arrow), so a record's fingerprint does not depend on the engine
    that scored it.
    """
    hashes = con.execute(
        f"select hash(*columns(* exclude ({', '.join(('uid', *exclude))}))) from {table} order by uid"
    ).fetchnumpy()
    return next(iter(hashes.values())).astype(np.uint64).view(np.int64)


#: The common table expressions of Splink's queries that only select columns of the input records (no term
#: frequencies: the person model has none; with them the second joins its tables, which then run per reference)
SPLINK_INPUT_CTES = ("__splink__df_concat", "__splink__df_concat_with_tf")


#: The most reads of an input CTE that are inlined (:func:`inlined_input_ctes`): a pair's two sides.
INLINED_READS = 2


def inlined_input_ctes(sql: str) -> str:
    """``sql`` with each of :data:`SPLINK_INPUT_CTES` that it reads at most :data:`INLINED_READS` times read where
    it is used (``not materialized``).

    DuckDB materialises a CTE read more than once, and scoring reads the input records twice (either side of a
    pair): a national year's scoring pass copied all 2.5 million prepared records, filters included, into its
    working memory before the joins, and spilled to disk under its 5 GB cap. Read in place, the same pass
    spills less (20 million pairs: 45.8 s → 40.8 s, the same scores). Blocking reads them twice per rule, 30
    times: materialised once, they are computed once. Only DuckDB's spelling: Spark has its own API.
    """
    for name in SPLINK_INPUT_CTES:
        if len(re.findall(rf"\b(?:from|join)\s+{name}\b", sql)) <= INLINED_READS:
            sql = re.sub(rf"(?m)^{name} as \(", f"{name} as not materialized (", sql)
    return sql


def records_read_in_place(con: duckdb.DuckDBPyConnection) -> Any:
    """Splink's database API over ``con``, every query's input CTEs inlined (:func:`inlined_input_ctes`)."""
    from splink import DuckDBAPI

    class InlinedInputAPI(DuckDBAPI):
        def _execute_sql_against_backend(self, final_sql: str) -> duckdb.DuckDBPyRelation:
            return super()._execute_sql_against_backend(inlined_input_ctes(final_sql))

    return InlinedInputAPI(con)


def spill_folder(under: Path | None = None) -> str:
    """A new private folder for DuckDB to spill to: ``under`` the linkage vault, spilled encodings stay in it."""
    return tempfile.mkdtemp(prefix="masip-linkage-", dir=under if under is not None and under.is_dir() else None)


class DuckDBBackend:
    """An in-memory DuckDB database with the scorer's memory cap (:data:`LINKAGE_MEMORY_ENV`).

    Past the cap DuckDB spills to a private temporary folder (:func:`spill_folder`, in ``spill_under`` when
    given: the linkage stage gives the vault), removed on :meth:`close`, instead of growing the process.
    """

    dialect = C.DUCKDB

    def __init__(self, spill_under: Path | None = None) -> None:
        self._spill = spill_folder(spill_under)
        self._cap = memory_capped(LINKAGE_MEMORY_ENV, DEFAULT_LINKAGE_MEMORY)
        self._scoring_cap = memory_capped(SCORING_MEMORY_ENV, DEFAULT_SCORING_MEMORY)
        self.con = duckdb.connect(config={**self._cap, "temp_directory": self._spill})
        self._views: dict[str, tuple[str, ...]] = {}  # view -> the tables it owns
        # Splink runs many queries; DuckDB's progress bar would print each into the logs
        self.con.execute("set enable_progress_bar = false")

    def register(self, name: str, table: pa.Table | pa.RecordBatchReader) -> None:
        self.con.register(name, table)

    def unregister(self, name: str) -> None:
        self.con.unregister(name)

    def create(self, name: str, select: str) -> None:
        self.con.execute(f"create table {name} as {select}")

    def view(self, name: str, select: str, owned: tuple[str, ...] = ()) -> None:
        self.con.execute(f"create view {name} as {select}")
        self._views[name] = owned

    def drop(self, name: str) -> None:
        if name not in self._views:
            self.con.execute(f"drop table {name}")
            return
        self.con.execute(f"drop view {name}")
        for table in self._views.pop(name):
            self.con.execute(f"drop table {table}")

    def frame(self, select: str) -> pd.DataFrame:
        return self.con.execute(select).df()

    def fingerprints(self, table: str, exclude: tuple[str, ...] = ()) -> np.ndarray:
        return record_hashes(self.con, table, exclude)

    def splink_api(self) -> Any:
        return records_read_in_place(self.con)

    @contextmanager
    def scoring_every_pair(self) -> Iterator[None]:
        # back under the usual cap after it: DuckDB then gives back what the pass took (clustering, the dyad pass
        # and the review queue follow while the process holds far more)
        self.con.execute("set memory_limit = ?", [self._scoring_cap["memory_limit"]])
        try:
            yield
        finally:
            self.con.execute("set memory_limit = ?", [self._cap["memory_limit"]])

    def close(self) -> None:
        self.con.close()
        shutil.rmtree(self._spill, ignore_errors=True)
