"""The defence's hypothesis, tested on the phone's own signalling log: could a rogue base station have made this
injection?

A fake base station (an "IMSI catcher") can read or change a phone's traffic only once it has pulled the phone
onto a network that does not authenticate itself to the phone, or that does not cipher: GSM (2G has no mutual
authentication; 3GPP TS 43.020), or LTE/UMTS with null ciphering (eea0, UEA0) or null integrity (eia0; TS
33.401 allows it only for unauthenticated emergency calls). LTE and 5G with AKA, integrity and EEA1-3 on the
phone's usual cell leave it no way in without the subscriber's key. So for every injection or injected-redirect
finding of a check (``network`` D10/D11, ``safari_history`` D1/D2), this module reads what the baseband log
(the ``cellular`` signalling artifact: ``cellular.records``) shows in ``WINDOW_SECONDS`` either side of the
injection's time. (The pairing of both by ``injection`` is tested too when it reaches this correlator; the
engine gives correlators the artifacts' findings only, so today each side of a paired injection is tested
on its own.) It reads:

- the serving cell at that time (RAT, PLMN, area, cell, channel; the last ``CellChange`` before it, else the
  ``CellBaseline`` whose span holds it);
- the ciphering and integrity in force (the last ``SecurityContext`` of each layer before the window) or put
  in force within it;
- cell changes, whether the serving cell was first seen within it (``CellBaseline.first_time_ns``) and never
  put integrity in force (one that did protected its security mode command with keys from AKA: it is the
  phone's network), requests for the IMSI, and the ``cellular.*`` findings of medium or higher severity (the
  rogue-station detectors).

The finding (one per injection finding) says which of three things the log shows, and cites every record
it used (each locator names its acquisition in a check of several):

- consistent with a rogue station (medium: it supports the defence's alternative, and is itself a concern):
  GSM, null ciphering or integrity, a serving cell first seen in the window (and never integrity-protected),
  an IMSI request, or a rogue-station finding;
- arguing against it (info): LTE or NR with integrity and EEA1-3 in force on a cell seen before the window
  opened and after it closed, no cell change, and none of the above;
- neither (info): a log that covers the time without showing either (no security mode command seen, a cell
  change), said as seen;
- untestable (info): no baseband log in the check, a log that does not cover the injection's time, or an
  injection without a time.

The window is wider than ``clocks.CLOCK_SKEW_SECONDS`` (the modem's clock, set by the network, and the
capture's or phone's clock each may be off), yet short beside a phone's stay on one cell when it does not move.

Records kept (``select``): security contexts, cell changes, cell baselines and log summaries (one per log),
and signalling records of IMSI requests; each kind sorted by time once, so that each injection costs a
few binary searches.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from vestige.cellular.frames import GSM, LTE, NR, Cell
from vestige.cellular.gsm import IdentityRequest
from vestige.cellular.lte import EmmIdentityRequest
from vestige.cellular.records import CellBaseline, CellChange, Decoded, LogSummary, SecurityContext, Signalling
from vestige.correlations.clocks import CLOCK_SKEW_SECONDS, cited
from vestige.correlations.injection import InjectionOnDeviceAndWire
from vestige.ios.artifacts.safari_history import REDIRECT_RULES
from vestige.model import Evidence, Finding, IndicatorLookup, Record, Severity, format_time
from vestige.network.artifacts.traffic import INJECTED_RULE, RACE_RULE
from vestige.platforms import CHECK_SCOPE, excerpt

WINDOW_SECONDS = 300.0
"""How far either side of an injection's time the log is read: wider than the clock skew two clocks may
have (``CLOCK_SKEW_SECONDS``), short beside a stationary phone's stay on one cell."""
CITED_LIMIT = 10
"""The most records of one kind (changes, contexts, requests, new cells, rogue findings) a finding cites;
the rest are counted."""

ROGUE_PREFIX = "cellular."
ROGUE_SEVERITY = Severity.MEDIUM
"""The ``cellular.*`` findings that count as a rogue-station finding: medium or above (informational
ones, an IMEISV request or an incomplete SIB1, are common on benign networks)."""

INJECTION_NOUNS = {
    RACE_RULE: "a TCP race",
    INJECTED_RULE: "an injected response",
    REDIRECT_RULES[0]: "an injected redirect in Safari",
    REDIRECT_RULES[1]: "a cross-site redirect of an http:// visit in Safari",
    InjectionOnDeviceAndWire.NAME: "an injection seen on the phone and on the wire",
}
"""The findings tested, and how a title names each."""

NULL_CIPHERING = frozenset({"eea0", "nea0", "uea0", "gea0", "a5/0", "none"})
NULL_INTEGRITY = frozenset({"eia0", "nia0", "uia0"})
STRONG_CIPHERING = frozenset({"eea1", "eea2", "eea3", "nea1", "nea2", "nea3"})
STRONG_INTEGRITY = frozenset({"eia1", "eia2", "eia3", "nia1", "nia2", "nia3"})
PROVEN_INTEGRITY = STRONG_INTEGRITY | {"uia1", "uia2"}
"""Integrity a cell put in force: its security mode command was protected with keys from AKA, which a station
without the subscriber's key cannot derive, so the cell belongs to the phone's network."""
IMSI_TYPE = 1
AUTHENTICATED_RATS = frozenset({LTE, NR})
AS, NAS = "AS", "NAS"

CONSISTENT, AGAINST, NEITHER, UNTESTABLE = "consistent", "against", "neither", "untestable"

CAVEATS = (
    f"The log's times come from the modem's clock, the injection's from the capture machine's or the phone's; the "
    f"window (±{WINDOW_SECONDS:g} s) is wider than the ±{CLOCK_SKEW_SECONDS:g} s two synchronised clocks may differ "
    "by, and what lies near its edges may belong to another connection.",
    "A baseband log shows the cellular link only: if the phone's traffic went over Wi-Fi then, or the injection was "
    "made beyond the radio link (in the operator's network or on the Internet), the log neither supports nor "
    "refutes it.",
)
CONSISTENT_CAVEATS = (
    "2G, null ciphering, new cells and IMSI requests also occur on benign networks (operators that use eea0, "
    "fallback to 2G for calls, a phone on the move, a network that lost the phone's temporary identity): that the "
    "log is consistent with a rogue base station does not show that one was there.",
)
AGAINST_CAVEATS = (
    "The log is what the modem reported: it argues against a rogue base station on the radio link, not against "
    "an injection elsewhere on the path.",
)
UNTESTABLE_CAVEATS = (
    "A baseband log of the same period (a QMDL or mi2log from the phone's modem, or a GSMTAP capture) would let "
    "this hypothesis be tested.",
)


Log = tuple[int | None, str]
"""A log: its acquisition's position (None in a check of one) and its path."""


_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _seconds(moment: datetime) -> float:
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)).timestamp()


def _told_ns(time_ns: int | None) -> str:
    if time_ns is None:
        return "an unknown time"
    try:
        return format_time(_UNIX_EPOCH + timedelta(microseconds=time_ns // 1000)) or str(time_ns)
    except OverflowError:  # a time no calendar holds: the log's own bytes
        return f"{time_ns} ns after the Unix epoch"


def _told_seconds(seconds: float) -> str:
    try:
        return format_time(_UNIX_EPOCH + timedelta(microseconds=round(seconds * 1e6))) or str(seconds)
    except (OverflowError, ValueError):  # a time no calendar holds: the log's own bytes
        return f"{seconds:.6f} s after the Unix epoch"


def _listed(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _same_cell(one: Cell, other: Cell) -> bool:
    """The same cell as far as both say: the same RAT, and every part both give equal (at least one)."""
    if one.rat != other.rat:
        return False
    pairs = [
        (one.plmn, other.plmn),
        (one.area, other.area),
        (one.cell_id, other.cell_id),
        (one.channel_number, other.channel_number),
        (one.cell_index, other.cell_index),
    ]
    known = [(a, b) for a, b in pairs if a is not None and b is not None]
    return bool(known) and all(a == b for a, b in known)


def _log(record: Record) -> Log:
    return (record.locator.acquisition, record.locator.path)


def _layer(record: Record) -> str:
    return record.payload.security.layer if isinstance(record.payload, SecurityContext) else ""


@dataclass(frozen=True, slots=True)
class _Timed:
    """Records of one kind, sorted by time, with their times in seconds for binary searches."""

    records: tuple[Record, ...]
    times: tuple[float, ...]

    @classmethod
    def of(cls, records: Iterable[Record]) -> _Timed:
        dated = sorted((r for r in records if r.time is not None), key=_record_order)
        return cls(tuple(dated), tuple(_seconds(r.time) for r in dated if r.time is not None))

    def between(self, start: float, end: float) -> tuple[Record, ...]:
        return self.records[bisect.bisect_left(self.times, start) : bisect.bisect_right(self.times, end)]

    def last_before(self, moment: float, inclusive: bool = True) -> Record | None:
        """The latest record at (``inclusive``) or before ``moment``."""
        index = (bisect.bisect_right if inclusive else bisect.bisect_left)(self.times, moment)
        return self.records[index - 1] if index else None


def _by_key(records: Iterable[Record], key: Callable[[Record], Hashable]) -> dict[Hashable, _Timed]:
    grouped: dict[Hashable, list[Record]] = {}
    for record in records:
        grouped.setdefault(key(record), []).append(record)
    return {k: _Timed.of(group) for k, group in grouped.items()}


def _in_order(records: Iterable[Record]) -> tuple[Record, ...]:
    return tuple(sorted(records, key=_record_order))


def _record_order(record: Record) -> tuple[float, int, str, int]:
    moment = _seconds(record.time) if record.time is not None else 0.0
    return (moment, record.locator.acquisition or 0, record.locator.path, _number(record))


def _number(record: Record) -> int:
    payload = record.payload
    return payload.number if isinstance(payload, Signalling | SecurityContext | CellChange) else 0


@dataclass(frozen=True, slots=True)
class _Span:
    """What one log covers: its first and last time, in seconds."""

    start: float
    end: float


@dataclass(frozen=True, slots=True)
class _Seen:
    """What the log shows around one injection."""

    covering: tuple[Log, ...]
    serving: Cell | None
    serving_record: Record | None
    serving_baseline: Record | None
    """The ``CellBaseline`` record of the serving cell."""
    contexts: tuple[Record, ...]
    changes: tuple[Record, ...]
    identity_requests: tuple[Record, ...]
    new_cells: tuple[Record, ...]
    rogue: tuple[Finding, ...]


class _Baseband:
    """The baseband logs of a check: their records by kind, sorted by time, and their rogue-station findings."""

    def __init__(self, records: Sequence[Record], findings: Sequence[Finding]) -> None:
        self.logs = sorted(
            {_log(r) for r in records if isinstance(r.payload, LogSummary | CellBaseline)},
            key=lambda log: (log[0] or 0, log[1]),
        )
        self.baselines = [r for r in records if isinstance(r.payload, CellBaseline)]
        # each kind by log (and contexts by layer too), so that "the last before" is one binary search
        self.changes = _by_key((r for r in records if isinstance(r.payload, CellChange)), _log)
        self.contexts = _by_key(
            (r for r in records if isinstance(r.payload, SecurityContext)), lambda r: (_log(r), _layer(r))
        )
        self.requests = _by_key((r for r in records if isinstance(r.payload, Signalling)), _log)
        rogue = [f for f in findings if f.rule.startswith(ROGUE_PREFIX) and f.severity >= ROGUE_SEVERITY and f.time]
        self.rogue = sorted(rogue, key=lambda f: (_seconds(f.time) if f.time else 0.0, f.rule, f.id))
        self.rogue_times = [_seconds(f.time) for f in self.rogue if f.time is not None]
        self.spans = self._spans()

    def _spans(self) -> dict[Log, _Span]:
        times: dict[Log, list[float]] = {}
        for record in self.baselines:
            baseline = record.payload
            assert isinstance(baseline, CellBaseline)
            for time_ns in (baseline.first_time_ns, baseline.last_time_ns):
                if time_ns is not None:
                    times.setdefault(_log(record), []).append(time_ns / 1e9)
        for timed in (*self.changes.values(), *self.contexts.values(), *self.requests.values()):
            for record, seconds in zip(timed.records, timed.times, strict=True):
                times.setdefault(_log(record), []).append(seconds)
        return {log: _Span(min(values), max(values)) for log, values in times.items()}

    def covering(self, start: float, end: float) -> tuple[Log, ...]:
        return tuple(
            log
            for log in self.logs
            if log in self.spans and self.spans[log].start <= end and self.spans[log].end >= start
        )

    def seen(self, moment: float, window: float) -> _Seen | None:
        start, end = moment - window, moment + window
        covering = self.covering(start, end)
        if not covering:
            return None
        logs = set(covering)
        changes = [t for log, t in self.changes.items() if log in logs]
        contexts = [t for key, t in self.contexts.items() if isinstance(key, tuple) and key[0] in logs]
        requests = [t for log, t in self.requests.items() if log in logs]
        latest = [r for t in changes if (r := t.last_before(moment)) is not None]
        serving_record = max(latest, key=_record_order, default=None)
        serving: Cell | None = None
        if serving_record is not None:
            assert isinstance(serving_record.payload, CellChange)
            serving = serving_record.payload.current
        baselines = [r for r in self.baselines if _log(r) in logs]
        serving_baseline = self._baseline_at(baselines, serving, moment)
        if serving is None and serving_baseline is not None:
            serving = _baseline(serving_baseline).cell
        return _Seen(
            covering=covering,
            serving=serving,
            serving_record=serving_record,
            serving_baseline=serving_baseline,
            contexts=(
                *_in_order(r for t in contexts if (r := t.last_before(start, inclusive=False)) is not None),
                *_in_order(r for t in contexts for r in t.between(start, end)),
            ),
            changes=_in_order(r for t in changes for r in t.between(start, end)),
            identity_requests=_in_order(r for t in requests for r in t.between(start, end)),
            new_cells=self._new_cells(baselines, serving, start, end),
            rogue=tuple(
                self.rogue[bisect.bisect_left(self.rogue_times, start) : bisect.bisect_right(self.rogue_times, end)]
            ),
        )

    @staticmethod
    def _baseline_at(baselines: list[Record], serving: Cell | None, moment: float) -> Record | None:
        """The baseline of the serving cell, or (none known) of the cell whose span holds ``moment``."""
        for record in baselines:
            baseline = record.payload
            assert isinstance(baseline, CellBaseline)
            if serving is not None:
                if _same_cell(baseline.cell, serving):
                    return record
                continue
            first, last = baseline.first_time_ns, baseline.last_time_ns
            if first is not None and last is not None and first / 1e9 <= moment <= last / 1e9:
                return record
        return None

    def _new_cells(self, baselines: list[Record], serving: Cell | None, start: float, end: float) -> tuple[Record, ...]:
        """The serving cell when it was first seen within the window, unless it was the first cell of its log
        (nothing was seen before it) or proved that it belongs to the phone's network (integrity put in force on
        it). Only the serving cell counts: the traffic went through it, and a phone reads the broadcasts of many
        cells it never uses (a log of attach cycles shows a dozen new ones in ten minutes)."""
        if serving is None:
            return ()
        found = []
        for record in baselines:
            baseline = record.payload
            assert isinstance(baseline, CellBaseline)
            if not _same_cell(baseline.cell, serving):
                continue
            span = self.spans.get(_log(record))
            first = baseline.first_time_ns
            if first is None or span is None or first / 1e9 <= span.start:
                continue
            # the baseline names each as its layer and algorithm ("AS eia2")
            if any(i.split()[-1].lower() in PROVEN_INTEGRITY for i in baseline.integrity if i.split()):
                continue
            if start <= first / 1e9 <= end:
                found.append(record)
        return tuple(sorted(found, key=lambda r: (getattr(r.payload, "first_time_ns", 0) or 0, r.locator.path)))


def _asks_imsi(message: Decoded) -> bool:
    """An identity request for the IMSI (EMM, MM or GMM; TS 24.301 9.9.3.12, 24.008 10.5.5.9): what a catcher
    asks. A request for the IMEI or IMEISV after authentication is an operator's routine check (Sprint's logs
    hold dozens), so it is no sign here."""
    return isinstance(message, EmmIdentityRequest | IdentityRequest) and message.identity_type == IMSI_TYPE


def _security(record: Record) -> SecurityContext:
    assert isinstance(record.payload, SecurityContext)
    return record.payload


def _algorithms(contexts: Iterable[Record]) -> list[str]:
    """The distinct ciphering algorithms, then the integrity algorithms, of ``contexts``."""
    ciphering = sorted({_security(r).security.ciphering for r in contexts})
    integrity = sorted({i for r in contexts if (i := _security(r).security.integrity) is not None})
    return [*ciphering, *integrity]


def _told_security(context: SecurityContext) -> str:
    integrity = f", integrity {context.security.integrity}" if context.security.integrity else ""
    return f"{context.security.layer} ciphering {context.security.ciphering}{integrity}"


def _null(context: SecurityContext) -> bool:
    integrity = (context.security.integrity or "").lower()
    return context.security.ciphering.lower() in NULL_CIPHERING or integrity in NULL_INTEGRITY


def _strong(context: SecurityContext) -> bool:
    return (
        context.security.ciphering.lower() in STRONG_CIPHERING
        and (context.security.integrity or "").lower() in STRONG_INTEGRITY
    )


def _time_of(record: Record) -> str:
    return format_time(record.time) or "an unknown time"


class BasebandDuringInjection:
    """What the baseband log shows around each injection: consistent with a rogue base station, or not."""

    NAME = "correlation.baseband_during_injection"
    VERSION = 1
    DESCRIPTION = (
        "For each injection or injected redirect, what the baseband log shows around it (serving cell, ciphering "
        "and integrity, cell changes, IMSI requests, rogue-station findings), against the hypothesis of a "
        "rogue base station"
    )
    NEEDS: tuple[type, ...] = (Signalling, SecurityContext, CellChange, CellBaseline, LogSummary)
    SCOPE = CHECK_SCOPE

    def __init__(self, window_seconds: float = WINDOW_SECONDS) -> None:
        self.window_seconds = window_seconds

    def select(self, record: Record) -> bool:
        """Security contexts, cell changes, baselines, the summaries of logs with signalling, and of the signalling,
        IMSI requests."""
        payload = record.payload
        if isinstance(payload, Signalling):
            return _asks_imsi(payload.message)
        if isinstance(payload, LogSummary):
            # the signalling artifact reads every capture of a check; one with no signalling is no baseband log
            return payload.frames > 0
        return isinstance(payload, SecurityContext | CellChange | CellBaseline)

    def correlate(
        self, records: Sequence[Record], findings: Sequence[Finding], indicators: IndicatorLookup
    ) -> Iterator[Finding]:
        injections = [f for f in findings if f.rule in INJECTION_NOUNS]
        if not injections:
            return
        baseband = _Baseband(records, findings)
        for injection in injections:
            yield self._finding(injection, baseband)

    def _finding(self, injection: Finding, baseband: _Baseband) -> Finding:
        noun = INJECTION_NOUNS[injection.rule]
        opening = f"{injection.title} ({injection.rule}, at {format_time(injection.time) or 'no known time'})."
        if not baseband.logs:
            return self._untestable(
                injection,
                f"{noun} came through a rogue base station cannot be tested: no baseband log in this check",
                opening,
                "The check holds no baseband log, so what the phone's modem was camped on at that time is not known.",
            )
        if injection.time is None:
            return self._untestable(
                injection,
                f"{noun} came through a rogue base station cannot be tested: it has no time",
                opening,
                "The injection has no time, so no part of the baseband log can be placed beside it.",
            )
        moment = _seconds(injection.time)
        seen = baseband.seen(moment, self.window_seconds)
        if seen is None:
            spans = (
                "; ".join(
                    f"{path} from {_told_seconds(span.start)} to {_told_seconds(span.end)}"
                    for (_, path), span in (
                        (log, baseband.spans[log]) for log in baseband.logs if log in baseband.spans
                    )
                )
                or "no dated message"
            )
            return self._untestable(
                injection,
                f"{noun} came through a rogue base station cannot be tested: the baseband log does not cover its time",
                opening,
                f"The baseband log covers {spans}: nothing of it falls within ±{self.window_seconds:g} s of the "
                "injection.",
            )
        return self._judged(injection, noun, opening, seen, moment)

    def _untestable(self, injection: Finding, why: str, opening: str, reason: str) -> Finding:
        return Finding(
            rule=self.NAME,
            severity=Severity.INFO,
            title=f"Whether {why}",
            explanation=" ".join(
                (
                    opening,
                    reason,
                    "Whether a rogue base station carried this injection (the hypothesis that a device mimicking "
                    "the network did it) cannot be tested from the evidence given.",
                )
            ),
            caveats=UNTESTABLE_CAVEATS,
            evidence=injection.evidence,
            time=injection.time,
        )

    def _judged(self, injection: Finding, noun: str, opening: str, seen: _Seen, moment: float) -> Finding:
        caveats: tuple[str, ...]
        signs = _consistent_signs(seen)
        against = not signs and _argues_against(seen, moment, self.window_seconds)
        verdict = CONSISTENT if signs else AGAINST if against else NEITHER
        if verdict == CONSISTENT:
            title = f"Around {noun}, the baseband log shows {_listed(signs)}"
            severity = Severity.MEDIUM
            caveats = CAVEATS + CONSISTENT_CAVEATS
            conclusion = (
                "A rogue base station can tamper with traffic only after pulling the phone onto a network without "
                "mutual authentication or without ciphering (2G, or null ciphering); what the log shows here is "
                f"consistent with that hypothesis: {_listed(signs)}."
            )
        elif verdict == AGAINST:
            assert seen.serving is not None
            strong = ", ".join(_algorithms(seen.contexts))
            title = (
                f"Around {noun}, the baseband log shows ciphered {seen.serving.rat} ({strong}) on a cell seen before "
                "and after it, with no cell change"
            )
            severity = Severity.INFO
            caveats = CAVEATS + AGAINST_CAVEATS
            conclusion = (
                "A rogue base station can tamper with traffic only after pulling the phone onto a network without "
                "mutual authentication or without ciphering (2G, or null ciphering); the log shows the phone on "
                f"{seen.serving.rat} with {strong} in force on a cell it was on before the window opened and after it "
                "closed, with no cell change, no IMSI request and no rogue-station finding, which argues "
                "against that hypothesis."
            )
        else:
            missing = _missing(seen, moment, self.window_seconds)
            title = (
                f"Around {noun}, the baseband log shows {_state(seen)}: neither a downgrade nor a ciphered cell held "
                "throughout"
            )
            severity = Severity.INFO
            caveats = CAVEATS
            conclusion = (
                "The log shows no 2G, null ciphering, new cell, IMSI request or rogue-station finding in the "
                f"window, but does not argue against a rogue base station either: {_listed(missing)}."
            )
        return Finding(
            rule=self.NAME,
            severity=severity,
            title=title,
            explanation=" ".join((opening, *self._seen_sentences(seen), conclusion)),
            caveats=caveats,
            evidence=cited(injection.evidence, _cited_records(seen), _cited_findings(seen.rogue)),
            time=injection.time,
        )

    def _seen_sentences(self, seen: _Seen) -> list[str]:
        logs = _listed([path for _, path in seen.covering])
        cover = f"The baseband logs {logs} cover" if len(seen.covering) > 1 else f"The baseband log {logs} covers"
        sentences = [f"{cover} the ±{self.window_seconds:g} s around it."]
        if seen.serving is not None:
            since = f" (since {_time_of(seen.serving_record)})" if seen.serving_record is not None else ""
            sentences.append(f"The phone was camped on {seen.serving.text}{since}.")
        else:
            sentences.append("The log names no serving cell at that time.")
        if seen.contexts:
            contexts = [
                f"{_told_security(_security(r))} at {_time_of(r)} on {_security(r).cell.text}" for r in seen.contexts
            ]
            sentences.append(f"Ciphering and integrity in force or put in force: {'; '.join(_capped(contexts))}.")
        else:
            sentences.append("The log shows no security mode command before or within the window.")
        sentences.append(_told_records(("cell change", "cell changes"), seen.changes, _told_change))
        sentences.append(
            _told_records(
                (
                    "serving cell first seen without integrity protection",
                    "serving cells first seen without integrity protection",
                ),
                seen.new_cells,
                _told_new_cell,
            )
        )
        sentences.append(
            _told_records(
                ("IMSI request", "IMSI requests"),
                seen.identity_requests,
                lambda r: f"{r.summary} at {_time_of(r)}",
            )
        )
        if seen.rogue:
            rogue = [f"{f.title} ({f.rule}, {f.severity.label}, at {format_time(f.time)})" for f in seen.rogue]
            sentences.append(f"Rogue-station findings in the window: {'; '.join(_capped(rogue))}.")
        else:
            sentences.append("No rogue-station finding (cellular, medium or above) in the window.")
        return sentences


def _capped(items: list[str]) -> list[str]:
    if len(items) <= CITED_LIMIT:
        return items
    return [*items[:CITED_LIMIT], f"and {len(items) - CITED_LIMIT} more"]


def _told_records(nouns: tuple[str, str], records: tuple[Record, ...], told: Callable[[Record], str]) -> str:
    """``nouns``: one and several (``cell change``, ``cell changes``)."""
    if not records:
        return f"No {nouns[0]} in the window."
    count = f"{len(records)} {nouns[0] if len(records) == 1 else nouns[1]}"
    return f"{count} in the window: {'; '.join(_capped([told(r) for r in records]))}."


def _told_change(record: Record) -> str:
    change = record.payload
    assert isinstance(change, CellChange)
    previous = change.previous.text if change.previous is not None else "no cell"
    return f"from {previous} to {change.current.text} at {_time_of(record)}"


def _told_new_cell(record: Record) -> str:
    baseline = record.payload
    assert isinstance(baseline, CellBaseline)
    return f"{baseline.cell.text} at {_told_ns(baseline.first_time_ns)}"


def _consistent_signs(seen: _Seen) -> list[str]:
    """What in the window fits a rogue base station, each as a title's phrase."""
    signs: list[str] = []
    gsm = (seen.serving is not None and seen.serving.rat == GSM) or any(
        _change(r).current.rat == GSM for r in seen.changes
    )
    if gsm:
        signs.append("a GSM (2G) cell")
    nulls = sorted({_told_null(_security(r)) for r in seen.contexts if _null(_security(r))})
    signs.extend(nulls)
    if seen.new_cells:
        signs.append(
            "a serving cell first seen then, without integrity protection"
            if len(seen.new_cells) == 1
            else f"{len(seen.new_cells)} serving cells first seen then, without integrity protection"
        )
    if seen.identity_requests:
        count = len(seen.identity_requests)
        signs.append("an IMSI request" if count == 1 else f"{count} IMSI requests")
    if seen.rogue:
        rules = sorted({f.rule for f in seen.rogue})
        signs.append(
            f"a rogue-station finding ({', '.join(rules)})"
            if len(seen.rogue) == 1
            else f"{len(seen.rogue)} rogue-station findings ({', '.join(rules)})"
        )
    return signs


def _told_null(context: SecurityContext) -> str:
    security = context.security
    if security.ciphering.lower() in NULL_CIPHERING:
        # a GSM cipher mode command without ciphering (``none``) is what the field calls A5/0
        named = "A5/0" if security.ciphering == "none" and context.cell.rat == GSM else security.ciphering
        return f"no ciphering ({named})"
    return f"no integrity ({security.integrity})"


def _baseline(record: Record) -> CellBaseline:
    assert isinstance(record.payload, CellBaseline)
    return record.payload


def _change(record: Record) -> CellChange:
    assert isinstance(record.payload, CellChange)
    return record.payload


def _held(seen: _Seen, moment: float, window: float) -> bool:
    """The serving cell was seen before the window opened and after it closed."""
    if seen.serving_baseline is None:
        return False
    baseline = _baseline(seen.serving_baseline)
    if baseline.first_time_ns is None or baseline.last_time_ns is None:
        return False
    return baseline.first_time_ns / 1e9 < moment - window and baseline.last_time_ns / 1e9 > moment + window


def _as_in_force(seen: _Seen) -> list[SecurityContext]:
    """The AS contexts on the serving cell (what protects the radio link)."""
    if seen.serving is None:
        return []
    return [
        _security(r)
        for r in seen.contexts
        if _security(r).security.layer == AS and _same_cell(_security(r).cell, seen.serving)
    ]


def _argues_against(seen: _Seen, moment: float, window: float) -> bool:
    serving = seen.serving
    if serving is None or serving.rat not in AUTHENTICATED_RATS or seen.changes:
        return False
    on_cell = _as_in_force(seen)
    return bool(on_cell) and all(_strong(_security(r)) for r in seen.contexts) and _held(seen, moment, window)


def _missing(seen: _Seen, moment: float, window: float) -> list[str]:
    """Why the log does not argue against a rogue base station, in plain words."""
    missing: list[str] = []
    if seen.serving is None:
        missing.append("no serving cell is known")
    elif seen.serving.rat not in AUTHENTICATED_RATS:
        missing.append(f"the phone was on {seen.serving.rat}, not LTE or NR")
    if seen.changes:
        missing.append("the phone changed cells in the window")
    if not _as_in_force(seen):
        missing.append("no ciphering of the radio link is seen on the serving cell")
    elif not all(_strong(_security(r)) for r in seen.contexts):
        missing.append("not every security mode command put EEA1-3 with integrity in force")
    if not _held(seen, moment, window):
        missing.append("the serving cell is not seen both before the window and after it")
    return missing


def _state(seen: _Seen) -> str:
    if seen.serving is None:
        return "no serving cell"
    on_cell = _as_in_force(seen)
    if on_cell:
        return f"{seen.serving.rat} with {_listed(sorted({_told_security(c) for c in on_cell}))}"
    return f"{seen.serving.rat} with no ciphering seen"


def _cited_records(seen: _Seen) -> list[Evidence]:
    records: list[Record] = []
    if seen.serving_record is not None:
        records.append(seen.serving_record)
    for group in (seen.contexts, seen.changes, seen.new_cells, seen.identity_requests):
        records.extend(group[:CITED_LIMIT])
    if seen.serving_baseline is not None:
        records.append(seen.serving_baseline)
    return [Evidence(r.locator, excerpt(f"{_time_of(r)}: {r.summary}")) for r in records]


def _cited_findings(rogue: tuple[Finding, ...]) -> list[Evidence]:
    """Each rogue-station finding's first piece of evidence (the message that triggered it)."""
    return [f.evidence[0] for f in rogue[:CITED_LIMIT] if f.evidence]
