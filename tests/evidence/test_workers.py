"""Forked workers: results in item order whatever the number of workers; bounded read-ahead."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from vestige.evidence.workers import can_fork, map_in_processes


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
