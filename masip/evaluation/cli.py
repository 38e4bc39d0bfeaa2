"""``masip evaluate``: the evaluation report of a warehouse (read-only)."""

from __future__ import annotations

from pathlib import Path

import click

from masip.cli_options import DEFAULT_WAREHOUSE, Refusal, output_folder


@click.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path), callback=output_folder, required=True,
              help="Folder for the report (HTML, charts, published CSVs, summary JSON).")
@click.option("--warehouse", type=click.Path(path_type=Path, dir_okay=False), default=DEFAULT_WAREHOUSE,
              show_default=True, help="Built warehouse to evaluate (opened read-only).")
def evaluate(out_dir: Path, warehouse: Path) -> None:
    """Attrition and reoffending evaluation report, from disclosure-controlled figures."""
    from masip.evaluation.report import EvaluationError, build_evaluation_report

    try:
        result = build_evaluation_report(warehouse, out_dir)
    except EvaluationError as error:
        raise Refusal(str(error)) from None
    click.echo(f"Evaluation report: {result.html_path}")
    for key, analysis in result.analyses.items():
        status = "reported" if analysis.is_reported else "REFUSED"
        click.echo(f"  {key:<9} {status}: {analysis.title}")
    for key, reason in result.refusals.items():
        click.echo(f"  {key}: {reason}", err=True)
