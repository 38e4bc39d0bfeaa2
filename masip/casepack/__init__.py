"""The weekly MASIP case pack (SPEC §7.2): one HTML document and the same as PDF.

    result = build_casepack(Path("warehouse/masip.duckdb"), Path("output/casepack"))

lists every dyad on the panel, then every other dyad with an open flag whose
latest risk level is HIGH, with per case: pseudonymous ids and each agency's
own references, a visual journey timeline, open flags with their evidence,
orders in force with expiry, risk level over time, and what is new in the 7
days up to ``as_of``. The selection and the flags are dbt marts
(``marts.case_pack``, ``dyad_flags``, ``panel``, ``orders_in_force``,
``dyad_risk_history``); this package reads them and renders.

The warehouse is only read. Its marts are built at one ``as_of`` (the run's
reference date); a pack for another date is computed on a temporary copy of
the warehouse rebuilt with that ``as_of``, so the published warehouse is never
touched.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from masip.casepack.data import (
    FLAG_CODES,
    NEW_SINCE_DAYS,
    CasePackError,
    PackData,
    load_pack,
    warehouse_as_of,
)
from masip.casepack.history import compare_with_previous, write_shown_flags
from masip.output_files import fresh_path, write_output

__all__ = [
    "FLAG_CODES",
    "NEW_SINCE_DAYS",
    "CasePackError",
    "CasePackResult",
    "build_casepack",
    "casepack_paths",
]

log = logging.getLogger(__name__)

#: dbt selection rebuilt on the temporary copy when a pack is asked for another as_of: the
#: safeguarding marts and their ancestors, with only the tests whose every parent is rebuilt
#: (dbt's "buildable" indirect selection), so other marts' tests are not run against stale tables.
REBUILD_SELECTION = "+path:models/marts/safeguarding"
INDIRECT_SELECTION_ENV = "DBT_INDIRECT_SELECTION"


@dataclass(frozen=True)
class CasePackResult:
    """What :func:`build_casepack` wrote. Counts and paths only: safe to log or pass through XCom."""

    html_path: Path
    pdf_path: Path | None
    as_of: date
    cases: int
    panel_cases: int
    high_risk_cases: int
    new_flags: int
    cleared_flags: int  # flags the previous pack in the folder showed on a case, no longer open
    left_cases: int  # cases the previous pack in the folder held, not in this one
    flag_counts: dict[str, int]  # open flags of the cases in the pack, by code
    all_flag_counts: dict[str, int]  # open flags of every dyad in the warehouse, by code
    recomputed: bool  # True when as_of differed from the warehouse's and the marts were rebuilt on a copy
    pdf_skipped: str | None = None  # why the PDF was not written and how to get it (no Chromium), else None

    def to_dict(self) -> dict[str, object]:
        return {
            "html_path": str(self.html_path),
            "pdf_path": str(self.pdf_path) if self.pdf_path else None,
            "as_of": self.as_of.isoformat(),
            "cases": self.cases,
            "panel_cases": self.panel_cases,
            "high_risk_cases": self.high_risk_cases,
            "new_flags": self.new_flags,
            "cleared_flags": self.cleared_flags,
            "left_cases": self.left_cases,
            "flag_counts": dict(self.flag_counts),
            "all_flag_counts": dict(self.all_flag_counts),
            "recomputed": self.recomputed,
            "pdf_skipped": self.pdf_skipped,
        }


def casepack_paths(out_dir: Path, as_of: date) -> tuple[Path, Path]:
    """(HTML, PDF) paths of the pack for ``as_of`` in ``out_dir``."""
    stem = f"masip-casepack-{as_of.isoformat()}"
    return out_dir / f"{stem}.html", out_dir / f"{stem}.pdf"


def _load_at(warehouse: Path, as_of: date | None) -> tuple[PackData, bool]:
    built_at = warehouse_as_of(warehouse)
    if as_of is None or as_of == built_at:
        return load_pack(warehouse), False
    from masip.dbt_runner import build_warehouse

    log.info("Case pack for %s: rebuilding the safeguarding marts on a copy of %s (built as of %s)",
             as_of, warehouse, built_at)
    with tempfile.TemporaryDirectory(prefix="masip-casepack-") as tmp:
        copy = Path(tmp) / "casepack.duckdb"
        shutil.copyfile(warehouse, copy)
        wal = warehouse.with_name(warehouse.name + ".wal")
        if wal.exists():
            shutil.copyfile(wal, copy.with_name(copy.name + ".wal"))
        saved = os.environ.get(INDIRECT_SELECTION_ENV)
        os.environ[INDIRECT_SELECTION_ENV] = "buildable"
        try:
            build_warehouse(copy, as_of=as_of, select=REBUILD_SELECTION)
        finally:
            if saved is None:
                os.environ.pop(INDIRECT_SELECTION_ENV, None)
            else:
                os.environ[INDIRECT_SELECTION_ENV] = saved
        pack = load_pack(copy)
    pack.warehouse_as_of = built_at or as_of
    return pack, True


def build_casepack(warehouse: Path, out_dir: Path, as_of: date | None = None, *, pdf: bool = True) -> CasePackResult:
    """Write the weekly case pack (HTML and, with ``pdf``, the same as PDF) for the week to ``as_of``.

    ``as_of`` defaults to the date the warehouse's marts were built at. The
    files are ``out_dir/masip-casepack-<as_of>.html`` and ``.pdf``; a second
    run for the same date replaces them. Read-only on ``warehouse``.

    Raises :class:`CasePackError` when the warehouse lacks the marts. Without
    Chromium the HTML is still written and the PDF is skipped: ``pdf_skipped``
    says why and how to get it, and so does ``<stem>.pdf-skipped.txt`` beside
    the HTML (removed again once a PDF is written).
    """
    from masip.casepack.render import (
        BrowserUnavailable,
        pack_bookmarks,
        render_html,
        write_pdf,
    )

    warehouse = Path(warehouse)
    if not warehouse.is_file():
        raise CasePackError(f"warehouse {warehouse} does not exist. What to do: run `masip run` first, or pass --warehouse.")
    pack, recomputed = _load_at(warehouse, as_of)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    compare_with_previous(pack, out_dir)
    html_path, pdf_path = casepack_paths(out_dir, pack.as_of)
    write_output(html_path, render_html(pack, recomputed=recomputed))
    write_shown_flags(out_dir, pack)
    skipped_note = pdf_path.with_name(f"{pdf_path.stem}.pdf-skipped.txt")
    pdf_skipped: str | None = None
    if pdf:
        try:
            with fresh_path(pdf_path) as tmp_pdf:
                write_pdf(html_path, tmp_pdf, f"MASIP case pack · week to {pack.as_of.isoformat()}", pack_bookmarks(pack))
        except BrowserUnavailable as error:
            pdf_skipped = f"PDF skipped: {error} Then run `masip casepack --out {out_dir}` again for the PDF."
            pdf_path.unlink(missing_ok=True)  # an older PDF of this week would not match the new HTML
            write_output(skipped_note, pdf_skipped + "\n")
            log.warning("Case pack %s", pdf_skipped)
        else:
            skipped_note.unlink(missing_ok=True)
    result = CasePackResult(
        html_path=html_path,
        pdf_path=pdf_path if pdf and pdf_skipped is None else None,
        pdf_skipped=pdf_skipped,
        as_of=pack.as_of,
        cases=len(pack.cases),
        panel_cases=len(pack.section("PANEL")),
        high_risk_cases=len(pack.section("HIGH_RISK_FLAGGED")),
        new_flags=sum(len(c.new_flags) for c in pack.cases),
        cleared_flags=sum(len(c.cleared_flags) for c in pack.cases),
        left_cases=len(pack.left_cases),
        flag_counts=pack.flag_counts,
        all_flag_counts=pack.flag_counts_all,
        recomputed=recomputed,
    )
    log.info("Case pack for the week to %s: %d cases (%d on the panel), %s", result.as_of, result.cases,
             result.panel_cases, html_path)
    return result
