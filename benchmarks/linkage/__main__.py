"""Linkage benchmark: this project's linkage on pseudonymised values against Splink on the plain values.

    python -m benchmarks.linkage [--sizes 2000,20000,200000] [--seed 7] [--repeat 3] [--work DIR]
                                 [--skip-febrl] [--skip-partnership]

1. **Synthetic partnerships** of each size in ``--sizes`` (victim–perpetrator
   dyads; 200,000 is about a national year): pairwise precision, recall and
   F1 over record roles of the project (``marts.person_xref`` after the real
   pipeline) and of Splink on the plain values read back from the drops, with
   wall time and peak memory of each, then false merges and missed links by
   cause (``benchmarks/linkage/causes.py``).
2. **FEBRL4 and FEBRL3**: Splink on plaintext against the project's
   comparisons on pseudonymised inputs (``benchmarks/linkage/febrl.py``).
3. **Encoding throughput**.

Prints markdown tables the README can take. The 200,000 size needs a quiet
machine, an hour or more and tens of GB of disk in ``--work`` (default: a
temporary directory, removed at the end).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.linkage.causes import MERGE_CAUSES, MISS_CAUSES
from benchmarks.linkage.common import quiet, table

DEFAULT_SIZES = (2_000, 20_000, 200_000)


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes takes dyad counts separated by commas, e.g. 2000,20000; got {text!r}")
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("--sizes needs at least one dyad count of 1 or more")
    return sizes


def print_partnerships(results: list[dict[str, Any]], seed: int) -> None:
    from benchmarks.linkage.partnership import step_note

    print(f"## Synthetic partnerships (seed {seed}): pairwise over record roles\n")
    print(table([row for result in results for row in result["rows"]], [
        ("dyads", "dyads", ","), ("record roles", "roles", ","), ("method", "method", ""),
        ("precision", "precision", ".4f"), ("recall", "recall", ".4f"), ("F1", "f1", ".4f"),
        ("false pairs", "false_pairs", ","), ("missed pairs", "missed_pairs", ","),
        ("wall s", "seconds", ",.0f"), ("linkage s", "link_seconds", ",.1f"), ("peak MiB", "peak_mib", ",.0f"),
    ]))
    print("\nwall s: the project's whole pipeline (ingest, dbt, the linkage stage); Splink's reading of the plain "
          "values from the drops and its training, prediction and clustering. linkage s: the linkage alone. "
          "peak MiB: the step's process and the processes it waited for.")
    for result in results:
        print(f"- {result['dyads']:,} dyads: " + "; ".join((
            step_note("generation", result["generated"]),
            step_note("project", result["project"]) + " (ingest {ingest:,.0f} s, build {build:,.0f} s)".format(
                **result["project"].result),
            step_note("Splink", result["splink"]) + " (reading {read:,.0f} s)".format(**result["splink"].result),
        )))
    for kind, causes, title in (("merges", MERGE_CAUSES, "False merges"), ("misses", MISS_CAUSES, "Missed links")):
        print(f"\n## {title} by cause: record pairs (pairs of people; of which both sides hold 2+ records)\n")
        rows = []
        for result in results:
            methods = list(result["causes"])
            for cause in causes:
                if not any(result["causes"][method][kind][cause]["pairs"] for method in methods):
                    continue
                row: dict[str, Any] = {"dyads": result["dyads"], "cause": cause}
                for label, method in zip(("project", "splink"), methods):
                    count = result["causes"][method][kind][cause]
                    row[label] = f"{count['pairs']:,} ({count['people']:,}; {count['fused']:,})"
                rows.append(row)
        print(table(rows, [("dyads", "dyads", ","), ("cause", "cause", ""), ("project", "project", ""),
                           ("Splink, plain values", "splink", "")]) if rows else "none")


def print_febrl(repeat: int) -> None:
    from benchmarks.linkage.febrl import bench_encoding, bench_febrl

    rows = bench_febrl(repeat)
    print("## FEBRL: Splink on plaintext (a) vs this project on pseudonymised values (b)\n")
    print(table(rows, [
        ("dataset", "dataset", ""), ("method", "method", ""),
        ("precision", "precision", ".4f"), ("recall", "recall", ".4f"), ("F1 (p≥0.5)", "f1", ".4f"),
        ("best F1", "best_f1", ".4f"), ("at p≥", "best_threshold", ".3f"), ("wall s", "seconds", ".2f"),
        ("CPU s", "cpu_seconds", ".2f"), ("encoding s (once, at ingest)", "encode_seconds", ".2f"),
    ]))
    for name in dict.fromkeys(r["dataset"] for r in rows):
        a, b = [r for r in rows if r["dataset"] == name]
        print(f"\n{name}: ΔF1 (b−a) = {b['f1'] - a['f1']:+.4f} at p≥0.5, {b['best_f1'] - a['best_f1']:+.4f} at best "
              f"thresholds; time (b)/(a) = {b['seconds'] / a['seconds']:.2f}× wall, "
              f"{b['cpu_seconds'] / a['cpu_seconds']:.2f}× CPU")
    print("\n## Encoding throughput (one core)\n")
    print(table(bench_encoding(), [("encoding", "what", ""), ("records/s", "records_per_second", ",.0f")]))
    print()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=_sizes, default=list(DEFAULT_SIZES),
                        help="dyads per synthetic partnership, comma-separated (default 2000,20000,200000)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic partnerships (default 7)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per FEBRL method; the fastest time is kept")
    parser.add_argument("--work", type=Path, help="keep drops, warehouses and results in DIR/dyads-N (replaced "
                        "on each run; default: a temporary directory, removed at the end)")
    parser.add_argument("--skip-febrl", action="store_true")
    parser.add_argument("--skip-partnership", action="store_true")
    args = parser.parse_args(argv)
    quiet()
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    if not args.skip_partnership:
        from benchmarks.linkage.partnership import bench_size

        with contextlib.ExitStack() as stack:
            if args.work is None:
                root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="masip-bench-linkage-")))
            else:
                root = args.work
            results = []
            for dyads in args.sizes:
                work = root / f"dyads-{dyads}"
                shutil.rmtree(work, ignore_errors=True)  # a fresh warehouse: ingest would skip drops it has
                results.append(bench_size(dyads, args.seed, work))
            print_partnerships(results, args.seed)
            print()
    if not args.skip_febrl:
        print_febrl(args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
