"""Running independent pieces of work on several processes, or in this one; and stopping them cleanly.

A check is CPU-bound Python (decoding Manifest.db, parsing records, writing JSON), so threads do not
help and processes do. Worker processes are forked: they inherit the shared state (the acquisition,
the compiled indicator index) instead of receiving a pickled copy, and nothing is imported again.
Where fork is not available or not safe (outside Linux) or one worker is asked for, the same tasks
run in this process, in the same order, with the same results.

Stopping: a run stopped by SIGINT or SIGTERM must leave no partial output and no temporary folder,
in this process or in a worker. ``stopping_on_signals`` turns both signals into ``Stopped`` (a
``KeyboardInterrupt``) raised where the main thread is, so every ``with`` and ``finally`` on the way
out runs; before raising it stops the worker processes, each of which unwinds its task the same way
(its private copies of databases are removed) and exits. Workers ignore SIGINT: a Ctrl-C reaches the
whole process group, and the process that forked them decides.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any, Generic, TypeVar

S = TypeVar("S")
A = TypeVar("A")
R = TypeVar("R")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
STOP_GRACE = 10.0
"""Seconds a worker has to unwind its task (remove its temporary folders) before it is killed."""


class Stopped(KeyboardInterrupt):
    """A signal asked this process to stop (SIGINT or SIGTERM). Raised where the process was, like the
    ``KeyboardInterrupt`` it derives from, so that code which already cleans up after an interrupt
    cleans up after this too; ``exit_code`` is the shell's 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


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
        self.running = False
        self.stopping = False


_served: _Inherited[Any, Any, Any] | None = None
"""Set only inside a worker process, which serves one pool; the calling process keeps no state here,
so two analyses in one process (two threads, two interleaved generators) never see each other's."""


def _adopt(task: Callable[[Any, Any], Any], shared: Any, parent: int) -> None:
    """A worker's first step: keep what it serves, take SIGTERM as the order to stop, and be sent it
    when ``parent`` (the process that forked it) ends."""
    global _served
    _served = _Inherited(task, shared)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_worker)
    _stop_with(parent)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _stop_with(parent: int) -> None:
    """On Linux, SIGTERM for this worker when its parent ends, however it ends: a check stopped while
    it was forking its pool (before it knew the new worker) leaves no worker waiting for ever on a
    queue nobody feeds. A parent already gone by now is the same order."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: workers are not forked there anyway
        return
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


def _stop_worker(signum: int, _: FrameType | None) -> None:
    """In a worker: unwind the running task (its ``finally`` blocks remove what it made), or leave now
    when idle. A second signal while unwinding is ignored, so the clean-up finishes."""
    served = _served
    if served is None or not served.running:
        os._exit(128 + signum)
    if not served.stopping:
        served.stopping = True
        raise Stopped(signum)


def _call(item: Any) -> Any:
    served = _served
    assert served is not None, "worker started without shared state"
    try:
        served.running = True
        return served.task(served.shared, item)
    finally:
        served.running = False
        if served.stopping:
            # Unwound: the task's temporary folders are gone. Leave without a traceback, and without
            # taking the next item from the queue.
            os._exit(128 + signal.SIGTERM)


def map_in_processes(
    task: Callable[[S, A], R], shared: S, items: Sequence[A], workers: int, bounded: bool = False
) -> Generator[R, None, None]:
    """``task(shared, item)`` for each item, results in the order of ``items``.

    ``task`` must be a module-level function; ``items`` and results are pickled, ``shared`` is not:
    the pool's workers are forked with it (the initializer's arguments of a fork-started pool are
    inherited, never pickled). ``bounded``: for large results, at most two per worker wait for the
    caller, so memory stays bounded when the caller consumes them more slowly than the workers make
    them, and a worker that finishes while the caller is busy goes on with the next. Otherwise every
    item is submitted at once, so that one long task does not hold back the others.

    When the generator is closed early or anything is raised while it waits (an interrupt), the items
    not started are cancelled and the workers are stopped and waited for: none goes on writing after
    the caller has cleaned up. Close it where it is used (``contextlib.closing``), so that this happens
    then rather than when the garbage collector gets to it.
    """
    if workers <= 1 or len(items) <= 1 or not can_fork():
        for item in items:
            yield task(shared, item)
        return
    context = multiprocessing.get_context("fork")
    count = min(workers, len(items))
    with ProcessPoolExecutor(
        max_workers=count, mp_context=context, initializer=_adopt, initargs=(task, shared, os.getpid())
    ) as pool:
        pending: deque[Future[Any]] = deque()
        finished = False
        try:
            for item in items:
                pending.append(pool.submit(_call, item))
                if bounded and len(pending) > 2 * count:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
            finished = True
        finally:
            if not finished:
                processes = list(pool._processes.values())
                results = getattr(pool, "_result_queue", None)  # the pool forgets it at shutdown
                pool.shutdown(wait=False, cancel_futures=True)
                stop_processes(processes)
                _end_results(results)


def _end_results(results: Any) -> None:
    """Closes this process's end for writing of a stopped pool's result pipe, once its workers are gone.

    A worker stopped while it was sending a result (a large one takes several writes, and a signal between
    two ends the worker) leaves half a message in the pipe. The pool's manager thread then waits for the
    rest for ever, since this process holds a write end too (the pipe is made here and inherited by each
    worker), and the interpreter waits for that thread when it exits: the run would hang after it stopped.
    With no write end left, the thread reads the end of the pipe, takes the pool as broken and ends."""
    writer = getattr(results, "_writer", None)
    if writer is not None:
        with suppress(OSError):
            writer.close()


def stop_processes(processes: Sequence[BaseProcess]) -> None:
    """Asks each worker to stop (SIGTERM: it unwinds its task), waits ``STOP_GRACE`` seconds for them
    all, then kills those still there."""
    alive = [p for p in processes if p.is_alive()]
    for process in alive:
        _signal(process, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    waiting = {p.sentinel: p for p in alive}
    while waiting and time.monotonic() < deadline:
        ended = set(wait(list(waiting), deadline - time.monotonic()))
        waiting = {sentinel: p for sentinel, p in waiting.items() if sentinel not in ended}
    for process in waiting.values():
        _signal(process, signal.SIGKILL)
    for process in alive:
        process.join(STOP_GRACE)


def _signal(process: BaseProcess, signum: int) -> None:
    if process.pid is not None:
        with suppress(ProcessLookupError):  # it has already gone
            os.kill(process.pid, signum)


@dataclass
class StopRequest:
    """What ``stopping_on_signals`` yields: the signal that asked the process to stop, once one has.
    An error that follows a stop (a worker the stop ended, a ``Stopped`` some library swallowed) is
    then the stop's doing, not a defect."""

    signum: int | None = None


@contextmanager
def stopping_on_signals(then_ignore: bool = False) -> Iterator[StopRequest]:
    """For the process that runs a command (the CLI), while the body runs: SIGINT and SIGTERM stop
    every worker process this one forked, then raise ``Stopped`` in the main thread. A second signal
    while the first unwinds is ignored, so that the clean-up finishes. The previous handlers are
    restored after, or, with ``then_ignore`` (the process ends with the command), the signals are
    ignored from then on: a signal in the last moments of a finished command must not turn its
    complete results into a death by signal. Outside the main thread (which alone receives signals)
    it changes nothing."""
    request = StopRequest()

    def stop(signum: int, _: FrameType | None) -> None:
        if request.signum is not None:
            return
        request.signum = signum
        stop_processes(multiprocessing.active_children())
        raise Stopped(signum)

    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield request
        return
    global _guarding
    previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    _guarding += 1
    try:
        yield request
    finally:
        _guarding -= 1
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_IGN if then_ignore else handler)


_guarding = 0
"""How many ``stopping_on_signals`` are active in this process (signal handlers are the process's)."""


def results_kept() -> None:
    """The command's results are complete: from now until ``stopping_on_signals`` ends, SIGINT and
    SIGTERM are ignored rather than stopping a run that has nothing left to undo. Outside
    ``stopping_on_signals`` (vestige used as a library) the caller's handlers are left alone."""
    if _guarding and threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
