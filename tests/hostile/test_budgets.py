"""Budgets, not hopes: a file that would cost more than its task may spend (rows, time, memory) stops
with a problem naming the file and the limit; the records read before stay in the output, the other
files and artifacts are read, and the run ends with exit code 3. ``--limit`` changes a limit, run.json
records it, and ``verify --reproduce`` runs a case's analysis again under the limits it was run with.

Each input is built here: a History.db with more visits than the rows limit (a real artifact), and
toy artifacts that read files of a backup too slowly, or hoard memory, in this process or in a
forked worker."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from click.testing import CliRunner

from tests.builders import T0
from tests.builders.custody import PASSPHRASE
from tests.ios.artifacts.test_safari_history import history
from vestige.cli import main
from vestige.custody.case import analysis_parameters
from vestige.custody.keys import generate, save_key
from vestige.evidence import budget
from vestige.evidence.acquisition import Acquisition
from vestige.evidence.budget import Limits, MiB
from vestige.evidence.workers import can_fork
from vestige.ios.platform import PLATFORM as IOS
from vestige.ios.sample.backup import BackupBuilder
from vestige.ios.sample.schemas import SAFARI_HISTORY
from vestige.model import Finding, IndicatorLookup, Locator, Record, Severity
from vestige.pipeline import run_check
from vestige.platforms import MatchPolicy, Platform, Registry

HISTORY = "HomeDomain/Library/Safari/History.db"
PROFILE = "HomeDomain/Library/Safari/Profiles/Work/History.db"
ROWS = (
    "stopped at the rows limit (more than 20 rows or records in this file); raise it with --limit rows=VALUE if needed"
)


def visits(count: int) -> list[tuple[int, str, float, int | None, int | None]]:
    return [(n, f"https://example.org/{n}", float(n), None, None) for n in range(1, count + 1)]


def history_backup(root: Path) -> Path:
    """A backup whose History.db holds 30 visits (over a rows limit of 20) and a profile's 3 (under it)."""
    builder = BackupBuilder(root, backup_date=T0)
    builder.add_database("HomeDomain", "Library/Safari/History.db", SAFARI_HISTORY, history(visits(30)))
    builder.add_database("HomeDomain", "Library/Safari/Profiles/Work/History.db", SAFARI_HISTORY, history(visits(3)))
    return builder.finish()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"VESTIGE_KEY_PASSPHRASE": PASSPHRASE})
    return result.exit_code, result.output


def records_of(folder: Path, artifact: str) -> list[Any]:
    return [orjson.loads(line) for line in (folder / "records" / f"{artifact}.jsonl").read_bytes().splitlines()]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_file_over_the_rows_limit_stops_there_and_the_run_completes_with_exit_3(tmp_path: Path, jobs: str) -> None:
    backup = history_backup(tmp_path / "backup")
    out = tmp_path / "out"
    code, output = run("check", str(backup), "-o", str(out), "--limit", "rows=20", "-j", jobs, "--no-bundled-iocs")
    assert code == 3, output
    assert "1 problem(s): the run is incomplete" in output
    assert f"ios.safari_history {HISTORY}: {ROWS}" in output
    document = orjson.loads((out / "findings.json").read_bytes())
    assert document["problems"] == [{"artifact": "ios.safari_history", "path": HISTORY, "reason": f"{HISTORY}: {ROWS}"}]
    read = [(r["locator"]["path"], r["locator"]["row"]) for r in records_of(out, "ios.safari_history")]
    assert read == [(HISTORY, n) for n in range(1, 21)] + [(PROFILE, n) for n in range(1, 4)]
    assert len(records_of(out, "ios.backup_info")) == 3  # the other artifacts ran in full
    run_json = orjson.loads((out / "run.json").read_bytes())
    assert run_json["options"]["limits"] == {
        "seconds": 1800.0,
        "memory": 4 << 30,
        "rows": 20,
        "plist-objects": 5_000_000,
        "plist-depth": 256,
        "text": 256 << 20,
    }


def test_under_the_default_limits_the_same_backup_is_read_whole(tmp_path: Path) -> None:
    code, output = run("check", str(history_backup(tmp_path / "backup")), "-o", str(tmp_path / "out"), "-j", "1")
    assert code == 0, output
    assert len(records_of(tmp_path / "out", "ios.safari_history")) == 33


@dataclass(frozen=True, slots=True)
class ToyRead:
    """One record of a toy artifact: which file, which number, and what the task's budget said."""

    number: int
    pid: int
    rows: int
    plist_depth: int


class ToyArtifact:
    """An artifact over every ``HomeDomain/Library/Toy/*.bin`` of a backup, whose ``parse`` the tests
    give: slow, hoarding, or reporting the budget it runs under."""

    VERSION = 1
    PATHS: ClassVar[dict[str, tuple[str, ...]]] = {"ios-backup": ("HomeDomain/Library/Toy/*.bin",)}
    DESCRIPTION = "a toy artifact of the budget tests"
    MATCHES = MatchPolicy(Severity.LOW, "A toy record")

    def __init__(self, name: str, each: Callable[[int], None]) -> None:
        self.NAME = name
        self._each = each

    def parse(self, acquisition: Acquisition, path: str) -> Iterator[Record]:
        sha256 = acquisition.file(path).sha256
        limits = budget.current().limits
        for number in range(1, int(acquisition.read_bytes(path)) + 1):
            self._each(number)
            payload = ToyRead(number, os.getpid(), limits.rows, limits.plist_depth)
            yield Record(self.NAME, Locator(path, sha256, line=number), None, f"toy {number}", payload, ())

    def detect(self, records: Iterable[Record], indicators: IndicatorLookup) -> Iterator[Finding]:
        for _ in records:
            pass
        return iter(())


def toy_backup(root: Path, counts: dict[str, int]) -> Path:
    """A backup holding a toy file per name, each asking for that many records."""
    builder = BackupBuilder(root, backup_date=T0)
    for name, count in counts.items():
        builder.add_file("HomeDomain", f"Library/Toy/{name}", str(count).encode())
    return builder.finish()


def toy_check(
    tmp_path: Path, artifact: ToyArtifact, counts: dict[str, int], limits: Limits, workers: int
) -> tuple[list[Any], list[Any]]:
    """Checks a toy backup with only ``artifact``; returns the problems and the artifact's records."""
    registry = Registry([Platform("ios", IOS.kinds, ()), Platform("toy", (), (artifact,))])
    out = tmp_path / "out"
    outcome = run_check(
        [toy_backup(tmp_path / "backup", counts)], out, [], registry, {}, workers=workers, limits=limits
    )
    document = orjson.loads((outcome.folder / "findings.json").read_bytes())
    return document["problems"], records_of(out, artifact.NAME) if (
        out / "records" / f"{artifact.NAME}.jsonl"
    ).exists() else []


SECONDS = "stopped at the seconds limit (0.5 s); raise it with --limit seconds=VALUE if needed"


@pytest.mark.parametrize("workers", [1, 2])
def test_a_slow_file_stops_at_the_time_limit_and_the_files_after_it_are_reported_not_read(
    tmp_path: Path, workers: int
) -> None:
    slow = ToyArtifact("toy.slow", lambda _: time.sleep(0.02))  # 200 records: 4 s, over 0.5 s
    problems, records = toy_check(tmp_path, slow, {"a.bin": 200, "b.bin": 200}, Limits(seconds=0.5), workers)
    a, b = "HomeDomain/Library/Toy/a.bin", "HomeDomain/Library/Toy/b.bin"
    assert problems == [
        {"artifact": "toy.slow", "path": a, "reason": f"{a}: {SECONDS}"},
        {"artifact": "toy.slow", "path": b, "reason": f"{b}: not read: {SECONDS}"},
    ]
    numbers = [r["fields"]["number"] for r in records]
    assert 8 < len(numbers) < 200  # what was read before the limit is kept, in order
    assert numbers == list(range(1, len(numbers) + 1))
    assert {r["locator"]["path"] for r in records} == {a}


def hoard(kept: list[bytes]) -> Callable[[int], None]:
    def each(_: int) -> None:
        kept.append(b"x" * (256 << 10))  # written, so resident: 256 KiB a record

    return each


@pytest.mark.parametrize("workers", [1, 2])
def test_a_task_that_keeps_growing_stops_at_the_memory_limit(tmp_path: Path, workers: int) -> None:
    kept: list[bytes] = []
    hoarder = ToyArtifact("toy.hoard", hoard(kept))  # 4000 records: 1 GiB, over 64 MiB
    problems, records = toy_check(tmp_path, hoarder, {"a.bin": 4000}, Limits(memory=64 * MiB), workers)
    kept.clear()
    path = "HomeDomain/Library/Toy/a.bin"
    reason = (
        "stopped at the memory limit (64 MiB more than the task started with); "
        "raise it with --limit memory=VALUE if needed"
    )
    assert problems == [{"artifact": "toy.hoard", "path": path, "reason": f"{path}: {reason}"}]
    assert 0 < len(records) < 1024  # 64 MiB is 256 records; memory is read at one record in 512 or so


@pytest.mark.parametrize("workers", [1, 2])
def test_readers_see_the_task_budget_in_whatever_process_runs_the_task(tmp_path: Path, workers: int) -> None:
    """What the SQLite progress handler and the property-list reader consult: ``budget.current()``."""
    if workers > 1 and not can_fork():
        pytest.skip("forked workers need Linux")
    reporter = ToyArtifact("toy.limits", lambda _: None)
    problems, records = toy_check(tmp_path, reporter, {"a.bin": 1}, Limits(rows=77, plist_depth=9), workers)
    assert problems == []
    [record] = records
    assert (record["fields"]["rows"], record["fields"]["plist_depth"]) == (77, 9)
    assert (record["fields"]["pid"] != os.getpid()) == (workers > 1)


def test_a_case_analysis_is_reproduced_under_the_limits_it_was_run_with(tmp_path: Path) -> None:
    backup = history_backup(tmp_path / "backup")
    key, trust, bundle = tmp_path / "k.key", tmp_path / "trust.txt", tmp_path / "bundle"
    save_key(generate("examiner"), key, PASSPHRASE)
    trust.write_text(run("key", "export", str(key))[1])
    for step in (
        ("case", "new", str(bundle), "--case-id", "LIMITS-1", "--examiner", str(key)),
        ("case", "add", str(bundle), str(backup), "--item-id", "B1", "--key", str(key)),
    ):
        code, output = run(*step)
        assert code == 0, (step, output)
    code, output = run("check", "--case", str(bundle), "B1", "--key", str(key), "--limit", "rows=20", "-q", "-j", "1")
    assert code == 3, output
    assert analysis_parameters(bundle, "0001")["limits"]["rows"] == 20
    findings = orjson.loads((bundle / "data/analysis/0001/findings.json").read_bytes())
    assert [p["path"] for p in findings["problems"]] == [HISTORY]  # the limit changed the findings
    code, output = run("verify", str(bundle), "--trust", str(trust), "--reproduce")
    assert "analysis 0001: a fresh run gives the same findings.json" in output, output
    assert code == 0, output
