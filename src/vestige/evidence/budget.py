"""Budgets: the limits under which vestige reads evidence that an adversary may have written.

A compromised phone's files are the spyware operator's to shape: a database whose schema runs for
ever, a property list that expands to gigabytes, a text of a billion characters. Each artifact task
(one artifact over one acquisition) therefore runs under a ``Budget``: wall time, growth of the
process's memory, rows per file, property-list objects and depth, and the length of one value. A task
over budget stops with ``BudgetExceededError`` (an ``EvidenceError``, so the engine reports it as a
problem naming the file and the limit, and the rest of the run completes with exit code 3).

Readers call ``check()`` where work may grow without bound (SQLite's progress handler, a loop over
rows or objects); it costs a clock read, and a read of ``/proc/self/statm`` once in a while. A
budget belongs to the thread that runs the task: the engine opens one for each task with
``task(limits)``; outside a task ``check()`` enforces nothing. The defaults fit a real 256 GB
phone; ``--limit NAME=VALUE`` raises them (``LIMITS`` names each).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vestige.evidence.errors import EvidenceError

MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True, slots=True)
class Limits:
    """What one artifact task may spend. Every field is a limit an analyst may raise."""

    seconds: float = 1800.0
    """Wall time of one artifact over one acquisition (a real sms.db of a million messages: about a minute)."""
    memory: int = 4 * GiB
    """Growth of the process's resident memory during one task (SQLite's temporary tables included:
    they are kept in memory, never in a temporary file that could fill the disk)."""
    rows: int = 50_000_000
    """Rows (or records) read from one file."""
    plist_objects: int = 5_000_000
    """Objects of one property list, counting each use of a shared object (a real one holds thousands)."""
    plist_depth: int = 256
    """Nesting of one property list (real ones nest a dozen levels)."""
    text: int = 256 * MiB
    """Bytes of one value: a SQLite text or BLOB, a whole file read into memory (a property list)."""


LIMITS: dict[str, str] = {
    "seconds": "wall time of one artifact, in seconds",
    "memory": "memory one artifact may add, in bytes (suffixes K, M, G)",
    "rows": "rows or records read from one file",
    "plist-objects": "objects of one property list, shared ones counted at each use",
    "plist-depth": "nesting of one property list",
    "text": "bytes of one value or of a file read whole (suffixes K, M, G)",
}
"""The limits by the name ``--limit`` takes, with what each bounds."""

_SUFFIXES = {"K": 1 << 10, "M": MiB, "G": GiB}


def parse_limit(text: str, limits: Limits) -> Limits:
    """``limits`` with one limit set from ``NAME=VALUE`` (``memory=8G``); ``ValueError`` says what is wrong."""
    name, sep, value = text.partition("=")
    name = name.strip().lower()
    if not sep or name not in LIMITS:
        raise ValueError(f"{text!r}: expected NAME=VALUE with NAME one of {', '.join(sorted(LIMITS))}")
    field = name.replace("-", "_")
    value = value.strip().upper()
    scale = _SUFFIXES.get(value[-1:], 1)
    number = value[:-1] if scale != 1 else value
    try:
        amount = float(number) * scale if field == "seconds" else int(number) * scale
    except ValueError:
        raise ValueError(f"{text!r}: {value!r} is not a number") from None
    if not amount > 0:
        raise ValueError(f"{text!r}: a limit must be positive")
    changes: dict[str, Any] = {field: amount}
    return dataclasses.replace(limits, **changes)


class BudgetExceededError(EvidenceError):
    """A task reached one of its limits; the message names the limit and how to raise it."""

    def __init__(self, limit: str, detail: str) -> None:
        super().__init__(f"stopped at the {limit} limit ({detail}); raise it with --limit {limit}=VALUE if needed")
        self.limit = limit


_STATM = Path("/proc/self/statm")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_MEMORY_EVERY = 64
"""Memory is read on one ``check()`` in this many (a read of /proc costs a few microseconds)."""


def resident_memory() -> int | None:
    """This process's resident memory in bytes, where the platform tells it cheaply (Linux)."""
    try:
        with _STATM.open("rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None


class Budget:
    """The running budget of one task: started now, with ``limits``."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.seconds
        baseline = resident_memory()
        self.memory_ceiling = None if baseline is None else baseline + limits.memory
        self._calls = 0
        self.stopped: BaseException | None = None
        """What stopped a SQLite query from inside its progress handler (over budget, or an interrupt
        the handler could not raise): ``raise_stopped()`` raises it where the query's error arrives."""

    def check(self) -> None:
        """Raises ``BudgetExceededError`` when the task is over its time or memory."""
        if time.monotonic() > self.deadline:
            raise BudgetExceededError("seconds", f"{self.limits.seconds:g} s")
        self._calls += 1
        if self.memory_ceiling is not None and self._calls % _MEMORY_EVERY == 0:
            resident = resident_memory()
            if resident is not None and resident > self.memory_ceiling:
                raise BudgetExceededError("memory", f"{self.limits.memory // MiB} MiB more than the task started with")

    def raise_stopped(self) -> None:
        """Raises what a progress handler stopped a query for, if it did (once)."""
        stopped, self.stopped = self.stopped, None
        if stopped is not None:
            raise stopped


OUTSIDE = Limits(seconds=float("inf"), memory=1 << 62)
"""The limits outside any task (setting up, sealing, writing the output): time and memory are not
enforced there, and the limits on the structure of hostile data (rows, plist objects and depth, text)
are the defaults, so a reader never takes "no task" for "no limit"."""
_current: ContextVar[Budget] = ContextVar("vestige_budget")


def current() -> Budget:
    """The budget of the task running in this thread; outside a task, this thread's own budget of
    ``OUTSIDE`` (its own, so that what a progress handler records there never reaches another thread)."""
    try:
        return _current.get()
    except LookupError:
        outside = Budget(OUTSIDE)
        _current.set(outside)
        return outside


def check() -> None:
    """Checks the current task's budget; see ``Budget.check``."""
    current().check()


@contextmanager
def task(chosen: Limits) -> Iterator[Budget]:
    """Runs the body as one task under ``chosen``."""
    budget = Budget(chosen)
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)
