"""Identifiers: PNC IDs, NHS numbers, CRNs, postcodes and agency references.

Every identifier the generator issues is unique: serial numbers come from a
counter pushed through an affine bijection ``n -> (a*n + b) mod M`` (``a``
coprime to ``M``), so they look scattered but never collide, without keeping
a set of issued values in memory.
"""

from __future__ import annotations

import random

PNC_CHECK_LETTERS = "ZABCDEFGHJKLMNPQRTUVWXY"
NHS_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


def pnc_check_letter(year: int, serial: int) -> str:
    """Check letter of PNC ID ``YYYY/NNNNNNNA``: the letter at index
    ``int(yy + serial) % 23`` of ``ZABCDEFGHJKLMNPQRTUVWXY`` (yy = last two digits)."""
    return PNC_CHECK_LETTERS[int(f"{year % 100:02d}{serial:07d}") % 23]


def format_pnc(year: int, serial: int) -> str:
    return f"{year:04d}/{serial:07d}{pnc_check_letter(year, serial)}"


def pnc_is_valid(value: str) -> bool:
    value = value.strip().upper()
    if len(value) != 13 or value[4] != "/" or not value[:4].isdigit() or not value[5:12].isdigit():
        return False
    return pnc_check_letter(int(value[:4]), int(value[5:12])) == value[12]


def nhs_check_digit(first_nine: str) -> int | None:
    """Mod-11 check digit: weights 10..2, ``11 - (sum mod 11)``; 11 -> 0; 10 -> invalid (None)."""
    total = sum(int(d) * w for d, w in zip(first_nine, NHS_WEIGHTS))
    check = 11 - total % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def nhs_is_valid(value: str) -> bool:
    digits = value.replace(" ", "").strip()
    if len(digits) != 10 or not digits.isdigit():
        return False
    return nhs_check_digit(digits[:9]) == int(digits[9])


class Bijection:
    """Counter -> scattered unique integer in ``[offset, offset + modulus)``."""

    __slots__ = ("a", "b", "counter", "modulus", "offset")

    def __init__(self, rng: random.Random, modulus: int, offset: int = 0) -> None:
        self.modulus = modulus
        self.offset = offset
        a = rng.randrange(modulus // 3, modulus - 1) | 1
        while _gcd(a, modulus) != 1:
            a += 2
        self.a = a
        self.b = rng.randrange(modulus)
        self.counter = 0

    def next(self) -> int:
        n = self.counter
        self.counter += 1
        if n >= self.modulus:
            raise OverflowError("identifier space exhausted")
        return self.offset + (self.a * n + self.b) % self.modulus


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


class IdentifierFactory:
    """Issues person identifiers (PNC, NHS number, CRN)."""

    def __init__(self, rng: random.Random) -> None:
        self._pnc = Bijection(rng, 9_000_000, 0)
        self._nhs = Bijection(rng, 400_000_000, 400_000_000)  # 4xx..7xx
        self._crn = Bijection(rng, 26_000_000, 0)

    def pnc(self, year: int) -> str:
        return format_pnc(year, self._pnc.next())

    def nhs(self) -> str:
        while True:
            first_nine = f"{self._nhs.next():09d}"
            check = nhs_check_digit(first_nine)
            if check is not None:
                return first_nine + str(check)

    def crn(self) -> str:
        n = self._crn.next()
        return f"{chr(ord('A') + n // 1_000_000)}{n % 1_000_000:06d}"


# --- postcodes -----------------------------------------------------------------

_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"

FORCE_DISTRICTS: dict[str, tuple[str, ...]] = {
    "CHESHIRE": tuple(
        [f"CW{i}" for i in range(1, 13)] + [f"CH{i}" for i in (1, 2, 3, 4, 5, 6, 7, 8, 60, 61, 62, 63, 64, 65, 66)]
        + [f"WA{i}" for i in range(1, 17)] + [f"SK{i}" for i in (7, 8, 9, 10, 11, 12)]
    ),
    "HAMPSHIRE": tuple(
        [f"PO{i}" for i in range(1, 18)] + [f"SO{i}" for i in (14, 15, 16, 17, 18, 19, 30, 31, 40, 45, 50, 51, 53)]
        + [f"GU{i}" for i in (11, 12, 14, 15, 16, 17, 30, 31, 32, 33, 34, 35)] + [f"RG{i}" for i in range(21, 30)]
        + ["BH23", "BH24", "BH25"]
    ),
    "MET": tuple(
        [f"SW{i}" for i in range(2, 21)] + [f"SE{i}" for i in range(1, 29)] + [f"N{i}" for i in range(1, 23)]
        + [f"NW{i}" for i in range(1, 12)] + [f"E{i}" for i in range(1, 19)] + [f"W{i}" for i in range(2, 15)]
    ),
}


_HEX = frozenset("0123456789ABCDEF")


def draw_postcode(rng: random.Random, force: str) -> str:
    outward = rng.choice(FORCE_DISTRICTS[force])
    while True:
        postcode = f"{outward} {rng.randrange(10)}{rng.choice(_INWARD_LETTERS)}{rng.choice(_INWARD_LETTERS)}"
        # never all hex characters (E1 5AB -> "E15AB"), so no hex token can contain a postcode by chance
        if not set(postcode.replace(" ", "")) <= _HEX:
            return postcode


# --- agency references -----------------------------------------------------------


class RefFactory:
    """Record references in each agency's own style (see the sample drops)."""

    def __init__(self, rng: random.Random, police_prefixes: dict[str, str]) -> None:
        self._prefix = police_prefixes
        self._crime = {s: Bijection(rng, 8_999_999, 1_000_000) for s in police_prefixes}
        self._order = {s: Bijection(rng, 9_999_999, 1) for s in police_prefixes}
        self._breach = {s: Bijection(rng, 9_999_999, 1) for s in police_prefixes}
        self._court = {s: Bijection(rng, 9_999_999, 1) for s in police_prefixes}
        self._referral = {s: Bijection(rng, 9_999_999, 1) for s in police_prefixes}
        self._event = Bijection(rng, 9_999_999, 1)
        self._contact = Bijection(rng, 99_999_999, 1)
        self._case = Bijection(rng, 999_999, 1)

    def crime(self, source: str, year: int) -> str:
        return f"{self._prefix[source]}-{year % 100:02d}-{self._crime[source].next():07d}"

    def order(self, source: str) -> str:
        return f"{self._prefix[source]}-ORD-{self._order[source].next():07d}"

    def breach(self, source: str) -> str:
        return f"{self._prefix[source]}-BR-{self._breach[source].next():07d}"

    def court(self, source: str) -> str:
        return f"{self._prefix[source]}-CR-{self._court[source].next():07d}"

    def referral(self, source: str) -> str:
        return f"{self._prefix[source]}-RF-{self._referral[source].next():07d}"

    def event(self) -> str:
        return f"EV{self._event.next():07d}"

    def contact(self) -> str:
        return f"HC{self._contact.next():08d}"

    def case(self, year: int) -> str:
        return f"ADV-{year % 100:02d}-{self._case.next():06d}"
