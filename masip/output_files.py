"""Writing the files operators, panels and reviewers read, in folders other people may write to.

An output folder (``--out``) is often shared. A plain write opens the file's
name and follows whatever is there: a symbolic link planted under the name
of a report would make the pipeline's account overwrite the file it points
to, the partnership key or a vault file among them (outside check,
2026-12-07). So every output is written into a new file of its folder,
created exclusively under a random name (never through a link), and renamed
over its name: a rename replaces a link instead of following it, and a
reader never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def fresh_path(path: Path) -> Iterator[Path]:
    """A new, empty file of ``path``'s folder for a tool that writes to a path; renamed over ``path`` when the
    block ends without an error, removed otherwise. Its mode is what a plain write would give (the umask's)."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        os.fchmod(handle, 0o666 & ~_umask())
        os.close(handle)
        yield Path(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_output(path: Path, content: str | bytes, encoding: str = "utf-8") -> Path:
    """Write ``content`` (text in ``encoding``, or bytes) as ``path``, never through a link (module docstring)."""
    data = content.encode(encoding) if isinstance(content, str) else content
    with fresh_path(path) as temporary, temporary.open("wb") as handle:
        handle.write(data)
    return path

