"""Clerical review decisions in the vault's ``review.duckdb``, keyed by record roles.

A decision says whether two record roles are the same person. It is keyed by
the two roles' agency references (``source_id, source_table, record_ref,
role``: what the agencies themselves hold), never by ``person_id``, which a
later run may change. The two roles are stored in member-key order (``_a`` <
``_b``), so a pair has one key whichever way round it was decided; the
latest decision on a pair wins, and earlier ones stay as its history.

The file is not part of a build (:mod:`connectors.vault`): ``masip review
import`` appends to it, every linkage run reads it (keyless), and a
discarded build, a retrain (``--full-refresh``) or an incremental week
leaves it as it is; key rotation copies it into the rebuilt vault
(:mod:`masip.rotation`), since agency references do not depend on the key.
Reasons are free text typed by reviewers: they stay in the vault, and no
output of the pipeline shows them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import pandas as pd

from connectors.vault import Vault
from masip.linkage.deterministic import KEY_COLUMNS

TABLE = "review_decisions"
SIDES = ("a", "b")
ROLE_COLUMNS: tuple[str, ...] = tuple(f"{c}_{side}" for side in SIDES for c in KEY_COLUMNS)
DECISION_COLUMNS: tuple[tuple[str, str], ...] = (
    *((c, "varchar") for c in ROLE_COLUMNS),
    ("same_person", "boolean"),
    ("reviewer", "varchar"),
    ("decided_at", "timestamptz"),
    ("reason", "varchar"),
    ("imported_at", "timestamptz"),
)


def member_key(source_id: str, source_table: str, record_ref: str, role: str) -> str:
    """The identity of a record role, as the linkage spells it (``source_id|source_table|record_ref|role``)."""
    return f"{source_id}|{source_table}|{record_ref}|{role}"


@dataclass(frozen=True)
class Decisions:
    """The decisions in force: one per pair of member keys (``key_a < key_b``), latest first won."""

    frame: pd.DataFrame  # key_a, key_b, same_person
    #: Every decision row the vault held when read, earlier ones on a pair included: the file only grows
    #: (an import appends), so a build that applied a different number has not applied the latest import.
    recorded: int = 0

    @classmethod
    def none(cls) -> Decisions:
        return cls(pd.DataFrame({"key_a": pd.Series([], dtype=object), "key_b": pd.Series([], dtype=object),
                                 "same_person": pd.Series([], dtype=bool)}))

    def __len__(self) -> int:
        return len(self.frame)


def ordered(decisions: pd.DataFrame) -> pd.DataFrame:
    """``decisions`` with each pair's two roles in member-key order (``_a`` before ``_b``)."""
    key_a = decisions[[f"{c}_a" for c in KEY_COLUMNS]].astype(str).agg("|".join, axis=1)
    key_b = decisions[[f"{c}_b" for c in KEY_COLUMNS]].astype(str).agg("|".join, axis=1)
    swap = (key_a > key_b).to_numpy()
    out = decisions.copy()
    for c in KEY_COLUMNS:
        out.loc[swap, f"{c}_a"] = decisions.loc[swap, f"{c}_b"].to_numpy()
        out.loc[swap, f"{c}_b"] = decisions.loc[swap, f"{c}_a"].to_numpy()
    return out


def record_decisions(vault: Vault, decisions: pd.DataFrame) -> pd.DataFrame:
    """Append ``decisions`` (the columns of :data:`DECISION_COLUMNS` but ``imported_at``) in one transaction, but
    for those recorded already (every column the same); returns the decisions appended."""
    columns = [c for c, _ in DECISION_COLUMNS if c != "imported_at"]
    frame = ordered(decisions)[columns]
    vault.create()
    with duckdb.connect(str(vault.decisions_path)) as con:
        body = ", ".join(f"{name} {sql_type}" for name, sql_type in DECISION_COLUMNS)
        con.execute(f"create table if not exists {TABLE} ({body})")
        con.register("decisions_frame", frame)
        listed = ", ".join(columns)
        try:
            con.execute("begin transaction")
            con.execute(f"create temp table new_decisions as select * from decisions_frame except "
                        f"select {listed} from {TABLE}")
            con.execute(f"insert into {TABLE} by name select *, now() as imported_at from new_decisions")
            new = con.execute(f"select {listed} from new_decisions").df()
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
        finally:
            con.unregister("decisions_frame")
    vault.protect()
    return new


def _latest_sql() -> str:
    key_a = " || '|' || ".join(f"{c}_a" for c in KEY_COLUMNS)
    key_b = " || '|' || ".join(f"{c}_b" for c in KEY_COLUMNS)
    return (
        f"select {key_a} as key_a, {key_b} as key_b, same_person from {TABLE} "
        f"qualify row_number() over (partition by {key_a}, {key_b} order by decided_at desc, imported_at desc) = 1 "
        "order by key_a, key_b"
    )


@contextmanager
def _decisions_table(vault: Vault) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """The vault's decisions file opened read-only, or None when no decision was ever imported."""
    if not vault.decisions_path.is_file():
        yield None
        return
    with duckdb.connect(str(vault.decisions_path), read_only=True) as con:
        exists = con.execute(
            "select count(*) from information_schema.tables where table_name = ?", [TABLE]
        ).fetchone()[0]
        yield con if exists else None


def recorded_decisions(vault: Vault) -> int:
    """How many decision rows the vault holds (earlier decisions on a pair included; 0 when none was imported)."""
    with _decisions_table(vault) as con:
        return 0 if con is None else int(con.execute(f"select count(*) from {TABLE}").fetchone()[0])


def load_decisions(vault: Vault) -> Decisions:
    """The decisions in force (the latest per pair of roles); none when nothing was ever imported."""
    with _decisions_table(vault) as con:
        if con is None:
            return Decisions.none()
        frame = con.execute(_latest_sql()).df()
        recorded = con.execute(f"select count(*) from {TABLE}").fetchone()[0]
    frame["same_person"] = frame["same_person"].astype(bool)
    return Decisions(frame, recorded=int(recorded))
