"""Safari History.db (schema 16, iOS 26.1): visits, redirect chains (D1/D2) and tombstones."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

from tests.builders import T0, backup_with, check, plain_set
from vestige.ios.sample.schemas import SAFARI_HISTORY
from vestige.ios.timestamps import MAC_EPOCH
from vestige.model import Severity

Visit = tuple[int, str, float, int | None, int | None]  # id, url, seconds after T0, source, destination
HISTORY = "HomeDomain/Library/Safari/History.db"


def history(
    visits: Sequence[Visit], tombstones: Sequence[tuple[float, float]] = ()
) -> Callable[[sqlite3.Connection], None]:
    base = (T0 - MAC_EPOCH).total_seconds()

    def fill(db: sqlite3.Connection) -> None:
        items: dict[str, int] = {}
        for _, url, _, _, _ in visits:
            items.setdefault(url, len(items) + 1)
        db.executemany(
            "INSERT INTO history_items (id, url, visit_count, daily_visit_counts,"
            " should_recompute_derived_visit_counts, visit_count_score) VALUES (?, ?, 1, x'00', 0, 0)",
            [(number, url) for url, number in items.items()],
        )
        db.executemany(
            "INSERT INTO history_visits (id, history_item, visit_time, redirect_source, redirect_destination)"
            " VALUES (?, ?, ?, ?, ?)",
            [(vid, items[url], base + offset, source, dest) for vid, url, offset, source, dest in visits],
        )
        db.executemany(
            "INSERT INTO history_tombstones (start_time, end_time, url) VALUES (?, ?, NULL)",
            [(base + start, base + end) for start, end in tombstones],
        )

    return fill


def checked(tmp_path: Path, visits: Sequence[Visit], tombstones: Sequence[tuple[float, float]] = (), sets=()):  # type: ignore[no-untyped-def]
    root = backup_with(
        tmp_path / "backup", [("HomeDomain", "Library/Safari/History.db", SAFARI_HISTORY, history(visits, tombstones))]
    )
    return check(root, sets)


INJECTED = [
    (1, "http://yahoo.fr/", 0.0, None, 2),
    (2, "https://bun54l2b67.get1tn0w.free247downloads.com:30495/szev4hz", 0.0024, 1, None),
    (
        3,
        "https://bun54l2b67.get1tn0w.free247downloads.com:30495/szev4hz#048634787343287485982474853012724998054718494423286",
        4.2,
        None,
        None,
    ),
]


def test_visits_become_records_with_exact_fields(tmp_path: Path) -> None:
    result = checked(tmp_path, INJECTED)
    records = result.artifact_records("ios.safari_history")
    assert [r.fields["visit_id"] for r in records] == [1, 2, 3]
    first = records[0]
    assert first.locator.path == HISTORY
    assert (first.locator.table, first.locator.row) == ("history_visits", 1)
    assert first.time == T0
    assert first.time_kind == "visit time"
    assert first.summary == "Safari visit to http://yahoo.fr/"
    assert first.fields["redirect_destination"] == 2
    assert [(o.kind.value, o.value) for o in first.observables] == [("url", "http://yahoo.fr/"), ("domain", "yahoo.fr")]


def test_the_monjib_redirect_is_a_high_injected_redirect_with_every_trait(tmp_path: Path) -> None:
    result = checked(tmp_path, INJECTED)
    [finding] = result.findings("ios.safari_history.injected_redirect")
    assert finding.severity is Severity.HIGH
    assert finding.title == (
        "An http:// visit to yahoo.fr was redirected to bun54l2b67.get1tn0w.free247downloads.com in 2.4 ms "
        "with traits of an injected redirect"
    )
    assert [(e.locator.table, e.locator.row) for e in finding.evidence] == [
        ("history_visits", 1),
        ("history_visits", 2),
        ("history_visits", 3),
    ]
    assert "2.400 ms after the http:// visit" in finding.explanation
    assert "random-looking labels (bun54l2b67, get1tn0w)" in finding.explanation
    assert "unusual port 30495" in finding.explanation
    assert "visited again 4.2 s later with a long numeric fragment" in finding.explanation
    assert finding.time == T0
    assert result.rules() == ["ios.safari_history.injected_redirect", "ios.backup_info.outdated_ios"]


def test_a_same_site_https_upgrade_is_not_flagged(tmp_path: Path) -> None:
    result = checked(tmp_path, [(1, "http://www.bbc.com/", 0.0, None, 2), (2, "https://www.bbc.com/", 0.041, 1, None)])
    assert [r for r in result.rules() if r.startswith("ios.safari")] == []


def test_one_brand_under_two_suffixes_is_one_site(tmp_path: Path) -> None:
    result = checked(tmp_path, [(1, "http://yahoo.fr/", 0.0, None, 2), (2, "https://fr.yahoo.com/", 0.12, 1, None)])
    assert [r for r in result.rules() if r.startswith("ios.safari")] == []


def test_a_plain_fast_cross_site_redirect_is_medium(tmp_path: Path) -> None:
    result = checked(
        tmp_path,
        [(1, "http://example.com/", 0.0, None, 2), (2, "https://www.iana.org/help/example-domains", 0.31, 1, None)],
    )
    [finding] = result.findings("ios.safari_history.fast_http_redirect")
    assert finding.severity is Severity.MEDIUM
    assert finding.title == "An http:// visit to example.com was redirected to www.iana.org in 310.0 ms"


def test_the_whole_chain_is_walked_past_a_same_site_upgrade(tmp_path: Path) -> None:
    result = checked(
        tmp_path,
        [
            (1, "http://news.example.org/a", 0.0, None, 2),
            (2, "https://news.example.org/a", 0.010, 1, 3),
            (3, "https://cdn.tracker-example.net/x", 0.520, 2, None),
        ],
    )
    [finding] = result.findings("ios.safari_history.fast_http_redirect")
    assert finding.title == "An http:// visit to news.example.org was redirected to cdn.tracker-example.net in 520.0 ms"
    assert [e.locator.row for e in finding.evidence] == [1, 2, 3]


def test_slow_redirects_and_a_day_plus_a_few_milliseconds_are_not_flagged(tmp_path: Path) -> None:
    day = timedelta(days=1).total_seconds()
    result = checked(
        tmp_path,
        [
            (1, "http://example.com/", 0.0, None, 2),
            (2, "https://www.iana.org/", 1.5, 1, None),
            (3, "http://example.net/", 10.0, None, 4),
            (4, "https://evil-example.org/", 10.0 + day + 0.004, 3, None),
        ],
    )
    assert [r for r in result.rules() if r.startswith("ios.safari")] == []


def test_a_negative_delta_is_low_and_says_the_clock_moved(tmp_path: Path) -> None:
    result = checked(
        tmp_path, [(1, "http://example.com/", 0.0, None, 2), (2, "https://www.iana.org/", -0.005, 1, None)]
    )
    [finding] = result.findings("ios.safari_history.fast_http_redirect")
    assert finding.severity is Severity.LOW
    assert "clock moved" in finding.explanation


def test_https_heads_are_not_injection_candidates(tmp_path: Path) -> None:
    result = checked(tmp_path, [(1, "https://t.co/abc", 0.0, None, 2), (2, "https://www.iana.org/", 0.002, 1, None)])
    assert [r for r in result.rules() if r.startswith("ios.safari")] == []


def test_a_tombstone_alone_is_info_and_near_a_redirect_is_medium(tmp_path: Path) -> None:
    result = checked(tmp_path, INJECTED, tombstones=[(-300.0, 60.0), (-86400.0, -86000.0)])
    deleted = result.findings("ios.safari_history.deleted_history")
    assert [(f.severity, f.title) for f in deleted] == [
        (Severity.MEDIUM, "Safari history was deleted around a suspected injected redirect"),
        (Severity.INFO, "Safari history was deleted for a period of time"),
    ]
    assert [(e.locator.table, e.locator.row) for e in deleted[0].evidence] == [
        ("history_tombstones", 1),
        ("history_visits", 1),
    ]


def test_a_tombstone_near_only_a_plain_fast_redirect_is_low_and_claims_no_injection(tmp_path: Path) -> None:
    fast = [(1, "http://example.com/", 0.0, None, 2), (2, "https://www.iana.org/help/example-domains", 0.31, 1, None)]
    result = checked(tmp_path, fast, tombstones=[(-60.0, 60.0)])
    [deleted] = result.findings("ios.safari_history.deleted_history")
    assert (deleted.severity, deleted.title) == (Severity.LOW, "Safari history was deleted around a fast HTTP redirect")
    assert "inject" not in deleted.explanation


def test_visited_urls_are_matched_with_label_suffixes(tmp_path: Path) -> None:
    sets = [plain_set("morocco", "domains", ["free247downloads.com"])]
    result = checked(tmp_path, INJECTED, sets=sets)
    matches = result.findings("ios.safari_history.indicator_match")
    assert [(f.evidence[0].locator.row, f.severity) for f in matches] == [(2, Severity.HIGH), (3, Severity.HIGH)]
    assert matches[0].title == (
        "A Safari visit involves the domain bun54l2b67.get1tn0w.free247downloads.com, named by a morocco indicator"
    )
    assert [(m.value, m.type, m.set_name) for m in matches[0].indicators] == [
        ("free247downloads.com", "domain-name:value", "morocco")
    ]


def test_profile_histories_are_read_too(tmp_path: Path) -> None:
    root = backup_with(
        tmp_path / "backup",
        [
            (
                "HomeDomain",
                "Library/Safari/Profiles/1F2E3D4C-0000-4000-8000-000000000001/History.db",
                SAFARI_HISTORY,
                history(INJECTED),
            ),
        ],
    )
    result = check(root)
    [finding] = result.findings("ios.safari_history.injected_redirect")
    assert (
        finding.evidence[0].locator.path
        == "HomeDomain/Library/Safari/Profiles/1F2E3D4C-0000-4000-8000-000000000001/History.db"
    )
