"""A stand-in for dbt's ``adapter`` object in sqlfluff's jinja templater.

The models call macros that pick their SQL with
``adapter.dispatch(name, 'masip')`` (macros/dialect.sql). sqlfluff's jinja
templater has no ``adapter``; this one resolves a dispatch the way dbt does
for the DuckDB target (``duckdb__<name>``, else ``default__<name>``), so
that ``sqlfluff lint`` checks the SQL the DuckDB build runs.
"""

from jinja2 import pass_context


@pass_context
def dispatch(context, macro_name, macro_namespace=None):
    for prefix in ("duckdb", "default"):
        macro = context.resolve_or_missing(f"{prefix}__{macro_name}")
        if callable(macro):
            return macro
    raise KeyError(f"no duckdb__{macro_name} or default__{macro_name} macro")


def type():  # mirrors dbt's adapter.type()
    return "duckdb"
