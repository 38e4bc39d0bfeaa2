"""Keyed encodings for fuzzy person linkage on pseudonymised values (SPEC §3.3, §4).

Exact tokens (``pseudonymisation.tokens``) only say "identical or not". The
same person appears with nicknames, typos, swapped forename/surname,
day/month-swapped dates of birth and new addresses, so ingest also writes
*keyed* encodings that support similarity without holding the value:

* **Bloom filters** (CLK-style, Schnell et al. 2009): the padded bigrams of a
  normalised value are each hashed to ``hashes`` bit positions of an
  ``bits``-bit filter with HMAC-SHA-256 under a secret per-purpose key
  (double hashing from one digest). The Dice coefficient of two filters
  approximates the bigram Dice similarity of the two values, so ``JONSON``
  scores about 0.8 against ``JOHNSON`` while nothing in the filter can be
  reversed without the key. Forename and surname filters share one key so
  a swapped forename/surname can be recognised by comparing across fields.
* **Variant tokens**: keyed tokens of the nickname groups of a forename
  (from the public list in ``pseudonymisation/data/nicknames.csv``), of the
  Soundex code of each name (one shared key, so swaps compare), of the day,
  month and year of birth, of the date of birth with day and month swapped
  (under the date-of-birth token key, so it compares with ``dob_token``) and
  of the postcode district.

No q-gram, phonetic code or date part is ever stored in the clear: every
stored value is an HMAC output or a filter whose bit positions come from one.

Keys. Every encoding key is a sub-key of a per-purpose token key
(:func:`derive_key`): ``HMAC(K_token/<field>, "masip/encoding/v1/<label>")``.
The token keys themselves come from the partnership secret through HKDF
(``pseudonymisation.keys``), so each encoding purpose has its own key, a key
of one field's domain (names, date of birth, postcode) never derives another
domain's keys, and the encodings need nothing from ingest beyond the
tokenisers it already holds. The label contains ``/`` and lower-case letters,
which no normalised value can, so a sub-key never equals a stored token.

Sizes. Names: 256 bits, 6 positions per bigram (a 7-letter name sets ~45
bits, so Dice tracks bigram similarity closely); postcodes: 128 bits. On
FEBRL these small filters link as well as 1024-bit ones, and they keep
Dice cheap in SQL (four 64-bit words, see ``masip.linkage.comparisons``).

Speed. Keying the HMAC once per purpose and ``copy()``-ing it per message is
about three times faster than re-keying (LINKAGE-BASELINES.md); the bit mask
of each distinct bigram is computed once per purpose and cached, and whole
encodings are cached per distinct value, so a new filter costs a handful of
integer ORs and a repeated one a dictionary lookup (one core: >100,000
records a second with every name distinct, over a million with a city's
repetition of names; ``python -m masip.bench_linkage``). Caches hold plain
values only in the ingest process's memory, like the ingest itself, and are
bounded.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes, hmac

ENCODING_VERSION = "v1"
NAME_BLOOM_BITS = 256
NAME_BLOOM_HASHES = 6
POSTCODE_BLOOM_BITS = 128
POSTCODE_BLOOM_HASHES = 6
QGRAM = 2
TOKEN_BYTES = 16
_CACHE_LIMIT = 500_000  # distinct values per encoder before the cache is dropped


class _TokeniserLike(Protocol):
    def token(self, normalised: str | None) -> str | None: ...


def derive_key(tokeniser: _TokeniserLike, label: str) -> bytes:
    """The 128-bit sub-key of one encoding purpose, keyed by ``tokeniser``'s secret key.

    ``HMAC-SHA-256(K, "masip/encoding/v1/" + label)`` truncated to 16 bytes:
    a PRF output, so it reveals nothing about ``K`` and differs per label.
    """
    token = tokeniser.token(f"masip/encoding/{ENCODING_VERSION}/{label}")
    assert token is not None
    return bytes.fromhex(token)


class KeyedHasher:
    """HMAC-SHA-256 tokens of one purpose, keyed once and copied per value, cached."""

    __slots__ = ("_keyed", "_cache")

    def __init__(self, key: bytes) -> None:
        self._keyed = hmac.HMAC(key, hashes.SHA256())
        self._cache: dict[str, str] = {}

    def digest(self, value: str) -> bytes:
        mac = self._keyed.copy()
        mac.update(value.encode("utf-8"))
        return mac.finalize()

    def token(self, value: str | None) -> str | None:
        if value is None:
            return None
        cache = self._cache
        hit = cache.get(value)
        if hit is None:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            hit = cache[value] = self.digest(value)[:TOKEN_BYTES].hex()
        return hit

    def tokens(self, values: Iterable[str]) -> list[str]:
        """Sorted distinct tokens of ``values`` (a set-valued encoding)."""
        return sorted({self.token(v) for v in values})  # type: ignore[misc]

    def __repr__(self) -> str:  # never shows the key
        return "KeyedHasher(<keyed>)"


def qgrams(value: str, q: int = QGRAM) -> list[str]:
    """Padded q-grams: ``ANN`` -> ``_A``, ``AN``, ``NN``, ``N_`` (q=2)."""
    padded = f"_{value}_"
    return [padded[i : i + q] for i in range(len(padded) - q + 1)]


class BloomEncoder:
    """Keyed Bloom-filter encoding of normalised strings (field-level CLK).

    ``encode`` returns ``bits // 8`` bytes (most significant bit first), the
    layout DuckDB gives a ``BLOB`` cast to ``BIT``, so two filters compare
    with ``bit_count(a & b)`` in SQL; :func:`dice` does the same in Python.
    """

    def __init__(self, key: bytes, bits: int = NAME_BLOOM_BITS, hashes: int = NAME_BLOOM_HASHES, q: int = QGRAM):
        if bits % 8 or bits <= 0:
            raise ValueError("bits must be a positive multiple of 8")
        self.bits, self.hashes, self.q = bits, hashes, q
        self._hasher = KeyedHasher(key)
        self._masks: dict[str, int] = {}
        self._values: dict[str, bytes] = {}
        self._nbytes = bits // 8

    def _mask(self, gram: str) -> int:
        mask = self._masks.get(gram)
        if mask is None:
            digest = self._hasher.digest(gram)
            h1 = int.from_bytes(digest[:8], "big")
            h2 = int.from_bytes(digest[8:16], "big") | 1
            bits = self.bits
            mask = 0
            for i in range(self.hashes):
                mask |= 1 << ((h1 + i * h2) % bits)
            self._masks[gram] = mask
        return mask

    def mask(self, value: str) -> int:
        """The filter as a Python integer (bit ``i`` = position ``i``)."""
        get = self._masks.get
        out = 0
        padded = f"_{value}_"
        q = self.q
        for i in range(len(padded) - q + 1):
            gram = padded[i : i + q]
            m = get(gram)
            out |= m if m is not None else self._mask(gram)
        return out

    def encode(self, value: str | None) -> bytes | None:
        if not value:
            return None
        cache = self._values
        hit = cache.get(value)
        if hit is None:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            hit = cache[value] = self.mask(value).to_bytes(self._nbytes, "big")
        return hit

    def encode_many(self, values: Sequence[str | None]) -> list[bytes | None]:
        """``encode`` over a column; each distinct value is encoded once."""
        encode = self.encode
        return [encode(v) for v in values]

    def __repr__(self) -> str:
        return f"BloomEncoder(bits={self.bits}, hashes={self.hashes}, q={self.q})"


def dice(a: bytes | None, b: bytes | None) -> float | None:
    """Dice coefficient of two filters: 2|a∧b| / (|a|+|b|)."""
    if a is None or b is None:
        return None
    x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    total = x.bit_count() + y.bit_count()
    return 2 * (x & y).bit_count() / total if total else 0.0


# -- nickname groups ---------------------------------------------------------------


class NicknameTable:
    """Forename -> nickname group names, from the public list in ``data/nicknames.csv``.

    A name's groups are the name itself plus every formal name that lists it
    as a nickname; two forenames are nickname-compatible when their groups
    intersect (``BOB``: {BOB, ROBERT, BERT, BOBBY}; ``ROBERT``: {ROBERT,
    BOB, BILL, BILLY}). Entries are folded with ``normalise`` (the ingest
    name normaliser) so they compare with normalised forenames.
    """

    def __init__(self, rows: Iterable[Sequence[str]], normalise) -> None:
        heads: dict[str, set[str]] = {}
        for row in rows:
            names = [n for n in (normalise(cell) for cell in row if cell and cell.strip()) if n]
            if not names:
                continue
            formal, nicks = names[0], names[1:]
            for nick in nicks:
                if nick != formal:
                    heads.setdefault(nick, set()).add(formal)
        self._heads = {name: frozenset(group) for name, group in heads.items()}

    def groups(self, name: str) -> frozenset[str]:
        return self._heads.get(name, frozenset()) | {name}

    def __len__(self) -> int:
        return len(self._heads)


@lru_cache(maxsize=1)
def nickname_table() -> NicknameTable:
    from connectors.normalise import normalise_name

    text = resources.files("pseudonymisation").joinpath("data/nicknames.csv").read_text(encoding="utf-8")
    return NicknameTable(csv.reader(text.splitlines()), normalise_name)


# -- phonetic code -----------------------------------------------------------------

_SOUNDEX_CODES = {
    **dict.fromkeys("BFPV", "1"), **dict.fromkeys("CGJKQSXZ", "2"), **dict.fromkeys("DT", "3"),
    "L": "4", **dict.fromkeys("MN", "5"), "R": "6",
}


def soundex(name: str) -> str:
    """American Soundex of an upper-case ASCII name (``ROBERT`` -> ``R163``).

    The standard algorithm (US National Archives): keep the first letter;
    code the rest; letters with the same code separated only by H or W
    count once; vowels (and Y) separate equal codes; pad or cut to four.
    ``jellyfish.soundex`` (a maintained library, installed with
    recordlinkage) implements the same algorithm and is used when available;
    the tests check both give the same codes, so tokens never depend on
    which one ran.
    """
    if not name:
        return ""
    first = name[0]
    out = [first]
    last = _SOUNDEX_CODES.get(first, "")
    for ch in name[1:]:
        code = _SOUNDEX_CODES.get(ch)
        if code is None:
            if ch not in "HW":
                last = ""  # a vowel separates equal codes; H and W do not
            continue
        if code != last:
            out.append(code)
            if len(out) == 4:
                break
        last = code
    return "".join(out).ljust(4, "0")


try:  # pragma: no cover - depends on the environment
    import jellyfish as _jellyfish

    def phonetic_code(name: str) -> str:
        return _jellyfish.soundex(name)

except ImportError:  # pragma: no cover
    phonetic_code = soundex


# -- the person encoding written by ingest --------------------------------------------

#: Columns added to ``raw.person_records`` by :class:`PersonEncoder`, with SQL types.
PERSON_ENCODING_COLUMNS: tuple[tuple[str, str], ...] = (
    ("forename_bloom", "bit"),
    ("surname_bloom", "bit"),
    ("postcode_bloom", "bit"),
    ("forename_variant_tokens", "varchar[]"),
    ("forename_phonetic_token", "varchar"),
    ("surname_phonetic_token", "varchar"),
    ("dob_day_token", "varchar"),
    ("dob_month_token", "varchar"),
    ("dob_year_token", "varchar"),
    ("dob_swap_token", "varchar"),
    ("postcode_district_token", "varchar"),
)


class PersonEncoder:
    """All fuzzy-linkage encodings of one person record role, from normalised values.

    Built from the ingest's tokenisers (``pseudonymisation.tokens.tokenisers``):
    name encodings are keyed under the ``name_dob`` token key, date parts and
    the swapped date under the ``dob`` one, postcode encodings under the
    ``postcode`` one (see :func:`derive_key`).
    """

    def __init__(self, tokenisers: Mapping[str, _TokeniserLike]) -> None:
        names, dobs, postcodes = tokenisers["name_dob"], tokenisers["dob"], tokenisers["postcode"]
        self.name_bloom = BloomEncoder(derive_key(names, "bloom/name"), NAME_BLOOM_BITS, NAME_BLOOM_HASHES)
        self.postcode_bloom = BloomEncoder(
            derive_key(postcodes, "bloom/postcode"), POSTCODE_BLOOM_BITS, POSTCODE_BLOOM_HASHES
        )
        self.variant = KeyedHasher(derive_key(names, "token/name_variant"))
        self.phonetic = KeyedHasher(derive_key(names, "token/name_phonetic"))
        self.day = KeyedHasher(derive_key(dobs, "token/dob_day"))
        self.month = KeyedHasher(derive_key(dobs, "token/dob_month"))
        self.year = KeyedHasher(derive_key(dobs, "token/dob_year"))
        self.district = KeyedHasher(derive_key(postcodes, "token/postcode_district"))
        self._dob = dobs
        self._nicknames = nickname_table()
        self._variants: dict[str, list[str]] = {}
        self._phonetic: dict[str, str] = {}

    def forename_variants(self, forename: str | None) -> list[str] | None:
        if not forename:
            return None
        hit = self._variants.get(forename)
        if hit is None:
            if len(self._variants) >= _CACHE_LIMIT:
                self._variants.clear()
            hit = self._variants[forename] = self.variant.tokens(self._nicknames.groups(forename))
        return hit

    def phonetic_token(self, name: str | None) -> str | None:
        if not name:
            return None
        hit = self._phonetic.get(name)
        if hit is None:
            if len(self._phonetic) >= _CACHE_LIMIT:
                self._phonetic.clear()
            hit = self._phonetic[name] = self.phonetic.token(phonetic_code(name))  # type: ignore[assignment]
        return hit

    def encode(
        self, forename: str | None, surname: str | None, dob: date | None, postcode: str | None,
        district: str | None = None,
    ) -> dict[str, Any]:
        """Encodings of normalised values (``None`` where the value is missing).

        ``forename``/``surname`` as from ``normalise_name``, ``postcode`` as
        from ``normalise_postcode``, ``district`` its outward code.
        """
        swap = None
        if dob is not None and dob.day <= 12 and dob.day != dob.month:
            swap = self._dob.token(date(dob.year, dob.day, dob.month).isoformat())
        if district is None and postcode:
            district = postcode.split(" ")[0]
        return {
            "forename_bloom": self.name_bloom.encode(forename),
            "surname_bloom": self.name_bloom.encode(surname),
            "postcode_bloom": self.postcode_bloom.encode(postcode.replace(" ", "") if postcode else None),
            "forename_variant_tokens": self.forename_variants(forename),
            "forename_phonetic_token": self.phonetic_token(forename),
            "surname_phonetic_token": self.phonetic_token(surname),
            "dob_day_token": self.day.token(str(dob.day)) if dob else None,
            "dob_month_token": self.month.token(str(dob.month)) if dob else None,
            "dob_year_token": self.year.token(str(dob.year)) if dob else None,
            "dob_swap_token": swap,
            "postcode_district_token": self.district.token(district),
        }

    def __repr__(self) -> str:
        return "PersonEncoder(<keyed>)"
