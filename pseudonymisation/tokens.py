"""Keyed tokens: HMAC-SHA-256 over normalised values (SPEC §3.2–3.3).

The HMAC object is keyed once per purpose and copied per value, which is
about three times faster than keying per value (see LINKAGE-BASELINES.md):
the key schedule is the expensive part for short strings. Ingest tokenises
a whole column at a time (:meth:`Tokeniser.token_column`), so a value that
repeats (a date of birth, a common surname, a record re-sent every week) is
keyed once per file.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.hazmat.primitives import hashes, hmac

from pseudonymisation.keys import Keyring

TOKEN_BYTES = 16  # 128 bits: no collisions at national scale, half the storage of full digests


class Tokeniser:
    """Makes the tokens of one purpose (e.g. ``pnc``) under one keyring."""

    def __init__(self, keyring: Keyring, purpose: str) -> None:
        self.purpose = purpose
        self.key_version = keyring.key_version
        self._keyed = hmac.HMAC(keyring.purpose_key(f"token/{purpose}"), hashes.SHA256())

    def token(self, normalised: str | None) -> str | None:
        """The token of an already-normalised value; ``None`` stays ``None``."""
        return self.token_column([normalised])[0]

    def token_column(self, values: Sequence[str | None]) -> list[str | None]:
        """``token`` over a column: each distinct value is keyed once; ``None`` stays ``None``."""
        copy = self._keyed.copy
        tokens: dict[str | None, str | None] = {None: None}
        column = []
        append = column.append
        for value in values:
            token = tokens.get(value)
            if token is None and value is not None:
                mac = copy()
                mac.update(value.encode("utf-8"))
                token = tokens[value] = mac.finalize()[:TOKEN_BYTES].hex()
            append(token)
        return column

    def __repr__(self) -> str:
        return f"Tokeniser(purpose={self.purpose!r}, key_version={self.key_version!r})"


# Names alone get no unsalted token (SPEC §3.8): their salted tokens are encodings (pseudonymisation.encodings).
TOKEN_PURPOSES = ("pnc", "nhs", "crn", "name_dob", "dob", "postcode")


def tokenisers(keyring: Keyring) -> dict[str, Tokeniser]:
    """One tokeniser per token column of the linkage vault (``connectors.vault``)."""
    return {purpose: Tokeniser(keyring, purpose) for purpose in TOKEN_PURPOSES}
