"""osanalytics addaily and the identity services cache: process and e-mail indicators, BackupAgent, NUL lookups."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from tests.builders import T0, check, plain_set
from vestige.evidence.plist import plain
from vestige.ios.artifacts.osanalytics_addaily import BaselineProcess
from vestige.ios.sample.backup import BackupBuilder
from vestige.ios.timestamps import MAC_EPOCH
from vestige.model import Severity

ADDAILY = "Library/Preferences/com.apple.osanalytics.addaily.plist"
IDSTATUS = "Library/Preferences/com.apple.identityservices.idstatuscache.plist"


def build(root: Path) -> Path:
    builder = BackupBuilder(root)
    day = datetime(2024, 5, 13, 0, 0)
    builder.add_plist(
        "HomeDomain",
        ADDAILY,
        {"netUsageBaseline": {"BackupAgent": [day, 1.0, 2.0, 3.0, 4.0], "nsurlsessiond": [day, 5.0, 6.0, 7.0, 8.0]}},
    )
    lookup = (T0 - MAC_EPOCH).total_seconds()
    builder.add_plist(
        "HomeDomain",
        IDSTATUS,
        {
            "com.apple.madrid": {
                "mailto:bogaardlisa803@gmail.com": {"LookupDate": lookup, "IDStatus": 1},
                "tel:+212600000000": {"LookupDate": lookup + 60, "IDStatus": 2},
                "mailto:x\x00\x00y@example.com": {"LookupDate": lookup + 120, "IDStatus": 1},
            },
            "version": 1,
        },
    )
    return builder.finish()


def test_addaily_processes_are_records_and_backupagent_is_high(tmp_path: Path) -> None:
    result = check(build(tmp_path / "b"), [plain_set("pegasus", "processes", ["nsurlsessiond"])])
    records = result.artifact_records("ios.osanalytics_addaily")
    day_text = plain(datetime(2024, 5, 13, 0, 0))
    assert [(r.payload, r.locator.key) for r in records] == [
        (
            BaselineProcess("BackupAgent", [day_text, 1.0, 2.0, 3.0, 4.0], (1.0, 2.0, 3.0, 4.0)),
            "netUsageBaseline/BackupAgent",
        ),
        (
            BaselineProcess("nsurlsessiond", [day_text, 5.0, 6.0, 7.0, 8.0], (5.0, 6.0, 7.0, 8.0)),
            "netUsageBaseline/nsurlsessiond",
        ),
    ]
    assert records[0].time is not None and records[0].time.isoformat() == "2024-05-13T00:00:00+00:00"
    [triangulation] = result.findings("ios.osanalytics_addaily.backupagent_network_use")
    assert triangulation.severity is Severity.HIGH
    [match] = result.findings("ios.osanalytics_addaily.indicator_match")
    assert match.severity is Severity.CRITICAL


def test_idstatuscache_lookups_are_matched_by_email_and_nul_handles_are_high(tmp_path: Path) -> None:
    result = check(build(tmp_path / "b"), [plain_set("pegasus-emails", "emails", ["BogaardLisa803@gmail.com"])])
    records = result.artifact_records("ios.idstatuscache")
    assert [r.locator.key for r in records] == [
        "com.apple.madrid/mailto:bogaardlisa803@gmail.com",
        "com.apple.madrid/mailto:x\x00\x00y@example.com",
        "com.apple.madrid/tel:+212600000000",
    ]
    assert records[0].time == T0
    [match] = result.findings("ios.idstatuscache.indicator_match")
    assert match.severity is Severity.HIGH
    assert match.title == (
        "An iMessage/FaceTime lookup involves the email address bogaardlisa803@gmail.com, named by a pegasus-emails "
        "indicator"
    )
    [nul] = result.findings("ios.idstatuscache.null_bytes_lookup")
    assert nul.severity is Severity.HIGH
    assert nul.evidence[0].locator.key == "com.apple.madrid/mailto:x\x00\x00y@example.com"
