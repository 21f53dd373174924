"""Forked workers: results in item order whatever the number of workers; bounded read-ahead."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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
    results_kept()  # outside ``stopping_on_signals`` (vestige as a library) the handlers are the caller's
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


@pytest.mark.skipif(not can_fork(), reason="workers are forked only on Linux")
def test_a_worker_ends_when_the_process_that_forked_it_ends(tmp_path: Path) -> None:
    """A check killed while its pool starts (before it can stop the workers it is forking) leaves no
    worker waiting for ever: each is sent SIGTERM when its parent ends."""
    script = (
        "import os, sys, time\n"
        "from vestige.evidence.workers import map_in_processes\n"
        "def slow(folder, item):\n"
        "    open(os.path.join(folder, f'worker-{os.getpid()}'), 'w').close()\n"
        "    time.sleep(120)\n"
        "list(map_in_processes(slow, sys.argv[1], [1, 2], 2))\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)])
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("worker-*"))) < 2:
        assert time.monotonic() < deadline, "the workers never started"
        time.sleep(0.05)
    parent.kill()
    parent.wait()
    workers = [int(path.name.removeprefix("worker-")) for path in tmp_path.glob("worker-*")]
    deadline = time.monotonic() + 20
    while alive := [pid for pid in workers if Path(f"/proc/{pid}").exists() and _running(pid)]:
        assert time.monotonic() < deadline, f"workers {alive} outlived their parent"
        time.sleep(0.05)


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting for init to reap it is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.skipif(not can_fork(), reason="workers are forked only on Linux")
@pytest.mark.parametrize("pause", [0.1, 0.2])
def test_a_pool_stopped_while_a_worker_sends_a_large_result_lets_the_process_end(pause: float) -> None:
    """A worker stopped halfway through sending a result leaves half a message in the pool's pipe: the
    process must still end (the pool's manager thread, which the interpreter waits for, must not wait for
    the rest of the message for ever)."""
    script = (
        "import sys, time\n"
        "from contextlib import closing\n"
        "from vestige.evidence.workers import map_in_processes\n"
        "def large(shared, item):\n"
        "    return b'' if item == 0 else b'x' * (64 << 20)\n"
        "with closing(map_in_processes(large, None, list(range(6)), 2)) as results:\n"
        "    next(results)\n"
        "    time.sleep(float(sys.argv[1]))\n"
    )
    ended = subprocess.run([sys.executable, "-c", script, str(pause)], timeout=60, check=False)
    assert ended.returncode == 0
