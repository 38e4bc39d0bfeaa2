"""The evaluation report's charts (PNG, matplotlib without a display): attrition funnel, outcomes, Kaplan-Meier.

Every chart draws published figures only; a suppressed count shows as the
disclosure marker.
"""

from __future__ import annotations

import base64
import io
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from masip.evaluation.disclosure import ALL_FORCES, MARKER
from masip.evaluation.survival import MONTHS
from masip.output_files import write_output

#: The attrition stages, in the order a crime passes them.
STAGES = ("RECORDED", "CPS_REFERRED", "CHARGED", "COURT", "CONVICTED", "CONVICTED_STALKING")


def _title_as_written(ax: Any, text: str) -> None:
    """Title ``ax`` with text from the data as written: never read as mathematics (matplotlib's ``$…$``), and
    control characters (a tab, a bell), which the font has no glyphs for, as spaces."""
    shown = "".join(" " if unicodedata.category(c).startswith("C") else c for c in text)
    ax.set_title(shown, parse_math=False)


def _figure_to_file(fig: Any, path: Path) -> None:
    image = io.BytesIO()
    fig.savefig(image, dpi=110, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    write_output(path, image.getvalue())
    import matplotlib.pyplot as plt

    plt.close(fig)


def _empty_chart(path: Path, message: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center")
    _figure_to_file(fig, path)


def _bars_by_year(ax: Any, frame: pd.DataFrame, category: str, categories: list[str], years: list[str]) -> None:
    """Published crime counts per category, a bar per financial year side by side; a suppressed count shows
    as the disclosure marker."""
    width = 0.8 / max(len(years), 1)
    for k, year in enumerate(years):
        rows = frame[frame["financial_year"] == year].set_index(category).reindex(categories)
        xs = np.arange(len(categories)) + (k - (len(years) - 1) / 2) * width
        values = rows["crimes"].astype("Float64")
        ax.bar(xs, values.fillna(0).astype(float), width, label=year)
        for x, v in zip(xs, values):
            if pd.isna(v):
                ax.text(x, 0, MARKER, ha="center", va="bottom", fontsize=9)


def with_incomplete_years_marked(published: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The published tables with each financial year not complete at the reference date marked ``†`` (as the
    report's tables and charts show them; the CSVs keep the plain year and ``is_complete_year``)."""
    funnel = published["attrition_funnel_published"]
    incomplete = set(funnel.loc[~funnel["is_complete_year"].astype(bool), "financial_year"])
    return {
        name: frame.assign(financial_year=frame["financial_year"].map(lambda y: f"{y} †" if y in incomplete else y))
        for name, frame in published.items()
    }


def _years_shown(all_years: int, shown: int) -> str:
    return f"the last {shown} of {all_years} financial years" if shown < all_years else "every financial year"


def funnel_chart(funnel: pd.DataFrame, path: Path, years: int = 4) -> None:
    """One panel per force (and all forces): published count per stage, a bar per financial year."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if funnel.empty:
        _empty_chart(path, "No stalking-category crimes to show")
        return
    forces = [f for f in sorted(funnel["force"].unique()) if f != ALL_FORCES] + [ALL_FORCES]
    shown_years = sorted(funnel["financial_year"].unique())[-years:]
    fig, axes = plt.subplots(1, len(forces), figsize=(4.2 * len(forces), 3.8), sharey=False, squeeze=False)
    for ax, force in zip(axes[0], forces):
        _bars_by_year(ax, funnel[funnel["force"] == force], "stage", list(STAGES), shown_years)
        _title_as_written(ax, force.replace("_", " ").title())
        ax.set_xticks(np.arange(len(STAGES)))
        ax.set_xticklabels([s.replace("_", "\n").lower() for s in STAGES], fontsize=7)
        ax.set_ylabel("crimes (rounded to 5)")
    axes[0][-1].legend(title="financial year", fontsize=7)
    every_year = funnel["financial_year"].nunique()
    fig.suptitle(f"Stalking crimes by attrition stage ({_years_shown(every_year, len(shown_years))}; † not complete; "
                 "published figures; * suppressed)", y=1.03)
    _figure_to_file(fig, path)


def outcomes_chart(outcomes: pd.DataFrame, path: Path, years: int = 4) -> None:
    """All-forces outcome groups, a bar per financial year (published figures)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    total = outcomes[outcomes["force"] == ALL_FORCES]
    if total.empty:
        _empty_chart(path, "No stalking-category crimes to show")
        return
    groups = sorted(total["outcome_group"].unique())
    shown_years = sorted(total["financial_year"].unique())[-years:]
    fig, ax = plt.subplots(figsize=(10, 4))
    _bars_by_year(ax, total, "outcome_group", groups, shown_years)
    ax.set_xticks(np.arange(len(groups)))
    ax.set_xticklabels([g.replace("_", "\n").lower() for g in groups], fontsize=7)
    ax.set_ylabel("crimes (rounded to 5)")
    ax.legend(title="financial year", fontsize=7)
    years_shown = _years_shown(total["financial_year"].nunique(), len(shown_years))
    ax.set_title(f"Outcomes of recorded stalking crimes, all forces ({years_shown}; † not complete; published "
                 "figures; * suppressed)", fontsize=9)
    _figure_to_file(fig, path)


def km_chart(curves: dict[str, Any], path: Path) -> None:
    """Kaplan-Meier curves (share reoffended), read at month ends, with 95% bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for key, colour in (("intervention", "tab:blue"), ("comparison", "tab:orange")):
        c = curves[key]
        months = np.array(c["months"])
        reoffended = 1 - np.array(c["survival"])
        ax.step(months, reoffended, where="post", color=colour, label=f"{c['label']} (n ≈ {c['n']})")
        ax.fill_between(months, 1 - np.array(c["high"]), 1 - np.array(c["low"]), step="post",
                        color=colour, alpha=0.15)
    ax.set_xlabel("months after the (pseudo) intervention end")
    ax.set_ylabel("share reoffended (1 − KM survival)")
    ax.set_xlim(0, max(MONTHS))
    ax.set_ylim(0, 1)
    ax.set_xticks(range(0, max(MONTHS) + 1, 3))
    ax.legend(loc="upper left")
    ax.set_title("Time to first stalking-related reoffence (Kaplan-Meier, censored)")
    _figure_to_file(fig, path)


def data_uri(path: Path) -> str:
    """A PNG file as a ``data:`` URI, so the HTML report is one self-contained file."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
