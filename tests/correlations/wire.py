"""Records and findings of both sides, built as the iOS and network artifacts make them, for the correlator
tests: a Safari redirect chain (its D1/D2 finding made by ``safari_history.detect`` itself) in acquisition 0
and a capture's race (its record and finding as the traffic artifact shapes them) in acquisition 1."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from vestige.indicators.index import IndicatorIndex
from vestige.indicators.observables import observables_from_url
from vestige.ios.artifacts import safari_history
from vestige.ios.artifacts.safari_history import SafariVisit
from vestige.ios.sample.demo import EXPLOIT_URL, INJECTION, mac_seconds
from vestige.model import Evidence, Finding, IndicatorMatch, Locator, Record, Severity
from vestige.network.artifacts.traffic import moment
from vestige.network.events import Flow, HttpResponseHead, SegmentView, TcpRace

HISTORY = "HomeDomain/Library/Safari/History.db"
HISTORY_SHA = "a" * 64
CAPTURE = "capture.pcap"
CAPTURE_SHA = "b" * 64
FLOW = Flow("tcp", "10.0.0.2", 51000, "87.248.100.215", 80)
NO_INDICATORS = IndicatorIndex(())


def visit(visit_id: int, url: str, moment: datetime, source: int | None, destination: int | None) -> Record:
    """A Safari visit as ``safari_history.parse`` yields it, placed in acquisition 0."""
    return Record(
        artifact=safari_history.NAME,
        locator=Locator(HISTORY, HISTORY_SHA, "history_visits", visit_id, acquisition=0),
        time=moment,
        summary=f"Safari visit to {url}",
        payload=SafariVisit(visit_id, visit_id, url, mac_seconds(moment), source, destination, None, 1, 0, 0, 0),
        observables=observables_from_url(url),
        time_kind="visit time",
    )


def redirect(head_url: str = "http://yahoo.fr/", to: str = EXPLOIT_URL, at: datetime = INJECTION) -> list[Record]:
    """A redirect chain of two visits, 2.4 ms apart (as Safari stamps any redirect)."""
    return [visit(102, head_url, at, None, 103), visit(103, to, at + timedelta(microseconds=2400), 102, None)]


def redirect_finding(chain: list[Record]) -> Finding:
    [finding] = list(safari_history.detect(chain, NO_INDICATORS))
    return finding


def segment(packet: int, time_ns: int, head: bytes) -> SegmentView:
    return SegmentView(packet, time_ns, 64, 1, False, "FPA", 5_000_001, 1_079, 8192, "", len(head), head)


def response(status: int, location: str | None, length: int | None = 0) -> HttpResponseHead:
    return HttpResponseHead(status, "Found" if status == 302 else "OK", location, length, False)


def race(
    at: datetime = INJECTION,
    url: str | None = "http://yahoo.fr/",
    location: str | None = EXPLOIT_URL,
    first: int = 7,
    to_client: bool = True,
    second_location: str | None = None,
) -> Record:
    """The capture's race: the forged 302 (packet ``first``) and the genuine 200 (the next packet)."""
    time_ns = round(at.timestamp() * 1e6) * 1000
    forged = segment(first, time_ns, b"HTTP/1.1 302 Found\r\n")
    genuine = segment(first + 1, time_ns + 31_000_000, b"HTTP/1.1 200 OK\r\n")
    payload = TcpRace(
        FLOW,
        to_client,
        1,
        20,
        20,
        forged,
        genuine,
        None,
        "yahoo.fr",
        url,
        response(302, location),
        response(302, second_location) if second_location else response(200, None, 5120),
    )
    return Record(
        artifact="network.traffic",
        locator=Locator(CAPTURE, CAPTURE_SHA, packet=first, acquisition=1),
        time=moment(time_ns),
        summary=f"TCP race on {FLOW.text}",
        payload=payload,
        time_kind="packet time",
    )


def race_finding(record: Record, rule: str = "network.injected_response", request: int | None = 6) -> Finding:
    """The capture's finding on a race as the traffic artifact shapes it: both segments, then the request."""
    tcp = record.payload
    assert isinstance(tcp, TcpRace)
    packets = [tcp.first.packet, tcp.second.packet] + ([request] if request is not None else [])
    return Finding(
        rule=rule,
        severity=Severity.CRITICAL if rule == "network.injected_response" else Severity.HIGH,
        title="A forged redirect won a TCP race" if rule == "network.injected_response" else "A TCP race",
        explanation="...",
        caveats=(),
        evidence=tuple(Evidence(replace(record.locator, packet=p), f"packet {p}") for p in packets),
        time=record.time,
    )


PEGASUS = "amnesty/2021-07-18_nso/pegasus.stix2"
MOROCCO = "amnesty/2019-10-10_nso_morocco/domains.txt"
"""A plain list: its collection is the set itself."""


def match(value: str, kind: str = "domain-name:value", collection: str = "Pegasus") -> IndicatorMatch:
    """An indicator of the Pegasus STIX bundle (``collection`` "Pegasus"), or of the plain list ``MOROCCO``."""
    set_name = MOROCCO if collection == MOROCCO else PEGASUS
    return IndicatorMatch(value, kind, collection, set_name, ("d" if set_name == MOROCCO else "c") * 64)
