"""Hardened keyed encodings for fuzzy person linkage (SPEC §3.3, §3.8, §4).

Exact tokens (``pseudonymisation.tokens``) only say "identical or not". The
same person appears with nicknames, typos, swapped forename/surname,
day/month-swapped dates of birth and new addresses, so ingest also writes
keyed encodings that support similarity without holding the value. Version 1
of these encodings was decoded without the key (issue 13): 96% of names from
the Bloom filters, full dates of birth for 20%. Version 2 follows the
published counter-measures:

* **Independent keyed hash functions per field** (Christen, Schnell,
  Vidanage et al. 2019, "Precise and fast cryptanalysis for Bloom filter
  based PPRL", who break the double-hashing scheme; Kroll & Steinmetzer
  2015, who enumerate its position sets; anonlink/clkhash, which key each
  field separately). Every element of a filter gets ``hashes`` positions,
  each read from its own 16-bit slice of ``HMAC-SHA-256(K_field, salt ‖
  element)``; no modular double hashing, so a q-gram's position set is one
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

Speed. The HMAC is keyed once per purpose and ``copy()``-ed per message
(about three times faster than re-keying, LINKAGE-BASELINES.md); the mask
of each distinct (salt, element) and each distinct encoded value are cached
in the ingest process only, bounded. Salting costs speed: a new (salt,
bigram) needs its own HMAC, about 90 per record with every date distinct
(a few thousand records a second on one core); a person's repeated records
hit the caches.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Any

from cryptography.hazmat.primitives import hashes, hmac

from pseudonymisation.keys import Keyring

ENCODING_VERSION = "v2"
NAME_BLOOM_BITS = 512
POSTCODE_BLOOM_BITS = 512
BLOOM_HASHES = 8
QGRAM = 2
TOKEN_BYTES = 16
_SLICE_BYTES = 2  # each position from its own 16-bit slice of the digest (16 slices in SHA-256)
_CACHE_LIMIT = 500_000  # distinct values per encoder before the cache is dropped
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
        salts["ym"] = f"ym:{dob.year}-{dob.month}"
        salts["yd"] = f"yd:{dob.year}-{dob.day}"
        salts["u"] = f"u:{unordered_date(dob)}"
    return salts


class KeyedHasher:
    """HMAC-SHA-256 of ``salt ‖ 0x1f ‖ value`` under one field's key, keyed once and copied, cached."""

    __slots__ = ("_cache", "_keyed")

    def __init__(self, key: bytes) -> None:
        self._keyed = hmac.HMAC(key, hashes.SHA256())
        self._cache: dict[tuple[str, str], str] = {}

    def digest(self, value: str, salt: str = "") -> bytes:
        mac = self._keyed.copy()
        mac.update(f"{salt}\x1f{value}".encode())
        return mac.finalize()

    def token(self, value: str | None, salt: str = "") -> str | None:
        if value is None:
            return None
        cache = self._cache
        hit = cache.get((salt, value))
        if hit is None:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            hit = cache[(salt, value)] = self.digest(value, salt)[:TOKEN_BYTES].hex()
        return hit

    def tokens(self, values: Iterable[str], salt: str = "") -> list[str]:
        """Sorted distinct tokens of ``values`` (a set-valued encoding)."""
        return sorted({self.token(v, salt) for v in values})  # type: ignore[misc]

    def __repr__(self) -> str:  # never shows the key
        return "KeyedHasher(<keyed>)"


def qgrams(value: str, q: int = QGRAM) -> list[str]:
    """Padded q-grams: ``ANN`` -> ``_A``, ``AN``, ``NN``, ``N_`` (q=2)."""
    padded = f"_{value}_"
    return [padded[i : i + q] for i in range(len(padded) - q + 1)]


class BloomEncoder:
    """Salted keyed Bloom filter of a set of elements, independent positions per element.

    Element ``e`` of a record salted ``s`` sets positions ``int(d[2i:2i+2]) mod
    bits`` for ``i < hashes``, ``d = HMAC-SHA-256(K, s ‖ e)``: each position
    from its own slice of the digest (``bits`` divides 2^16, so no bias).
    ``encode`` returns ``bits // 8`` bytes, most significant bit first.
    """

    def __init__(self, key: bytes, bits: int = NAME_BLOOM_BITS, hashes: int = BLOOM_HASHES):
        if bits <= 0 or 65536 % bits or bits % 64:
            raise ValueError("bits must be a power of two, a multiple of 64, at most 65536")
        if not 0 < hashes <= 32 // _SLICE_BYTES:
            raise ValueError(f"hashes must be 1..{32 // _SLICE_BYTES}")
        self.bits, self.hashes = bits, hashes
        self._hasher = KeyedHasher(key)
        self._masks: dict[tuple[str, str], int] = {}
        self._values: dict[tuple[str, tuple[str, ...]], bytes] = {}
        self._nbytes = bits // 8

    def positions(self, element: str, salt: str = "") -> list[int]:
        digest = self._hasher.digest(element, salt)
        width = _SLICE_BYTES
        return [int.from_bytes(digest[i * width : (i + 1) * width], "big") % self.bits for i in range(self.hashes)]

    def _mask(self, element: str, salt: str) -> int:
        mask = self._masks.get((salt, element))
        if mask is None:
            if len(self._masks) >= _CACHE_LIMIT:
                self._masks.clear()
            digest, bits = self._hasher.digest(element, salt), self.bits
            mask = 0
            for i in range(0, _SLICE_BYTES * self.hashes, _SLICE_BYTES):  # = positions(), unrolled
                mask |= 1 << (((digest[i] << 8) | digest[i + 1]) % bits)
            self._masks[(salt, element)] = mask
        return mask

    def mask(self, elements: Iterable[str], salt: str = "") -> int:
        """The filter as a Python integer (bit ``i`` = position ``i``)."""
        out = 0
        for element in elements:
            out |= self._mask(element, salt)
        return out

    def encode(self, elements: Sequence[str], salt: str = "") -> bytes | None:
        if not elements:
            return None
        key = (salt, tuple(elements))
        hit = self._values.get(key)
        if hit is None:
            if len(self._values) >= _CACHE_LIMIT:
                self._values.clear()
            hit = self._values[key] = self.mask(elements, salt).to_bytes(self._nbytes, "big")
        return hit

    def __repr__(self) -> str:
        return f"BloomEncoder(bits={self.bits}, hashes={self.hashes})"


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
        #: The most groups any name has: every name's group tokens are padded to this many.
        self.widest = 1 + max((len(group) for group in self._heads.values()), default=0)

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
    the tests check both give the same codes, so encodings never depend on
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


def name_elements(name: str | None) -> list[str]:
    """Filter elements of a name: its padded bigrams.

    The Soundex code is not an element: a typo that changes it (``THOMPSON``
    T512, ``THOMSON`` T525) would cost Dice more than it gains; phonetic
    agreement is carried by the salted name-pair token instead.
    """
    return qgrams(name) if name else []


# -- the person encoding written by ingest --------------------------------------------

#: Encoding columns of a person record role (:class:`PersonEncoder`), with SQL types.
PERSON_ENCODING_COLUMNS: tuple[tuple[str, str], ...] = (
    ("forename_token", "varchar"),
    ("surname_token", "varchar"),
    *((f"{name}_bloom_{view}", "bit") for name in ("forename", "surname") for view in NAME_VIEWS),
    ("postcode_bloom", "bit"),
    ("forename_variant_tokens", "varchar[]"),
    ("name_pair_token", "varchar"),
    ("partner_salt_token", "varchar"),
    ("forename_partner_bloom", "bit"),
    ("surname_partner_bloom", "bit"),
    ("dob_unordered_token", "varchar"),
    ("dob_year_month_token", "varchar"),
    ("dob_year_day_token", "varchar"),
)


class PersonEncoder:
    """All salted fuzzy-linkage encodings of one person record role, from normalised values.

    Every column has its own HKDF key (:func:`encoding_key`); every value is
    salted with the date of birth or a part of it (:func:`view_salts`), or
    the partner's date of birth.
    """

    def __init__(self, keyring: Keyring) -> None:
        def key(field: str) -> bytes:
            return encoding_key(keyring, field)

        self.views = {
            (name, view): BloomEncoder(key(f"{name}_{view}"), NAME_BLOOM_BITS)
            for name in ("forename", "surname") for view in NAME_VIEWS
        }
        self.postcode_bloom = BloomEncoder(key("postcode"), POSTCODE_BLOOM_BITS)
        self.forename_token = KeyedHasher(key("forename_token"))
        self.surname_token = KeyedHasher(key("surname_token"))
        self.nickname = KeyedHasher(key("nickname"))
        self.name_pair = KeyedHasher(key("name_pair"))
        self.dob_unordered = KeyedHasher(key("dob_unordered"))
        self.dob_year_month = KeyedHasher(key("dob_year_month"))
        self.dob_year_day = KeyedHasher(key("dob_year_day"))
        self.forename_partner_bloom = BloomEncoder(key("forename_partner"), NAME_BLOOM_BITS)
        self.surname_partner_bloom = BloomEncoder(key("surname_partner"), NAME_BLOOM_BITS)
        self.partner_salt = KeyedHasher(key("partner_salt"))
        self._nicknames = nickname_table()

    def encode(
        self, forename: str | None, surname: str | None, dob: date | None, postcode: str | None,
        partner_dob: date | None = None,
    ) -> dict[str, Any]:
        """Encodings of normalised values (``None`` where the value is missing).

        ``forename``/``surname`` as from ``normalise_name``, ``postcode`` as
        from ``normalise_postcode``; ``partner_dob``: the date of birth of the
        other person of the same record (victim <-> perpetrator), which salts
        the partner view of the names.
        """
        whole = unordered_date(dob) if dob else None
        # date parts are only keyed with the year and the surname's Soundex code: 100 known records
        # reveal the year+month and year+day of too many strangers otherwise (1.2% of full dates)
        part_salt = f"{dob.year}|{phonetic_code(surname)}" if dob and surname else None
        partner = "p" + unordered_date(partner_dob) if partner_dob else None
        pair = None
        if forename and surname:
            pair = "|".join(sorted((phonetic_code(forename), phonetic_code(surname))))
        names = {"forename": name_elements(forename), "surname": name_elements(surname)}
        salts = view_salts(dob, postcode)
        views = {
            f"{name}_bloom_{view}": encoder.encode(names[name], salts[view]) if view in salts else None
            for (name, view), encoder in self.views.items()
        }
        return {
            "forename_token": self.forename_token.token(forename, whole) if whole else None,
            "surname_token": self.surname_token.token(surname, whole) if whole else None,
            **views,
            "postcode_bloom": (
                self.postcode_bloom.encode(qgrams(postcode.replace(" ", "")), whole) if postcode and whole else None
            ),
            "forename_variant_tokens": self._variants(forename, whole) if forename and whole else None,
            "name_pair_token": self.name_pair.token(pair, str(dob.year)) if dob else None,
            "partner_salt_token": self.partner_salt.token(partner),
            "forename_partner_bloom": (
                self.forename_partner_bloom.encode(name_elements(forename), partner) if partner else None
            ),
            "surname_partner_bloom": self.surname_partner_bloom.encode(name_elements(surname), partner) if partner else None,
            "dob_unordered_token": self.dob_unordered.token(whole) if dob else None,
            "dob_year_month_token": self.dob_year_month.token(str(dob.month), part_salt) if part_salt else None,
            "dob_year_day_token": self.dob_year_day.token(str(dob.day), part_salt) if part_salt else None,
        }

    def encode_columns(
        self,
        forenames: Sequence[str | None],
        surnames: Sequence[str | None],
        dobs: Sequence[date | None],
        postcodes: Sequence[str | None],
        partner_dobs: Sequence[date | None],
    ) -> dict[str, list[Any]]:
        """:meth:`encode` over whole columns (equal lengths): one list per encoding column."""
        rows = [self.encode(*values) for values in zip(forenames, surnames, dobs, postcodes, partner_dobs, strict=True)]
        return {name: [row[name] for row in rows] for name, _ in PERSON_ENCODING_COLUMNS}

    def _variants(self, forename: str, salt: str) -> list[str]:
        """Salted tokens of the forename's nickname groups, padded with tokens of nothing public.

        Padded to :attr:`NicknameTable.widest` so the length of the list (how
        many formal names a nickname belongs to) gives no graph structure away;
        a pad (``0x00``, the name, its number) matches only the same name
        under the same salt.
        """
        groups = self._nicknames.groups(forename)
        pads = (f"\x00{forename}\x00{i}" for i in range(self._nicknames.widest - len(groups)))
        return self.nickname.tokens([*groups, *pads], salt)

    def __repr__(self) -> str:
        return "PersonEncoder(<keyed>)"

