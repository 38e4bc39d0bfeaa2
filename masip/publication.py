"""What the published warehouse was built from: the drops loaded up to its last publication.

Every publication records, in the published warehouse's ``ops.published_builds``,
the highest ``load_seq`` of the drops its marts were built from (drops are
numbered in load order, see ``ops.loaded_drops``). Ingest keeps loading raw
rows into the published warehouse between builds, so

* a drop numbered above that mark is *new*: no published mart reflects it yet;
* a build with no new drop, and no clerical review decision imported since the published
  build's linkage read the vault's decisions (``linkage.link_run``), would rebuild the same
  marts (a no-op build, see :mod:`masip.orchestration.coalesce`);
* the data-quality gate validates the staging rows of the new drops only
  (:mod:`masip.quality`).

A warehouse never published (or from before this table) has no mark: every
drop is new and everything is validated.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:
    from connectors.vault import Vault

PUBLISHED_BUILDS = "ops.published_builds"


def latest_load_seq(con: duckdb.DuckDBPyConnection) -> int:
    """The highest ``load_seq`` of the loaded drops (0 when none; unnumbered drops of old warehouses count as 0)."""
    return int(con.execute("select coalesce(max(coalesce(load_seq, 0)), 0) from ops.loaded_drops").fetchone()[0])


def published_through(con: duckdb.DuckDBPyConnection) -> int | None:
    """The ``load_seq`` mark of the last publication, or ``None`` if this warehouse was never published."""
    try:
        mark = con.execute(f"select max(through_load_seq) from {PUBLISHED_BUILDS}").fetchone()[0]
    except duckdb.CatalogException:
        return None
    return None if mark is None else int(mark)


def record_publication(candidate: Path, validation: str) -> int:
    """Record in ``candidate`` (about to be published) the drops it was built from; returns the mark.

    ``validation`` says what the gate checked: ``full`` or ``changed`` (only what the new drops changed).
    """
    with duckdb.connect(str(candidate)) as con:
        con.execute(
            f"create table if not exists {PUBLISHED_BUILDS} "
            "(through_load_seq bigint not null, drops integer not null, validation varchar not null, "
            "published_at timestamp not null)"
        )
        mark = latest_load_seq(con)
        drops = int(con.execute("select count(*) from ops.loaded_drops").fetchone()[0])
        con.execute(
            f"insert into {PUBLISHED_BUILDS} values (?, ?, ?, current_timestamp::timestamp)", [mark, drops, validation]
        )
    return mark


def applied_review_decisions(con: duckdb.DuckDBPyConnection) -> int | None:
    """How many clerical review decision rows the vault held when the linkage of this warehouse's links ran
    (``linkage.link_run``), or ``None`` for a warehouse whose linkage did not record it."""
    try:
        return int(con.execute("select review_decisions_recorded from linkage.link_run").fetchone()[0])
    except (duckdb.CatalogException, duckdb.BinderException, TypeError):
        return None


def new_review_decisions(warehouse: Path, vault: Vault) -> int:
    """Decision rows imported into ``vault`` since the linkage of the published ``warehouse`` read them (all of
    them when it recorded none); a count that went down (a vault restored from backup) counts as new too."""
    from masip.linkage.review_store import recorded_decisions

    recorded = recorded_decisions(vault)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        applied = applied_review_decisions(con)
    return abs(recorded - (applied or 0))


def new_drops(warehouse: Path) -> dict[str, Any]:
    """The drops loaded into ``warehouse`` since its last publication (read-only): names and the two marks."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        mark = published_through(con)
        names = [
            name for (name,) in con.execute(
                "select drop_name from ops.loaded_drops where coalesce(load_seq, 0) > ? order by load_seq, drop_name",
                [-1 if mark is None else mark],
            ).fetchall()
        ]
        return {"published_through": mark, "latest": latest_load_seq(con), "drops": names}
