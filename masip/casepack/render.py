"""Render the case pack: HTML from jinja2 templates; PDF and screenshots with headless Chromium.

Chromium is Debian's (``/usr/bin/chromium``, ``make browser``), driven by
Playwright; nothing is downloaded. The page has no scripts and no external
resources, and every network request is refused, so rendering cannot reach
out of the machine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from masip.casepack.data import AGENCY_OF_TABLE, PackData
from masip.casepack.timeline import LANE_COLOURS, render_timeline
from masip.casepack.wording import (
    AGENCIES,
    LANES,
    PANEL_REASONS,
    SECTIONS,
    event_label,
    flag_explanation,
    flag_title,
    humanise_code,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"

#: Debian's Chromium; override with MASIP_CHROMIUM.
CHROMIUM_ENV = "MASIP_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


class BrowserUnavailable(RuntimeError):
    """Headless Chromium cannot be started; the message says how to install it."""


def long_date(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


def render_html(pack: PackData, recomputed: bool = False) -> str:
    """The whole case pack as one self-contained HTML document."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def risk(level: str | None) -> Markup:
        if not level:
            return Markup('<span class="muted">not recorded</span>')
        return Markup(f'<span class="risk-{escape(level)}">{escape(level.lower())}</span>')

    context: dict[str, Any] = {
        "pack": pack,
        "recomputed": recomputed,
        "css": Markup((TEMPLATES / "casepack.css").read_text(encoding="utf-8")),
        "panel_cases": pack.section("PANEL"),
        "high_cases": pack.section("HIGH_RISK_FLAGGED"),
        "new_flag_count": sum(len(c.new_flags) for c in pack.cases),
        "sections": SECTIONS,
        "panel_reasons": PANEL_REASONS,
        "agencies": {**AGENCIES, "other": "Other"},
        "lanes": LANES,
        "lane_colours": LANE_COLOURS,
        "long_date": long_date,
        "risk": risk,
        "flag_title": lambda code: flag_title(code, pack.thresholds),
        "flag_explanation": lambda code: flag_explanation(code, pack.thresholds),
        "event_label": event_label,
        "humanise": humanise_code,
        "agency_of": lambda table: AGENCY_OF_TABLE.get(table, "other"),
        "timeline": lambda case: Markup(render_timeline(case, pack.as_of)),
    }
    return env.get_template("casepack.html.j2").render(context)


def chromium_path() -> str:
    path = os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
    if not Path(path).is_file():
        raise BrowserUnavailable(
            f"no Chromium at {path}. What to do: install Debian's chromium (`make browser`, i.e. "
            f"`apt-get install chromium`), or point {CHROMIUM_ENV} at a Chromium binary. "
            "The HTML case pack was written; only the PDF needs the browser."
        )
    return path


@contextmanager
def browser_page(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A headless Chromium page that may load ``file:`` URLs and nothing else."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS), headless=True)
        try:
            context = browser.new_context(viewport={"width": width, "height": height}, java_script_enabled=False)
            context.route(
                "**/*",
                lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort(),
            )
            yield context.new_page()
        finally:
            browser.close()


#: PDF bookmarks: (title, anchor id of the heading it points at, children)
Bookmark = tuple[str, str | None, list["Bookmark"]]


def write_pdf(html_path: Path, pdf_path: Path, title: str, bookmarks: list[Bookmark]) -> None:
    """Print ``html_path`` to an A4 PDF with page numbers, then add ``bookmarks`` (the PDF outline).

    Chromium writes a named destination for every in-page link target (the
    index, each case), so each bookmark points at the page where its anchor
    landed; a bookmark without an anchor points at its first child's page.
    (Chromium's own tagged outline would add ~4x to the file size.)
    """
    from pypdf import PdfReader, PdfWriter

    footer = (
        '<div style="font-size:7.5pt;width:100%;padding:0 11mm;color:#555;display:flex;'
        'justify-content:space-between;font-family:Liberation Sans,Arial,sans-serif">'
        f"<span>{escape(title)}</span>"
        '<span>page <span class="pageNumber"></span> of <span class="totalPages"></span></span></div>'
    )
    raw = pdf_path.with_name(f".{pdf_path.name}.chromium")
    try:
        with browser_page() as page:
            page.goto(html_path.resolve().as_uri(), wait_until="load")
            page.emulate_media(media="print")
            page.pdf(
                path=str(raw),
                format="A4",
                print_background=True,
                prefer_css_page_size=True,
                display_header_footer=True,
                header_template="<span></span>",
                footer_template=footer,
            )
        reader = PdfReader(raw)
        pages = {
            name.lstrip("/"): reader.get_destination_page_number(dest)
            for name, dest in reader.named_destinations.items()
        }
        writer = PdfWriter(clone_from=reader)

        def first_page(mark: Bookmark) -> int | None:
            _, anchor, children = mark
            if anchor in pages:
                return pages[anchor]
            return next((p for p in (first_page(c) for c in children) if p is not None), None)

        def add(marks: list[Bookmark], parent: Any = None) -> None:
            for mark in marks:
                number = first_page(mark)
                if number is None:
                    continue
                item = writer.add_outline_item(title=mark[0], page_number=number, parent=parent)
                add(mark[2], item)

        add(bookmarks)
        writer.page_mode = "/UseOutlines"
        writer.add_metadata({"/Title": title, "/Creator": "masip casepack"})
        with pdf_path.open("wb") as handle:
            writer.write(handle)
    finally:
        raw.unlink(missing_ok=True)


def pack_bookmarks(pack: PackData) -> list[Bookmark]:
    """The PDF outline of a pack: the index, then each section with one bookmark per case."""
    n = len(pack.cases)
    marks: list[Bookmark] = [("Index", "index", [])]
    for section in ("PANEL", "HIGH_RISK_FLAGGED"):
        cases = pack.section(section)
        if cases:
            marks.append((
                f"{SECTIONS[section]} ({len(cases)})",
                None,
                [(f"Case {c.position} of {n} · {c.dyad_id}", c.anchor, []) for c in cases],
            ))
    return marks


def screenshot(html_path: Path, png_path: Path, selector: str | None = None, *, width: int = 1200,
               height: int = 1500) -> Path:
    """A PNG of the rendered pack: the first ``height`` pixels from ``selector`` (default: the top)."""
    with browser_page(width=width, height=height) as page:
        page.goto(html_path.resolve().as_uri(), wait_until="load")
        top = 0.0
        if selector:
            box = page.locator(selector).first.bounding_box()
            top = box["y"] if box else 0.0
        page.screenshot(path=str(png_path), full_page=True, clip={"x": 0, "y": top, "width": width, "height": height})
    return png_path
