"""The partnership secret and the per-purpose keys derived from it (SPEC §3.2, §3.6).

One secret is shared by the partnership. Every use of it goes through HKDF
with a purpose label, so a token made for one field (say, PNC) can never be
compared with a token made for another (say, NHS number), and a leaked
per-purpose key does not expose the others. The secret itself never leaves
this module: objects here print as their key version only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECRET_ENV = "MASIP_SECRET"
SECRET_FILE_ENV = "MASIP_SECRET_FILE"
MIN_SECRET_BYTES = 32
HKDF_SALT = b"masip/pseudonymisation/v1"


class MissingKeyError(RuntimeError):
    """The run has no usable partnership secret; it must not start."""


def _derive(secret: bytes, info: str, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=HKDF_SALT, info=info.encode()).derive(secret)


@dataclass(frozen=True)
class Keyring:
    """Derives per-purpose keys from the partnership secret.

    ``key_version`` is a keyed fingerprint of the secret (not reversible), so
    every token can say which key made it and a rotation is visible in the
    warehouse without anyone having to maintain a version counter by hand.
    """

    _secret: bytes = field(repr=False)
    key_version: str = field(init=False)

    def __post_init__(self) -> None:
        if len(self._secret) < MIN_SECRET_BYTES:
            raise MissingKeyError(
                f"The partnership secret is too short ({len(self._secret)} bytes; at least "
                f"{MIN_SECRET_BYTES} are needed). Generate one with `masip keygen --out FILE`."
            )
        object.__setattr__(self, "key_version", "kv-" + _derive(self._secret, "key-version", 6).hex())

    def purpose_key(self, purpose: str) -> bytes:
        """The 256-bit key for one purpose, e.g. ``token/pnc`` or ``bloom/name``."""
        return _derive(self._secret, f"{self.key_version}/{purpose}")

    def __repr__(self) -> str:
        return f"Keyring(key_version={self.key_version!r})"

    __str__ = __repr__


def generate_secret() -> str:
    """A new random partnership secret (64 hex characters) for a key file."""
    return os.urandom(32).hex()


def load_keyring(environ: Mapping[str, str] | None = None) -> Keyring:
    """The keyring from ``MASIP_SECRET`` or the file named by ``MASIP_SECRET_FILE``.

    Refuses clearly when neither is set: there is no built-in or empty key to
    fall back on (SPEC §3.6).
    """
    env = os.environ if environ is None else environ
    if env.get(SECRET_ENV):
        return Keyring(env[SECRET_ENV].encode())
    if env.get(SECRET_FILE_ENV):
        path = Path(env[SECRET_FILE_ENV])
        if not path.is_file():
            raise MissingKeyError(
                f"{SECRET_FILE_ENV} points at {path}, which does not exist. "
                "Point it at the partnership key file, or create one with `masip keygen --out FILE`."
            )
        return Keyring(path.read_bytes().strip())
    raise MissingKeyError(
        "No partnership secret: refusing to start. Set MASIP_SECRET_FILE to the partnership key file "
        "(create one with `masip keygen --out FILE`, keep it out of git) or MASIP_SECRET to the secret "
        "itself. In Airflow, store it in the connection `masip_partnership` (password field)."
    )
