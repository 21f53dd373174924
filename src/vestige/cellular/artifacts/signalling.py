"""A cellular signalling log in one streaming pass: every RRC, RR and NAS message as a record, the serving cell
and its changes, the ciphering put in force, a baseline of the log's cells, and the rogue-base-station findings
of ``reference/cellular.md`` section 6.

What is read:

- a Qualcomm DIAG log (``.qmdl``, MobileInsight's ``.mi2log``, gzip-compressed or not), acquisition kind
  ``qmdl``: ``cellular.diag`` de-frames it into signalling frames (LTE RRC OTA, LTE NAS EMM/ESM, GSM RR, WCDMA
  RRC, 2G/3G NAS) and counts the frames with a bad CRC and the log packets that are not signalling;
- GSMTAP in a packet capture (kind ``pcap``, the network platform's: the kind is named here by its string,
  since platform packages never import each other): ``cellular.gsmtap`` finds GSMTAP v2/v3 on UDP 4729 and
  NAS-EPS in the user link type that srsRAN and OpenAirInterface write. Most captures hold none: their
  reading yields only the summary, and a capture cut short is then left to the traffic artifact to report.

Each frame is decoded by ``cellular.lte`` (LTE) or ``cellular.gsm`` (GSM, UMTS); one that cannot be decoded is
counted by protocol (and still recorded), never fatal. Qualcomm logs every EPS NAS message twice, as the
security-protected PDU and as the plain message it carries (SCAT's captures keep both, as GSMTAP LTE NAS
sub-types 1 and 0): the two copies are one message, recorded once (``_NasCopies``). The serving cell comes
from ``cells.CellTracker``.

Records, each citing its frame by number (``packet``: the packet of a capture as Wireshark numbers it, the
HDLC frame of a DIAG log) and byte offset: ``Signalling`` for each message, ``SecurityContext`` when one puts
ciphering and integrity in force, ``CellChange`` when the phone moves to another cell (the first cell too),
then at the end one ``CellBaseline`` per cell and the ``LogSummary``. A log cut short keeps every record
before the cut, its baselines and summary, and is reported as a problem of the file.

``detect`` hands each message, in order, to the LTE and the GSM/UMTS detectors and reports what they find.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import IO, TYPE_CHECKING, Protocol

from vestige.cellular import lte
from vestige.cellular.cells import CellTracker, Channel
from vestige.cellular.diag import DiagReader
from vestige.cellular.frames import DTAP, GSM, LTE, NAS, UMTS, Cell, Frame
from vestige.cellular.gsmtap import GsmtapReader
from vestige.cellular.lte_detectors import LteDetectors
from vestige.cellular.records import (
    CellBaseline,
    CellChange,
    Decoded,
    LogSummary,
    Security,
    SecurityContext,
    Signalling,
)
from vestige.evidence import budget
from vestige.evidence.acquisition import Acquisition
from vestige.evidence.budget import BudgetExceededError
from vestige.evidence.errors import EvidenceError
from vestige.model import Finding, IndicatorLookup, Locator, Record, RecordPayload, Severity
from vestige.platforms import MatchPolicy

if TYPE_CHECKING:
    from vestige.cellular.gsm_detectors import GsmDetectors

NAME = "cellular.signalling"
VERSION = 1
QMDL = "qmdl"
"""The cellular platform's DIAG log kind (``platform.QMDL``, which imports this module through the artifact list)."""
PCAP = "pcap"
"""The network platform's capture kind, named by its string (platform packages never import each other)."""
PATHS = {QMDL: ("*",), PCAP: ("*",)}
DESCRIPTION = (
    "Signalling messages (LTE, UMTS and GSM RRC/RR and NAS) of a Qualcomm DIAG log or of GSMTAP in a capture, the "
    "serving cells with their ciphering, and rogue-base-station (IMSI catcher) findings"
)
MATCHES = MatchPolicy(
    Severity.HIGH,
    "Cellular signalling",
    ("A signalling log shows what the phone's modem logged of its own radio, not who operated the network.",),
)

# pycrate's NAS modules log a warning when they are imported without CryptoMobile (which deciphers NAS; nothing
# here deciphers): Python prints it on stderr unless the logger has a handler. A NullHandler keeps it for an
# application that configures logging.
logging.getLogger("pycrate_mobile").addHandler(logging.NullHandler())

BUDGET_EVERY = 4096
"""Frames between two checks of the task's budget (each check reads the clock)."""
HOLD_FRAMES = 4
"""Frames apart two copies of one NAS message may be (Qualcomm logs them next to each other)."""
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

_SECURITY_HEADERS = frozenset({1, 2, 3, 4})
"""EPS NAS security header types of a protected message (TS 24.301 9.3.1): 2 and 4 are ciphered."""
_CIPHERED = frozenset({2, 4})
_EMM_PD = 7
_PROTECTED_HEADER = 6
"""Security header type and PD, message authentication code (4), sequence number (1): TS 24.301 9.1."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """What a reader passed over: frames with a bad CRC, log packets or captured packets that are not
    signalling, and frames it could not read, by kind."""

    bad_crc: int
    not_signalling: int
    unreadable: tuple[tuple[str, int], ...]


class SignallingLog(Protocol):
    """What ``parse`` reads of a log: its frames (iterating may raise an ``EvidenceError`` for a broken or
    cut file, after every sound frame), then what the reader passed over."""

    def frames(self) -> Iterator[Frame]: ...

    def skipped(self) -> Skipped: ...


# ----------------------------------------------------------------------------------------------
# Reading


def parse(acquisition: Acquisition, path: str) -> Iterator[Record]:
    sha256 = acquisition.file(path).sha256
    reading = _Reading(path, sha256)
    with acquisition.open(path) as stream:
        log = _open_log(acquisition.kind, stream, path)
        try:
            for frame in log.frames():
                yield from reading.frame(frame)
        except EvidenceError as error:
            yield from reading.finish(log.skipped())
            if acquisition.kind == PCAP and reading.frames == 0 and not isinstance(error, BudgetExceededError):
                return  # a capture without signalling: its damage is the traffic artifact's to report
            raise  # a cut or broken log: what was read before it stands; the engine reports the error
    yield from reading.finish(log.skipped())


def _open_log(kind: str, stream: IO[bytes], path: str) -> SignallingLog:
    if kind == QMDL:
        return _DiagLog(stream, path)
    return _CaptureLog(stream, path)


class _DiagLog:
    """A Qualcomm DIAG log."""

    def __init__(self, stream: IO[bytes], path: str) -> None:
        self.reader = DiagReader(stream, path)

    def frames(self) -> Iterator[Frame]:
        return self.reader.frames()

    def skipped(self) -> Skipped:
        stats = self.reader.stats
        unreadable = [(f"DIAG 0x{code:04X}", count) for code, count in stats.undecodable.items()]
        unreadable += [
            (f"DIAG 0x{code:04X} version {version}", count) for (code, version), count in stats.unsupported.items()
        ]
        if stats.oversize:
            unreadable.append(("HDLC frame too long", stats.oversize))
        if stats.truncated:
            unreadable.append(("HDLC frame unterminated", stats.truncated))
        return Skipped(stats.bad_crc, stats.not_signalling, tuple(unreadable))


class _CaptureLog:
    """GSMTAP (and user link type NAS) in a packet capture."""

    def __init__(self, stream: IO[bytes], path: str) -> None:
        self.reader = GsmtapReader(stream, path)

    def frames(self) -> Iterator[Frame]:
        return self.reader.frames()

    def skipped(self) -> Skipped:
        stats = self.reader.stats
        malformed = (("GSMTAP", stats.malformed),) if stats.malformed else ()
        return Skipped(0, stats.not_gsmtap + stats.unmapped, malformed)


def decode(frame: Frame) -> Decoded | None:
    """The decoded message of ``frame`` (None when vestige has no decoder for its RAT and layer)."""
    if frame.rat == LTE:
        return lte.decode(frame)
    if frame.rat in (GSM, UMTS):
        from vestige.cellular import gsm  # see _gsm_detectors

        return gsm.decode(frame)
    return None


class _NasCopies:
    """Keeps one copy of each EPS NAS message of a log that holds two: the security-protected PDU and the
    plain message inside it (Qualcomm's ``LTE NAS EMM/ESM Security Protected OTA`` and ``Plain OTA`` log
    packets; SCAT's GSMTAP LTE NAS sub-types 1 and 0), logged next to each other: downlink, the protected copy
    first; uplink, the plain copy first (``cellular.diag`` documents how the two were matched on real logs).

    Two NAS frames at most ``HOLD_FRAMES`` frames apart, one plain and one protected, of the same direction
    (or of an unknown one) are copies of one message when the protected one carries the plain one's bytes
    after its 6-byte security header (cut to the plain copy's length: the modem logs an uplink protected copy
    with the plain length), or when its content cannot be compared: ciphered (security header type 2 or 4),
    or logged as zero bytes (as the modem logs some uplink copies). The first copy is kept, except that a
    protected copy whose content cannot be compared waits up to ``HOLD_FRAMES`` frames for its plain copy,
    which is kept instead (so a message is decoded whenever the log holds it in clear)."""

    def __init__(self) -> None:
        self.held: Frame | None = None
        self.held_at = 0
        self.recent: tuple[Frame, int] | None = None
        """The last NAS frame kept, not yet paired, and its position: a later copy of it is dropped."""
        self.position = 0
        self.dropped = 0

    def take(self, frame: Frame) -> list[Frame]:
        """The frames to decode now, in order (``frame`` itself, perhaps after a held one; or none)."""
        self.position += 1
        out: list[Frame] = []
        if self.held is not None and self.position - self.held_at > HOLD_FRAMES:
            out.append(self._release())
        if frame.rat != LTE or frame.layer != NAS:
            out.append(frame)
            return out
        recent = self.recent
        if recent is not None and self.position - recent[1] <= HOLD_FRAMES and _copies(recent[0], frame):
            self.recent = None
            self.dropped += 1
            return out
        if _protected(frame) and _carried(frame) is None:
            if self.held is not None:
                out.append(self._release())
            self.held, self.held_at = frame, self.position
            return out
        held = self.held
        if held is not None:
            self.held = None
            if _copies(held, frame):
                self.dropped += 1  # the plain copy of the message held is kept instead
            else:
                out.append(held)
        self.recent = (frame, self.position)
        out.append(frame)
        return out

    def finish(self) -> list[Frame]:
        return [self._release()] if self.held is not None else []

    def _release(self) -> Frame:
        held = self.held
        assert held is not None
        self.held = None
        return held


def _protected(frame: Frame) -> bool:
    return frame.channel == "protected"


def _carried(frame: Frame) -> bytes | None:
    """The plain NAS message a frame carries; None when it cannot be read (ciphered, or logged as zeros)."""
    payload = frame.payload
    if payload and payload[0] & 0x0F == _EMM_PD and payload[0] >> 4 in _SECURITY_HEADERS:
        return None if payload[0] >> 4 in _CIPHERED else payload[_PROTECTED_HEADER:]
    if _protected(frame) and not payload.strip(b"\x00"):
        return None
    return payload


def _copies(first: Frame, second: Frame) -> bool:
    """Whether two NAS frames are the protected and the plain copy of one message."""
    if _protected(first) == _protected(second):
        return False
    if first.uplink is not None and second.uplink is not None and first.uplink != second.uplink:
        return False
    protected, plain = (first, second) if _protected(first) else (second, first)
    carried = _carried(protected)
    if carried is None:
        return True
    if carried == plain.payload:
        return True
    return len(protected.payload) == len(plain.payload) and plain.payload.startswith(carried)


class _Reading:
    """One streaming pass over a log: frames in, records out."""

    def __init__(self, path: str, sha256: str | None) -> None:
        self.path, self.sha256 = path, sha256
        self.cells = CellTracker()
        self.copies = _NasCopies()
        self.frames = 0
        self.undecodable: dict[str, int] = {}
        self.first_time_ns: int | None = None
        self.finished = False

    def frame(self, frame: Frame) -> list[Record]:
        self.frames += 1
        if self.frames % BUDGET_EVERY == 0:
            budget.check()
        if self.first_time_ns is None:
            self.first_time_ns = frame.time_ns
        made: list[Record] = []
        for kept in self.copies.take(frame):
            self._message(kept, made)
        return made

    def _message(self, frame: Frame, made: list[Record]) -> None:
        message = _decoded(frame)
        if message is None:
            self._count(f"{frame.rat} {frame.layer}")
            return
        if message.error is not None:
            self._count(message.protocol)
        cell, change = self.cells.place(frame, message.identity if message.error is None else None)
        locator = Locator(self.path, self.sha256, offset=frame.offset, packet=frame.number)
        if change is not None:
            made.append(self._record(locator, frame.time_ns, change))
        made.append(
            self._record(
                locator,
                frame.time_ns,
                Signalling(frame.number, frame.rat, frame.layer, frame.channel, frame.uplink, cell, message),
            )
        )
        if message.security is not None and message.error is None and _in_force(message.security, cell):
            target = _handover_target(frame, message)
            if target is None:
                self.cells.secure(message.security)
                secured = cell
            else:
                secured = self.cells.secure_next(target, message.security)
            made.append(self._record(locator, frame.time_ns, SecurityContext(frame.number, secured, message.security)))

    def _count(self, protocol: str, count: int = 1) -> None:
        self.undecodable[protocol] = self.undecodable.get(protocol, 0) + count

    def _record(self, locator: Locator, time_ns: int | None, payload: RecordPayload, kind: str = "") -> Record:
        return Record(
            artifact=NAME,
            locator=locator,
            time=moment(time_ns),
            summary=summary(payload),
            payload=payload,
            time_kind=kind or "message time",
        )

    def finish(self, skipped: Skipped) -> Iterator[Record]:
        if self.finished:
            return
        self.finished = True
        made: list[Record] = []
        for frame in self.copies.finish():
            self._message(frame, made)
        yield from made
        whole = Locator(self.path, self.sha256)
        for baseline in self.cells.baselines():
            cited = Locator(self.path, self.sha256, packet=baseline.first_number)
            yield self._record(cited, baseline.first_time_ns, baseline, "first message")
        for kind, count in skipped.unreadable:
            self._count(kind, count)
        undecodable = tuple(sorted(self.undecodable.items()))
        done = LogSummary(self.frames, skipped.bad_crc, skipped.not_signalling, undecodable)
        yield self._record(whole, self.first_time_ns, done, "first message")


def _in_force(security: Security, cell: Cell) -> bool:
    """Whether ``security`` applies on ``cell``: the GPRS cipher a GMM message names applies on GSM only (over
    UMTS the RRC security mode command ciphers; SCAT even writes 3G GMM as GSM Abis frames)."""
    return not security.ciphering.startswith("GEA") or cell.rat == GSM


def _handover_target(frame: Frame, message: Decoded) -> Channel | None:
    """The cell whose security a handover command sets (by carrier and PCI); None for any other message."""
    if isinstance(message, lte.RrcConnectionReconfiguration) and message.handover and message.target_pci is not None:
        earfcn = message.target_earfcn if message.target_earfcn is not None else frame.channel_number
        return (frame.rat, earfcn, message.target_pci)
    return None


def _decoded(frame: Frame) -> Decoded | None:
    try:
        return decode(frame)
    except Exception as error:  # a decoder's bug on crafted bytes costs its frame, never the log
        return Decoded(name="unknown", protocol=f"{frame.rat} {frame.layer}", error=f"{type(error).__name__}")


def moment(time_ns: int | None) -> datetime | None:
    """Nanoseconds since the Unix epoch as a UTC time (microseconds kept); None for a time no calendar holds."""
    if time_ns is None:
        return None
    try:
        return _UNIX_EPOCH + timedelta(microseconds=time_ns // 1000)
    except OverflowError:
        return None


def _nanoseconds(when: datetime | None) -> int | None:
    if when is None:
        return None
    delta = when - _UNIX_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


# ----------------------------------------------------------------------------------------------
# Summaries: one line a person reads

_CHANNEL_NAMES = {LTE: ("EARFCN", "PCI"), UMTS: ("UARFCN", "PSC"), GSM: ("ARFCN", "BSIC")}


def cell_text(cell: Cell) -> str:
    """``EARFCN 5230, PCI 101 (PLMN 310-410, TAC 0x1a2b, cell 0x1234567)``, with what the log gave of it."""
    number_name, index_name = _CHANNEL_NAMES.get(cell.rat, ("channel", "cell index"))
    channel = []
    if cell.channel_number is not None:
        channel.append(f"{number_name} {cell.channel_number}")
    if cell.cell_index is not None:
        channel.append(f"{index_name} {cell.cell_index}")
    identity = []
    if cell.plmn is not None:
        identity.append(f"PLMN {cell.plmn}")
    if cell.area is not None:
        identity.append(f"{'TAC' if cell.rat == LTE else 'LAC'} {cell.area:#x}")
    if cell.cell_id is not None:
        identity.append(f"cell {cell.cell_id:#x}")
    if not channel and not identity:
        return f"an unidentified {cell.rat} cell"
    text = ", ".join(channel) or f"a {cell.rat} cell"
    return f"{text} ({', '.join(identity)})" if identity else text


def _message_text(payload: Signalling) -> str:
    message = payload.message
    if payload.layer in (NAS, DTAP):
        what = f"{message.protocol} {message.name}"
        if payload.channel == "protected":
            what += " (security-protected copy)"
    else:
        what = f"{message.protocol} {payload.channel} {message.name}"
    if payload.uplink is not None:
        what += ", uplink" if payload.uplink else ", downlink"
    if message.error is not None:
        what = f"{message.protocol} {payload.channel} message not decoded ({message.error})"
    return what


def summary(payload: RecordPayload) -> str:
    if isinstance(payload, Signalling):
        return f"{_message_text(payload)} on {cell_text(payload.cell)}"
    if isinstance(payload, SecurityContext):
        security = payload.security
        integrity = f" and integrity {security.integrity}" if security.integrity is not None else ""
        return f"{security.layer} ciphering {security.ciphering}{integrity} put in force on {cell_text(payload.cell)}"
    if isinstance(payload, CellChange):
        if payload.previous is None:
            return f"First cell of the log: {payload.current.rat} {cell_text(payload.current)}"
        return (
            f"Cell change from {payload.previous.rat} {cell_text(payload.previous)} to {payload.current.rat} "
            f"{cell_text(payload.current)}"
        )
    if isinstance(payload, CellBaseline):
        return _baseline_text(payload)
    if isinstance(payload, LogSummary):
        return _log_summary_text(payload)
    return type(payload).__name__


def _baseline_text(baseline: CellBaseline) -> str:
    security = []
    if baseline.ciphering:
        security.append(f"ciphering {', '.join(baseline.ciphering)}")
    if baseline.integrity:
        security.append(f"integrity {', '.join(baseline.integrity)}")
    put = "; ".join(security) if security else "no security mode seen"
    return f"{baseline.cell.rat} {cell_text(baseline.cell)}: {_count(baseline.messages, 'message')}, {put}"


def _log_summary_text(done: LogSummary) -> str:
    parts = [_count(done.frames, "signalling frame")]
    if done.bad_crc:
        parts.append(f"{done.bad_crc} with a bad CRC skipped")
    if done.not_signalling:
        parts.append(f"{done.not_signalling} not signalling")
    if done.undecodable:
        parts.append("not decoded: " + ", ".join(f"{count} {protocol}" for protocol, count in done.undecodable))
    return ", ".join(parts)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


# ----------------------------------------------------------------------------------------------
# Detectors


def detect(records: Iterable[Record], indicators: IndicatorLookup) -> Iterator[Finding]:
    """The LTE and the GSM/UMTS detectors over the messages in log order. Holds no record: the detectors keep
    only the bounded state of their heuristics."""
    lte_detectors = LteDetectors()
    gsm_detectors: GsmDetectors | None = None
    for record in records:
        payload = record.payload
        if isinstance(payload, Signalling):
            frame = _frame_of(record, payload)
            yield from lte_detectors.feed(frame, payload.message, payload.cell, record.locator)
            if gsm_detectors is None:
                gsm_detectors = _gsm_detectors()
            yield from gsm_detectors.feed(frame, payload.message, payload.cell, record.locator)
    yield from lte_detectors.finish()
    if gsm_detectors is not None:  # they conclude nothing from no message
        yield from gsm_detectors.finish()


def _gsm_detectors() -> GsmDetectors:
    # The 2G/3G detectors import pycrate's RRC3G and NAS modules, which take about a second: imported at the
    # first message of a log, not when the registry loads this platform for every command, nor for a packet
    # capture that carries no signalling.
    from vestige.cellular.gsm_detectors import GsmDetectors

    return GsmDetectors()


def _frame_of(record: Record, payload: Signalling) -> Frame:
    """The frame of a message as its record keeps it (without its bytes, which its ``message`` decodes)."""
    return Frame(
        number=payload.number,
        offset=record.locator.offset or 0,
        time_ns=_nanoseconds(record.time),
        rat=payload.rat,
        layer=payload.layer,
        channel=payload.channel,
        uplink=payload.uplink,
        channel_number=payload.cell.channel_number,
        cell_index=payload.cell.cell_index,
        payload=b"",
    )
