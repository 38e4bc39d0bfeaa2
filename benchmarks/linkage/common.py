"""What the linkage benchmarks share: the throwaway key, the seed, quiet
logging, a markdown table, and running a step in a fresh process to measure
its wall time and peak memory."""

from __future__ import annotations

import logging
import multiprocessing
import resource
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

BENCH_SECRET = b"masip-bench-linkage-throwaway-secret-0123456789"  # a throwaway demo key, not a partnership's
SEED = 1


def quiet() -> None:
    logging.getLogger("splink").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


@dataclass(frozen=True)
class Measured:
    result: Any
    seconds: float
    peak_mib: float  # the step's process and the processes it started and waited for (ingest workers, linkage)


def _run_measured(fn: Callable[..., Any], args: tuple) -> Measured:
    quiet()
    started = time.perf_counter()
    result = fn(*args)
    seconds = time.perf_counter() - started
    peak_kib = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)  # KiB on Linux
    return Measured(result, seconds, peak_kib / 1024)


def measured(fn: Callable[..., Any], *args: Any) -> Measured:
    """``fn(*args)`` in a fresh process (``fn`` importable at module level): its result, wall time and peak RSS."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_run_measured, fn, args).result()


def table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    """A markdown table of ``rows``: ``columns`` are (title, key, format)."""
    head = "| " + " | ".join(title for title, _, _ in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = []
    for row in rows:
        cells = []
        for _, key, fmt in columns:
            value = row.get(key)
            cells.append("" if value is None else format(value, fmt) if fmt else str(value))
        body.append("| " + " | ".join(cells) + " |")
    return "\n".join([head, rule, *body])
