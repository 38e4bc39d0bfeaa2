"""Digests of code, so that what one release stored is recognised by the next (SPEC §3: digests of files, never of data).

A published build records the digest of the dbt project and linkage code that
built it (:mod:`masip.publication`), and the linkage state the digest of the
linkage code that made it (:mod:`masip.linkage.state_store`): a run of other
code rebuilds what that code would make differently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path


def folder_files(root: Path, skip: tuple[str, ...] = ()) -> list[Path]:
    """Every file under ``root`` but bytecode and what lies under its top-level entries ``skip``, sorted."""
    return sorted(
        path for path in root.rglob("*")
        if path.is_file() and path.suffix != ".pyc" and path.relative_to(root).parts[0] not in skip
    )


def files_digest(files: Iterable[Path], root: Path) -> str:
    """SHA-256 (16 hex digits) of ``files`` in the order given: each one's path relative to ``root`` (its bare
    name when outside it), size and bytes. The same files under another checkout give the same digest."""
    digest = hashlib.sha256()
    for path in files:
        name = path.relative_to(root) if path.is_relative_to(root) else Path(path.name)
        digest.update(f"{name.as_posix()}\0{path.stat().st_size}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
