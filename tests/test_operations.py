"""Operating the pipeline: crashes, races and operator messages (issue 12, classes 7 and 8).

Every test runs the real ``masip`` command in its own process (or two
processes at once, for the lock) over real drops and a real DuckDB warehouse:

* a first run whose only drop is rejected reports it and exits 0;
* a second writer on the same warehouse refuses at once and changes nothing;
* a damaged (truncated) warehouse, a wrong key, a read-only warehouse folder
  and a missing key each end in an operator message, a non-zero exit code and
  no traceback (unless ``--debug``); ingest never writes into the damaged file;
* missing encrypted landing copies are warned about at every run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO_ROOT

SAMPLES = REPO_ROOT / "tests" / "fixtures" / "sample_drops"
MASIP = [sys.executable, "-m", "masip.cli"]
KEY_A = "operations-test-partnership-secret-A-0123456789"
KEY_B = "operations-test-partnership-secret-B-0123456789"


def _env(secret: str | None = KEY_A) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASIP_")}
    if secret:
        env["MASIP_SECRET"] = secret
    env["MASIP_INGEST_WORKERS"] = "1"
    return env


def masip(*args: str, secret: str | None = KEY_A, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MASIP, *args], cwd=REPO_ROOT, env=kwargs.pop("env", None) or _env(secret),
                          capture_output=True, text=True, timeout=600, check=False, **kwargs)


def _good_drop(landing: Path) -> Path:
    return Path(shutil.copytree(SAMPLES / "police-met_2026-09-21", landing / "police-met_2026-09-21"))


def _rejected_drop(landing: Path) -> Path:
    drop = Path(shutil.copytree(SAMPLES / "police-met_2026-09-21", landing / "police-met_2026-09-21_2"))
    with (drop / "crimes.csv").open("ab") as handle:
        handle.write(b"cut short in transfer")  # the checksum no longer matches the manifest
    return drop


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _no_traceback(run: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in run.stdout + run.stderr, run.stderr


# --------------------------------------------------------------------------- all drops rejected


def test_a_first_run_whose_only_drop_is_rejected_reports_it_and_exits_0(tmp_path: Path):
    landing = tmp_path / "landing"
    _rejected_drop(landing)
    warehouse, out = tmp_path / "warehouse" / "masip.duckdb", tmp_path / "out"
    run = masip("run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(out))
    assert run.returncode == 0, run.stderr
    _no_traceback(run)
    report = json.loads((out / "run_report.json").read_text())
    assert [(d["drop_name"], d["status"]) for d in report["drops"]] == [("police-met_2026-09-21_2", "rejected")]
    assert "checksum mismatch" in report["drops"][0]["reason"]
    assert report["build"] is None and report["quality"] is None
    assert any("no marts were built" in w for w in report["warnings"])
    markdown = (out / "run_report.md").read_text()
    assert "## Rejected drops" in markdown and "police-met_2026-09-21_2" in run.stdout
    assert "no marts were built" in run.stderr


# --------------------------------------------------------------------------- the run lock


@contextmanager
def _held(code: str) -> Iterator[None]:
    """Another process running ``code`` (which prints ``held`` once it holds what it opens) until the block ends."""
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


def holding_lock(warehouse: Path) -> AbstractContextManager[None]:
    """Another process holding the warehouse's run lock (as a run does) until the block ends."""
    return _held(
        "import sys; from pathlib import Path; from masip.warehouse import warehouse_lock\n"
        f"with warehouse_lock(Path({str(warehouse)!r}), 'run'):\n"
        "    print('held', flush=True); sys.stdin.read()\n"
    )


def holding_database(warehouse: Path) -> AbstractContextManager[None]:
    """Another process with the warehouse open in DuckDB (a shell, a notebook) until the block ends."""
    return _held(f"import sys, duckdb\ncon = duckdb.connect({str(warehouse)!r})\nprint('held', flush=True); sys.stdin.read()\n")


def test_a_second_writer_refuses_at_once_and_touches_nothing(tmp_path: Path):
    landing, out = tmp_path / "landing", tmp_path / "out"
    _rejected_drop(landing)
    warehouse = tmp_path / "warehouse" / "masip.duckdb"
    first = masip("run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(out))
    assert first.returncode == 0, first.stderr
    _good_drop(landing)
    before = _sha(warehouse)
    with holding_lock(warehouse):
        for args in (["run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(out / "2")],
                     ["demo", "--dyads", "60", "--warehouse", str(warehouse), "--out", str(out / "demo")]):
            started = time.perf_counter()
            second = masip(*args)
            assert second.returncode == 2, second.stderr
            _no_traceback(second)
            assert "another MASIP run is writing the warehouse" in second.stderr
            assert "wait until it has finished, then re-run" in second.stderr
            assert time.perf_counter() - started < 60  # refused at once: no ingest, no dbt
        assert _sha(warehouse) == before  # nothing loaded, not deleted (demo), no candidate copied
        assert not (warehouse.parent / "masip.candidate.duckdb").exists()
        assert not (out / "demo" / "drops").exists()
    shutil.rmtree(landing / "police-met_2026-09-21")  # (spares this test a dbt build)
    after = masip("run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(out / "3"))
    assert after.returncode == 0, after.stderr  # the lock went with the process that held it


def test_the_demo_never_replaces_a_partnership_warehouse(tmp_path: Path):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse" / "masip.duckdb"
    _rejected_drop(landing)
    first = masip("run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(tmp_path / "out"))
    assert first.returncode == 0, first.stderr
    def files() -> dict[Path, str]:  # but the lock file, which holds the pid of its last holder
        return {p.relative_to(warehouse.parent): _sha(p) for p in warehouse.parent.rglob("*")
                if p.is_file() and p.suffix != ".lock"}

    kept = files()
    started = time.perf_counter()
    demo = masip("demo", "--dyads", "40", "--warehouse", str(warehouse), "--out", str(tmp_path / "demo"))
    assert demo.returncode == 2, demo.stderr
    _no_traceback(demo)
    assert "was not made by `masip demo`" in demo.stderr and "What to do" in demo.stderr
    assert files() == kept and len(kept) > 1
    assert not (tmp_path / "demo").exists() and time.perf_counter() - started < 60


def test_the_airflow_stage_functions_take_the_same_lock(tmp_path: Path):
    from masip.build_tasks import prepare_candidate
    from masip.orchestration import run_build
    from masip.warehouse import WarehouseBusy

    warehouse = tmp_path / "warehouse" / "masip.duckdb"
    warehouse.parent.mkdir()
    warehouse.write_bytes(b"")  # no warehouse content is needed: the lock is taken before anything is read
    params = {"input_dir": str(tmp_path), "warehouse": str(warehouse)}
    with holding_lock(warehouse):
        for task in (run_build, prepare_candidate):
            with pytest.raises(WarehouseBusy, match="another MASIP run is writing"):
                task(params)
    assert warehouse.read_bytes() == b""
    assert not (warehouse.parent / "masip.candidate.duckdb").exists()


# --------------------------------------------------------------------------- operator messages


@pytest.fixture
def loaded(tmp_path: Path) -> tuple[Path, Path]:
    """(landing, warehouse): one drop ingested under KEY_A (ingest only, no dbt)."""
    from masip.pipeline import ingest_stage
    from pseudonymisation.keys import Keyring

    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse" / "masip.duckdb"
    _good_drop(landing)
    summary = ingest_stage(landing, warehouse, Keyring(KEY_A.encode()), show_progress=False)
    assert summary.count("loaded") == 1
    return landing, warehouse


def test_a_truncated_warehouse_is_reported_damaged_and_never_written(loaded: tuple[Path, Path], tmp_path: Path):
    landing, warehouse = loaded
    _rejected_drop(landing)  # a new drop ingest would record
    data = warehouse.read_bytes()
    warehouse.write_bytes(data[: len(data) // 2])
    before = _sha(warehouse)
    run = masip("run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(tmp_path / "out"))
    assert run.returncode == 1, run.stderr
    _no_traceback(run)
    assert f"the warehouse file {warehouse} is damaged" in run.stderr
    assert "restore the last good copy" in run.stderr
    assert _sha(warehouse) == before and not warehouse.with_name("masip.duckdb.wal").exists()
    debug = masip("--debug", "run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(tmp_path / "o"))
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "WarehouseDamaged" in debug.stderr


def test_a_healthy_warehouse_with_free_blocks_at_its_end_is_not_damaged(tmp_path: Path):
    """DuckDB trims free blocks off the end of the file: a shorter file is not always a truncated one."""
    from masip.warehouse import check_warehouse

    warehouse = tmp_path / "masip.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema ops; create table ops.loaded_drops (drop_name text, extract_date date)")
        con.execute("create table keep as select range as i, md5(range::text) as s from range(300000)")
        con.execute("checkpoint")
        con.execute("create table gone as select range as i, md5(range::text) as s from range(300000)")
        con.execute("checkpoint")
        con.execute("drop table gone")
        con.execute("checkpoint")
    check_warehouse(warehouse)


def test_a_wrong_key_says_which_key_and_what_to_do(loaded: tuple[Path, Path], tmp_path: Path):
    landing, warehouse = loaded
    run = masip("run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(tmp_path / "out"),
                secret=KEY_B)
    assert run.returncode == 2, run.stderr
    _no_traceback(run)
    assert "the linkage vault holds tokens made with key" in run.stderr and "key rotation" in run.stderr
    no_key = masip("run", "--input", str(landing), "--warehouse", str(warehouse), secret=None)
    assert no_key.returncode == 2 and "MASIP_SECRET" in no_key.stderr
    _no_traceback(no_key)
    missing = masip("run", "--input", str(tmp_path / "nowhere"), "--warehouse", str(warehouse))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    _no_traceback(missing)


@pytest.mark.parametrize("command, option", [
    ("run", "--out"), ("run", "--warehouse"), ("run", "--vault"), ("casepack", "--out"), ("evaluate", "--out"),
    ("review export", "--out"), ("generate", "--out"),
])
def test_a_path_blocked_by_a_file_is_refused_before_any_work(tmp_path: Path, command: str, option: str):
    """An --out that is a file, or a warehouse or vault under a file, would stop the run after ingest and build."""
    landing = tmp_path / "landing"
    _good_drop(landing)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    paths = {"--input": str(landing), "--warehouse": str(tmp_path / "wh" / "masip.duckdb"), "--out": str(tmp_path / "out")}
    paths[option] = str(blocker / "masip.duckdb") if option == "--warehouse" else str(blocker if option == "--out" else blocker / "vault")
    wanted = {"run": ["--input", "--warehouse", "--out", "--vault"], "casepack": ["--warehouse", "--out"],
              "evaluate": ["--warehouse", "--out"], "review export": ["--warehouse", "--out"], "generate": ["--out"]}
    args = [a for name in wanted[command] if name in paths or name == option for a in (name, paths[name])]
    started = time.monotonic()
    refused = masip(*command.split(), *args)
    assert refused.returncode == 2, refused.stderr
    _no_traceback(refused)
    assert f"{blocker} is a file, not a folder" in " ".join(refused.stderr.split()) and "What to do" in refused.stderr
    assert not (tmp_path / "wh").exists() and time.monotonic() - started < 60  # nothing ingested or built


@pytest.mark.parametrize(("variable", "value"), [
    ("MASIP_LANDING_RETENTION_DAYS", "abc"), ("MASIP_INGEST_WORKERS", "two"), ("MASIP_DUCKDB_MEMORY", "lots"),
    ("MASIP_LINKAGE_MEMORY", "lots"), ("MASIP_LINKAGE_SCORING_MEMORY", "5 gigs"), ("MASIP_MIN_TRAINING_RECORDS", "-5"),
    ("MASIP_MAX_FILE_MB", "0"), ("MASIP_LINKAGE_SCORING_MEMORY", "10MB"), ("MASIP_LINKAGE_MEMORY", "0GB"),
    ("MASIP_DUCKDB_MEMORY", "1KB"), ("MASIP_DUCKDB_MEMORY", "-5GB"),
])
def test_a_bad_setting_is_refused_before_any_work_naming_the_variable(tmp_path: Path, variable: str, value: str):
    """Read only when first needed, a bad retention stopped the run after every drop had loaded (the next run then
    listed them with no counts), a bad memory cap at the dbt build (outside check, 2026-12-07)."""
    landing = tmp_path / "landing"
    _good_drop(landing)
    refused = masip("run", "--input", str(landing), "--warehouse", str(tmp_path / "wh" / "masip.duckdb"),
                    "--out", str(tmp_path / "out"), env={**_env(), variable: value})
    assert refused.returncode == 2, refused.stderr
    _no_traceback(refused)
    assert f"{variable} must be" in refused.stderr and "re-run" in refused.stderr
    assert not (tmp_path / "wh" / "masip.duckdb").exists()


def test_a_drop_the_pipeline_may_not_read_says_so_and_the_others_load(tmp_path: Path):
    """Root without the right to override permissions (as the pipeline's own account is), a file of mode 000: the
    drop was rejected as an "unexpected PermissionError" to report to the engineers (outside check, 2026-12-07)."""
    if shutil.which("capsh") is None:
        pytest.skip("needs capsh (Debian's libcap2-bin)")
    landing = tmp_path / "landing"
    drop = _good_drop(landing)
    shutil.copytree(SAMPLES / "probation-service_2026-09-21", landing / "probation-service_2026-09-21")
    (drop / "crimes.csv").chmod(0)
    without_override = ["capsh", "--drop=cap_dac_override,cap_dac_read_search", "--", "-c", 'exec "$0" "$@"']
    run = subprocess.run([*without_override, *MASIP, "ingest", "--input", str(landing), "--warehouse",
                          str(tmp_path / "wh" / "masip.duckdb")], cwd=REPO_ROOT, env=_env(), capture_output=True,
                         text=True, timeout=600, check=False)
    _no_traceback(run)
    with duckdb.connect(str(tmp_path / "wh" / "masip.duckdb"), read_only=True) as con:
        loaded = [name for (name,) in con.execute("select drop_name from ops.loaded_drops").fetchall()]
        [(reason,)] = con.execute("select reason from ops.rejected_drops").fetchall()
    assert loaded == ["probation-service_2026-09-21"], run.stderr
    assert "may not read one of its files or folders (permission denied)" in reason and "What to do:" in reason


@pytest.mark.parametrize("wrong", ["missing", "another warehouse's"])
def test_a_wrong_vault_is_refused_before_anything_is_loaded(loaded: tuple[Path, Path], tmp_path: Path, wrong: str):
    """A mistyped --vault would start a new vault, or fill another warehouse's: the warehouse's records would have
    no encodings for good."""
    from masip.pipeline import ingest_stage
    from pseudonymisation.keys import Keyring

    landing, warehouse = loaded
    vault = tmp_path / "mistyped-vault"
    if wrong != "missing":  # another partnership's warehouse and vault, with the same key
        other = tmp_path / "other"
        shutil.copytree(SAMPLES / "police-cheshire_2026-09-21", other / "landing" / "police-cheshire_2026-09-21")
        ingest_stage(other / "landing", other / "masip.duckdb", Keyring(KEY_A.encode()), show_progress=False,
                     vault_dir=vault)
    before = {p: _sha(p) for p in (warehouse, *vault.rglob("*.duckdb"))}
    shutil.copytree(SAMPLES / "police-hampshire_2026-09-21", landing / "police-hampshire_2026-09-21")  # a new drop
    run = masip("run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(tmp_path / "o"),
                "--vault", str(vault))
    assert run.returncode == 2, run.stderr
    _no_traceback(run)
    said = "there is no linkage vault at" if wrong == "missing" else "none of them is in the linkage vault at"
    assert f"{said} {vault}" in " ".join(run.stderr.split()) and "What to do" in run.stderr
    assert vault.exists() == (wrong != "missing") and {p: _sha(p) for p in before} == before


def test_the_readers_say_when_the_warehouse_is_open_elsewhere_or_not_built(loaded: tuple[Path, Path], tmp_path: Path):
    _, warehouse = loaded  # ingested, never built
    readers = [["casepack", "--out", str(tmp_path / "pack")], ["evaluate", "--out", str(tmp_path / "evaluation")],
               ["review", "export", "--out", str(tmp_path / "review")], ["link"]]
    with holding_database(warehouse):
        for command in readers:
            busy = masip(*command, "--warehouse", str(warehouse))
            assert busy.returncode == 2, (command, busy.stderr)
            _no_traceback(busy)
            assert "another process holds it" in busy.stderr and "What to do" in busy.stderr, busy.stderr
    for command in readers:  # a refusal the operator mends by building first: exit 2, as the README says
        for place in (warehouse, tmp_path / "nowhere" / "masip.duckdb"):
            unbuilt = masip(*command, "--warehouse", str(place))
            assert unbuilt.returncode == 2, (command, place, unbuilt.stderr)
            _no_traceback(unbuilt)
            assert "masip run" in unbuilt.stderr or "does not exist" in unbuilt.stderr, unbuilt.stderr
    unbuilt = masip("link", "--warehouse", str(warehouse))
    assert "has not been built yet" in unbuilt.stderr


def test_an_input_folder_without_drops_says_to_check_input(tmp_path: Path):
    (tmp_path / "landing" / "not-a-drop").mkdir(parents=True)
    run = masip("run", "--input", str(tmp_path / "landing"), "--warehouse", str(tmp_path / "w" / "masip.duckdb"),
                "--out", str(tmp_path / "o"))
    assert run.returncode == 0, run.stderr
    warnings = " ".join(run.stderr.split())
    assert "no drop was found" in warnings and "pass --input the folder that holds the drop folders" in warnings
    assert "every drop so far was rejected" not in warnings


def test_a_read_only_warehouse_folder_is_reported_before_anything_is_written(loaded: tuple[Path, Path], tmp_path: Path):
    landing, warehouse = loaded
    _rejected_drop(landing)  # a new drop ingest would record
    before = {p.name: _sha(p) for p in warehouse.parent.iterdir() if p.is_file()}
    # The command runs in its own mount namespace where the warehouse folder is a read-only bind mount.
    read_only = _in_mount(warehouse.parent, '--bind -o ro "$0" "$0"')
    run = subprocess.run(
        [*read_only, *MASIP, "run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(tmp_path / "o")],
        cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=300, check=False,
    )
    assert run.returncode == 2, run.stderr
    _no_traceback(run)
    assert f"the warehouse folder {warehouse.parent} (or the file) is read-only" in run.stderr
    assert {p.name: _sha(p) for p in warehouse.parent.iterdir() if p.is_file()} == before


def test_an_unexpected_error_names_its_type_and_stage_never_its_text(tmp_path: Path):
    from masip.operator_errors import describe

    message = describe(ValueError("Could not convert 'Zoë O’Neill' to DATE"), "build")
    assert message.text == "unexpected error (ValueError) in stage build; re-run with --debug for the traceback"
    assert message.exit_code == 1
    # For real: the run report's files are folders, which nothing foresaw.
    landing, out = tmp_path / "landing", tmp_path / "out"
    _rejected_drop(landing)
    for name in ("run_report.json", "run_report.md"):
        (out / name).mkdir(parents=True)
    run = masip("run", "--input", str(landing), "--warehouse", str(tmp_path / "w" / "masip.duckdb"), "--out", str(out))
    assert run.returncode == 2
    _no_traceback(run)
    assert run.stderr.splitlines()[-1] == (
        "masip: stage report could not read or write the output folder (--out) (Is a directory); the build was "
        "published; a re-run writes the report. What to do: fix the disk or the folders named, then re-run.")


_DISK_FAULTS = [
    (OSError(28, "No space left on device", "/secure/Zoë O'Neill.csv"), "ran out of disk space"),
    (OSError(122, "Disk quota exceeded", "/secure/Zoë O'Neill.csv"), "ran out of disk space"),
    (OSError(30, "Read-only file system", "/secure/Zoë O'Neill.csv"), "read-only file system"),
    (OSError(5, "Input/output error", "/secure/Zoë O'Neill.csv"), "input/output error"),
    (OSError(36, "File name too long", "/secure/Zoë O'Neill.csv"), "could not read or write"),
    (duckdb.IOException('IO Error: Could not write file "/secure/Zoë O\'Neill.duckdb": No space left on device'),
     "ran out of disk space"),
    (duckdb.IOException('IO Error: Cannot open file "/secure/Zoë O\'Neill.duckdb": Read-only file system'),
     "read-only file system"),
    (duckdb.Error("Corrupt database file: computed checksum 1 does not match stored checksum 2 in block at location 3"),
     "damaged DuckDB file"),
    (duckdb.IOException('IO Error: The file "/secure/Zoë O\'Neill.duckdb" exists, but it is not a valid DuckDB database '
                        "file!"), "damaged DuckDB file"),
    (duckdb.IOException('IO Error: Could not read enough bytes from file "/secure/Zoë O\'Neill.duckdb"'),
     "damaged DuckDB file"),
]


@pytest.mark.parametrize("stage", ["ingest", "link", "build", "quality", "report", "casepack"])
@pytest.mark.parametrize(("error", "kind"), _DISK_FAULTS, ids=lambda v: type(v).__name__ if isinstance(v, Exception) else v)
def test_a_full_read_only_failing_or_damaged_store_is_named_by_kind_with_what_to_do(error, kind, stage):
    """Every stage, every kind of storage fault: what happened, where, what state it left, what to do; the
    system's own text (a path a sender may have named) is never quoted (outside audit 5)."""
    from masip.operator_errors import describe

    message = describe(error, stage)
    assert f"stage {stage} " in message.text and kind in message.text and "What to do:" in message.text
    assert "Zoë" not in message.text and "Neill" not in message.text and "checksum" not in message.text
    assert message.exit_code == 2


def _in_mount(target: Path, options: str) -> list[str]:
    """A command prefix that runs in its own mount namespace where ``target`` ($0) is mounted by ``mount options``."""
    prefix = ["unshare", "-m", "sh", "-c", f'mount {options} && exec "$@"', str(target)]
    if shutil.which("unshare") is None or subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode:
        pytest.skip("needs unshare -m and mount (root in a container)")
    return prefix


@pytest.mark.parametrize(("mount", "kind"), [('-t tmpfs -o size=16k tmpfs "$0"', "ran out of disk space"),
                                             ('--bind -o ro "$0" "$0"', "read-only file system")])
def test_a_full_or_read_only_output_folder_stops_the_run_with_what_to_do(tmp_path: Path, mount: str, kind: str):
    landing, out = tmp_path / "landing", tmp_path / "out"
    _good_drop(landing)
    out.mkdir()
    warehouse = tmp_path / "w" / "masip.duckdb"
    run = subprocess.run(
        [*_in_mount(out, mount), *MASIP, "run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(out)],
        cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=600, check=False,
    )
    assert run.returncode == 2, run.stderr
    _no_traceback(run)
    assert kind in run.stderr and "What to do:" in run.stderr and "unexpected error" not in run.stderr, run.stderr
    if "ro" in mount:  # a read-only --out is refused before any work: nothing was ingested
        assert not warehouse.exists()
    again = masip("run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(out))
    assert again.returncode == 0, again.stderr  # the disk fixed, the same run completes


@pytest.mark.parametrize("move", ["copy_database", "replace_database"])
def test_a_change_left_in_a_write_ahead_log_moves_with_its_file(tmp_path: Path, move: str):
    """A checkpoint that fails (a full disk) leaves changes only in ``<file>.wal``; a build candidate copied, or
    published, without its log lost them (outside audit 5). Here DuckDB is told not to checkpoint on close."""
    from masip import warehouse as helpers

    source, target = tmp_path / "source.duckdb", tmp_path / "target.duckdb"
    for database, rows in ((source, [1, 2]), (target, [7, 8])):
        with duckdb.connect(str(database)) as con:
            con.execute(f"create table t as select {rows[0]} as x")
        with duckdb.connect(str(database)) as con:
            con.execute("pragma disable_checkpoint_on_shutdown")
            con.execute(f"insert into t values ({rows[1]})")
        assert Path(f"{database}.wal").stat().st_size > 0  # the second row is only in the log
    getattr(helpers, move)(source, target)
    with duckdb.connect(str(target), read_only=True) as con:
        assert sorted(x for (x,) in con.execute("select x from t").fetchall()) == [1, 2]
    assert not Path(f"{target}.wal").exists()  # nor is the old target's log replayed onto the new file


def test_a_warehouse_folder_that_fills_up_never_publishes_a_build_without_its_marts(tmp_path: Path):
    """The audit's partnership on a 30 MB file system: the candidate's checkpoint failed, its marts stayed in its
    log, and the run published the file without them and exited 0 (outside audit 5)."""
    drops, folder = tmp_path / "drops", tmp_path / "warehouse"
    assert masip("generate", "--dyads", "150", "--out", str(drops)).returncode == 0
    folder.mkdir()
    warehouse = folder / "masip.duckdb"
    run = subprocess.run(
        [*_in_mount(folder, '-t tmpfs -o size=30m tmpfs "$0"'), *MASIP, "run", "--input", str(drops),
         "--warehouse", str(warehouse), "--out", str(tmp_path / "out")],
        cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=600, check=False,
    )
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr
    _no_traceback(run)
    # the disk fills in the dbt build or in the checkpoint after it, by a few hundred kB either way: both say so
    # (dbt's own failure to write its files was "the dbt build failed (no node named)", with dbt's traceback)
    assert "ran out of disk space" in run.stderr, run.stderr
    assert ("the marts were not published" in run.stderr
            or "the published warehouse and linkage state are unchanged" in run.stderr), run.stderr


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:  # gone meanwhile
        return ""


def _ingesting(pid: int) -> bool:
    """Whether ``pid`` has a live `masip ingest` child."""
    for child in _children(pid):
        try:
            if b"ingest" in Path(f"/proc/{child}/cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_run_says_what_was_left_and_the_next_run_finishes(tmp_path: Path, stop: signal.Signals):
    """SIGTERM (systemd, Airflow, `kill`) ended `masip run` with exit -15 and no word; Ctrl-C with click's
    "Aborted!" (outside check, 2026-12-06). Each says what happened and what to do, and the next run finishes."""
    landing, warehouse, out = tmp_path / "landing", tmp_path / "w" / "masip.duckdb", tmp_path / "out"
    assert masip("generate", "--dyads", "150", "--out", str(landing)).returncode == 0  # ingest takes seconds
    # as from a terminal: a job a non-interactive shell starts in the background (CI's, say) ignores SIGINT, and so
    # does every process it starts, which then runs to the end as it should; SIGINT's default survives the exec
    command = [*MASIP, "run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(out)]
    as_from_a_terminal = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.executable, sys.argv[1:])"
    )
    run = subprocess.Popen([sys.executable, "-c", as_from_a_terminal, *command], cwd=REPO_ROOT, env=_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not _ingesting(run.pid) and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.02)
    assert _ingesting(run.pid), "the run never started its ingest process"
    run.send_signal(stop)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 128 + stop.value, stderr
    assert f"`masip run` was stopped by {stop.name}" in stderr and "What to do: re-run" in stderr, stderr
    assert "Traceback" not in stderr and "Aborted!" not in stderr
    again = masip("run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(out))
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("moment", ["parse", "build"])
def test_a_run_stopped_while_dbt_runs_stops_and_says_so(tmp_path: Path, moment: str):
    """dbt returns every exception as its result, the KeyboardInterrupt the CLI raises for SIGTERM too: stopped while
    dbt parsed the project, `masip run` (a key rotation too, up to its swaps) went on to the end; while dbt built, it
    said the dbt build had failed, exit 1 (outside check, 2026-12-07). Now it stops, saying so."""
    from masip.dbt_runner import dbt_work_dirs
    from masip.pipeline import candidate_path

    landing, warehouse, out = tmp_path / "landing", tmp_path / "w" / "masip.duckdb", tmp_path / "out"
    _good_drop(landing)
    log = dbt_work_dirs(candidate_path(warehouse))[1] / "dbt.log"
    marker = "Began running node" if moment == "build" else ""
    run = subprocess.Popen([*MASIP, "run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(out)],
                           cwd=REPO_ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None and not (log.is_file() and marker in log.read_text()):
        time.sleep(0.01)
    assert run.poll() is None, "the run ended before dbt ran"
    run.send_signal(signal.SIGTERM)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 128 + signal.SIGTERM.value, stderr
    assert "`masip run` was stopped by SIGTERM" in stderr and "dbt build" not in stderr, stderr
    again = masip("run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(out))
    assert again.returncode == 0, again.stderr


def test_a_killed_ingest_process_takes_its_workers_with_it_and_the_run_says_so(tmp_path: Path):
    """Killed (the out-of-memory killer), the ingest child left its workers waiting for tasks, holding the run's
    pipe open: ``masip run`` waited for ever under its lock, then exited 247 without a word (outside audit 5)."""
    drops = tmp_path / "drops"
    assert masip("generate", "--dyads", "150", "--out", str(drops)).returncode == 0
    run = subprocess.Popen(
        [*MASIP, "run", "--input", str(drops), "--warehouse", str(tmp_path / "w" / "masip.duckdb"),
         "--out", str(tmp_path / "out")],
        cwd=REPO_ROOT, env={**_env(), "MASIP_INGEST_WORKERS": "2"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )
    workers: list[int] = []
    deadline = time.monotonic() + 120
    while not workers and time.monotonic() < deadline and run.poll() is None:
        ingest = _children(run.pid)
        workers = [w for child in ingest for w in _children(child)]
        time.sleep(0.02)
    assert workers, "the ingest process never started its workers"
    os.kill(ingest[0], signal.SIGKILL)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 1, stderr
    assert "the ingest process was stopped by SIGKILL" in stderr and "What to do" in stderr, stderr
    time.sleep(1)
    assert [w for w in workers if _alive(w)] == []


def test_a_sources_drops_are_read_again_after_its_profile_is_fixed(tmp_path: Path):
    """A drop loaded before its profile mapped the source's own codes kept nulls for good: the same delivery is
    skipped as loaded (outside check, 2026-12-07). `masip reread` reads it again from its landing copy, replacing
    what it loaded; the week's rows are not doubled."""
    from connectors.profiles import PROFILES_DIR
    from connectors.vault import Vault

    profiles = Path(shutil.copytree(PROFILES_DIR, tmp_path / "profiles"))
    landing = tmp_path / "landing"
    drop = _good_drop(landing)
    crimes = (drop / "crimes.csv").read_bytes().replace(b",HIGH,", b",Hi,")
    (drop / "crimes.csv").write_bytes(crimes)
    manifest = json.loads((drop / "manifest.json").read_text(encoding="utf-8"))
    next(f for f in manifest["files"] if f["name"] == "crimes.csv")["sha256"] = hashlib.sha256(crimes).hexdigest()
    (drop / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    env = {**_env(), "MASIP_PROFILES_DIR": str(profiles)}
    warehouse, out = tmp_path / "wh" / "masip.duckdb", tmp_path / "out"
    assert masip("run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(out), env=env).returncode == 0

    def counts() -> tuple[int, int, int]:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.execute(
                "select (select count(*) from raw.crimes), (select count(*) from raw.crimes where risk_level = 'HIGH'), "
                "(select count(*) from ops.warnings where starts_with(detail, 'risk_level'))"
            ).fetchone()

    rows, high, warned = counts()
    assert high == 0 and warned == 6 and rows > 30
    profile = profiles / "police-met.yaml"
    profile.write_text(profile.read_text(encoding="utf-8") + "value_maps: {risk_level: {Hi: HIGH}}\n", encoding="utf-8")
    reread = masip("reread", "--source", "police-met", "--warehouse", str(warehouse), "--out", str(out), env=env)
    assert reread.returncode == 0, reread.stderr
    _no_traceback(reread)
    assert counts() == (rows, 6, 0)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from marts.victim_journey").fetchone()[0] > 0
        assert con.execute("select count(*) from ops.loaded_drops").fetchone()[0] == 1
    assert not (Vault.for_warehouse(warehouse).plain_drops_dir).exists()
    unknown = masip("reread", "--source", "police-kent", "--warehouse", str(warehouse), "--out", str(out), env=env)
    assert unknown.returncode == 2 and "no drop of source police-kent is loaded" in " ".join(unknown.stderr.split())


def test_a_rotation_to_the_current_key_is_refused_before_anything_changes(tmp_path: Path):
    """`rotate-key --new-key-file` naming the current key file rebuilt everything and then said to destroy the old
    key: the partnership's only key (outside check, 2026-12-06)."""
    landing, warehouse, out = tmp_path / "landing", tmp_path / "w" / "masip.duckdb", tmp_path / "out"
    _good_drop(landing)
    key = tmp_path / "current.key"
    assert masip("keygen", "--out", str(key)).returncode == 0
    env = {**_env(None), "MASIP_SECRET_FILE": str(key)}
    assert masip("run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(out), env=env).returncode == 0
    before = sorted((p.relative_to(tmp_path), p.stat().st_mtime_ns) for p in (tmp_path / "w").rglob("*") if p.is_file())
    rotation = masip("rotate-key", "--new-key-file", str(key), "--warehouse", str(warehouse), "--out", str(out), env=env)
    assert rotation.returncode == 2, rotation.stderr
    assert "the new key is the partnership's current key" in rotation.stderr and "masip keygen" in rotation.stderr
    assert "destroy the old key" not in rotation.stdout + rotation.stderr and "Traceback" not in rotation.stderr
    assert sorted((p.relative_to(tmp_path), p.stat().st_mtime_ns) for p in (tmp_path / "w").rglob("*") if p.is_file()) == before


def test_an_interrupted_key_rotation_leaves_no_plain_drops_behind(tmp_path: Path):
    """Rotation decrypts every landing copy. Interrupted (SIGTERM, or SIGKILL), it left them in plain text in the
    system's temporary folder for good (outside audit 5). Now SIGTERM deletes them; after SIGKILL they wait inside
    the owner-only vault, where the next run deletes them and says so."""
    landing, warehouse, out = tmp_path / "landing", tmp_path / "w" / "masip.duckdb", tmp_path / "out"
    _good_drop(landing)
    assert masip("run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(out)).returncode == 0
    new_key = tmp_path / "new.key"
    assert masip("keygen", "--out", str(new_key)).returncode == 0
    plain = warehouse.parent / "vault" / ".rotation-drops"
    temporary = set(Path(tempfile.gettempdir()).glob("masip-rotate-*"))
    for stop in (signal.SIGTERM, signal.SIGKILL):
        rotation = subprocess.Popen(
            [*MASIP, "rotate-key", "--new-key-file", str(new_key), "--warehouse", str(warehouse), "--out", str(out)],
            cwd=REPO_ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while not any(plain.rglob("*.csv")) and time.monotonic() < deadline and rotation.poll() is None:
            time.sleep(0.01)
        assert any(plain.rglob("*.csv")), "the rotation never decrypted the landing copies"
        assert oct(plain.stat().st_mode & 0o777) == "0o700"
        rotation.send_signal(stop)
        rotation.wait(timeout=120)
        assert set(Path(tempfile.gettempdir()).glob("masip-rotate-*")) <= temporary
        assert plain.exists() == (stop == signal.SIGKILL)
    run = masip("run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert not plain.exists()
    assert f"deleted {plain}: the landing copies an interrupted key rotation had decrypted there" in run.stderr


def _environment_blocks(pid: int) -> dict[int, bytes]:
    """What /proc shows of the environment each live process of ``pid``'s tree was started with."""
    blocks, pids = {}, [pid]
    while pids:
        current = pids.pop()
        try:
            blocks[current] = Path(f"/proc/{current}/environ").read_bytes()
        except OSError:
            continue
        pids += _children(current)
    return blocks


def _runs_masip(pid: int) -> bool:
    try:
        return b"masip.cli" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def test_a_secret_set_in_the_environment_leaves_the_environment_block_of_every_masip_process(tmp_path: Path):
    """A process keeps the environment it was started with in /proc/<pid>/environ, whatever it removes from
    os.environ: `MASIP_SECRET=… masip run` kept the secret there for the whole build, in the process that builds
    the marts, readable by any process of the same user (review of 2026-12-05). masip now starts again at once
    without it (the secret moves to a pipe the ingest child reads), so only the first moments of the process, before
    it has imported anything of the pipeline, show it: it imported the case pack, evaluation and clerical review
    packages first, which kept the secret there for 2.5-5 s (outside check, 2026-12-06); now about 0.3 s."""
    landing, warehouse, out = tmp_path / "landing", tmp_path / "w" / "masip.duckdb", tmp_path / "out"
    _good_drop(landing)
    started_at = time.monotonic()
    run = subprocess.Popen(
        [*MASIP, "run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(out)],
        cwd=REPO_ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    samples: dict[int, list[bool]] = {}
    last_seen = 0.0  # seconds after the start the secret was last seen in the environment block of `masip run`
    while run.poll() is None:
        started = _runs_masip(run.pid)  # read first: forked but not yet executed, it shows the test's environment
        for pid, block in _environment_blocks(run.pid).items():
            if started or pid != run.pid:
                samples.setdefault(pid, []).append(KEY_A.encode() in block)
                if pid == run.pid and samples[pid][-1]:
                    last_seen = time.monotonic() - started_at
        time.sleep(0.005)
    _, stderr = run.communicate()
    assert run.returncode == 0, stderr
    command = samples.pop(run.pid)
    assert len(command) > 50 and not command[-1], "the secret stayed in the environment block of `masip run`"
    assert command == sorted(command, reverse=True), "the secret came back into the environment block"
    assert last_seen < 1.5, f"the secret stayed in the environment block of `masip run` for {last_seen:.1f} s"
    assert samples, "no child process (ingest, linkage, dbt's) was seen"
    assert [pid for pid, seen in samples.items() if any(seen)] == []
    with duckdb.connect(str(warehouse), read_only=True) as con:  # the ingest child had the key
        assert con.execute("select count(*) from ops.loaded_drops").fetchone() == (1,)


def test_a_warehouse_named_through_a_symbolic_link_is_published_in_place_and_locked_as_one(tmp_path: Path):
    """Publication replaced the link with a file, so the real warehouse kept last week's marts; and the lock was
    keyed on the name, so a run through the link ran beside a run on the file (outside audit 5)."""
    landing, real = tmp_path / "landing", tmp_path / "real" / "masip.duckdb"
    _good_drop(landing)
    link = tmp_path / "alias" / "masip.duckdb"
    link.parent.mkdir()
    real.parent.mkdir()
    link.symlink_to(real)
    run = masip("run", "--input", str(landing), "--warehouse", str(link), "--out", str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr
    assert link.is_symlink() and real.is_file()
    with duckdb.connect(str(real), read_only=True) as con:
        assert con.execute("select count(*) from marts.person_xref").fetchone()[0] > 0
    with holding_lock(real):
        busy = masip("run", "--input", str(landing), "--warehouse", str(link), "--out", str(tmp_path / "out"))
    assert busy.returncode == 2 and "another MASIP run is writing the warehouse" in busy.stderr, busy.stderr


def test_a_killed_linkage_process_is_reported_as_killed_with_what_to_do(tmp_path: Path):
    """Killed, the linkage child printed nothing, and the run said "fix the cause above" (outside audit 5, D8)."""
    drops = tmp_path / "drops"
    assert masip("generate", "--dyads", "150", "--out", str(drops)).returncode == 0
    run = subprocess.Popen(
        [*MASIP, "run", "--input", str(drops), "--warehouse", str(tmp_path / "w" / "masip.duckdb"),
         "--out", str(tmp_path / "out")],
        cwd=REPO_ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    linkage: list[int] = []
    deadline = time.monotonic() + 300
    while not linkage and time.monotonic() < deadline and run.poll() is None:
        linkage = [c for c in _children(run.pid) if " link " in _command_line(c)]
        time.sleep(0.02)
    assert linkage, "the run never started its linkage process"
    os.kill(linkage[0], signal.SIGKILL)
    _, stderr = run.communicate(timeout=300)
    assert run.returncode == 1, stderr
    _no_traceback(subprocess.CompletedProcess([], 1, "", stderr))
    assert "the linkage process on" in stderr and "was stopped by SIGKILL" in stderr and "What to do" in stderr, stderr
    assert "fix the cause above" not in stderr


def test_a_damaged_vault_is_named_with_what_to_do(loaded: tuple[Path, Path], tmp_path: Path):
    landing, warehouse = loaded
    _rejected_drop(landing)
    records = warehouse.parent / "vault" / "records.duckdb"
    records.write_bytes(records.read_bytes()[: records.stat().st_size // 3])
    run = masip("run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(tmp_path / "o"))
    assert run.returncode == 2, run.stderr
    _no_traceback(run)
    assert "damaged DuckDB file" in run.stderr and "What to do:" in run.stderr, run.stderr


# --------------------------------------------------------------------------- landing copies


def test_missing_landing_copies_are_warned_about_at_every_run(loaded: tuple[Path, Path], tmp_path: Path):
    landing, warehouse = loaded
    archive = warehouse.parent / "landing_archive"
    [copy] = list(archive.iterdir())
    copy.unlink()
    out = tmp_path / "out"
    run = masip("run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(out))
    assert run.returncode == 0, run.stderr
    expected = f"1 loaded drop(s) have no encrypted landing copy in {archive} (police-met_2026-09-21)"
    assert expected in run.stderr and "restore the missing copies" in run.stderr
    report = json.loads((out / "run_report.json").read_text())
    assert any(w.startswith(expected) for w in report["warnings"])
    assert "## Warnings" in (out / "run_report.md").read_text()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from marts.person_xref").fetchone()[0] > 0  # the run still built


def test_links_planted_in_an_output_folder_are_replaced_never_written_through(tmp_path: Path):
    """Anyone who can write an output folder could plant a link under a report's name; the run's account then
    overwrote what it points to, a key file among them (outside check, 2026-12-07). Now each output is a new file
    renamed over the name; and keygen never writes through a link, even one that points nowhere."""
    landing, warehouse, out = tmp_path / "landing", tmp_path / "w" / "masip.duckdb", tmp_path / "out"
    _good_drop(landing)
    key = tmp_path / "partnership.key"
    assert masip("keygen", "--out", str(key)).returncode == 0
    secret = key.read_bytes()
    out.mkdir()
    for name in ("run_report.json", "run_report.md"):
        (out / name).symlink_to(key)
    run = masip("run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert key.read_bytes() == secret
    assert all((out / name).is_file() and not (out / name).is_symlink() for name in ("run_report.json", "run_report.md"))
    assert json.loads((out / "run_report.json").read_text())["run_id"]
    assert not [p.name for p in out.iterdir() if p.name.endswith(".part")]
    nowhere = tmp_path / "planted.key"
    nowhere.symlink_to(tmp_path / "elsewhere" / "written-through.key")
    refused = masip("keygen", "--out", str(nowhere))
    assert refused.returncode != 0 and "refusing" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("where", ["the warehouse's folder", "a folder holding the warehouse"])
def test_a_vault_that_is_or_holds_the_warehouse_folder_is_refused_before_any_work(tmp_path: Path, where: str):
    """``--vault`` pointed at the warehouse's folder put the tokens and Bloom filters beside the analyst warehouse,
    and made that folder owner-only (outside check, 2026-12-07)."""
    landing, warehouse = tmp_path / "landing", tmp_path / "w" / "masip.duckdb"
    _good_drop(landing)
    vault = warehouse.parent if where == "the warehouse's folder" else tmp_path
    run = masip("run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(tmp_path / "o"),
                "--vault", str(vault))
    assert run.returncode == 2, run.stderr
    _no_traceback(run)
    assert "must be a folder of its own" in " ".join(run.stderr.split()) and "What to do" in run.stderr
    assert not list(tmp_path.rglob("*.duckdb"))


def test_no_output_is_written_into_the_vault(tmp_path: Path):
    """Reports, packs and review exports are read by others: an ``--out`` inside the owner-only vault is refused."""
    landing, warehouse, out = tmp_path / "landing", tmp_path / "w" / "masip.duckdb", tmp_path / "out"
    _good_drop(landing)
    assert masip("run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(out)).returncode == 0
    vault = warehouse.parent / "vault"
    before = sorted(p.name for p in vault.rglob("*"))
    for command in (["casepack"], ["review", "export"], ["evaluate"], ["run", "--input", str(landing)]):
        refused = masip(*command, "--warehouse", str(warehouse), "--out", str(vault / "reports"))
        assert refused.returncode == 2, (command, refused.stderr)
        _no_traceback(refused)
        assert "is inside the linkage vault" in " ".join(refused.stderr.split())
    assert sorted(p.name for p in vault.rglob("*")) == before


@pytest.mark.parametrize("as_of", ["9999-12-31", "2100-01-01", "1900-01-01"])
def test_an_implausible_reference_date_is_refused_before_any_work(tmp_path: Path, as_of: str):
    """``run --as-of 9999-12-31`` published marts as of that year, and every case pack after it stopped with an
    OverflowError (outside check, 2026-12-07)."""
    landing, warehouse = tmp_path / "landing", tmp_path / "w" / "masip.duckdb"
    _good_drop(landing)
    for command in (["run", "--input", str(landing), "--out", str(tmp_path / "o")], ["casepack", "--out", str(tmp_path / "p")]):
        refused = masip(*command, "--warehouse", str(warehouse), "--as-of", as_of)
        assert refused.returncode == 2, refused.stderr
        _no_traceback(refused)
        assert "is not a plausible reference date" in " ".join(refused.stderr.split()) and "What to do" in refused.stderr
    assert not warehouse.exists()


def test_a_masip_folder_where_the_operator_stands_never_runs_in_place_of_the_package(tmp_path: Path):
    """`python -m` puts the working directory first on the import path: a `masip/` folder where the operator stood
    ran as the ingest child, which receives the partnership key, and a checkout's parent folder stopped the run with
    a traceback (outside check, 2026-12-07). Every child stage now imports the installed package."""
    standing = tmp_path / "standing"
    marker = tmp_path / "planted-code-ran"
    for package in ("masip", "connectors", "pseudonymisation"):
        (standing / package).mkdir(parents=True)
        (standing / package / "__init__.py").write_text(f"open({str(marker)!r}, 'a').write({package!r})\n")
    (standing / "masip" / "cli.py").write_text(f"open({str(marker)!r}, 'a').write('cli')\n")
    landing = tmp_path / "landing"
    _good_drop(landing)
    warehouse, out = tmp_path / "w" / "masip.duckdb", tmp_path / "out"
    console_script = Path(sys.executable).parent / "masip"
    run = subprocess.run(
        [str(console_script), "run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(out)],
        cwd=standing, env=_env(), capture_output=True, text=True, timeout=600, check=False,
    )
    assert run.returncode == 0, run.stderr
    _no_traceback(run)
    assert not marker.exists()
    assert json.loads((out / "run_report.json").read_text())["build"]["linkage"]["roles"] > 0
