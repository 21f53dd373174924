"""Process rules shared by the iOS artifacts that record processes: BackupAgent and the daemon caveat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from vestige.ios.processes import CITED_EXAMPLES, PROCESS_NAME_CAVEATS, TRIANGULATION_PROCESSES, backup_agent_finding
from vestige.model import Locator, ObservableKind, Record, Severity


def test_backupagent_and_not_backupagent2_is_the_triangulation_name() -> None:
    assert "BackupAgent" in TRIANGULATION_PROCESSES
    assert "BackupAgent2" not in TRIANGULATION_PROCESSES
    assert list(PROCESS_NAME_CAVEATS) == [ObservableKind.PROCESS]


@dataclass(frozen=True, slots=True)
class Row:
    name: str


def test_the_finding_cites_the_first_rows_and_the_earliest_time() -> None:
    start = datetime(2024, 5, 14, tzinfo=timezone.utc)
    records = [
        Record(
            "ios.datausage",
            Locator("DataUsage.sqlite", "00", table="ZPROCESS", row=n),
            start + timedelta(days=-n),
            f"row {n}",
            Row("BackupAgent"),
        )
        for n in range(12)
    ]
    finding = backup_agent_finding("ios.datausage.backupagent_network_use", "X records it", records)
    assert (finding.severity, finding.title) == (Severity.HIGH, "The BackupAgent process used the network")
    assert finding.explanation.startswith("X records it. Kaspersky reported that Operation Triangulation's implant")
    assert [e.locator.row for e in finding.evidence] == list(range(CITED_EXAMPLES))
    assert finding.time == start + timedelta(days=-11)
