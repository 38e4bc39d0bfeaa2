"""Keyed tokens: HMAC-SHA-256 over normalised values (SPEC §3.2–3.3).

The HMAC object is keyed once per purpose and copied per value, which is
about three times faster than keying per value (see LINKAGE-BASELINES.md):
the key schedule is the expensive part for short strings. Ingest tokenises
a whole column at a time (:meth:`Tokeniser.token_column`): Arrow finds the
distinct values (a value that repeats — a date of birth, a common surname, a
record re-sent every week — is keyed once per file) and hands them over as
bytes, Python runs only the three calls of each HMAC, and the digests become
tokens for the whole column at once: the signed 64-bit integer of each
digest's first 8 bytes, the form the vault stores and the linkage compares
(:func:`pseudonymisation.prf.leading_int64`). Formatting each token in Python
and looking values up in a dictionary cost as much as the HMAC itself; hex
text, formatted here and parsed back into those integers before the vault
write, cost about 170 ns a token, a third of an HMAC's own time (issue 15).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.hazmat.primitives import hashes, hmac

from pseudonymisation.keys import Keyring
from pseudonymisation.prf import leading_int64


class Tokeniser:
    """Makes the tokens of one purpose (e.g. ``pnc``) under one keyring."""

    def __init__(self, keyring: Keyring, purpose: str) -> None:
        self.purpose = purpose
        self.key_version = keyring.key_version
        self._keyed = hmac.HMAC(keyring.purpose_key(f"token/{purpose}"), hashes.SHA256())

    def token(self, normalised: str | None) -> int | None:
        """The token of an already-normalised value; ``None`` stays ``None``."""
        return self.token_column([normalised])[0].as_py()

    def token_column(self, values: pa.Array | pa.ChunkedArray | Sequence[str | None]) -> pa.Array:
        """``token`` over a column, as an Arrow int64 array: each distinct value is keyed once; nulls stay null."""
        column = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, pa.string())
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        encoded = column.cast(pa.string()).dictionary_encode()
        copy = self._keyed.copy
        digests = []
        append = digests.append
        for value in encoded.dictionary.cast(pa.binary()).to_pylist():
            mac = copy()
            mac.update(value)
            append(mac.finalize())
        return pc.take(digest_tokens(digests), encoded.indices)

    def __repr__(self) -> str:
        return f"Tokeniser(purpose={self.purpose!r}, key_version={self.key_version!r})"


def digest_tokens(digests: list[bytes]) -> pa.Array:
    """The token of each 32-byte digest (:func:`pseudonymisation.prf.leading_int64`), for all of them at once."""
    if not digests:
        return pa.array([], pa.int64())
    return leading_int64(np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(len(digests), -1))


# Names alone get no unsalted token (SPEC §3.8): their salted tokens are encodings (pseudonymisation.encodings).
TOKEN_PURPOSES = ("pnc", "nhs", "crn", "name_dob", "dob", "postcode")


def tokenisers(keyring: Keyring) -> dict[str, Tokeniser]:
    """One tokeniser per token column of the linkage vault (``connectors.vault``)."""
    return {purpose: Tokeniser(keyring, purpose) for purpose in TOKEN_PURPOSES}
