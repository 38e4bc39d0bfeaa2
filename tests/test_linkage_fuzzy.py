"""Fuzzy person linkage on pseudonymised values (masip.linkage, pseudonymisation.encodings).

Records are made the way ingest makes them (normalise, then keyed tokens and
keyed encodings under a test key), from the kinds of noise SPEC §2.5 lists:
nicknames, typos, swapped forename/surname, day/month-swapped dates of birth,
married names, moved house — plus two people who share a common name and
birth year, and name-only advocacy perpetrators that only the records'
context can resolve. One small partnership is linked once per module (one
Splink run); determinism re-links it in shuffled orders.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from datetime import date
from pathlib import Path

import duckdb
import jellyfish
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from connectors.normalise import (
    normalise_name,
    normalise_pnc,
    normalise_postcode,
    postcode_district,
)
from masip.linkage import OUTPUT_COLUMNS, fuzzy, link_person_records
from masip.linkage import comparisons as C
from masip.linkage.cluster import _dob_pair_compatible, dobs_compatible
from pseudonymisation.encodings import (
    ENCODING_FIELDS,
    NAME_BLOOM_BITS,
    NAME_VIEWS,
    PERSON_ENCODING_COLUMNS,
    BloomEncoder,
    PersonEncoder,
    dice,
    encoding_key,
    name_elements,
)
from pseudonymisation.keys import Keyring
from pseudonymisation.name_keys import nickname_table, soundex
from pseudonymisation.tokens import tokenisers

KEYRING = Keyring(b"fuzzy-linkage-test-secret-0123456789abcdef")
TOKENISERS = tokenisers(KEYRING)
ENCODER = PersonEncoder(KEYRING)
SAMPLES = Path(__file__).parent / "fixtures" / "sample_drops"


def person(
    ref: str,
    role: str,
    forename: str | None,
    surname: str | None,
    dob: str | None = None,
    sex: str | None = None,
    postcode: str | None = None,
    *,
    table: str = "crimes",
    source: str = "police-cheshire",
    pnc: str | None = None,
    nhs: str | None = None,
    partner_dob: str | None = None,
) -> dict:
    """One ``raw.person_records`` row, made as ``connectors.reader.TableReader._person`` makes it.

    ``partner_dob``: the date of birth of the record's other person (see :func:`with_partners`).
    """
    fn = normalise_name(forename) if forename else None
    sn = normalise_name(surname) if surname else None
    born = date.fromisoformat(dob) if dob else None
    pc = normalise_postcode(postcode) if postcode else None
    dob_text = born.isoformat() if born else None
    tok = TOKENISERS
    row = {
        "source_id": source,
        "agency": source.split("-")[0],
        "source_table": table,
        "record_ref": ref,
        "role": role,
        "key_version": KEYRING.key_version,
        "pnc_token": tok["pnc"].token(normalise_pnc(pnc) if pnc else None),
        "nhs_token": tok["nhs"].token(nhs),
        "crn_token": None,
        "name_dob_token": tok["name_dob"].token(f"{fn}|{sn}|{dob_text}" if fn and sn and dob_text else None),
        "dob_token": tok["dob"].token(dob_text),
        "postcode_token": tok["postcode"].token(pc),
        "birth_year": born.year if born else None,
        "sex": sex,
        "postcode_district": postcode_district(pc),
    }
    row.update(ENCODER.encode(fn, sn, born, pc, date.fromisoformat(partner_dob) if partner_dob else None))
    return row


def with_partners(calls: list[tuple[tuple, dict]]) -> list[dict]:
    """``person(*args, **kwargs)`` for each call, each person of a two-person record given the other's date of birth."""
    def key(args: tuple, kwargs: dict) -> tuple:
        return kwargs.get("source", "police-cheshire"), kwargs.get("table", "crimes"), args[0]

    dobs: dict[tuple, list[tuple[str, str | None]]] = {}
    for args, kwargs in calls:
        dobs.setdefault(key(args, kwargs), []).append((args[1], args[4] if len(args) > 4 else None))
    rows = []
    for args, kwargs in calls:
        partner = [dob for role, dob in dobs[key(args, kwargs)] if role != args[1]]
        rows.append(person(*args, **kwargs, partner_dob=partner[0] if partner else None))
    return rows


def P(*args, **kwargs) -> tuple[tuple, dict]:  # a person() call, resolved by with_partners
    return args, kwargs


ADVOCACY = {"table": "cases", "source": "advocacy-service"}
HEALTH = {"table": "contacts", "source": "health-trust"}
ORDERS = {"table": "orders"}

RECORDS = with_partners([
    # nickname: Robert / Bob
    P("C100", "PERPETRATOR", "Robert", "Thompson", "1985-03-14", "M", "SK8 9DQ"),
    P("H100", "PERPETRATOR", "Bob", "Thompson", "1985-03-14", "M", "SK8 9DQ", **HEALTH),
    # typo in the surname
    P("C101", "VICTIM", "Katherine", "Wilkinson", "1990-07-02", "F", "CW1 2AB"),
    P("H101", "VICTIM", "Katherine", "Wilkinsn", "1990-07-02", "F", "CW1 2AB", **HEALTH),
    # forename and surname swapped
    P("C102", "PERPETRATOR", "Samuel", "Okafor", "1979-11-30", "M", "WA4 6PL"),
    P("O102", "PERPETRATOR", "Okafor", "Samuel", "1979-11-30", "M", "WA4 6PL", **ORDERS),
    # day and month of birth swapped
    P("C103", "VICTIM", "Nicola", "Pritchard", "1988-04-09", "F", "SO15 2JX"),
    P("K103", "VICTIM", "Nicola", "Pritchard", "1988-09-04", "F", "SO15 2JX", **ADVOCACY),
    # married name
    P("C104", "VICTIM", "Charlotte", "Evans", "1992-05-21", "F", "PO1 3AX"),
    P("H104", "VICTIM", "Charlotte", "Hughes", "1992-05-21", "F", "PO1 3AX", **HEALTH),
    # moved house (and the surname spelt differently, so no exact name+DOB token)
    P("C105", "PERPETRATOR", "Imran", "Hussain", "1983-01-17", "M", "N1 9GU"),
    P("H105", "PERPETRATOR", "Imran", "Husain", "1983-01-17", "M", "E14 5AB", **HEALTH),
    # two different people: common name, same birth year, different dates and postcodes
    P("C106", "PERPETRATOR", "John", "Smith", "1980-02-03", "M", "SW2 1AA"),
    P("H106", "PERPETRATOR", "John", "Smith", "1980-10-22", "M", "SE5 8QT", **HEALTH),
    # crime reference: case K107 names crime C107; its perpetrator is a name only
    P("C107", "VICTIM", "Leanne", "Parry", "1995-12-01", "F", "CH2 4LT"),
    P("C107", "PERPETRATOR", "Darren", "Fairclough", "1987-06-11", "M", "CH2 7RB"),
    P("K107", "VICTIM", "Leanne", "Parry", "1995-12-01", "F", "CH2 4LT", **ADVOCACY),
    P("K107", "PERPETRATOR", "Darren", "Fairclough", **ADVOCACY),
    # dyad context: case K108 (no crime reference) names the victim's suspect by name only
    P("C108", "VICTIM", "Megan", "Ashworth", "1998-08-23", "F", "WA1 1QA"),
    P("C108", "PERPETRATOR", "Kieran", "Doherty", "1991-02-27", "M", "WA2 8TX"),
    P("C109", "VICTIM", "Megan", "Ashworth", "1998-08-23", "F", "WA1 1QA"),
    P("C109", "PERPETRATOR", "Kieran", "Doherty", "1991-02-27", "M", "WA2 8TX"),
    P("K108", "VICTIM", "Megan", "Ashworth", "1998-08-23", "F", "WA1 1QA", **ADVOCACY),
    P("K108", "PERPETRATOR", "Kieran", "Doherty", **ADVOCACY),
    # a name-only "John Smith" on the case of a victim whose suspect is someone else:
    # not merged with the other John Smiths on the name alone
    P("C110", "VICTIM", "Olivia", "Ramsden", "1993-03-05", "F", "CW9 5NP"),
    P("C110", "PERPETRATOR", "Gary", "Pemberton", "1975-09-19", "M", "CW9 7AA"),
    P("K110", "VICTIM", "Olivia", "Ramsden", "1993-03-05", "F", "CW9 5NP", **ADVOCACY),
    P("K110", "PERPETRATOR", "John", "Smith", **ADVOCACY),
    # a PNC shared; and a different PNC that must never be merged in even with the same name
    P("C111", "PERPETRATOR", "Wayne", "Gallagher", "1970-04-04", "M", "PO4 8BD", pnc="2016/6605185R"),
    P("O111", "PERPETRATOR", "Wayne", "Gallagher", None, "M", None, pnc="2016/6605185R", **ORDERS),
])

def records_frame(rows: list[dict]) -> pd.DataFrame:
    """Records as the linkage reads them from the vault, tokens as nullable 64-bit integers (``pd.DataFrame``
    alone makes a column of integers and ``None`` float, losing the tokens' low bits)."""
    frame = pd.DataFrame(rows)
    for column in frame.columns[frame.columns.str.endswith("_token")]:
        frame[column] = pd.array([row.get(column) for row in rows], dtype="Int64")
    return frame


CONTEXT = pd.DataFrame(
    [
        ("police-cheshire", "crimes", ref, "CHESHIRE", ref)
        for ref in ("C100", "C101", "C102", "C103", "C104", "C105", "C106", "C107", "C108", "C109", "C110", "C111")
    ]
    + [("advocacy-service", "cases", "K107", "cheshire", " c107 ")],  # as an advocate might type it
    columns=["source_id", "source_table", "record_ref", "force", "crime_ref"],
)


@pytest.fixture(scope="module")
def linked() -> pd.DataFrame:
    return link_person_records(records_frame(RECORDS), CONTEXT)


def pid(out: pd.DataFrame, ref: str, role: str) -> str:
    hit = out[(out.record_ref == ref) & (out.role == role)]
    assert len(hit) == 1
    return hit.person_id.iloc[0]


def method(out: pd.DataFrame, ref: str, role: str) -> str:
    return out[(out.record_ref == ref) & (out.role == role)].link_method.iloc[0]


@pytest.mark.parametrize(
    "a, b, role",
    [
        ("C100", "H100", "PERPETRATOR"),  # nickname
        ("C101", "H101", "VICTIM"),  # typo
        ("C102", "O102", "PERPETRATOR"),  # forename/surname swapped
        ("C103", "K103", "VICTIM"),  # day/month of birth swapped
        ("C104", "H104", "VICTIM"),  # married name
        ("C105", "H105", "PERPETRATOR"),  # moved house
    ],
    ids=["nickname", "typo", "name-swap", "dob-day-month-swap", "married-name", "moved-house"],
)
def test_noisy_records_of_one_person_are_linked(linked, a, b, role):
    assert pid(linked, a, role) == pid(linked, b, role)
    assert method(linked, a, role) == "PROBABILISTIC"
    probability = linked[(linked.record_ref == a) & (linked.role == role)].match_probability.iloc[0]
    assert 0.5 <= probability <= 1.0


def test_common_name_and_birth_year_are_not_enough(linked):
    assert pid(linked, "C106", "PERPETRATOR") != pid(linked, "H106", "PERPETRATOR")
    # nor does the name-only John Smith on another victim's case join either of them
    smiths = {pid(linked, r, "PERPETRATOR") for r in ("C106", "H106", "K110")}
    assert len(smiths) == 3
    assert method(linked, "K110", "PERPETRATOR") == "SINGLETON"


def test_name_only_perpetrator_resolved_through_crime_reference(linked):
    assert pid(linked, "K107", "PERPETRATOR") == pid(linked, "C107", "PERPETRATOR")
    assert method(linked, "K107", "PERPETRATOR") == "CONTEXT"
    assert pid(linked, "K107", "VICTIM") == pid(linked, "C107", "VICTIM")


def test_name_only_perpetrator_resolved_through_the_victims_crimes(linked):
    suspect = pid(linked, "C108", "PERPETRATOR")
    assert pid(linked, "C109", "PERPETRATOR") == suspect
    assert pid(linked, "K108", "PERPETRATOR") == suspect
    assert method(linked, "K108", "PERPETRATOR") == "CONTEXT"


def test_identifier_links_still_rank_first(linked):
    assert pid(linked, "C111", "PERPETRATOR") == pid(linked, "O111", "PERPETRATOR")
    assert method(linked, "C111", "PERPETRATOR") == "PNC"
    assert linked.columns.tolist() == list(OUTPUT_COLUMNS)
    assert set(linked.link_method) <= {"PNC", "NHS", "CRN", "NAME_DOB", "PROBABILISTIC", "CONTEXT", "SINGLETON"}


def test_different_pncs_are_never_merged():
    records = [
        person("C1", "PERPETRATOR", "Wayne", "Gallagher", "1970-04-04", "M", "PO4 8BD", pnc="2016/6605185R"),
        person("C2", "PERPETRATOR", "Wayne", "Gallagher", "1970-04-04", "M", "PO4 8BD", pnc="2019/0123456E"),
    ]
    assert normalise_pnc("2019/0123456E") is not None
    out = link_person_records(records_frame(records))
    assert out.person_id.nunique() == 2


def test_same_input_in_any_order_gives_the_same_person_ids(linked):
    frame = records_frame(RECORDS)
    for seed in (1, 2):
        shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        context = CONTEXT.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        again = link_person_records(shuffled, context)
        pd.testing.assert_frame_equal(again, linked)


def test_arrow_backed_input_gives_the_same_output(linked):
    """The dbt model hands over Arrow-backed columns (a third of the memory of Python strings)."""
    frame = pa.Table.from_pandas(records_frame(RECORDS), preserve_index=False).to_pandas(types_mapper=pd.ArrowDtype)
    pd.testing.assert_frame_equal(link_person_records(frame, CONTEXT), linked)


def test_records_compacted_batch_by_batch_and_prepared_slice_by_slice_link_as_whole(linked, monkeypatch):
    """A national year is read from the vault a batch at a time, each batch's tokens compacted to integers as
    it arrives, and goes into the scorer's database a slice at a time: the persons are those of one pass."""
    from masip.linkage import compact_tokens, scorer

    monkeypatch.setattr(scorer, "PREPARE_ROWS", 4)
    table = pa.Table.from_pandas(records_frame(RECORDS), preserve_index=False)
    batches = [compact_tokens(batch) for batch in table.to_batches(max_chunksize=5)]
    assert len(batches) > 3 and batches[0].schema.field("forename_token").type == pa.int64()
    assert batches[0].schema.field("forename_variant_tokens").type == pa.list_(pa.int64())
    frame = pa.Table.from_batches(batches).to_pandas(types_mapper=pd.ArrowDtype)
    pd.testing.assert_frame_equal(link_person_records(frame, CONTEXT), linked)


SARAH_JONES_1980 = [P("C200", "VICTIM", "Sarah", "Jones", "1980-01-01", "F", "CW1 2AB"),
                    P("H200", "VICTIM", "Sarah", "Jones", "1980-01-01", "F", "CW1 2AB", **HEALTH)]
UNDATED_SARAH_JONES = [P("K202", "VICTIM", "Sarah", "Jones", None, "F", "CW1 2AB", **ADVOCACY)]


@pytest.mark.parametrize("other_dob, held", [("1975-05-05", True), ("1980-01-10", False), (None, False)])
def test_a_record_without_a_date_of_birth_between_two_namesakes_joins_neither_and_is_queued(other_dob, held):
    """Two women of one name at one postcode, born years apart, and a record of that name and postcode without a
    date of birth: it scores as sure against both, and the union-find pinned it on the stronger (here the first
    by row order), refusing the other on the date guard. It now joins neither, and both pairs are queued. A
    second date that could be the first mis-keyed (one part differs), or no second namesake, changes nothing."""
    from masip.linkage import link_for_review

    other = [P("C201", "VICTIM", "Sarah", "Jones", other_dob, "F", "CW1 2AB"),
             P("H201", "VICTIM", "Sarah", "Jones", other_dob, "F", "CW1 2AB", **HEALTH)] if other_dob else []
    run = link_for_review(records_frame(RECORDS + with_partners(SARAH_JONES_1980 + other + UNDATED_SARAH_JONES)),
                          CONTEXT)
    links = run.links
    assert pid(links, "C200", "VICTIM") == pid(links, "H200", "VICTIM")
    undated = pid(links, "K202", "VICTIM")
    queued = run.review_queue[(run.review_queue["record_ref_a"] == "K202") | (run.review_queue["record_ref_b"] == "K202")]
    if held:
        assert pid(links, "C201", "VICTIM") == pid(links, "H201", "VICTIM") != pid(links, "C200", "VICTIM")
        assert undated not in {pid(links, "C200", "VICTIM"), pid(links, "C201", "VICTIM")}
        partners = set(queued["record_ref_a"]) | set(queued["record_ref_b"])
        assert len(queued) == 2 and {"K202"} < partners and not queued["linked"].any()
        assert partners & {"C200", "H200"} and partners & {"C201", "H201"}
    else:
        assert undated == pid(links, "C200", "VICTIM") and queued.empty


@pytest.mark.parametrize("other_forename, held", [("Grace", True), ("Sara", False), ("Bob", False)])
def test_twins_whose_forenames_differ_are_queued_not_merged(other_forename, held):
    """Twins share a surname, a date of birth, a sex and an address: only the forename tells them apart, and
    the other agreements outweighed its disagreement, so they were one person (another person's incidents in
    a case pack). A pair whose forenames are unalike at every level while the surnames agree is held back and
    queued; a typo or a nickname the list knows links as before."""
    from masip.linkage import link_for_review

    first = "Sarah" if other_forename != "Bob" else "Robert"
    twins = [P(ref, "VICTIM", name, "Hartley", "1990-04-04", "F", "CW3 4EF", **agency)
             for ref, name, agency in (("C300", first, {}), ("H300", first, HEALTH),
                                       ("C301", other_forename, {}), ("H301", other_forename, HEALTH))]
    run = link_for_review(records_frame(RECORDS + with_partners(twins)), CONTEXT)
    links = run.links
    assert pid(links, "C300", "VICTIM") == pid(links, "H300", "VICTIM")
    assert pid(links, "C301", "VICTIM") == pid(links, "H301", "VICTIM")
    queue = run.review_queue
    between = queue[queue["record_ref_a"].isin(["C300", "H300", "C301", "H301"])
                    & queue["record_ref_b"].isin(["C300", "H300", "C301", "H301"])]
    if held:
        assert pid(links, "C300", "VICTIM") != pid(links, "C301", "VICTIM")
        assert len(between) == 1 and not between["linked"].any()
    else:
        assert pid(links, "C300", "VICTIM") == pid(links, "C301", "VICTIM") and between.empty


# -- encodings -----------------------------------------------------------------------


def grams(name: str) -> list[str]:
    return name_elements(name)


def test_bloom_encoding_is_keyed():
    a1, a2 = BloomEncoder(b"k" * 16), BloomEncoder(b"k" * 16)
    b = BloomEncoder(b"j" * 16)
    assert a1.encode(grams("THOMPSON")) == a2.encode(grams("THOMPSON"))
    assert a1.encode(grams("THOMPSON")) != b.encode(grams("THOMPSON"))
    # similarity survives under one key and one salt, and is meaningless across keys
    assert dice(a1.encode(grams("THOMPSON")), a1.encode(grams("THOMSON"))) >= 0.8
    assert dice(a1.encode(grams("THOMPSON")), b.encode(grams("THOMPSON"))) < 0.5
    other = PersonEncoder(Keyring(b"another-partnership-secret-0123456789abcdef"))
    args = ("ROBERT", "THOMPSON", date(1985, 3, 4), "SK8 9DQ", date(1990, 1, 2))
    mine, theirs = ENCODER.encode(*args), other.encode(*args)
    for column, _type in PERSON_ENCODING_COLUMNS:
        assert mine[column] is not None
        assert mine[column] != theirs[column], column
    assert ENCODER.encode(*args) == mine


def test_salt_separates_strangers_but_keeps_one_view_for_a_mistyped_date():
    """Salting (SPEC §3.8): the same name with another date shares nothing, unless two date parts agree."""
    bloom = BloomEncoder(b"k" * 16)
    assert dice(bloom.encode(grams("THOMPSON"), "1985"), bloom.encode(grams("THOMSON"), "1985")) >= 0.8
    assert dice(bloom.encode(grams("THOMPSON"), "1985"), bloom.encode(grams("THOMPSON"), "1986")) < 0.35
    base = ENCODER.encode("ROBERT", "THOMPSON", date(1985, 3, 4), "SK8 9DQ")
    stranger = ENCODER.encode("ROBERT", "THOMPSON", date(1986, 7, 9), "M1 1AA")
    for column in ("forename_token", "surname_token", "forename_variant_tokens", "postcode_bloom"):
        assert base[column] != stranger[column], column
    for view in NAME_VIEWS:
        assert dice(base[f"surname_bloom_{view}"], stranger[f"surname_bloom_{view}"]) < 0.35
    # day or month mistyped, day and month swapped, year mistyped: the views that still agree
    for other, postcode, shared in (
        (date(1985, 3, 5), None, {"ym"}), (date(1985, 9, 4), None, {"yd"}), (date(1985, 4, 3), None, {"u"}),
        (date(1986, 3, 4), "SK8 9DQ", {"pc"}), (date(1986, 3, 4), None, set()),
    ):
        encoded = ENCODER.encode("ROBERT", "THOMPSON", other, postcode)
        same = {v for v in NAME_VIEWS if encoded[f"surname_bloom_{v}"] == base[f"surname_bloom_{v}"]}
        assert same == shared, other


def test_each_field_has_its_own_hkdf_key():
    keys = {field: encoding_key(KEYRING, field) for field in ENCODING_FIELDS}
    assert len(set(keys.values())) == len(keys)
    assert keys["forename_ym"] == KEYRING.purpose_key("encoding/v5/forename_ym")
    token_keys = {KEYRING.purpose_key(f"token/{purpose}") for purpose in TOKENISERS}
    assert not token_keys & set(keys.values())
    # the same name in the forename and the surname field gives unrelated filters and tokens
    row = ENCODER.encode("MORGAN", "MORGAN", date(1985, 3, 4), "SK8 9DQ", date(1990, 1, 2))
    for view in NAME_VIEWS:
        assert dice(row[f"forename_bloom_{view}"], row[f"surname_bloom_{view}"]) < 0.35
    assert dice(row["forename_partner_bloom"], row["surname_partner_bloom"]) < 0.35
    assert row["forename_token"] != row["surname_token"]


def test_positions_are_independent_slices_of_the_keyed_prf_of_salt_and_element():
    """No double hashing: each position is its own 16-bit slice of AES_K3(HMAC_K1(salt)[:8] ‖ HMAC_K2(element)[:8])."""
    key = b"k" * 32
    bloom = BloomEncoder(key, bits=512, hashes=8)

    def sub(label: str) -> bytes:  # the HKDF expansions of pseudonymisation.prf, recomputed independently
        return HKDFExpand(algorithm=hashes.SHA256(), length=32, info=f"masip/prf/{label}".encode()).derive(key)

    block = hmac.new(sub("salt"), b"1985", hashlib.sha256).digest()[:8] + hmac.new(sub("value"), b"_R", hashlib.sha256).digest()[:8]
    encryptor = Cipher(algorithms.AES(sub("aes")), modes.ECB()).encryptor()
    digest = encryptor.update(block) + encryptor.finalize()
    expected = [int.from_bytes(digest[2 * i : 2 * i + 2], "big") % 512 for i in range(8)]
    assert bloom.positions("_R", "1985") == expected
    assert bloom.mask(["_R"], "1985") == sum(1 << p for p in set(expected))  # the column path agrees
    # not an arithmetic progression mod the filter size (what double hashing gives), over many elements
    progressions = 0
    for gram in (a + b for a in "ABCDEFGHIJKLMNOPQRSTUVWXYZ_" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ_"):
        p = bloom.positions(gram)
        steps = {(p[i + 1] - p[i]) % 512 for i in range(len(p) - 1)}
        progressions += len(steps) == 1
    assert progressions == 0
    # so the position sets are not confined to bits*bits/2 patterns: nearly every bigram has its own first pair
    firsts = {tuple(bloom.positions(a + b)[:2]) for a in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
    assert len(firsts) > 0.98 * 26 * 26


def test_encodings_hold_no_plain_value():
    plain = ["ROBERT", "THOMPSON", "1985-03-04", "04/03/1985", "1985-04-03", "1985", "SK8 9DQ", "SK89DQ", "SK8", "R163", "T512"]
    encoded = ENCODER.encode("ROBERT", "THOMPSON", date(1985, 3, 4), "SK8 9DQ", date(1990, 1, 2))
    assert all(v is not None for v in encoded.values())
    for column, value in encoded.items():
        blobs = value if isinstance(value, list) else [value]
        for blob in blobs:
            if blob is None:
                continue
            text = blob.hex() if isinstance(blob, bytes) else str(blob)
            raw = blob if isinstance(blob, bytes) else str(blob).encode()
            for needle in plain:
                assert needle.lower() not in text.lower(), (column, needle)
                assert needle.encode() not in raw, (column, needle)
    # the filters are not the (unkeyed) bigram sets either: positions come from HMACs
    assert encoded["forename_bloom_ym"] != BloomEncoder(b"\0" * 16).encode(grams("ROBERT"), "ym:1985-3")
    assert len(encoded["forename_bloom_ym"]) * 8 == NAME_BLOOM_BITS


def test_no_stand_alone_token_of_a_low_entropy_value():
    """SPEC §3.8: every token shared by two different dates of birth also shares their year."""
    encoded = [ENCODER.encode("ANN", "LEE", date(1980 + y % 3, 1 + m, 1 + d), "SK8 9DQ")
               for y in range(3) for m in range(12) for d in range(28)]
    for column in ("dob_unordered_token", "dob_year_month_token", "dob_year_day_token"):
        distinct = {row[column] for row in encoded}
        assert len(distinct) >= 3 * 12, column  # never one token for a day, month or year alone
    swapped = ENCODER.encode(None, None, date(1988, 9, 4), None)
    plain = ENCODER.encode(None, None, date(1988, 4, 9), None)
    late = ENCODER.encode(None, None, date(1988, 9, 24), None)
    assert swapped["dob_unordered_token"] == plain["dob_unordered_token"]
    assert late["dob_unordered_token"] is not None  # no null pattern betrays days over 12


def test_nickname_groups_from_the_public_list():
    table = nickname_table()
    assert len(table) > 500
    assert table.groups("BOB") & table.groups("ROBERT")
    assert table.groups("TONY") & table.groups("ANTHONY")
    assert not table.groups("JOHN") & table.groups("ROBERT")
    assert table.groups("ZXQ") == {"ZXQ"}


def test_soundex_fallback_agrees_with_jellyfish():
    names = ["ROBERT", "RUPERT", "ASHCRAFT", "TYMCZAK", "PFISTER", "HONEYMAN", "OKAFOR", "OCONNOR", "LLEWELLYN", "A"]
    assert [soundex(n) for n in names] == [jellyfish.soundex(n) for n in names]


def test_dob_compatibility_rule():
    # (dob, unordered, year+month, year+day) codes
    assert dobs_compatible((1, 3, 4, 80), (1, 3, 4, 80))
    assert dobs_compatible((1, 3, 4, 80), (2, 3, 5, 81))  # swapped: same unordered token
    assert dobs_compatible((1, 3, 4, 80), (5, 6, 4, 81))  # day mis-keyed: same year and month
    assert not dobs_compatible((1, 3, 2, 80), (5, 22, 10, 81))  # only the year


def test_the_union_finds_date_rule_is_the_vectorised_one():
    """Every pair of (dob, unordered, year+month, year+day) codes over a small domain, unknowns included."""
    values = np.array(list(itertools.product([-1, 0, 1], repeat=4)))
    a, b = np.repeat(values, len(values), axis=0), np.tile(values, (len(values), 1))
    expected = dobs_compatible(a, b)
    assert expected.any() and not expected.all()
    assert [_dob_pair_compatible(tuple(x), tuple(y)) for x, y in zip(a.tolist(), b.tolist())] == expected.tolist()


def test_ingest_writes_the_encodings_to_the_vault(tmp_path):
    from connectors.ingest import ingest_drops
    from connectors.vault import Vault

    warehouse = tmp_path / "w.duckdb"
    ingest_drops(SAMPLES, warehouse, KEYRING, show_progress=False)
    with duckdb.connect(str(Vault.for_warehouse(warehouse).records_path), read_only=True) as con:
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns where table_name = 'person_encodings'"
            ).fetchall()
        )
        assert types["forename_bloom_ym"] == "BIT" and types["forename_variant_tokens"] == "BIGINT[]"
        assert types["forename_token"] == types["pnc_token"] == "BIGINT"
        filled = con.execute(
            "select count(*), count(forename_bloom_ym), count(surname_bloom_u), count(dob_unordered_token), "
            "min(bit_length(forename_bloom_yd)), count(*) filter (where forename_token is not null) "
            "from person_encodings"
        ).fetchone()
    assert filled[0] > 0 and filled[1] == filled[5] and filled[4] == NAME_BLOOM_BITS
    assert filled[3] > 0


def test_encodings_are_converted_slice_by_slice_as_they_would_be_whole(monkeypatch: pytest.MonkeyPatch):
    """A national partnership's token lists overflow one Arrow string array: conversion goes slice by slice."""
    from masip.linkage import comparisons as C

    digest = [hashlib.sha256(str(i).encode()).hexdigest()[:32] for i in range(1_000)]
    tokens = pa.chunked_array([pa.array([None if i % 7 == 0 else digest[i] for i in range(600)]),
                               pa.array([digest[i] if i % 5 else "" for i in range(600, 1_000)])])
    lists = pa.chunked_array([pa.array([None if i % 9 == 0 else digest[i : i + i % 4] for i in range(1_000)])])
    filters = pd.Series([None if i % 11 == 0 else hashlib.sha512(digest[i].encode()).digest()[:16] for i in range(1_000)])
    whole = (C.token_ints(tokens), C.token_int_lists(lists), C.filter_matrix(filters, 16))
    monkeypatch.setattr(C, "CHUNK_ROWS", 37)
    assert len(C.arrow_chunks(tokens)) == 17 + 11  # 600 and 400 rows in slices of 37
    sliced = (C.token_ints(tokens), C.token_int_lists(lists), C.filter_matrix(filters, 16))
    assert sliced[0].equals(whole[0]) and sliced[1].equals(whole[1])
    assert (sliced[2][0] == whole[2][0]).all() and (sliced[2][1] == whole[2][1]).all()
    assert whole[0].null_count == 86 + 80 and whole[2][1].sum() == 1_000 - 91


def test_scoring_in_chunks_gives_what_one_pass_gives(linked, monkeypatch: pytest.MonkeyPatch):
    """A national year is scored in chunks (bounded spill); every chunk pair is scored, none twice."""
    from masip.linkage import scorer

    monkeypatch.setattr(scorer, "EVERY_PAIR_CHUNK_RECORDS", 4)
    assert scorer.prediction_chunks(len(RECORDS), every_pair=True) >= 3
    assert linked["person_id"].duplicated().any()  # there are links to lose
    pd.testing.assert_frame_equal(link_person_records(records_frame(RECORDS), CONTEXT), linked)


def test_the_overlap_of_two_token_lists_reads_as_the_earlier_spelling_in_a_level():
    """``list_has_any`` (fast) against ``len(list_intersect(..)) > 0`` (what models stored before held), as a
    level's ``case when`` reads them: the same on NULL, empty, disjoint and shared lists."""
    rows = [([1, 2, 3], [3, 4]), ([1, 2], [5, 6]), ([], [1]), ([], []), (None, [1]), ([1], None), (None, None),
            ([7, 8, 9], [9, 8, 7])]
    con = duckdb.connect()
    con.execute("create table t (a bigint[], b bigint[])")
    con.executemany("insert into t values (?, ?)", rows)
    levels = con.execute(
        "select case when len(list_intersect(a, b)) > 0 then 1 else 0 end, "
        f"case when {C.DUCKDB.overlap('a', 'b')} then 1 else 0 end from t"
    ).fetchall()
    assert [earlier for earlier, _ in levels] == [1, 0, 0, 0, 0, 0, 0, 1]
    assert [now for _, now in levels] == [earlier for earlier, _ in levels]


def test_a_model_stored_with_the_earlier_overlap_is_read_in_this_versions_spelling():
    current = fuzzy.default_settings(tf=True)
    stored = json.loads(json.dumps(current).replace(
        'list_has_any(\\"forename_variant_tokens_l\\", \\"forename_variant_tokens_r\\")',
        'len(list_intersect(\\"forename_variant_tokens_l\\", \\"forename_variant_tokens_r\\")) > 0',
    ))
    assert stored != current  # the earlier spelling is in it
    model = fuzzy.Model.from_json(fuzzy.Model(stored, trained=True, records=10).to_json())
    assert model.settings == current
    assert fuzzy.in_dialect(model.settings, C.SPARK)["sql_dialect"] == "spark"  # and it can still move to Spark


@pytest.mark.parametrize(
    ("records", "changed", "chunks"),
    [(2_800_000, None, 2), (2_500_000, None, 2), (2_800_000, 26_000, 1), (2_800_000, 0, 1), (2_800_000, 400_000, 1),
     (2_800_000, 1_000_000, 2), (2_800_000, 2_800_000, 2), (5_000_000, 400_000, 2), (1_000, 1_000, 1)],
)
def test_an_incremental_pass_is_chunked_by_its_share_of_the_pairs(records, changed, chunks):
    """A weekly delta of a national year is one chunk (each chunk pair copies its records out of all
    of them); a pass holds no more pairs per chunk pair than a full pass, and never takes more chunks."""
    from masip.linkage import scorer

    assert scorer.prediction_chunks(records, changed) == chunks


@pytest.mark.parametrize(("records", "chunks"), [(1_000, 1), (2_500_000, 1), (3_000_000, 1), (3_000_001, 2)])
def test_the_pass_over_every_pair_runs_whole_up_to_a_national_year(records, chunks):
    """The candidate pairs of all records are scored under the larger scoring cap, in one pass for a national
    year (2.5 million records: 86 s, against 130 s in four chunks, 2026-12-07)."""
    from masip.linkage import scorer

    assert scorer.prediction_chunks(records, every_pair=True) == chunks


def test_date_part_level_weighs_the_date_alone_not_the_surname_its_keys_carry():
    """The year+month / year+day tokens are keyed with the surname's Soundex code: sampled u is the chance of a
    like-sounding surname too, which the surname comparison counts again (issue 14). Training sets it to the
    chance of the date parts alone (the same-year share times about one in nine), taken from the u of
    "else"."""
    from masip.linkage import calibration, fuzzy

    model = fuzzy.default_settings()
    dob = next(c for c in model["comparisons"] if c["output_column_name"] == "dob")
    sampled = {lv["label_for_charts"]: lv["u_probability"] for lv in dob["comparison_levels"] if "u_probability" in lv}
    sampled["year and day or month equal"] = 4e-6
    for level in dob["comparison_levels"]:
        if level["label_for_charts"] in sampled:
            level["u_probability"] = sampled[level["label_for_charts"]]
    before = sum(sampled.values())

    fixed = calibration.unconditional_date_parts(model, same_year_share=0.025)
    levels = {lv["label_for_charts"]: lv for lv in next(
        c for c in fixed["comparisons"] if c["output_column_name"] == "dob")["comparison_levels"]}
    assert levels["year and day or month equal"]["u_probability"] == pytest.approx(0.025 * calibration.MONTH_OR_DAY_SHARE)
    assert sum(lv["u_probability"] for lv in levels.values() if "u_probability" in lv) == pytest.approx(before)
    assert levels["dob equal"]["u_probability"] == sampled["dob equal"]  # the other levels are untouched
    assert calibration.MONTH_OR_DAY_SHARE == pytest.approx(0.114, abs=0.001)
    # the input model is not modified, and without a share nothing changes
    assert next(lv for lv in dob["comparison_levels"] if lv["label_for_charts"] == "year and day or month equal")[
        "u_probability"] == 4e-6
    assert calibration.unconditional_date_parts(model, 0.0) == model


def _namesakes_partnership() -> tuple[list[dict], list[tuple[int, int]]]:
    """Women with three consistent records each, and pairs of strangers who share a forename and a date of
    birth but not a surname or a postcode district (the coincidence that grows with the square of a
    partnership). Returns the records and the row pairs that join two strangers."""
    from datetime import timedelta

    forenames = ["Amelia", "Olivia", "Isla", "Emily", "Poppy", "Ava", "Jessica", "Lily", "Sophie", "Grace",
                 "Chloe", "Evie", "Ella", "Freya", "Millie", "Daisy", "Phoebe", "Ruby", "Erin", "Holly"]
    surnames = [a + b for a in ("Ash", "Brad", "Carl", "Dun", "Elm", "Fair", "Glen", "Hart", "Ing", "Kirk",
                                "Lang", "Mar", "Nor", "Oak", "Pen", "Rad", "Stan", "Thorn", "Up", "Wal")
                for b in ("worth", "ley", "ton", "field", "by", "ford", "ham", "wood", "shaw", "well")]
    agencies = [{}, HEALTH, ADVOCACY]
    rows: list[dict] = []
    for i in range(200):
        born = (date(1960, 1, 1) + timedelta(days=37 * i)).isoformat()
        for k, agency in enumerate(agencies):
            rows.append(person(f"W{i}x{k}", "VICTIM", forenames[i % 20], surnames[i], born, "F",
                               f"CW{1 + i % 12} {i % 10}AB", **agency))
    strangers = []
    for i in range(150):
        born = (date(1961, 2, 3) + timedelta(days=41 * i)).isoformat()
        first = len(rows)
        for side, (surname, postcode) in enumerate(((surnames[i], "SO15 2JX"), (surnames[i + 50], "N1 9GU"))):
            for k, agency in enumerate(agencies[:2]):
                rows.append(person(f"S{i}x{side}x{k}", "VICTIM", forenames[i % 20], surname, born, "F", postcode,
                                   **agency))
        strangers += [(first + a, first + 2 + b) for a in (0, 1) for b in (0, 1)]
    return rows, strangers


def test_strangers_sharing_a_forename_and_a_date_of_birth_do_not_teach_the_model_that_surnames_differ(monkeypatch):
    """EM learns how often a match's surname differs from pairs that share a date of birth *and* a postcode
    district, where strangers seldom meet: on the date of birth alone, the partnership's namesakes (same
    forename and date, different surname) counted as matches, so a different surname weighed ever less as
    the partnership grew, and such strangers were merged (issue 14)."""
    from masip.linkage import LINK_PROBABILITY
    from masip.linkage.scorer import MIN_TRAINING_ENV, Scorer

    monkeypatch.setenv(MIN_TRAINING_ENV, "1000")  # 1,200 records, trained on
    rows, strangers = _namesakes_partnership()
    with Scorer(records_frame(rows)) as scorer:
        model = scorer.train()
        pairs = scorer.predict(model)
    surname = next(c for c in model.settings["comparisons"] if c["output_column_name"] == "surname")
    m = {lv["label_for_charts"]: lv["m_probability"] for lv in surname["comparison_levels"] if "m_probability" in lv}
    assert model.trained
    assert m["different, both women"] < 0.1, m  # 0.31 when trained on the date of birth alone
    scored = {(i, j): p for i, j, p in pairs[["uid_l", "uid_r", "match_probability"]].itertuples(index=False)}
    assert all(scored.get(pair, 0.0) < LINK_PROBABILITY for pair in strangers)
    same_woman = [scored.get((3 * i, 3 * i + 1), 0.0) for i in range(200)]
    assert min(same_woman) >= LINK_PROBABILITY


def test_nickname_pads_of_different_forenames_never_agree_in_bulk():
    """Each forename's pads (a NUL, the name, a number) are its own: encoded a column at a time, two people born
    on one day share a nickname token only through a real nickname group. Encodings v3 factorised the values
    with pandas, which stops a string at the NUL, so every pad was one value (a token of the date alone)."""
    from pseudonymisation.prf import codes

    born = date(1980, 1, 2)
    names = ["AMELIA", "OLIVIA", "JOHN", "IAN", "ROBERT", "BOB"]
    columns = ENCODER.encode_columns(names, ["SMITH"] * 6, [born] * 6, [None] * 6, [None] * 6)
    tokens = {name: set(t) for name, t in zip(names, columns["forename_variant_tokens"].to_pylist())}
    assert not tokens["AMELIA"] & tokens["OLIVIA"]
    assert tokens["ROBERT"] & tokens["BOB"]  # a real nickname group still agrees
    one_by_one = {name: set(ENCODER.encode(name, "SMITH", born, None, None)["forename_variant_tokens"]) for name in names}
    assert tokens == one_by_one
    found, distinct = codes(["\x00A\x000", "\x00B\x000", None, "\x00A\x000"])
    assert found.tolist() == [0, 1, -1, 0] and distinct.tolist() == ["\x00A\x000", "\x00B\x000"]


def test_exact_names_weigh_the_name_alone_not_the_date_their_tokens_carry():
    """The exact-name and nickname tokens are keyed with the whole date of birth: their sampled u is the chance
    of the name *and* the date, which the date comparison counts again (issue 14). Training sets it to the chance
    of the name among people born on one day (pairs of a victim and a perpetrator of one sex), never lower than
    sampled, taken from "else"; with too few agreeing pairs it stays as sampled."""
    from masip.linkage import calibration, fuzzy

    model = fuzzy.default_settings()

    def u(settings: dict, name: str) -> dict[str, float]:
        comparison = next(c for c in settings["comparisons"] if c["output_column_name"] == name)
        return {lv["label_for_charts"]: lv["u_probability"] for lv in comparison["comparison_levels"]
                if "u_probability" in lv}

    counts = {"forename_pairs": 30_000, "forename_equal": 600, "forename_nickname": 150,
              "surname_pairs": 30_000, "surname_equal": 30}
    fixed = calibration.unconditional_exact_names(model, counts)
    before, after = u(model, "forename"), u(fixed, "forename")
    assert after["forename_token equal"] == pytest.approx(600 / 30_000)
    assert after["nickname"] == pytest.approx(150 / 30_000)
    assert sum(after.values()) == pytest.approx(sum(before.values()))
    assert after["else"] < before["else"]
    # surname: 1 in 1,000 is below the default u (1 in 200): agreement never weighs more than sampled
    assert u(fixed, "surname") == u(model, "surname")
    # too few agreeing pairs to measure: as sampled
    few = {**counts, "forename_equal": calibration.MIN_EQUAL_NAME_PAIRS - 1, "forename_nickname": 0}
    assert u(calibration.unconditional_exact_names(model, few), "forename") == before


def test_a_partnership_below_the_training_threshold_keeps_the_default_model(monkeypatch):
    """Below 3,000 record roles EM learns worse parameters than the defaults (an outside partnership: recall 0.834
    trained against 0.886 at 658 roles, 0.894 against 0.914 at 1,307, the same precision); a partnership may set
    its own threshold, and a threshold that is not a number is refused with what to do."""
    from masip.linkage.scorer import MIN_TRAINING_ENV, Scorer

    rows, _ = _namesakes_partnership()
    monkeypatch.delenv(MIN_TRAINING_ENV, raising=False)
    with Scorer(records_frame(rows)) as scorer:
        assert scorer.size == 1_200 and not scorer.train().trained
        monkeypatch.setenv(MIN_TRAINING_ENV, "1200")
        assert scorer.train().trained
        monkeypatch.setenv(MIN_TRAINING_ENV, "3k")
        with pytest.raises(ValueError, match="must be a whole number"):
            scorer.train()


@pytest.mark.parametrize("records_each", [1, 2, 6])
def test_namesakes_are_counted_once_per_person_not_once_per_record(records_each: int):
    """The chance that two people born on one day share a forename is counted over people: ten victims, each
    born on the same day as her perpetrator, one pair of them sharing a forename, give 1 in 10 however many
    records each person has. Counted over records (before the fix), one namesake pair with six records each
    made 36 of 45 pairs agree, and the trained forename weighed almost nothing (outside audit, D2)."""
    from masip.linkage.calibration import namesake_shares_sql
    from masip.linkage.scorer import Scorer

    rows = []
    for pair in range(10):
        born = date(1970 + pair, 3, 4 + pair).isoformat()
        victim, perpetrator = ("Alex", "Alex") if pair == 0 else (f"Alex{'a' * pair}", f"Sam{'u' * pair}")
        copies = records_each if pair == 0 else 1
        for copy in range(copies):
            rows.append(person(f"C{pair}x{copy}", "VICTIM", victim, f"Vane{'e' * pair}", born, "M", "CH2 4LT"))
            rows.append(person(f"D{pair}x{copy}", "PERPETRATOR", perpetrator, f"Pike{'e' * pair}", born, "M"))
    with Scorer(records_frame(rows)) as scorer:
        counts = scorer.frame(namesake_shares_sql("records", scorer.dialect)).iloc[0].to_dict()
    assert (counts["forename_pairs"], counts["forename_equal"]) == (10, 1)
    assert (counts["surname_pairs"], counts["surname_equal"]) == (10, 0)


def test_a_name_only_record_with_the_same_name_agrees_exactly_not_as_a_typo():
    """A record without a date of birth has no name token (tokens are keyed with the date): its identical name,
    compared in the partner view, is the exact level, not "Dice >= 0.8" (the level of typos, whose small m made
    an identical name count against a match, and let context links flip when a key rotation moved a Bloom
    collision)."""
    from masip.linkage.review import field_agreements
    from masip.linkage.scorer import Scorer

    rows = with_partners([
        P("C900", "VICTIM", "Leanne", "Parry", "1995-12-01", "F", "CH2 4LT"),
        P("C900", "PERPETRATOR", "Darren", "Fairclough", "1987-06-11", "M", "CH2 7RB"),
        P("K900", "VICTIM", "Leanne", "Parry", "1995-12-01", "F", "CH2 4LT", **ADVOCACY),
        P("K900", "PERPETRATOR", "Darren", "Fairclough", **ADVOCACY),
        P("K901", "VICTIM", "Leanne", "Parry", "1995-12-01", "F", "CH2 4LT", **ADVOCACY),
        P("K901", "PERPETRATOR", "Daren", "Fairclough", **ADVOCACY),
    ])
    with Scorer(records_frame(rows)) as scorer:
        model = scorer.default_model()
        pairs = pd.DataFrame({"i": [1, 1], "j": [3, 5], "review_id": ["same", "typo"]})
        fields = field_agreements(scorer, model, pairs).set_index(["review_id", "field"])
    assert fields.loc[("same", "forename"), "agreement_level"] == "forename equal"
    assert fields.loc[("same", "surname"), "agreement_level"] == "surname equal"
    assert fields.loc[("same", "forename"), "match_weight"] > 0
    assert fields.loc[("typo", "forename"), "agreement_level"].startswith("dice(forename)")


@pytest.mark.parametrize("length", [lambda i: i % 6, lambda i: 0 if i % 4 == 0 else 5], ids=["mixed", "padded"])
def test_token_lists_become_sorted_integer_lists_whatever_their_lengths(length):
    """Equal sets of tokens must be equal lists: each list is sorted, lists of every length, empty and null; and
    lists all of one length (ingest pads the nickname lists to one), which are sorted as one matrix."""
    from masip.linkage import comparisons as C

    digest = [hashlib.sha256(str(i).encode()).hexdigest()[:32] for i in range(400)]
    lists = [None if i % 13 == 0 else [digest[(i * 7 + k * 31) % 400] for k in range(length(i))] for i in range(300)]
    as_int = lambda token: int.from_bytes(bytes.fromhex(token[:16]), "big", signed=True)
    expected = [None if tokens is None else sorted(as_int(t) for t in tokens) for tokens in lists]
    assert C.token_int_lists(pa.array(lists)).to_pylist() == expected
    assert any(tokens and tokens != sorted(tokens) for tokens in lists)  # the input was not sorted already


def _with_bytes_under_nulls(values: list[str | None]) -> pa.Array:
    """A string array whose null slots still hold bytes (Arrow allows it; DuckDB and pyarrow seldom do it)."""
    filled = pa.array([v if v is not None else "f" * 32 for v in values], pa.string())
    validity = pa.array([v is not None for v in values]).buffers()[1]
    return pa.Array.from_buffers(pa.string(), len(values), [validity, *filled.buffers()[1:]])


@pytest.mark.parametrize(
    "column",
    [
        lambda d: pa.array([None if i % 7 == 0 else "" if i % 5 == 0 else d[i] for i in range(200)]),  # one width
        lambda d: pa.array([d[i][: 4 + i % 40] if i % 3 else None for i in range(200)]),  # short and long values
        lambda d: _with_bytes_under_nulls([None if i % 7 == 0 else d[i] for i in range(200)]),
        lambda d: pa.array([d[i] for i in range(200)]).slice(13, 150),  # an offset into the buffers
    ],
    ids=["one-width", "widths", "bytes-under-nulls", "sliced"],
)
def test_tokens_become_the_integer_of_their_first_16_hex_digits(column):
    """Every shape of a token column converts as each value would alone: the leading 16 hex digits (fewer:
    zero-padded on the left) as a signed 64-bit integer; null and blank stay null."""
    from masip.linkage import comparisons as C

    values = column([hashlib.sha256(str(i).encode()).hexdigest()[:40] for i in range(200)])
    expected = [
        None if not v else int.from_bytes(bytes.fromhex(v[:16].rjust(16, "0")), "big", signed=True)
        for v in values.to_pylist()
    ]
    assert C.token_ints(values).to_pylist() == expected


def test_records_without_a_date_of_birth_pair_opposite_one_partner_unless_both_names_are_unlike():
    """Opposite the same partner, a record without a date of birth compares names only in the partner view: the
    blocking rule leaves out exactly the pairs whose forename *and* surname are both compared there and both
    fall below every similarity level of the model (a pair that could only weigh against a match); a typo,
    a nickname-free variant, a double-barrelled surname or a missing name keeps the pair a candidate."""
    from masip.linkage import fuzzy
    from masip.linkage.review import field_agreements
    from masip.linkage.scorer import Scorer

    names = [
        ("Darren", "Fairclough"), ("Daren", "Fairclough"), ("Darren", "Fairclough-Whitby"), ("Darren", "Jones"),
        ("Kevin", "Fairclough"), ("Kevin", "Jones"), ("Kevn", "Jonse"), ("Fairclough", "Darren"), ("Darren", None),
        ("Siobhan", "Okonkwo"), ("Kevin", "Hall"), ("Darren", "Hall-Montgomery"),
    ]
    rows = with_partners([
        call
        for k, (forename, surname) in enumerate(names)
        for call in (
            P(f"K95{k:02d}", "VICTIM", "Leanne", "Parry", "1995-12-01", "F", "CH2 4LT", **ADVOCACY),
            P(f"K95{k:02d}", "PERPETRATOR", forename, surname, **ADVOCACY),
        )
    ])
    may_agree = next(rule for rule in fuzzy.blocking_rules() if "l.dob_unordered_token is null" in rule)
    may_agree = may_agree.split(" is null and ", 1)[1]
    with Scorer(records_frame(rows)) as scorer:
        pairs = scorer.frame(
            f"select l.uid as i, r.uid as j, coalesce({may_agree}, false) as kept from records as l join records as r "
            "on l.partner_salt_token = r.partner_salt_token and l.role = r.role and l.uid < r.uid "
            "where l.dob_unordered_token is null"
        )
        pairs["review_id"] = [f"{i}-{j}" for i, j in zip(pairs["i"], pairs["j"])]
        levels = field_agreements(scorer, scorer.default_model(), pairs).pivot(
            index="review_id", columns="field", values="agreement_level"
        )
    unlike = levels["forename"].eq("else") & levels["surname"].isin(["else", "different, both women"])
    kept = pairs.set_index("review_id")["kept"]
    assert len(kept) == len(names) * (len(names) - 1) // 2
    assert (kept == ~unlike.reindex(kept.index)).all()
    assert kept.any() and not kept.all()


#: Many copies of one person (a placeholder person, an export repeating one row's person): a dated victim who links,
#: and a name-only suspect who links to nobody.
COPIES = [person(f"C3{n:02d}", "VICTIM", "Katherine", "Wilkinson", "1990-07-02", "F", "CW1 2AB") for n in range(12)] + [
    person(f"K3{n:02d}", "PERPETRATOR", "John", "Smith", table="cases", source="advocacy-service") for n in range(12)
]


def test_copies_beyond_the_scored_ones_are_paired_with_their_first_and_link_the_same(monkeypatch):
    """One delivery's thousands of identical persons made the linkage quadratic (92 s for 3,000 rows, outside check
    2026-12-07). Copies beyond the first few are now paired with their group's first alone: the persons, methods
    and probabilities are those of pairing every copy with every record, from far fewer pairs."""
    from masip.linkage import copies, scorer

    frame = records_frame(RECORDS + COPIES)
    predicted: list[int] = []
    original = scorer.Scorer.predict

    def counted(self, *args, **kwargs):
        pairs = original(self, *args, **kwargs)
        predicted.append(len(pairs))
        return pairs

    monkeypatch.setattr(scorer.Scorer, "predict", counted)
    every_pair = link_person_records(frame, CONTEXT)
    every_pair_scored = predicted[0]
    predicted.clear()
    monkeypatch.setattr(copies, "SCORED_COPIES", 3)
    capped = link_person_records(frame, CONTEXT)
    pd.testing.assert_frame_equal(capped, every_pair)
    katherine = capped[capped.record_ref.str.startswith("C3")]
    assert katherine.person_id.nunique() == 1 and pid(capped, "C101", "VICTIM") == katherine.person_id.iloc[0]
    assert capped[capped.record_ref.str.startswith("K3")].link_method.eq("SINGLETON").all()
    # C101 and its 12 copies: 78 pairs among them when all are blocked, 3 among the first three
    assert predicted[0] <= every_pair_scored - 70


def test_copies_are_grouped_by_fingerprint_in_member_key_order():
    from masip.linkage.copies import Copies

    found = Copies.of(np.array([7, 5, 7, 7, 5, 9, 7], dtype=np.int64), scored=2)
    assert found.surplus.tolist() == [False, False, False, True, False, False, True]
    assert found.first.tolist() == [0, 1, 0, 0, 1, 5, 0]
    assert found.second.tolist() == [2, 4, 2, 2, 4, -1, 2]


def test_surplus_copies_pairs_are_replaced_by_their_pair_with_the_first_in_sorted_order():
    """A previous run's pairs of a row that is now a surplus copy go; each surplus copy gets its group's first two
    rows' pair (score included), at its sorted place; with nothing to change, the pairs are not copied (a national
    week's 14.5 million pairs were copied four times here and hashed: its peak of memory, 2026-12-07)."""
    from masip.linkage.copies import Copies
    from masip.linkage.state import PAIR_COLUMNS

    found = Copies.of(np.array([7, 5, 7, 7, 5, 9, 7], dtype=np.int64), scored=2)  # rows 3 and 6 are surplus copies
    pairs = pd.DataFrame({
        "uid_l": [0, 0, 1, 2, 4], "uid_r": [2, 3, 4, 5, 5], "match_weight": [9.0, 8.0, 7.0, 1.0, 2.0],
        "match_probability": [0.99, 0.98, 0.97, 0.2, 0.3], "forenames_differ": [False, False, True, False, False],
    })[list(PAIR_COLUMNS)]
    replaced = found.with_pairs_to_first(pairs)
    assert list(zip(replaced.uid_l, replaced.uid_r)) == [(0, 2), (0, 3), (0, 6), (1, 4), (2, 5), (4, 5)]
    assert replaced.match_weight.tolist() == [9.0, 9.0, 9.0, 7.0, 1.0, 2.0]  # (0, 3) was 8.0: rescored as (0, 2)
    assert replaced.forenames_differ.tolist() == [False, False, False, True, False, False]
    unpaired_first = pairs[~((pairs.uid_l == 0) & (pairs.uid_r == 2))].reset_index(drop=True)
    without_template = found.with_pairs_to_first(unpaired_first)
    assert list(zip(without_template.uid_l, without_template.uid_r)) == [(1, 4), (2, 5), (4, 5)]
    untouched = pairs[pairs.uid_r != 3].reset_index(drop=True)
    assert Copies.of(np.arange(7, dtype=np.int64), scored=2).with_pairs_to_first(untouched) is untouched
    no_template = untouched[untouched.uid_l != 0].reset_index(drop=True)
    assert found.with_pairs_to_first(no_template) is no_template


def test_the_training_sample_depends_on_the_keys_alone_and_is_the_one_earlier_releases_drew():
    """The records whose member keys hash lowest, whatever their order; hashed without factorising first (the keys
    are distinct: 2.1 s of a national year's linkage), which gives the hashes pandas gave before, so a release
    does not move the sample."""
    from masip.linkage.scorer import training_sample

    keys = pa.array([f"police|crimes|CR{n:06d}|VICTIM" for n in range(5_000)])
    shuffled = keys.take(pa.array(np.random.default_rng(7).permutation(len(keys))))
    sample = set(keys.take(pa.array(training_sample(keys, size=300))).to_pylist())
    assert len(sample) == 300 and sample == set(shuffled.take(pa.array(training_sample(shuffled, size=300))).to_pylist())
    drawn_before = np.argpartition(pd.util.hash_array(keys.to_numpy(zero_copy_only=False)), 300)[:300]
    assert sample == set(keys.take(pa.array(drawn_before)).to_pylist())
    assert training_sample(keys, size=5_000) is None


def test_training_leaves_out_the_surplus_copies_that_hold_an_encoding():
    """3,000 copies put 4.5 million identical pairs into each training block their encodings reach: EM took 100
    s of a 122 s linkage (outside check, 2026-12-07). Surplus copies with an encoding are not trained on; copies
    with none (in no block, comparing nothing) stay, so a national year's training sample is unchanged."""
    from masip.linkage.copies import Copies

    found = Copies.of(np.array([7, 5, 7, 7, 5, 9, 7, 3, 3, 3], dtype=np.int64), scored=2)
    encoded = np.array([True] * 7 + [False] * 3)
    assert found.surplus.tolist() == [False, False, False, True, False, False, True, False, False, True]
    assert found.trained(None, encoded).tolist() == [0, 1, 2, 4, 5, 7, 8, 9]
    assert found.trained(np.array([1, 3, 5, 6, 9]), encoded).tolist() == [1, 5, 9]
    assert found.trained(None, np.zeros(10, dtype=bool)) is None


def test_roles_crowded_opposite_one_partner_are_left_to_their_identifiers(monkeypatch, caplog, linked):
    """The dyad pass pairs each role to resolve with every role opposite the same partner: 3,000 name-only victims
    of one suspect in one delivery took the linkage to 172 s (outside check, 2026-12-07), quadratic in the group.
    A group over the bound resolves none of its roles by context and says how many, withholding every value."""
    from masip.linkage import context

    monkeypatch.setattr(context, "MAX_DYAD_GROUP", 2)  # C108, C109 and K108's perpetrators face one victim
    with caplog.at_level("WARNING", logger="masip.linkage"):
        crowded = link_person_records(records_frame(RECORDS), CONTEXT)
    assert method(linked, "K108", "PERPETRATOR") == "CONTEXT"
    assert method(crowded, "K108", "PERPETRATOR") == "SINGLETON"
    assert pid(crowded, "C109", "PERPETRATOR") == pid(crowded, "C108", "PERPETRATOR")
    warned = [r.getMessage() for r in caplog.records if "not linked through their partner" in r.getMessage()]
    assert len(warned) == 1 and warned[0].startswith("1 record roles") and "Doherty" not in warned[0]
    untouched = ~((crowded.record_ref == "K108") & (crowded.role == "PERPETRATOR"))
    pd.testing.assert_frame_equal(
        crowded[untouched].drop(columns=["person_id"]).reset_index(drop=True),
        linked[untouched].drop(columns=["person_id"]).reset_index(drop=True),
    )


def test_a_scoring_pass_reads_the_records_in_place_and_scores_as_a_copy_of_them(monkeypatch):
    """Scoring read a copy of the records (a national year's filters, copied to leave out 0.2% of them) through
    a CTE DuckDB materialised: a second copy, which spilled under the scoring cap. The pass now reads them
    through a view, and the CTE where it is read: the same pairs and scores, and nothing left behind."""
    from masip.linkage import fuzzy
    from masip.linkage.backends import DuckDBBackend
    from masip.linkage.scorer import Scorer

    class CopiedBackend(DuckDBBackend):  # the scratch tables as before: copies of the records
        def view(self, name, select, owned=()):
            self.create(name, f"{select} order by 1")
            for table in owned:
                self.drop(table)

    from splink import DuckDBAPI

    sent: list[str] = []  # what DuckDB was sent
    execute = DuckDBAPI._execute_sql_against_backend
    monkeypatch.setattr(DuckDBAPI, "_execute_sql_against_backend", lambda self, sql: sent.append(sql) or execute(self, sql))
    frame = records_frame(RECORDS + COPIES)
    scored = {}
    for backend in (DuckDBBackend(), CopiedBackend()):
        sent.clear()
        with Scorer(frame, backend=backend) as scorer:
            scorer.pair_copies_once()
            model = scorer.default_model()
            scored[type(backend)] = (scorer.predict(model), scorer.predict(model, rows=np.arange(0, len(frame), 2)))
            left = backend.con.execute("select table_name from duckdb_tables() union all "
                                       "select view_name from duckdb_views() where not internal").fetchall()
            assert left == [("records",)]
        scoring = [sql for sql in sent if "gamma_" in sql]
        assert scoring and all("__splink__df_concat as not materialized (" in sql for sql in scoring)
    for every, some in zip(*scored.values()):
        pd.testing.assert_frame_equal(every, some)
    assert len(scored[DuckDBBackend][0]) > len(scored[DuckDBBackend][1]) > 0
    assert fuzzy.has_fuzzy_encodings(frame)


def test_only_an_input_read_for_the_two_sides_of_a_pair_is_inlined():
    """Blocking reads the records twice per rule: there, one materialised copy is cheaper than thirty reads."""
    from masip.linkage.backends import inlined_input_ctes

    cte = "with\n__splink__df_concat as (\n  select uid from records\n)\n"
    pair = cte + "select * from __splink__df_concat as l join __splink__df_concat as r on l.uid < r.uid"
    rules = cte + " union all ".join(
        f"select * from __splink__df_concat as l join __splink__df_concat as r on l.k{n} = r.k{n}" for n in range(3))
    assert "__splink__df_concat as not materialized (" in inlined_input_ctes(pair)
    assert inlined_input_ctes(rules) == rules
