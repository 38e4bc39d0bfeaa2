"""The linkage state in the vault's ``linkage.duckdb``, published (or discarded) with the build.

The linkage stage (:mod:`masip.linkage.stage`) reads the published build's
:class:`LinkageState` from schema ``linkage_state`` of the vault's state file,
links incrementally from it, and writes the new state to the state
*candidate*, which :func:`masip.pipeline.publish_stage` publishes together
with the warehouse candidate. Each state carries the ``build_id`` of the
links made from it, also written into the warehouse (``linkage.link_run``),
so a state and a warehouse that do not belong together (a crash between the
two renames of a publication) are recognised and the model is retrained. Each
state also carries a digest of the linkage code that made it
(:func:`linkage_code_fingerprint`): its pair scores, fingerprints and
clustering decisions are what that code made of the records, so a release that
changes the linkage code retrains instead of reusing them.
Every stored value is a keyed token, a record key, a fingerprint or a score:
no plain identifier, and nothing the analyst warehouse may hold.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from masip.code_digest import files_digest
from masip.linkage.review import typed_fields
from masip.linkage.state import PAIR_COLUMNS, RECORD_COLUMNS, LinkageState

SCHEMA = "linkage_state"
_PACKAGE = Path(__file__).resolve().parent


def linkage_code_files() -> list[Path]:
    """The linkage code's files (this package's modules), sorted."""
    return sorted(_PACKAGE.glob("*.py"))


def linkage_code_fingerprint() -> str:
    """A digest of the linkage code (:func:`masip.code_digest.files_digest`), stored with each state."""
    return files_digest(linkage_code_files(), _PACKAGE.parents[1])


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = ?", [SCHEMA]
    ).fetchall()
    return {name for (name,) in rows}


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?", [SCHEMA, table]
    ).fetchall()
    return {name for (name,) in rows}


def stored_build_id(con: duckdb.DuckDBPyConnection) -> str | None:
    """The build whose links the stored state made, or ``None`` when there is no state."""
    if "build" not in _tables(con):
        return None
    [(build_id,)] = con.execute(f"select build_id from {SCHEMA}.build").fetchall()
    return build_id


def stored_linkage_code(con: duckdb.DuckDBPyConnection) -> str | None:
    """:func:`linkage_code_fingerprint` of the code that made the stored state (``None``: no state, or one stored
    before the digest was kept)."""
    if "linkage_code" not in _columns(con, "build"):
        return None
    [(code,)] = con.execute(f"select linkage_code from {SCHEMA}.build").fetchall()
    return code


def load_state(con: duckdb.DuckDBPyConnection) -> LinkageState | None:
    """The state the previous build stored, or ``None`` when there is none (a first build)."""
    tables = _tables(con)
    if "model" not in tables:
        return None
    # fetchall: an unfinished result would block the next query on this connection (DuckDB 2)
    [(model, columns)] = con.execute(f"select model_json, term_frequency_columns from {SCHEMA}.model").fetchall()
    frequencies = {column: con.execute(f"select * from {SCHEMA}.tf_{column}").df() for column in columns}
    if not {"records", "pairs"} <= tables or PAIR_COLUMNS[-1] not in _columns(con, "pairs"):
        # the frozen model alone: every pair is scored again (also once for a state stored before its pairs
        # kept whether their forenames differ)
        return LinkageState(model, frequencies)
    # pairs number records by their row in the state, so rows come back in the order they were stored
    # a state stored before the clustering was kept (no cluster columns): every component is clustered again, once
    kept = _columns(con, "records")
    columns = ", ".join(c if c in kept else f"{0 if c == 'cluster_signature' else -1}::bigint as {c}" for c in RECORD_COLUMNS)
    records = con.sql(f"select {columns} from {SCHEMA}.records order by position").to_arrow_table()
    pairs = con.execute(f"select * from {SCHEMA}.pairs").df()
    # a state stored before the queue's fields were kept: they are all scored again, once
    fields = con.execute(f"select * from {SCHEMA}.review_fields").df() if "review_fields" in tables else None
    stored = pd.DataFrame(
        {
            "member_key": pd.arrays.ArrowExtensionArray(records["member_key"]),
            **{c: records[c].to_numpy().astype(np.int64) for c in RECORD_COLUMNS[1:]},
        }
    )
    return LinkageState(model, frequencies, stored, pairs, *([] if fields is None else [fields]))


def store_state(con: duckdb.DuckDBPyConnection, state: LinkageState, build_id: str) -> None:
    """Replace the stored state with ``state``, the state of the links of build ``build_id``."""
    con.execute(f"drop schema if exists {SCHEMA} cascade")
    con.execute(f"create schema {SCHEMA}")
    con.execute(f"create table {SCHEMA}.build as select ? as build_id, ? as linkage_code",
                [build_id, linkage_code_fingerprint()])
    if state.model is None:
        return
    columns = sorted(state.term_frequencies)
    con.execute(f"create table {SCHEMA}.model as select ? as model_json, ?::varchar[] as term_frequency_columns",
                [state.model, columns])
    frames = {"records": state.records.assign(position=np.arange(len(state.records))), "pairs": state.pairs,
              "review_fields": typed_fields(state.review_fields)}
    frames.update({f"tf_{column}": state.term_frequencies[column] for column in columns})
    for name, frame in frames.items():
        con.register("state_frame", frame)
        try:
            con.execute(f"create table {SCHEMA}.{name} as select * from state_frame")
        finally:
            con.unregister("state_frame")
