"""Ingest's rows per second next to its reading floor: a raw DuckDB ``read_csv`` scan of the same files.

``make bench`` prints both for each size (:func:`read_floor` over the drops
of the full run). On its own, ``python -m benchmarks.pipeline.ingest_floor --dyads 300``
generates a small synthetic partnership (or takes ``--drops DIR``), ingests
it into a throwaway warehouse and scans the same files, so ingest can be
compared with the floor without the rest of the pipeline.

The floor reads every listed file of every drop with all columns as text
(``all_varchar``), materialised, on every core: what any bulk reader must
pay before a single rule is checked. Files in cp1252 are copied to UTF-8
first, outside the timing, since DuckDB reads UTF-8 only.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

SECRET = b"benchmark-throwaway-partnership-secret-0123456789"


def _utf8_copies(drops: list[Path], into: Path) -> list[Path]:
    """Every listed file of the drops (those that decode as their manifest says), as UTF-8 files in ``into``."""
    from connectors.manifest import ENCODINGS

    copies = []
    for drop in drops:
        try:
            manifest = json.loads((drop / "manifest.json").read_text(encoding="utf-8-sig"))
            encoding = ENCODINGS.get(str(manifest.get("encoding", "utf-8")).lower(), "utf-8-sig")
            names = [entry["name"] for entry in manifest["files"]]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        for name in names:
            source = drop / str(name)
            try:
                text = source.read_bytes().decode(encoding)
            except (OSError, UnicodeDecodeError):
                continue
            copy = into / f"{drop.name}__{source.name}"
            copy.write_text(text, encoding="utf-8")
            copies.append(copy)
    return copies


def read_floor(input_dir: Path) -> dict[str, float]:
    """Rows and seconds of a DuckDB ``read_csv`` of every drop's files under ``input_dir``, and its rows/s."""
    import duckdb

    from connectors.drop_folders import find_drops
    from connectors.profiles import load_profiles

    with tempfile.TemporaryDirectory(prefix="masip-floor-") as scratch:
        copies = _utf8_copies(find_drops(input_dir, load_profiles()).drops, Path(scratch))
        con = duckdb.connect()
        con.execute("set enable_progress_bar = false")
        rows = 0
        started = time.perf_counter()
        for copy in copies:
            try:
                table = con.sql(
                    "select * from read_csv(?, all_varchar = true, header = true)", params=[str(copy)]
                ).to_arrow_table()
            except duckdb.Error:  # a file the generator broke on purpose (ingest rejects its drop): no floor to read
                continue
            rows += table.num_rows
        seconds = time.perf_counter() - started
        con.close()
    return {"rows": rows, "seconds": seconds, "rows_per_second": rows / seconds if seconds else 0.0}


def ingest_rate(input_dir: Path, workdir: Path) -> dict[str, float]:
    """Rows read and seconds of one ingest of every drop under ``input_dir`` into a new warehouse."""
    from connectors.ingest import ingest_drops
    from pseudonymisation.keys import Keyring

    started = time.perf_counter()
    summary = ingest_drops(input_dir, workdir / "warehouse" / "masip.duckdb", Keyring(SECRET), show_progress=False)
    seconds = time.perf_counter() - started
    rows = summary.total("rows_read")
    return {"rows": rows, "seconds": seconds, "rows_per_second": rows / seconds if seconds else 0.0}


def floor_line(ingest_rows: int, ingest_seconds: float, floor: dict[str, float]) -> str:
    """One line for the benchmark's output: ingest's rate, the floor's, and the ratio."""
    rate = ingest_rows / ingest_seconds if ingest_seconds else 0.0
    share = 100 * rate / floor["rows_per_second"] if floor["rows_per_second"] else 0.0
    return (
        f"Ingest + pseudonymise: {rate:,.0f} rows/s; raw DuckDB read_csv of the same files (all_varchar, every core): "
        f"{floor['rows_per_second']:,.0f} rows/s ({floor['rows']:,} rows in {floor['seconds']:.1f} s): ingest runs at "
        f"{share:.0f}% of its reading floor."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dyads", type=int, default=300, help="size of the synthetic partnership (about 11 rows a dyad)")
    parser.add_argument("--drops", type=Path, help="ingest these drops instead of a synthetic partnership")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="masip-bench-ingest-") as scratch:
        workdir = Path(scratch)
        drops = args.drops
        if drops is None:
            from masip.synth import generate_partnership

            drops = workdir / "drops"
            generate_partnership(drops, dyads=args.dyads)
        ingest = ingest_rate(drops, workdir)
        floor = read_floor(drops)
    print(floor_line(int(ingest["rows"]), ingest["seconds"], floor))


if __name__ == "__main__":
    main()
