"""The indicator-host correlator: a capture's indicator match (D15) and the phone's Safari visit of the same
indicator, or DataUsage process of the same campaign, within the clock-skew window."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.correlations.wire import CAPTURE, HISTORY, MOROCCO, NO_INDICATORS, match
from vestige.correlations.indicator_hosts import CITED_LIMIT, IndicatorOnDeviceAndWire
from vestige.ios.sample.demo import INJECTION
from vestige.model import Evidence, Finding, IndicatorMatch, Locator, Severity

CORRELATOR = IndicatorOnDeviceAndWire()
RULE = "correlation.indicator_on_device_and_wire"
DATAUSAGE = "WirelessDomain/Library/Databases/DataUsage.sqlite"
HOST = "bun54l2b67.get1tn0w.free247downloads.com"
HOST_MATCHES = (match(HOST, collection=MOROCCO), match("free247downloads.com"))


def device(rule: str, path: str, table: str, row: int, at: datetime, matches: tuple[IndicatorMatch, ...]) -> Finding:
    return Finding(
        rule=rule,
        severity=Severity.HIGH,
        title=f"{table} row {row} matched",
        explanation="...",
        caveats=(),
        evidence=(Evidence(Locator(path, "a" * 64, table, row, acquisition=0), f"row {row}"),),
        indicators=matches,
        time=at,
    )


def safari(at: datetime = INJECTION, matches: tuple[IndicatorMatch, ...] = HOST_MATCHES) -> Finding:
    return device("ios.safari_history.indicator_match", HISTORY, "history_visits", 103, at, matches)


def process(at: datetime = INJECTION + timedelta(seconds=8)) -> Finding:
    return device("ios.datausage.indicator_match", DATAUSAGE, "ZPROCESS", 11, at, (match("bh", "process:name"),))


def wire(packet: int, at: datetime, matches: tuple[IndicatorMatch, ...] = HOST_MATCHES) -> Finding:
    return Finding(
        rule="network.traffic.indicator_match",
        severity=Severity.CRITICAL,
        title=f"Network traffic involves the domain {HOST} (packet {packet})",
        explanation="...",
        caveats=(),
        evidence=(Evidence(Locator(CAPTURE, "b" * 64, packet=packet, acquisition=1), f"packet {packet}"),),
        indicators=matches,
        time=at,
    )


def joined(*findings: Finding) -> list[Finding]:
    return list(CORRELATOR.correlate([], findings, NO_INDICATORS))


def places(finding: Finding) -> list[tuple[int | None, str, int | None, int | None]]:
    return [(e.locator.acquisition, e.locator.path, e.locator.row, e.locator.packet) for e in finding.evidence]


def test_a_safari_visit_and_a_lookup_of_the_same_indicator_are_one_critical_finding() -> None:
    lookup = wire(3, INJECTION - timedelta(seconds=0.05))
    [finding] = joined(safari(), lookup, wire(9, INJECTION + timedelta(seconds=121)))
    assert finding.rule == RULE
    assert finding.severity is Severity.CRITICAL
    assert finding.title == f"A Safari visit and the phone's captured traffic both involve {HOST}, named by a " + (
        "Pegasus indicator"
    )
    assert finding.time == INJECTION
    assert places(finding) == [(0, HISTORY, 103, None), (1, CAPTURE, None, 3)]
    assert finding.indicators == tuple(sorted(HOST_MATCHES, key=lambda m: (m.set_name, m.collection, m.type)))
    assert finding.explanation == (
        "On the phone: history_visits row 103 matched (2024-05-14T09:12:41.250000Z). In the capture: Network traffic "
        f"involves the domain {HOST} (packet 3) (2024-05-14T09:12:41.200000Z). Against the nearest, the phone's "
        "time is 0.050 s later than the capture's, within the ±120 s clock-skew window this join allows. The "
        "indicators: domain-name:value 'bun54l2b67.get1tn0w.free247downloads.com' in "
        "amnesty/2019-10-10_nso_morocco/domains.txt (set amnesty/2019-10-10_nso_morocco/domains.txt); "
        "domain-name:value "
        "'free247downloads.com' in Pegasus (set amnesty/2021-07-18_nso/pegasus.stix2)."
    )


def test_a_process_of_the_campaign_first_on_the_network_near_the_wire_hit_joins_by_campaign() -> None:
    [finding] = joined(process(), wire(3, INJECTION))
    assert finding.title == (
        "The process 'bh', named by a Pegasus indicator, first used the network 8.0 s after the captured traffic "
        "involved free247downloads.com, named by the same campaign"
    )
    assert places(finding) == [(0, DATAUSAGE, 11, None), (1, CAPTURE, None, 3)]
    assert [(m.value, m.type) for m in finding.indicators] == [
        ("free247downloads.com", "domain-name:value"),
        ("bh", "process:name"),
    ]
    assert finding.caveats[0].startswith("DataUsage records which process used the network")


def test_no_join_outside_the_window_or_without_a_shared_indicator_or_campaign() -> None:
    assert joined(safari(INJECTION + timedelta(seconds=120.5)), wire(3, INJECTION)) == []
    assert joined(safari(matches=(match("other.example"),)), wire(3, INJECTION)) == []
    other_campaign = (match(HOST, collection="Predator"),)
    assert joined(process(), wire(3, INJECTION, other_campaign)) == []
    assert joined(safari(), process()) == []  # no capture


def test_a_finding_cites_the_nearest_hits_and_counts_the_rest() -> None:
    hits = [wire(100 + n, INJECTION + timedelta(seconds=n)) for n in range(CITED_LIMIT + 2)]
    [finding] = joined(safari(INJECTION + timedelta(seconds=0.2)), *hits)
    assert [p[3] for p in places(finding)][1:] == [100, 101, 102, 103, 104, 105, 106, 107, 108, 109]
    assert "(2 more in the window are not cited)" in finding.explanation


def test_no_record_is_kept() -> None:
    assert CORRELATOR.NEEDS == ()
