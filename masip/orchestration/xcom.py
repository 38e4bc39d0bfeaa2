"""What the MASIP tasks pass through XCom: plain counts, names, statuses and timings, never data values."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from masip.dbt_runner import DbtBuildResult
    from masip.quality import QualityReport


def build_result_to_dict(build: DbtBuildResult) -> dict[str, Any]:
    """A plain summary of a dbt build for XCom: each node's name, id, type, status and timing; totals.

    dbt's per-node messages are left out: a failed test's message can quote data.
    """
    nodes = [
        {
            "name": n.name,
            "unique_id": n.unique_id,
            "resource_type": n.resource_type,
            "status": n.status,
            "execution_seconds": round(n.execution_seconds, 3),
        }
        for n in build.nodes
    ]
    statuses: dict[str, int] = {}
    for node in nodes:
        statuses[node["status"]] = statuses.get(node["status"], 0) + 1
    return {
        "success": build.success,
        "statuses": dict(sorted(statuses.items())),
        "elapsed_seconds": round(build.elapsed_seconds, 3),
        "target_path": str(build.target_path),
        "log_path": str(build.log_path),
        "nodes": nodes,
        "linkage": build.linkage,
    }


def build_result_from_dict(data: Mapping[str, Any]) -> DbtBuildResult:
    from masip.dbt_runner import DbtBuildResult, NodeResult

    return DbtBuildResult(
        success=data["success"],
        nodes=tuple(NodeResult(**node) for node in data["nodes"]),
        elapsed_seconds=data["elapsed_seconds"],
        target_path=Path(data["target_path"]),
        log_path=Path(data["log_path"]),
        linkage=data.get("linkage"),
    )


def quality_report_to_dict(quality: QualityReport) -> dict[str, Any]:
    """Suite names, row and expectation counts, failed expectations (type, column, count): no data values."""
    return {
        "suites": [
            {"suite": s.suite, "rows": s.rows, "evaluated": s.evaluated, "failures": [dict(f) for f in s.failures]}
            for s in quality.suites
        ],
        "results_path": str(quality.results_path),
        "success": quality.success,
        "scope": quality.scope,
        "rules": quality.rules,
    }


def quality_report_from_dict(data: Mapping[str, Any]) -> QualityReport:
    from masip.quality import QualityReport, SuiteResult

    suites = tuple(
        SuiteResult(s["suite"], s["rows"], s["evaluated"], tuple(dict(f) for f in s["failures"]))
        for s in data["suites"]
    )
    return QualityReport(suites, Path(data["results_path"]), data.get("scope", "full"), data.get("rules"))
