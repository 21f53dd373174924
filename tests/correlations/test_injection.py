"""The injection correlator: a Safari redirect (D1/D2) and a capture's race (D10/D11) for the same URL within the
clock-skew window become one finding citing the visits and the packets of both acquisitions."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.correlations.wire import (
    CAPTURE,
    HISTORY,
    NO_INDICATORS,
    race,
    race_finding,
    redirect,
    redirect_finding,
    visit,
)
from vestige.correlations.clocks import CLOCK_SKEW_SECONDS
from vestige.correlations.injection import InjectionOnDeviceAndWire
from vestige.ios.sample.demo import EXPLOIT_URL, INJECTION
from vestige.model import Finding, Record, Severity
from vestige.network.events import TcpRace

CORRELATOR = InjectionOnDeviceAndWire()
RULE = "correlation.injection_on_device_and_wire"


def joined(chain: list[Record], races: list[Record], judged: list[Finding] | None = None) -> list[Finding]:
    findings = [redirect_finding(chain), *(judged if judged is not None else [race_finding(r) for r in races])]
    kept = [r for r in [*chain, *races] if CORRELATOR.select(r)]
    return list(CORRELATOR.correlate(kept, findings, NO_INDICATORS))


def places(finding: Finding) -> list[tuple[int | None, str, int | None, int | None]]:
    return [(e.locator.acquisition, e.locator.path, e.locator.row, e.locator.packet) for e in finding.evidence]


def test_safari_following_a_forged_redirect_won_on_the_wire_is_critical() -> None:
    wire = race(INJECTION - timedelta(seconds=0.4125))
    [finding] = joined(redirect(), [wire])
    assert finding.rule == RULE
    assert finding.severity is Severity.CRITICAL
    assert finding.title == "Safari followed a redirect that a forged response injected on the wire"
    assert finding.time == INJECTION
    assert places(finding) == [
        (0, HISTORY, 102, None),
        (0, HISTORY, 103, None),
        (1, CAPTURE, None, 7),
        (1, CAPTURE, None, 8),
        (1, CAPTURE, None, 6),
    ]
    assert finding.evidence[2].excerpt == (
        "packet 7, arrived first at 2024-05-14T09:12:40.837500Z: "
        f"HTTP 302 Found, Location: {EXPLOIT_URL}, Content-Length: 0"
    )
    assert finding.explanation == (
        "On the phone, Safari recorded the visit to http://yahoo.fr/ at 2024-05-14T09:12:41.250000Z and its "
        f"redirect to {EXPLOIT_URL} (An http:// visit to yahoo.fr was redirected to another site, "
        "bun54l2b67.get1tn0w.free247downloads.com, a destination with traits of an injected redirect). "
        "In the capture, the phone's request for http://yahoo.fr/ on tcp 10.0.0.2:51000 -> 87.248.100.215:80 was "
        "answered twice at the same sequence numbers: packet 7 at 2024-05-14T09:12:40.837500Z arrived first (HTTP "
        f"302 Found, Location: {EXPLOIT_URL}, Content-Length: 0), packet 8 at 2024-05-14T09:12:40.868500Z after it "
        "(HTTP 200 OK, Content-Length: 5120); the capture's finding: A forged redirect won a TCP race. "
        "The URL Safari visited and the URL the phone requested are the same, http://yahoo.fr/. "
        f"The Location of the response that arrived first, {EXPLOIT_URL}, is the URL Safari visited next: Safari "
        "followed that response. "
        "Against the packet that arrived first, the phone's time is 0.412 s later than the capture's, within the "
        "±120 s clock-skew window this join allows."
    )


def test_a_race_the_capture_judged_no_forgery_pairs_as_high() -> None:
    wire = race()
    [finding] = joined(redirect(), [wire], [race_finding(wire, "network.tcp_race")])
    assert finding.severity is Severity.HIGH
    assert (
        finding.title
        == "Safari's redirect of an http:// visit to yahoo.fr and a TCP race in the capture for the same URL"
    )
    assert "the phone's time and the capture's agree to the millisecond" in finding.explanation


def test_a_forged_redirect_elsewhere_than_safari_went_pairs_as_high_and_says_so() -> None:
    [finding] = joined(redirect(), [race(location="http://portal.example.net/login")])
    assert finding.severity is Severity.HIGH
    assert (
        "The Location of the response that arrived first, http://portal.example.net/login, is not where Safari went "
        f"next ({EXPLOIT_URL}): the pairing rests on the request's URL and time alone." in finding.explanation
    )


def test_safari_going_where_the_response_that_arrived_second_pointed_is_said() -> None:
    [finding] = joined(redirect(), [race(location="http://portal.example.net/", second_location=EXPLOIT_URL)])
    assert finding.severity is Severity.HIGH
    assert (
        f"next ({EXPLOIT_URL}); Safari's next visit matches the Location of the response that arrived second, "
        f"{EXPLOIT_URL}." in finding.explanation
    )


def test_a_winning_response_without_a_location_pairs_as_high() -> None:
    [finding] = joined(redirect(), [race(location=None)])
    assert finding.severity is Severity.HIGH
    assert (
        f"The response that arrived first names no Location and Safari went on to {EXPLOIT_URL}: the pairing rests "
        "on the request's URL and time alone." in finding.explanation
    )


def test_the_same_host_as_the_location_counts_as_followed() -> None:
    [finding] = joined(redirect(), [race(location="https://bun54l2b67.get1tn0w.free247downloads.com:30495/other")])
    assert finding.severity is Severity.CRITICAL
    assert (
        "is on the host Safari visited next (https://bun54l2b67.get1tn0w.free247downloads.com:30495/szev4hz), though "
        "the URLs differ: Safari followed a redirect to the host that response named." in finding.explanation
    )


def test_the_window_is_the_stated_skew_either_way() -> None:
    assert CLOCK_SKEW_SECONDS == 120.0
    for offset, count in ((119.9, 1), (-119.9, 1), (120.1, 0), (-120.1, 0)):
        assert len(joined(redirect(), [race(INJECTION + timedelta(seconds=offset))])) == count, offset
    narrow = InjectionOnDeviceAndWire(skew_seconds=5.0)
    chain, wire = redirect(), race(INJECTION + timedelta(seconds=6))
    assert list(narrow.correlate([*chain, wire], [redirect_finding(chain), race_finding(wire)], NO_INDICATORS)) == []


def test_urls_are_compared_with_the_default_port_and_case_normalised_and_by_host_and_path() -> None:
    [same] = joined(redirect("http://YAHOO.fr/"), [race(url="http://yahoo.fr:80/")])
    assert "The URL Safari visited and the URL the phone requested are the same" in same.explanation
    [query] = joined(redirect("http://yahoo.fr/?ref=1"), [race(url="http://yahoo.fr/?ref=2")])
    assert (
        "The URL Safari visited, http://yahoo.fr/?ref=1, and the URL the phone requested, http://yahoo.fr/?ref=2, "
        "have the same host and path." in query.explanation
    )
    assert joined(redirect("http://yahoo.fr/news"), [race(url="http://yahoo.fr/")]) == []
    assert joined(redirect("http://yahoo.fr/"), [race(url="http://www.yahoo.fr/")]) == []


def test_a_race_no_finding_reported_is_never_joined() -> None:
    assert joined(redirect(), [race()], judged=[]) == []


def test_of_several_races_the_forged_one_for_the_same_url_nearest_in_time_is_cited() -> None:
    near_d10 = race(INJECTION + timedelta(seconds=1), first=20)
    far_d11 = race(INJECTION + timedelta(seconds=30), first=40)
    nearest_d11 = race(INJECTION - timedelta(seconds=3), first=60)
    other_query = race(INJECTION, url="http://yahoo.fr/?x", first=80)
    judged = [
        race_finding(near_d10, "network.tcp_race"),
        race_finding(far_d11),
        race_finding(nearest_d11),
        race_finding(other_query),
    ]
    [finding] = joined(redirect(), [near_d10, far_d11, nearest_d11, other_query], judged)
    assert [p[3] for p in places(finding) if p[3] is not None] == [60, 61, 6]


def test_select_keeps_only_what_can_join() -> None:
    chain = redirect()
    assert [CORRELATOR.select(r) for r in chain] == [True, True]
    assert CORRELATOR.select(visit(1, "http://yahoo.fr/", INJECTION, None, None)) is False  # no redirect
    assert CORRELATOR.select(visit(2, "https://yahoo.fr/", INJECTION, None, 3)) is False  # not clear text
    assert CORRELATOR.select(race()) is True
    assert CORRELATOR.select(race(to_client=False)) is False  # the client's own bytes: no forged response
    assert CORRELATOR.select(race(url=None)) is False  # no request to pair with a visit


def test_a_location_or_request_url_that_is_no_url_costs_only_the_comparison() -> None:
    [finding] = joined(redirect(), [race(location="http://[unclosed/")])
    assert finding.severity is Severity.HIGH
    assert "The Location of the response that arrived first, http://[unclosed/, is not where Safari went" in (
        finding.explanation
    )
    assert joined(redirect(), [race(url="http://[unclosed/")]) == []
    assert joined(redirect(), [race(url="http://yahoo.fr:99999/")]) == []


def test_a_relative_location_is_resolved_against_the_request() -> None:
    [finding] = joined(redirect("http://yahoo.fr/", "http://yahoo.fr.example/x"), [race(location="/x")])
    assert "The Location of the response that arrived first, http://yahoo.fr/x, is not where Safari went next" in (
        finding.explanation
    )


def test_a_segment_time_no_calendar_holds_costs_only_that_race() -> None:
    wire = race()
    tcp = wire.payload
    assert isinstance(tcp, TcpRace)
    far = 10**30  # a pcapng timestamp of the capture's own choosing
    unjoinable = replace(wire, payload=replace(tcp, first=replace(tcp.first, time_ns=far)))
    assert joined(redirect(), [unjoinable]) == []
    odd_second = replace(wire, payload=replace(tcp, second=replace(tcp.second, time_ns=far)))
    [finding] = joined(redirect(), [odd_second])
    assert f"packet 8 at {far} ns after the Unix epoch after it" in finding.explanation
