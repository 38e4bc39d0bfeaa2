"""Ingest's worker processes: forked, each with a pipe of its own, so a worker that dies loses its own task only.

``concurrent.futures``' process pool shares one task queue among its
workers, read under a lock. A worker killed while it waited for a task (the
memory killer takes the largest process; an operator's ``kill``) could take
the lock with it, and the run waited for ever under its warehouse lock; one
killed while it read a drop broke the pool, and with it every drop still to
read: every agency's week (outside check, 2026-12-07). Here the parent hands
each worker one task at a time through that worker's own pipe and waits on
all the pipes at once. A worker that ends without a result answers for its
task alone (``on_lost``), and a new worker takes its place.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import TypeVar

Task = TypeVar("Task")
Result = TypeVar("Result")

#: How long a worker told to stop may take before it is killed.
_STOP_SECONDS = 5


def _serve(function: Callable[[Task], Result], start: Callable[[], None], tasks: Connection) -> None:
    """A worker: run ``start``, then answer each task that comes through ``tasks`` until it brings None."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent's handler (the CLI's) is not the worker's
    start()
    try:
        while (task := tasks.recv()) is not None:
            tasks.send(function(task))
    except EOFError:  # the parent is gone
        pass


def results_in_order(
    function: Callable[[Task], Result], tasks: Sequence[Task], workers: int, start: Callable[[], None],
    on_lost: Callable[[Task, int | None], Result],
) -> Iterator[Result]:
    """``function`` of each task, in the order of ``tasks``, run by at most ``workers`` forked processes, each of
    which runs ``start`` first. A worker that ends before it answers gives ``on_lost(task, exit code)`` for its task
    (a negative exit code is the signal that killed it)."""
    context = multiprocessing.get_context("fork")
    owner: dict[Connection, BaseProcess] = {}  # each worker's pipe, and the worker

    def started() -> Connection:
        ours, theirs = context.Pipe()
        process = context.Process(target=_serve, args=(function, start, theirs), daemon=True)
        process.start()
        theirs.close()
        owner[ours] = process
        return ours

    todo = deque(enumerate(tasks))
    idle = [started() for _ in range(min(workers, len(tasks)))]
    busy: dict[Connection, tuple[int, Task]] = {}
    done: dict[int, Result] = {}
    given = 0
    try:
        while given < len(tasks):
            while todo and idle:
                pipe = idle.pop()
                try:
                    pipe.send(todo[0][1])
                except OSError:  # the worker died while it waited: a new one takes the task
                    pipe.close()
                    owner.pop(pipe).join()
                    idle.append(started())
                    continue
                busy[pipe] = todo.popleft()
            for pipe in wait(list(busy)):
                index, task = busy.pop(pipe)  # type: ignore[call-overload]
                try:
                    done[index] = pipe.recv()
                    idle.append(pipe)
                except (EOFError, OSError):
                    pipe.close()
                    owner[pipe].join()
                    done[index] = on_lost(task, owner.pop(pipe).exitcode)
                    if todo:
                        idle.append(started())
            while given in done:
                yield done.pop(given)
                given += 1
    finally:
        for pipe in owner:
            try:
                pipe.send(None)
            except OSError:  # the worker is gone, or its pipe closed above
                pass
            pipe.close()
        for process in owner.values():
            process.join(_STOP_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
