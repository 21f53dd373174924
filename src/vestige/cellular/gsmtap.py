"""Signalling messages carried in packet captures: GSMTAP over UDP, and EPS NAS in a user link type.

GSMTAP (libosmocore ``include/osmocom/core/gsmtap.h``; IANA UDP port 4729) wraps one radio message in a
pseudo-header. Phones' baseband loggers write it: QCSuper and Rayhunter as raw IPv4 (link type 228), SCAT
as Ethernet (link type 1); raw IP (101) is read too, and so is every link type that
``vestige.evidence.headers.decode`` reads. Two versions exist:

- **v2**: a 16-byte header ``version, hdr_len (32-bit words), type, timeslot, arfcn (bits 0-13; 0x4000
  uplink, 0x8000 PCS band), signal dBm, SNR dB, frame number (u32), sub_type, antenna, sub_slot, reserved``;
  the message starts at ``hdr_len * 4``.
- **v3** (the draft ``gsmtapv3.h`` at gitea.osmocom.org/peremen/gsmtapv3; SCAT writes it for NR, with ``-3``
  and for EARFCNs above 16383): ``version, reserved, hdr_len (words), type (u16), sub_type (u16)``, then
  metadata TLVs (tag u16, length u16, value) ending with the tag ``0xfffe``. The message starts right after
  that tag: SCAT rounds ``hdr_len`` up to whole words without padding the metadata, so ``hdr_len * 4`` can
  point up to 3 bytes into the message (reference/cellular.md 3.1 and 7). v3 types and sub-types are mapped
  to their v2 numbers; metadata 0x0002 gives the channel number, 0x0005 the PCI/PSC/BSIC, 0x0006 and 0x0007
  the GSM timeslot and sub-slot.

What becomes a ``Frame``:

- LTE RRC (v2 type 0x0d, sub-types 0-7): one frame on the named channel; its direction is the channel's.
- LTE NAS (0x12; sub-type 0 plain, 1 with a security header): ``uplink`` is True where the writer set the
  ARFCN's uplink bit (Rayhunter does), else None: SCAT sets no direction on NAS, so a clear bit says nothing.
- UMTS RRC (0x0c): DL-DCCH, UL-DCCH, DL-CCCH, UL-CCCH, PCCH, BCCH-FACH, BCCH-BCH, ``MIB`` (16) and the
  system information blocks ``SIB1`` (17) to ``SIB22`` (57) with their 3GPP variants (``SIB5bis``,
  ``SIB15.2ter``...), ``SB1`` and ``SB2``; direction from the channel.
- GSM Um (0x01): BCCH, CCCH, AGCH and PCH carry a radio resources message with its L2 pseudo-length (layer
  RR; channel BCCH or CCCH). SDCCH (6-8), TCH/F and TCH/H (FACCH, 9-10) and SACCH (the 0x80 flag, after its
  2-byte L1 header) carry LAPDm frames (TS 44.006): the layer 3 of I frames, UI frames and SABM (whose
  information field is the first message of a connection) is kept, without the LAPDm header; UA (which
  only echoes the SABM), supervisory frames and empty frames carry none. A frame without a length octet
  (format B4: downlink UI frames on SACCH) runs to the end of the block. Segmented messages (I frames with
  the M bit) are reassembled per link (channel, timeslot, sub-slot, direction, SAPI) from consecutive send
  sequence numbers and given as one frame, numbered as the packet of the last segment; a retransmitted I
  frame (same N(S), same bytes) is skipped; a sequence broken by a lost segment is dropped and counted.
- GSM Abis (0x02): raw layer 3 (QCSuper and SCAT put 2G signalling here). A radio resources message that
  the air interface sends with an L2 pseudo-length (system information, paging, immediate assignment: TS
  44.018 table 10.4.1, the set pycrate parses with ``wl2=True``) is given as layer RR, the pseudo-length
  octet ``(len << 2) | 1`` prepended when QCSuper left it out; everything else is DTAP. The same holds for
  the layer 3 taken out of Um LAPDm frames (SI5 and SI6 arrive on SACCH).

GSM channels are ``BCCH``, ``CCCH``, ``SACCH`` (SI5, SI6 and what a SACCH block carried), ``SDCCH``,
``FACCH``, and ``DCCH`` for dedicated signalling whose channel the capture does not name (an Abis frame
with sub-type 0, as SCAT writes). Abis frames are given as GSM, though SCAT also writes 3G NAS there.

EPS NAS in link type 148 (LINKTYPE_USER1): srsRAN's NAS pcap (``NAS_LTE_DLT 148``, dissected in Wireshark
through the DLT_USER table as ``nas-eps``) holds one EPS NAS message per packet, plain or with a security
header (security header type 1-5 in the high nibble of the first octet of an EMM message); each becomes a
``Frame(LTE, NAS, "plain" | "protected")`` with ``uplink`` None. Link type 147 (USER0) is not read: srsRAN
writes MAC-LTE frames there (``MAC_LTE_DLT 147``, Wireshark ``mac-lte-framed``), and LTESniffer likewise,
not NAS.

Every packet is counted (``GsmtapStats``): GSMTAP frames of types or sub-types this reader does not map
(GPRS RLC/MAC, LTE MAC, ...) and malformed GSMTAP packets (unknown version, a header length of 0 or beyond
the packet, a TLV running past the packet, a v3 header without its end tag) cost their own packet only.
Packets that are not GSMTAP are skipped as cheaply as possible: the UDP ports are looked at at their fixed
offsets for Ethernet/IPv4 and raw IPv4 before any decoding, since a traffic capture given to vestige may
hold millions of them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from vestige.cellular.frames import DTAP, GSM, LTE, NAS, RR, RRC, UMTS, Frame
from vestige.evidence import budget
from vestige.evidence.capture import Packet, read_capture
from vestige.evidence.headers import TCP, UDP, decode

GSMTAP_PORT = 4729
"""GSMTAP's IANA-registered UDP port."""

LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_IPV4 = 1, 101, 228
LINKTYPE_USER1 = 148
"""LINKTYPE_USER1 (DLT_USER1): EPS NAS, as srsRAN writes it."""

# GSMTAP v2 types (gsmtap.h).
TYPE_UM, TYPE_ABIS, TYPE_UMTS_RRC, TYPE_LTE_RRC, TYPE_LTE_NAS = 0x01, 0x02, 0x0C, 0x0D, 0x12

LTE_RRC_CHANNELS: dict[int, str] = {
    0: "DL-CCCH",
    1: "DL-DCCH",
    2: "UL-CCCH",
    3: "UL-DCCH",
    4: "BCCH-BCH",
    5: "BCCH-DL-SCH",
    6: "PCCH",
    7: "MCCH",
}
"""GSMTAP v2 LTE RRC sub-types."""

LTE_NAS_CHANNELS: dict[int, str] = {0: "plain", 1: "protected"}

# fmt: off
_UMTS_SIBS = (
    "1", "2", "3", "4", "5", "5bis", "6", "7", "8", "9", "10", "11", "11bis", "12", "13", "13.1", "13.2",
    "13.3", "13.4", "14", "15", "15bis", "15.1", "15.1bis", "15.2", "15.2bis", "15.2ter", "15.3", "15.3bis",
    "15.4", "15.5", "15.6", "15.7", "15.8", "16", "17", "18", "19", "20", "21", "22",
)
# fmt: on
UMTS_RRC_CHANNELS: dict[int, str] = {
    0: "DL-DCCH",
    1: "UL-DCCH",
    2: "DL-CCCH",
    3: "UL-CCCH",
    4: "PCCH",
    7: "BCCH-FACH",
    8: "BCCH-BCH",
    16: "MIB",
    **{17 + index: f"SIB{name}" for index, name in enumerate(_UMTS_SIBS)},
    58: "SB1",
    59: "SB2",
}
"""GSMTAP v2 UMTS RRC sub-types (17 ``SIB1`` to 57 ``SIB22``, in gsmtap.h's order)."""

UM_BCCH, UM_CCCH, UM_AGCH, UM_PCH = 0x01, 0x02, 0x04, 0x05
UM_ACCH = 0x80
"""The flag of a slow associated control channel (SACCH) on a Um sub-type."""
UM_COMMON_CHANNELS: dict[int, str] = {UM_BCCH: "BCCH", UM_CCCH: "CCCH", UM_AGCH: "CCCH", UM_PCH: "CCCH"}
UM_DEDICATED_CHANNELS: dict[int, str] = {6: "SDCCH", 7: "SDCCH", 8: "SDCCH", 9: "FACCH", 10: "FACCH"}

# GSMTAP v3 (gsmtapv3.h) to v2.
_V3_TYPES = {0x0200: TYPE_UM, 0x0205: TYPE_ABIS, 0x0303: TYPE_UMTS_RRC, 0x0403: TYPE_LTE_RRC, 0x0404: TYPE_LTE_NAS}
_V3_LTE_RRC = {0x01: 4, 0x03: 5, 0x06: 7, 0x07: 6, 0x08: 0, 0x09: 1, 0x0A: 2, 0x0B: 3}
_V3_UMTS_RRC = {0x01: 0, 0x02: 1, 0x03: 2, 0x04: 3, 0x05: 4, 0x06: 5, 0x07: 6, 0x08: 7, 0x09: 8, 0x0B: 9, 0x0C: 10}
_V3_UMTS_MESSAGES = range(0x0101, 0x0134)
"""v3 UMTS RRC sub-types of single messages: 0x0101 (v2 11) to 0x0133 (v2 61), in the same order."""
_V3_UM_ACCH = 0x0100
V3_END_OF_METADATA = 0xFFFE
V3_CHANNEL_NUMBER, V3_CELL_INDEX, V3_TIMESLOT, V3_SUB_SLOT = 0x0002, 0x0005, 0x0006, 0x0007

# Radio resources messages that the air interface sends with an L2 pseudo-length (TS 44.018 9.1 and table
# 10.4.1), by the channel that carries them.
RR_PROTOCOL = 0x06
RR_BCCH_TYPES = frozenset(
    {0x00, 0x01, 0x02, 0x03, 0x04, 0x07, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1F, 0x3D, 0x3E}
    | {0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x4F}
)
"""System information on the BCCH: SI13, SI14, SI2bis, SI2ter, SI9, SI2quater, SI8, SI1, SI2, SI3, SI4, SI7,
SI16, SI17, SI18, SI19, SI20, SI15, SI13alt, SI2n, SI21, SI22, SI23."""
RR_SACCH_TYPES = frozenset({0x05, 0x06, 0x1D, 0x1E})
"""System information on the SACCH: SI5bis, SI5ter, SI5, SI6."""
RR_CCCH_TYPES = frozenset({0x20, 0x21, 0x22, 0x24, 0x39, 0x3A, 0x3F, 0x69, 0x6A})
"""On the CCCH: Notification/NCH, Paging Request types 1-3, Immediate Assignment (Extended, Reject),
Immediate Packet Assignment, EC Immediate Assignment type 1."""
MAX_PSEUDO_LENGTH = 63
"""The largest length the 6 bits of an L2 pseudo-length hold."""

# LAPDm (TS 44.006 3.3-3.8).
_LAPDM_UI, _LAPDM_SABM = 0x03, 0x2F
"""U frame control fields with the P/F bit cleared."""
MAX_SEGMENTED = 1024
"""The most bytes one reassembled LAPDm message may hold; far above what the layer 3 sends in segments."""
MAX_LINKS = 1024
"""The most LAPDm links with a message being reassembled at once; beyond, the oldest is dropped."""
MAX_EXAMPLES = 20
"""How many malformed packets ``GsmtapStats.examples`` describes."""
MAX_KINDS = 64
"""How many unmapped kinds ``GsmtapStats.unmapped_kinds`` names; the rest are counted as ``other``."""

_HEADER_V2 = struct.Struct("!BBBBHbbIBBBx")
_HEADER_V3 = struct.Struct("!BxHHH")

_PORT_BYTES = GSMTAP_PORT.to_bytes(2, "big")
_ETHERNET_IP = struct.Struct("!12xHB8xB")
"""Ethertype, then (for IPv4) version/IHL and protocol."""


class MalformedGsmtapError(ValueError):
    """A GSMTAP header that cannot be read; the message says why."""


@dataclass(slots=True)
class GsmtapStats:
    """What a capture held besides the frames given: ``packets`` read; ``frames`` given; ``not_gsmtap``
    (other traffic); ``unmapped`` GSMTAP packets of a type or sub-type this reader does not map, by kind in
    ``unmapped_kinds`` (``v2 0x01/0x0b``: type/sub-type as the packet numbers them; past ``MAX_KINDS`` kinds,
    ``other``); ``malformed`` GSMTAP or user link packets that could not be read, the first ``MAX_EXAMPLES``
    described in ``examples`` as (packet number, reason); LAPDm frames without a layer 3 message
    (``lapdm_empty``: supervisory frames, UA, empty UI), retransmitted I frames skipped
    (``lapdm_retransmitted``) and segmented messages that could not be completed (``lapdm_incomplete``: a
    segment lost, too long, or the capture ended)."""

    packets: int = 0
    frames: int = 0
    not_gsmtap: int = 0
    unmapped: int = 0
    malformed: int = 0
    lapdm_empty: int = 0
    lapdm_retransmitted: int = 0
    lapdm_incomplete: int = 0
    unmapped_kinds: dict[str, int] = field(default_factory=dict)
    examples: list[tuple[int, str]] = field(default_factory=list)

    def count_malformed(self, number: int, reason: str) -> None:
        self.malformed += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append((number, reason))

    def count_unmapped(self, kind: str) -> None:
        self.unmapped += 1
        if kind not in self.unmapped_kinds and len(self.unmapped_kinds) >= MAX_KINDS:
            kind = "other"
        self.unmapped_kinds[kind] = self.unmapped_kinds.get(kind, 0) + 1


@dataclass(frozen=True, slots=True)
class GsmtapHeader:
    """A GSMTAP header in v2 terms, whichever version carried it: ``type`` and ``sub_type`` as v2 numbers
    them (``None`` for a v3 type or sub-type with no v2 number; ``kind`` then names it); ``uplink_bit``
    is the ARFCN's uplink flag (v2, and SCAT's GSM channel numbers in v3); ``payload`` the message."""

    version: int
    type: int | None
    sub_type: int | None
    kind: str
    channel_number: int | None
    uplink_bit: bool
    timeslot: int
    sub_slot: int
    cell_index: int | None
    payload: bytes


def parse_gsmtap(data: bytes) -> GsmtapHeader:
    """The header and message of one GSMTAP packet (the UDP payload). Raises ``MalformedGsmtapError``."""
    if len(data) < 8:
        raise MalformedGsmtapError(f"{len(data)} bytes, shorter than any GSMTAP header")
    version = data[0]
    if version == 2:
        return _parse_v2(data)
    if version == 3:
        return _parse_v3(data)
    raise MalformedGsmtapError(f"GSMTAP version {version}, not 2 or 3")


def _parse_v2(data: bytes) -> GsmtapHeader:
    if len(data) < _HEADER_V2.size:
        raise MalformedGsmtapError(f"a v2 header of {len(data)} bytes, shorter than 16")
    _version, words, kind, timeslot, arfcn, _signal, _snr, _frame, sub_type, _antenna, sub_slot = (
        _HEADER_V2.unpack_from(data)
    )
    start = words * 4
    if start < _HEADER_V2.size or start > len(data):
        raise MalformedGsmtapError(
            f"v2 header length {words} words ({start} bytes) in a packet of {len(data)} bytes, "
            f"where the header takes at least 16"
        )
    return GsmtapHeader(
        2,
        kind,
        sub_type,
        f"v2 0x{kind:02x}/0x{sub_type:02x}",
        arfcn & 0x3FFF,
        bool(arfcn & 0x4000),
        timeslot,
        sub_slot,
        None,
        data[start:],
    )


def _parse_v3(data: bytes) -> GsmtapHeader:
    _version, words, kind3, sub3 = _HEADER_V3.unpack_from(data)
    if words < 2 or words * 4 > len(data) + 3:
        raise MalformedGsmtapError(
            f"v3 header length {words} words ({words * 4} bytes) in a packet of {len(data)} bytes"
        )
    metadata, at = _v3_metadata(data)
    channel_number = _integer(metadata.get(V3_CHANNEL_NUMBER))
    kind = f"v3 0x{kind3:04x}/0x{sub3:04x}"
    kind2 = _V3_TYPES.get(kind3)
    sub2 = None if kind2 is None else _v3_sub_type(kind2, sub3)
    uplink = False
    if kind2 in (TYPE_UM, TYPE_ABIS) and channel_number is not None:
        # GSM ARFCNs end at 1023: SCAT carries the v2 uplink and PCS flags in the v3 channel number.
        uplink = bool(channel_number & 0x4000)
        channel_number &= 0x3FFF
    return GsmtapHeader(
        3,
        kind2 if sub2 is not None else None,
        sub2,
        kind,
        channel_number,
        uplink,
        _integer(metadata.get(V3_TIMESLOT)) or 0,
        _integer(metadata.get(V3_SUB_SLOT)) or 0,
        _integer(metadata.get(V3_CELL_INDEX)),
        data[at:],
    )


def _v3_metadata(data: bytes) -> tuple[dict[int, bytes], int]:
    """The v3 metadata values by tag (the first of a repeated tag), and where the message starts: after the
    end tag, wherever ``hdr_len`` points."""
    found: dict[int, bytes] = {}
    at = _HEADER_V3.size
    end = len(data)
    while at + 2 <= end:
        tag = (data[at] << 8) | data[at + 1]
        if tag == V3_END_OF_METADATA:
            return found, at + 2
        if at + 4 > end:
            raise MalformedGsmtapError(f"v3 metadata tag 0x{tag:04x} at byte {at} is cut short")
        length = (data[at + 2] << 8) | data[at + 3]
        if at + 4 + length > end:
            raise MalformedGsmtapError(
                f"v3 metadata tag 0x{tag:04x} at byte {at} claims {length} bytes, past the end of the packet"
            )
        found.setdefault(tag, data[at + 4 : at + 4 + length])
        at += 4 + length
    raise MalformedGsmtapError("v3 metadata without its end tag (0xfffe)")


def _integer(value: bytes | None) -> int | None:
    """A big-endian unsigned metadata value of 1 to 4 bytes; None if absent or of another size."""
    if value is None or not 1 <= len(value) <= 4:
        return None
    return int.from_bytes(value, "big")


def _v3_sub_type(kind2: int, sub3: int) -> int | None:
    """The v2 sub-type of a v3 sub-type of a mapped type, or None."""
    if kind2 == TYPE_LTE_RRC:
        return _V3_LTE_RRC.get(sub3)
    if kind2 == TYPE_LTE_NAS:
        return sub3 if sub3 in LTE_NAS_CHANNELS else None
    if kind2 == TYPE_UMTS_RRC:
        if sub3 in _V3_UMTS_MESSAGES:
            return sub3 - 0x0101 + 11
        return _V3_UMTS_RRC.get(sub3)
    if kind2 == TYPE_UM:
        channel = sub3 & 0xFF
        if sub3 & ~(0xFF | _V3_UM_ACCH) or channel >= UM_ACCH:
            return None
        return channel | (UM_ACCH if sub3 & _V3_UM_ACCH else 0)
    return sub3 if sub3 < 0x100 else None  # Abis: the v2 numbering of Um channels, where QCSuper sets one


# From layer 3 bytes to frames.


def gsm_layer3(layer3: bytes, channel: str) -> tuple[str, str, bytes]:
    """(layer, channel, payload) of a GSM layer 3 message without an L2 header, sent on ``channel``: a radio
    resources message of the pseudo-length kind becomes RR (on the channel that carries it), with the
    pseudo-length prepended; anything else stays DTAP on ``channel``."""
    if len(layer3) >= 2 and layer3[0] == RR_PROTOCOL and len(layer3) <= MAX_PSEUDO_LENGTH:
        rr_channel = _rr_channel(layer3[1])
        if rr_channel is not None:
            return RR, rr_channel, bytes(((len(layer3) << 2) | 1,)) + layer3
    if _has_pseudo_length(layer3):
        rr_channel = _rr_channel(layer3[2])
        if rr_channel is not None:
            return RR, rr_channel, layer3
    return DTAP, channel, layer3


def _rr_channel(message_type: int) -> str | None:
    if message_type in RR_BCCH_TYPES:
        return "BCCH"
    if message_type in RR_CCCH_TYPES:
        return "CCCH"
    if message_type in RR_SACCH_TYPES:
        return "SACCH"
    return None


def _has_pseudo_length(message: bytes) -> bool:
    """Whether ``message`` starts with an L2 pseudo-length octet (bits 2-1 ``01``) before a radio resources
    header (skip indicator 0, protocol discriminator 6)."""
    return len(message) >= 3 and message[0] & 0x03 == 0x01 and message[1] == RR_PROTOCOL


def _common_rr(message: bytes) -> bytes:
    """A BCCH/CCCH message with its pseudo-length: as carried, or with one prepended where the writer left
    it out (a radio resources header first, of a message type sent with one)."""
    if (
        len(message) >= 2
        and message[0] == RR_PROTOCOL
        and _rr_channel(message[1]) is not None
        and len(message) <= MAX_PSEUDO_LENGTH
    ):
        return bytes(((len(message) << 2) | 1,)) + message
    return message


@dataclass(slots=True)
class _Link:
    """A LAPDm link's state: the last I frame accepted, and the segments of a message being reassembled."""

    last_sequence: int = -1
    last_information: bytes = b""
    segments: list[bytes] = field(default_factory=list)
    size: int = 0


class _Lapdm:
    """LAPDm frames of every link in a capture, to their layer 3 messages (TS 44.006)."""

    def __init__(self, stats: GsmtapStats) -> None:
        self._stats = stats
        self._links: dict[tuple[int, ...], _Link] = {}

    def layer3(self, block: bytes, link: tuple[int, ...], number: int) -> bytes | None:
        """The layer 3 message that the LAPDm frame ``block`` completes on ``link``, or None."""
        if len(block) < 3:
            self._stats.count_malformed(number, f"a LAPDm frame of {len(block)} bytes")
            return None
        address, control, third = block[0], block[1], block[2]
        if not address & 0x01:
            # Not a one-octet LAPDm address: the short L2 header (format Bter) of a short-PD message.
            self._stats.lapdm_empty += 1
            return None
        if control & 0x01 and control & 0xEF not in (_LAPDM_UI, _LAPDM_SABM):
            self._stats.lapdm_empty += 1  # supervisory frames and U frames without layer 3
            return None
        if not third & 0x01:
            # Format B4: no length octet, the information field runs to the end of the block.
            information, more = block[2:], False
        else:
            length = third >> 2
            if 3 + length > len(block):
                self._stats.count_malformed(number, f"a LAPDm length of {length} in a block of {len(block)} bytes")
                return None
            information, more = block[3 : 3 + length], bool(third & 0x02)
        if control & 0x01:  # UI or SABM
            if not information:
                self._stats.lapdm_empty += 1
                return None
            return information
        return self._information(control >> 1 & 0x07, information, more, (*link, address >> 2 & 0x07))

    def _information(self, sequence: int, information: bytes, more: bool, key: tuple[int, ...]) -> bytes | None:
        """The message an I frame with send sequence number ``sequence`` completes, if any."""
        state = self._links.get(key)
        if state is None:
            if len(self._links) >= MAX_LINKS:
                oldest = next(iter(self._links))
                if self._links.pop(oldest).segments:
                    self._stats.lapdm_incomplete += 1
            state = self._links[key] = _Link()
        if sequence == state.last_sequence and information == state.last_information:
            self._stats.lapdm_retransmitted += 1
            return None
        if state.segments and sequence != (state.last_sequence + 1) % 8:
            self._drop(state)
        state.last_sequence, state.last_information = sequence, information
        if more or state.segments:
            state.segments.append(information)
            state.size += len(information)
            if state.size > MAX_SEGMENTED:
                self._drop(state)
                return None
            if more:
                return None
            information = b"".join(state.segments)
            state.segments, state.size = [], 0
        if not information:
            self._stats.lapdm_empty += 1
            return None
        return information

    def _drop(self, state: _Link) -> None:
        self._stats.lapdm_incomplete += 1
        state.segments, state.size = [], 0

    def finish(self) -> None:
        """Counts the messages still being reassembled when the capture ends."""
        for state in self._links.values():
            if state.segments:
                self._stats.lapdm_incomplete += 1
        self._links.clear()


BUDGET_EVERY = 4095
"""The task's budget is checked once in this many packets plus one (each check reads the clock)."""


class GsmtapReader:
    """The signalling messages of one capture, and what else it held.

        reader = GsmtapReader(stream, "phone.pcap")
        for frame in reader.frames():
            ...
        reader.stats.not_gsmtap, reader.stats.unmapped, reader.stats.malformed

    ``frames()`` reads the capture once, lazily; ``stats`` is complete once it is exhausted (and counts what
    was read so far if it stops early). ``CaptureFormatError`` and ``TruncatedCaptureError`` from
    ``read_capture`` propagate after the frames of every sound packet before the damage."""

    def __init__(self, stream: IO[bytes], name: str) -> None:
        self._stream = stream
        self._name = name
        self.stats = GsmtapStats()

    def frames(self) -> Iterator[Frame]:
        stats = self.stats
        lapdm = _Lapdm(stats)
        port = _PORT_BYTES
        ethernet = _ETHERNET_IP.unpack_from
        packets = not_gsmtap = 0
        try:
            for packet in read_capture(self._stream, self._name):
                packets += 1
                if not packets & BUDGET_EVERY:  # a capture with no GSMTAP yields nothing: the budget still holds
                    budget.check()
                data = packet.data
                linktype = packet.linktype
                # The common layouts, read at fixed offsets: most packets of a traffic capture end here.
                if linktype == LINKTYPE_ETHERNET:
                    if len(data) >= 38:
                        ethertype, version_ihl, protocol = ethernet(data)
                        if ethertype == 0x0800 and version_ihl == 0x45:
                            if protocol != UDP or (data[34:36] != port and data[36:38] != port):
                                not_gsmtap += 1
                                continue
                        elif ethertype == 0x86DD and (
                            data[20] == TCP
                            or (data[20] == UDP and len(data) >= 58 and data[54:56] != port and data[56:58] != port)
                        ):
                            not_gsmtap += 1  # IPv6 whose next header is TCP or UDP (extension headers: below)
                            continue
                elif linktype in (LINKTYPE_IPV4, LINKTYPE_RAW):
                    if (
                        len(data) >= 24
                        and data[0] == 0x45
                        and (data[9] != UDP or (data[20:22] != port and data[22:24] != port))
                    ):
                        not_gsmtap += 1
                        continue
                elif linktype == LINKTYPE_USER1:
                    frame = _user_nas(packet, stats)
                    if frame is not None:
                        stats.frames += 1
                        yield frame
                    continue
                segment = decode(packet)
                if (
                    segment is None
                    or segment.protocol != UDP
                    or (segment.sport != GSMTAP_PORT and segment.dport != GSMTAP_PORT)
                ):
                    not_gsmtap += 1
                    continue
                if segment.cut:
                    stats.count_malformed(packet.number, "a GSMTAP packet cut short by the capture")
                    continue
                for frame in _gsmtap_frames(packet, segment.payload, stats, lapdm):
                    stats.frames += 1
                    yield frame
            lapdm.finish()
        finally:
            stats.packets += packets
            stats.not_gsmtap += not_gsmtap


def read_gsmtap(stream: IO[bytes], name: str) -> Iterator[Frame]:
    """The signalling messages of the capture in ``stream`` (GSMTAP v2/v3 over UDP, and EPS NAS in link type
    148), in file order. ``GsmtapReader`` gives the counts of what else the capture held."""
    return GsmtapReader(stream, name).frames()


def _user_nas(packet: Packet, stats: GsmtapStats) -> Frame | None:
    """The EPS NAS message that a link type 148 packet is."""
    data = packet.data
    if not data:
        stats.count_malformed(packet.number, "an empty NAS packet")
        return None
    protected = data[0] & 0x0F == 0x07 and 1 <= data[0] >> 4 <= 5  # EMM with security header type 1-5
    return Frame(
        packet.number,
        packet.offset,
        packet.time_ns,
        LTE,
        NAS,
        "protected" if protected else "plain",
        None,
        None,
        None,
        data,
    )


def _gsmtap_frames(packet: Packet, data: bytes, stats: GsmtapStats, lapdm: _Lapdm) -> Iterator[Frame]:
    try:
        header = parse_gsmtap(data)
    except MalformedGsmtapError as error:
        stats.count_malformed(packet.number, str(error))
        return
    kind, sub_type, payload = header.type, header.sub_type, header.payload
    if kind is None or sub_type is None:
        stats.count_unmapped(header.kind)
        return
    if not payload:
        stats.count_malformed(packet.number, "a GSMTAP header without a message")
        return
    if kind == TYPE_LTE_RRC and sub_type in LTE_RRC_CHANNELS:
        channel = LTE_RRC_CHANNELS[sub_type]
        yield _frame(packet, header, LTE, RRC, channel, channel.startswith("UL-"), payload)
    elif kind == TYPE_LTE_NAS and sub_type in LTE_NAS_CHANNELS:
        uplink = True if header.uplink_bit else None
        yield _frame(packet, header, LTE, NAS, LTE_NAS_CHANNELS[sub_type], uplink, payload)
    elif kind == TYPE_UMTS_RRC and sub_type in UMTS_RRC_CHANNELS:
        channel = UMTS_RRC_CHANNELS[sub_type]
        yield _frame(packet, header, UMTS, RRC, channel, channel.startswith("UL-"), payload)
    elif kind == TYPE_UM and sub_type in UM_COMMON_CHANNELS:
        yield _frame(packet, header, GSM, RR, UM_COMMON_CHANNELS[sub_type], header.uplink_bit, _common_rr(payload))
    elif kind == TYPE_UM and sub_type & ~UM_ACCH in UM_DEDICATED_CHANNELS:
        yield from _um_dedicated(packet, header, sub_type, payload, stats, lapdm)
    elif kind == TYPE_ABIS:
        channel = _abis_channel(sub_type)
        layer, channel, payload = gsm_layer3(payload, channel)
        yield _frame(packet, header, GSM, layer, channel, header.uplink_bit, payload)
    else:
        stats.count_unmapped(header.kind)


def _um_dedicated(
    packet: Packet, header: GsmtapHeader, sub_type: int, block: bytes, stats: GsmtapStats, lapdm: _Lapdm
) -> Iterator[Frame]:
    sacch = bool(sub_type & UM_ACCH)
    if sacch:
        block = block[2:]  # the SACCH L1 header: MS power and timing advance
    channel = "SACCH" if sacch else UM_DEDICATED_CHANNELS[sub_type & ~UM_ACCH]
    link = (header.channel_number or 0, header.timeslot, header.sub_slot, sub_type, int(header.uplink_bit))
    layer3 = lapdm.layer3(block, link, packet.number)
    if layer3 is not None:
        layer, channel, payload = gsm_layer3(layer3, channel)
        yield _frame(packet, header, GSM, layer, channel, header.uplink_bit, payload)


def _abis_channel(sub_type: int) -> str:
    """The dedicated channel an Abis frame's sub-type names (QCSuper numbers them as Um sub-types), or DCCH."""
    if sub_type & UM_ACCH:
        return "SACCH"
    return UM_DEDICATED_CHANNELS.get(sub_type, "DCCH")


def _frame(
    packet: Packet,
    header: GsmtapHeader,
    rat: str,
    layer: str,
    channel: str,
    uplink: bool | None,
    payload: bytes,
) -> Frame:
    return Frame(
        packet.number,
        packet.offset,
        packet.time_ns,
        rat,
        layer,
        channel,
        uplink,
        header.channel_number,
        header.cell_index,
        payload,
    )
