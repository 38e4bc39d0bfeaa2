"""What the published warehouse was built from: the drops loaded up to its last publication.

Every publication records, in the published warehouse's ``ops.published_builds``,
the highest ``load_seq`` of the drops its marts were built from (drops are
numbered in load order, see ``ops.loaded_drops``). Ingest keeps loading raw
rows into the published warehouse between builds, so

* a drop numbered above that mark is *new*: no published mart reflects it yet;
* a build with no new drop, no clerical review decision imported since the published
  build's linkage read the vault's decisions (``linkage.link_run``), the same code
  (dbt project, flag thresholds, linkage: ``build_code``) and the same data-quality rules
  (``quality_rules``) would rebuild the same marts (a no-op build, see
  :mod:`masip.orchestration.coalesce`);
* the data-quality gate validates the staging rows of the new drops only
  (:mod:`masip.quality`);
* a build whose staging code (``staging_code``) differs rebuilds the incremental
  staging models from every raw row (:func:`staging_refresh_due`).

A warehouse never published (or from before this table) has no mark: every
drop is new and everything is validated.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from masip.code_digest import files_digest, folder_files

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


def build_code_fingerprint(project_dir: Path | None = None) -> str:
    """A digest of what turns loaded rows into marts besides the rows: the dbt project (models, macros, seeds
    such as the flag thresholds, tests) and the linkage code. A deployment that changes either changes it."""
    from masip.linkage.state_store import linkage_code_files

    return _code_digest(project_dir, ("macros", "models", "seeds", "tests"), linkage_code_files())


def staging_code_fingerprint(project_dir: Path | None = None) -> str:
    """A digest of what computes the incremental staging tables: ``dbt_project.yml``, the macros and
    ``models/staging``. A release that changes it leaves rows staged by the old code, which only a full
    refresh of the staging models recomputes (:func:`staging_refresh_due`)."""
    return _code_digest(project_dir, ("macros", "models/staging"), [])


def _code_digest(project_dir: Path | None, folders: tuple[str, ...], others: list[Path]) -> str:
    """:func:`masip.code_digest.files_digest` of ``dbt_project.yml``, every file under ``folders`` of the dbt
    project, and ``others``, named relative to the project's parent."""
    from masip.dbt_runner import DBT_PROJECT_DIR

    project = project_dir or DBT_PROJECT_DIR
    parts = [project / "dbt_project.yml"]
    for folder in folders:
        parts += folder_files(project / folder)
    return files_digest([*parts, *others], project.parent)


def published_code_fingerprint(con: duckdb.DuckDBPyConnection, column: str = "build_code") -> str | None:
    """The code digest ``column`` (``build_code``: :func:`build_code_fingerprint`; ``staging_code``:
    :func:`staging_code_fingerprint`; ``quality_rules``: :func:`masip.quality.rules_digest`) of the code that
    built and validated the last publication (``None``: never published, or published before that digest was
    recorded)."""
    try:
        row = con.execute(
            f"select {column} from {PUBLISHED_BUILDS} order by published_at desc, through_load_seq desc limit 1"
        ).fetchone()
    except (duckdb.CatalogException, duckdb.BinderException):
        return None
    return None if row is None else row[0]


def staging_refresh_due(warehouse: Path) -> bool:
    """Whether the staging models of ``warehouse`` (a published warehouse or a candidate copied from one) must
    be rebuilt from every raw row: its staging tables were published by other staging code than this
    release's (:func:`staging_code_fingerprint`), or before that digest was recorded (once, after the upgrade).

    The staging models are incremental: without this, a release that changes how a column is staged would
    apply only to records delivered after it, and the marts would mix the two. A warehouse never published
    has nothing to compare with: False (its first build stages every row anyway).
    """
    with duckdb.connect(str(warehouse), read_only=True) as con:
        if published_through(con) is None:
            return False
        return published_code_fingerprint(con, "staging_code") != staging_code_fingerprint()


def record_publication(candidate: Path, validation: str, quality_rules: str | None = None) -> int:
    """Record in ``candidate`` (about to be published) the drops it was built from and the code that built it
    (:func:`build_code_fingerprint`, :func:`staging_code_fingerprint`); returns the mark.

    ``validation`` says what the gate checked: ``full`` or ``changed`` (only what the new drops changed);
    ``quality_rules``, under which rules (:func:`masip.quality.rules_digest`).
    """
    with duckdb.connect(str(candidate)) as con:
        con.execute(
            f"create table if not exists {PUBLISHED_BUILDS} "
            "(through_load_seq bigint not null, drops integer not null, validation varchar not null, "
            "published_at timestamp not null)"
        )
        con.execute(f"alter table {PUBLISHED_BUILDS} add column if not exists build_code varchar")
        con.execute(f"alter table {PUBLISHED_BUILDS} add column if not exists staging_code varchar")
        con.execute(f"alter table {PUBLISHED_BUILDS} add column if not exists quality_rules varchar")
        mark = latest_load_seq(con)
        drops = int(con.execute("select count(*) from ops.loaded_drops").fetchone()[0])
        con.execute(
            f"insert into {PUBLISHED_BUILDS} "
            "(through_load_seq, drops, validation, published_at, build_code, staging_code, quality_rules) "
            "values (?, ?, ?, current_timestamp::timestamp, ?, ?, ?)",
            [mark, drops, validation, build_code_fingerprint(), staging_code_fingerprint(), quality_rules],
        )
    return mark


def applied_review_decisions(con: duckdb.DuckDBPyConnection) -> int | None:
    """How many clerical review decision rows the vault held when the linkage of this warehouse's links ran
    (``linkage.link_run``), or ``None`` for a warehouse whose linkage did not record it."""
    try:
        row = con.execute("select review_decisions_recorded from linkage.link_run").fetchone()
    except (duckdb.CatalogException, duckdb.BinderException):
        return None
    return None if row is None else int(row[0])


def whats_new(warehouse: Path, vault: Vault) -> dict[str, Any]:
    """What the published ``warehouse`` does not reflect yet (read-only): ``drops`` loaded since its last
    publication (with ``published_through`` and ``latest``, the two marks); ``review_decisions``, the decision
    rows in ``vault`` that its linkage had not read (all of them when it recorded none; a count that went down,
    a vault restored from backup, counts too); and ``code_changed``, whether the code that builds marts
    (:func:`build_code_fingerprint`) or the data-quality rules that validate them
    (:func:`masip.quality.rules_digest`) are not the ones that built and validated it."""
    from masip.linkage.review_store import recorded_decisions
    from masip.quality import rules_digest

    recorded = recorded_decisions(vault)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        mark = published_through(con)
        names = [
            name for (name,) in con.execute(
                "select drop_name from ops.loaded_drops where coalesce(load_seq, 0) > ? order by load_seq, drop_name",
                [-1 if mark is None else mark],
            ).fetchall()
        ]
        return {
            "published_through": mark,
            "latest": latest_load_seq(con),
            "drops": names,
            "review_decisions": abs(recorded - (applied_review_decisions(con) or 0)),
            "code_changed": mark is not None and (
                published_code_fingerprint(con) != build_code_fingerprint()
                or published_code_fingerprint(con, "quality_rules") != rules_digest()
            ),
        }
