"""The engine on the demo backup: findings, order, de-duplication, problems, compound patterns."""

from __future__ import annotations

import errno
import hashlib
import json
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.builders import Collected, backup_with, check, plain_set
from vestige.analysis import OutputWriteError, analyse, finding_order
from vestige.evidence.budget import Limits
from vestige.indicators import IndicatorIndex, bundled_sets, read_indicator_data
from vestige.indicators.sets import SetOrigin
from vestige.ios.sample.backup import BackupBuilder
from vestige.ios.sample.demo import build_demo_backup
from vestige.ios.sample.schemas import SMS_DB
from vestige.model import Problem, Record, Severity
from vestige.platforms import Registry


@pytest.fixture(scope="module")
def demo_backup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_backup(tmp_path_factory.mktemp("demo") / "backup")


def test_the_demo_traces_are_found_with_the_bundled_sets(demo_backup: Path) -> None:
    result = check(demo_backup, bundled_sets()).result
    summary = [(f.severity.label, f.rule) for f in result.findings]
    assert summary == [
        ("critical", "ios.datausage.indicator_match"),
        ("critical", "ios.redirect_then_new_process"),
        ("high", "ios.sms.indicator_match"),
        ("high", "ios.webkit_observations.indicator_match"),
        ("high", "ios.safari_history.injected_redirect"),
        ("high", "ios.safari_history.indicator_match"),
        ("high", "ios.safari_history.indicator_match"),
        ("medium", "ios.safari_history.deleted_history"),
        ("info", "correlation.baseband_during_injection"),  # no baseband log: the defence's hypothesis untestable
        ("info", "ios.backup_info.outdated_ios"),
    ]
    assert result.complete
    assert [a.file_count for a in result.acquisitions] == [39]
    process = result.findings[0]
    assert [(m.value, m.type, m.collection, m.set_name) for m in process.indicators] == [
        ("bh", "process:name", "Pegasus", "amnesty/2021-07-18_nso/pegasus.stix2")
    ]
    assert process.indicators[0].set_sha256 == "df1bcaa78abc7b85781b1ebc2daa3cc225371e2024d9ef96e84f80f927256586"


def test_the_demo_redirect_is_high_for_the_traits_of_its_destination(demo_backup: Path) -> None:
    result = check(demo_backup, bundled_sets()).result
    [redirect] = [f for f in result.findings if f.rule == "ios.safari_history.injected_redirect"]
    traits = redirect.explanation.partition("(network-injection detector D2): ")[2].split("; ")
    assert traits == [
        "the host bun54l2b67.get1tn0w.free247downloads.com has random-looking labels (bun54l2b67, get1tn0w)",
        "the URL https://bun54l2b67.get1tn0w.free247downloads.com:30495/szev4hz uses the unusual port 30495",
        "the same URL was visited again 4.2 s later with a long numeric fragment",
        "the domain bun54l2b67.get1tn0w.free247downloads.com is named by a Pegasus indicator (sets "
        "amnesty/2019-10-10_nso_morocco/domains.txt, amnesty/2021-07-18_nso/pegasus.stix2).",
    ]
    assert sorted({m.value for m in redirect.indicators}) == [
        "bun54l2b67.get1tn0w.free247downloads.com",
        "free247downloads.com",
    ]


def test_findings_are_sorted_by_severity_then_time(demo_backup: Path) -> None:
    findings = check(demo_backup, bundled_sets()).result.findings
    assert findings == sorted(findings, key=finding_order)
    assert len({f.id for f in findings}) == len(findings)


def test_an_indicator_shared_by_two_sets_credits_both(demo_backup: Path) -> None:
    result = check(demo_backup, bundled_sets()).result
    webkit = next(f for f in result.findings if f.rule == "ios.webkit_observations.indicator_match")
    assert sorted(m.set_name for m in webkit.indicators) == [
        "amnesty/2019-10-10_nso_morocco/domains.txt",
        "amnesty/2021-07-18_nso/pegasus.stix2",
    ]


def test_a_pattern_whose_brackets_hold_on_different_records_is_one_finding(demo_backup: Path) -> None:
    bundle = {
        "type": "bundle",
        "id": "bundle--00000000-0000-4000-8000-000000000000",
        "objects": [
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": "indicator--00000000-0000-4000-8000-000000000001",
                "pattern": "[process:name = 'bh'] AND [domain-name:value = 'free247downloads.com']",
                "pattern_type": "stix",
            }
        ],
    }
    data = json.dumps(bundle).encode()
    origin = SetOrigin("compound", "test", "CC0-1.0", "compound.json", hashlib.sha256(data).hexdigest())
    result = check(demo_backup, [read_indicator_data(data, origin)]).result
    [finding] = [f for f in result.findings if f.rule == "indicator.pattern_match"]
    assert finding.severity is Severity.HIGH
    assert [e.locator.table for e in finding.evidence] == ["ZPROCESS", "history_visits"]
    assert finding.indicators[0].type == "stix-pattern"


def test_a_corrupt_database_is_a_problem_and_the_rest_is_still_read(demo_backup: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(demo_backup, copy)
    sms = copy / "3d" / "3d0d7e5fb2ce288813306e4d4636395e047a3d28"
    sms.write_bytes(sms.read_bytes()[:200])
    result = check(copy, bundled_sets()).result
    assert [(p.artifact, p.path) for p in result.problems] == [("ios.sms", "HomeDomain/Library/SMS/sms.db")]
    assert result.problems[0].reason.startswith("HomeDomain/Library/SMS/sms.db: unreadable SQLite database")
    assert not result.complete
    assert "ios.safari_history.injected_redirect" in [f.rule for f in result.findings]
    assert "ios.sms.indicator_match" not in [f.rule for f in result.findings]


def test_a_finding_on_rows_of_a_wal_database_cites_the_wal_too(tmp_path: Path) -> None:
    """The message lives only in sms.db-wal: a disclosure of the finding must be able to carry it."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    live = sqlite3.connect(str(scratch / "sms.db"))
    live.executescript(SMS_DB)
    live.execute("PRAGMA journal_mode = WAL")
    live.execute("PRAGMA wal_autocheckpoint = 0")
    live.execute("INSERT INTO message (ROWID, guid, text, date) VALUES (1, 'g1', 'see https://bad.example/x', 1)")
    live.commit()
    builder = BackupBuilder(tmp_path / "backup")
    digests = {}
    for suffix in ("", "-wal", "-shm"):
        data = (scratch / f"sms.db{suffix}").read_bytes()
        builder.add_file("HomeDomain", f"Library/SMS/sms.db{suffix}", data)
        digests[suffix] = hashlib.sha256(data).hexdigest()
    live.close()
    result = check(builder.finish(), [plain_set("bad", "domains", ["bad.example"])])
    [finding] = [f for f in result.result.findings if f.rule == "ios.sms.indicator_match"]
    assert [(e.locator.path, e.locator.table, e.locator.sha256) for e in finding.evidence] == [
        ("HomeDomain/Library/SMS/sms.db", "message", digests[""]),
        ("HomeDomain/Library/SMS/sms.db-wal", None, digests["-wal"]),
    ]
    assert finding.evidence[1].excerpt == (
        "HomeDomain/Library/SMS/sms.db-wal: read by SQLite with HomeDomain/Library/SMS/sms.db"
    )


def test_two_analyses_at_once_in_one_process_give_what_each_gives_alone(demo_backup: Path, tmp_path: Path) -> None:
    other = backup_with(tmp_path / "other")
    registry = Registry.discover()
    sets = bundled_sets()

    def findings(root: Path, start: threading.Barrier | None = None) -> list[str]:
        with registry.open(root) as acquisition:
            if start is not None:
                start.wait()
            result = analyse([acquisition], registry, IndicatorIndex(sets), sets, sinks=Collected(), workers=2)
        return [f.id for f in result.findings]

    alone = [findings(demo_backup), findings(other)]
    start = threading.Barrier(2)
    with ThreadPoolExecutor(max_workers=2) as threads:
        together = [f.result(timeout=300) for f in [threads.submit(findings, r, start) for r in (demo_backup, other)]]
    assert together == alone
    assert len(alone[0]) == 10 and alone[0] != alone[1]


def rows_problem(artifact: str, path: str) -> Problem:
    reason = (
        f"{path}: stopped at the rows limit (more than 5 rows or records in this file); "
        "raise it with --limit rows=VALUE if needed"
    )
    return Problem(artifact, path, reason)


@pytest.mark.parametrize("workers", [1, 2])
def test_every_artifact_task_and_listing_partition_runs_under_the_limits(demo_backup: Path, workers: int) -> None:
    registry = Registry.discover()
    sink = Collected()
    with registry.open(demo_backup) as acquisition:
        result = analyse([acquisition], registry, IndicatorIndex([]), [], sink, workers=workers, limits=Limits(rows=5))
    assert result.problems == [
        rows_problem("ios.manifest", "Manifest.db"),
        rows_problem("ios.safari_history", "HomeDomain/Library/Safari/History.db"),
        rows_problem("ios.datausage", "WirelessDomain/Library/Databases/DataUsage.sqlite"),
    ]
    assert [(a.name, a.records) for a in result.artifacts] == [
        ("ios.backup_info", 3),
        ("ios.manifest", 5),
        ("ios.safari_history", 5),
        ("ios.datausage", 5),
        ("ios.osanalytics_addaily", 4),
        ("ios.sms", 4),
        ("ios.idstatuscache", 2),
        ("ios.webkit_observations", 5),
    ]
    if workers == 1:  # the records written are those counted: the sink saw each before the limit
        assert len(sink.records) == 3 + 5 + 5 + 5 + 4 + 4 + 2 + 5


class FullDisk(Collected):
    """A sink on a disk that fills at the tenth record."""

    def record(self, record: Record) -> None:
        if len(self.records) == 9:
            raise OSError(errno.ENOSPC, "No space left on device", "/out/records/ios.safari_history.jsonl")
        super().record(record)


def test_a_sink_that_cannot_write_stops_the_run_and_is_never_a_problem_of_the_evidence(demo_backup: Path) -> None:
    registry = Registry.discover()
    with registry.open(demo_backup) as acquisition, pytest.raises(OutputWriteError) as stopped:
        analyse([acquisition], registry, IndicatorIndex([]), [], FullDisk())
    assert str(stopped.value) == "/out/records/ios.safari_history.jsonl: cannot be written (No space left on device)"
