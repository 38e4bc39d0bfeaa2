"""A fresh machine (issue 12, class 9): ``masip demo`` works without Chromium.

The README's first command runs the whole pipeline, the case pack and the
evaluation. Without a browser the case pack is written as HTML and the PDF is
skipped, saying so on stdout and in a note beside the pack, with how to get it
(``make browser``). The browser lookup is pointed at a binary that does not
exist (``MASIP_CHROMIUM``), so this holds whether or not this machine has one.
The PDF itself is checked in tests/test_casepack.py, which needs Chromium.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow


def test_demo_finishes_without_chromium_and_says_the_pdf_was_skipped(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASIP_")}
    env.update(MASIP_CHROMIUM=str(tmp_path / "no-chromium-here"), MASIP_SECRET="fresh-machine-test-secret-0123456789abcdef")
    warehouse, out = tmp_path / "warehouse" / "masip.duckdb", tmp_path / "demo"
    demo = subprocess.run(
        [sys.executable, "-m", "masip.cli", "demo", "--dyads", "40", "--warehouse", str(warehouse), "--out", str(out)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1200, check=False,
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "Traceback" not in demo.stderr
    [html] = list((out / "casepack").glob("masip-casepack-*.html"))
    assert not list((out / "casepack").glob("*.pdf"))
    assert "PDF skipped: no Chromium at" in demo.stdout and "make browser" in demo.stdout
    note = html.with_name(html.stem + ".pdf-skipped.txt")
    assert "make browser" in note.read_text(encoding="utf-8")
    assert (out / "evaluation" / "evaluation_report.html").is_file()

    # The case-pack command says the same, and succeeds.
    again = subprocess.run(
        [sys.executable, "-m", "masip.cli", "casepack", "--out", str(tmp_path / "pack"), "--warehouse", str(warehouse)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert again.returncode == 0, again.stderr
    assert "PDF skipped" in again.stdout and "make browser" in again.stdout
    assert (tmp_path / "pack" / html.name).is_file() and (tmp_path / "pack" / note.name).is_file()
