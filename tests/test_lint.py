"""The code style the README states, kept by the suite: ruff over the Python, sqlfluff over the dbt models.

Both run as their command-line tools (the versions ``requirements.lock`` pins), with the project's own
settings: ruff's defaults, ``dbt_project/.sqlfluff`` (DuckDB dialect, lower case, trailing commas,
lines of at most 100 characters). A failure lists every finding, file and line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _run(*command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=cwd, capture_output=True, text=True, check=False)


def test_the_python_passes_ruff():
    checked = _run("ruff", "check", "--no-cache", "--output-format", "concise", ".", cwd=REPO)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_dbt_models_pass_sqlfluff():
    linted = _run(
        "sqlfluff", "lint", "models", "tests", "--processes", "1", "--format", "github-annotation-native",
        cwd=REPO / "dbt_project",
    )
    findings = [line for line in linted.stdout.splitlines() if line.startswith("::warning")]
    assert linted.returncode == 0 and not findings, "\n".join(findings) or linted.stdout + linted.stderr
