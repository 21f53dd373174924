"""Qualcomm DIAG logs for the tests (QMDL framing: what ``.qmdl`` and ``.mi2log`` files hold), written
independently of ``vestige.cellular.diag`` (its own bitwise CRC, escaping and layouts), so that the reader is
checked against another writer and the real logs, not against itself.

    log = DiagLogBuilder()
    log.lte_rrc(bytes.fromhex("2822205010280f00"), "DL-DCCH", earfcn=5230, pci=312, at=T0)
    log.lte_nas(bytes.fromhex("075501"), uplink=False, at=T0 + 1_000_000)
    log.write(tmp_path / "attack.qmdl")            # or compress=True for Rayhunter's gzip QMDL

Frame numbers count from 1 in the order frames were added (every HDLC frame, as the reader numbers them);
each adding method returns the number of the frame it added. Times are nanoseconds since the Unix epoch,
written as the DIAG timestamp the reader turns back into the same value (no leap-second correction).

Layouts (see ``vestige.cellular.diag`` for where each is documented): log packet ``10 00 len len code u64``;
LTE RRC OTA 0xB0C0 versions 2-27; LTE NAS 0xB0E0-0xB0ED; GSM RR 0x512F and cell information 0x5134;
WCDMA RRC 0x412F (older and newer packets) and cell id 0x4127; UMTS NAS 0x713A.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass, field
from pathlib import Path

GPS_EPOCH_NS = 315_964_800_000_000_000
T0 = 1_700_000_000_000_000_000
"""2023-11-14T22:13:20Z, a time for logs that need one."""

LTE_CHANNELS = ("BCCH-BCH", "BCCH-DL-SCH", "MCCH", "PCCH", "DL-CCCH", "DL-DCCH", "UL-CCCH", "UL-DCCH")
_PDU_NUMBERS = {
    "v2": (1, 2, 3, 4, 5, 6, 7, 8),
    "v9": (8, 9, 10, 11, 12, 13, 14, 15),
    "v14": (1, 2, 4, 5, 6, 7, 8, 9),
    "v19": (1, 3, 6, 7, 8, 9, 10, 11),
}
_VERSION_NUMBERING = {
    **dict.fromkeys((2, 3, 4, 6, 7, 8, 13, 22), "v2"),
    **dict.fromkeys((9, 12), "v9"),
    **dict.fromkeys((14, 15, 16, 20, 24, 25), "v14"),
    **dict.fromkeys((19, 26, 27), "v19"),
}
LTE_RRC_VERSIONS = tuple(sorted(_VERSION_NUMBERING))

NAS_CODES = {
    # (EMM?, protected?, uplink?): log code
    (True, False, False): 0xB0EC,
    (True, False, True): 0xB0ED,
    (True, True, False): 0xB0EA,
    (True, True, True): 0xB0EB,
    (False, False, False): 0xB0E2,
    (False, False, True): 0xB0E3,
    (False, True, False): 0xB0E0,
    (False, True, True): 0xB0E1,
}
GSM_CHANNEL_TYPES = {"DCCH": 0, "BCCH": 1, "RACH": 2, "CCCH": 3, "SACCH": 4, "SDCCH": 5, "FACCH": 6}
UMTS_CHANNEL_TYPES = {
    "UL-CCCH": 0,
    "UL-DCCH": 1,
    "DL-CCCH": 2,
    "DL-DCCH": 3,
    "BCCH-BCH": 4,
    "BCCH-FACH": 5,
    "PCCH": 6,
    "MCCH": 7,
    "MSCH": 8,
}


def crc16_x25(data: bytes) -> int:
    """CRC-16/X.25, bit by bit (reflected polynomial 0x8408, initial value and final XOR 0xffff)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def escape(data: bytes) -> bytes:
    out = bytearray()
    for byte in data:
        if byte in (0x7D, 0x7E):
            out += bytes((0x7D, byte ^ 0x20))
        else:
            out.append(byte)
    return bytes(out)


def hdlc(content: bytes, *, crc: int | None = None) -> bytes:
    """One frame as stored: ``content``, its CRC (or the given one) little-endian, escaped, and the flag."""
    check = crc16_x25(content) if crc is None else crc
    return escape(content + struct.pack("<H", check)) + b"\x7e"


def diag_timestamp(time_ns: int) -> int:
    """The DIAG timestamp of ``time_ns``: 1.25 ms ticks since the GPS epoch, then 1/32 chips (49152 a tick,
    about 25.4 ns each), rounded down: a time that is a multiple of 78.125 us (3072 chips) is exact."""
    ticks, rest = divmod(time_ns - GPS_EPOCH_NS, 1_250_000)
    chips = rest * 49_152 // 1_250_000
    return ticks << 16 | chips


def log_packet(code: int, body: bytes, time_ns: int | None) -> bytes:
    """A DIAG log packet (command 0x10) without its framing."""
    timestamp = 0 if time_ns is None else diag_timestamp(time_ns)
    length = 12 + len(body)
    return struct.pack("<BBHHHQ", 0x10, 0, length, length, code, timestamp) + body


def lte_rrc_body(
    payload: bytes,
    channel: str,
    *,
    version: int = 15,
    earfcn: int = 5230,
    pci: int = 312,
    sfn: int = 0,
    subframe: int = 0,
    bearer: int = 1,
    pdu: int | None = None,
    length: int | None = None,
) -> bytes:
    """An LTE RRC OTA (0xB0C0) body of ``version`` (``pdu`` and ``length`` override the true values)."""
    number = _PDU_NUMBERS[_VERSION_NUMBERING[version]][LTE_CHANNELS.index(channel)] if pdu is None else pdu
    size = len(payload) if length is None else length
    timing = sfn << 4 | subframe
    if version <= 4:
        header = struct.pack("<BBBBHHHBH", version, 9, 0, bearer, pci, earfcn, timing, number, size)
    elif version <= 7:
        header = struct.pack("<BBBBHHHBIH", version, 9, 0, bearer, pci, earfcn, timing, number, 0, size)
    elif version <= 24:
        header = struct.pack("<BBBBHIHBIH", version, 14, 2, bearer, pci, earfcn, timing, number, 0, size)
    else:
        header = struct.pack("<BBBBBBHIHBIH", version, 15, 3, 15, 3, bearer, pci, earfcn, timing, number, 0, size)
    return header + payload


def lte_nas_body(payload: bytes, version: int = 1) -> bytes:
    """An LTE NAS OTA body: version, NAS release 9.5.0, the message."""
    return bytes((version, 9, 5, 0)) + payload


def gsm_rr_body(payload: bytes, channel: str, *, uplink: bool, length: int | None = None) -> bytes:
    """A GSM RR signalling (0x512F) body; on BCCH and CCCH ``payload`` starts with the L2 pseudo-length."""
    kind = GSM_CHANNEL_TYPES[channel] | (0 if uplink else 0x80)
    at = 2 if channel in ("BCCH", "CCCH") else 1
    message_type = payload[at] if len(payload) > at else 0
    return bytes((kind, message_type, len(payload) if length is None else length)) + payload


def gsm_cell_information_body(arfcn: int, bsic: int, band: int = 8) -> bytes:
    """A GSM RR cell information (0x5134) body: ARFCN and band, BCC, NCC, then a fixed cell id (0x7618), LAI
    (262-02, LAC 0x141), priority and NCC permitted, which the reader does not use."""
    return (
        struct.pack("<HBBH", band << 12 | arfcn, bsic & 7, bsic >> 3, 0x7618) + bytes.fromhex("62f2200141") + b"\0\xff"
    )


def wcdma_rrc_body(
    payload: bytes,
    channel: str,
    *,
    uarfcn: int | None = None,
    psc: int | None = None,
    sib: int | None = None,
    kind: int | None = None,
) -> bytes:
    """A WCDMA RRC signalling (0x412F) body: the newer packet (type | 0x80, with UARFCN and PSC) when
    ``uarfcn`` is given, else the older one; ``sib`` makes it one system information block of that type
    (``channel`` is then ignored); ``kind`` overrides the channel type."""
    newer = uarfcn is not None
    if sib is not None:
        code = 0x89 if newer else 0xFE
        message = bytes((sib,)) + payload
    else:
        code = UMTS_CHANNEL_TYPES[channel] | (0x80 if newer else 0) if kind is None else kind
        message = payload
    carrier = struct.pack("<HH", uarfcn or 0, psc or 0) if newer else b""
    return struct.pack("<BBH", code, 3, len(message)) + carrier + message


def wcdma_cell_id_body(uplink: int, downlink: int, psc: int) -> bytes:
    """A WCDMA cell id (0x4127) body: UARFCNs, cell id, URA, flags, access, PSC << 4, PLMN, LAC, RAC."""
    return struct.pack("<IIIHBBH", uplink, downlink, 0x82D8541, 0, 0, 0, psc << 4) + bytes(6) + struct.pack("<II", 1, 1)


def umts_nas_body(payload: bytes, *, uplink: bool, length: int | None = None) -> bytes:
    """A UMTS NAS OTA (0x713A) body: direction (1 from the phone), length u32, the message."""
    return struct.pack("<BI", 1 if uplink else 0, len(payload) if length is None else length) + payload


@dataclass
class DiagLogBuilder:
    """Stored frames in file order, written as a QMDL (optionally gzip-compressed)."""

    frames: list[bytes] = field(default_factory=list)
    count: int = 0
    """Frames completed so far (by a flag), as the reader numbers them."""
    _open: bool = False
    """The bytes after the last flag are the start of a frame."""

    def raw(self, stored: bytes) -> int:
        """Bytes exactly as stored (a broken frame, flags, a frame with no flag yet); returns ``count``."""
        self.frames.append(stored)
        parts = stored.split(b"\x7e")
        for index, part in enumerate(parts[:-1]):
            if part or (index == 0 and self._open):
                self.count += 1
        self._open = bool(parts[-1]) if len(parts) > 1 else self._open or bool(parts[-1])
        return self.count

    def content(self, data: bytes, *, crc: int | None = None) -> int:
        """Any DIAG packet (its command first), framed."""
        return self.raw(hdlc(data, crc=crc))

    def packet(self, code: int, body: bytes, at: int | None = T0, *, multi_radio: int | None = None) -> int:
        packet = log_packet(code, body, at)
        if multi_radio is not None:
            packet = struct.pack("<BBHI", 0x98, 1, 0, multi_radio) + packet
        return self.content(packet)

    def lte_rrc(self, payload: bytes, channel: str, at: int | None = T0, **layout: int) -> int:
        return self.packet(0xB0C0, lte_rrc_body(payload, channel, **layout), at)

    def lte_nas(
        self, payload: bytes, *, uplink: bool, protected: bool = False, esm: bool = False, at: int | None = T0
    ) -> int:
        return self.packet(NAS_CODES[(not esm, protected, uplink)], lte_nas_body(payload), at)

    def gsm_cell(self, arfcn: int, bsic: int, at: int | None = T0) -> int:
        return self.packet(0x5134, gsm_cell_information_body(arfcn, bsic), at)

    def gsm_rr(self, payload: bytes, channel: str, *, uplink: bool = False, at: int | None = T0) -> int:
        return self.packet(0x512F, gsm_rr_body(payload, channel, uplink=uplink), at)

    def wcdma_cell(self, uplink: int, downlink: int, psc: int, at: int | None = T0) -> int:
        return self.packet(0x4127, wcdma_cell_id_body(uplink, downlink, psc), at)

    def wcdma_rrc(self, payload: bytes, channel: str, at: int | None = T0, **layout: int) -> int:
        return self.packet(0x412F, wcdma_rrc_body(payload, channel, **layout), at)

    def umts_nas(self, payload: bytes, *, uplink: bool, at: int | None = T0) -> int:
        return self.packet(0x713A, umts_nas_body(payload, uplink=uplink), at)

    def data(self) -> bytes:
        return b"".join(self.frames)

    def write(self, path: Path, *, compress: bool = False) -> Path:
        data = self.data()
        path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
        return path
