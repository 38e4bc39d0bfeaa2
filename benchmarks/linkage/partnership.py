"""One synthetic partnership (``masip.synth``, truth known) of a given size:
this project's linkage (``marts.person_xref`` after the real pipeline: ingest,
dbt, the keyless linkage stage) and Splink on the plain values read back from
the drops, scored pairwise over record roles against the truth, with wall time
and peak memory of each, and their false merges and missed links by cause.

Each step runs in a fresh process, so its peak memory is its own. Everything
big lives on disk (drops, warehouse, ``bench.duckdb``), so memory stays
bounded at national size (200,000 dyads: about 1.5 million record roles).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import duckdb

from benchmarks.linkage.causes import breakdown
from benchmarks.linkage.common import BENCH_SECRET, Measured, measured

KEY = "source_id, source_table, record_ref, role"


def generate(drops: Path, dyads: int, seed: int) -> int:
    from masip.synth import generate_partnership

    return generate_partnership(drops, dyads=dyads, seed=seed).total_rows


def run_project(drops: Path, work: Path) -> dict[str, float]:
    """Ingest and build (dbt before the linkage, the linkage stage, dbt after it), as ``masip run`` does."""
    from connectors.ingest import ingest_drops
    from connectors.vault import Vault
    from masip.pipeline import build_linked
    from pseudonymisation.keys import Keyring

    warehouse = work / "warehouse" / "masip.duckdb"
    started = time.perf_counter()
    ingest_drops(drops, warehouse, Keyring(BENCH_SECRET), show_progress=False, archive_dir=work / "archive")
    ingest = time.perf_counter() - started
    started = time.perf_counter()
    result = build_linked(warehouse, Vault.for_warehouse(warehouse))
    if not result.success:
        raise RuntimeError(f"the dbt build failed: see {result.log_path}")
    return {"ingest": ingest, "build": time.perf_counter() - started, "linkage": result.linkage["seconds"]}


def run_splink(drops: Path, database: Path) -> dict[str, float]:
    """Read the plain values into ``database`` and link them with Splink (table ``splink_clusters``)."""
    from benchmarks.linkage.plain import load_plain, splink_clusters

    with duckdb.connect(str(database)) as con:
        started = time.perf_counter()
        roles = load_plain(drops, con)
        read = time.perf_counter() - started
        started = time.perf_counter()
        splink_clusters(con)
        return {"roles": roles, "read": read, "link": time.perf_counter() - started}


def pairwise_scores(con: duckdb.DuckDBPyConnection, clusters: str) -> dict[str, float]:
    """Pairwise precision, recall and F1 of table ``clusters`` over the record roles it shares with ``truth``."""
    roles, tp, true_pairs, predicted_pairs = con.execute(f"""
        with joined as (
            select truth.person_id as truth, found.person_id as predicted,
            from truth
            inner join {clusters} as found using ({KEY})
        ),
        cells as (select count(*) as n from joined group by truth, predicted),
        true_people as (select count(*) as n from joined group by truth),
        predicted_people as (select count(*) as n from joined group by predicted)
        select
            (select count(*) from joined),
            (select coalesce(sum(n * (n - 1) / 2), 0) from cells),
            (select coalesce(sum(n * (n - 1) / 2), 0) from true_people),
            (select coalesce(sum(n * (n - 1) / 2), 0) from predicted_people)
    """).fetchone()
    precision = tp / predicted_pairs if predicted_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"roles": roles, "precision": precision, "recall": recall, "f1": f1,
            "false_pairs": int(predicted_pairs - tp), "missed_pairs": int(true_pairs - tp)}


def bench_size(dyads: int, seed: int, work: Path) -> dict[str, Any]:
    """Generate, link both ways, score. Returns the steps, one row per method and the breakdowns."""
    drops = work / "drops"
    generated = measured(generate, drops, dyads, seed)
    project = measured(run_project, drops, work)
    splink = measured(run_splink, drops, work / "bench.duckdb")
    rows, causes = score(work, {"project": project.result["linkage"], "splink": splink.result["link"]})
    for row, step in zip(rows, (project, splink), strict=True):
        row.update(dyads=dyads, seconds=step.seconds, peak_mib=step.peak_mib)
    return {"dyads": dyads, "generated": generated, "project": project, "splink": splink, "rows": rows,
            "causes": causes}


def score(work: Path, link_seconds: dict[str, float]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Scores and breakdowns of the project's and Splink's clusterings in ``work`` (as :func:`bench_size` left it)."""
    with duckdb.connect(str(work / "bench.duckdb")) as con:
        con.execute("create or replace table truth as select * from read_csv(?, all_varchar = true)",
                    [str(work / "drops" / "_truth" / "person_records.csv")])
        con.execute(f"attach '{work / 'warehouse' / 'masip.duckdb'}' as warehouse (read_only)")
        con.execute(f"""
            create or replace table project_clusters as
            select {KEY}, cast(person_id as varchar) as person_id, from warehouse.marts.person_xref
        """)
        con.execute("detach warehouse")
        rows, causes = [], {}
        for key, method, clusters in (
            ("project", "project: pseudonymised values only (marts.person_xref)", "project_clusters"),
            ("splink", "Splink on the plain values", "splink_clusters"),
        ):
            rows.append({"method": method, **pairwise_scores(con, clusters), "link_seconds": link_seconds[key]})
            causes[method] = breakdown(con, clusters)
    return rows, causes


def step_note(name: str, step: Measured) -> str:
    return f"{name} {step.seconds:,.0f} s, peak {step.peak_mib:,.0f} MiB"
