"""The run report: what came in, where every row went, and what was built.

Written as JSON (for machines and tests) and Markdown (for the data
engineer) after every run. Counts must reconcile: for every file,
rows read = loaded + quarantined + duplicates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from connectors.ingest import IngestSummary, default_archive_dir
from connectors.settings import landing_retention_days
from masip.dbt_runner import DbtBuildResult
from masip.output_files import write_output
from masip.quality import QualityReport
from masip.warehouse import lock_notices
from pseudonymisation.landing import missing_copies

#: At most this many drop names are listed in a warning (the count is always given).
NAMES_SHOWN = 10


@dataclass(frozen=True)
class RunReport:
    data: dict[str, Any]
    markdown: str
    json_path: Path
    markdown_path: Path

    @property
    def reconciled(self) -> bool:
        return bool(self.data["reconciliation"]["all_files_reconcile"])

    @property
    def warnings(self) -> list[str]:
        return list(self.data["warnings"])


def _table_counts(con: duckdb.DuckDBPyConnection, schema: str) -> dict[str, int]:
    tables = con.execute(
        "select table_name from information_schema.tables where table_schema = ? order by table_name", [schema]
    ).fetchall()
    return {name: con.execute(f'select count(*) from {schema}."{name}"').fetchone()[0] for (name,) in tables}


def _review_queue_size(con: duckdb.DuckDBPyConnection) -> int | None:
    """Pairs of record roles awaiting clerical review (``ops.review_queue``); None before the first build."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'ops' and table_name = 'review_queue'"
    ).fetchone()[0]
    return con.execute("select count(*) from ops.review_queue").fetchone()[0] if exists else None


def _warnings(loaded: list[tuple[str, str, date]], rejected: int, archive_dir: Path) -> list[str]:
    """What the operator must act on although the run succeeded."""
    warnings = []
    if not loaded and rejected:
        warnings.append(
            "No drop has been loaded into this warehouse yet (every drop so far was rejected), so no marts were "
            "built or published. What to do: see the rejected drops below, ask each sender to re-deliver, re-run."
        )
    elif not loaded:
        warnings.append(
            "No drop has been loaded into this warehouse yet, and no drop was found: the input folder holds no "
            "folder named <source_id>_<YYYY-MM-DD> (see the warnings about folders not read, if any). What to do: "
            "pass --input the folder that holds the drop folders (each with its manifest.json), then re-run."
        )
    missing = missing_copies(archive_dir, loaded, landing_retention_days(), datetime.now(UTC).date())
    if missing:
        shown = ", ".join(missing[:NAMES_SHOWN]) + (f" and {len(missing) - NAMES_SHOWN} more" if len(missing) > NAMES_SHOWN else "")
        warnings.append(
            f"{len(missing)} loaded drop(s) have no encrypted landing copy in {archive_dir} ({shown}): the warehouse "
            "cannot be rebuilt or re-keyed from them (`masip rotate-key` would fail). What to do: restore the "
            "missing copies (or the whole folder) from backup; if there is none, ask the senders for those "
            "extracts again before the next key rotation."
        )
    return warnings


def _warehouse_facts(warehouse: Path, archive_dir: Path) -> dict[str, Any]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        quarantine, withheld = (
            dict(con.execute(f"select rule, count(*) from ops.{table} group by rule order by rule").fetchall())
            for table in ("quarantine", "warnings")
        )
        found = con.execute(
            "select drop_name, source_id, reason, drop_sha256 from ops.rejected_drops order by drop_name"
        ).fetchall()
        rejected = [{"drop_name": d, "source_id": s, "reason": r} for d, s, r, _ in found]
        drops = con.execute("select drop_name, drop_sha256, extract_date from ops.loaded_drops").fetchall()
        loaded_names, loaded_deliveries = {name for name, _, _ in drops}, {sha for _, sha, _ in drops}
        # outstanding: neither that folder nor its delivery (the same manifest, e.g. an intact re-delivery) loaded
        unresolved = [
            {"drop_name": d, "source_id": s, "reason": r} for d, s, r, sha in found
            if d not in loaded_names and sha not in loaded_deliveries
        ]
        return {
            "warnings": _warnings(drops, len(rejected), archive_dir),
            "marts": _table_counts(con, "marts"),
            "review_queue": _review_queue_size(con),
            "ops_quarantine_by_rule": quarantine,
            "ops_warnings_by_rule": withheld,
            "rejected_drops_all_time": rejected,
            "rejected_drops_outstanding": unresolved,
        }


def _markdown(data: dict[str, Any]) -> str:
    lines = [f"# MASIP run report — run {data['run_id']}", ""]
    lines.append(f"Key version: `{data['key_version']}`  ")
    lines.append("Stage timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in data["stage_seconds"].items()))
    if data["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- **{w}**" for w in data["warnings"]]
    lines += ["", "## Drops", "", "| drop | status | files | read | loaded | quarantined | duplicates | warnings |", "|---|---|---|---|---|---|---|---|"]
    for drop in data["drops"]:
        files = drop["files"]
        sums = [sum(f[k] for f in files) for k in ("rows_read", "rows_loaded", "rows_quarantined", "rows_duplicate", "warnings")]
        lines.append(f"| {drop['drop_name']} | {drop['status']} | {len(files)} | " + " | ".join(str(s) for s in sums) + " |")
    rec = data["reconciliation"]
    lines += [
        "",
        "## Reconciliation",
        "",
        (f"Rows read {rec['rows_read']} = loaded {rec['rows_loaded']} + quarantined {rec['rows_quarantined']} "
        f"+ duplicates {rec['rows_duplicate']}: **{'OK' if rec['all_files_reconcile'] else 'MISMATCH'}** "
        f"({rec['warnings']} optional values set to null as warnings)."),
    ]
    rejected = [d for d in data["drops"] if d["status"] == "rejected"]
    if rejected:
        lines += ["", "## Rejected drops (nothing loaded; re-deliver to load)", ""]
        lines += [f"- `{d['drop_name']}`: {d['reason']}" for d in rejected]
    copies = [d for d in data["drops"] if d["status"] == "already_loaded" and d["reason"]]
    if copies:
        lines += ["", "## Copies of drops already loaded (skipped)", ""]
        lines += [f"- `{d['drop_name']}`: {d['reason']}" for d in copies]
    notes = [n for d in data["drops"] for f in d["files"] for n in f["notes"]]
    if notes:
        lines += ["", "## Schema notes", ""] + [f"- {n}" for n in notes]
    if data["warehouse"]["ops_quarantine_by_rule"]:
        lines += ["", "## Quarantine (all runs, by rule; details in `ops.quarantine`)", ""]
        lines += [f"- {rule}: {n}" for rule, n in data["warehouse"]["ops_quarantine_by_rule"].items()]
    if data["warehouse"]["ops_warnings_by_rule"]:
        lines += ["", "## Values set to null as warnings (all runs, by rule; file, line and column in `ops.warnings`)", ""]
        lines += [f"- {rule}: {n}" for rule, n in data["warehouse"]["ops_warnings_by_rule"].items()]
    lines += ["", "## Marts", "", "| table | rows |", "|---|---|"]
    lines += [f"| marts.{t} | {n} |" for t, n in data["warehouse"]["marts"].items()]
    if data["warehouse"].get("review_queue") is not None:
        waiting = data["warehouse"]["review_queue"]
        pairs = "1 pair of record roles awaits" if waiting == 1 else f"{waiting} pairs of record roles await"
        lines += ["", f"Clerical review: {pairs} a decision (`ops.review_queue`; `masip review export`)."]
    if data.get("build"):
        build = data["build"]
        lines += ["", f"dbt build: {build['passed']} nodes passed in {build['elapsed_seconds']:.1f} s."]
        if build.get("linkage"):
            linkage = build["linkage"]
            model = "reused" if not linkage["retrained"] else (
                "retrained" if linkage.get("model_trained", True) else "default (too few record roles to train on)"
            )
            lines.append(f"Linkage (own process, no key): {linkage['roles']} record roles → {linkage['persons']} persons, "
                         f"model {model}, {linkage['seconds']:.1f} s, build {linkage['build_id']}.")
    if data.get("quality"):
        quality = data["quality"]
        verdict = "all passed" if quality["success"] else f"{len(quality['failed'])} FAILED"
        scope = "every row" if quality.get("scope", "full") == "full" else "what changed since the last publication"
        lines.append(f"Great Expectations: {quality['suites']} suites, {quality['expectations']} expectations, {verdict} "
                     f"({scope}).")
    return "\n".join(lines) + "\n"


def write_run_report(
    warehouse: Path,
    out_dir: Path,
    ingest: IngestSummary,
    build: DbtBuildResult | None,
    quality: QualityReport | None,
    stage_seconds: dict[str, Any],
    archive_dir: Path | None = None,
) -> RunReport:
    """Write ``run_report.json`` and ``run_report.md`` into ``out_dir``.

    ``archive_dir`` is the landing archive to check for missing copies (default: beside the warehouse).
    """
    files = [f for d in ingest.drops for f in d.files]
    facts = _warehouse_facts(warehouse, archive_dir or default_archive_dir(warehouse))
    data: dict[str, Any] = {
        "run_id": ingest.run_id,
        "key_version": ingest.key_version,
        "stage_seconds": {k: round(v, 2) for k, v in stage_seconds.items()},
        "drops": ingest.to_dict()["drops"],
        "reconciliation": {
            "rows_read": ingest.total("rows_read"),
            "rows_loaded": ingest.total("rows_loaded"),
            "rows_quarantined": ingest.total("rows_quarantined"),
            "rows_duplicate": ingest.total("rows_duplicate"),
            "warnings": ingest.total("warnings"),
            "all_files_reconcile": all(f.reconciles for f in files),
            "drops_loaded": ingest.count("loaded"),
            "drops_rejected": ingest.count("rejected"),
            "drops_already_loaded": ingest.count("already_loaded"),
        },
        "build": (
            {"passed": sum(1 for n in build.nodes if n.status in ("success", "pass")), "elapsed_seconds": build.elapsed_seconds,
             "linkage": {k: v for k, v in (build.linkage or {}).items() if k != "key_version"} or None}
            if build
            else None
        ),
        "quality": quality.summary() if quality else None,
        "warnings": [*lock_notices(), *ingest.warnings, *facts.pop("warnings"),
                     *(f"linkage: {w}" for w in ((build.linkage or {}).get("warnings", []) if build else []))],
        "warehouse": facts,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "run_report.json"
    md_path = out_dir / "run_report.md"
    markdown = _markdown(data)
    write_output(json_path, json.dumps(data, indent=2, default=str))
    write_output(md_path, markdown)
    return RunReport(data=data, markdown=markdown, json_path=json_path, markdown_path=md_path)
