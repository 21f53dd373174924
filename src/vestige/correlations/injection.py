"""One injected redirect seen twice: in Safari's history on the phone, and as a TCP race in the capture.

An on-path injector answers the phone's clear-text request before the server does; the phone's TCP
keeps the forged bytes (a ``302`` to the exploit server) and drops the genuine reply that covers the same
sequence numbers. Safari records the request's URL and the redirect it followed (``safari_history`` D1/D2:
a cross-site redirect of an ``http://`` visit); the capture holds both replies (``network`` D10: the race,
D11: the winner is a redirect to another site, an empty body or script). Either trace alone can be argued
away (a site's own redirect; a capture of some other device). Joined, they are the device's and the
wire's record of one event: this module pairs them.

Join rule, and why:

- the redirect finding's first visit (the ``http://`` URL) and the race's request are the same URL
  (scheme, host in lower case, port with the scheme's default filled in, path and query), or at least
  the same host and path (a query string rewritten by a proxy or a tracking parameter must not hide the
  event; the finding says which);
- the visit's time is within ``CLOCK_SKEW_SECONDS`` of the time of the race's first segment, either way
  (two clocks; see ``clocks``); of several races for the URL in the window, the one with the same URL,
  judged D11, nearest in time is taken;
- the race is one the capture's detector reported (a ``network.tcp_race`` or
  ``network.injected_response`` finding citing its packets), in the server-to-client direction: a
  race it judged benign, or a client's own retransmission, is no forged response.

Where the redirect led is compared with the ``Location`` of the response that arrived first: the same
URL or host as Safari's next visit means Safari followed that response. The finding is critical when the
capture's side is D11 and Safari followed it, high otherwise (the URLs and times still pair, but either
the winner was not judged forged or Safari went elsewhere).

Records kept (``select``): Safari visits in a redirect chain (an ``http://`` source, or a destination),
and server-to-client races with a request URL. Races are indexed by host and path, then sorted by time,
so each redirect costs one dictionary look-up and a binary search.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin, urlsplit

from vestige.correlations.clocks import (
    CLOCK_SKEW_SECONDS,
    cited,
    clock_difference,
    told_difference,
    told_window,
)
from vestige.ios.artifacts.safari_history import REDIRECT_RULES, SafariVisit
from vestige.model import Evidence, Finding, IndicatorLookup, Locator, Record, Severity, format_time
from vestige.network.artifacts.traffic import INJECTED_RULE, RACE_RULE, moment
from vestige.network.events import HttpResponseHead, SegmentView, TcpRace
from vestige.platforms import CHECK_SCOPE, excerpt

DEFAULT_PORTS = {"http": 80, "https": 443}

SAME_URL, SAME_HOST, ELSEWHERE = "same URL", "same host", "elsewhere"

CAVEATS = (
    "The two times come from two clocks, the phone's and the capture machine's; the pairing is of the URL and of "
    "times within the stated window, and another request for the same URL within that window would pair the same "
    "way.",
    "A middlebox that rewrites clear-text traffic (a captive portal, an operator's proxy, a content filter) also "
    "races the server; where the redirect led tells a portal from an exploit server.",
    "Safari records a redirect whoever made it; the capture shows which response reached the phone first, and "
    "the phone's TCP keeps that one.",
)


@dataclass(frozen=True, slots=True)
class _Address:
    """A URL as the join compares it: scheme and host in lower case, the scheme's default port filled in."""

    scheme: str
    host: str
    port: int
    path: str
    query: str

    @property
    def place(self) -> tuple[str, str]:
        return (self.host, self.path)


def _address(url: str | None) -> _Address | None:
    if url is None:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # a port out of range or a bracketed host that is no address: no URL to compare
        return None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return None
    scheme = parts.scheme.lower()
    return _Address(scheme, host, port or DEFAULT_PORTS.get(scheme, 0), parts.path or "/", parts.query)


def _resolved(request_url: str | None, location: str | None) -> str | None:
    """A response's ``Location`` against the URL of the request it answered (it may be relative)."""
    if location is None:
        return None
    try:
        return urljoin(request_url or "", location)
    except ValueError:  # the forged bytes are the attacker's: an unclosed "[" makes no URL, and no exception
        return location


def _relation(one: _Address | None, other: _Address | None) -> str | None:
    if one is None or other is None:
        return None
    if one == other:
        return SAME_URL
    return SAME_HOST if one.host == other.host else ELSEWHERE


def _visit_url(record: Record) -> str | None:
    return record.payload.url if isinstance(record.payload, SafariVisit) else None


@dataclass(frozen=True, slots=True)
class _Race:
    """A race the capture's detector reported, with the finding that reported it."""

    record: Record
    race: TcpRace
    finding: Finding
    address: _Address
    time: datetime
    seconds: float

    @property
    def forged(self) -> bool:
        return self.finding.rule == INJECTED_RULE


class _Races:
    """The reported races, by the host and path of their request, each list sorted by time."""

    def __init__(self, records: Sequence[Record], findings: Sequence[Finding]) -> None:
        judged = _judged(findings)
        by_place: dict[tuple[str, str], list[_Race]] = {}
        for record in records:
            race = record.payload
            if not isinstance(race, TcpRace):
                continue
            address = _address(race.request_url)
            where = record.locator
            finding = judged.get((where.acquisition, where.path, race.first.packet)) or judged.get(
                (where.acquisition, where.path, race.second.packet)
            )
            time = moment(race.first.time_ns)  # None for a time no calendar holds: the capture's own bytes
            if address is None or finding is None or time is None:
                continue
            seconds = race.first.time_ns / 1e9
            by_place.setdefault(address.place, []).append(_Race(record, race, finding, address, time, seconds))
        self._by_place = {
            place: sorted(races, key=lambda r: (r.seconds, r.race.first.packet)) for place, races in by_place.items()
        }
        self._times = {place: [r.seconds for r in races] for place, races in self._by_place.items()}

    def __bool__(self) -> bool:
        return bool(self._by_place)

    def nearest(self, visit: _Address, moment: datetime, skew_seconds: float) -> _Race | None:
        """The race for ``visit``'s host and path within the window around ``moment``: the same URL first,
        then judged D11, then nearest in time."""
        races = self._by_place.get(visit.place)
        if not races:
            return None
        times = self._times[visit.place]
        start = moment.timestamp()
        low = bisect.bisect_left(times, start - skew_seconds)
        high = bisect.bisect_right(times, start + skew_seconds)
        return min(
            races[low:high],
            key=lambda r: (r.address != visit, not r.forged, abs(r.seconds - start), r.race.first.packet),
            default=None,
        )


def _judged(findings: Sequence[Finding]) -> dict[tuple[int | None, str, int], Finding]:
    """The capture's race findings by each packet they cite (a D11 finding before a D10 one)."""
    judged: dict[tuple[int | None, str, int], Finding] = {}
    for finding in findings:
        if finding.rule not in (RACE_RULE, INJECTED_RULE):
            continue
        for evidence in finding.evidence:
            where = evidence.locator
            if where.packet is None:
                continue
            key = (where.acquisition, where.path, where.packet)
            known = judged.get(key)
            if known is None or (finding.rule == INJECTED_RULE and known.rule != INJECTED_RULE):
                judged[key] = finding
    return judged


class InjectionOnDeviceAndWire:
    """A Safari redirect (D1/D2) and a TCP race in the capture (D10/D11) for the same URL at the same time."""

    NAME = "correlation.injection_on_device_and_wire"
    VERSION = 1
    DESCRIPTION = (
        "A cross-site redirect of an http:// visit in Safari and a TCP race in the capture for the same URL, "
        "within the clock-skew window"
    )
    NEEDS: tuple[type, ...] = (SafariVisit, TcpRace)
    SCOPE = CHECK_SCOPE

    def __init__(self, skew_seconds: float = CLOCK_SKEW_SECONDS) -> None:
        self.skew_seconds = skew_seconds

    def select(self, record: Record) -> bool:
        """Visits of a redirect chain (an ``http://`` source, or a destination) and races towards the client
        that answered a known request."""
        payload = record.payload
        if isinstance(payload, TcpRace):
            return payload.to_client and payload.request_url is not None
        if isinstance(payload, SafariVisit) and payload.url is not None:
            source = payload.redirect_destination is not None and payload.url[:7].lower() == "http://"
            return source or payload.redirect_source is not None
        return False

    def correlate(
        self, records: Sequence[Record], findings: Sequence[Finding], indicators: IndicatorLookup
    ) -> Iterator[Finding]:
        races = _Races(records, findings)
        if not races:
            return
        visits = {r.locator: r for r in records if isinstance(r.payload, SafariVisit)}
        for redirect in findings:
            if redirect.rule not in REDIRECT_RULES or not redirect.evidence:
                continue
            # The redirect finding cites its chain's visits first, head first (safari_history).
            chain = [visits[e.locator] for e in redirect.evidence if e.locator in visits]
            if len(chain) < 2 or chain[0].locator != redirect.evidence[0].locator or chain[0].time is None:
                continue
            visit = _address(_visit_url(chain[0]))
            race = races.nearest(visit, chain[0].time, self.skew_seconds) if visit is not None else None
            if race is not None:
                yield self._finding(redirect, chain, race)

    def _finding(self, redirect: Finding, chain: list[Record], race: _Race) -> Finding:
        head, destination = chain[0], chain[1]
        assert head.time is not None
        head_url, destination_url = _visit_url(head) or "", _visit_url(destination) or ""
        tcp = race.race
        winner = tcp.first_response
        location = _resolved(tcp.request_url, winner.location if winner else None)
        followed = _relation(_address(location), _address(destination_url))
        severity = Severity.CRITICAL if race.forged and followed in (SAME_URL, SAME_HOST) else Severity.HIGH
        if severity is Severity.CRITICAL:
            title = "Safari followed a redirect that a forged response injected on the wire"
        else:
            title = (
                f"Safari's redirect of an http:// visit to {race.address.host} and a TCP race in the capture for "
                "the same URL"
            )
        difference = clock_difference(head.time, race.time)
        explanation = " ".join(
            (
                f"On the phone, Safari recorded the visit to {head_url} at {format_time(head.time)} and its redirect "
                f"to {destination_url} ({redirect.title}).",
                f"In the capture, the phone's request for {tcp.request_url} on {tcp.flow.text} was answered twice "
                f"at the same sequence numbers: packet {tcp.first.packet} at {format_time(race.time)} arrived "
                f"first ({_told_response(winner, tcp.first)}), packet {tcp.second.packet} at "
                f"{_told_time(tcp.second.time_ns)} after it "
                f"({_told_response(tcp.second_response, tcp.second)}); the capture's finding: {race.finding.title}.",
                _told_urls(head_url, tcp.request_url or "", race.address == _address(head_url)),
                _told_destination(location, destination_url, followed, tcp),
                f"Against the packet that arrived first, {told_difference(difference)}, within "
                f"{told_window(self.skew_seconds)}.",
            )
        )
        indicators = {*redirect.indicators, *race.finding.indicators}
        return Finding(
            rule=self.NAME,
            severity=severity,
            title=title,
            explanation=explanation,
            caveats=CAVEATS,
            evidence=cited(
                redirect.evidence,
                (
                    _packet(race, tcp.first, winner, "arrived first"),
                    _packet(race, tcp.second, tcp.second_response, "arrived second"),
                ),
                race.finding.evidence,
            ),
            indicators=tuple(sorted(indicators, key=lambda m: (m.set_name, m.collection, m.type, m.value))),
            time=head.time,
        )


def _told_urls(visited: str, requested: str, same: bool) -> str:
    if same:
        return f"The URL Safari visited and the URL the phone requested are the same, {visited}."
    return (
        f"The URL Safari visited, {visited}, and the URL the phone requested, {requested}, have the same host and path."
    )


def _told_destination(location: str | None, destination: str, followed: str | None, race: TcpRace) -> str:
    """Where the winning response pointed against where Safari went next, and what that adds to the pairing."""
    alone = "the pairing rests on the request's URL and time alone"
    if location is None:
        return f"The response that arrived first names no Location and Safari went on to {destination}: {alone}."
    if followed == SAME_URL:
        return (
            f"The Location of the response that arrived first, {location}, is the URL Safari visited next: Safari "
            "followed that response."
        )
    if followed == SAME_HOST:
        return (
            f"The Location of the response that arrived first, {location}, is on the host Safari visited next "
            f"({destination}), though the URLs differ: Safari followed a redirect to the host that response named."
        )
    told = f"The Location of the response that arrived first, {location}, is not where Safari went next ({destination})"
    other = race.second_response.location if race.second_response else None
    if _relation(_address(_resolved(race.request_url, other)), _address(destination)) in (SAME_URL, SAME_HOST):
        return f"{told}; Safari's next visit matches the Location of the response that arrived second, {other}."
    return f"{told}: {alone}."


def _told_time(time_ns: int) -> str:
    return format_time(moment(time_ns)) or f"{time_ns} ns after the Unix epoch"


def _told_response(head: HttpResponseHead | None, segment: SegmentView) -> str:
    if head is None:
        return f"{segment.length} bytes that begin no HTTP response"
    told = f"HTTP {head.status} {head.reason}".rstrip()
    if head.location is not None:
        told += f", Location: {head.location}"
    if head.content_length is not None:
        told += f", Content-Length: {head.content_length}"
    if head.script:
        told += ", with script"
    return told


def _packet(race: _Race, segment: SegmentView, response: HttpResponseHead | None, role: str) -> Evidence:
    """The packet of one segment, as the capture's finding cites it when it does (with any byte offset)."""
    where = race.record.locator
    locator = next(
        (
            e.locator
            for e in race.finding.evidence
            if e.locator.packet == segment.packet
            and (e.locator.acquisition, e.locator.path) == (where.acquisition, where.path)
        ),
        Locator(where.path, where.sha256, acquisition=where.acquisition, packet=segment.packet),
    )
    text = f"packet {segment.packet}, {role} at {_told_time(segment.time_ns)}: {_told_response(response, segment)}"
    return Evidence(locator, excerpt(text))
