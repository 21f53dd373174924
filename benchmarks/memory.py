"""Peak memory of a command and every process it forks, for the benchmarks (Linux ``/proc``).

vestige forks worker processes (the shards of a capture, the partitions of a backup), so the peak RSS of
the largest process understates what a run holds; the peers run in one process. The fair figure is the
largest sum of proportional set size (PSS: each shared page counted once, split among its sharers) over the
process and its descendants, sampled while it runs.
"""

from __future__ import annotations

import threading
from pathlib import Path


def tree_pss_kib(root: int) -> int:
    """Proportional set size of a process and all its descendants, in KiB."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        pending.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


class PeakSampler:
    """Samples the PSS of a process tree every ``interval`` seconds on a thread, until ``stop``. Reading
    /proc costs CPU that the measured tool would otherwise have: timed runs are not sampled."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval = pid, interval
        self.peak_kib = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(self.interval):
            self.peak_kib = max(self.peak_kib, tree_pss_kib(self.pid))

    def stop(self) -> int:
        """Stops sampling; the peak in KiB."""
        self._done.set()
        self._thread.join()
        return self.peak_kib
