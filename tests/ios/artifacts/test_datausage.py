"""DataUsage.sqlite (ZPROCESS / ZLIVEUSAGE): process indicators, manipulated rows, gaps, BackupAgent."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.builders import T0, backup_with, check, plain_set
from vestige.ios.artifacts.datausage import DataUsageLiveUsage, DataUsagePrimaryKey, DataUsageProcess
from vestige.ios.sample.schemas import DATAUSAGE
from vestige.ios.timestamps import MAC_EPOCH
from vestige.model import Severity

DB = "WirelessDomain/Library/Databases/DataUsage.sqlite"
BASE = (T0 - MAC_EPOCH).total_seconds()


def datausage(
    processes: Sequence[tuple[int, str, str | None]], usage: Sequence[tuple[int, int]], z_max: int | None = None
) -> Callable[[sqlite3.Connection], None]:
    def fill(db: sqlite3.Connection) -> None:
        db.executemany(
            "INSERT INTO ZPROCESS VALUES (?, 10, 1, ?, ?, ?, ?)",
            [(pk, BASE + pk, BASE + pk + 60, bundle, name) for pk, name, bundle in processes],
        )
        db.executemany(
            "INSERT INTO ZLIVEUSAGE (Z_PK, Z_ENT, Z_OPT, ZHASPROCESS, ZTIMESTAMP, ZWIFIIN, ZWIFIOUT, ZWWANIN, ZWWANOUT)"
            " VALUES (?, 8, 1, ?, ?, 10.0, 20.0, 30.0, 40.0)",
            [(pk, process, BASE + 100 + pk) for pk, process in usage],
        )
        if z_max is not None:
            db.execute("INSERT INTO Z_PRIMARYKEY VALUES (10, 'Process', 0, ?)", (z_max,))

    return fill


def checked(tmp_path: Path, fill: Callable[[sqlite3.Connection], None], sets=()):  # type: ignore[no-untyped-def]
    root = backup_with(tmp_path / "b", [("WirelessDomain", "Library/Databases/DataUsage.sqlite", DATAUSAGE, fill)])
    return check(root, sets)


def test_process_rows_and_usage_rows_become_records(tmp_path: Path) -> None:
    result = checked(tmp_path, datausage([(1, "MobileSafari/com.apple.mobilesafari", None)], [(1, 1)], z_max=1))
    records = result.artifact_records("ios.datausage")
    assert [type(r.payload) for r in records] == [DataUsageProcess, DataUsageLiveUsage, DataUsagePrimaryKey]
    process = records[0]
    assert (process.locator.path, process.locator.table, process.locator.row) == (DB, "ZPROCESS", 1)
    assert process.time is not None and (process.time - T0).total_seconds() == 1.0
    assert [(o.kind.value, o.value) for o in process.observables] == [
        ("process", "MobileSafari"),
        ("app-id", "com.apple.mobilesafari"),
    ]
    assert (
        records[1].summary
        == "Network usage by 'MobileSafari/com.apple.mobilesafari': Wi-Fi in 10.0 out 20.0, cellular in 30.0 out 40.0"
    )
    assert [r for r in result.rules() if r.startswith("ios.datausage")] == []


def test_a_pegasus_process_name_is_critical(tmp_path: Path) -> None:
    sets = [plain_set("pegasus", "processes", ["bh", "roleaccountd"])]
    result = checked(tmp_path, datausage([(1, "apsd", None), (2, "bh", None)], [(1, 1), (2, 2)]), sets)
    [finding] = result.findings("ios.datausage.indicator_match")
    assert finding.severity is Severity.CRITICAL
    assert (
        finding.title
        == "A process that used the network (DataUsage) involves the process name bh, named by a pegasus indicator"
    )
    assert (finding.evidence[0].locator.table, finding.evidence[0].locator.row) == ("ZPROCESS", 2)


def test_usage_rows_of_a_deleted_process_are_a_high_manipulation_finding(tmp_path: Path) -> None:
    result = checked(
        tmp_path, datausage([(1, "apsd", None), (2, "CommCenter", None)], [(1, 1), (2, 7), (3, 7), (4, 9)])
    )
    [finding] = result.findings("ios.datausage.manipulated_process_entry")
    assert finding.severity is Severity.HIGH
    assert finding.title == "3 network-usage rows point to process rows that no longer exist"
    assert "process keys 7, 9" in finding.explanation
    assert [e.locator.row for e in finding.evidence] == [2, 3, 4]


def test_gaps_in_the_key_sequence_up_to_z_max_are_low(tmp_path: Path) -> None:
    result = checked(tmp_path, datausage([(1, "a", None), (2, "b", None), (5, "c", None), (6, "d", None)], [], z_max=9))
    [finding] = result.findings("ios.datausage.missing_process_rows")
    assert finding.severity is Severity.LOW
    assert finding.title == "5 process rows are missing from the ZPROCESS key sequence"
    assert finding.evidence[0].excerpt == "missing Z_PK 3-4, 7-9"
    assert "(Core Data's Z_MAX is 9)" in finding.explanation


def test_a_corrupt_z_max_is_counted_not_enumerated(tmp_path: Path) -> None:
    result = checked(tmp_path, datausage([(1, "a", None), (3, "b", None)], [], z_max=2**62))
    [finding] = result.findings("ios.datausage.missing_process_rows")
    assert finding.title == f"{2**62 - 2} process rows are missing from the ZPROCESS key sequence"
    assert finding.evidence[0].excerpt == f"missing Z_PK 2, 4-{2**62}"


def test_backupagent_is_the_triangulation_rule_and_backupagent2_is_not(tmp_path: Path) -> None:
    result = checked(tmp_path, datausage([(1, "BackupAgent", None), (2, "BackupAgent2", None)], [(1, 1), (2, 2)]))
    [finding] = result.findings("ios.datausage.backupagent_network_use")
    assert finding.severity is Severity.HIGH
    assert [(e.locator.table, e.locator.row) for e in finding.evidence] == [("ZPROCESS", 1), ("ZLIVEUSAGE", 1)]


def test_a_database_without_zprocess_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    result = checked(tmp_path, lambda db: db.execute("DROP TABLE ZPROCESS"))
    assert [(p.artifact, p.path, p.reason) for p in result.result.problems] == [
        ("ios.datausage", DB, f"{DB}: table ZPROCESS is missing; not the expected schema")
    ]
    assert not result.result.complete
