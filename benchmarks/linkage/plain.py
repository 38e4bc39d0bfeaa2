"""The plain values of a synthetic partnership, read back from its drops, and
Splink on them: the anchor the project's pseudonymised linkage is measured
against. Plain values are only ever read here (and by the privacy benchmark
for its truth); the pipeline never runs Splink in the clear.

Rows stream into DuckDB in batches, so memory stays bounded at national size.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from benchmarks.linkage.common import SEED

BATCH = 100_000
KEY = ("source_id", "source_table", "record_ref")
ORDER = "updated_at desc, extract_date desc, drop_name desc, line_number desc"


def _plain_rows(drops: Path, salt: bytes | None) -> Iterator[dict[str, Any]]:
    """One row per person role of every data row of every accepted drop (all versions).

    ``version_id`` is the one ingest gives the row (``connectors.reader``) under the vault's drop ``salt``.
    """
    from connectors.contracts import TABLES
    from connectors.manifest import DropRejected, read_manifest, verify_drop
    from connectors.normalise import (
        clean_cell,
        date_parser,
        datetime_parser,
        normalise_code,
        normalise_crn,
        normalise_name,
        normalise_nhs_number,
        normalise_pnc,
        normalise_postcode,
    )
    from connectors.profiles import load_profiles

    profiles = load_profiles()
    for drop in sorted(p for p in drops.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        try:
            manifest = read_manifest(drop, salt)
            texts = verify_drop(manifest)
        except DropRejected:
            continue
        profile = profiles.get(manifest.source_id)
        parse_date, parse_dt = date_parser(manifest.date_format), datetime_parser(manifest.date_format)
        for file_name, text in texts.items():
            contract = TABLES[Path(file_name).stem]
            if not contract.persons:
                continue
            renames = profile.renames_in(contract.name) if profile else {}
            reader = csv.reader(io.StringIO(text))
            header = [renames.get(h.strip(), h.strip()) for h in next(reader)]
            for line, row in enumerate(reader, start=2):
                cells = {h: clean_cell(v) for h, v in zip(header, row)}
                ref = cells.get(contract.ref_column)
                updated = parse_dt(cells.get("updated_at") or "")
                if not ref or updated is None:
                    continue
                for person in contract.persons:
                    role = person.role or normalise_code(cells.get(person.role_column) or "")
                    get = {f: cells.get(person.column(f)) for f in person.fields}.get
                    fn, sn, dob = get("forename"), get("surname"), get("dob")
                    pnc = normalise_pnc(cells[person.pnc_column]) if person.pnc_column and cells.get(person.pnc_column) else None
                    nhs = normalise_nhs_number(cells[person.nhs_column]) if person.nhs_column and cells.get(person.nhs_column) else None
                    crn = normalise_crn(cells[person.crn_column]) if person.crn_column and cells.get(person.crn_column) else None
                    born = parse_date(dob) if dob else None
                    postcode = normalise_postcode(get("postcode")) if get("postcode") else None
                    version = hashlib.sha256(f"{manifest.sha256}|{file_name}|{line}".encode()).hexdigest()[:20]
                    yield {
                        "source_id": manifest.source_id, "source_table": contract.name, "record_ref": ref, "role": role,
                        "version_id": version,
                        "updated_at": updated, "extract_date": manifest.extract_date, "drop_name": manifest.drop_name,
                        "line_number": line,
                        "deleted": normalise_code(cells.get("record_status") or "") == "DELETED",
                        "forename": normalise_name(fn) if fn else None, "surname": normalise_name(sn) if sn else None,
                        "dob": born.isoformat() if born else None, "sex": normalise_code(get("sex")) if get("sex") else None,
                        "postcode": postcode, "district": postcode.split(" ")[0] if postcode else None,
                        "pnc": pnc, "nhs": nhs, "crn": crn,
                    }


def load_plain(drops: Path, con: duckdb.DuckDBPyConnection, salt: bytes | None = None) -> int:
    """Table ``plain`` in ``con``: the latest version of every live record role (a record whose latest version is
    deleted is left out), as the pipeline would link it; ``version_id`` as ingest gives it under the vault's drop
    ``salt``. Returns its row count."""
    con.execute("drop table if exists plain_versions")
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        arrow = pa.Table.from_pylist(batch)
        # a column with no value in this batch (no CRN in a police-only batch) is text, not NULL-typed
        arrow = arrow.cast(pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in arrow.schema]))
        if con.execute("select count(*) from information_schema.tables where table_name = 'plain_versions'").fetchone()[0]:
            con.execute("insert into plain_versions by name select * from arrow")
        else:
            con.execute("create table plain_versions as select * from arrow")
        batch.clear()

    for row in _plain_rows(drops, salt):
        batch.append(row)
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    key = ", ".join(KEY)
    con.execute(f"""
        create or replace table plain as
        with latest_record as (
            select {key}, deleted,
                row_number() over (partition by {key} order by {ORDER}) as recency,
            from plain_versions
        ),
        live as (select {key} from latest_record where recency = 1 and not deleted),
        latest_role as (
            select versions.*,
                row_number() over (partition by {key}, role order by {ORDER}) as recency,
            from plain_versions as versions
            semi join live using ({key})
        )
        select row_number() over (order by {key}, role) as uid, * exclude (recency),
        from latest_role
        where recency = 1
    """)
    con.execute("drop table plain_versions")
    return con.execute("select count(*) from plain").fetchone()[0]


def plain_person_records(drops: Path, salt: bytes | None = None) -> pd.DataFrame:
    """:func:`load_plain` as a data frame (small partnerships: the privacy benchmark's truth)."""
    with duckdb.connect() as con:
        load_plain(drops, con, salt)
        return con.execute("select * exclude (uid) from plain order by uid").df()


def splink_clusters(con: duckdb.DuckDBPyConnection) -> None:
    """Table ``splink_clusters`` (record key, role, ``person_id``): Splink on table ``plain`` (with PNC/NHS/CRN as
    comparisons), clustered at match probability ≥ 0.5. Blocking keeps the candidate pairs to those sharing a date
    of birth and a forename, a surname or a postcode district, a full name, a surname in a postcode district, a
    postcode or an identifier: a date of birth alone gives about 8,000 pairs per date at a national year (Splink
    did not finish on them in 30 minutes and 20 GiB), for the few matches whose names and district all differ."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    con.execute("""
        create or replace table plain_input as
        select uid, forename, surname, dob, sex, postcode, district, pnc, nhs, crn, from plain
    """)
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="uid",
        comparisons=[
            cl.NameComparison("forename").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.LevenshteinAtThresholds("dob", [1, 2]),
            cl.ExactMatch("sex"),
            cl.LevenshteinAtThresholds("postcode", [1]),
            cl.ExactMatch("pnc"),
            cl.ExactMatch("nhs"),
            cl.ExactMatch("crn"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("dob", "forename"), block_on("dob", "surname"), block_on("dob", "district"),
            block_on("forename", "surname"), block_on("surname", "district"),
            block_on("postcode"), block_on("pnc"), block_on("nhs"), block_on("crn"),
        ],
        retain_matching_columns=False,
    )
    linker = Linker(DuckDBAPI(con).register("plain_input"), settings, log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match([block_on("forename", "surname", "dob")], recall=0.6)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=SEED)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob", "district"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("forename", "surname"))
    predictions = linker.inference.predict(threshold_match_probability=0.5, warning_mode="never")
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, 0.5)
    con.execute(f"""
        create or replace table splink_clusters as
        select plain.source_id, plain.source_table, plain.record_ref, plain.role,
            cast(found.cluster_id as varchar) as person_id,
        from plain
        inner join {clusters.physical_name} as found on found.uid = plain.uid
    """)
