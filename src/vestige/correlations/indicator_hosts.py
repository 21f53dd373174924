"""One contact with an indicator's host seen twice: in the capture's traffic and in the phone's own records.

The capture's indicator matches (``network`` D15: a DNS name or answer, a TLS server name, an HTTP Host
or URL, a remote address named by an indicator, one finding per flow and indicator) say that something
on the network path contacted the host; a Safari visit or a DataUsage process named by an indicator
says the phone holds a trace of it. Joined, the capture's side is tied to this phone and the phone's
side to a moment on the wire.

Join rules, and why:

- a Safari visit's indicator match and a capture's indicator match that name the same indicator (type
  and value: the same host, domain or URL), within ``CLOCK_SKEW_SECONDS`` either way: the same
  visit, seen by the browser and on the wire (a DNS look-up, a TLS server name, an HTTP request);
- a DataUsage process's indicator match and a capture's indicator match of the same campaign (an
  indicator set's collection, such as Amnesty's ``Pegasus``, which names both the implant's process
  names and its servers), with the process's first use of the network within the window: DataUsage
  records which process used the network, never which host, so the join is of time and campaign and
  the finding says so.

The joins read the findings the artifacts made of their indicator matches (each cites its record and
carries its indicators and time), so no record is kept. The capture's matches are indexed by indicator
and by campaign and sorted by time: each of the phone's matches costs a look-up and a binary search per
indicator it carries. One finding per phone-side match cites every capture-side match in the window
(the nearest ``CITED_LIMIT``), and is critical: indicators name both sides.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from vestige.correlations.clocks import CLOCK_SKEW_SECONDS, cited, clock_difference, told_difference, told_window
from vestige.ios.artifacts import datausage, safari_history
from vestige.model import Finding, IndicatorLookup, IndicatorMatch, Record, Severity, format_time
from vestige.network.artifacts import traffic
from vestige.platforms import CHECK_SCOPE

WIRE_RULE = f"{traffic.NAME}.indicator_match"
"""The capture's indicator matches (D15)."""
SAFARI_RULE = f"{safari_history.NAME}.indicator_match"
DATAUSAGE_RULE = f"{datausage.NAME}.indicator_match"
CITED_LIMIT = 10
"""The most capture-side matches one finding cites (the nearest in time); the rest are counted."""

SAFARI_CAVEATS = (
    "Both sides are matches of one indicator: together they tie the capture to this phone's visit, but a visit "
    "to a host on an indicator list can have innocent causes (a link opened by mistake, a researcher's visit, a "
    "domain that changed owner).",
)
DATAUSAGE_CAVEATS = (
    "DataUsage records which process used the network and when it first did, never which host it contacted: "
    "the process and the capture's traffic are joined by time and campaign, not shown to be one connection.",
    "Process names are short and can be reused by legitimate software.",
)
CLOCK_CAVEAT = (
    "The two times come from two clocks, the phone's and the capture machine's; the pairing is of indicators and "
    "of times within the stated window."
)


def _indicator_key(match: IndicatorMatch) -> tuple[str, str, str]:
    return ("indicator", match.type, match.value)


def _campaign_key(match: IndicatorMatch) -> tuple[str, str, str]:
    return ("campaign", match.set_sha256, match.collection)


@dataclass(frozen=True, slots=True)
class _Hit:
    finding: Finding
    seconds: float


class _WireHits:
    """The capture's indicator matches by indicator and by campaign, each list sorted by time."""

    def __init__(self, findings: Iterable[Finding]) -> None:
        lists: dict[Hashable, list[_Hit]] = {}
        for finding in findings:
            if finding.rule != WIRE_RULE or finding.time is None:
                continue
            hit = _Hit(finding, finding.time.timestamp())
            keys = {_indicator_key(m) for m in finding.indicators} | {_campaign_key(m) for m in finding.indicators}
            for key in keys:
                lists.setdefault(key, []).append(hit)
        self._hits = {k: sorted(v, key=lambda h: (h.seconds, h.finding.id)) for k, v in lists.items()}
        self._times = {k: [h.seconds for h in v] for k, v in self._hits.items()}

    def __bool__(self) -> bool:
        return bool(self._hits)

    def near(self, keys: Iterable[Hashable], seconds: float, skew_seconds: float) -> list[_Hit]:
        """The hits under any of ``keys`` within the window around ``seconds``, nearest first."""
        found: dict[str, _Hit] = {}
        for key in keys:
            hits = self._hits.get(key)
            if not hits:
                continue
            times = self._times[key]
            low = bisect.bisect_left(times, seconds - skew_seconds)
            high = bisect.bisect_right(times, seconds + skew_seconds)
            for hit in hits[low:high]:
                found.setdefault(hit.finding.id, hit)
        return sorted(found.values(), key=lambda h: (abs(h.seconds - seconds), h.seconds, h.finding.id))


class IndicatorOnDeviceAndWire:
    """A capture's indicator match (D15) and the phone's Safari or DataUsage record of the same indicator."""

    NAME = "correlation.indicator_on_device_and_wire"
    VERSION = 1
    DESCRIPTION = (
        "An indicator match in the capture and a Safari visit (same indicator) or DataUsage process (same campaign) "
        "within the clock-skew window"
    )
    NEEDS: tuple[type, ...] = ()
    SCOPE = CHECK_SCOPE

    def __init__(self, skew_seconds: float = CLOCK_SKEW_SECONDS) -> None:
        self.skew_seconds = skew_seconds

    def select(self, record: Record) -> bool:
        """No record is kept: the artifacts' indicator-match findings cite theirs."""
        return False

    def correlate(
        self, records: Sequence[Record], findings: Sequence[Finding], indicators: IndicatorLookup
    ) -> Iterator[Finding]:
        wire = _WireHits(findings)
        if not wire:
            return
        for device in findings:
            if device.time is None or device.rule not in (SAFARI_RULE, DATAUSAGE_RULE):
                continue
            by_campaign = device.rule == DATAUSAGE_RULE
            key = _campaign_key if by_campaign else _indicator_key
            keys = {key(m) for m in device.indicators}
            hits = wire.near(keys, device.time.timestamp(), self.skew_seconds)
            if hits:
                yield self._finding(device, hits, keys, by_campaign)

    def _finding(
        self, device: Finding, hits: list[_Hit], keys: set[tuple[str, str, str]], by_campaign: bool
    ) -> Finding:
        assert device.time is not None
        key = _campaign_key if by_campaign else _indicator_key
        shown = hits[:CITED_LIMIT]
        wire_matches = {m for h in shown for m in h.finding.indicators if key(m) in keys}
        shared = {key(m) for m in wire_matches}
        device_matches = {m for m in device.indicators if key(m) in shared}
        nearest = shown[0].finding
        assert nearest.time is not None
        difference = clock_difference(device.time, nearest.time)
        host = max((m.value for m in wire_matches), key=lambda v: (len(v), v))
        named = {m.collection for m in wire_matches if m.collection != m.set_name}  # as MatchPolicy words it
        collections = " / ".join(sorted(named or {m.collection for m in wire_matches}))
        if by_campaign:
            process = min(m.value for m in device_matches)
            when = f"{abs(difference):.1f} s {'after' if difference >= 0 else 'before'}"
            title = (
                f"The process {process!r}, named by a {collections} indicator, first used the network {when} the "
                f"captured traffic involved {host}, named by the same campaign"
            )
            caveats: tuple[str, ...] = DATAUSAGE_CAVEATS
        else:
            title = (
                f"A Safari visit and the phone's captured traffic both involve {host}, named by a {collections} "
                "indicator"
            )
            caveats = SAFARI_CAVEATS
        told_hits = "; ".join(f"{h.finding.title} ({format_time(h.finding.time)})" for h in shown)
        more = f" ({len(hits) - len(shown)} more in the window are not cited)" if len(hits) > len(shown) else ""
        listed = "; ".join(
            sorted(
                {f"{m.type} '{m.value}' in {m.collection} (set {m.set_name})" for m in wire_matches | device_matches}
            )
        )
        explanation = " ".join(
            (
                f"On the phone: {device.title} ({format_time(device.time)}).",
                f"In the capture: {told_hits}{more}.",
                f"Against the nearest, {told_difference(difference)}, within {told_window(self.skew_seconds)}.",
                f"The indicators: {listed}.",
            )
        )
        matches = wire_matches | device_matches
        return Finding(
            rule=self.NAME,
            severity=Severity.CRITICAL,
            title=title,
            explanation=explanation,
            caveats=(*caveats, CLOCK_CAVEAT),
            evidence=cited(device.evidence, *(h.finding.evidence for h in shown)),
            indicators=tuple(sorted(matches, key=lambda m: (m.set_name, m.collection, m.type, m.value))),
            time=device.time,
        )
