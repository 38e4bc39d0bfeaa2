"""What ingest makes of identifiers, as one digest: the vault's encodings compare only with encodings made alike.

``ENCODING_VERSION`` names the encoding scheme, and the vault refuses another
version's encodings. But a release can change what a value becomes under the
same version: a name or postcode normaliser, the cleaning of cells, an
identifier check, the nickname list, or a dependency the normalisers use
(the transliteration and look-alike tables, jellyfish's Soundex). Records
encoded after it would then never link with those encoded before, and
nothing would say so: persons would just stop linking.

:func:`encoding_fingerprint` runs a fixed public corpus of identifier cells
through the same column functions ingest runs on a file (``clean_column``,
then :class:`connectors.person_columns.PersonColumns`: normalisers, checks,
the tokens' plaintexts and every salted encoding) for every contract that
names persons, under a public key, and hashes the result. The vault records
it with its first encodings and refuses encodings of another fingerprint
(:meth:`connectors.vault.Vault.check_encodings`). Nothing in it is secret:
public cells under a public key.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import itertools
import math
from datetime import date
from importlib import resources

import numpy as np
import pyarrow as pa

from connectors.code_lists import load_code_lists
from connectors.column_rules import clean_column
from connectors.contracts import TABLES, TableContract
from connectors.normalise import date_parser, pnc_check_letter
from connectors.person_columns import PersonColumns
from pseudonymisation.encodings import PersonEncoder
from pseudonymisation.keys import Keyring
from pseudonymisation.tokens import tokenisers

#: A public key: the fingerprint shows how values are encoded, not under which secret.
_PUBLIC_KEYRING = Keyring(b"masip public encoding-fingerprint key, not a secret: 0123456789")
_EXTRACT_DATE = date(2026, 1, 5)
#: The two date formats ingest parses on fast paths, and one through ``strptime``.
_DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%d.%m.%Y")  # no month names: they read by locale

_NAMES = (
    "  mary-jane ", "o'brien", "O\u2019Neill", "d`Arcy", "ZOË", "Zoe\u0308", "José", "Siobhán", "Jean Luc",
    "Ann\u00a0Marie", "Łukasz", "Søren", "Ærin", "Straße", "Nguyễn", "Björk", "van der Berg", "De La Cruz",
    "Mc Donald", "St. John", "Smith-Jones", "MÜLLER", "Wiśniewski", "\u0421hristopher", "Иван", "Mария",
    "\U0001d409\U0001d428\U0001d42d\U0001d427", "ＪＯＨＮ", "Ⓐnn", "Ｍｏｈａｍｍｅｄ", "ΑΛΈΞΑΝΔΡΟΣ", "李", "محمد",
    "Dr. John", "j0hn", "A", "x" * 80, "N/A", "null", "-", "", "   ", "\t Tab \t", "Al\u200bi",
)
_POSTCODES = (
    "sw1a 1aa", "SW1A1AA", " m1 1ae ", "GIR 0AA", "EC1A-1BB", "b33 8th", "CR2 6XH", "DN55 1PT", "W1A 0AX",
    "ＳＷ１Ａ １ＡＡ", "12345", "XX1 1XX", "n/a", "", "L1  8JQ",
)
_SEXES = ("M", "f", "Male", "X", "U", "unknown", "", "F ")
_BIRTH_DATES = (
    date(1979, 2, 28), date(1980, 2, 29), date(1984, 3, 3), date(1990, 12, 31), date(1901, 1, 1),
    date(2001, 7, 4), date(1975, 11, 30), date(1966, 6, 6), date(2025, 12, 25), date(1999, 10, 1),
)
_BAD_DATES = ("31/02/1979", "1979-13-01", "00/00/0000", "1899-12-31", "2099-01-01", "12/3/80", "", "unknown")
_PNCS = (
    "2001/0012345" + pnc_check_letter("2001", "12345"), "01/12345" + pnc_check_letter("01", "12345"),
    " 98/7654321" + pnc_check_letter("98", "7654321").lower(), "2001/0012345A", "1234567", "",
)
_NHS_NUMBERS = ("943 476 5919", "9434765919", "943-476-5919", "9434765918", "1234567890", "")
_CRNS = ("A123456", "a123456", " X12345", "AB12345", "")


def _nickname_cells() -> list[str]:
    """Every name of the public nickname list, as it is written there."""
    text = resources.files("pseudonymisation").joinpath("data/nicknames.csv").read_text(encoding="utf-8")
    return sorted({cell for row in csv.reader(text.splitlines()) for cell in row if cell})


def _cycle(values: tuple[str, ...] | list[str], rows: int, stride: int) -> pa.Array:
    """``rows`` cells from ``values``, stepping by ``stride`` (or the next step that visits every value), so that
    the columns of a row pair their values up widely."""
    while math.gcd(stride, len(values)) != 1:
        stride += 1
    return pa.array([values[(i * stride) % len(values)] for i in range(rows)], type=pa.string())


def _corpus(contract: TableContract, date_format: str, forenames: list[str], role_codes: list[str]) -> dict[str, pa.Array]:
    """The raw cells of every person column of ``contract``, as a file would hold them."""
    rows = len(forenames)
    dates = [d.strftime(date_format) for d in _BIRTH_DATES] + list(_BAD_DATES)
    cells: dict[str, pa.Array] = {}
    for offset, person in enumerate(contract.persons, start=1):
        columns = {
            "forename": pa.array(forenames[offset:] + forenames[:offset], type=pa.string()),
            "surname": _cycle(_NAMES, rows, 7 * offset),
            "dob": _cycle(dates, rows, 5 + offset),
            "sex": _cycle(_SEXES, rows, 3),
            "postcode": _cycle(_POSTCODES, rows, 4 * offset),
        }
        cells.update({person.column(name): columns[name] for name in person.fields})
        for column, values in ((person.pnc_column, _PNCS), (person.nhs_column, _NHS_NUMBERS), (person.crn_column, _CRNS)):
            if column:
                cells[column] = _cycle(values, rows, 1)
        if person.role_column:
            cells[person.role_column] = _cycle(role_codes, rows, 1)
    return {name: clean_column(values) for name, values in cells.items()}


@functools.cache
def encoding_fingerprint() -> str:
    """The sha256 of what ingest's column functions make of the corpus (see the module's docstring).

    Once per process (under a second): the code it runs does not change while a process runs."""
    code_lists = load_code_lists()
    encoder, keyed = PersonEncoder(_PUBLIC_KEYRING), tokenisers(_PUBLIC_KEYRING)
    digest = hashlib.sha256()
    contracts = [contract for contract in TABLES.values() if contract.persons]
    for index, (contract, date_format) in enumerate(zip(contracts, itertools.cycle(_DATE_FORMATS))):
        # every name of the nickname list once; the other contracts lay the same functions out differently
        forenames = [*_nickname_cells(), *_NAMES] if index == 0 else [*_NAMES, *_NAMES[::-1]]
        role_columns = [p.role_column for p in contract.persons if p.role_column]
        role_codes = sorted(code_lists[contract.column(role_columns[0]).code_list]) if role_columns else []
        cells = _corpus(contract, date_format, forenames, role_codes)
        rows = len(forenames)
        persons = PersonColumns(contract, date_parser(date_format), _EXTRACT_DATE, code_lists["sex"], keyed, encoder)
        roles = persons.check(cells, cells, rows, lambda column, fault: None)
        refs = pa.array([f"R{i}" for i in range(rows)], type=pa.string())
        encoded = persons.encode(roles, np.ones(rows, dtype=bool), refs, refs, {"source_id": "s", "agency": "a"})
        digest.update(f"{contract.name}|{date_format}".encode())
        for name in sorted(encoded):
            values = encoded[name]
            digest.update(f"|{name}={values.to_pylist() if hasattr(values, 'to_pylist') else list(values)!r}".encode())
    return digest.hexdigest()
