"""Ingest's worker processes (connectors.worker_pool): a worker that dies loses its own task only.

The workers are real forked processes and they really die (SIGKILL, as the memory killer sends it).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from connectors.worker_pool import results_in_order


def _square_or_die(task: int) -> int:
    if task == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return task * task


def _lost(task: int, exit_code: int | None) -> str:
    return f"lost {task} ({exit_code})"


def test_a_worker_killed_while_it_works_loses_its_own_task_and_the_others_are_answered_in_order():
    results = list(results_in_order(_square_or_die, list(range(8)), 2, lambda: None, _lost))
    assert results == [0, 1, 4, f"lost 3 ({-signal.SIGKILL})", 16, 25, 36, 49]


def _pid_after(task: float) -> int:
    time.sleep(task)
    return os.getpid()


def _wait_until_dead(pid: int) -> None:
    """Until ``pid`` has exited (a zombie: its pipes are closed), so the next task meets a dead worker."""
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_worker_killed_while_it_waits_is_replaced_and_no_task_is_lost():
    """The killed worker held no lock to take with it: the next task goes to a new worker (it hung before)."""
    answers = results_in_order(_pid_after, [0.0, 0.0, 0.0, 0.0], 2, lambda: None, _lost)
    first = next(answers)
    os.kill(first, signal.SIGKILL)  # the worker that answered first, now waiting for a task
    _wait_until_dead(first)
    rest = list(answers)
    assert len(rest) == 3 and all(isinstance(pid, int) for pid in rest) and first not in rest[1:]


def test_a_drop_whose_worker_is_killed_is_rejected_and_every_other_drop_loads(tmp_path, monkeypatch):
    """The memory killer took one ingest worker: its drop is rejected saying what to do, the others' week goes on
    (before, the pool broke and no drop loaded, or the run hung under its warehouse lock)."""
    import connectors.ingest as ingest_module
    from masip.synth import generate_partnership
    from tests.hostile import KEYRING

    drops = tmp_path / "drops"
    generate_partnership(drops, dyads=40)
    victim = min(p.name for p in drops.iterdir() if p.name.startswith("police-met"))
    read = ingest_module._read_in_worker

    def killed_on_the_victim(task):
        if task[0].name == victim:
            os.kill(os.getpid(), signal.SIGKILL)
        return read(task)

    monkeypatch.setenv(ingest_module.WORKERS_ENV, "2")
    untouched = ingest_module.ingest_drops(drops, tmp_path / "plain" / "masip.duckdb", KEYRING, show_progress=False)
    monkeypatch.setattr(ingest_module, "_read_in_worker", killed_on_the_victim)
    summary = ingest_module.ingest_drops(drops, tmp_path / "w" / "masip.duckdb", KEYRING, show_progress=False)
    statuses = {drop.drop_name: drop.status for drop in summary.drops}
    expected = {drop.drop_name: drop.status for drop in untouched.drops}
    assert expected[victim] == "loaded" and statuses == {**expected, victim: "rejected"} and len(statuses) > 20
    reason = next(drop.reason for drop in summary.drops if drop.drop_name == victim)
    assert f"killed by signal {int(signal.SIGKILL)}" in reason and "What to do:" in reason
    monkeypatch.setattr(ingest_module, "_read_in_worker", read)
    again = ingest_module.ingest_drops(drops, tmp_path / "w" / "masip.duckdb", KEYRING, show_progress=False)
    assert {drop.drop_name: drop.status for drop in again.drops}[victim] == "loaded"  # a re-run reads it again
