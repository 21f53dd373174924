"""WebKit observations.db in any app domain: observed registrable domains and top-frame redirects."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.builders import T0, backup_with, check, plain_set
from vestige.ios.artifacts.webkit_observations import ObservedDomain, TopFrameRedirect
from vestige.ios.sample.schemas import OBSERVATIONS_DB
from vestige.model import Severity

PATH = "Library/WebKit/WebsiteData/ResourceLoadStatistics/observations.db"


def fill(db: sqlite3.Connection) -> None:
    db.executemany(
        "INSERT INTO ObservedDomains VALUES (?, ?, ?, ?, 0, 0, 0, 0, 0, 0, 0, 0, 0)",
        [(1, "twitter.com", T0.timestamp(), 1), (2, "free247downloads.com", T0.timestamp() + 5, 0)],
    )
    db.execute("INSERT INTO TopFrameUniqueRedirectsTo VALUES (1, 2)")


def test_observed_domains_and_redirects_in_an_app_container(tmp_path: Path) -> None:
    root = backup_with(tmp_path / "b", [("AppDomain-com.atebits.Tweetie2", PATH, OBSERVATIONS_DB, fill)])
    result = check(root, [plain_set("pegasus", "domains", ["free247downloads.com"])])
    records = result.artifact_records("ios.webkit_observations")
    assert [(type(r.payload), r.locator.table, r.locator.row) for r in records] == [
        (ObservedDomain, "ObservedDomains", 1),
        (ObservedDomain, "ObservedDomains", 2),
        (TopFrameRedirect, "TopFrameUniqueRedirectsTo", 1),
    ]
    assert records[0].time == T0
    assert (
        records[2].summary
        == "AppDomain-com.atebits.Tweetie2: a top-frame redirect from twitter.com to free247downloads.com"
    )
    matches = result.findings("ios.webkit_observations.indicator_match")
    assert [(f.evidence[0].locator.table, f.severity) for f in matches] == [
        ("ObservedDomains", Severity.HIGH),
        ("TopFrameUniqueRedirectsTo", Severity.HIGH),
    ]
