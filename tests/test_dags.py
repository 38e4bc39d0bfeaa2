"""The Airflow DAGs: they parse cleanly and cheaply, follow the house rules, run end to end, keep the key secret.

Real Airflow throughout (SQLite metadata DB in a temporary AIRFLOW_HOME, see
``conftest.py``); nothing is mocked. Airflow is imported inside the tests, never
at module level, so that collecting this file does not initialise Airflow.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import DAGS_FOLDER, REPO_ROOT

DAG_ID = "masip_pipeline"
TEST_SECRET = "5e" * 8 + "c7a1f09b3d24e86a" * 3  # 64 hex characters, used only here
MASIP_ENV = ("MASIP_SECRET", "MASIP_SECRET_FILE", "MASIP_LANDING_DIR", "MASIP_WAREHOUSE", "MASIP_OUTPUT_DIR")
CONN_ENV = "AIRFLOW_CONN_MASIP_PARTNERSHIP"
DOCKER_DIR = REPO_ROOT / "docker"


def _dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """No partnership key anywhere: no MASIP_* variables, no Airflow connection in the environment."""
    for name in (*MASIP_ENV, CONN_ENV):
        monkeypatch.delenv(name, raising=False)


# --------------------------------------------------------------------------- integrity


def test_dags_folder_imports_without_errors_and_follows_the_house_rules():
    bag = _dagbag()
    assert bag.import_errors == {}
    assert DAG_ID in bag.dags
    for dag_id, dag in bag.dags.items():
        assert dag.tags, f"{dag_id}: no tags"
        assert dag.doc_md and len(dag.doc_md.strip()) > 100, f"{dag_id}: no operator documentation (doc_md)"
        assert dag.catchup is False, f"{dag_id}: catchup must be off"
        start = dag.start_date
        assert start is not None and start.utcoffset() == timedelta(0), f"{dag_id}: start_date not UTC"
        assert str(start.tzinfo) in ("UTC", "Etc/UTC", "+00:00"), f"{dag_id}: start_date tz {start.tzinfo}"
        assert dag.default_args.get("retries", 0) >= 1, f"{dag_id}: default_args without retries"
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id}: no retries"
            assert task.retry_exponential_backoff > 0, f"{dag_id}.{task.task_id}: no exponential backoff"


def test_pipeline_dag_shape_params_and_asset():
    from masip.orchestration import MARTS_ASSET_URI

    dag = _dagbag().dags[DAG_ID]
    assert "masip" in dag.tags
    assert dag.max_active_runs == 1  # one DuckDB writer
    assert {t.task_id for t in dag.tasks} == {"ingest", "build", "publish", "report"}
    assert dag.get_task("build").upstream_task_ids == {"ingest"}
    assert dag.get_task("publish").upstream_task_ids == {"build"}
    assert dag.get_task("report").upstream_task_ids == {"ingest", "build", "publish"}
    # Every parameter defaults to None: the environment fills it in when the task runs, not when the file is parsed.
    assert set(dag.params) == {"input_dir", "warehouse", "out_dir", "as_of"}
    assert all(dag.params[name] is None for name in dag.params)
    # The marts change when the validated candidate is published, not when dbt builds it.
    assert [o.uri for o in dag.get_task("publish").outlets] == [MARTS_ASSET_URI]
    assert dag.get_task("build").outlets == []


# Audit events that mean "this code touched something other than its own source".
_AUDITED = ("open", "os.listdir", "os.scandir", "os.mkdir", "os.remove", "os.rename", "shutil.rmtree",
            "sqlite3.connect", "socket.connect", "subprocess.Popen", "os.system")
_audit_log: list[tuple[str, str]] | None = None


def _audit_hook(event: str, args: tuple[Any, ...]) -> None:
    if _audit_log is not None and event in _AUDITED:
        _audit_log.append((event, str(args[0]) if args else ""))


def test_parsing_the_dags_does_no_io(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog, no_key: None):
    """Parsing reads the DAG files and imports modules, and touches nothing else.

    First with every MASIP_* variable pointing at nothing and no key at all (it
    must still parse), then with all of them pointing at real files (a key file,
    a landing folder, a warehouse), while a Python audit hook records every file
    opened or listed, every database or socket connection and every subprocess.
    """
    global _audit_log
    missing = tmp_path / "missing"
    monkeypatch.setenv("MASIP_LANDING_DIR", str(missing / "landing"))
    monkeypatch.setenv("MASIP_WAREHOUSE", str(missing / "w.duckdb"))
    monkeypatch.setenv("MASIP_OUTPUT_DIR", str(missing / "out"))
    monkeypatch.setenv("MASIP_SECRET_FILE", str(missing / "partnership.key"))
    bag = _dagbag()
    assert bag.import_errors == {} and DAG_ID in bag.dags
    assert not missing.exists()

    real = tmp_path / "real"
    (real / "landing" / "drop_1").mkdir(parents=True)
    (real / "partnership.key").write_text(TEST_SECRET + "\n")
    (real / "w.duckdb").write_bytes(b"")
    monkeypatch.setenv("MASIP_LANDING_DIR", str(real / "landing"))
    monkeypatch.setenv("MASIP_WAREHOUSE", str(real / "w.duckdb"))
    monkeypatch.setenv("MASIP_SECRET_FILE", str(real / "partnership.key"))
    # Re-import masip.orchestration too, so that its import-time code is audited (monkeypatch restores it).
    import masip

    monkeypatch.delitem(sys.modules, "masip.orchestration", raising=False)
    monkeypatch.delattr(masip, "orchestration", raising=False)
    sys.addaudithook(_audit_hook)  # hooks cannot be removed; this one is inert while _audit_log is None
    _audit_log = []
    try:
        with caplog.at_level("INFO"):
            bag = _dagbag()
    finally:
        events, _audit_log = _audit_log, None
    assert bag.import_errors == {} and DAG_ID in bag.dags
    assert "Partnership key loaded" not in caplog.text

    touched_tmp = [e for e in events if e[1].startswith(str(tmp_path))]
    assert touched_tmp == [], f"parsing touched the MASIP_* paths: {touched_tmp}"
    assert [e for e in events if e[0] in ("sqlite3.connect", "socket.connect", "subprocess.Popen", "os.system")] == []
    repo = str(REPO_ROOT)
    in_repo = [e for e in events if e[1].startswith(repo)]
    unexpected = [
        e for e in in_repo
        if not (e[0] == "open" and e[1].endswith((".py", ".pyc")))
        and not (e[0] in ("os.listdir", "os.scandir") and Path(e[1]).is_dir())
    ]
    assert unexpected == [], f"parsing touched more than source files in the repo: {unexpected}"
    assert any(e[1].endswith("dags/masip_pipeline.py") for e in in_repo)


# --------------------------------------------------------------------------- the key


def test_partnership_key_comes_from_the_connection_first_then_the_environment(monkeypatch, no_key, caplog):
    from masip.orchestration import load_partnership_keyring
    from pseudonymisation.keys import Keyring, MissingKeyError

    other = "ab" * 32
    monkeypatch.setenv("MASIP_SECRET", other)
    assert load_partnership_keyring().key_version == Keyring(other.encode()).key_version

    monkeypatch.setenv(CONN_ENV, json.dumps({"conn_type": "generic", "password": TEST_SECRET}))
    with caplog.at_level("DEBUG"):
        keyring = load_partnership_keyring()
    assert keyring.key_version == Keyring(TEST_SECRET.encode()).key_version
    assert TEST_SECRET not in caplog.text and TEST_SECRET not in repr(keyring)

    monkeypatch.setenv(CONN_ENV, json.dumps({"conn_type": "generic", "login": "masip"}))
    with pytest.raises(MissingKeyError, match="password is empty") as raised:
        load_partnership_keyring()
    assert TEST_SECRET not in str(raised.value)

    monkeypatch.delenv(CONN_ENV)
    monkeypatch.delenv("MASIP_SECRET")
    with pytest.raises(MissingKeyError, match="masip_partnership"):
        load_partnership_keyring()


def test_run_parameters_fall_back_to_the_environment_at_run_time():
    from masip.orchestration import RunConfigError, resolve_run_config

    env = {"MASIP_LANDING_DIR": "/landing", "MASIP_WAREHOUSE": "/w/m.duckdb"}
    config = resolve_run_config({"input_dir": None, "warehouse": "", "out_dir": None, "as_of": None}, env)
    assert (str(config.input_dir), str(config.warehouse), str(config.out_dir), config.as_of) == (
        "/landing", "/w/m.duckdb", "output", None)
    config = resolve_run_config({"input_dir": "/x", "as_of": "2026-11-16"}, env)
    assert str(config.input_dir) == "/x" and config.as_of.isoformat() == "2026-11-16"
    with pytest.raises(RunConfigError, match="MASIP_LANDING_DIR"):
        resolve_run_config({}, {})
    with pytest.raises(RunConfigError, match="YYYY-MM-DD"):
        resolve_run_config({"input_dir": "/x", "as_of": "16/11/2026"}, {})


# --------------------------------------------------------------------------- dag.test()


def _xcoms(dag_run) -> dict[str, Any]:
    """``{task_id: value}`` of the run's return values, read back from the metadata DB."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(XComModel.task_id, XComModel.key, XComModel.value).where(
                XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id
            )
        ).all()
    return {task_id: value for task_id, key, value in rows if key == "return_value"}


def _forbidden_key_material(secret: str) -> list[str]:
    from pseudonymisation.keys import Keyring
    from pseudonymisation.tokens import TOKEN_PURPOSES

    keyring = Keyring(secret.encode())
    purposes = [f"token/{p}" for p in TOKEN_PURPOSES] + ["landing/aes-gcm"]  # every purpose the code derives
    purpose_keys = [keyring.purpose_key(p) for p in purposes]
    return [secret, secret.encode().hex(), *(k.hex() for k in purpose_keys)]


def _metadata_db_dump(airflow_home: Path) -> str:
    with sqlite3.connect(airflow_home / "airflow.db") as con:
        return "\n".join(con.iterdump())


@pytest.mark.slow
def test_dag_test_runs_the_whole_pipeline_and_keeps_the_key_out_of_airflow(
    airflow_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    no_key: None,
):
    import duckdb
    from airflow.utils.state import DagRunState, TaskInstanceState

    from masip.synth import DEFAULT_FAULTS, generate_partnership
    from tests.leakcheck import collect_identifiers, leaks_in_text

    drops = tmp_path / "drops"
    generate_partnership(drops, dyads=40, faults=DEFAULT_FAULTS)
    warehouse, out_dir = tmp_path / "warehouse" / "masip.duckdb", tmp_path / "output"
    warehouse.parent.mkdir()
    monkeypatch.setenv("MASIP_SECRET", TEST_SECRET)
    monkeypatch.setenv("MASIP_LANDING_DIR", str(drops))  # input_dir comes from the environment at run time
    dag = _dagbag().dags[DAG_ID]

    with caplog.at_level("INFO"):
        dag_run = dag.test(run_conf={"warehouse": str(warehouse), "out_dir": str(out_dir)})

    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert dag_run.state == DagRunState.SUCCESS, states
    assert states == dict.fromkeys(("ingest", "build", "publish", "report"), TaskInstanceState.SUCCESS)

    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from marts.person_xref").fetchone()[0] > 0
        assert con.execute("select count(*) from marts.victim_journey").fetchone()[0] > 0
    report = json.loads((out_dir / "run_report.json").read_text())
    assert (out_dir / "run_report.md").is_file()
    rec = report["reconciliation"]
    assert rec["all_files_reconcile"] is True
    assert rec["rows_read"] == rec["rows_loaded"] + rec["rows_quarantined"] + rec["rows_duplicate"] > 0
    assert report["build"]["passed"] > 0

    xcoms = _xcoms(dag_run)
    assert set(xcoms) == {"ingest", "build", "publish", "report"}
    ingest = xcoms["ingest"]
    assert ingest["summary"]["run_id"] == report["run_id"]
    assert [d["status"] for d in ingest["summary"]["drops"]] == [d["status"] for d in report["drops"]]
    if "truncated_drop" in DEFAULT_FAULTS:  # a broken drop is rejected and reported, and the run still succeeds
        assert rec["drops_rejected"] >= 1
        assert any(d["status"] == "rejected" and d["reason"] for d in ingest["summary"]["drops"])
    assert xcoms["build"]["success"] is True and xcoms["build"]["elapsed_seconds"] > 0
    assert xcoms["publish"]["success"] is True and report["quality"]["success"] is True
    assert xcoms["report"]["reconciliation"] == rec

    # No key material anywhere Airflow keeps things: XComs, the whole metadata DB, the task logs.
    xcom_text = json.dumps(xcoms)
    db_text = _metadata_db_dump(airflow_db)
    logs = capfd.readouterr()
    log_text = logs.out + logs.err + caplog.text  # Airflow's structlog output + stdlib logging (pytest catches it)
    for material in _forbidden_key_material(TEST_SECRET):
        assert material not in xcom_text
        assert material not in db_text
        assert material not in log_text
    assert "Partnership key loaded from the environment" in log_text
    # ... and no plain identifier of the input in the XComs.
    assert leaks_in_text(xcom_text, collect_identifiers(drops)) == []


@pytest.mark.slow
def test_dag_run_fails_at_ingest_without_a_key(
    airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], no_key: None
):
    from airflow.utils.state import DagRunState, TaskInstanceState

    landing = tmp_path / "landing"
    landing.mkdir()
    dag = _dagbag().dags[DAG_ID]

    dag_run = dag.test(run_conf={"input_dir": str(landing), "warehouse": str(tmp_path / "w.duckdb"),
                                 "out_dir": str(tmp_path / "out")})

    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert dag_run.state == DagRunState.FAILED
    assert states == {"ingest": TaskInstanceState.FAILED, "build": TaskInstanceState.UPSTREAM_FAILED,
                      "publish": TaskInstanceState.UPSTREAM_FAILED, "report": TaskInstanceState.UPSTREAM_FAILED}
    ingest = next(ti for ti in dag_run.get_task_instances() if ti.task_id == "ingest")
    assert ingest.try_number == 1  # no retry: a missing key does not fix itself
    logs = capfd.readouterr()
    log_text = logs.out + logs.err
    assert "MissingKeyError: No partnership secret" in log_text
    assert "masip_partnership" in log_text and "MASIP_SECRET_FILE" in log_text
    assert not (tmp_path / "w.duckdb").exists(), "no key, no work: nothing may be written"


# --------------------------------------------------------------------------- docker


_HEX_SECRET = re.compile(r"\b[0-9a-fA-F]{32,}\b")


def test_docker_compose_defines_airflow_3_with_secrets_kept_out_of_the_file():
    compose = yaml.safe_load((DOCKER_DIR / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("postgres", "airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                 "airflow-triggerer"):
        assert name in services, f"missing service {name}"
    assert services["postgres"]["image"].startswith("postgres:16")
    commands = {name: " ".join(s.get("command", [])) if isinstance(s.get("command"), list) else str(s.get("command"))
                for name, s in services.items()}
    for name, command in (("airflow-apiserver", "api-server"), ("airflow-scheduler", "scheduler"),
                          ("airflow-dag-processor", "dag-processor"), ("airflow-triggerer", "triggerer")):
        assert command in commands[name]

    def environment(service: dict[str, Any]) -> dict[str, str]:
        env = service.get("environment", {})
        if isinstance(env, list):
            env = dict(item.split("=", 1) for item in env)
        return {k: str(v) for k, v in env.items()}

    scheduler_env = environment(services["airflow-scheduler"])
    assert scheduler_env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert "masip_partnership" in services["airflow-scheduler"].get("secrets", [])
    assert {"masip_partnership", "postgres_password"} <= set(compose["secrets"])
    for name, secret in compose["secrets"].items():
        assert set(secret) == {"file"}, f"secret {name} must come from a file outside git"
    ignored = (DOCKER_DIR / ".gitignore").read_text().split()
    assert "secrets/" in ignored and ".env" in ignored

    # Nothing secret inlined: no password/secret/key/connection variable with a literal value,
    # and nothing that looks like a hex key anywhere in the deployment files.
    sensitive = re.compile(r"PASSWORD|SECRET|FERNET|_KEY$|^AIRFLOW_CONN_|SQL_ALCHEMY_CONN$", re.IGNORECASE)
    for name, service in services.items():
        for var, value in environment(service).items():
            if sensitive.search(var):
                assert value.startswith("/run/secrets/") or var.endswith(("_CMD", "_FILE")), f"{name}: {var} inlined"
    for path in DOCKER_DIR.rglob("*"):
        if path.is_file() and "secrets" not in path.relative_to(DOCKER_DIR).parts:
            assert not _HEX_SECRET.search(path.read_text(errors="replace")), f"{path} holds something like a key"
    for volume in ("landing", "warehouse", "output"):
        assert any(volume in str(v) for v in services["airflow-scheduler"].get("volumes", []))


def test_docker_entrypoint_turns_the_secrets_into_the_partnership_connection(tmp_path: Path, monkeypatch, no_key):
    """docker/entrypoint.sh, run here without Docker: secret files in, Airflow settings out."""
    from airflow.sdk import Connection

    from masip.orchestration import load_partnership_keyring
    from pseudonymisation.keys import Keyring

    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "masip_partnership").write_text(TEST_SECRET + "\n")
    (secrets / "postgres_password").write_text("0a1b2c\n")
    names = (CONN_ENV, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__FERNET_KEY")
    show_env = f"import json, os; print(json.dumps({{k: os.environ.get(k) for k in {names!r}}}))"
    completed = subprocess.run(
        ["bash", str(DOCKER_DIR / "entrypoint.sh"), sys.executable, "-c", show_env],
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "MASIP_SECRETS_DIR": str(secrets)},
        capture_output=True, text=True, check=True,
    )
    values = json.loads(completed.stdout)
    assert values["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://airflow:0a1b2c@postgres:5432/airflow"
    assert values["AIRFLOW__CORE__FERNET_KEY"] is None  # absent secret, absent setting
    assert Connection.from_json(values[CONN_ENV], conn_id="masip_partnership").password == TEST_SECRET
    monkeypatch.setenv(CONN_ENV, values[CONN_ENV])
    assert load_partnership_keyring().key_version == Keyring(TEST_SECRET.encode()).key_version
