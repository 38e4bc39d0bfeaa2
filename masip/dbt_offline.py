"""Compile the dbt project for a warehouse that is not there (issue #7).

``dbt compile`` renders every model's SQL for a target; it does not run it.
It still talks to the warehouse in two places:

1. dbt fills its relation cache before compiling (one ``information_schema``
   query per schema). ``--no-populate-cache`` turns that off.
2. A model that calls ``is_incremental()`` (an incremental model, and every
   Python model, whose compiled script embeds it) asks the warehouse whether
   its table exists: ``adapter.get_relation`` -> a metadata query. There is
   no flag for that: with no server dbt-trino fails ("Connection refused")
   and ``--no-introspect`` fails the node ("connection never acquired").

So :func:`compile_offline` runs ``dbt compile --no-populate-cache`` in
process with two things replaced:

- ``get_relation`` answers from a stated catalog instead of the warehouse:
  ``existing_relations="none"`` (an empty warehouse: ``is_incremental()`` is
  false, the first-run / full-refresh SQL) or ``"all"`` (every relation
  already exists as a table: ``is_incremental()`` is true for incremental
  models, the incremental SQL);
- opening a connection raises :class:`OfflineQueryError`, so anything else
  that would query the warehouse (``run_query``, column introspection, a
  package macro that reads the catalog) fails the compile loudly instead of
  hanging or being faked.

Nothing else is patched: parsing, adapter dispatch, ref/source resolution
and Jinja rendering are dbt's own. What this cannot tell is whether the
warehouse accepts the SQL; only running it there does.

    python -m masip.dbt_offline --target trino [--existing-relations all]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from masip.dbt_runner import (
    _BUILD_LOCK,
    _NO_TELEMETRY,
    DBT_PROJECT_DIR,
    _environment,
    _release_duckdb,
)

EXISTING_RELATIONS = ("none", "all")


class OfflineQueryError(RuntimeError):
    """A compile tried to query the warehouse, which an offline compile cannot do."""


@dataclass(frozen=True)
class OfflineCompileResult:
    """Outcome of :func:`compile_offline`."""

    success: bool
    target: str
    #: model name -> compiled SQL (or Python) of every model dbt compiled
    compiled: dict[str, str]
    #: names of the enabled models of the project for this target
    enabled_models: frozenset[str]
    #: names of the project's disabled models for this target
    disabled_models: frozenset[str]
    #: every source (``source_name.table``) a compiled model reads
    sources_used: frozenset[str]
    target_path: Path
    log_path: Path
    #: dbt's exception, or the message of the first failed node
    error: str | None = None


@contextmanager
def _offline_adapter(adapter_type: str, existing_relations: str) -> Iterator[None]:
    """Patch the adapter class of ``adapter_type`` as described in the module docstring."""
    from dbt.adapters.base.relation import RelationType
    from dbt.adapters.factory import get_adapter_class_by_name, load_plugin

    if existing_relations not in EXISTING_RELATIONS:
        raise ValueError(f"existing_relations must be one of {EXISTING_RELATIONS}")
    load_plugin(adapter_type)
    adapter_class = get_adapter_class_by_name(adapter_type)
    connection_manager = adapter_class.ConnectionManager

    def get_relation(self, database, schema, identifier):
        if existing_relations == "none":
            return None
        return self.Relation.create(
            database=database,
            schema=schema,
            identifier=identifier,
            type=RelationType.Table,
        )

    def refuse_connection(cls, connection):
        raise OfflineQueryError(
            f"offline compile for {adapter_type}: {connection.name} tried to open a "
            "connection to run a query. A model or macro reads the warehouse at compile "
            "time (run_query, get_columns_in_relation, a catalog-reading package macro); "
            "make it work without the query or compile against a real warehouse."
        )

    with (
        mock.patch.object(adapter_class, "get_relation", get_relation),
        mock.patch.object(connection_manager, "open", classmethod(refuse_connection)),
    ):
        yield


def compile_offline(
    target: str = "trino",
    *,
    adapter_type: str | None = None,
    existing_relations: str = "none",
    select: str | None = None,
    inline: str | None = None,
    work_dir: Path,
    project_dir: Path = DBT_PROJECT_DIR,
) -> OfflineCompileResult:
    """``dbt compile --target <target> --no-populate-cache`` with no warehouse behind it.

    ``adapter_type`` is the target's ``type`` (default: ``target``).
    ``select`` is a dbt node selection; ``inline`` compiles that SQL instead
    of the project's nodes (``dbt compile --inline``). dbt's target and log
    folders go under ``work_dir``. The profile's environment variables that
    the target does not use need not be set.
    """
    from dbt.cli.main import dbtRunner  # imported lazily: dbt is slow to import

    adapter_type = adapter_type or target
    target_path, log_path = work_dir / "target", work_dir / "logs"
    args = [
        "compile",
        "--project-dir", str(project_dir),
        "--profiles-dir", str(project_dir),
        "--target", target,
        "--target-path", str(target_path),
        "--log-path", str(log_path),
        "--no-populate-cache",
        "--quiet",
        "--log-level-file", "debug",
        "--no-use-colors",
        "--no-send-anonymous-usage-stats",
        "--no-version-check",
    ]  # fmt: skip
    if select:
        args += ["--select", select]
    if inline:
        args += ["--inline", inline]

    # The DuckDB output's path comes from MASIP_WAREHOUSE; offline no file is opened.
    env = {"MASIP_WAREHOUSE": str(work_dir / "unused.duckdb"), **_NO_TELEMETRY}
    with (
        _BUILD_LOCK,
        _environment(env),
        _offline_adapter(adapter_type, existing_relations),
    ):
        try:
            res = dbtRunner().invoke(args)
        finally:
            _release_duckdb()

    compiled: dict[str, str] = {}
    error = (
        None
        if res.exception is None
        else f"{type(res.exception).__name__}: {res.exception}"
    )
    for r in getattr(res.result, "results", None) or []:
        status = str(getattr(r.status, "value", r.status))
        if status in {"error", "fail", "runtime error"} and error is None:
            error = f"{r.node.name}: {r.message}"
        if r.node.resource_type == "model" or inline:
            compiled[r.node.name] = r.node.compiled_code or ""

    manifest_path = target_path / "manifest.json"
    enabled: set[str] = set()
    disabled: set[str] = set()
    sources: set[str] = set()
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        for node in manifest["nodes"].values():
            if node["resource_type"] == "model":
                enabled.add(node["name"])
                for dep in node["depends_on"]["nodes"]:
                    if dep.startswith("source."):
                        sources.add(".".join(dep.split(".")[-2:]))
        for versions in manifest.get("disabled", {}).values():
            for node in versions:
                if node["resource_type"] == "model":
                    disabled.add(node["name"])

    return OfflineCompileResult(
        success=bool(res.success) and error is None,
        target=target,
        compiled=compiled,
        enabled_models=frozenset(enabled),
        disabled_models=frozenset(disabled),
        sources_used=frozenset(sources),
        target_path=target_path,
        log_path=log_path,
        error=error,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m masip.dbt_offline",
        description="Compile the dbt project for a target with no warehouse behind it.",
    )
    parser.add_argument("--target", default="trino")
    parser.add_argument(
        "--existing-relations", choices=EXISTING_RELATIONS, default="none"
    )
    parser.add_argument("--select")
    parser.add_argument("--work-dir", type=Path, default=Path("output/dbt-offline"))
    ns = parser.parse_args(argv)
    result = compile_offline(
        ns.target,
        existing_relations=ns.existing_relations,
        select=ns.select,
        work_dir=ns.work_dir.resolve() / ns.target,
    )
    if not result.success:
        print(
            f"dbt compile --target {ns.target} failed: {result.error}", file=sys.stderr
        )
        return 1
    print(
        f"Compiled {len(result.compiled)} models for target {ns.target} with no warehouse "
        f"(relations assumed to exist: {ns.existing_relations}) into "
        f"{result.target_path / 'compiled'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
