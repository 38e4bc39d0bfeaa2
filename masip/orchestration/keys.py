"""The partnership key for the ingest tasks: the Airflow connection first, then the environment.

**The secret never leaves** :func:`load_partnership_keyring`: it is not
logged, not returned through XCom and not put into any exception message.
Only the ingest tasks load it; the build, linkage, publish, case pack and
evaluation tasks never do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pseudonymisation.keys import (
    PARTNERSHIP_CONN_ID,
    Keyring,
    MissingKeyError,
    load_keyring,
    secret_bytes,
)

log = logging.getLogger(__name__)


def _secret_from_connection() -> bytes | None:
    """The password of the ``masip_partnership`` connection, or ``None`` when there is no such connection."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = Connection.get(PARTNERSHIP_CONN_ID)
    except AirflowNotFoundException:
        return None
    except Exception as error:  # noqa: BLE001 - a broken backend must not leak the URI it choked on
        # ``from None``: the original exception may quote the connection URI, password included.
        raise MissingKeyError(
            f"Could not read the Airflow connection `{PARTNERSHIP_CONN_ID}` ({type(error).__name__}). "
            "Check the secrets backend and the connection's definition."
        ) from None
    password = secret_bytes(conn.password or "")
    if not password:
        raise MissingKeyError(
            f"The Airflow connection `{PARTNERSHIP_CONN_ID}` exists but its password is empty; "
            "put the partnership secret in the password field (or delete the connection to use MASIP_SECRET_FILE)."
        )
    return password


def load_partnership_keyring(environ: Mapping[str, str] | None = None) -> Keyring:
    """The partnership keyring: Airflow connection ``masip_partnership`` first, then MASIP_SECRET(_FILE).

    Raises :class:`MissingKeyError` (whose message names every place a key can
    come from, and never the key) when there is none.
    """
    secret = _secret_from_connection()
    if secret is not None:
        keyring = Keyring(secret)
        source = f"Airflow connection {PARTNERSHIP_CONN_ID}"
    else:
        keyring = load_keyring(environ)
        source = "environment"
    log.info("Partnership key loaded from the %s (key version %s)", source, keyring.key_version)
    return keyring
