"""Forked workers: results in item order whatever the number of workers; bounded read-ahead."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from vestige.evidence.workers import can_fork, map_in_processes, results_kept, stopping_on_signals


def square_and_mark(folder: Path, item: int) -> tuple[int, int]:
    (folder / str(item)).touch()
    return item, item * item


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_results_come_in_item_order(tmp_path: Path, workers: int) -> None:
    results = list(map_in_processes(square_and_mark, tmp_path, range(10), workers))
    assert results == [(i, i * i) for i in range(10)]


def test_bounded_submits_at_most_two_items_ahead_per_worker(tmp_path: Path) -> None:
    if not can_fork():
        pytest.skip("forked workers need Linux; the tasks then run in this process, one at a time")
    results = map_in_processes(square_and_mark, tmp_path, range(20), 2, bounded=True)
    first = next(results)
    # The first item and two more per worker were submitted before it was taken; let them all run.
    deadline = time.monotonic() + 30
    while len(list(tmp_path.iterdir())) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # anything submitted beyond them would have started by now
    started = sorted(int(path.name) for path in tmp_path.iterdir())
    assert (first, started) == ((0, 0), [0, 1, 2, 3, 4])
    assert list(results) == [(i, i * i) for i in range(1, 20)]


def tagged(tag: str, item: int) -> str:
    return f"{tag}{item}"


def test_two_pools_used_from_two_threads_at_once_keep_their_own_task_and_state() -> None:
    """With the pool's state in a module global (as before), one pool's workers ran the other's task in
    most attempts; five attempts make a regression all but certain to show."""
    if not can_fork():
        pytest.skip("forked workers need Linux; the tasks then run in this process, one at a time")
    for _ in range(5):
        start = threading.Barrier(2)

        def run(tag: str, start: threading.Barrier = start) -> list[str]:
            start.wait()
            return list(map_in_processes(tagged, tag, range(40), 2, bounded=True))

        with ThreadPoolExecutor(max_workers=2) as threads:
            futures = [threads.submit(run, tag) for tag in ("a", "b")]
            results = [future.result(timeout=120) for future in futures]
        assert results == [[f"{tag}{n}" for n in range(40)] for tag in ("a", "b")]


def test_once_the_results_are_kept_a_signal_stops_nothing_and_the_handlers_come_back() -> None:
    """A SIGINT in the last moments of a finished check must not turn complete results into a stop."""
    before = signal.getsignal(signal.SIGINT)
    with stopping_on_signals():
        results_kept()
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # a handler runs between bytecodes: this one would raise Stopped
    assert signal.getsignal(signal.SIGINT) is before


def test_when_the_process_ends_with_the_command_the_signals_stay_ignored() -> None:
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        with stopping_on_signals(then_ignore=True):
            pass
        assert [signal.getsignal(signum) for signum in before] == [signal.SIG_IGN, signal.SIG_IGN]
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
