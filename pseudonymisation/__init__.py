"""Keyed pseudonymisation: partnership secret, HKDF per-purpose keys (:mod:`pseudonymisation.keys`), HMAC tokens
(:mod:`pseudonymisation.tokens`), salted encodings (:mod:`pseudonymisation.encodings`), landing copies
(:mod:`pseudonymisation.landing`). Nothing is imported here: ``masip`` reads the key module before anything heavy."""
