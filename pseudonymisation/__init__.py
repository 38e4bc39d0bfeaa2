"""Keyed pseudonymisation: partnership secret, HKDF per-purpose keys, HMAC tokens."""

from pseudonymisation.keys import (
    Keyring,
    MissingKeyError,
    generate_secret,
    load_keyring,
)
from pseudonymisation.tokens import Tokeniser, tokenisers

__all__ = ["Keyring", "MissingKeyError", "Tokeniser", "generate_secret", "load_keyring", "tokenisers"]
