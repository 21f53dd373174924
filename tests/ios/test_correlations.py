"""The redirect-then-new-process correlator: a bundle-less process first on the network within 60 s after a
cross-site redirect of an http:// visit, joined across Safari's History.db and DataUsage.sqlite."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from tests.builders import T0, backup_with, check, plain_set
from tests.ios.artifacts.test_safari_history import INJECTED, Visit, history
from vestige.ios.sample.schemas import DATAUSAGE, SAFARI_HISTORY
from vestige.ios.timestamps import MAC_EPOCH
from vestige.model import Severity

BASE = (T0 - MAC_EPOCH).total_seconds()
RULE = "ios.redirect_then_new_process"
PLAIN: list[Visit] = [
    (1, "http://example.com/", 0.0, None, 2),
    (2, "https://www.iana.org/help/example-domains", 0.0003, 1, None),
]


def processes(rows: Sequence[tuple[int, str, str | None, float]]):  # type: ignore[no-untyped-def]
    """ZPROCESS rows: key, name, bundle id, first use in seconds after T0."""

    def fill(db: sqlite3.Connection) -> None:
        db.executemany(
            "INSERT INTO ZPROCESS VALUES (?, 10, 1, ?, ?, ?, ?)",
            [(pk, BASE + first, BASE + first + 60, bundle, name) for pk, name, bundle, first in rows],
        )

    return fill


def checked(tmp_path: Path, visits: Sequence[Visit], rows: Sequence[tuple[int, str, str | None, float]], sets=()):  # type: ignore[no-untyped-def]
    root = backup_with(
        tmp_path / "b",
        [
            ("HomeDomain", "Library/Safari/History.db", SAFARI_HISTORY, history(visits)),
            ("WirelessDomain", "Library/Databases/DataUsage.sqlite", DATAUSAGE, processes(rows)),
        ],
    )
    return check(root, sets)


ROWS = [
    (1, "mDNSResponder", None, -86400.0),  # long before
    (2, "bh", None, 8.0),  # 8 s after the redirect
    (3, "Twitter", "com.atebits.Tweetie2", 9.0),  # an app: not joined
    (4, "late", None, 61.0),  # outside the minute
    (5, "early", None, -1.0),  # before the redirect
]


def test_a_bundle_less_process_within_a_minute_after_an_injected_redirect_is_high(tmp_path: Path) -> None:
    result = checked(tmp_path, INJECTED, ROWS)
    [finding] = result.findings(RULE)
    assert finding.severity is Severity.HIGH
    assert (
        finding.title
        == "The process 'bh', with no app bundle, first used the network 8.0 s after a redirected http:// visit"
    )
    assert finding.explanation.startswith(
        "Process 'bh' first used the network (WirelessDomain/Library/Databases/DataUsage.sqlite) 8.0 s after this "
        "Safari trace: An http:// visit to yahoo.fr was redirected to another site, "
        "bun54l2b67.get1tn0w.free247downloads.com, a destination with traits of an injected redirect."
    )
    assert [(e.locator.path.rsplit("/", 1)[1], e.locator.table, e.locator.row) for e in finding.evidence] == [
        ("History.db", "history_visits", 1),
        ("History.db", "history_visits", 2),
        ("History.db", "history_visits", 3),
        ("DataUsage.sqlite", "ZPROCESS", 2),
    ]
    assert finding.indicators == ()
    assert finding.time is not None and (finding.time - T0).total_seconds() == 8.0
    [summary] = [s for s in result.result.correlators if s.name == RULE]
    assert (summary.name, summary.version, summary.records) == (RULE, 1, 4)


def test_a_plain_cross_site_redirect_joins_too_and_an_indicator_makes_it_critical(tmp_path: Path) -> None:
    result = checked(tmp_path, PLAIN, ROWS, [plain_set("pegasus", "processes", ["bh"])])
    [finding] = result.findings(RULE)
    assert finding.severity is Severity.CRITICAL
    assert [(m.value, m.type, m.set_name) for m in finding.indicators] == [("bh", "process:name", "pegasus")]
    assert finding.explanation.endswith("An indicator names the process: process:name 'bh' in pegasus (set pegasus).")
    assert "An http:// visit to example.com was redirected to another site, www.iana.org." in finding.explanation


def test_no_redirect_no_join(tmp_path: Path) -> None:
    result = checked(tmp_path, [(1, "https://www.iana.org/", 0.0, None, None)], ROWS)
    assert result.findings(RULE) == []
    [summary] = [s for s in result.result.correlators if s.name == RULE]
    assert summary.records == 4  # the four bundle-less processes were kept, and nothing joined them
