"""Qualcomm DIAG logs: the signalling messages that a Qualcomm modem logged, one ``Frame`` each.

Files: ``.qmdl`` (QXDM, SCAT, QCSuper), gzip-compressed ``.qmdl`` (newer Rayhunter; recognised by its
magic, decompressed a bounded amount at a time) and MobileInsight's ``.mi2log``, which is the same stream
with no file header of its own (its first bytes are a DIAG frame: checked on the five public MobileInsight
logs). No vendor publishes the format; what follows is what the public readers agree on (Rayhunter
``lib/src/hdlc.rs`` and ``diag.rs``, SCAT ``parsers/qualcomm``, QCSuper, osmo-qcdiag, MobileInsight), each
layout checked here against real logs.

**Framing** (async HDLC as DIAG uses it): a frame ends at ``0x7e``; inside it ``0x7d`` escapes the next byte,
which is XORed with ``0x20``; the last two unescaped bytes are a CRC-16/X.25 (reflected polynomial 0x1021,
initial value and final XOR 0xffff) of the rest, little-endian. Empty frames (two flags in a row) are not
frames. Every other frame is numbered from 1 in file order, broken ones included (bad CRC, oversize, the
unterminated last one), so a number is a stable position in the file whatever was readable.

**Log packets** (DIAG command 0x10): ``10 | 00 | length u16 | length u16 | log code u16 | timestamp u64 |
body``, little-endian; the second length counts from the log code to the end, so the body holds
``length - 12`` bytes. A multi-SIM modem wraps packets in command 0x98 (``98 01 00 00 | subscription u32 |
packet``): the wrapper is removed and the subscription ignored (``Frame`` has no field for it).

**Time**: the timestamp's upper 48 bits count 1.25 ms ticks since 1980-01-06T00:00:00 (the GPS epoch); its
lower 16 bits count 1/32 chips of the 1.2288 Mcps CDMA clock within the tick, 0 to 49151 (the largest value in
the five real logs is 49151). ``time_ns`` is that instant as nanoseconds since the Unix epoch, **with no
leap-second correction**, as SCAT, MobileInsight and Rayhunter give it. Whether that is UTC depends on the
modem. LTE SIB8 broadcasts the CDMA system time, which is GPS time: in ``sprint.mi2log`` (2015) 127 of its
174 SIB8 times are within a second of the DIAG clock (the others are further off), and 3 of 6 in
``volte_sample.mi2log`` (2018), so those modems counted GPS time and true UTC is 17 s and 18 s earlier (the
GPS-UTC offsets of those years); in ``mobility_sample.mi2log`` (2018) both SIB8 times are 18.5 s ahead of
the DIAG clock, so that modem counted UTC. The log alone does not say which clock a modem kept, so nothing
is corrected: a report should give the caveat (the test ``test_which_clock_the_real_modems_kept``). A zero
timestamp gives ``time_ns`` None.

**Log codes read** (every layout below was checked on real logs, except where said):

- ``0xB0C0`` LTE RRC OTA. Body: version u8, then for versions 2-4 ``rrc release u8 u8 | radio bearer u8 |
  PCI u16 | EARFCN u16 | SFN u16 | PDU number u8 | length u16`` (13 bytes before the message); 6-7 the
  same with a SIB mask u32 before the length (17 bytes); 8-24 the same with a 32-bit EARFCN (19 bytes);
  25-27 with two more release bytes (21 bytes). The length must be the message's. The PDU number names the
  logical channel, numbered differently by version (tables below). Versions 8, 9 and 15 are in the real
  logs; the others follow SCAT's reading and are tested on built packets only. The SFN word holds the
  system frame number in its upper 12 bits and the subframe in its lower 4 (every real value has
  SFN <= 1023 and subframe <= 9 read that way); ``Frame`` carries neither.
- LTE NAS OTA, body ``version u8 (1) | NAS release u8 u8 u8 | message``: EMM ``0xB0EC`` (to the phone) and
  ``0xB0ED`` (from it), ESM ``0xB0E2``/``0xB0E3``, as plain messages (channel ``plain``); and their
  security-protected copies ``0xB0EA``/``0xB0EB`` and ``0xB0E0``/``0xB0E1`` (channel ``protected``).
  The modem logs each protected message twice: as sent or received (protected) and as plain after the
  security header is removed (and the message deciphered), with timestamps tens of microseconds apart. How
  the two copies of one message are recognised (every protected copy of ``sprint.mi2log`` follows these
  rules; the artifact deduplicates): among the NAS frames in log order, a downlink protected copy is
  followed by its plain copy, an uplink plain copy is followed by its protected copy; when the protected
  copy is integrity-protected only (security header type 1 or 3) its bytes after the 6-byte header
  (security header and PD, MAC, sequence number) are the plain copy's, cut to the plain copy's length in
  the uplink (the modem logs an uplink protected copy with the plain length). A ciphered copy (type 2 or 4)
  matches by position only. An uplink protected copy logged as 8 zero bytes precedes its plain copy
  (Attach Complete in ``sprint.mi2log``). Besides, an ESM message carried in an EMM message's ESM container
  (Attach Request, Attach Accept, Attach Complete) is also logged alone as plain ESM.
- ``0x512F`` GSM RR signalling: ``channel and direction u8 | message type u8 | length u8 | message``.
  Bit 7 set is downlink; the low bits are the channel: 0 dedicated (SDCCH, as SCAT names it), 1 BCCH, 2 RACH,
  3 CCCH, 4 SACCH, 5 SDCCH, 6 FACCH. On BCCH and CCCH the message starts with the L2 pseudo-length octet
  (layer ``RR``); on the dedicated channels it is bare layer 3 (layer ``DTAP``). A RACH entry is a channel
  request, not a layer-3 message: it is counted as not signalling. The packet gives no ARFCN: the frame
  takes the ARFCN and BSIC of the last ``0x5134`` GSM RR cell information (``ARFCN and band u16`` with the
  ARFCN in its low 12 bits, ``BCC u8 | NCC u8 | ...``). Layout from SCAT's reading; no real log here has GSM.
- ``0x412F`` WCDMA RRC signalling: ``channel type u8 | radio bearer u8 | length u16 | ...``. Older modems:
  channel types 0-8 and 10, message at byte 4, UARFCN (uplink or downlink by channel) and PSC from the last
  ``0x4127`` WCDMA cell id (``UL UARFCN u32 | DL UARFCN u32 | cell id u32 | URA u16 | u8 | u8 | PSC << 4
  u16 ...``); types 9, 0xFE and 0xFF carry one system information block, with its type at byte 4. Newer
  modems: types 0x80-0x88, ``UARFCN u16 | PSC u16`` at byte 4 and the message at byte 8; 0x89 and 0xF0 a
  system information block with its type at byte 8. The length counts the bytes after the UARFCN and PSC.
  Layout from SCAT's reading; no real log here has WCDMA.
- ``0x713A`` UMTS NAS OTA (2G and 3G MM, GMM, CC, SM, SMS): ``direction u8 (0 to the phone, 1 from it) |
  length u32 | message``, layer ``DTAP`` on channel ``DCCH``. The log does not say whether the phone was
  on GSM or UMTS: the frame takes the RAT of the last GSM or WCDMA packet read (UMTS before any).
  Layout from SCAT's and osmo-qcdiag's reading; no real log here has it.

RRC and RR frames carry the carrier and cell they were logged on; NAS frames carry none (the serving cell
is that of the RRC frames around them). Any other command, log code or version is counted, never fatal;
a packet of a code read here whose body is shorter than its header says, or whose channel number is
unknown, is one undecodable frame.
"""

from __future__ import annotations

import binascii
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from vestige.cellular.frames import DTAP, GSM, LTE, NAS, RR, RRC, UMTS, Frame
from vestige.evidence.errors import UnexpectedFormatError

FLAG, ESCAPE = 0x7E, 0x7D
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20
"""Bytes read (or decompressed) at a time."""

MAX_FRAME = 65_536 + 16
"""The longest well-formed frame, unescaped: a log packet's 16-bit length, the 4 bytes before it, a
multi-SIM wrapper and the CRC fit in it. A longer frame is skipped (and counted) without being buffered."""
_MAX_STORED = 2 * MAX_FRAME
"""A frame longer than this as stored is longer than ``MAX_FRAME`` whatever its escapes."""

OVERSIZE, BAD_CRC = "oversize", "bad CRC"

SEARCH_FRAMES = 64
"""How many frames may come before the first well-formed DIAG frame; past them the file is not a log."""

HEAD_BYTES = 8192
"""How much of a file ``is_diag_log`` wants: a few whole frames (real log packets are mostly under 1 KiB)."""

LOG = 0x10
MULTI_RADIO = 0x98
DIAG_COMMANDS = frozenset(
    {
        0x00,  # version number
        0x0C,  # status
        0x10,  # log packet
        0x13,  # bad command
        0x1C,  # DIAG version
        0x1D,  # time stamp
        0x4B,  # subsystem dispatch
        0x60,  # event report
        0x63,  # status snapshot
        0x73,  # log configuration
        0x79,  # extended message
        0x7C,  # extended build id
        0x7D,  # extended message configuration
        0x7E,  # extended terse message (escaped as 7d 5e)
        0x80,  # subsystem dispatch, version 2
        0x81,  # event mask get
        0x82,  # event mask set
        0x92,  # QShrink extended message
        0x98,  # multi-radio (multi-SIM) wrapper
        0x99,  # QShrink 4 extended message
        0x9C,  # small message
        0x9D,  # QSH trace
        0x9E,  # secure log
    }
)
"""DIAG command codes a modem sends in a log stream (the first byte of a frame), as SCAT and QCSuper list
them: what ``is_diag_log`` and the reader accept as the start of a DIAG log."""

LTE_RRC_OTA = 0xB0C0
LTE_NAS_CODES: dict[int, tuple[bool, str]] = {
    # code: (uplink, channel)
    0xB0E0: (False, "protected"),  # ESM, security-protected, incoming
    0xB0E1: (True, "protected"),  # ESM, security-protected, outgoing
    0xB0E2: (False, "plain"),  # ESM plain, incoming
    0xB0E3: (True, "plain"),  # ESM plain, outgoing
    0xB0EA: (False, "protected"),  # EMM, security-protected, incoming
    0xB0EB: (True, "protected"),  # EMM, security-protected, outgoing
    0xB0EC: (False, "plain"),  # EMM plain, incoming
    0xB0ED: (True, "plain"),  # EMM plain, outgoing
}
GSM_RR_SIGNALLING = 0x512F
GSM_RR_CELL_INFORMATION = 0x5134
WCDMA_SIGNALLING = 0x412F
WCDMA_CELL_ID = 0x4127
UMTS_NAS_OTA = 0x713A

GPS_EPOCH_NS = 315_964_800 * 1_000_000_000
"""1980-01-06T00:00:00Z in nanoseconds since the Unix epoch."""
TICK_NS = 1_250_000
CHIPS_PER_TICK = 49_152
"""1/32 chips of 1.2288 Mcps in a 1.25 ms tick."""

_A = ("BCCH-BCH", "BCCH-DL-SCH", "MCCH", "PCCH", "DL-CCCH", "DL-DCCH", "UL-CCCH", "UL-DCCH")
_LTE_PDUS_V2 = dict(zip(range(1, 9), _A, strict=True))
_LTE_PDUS_V9 = dict(zip(range(8, 16), _A, strict=True))
_LTE_PDUS_V14 = dict(zip((1, 2, 4, 5, 6, 7, 8, 9), _A, strict=True))
_LTE_PDUS_V19 = dict(zip((1, 3, 6, 7, 8, 9, 10, 11), _A, strict=True))


@dataclass(frozen=True, slots=True)
class _RrcLayout:
    """One LTE RRC OTA version: where the message starts, the EARFCN's width, the PDU numbers."""

    message_at: int
    wide_earfcn: bool
    pdus: dict[int, str]


_LTE_RRC_LAYOUTS: dict[int, _RrcLayout] = {
    **{v: _RrcLayout(13, False, _LTE_PDUS_V2) for v in (2, 3, 4)},
    **{v: _RrcLayout(17, False, _LTE_PDUS_V2) for v in (6, 7)},
    **{v: _RrcLayout(19, True, _LTE_PDUS_V2) for v in (8, 13, 22)},
    **{v: _RrcLayout(19, True, _LTE_PDUS_V9) for v in (9, 12)},
    **{v: _RrcLayout(19, True, _LTE_PDUS_V14) for v in (14, 15, 16, 20, 24)},
    19: _RrcLayout(19, True, _LTE_PDUS_V19),
    25: _RrcLayout(21, True, _LTE_PDUS_V14),
    **{v: _RrcLayout(21, True, _LTE_PDUS_V19) for v in (26, 27)},
}
_LTE_UPLINK = frozenset({"UL-CCCH", "UL-DCCH"})

_GSM_CHANNELS: dict[int, tuple[str, str]] = {
    # channel type: (channel, layer)
    0: ("SDCCH", DTAP),
    1: ("BCCH", RR),
    3: ("CCCH", RR),
    4: ("SACCH", DTAP),
    5: ("SDCCH", DTAP),
    6: ("FACCH", DTAP),
}
_GSM_RACH = 2

_UMTS_CHANNELS = {
    0: "UL-CCCH",
    1: "UL-DCCH",
    2: "DL-CCCH",
    3: "DL-DCCH",
    4: "BCCH-BCH",
    5: "BCCH-FACH",
    6: "PCCH",
    7: "MCCH",
    8: "MSCH",
    10: "System-Information-Container",
}
_UMTS_NEW_CHANNELS = {0x80 + kind: name for kind, name in _UMTS_CHANNELS.items() if kind <= 8}
_UMTS_SIB_TYPES = (9, 0xFE, 0xFF)
_UMTS_NEW_SIB_TYPES = (0x89, 0xF0)
_UMTS_UPLINK = frozenset({"UL-CCCH", "UL-DCCH"})
_SIB_NAMES = {
    0: "MIB",
    **{n: f"SIB{n}" for n in range(1, 14)},
    14: "SIB13-1",
    15: "SIB13-2",
    16: "SIB13-3",
    17: "SIB13-4",
    18: "SIB14",
    19: "SIB15",
    20: "SIB15-1",
    21: "SIB15-2",
    22: "SIB15-3",
    23: "SIB16",
    24: "SIB17",
    25: "SIB15-4",
    26: "SIB18",
    27: "SB1",
    28: "SB2",
    29: "SIB15-5",
    30: "SIB5bis",
    66: "SIB11bis",
    67: "SIB19",
}
"""System information block types of WCDMA RRC signalling packets, named as TS 25.331's ASN.1 types are
(``SysInfoType13-1`` is ``SIB13-1``, ``SysInfoTypeSB1`` is ``SB1``, ``MasterInformationBlock`` is ``MIB``).
Type 31 differs: SIB11bis in the older packets, SIB19 in the newer."""

_CRC_INPUT = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))
"""Each byte with its bits reversed."""
_ESCAPED = re.compile(rb"\x7d(.)", re.DOTALL)


def crc16_x25(data: bytes) -> int:
    """CRC-16/X.25 of ``data``. ``binascii.crc_hqx`` computes the same polynomial unreflected, so it runs on
    the bit-reversed bytes and its result is reversed back (C speed for the whole log)."""
    register = binascii.crc_hqx(data.translate(_CRC_INPUT), 0xFFFF)
    return (_CRC_INPUT[register & 0xFF] << 8 | _CRC_INPUT[register >> 8]) ^ 0xFFFF


def hdlc_unescape(stored: bytes) -> bytes | None:
    """The frame's bytes with every ``7d xx`` replaced by ``xx ^ 0x20``; None if it ends in an escape."""
    if (len(stored) - len(stored.rstrip(b"\x7d"))) % 2 == 1:
        return None
    return _ESCAPED.sub(_unescaped_byte, stored)


def _unescaped_byte(match: re.Match[bytes]) -> bytes:
    return bytes((match.group(1)[0] ^ 0x20,))


def gps_time_ns(timestamp: int) -> int | None:
    """A DIAG timestamp as nanoseconds since the Unix epoch (no leap-second correction; None for 0)."""
    if timestamp == 0:
        return None
    return GPS_EPOCH_NS + (timestamp >> 16) * TICK_NS + (timestamp & 0xFFFF) * TICK_NS // CHIPS_PER_TICK


class DiagFormatError(UnexpectedFormatError):
    """A file that is not a DIAG log, or whose compression is broken before its end."""


class TruncatedDiagLogError(DiagFormatError):
    """A gzip-compressed log cut short: every frame before the cut was read."""


@dataclass(slots=True)
class DiagStats:
    """What reading a log cost, complete once ``frames()`` is exhausted (or has raised).

    ``frames`` counts every HDLC frame (the highest frame number); each falls in exactly one of
    ``bad_crc`` (a CRC mismatch, or shorter than a CRC, or ending inside an escape), ``oversize`` (longer
    than ``MAX_FRAME``), ``truncated`` (the last one, with no terminating flag), ``signalling`` (yielded),
    ``not_signalling`` (other DIAG commands, log codes not read, cell information packets, GSM RACH
    entries), ``unsupported`` (a version of a code read here that this reader does not know, by (code,
    version)) and ``undecodable`` (a packet of a code read here that is shorter than its header says or
    names an unknown channel, by code). ``other_codes`` counts the log codes not read (within
    ``not_signalling``)."""

    frames: int = 0
    bad_crc: int = 0
    oversize: int = 0
    truncated: int = 0
    signalling: int = 0
    not_signalling: int = 0
    other_codes: dict[int, int] = field(default_factory=dict)
    unsupported: dict[tuple[int, int], int] = field(default_factory=dict)
    undecodable: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Carrier:
    """What the last cell-information packet of a RAT said: its carrier (uplink and downlink) and cell."""

    downlink: int | None = None
    uplink: int | None = None
    cell_index: int | None = None


def is_diag_log(head: bytes) -> bool:
    """Whether a file starting with ``head`` (its first ``HEAD_BYTES`` or more; gzip is decompressed here) is a
    DIAG log: one of its first four complete frames has a valid CRC and starts with a DIAG command. (A random
    file passes with a probability of about 4 in 65536 times the share of command bytes.)"""
    if head.startswith(GZIP_MAGIC):
        try:
            head = zlib.decompressobj(31).decompress(head, HEAD_BYTES)
        except zlib.error:
            return False
    complete = head[: head.rfind(b"\x7e") + 1]
    stored_frames = [part for part in complete.split(b"\x7e")[:-1] if part][:4]
    return any(_well_formed(stored) for stored in stored_frames)


def frame_content(stored: bytes) -> bytes | str:
    """A frame as stored (without its flag) unescaped and checked: its content without the CRC, or why it is
    broken (``oversize`` or ``bad CRC``, which covers frames too short for a CRC and a dangling escape)."""
    if len(stored) > _MAX_STORED:
        return OVERSIZE
    data = hdlc_unescape(stored) if b"\x7d" in stored else stored
    if data is not None and len(data) > MAX_FRAME:
        return OVERSIZE
    if data is None or len(data) < 3 or crc16_x25(data[:-2]) != data[-2] | data[-1] << 8:
        return BAD_CRC
    return data[:-2]


def _well_formed(stored: bytes) -> bool:
    content = frame_content(stored)
    return isinstance(content, bytes) and content[0] in DIAG_COMMANDS


def read_diag(stream: IO[bytes], name: str) -> Iterator[Frame]:
    """The signalling messages of the DIAG log in ``stream`` (named ``name`` in errors), in file order. Use
    ``DiagReader`` to have the counts as well."""
    return DiagReader(stream, name).frames()


class DiagReader:
    """Reads one DIAG log: ``frames()`` yields its signalling messages, and ``stats`` counts everything (final
    once ``frames()`` is exhausted or has raised).

    Raises ``DiagFormatError`` naming the file when none of its first ``SEARCH_FRAMES`` frames is a
    well-formed DIAG frame (nothing is yielded then) or its gzip stream is corrupt, and
    ``TruncatedDiagLogError`` when its gzip stream is cut short, after every frame before the cut. Memory
    stays bounded by ``CHUNK`` and ``MAX_FRAME`` whatever the file holds."""

    def __init__(self, stream: IO[bytes], name: str) -> None:
        self.name = name
        self.stats = DiagStats()
        self._stream = stream
        self._gsm = _Carrier()
        self._umts = _Carrier()
        self._legacy_rat = UMTS
        self._readers: dict[int, Callable[[int, int, int, int | None, bytes], Frame | None]] = {
            LTE_RRC_OTA: self._lte_rrc,
            **dict.fromkeys(LTE_NAS_CODES, self._lte_nas),
            GSM_RR_SIGNALLING: self._gsm_rr,
            GSM_RR_CELL_INFORMATION: self._gsm_cell,
            WCDMA_SIGNALLING: self._wcdma_rrc,
            WCDMA_CELL_ID: self._wcdma_cell,
            UMTS_NAS_OTA: self._umts_nas,
        }

    def frames(self) -> Iterator[Frame]:
        """The signalling messages, in file order (the stream is read once, as they are asked for)."""
        stats = self.stats
        found = False
        for number, offset, data in self._hdlc_frames():
            if not found:
                if data is not None and data[0] in DIAG_COMMANDS:
                    found = True
                elif number >= SEARCH_FRAMES:
                    raise self._not_a_log(number)
            if data is None:
                continue
            frame = self._packet(number, offset, data)
            if frame is not None:
                stats.signalling += 1
                yield frame
        if not found:
            raise self._not_a_log(stats.frames)

    def _not_a_log(self, frames: int) -> DiagFormatError:
        what = f"none of its first {frames} HDLC frames" if frames else "it holds no HDLC frame"
        problem = f"{what} is a DIAG frame with a valid CRC" if frames else what
        return DiagFormatError(f"{self.name}: not a Qualcomm DIAG log ({problem})")

    # Framing.

    def _chunks(self) -> Iterator[bytes]:
        first = self._stream.read(CHUNK)
        if first.startswith(GZIP_MAGIC):
            yield from _gunzip(self._stream, first, self.name)
            return
        while first:
            yield first
            first = self._stream.read(CHUNK)

    def _hdlc_frames(self) -> Iterator[tuple[int, int, bytes | None]]:
        """Every frame as (number, offset in the uncompressed file, content without CRC or None if broken);
        a broken frame is counted before it is yielded."""
        stats = self.stats
        pending = b""  # the stored bytes of the frame under way, from before the current chunk
        base = 0  # offset of buffer[0] in the uncompressed file
        skipping = -1  # offset of the frame under way once it is longer than a frame can be
        chunks = self._chunks()
        while True:
            try:
                chunk = next(chunks, b"")
            except TruncatedDiagLogError:
                self._count_unterminated(skipping >= 0 or bool(pending))
                raise
            if not chunk:
                self._count_unterminated(skipping >= 0 or bool(pending))
                return
            buffer = pending + chunk if pending else chunk
            start = 0
            while (end := buffer.find(b"\x7e", start)) >= 0:
                if skipping >= 0:
                    stats.frames += 1
                    stats.oversize += 1
                    yield stats.frames, skipping, None
                    skipping = -1
                elif end > start:
                    stats.frames += 1
                    yield stats.frames, base + start, self._content(buffer[start:end])
                start = end + 1
            if skipping < 0 and len(buffer) - start > _MAX_STORED:
                skipping = base + start
            if skipping >= 0:
                pending = b""
                base += len(buffer)
            else:
                pending = buffer[start:]
                base += start

    def _count_unterminated(self, unterminated: bool) -> None:
        if unterminated:
            self.stats.frames += 1
            self.stats.truncated += 1

    def _content(self, stored: bytes) -> bytes | None:
        content = frame_content(stored)
        if isinstance(content, bytes):
            return content
        if content == OVERSIZE:
            self.stats.oversize += 1
        else:
            self.stats.bad_crc += 1
        return None

    # DIAG packets.

    def _packet(self, number: int, offset: int, data: bytes) -> Frame | None:
        stats = self.stats
        if data[0] == MULTI_RADIO and len(data) > 8:
            data = data[8:]
        if data[0] != LOG or len(data) < 8:
            stats.not_signalling += 1
            return None
        code = data[6] | data[7] << 8
        reader = self._readers.get(code)
        if reader is None:
            stats.not_signalling += 1
            stats.other_codes[code] = stats.other_codes.get(code, 0) + 1
            return None
        if len(data) < 16:
            return self._undecodable(code)
        length, timestamp = struct.unpack_from("<H2xQ", data, 4)
        if length < 12 or 4 + length > len(data):
            return self._undecodable(code)
        return reader(code, number, offset, gps_time_ns(timestamp), data[16 : 4 + length])

    def _undecodable(self, code: int) -> Frame | None:
        """Counts the packet as undecodable; None, the frame it does not give."""
        self.stats.undecodable[code] = self.stats.undecodable.get(code, 0) + 1
        return None

    def _unsupported(self, code: int, version: int) -> Frame | None:
        """Counts the packet's version as unsupported; None, the frame it does not give."""
        key = (code, version)
        self.stats.unsupported[key] = self.stats.unsupported.get(key, 0) + 1
        return None

    def _lte_rrc(self, code: int, number: int, offset: int, time_ns: int | None, body: bytes) -> Frame | None:
        if not body:
            return self._undecodable(LTE_RRC_OTA)
        layout = _LTE_RRC_LAYOUTS.get(body[0])
        if layout is None:
            return self._unsupported(LTE_RRC_OTA, body[0])
        start = layout.message_at
        if len(body) < start:
            return self._undecodable(LTE_RRC_OTA)
        # Versions 25 and later put two NR release bytes before the radio bearer.
        at = 4 if start < 21 else 6
        pci = body[at] | body[at + 1] << 8
        if layout.wide_earfcn:
            earfcn = int.from_bytes(body[at + 2 : at + 6], "little")
            pdu = body[at + 8]
        else:
            earfcn = body[at + 2] | body[at + 3] << 8
            pdu = body[at + 6]
        length = body[start - 2] | body[start - 1] << 8
        channel = layout.pdus.get(pdu)
        if channel is None or length != len(body) - start:
            return self._undecodable(LTE_RRC_OTA)
        uplink = channel in _LTE_UPLINK
        return Frame(number, offset, time_ns, LTE, RRC, channel, uplink, earfcn, pci, body[start:])

    def _lte_nas(self, code: int, number: int, offset: int, time_ns: int | None, body: bytes) -> Frame | None:
        if len(body) < 4:
            return self._undecodable(code)
        if body[0] != 1:
            return self._unsupported(code, body[0])
        uplink, channel = LTE_NAS_CODES[code]
        return Frame(number, offset, time_ns, LTE, NAS, channel, uplink, None, None, body[4:])

    def _gsm_rr(self, code: int, number: int, offset: int, time_ns: int | None, body: bytes) -> Frame | None:
        if len(body) < 3 or body[2] != len(body) - 3:
            return self._undecodable(GSM_RR_SIGNALLING)
        self._legacy_rat = GSM
        kind = body[0] & 0x7F
        if kind == _GSM_RACH:
            self.stats.not_signalling += 1
            return None
        channel = _GSM_CHANNELS.get(kind)
        if channel is None:
            return self._undecodable(GSM_RR_SIGNALLING)
        uplink = not body[0] & 0x80
        gsm = self._gsm
        return Frame(
            number, offset, time_ns, GSM, channel[1], channel[0], uplink, gsm.downlink, gsm.cell_index, body[3:]
        )

    def _gsm_cell(self, code: int, number: int, offset: int, time_ns: int | None, body: bytes) -> Frame | None:
        if len(body) < 4:
            return self._undecodable(GSM_RR_CELL_INFORMATION)
        self._legacy_rat = GSM
        arfcn = (body[0] | body[1] << 8) & 0x0FFF
        self._gsm = _Carrier(arfcn, arfcn, body[3] << 3 | body[2] & 0x07)
        self.stats.not_signalling += 1
        return None

    def _wcdma_rrc(self, code: int, number: int, offset: int, time_ns: int | None, body: bytes) -> Frame | None:
        if len(body) < 4:
            return self._undecodable(WCDMA_SIGNALLING)
        self._legacy_rat = UMTS
        kind = body[0]
        length = body[2] | body[3] << 8
        if kind in _UMTS_CHANNELS or kind in _UMTS_SIB_TYPES:
            header = 4
            channel = _UMTS_CHANNELS.get(kind)
            uplink = channel in _UMTS_UPLINK
            uarfcn = self._umts.uplink if uplink else self._umts.downlink
            psc = self._umts.cell_index
        elif kind in _UMTS_NEW_CHANNELS or kind in _UMTS_NEW_SIB_TYPES:
            if len(body) < 8:
                return self._undecodable(WCDMA_SIGNALLING)
            header = 8
            channel = _UMTS_NEW_CHANNELS.get(kind)
            uplink = channel in _UMTS_UPLINK
            uarfcn, psc = struct.unpack_from("<HH", body, 4)
        else:
            return self._undecodable(WCDMA_SIGNALLING)
        if length != len(body) - header:
            return self._undecodable(WCDMA_SIGNALLING)
        if channel is None:
            # One system information block: its type first.
            if length < 1:
                return self._undecodable(WCDMA_SIGNALLING)
            sib = body[header]
            # Type 31 is the one the older and newer packets number differently.
            channel = ("SIB11bis" if header == 4 else "SIB19") if sib == 31 else _SIB_NAMES.get(sib)
            if channel is None:
                return self._undecodable(WCDMA_SIGNALLING)
            header += 1
        return Frame(number, offset, time_ns, UMTS, RRC, channel, uplink, uarfcn, psc, body[header:])

    def _wcdma_cell(self, code: int, number: int, offset: int, time_ns: int | None, body: bytes) -> Frame | None:
        if len(body) < 18:
            return self._undecodable(WCDMA_CELL_ID)
        self._legacy_rat = UMTS
        uplink, downlink = struct.unpack_from("<II", body)
        psc = (body[16] | body[17] << 8) >> 4
        self._umts = _Carrier(downlink, uplink, psc)
        self.stats.not_signalling += 1
        return None

    def _umts_nas(self, code: int, number: int, offset: int, time_ns: int | None, body: bytes) -> Frame | None:
        if len(body) < 5 or int.from_bytes(body[1:5], "little") != len(body) - 5:
            return self._undecodable(UMTS_NAS_OTA)
        uplink = body[0] != 0
        return Frame(number, offset, time_ns, self._legacy_rat, DTAP, "DCCH", uplink, None, None, body[5:])


def _gunzip(stream: IO[bytes], first: bytes, name: str) -> Iterator[bytes]:
    """The decompressed bytes of a gzip stream (one member or several, zero padding after the last), at
    most ``CHUNK`` at a time; raises after what came before a corruption or a cut."""
    produced = 0
    inflate = zlib.decompressobj(31)
    compressed = first
    in_member = True
    while True:
        if not compressed:
            compressed = stream.read(CHUNK)
            if not compressed:
                if in_member:
                    raise TruncatedDiagLogError(
                        f"{name}: the gzip stream is cut short after byte {produced} of the log: the frames "
                        "before it were read"
                    )
                return
        if not in_member:
            compressed = compressed.lstrip(b"\0")
            if not compressed:
                continue
            inflate = zlib.decompressobj(31)
            in_member = True
        try:
            data = inflate.decompress(compressed, CHUNK)
            while data:
                produced += len(data)
                yield data
                # What zlib holds back (output beyond CHUNK) comes with the rest of the input, or with none.
                data = inflate.decompress(inflate.unconsumed_tail, CHUNK)
        except zlib.error as error:
            raise DiagFormatError(
                f"{name}: the gzip stream is corrupt after byte {produced} of the log ({error})"
            ) from None
        compressed = b""
        if inflate.eof:
            compressed = inflate.unused_data
            in_member = False
