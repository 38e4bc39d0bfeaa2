"""How ``masip`` starts its own stages in child processes (ingest, linkage, the Spark jobs)."""

from __future__ import annotations

import sys


def module_command(module: str, *args: str) -> list[str]:
    """``python -P -m <module> <args>`` with this interpreter: nothing is put before the installed packages on the
    import path. ``-m`` alone puts the working directory first, so a ``masip/`` folder where the operator stands (a
    checkout's parent, or one planted there) ran in place of the package, as the ingest child that receives the
    partnership key (outside check, 2026-12-07)."""
    return [sys.executable, "-P", "-m", module, *args]
