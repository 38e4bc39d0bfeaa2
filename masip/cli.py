"""``masip``: the command line of the MASIP data-sharing pipeline.

Every command calls the same stage functions as the Airflow DAGs
(``masip.pipeline``); nothing here holds pipeline logic of its own.

A failed command prints an operator message (what happened, which file, what
to do; :mod:`masip.operator_errors`) and exits non-zero, never with a
traceback unless ``masip --debug`` is given.
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import sys
import threading
from datetime import date
from pathlib import Path
from typing import Any

import click

from masip.cli_options import (
    DEFAULT_OUT,
    DEFAULT_WAREHOUSE,
    VAULT_HELP,
    Refusal,
    file_in_folder,
    folder,
    output_folder,
    parse_as_of,
    parse_date,
    rebuild_options,
)
from masip.warehouse import warehouse_lock
from pseudonymisation.keys import (
    SECRET_ENV,
    SECRET_FD_ENV,
    SECRET_FILE_ENV,
    create_secret_file,
    forget_piped_secret,
    generate_secret,
    load_keyring,
    secret_in_a_pipe,
    without_secret,
)

#: The demo's throwaway key, beside its warehouse.
DEMO_KEY_NAME = "demo-throwaway.key"

ENGINES = ("duckdb", "spark")
_ENGINE_HELP = (
    "spark: after the DuckDB run, link (Splink's Spark backend) and build every dbt model again on Apache Spark "
    "in local mode (needs Java: `make java`), check the links and marts against DuckDB's and validate them "
    "(docs/national-deployment.md)."
)


#: The commands that load the partnership key (`run` and `demo` only in their ingest child; they forget it after).
_KEYED_COMMANDS = frozenset({"keygen", "ingest", "run", "demo", "rotate-key", "reread"})


#: Commands defined in their own packages, imported only when run: the case pack, evaluation and clerical review
#: packages import pandas, DuckDB and the linkage, seconds in all, which `masip` must not spend before it has moved
#: MASIP_SECRET out of its environment block (:func:`entry`).
_LAZY_COMMANDS = {
    "casepack": ("masip.casepack.cli", "casepack"),
    "evaluate": ("masip.evaluation.cli", "evaluate"),
    "review": ("masip.clerical.cli", "review"),
    "explain-person": ("masip.clerical.cli", "explain_person_command"),
}


class _OperatorGroup(click.Group):
    """Turns an exception into an operator message and an exit code (unless ``--debug``), and a stop (Ctrl-C,
    or SIGTERM from systemd, Airflow or ``kill``) into one too; loads :data:`_LAZY_COMMANDS` when named."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in _LAZY_COMMANDS:
            module, attribute = _LAZY_COMMANDS[name]
            return getattr(importlib.import_module(module), attribute)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt as stop:  # SIGINT, or SIGTERM through _stop_on_terminate
            from masip.operator_errors import stopped

            message = stopped(stop.args[0] if stop.args else "SIGINT", ctx.invoked_subcommand or "masip")
            click.secho(f"masip: {message.text}", fg="red", err=True)
            ctx.exit(message.exit_code)
        except Exception as error:
            if ctx.params.get("debug"):
                raise
            from masip.operator_errors import describe
            from masip.pipeline import stage_of

            message = describe(error, stage_of(error) or ctx.invoked_subcommand or "masip")
            click.secho(f"masip: {message.text}", fg="red", err=True)
            ctx.exit(message.exit_code)


@click.group(cls=_OperatorGroup)
@click.option("--debug", is_flag=True, envvar="MASIP_DEBUG",
              help="Show the full traceback of a failure (it may quote data values). Child processes inherit it.")
def main(debug: bool) -> None:
    """MASIP data-sharing pipeline: pseudonymise, link and report multi-agency stalking data."""
    ctx = click.get_current_context()
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _stop_on_terminate)
        ctx.call_on_close(lambda: signal.signal(signal.SIGTERM, previous))
    if ctx.invoked_subcommand not in _KEYED_COMMANDS:
        ctx.with_resource(without_secret())  # nothing this command starts (dbt, the linkage, Chromium) inherits it
    if debug:
        from connectors.ingest import DEBUG_ENV

        # ingest then raises a drop's unexpected read error instead of rejecting it, and `masip run`'s child
        # processes (ingest, linkage) show their tracebacks too
        os.environ[DEBUG_ENV] = "1"


def _stop_on_terminate(signum: int, _frame: object) -> None:
    """SIGTERM stops a command as Ctrl-C does: the child processes it waits for are stopped with it, and the
    operator is told what was left (:func:`masip.operator_errors.stopped`)."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


@main.command()
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="Key file to create.")
def keygen(out: Path) -> None:
    """Create a new partnership secret in a key file (readable by the owner only)."""
    if out.exists():
        raise Refusal(f"{out} exists; refusing to overwrite a key (move it away first)")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        create_secret_file(out, generate_secret() + "\n")
    except FileExistsError:  # a link planted there since the check: never written through
        raise Refusal(f"{out} exists (a file or a link); refusing to write a key there (move it away first)") from None
    keyring = load_keyring({SECRET_FILE_ENV: str(out)})
    click.echo(f"Wrote {out} (key version {keyring.key_version}). Set {SECRET_FILE_ENV}={out} to use it.")


@main.command()
@click.option("--dyads", default=300, show_default=True, help="Victim–perpetrator pairs to simulate.")
@click.option("--out", "out", type=click.Path(path_type=Path), callback=output_folder, required=True,
              help="Folder to write the drops into.")
@click.option("--seed", default=7, show_default=True)
@click.option("--weeks", default=4, show_default=True, help="Weekly drops after the bulk history drop.")
@click.option("--as-of", "as_of", callback=parse_date, default="2026-11-16", show_default=True, help="Last extract date.")
@click.option("--clean/--with-faults", default=False, help="Leave out the deliberate faults (bad rows, broken drop).")
def generate(dyads: int, out: Path, seed: int, weeks: int, as_of: date, clean: bool) -> None:
    """Generate a synthetic partnership (three forces, probation, health, advocacy) as SPEC §2 drops."""
    from masip.synth import DEFAULT_FAULTS, generate_partnership

    summary = generate_partnership(out, dyads=dyads, seed=seed, as_of=as_of, weeks=weeks,
                                   faults=frozenset() if clean else DEFAULT_FAULTS)
    total = sum(summary.rows_by_table.values())
    click.echo(f"Wrote {len(summary.drops)} drops, {total} rows, {summary.persons} persons to {out}")
    for table, rows in sorted(summary.rows_by_table.items()):
        click.echo(f"  {table:<14} {rows:>8}")


@main.command()
@click.option("--input", "input_dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
              help="Folder holding the drops (one sub-folder per drop).")
@click.option("--warehouse", type=click.Path(path_type=Path), callback=file_in_folder, default=DEFAULT_WAREHOUSE, show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), callback=output_folder, default=DEFAULT_OUT, show_default=True,
              help="Folder for the run report.")
@click.option("--as-of", "as_of", callback=parse_as_of, default=None, help="Reference date (default: latest extract date).")
@click.option("--full-refresh", is_flag=True,
              help="Rebuild the incremental staging models from every raw row and retrain the linkage model.")
@click.option("--vault", "vault_dir", type=click.Path(path_type=Path), callback=folder, default=None,
              help=VAULT_HELP)
@click.option("--engine", type=click.Choice(ENGINES), default="duckdb", show_default=True, help=_ENGINE_HELP)
def run(
    input_dir: Path, warehouse: Path, out_dir: Path, as_of: date | None, full_refresh: bool, vault_dir: Path | None,
    engine: str,
) -> None:
    """Ingest every drop, pseudonymise, link and build the marts; needs the partnership key.

    Drops already loaded are skipped, and the staging models recompute only
    the records that new drops touched, so a weekly run does the week's work.
    The ingest runs as ``masip ingest`` in a child process, the only one that
    loads the key; this process builds, links (in a keyless child), publishes
    and reports without it.
    """
    _run(input_dir, warehouse, out_dir, as_of, full_refresh=full_refresh, vault_dir=vault_dir, engine=engine)


def _run(
    input_dir: Path, warehouse: Path, out_dir: Path, as_of: date | None, full_refresh: bool = False,
    vault_dir: Path | None = None, engine: str = "duckdb",
) -> Path:
    """The run; returns the warehouse whose marts the readers (case pack, evaluation) should read."""
    from masip.pipeline import IngestProcessError, build_and_publish, run_ingest_process
    from masip.settings import check_settings

    check_settings()  # before the ingest child starts: a bad setting stops the run before any work
    with warehouse_lock(warehouse, "run"):  # the ingest child works under this lock
        try:
            ingest, seconds = run_ingest_process(input_dir, warehouse, vault_dir)
        except IngestProcessError as error:
            if error.exit_code < 0:
                click.echo(f"masip: {error}", err=True)
            sys.exit(error.exit_code if error.exit_code > 0 else 1)
        click.get_current_context().with_resource(without_secret())  # the ingest child was the only one to need it
        result = build_and_publish(
            warehouse, out_dir, ingest, seconds, as_of=as_of, full_refresh=full_refresh, vault_dir=vault_dir
        )
    click.echo(result.report.markdown)
    click.echo(f"Warehouse: {warehouse}\nRun report: {result.report.markdown_path}")
    for warning in result.report.warnings:
        click.secho(f"masip: WARNING: {warning}", fg="yellow", err=True)
    if not result.report.reconciled:
        raise click.ClickException("row counts do not reconcile; see the run report")
    if engine == "spark" and result.build is not None:
        return _run_on_spark(warehouse, out_dir, as_of, vault_dir)
    return warehouse


def _run_on_spark(warehouse: Path, out_dir: Path, as_of: date | None, vault_dir: Path | None) -> Path:
    """The linkage and every model again on Spark (masip.spark.stage); returns the Spark result warehouse."""
    from masip.spark.stage import spark_stage

    click.echo("Linking and building every model again on Spark (local mode) from the same inputs...")
    spark = spark_stage(warehouse, out_dir, as_of=as_of, vault_dir=vault_dir)
    click.echo(spark.report_path.read_text(encoding="utf-8"))
    click.echo(f"Spark report: {spark.report_path}\nSpark result warehouse: {spark.result_warehouse}")
    if not spark.identical:
        raise click.ClickException(f"the links or marts Spark built differ from DuckDB's; see {spark.report_path}")
    if not spark.quality_success:
        raise click.ClickException(f"the Spark result failed the quality gate; see {spark.report_path}")
    return spark.result_warehouse


@main.command()
@click.option("--input", "input_dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
              help="Folder holding the drops (one sub-folder per drop).")
@click.option("--warehouse", type=click.Path(path_type=Path), callback=file_in_folder, default=DEFAULT_WAREHOUSE, show_default=True)
@click.option("--vault", "vault_dir", type=click.Path(path_type=Path), callback=folder, default=None,
              help=VAULT_HELP)
def ingest(input_dir: Path, warehouse: Path, vault_dir: Path | None) -> None:
    """Verify, pseudonymise and load every drop (encodings into the vault); needs the partnership key.

    Prints the summary (counts, names and reasons) as JSON. `masip run` runs
    it as its only process that loads the key.
    """
    import json
    import time

    from masip.pipeline import ingest_stage

    keyring = load_keyring()
    started = time.perf_counter()
    summary = ingest_stage(input_dir, warehouse, keyring, vault_dir=vault_dir)
    click.echo(json.dumps(summary.to_dict()))
    click.echo(f"ingest took {time.perf_counter() - started:.1f} s", err=True)


@main.command()
@click.option("--warehouse", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True,
              help="The candidate warehouse whose staging models dbt has built.")
@click.option("--vault", "vault_dir", type=click.Path(path_type=Path), callback=folder, default=None,
              help=VAULT_HELP)
@click.option("--retrain", is_flag=True, help="Train a new linkage model instead of reusing the published state.")
def link(warehouse: Path, vault_dir: Path | None, retrain: bool) -> None:
    """The linkage stage: link the warehouse's live record roles with their vault encodings (no key needed).

    The pipeline runs it between dbt's staging models and the rest of the
    build; it prints its summary (counts and ids only) as JSON.
    """
    import json

    from connectors.settings import SettingError
    from connectors.vault import Vault
    from masip.linkage.stage import VaultMismatch, link_stage

    try:
        summary = link_stage(warehouse, Vault.for_warehouse(warehouse, vault_dir), retrain=retrain)
    except (VaultMismatch, FileNotFoundError, SettingError) as error:
        click.secho(f"masip link: {error}", fg="red", err=True)
        sys.exit(2)
    click.echo(json.dumps(summary.to_dict()))


@main.command()
@click.option("--source", "source_id", required=True, help="The source whose loaded drops to read again (its profile's source_id).")
@rebuild_options
def reread(source_id: str, warehouse: Path, out_dir: Path, vault_dir: Path | None) -> None:
    """Read a source's loaded drops again, from their encrypted landing copies, after its profile was fixed.

    Each drop replaces what it loaded; the marts are then rebuilt in full and published. Needs the partnership key.
    """
    from masip.reread import reread_source
    from masip.settings import check_settings

    check_settings()
    result = reread_source(source_id, warehouse, load_keyring(), out_dir, vault_dir=vault_dir)
    click.echo(result.report.markdown)
    click.echo(f"Warehouse: {warehouse}\nRun report: {result.report.markdown_path}")


@main.command("rotate-key")
@click.option("--new-key-file", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True,
              help="Key file holding the new partnership secret (make one with `masip keygen`).")
@click.option("--max-moved-share", type=click.FloatRange(0, 1), default=None,
              help="Share of record roles that may link to other persons under the new key (borderline links move "
              "with the key); past it nothing is changed. Default: a tenth of a per cent (0.001).")
@rebuild_options
def rotate_key_command(
    new_key_file: Path, max_moved_share: float | None, warehouse: Path, out_dir: Path, vault_dir: Path | None,
) -> None:
    """Re-pseudonymise the warehouse and the linkage vault under a new key, from the encrypted landing copies.

    The current key comes from MASIP_SECRET / MASIP_SECRET_FILE as usual. Every
    record role must be rebuilt, and all but --max-moved-share of them must link to the
    same person as before, or nothing is changed.
    """
    from masip.rotation import rotate_key

    old = load_keyring()
    new = load_keyring({SECRET_FILE_ENV: str(new_key_file)})
    tolerance = {} if max_moved_share is None else {"max_moved_share": max_moved_share}
    result = rotate_key(warehouse, old, new, out_dir, vault_dir=vault_dir, **tolerance)
    kept = result.person_roles - result.moved_roles
    click.echo(
        f"Rotated {result.old_key_version} -> {result.new_key_version}: {result.drops_rebuilt} drops re-pseudonymised, "
        f"{kept} of {result.person_roles} record roles linked to the same persons as before and {result.moved_roles} "
        f"to other persons (borderline links that moved with the key). Point {SECRET_FILE_ENV} at {new_key_file} from "
        "now on and destroy the old key."
    )


@main.command()
@click.option("--dyads", default=2000, show_default=True,
              help="Pairs to simulate (the reoffending evaluation needs ≥ 60 people with complete follow-up).")
@click.option("--warehouse", type=click.Path(path_type=Path), callback=file_in_folder, default=DEFAULT_WAREHOUSE, show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), callback=output_folder, default=DEFAULT_OUT / "demo", show_default=True)
@click.option("--vault", "vault_dir", type=click.Path(path_type=Path), callback=folder, default=None,
              help=VAULT_HELP)
@click.option("--engine", type=click.Choice(ENGINES), default="duckdb", show_default=True, help=_ENGINE_HELP)
def demo(dyads: int, warehouse: Path, out_dir: Path, vault_dir: Path | None, engine: str) -> None:
    """Generate a synthetic partnership, run the whole pipeline, the case pack and the evaluation, from scratch."""
    from connectors.ingest import default_archive_dir
    from connectors.vault import Vault
    from masip.casepack import build_casepack
    from masip.evaluation import build_evaluation_report
    from masip.synth import DEFAULT_FAULTS, generate_partnership

    drops_dir = out_dir / "drops"
    vault = Vault.for_warehouse(warehouse, vault_dir)
    with warehouse_lock(warehouse, "demo"):  # before the old demo warehouse is removed
        _refuse_to_replace_a_partnership_warehouse(warehouse, vault.directory)
        _use_demo_key(warehouse.parent / DEMO_KEY_NAME)
        shutil.rmtree(drops_dir, ignore_errors=True)
        for stale in (warehouse, warehouse.with_name(warehouse.name + ".wal")):
            stale.unlink(missing_ok=True)
        shutil.rmtree(vault.directory, ignore_errors=True)
        shutil.rmtree(default_archive_dir(warehouse), ignore_errors=True)
        _demo_marker(warehouse).write_text("made by `masip demo`: synthetic data, replaced by the next demo\n")
        summary = generate_partnership(drops_dir, dyads=dyads, faults=DEFAULT_FAULTS)
        click.echo(f"Generated {len(summary.drops)} drops ({sum(summary.rows_by_table.values())} rows) in {drops_dir}")
        # only its ingest child loads the key; with --engine spark the readers below read Spark's marts
        result_warehouse = _run(drops_dir, warehouse, out_dir, None, vault_dir=vault_dir, engine=engine)
    pack = build_casepack(result_warehouse, out_dir / "casepack")
    click.echo(f"Case pack: {pack.html_path}" + (f" and {pack.pdf_path}" if pack.pdf_path else "") + f" ({pack.cases} cases)")
    if pack.pdf_skipped:
        click.secho(pack.pdf_skipped, fg="yellow", bold=True)
    evaluation = build_evaluation_report(result_warehouse, out_dir / "evaluation")
    click.echo(f"Evaluation report: {evaluation.html_path}")


def _demo_marker(warehouse: Path) -> Path:
    """Beside a warehouse the demo made: the next demo may replace it (never one without it)."""
    return warehouse.with_name(warehouse.name + ".made-by-demo")


def _refuse_to_replace_a_partnership_warehouse(warehouse: Path, vault_dir: Path) -> None:
    """The demo starts from scratch, so it deletes the warehouse, vault and landing copies at its paths: only its own."""
    if (warehouse.exists() or vault_dir.exists()) and not _demo_marker(warehouse).exists():
        click.secho(
            f"masip: {warehouse} (or its vault {vault_dir}) exists and was not made by `masip demo`; the demo would "
            "replace it, so it stops here and changes nothing. What to do: pass --warehouse (and --vault) a path of "
            "its own for the demo; if it is a demo warehouse of an older release, delete it, its vault/ and its "
            "landing_archive/ first. Then re-run.",
            err=True,
        )
        sys.exit(2)


def _use_demo_key(key_file: Path) -> None:
    """The demo's throwaway key, made once, in place of any partnership key: synthetic data never meets a real key."""
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        create_secret_file(key_file, generate_secret() + "\n")
    forget_piped_secret()
    os.environ.pop(SECRET_ENV, None)
    os.environ[SECRET_FILE_ENV] = str(key_file)
    banner = (f"DEMO: a THROWAWAY key is used ({key_file}), never a partnership key. Never use it for real data: "
              "real runs need MASIP_SECRET_FILE.")
    click.secho("!" * len(banner) + "\n" + banner + "\n" + "!" * len(banner), fg="yellow", bold=True)


def entry() -> None:
    """The ``masip`` command: :func:`main`, started again first without ``MASIP_SECRET`` in its environment block.

    A process keeps the environment it was started with in ``/proc/<pid>/environ`` for as long as it runs, and
    removing a variable from ``os.environ`` does not change that copy: ``masip run`` builds the marts, and
    ``masip casepack`` reads them, for minutes. So the command executes itself again at once (same process, same
    arguments and interpreter options) with the secret moved into a pipe that only the commands that load the
    key get (``run`` hands it to its ingest child) and the others never see.
    """
    secret = os.environ.get(SECRET_ENV)
    if secret:
        environment = {name: value for name, value in os.environ.items() if name != SECRET_ENV}
        if _subcommand(sys.argv[1:]) in _KEYED_COMMANDS:
            environment[SECRET_FD_ENV] = str(secret_in_a_pipe(secret))
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environment)
    main()


def _subcommand(arguments: list[str]) -> str | None:
    """The command named in ``masip``'s arguments (the first that is not an option of the group: ``--debug``)."""
    return next((argument for argument in arguments if not argument.startswith("-")), None)


if __name__ == "__main__":
    entry()
