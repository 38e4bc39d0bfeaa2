"""The evaluation report: attrition (SPEC §7.3) and reoffending (SPEC §7.4) as HTML.

:func:`build_evaluation_report` opens the warehouse read-only and writes,
into ``out_dir``:

* ``evaluation_report.html`` - funnel chart per force, outcome breakdown,
  s2A/s4A splits and downgrades, pre/post and matched comparison tables,
  one-year proven reoffending, Kaplan-Meier plot;
* ``funnel.png``, ``outcomes.png``, ``km.png`` - the charts;
* ``attrition_*_published.csv`` - the published attrition tables, formula-safe
  for spreadsheets (:mod:`masip.published_csv`);
* ``evaluation_summary.json`` - every published figure and every refusal.

Everything in ``out_dir`` may leave the secure area. The attrition figures
come from the ``*_published`` marts only (disclosure-controlled in the
warehouse). The reoffending figures are computed here from person-level rows
(``marts.reoffending_cohort``) and only aggregates are written, under the
Justice Data Lab's rule: an analysis whose cohort (either group) has fewer
than 60 people is refused and the report says why instead of showing
figures; numbers of people are rounded to 5 (numbers at risk of the KM
table also suppressed when 1-7); rates and estimates are rounded to 0.001 in
the JSON and 0.1 percentage point in the HTML; curves are read at month ends.
``EvaluationResult.analyses`` keeps the estimates unrounded (for tests).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from masip.evaluation.charts import (
    data_uri,
    funnel_chart,
    km_chart,
    outcomes_chart,
    with_incomplete_years_marked,
)
from masip.evaluation.html import render
from masip.evaluation.reoffending import MIN_COHORT, Analysis, analyse_reoffending
from masip.output_files import write_output
from masip.published_csv import write_frame

PUBLISHED_TABLES = (
    "attrition_funnel_published",
    "attrition_outcomes_published",
    "attrition_recorded_split_published",
    "attrition_downgrades_published",
)
COHORT_TABLE = "reoffending_cohort"


class EvaluationError(RuntimeError):
    """The warehouse cannot be evaluated; the message says what to do."""


@dataclass
class EvaluationResult:
    """What :func:`build_evaluation_report` wrote and the published figures in it."""

    out_dir: Path
    html_path: Path
    summary_path: Path
    files: tuple[Path, ...]
    as_of: date | None
    funnel: pd.DataFrame  # attrition_funnel_published, as read
    analyses: dict[str, Analysis]

    @property
    def refusals(self) -> dict[str, str]:
        """Analysis key -> why it was not reported (empty when all were reported)."""
        return {k: a.refused for k, a in self.analyses.items() if a.refused is not None}


# --- reading the warehouse -----------------------------------------------------------------------


def read_evaluation_inputs(warehouse: Path) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, date | None]:
    """(published attrition tables, reoffending cohort, as_of), read-only."""
    warehouse = Path(warehouse)
    if not warehouse.is_file():
        raise EvaluationError(
            f"warehouse {warehouse} does not exist. What to do: run the pipeline first "
            "(`masip run` or `masip demo`), or pass --warehouse with the right path."
        )
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        present = {
            t for (t,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        }
        missing = [t for t in (*PUBLISHED_TABLES, COHORT_TABLE) if t not in present]
        if missing:
            raise EvaluationError(
                f"warehouse {warehouse} has no {', '.join('marts.' + m for m in missing)}. What to do: "
                "rebuild the marts with the current dbt project (`masip run`), then evaluate again."
            )
        published = {t: con.execute(f"select * from marts.{t}").df() for t in PUBLISHED_TABLES}
        cohort = con.execute(f"select * from marts.{COHORT_TABLE} order by perpetrator_id").df()
        as_of_row = con.execute("select as_of_date from intermediate.int_as_of").fetchone()
    finally:
        con.close()
    as_of = as_of_row[0] if as_of_row else None
    return published, cohort, as_of


# --- writing the report --------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if np.isnan(value) else float(value)
    if value is pd.NA:
        return None
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


#: Decimals of the estimates written to evaluation_summary.json (a whole percentage point for rates, as the HTML
#: shows them: a third decimal gave away the exact numbers of people behind counts rounded to 5).
PUBLISHED_DECIMALS = 2


def _for_publication(obj: Any) -> Any:
    """NaN -> None and every estimate rounded to PUBLISHED_DECIMALS, recursively."""
    if isinstance(obj, (float, np.floating)):
        return None if math.isnan(obj) else round(float(obj), PUBLISHED_DECIMALS)
    if isinstance(obj, dict):
        return {k: _for_publication(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_for_publication(v) for v in obj]
    return obj


def build_evaluation_report(warehouse: Path, out_dir: Path) -> EvaluationResult:
    """Write the evaluation report of ``warehouse`` (opened read-only) into ``out_dir``.

    Raises :class:`EvaluationError` when the warehouse or its evaluation
    marts are missing. A cohort under 60 people does not raise: that
    analysis is refused, the report says why, and ``result.refusals`` records it.
    """
    published, cohort, as_of = read_evaluation_inputs(Path(warehouse))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    analyses = analyse_reoffending(cohort)

    files: list[Path] = []
    for name, frame in published.items():
        path = out_dir / f"{name}.csv"
        files.append(write_frame(path, frame))
    images: dict[str, str] = {}
    shown = with_incomplete_years_marked(published)
    funnel_png, outcomes_png = out_dir / "funnel.png", out_dir / "outcomes.png"
    funnel_chart(shown["attrition_funnel_published"], funnel_png)
    outcomes_chart(shown["attrition_outcomes_published"], outcomes_png)
    images["funnel"], images["outcomes"] = data_uri(funnel_png), data_uri(outcomes_png)
    files += [funnel_png, outcomes_png]
    stale_km = out_dir / "km.png"
    stale_km.unlink(missing_ok=True)
    if analyses["survival"].is_reported:
        km_chart(analyses["survival"].figures["curves"], stale_km)
        images["km"] = data_uri(stale_km)
        files.append(stale_km)

    html = render(shown, analyses, as_of, cohort, images)
    html_path = out_dir / "evaluation_report.html"
    write_output(html_path, html)
    files.insert(0, html_path)

    summary = {
        "as_of": as_of,
        "min_cohort": MIN_COHORT,
        "analyses": {
            k: {"title": a.title, "reported": a.is_reported, "refused": a.refused, "figures": a.figures}
            for k, a in analyses.items()
        },
    }
    summary_path = out_dir / "evaluation_summary.json"
    write_output(summary_path, json.dumps(_for_publication(summary), default=_json_default, indent=2))
    files.append(summary_path)
    return EvaluationResult(
        out_dir=out_dir,
        html_path=html_path,
        summary_path=summary_path,
        files=tuple(files),
        as_of=as_of,
        funnel=published["attrition_funnel_published"],
        analyses=analyses,
    )
