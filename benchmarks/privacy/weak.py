"""The person encodings as version 1 made them (before issue 13): the BEFORE of the benchmark.

Reproduced here, outside the product, so the attacks can show what they
recover from a weak encoding: forename and surname filters under one shared
key, positions by double hashing modulo 256 from one HMAC digest, and keyed
but unsalted stand-alone tokens of the forename, surname, nickname groups,
Soundex codes, day, month and year of birth, the day/month-swapped date and
the postcode district. The tests use it to prove the attacks can succeed.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from cryptography.hazmat.primitives import hashes, hmac

from pseudonymisation.encodings import qgrams
from pseudonymisation.name_keys import nickname_table, phonetic_code


def _mac(key: bytes, value: str) -> bytes:
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(value.encode("utf-8"))
    return mac.finalize()


class WeakEncoder:
    """Version 1: ``encode`` gives the v1 columns (filters as Python ints, tokens as hex)."""

    NAME_BITS, POSTCODE_BITS, HASHES = 256, 128, 6

    def __init__(self, secret: bytes) -> None:
        self._key = {p: _mac(secret, p) for p in ("name", "postcode", "token", "dob", "variant", "phonetic", "district")}
        self._masks: dict[tuple[str, str], int] = {}
        self._nicknames = nickname_table()

    def _token(self, purpose: str, value: str | None) -> str | None:
        return None if value is None else _mac(self._key[purpose], value)[:16].hex()

    def _filter(self, purpose: str, bits: int, value: str | None) -> int | None:
        if not value:
            return None
        out = 0
        for gram in qgrams(value):
            mask = self._masks.get((purpose, gram))
            if mask is None:
                digest = _mac(self._key[purpose], gram)
                h1, h2 = int.from_bytes(digest[:8], "big"), int.from_bytes(digest[8:16], "big") | 1
                mask = 0
                for i in range(self.HASHES):
                    mask |= 1 << ((h1 + i * h2) % bits)
                self._masks[(purpose, gram)] = mask
            out |= mask
        return out

    def encode(self, forename: str | None, surname: str | None, dob: date | None, postcode: str | None) -> dict[str, Any]:
        swap = None
        if dob is not None and dob.day <= 12 and dob.day != dob.month:
            swap = self._token("dob", date(dob.year, dob.day, dob.month).isoformat())
        district = postcode.split(" ")[0] if postcode else None
        tok = self._token
        return {
            "forename_token": tok("token", "f" + forename) if forename else None,
            "surname_token": tok("token", "s" + surname) if surname else None,
            "dob_token": tok("dob", dob.isoformat()) if dob else None,
            "postcode_token": tok("token", "p" + postcode) if postcode else None,
            "forename_bloom": self._filter("name", self.NAME_BITS, forename),
            "surname_bloom": self._filter("name", self.NAME_BITS, surname),
            "postcode_bloom": self._filter("postcode", self.POSTCODE_BITS, postcode.replace(" ", "") if postcode else None),
            "forename_variant_tokens": (
                sorted({tok("variant", g) for g in self._nicknames.groups(forename)}) if forename else None
            ),
            "forename_phonetic_token": tok("phonetic", phonetic_code(forename)) if forename else None,
            "surname_phonetic_token": tok("phonetic", phonetic_code(surname)) if surname else None,
            "dob_day_token": tok("dob", f"d{dob.day}") if dob else None,
            "dob_month_token": tok("dob", f"m{dob.month}") if dob else None,
            "dob_year_token": tok("dob", f"y{dob.year}") if dob else None,
            "dob_swap_token": swap,
            "postcode_district_token": tok("district", district) if district else None,
        }
