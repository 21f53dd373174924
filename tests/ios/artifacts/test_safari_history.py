"""Safari History.db (schema 16, iOS 26.1): visits, redirect chains (D1/D2) and tombstones."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from tests.builders import T0, backup_with, check, plain_set
from vestige.indicators import bundled_sets
from vestige.ios.artifacts.safari_history import SafariVisit
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
    assert [r.payload.visit_id for r in records if isinstance(r.payload, SafariVisit)] == [1, 2, 3]
    first = records[0]
    assert first.locator.path == HISTORY
    assert (first.locator.table, first.locator.row) == ("history_visits", 1)
    assert first.time == T0
    assert first.time_kind == "visit time"
    assert first.summary == "Safari visit to http://yahoo.fr/"
    assert isinstance(first.payload, SafariVisit) and first.payload.redirect_destination == 2
    assert [(o.kind.value, o.value) for o in first.observables] == [("url", "http://yahoo.fr/"), ("domain", "yahoo.fr")]


def test_the_monjib_redirect_is_high_for_where_it_led_not_for_its_speed(tmp_path: Path) -> None:
    result = checked(tmp_path, INJECTED)
    [finding] = result.findings("ios.safari_history.injected_redirect")
    assert finding.severity is Severity.HIGH
    assert finding.title == (
        "An http:// visit to yahoo.fr was redirected to another site, bun54l2b67.get1tn0w.free247downloads.com, "
        "a destination with traits of an injected redirect"
    )
    assert [(e.locator.table, e.locator.row) for e in finding.evidence] == [
        ("history_visits", 1),
        ("history_visits", 2),
        ("history_visits", 3),
    ]
    assert finding.explanation.endswith(
        "Its destination is stamped 2.400 ms after the http:// visit. The destination host "
        "bun54l2b67.get1tn0w.free247downloads.com appears in no other visit of this history. Where it led has the "
        "traits of an injected redirect (network-injection detector D2): the host "
        "bun54l2b67.get1tn0w.free247downloads.com has random-looking labels (bun54l2b67, get1tn0w); the URL "
        "https://bun54l2b67.get1tn0w.free247downloads.com:30495/szev4hz uses the unusual port 30495; the same URL "
        "was visited again 4.2 s later with a long numeric fragment."
    )
    assert finding.indicators == ()
    assert finding.time == T0
    assert result.rules() == [
        "ios.safari_history.injected_redirect",
        "correlation.baseband_during_injection",  # with no baseband log, the rogue-station hypothesis untestable
        "ios.backup_info.outdated_ios",
    ]


HEAD = (1, "http://news-example.org/", 0.0, None, 2)


@pytest.mark.parametrize(
    ("destination", "reload", "trait"),
    [
        (
            "https://k3x9q2w7ab.zt8m4p1q.example.net/a/b",
            None,
            "the host k3x9q2w7ab.zt8m4p1q.example.net has random-looking labels (k3x9q2w7ab, zt8m4p1q)",
        ),
        (
            "https://www.example.net:30495/a/b",
            None,
            "the URL https://www.example.net:30495/a/b uses the unusual port 30495",
        ),
        (
            "https://www.example.net/szev4hz",
            "https://www.example.net/szev4hz#048634787343287485982474853012724998054718494423286",
            "the same URL was visited again 3.0 s later with a long numeric fragment",
        ),
    ],
)
def test_each_destination_trait_alone_makes_the_redirect_high(
    tmp_path: Path, destination: str, reload: str | None, trait: str
) -> None:
    visits: list[Visit] = [HEAD, (2, destination, 0.0003, 1, None)]
    if reload is not None:
        visits.append((3, reload, 3.0, None, None))
    [finding] = checked(tmp_path, visits).findings("ios.safari_history.injected_redirect")
    assert finding.severity is Severity.HIGH
    assert finding.explanation.endswith(f"(network-injection detector D2): {trait}.")


def test_an_indicator_on_any_hop_makes_the_redirect_high_and_is_cited(tmp_path: Path) -> None:
    sets = [plain_set("morocco", "domains", ["news-example.org"])]
    result = checked(tmp_path, [HEAD, (2, "https://www.example.net/", 0.0003, 1, None)], sets=sets)
    [finding] = result.findings("ios.safari_history.injected_redirect")
    assert finding.explanation.endswith(
        "(network-injection detector D2): the domain news-example.org is named by a morocco indicator (set morocco)."
    )
    assert [(m.value, m.type, m.set_name) for m in finding.indicators] == [
        ("news-example.org", "domain-name:value", "morocco")
    ]
    [match] = result.findings("ios.safari_history.indicator_match")
    assert match.evidence[0].locator.row == 1


def test_a_destination_seen_only_once_corroborates_but_does_not_decide(tmp_path: Path) -> None:
    result = checked(tmp_path, [HEAD, (2, "https://www.example.net/", 0.0003, 1, None)])
    [finding] = result.findings("ios.safari_history.cross_site_http_redirect")
    assert finding.severity is Severity.MEDIUM
    assert "The destination host www.example.net appears in no other visit of this history." in finding.explanation


def test_a_plain_cross_site_redirect_is_medium_and_names_the_ordinary_causes(tmp_path: Path) -> None:
    result = checked(
        tmp_path,
        [
            (1, "http://example.com/", 0.0, None, 2),
            (2, "https://www.iana.org/help/example-domains", 0.00031, 1, None),
            (3, "https://www.iana.org/domains", 120.0, None, None),
        ],
    )
    [finding] = result.findings("ios.safari_history.cross_site_http_redirect")
    assert finding.severity is Severity.MEDIUM
    assert finding.title == "An http:// visit to example.com was redirected to another site, www.iana.org"
    assert finding.explanation == (
        "Safari recorded a redirect chain: http://example.com/ (visit 1) -> "
        "https://www.iana.org/help/example-domains (visit 2). The unencrypted http:// visit to http://example.com/ "
        "led to another site, www.iana.org (registrable domain iana.org). Its destination is stamped 0.310 ms after "
        "the http:// visit. The destination host www.iana.org also appears in other visits of this history. An "
        "on-path attacker who injects a redirect into a clear-text request leaves such a chain, but so do ordinary "
        "sites; nothing about where it led marks an injection (network-injection detector D1)."
    )
    assert finding.caveats[0].startswith(
        "Sites redirect clear-text requests to other domains of their own every day: an organisation's typo or "
        "regional domains (foxnew.com to www.foxnews.com), link shorteners (bit.ly, t.co), sign-in hops"
    )
    assert finding.caveats[1].startswith("Safari stamps a redirect's destination within about a millisecond")


def test_speed_changes_no_verdict(tmp_path: Path) -> None:
    fast = checked(tmp_path / "fast", [HEAD, (2, "https://www.example.net/", 0.0002, 1, None)])
    slow = checked(tmp_path / "slow", [HEAD, (2, "https://www.example.net/", 0.9, 1, None)])
    [a] = fast.findings("ios.safari_history.cross_site_http_redirect")
    [b] = slow.findings("ios.safari_history.cross_site_http_redirect")
    assert (a.rule, a.severity, a.title) == (b.rule, b.severity, b.title)
    for finding in (a, b):
        assert "faster" not in finding.title + finding.explanation
        assert " ms" not in finding.title


def test_the_whole_chain_is_walked_past_a_same_site_upgrade(tmp_path: Path) -> None:
    result = checked(
        tmp_path,
        [
            (1, "http://news.example.org/a", 0.0, None, 2),
            (2, "https://news.example.org/a", 0.0002, 1, 3),
            (3, "https://cdn.tracker-example.net/x", 0.0005, 2, None),
        ],
    )
    [finding] = result.findings("ios.safari_history.cross_site_http_redirect")
    assert finding.title == (
        "An http:// visit to news.example.org was redirected to another site, cdn.tracker-example.net"
    )
    assert [e.locator.row for e in finding.evidence] == [1, 2, 3]


def test_hops_more_than_a_second_apart_and_a_day_plus_a_few_milliseconds_are_not_one_chain(tmp_path: Path) -> None:
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


def test_a_negative_delta_keeps_the_verdict_and_says_the_clock_moved(tmp_path: Path) -> None:
    result = checked(
        tmp_path, [(1, "http://example.com/", 0.0, None, 2), (2, "https://www.iana.org/", -0.005, 1, None)]
    )
    [finding] = result.findings("ios.safari_history.cross_site_http_redirect")
    assert finding.severity is Severity.MEDIUM
    assert "stamped 5.000 ms before the http:// visit, so the phone's clock moved in between" in finding.explanation


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


def test_a_tombstone_near_only_a_plain_cross_site_redirect_is_low_and_claims_no_injection(tmp_path: Path) -> None:
    plain = [
        (1, "http://example.com/", 0.0, None, 2),
        (2, "https://www.iana.org/help/example-domains", 0.0003, 1, None),
    ]
    result = checked(tmp_path, plain, tombstones=[(-60.0, 60.0)])
    [deleted] = result.findings("ios.safari_history.deleted_history")
    assert (deleted.severity, deleted.title) == (
        Severity.LOW,
        "Safari history was deleted around a cross-site HTTP redirect",
    )
    assert "inject" not in deleted.explanation


# An afternoon of ordinary browsing, with the redirect gaps measured in a real, benign History.db
# (docs/ios-formats.md section 2.4): same-site and cross-site redirects alike at 0.2 to 0.4 ms.
MINUTE = 60.0
BENIGN: list[Visit] = [
    (1, "https://www.lemonde.fr/", 0 * MINUTE, None, None),
    (2, "http://facebook.com/", 3 * MINUTE, None, 3),
    (3, "https://www.facebook.com/", 3 * MINUTE + 0.00026, 2, None),
    (4, "http://yahoo.com/", 9 * MINUTE, None, 5),
    (5, "https://www.yahoo.com/", 9 * MINUTE + 0.00027, 4, None),
    (6, "https://www.yahoo.com/news/weather-forecast-weekend.html", 10 * MINUTE, None, None),
    (7, "http://cnn.com/", 14 * MINUTE, None, 8),
    (8, "https://www.cnn.com/", 14 * MINUTE + 0.00026, 7, None),
    (9, "https://www.cnn.com/2024/05/14/politics/index.html", 15 * MINUTE, None, None),
    (10, "http://fox.com/", 21 * MINUTE, None, 11),
    (11, "https://www.fox.com/", 21 * MINUTE + 0.00030, 10, None),
    (12, "http://foxnew.com/", 22 * MINUTE, None, 13),
    (13, "https://www.foxnews.com/", 22 * MINUTE + 0.00036, 12, None),
    (14, "https://www.foxnews.com/politics", 23 * MINUTE, None, None),
    (15, "http://lyft.com/", 31 * MINUTE, None, 16),
    (16, "https://www.lyft.com/", 31 * MINUTE + 0.00021, 15, None),
    (17, "http://google.com/", 40 * MINUTE, None, 18),
    (18, "https://www.google.com/", 40 * MINUTE + 0.00031, 17, None),
    (19, "https://www.google.com/search?q=rabat+weather", 40 * MINUTE + 9.5, None, None),
    (20, "http://www.bbc.co.uk/news", 47 * MINUTE, None, 21),
    (21, "https://www.bbc.com/news", 47 * MINUTE + 0.00024, 20, None),
    (22, "http://bit.ly/3xYzAbC", 55 * MINUTE, None, 23),
    (23, "https://www.nytimes.com/2024/05/13/world/africa/morocco-journalists.html", 55 * MINUTE + 0.00033, 22, None),
    (24, "http://gmail.com/", 62 * MINUTE, None, 25),
    (25, "https://accounts.google.com/ServiceLogin?service=mail", 62 * MINUTE + 0.00028, 24, 26),
    (26, "https://mail.google.com/mail/u/0/", 62 * MINUTE + 0.00061, 25, None),
    (27, "http://x.co/m4ps", 70 * MINUTE, None, 28),
    (28, "https://d2v9ipibika81v.cloudfront.net/maps/rabat.html", 70 * MINUTE + 0.00022, 27, None),
    (29, "https://t.co/Qx7Lm2", 78 * MINUTE, None, 30),
    (30, "https://www.hespress.com/politique", 78 * MINUTE + 0.00025, 29, None),
    (31, "https://en.wikipedia.org/wiki/Rabat", 85 * MINUTE, None, None),
    (32, "https://www.lemonde.fr/international/", 92 * MINUTE, None, None),
]


def test_a_realistic_benign_history_gives_nothing_above_medium(tmp_path: Path) -> None:
    result = checked(tmp_path, BENIGN, sets=bundled_sets())
    found = [(f.severity.label, f.rule, f.title) for f in result.result.findings if f.rule.startswith("ios.safari")]
    assert found == [
        (
            "medium",
            "ios.safari_history.cross_site_http_redirect",
            "An http:// visit to foxnew.com was redirected to another site, www.foxnews.com",
        ),
        (
            "medium",
            "ios.safari_history.cross_site_http_redirect",
            "An http:// visit to bit.ly was redirected to another site, www.nytimes.com",
        ),
        (
            "medium",
            "ios.safari_history.cross_site_http_redirect",
            "An http:// visit to gmail.com was redirected to another site, accounts.google.com",
        ),
        (
            "medium",
            "ios.safari_history.cross_site_http_redirect",
            "An http:// visit to x.co was redirected to another site, d2v9ipibika81v.cloudfront.net",
        ),
    ]
    assert len(result.artifact_records("ios.safari_history")) == 32


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
