"""The partnership secret and the per-purpose keys derived from it (SPEC §3.2, §3.6).

One secret is shared by the partnership. Every use of it goes through HKDF
with a purpose label, so a token made for one field (say, PNC) can never be
compared with a token made for another (say, NHS number), and a leaked
per-purpose key does not expose the others. The secret itself never leaves
this module: objects here print as their key version only.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ParamSpec, TypeVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

log = logging.getLogger(__name__)

SECRET_ENV = "MASIP_SECRET"
SECRET_FILE_ENV = "MASIP_SECRET_FILE"
#: The file descriptor of a pipe holding ``MASIP_SECRET``'s value, which ``masip`` moves there from its
#: environment at start (:func:`secret_in_a_pipe`).
SECRET_FD_ENV = "MASIP_SECRET_FD"
#: The Airflow connection whose *password* holds the partnership secret (``masip.orchestration.keys``).
PARTNERSHIP_CONN_ID = "masip_partnership"
#: Every environment variable that can carry the secret or lead to it: Airflow reads a connection from
#: ``AIRFLOW_CONN_<ID>``.
SECRET_CARRIERS = (SECRET_ENV, SECRET_FILE_ENV, SECRET_FD_ENV, f"AIRFLOW_CONN_{PARTNERSHIP_CONN_ID.upper()}")
MIN_SECRET_BYTES = 32
MIN_SECRET_SYMBOLS = 11  # different bytes: 'aaaa…' or 'changeme' repeated is no key; 64 random hex digits show 16 (fewer than 11: p < 1e-9)
P = ParamSpec("P")
R = TypeVar("R")
HKDF_SALT = b"masip/pseudonymisation/v1"


def keyless_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment without the partnership secret: what the processes after ingest get."""
    return {name: value for name, value in (os.environ if environ is None else environ).items()
            if name not in SECRET_CARRIERS}


@contextmanager
def without_secret() -> Iterator[None]:
    """The block runs with no variable that can carry the secret in this process's environment, so that nothing
    it starts (dbt, the linkage, Chromium) inherits it: how the build, publication and readers run.

    They are put back after the block, for the tasks ``dag.test()`` runs in one process with the ingest; a pipe
    holding the secret (:func:`secret_in_a_pipe`) is closed for good. The environment block a process was
    started with stays as it was (``/proc/<pid>/environ``): ``masip`` therefore starts again without
    ``MASIP_SECRET`` in it (``masip.cli.entry``).
    """
    forget_piped_secret()
    saved = {name: os.environ.pop(name) for name in SECRET_CARRIERS if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def keyless(function: Callable[P, R]) -> Callable[P, R]:
    """``function``, run :func:`without_secret` (the Airflow tasks after ingest), marked ``is_keyless`` for the
    DAG policy test that holds every task function but ingest's to it."""

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with without_secret():
            return function(*args, **kwargs)

    run.is_keyless = True  # type: ignore[attr-defined]
    return run


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
        if len(set(self._secret)) < MIN_SECRET_SYMBOLS:
            raise MissingKeyError(
                f"The partnership secret is a placeholder, not a key: it uses only {len(set(self._secret))} different "
                f"characters (at least {MIN_SECRET_SYMBOLS} are needed; a generated key uses about 16). Generate one "
                "with `masip keygen --out FILE`."
            )
        object.__setattr__(self, "key_version", "kv-" + _derive(self._secret, "key-version", 6).hex())

    def purpose_key(self, purpose: str) -> bytes:
        """The 256-bit key for one purpose, e.g. ``token/pnc`` or ``bloom/name``."""
        return _derive(self._secret, f"{self.key_version}/{purpose}")

    def __repr__(self) -> str:
        return f"Keyring(key_version={self.key_version!r})"

    __str__ = __repr__


def secret_in_a_pipe(secret: str) -> int:
    """A pipe holding ``secret``, its read end inherited by programs this process executes: how ``masip`` moves
    ``MASIP_SECRET`` out of its environment block, which any process of the same user can read for as long as it
    runs (``/proc/<pid>/environ``), before it starts again. The secret is read once, by the process that loads
    the key; every other one closes it unread (:func:`forget_piped_secret`)."""
    read, write = os.pipe()
    os.write(write, secret.encode())  # a secret is far smaller than a pipe's buffer
    os.close(write)
    os.set_inheritable(read, True)
    return read


def piped_secret_fds() -> tuple[int, ...]:
    """The pipe holding the secret, if this process has one: what a child process that loads the key inherits."""
    value = os.environ.get(SECRET_FD_ENV, "")
    return (int(value),) if value.isdigit() else ()


def forget_piped_secret() -> None:
    """Close the pipe holding the secret unread, if there is one: nothing this process runs next can read it."""
    for fd in piped_secret_fds():
        with contextlib.suppress(OSError):
            os.close(fd)
    os.environ.pop(SECRET_FD_ENV, None)


def _secret_from_pipe(value: str) -> bytes:
    try:
        with os.fdopen(int(value), "rb") as pipe:
            secret = pipe.read()
    except (ValueError, OSError):
        secret = b""
    if not secret:
        raise MissingKeyError(
            f"{SECRET_FD_ENV} names no open file descriptor holding the partnership secret (it is set by `masip` itself, for its "
            f"own processes). Unset {SECRET_FD_ENV}, set {SECRET_FILE_ENV} to the partnership key file and re-run."
        )
    return secret_bytes(secret)


def generate_secret() -> str:
    """A new random partnership secret (64 hex characters) for a key file."""
    return os.urandom(32).hex()


def _secret_from_file(path: Path) -> bytes:
    if path.is_dir():
        raise MissingKeyError(
            f"{SECRET_FILE_ENV} points at {path}, which is a folder. Point it at the partnership key file (inside "
            "it, perhaps), or create one with `masip keygen --out FILE`."
        )
    if not path.exists():
        raise MissingKeyError(
            f"{SECRET_FILE_ENV} points at {path}, which does not exist. "
            "Point it at the partnership key file, or create one with `masip keygen --out FILE`."
        )
    if not path.is_file():
        raise MissingKeyError(
            f"{SECRET_FILE_ENV} points at {path}, which is not a regular file (a FIFO, a socket or a device). "
            "Point it at the partnership key file, or create one with `masip keygen --out FILE`."
        )
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        # a warning, not a refusal: a secret mounted into a container (a Kubernetes secret is 0644 by default) may
        # be open to a group or others that only this service's user is in
        log.warning(
            "the partnership key file %s can be read or written by users other than its owner (mode %s): "
            "restrict it with `chmod 600 %s`, unless only this service's user can reach it (a secret volume of a container)",
            path, f"{mode:04o}", path,
        )
    return secret_bytes(path.read_bytes())


def secret_bytes(secret: str | bytes) -> bytes:
    """The secret as the key is derived from it, wherever it came from (a file, the environment, an Airflow
    connection): its bytes without the ASCII spaces, tabs and line ends around them, so the same secret gives the
    same key however it was pasted."""
    return (secret.encode() if isinstance(secret, str) else secret).strip()


def load_keyring(environ: Mapping[str, str] | None = None) -> Keyring:
    """The keyring from ``MASIP_SECRET`` (or the pipe ``masip`` moved it to) or the file named by ``MASIP_SECRET_FILE``.

    Refuses clearly when neither is set: there is no built-in or empty key to
    fall back on (SPEC §3.6); and when both are set to different secrets, since
    either choice would be arbitrary.
    """
    env = os.environ if environ is None else environ
    from_file = _secret_from_file(Path(env[SECRET_FILE_ENV])) if env.get(SECRET_FILE_ENV) else None
    if env.get(SECRET_ENV) or env.get(SECRET_FD_ENV):
        from_env = secret_bytes(env[SECRET_ENV]) if env.get(SECRET_ENV) else _secret_from_pipe(env[SECRET_FD_ENV])
        if from_file is not None and from_file != from_env:
            raise MissingKeyError(
                f"both {SECRET_ENV} and {SECRET_FILE_ENV} are set, to different secrets: refusing to choose between "
                f"them. Unset one of them ({SECRET_FILE_ENV} is preferred) and re-run."
            )
        return Keyring(from_env)
    if from_file is not None:
        return Keyring(from_file)
    raise MissingKeyError(
        "No partnership secret, so refusing to start. Set MASIP_SECRET_FILE to the partnership key file "
        "(create one with `masip keygen --out FILE`, keep it out of git) or MASIP_SECRET to the secret "
        "itself. In Airflow, store it in the connection `masip_partnership` (password field)."
    )


def create_secret_file(path: Path, content: str | bytes) -> None:
    """Create ``path`` holding ``content`` (text as ASCII), readable by its owner only; refuses
    (``FileExistsError``) when the name is taken, by a file or by a link, even one pointing nowhere, which a plain
    write would follow. For key files and the vault's drop salt."""
    data = content.encode("ascii") if isinstance(content, str) else content
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(handle, "wb") as file:
        file.write(data)
