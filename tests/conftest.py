"""Shared test set-up.

Airflow reads ``AIRFLOW_HOME`` and its ``AIRFLOW__…`` settings once, when it
is first imported, and creates ``$AIRFLOW_HOME/logs`` there and then. So the
Airflow environment is set in ``pytest_configure``, before any test module is
imported, pointing at a throw-away folder (never at a real Airflow). Setting a
few ``AIRFLOW_*`` variables is harmless for tests that do not use Airflow; the
expensive part, creating the metadata database, only happens for tests that
request the ``airflow_db`` fixture.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DAGS_FOLDER = REPO_ROOT / "dags"

_saved_env: dict[str, str | None] = {}
_airflow_home: Path | None = None


def _airflow_env(home: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "GX_ANALYTICS_ENABLED": "False",
        # Failure alerts (masip.alerts): into each test's own output folder, never e-mailed or sent to Slack.
        "MASIP_ALERTS_DB": "",
        "MASIP_ALERT_EMAIL": "",
        "MASIP_ALERT_SLACK_CONN_ID": "",
    }


def _give_xdist_workers_a_main_file(config: pytest.Config) -> None:
    """Let pyspark be imported inside a pytest-xdist worker.

    Great Expectations imports ``pyspark.sql.connect`` when pyspark is
    installed, and pyspark's dependency check takes a ``__main__`` with
    neither ``__spec__`` nor ``__file__`` (an xdist worker's) for a doctest
    run and calls ``sys.exit(0)``. A worker's ``__main__`` is given a
    ``__file__`` so the import goes on as it does in any other process.
    """
    main = sys.modules["__main__"]
    if hasattr(config, "workerinput") and getattr(main, "__spec__", None) is None and not hasattr(main, "__file__"):
        main.__file__ = "<pytest-xdist worker>"


#: The modules that take minutes (each CI log's ``--durations`` names their slowest tests), longest first. `make
#: test` hands modules to its two workers in collection order (``--dist loadfile --no-loadscope-reorder``), so these
#: go first and the short ones fill in at the end: handed out last (xdist's default order puts modules of few tests
#: last), a long module kept one worker busy for minutes while the other waited. The order affects only when a
#: module runs, never what it checks; a module missing here runs after these.
LONGEST_FIRST = (
    "test_operations", "test_spark_equivalence", "test_end_to_end", "test_dags", "test_store_swaps",
    "test_hostile_fuzz", "test_clerical_review", "test_separation", "test_hostile_input", "test_linkage_fuzzy",
    "test_ingest_faults", "test_casepack", "test_lint", "test_flags",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(LONGEST_FIRST)))  # stable: each module's own order kept


def pytest_configure(config: pytest.Config) -> None:
    global _airflow_home
    _give_xdist_workers_a_main_file(config)
    _airflow_home = Path(tempfile.mkdtemp(prefix="masip-airflow-home-"))
    for name, value in _airflow_env(_airflow_home).items():
        _saved_env[name] = os.environ.get(name)
        os.environ[name] = value


def pytest_unconfigure(config: pytest.Config) -> None:
    for name, value in _saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _saved_env.clear()
    if _airflow_home is not None:
        shutil.rmtree(_airflow_home, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A fresh Airflow metadata database (SQLite) in a temporary AIRFLOW_HOME; yields that folder."""
    assert _airflow_home is not None and os.environ["AIRFLOW_HOME"] == str(_airflow_home)
    from airflow.utils import db

    db.initdb()
    return _airflow_home


@pytest.fixture(scope="module")
def trained_from_600_records():
    """A module whose partnership (hundreds of record roles) is trained on, as a partnership that size may choose
    (``MASIP_MIN_TRAINING_RECORDS``; the default, 3,000, keeps the defaults below it): its premise is a trained
    model (a frozen one reused by weekly runs, retrained by a full refresh or a rotation, an uncertain pair)."""
    from masip.linkage.scorer import MIN_TRAINING_ENV

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MIN_TRAINING_ENV, "600")
        yield
