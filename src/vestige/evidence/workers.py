"""Running independent pieces of work on several processes, or in this one.

A check is CPU-bound Python (decoding Manifest.db, parsing records, writing JSON), so threads do not
help and processes do. Worker processes are forked: they inherit the shared state (the acquisition,
the compiled indicator index) instead of receiving a pickled copy, and nothing is imported again.
Where fork is not available or not safe (outside Linux) or one worker is asked for, the same tasks
run in this process, in the same order, with the same results.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Generic, TypeVar

S = TypeVar("S")
A = TypeVar("A")
R = TypeVar("R")


def default_workers() -> int:
    """One worker per CPU this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def can_fork() -> bool:
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


class _Inherited(Generic[S, A, R]):
    """What a worker process serves: the task and its shared state, inherited when it was forked."""

    def __init__(self, task: Callable[[S, A], R], shared: S) -> None:
        self.task, self.shared = task, shared


_served: _Inherited[Any, Any, Any] | None = None
"""Set only inside a worker process, which serves one pool; the calling process keeps no state here,
so two analyses in one process (two threads, two interleaved generators) never see each other's."""


def _adopt(task: Callable[[Any, Any], Any], shared: Any) -> None:
    global _served
    _served = _Inherited(task, shared)


def _call(item: Any) -> Any:
    assert _served is not None, "worker started without shared state"
    return _served.task(_served.shared, item)


def map_in_processes(
    task: Callable[[S, A], R], shared: S, items: Sequence[A], workers: int, bounded: bool = False
) -> Iterator[R]:
    """``task(shared, item)`` for each item, results in the order of ``items``.

    ``task`` must be a module-level function; ``items`` and results are pickled, ``shared`` is not:
    the pool's workers are forked with it (the initializer's arguments of a fork-started pool are
    inherited, never pickled). ``bounded``: for large results, at most two per worker wait for the
    caller, so memory stays bounded when the caller consumes them more slowly than the workers make
    them, and a worker that finishes while the caller is busy goes on with the next. Otherwise every
    item is submitted at once, so that one long task does not hold back the others.
    """
    if workers <= 1 or len(items) <= 1 or not can_fork():
        for item in items:
            yield task(shared, item)
        return
    context = multiprocessing.get_context("fork")
    count = min(workers, len(items))
    with ProcessPoolExecutor(
        max_workers=count, mp_context=context, initializer=_adopt, initargs=(task, shared)
    ) as pool:
        pending: deque[Future[Any]] = deque()
        for item in items:
            pending.append(pool.submit(_call, item))
            if bounded and len(pending) > 2 * count:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
