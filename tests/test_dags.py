"""The Airflow DAGs: they parse cleanly and cheaply, follow the house rules, run end to end, keep the key secret.

The DAGs: ``masip_pipeline`` (manual end-to-end run), one ``masip_ingest_<source>``
per source profile, and ``masip_build`` (scheduled on the sources' assets).

Real Airflow throughout (SQLite metadata DB in a temporary AIRFLOW_HOME, see
``conftest.py``); nothing is mocked. Airflow is imported inside the tests, never
at module level, so that collecting this file does not initialise Airflow.

The ``dag.test()`` tests share one run of the chain (module fixture ``chain``):
every per-source ingest DAG, then the build DAG, on a synthetic partnership; then
a re-run (one source's ingest again, and a full ``masip_pipeline`` run over the
same drops) must leave the marts identical. Two dbt builds in all: the slow part.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml

from pseudonymisation.keys import keyless
from tests.conftest import DAGS_FOLDER, REPO_ROOT

DAG_ID = "masip_pipeline"
BUILD_DAG_ID = "masip_build"
EVALUATION_DAG_ID = "masip_weekly_evaluation"
DBT_GROUPS = ("staging", "intermediate", "marts")
#: The build DAG's chain: the linkage task (its own keyless process) between the staging and intermediate groups.
#: ``settle`` first: one build per batch of deliveries (masip.orchestration.coalesce).
BUILD_CHAIN = ("settle", "prepare_candidate", "dbt_staging", "link", "dbt_intermediate", "dbt_marts", "publish")
#: Build runs in these tests do not wait for deliveries to settle.
AT_ONCE = {"settle_minutes": 0}
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


def _profile_source_ids() -> list[str]:
    from connectors.profiles import load_profiles

    return sorted(load_profiles())


def test_dags_folder_imports_without_errors_and_follows_the_house_rules():
    from masip import alerts
    from masip.orchestration import WAREHOUSE_POOL, ingest_dag_id

    bag = _dagbag()
    assert bag.import_errors == {}
    expected = {DAG_ID, BUILD_DAG_ID, EVALUATION_DAG_ID, *(ingest_dag_id(s) for s in _profile_source_ids())}
    assert expected <= set(bag.dags)
    writers = {"ingest", "build", "publish", "report", "prepare_candidate", "evaluation", *BUILD_CHAIN} - {"settle"}
    for dag_id, dag in bag.dags.items():
        assert dag.tags, f"{dag_id}: no tags"
        assert dag.doc_md and len(dag.doc_md.strip()) > 100, f"{dag_id}: no operator documentation (doc_md)"
        assert dag.catchup is False, f"{dag_id}: catchup must be off"
        assert dag.max_active_runs == 1, f"{dag_id}: one run at a time (one DuckDB writer)"
        start = dag.start_date
        assert start is not None and start.utcoffset() == timedelta(0), f"{dag_id}: start_date not UTC"
        assert str(start.tzinfo) in ("UTC", "Etc/UTC", "+00:00"), f"{dag_id}: start_date tz {start.tzinfo}"
        assert dag.default_args.get("retries", 0) >= 1, f"{dag_id}: default_args without retries"
        for task in dag.tasks:
            where = f"{dag_id}.{task.task_id}"
            assert task.retries >= 1, f"{where}: no retries"
            assert task.retry_exponential_backoff > 0, f"{where}: no exponential backoff"
            assert alerts.on_task_failure in task.on_failure_callback, f"{where}: no alert on failure"
            assert alerts.on_task_retry in task.on_retry_callback, f"{where}: no alert record on retry"
            if dag_id in expected and task.task_id in writers:
                assert task.pool == WAREHOUSE_POOL, f"{where}: writes the warehouse outside the pool {WAREHOUSE_POOL}"


def test_no_task_function_but_ingests_runs_with_the_partnership_secret_in_its_environment(monkeypatch, no_key):
    """The build DAG's tasks ran dbt, GX and their children with MASIP_SECRET_FILE, or the Airflow connection that
    holds the secret itself, in their environment (outside check, 2026-12-06): only ingest may load the key."""
    import inspect

    from masip import build_tasks
    from masip.casepack import tasks as casepack_tasks
    from masip.orchestration import tasks as orchestration_tasks

    task_functions = {
        f"{module.__name__}.{name}": function
        for module in (build_tasks, orchestration_tasks, casepack_tasks)
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if function.__module__ == module.__name__ and name.startswith(("run_", "prepare_"))
    }
    assert "masip.build_tasks.run_dbt_group" in task_functions and len(task_functions) >= 10
    with_key = {name for name, function in task_functions.items() if not getattr(function, "is_keyless", False)}
    assert with_key == {"masip.orchestration.tasks.run_ingest"}
    # and what the mark promises: the function body runs with no variable that can carry the secret
    monkeypatch.setenv("MASIP_SECRET_FILE", "/secure/partnership.key")
    monkeypatch.setenv(CONN_ENV, json.dumps({"conn_type": "generic", "password": TEST_SECRET}))
    seen = keyless(lambda: {name for name in (*MASIP_ENV, CONN_ENV) if name in os.environ})()
    assert seen == set() and os.environ["MASIP_SECRET_FILE"] == "/secure/partnership.key"


def test_one_ingest_dag_per_source_profile_and_a_new_profile_adds_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from connectors.profiles import PROFILES_DIR, load_profiles
    from masip import orchestration

    sources = _profile_source_ids()
    assert len(sources) >= 6
    bag = _dagbag()
    ingest_dags = {d: dag for d, dag in bag.dags.items() if d.startswith("masip_ingest_")}
    assert set(ingest_dags) == {orchestration.ingest_dag_id(s) for s in sources}
    for source_id in sources:
        dag = ingest_dags[orchestration.ingest_dag_id(source_id)]
        assert {"masip", "ingest", f"source:{source_id}"} <= set(dag.tags)
        assert [t.task_id for t in dag.topological_sort()][:2] == ["wait_for_drop", "ingest"]
        assert {t.task_id for t in dag.tasks} == {"wait_for_drop", "ingest", "announce", "report"}
        sensor = dag.get_task("wait_for_drop")
        assert sensor.mode == "reschedule" and sensor.soft_fail is True
        assert sensor.poke_interval == orchestration.DROP_POKE_INTERVAL.total_seconds()
        assert [o.uri for o in dag.get_task("announce").outlets] == [f"masip://warehouse/raw/{source_id}"]
        assert dag.get_task("ingest").outlets == [] and set(dag.params) == {"input_dir", "warehouse", "out_dir"}
    # The URIs are defined once, in masip.orchestration, and the build is scheduled on exactly these.
    build = bag.dags[BUILD_DAG_ID]
    assert {a.uri for a in build.timetable.asset_condition.objects} == {
        orchestration.source_asset_uri(s) for s in sources}
    assert type(build.timetable.asset_condition).__name__ == "AssetAny"  # any source updated -> build

    # A new force is one new YAML file, no DAG code.
    profiles = tmp_path / "profiles"
    shutil.copytree(PROFILES_DIR, profiles)
    (profiles / "police-kent.yaml").write_text(
        "source_id: police-kent\nagency: police\ndescription: Kent Police\nforce: KENT\ncolumn_renames: {}\n")
    # and a broken one keeps its DAG, whose drops are pending (ingest rejects them, naming the profile's problem):
    # it vanished from the DAG list with no import error, and nothing recorded its drops (outside check)
    (profiles / "police-westyorks.yaml").write_text(
        "source_id: police-westyorks\nagency: police\ndescription: West Yorkshire\nforce: WEST_YORKSHIRE\n"
        "column_renames: {Ref: crime_reff}\n")
    monkeypatch.setenv("MASIP_PROFILES_DIR", str(profiles))
    assert "police-westyorks" in load_profiles().broken
    bag = _dagbag()
    assert bag.import_errors == {}
    assert {"masip_ingest_police_kent", "masip_ingest_police_westyorks"} <= set(bag.dags)
    assert {"masip://warehouse/raw/police-kent", "masip://warehouse/raw/police-westyorks"} <= {
        a.uri for a in bag.dags[BUILD_DAG_ID].timetable.asset_condition.objects}
    drop = tmp_path / "landing" / "police-westyorks_2026-11-16"
    drop.mkdir(parents=True)
    (drop / "manifest.json").write_text("{}")
    assert orchestration.pending_drops(tmp_path / "landing", "police-westyorks", tmp_path / "w.duckdb") == [drop.name]


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


def test_build_dag_runs_dbt_per_model_group_and_the_linkage_then_the_quality_gate():
    from masip.orchestration import MARTS_ASSET_URI

    dag = _dagbag().dags[BUILD_DAG_ID]
    chain = list(BUILD_CHAIN)
    for before, after in pairwise(chain):
        assert dag.get_task(after).upstream_task_ids == {before}, after
    assert dag.get_task("report").upstream_task_ids == {*(f"dbt_{g}" for g in DBT_GROUPS), "link", "publish"}
    assert [o.uri for o in dag.get_task("publish").outlets] == [MARTS_ASSET_URI]
    assert all(dag.get_task(t).outlets == [] for t in chain[:-1])
    assert set(dag.params) == {"warehouse", "out_dir", "as_of", "settle_minutes", "rebuild"}
    assert all(dag.params[n] is None for n in dag.params)
    # One build per batch of deliveries: a settle sensor that holds no worker slot, reading the source assets.
    settle = dag.get_task("settle")
    assert settle.mode == "reschedule" and {a.uri for a in settle.inlets} == {
        a.uri for a in dag.timetable.asset_condition.objects}
    assert type(dag.timetable).__name__ == "AssetOrTimeSchedule" and dag.max_active_runs == 1


def test_weekly_evaluation_dag_reads_the_published_warehouse_after_the_weekly_build(tmp_path: Path):
    from airflow.sdk.exceptions import AirflowFailException

    from masip.orchestration import WAREHOUSE_POOL, run_evaluation

    dag = _dagbag().dags[EVALUATION_DAG_ID]
    assert type(dag.timetable).__name__ == "CronTriggerTimetable"
    assert dag.timetable.expression == "0 6 * * 2"  # Tuesdays: after Monday's drops are ingested and built
    assert [t.task_id for t in dag.tasks] == ["evaluation"] and dag.get_task("evaluation").pool == WAREHOUSE_POOL
    assert set(dag.params) == {"warehouse", "out_dir"}
    with pytest.raises(AirflowFailException, match="WarehouseStateError: there is no published warehouse"):
        run_evaluation({"warehouse": str(tmp_path / "none.duckdb"), "out_dir": str(tmp_path)}, "2026-11-17")


# Audit events that mean "this code touched something other than its own source".
_AUDITED = ("open", "os.listdir", "os.scandir", "os.mkdir", "os.remove", "os.rename", "shutil.rmtree",
            "sqlite3.connect", "socket.connect", "subprocess.Popen", "os.system")
_audit_log: list[tuple[str, str]] | None = None


def _audit_hook(event: str, args: tuple[Any, ...]) -> None:
    if _audit_log is not None and event in _AUDITED:
        _audit_log.append((event, str(args[0]) if args else ""))


def test_parsing_the_dags_does_no_io(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog, no_key: None):
    """Parsing reads the DAG files, imports modules and reads the source profiles, and touches nothing else.

    First with every MASIP_* variable pointing at nothing and no key at all (it
    must still parse), then with all of them pointing at real files (a key file,
    a landing folder with a drop, a warehouse), while a Python audit hook records
    every file opened or listed, every database or socket connection and every
    subprocess. The one data read allowed is ``connectors/profiles/*.yaml``: the
    per-source DAGs are generated from them (they are code, shipped with the DAGs).
    """
    global _audit_log
    from connectors.profiles import PROFILES_DIR

    missing = tmp_path / "missing"
    monkeypatch.setenv("MASIP_LANDING_DIR", str(missing / "landing"))
    monkeypatch.setenv("MASIP_WAREHOUSE", str(missing / "w.duckdb"))
    monkeypatch.setenv("MASIP_OUTPUT_DIR", str(missing / "out"))
    monkeypatch.setenv("MASIP_SECRET_FILE", str(missing / "partnership.key"))
    bag = _dagbag()
    assert bag.import_errors == {} and DAG_ID in bag.dags and BUILD_DAG_ID in bag.dags
    assert not missing.exists()

    real = tmp_path / "real"
    (real / "landing" / "police-met_2026-11-16").mkdir(parents=True)
    (real / "landing" / "police-met_2026-11-16" / "manifest.json").write_text("{}")
    (real / "partnership.key").write_text(TEST_SECRET + "\n")
    (real / "w.duckdb").write_bytes(b"")
    monkeypatch.setenv("MASIP_LANDING_DIR", str(real / "landing"))
    monkeypatch.setenv("MASIP_WAREHOUSE", str(real / "w.duckdb"))
    monkeypatch.setenv("MASIP_SECRET_FILE", str(real / "partnership.key"))
    # Re-import masip.orchestration (every module of it) and masip.alerts too, so that their import-time code is audited.
    import masip

    for name in [m for m in sys.modules if m.startswith(("masip.orchestration", "masip.alerts"))]:
        monkeypatch.delitem(sys.modules, name)
    for module in ("orchestration", "alerts"):
        monkeypatch.delattr(masip, module, raising=False)
    sys.addaudithook(_audit_hook)  # hooks cannot be removed; this one is inert while _audit_log is None
    _audit_log = []
    try:
        with caplog.at_level("INFO"):
            bag = _dagbag()
    finally:
        events, _audit_log = _audit_log, None
    assert bag.import_errors == {} and DAG_ID in bag.dags
    assert {BUILD_DAG_ID, EVALUATION_DAG_ID, *(f"masip_ingest_{s.replace('-', '_')}" for s in _profile_source_ids())
            } <= set(bag.dags)
    assert "Partnership key loaded" not in caplog.text

    touched_tmp = [e for e in events if e[1].startswith(str(tmp_path))]
    assert touched_tmp == [], f"parsing touched the MASIP_* paths: {touched_tmp}"
    assert [e for e in events if e[0] in ("sqlite3.connect", "socket.connect", "subprocess.Popen", "os.system")] == []
    repo = str(REPO_ROOT)
    in_repo = [e for e in events if e[1].startswith(repo)]

    def allowed(event: tuple[str, str]) -> bool:
        kind, path = event
        if kind == "open" and path.endswith((".py", ".pyc")):
            return True
        if kind == "open" and Path(path).parent == PROFILES_DIR and path.endswith(".yaml"):
            return True
        return kind in ("os.listdir", "os.scandir") and Path(path).is_dir()

    unexpected = [e for e in in_repo if not allowed(e)]
    assert unexpected == [], f"parsing touched more than source files and profiles in the repo: {unexpected}"
    for dag_file in ("masip_pipeline.py", "masip_ingest.py", "masip_build.py", "masip_weekly_evaluation.py"):
        assert any(e[1].endswith(f"dags/{dag_file}") for e in in_repo)


# --------------------------------------------------------------------------- the key


def test_partnership_key_comes_from_the_connection_first_then_the_environment(monkeypatch, no_key, caplog):
    from masip.orchestration import load_partnership_keyring
    from pseudonymisation.keys import Keyring, MissingKeyError

    other = "another-partnership-secret-in-the-environment-0123456789"
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


def test_run_parameters_fall_back_to_the_environment_at_run_time(tmp_path: Path):
    from masip.orchestration import RunConfigError, resolve_run_config

    landing, other = tmp_path / "landing", tmp_path / "other-partnership"
    (landing / "week-2").mkdir(parents=True)
    other.mkdir()
    env = {"MASIP_LANDING_DIR": str(landing), "MASIP_WAREHOUSE": str(tmp_path / "w" / "m.duckdb")}
    config = resolve_run_config({"input_dir": None, "warehouse": "", "out_dir": None, "as_of": None}, env)
    assert (config.input_dir, config.warehouse, str(config.out_dir), config.as_of) == (
        landing, tmp_path / "w" / "m.duckdb", "output", None)
    config = resolve_run_config({"input_dir": str(landing / "week-2"), "as_of": "2026-11-16"}, env)
    assert config.input_dir == landing / "week-2" and config.as_of.isoformat() == "2026-11-16"
    with pytest.raises(RunConfigError, match="MASIP_LANDING_DIR"):
        resolve_run_config({}, {})
    with pytest.raises(RunConfigError, match="YYYY-MM-DD"):
        resolve_run_config({"input_dir": str(landing), "as_of": "16/11/2026"}, {})
    with pytest.raises(RunConfigError, match="not a plausible reference date"):
        resolve_run_config({"input_dir": str(landing), "as_of": "9999-12-31"}, {})
    # The build does not read the landing folder, so it does not need one.
    assert resolve_run_config({}, {}, require_input=False).input_dir is None


@pytest.mark.parametrize(("name", "value"), [
    ("input_dir", "{landing}/../other-partnership"),  # up and out of the landing area (outside check, 2026-12-06)
    ("input_dir", "{root}/other-partnership"),
    ("input_dir", "/etc"),
    ("out_dir", "{root}/out/../../elsewhere"),
    ("warehouse", "{root}/w/../other-partnership/masip.duckdb"),
    ("warehouse", "{root}/w/warehuose.duckdb"),  # a typo: a new, empty warehouse, vault and landing archive
])
def test_a_path_parameter_outside_the_workers_folders_is_refused_at_once(tmp_path: Path, name: str, value: str):
    """Anyone who may trigger a DAG may set its parameters, and the ingest task holds the key: a path outside the
    folders the workers' environment sets is refused, and nothing is read or written."""
    from masip.orchestration import RunConfigError, resolve_run_config

    landing, warehouse = tmp_path / "landing", tmp_path / "w" / "masip.duckdb"
    for folder in (landing, tmp_path / "other-partnership", tmp_path / "out"):
        folder.mkdir()
    warehouse.parent.mkdir()
    warehouse.touch()
    env = {"MASIP_LANDING_DIR": str(landing), "MASIP_WAREHOUSE": str(warehouse), "MASIP_OUTPUT_DIR": str(tmp_path / "out")}
    with pytest.raises(RunConfigError, match=f"the parameter {name} names") as refused:
        resolve_run_config({name: value.format(landing=landing, root=tmp_path)}, env)
    assert "What to do" in str(refused.value)
    assert resolve_run_config({name: {"input_dir": str(landing), "out_dir": str(tmp_path / "out" / "week"),
                                      "warehouse": str(warehouse)}[name]}, env)  # inside: taken


def test_a_landing_folder_that_is_not_there_fails_at_once(tmp_path: Path):
    """It was retried for eight minutes, with a traceback (outside check, 2026-12-06)."""
    from masip.orchestration import RunConfigError, resolve_run_config

    (tmp_path / "a-file").touch()
    for missing in (tmp_path / "nowhere", tmp_path / "a-file"):
        with pytest.raises(RunConfigError, match="is not a folder"):
            resolve_run_config({}, {"MASIP_LANDING_DIR": str(missing)})


# --------------------------------------------------------------------------- alerts, groups, source filter


def test_alert_records_keep_the_message_text_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from airflow.sdk.exceptions import AirflowFailException

    from masip import alerts
    from masip.quality import DataQualityError

    monkeypatch.delenv(alerts.ALERTS_DB_ENV, raising=False)
    monkeypatch.delenv(alerts.ALERT_EMAIL_ENV, raising=False)
    monkeypatch.delenv(alerts.ALERT_SLACK_CONN_ENV, raising=False)
    leaky = (f"suite failed for token {'ab12' * 8} with key={TEST_SECRET}; uri postgresql://airflow:hunter2@db/x; "
             "person jo.bloggs@example.org, PNC 2019/0123456A, NHS 943 476 5919, postcode SW1A 1AA\n  at line 3")
    try:
        try:
            raise DataQualityError(leaky)
        except DataQualityError as error:
            raise AirflowFailException(f"DataQualityError: {error}") from error
    except AirflowFailException as wrapped:
        exception = wrapped

    class TI:  # what the task runner passes as context["ti"]
        dag_id, task_id, run_id, try_number, max_tries, map_index = "masip_build", "publish", "manual__1", 1, 2, -1

    out = tmp_path / "out"
    alerts.on_task_failure({"ti": TI(), "exception": exception, "params": {"out_dir": str(out)}})
    alerts.on_task_retry({"ti": TI(), "exception": RuntimeError("disk busy"), "params": {"out_dir": str(out)}})
    rows = alerts.read_alerts(out / alerts.ALERTS_FILE_NAME)
    assert [(r["state"], r["dag_id"], r["task_id"], r["run_id"], r["try_number"], r["error_type"]) for r in rows] == [
        ("failed", "masip_build", "publish", "manual__1", 1, "DataQualityError"),
        ("up_for_retry", "masip_build", "publish", "manual__1", 1, "RuntimeError"),
    ]
    message = rows[0]["message"]
    assert message.startswith("suite failed for token [hex] with key=[redacted]") and "at line 3" in message
    for leaked in (TEST_SECRET, "ab12ab12", "hunter2", "jo.bloggs", "0123456A", "476 5919", "SW1A"):
        assert leaked not in message
    assert "Traceback" not in message and rows[1]["message"] == "disk busy"
    # An alert channel that cannot be written is logged, never raised (the task's own failure must show).
    monkeypatch.setenv(alerts.ALERTS_DB_ENV, str(tmp_path / "a-file" / "x.sqlite"))
    (tmp_path / "a-file").write_text("not a folder")
    alerts.on_task_failure({"ti": TI(), "exception": exception})


def _fake_manifest(nodes: dict[str, tuple]) -> dict[str, Any]:
    """``{name: (resource_type, path, [parent names][, [tags]])}`` -> a dbt manifest's ``nodes``.

    A parent ``source:<source>.<table>`` is a dbt source.
    """
    def uid(name: str) -> str:
        if name.startswith("source:"):
            return f"source.masip.{name.removeprefix('source:')}"
        return f"{nodes[name][0]}.masip.{name}"

    return {"metadata": {"project_name": "masip"}, "nodes": {
        uid(name): {"name": name, "resource_type": kind, "package_name": "masip", "original_file_path": path,
                    "depends_on": {"nodes": [uid(p) for p in parents]}, "tags": list(tags[0]) if tags else []}
        for name, (kind, path, parents, *tags) in nodes.items()}}


def test_dbt_model_groups_partition_the_project_in_build_order():
    from masip.build_tasks import dbt_model_groups
    from masip.orchestration import RunConfigError

    nodes = {
        "codes": ("seed", "seeds/codes.csv", []),
        "stg_a": ("model", "models/staging/stg_a.sql", []),
        # what the linkage task reads: built with the staging group
        "int_person_records": ("model", "models/intermediate/int_person_records.sql", ["stg_a"], ["linkage_input"]),
        # what it writes: read by a staging model built after it
        "stg_linkage__person_links": ("model", "models/staging/stg_linkage__person_links.sql",
                                      ["source:linkage.person_links"]),
        "int_as_of": ("model", "models/intermediate/int_as_of.sql", ["stg_a"]),
        "int_b": ("model", "models/intermediate/sub/int_b.sql",
                  ["stg_linkage__person_links", "int_person_records", "codes"]),
        "mart": ("model", "models/marts/mart.sql", ["int_b"]),
        "other": ("model", "models/reporting/other.sql", ["mart"]),
    }
    assert dbt_model_groups(_fake_manifest(nodes)) == {
        "staging": ["codes", "int_person_records", "stg_a"],
        "intermediate": ["int_as_of", "int_b", "stg_linkage__person_links"],
        "marts": ["mart", "other"],
    }
    nodes["stg_a"] = ("model", "models/staging/stg_a.sql", ["mart"])
    with pytest.raises(RunConfigError, match="stg_a .*depends on mart"):
        dbt_model_groups(_fake_manifest(nodes))


def _write_drop(landing: Path, name: str, manifest: str = '{"source_id": "x"}') -> None:
    (landing / name).mkdir(parents=True)
    (landing / name / "manifest.json").write_text(manifest)


def test_find_drops_and_the_sensor_look_at_one_source_only(tmp_path: Path):
    import duckdb

    from connectors.drop_folders import find_drops
    from connectors.profiles import load_profiles
    from masip.orchestration import pending_drops, poke_for_drops

    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    for name in ("police-met_2026-11-09", "police-met_2026-11-16", "police-metro_2026-11-16",
                 "health-trust_2026-11-16", "_truth", ".partial"):
        _write_drop(landing, name)
    (landing / "police-met_2026-11-23").mkdir()  # being delivered: no manifest yet
    profiles = load_profiles()
    assert [p.name for p in find_drops(landing, profiles, ["police-met"]).drops] == [
        "police-met_2026-11-09", "police-met_2026-11-16", "police-met_2026-11-23"]
    assert [p.name for p in find_drops(landing, profiles, "health-trust").drops] == ["health-trust_2026-11-16"]
    everything = find_drops(landing, profiles)
    assert (len(everything.drops), everything.misnamed) == (4, 1)  # police-metro has no profile: counted, not named

    assert pending_drops(landing, "police-met", warehouse) == ["police-met_2026-11-09", "police-met_2026-11-16"]
    sha = __import__("hashlib").sha256(b'{"source_id": "x"}').hexdigest()
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema ops")
        con.execute("create table ops.loaded_drops (drop_name text, drop_sha256 text)")
        con.execute("create table ops.rejected_drops (drop_name text, drop_sha256 text)")
        con.execute("insert into ops.loaded_drops values ('police-met_2026-11-09', ?)", [sha])
        con.execute("insert into ops.rejected_drops values ('police-met_2026-11-16', ?)", [sha])
    assert pending_drops(landing, "police-met", warehouse) == []  # loaded, and rejected: neither is new
    _write_drop(landing, "police-met_2026-11-09_2")  # a copy of the loaded drop (the same manifest): not new either
    assert pending_drops(landing, "police-met", warehouse) == []
    conf = {"input_dir": str(landing), "warehouse": str(warehouse)}
    assert poke_for_drops("police-met", conf, "scheduled").is_done is False  # a scheduled run waits ...
    assert poke_for_drops("police-met", conf, "manual").is_done is True  # ... a manual re-run goes ahead
    # A corrected re-delivery under the same name has a new manifest checksum: new again.
    (landing / "police-met_2026-11-16" / "manifest.json").write_text('{"source_id": "x", "fixed": true}')
    done = poke_for_drops("police-met", conf, "scheduled")
    assert done.is_done is True and done.xcom_value == ["police-met_2026-11-16"]


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


def _states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}


def _asset_events(uri: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetEvent.source_dag_id, AssetEvent.source_run_id, AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id).where(AssetModel.uri == uri)
            .order_by(AssetEvent.id)
        ).all()
    return [{"dag_id": d, "run_id": r, "extra": e} for d, r, e in rows]


def _queued_builds() -> set[str]:
    """Asset URIs that have queued a ``masip_build`` run (the scheduler turns them into a run)."""
    from airflow.models.asset import AssetDagRunQueue, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return set(session.scalars(
            select(AssetModel.uri).join(AssetDagRunQueue, AssetDagRunQueue.asset_id == AssetModel.id)
            .where(AssetDagRunQueue.target_dag_id == BUILD_DAG_ID)))


def _unpause(dag_id: str) -> None:
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id == dag_id).values(is_paused=False))


def _marts(warehouse: Path) -> dict[str, list[tuple]]:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = [t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' order by 1").fetchall()]
        return {t: con.execute(f'select * from marts."{t}" order by all').fetchall() for t in tables}


def _loaded_sources(warehouse: Path) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        return dict(con.execute("select source_id, count(*) from ops.loaded_drops group by 1 order by 1").fetchall())


def _forbidden_key_material(secret: str) -> list[str]:
    from pseudonymisation.encodings import ENCODING_FIELDS, encoding_key
    from pseudonymisation.keys import Keyring
    from pseudonymisation.tokens import TOKEN_PURPOSES

    keyring = Keyring(secret.encode())
    purposes = [f"token/{p}" for p in TOKEN_PURPOSES] + ["landing/aes-gcm"]  # every purpose the code derives
    purpose_keys = [keyring.purpose_key(p) for p in purposes] + [encoding_key(keyring, f) for f in ENCODING_FIELDS]
    return [secret, secret.encode().hex(), *(k.hex() for k in purpose_keys)]


def _metadata_db_dump(airflow_home: Path) -> str:
    with sqlite3.connect(airflow_home / "airflow.db") as con:
        return "\n".join(con.iterdump())


@dataclass
class Chain:
    """The per-source ingest DAGs, then the build DAG, run once with dag.test() on a synthetic partnership."""

    landing: Path
    warehouse: Path
    out_dir: Path
    conf: dict[str, str]
    states: dict[str, dict[str, str]] = field(default_factory=dict)
    xcoms: dict[str, dict[str, Any]] = field(default_factory=dict)
    run_ids: dict[str, str] = field(default_factory=dict)
    after_first: dict[str, Any] = field(default_factory=dict)
    marts: dict[str, list[tuple]] = field(default_factory=dict)


FIRST_SOURCE = "police-met"  # its drops include the synthetic truncated (rejected) drop and its re-delivery


@pytest.fixture(scope="module")
def chain(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    from masip.orchestration import ingest_dag_id, pending_drops
    from masip.synth import DEFAULT_FAULTS, generate_partnership

    root = tmp_path_factory.mktemp("chain")
    result = Chain(root / "landing", root / "warehouse" / "masip.duckdb", root / "output", {})
    result.conf = {"input_dir": str(result.landing), "warehouse": str(result.warehouse), "out_dir": str(result.out_dir)}
    generate_partnership(result.landing, dyads=40, faults=DEFAULT_FAULTS)
    sources = _profile_source_ids()
    with pytest.MonkeyPatch.context() as env:
        for name in (*MASIP_ENV, CONN_ENV):
            env.delenv(name, raising=False)
        env.setenv("MASIP_SECRET", TEST_SECRET)
        bag = _dagbag()
        build_conf = {**{k: v for k, v in result.conf.items() if k != "input_dir"}, **AT_ONCE}
        # A build before any ingest: no warehouse yet, so it fails at once (this also registers the DAGs).
        dag_run = bag.dags[BUILD_DAG_ID].test(run_conf=build_conf)
        result.states["build_before_ingest"] = _states(dag_run)
        # Asset events only queue runs of unpaused DAGs (no scheduler runs here; this shows the queueing).
        _unpause(BUILD_DAG_ID)

        def run(dag_id: str, conf: dict[str, str]) -> None:
            dag_run = bag.dags[dag_id].test(run_conf=conf)
            result.states[dag_id], result.xcoms[dag_id] = _states(dag_run), _xcoms(dag_run)
            result.run_ids[dag_id] = dag_run.run_id

        run(ingest_dag_id(FIRST_SOURCE), result.conf)
        result.after_first = {
            "loaded": _loaded_sources(result.warehouse),
            "pending": {s: pending_drops(result.landing, s, result.warehouse) for s in sources},
            "queued": _queued_builds(),
        }
        for source_id in sources:
            if source_id != FIRST_SOURCE:
                run(ingest_dag_id(source_id), result.conf)
        run(BUILD_DAG_ID, build_conf)
        result.marts = _marts(result.warehouse)
        # The runs those deliveries queued behind the build: nothing new since the published build, so no-ops.
        queued = bag.dags[BUILD_DAG_ID].test(run_conf=build_conf)
        result.states["queued_build"], result.xcoms["queued_build"] = _states(queued), _xcoms(queued)
        yield result


@pytest.mark.slow
def test_ingest_dags_load_only_their_own_source_and_a_rejected_drop_does_not_fail_them(chain: Chain):
    from masip.orchestration import ingest_dag_id, source_asset_uri

    first = ingest_dag_id(FIRST_SOURCE)
    assert chain.states[first] == dict.fromkeys(("wait_for_drop", "ingest", "announce", "report"), "success")
    # Only police-met's drops were looked at: nothing of any other source is loaded or pending-checked.
    assert set(chain.after_first["loaded"]) == {FIRST_SOURCE}
    assert chain.after_first["pending"][FIRST_SOURCE] == []  # loaded or rejected: the sensor would not fire again
    for source_id in _profile_source_ids():
        if source_id != FIRST_SOURCE:
            assert len(chain.after_first["pending"][source_id]) >= 5, source_id
    ingest = chain.xcoms[first]["ingest"]
    assert {d["source_id"] for d in ingest["summary"]["drops"]} == {FIRST_SOURCE}
    assert ingest["source_ids"] == [FIRST_SOURCE]
    assert chain.xcoms[first]["wait_for_drop"] == [d["drop_name"] for d in ingest["summary"]["drops"]]
    # The truncated drop is rejected, recorded and reported; the run succeeds (a re-delivery is expected).
    rejected = [d for d in ingest["summary"]["drops"] if d["status"] == "rejected"]
    assert [d["drop_name"] for d in rejected] == [f"{FIRST_SOURCE}_2026-10-26"]
    assert "checksum mismatch" in rejected[0]["reason"]
    report = json.loads(Path(chain.xcoms[first]["report"]["report_json"]).read_text())
    assert Path(chain.xcoms[first]["report"]["report_json"]).parent.parent.name == first  # one folder per run
    assert report["reconciliation"]["drops_rejected"] == 1 and report["reconciliation"]["all_files_reconcile"]
    # The source's asset was updated (with counts and drop names only), which queues the build.
    events = _asset_events(source_asset_uri(FIRST_SOURCE))
    assert [(e["dag_id"], e["run_id"]) for e in events] == [(first, chain.run_ids[first])]
    assert events[0]["extra"]["drops_loaded"] == [d["drop_name"] for d in ingest["summary"]["drops"]
                                                  if d["status"] == "loaded"]
    assert source_asset_uri(FIRST_SOURCE) in chain.after_first["queued"]
    # Every other source: its own DAG loaded its own drops.
    loaded = _loaded_sources(chain.warehouse)
    assert set(loaded) == set(_profile_source_ids())
    for source_id in _profile_source_ids():
        assert chain.states[ingest_dag_id(source_id)]["announce"] == "success"
        assert len(_asset_events(source_asset_uri(source_id))) == 1


@pytest.mark.slow
def test_build_dag_builds_every_dbt_node_once_in_groups_and_publishes(chain: Chain):
    from masip.alerts import ALERTS_FILE_NAME, read_alerts
    from masip.dbt_runner import dbt_work_dirs
    from masip.orchestration import MARTS_ASSET_URI
    from masip.pipeline import candidate_path

    # Triggered before any ingest: no warehouse, a readable failure at once, recorded as an alert.
    before = chain.states["build_before_ingest"]
    assert before["prepare_candidate"] == "failed" and before.pop("settle") == "success"
    assert set(before.values()) == {"failed", "upstream_failed"}
    [alert] = read_alerts(chain.out_dir / ALERTS_FILE_NAME)
    assert (alert["task_id"], alert["try_number"], alert["error_type"]) == ("prepare_candidate", 1, "WarehouseStateError")
    assert "there is no warehouse at" in alert["message"] and "run the ingest DAGs" in alert["message"]

    assert chain.states[BUILD_DAG_ID] == dict.fromkeys(
        (*BUILD_CHAIN, "report"), "success")
    xcoms = chain.xcoms[BUILD_DAG_ID]
    # Every model, seed and test of the project ran exactly once, in one of the four groups.
    ran = [n["unique_id"] for g in DBT_GROUPS for n in xcoms[f"dbt_{g}"]["nodes"]]
    manifest = json.loads((dbt_work_dirs(candidate_path(chain.warehouse))[0] / "manifest.json").read_text())
    project = {uid for uid, n in manifest["nodes"].items()
               if n["resource_type"] in ("model", "seed", "test") and n["package_name"] == "masip"}
    assert len(ran) == len(set(ran)) and set(ran) == project
    # the linkage ran as its own task between staging (which built its input) and intermediate (which reads it)
    assert xcoms["link"]["roles"] > 0 and 0 < xcoms["link"]["persons"] < xcoms["link"]["roles"]
    # the clerical review queue's size: counted by the linkage, shown by the report from ops.review_queue
    assert xcoms["report"]["review_queue"] == xcoms["link"]["review_queue"] >= 0
    assert any(n["name"] == "int_person_records" for n in xcoms["dbt_staging"]["nodes"])
    assert any(n["name"] == "stg_linkage__person_links" for n in xcoms["dbt_intermediate"]["nodes"])
    # the linkage's input and what it reads (int_first_deliveries), and the staging models
    assert all(n["resource_type"] != "model" or n["name"] in ("int_person_records", "int_first_deliveries")
               or n["name"].startswith("stg_") for n in xcoms["dbt_staging"]["nodes"])
    assert xcoms["publish"]["success"] is True
    assert chain.marts["person_xref"] and chain.marts["victim_journey"]
    assert not candidate_path(chain.warehouse).exists()  # swapped in
    assert [e["dag_id"] for e in _asset_events(MARTS_ASSET_URI)] == [BUILD_DAG_ID]
    folder = Path(xcoms["report"]["report_json"]).parent
    assert folder.parent.name == BUILD_DAG_ID
    report = json.loads((folder / "run_report.json").read_text())
    assert report["build"]["passed"] == len(project) and report["quality"]["success"] is True
    assert json.loads((folder / "airflow_run.json").read_text())["marts"] == report["warehouse"]["marts"]


@pytest.mark.slow
def test_one_build_per_batch_of_deliveries_and_queued_runs_with_nothing_new_are_no_ops(chain: Chain):
    """Every source delivered (one ingest run and asset event each); one build built them all; the
    build run queued behind it found nothing new and finished at once, every task after settle skipped."""
    from masip.orchestration import source_asset_uri

    sources = _profile_source_ids()
    events = [e for s in sources for e in _asset_events(source_asset_uri(s))]
    assert len(events) == len(sources) >= 6
    built = chain.xcoms[BUILD_DAG_ID]
    delivered = {d for e in events for d in e["extra"]["drops_loaded"]}
    assert set(built["prepare_candidate"]["new_drops"]) == delivered  # one build of every delivery
    # settle read the deliveries through Airflow (the sources' asset events), not the warehouse
    assert built["settle"]["last_delivery"] is not None and built["settle"]["quiet_minutes"] == 0
    queued = chain.states["queued_build"]
    assert queued.pop("settle") == "success" and set(queued.values()) == {"skipped"}
    assert "prepare_candidate" not in chain.xcoms["queued_build"]
    assert _marts(chain.warehouse) == chain.marts


def test_the_settle_window_waits_for_quiet_and_never_longer_than_the_cap():
    from datetime import datetime

    from masip.orchestration.coalesce import (
        MAX_SETTLE_WAIT,
        settle_decision,
        settle_window,
    )
    from masip.orchestration.errors import RunConfigError

    start = datetime(2026, 11, 30, 9, 0)
    quiet = timedelta(minutes=15)
    minutes = [start + timedelta(minutes=m) for m in range(120)]
    assert settle_decision(None, start, start, quiet).done  # nothing delivered: nothing to wait for
    assert not settle_decision(minutes[0], start, minutes[14], quiet).done  # a lone delivery: 15 quiet minutes ...
    assert settle_decision(minutes[0], start, minutes[15], quiet).done  # ... then it is built
    assert not settle_decision(minutes[50], start, minutes[55], quiet).done  # deliveries still arriving
    assert settle_decision(minutes[59], start, start + MAX_SETTLE_WAIT, quiet).done  # never more than the cap
    assert settle_window({"settle_minutes": 0}) == timedelta(0)
    assert settle_window({}, {"MASIP_BUILD_SETTLE_MINUTES": "5"}) == timedelta(minutes=5)
    assert settle_window({}, {}) == quiet
    with pytest.raises(RunConfigError, match="not a number"):
        settle_window({}, {"MASIP_BUILD_SETTLE_MINUTES": "soon"})


@pytest.mark.slow
def test_a_rerun_changes_nothing_and_keeps_the_key_out_of_airflow(
    chain: Chain, airflow_db: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch, no_key: None,
):
    """Re-running one source's ingest loads nothing and triggers no build; a full manual re-run
    (``masip_pipeline``, the same as ``masip run``) over the same landing folder rebuilds identical marts."""
    from masip.orchestration import ingest_dag_id, source_asset_uri
    from tests.leakcheck import collect_identifiers, leaks_in_text

    monkeypatch.setenv("MASIP_SECRET", TEST_SECRET)
    bag = _dagbag()
    first = ingest_dag_id(FIRST_SOURCE)
    events_before = len(_asset_events(source_asset_uri(FIRST_SOURCE)))
    with caplog.at_level("INFO"):
        rerun = bag.dags[first].test(run_conf=chain.conf)
        assert _states(rerun) == {"wait_for_drop": "success", "ingest": "success", "announce": "skipped",
                                  "report": "success"}
        drops = _xcoms(rerun)["ingest"]["summary"]["drops"]
        # the truncated drop, rejected before its intact re-delivery loaded, is now a copy of that delivery: already
        # loaded with a note, not rejected again every run (outside audit 5, D2); every other drop already loaded
        assert {d["drop_name"]: d["status"] for d in drops if d["status"] != "already_loaded"} == {}
        assert [d["drop_name"] for d in drops if d["reason"]] == [f"{FIRST_SOURCE}_2026-10-26"]
        assert len(_asset_events(source_asset_uri(FIRST_SOURCE))) == events_before  # no new data, no build

        dag_run = bag.dags[DAG_ID].test(run_conf=chain.conf)

    assert _states(dag_run) == dict.fromkeys(("ingest", "build", "publish", "report"), "success")
    xcoms = _xcoms(dag_run)
    drops = xcoms["ingest"]["summary"]["drops"]
    assert {d["drop_name"] for d in drops if d["status"] != "already_loaded"} == set()
    rec = xcoms["report"]["reconciliation"]
    assert rec["rows_loaded"] == 0 and rec["drops_loaded"] == 0 and rec["all_files_reconcile"] is True
    report = json.loads((chain.out_dir / "run_report.json").read_text())
    assert report["run_id"] == xcoms["ingest"]["summary"]["run_id"] and report["build"]["passed"] > 0
    assert xcoms["publish"]["success"] is True
    assert _marts(chain.warehouse) == chain.marts, "a re-run over the same drops changed the marts"

    # No key material anywhere Airflow keeps things: XComs, the whole metadata DB, the task logs.
    xcom_text = json.dumps(xcoms) + json.dumps(chain.xcoms)
    db_text = _metadata_db_dump(airflow_db)
    logs = capfd.readouterr()
    log_text = logs.out + logs.err + caplog.text  # Airflow's structlog output + stdlib logging (pytest catches it)
    for material in _forbidden_key_material(TEST_SECRET):
        assert material not in xcom_text
        assert material not in db_text
        assert material not in log_text
    assert "Partnership key loaded from the environment" in log_text
    # ... and no plain identifier of the input in the XComs or the task logs.
    identifiers = collect_identifiers(chain.landing)
    assert leaks_in_text(xcom_text, identifiers) == []
    assert leaks_in_text(log_text, identifiers) == []


@pytest.mark.slow
def test_a_quality_failure_fails_publish_at_once_with_an_alert_and_keeps_the_last_good_build(
    chain: Chain, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, no_key: None,
):
    import duckdb

    from masip.alerts import ALERTS_FILE_NAME, read_alerts
    from masip.pipeline import candidate_path

    warehouse, out_dir = tmp_path / "warehouse" / "masip.duckdb", tmp_path / "output"
    warehouse.parent.mkdir()
    shutil.copyfile(chain.warehouse, warehouse)
    # A candidate that dbt "built" but that breaks a mart rule: person ids missing in the cross-reference.
    shutil.copyfile(warehouse, candidate_path(warehouse))
    with duckdb.connect(str(candidate_path(warehouse))) as con:
        con.execute("update marts.person_xref set person_id = null where role = 'VICTIM'")
    conf = {"warehouse": str(warehouse), "out_dir": str(out_dir), **AT_ONCE}

    dag_run = _dagbag().dags[BUILD_DAG_ID].test(
        run_conf=conf, mark_success_pattern=r"^(prepare_candidate|dbt_.*|link)$")

    states = _states(dag_run)
    assert str(dag_run.state) in ("failed", "DagRunState.FAILED")
    assert states["publish"] == "failed" and states["report"] == "upstream_failed"
    publish = next(ti for ti in dag_run.get_task_instances() if ti.task_id == "publish")
    assert publish.try_number == 1  # no retry: the data will not change
    log_text = "".join(capfd.readouterr())
    assert "DataQualityError: data-quality checks failed, so the marts were NOT published" in log_text
    assert "marts.person_xref: expect_column_values_to_not_be_null on person_id" in log_text
    # The published warehouse still holds the last good build; the rejected candidate is kept for inspection.
    assert _marts(warehouse) == chain.marts
    assert candidate_path(warehouse).exists()
    alerts = read_alerts(out_dir / ALERTS_FILE_NAME)
    assert [(a["dag_id"], a["task_id"], a["run_id"], a["try_number"], a["state"], a["error_type"])
            for a in alerts] == [(BUILD_DAG_ID, "publish", dag_run.run_id, 1, "failed", "DataQualityError")]
    assert "person_xref" in alerts[0]["message"] and "Traceback" not in alerts[0]["message"]


def _persons(warehouse: Path) -> dict[tuple[str, ...], str]:
    """``person_id`` of each record role (source, table, reference, role) of the published cross-reference."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("select source_id, source_table, record_ref, role, person_id from marts.person_xref").fetchall()
    return {tuple(row[:4]): row[4] for row in rows}


@pytest.mark.slow
def test_a_review_decision_or_a_new_release_in_a_week_without_deliveries_is_built_by_the_next_run(
    chain: Chain, tmp_path: Path, no_key: None,
):
    """A reviewer splits two roles of one person with nothing delivered since: the next build run does not
    take itself for a no-op (the decision reaches the marts), and the run after it is one again. The same
    for marts published by other code (a release that changed a model, a flag threshold or the linkage), whose
    incremental staging tables are staged again from every raw row when the release changed the staging code,
    and for marts validated under other data-quality rules (validated whole under this release's)."""
    from datetime import UTC, datetime

    import duckdb
    import pandas as pd

    from connectors.vault import Vault
    from masip.linkage.review_store import ROLE_COLUMNS, record_decisions

    warehouse, out_dir = tmp_path / "warehouse" / "masip.duckdb", tmp_path / "output"
    warehouse.parent.mkdir()
    shutil.copyfile(chain.warehouse, warehouse)
    shutil.copytree(Vault.for_warehouse(chain.warehouse).directory, Vault.for_warehouse(warehouse).directory)
    before = _persons(warehouse)
    by_person: dict[str, list[tuple[str, ...]]] = {}
    for role, person in sorted(before.items()):
        by_person.setdefault(person, []).append(role)
    first, second = next(roles for roles in by_person.values() if len(roles) >= 2)[:2]
    record_decisions(Vault.for_warehouse(warehouse), pd.DataFrame([{
        **dict(zip(ROLE_COLUMNS, (*first, *second))), "same_person": False, "reviewer": "R7",
        "decided_at": datetime(2026, 11, 20, 9, 30, tzinfo=UTC), "reason": "two people",
    }]))
    conf = {"warehouse": str(warehouse), "out_dir": str(out_dir), **AT_ONCE}
    bag = _dagbag()

    built = bag.dags[BUILD_DAG_ID].test(run_conf=conf)
    assert set(_states(built).values()) == {"success"}
    prepared = _xcoms(built)["prepare_candidate"]
    assert (prepared["new_drops"], prepared["new_review_decisions"], prepared["code_changed"]) == ([], 1, False)
    after = _persons(warehouse)
    assert before[first] == before[second] and after[first] != after[second]

    again = _states(bag.dags[BUILD_DAG_ID].test(run_conf=conf))
    assert again.pop("settle") == "success" and set(again.values()) == {"skipped"}
    assert _persons(warehouse) == after

    # a release that changed a staging model too: what the old code staged is staged again, every raw row of it
    staged = "select status, count(*) from staging.stg_police__orders group by all order by all"
    with duckdb.connect(str(warehouse)) as con:
        orders = con.execute(staged).fetchall()
        con.execute("update staging.stg_police__orders set status = lower(status)")
        con.execute("update ops.published_builds set build_code = 'an earlier release', staging_code = 'an earlier release'")
    redeployed = bag.dags[BUILD_DAG_ID].test(run_conf=conf)
    assert set(_states(redeployed).values()) == {"success"}
    prepared = _xcoms(redeployed)["prepare_candidate"]
    assert (prepared["new_drops"], prepared["new_review_decisions"], prepared["code_changed"]) == ([], 0, True)
    assert _persons(warehouse) == after
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(staged).fetchall() == orders

    # a release that changed only the data-quality rules: built, and every row validated under them
    latest = "select validation, quality_rules from ops.published_builds order by published_at desc limit 1"
    with duckdb.connect(str(warehouse)) as con:
        assert con.execute(latest).fetchone()[0] == "changed"
        con.execute("update ops.published_builds set quality_rules = 'an earlier release'")
    revalidated = bag.dags[BUILD_DAG_ID].test(run_conf=conf)
    assert set(_states(revalidated).values()) == {"success"}
    assert _xcoms(revalidated)["prepare_candidate"]["code_changed"] is True
    with duckdb.connect(str(warehouse), read_only=True) as con:
        validation, rules = con.execute(latest).fetchone()
    assert validation == "full" and rules != "an earlier release"


@pytest.mark.slow
def test_a_corrupt_warehouse_fails_prepare_candidate_at_once(airflow_db: Path, tmp_path: Path, capfd, no_key: None):
    from masip.alerts import ALERTS_FILE_NAME, read_alerts

    warehouse = tmp_path / "masip.duckdb"
    warehouse.write_bytes(b"this is not a DuckDB database" * 200)
    dag_run = _dagbag().dags[BUILD_DAG_ID].test(
        run_conf={"warehouse": str(warehouse), "out_dir": str(tmp_path / "out"), **AT_ONCE})
    states = _states(dag_run)
    assert states["prepare_candidate"] == "failed"
    assert states["settle"] == "success"
    assert {states[t] for t in states if t not in ("settle", "prepare_candidate")} == {"upstream_failed"}
    assert "WarehouseDamaged: the warehouse file" in "".join(capfd.readouterr())
    [alert] = read_alerts(tmp_path / "out" / ALERTS_FILE_NAME)
    assert (alert["task_id"], alert["try_number"], alert["error_type"]) == ("prepare_candidate", 1, "WarehouseDamaged")
    assert f"the warehouse file {warehouse} is damaged" in alert["message"]
    assert "restore the last good copy" in alert["message"]


@pytest.mark.slow
def test_a_first_run_whose_drops_are_all_rejected_reports_them_and_succeeds(
    airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    no_key: None,
):
    """masip_pipeline: build and publish are skipped (nothing to build), the report lists the rejection;
    masip_build, triggered by hand on that warehouse, skips too; the ingest DAG reports it as well."""
    from airflow.utils.state import DagRunState

    from masip.orchestration import ingest_dag_id

    monkeypatch.setenv("MASIP_SECRET", TEST_SECRET)
    landing = tmp_path / "landing"
    drop = shutil.copytree(REPO_ROOT / "tests" / "fixtures" / "sample_drops" / "police-met_2026-09-21",
                           landing / "police-met_2026-09-28")
    with (Path(drop) / "crimes.csv").open("ab") as handle:
        handle.write(b"cut short")
    warehouse = tmp_path / "warehouse" / "masip.duckdb"
    conf = {"input_dir": str(landing), "warehouse": str(warehouse), "out_dir": str(tmp_path / "out")}
    bag = _dagbag()
    dag_run = bag.dags[DAG_ID].test(run_conf=conf)
    assert dag_run.state == DagRunState.SUCCESS
    assert _states(dag_run) == {"ingest": "success", "build": "skipped", "publish": "skipped", "report": "success"}
    report = json.loads((tmp_path / "out" / "run_report.json").read_text())
    assert [(d["drop_name"], d["status"]) for d in report["drops"]] == [("police-met_2026-09-28", "rejected")]
    assert any("no marts were built" in w for w in report["warnings"])
    assert any("no marts were built" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")

    build_run = bag.dags[BUILD_DAG_ID].test(run_conf={**{k: v for k, v in conf.items() if k != "input_dir"}, **AT_ONCE})
    assert build_run.state == DagRunState.SUCCESS
    states = _states(build_run)
    assert states.pop("settle") == "success" and set(states.values()) == {"skipped"}
    ingest_run = bag.dags[ingest_dag_id("police-met")].test(run_conf=conf)
    assert ingest_run.state == DagRunState.SUCCESS


@pytest.mark.slow
def test_dag_run_fails_at_ingest_without_a_key(
    airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], no_key: None
):
    from airflow.utils.state import DagRunState, TaskInstanceState

    from masip.alerts import ALERTS_FILE_NAME, read_alerts

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
    [alert] = read_alerts(tmp_path / "out" / ALERTS_FILE_NAME)
    assert (alert["dag_id"], alert["task_id"], alert["error_type"]) == (DAG_ID, "ingest", "MissingKeyError")
    assert "masip_partnership" in alert["message"]
    assert "No partnership secret, so refusing to start" in alert["message"]  # the scrubber read "secret: <value>"


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
    # The one-slot pool every warehouse-writing task runs in (tasks in a missing pool never run).
    from masip.orchestration import WAREHOUSE_POOL

    assert "airflow db migrate" in commands["airflow-init"]
    assert f"airflow pools set {WAREHOUSE_POOL} 1 " in commands["airflow-init"]
    readme = (DOCKER_DIR / "README.md").read_text()
    assert "CeleryExecutor" in readme and "KubernetesExecutor" in readme and WAREHOUSE_POOL in readme

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
