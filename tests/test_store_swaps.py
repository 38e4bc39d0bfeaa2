"""A key rotation killed while it swaps its rebuilt stores into place is finished by the next writer.

Before the journal, a kill between the two renames of a folder swap left the
vault (or the landing archive) under no name of its own, and a kill between
two swaps left new-key stores beside an old-key archive (review of
2026-12-05). Here the swaps of :func:`masip.rotation.rotation_swaps` stop
after every possible number of steps, on real folders and real DuckDB files,
and the next holder of the warehouse lock must end with every store the
rebuilt one and nothing left beside them; then the same on a real partnership
with the ``masip`` command.
"""

from __future__ import annotations

import itertools
import json
import logging
import shutil
from pathlib import Path

import duckdb
import pytest

from masip.dbt_runner import dbt_work_dirs
from masip.pipeline import candidate_path
from masip.rotation import rotation_swaps
from masip.store_swaps import (
    SwapError,
    journal_path,
    rebuilt_path,
    swap_steps,
    write_journal,
)
from masip.warehouse import lock_path, warehouse_lock
from tests.test_operations import KEY_A, KEY_B, _good_drop, masip

STORES = ("masip.duckdb", "vault", "landing_archive")


def _stores(root: Path, *, stale_retired: bool) -> Path:
    """A warehouse, a vault and an archive marked "old", each with its rebuilt ".rotating" twin marked "new"."""
    for name, mark in itertools.product(STORES, ("old", "new")):
        path = root / name if mark == "old" else rebuilt_path(root / name)
        if name.endswith(".duckdb"):
            with duckdb.connect(str(path)) as con:
                con.execute("create table mark as select ? as key", [mark])
        else:
            path.mkdir()
            (path / "records.duckdb").write_text(mark)
    if stale_retired:  # left by a crash before the journal existed
        (root / "vault.retired").mkdir()
        (root / "vault.retired" / "records.duckdb").write_text("older")
    return root / "masip.duckdb"


def _marks(root: Path) -> dict[str, str]:
    with duckdb.connect(str(root / "masip.duckdb"), read_only=True) as con:
        marks = {"masip.duckdb": con.execute("select key from mark").fetchone()[0]}
    return marks | {name: (root / name / "records.duckdb").read_text() for name in STORES[1:]}


def _journal(warehouse: Path) -> Path:
    return write_journal(
        warehouse, rotation_swaps(warehouse, warehouse.parent / "vault", warehouse.parent / "landing_archive"),
        purpose="the test stores", what_to_do="nothing.",
    )


def _step_count(root: Path, stale_retired: bool) -> int:
    root.mkdir()
    warehouse = _stores(root, stale_retired=stale_retired)
    _journal(warehouse)
    return sum(1 for _ in swap_steps(warehouse))


@pytest.mark.parametrize("stale_retired", [False, True])
def test_swaps_stopped_after_any_step_are_finished_by_the_next_holder_of_the_lock(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, stale_retired: bool,
):
    steps = _step_count(tmp_path / "all-steps", stale_retired)
    assert steps == 7 + stale_retired  # two renames and a deletion per folder, one rename for the file
    for done in range(steps + 1):
        root = tmp_path / f"stopped-after-{done}"
        root.mkdir()
        warehouse = _stores(root, stale_retired=stale_retired)
        _journal(warehouse)
        for _ in itertools.islice(swap_steps(warehouse), done):  # the process dies here: no code runs after it
            pass
        caplog.clear()
        with caplog.at_level(logging.WARNING), warehouse_lock(warehouse, "run"):
            assert _marks(root) == dict.fromkeys(STORES, "new"), f"stopped after {done} steps"
        assert sorted(p.name for p in root.iterdir()) == sorted([*STORES, "masip.duckdb.lock"])
        assert "finished swapping the test stores into place" in caplog.text and "What to do: nothing." in caplog.text
        with caplog.at_level(logging.WARNING), warehouse_lock(warehouse, "run"):
            pass
        assert caplog.text.count("finished swapping") == 1  # the journal went with the swaps


def test_a_store_missing_under_both_names_stops_the_lock_with_what_to_do(tmp_path: Path):
    warehouse = _stores(tmp_path, stale_retired=False)
    _journal(warehouse)
    shutil.rmtree(tmp_path / "vault.rotating")
    shutil.move(tmp_path / "vault", tmp_path / "vault.retired")
    with pytest.raises(SwapError, match=r"neither .*vault nor its replacement .* What to do: restore vault.* then "
                       r"delete .*masip\.duckdb\.swaps\.json and re-run"), warehouse_lock(warehouse, "run"):
        pass
    assert journal_path(warehouse).exists()  # nothing guessed: the operator decides
    assert (tmp_path / "vault.retired").exists()


@pytest.mark.parametrize("text", ["{", "[]", '{"purpose": "p", "what_to_do": "w", "swaps": [{"current": "/x"}]}',
                                  ('{"purpose": "p", "what_to_do": "w", "swaps": [{"current": "/etc", "is_folder": '
                                   'true, "replacement": "/tmp"}]}')])
def test_a_damaged_or_edited_journal_moves_nothing_and_says_what_to_do(tmp_path: Path, text: str):
    """Only a journal masip wrote is followed, and it can only put a store's own rebuilt copy in its place."""
    warehouse = _stores(tmp_path, stale_retired=False)
    journal_path(warehouse).write_text(text)
    before = sorted(p.name for p in tmp_path.iterdir()) + ["masip.duckdb.lock"]
    with pytest.raises(SwapError, match=r"is not a journal of store swaps that masip wrote .* What to do: .*"
                                        r"delete masip\.duckdb\.swaps\.json and re-run"), warehouse_lock(warehouse, "run"):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before)


@pytest.fixture(scope="module")
def partnerships(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One drop loaded under key A (``w/``) and, as a rotation to key B would rebuild it, under key B (``b/``)."""
    root = tmp_path_factory.mktemp("partnerships")
    landing, out = root / "landing", root / "out"
    _good_drop(landing)
    for folder, secret in (("w", KEY_A), ("b", KEY_B)):
        built = masip("run", "--input", str(landing), "--warehouse", str(root / folder / "masip.duckdb"),
                      "--out", str(out), secret=secret)
        assert built.returncode == 0, built.stderr
    return root


@pytest.mark.parametrize("next_key", ["old", "new"])
def test_a_partnership_whose_rotation_died_between_renames_is_finished_by_the_next_run(
    tmp_path: Path, partnerships: Path, next_key: str,
):
    """Real stores: a partnership built under key A, rebuilt under key B as rotation would, and the swaps stopped
    with the vault moved aside and its replacement not yet in (the worst point before). The next run finishes the
    swaps and says so. Still on key A, it then stops, because the stores are now under key B; on key B it loads
    nothing new, links, and its run report carries the notice."""
    shutil.copytree(partnerships, tmp_path, dirs_exist_ok=True)
    landing, out = tmp_path / "landing", tmp_path / "out"
    warehouse, rebuilt = tmp_path / "w" / "masip.duckdb", tmp_path / "b" / "masip.duckdb"
    for name in STORES:
        shutil.move(rebuilt.parent / name, rebuilt_path(warehouse.parent / name))
    _journal(warehouse)
    next(swap_steps(warehouse))  # vault -> vault.retired; the process dies before vault.rotating -> vault
    assert not (warehouse.parent / "vault").exists()

    secret = KEY_B if next_key == "new" else KEY_A
    run = masip("run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(out), secret=secret)
    assert "finished swapping the test stores into place" in run.stderr and "Traceback" not in run.stderr
    assert sorted(p.name for p in warehouse.parent.iterdir() if "rotating" in p.name or "retired" in p.name) == []
    if next_key == "old":
        assert run.returncode == 2, run.stderr
        assert "the linkage vault holds tokens made with key" in run.stderr
        return
    assert run.returncode == 0, run.stderr
    report = json.loads((out / "run_report.json").read_text())
    assert [w for w in report["warnings"] if w.startswith("finished swapping the test stores")]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from ops.loaded_drops").fetchone() == (1,)
        assert con.execute("select count(*) from marts.person_xref").fetchone()[0] > 0


def test_what_a_rotation_stopped_before_its_swaps_had_rebuilt_is_deleted_by_the_next_run(tmp_path: Path, partnerships: Path):
    """Killed while it rebuilt (before any journal), a rotation left a vault of encodings under a key never used,
    beside the partnership's, until the next rotation. The next run deletes the three rebuilt stores and says so."""
    shutil.copytree(partnerships, tmp_path, dirs_exist_ok=True)
    landing, out, warehouse = tmp_path / "landing", tmp_path / "out", tmp_path / "w" / "masip.duckdb"
    for name in STORES:
        shutil.move(tmp_path / "b" / name, rebuilt_path(warehouse.parent / name))
    side = rebuilt_path(warehouse)  # and what building the side warehouse left: its lock, dbt's folder
    lock_path(side).touch()
    side_dbt = dbt_work_dirs(candidate_path(side))[0]
    side_dbt.mkdir(parents=True)
    run = masip("run", "--input", str(landing), "--warehouse", str(warehouse), "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in warehouse.parent.iterdir() if "rotating" in p.name) == []
    assert not side_dbt.parent.exists() and (warehouse.parent / ".dbt").is_dir()
    report = json.loads((out / "run_report.json").read_text())
    deleted = [w for w in report["warnings"] if "a key rotation stopped before its swaps had rebuilt" in w]
    assert len(deleted) == len(STORES), report["warnings"]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from marts.person_xref").fetchone()[0] > 0
