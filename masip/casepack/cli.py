"""``masip casepack``: write the weekly case pack (HTML + PDF) from the warehouse."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from masip.cli_options import DEFAULT_WAREHOUSE, Refusal, output_folder, parse_as_of


@click.command("casepack")
@click.option("--as-of", "as_of", callback=parse_as_of, default=None,
              help="Last day of the week the pack covers (YYYY-MM-DD). Default: the date the warehouse was built "
                   "as of. Another date is computed on a temporary copy; the warehouse is never changed.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), callback=output_folder, required=True,
              help="Folder to write masip-casepack-<as_of>.html and .pdf into.")
@click.option("--warehouse", type=click.Path(path_type=Path, dir_okay=False), default=DEFAULT_WAREHOUSE,
              show_default=True)
@click.option("--pdf/--no-pdf", default=True, show_default=True,
              help="Also print the pack to PDF (needs Chromium: `make browser`; without it the PDF is skipped).")
def casepack(as_of: date | None, out_dir: Path, warehouse: Path, pdf: bool) -> None:
    """Write the weekly MASIP case pack: panel cases, then high-risk flagged cases, one section each."""
    from masip.casepack import CasePackError, build_casepack

    try:
        result = build_casepack(warehouse, out_dir, as_of, pdf=pdf)
    except CasePackError as error:
        raise Refusal(str(error)) from None
    click.echo(f"Case pack for the week to {result.as_of.isoformat()}: {result.cases} cases "
               f"({result.panel_cases} on the panel, {result.high_risk_cases} high risk with open flags), "
               f"{result.new_flags} flags raised this week, {result.cleared_flags} cleared since the previous pack")
    if result.recomputed:
        click.echo("  (flags and panel recomputed for this date on a temporary copy of the warehouse)")
    click.echo(f"  HTML: {result.html_path}")
    if result.pdf_path:
        click.echo(f"  PDF:  {result.pdf_path}")
    if result.pdf_skipped:
        click.secho(f"  {result.pdf_skipped}", fg="yellow")
    click.echo("  Open flags in the pack: " + ", ".join(f"{code} {n}" for code, n in result.flag_counts.items() if n))
