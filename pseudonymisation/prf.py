"""A keyed pseudo-random function of (salt, value) pairs, a whole column at a time.

Every fuzzy-linkage encoding (:mod:`pseudonymisation.encodings`) is built from
one primitive, for one field's key ``K``::

    F_K(salt, value) = AES-256_{K_aes}( HMAC-SHA-256_{K_salt}(salt)[:8] ‖ HMAC-SHA-256_{K_value}(value)[:8] )

with ``K_aes``, ``K_salt`` and ``K_value`` three HKDF expansions of ``K``.
AES under a secret key is a pseudo-random permutation, and the block is
injective on (salt, value) up to a 64-bit collision of the salts' or the
values' keyed digests (about 10^-7 for two million distinct postcodes), so
``F`` is a PRF of the pair: its 128 output bits are unrelated for any two
different pairs and unknowable without ``K``.

Why not one HMAC per pair, as in encoding version 2? Speed. Salting makes
nearly every (salt, bigram) pair new, about 90 HMACs per record, and a Python
call per HMAC held ingest to a few thousand records a second. Here HMAC runs
once per *distinct* salt and per distinct value (dates of birth, postcodes,
bigrams and names repeat), cached; the pairs, which do not repeat, go
through AES-ECB in one call per column (OpenSSL, AES-NI, well over a
gigabyte a second). ECB is the right mode: each block is a separate PRF
input, never a message to keep confidential.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

DIGEST_BYTES = 8  # of each half of the block
BLOCK_BYTES = 2 * DIGEST_BYTES
TOKEN_BYTES = 8  # of a token: the 64 bits the vault stores (:func:`leading_int64`)
_CACHE_LIMIT = 1_000_000  # distinct salts or values remembered per function before the cache is dropped
_RECENT = 16  # arrays whose digests are remembered whole


def _expand(key: bytes, label: str) -> bytes:
    return HKDFExpand(algorithm=hashes.SHA256(), length=32, info=f"masip/prf/{label}".encode()).derive(key)


def codes(values: Sequence[Any] | np.ndarray | pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Integer code of each value (-1 for ``None``) and the distinct values, in order of first appearance.

    Strings are told apart by Arrow: pandas' hash table reads Python strings
    as C strings, so two strings that differ only after a NUL character were
    one value to it. Encodings v3 lost the nickname pads that way (every
    forename's pads under one date of birth got one token, a stand-alone
    token of the date). An Arrow column (ingest's) is encoded as it is, with
    no Python object per row; other values (dates in a list) go through pandas.
    """
    arrow = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else None
    if arrow is None:
        array = np.asarray(values, dtype=object)
        try:
            arrow = pa.array(array, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrow = None
        if arrow is None or not pa.types.is_string(arrow.type):
            found, distinct = pd.factorize(array, use_na_sentinel=True)
            return found.astype(np.int64), np.asarray(distinct, dtype=object)
    if isinstance(arrow, pa.ChunkedArray):
        arrow = arrow.combine_chunks()
    encoded = arrow.dictionary_encode()
    found = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    uniques = np.empty(len(encoded.dictionary), dtype=object)
    uniques[:] = encoded.dictionary.to_pylist()
    return found, uniques


def leading_int64(rows: np.ndarray) -> pa.Array:
    """The first 8 bytes of each row of a ``(n, width)`` uint8 matrix as a signed big-endian 64-bit integer.

    This is a token as the vault stores and the linkage compares it: equality is all the linkage
    needs, and two different values collide with probability 2^-64 per pair (about 10^-9 for
    200,000 distinct values). Made straight from the digests, with no hex text on the way.
    """
    return pa.array(np.ascontiguousarray(rows[:, :TOKEN_BYTES]).view(">i8").reshape(-1).astype(np.int64))


class KeyedDigests:
    """The first :data:`DIGEST_BYTES` of HMAC-SHA-256 under one key, of distinct strings, cached."""

    __slots__ = ("_cache", "_keyed", "_recent")

    def __init__(self, key: bytes) -> None:
        self._keyed = hmac.HMAC(key, hashes.SHA256())
        self._cache: dict[str, bytes] = {}
        # the digests of the last few arrays asked for, kept with the array (so its id stays its own):
        # several fields share one salt column (a date of birth salts six of them)
        self._recent: dict[int, tuple[Sequence[str], np.ndarray]] = {}

    def of(self, uniques: Sequence[str]) -> np.ndarray:
        """``(len(uniques), DIGEST_BYTES)`` uint8 rows."""
        seen = self._recent.get(id(uniques))
        if seen is not None and seen[0] is uniques:
            return seen[1]
        rows = self._digests(uniques)
        if len(self._recent) >= _RECENT:
            self._recent.pop(next(iter(self._recent)))
        self._recent[id(uniques)] = (uniques, rows)
        return rows

    def _digests(self, uniques: Sequence[str]) -> np.ndarray:
        cache, copy = self._cache, self._keyed.copy
        if len(cache) + len(uniques) > _CACHE_LIMIT:
            cache.clear()
        out = []
        for value in uniques:
            digest = cache.get(value)
            if digest is None:
                mac = copy()
                mac.update(value.encode("utf-8"))
                digest = cache[value] = mac.finalize()[:DIGEST_BYTES]
            out.append(digest)
        return np.frombuffer(b"".join(out), dtype=np.uint8).reshape(len(uniques), DIGEST_BYTES)


class SaltedPRF:
    """``F_K(salt, value)`` (see the module) over arrays of pairs.

    ``digests``: the (salt, value) :class:`KeyedDigests` to use instead of
    ones derived from ``key``. A :class:`pseudonymisation.encodings.PersonEncoder`
    shares one pair between its fields, so a date of birth that salts six
    fields is keyed once, while each field keeps its own AES key: the
    fields' outputs stay independent, because the AES keys are.
    """

    __slots__ = ("_aes", "_salts", "_values")

    def __init__(self, key: bytes, digests: tuple[KeyedDigests, KeyedDigests] | None = None) -> None:
        self._salts, self._values = digests or (KeyedDigests(_expand(key, "salt")), KeyedDigests(_expand(key, "value")))
        self._aes = Cipher(algorithms.AES(_expand(key, "aes")), modes.ECB())

    def of_codes(
        self, salt_codes: np.ndarray, salt_uniques: Sequence[str], value_codes: np.ndarray, value_uniques: Sequence[str]
    ) -> np.ndarray:
        """``F`` of pairs given as codes into distinct salts and values: ``(len(codes), 16)`` uint8 rows."""
        if not len(salt_codes):
            return np.empty((0, BLOCK_BYTES), dtype=np.uint8)
        blocks = np.empty((len(salt_codes), BLOCK_BYTES), dtype=np.uint8)
        blocks[:, :DIGEST_BYTES] = self._salts.of(salt_uniques)[salt_codes]
        blocks[:, DIGEST_BYTES:] = self._values.of(value_uniques)[value_codes]
        encryptor = self._aes.encryptor()
        out = encryptor.update(blocks.tobytes()) + encryptor.finalize()
        return np.frombuffer(out, dtype=np.uint8).reshape(-1, BLOCK_BYTES)

    def of_pairs(self, salts: Sequence[str], values: Sequence[str]) -> np.ndarray:
        """``F`` of aligned salts and values (no ``None``): ``(len, 16)`` uint8 rows."""
        salt_codes, salt_uniques = codes(salts)
        value_codes, value_uniques = codes(values)
        return self.of_codes(salt_codes, salt_uniques, value_codes, value_uniques)

    def __repr__(self) -> str:  # never shows the key
        return "SaltedPRF(<keyed>)"
