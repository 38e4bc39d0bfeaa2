"""``make bench``: the pipeline at three sizes on this machine, with figures, not verdicts.

Each size runs in its own process (so peak memory is that size's own):
generate a synthetic partnership, then time the same stage functions the CLI
and the DAGs call, twice: the year up to its last week into a new warehouse
("full"), then the last week on top of it ("weekly delta": only the new
drops are ingested and the incremental staging models recompute only the
records they touch). Linkage runs as its own stage and process (keyless, over
the vault); its time is reported beside the rest. Peak RSS is that of the
largest process (the size's own, or one of its children: ingest workers, the
linkage process). CPU seconds are those of the run's processes, ``user``
(computing) and ``sys`` (the kernel's: mostly giving the processes fresh
memory, which this virtual machine charges dearly, see
:func:`fresh_memory_cost`).

Pseudonymisation throughput is measured against this machine's raw
HMAC-SHA-256 rate from ``openssl speed`` taken in the same run, because shared
machines vary by a factor of two from hour to hour; the load average before
and after says whether the machine was idle.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.pipeline.ingest_floor import floor_line, read_floor
from pseudonymisation.tokens import TOKEN_PURPOSES

SIZES: dict[str, int] = {"20k": 1_800, "200k": 18_000, "2M": 180_000}  # dyads; ~11 rows per dyad
SECRET = b"benchmark-throwaway-partnership-secret-0123456789"


def openssl_hmac_rate(block: int = 64) -> float | None:
    """Raw HMAC-SHA-256 operations per second on one core, for ``block``-byte messages."""
    try:
        out = subprocess.run(
            ["openssl", "speed", "-seconds", "2", "-hmac", "sha256"], check=False, capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    header = next((line for line in out.splitlines() if line.startswith("type")), None)
    row = next((line for line in out.splitlines() if line.startswith("hmac(sha256)")), None)
    if not header or not row:
        return None
    sizes = [int(s) for s in re.findall(r"(\d+) bytes", header)]
    values = [float(v[:-1]) * 1000 for v in row.split()[1:]]
    return dict(zip(sizes, values))[block] / block


def token_rate(records: int = 200_000) -> float:
    """Person records per second through the token part of pseudonymisation (every token purpose).

    Every value is distinct, so each record costs one HMAC per token purpose: the figure is the
    HMAC throughput of the code path ingest uses (``Tokeniser.token_column`` on the Arrow string
    columns the CSV reader gives it), without the help repeated values give it in real files.
    The values are made Arrow and the path is run once before the clock starts, so the figure
    holds no one-off start-up cost (pyarrow imports pandas on its first conversion: about a second).
    """
    import pyarrow as pa

    from pseudonymisation.keys import Keyring
    from pseudonymisation.tokens import tokenisers

    toks = list(tokenisers(Keyring(SECRET)).values())
    values = pa.array([f"SURNAME{i:07d}|FORENAME|1980-01-{i % 28 + 1:02d}" for i in range(records)], pa.string())
    toks[0].token_column(values.slice(0, 1_000))
    started = time.perf_counter()
    for tokeniser in toks:
        tokeniser.token_column(values)
    return records / (time.perf_counter() - started)


def encoding_rate(records: int = 100_000) -> float:
    """Person records per second through the salted fuzzy encodings (``PersonEncoder.encode_columns``).

    Realistic repetition: names and dates drawn from small pools, as in a
    partnership, where the keyed digests of repeated values are reused.
    """
    from datetime import date, timedelta

    from pseudonymisation.encodings import PersonEncoder
    from pseudonymisation.keys import Keyring

    encoder = PersonEncoder(Keyring(SECRET))
    forenames = [f"FORENAME{i % 3_000}" for i in range(records)]
    surnames = [f"SURNAME{(i * 7) % 20_000}" for i in range(records)]
    dobs = [date(1950, 1, 1) + timedelta(days=(i * 13) % 20_000) for i in range(records)]
    postcodes = [f"AB{i % 90 + 1} {i % 9}CD" for i in range(records)]
    partners: list[date | None] = [None] * records
    started = time.perf_counter()
    encoder.encode_columns(forenames, surnames, dobs, postcodes, partners)
    return records / (time.perf_counter() - started)


def fresh_memory_cost(gib: int = 1) -> tuple[float, float]:
    """Seconds per GiB to write memory the process has just mapped (every page's first touch), and to write it
    again: a virtual machine whose host reclaims the memory its guest frees charges the first touch heavily,
    and every large copy the pipeline makes pays it (the ``sys`` CPU of the table)."""
    import mmap

    import numpy as np

    with mmap.mmap(-1, gib << 30) as region:
        pages = np.frombuffer(region, dtype=np.uint8)[:: mmap.PAGESIZE]
        started = time.perf_counter()
        pages[:] = 1
        first = time.perf_counter() - started
        started = time.perf_counter()
        pages[:] = 2
        again = time.perf_counter() - started
        del pages  # the view must go before the mapping closes
    return first / gib, again / gib


def machine_load() -> str:
    """The 1-minute load average against the core count, and a verdict on idleness."""
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    return f"load average {load:.2f} on {cores} cores ({'idle' if load < 0.5 else 'NOT idle'})"


def _week(drop_dir: Path) -> str:
    return drop_dir.name.split("_")[1]  # <source_id>_<extract date>[_<suffix>]


def _dbt_time(nodes: list[Any], slowest: int = 5) -> dict[str, Any]:
    """Where dbt's time went: execution seconds of models and of tests (summed over dbt's threads), and the
    slowest nodes."""
    total = {kind: sum(n.execution_seconds for n in nodes if n.resource_type == kind) for kind in ("model", "test")}
    ranked = sorted(nodes, key=lambda n: n.execution_seconds, reverse=True)[:slowest]
    return {**total, "slowest": [[n.name, round(n.execution_seconds, 1)] for n in ranked]}


def _timed_run(
    input_dir: Path, warehouse: Path, out: Path
) -> tuple[dict[str, float], dict[str, float], int, dict[str, Any]]:
    """The CLI's stages on ``input_dir``, timed; returns seconds per stage, CPU seconds (user, sys), rows read
    and where dbt's time went (:func:`_dbt_time`)."""
    from masip.pipeline import build_stage, ingest_stage, publish_stage, report_stage
    from pseudonymisation.keys import Keyring

    seconds: dict[str, float] = {}
    cpu = _cpu_seconds()
    started = time.perf_counter()
    ingest = ingest_stage(input_dir, warehouse, Keyring(SECRET), show_progress=False)
    seconds["ingest+pseudonymise"] = time.perf_counter() - started
    started = time.perf_counter()
    build = build_stage(warehouse)
    build_seconds = time.perf_counter() - started
    linkage = build.linkage["seconds"] if build.linkage else 0.0  # the linkage stage's own process
    seconds["linkage"] = linkage
    seconds["dbt build"] = build_seconds - linkage
    started = time.perf_counter()
    quality = publish_stage(warehouse, out)
    seconds["GX"] = time.perf_counter() - started
    started = time.perf_counter()
    report_stage(warehouse, out, ingest, build, quality, seconds)
    seconds["reports"] = time.perf_counter() - started
    cpu_spent = {kind: spent - cpu[kind] for kind, spent in _cpu_seconds().items()}
    return seconds, cpu_spent, ingest.total("rows_read"), _dbt_time(build.nodes)


def _cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by this process and its children that have ended (ingest workers, the linkage
    process): ``user`` (computing) and ``sys`` (the kernel's, mostly mapping memory and I/O)."""
    mine, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"user": mine.ru_utime + children.ru_utime, "sys": mine.ru_stime + children.ru_stime}


def run_one(dyads: int, workdir: Path) -> dict[str, Any]:
    """Generate one size; run the year up to its last week, then that week as a delta (in a child process).

    The partnership's drops are weekly: the first holds each source's
    backfill, later ones the week's new and changed records. The full run
    loads every week but the last into a new warehouse; the weekly run then
    loads the last week on top of it, as the Monday job would.
    """
    from masip.synth import generate_partnership

    drops, warehouse, out = workdir / "drops", workdir / "warehouse" / "masip.duckdb", workdir / "out"
    started = time.perf_counter()
    generate_partnership(drops, dyads=dyads)
    generate_seconds = time.perf_counter() - started
    delivered = sorted(p for p in drops.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    last_week = max(_week(p) for p in delivered)
    year = workdir / "year"
    year.mkdir()
    for drop in delivered:
        if _week(drop) != last_week:
            shutil.copytree(drop, year / drop.name, copy_function=os.link)  # hard links: no second copy
    full_seconds, full_cpu, full_rows, full_dbt = _timed_run(year, warehouse, out)
    weekly_seconds, weekly_cpu, weekly_rows, weekly_dbt = _timed_run(drops, warehouse, out)
    floor = read_floor(year)  # the full run's files, scanned raw: ingest's reading floor
    return {
        "dyads": dyads,
        "generate_seconds": generate_seconds,
        "runs": {
            "full": {"rows": full_rows, "stage_seconds": full_seconds, "cpu_seconds": full_cpu, "dbt": full_dbt},
            "weekly delta": {
                "rows": weekly_rows, "stage_seconds": weekly_seconds, "cpu_seconds": weekly_cpu, "dbt": weekly_dbt,
            },
        },
        "warehouse_mb": warehouse.stat().st_size / 2**20,
        "ingest_floor": floor,
    }


def _child(size: str, dyads: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"masip-bench-{size}-") as workdir:
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.pipeline", "--child", str(dyads), "--workdir", workdir],
            stdout=subprocess.PIPE, text=True,
        )
        stdout = process.stdout.read() if process.stdout else ""
        _, status, usage = os.wait4(process.pid, 0)
        if status != 0:
            raise RuntimeError(f"benchmark size {size} failed (exit status {status}); see the output above")
        figures = json.loads(stdout.strip().splitlines()[-1])
        figures["peak_rss_gb"] = usage.ru_maxrss / 2**20  # kB → GiB
        return figures


def _table(
    results: dict[str, dict[str, Any]], hmac_rate: float | None, tokens_per_second: float,
    encodings_per_second: float, loads: tuple[str, str], memory: tuple[float, float],
) -> str:
    first = next(iter(results.values()))["runs"]["full"]
    stages = list(first["stage_seconds"])
    lines = [
        (
            f"MASIP benchmark — {date.today().isoformat()} — {platform.node()}: {os.cpu_count()} cores, "
            f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
            f"Python {platform.python_version()}"
        ),
        f"Machine before the run: {loads[0]}; after: {loads[1]}.",
        (
            f"Memory new to a process costs {memory[0]:.2f} s per GiB to write the first time, {memory[1]:.3f} s "
            "again (each page's first touch; a host that reclaims what its guest frees makes the first one dear)."
        ),
        "",
        "| size | run | rows read | " + " | ".join(f"{s} (s)" for s in stages)
        + " | total (s) | CPU user (s) | CPU sys (s) | rows/s | peak RSS (GiB) | warehouse (MiB) |",
        "|---" * (len(stages) + 9) + "|",
    ]
    for size, r in results.items():
        for run, figures in r["runs"].items():
            total = sum(figures["stage_seconds"].values())
            cells = " | ".join(f"{figures['stage_seconds'][s]:.1f}" for s in stages)
            cpu = figures["cpu_seconds"]
            lines.append(
                f"| {size} | {run} | {figures['rows']:,} | {cells} | {total:.1f} | {cpu['user']:.0f} | {cpu['sys']:.0f} | "
                f"{figures['rows'] / total:,.0f} | "
                f"{r['peak_rss_gb']:.2f} | {r['warehouse_mb']:.0f} |"
            )
    lines.append("")
    lines.append("(peak RSS is per size, over both runs; generation of the synthetic drops is not included: " + ", ".join(
        f"{size} {r['generate_seconds']:.0f} s" for size, r in results.items()) + ")")
    for size, r in results.items():
        full = r["runs"]["full"]
        lines.append(f"{size}: " + floor_line(full["rows"], full["stage_seconds"]["ingest+pseudonymise"], r["ingest_floor"]))
        for run, figures in r["runs"].items():
            dbt = figures["dbt"]
            slowest = ", ".join(f"{name} {seconds:.1f}" for name, seconds in dbt["slowest"])
            lines.append(
                f"{size} {run}: dbt executed models {dbt['model']:.1f} s and tests {dbt['test']:.1f} s (summed over "
                f"its threads); slowest: {slowest}."
            )
    token_ops = tokens_per_second * len(TOKEN_PURPOSES)
    if hmac_rate:
        lines.append(
            f"Pseudonymisation, token part: {tokens_per_second:,.0f} records/s × {len(TOKEN_PURPOSES)} tokens = {token_ops / 1e6:.2f} M HMAC/s "
            f"on one core = {100 * token_ops / hmac_rate:.0f}% of `openssl speed -hmac sha256` (64-byte) "
            f"{hmac_rate / 1e6:.2f} M/s measured in this run."
        )
    lines.append(f"Salted fuzzy encodings (all views of a person): {encodings_per_second:,.0f} records/s on one core.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(SIZES), help=f"comma-separated, from {list(SIZES)}")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    if args.child:
        print(json.dumps(run_one(args.child, args.workdir)))
        return
    before = machine_load()
    memory = fresh_memory_cost()
    hmac_rate = openssl_hmac_rate()
    tokens_per_second = token_rate()
    encodings_per_second = encoding_rate()
    results = {}
    for size in args.sizes.split(","):
        print(f"[bench] size {size}: {SIZES[size]:,} dyads …", file=sys.stderr, flush=True)
        results[size] = _child(size, SIZES[size])
    print(_table(results, hmac_rate, tokens_per_second, encodings_per_second, (before, machine_load()), memory))


if __name__ == "__main__":
    main()
