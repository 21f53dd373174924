"""Budgets (``evidence/budget.py``): the limits, how ``--limit`` text sets them, and a running budget's
time and memory checks, one per task and none outside a task."""

from __future__ import annotations

import dataclasses
import threading
from contextvars import copy_context

import pytest

from vestige.evidence import budget
from vestige.evidence.budget import LIMITS, Budget, BudgetExceededError, GiB, Limits, MiB, parse_limit
from vestige.evidence.errors import EvidenceError


class Clock:
    """A stand-in for the ``time`` module whose clock moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_the_defaults_are_those_the_readme_states() -> None:
    assert Limits() == Limits(
        seconds=1800.0, memory=4 * GiB, rows=50_000_000, plist_objects=5_000_000, plist_depth=256, text=256 * MiB
    )
    assert sorted(LIMITS) == sorted(f.name.replace("_", "-") for f in dataclasses.fields(Limits))


@pytest.mark.parametrize(
    ("text", "changed"),
    [
        ("seconds=90", {"seconds": 90.0}),
        ("seconds=0.5", {"seconds": 0.5}),
        ("memory=8G", {"memory": 8 * GiB}),
        ("memory=512m", {"memory": 512 * MiB}),
        ("text=64K", {"text": 64 << 10}),
        ("rows=1000", {"rows": 1000}),
        ("plist-objects=10", {"plist_objects": 10}),
        (" PLIST-DEPTH = 32 ", {"plist_depth": 32}),
    ],
)
def test_parse_limit_sets_one_limit_and_keeps_the_others(text: str, changed: dict[str, float]) -> None:
    assert parse_limit(text, Limits()) == dataclasses.replace(Limits(), **changed)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "rows",
            "'rows': expected NAME=VALUE with NAME one of memory, plist-depth, plist-objects, rows, seconds, text",
        ),
        ("speed=3", "'speed=3': expected NAME=VALUE with NAME one of"),
        ("rows=many", "'rows=many': 'MANY' is not a number"),
        ("rows=1.5", "'rows=1.5': '1.5' is not a number"),
        ("rows=0", "'rows=0': a limit must be positive"),
        ("seconds=-1", "'seconds=-1': a limit must be positive"),
        ("seconds=nan", "'seconds=nan': a limit must be positive"),
    ],
)
def test_parse_limit_refuses_with_a_sentence(text: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_limit(text, Limits())
    assert str(refused.value).startswith(message)


def test_a_budget_stops_at_its_deadline_naming_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(budget, "time", clock)
    running = Budget(Limits(seconds=2))
    clock.now += 2
    running.check()  # at the deadline: still within it
    clock.now += 0.001
    with pytest.raises(BudgetExceededError) as stopped:
        running.check()
    assert stopped.value.limit == "seconds"
    assert str(stopped.value) == "stopped at the seconds limit (2 s); raise it with --limit seconds=VALUE if needed"
    assert isinstance(stopped.value, EvidenceError)


def test_memory_is_read_once_in_sixty_four_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    readings = iter([100 * MiB, 100 * MiB, 300 * MiB])
    monkeypatch.setattr(budget, "resident_memory", lambda: next(readings))
    running = Budget(Limits(memory=150 * MiB))  # the first reading: the baseline
    for _ in range(64 + 63):  # the second reading, at the 64th check, is within the limit
        running.check()
    with pytest.raises(BudgetExceededError) as stopped:
        running.check()  # the third, at the 128th, is not
    assert str(stopped.value) == (
        "stopped at the memory limit (150 MiB more than the task started with); "
        "raise it with --limit memory=VALUE if needed"
    )


def test_without_a_reading_of_memory_only_time_is_enforced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "resident_memory", lambda: None)
    running = Budget(Limits(memory=1))
    assert running.memory_ceiling is None
    for _ in range(200):
        running.check()


def test_resident_memory_reads_this_process() -> None:
    resident = budget.resident_memory()
    assert resident is not None and 1 * MiB < resident < 64 * GiB


def test_each_task_has_its_own_budget_and_outside_one_only_the_structure_limits_hold() -> None:
    outside = budget.current()
    assert outside.limits == budget.OUTSIDE == Limits(seconds=float("inf"), memory=1 << 62)
    assert (outside.limits.rows, outside.limits.text) == (Limits().rows, Limits().text)
    with budget.task(Limits(rows=7)) as outer:
        assert budget.current() is outer and outer.limits.rows == 7
        with budget.task(Limits(rows=3)) as inner:
            assert budget.current() is inner
        assert budget.current() is outer
    assert budget.current() is outside
    budget.check()


def test_outside_a_task_each_thread_has_its_own_budget() -> None:
    """A stop a progress handler records outside a task stays in its own thread."""
    here = budget.current()
    there: list[Budget] = []
    thread = threading.Thread(target=lambda: there.append(budget.current()))
    thread.start()
    thread.join()
    assert there[0] is not here and there[0].limits == here.limits


def test_a_task_in_another_thread_does_not_touch_this_one() -> None:
    seen: list[int] = []

    def other() -> None:
        with budget.task(Limits(rows=11)):
            seen.append(budget.current().limits.rows)

    with budget.task(Limits(rows=5)):
        thread = threading.Thread(target=copy_context().run, args=(other,))
        thread.start()
        thread.join()
        assert budget.current().limits.rows == 5
    assert seen == [11]


def test_what_a_progress_handler_stopped_is_raised_once() -> None:
    running = Budget(Limits())
    running.raise_stopped()
    running.stopped = BudgetExceededError("text", "1 byte")
    with pytest.raises(BudgetExceededError, match="stopped at the text limit"):
        running.raise_stopped()
    running.raise_stopped()
