"""``masip review export|import`` and ``masip explain-person``: clerical review from the command line (no key)."""

from __future__ import annotations

from pathlib import Path

import click

from masip.cli_options import (
    DEFAULT_WAREHOUSE,
    VAULT_HELP,
    Refusal,
    folder,
    output_folder,
)

DEFAULT_OUT = Path("output/review")


@click.group("review")
def review() -> None:
    """Clerical review of the uncertain linkage band: export the queue, import decisions."""


@review.command("export")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), callback=output_folder, default=DEFAULT_OUT,
              show_default=True, help="Folder to write review_queue.csv and review_queue.html into.")
@click.option("--warehouse", type=click.Path(path_type=Path, dir_okay=False), default=DEFAULT_WAREHOUSE,
              show_default=True)
def export_command(out_dir: Path, warehouse: Path) -> None:
    """Write the review queue for reviewers (CSV to fill in, and a readable HTML page)."""
    from masip.clerical import ReviewFileError, export_queue

    try:
        result = export_queue(warehouse, out_dir)
    except ReviewFileError as error:
        raise Refusal(str(error)) from None
    click.echo(f"{result.items} pairs await review.\n  CSV (fill in decision, reviewer, decided_at, reason): "
               f"{result.csv_path}\n  HTML: {result.html_path}")


@review.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--warehouse", type=click.Path(path_type=Path, dir_okay=False), default=DEFAULT_WAREHOUSE,
              show_default=True, help="The warehouse whose record roles the decisions name.")
@click.option("--vault", "vault_dir", type=click.Path(path_type=Path), callback=folder, default=None,
              help=VAULT_HELP)
@click.option("--allow-unqueued", is_flag=True,
              help="Also take decisions on pairs that are not in the review queue (rows added by hand).")
def import_command(file: Path, warehouse: Path, vault_dir: Path | None, allow_unqueued: bool) -> None:
    """Record reviewers' decisions (SAME / NOT_SAME) from a filled-in review_queue.csv; all rows or none."""
    from connectors.vault import Vault
    from masip.clerical import ReviewFileError, import_decisions
    from masip.warehouse import warehouse_lock

    try:
        with warehouse_lock(warehouse, "review-import"):  # no linkage run reads the decisions meanwhile
            result = import_decisions(file, warehouse, Vault.for_warehouse(warehouse, vault_dir), allow_unqueued)
    except (ReviewFileError, FileNotFoundError) as error:
        raise Refusal(str(error)) from None
    already = f", {result.already_recorded} recorded before (not again)" if result.already_recorded else ""
    unqueued = f", {result.unqueued} on pairs not in the review queue" if result.unqueued else ""
    click.echo(f"Recorded {result.recorded} decisions ({result.same} same person, {result.not_same} not the same"
               f"{already}{unqueued}); {result.undecided} rows left undecided. The next run (`masip run` or the "
               "build DAG) applies them.")


@click.command("explain-person")
@click.argument("person_id")
@click.option("--warehouse", type=click.Path(path_type=Path, dir_okay=False), default=DEFAULT_WAREHOUSE,
              show_default=True)
@click.option("--vault", "vault_dir", type=click.Path(path_type=Path), callback=folder, default=None,
              help=VAULT_HELP)
def explain_person_command(person_id: str, warehouse: Path, vault_dir: Path | None) -> None:
    """Why these record roles are one person: each role's link, the evidence between them, pending reviews."""
    from connectors.vault import Vault
    from masip.clerical.explain import ExplainError, explain_person, format_explanation

    try:
        explanation = explain_person(person_id, warehouse, Vault.for_warehouse(warehouse, vault_dir))
    except (ExplainError, FileNotFoundError) as error:
        raise Refusal(str(error)) from None
    click.echo(format_explanation(explanation), nl=False)
