"""What ingest makes of identifiers, as one digest: the vault's encodings compare only with encodings made alike.

``ENCODING_VERSION`` names the encoding scheme, and the vault refuses another
version's encodings. But a release can change what a value becomes under the
same version: a name or postcode normaliser, the cleaning of cells, an
identifier check, the nickname list, or a dependency the normalisers use
(the transliteration and look-alike tables, jellyfish's Soundex). Records
encoded after it would then never link with those encoded before, and
nothing would say so: persons would just stop linking.

:func:`encoding_fingerprint` runs a fixed public corpus of identifier cells
(``pseudonymisation/data/encoding_fingerprint_corpus.json``, and every name
of the nickname list) through the same column functions ingest runs on a
file (``clean_column``, then :class:`connectors.person_columns.PersonColumns`:
normalisers, checks, the tokens' plaintexts and every salted encoding) for
every contract that names persons, under a public key, and hashes the
result. The vault records it with its first encodings and refuses encodings
of another fingerprint of the same corpus
(:meth:`connectors.vault.Vault.check_encodings`). Nothing in it is secret:
public cells under a public key. The cells live in a data file, not here:
the synthetic name pool must share no word with the product's code (the leak
checks would read a pool name there as a leak).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
from datetime import date
from importlib import resources

import numpy as np
import pyarrow as pa

from connectors.code_lists import load_code_lists
from connectors.column_rules import clean_column
from connectors.contracts import TABLES, TableContract
from connectors.normalise import date_parser
from connectors.person_columns import PersonColumns
from pseudonymisation.encodings import PersonEncoder
from pseudonymisation.keys import Keyring
from pseudonymisation.name_keys import nickname_rows
from pseudonymisation.tokens import tokenisers

#: A public key: the fingerprint shows how values are encoded, not under which secret.
_PUBLIC_KEYRING = Keyring(b"masip public encoding-fingerprint key, not a secret: 0123456789")
_EXTRACT_DATE = date(2026, 1, 5)
#: The two date formats ingest parses on fast paths, and one through ``strptime``.
_DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%d.%m.%Y")  # no month names: they read by locale

_CORPUS = "data/encoding_fingerprint_corpus.json"  # of the pseudonymisation package: the cells, outside the code


def _nickname_cells() -> list[str]:
    """Every name of the public nickname list, as it is written there."""
    return sorted({cell for row in nickname_rows() for cell in row if cell})


def _cycle(values: tuple[str, ...] | list[str], rows: int, stride: int) -> pa.Array:
    """``rows`` cells from ``values``, stepping by ``stride`` (or the next step that visits every value), so that
    the columns of a row pair their values up widely."""
    while math.gcd(stride, len(values)) != 1:
        stride += 1
    return pa.array([values[(i * stride) % len(values)] for i in range(rows)], type=pa.string())


def _corpus(
    contract: TableContract, cells: dict[str, list[str]], date_format: str, forenames: list[str], role_codes: list[str],
) -> dict[str, pa.Array]:
    """The raw cells of every person column of ``contract``, as a file would hold them."""
    rows = len(forenames)
    dates = [date.fromisoformat(d).strftime(date_format) for d in cells["birth_dates"]] + cells["bad_birth_dates"]
    columns: dict[str, pa.Array] = {}
    for offset, person in enumerate(contract.persons, start=1):
        fields = {
            "forename": pa.array(forenames[offset:] + forenames[:offset], type=pa.string()),
            "surname": _cycle(cells["names"], rows, 7 * offset),
            "dob": _cycle(dates, rows, 5 + offset),
            "sex": _cycle(cells["sexes"], rows, 3),
            "postcode": _cycle(cells["postcodes"], rows, 4 * offset),
        }
        columns.update({person.column(name): fields[name] for name in person.fields})
        identifiers = ((person.pnc_column, "pncs"), (person.nhs_column, "nhs_numbers"), (person.crn_column, "crns"))
        for column, kind in identifiers:
            if column:
                columns[column] = _cycle(cells[kind], rows, 1)
        if person.role_column:
            columns[person.role_column] = _cycle(role_codes, rows, 1)
    return {name: clean_column(values) for name, values in columns.items()}


@functools.cache
def encoding_fingerprint() -> str:
    """``<corpus>:<digest>``: the corpus file's sha256 (12 hex digits), and the sha256 of what ingest's column
    functions make of it (see the module's docstring). Fingerprints of different corpora do not compare.

    Once per process (under a second): the code it runs does not change while a process runs."""
    raw = resources.files("pseudonymisation").joinpath(_CORPUS).read_bytes()
    cells = json.loads(raw)
    code_lists = load_code_lists()
    encoder, keyed = PersonEncoder(_PUBLIC_KEYRING), tokenisers(_PUBLIC_KEYRING)
    digest = hashlib.sha256()
    contracts = [contract for contract in TABLES.values() if contract.persons]
    for index, (contract, date_format) in enumerate(zip(contracts, itertools.cycle(_DATE_FORMATS))):
        # every name of the nickname list once; the other contracts lay the same functions out differently
        names = cells["names"]
        forenames = [*_nickname_cells(), *names] if index == 0 else [*names, *names[::-1]]
        role_columns = [p.role_column for p in contract.persons if p.role_column]
        role_codes = sorted(code_lists[contract.column(role_columns[0]).code_list]) if role_columns else []
        columns = _corpus(contract, cells, date_format, forenames, role_codes)
        rows = len(forenames)
        persons = PersonColumns(contract, date_parser(date_format), _EXTRACT_DATE, code_lists["sex"], keyed, encoder)
        roles = persons.check(columns, columns, rows, lambda column, fault: None)
        refs = pa.array([f"R{i}" for i in range(rows)], type=pa.string())
        encoded = persons.encode(roles, np.ones(rows, dtype=bool), refs, refs, {"source_id": "s", "agency": "a"})
        digest.update(f"{contract.name}|{date_format}".encode())
        for name in sorted(encoded):
            values = encoded[name]
            digest.update(f"|{name}={values.to_pylist() if hasattr(values, 'to_pylist') else list(values)!r}".encode())
    return f"{hashlib.sha256(raw).hexdigest()[:12]}:{digest.hexdigest()}"

