"""The linkage stage: its own step and OS process, between dbt's staging models and the rest.

Separation of functions (SPEC §3 rule 7): the analyst warehouse holds no
encoding of an identifier, so dbt cannot link persons. After dbt has built
the staging models (and ``intermediate.int_person_records``, the live record
roles with generalised attributes) on the candidate warehouse, this stage

1. reads the live record roles and their crime/order/case context from the
   candidate warehouse;
2. attaches the vault's ``records.duckdb`` read-only and joins each role to
   its encodings (tokens, Bloom filters, …), by source table, version and role,
   read in Arrow batches whose tokens become integers as they arrive (a
   national year's hex tokens are never all in memory; every DuckDB
   connection of the stage is capped, ``MASIP_DUCKDB_MEMORY``, the scorer's
   database by ``MASIP_LINKAGE_MEMORY``);
3. links them with :func:`masip.linkage.link_with_state`, from the published
   linkage state (unless retraining, or the state does not belong to this
   warehouse: then the model is retrained);
4. writes the new state to the vault's state candidate, and into the
   candidate warehouse only ``linkage.person_links`` (record role →
   ``person_id``, ``link_method``, ``match_probability``) and
   ``linkage.link_run`` (the build id shared with the state);
5. clerical review (:mod:`masip.linkage.review`): applies the reviewers'
   decisions from the vault's ``review.duckdb`` as must-link / cannot-link
   constraints, and writes the queue of uncertain pairs as
   ``linkage.review_queue`` (the two roles' agency references and
   person_ids, method, probability, weight) and ``linkage.review_fields``
   (each compared field's agreement level and match weight): no value,
   token or filter.

dbt then reads ``linkage.person_links`` as a source (``stg_linkage__person_links``).
The stage needs no key: it compares tokens. :func:`run_linkage_process` runs
it as ``masip link`` in a child process whose environment holds no secret.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from connectors.raw_schema import PERSON_ENCODED_COLUMNS, PERSON_ROLE_COLUMNS
from connectors.vault import LIVE_ROLES_RELATION, RECORDS_TABLE, Vault
from masip.child_processes import module_command
from masip.linkage import (
    FIRST_DELIVERED,
    OUTPUT_COLUMNS,
    LinkageState,
    canonical_records,
    compact_tokens,
    link_for_review,
)
from masip.linkage.backends import DuckDBBackend, memory_capped, spill_folder
from masip.linkage.review import typed_fields
from masip.linkage.review_store import load_decisions
from masip.linkage.state_store import (
    linkage_code_fingerprint,
    load_state,
    store_state,
    stored_build_id,
    stored_linkage_code,
)
from masip.operator_errors import killed
from masip.warehouse import attach_read_only
from pseudonymisation.keys import keyless_environment

log = logging.getLogger(__name__)

LINKS_SCHEMA = "linkage"
#: What dbt reads (source ``linkage.person_links``): one row per live record role.
LINKS_TABLE = f"{LINKS_SCHEMA}.person_links"
RUN_TABLE = f"{LINKS_SCHEMA}.link_run"
#: The clerical review queue and each item's field-by-field evidence (sources of dbt's ``ops.review_queue``).
REVIEW_QUEUE_TABLE = f"{LINKS_SCHEMA}.review_queue"
REVIEW_FIELDS_TABLE = f"{LINKS_SCHEMA}.review_fields"

#: Records per batch read from the warehouse and vault (see read_inputs).
RECORD_BATCH_ROWS = 100_000
_ROLES = ", ".join(f"roles.{name}" for name, _ in PERSON_ROLE_COLUMNS)
_ENCODINGS = ", ".join(f"encodings.{name}" for name in ("key_version", *(n for n, _ in PERSON_ENCODED_COLUMNS)))
RECORDS_SQL = f"""
    select {_ROLES}, roles.{FIRST_DELIVERED}, {_ENCODINGS}, encodings.version_id is null as without_encodings
    from {LIVE_ROLES_RELATION} as roles
    left join vault.{RECORDS_TABLE} as encodings
        on roles.source_table = encodings.source_table
        and roles.version_id = encodings.version_id
        and roles.role = encodings.role
"""

#: The police crime each record is about: a crime itself, the crime an order's crime_ref names,
#: the crime an advocacy case's force + police_crime_ref names (see masip.linkage.context).
CONTEXT_SQL = """
    select source_id, 'crimes' as source_table, crime_ref as record_ref, force, crime_ref
    from staging.stg_police__crimes
    union all
    select source_id, 'orders' as source_table, order_ref as record_ref, force, crime_ref
    from staging.stg_police__orders
    union all
    select source_id, 'cases' as source_table, case_ref as record_ref, force, police_crime_ref as crime_ref
    from staging.stg_advocacy__cases
"""


class VaultMismatch(RuntimeError):
    """Live record roles of the warehouse have no encodings in the vault: they do not belong together."""


class LinkageProcessError(RuntimeError):
    """The linkage process failed; the message carries its last lines of error output."""


class LinkageInputError(LinkageProcessError):
    """The linkage process refused its inputs (no vault, or a vault of another warehouse): a retry will not help."""


@dataclass(frozen=True)
class LinkageSummary:
    """What a linkage run did: counts, ids and timing only (safe for XComs and logs)."""

    build_id: str
    key_version: str | None
    roles: int
    persons: int
    retrained: bool
    seconds: float
    review_queue: int = 0  # uncertain pairs awaiting clerical review
    review_decisions: int = 0  # reviewers' decisions in force (applied when both roles are live)
    warnings: list[str] = field(default_factory=list)  # what the linkage warned of (counts and ids only)
    model_trained: bool = True  # False: the documented default parameters (too few record roles to train on)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _new_build_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def warehouse_build_id(con: duckdb.DuckDBPyConnection) -> str | None:
    """The build id of the warehouse's links (the linkage state they came from has the same), if any."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = 'link_run'",
        [LINKS_SCHEMA],
    ).fetchone()[0]
    return con.execute(f"select build_id from {RUN_TABLE}").fetchone()[0] if exists else None


def read_inputs(con: duckdb.DuckDBPyConnection, vault: Vault) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The live record roles of the warehouse open in ``con``, with their vault encodings; and their context.

    Raises :class:`FileNotFoundError` when there is no vault, :class:`VaultMismatch`
    when a live role has no encodings in it.
    """
    attach_read_only(con, vault.require_records(), "vault")
    try:
        # streamed in batches, each compacted as it arrives (tokens as integers), into Arrow-backed columns:
        # a national year's query result, hex tokens and Python objects are never all in memory at once
        reader = con.sql(RECORDS_SQL).to_arrow_reader(RECORD_BATCH_ROWS)
        try:
            batches = [compact_tokens(batch) for batch in reader]
        except ValueError:  # never shows the value: it is a vault's token
            raise VaultMismatch(
                f"the vault {vault.directory} holds tokens that are not the hex digests ingest writes: it was not "
                "written by this pipeline's ingest, or it is damaged. Restore it from a backup, or rebuild the "
                "warehouse and the vault from the landing copies (README, key rotation)."
            ) from None
        finally:
            reader.close()  # an unfinished result would block the detach below (and hide the error)
        table = pa.Table.from_batches(batches) if batches else reader.schema.empty_table()
        del batches
        records = table.to_pandas(types_mapper=pd.ArrowDtype, self_destruct=True)
        del table
    finally:
        con.execute("detach vault")
    missing = int(records.pop("without_encodings").sum())
    if missing:
        raise VaultMismatch(
            f"{missing} live record roles of the warehouse have no encodings in the vault {vault.directory}: "
            "the vault does not belong to this warehouse. Point --vault / MASIP_VAULT_DIR at the vault that was "
            "built with it, or rebuild both from the landing copies (README, key rotation)."
        )
    context = con.sql(CONTEXT_SQL).df()
    return records, context.astype(object).where(context.notna(), None)


def _previous_state(vault: Vault, warehouse_build: str | None, retrain: bool) -> LinkageState | None:
    if retrain or not vault.state_path.is_file():
        return None
    with duckdb.connect(str(vault.state_path), read_only=True, config=memory_capped()) as con:
        if stored_build_id(con) != warehouse_build:
            log.warning(
                "the vault's linkage state (build %s) is not the one of the warehouse's links (build %s), e.g. after "
                "a crash during a publication: retraining the linkage model", stored_build_id(con), warehouse_build,
            )
            return None
        if stored_linkage_code(con) != linkage_code_fingerprint():
            # its scores, fingerprints and clustering decisions are what the old code made of the records
            log.warning(
                "the vault's linkage state was made by other linkage code (a new release, or a state from before "
                "the code was recorded): retraining the linkage model and scoring every pair once"
            )
            return None
        return load_state(con)


def typed_links(links: pd.DataFrame) -> pd.DataFrame:
    """``person_links`` as written to the warehouse."""
    # explicit dtypes: an empty frame of object columns would reach DuckDB as columns of type NULL
    typed = {c: links[c].astype("string") for c in OUTPUT_COLUMNS if c != "match_probability"}
    typed["match_probability"] = links["match_probability"].astype("Float64")
    return pd.DataFrame(typed)[list(OUTPUT_COLUMNS)]


class _Collected(logging.Handler):
    """The messages of the warnings logged through it."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def link_stage(warehouse: Path, vault: Vault, retrain: bool = False) -> LinkageSummary:
    """Link the live record roles of ``warehouse`` (a candidate) with their vault encodings; see module docstring.

    The summary carries the warnings the linkage logged (counts and ids only), for the run report: the process's
    own log is not the operator's."""
    collected = _Collected()
    logger = logging.getLogger("masip.linkage")
    logger.addHandler(collected)
    try:
        summary = _linked(warehouse, vault, retrain)
    finally:
        logger.removeHandler(collected)
    return replace(summary, warnings=collected.messages)


def _linked(warehouse: Path, vault: Vault, retrain: bool) -> LinkageSummary:
    started = time.perf_counter()
    # every connection capped: uncapped, DuckDB would keep up to 80% of the machine's memory as cache; and what
    # it spills of the vault's encodings goes to a folder in the vault, not beside the warehouse or in /tmp
    spill = spill_folder(vault.directory)
    try:
        with duckdb.connect(str(warehouse), config={**memory_capped(), "temp_directory": spill}) as con:
            records, context = read_inputs(con, vault)
            # held in a dict only to be handed over: link_for_review frees the previous run's pairs and the
            # context once used, which it cannot while this frame still names them
            handed = {"context": context, "previous": _previous_state(vault, warehouse_build_id(con), retrain)}
            del context
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    retrained = handed["previous"] is None
    pa.default_memory_pool().release_unused()  # the read batches' memory, back to the system for what follows
    versions = sorted(set(records["key_version"].dropna().astype(str)))
    if len(versions) > 1:
        raise VaultMismatch(f"the live record roles carry tokens of {len(versions)} keys; rebuild from the landing copies")
    decisions = load_decisions(vault)
    canonical = canonical_records(records, consume=True)
    del records  # emptied by canonical_records but for the columns the linkage does not read
    backend = DuckDBBackend(spill_under=vault.directory)
    try:
        run = link_for_review(canonical, context=handed.pop("context"), previous=handed.pop("previous"),
                              decisions=decisions, backend=backend)
    finally:
        backend.close()  # the scorer closes it, unless there was nothing to score
    del canonical
    links, state = run.links, run.state
    build_id = _new_build_id()
    candidate = vault.state_candidate_path
    for stale in (candidate, candidate.with_name(candidate.name + ".wal")):
        stale.unlink(missing_ok=True)
    with duckdb.connect(str(candidate), config=memory_capped()) as state_con:
        store_state(state_con, state, build_id)
    vault.protect()
    typed = typed_links(links)
    with duckdb.connect(str(warehouse), config=memory_capped()) as con:
        con.execute(f"create schema if not exists {LINKS_SCHEMA}")
        con.register("person_links_frame", typed)
        try:
            con.execute(f"create or replace table {LINKS_TABLE} as select * from person_links_frame")
        finally:
            con.unregister("person_links_frame")
        con.execute(
            f"create or replace table {RUN_TABLE} as "
            "select ? as build_id, ? as retrained, ? as record_roles, ? as review_decisions_recorded",
            [build_id, retrained, len(typed), decisions.recorded],
        )
        queue, fields = typed_review(run.review_queue, run.review_fields)
        for table, frame in ((REVIEW_QUEUE_TABLE, queue), (REVIEW_FIELDS_TABLE, fields)):
            con.register("review_frame", frame)
            try:
                con.execute(f"create or replace table {table} as select * from review_frame")
            finally:
                con.unregister("review_frame")
    return LinkageSummary(
        build_id=build_id,
        key_version=versions[0] if versions else None,
        roles=len(typed),
        persons=int(typed["person_id"].nunique()),
        retrained=retrained,
        model_trained=bool(state.model and json.loads(state.model)["trained"]),
        seconds=round(time.perf_counter() - started, 3),
        review_queue=len(run.review_queue),
        review_decisions=len(decisions),
    )


def typed_review(queue: pd.DataFrame, fields: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The review queue and its field evidence as written to the warehouse (typed even when empty)."""
    numbers = {"match_probability", "match_weight"}
    typed_queue = pd.DataFrame(
        {c: queue[c].astype("Float64") if c in numbers else queue[c].astype("boolean") if c == "linked"
         else queue[c].astype("string") for c in queue.columns}
    )
    return typed_queue, typed_fields(fields)


def run_linkage_process(warehouse: Path, vault: Vault, retrain: bool = False) -> LinkageSummary:
    """:func:`link_stage` as ``masip link`` in a child process with no secret in its environment."""
    retraining = ["--retrain"] if retrain else []
    command = module_command("masip.cli", "link", "--warehouse", str(warehouse), "--vault", str(vault.directory), *retraining)
    done = subprocess.run(command, env=keyless_environment(), capture_output=True, text=True, check=False)
    if done.returncode < 0:  # killed: it could say nothing
        raise LinkageProcessError(
            f"{killed(f'the linkage process on {warehouse}', done.returncode)}; the published warehouse and "
            "linkage state are unchanged. What to do: check the machine's memory (its system log names the killer; "
            "MASIP_LINKAGE_MEMORY caps the linkage's database), then re-run the build."
        )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        error = LinkageInputError if done.returncode == 2 else LinkageProcessError  # 2: `masip link` refused its inputs
        raise error(
            f"the linkage process failed (exit code {done.returncode}) on {warehouse} with vault {vault.directory}:\n"
            f"{tail}\nWhat to do: fix the cause above and re-run the build; the published warehouse and linkage "
            "state are unchanged."
        )
    return LinkageSummary(**json.loads(done.stdout.strip().splitlines()[-1]))
