"""Hardened keyed encodings for fuzzy person linkage (SPEC §3.3, §3.8, §4).

Exact tokens (``pseudonymisation.tokens``) only say "identical or not". The
same person appears with nicknames, typos, swapped forename/surname,
day/month-swapped dates of birth and new addresses, so ingest also writes
keyed encodings that support similarity without holding the value. Version 1
of these encodings was decoded without the key (issue 13): 96% of names from
the Bloom filters, full dates of birth for 20%. Versions 2 and 3 follow
the published counter-measures:

* **Independent keyed hash functions per field** (Christen, Schnell,
  Vidanage et al. 2019, "Precise and fast cryptanalysis for Bloom filter
  based PPRL", who break the double-hashing scheme; Kroll & Steinmetzer
  2015, who enumerate its position sets; anonlink/clkhash, which key each
  field separately). Every element of a filter gets ``hashes`` positions,
  each read from its own 16-bit slice of the keyed pseudo-random function
  ``F_K_field(salt, element)`` (:mod:`pseudonymisation.prf`); no modular double hashing, so a q-gram's position set is one
  of C(512, 8) ≈ 2^55, not one of 16,384. Each field (forename, surname,
  postcode, the date-of-birth parts, the name-pair blocking key, the
  nickname groups) has its own HKDF key from the partnership secret
  (:func:`encoding_key`), so a filter of one field never aligns with
  another's.
* **Record-level salting with the date of birth** (the 2022 graph-matching
  attack study cited in shared/REFERENCES.md §2, scitepress 107872: a
  stable, near-unique per-record salt, "Salt-ALL", cut the attack's
  F-measure from ~98% to under 0.5%, and the year of birth was the best
  partial salt; Heng et al., PLOS ONE 2022: such attacks need overlap
  between encoded and plaintext data). A salt of the year alone still lets k known
  records decode everyone born the same year with the same name (the
  benchmark measured 2-3% at k = 100), so each name is encoded in **three
  salted views** of the date of birth: year+month, year+day, and the whole
  date up to a day/month swap (``<field>_bloom_ym``, ``_yd``, ``_u``), and a
  fourth salted with the full postcode (``_pc``). Two records whose dates
  of birth are equal, swapped, or wrong in the day or the month still share
  a view, and so do two at one address (which also covers a wrong year or
  a missing date); a known plaintext only carries over to another person
  with the same name *and* the same year and month, year and day, or
  postcode. (A view of the day/month pair alone, for a mistyped year, was
  tried: its ~7.5 bits of salt let 100 known records decode 5% of the
  forenames of a small partnership.) The salts are
  never stored: two views with different salts simply have unrelated bits
  (Dice about 0.1), so the linkage takes the best Dice over the views.
  Exact-name tokens, nickname-group tokens and the postcode filter are
  salted with the whole date (year and unordered day/month).
* **A partner view** for the records a salt by one's own date of birth would
  cut off: a perpetrator named by name only on a victim's advocacy case, a
  record whose date of birth was left blank. Each person of a two-person
  record (crime, order, advocacy case) also gets name filters salted with
  the *other* person's date of birth (year and unordered day/month), under
  keys of their own, and a keyed token of that salt
  (``partner_salt_token``) so the linkage knows when two partner views
  compare. Two records of a perpetrator with the same victim then compare
  names even when the perpetrator's own date of birth is missing; a known
  plaintext of this view only carries over to records with the same name
  *and* a partner born on the same day.
* **No stand-alone token of a low-entropy value** (SPEC §3.8). Nickname
  groups are keyed with the date of birth and padded to a constant number
  of tokens, so neither their frequency nor the shape of the nickname graph
  shows (``forename_variant_tokens``). Soundex codes only appear inside the
  name-pair blocking key: the keyed *unordered* pair of both names' codes
  with the birth year (about 2^20 values; it also recognises a
  forename/surname swap). No name is keyed unsalted: a keyed unordered
  pair of both full names was tried for blocking and let 100 known records
  decode 1.7% of the surnames of a small partnership. The date of birth is keyed whole
  (``dob_token``), whole up to a day/month swap (``dob_unordered_token``),
  and in parts only together with the year and the surname's Soundex code
  (``dob_year_month_token``, ``dob_year_day_token``: one mistyped part). Day,
  month, year, district and the swap pattern have no token of their own:
  year and district are kept in clear by SPEC §3.4 anyway, and the
  linkage compares them there.

Balancing (a keyed permutation of filter ‖ complement, constant Hamming
weight) and a diffusion layer (Armknecht, Heng, Schnell, PoPETs 2023) were
considered; salting with independent per-field hashing
answers the attacks the benchmark runs (``make bench-privacy``) without a
change to how Dice similarity behaves, so neither is applied.

Sizes. Names and postcodes: 512-bit filters, 8 positions per bigram; a
7-letter name sets ~60 bits, so the Dice coefficient of two filters tracks
the bigram similarity of the values. Filters are ``bits // 8`` bytes, most
significant bit first, the layout of a DuckDB ``BIT`` (compared with
``bit_count(a & b)``, see ``masip.linkage.comparisons``).

Speed (version 3). Every token and every filter position is the keyed
pseudo-random function of :mod:`pseudonymisation.prf` of (salt, value):
HMAC once per distinct salt and per distinct value, AES over the pairs a
whole column at a time (:meth:`PersonEncoder.encode_columns`). Version 2
spent one Python-level HMAC per (salt, bigram), about 90 per record, and
encoded a few thousand records a second; the privacy properties are the
same (independent positions per field, key and salt), and so is the
linkage, which only compares the encodings.

Version 4 is version 3 with the nickname pads it meant to have: in
version 3 the distinct values of a column were found by pandas, which reads
strings as C strings, so every forename's pads (``0x00``, the name, its
number) were one value and got one token per date of birth — a stand-alone
token of the date, and a "nickname" agreement between any two people born
on one day (issue 14). Vaults of version 3 are refused; rebuild them from
the landing copies.

Version 5 encodes the same way, from names spelled in Latin letters
(:func:`connectors.normalise.normalise_name`): version 4 folded accents
only and dropped the letters that are not an accented one, so ``Michał``
was encoded as ``MICHA``, ``Łukasz`` as ``UKASZ`` and ``Иван`` as no name
at all, never equal to another agency's ``Michal``, ``Lukasz`` or ``Ivan``.
Vaults of version 4 are refused for the same reason as version 3's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa

from pseudonymisation.keys import Keyring
from pseudonymisation.name_keys import nickname_table, phonetic_code
from pseudonymisation.prf import KeyedDigests, SaltedPRF, codes, leading_int64

#: A column as the encoders take it: an Arrow array (ingest's) or a sequence of values, ``None`` for missing.
Column = Sequence[Any] | np.ndarray | pa.Array | pa.ChunkedArray


ENCODING_VERSION = "v5"
NAME_BLOOM_BITS = 512
POSTCODE_BLOOM_BITS = 512
BLOOM_HASHES = 8
QGRAM = 2
_SLICE = ">u2"  # each position from its own 16-bit slice of the 128-bit PRF output
_MAX_HASHES = 8
_CHUNK_OWNERS = 100_000  # filters built at once (a bit matrix of one byte per bit: 51 MB at 512 bits)
#: The salted views of each name: the date parts that salt them (see :func:`view_salts`).
NAME_VIEWS = ("ym", "yd", "u", "pc")
#: Fields with their own encoding key (:func:`encoding_key`).
ENCODING_FIELDS = (
    *(f"{name}_{view}" for name in ("forename", "surname") for view in NAME_VIEWS), "postcode", "forename_token", "surname_token", "nickname", "name_pair",
    "dob_unordered", "dob_year_month", "dob_year_day", "forename_partner", "surname_partner", "partner_salt",
)


def encoding_key(keyring: Keyring, field: str) -> bytes:
    """The HKDF key of one encoded field: independent of every other field's and of the tokens'."""
    if field not in ENCODING_FIELDS:
        raise ValueError(f"unknown encoded field {field!r}")
    return keyring.purpose_key(f"encoding/{ENCODING_VERSION}/{field}")


def unordered_date(dob: date) -> str:
    """Year and the unordered day/month pair: the same for a date and its day/month swap."""
    return f"{dob.year}:{min(dob.day, dob.month)}-{max(dob.day, dob.month)}"


def view_salts(dob: date | None, postcode: str | None) -> dict[str, str]:
    """The salt of each name view that the record has: year+month, year+day, the whole date up to a
    day/month swap, the postcode."""
    salts = {"pc": f"pc:{postcode}"} if postcode else {}
    if dob:
        salts |= {view: _DATE_SALTS[view](dob) for view in ("ym", "yd", "u")}
    return salts


_DATE_SALTS: dict[str, Callable[[date], str]] = {
    "ym": lambda d: f"ym:{d.year}-{d.month}",
    "yd": lambda d: f"yd:{d.year}-{d.day}",
    "u": lambda d: f"u:{unordered_date(d)}",
}


@lru_cache(maxsize=1 << 18)
def qgrams(value: str, q: int = QGRAM) -> list[str]:
    """Padded q-grams: ``ANN`` -> ``_A``, ``AN``, ``NN``, ``N_`` (q=2). Cached: treat as read-only."""
    padded = f"_{value}_"
    return [padded[i : i + q] for i in range(len(padded) - q + 1)]


def name_elements(name: str | None) -> list[str]:
    """Filter elements of a name: its padded bigrams.

    The Soundex code is not an element: a typo that changes it (``THOMPSON``
    T512, ``THOMSON`` T525) would cost Dice more than it gains; phonetic
    agreement is carried by the salted name-pair token instead.
    """
    return qgrams(name) if name else []


# -- column helpers ------------------------------------------------------------------


@dataclass(frozen=True)
class Coded:
    """A column as integer codes (-1: missing) into its values; work is done once per value, not per row.

    ``values`` may repeat (a mapped column: two dates of birth with one birth
    year); that only costs a little repeated work, never a wrong result.
    """

    codes: np.ndarray
    values: np.ndarray

    @classmethod
    def of(cls, column: Coded | Column | str, n: int) -> Coded:
        """A column of ``n`` rows; a single string is that value on every row."""
        if isinstance(column, Coded):
            return column
        if isinstance(column, str):
            return cls(np.zeros(n, dtype=np.int64), np.array([column], dtype=object))
        if not isinstance(column, (np.ndarray, pa.Array, pa.ChunkedArray)):
            column = np.asarray(list(column) or [], dtype=object)
        return cls(*codes(column))

    def map(self, function: Callable[[Any], Any]) -> Coded:
        return Coded(self.codes, _objects([function(v) for v in self.values]))

    def with_(self, other: Coded, function: Callable[[Any, Any], Any]) -> Coded:
        """``function(self, other)`` where both are present; missing elsewhere."""
        both = (self.codes >= 0) & (other.codes >= 0)
        width = max(len(other.values), 1)
        pairs, inverse = np.unique(self.codes[both] * width + other.codes[both], return_inverse=True)
        found = np.full(len(self.codes), -1, dtype=np.int64)
        found[both] = inverse
        return Coded(found, _objects([function(x, y) for x, y in zip(self.values[pairs // width], other.values[pairs % width])]))


def _objects(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _distinct_pairs(values: Coded, salts: Coded) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows where both are present, each row's distinct pair, and the pairs' value and salt codes."""
    present = (values.codes >= 0) & (salts.codes >= 0)
    width = max(len(values.values), 1)
    pairs, inverse = np.unique(salts.codes[present] * width + values.codes[present], return_inverse=True)
    return present, inverse, pairs % width, pairs // width


@dataclass(frozen=True)
class Elements:
    """The elements (q-grams, nickname groups) of every distinct value of a column, coded once: a name's
    filters in its eight salted views and its partner view share them instead of each expanding them again."""

    offsets: np.ndarray  # value i's elements are codes[offsets[i]:offsets[i + 1]]
    codes: np.ndarray
    distinct: np.ndarray

    @classmethod
    def of(cls, values: Sequence[str], expand: Callable[[str], Sequence[str]]) -> Elements:
        lists = [expand(value) for value in values]
        lengths = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
        element_codes, distinct = codes(_objects([e for x in lists for e in x]))
        return cls(np.concatenate([[0], np.cumsum(lengths)]), element_codes, distinct)

    def of_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The elements of values ``rows``: (position in ``rows`` of each element, element codes)."""
        per_row = self.offsets[rows + 1] - self.offsets[rows]
        owner = np.repeat(np.arange(len(rows)), per_row)
        within = np.arange(per_row.sum()) - np.repeat(np.cumsum(per_row) - per_row, per_row)
        return owner, self.codes[self.offsets[rows][owner] + within]


def _column(present: np.ndarray, inverse: np.ndarray, per_pair: pa.Array) -> pa.Array:
    """Each row's value of its distinct pair; null where the row has no pair."""
    indices = np.zeros(len(present), dtype=np.int64)
    indices[present] = inverse
    return per_pair.take(pa.array(indices, mask=~present))


# -- tokens and filters ----------------------------------------------------------------


class KeyedHasher:
    """Salted keyed tokens of one field: the signed 64-bit integer of ``F_K(salt, value)``'s first 8 bytes."""

    __slots__ = ("_prf",)

    def __init__(self, key: bytes, digests: tuple[KeyedDigests, KeyedDigests] | None = None) -> None:
        self._prf = SaltedPRF(key, digests)

    def token_column(self, values: Coded | Column, salts: Coded | Column | str) -> pa.Array:
        """The token of each (value, salt), as an Arrow int64 array; null where either is missing."""
        values = Coded.of(values, len(values.codes) if isinstance(values, Coded) else len(values))
        salts = Coded.of(salts, len(values.codes))
        present, inverse, value_codes, salt_codes = _distinct_pairs(values, salts)
        digests = self._prf.of_codes(salt_codes, salts.values, value_codes, values.values)
        return _column(present, inverse, leading_int64(digests))

    def token_sets(
        self, values: Coded | Column, salts: Coded | Column | str, expand: Callable[[str], Sequence[str]],
    ) -> pa.Array:
        """Sorted tokens of the distinct values ``expand(value)`` under each row's salt, as a list array."""
        values = Coded.of(values, len(values.codes) if isinstance(values, Coded) else len(values))
        salts = Coded.of(salts, len(values.codes))
        present, inverse, value_codes, salt_codes = _distinct_pairs(values, salts)
        elements = Elements.of(values.values, expand)
        owner, element_codes = elements.of_rows(value_codes)
        digests = self._prf.of_codes(salt_codes[owner], salts.values, element_codes, elements.distinct)
        tokens = leading_int64(digests).to_numpy()
        order = np.lexsort((tokens, owner))  # each row's tokens in ascending order, as the vault keeps them
        bounds = np.searchsorted(owner[order], np.arange(len(value_codes) + 1)).astype(np.int32)
        sets = pa.ListArray.from_arrays(pa.array(bounds), pa.array(tokens[order]))
        return _column(present, inverse, sets)

    def token(self, value: str | None, salt: str = "") -> int | None:
        return self.token_column([value], salt)[0].as_py()

    def tokens(self, values: Iterable[str], salt: str = "") -> list[int]:
        """Sorted distinct tokens of ``values`` (a set-valued encoding)."""
        return sorted({t for t in self.token_column(list(values), salt).to_pylist() if t is not None})

    def __repr__(self) -> str:  # never shows the key
        return "KeyedHasher(<keyed>)"


class BloomEncoder:
    """Salted keyed Bloom filter of a set of elements, independent positions per element.

    Element ``e`` of a record salted ``s`` sets positions ``slice_i(F_K(s, e))
    mod bits`` for ``i < hashes``: each position from its own 16-bit slice of
    the PRF output (``bits`` divides 2^16, so no bias). Filters are ``bits //
    8`` bytes, most significant bit first (bit ``i`` of the filter as an
    integer is position ``i``).
    """

    def __init__(
        self, key: bytes, bits: int = NAME_BLOOM_BITS, hashes: int = BLOOM_HASHES,
        digests: tuple[KeyedDigests, KeyedDigests] | None = None,
    ):
        if bits <= 0 or 65536 % bits or bits % 64:
            raise ValueError("bits must be a power of two, a multiple of 64, at most 65536")
        if not 0 < hashes <= _MAX_HASHES:
            raise ValueError(f"hashes must be 1..{_MAX_HASHES}")
        self.bits, self.hashes = bits, hashes
        self._prf = SaltedPRF(key, digests)

    def _positions(self, digests: np.ndarray) -> np.ndarray:
        return digests.view(_SLICE)[:, : self.hashes].astype(np.int64) & (self.bits - 1)

    def positions(self, element: str, salt: str = "") -> list[int]:
        return self._positions(self._prf.of_pairs([salt], [element]))[0].tolist()

    def mask(self, elements: Iterable[str], salt: str = "") -> int:
        """The filter as a Python integer (bit ``i`` = position ``i``)."""
        found = self.encode(list(elements), salt)
        return int.from_bytes(found, "big") if found else 0

    def encode(self, elements: Sequence[str], salt: str = "") -> bytes | None:
        if not elements:
            return None
        digests = self._prf.of_pairs([salt] * len(elements), list(elements))
        return self._filters(np.zeros(len(elements), dtype=np.int64), self._positions(digests), 1)[0].as_py()

    def encode_column(
        self, values: Coded | Column, salts: Coded | Column | str,
        elements: Callable[[str], Sequence[str]] | Elements,
    ) -> pa.Array:
        """The filter of ``elements(value)`` under each row's salt, as a binary array; null where either is
        missing or empty. ``elements`` may come expanded already (:class:`Elements` of ``values``' distinct
        values, when ``values`` is :class:`Coded`)."""
        values = Coded.of(values, len(values.codes) if isinstance(values, Coded) else len(values))
        salts = Coded.of(salts, len(values.codes))
        present, inverse, value_codes, salt_codes = _distinct_pairs(values, salts)
        if not isinstance(elements, Elements):
            elements = Elements.of(values.values, elements)
        owner, element_codes = elements.of_rows(value_codes)
        digests = self._prf.of_codes(salt_codes[owner], salts.values, element_codes, elements.distinct)
        filters = self._filters(owner, self._positions(digests), len(value_codes))
        return _column(present, inverse, filters)

    def _filters(self, owner: np.ndarray, positions: np.ndarray, count: int) -> pa.Array:
        """One filter per owner number, as a binary array (``owner`` sorted; owners without elements get null).

        Each element sets its positions in its owner's row of a bit matrix,
        packed most significant bit first: the layout of the filter as a
        big-endian integer (position ``p`` is column ``bits - 1 - p``).
        """
        nbytes = self.bits // 8
        chunks = []
        for first in range(0, count, _CHUNK_OWNERS):
            lo, hi = np.searchsorted(owner, [first, first + _CHUNK_OWNERS])
            rows = min(_CHUNK_OWNERS, count - first)
            bits = np.zeros(rows * self.bits, dtype=bool)
            bits[((owner[lo:hi] - first) * self.bits)[:, None] + (self.bits - 1 - positions[lo:hi])] = True
            filled = np.zeros(rows, dtype=bool)
            filled[owner[lo:hi] - first] = True
            validity = pa.array(filled).buffers()[1]
            chunks.append(pa.Array.from_buffers(pa.binary(nbytes), rows, [validity, pa.py_buffer(np.packbits(bits))]))
        return pa.concat_arrays(chunks).cast(pa.binary()) if chunks else pa.array([], pa.binary())

    def __repr__(self) -> str:
        return f"BloomEncoder(bits={self.bits}, hashes={self.hashes})"


def dice(a: bytes | None, b: bytes | None) -> float | None:
    """Dice coefficient of two filters: 2|a∧b| / (|a|+|b|)."""
    if a is None or b is None:
        return None
    x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    total = x.bit_count() + y.bit_count()
    return 2 * (x & y).bit_count() / total if total else 0.0


# -- the person encoding written by ingest --------------------------------------------

#: Encoding columns of a person record role (:class:`PersonEncoder`), with SQL types.
PERSON_ENCODING_COLUMNS: tuple[tuple[str, str], ...] = (
    ("forename_token", "bigint"),
    ("surname_token", "bigint"),
    *((f"{name}_bloom_{view}", "bit") for name in ("forename", "surname") for view in NAME_VIEWS),
    ("postcode_bloom", "bit"),
    ("forename_variant_tokens", "bigint[]"),
    ("name_pair_token", "bigint"),
    ("partner_salt_token", "bigint"),
    ("forename_partner_bloom", "bit"),
    ("surname_partner_bloom", "bit"),
    ("dob_unordered_token", "bigint"),
    ("dob_year_month_token", "bigint"),
    ("dob_year_day_token", "bigint"),
)


def _postcode_elements(postcode: str) -> list[str]:
    return qgrams(postcode.replace(" ", ""))


def _name_pair(forename: str, surname: str) -> str:
    return "|".join(sorted((phonetic_code(forename), phonetic_code(surname))))


class PersonEncoder:
    """All salted fuzzy-linkage encodings of person record roles, from normalised values.

    Every column has its own HKDF key (:func:`encoding_key`); every value is
    salted with the date of birth or a part of it (:func:`view_salts`), or
    the partner's date of birth.
    """

    def __init__(self, keyring: Keyring) -> None:
        shared = (
            KeyedDigests(keyring.purpose_key(f"encoding/{ENCODING_VERSION}/salt-digest")),
            KeyedDigests(keyring.purpose_key(f"encoding/{ENCODING_VERSION}/value-digest")),
        )

        def key(field: str) -> bytes:
            return encoding_key(keyring, field)

        self.views = {
            (name, view): BloomEncoder(key(f"{name}_{view}"), NAME_BLOOM_BITS, digests=shared)
            for name in ("forename", "surname") for view in NAME_VIEWS
        }
        self.postcode_bloom = BloomEncoder(key("postcode"), POSTCODE_BLOOM_BITS, digests=shared)
        self.forename_token = KeyedHasher(key("forename_token"), shared)
        self.surname_token = KeyedHasher(key("surname_token"), shared)
        self.nickname = KeyedHasher(key("nickname"), shared)
        self.name_pair = KeyedHasher(key("name_pair"), shared)
        self.dob_unordered = KeyedHasher(key("dob_unordered"), shared)
        self.dob_year_month = KeyedHasher(key("dob_year_month"), shared)
        self.dob_year_day = KeyedHasher(key("dob_year_day"), shared)
        self.forename_partner_bloom = BloomEncoder(key("forename_partner"), NAME_BLOOM_BITS, digests=shared)
        self.surname_partner_bloom = BloomEncoder(key("surname_partner"), NAME_BLOOM_BITS, digests=shared)
        self.partner_salt = KeyedHasher(key("partner_salt"), shared)
        self._nicknames = nickname_table()

    def encode(
        self, forename: str | None, surname: str | None, dob: date | None, postcode: str | None,
        partner_dob: date | None = None,
    ) -> dict[str, Any]:
        """Encodings of one record role's normalised values (``None`` where the value is missing).

        ``forename``/``surname`` as from ``normalise_name``, ``postcode`` as
        from ``normalise_postcode``; ``partner_dob``: the date of birth of the
        other person of the same record (victim <-> perpetrator), which salts
        the partner view of the names.
        """
        columns = self.encode_columns([forename], [surname], [dob], [postcode], [partner_dob])
        return {name: values[0].as_py() for name, values in columns.items()}

    def encode_columns(
        self, forenames: Column, surnames: Column, dobs: Column, postcodes: Column, partner_dobs: Column,
    ) -> dict[str, pa.Array]:
        """:meth:`encode` over whole columns of equal length (Arrow arrays or lists; dates as ``date32`` or
        :class:`datetime.date`): one Arrow array per encoding column."""
        n = len(forenames)
        if not len(surnames) == len(dobs) == len(postcodes) == len(partner_dobs) == n:
            raise ValueError("encode_columns needs columns of equal length")
        fore, sur, dob, postcode = (Coded.of(c, n) for c in (forenames, surnames, dobs, postcodes))
        whole = dob.map(unordered_date)
        salts = {view: dob.map(function) for view, function in _DATE_SALTS.items()}
        salts["pc"] = postcode.map(lambda p: f"pc:{p}")
        # date parts are only keyed with the year and the surname's Soundex code: 100 known records
        # reveal the year+month and year+day of too many strangers otherwise (1.2% of full dates)
        part_salt = dob.with_(sur, lambda d, s: f"{d.year}|{phonetic_code(s)}")
        partner = Coded.of(partner_dobs, n).map(lambda d: "p" + unordered_date(d))
        names = {"forename": fore, "surname": sur}
        grams = {name: Elements.of(values.values, name_elements) for name, values in names.items()}
        views = {
            f"{name}_bloom_{view}": encoder.encode_column(names[name], salts[view], grams[name])
            for (name, view), encoder in self.views.items()
        }
        return {
            "forename_token": self.forename_token.token_column(fore, whole),
            "surname_token": self.surname_token.token_column(sur, whole),
            **views,
            "postcode_bloom": self.postcode_bloom.encode_column(postcode, whole, _postcode_elements),
            "forename_variant_tokens": self.nickname.token_sets(fore, whole, self._variants),
            "name_pair_token": self.name_pair.token_column(fore.with_(sur, _name_pair), dob.map(lambda d: str(d.year))),
            "partner_salt_token": self.partner_salt.token_column(partner, ""),
            "forename_partner_bloom": self.forename_partner_bloom.encode_column(fore, partner, grams["forename"]),
            "surname_partner_bloom": self.surname_partner_bloom.encode_column(sur, partner, grams["surname"]),
            "dob_unordered_token": self.dob_unordered.token_column(whole, ""),
            "dob_year_month_token": self.dob_year_month.token_column(dob.map(lambda d: str(d.month)), part_salt),
            "dob_year_day_token": self.dob_year_day.token_column(dob.map(lambda d: str(d.day)), part_salt),
        }

    def _variants(self, forename: str) -> list[str]:
        """The forename's nickname groups, padded with values of nothing public.

        Padded to :attr:`NicknameTable.widest` so the length of the list (how
        many formal names a nickname belongs to) gives no graph structure away;
        a pad (``0x00``, the name, its number) matches only the same name
        under the same salt.
        """
        groups = self._nicknames.groups(forename)
        return [*groups, *(f"\x00{forename}\x00{i}" for i in range(self._nicknames.widest - len(groups)))]

    def __repr__(self) -> str:
        return "PersonEncoder(<keyed>)"
