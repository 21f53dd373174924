"""Two clocks, one event: the window within which a phone's trace and a capture's trace are joined.

A backup's times come from the phone's clock (Safari's ``visit_time``, DataUsage's ``ZFIRSTTIMESTAMP``, in
Mac absolute time); a capture's from the clock of the machine that recorded it (pcap and pcapng packet
timestamps, UTC). Both are UTC, so time zones never enter. A phone sets its clock from the network (NTP,
the carrier's NITZ) and a sensor usually from NTP, so the two agree within a second; a clock left
unsynchronised drifts by its crystal's error, tens of parts per million (a few seconds a day).
``CLOCK_SKEW_SECONDS`` (two minutes) covers a clock unsynchronised for weeks, yet stays short beside
the minutes between two visits of one page, so that a later reload is not taken for the same event.
Every joined finding states the window and the difference it measured.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from vestige.model import Evidence, Locator

CLOCK_SKEW_SECONDS = 120.0
"""How far apart (either way) a phone's time and a capture's time of one event may be."""


def clock_difference(device: datetime, wire: datetime) -> float:
    """Seconds by which the phone's time of the event is later than the capture's (negative: earlier)."""
    return (device - wire).total_seconds()


def told_difference(seconds: float) -> str:
    """The difference of the two clocks as a sentence part: what the phone's clock read against the capture's."""
    if round(seconds, 3) == 0:
        return "the phone's time and the capture's agree to the millisecond"
    later = "later" if seconds > 0 else "earlier"
    return f"the phone's time is {abs(seconds):.3f} s {later} than the capture's"


def told_window(skew_seconds: float) -> str:
    return f"the ±{skew_seconds:g} s clock-skew window this join allows"


def cited(*groups: Iterable[Evidence]) -> tuple[Evidence, ...]:
    """The evidence of every group in order, each locator once (two findings joined often cite one file)."""
    seen: set[Locator] = set()
    out: list[Evidence] = []
    for group in groups:
        for evidence in group:
            if evidence.locator not in seen:
                seen.add(evidence.locator)
                out.append(evidence)
    return tuple(out)
