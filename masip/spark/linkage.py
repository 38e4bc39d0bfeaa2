"""The person linkage on Spark: ``python -m masip.spark.linkage --warehouse W --vault DIR --out DIR``.

``masip run --engine spark`` builds everything again on Spark after the
DuckDB run; this is its linkage stage. Like the DuckDB one
(:mod:`masip.linkage.stage`) it is a keyless process of its own that reads
the vault, and the analyst side never sees an encoding:

1. the live record roles are read from the (published) warehouse, read-only,
   and joined to their encodings in the vault, read-only
   (:func:`masip.linkage.stage.read_inputs`);
2. the model and term frequencies are those the DuckDB run's links were
   decided under (the vault's linkage state of the same build,
   :func:`state_of_links`): Splink's training samples random pairs with
   each engine's own random functions, so a model estimated on Spark would
   differ in its last digits and the two engines could not be compared.
   Every candidate pair is scored again, on Spark;
3. :func:`masip.linkage.link_for_review` links them as the DuckDB stage
   does (same comparisons, spelled in Spark's SQL:
   :class:`masip.linkage.comparisons.Dialect`; same clustering; the
   reviewers' decisions from the vault), with Splink's ``SparkAPI`` over
   one local SparkSession (:class:`SparkBackend`);
4. ``person_links``, ``review_queue`` and ``review_fields`` are written as
   Parquet into ``--out`` (the Spark build's ``inputs/linkage``, where the
   DuckDB run's exports were): the tables dbt reads, which hold no encoding.

The encodings exist on Spark only as in-memory DataFrames; Spark's scratch
folder (where it could spill them, as DuckDB spills to its own) is private
and removed at the end. No state is written: the vault's is only read.
The process prints its summary as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from connectors.vault import Vault
from masip.child_processes import module_command
from masip.linkage import comparisons as C
from masip.linkage.backends import record_hashes
from masip.spark import SparkRunError


class SparkLinkageError(SparkRunError):
    """The linkage on Spark could not run; the message says what to do."""


class SparkBackend:
    """Splink's Spark backend over ``session``: every table a temporary view of a cached DataFrame.

    Nothing is written to a catalog or a file: :class:`masip.linkage.scorer.Scorer`'s
    tables and Splink's intermediate ones are persisted in the session's
    memory (Splink's ``break_lineage_method="persist"``; its default writes
    Parquet files). The session is the caller's; :meth:`close` drops this
    backend's views and empties the session's cache.
    """

    dialect = C.SPARK

    def __init__(self, session: Any) -> None:
        self.session = session
        self._frames: dict[str, Any] = {}
        self._owned: dict[str, tuple[str, ...]] = {}  # view -> the tables it owns (:meth:`view`)

    def _view(self, name: str, frame: Any) -> None:
        frame.createOrReplaceTempView(name)
        self._frames[name] = frame

    def register(self, name: str, table: pa.Table | pa.RecordBatchReader) -> None:
        if isinstance(table, pa.RecordBatchReader):
            table = table.read_all()  # Spark takes its input from the driver whole
        self._view(name, self.session.createDataFrame(table))

    def unregister(self, name: str) -> None:
        self.session.catalog.dropTempView(name)
        self._frames.pop(name)

    def create(self, name: str, select: str) -> None:
        self._view(name, self.session.sql(select).persist())

    def view(self, name: str, select: str, owned: tuple[str, ...] = ()) -> None:
        self._view(name, self.session.sql(select))
        self._owned[name] = owned

    def drop(self, name: str) -> None:
        self.session.catalog.dropTempView(name)
        self._frames.pop(name).unpersist()
        for table in self._owned.pop(name, ()):
            self.drop(table)

    def frame(self, select: str) -> pd.DataFrame:
        return self.session.sql(select).toArrow().to_pandas()

    def fingerprints(self, table: str, exclude: tuple[str, ...] = ()) -> np.ndarray:
        with duckdb.connect() as con:
            con.register("spark_records", self.session.table(table).toArrow())
            return record_hashes(con, "spark_records", exclude)

    def splink_api(self) -> Any:
        from splink.backends.spark import SparkAPI

        # no Scala UDFs: the comparisons use built-in functions only (and Splink's jar is not on the classpath)
        return SparkAPI(spark_session=self.session, break_lineage_method="persist", register_udfs_automatically=False)

    def scoring_every_pair(self) -> AbstractContextManager[None]:
        return nullcontext()  # the session's executors have their own memory settings

    def close(self) -> None:
        for name in list(self._frames):
            self.session.catalog.dropTempView(name)
        self._frames.clear()
        self.session.catalog.clearCache()


def start_linkage_session(scratch: Path, cores: int) -> Any:
    """A local SparkSession whose warehouse and scratch folders are under ``scratch`` (private)."""
    from masip.spark.job import start_session

    return start_session(scratch, cores, app="masip-linkage", conf={"spark.local.dir": str(scratch / "local")})


def state_of_links(vault: Vault, build_id: str | None) -> Any:
    """The linkage state the warehouse's links (build ``build_id``) were decided under.

    The vault's published state, or its candidate when the warehouse is a
    build not yet published (:func:`masip.pipeline.build_linked` in place).
    """
    from masip.linkage.state_store import load_state, stored_build_id

    for path in (vault.state_path, vault.state_candidate_path):
        if build_id is not None and path.is_file():
            with duckdb.connect(str(path), read_only=True) as con:
                if stored_build_id(con) == build_id:
                    return load_state(con)
    raise SparkLinkageError(
        f"the vault {vault.directory} holds no linkage state of the warehouse's links (build {build_id}): the "
        "linkage on Spark scores every pair under the model those links were decided with. What to do: run the "
        "pipeline (`masip run`) so that the warehouse and its state are published together, then run on Spark."
    )


def write_linkage_tables(tables: dict[str, pd.DataFrame], out_dir: Path) -> None:
    """Each frame as ``out_dir/<name>.parquet`` (one file, written by DuckDB with the warehouse's types)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        for name, frame in tables.items():
            target = out_dir / f"{name}.parquet"
            target.unlink(missing_ok=True)
            con.register("linkage_frame", frame)
            con.execute(f"copy (select * from linkage_frame) to '{target}' (format parquet)")
            con.unregister("linkage_frame")


def spark_link(warehouse: Path, vault: Vault, out_dir: Path, cores: int = 2) -> dict[str, Any]:
    """Steps 1-4 of the module docstring; returns the summary (counts, ids and seconds only)."""
    from masip.linkage import link_for_review
    from masip.linkage.review_store import load_decisions
    from masip.linkage.stage import (
        read_inputs,
        typed_links,
        typed_review,
        warehouse_build_id,
    )

    started = time.perf_counter()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        records, context = read_inputs(con, vault)
        build_id = warehouse_build_id(con)
    state = state_of_links(vault, build_id)
    decisions = load_decisions(vault)
    scratch = Path(tempfile.mkdtemp(prefix="masip-spark-linkage-"))
    try:
        session = start_linkage_session(scratch, cores)
        session_started = time.perf_counter()
        try:
            run = link_for_review(
                records, context, previous=state.without_pairs(), decisions=decisions, backend=SparkBackend(session)
            )
            version = session.version
        finally:
            session.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    scored = time.perf_counter()
    queue, fields = typed_review(run.review_queue, run.review_fields)
    links = typed_links(run.links)
    write_linkage_tables({"person_links": links, "review_queue": queue, "review_fields": fields}, out_dir)
    return {
        "spark_version": version,
        "build_id": build_id,
        "roles": len(links),
        "persons": int(links["person_id"].nunique()),
        "scored_pairs": len(run.state.pairs),
        "review_queue": len(queue),
        "seconds": round(time.perf_counter() - started, 2),
        "linkage_seconds": round(scored - session_started, 2),
    }


def run_spark_linkage(warehouse: Path, vault: Vault, out_dir: Path, cores: int = 2) -> dict[str, Any]:
    """:func:`spark_link` in a child process with no secret in its environment; returns its summary."""
    from masip.linkage.stage import keyless_environment

    command = module_command(
        "masip.spark.linkage", "--warehouse", str(warehouse), "--vault", str(vault.directory),
        "--out", str(out_dir), "--cores", str(cores),
    )
    done = subprocess.run(command, env=keyless_environment(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise SparkLinkageError(
            f"the linkage on Spark failed (exit code {done.returncode}) on {warehouse} with vault "
            f"{vault.directory}:\n{tail}\nWhat to do: fix the cause above and run on Spark again; the published "
            "warehouse and linkage state are unchanged."
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m masip.spark.linkage", description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, required=True, help="The published warehouse (read only).")
    parser.add_argument("--vault", type=Path, required=True, help="Its linkage vault (read only).")
    parser.add_argument("--out", type=Path, required=True, help="Folder for the linkage tables as Parquet.")
    parser.add_argument("--cores", type=int, default=2, help="Local worker threads (local[N]).")
    options = parser.parse_args(argv)
    from masip.linkage.stage import VaultMismatch

    try:
        summary = spark_link(options.warehouse, Vault(options.vault), options.out, options.cores)
    except (SparkLinkageError, VaultMismatch, FileNotFoundError) as error:
        print(f"masip spark linkage: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
