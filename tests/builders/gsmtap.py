"""GSMTAP captures for the tests of the cellular package: any signalling message (pycrate-encoded attack
messages included) in a GSMTAP v2 or v3 header, carried over UDP to port 4729 in the link types phones'
loggers write (1 Ethernet/IPv4/UDP as SCAT, 228 raw IPv4 as QCSuper and Rayhunter, 101 raw IP), written as
pcap or pcapng; and EPS NAS in link type 148 (LINKTYPE_USER1) as srsRAN writes it.

    capture = GsmtapCapture()                                   # link type 228, GSMTAP v2
    capture.lte_rrc("DL-DCCH", release_to_geran, earfcn=6300)   # returns the packet number (from 1)
    capture.lte_nas(bytes.fromhex("075501"))                    # EMM Identity Request, plain
    capture.gsm_rr("BCCH", si3_with_pseudo_length, arfcn=20)
    capture.gsm_dedicated("SDCCH", bytes.fromhex("051801"))     # MM Identity Request in a LAPDm UI frame
    capture.add(TYPE_UM, UM["PCH"], paging, time_ns=..., arfcn=20, uplink=False)   # any type/sub-type
    path.write_bytes(capture.pcap())                            # or capture.pcapng()

The GSMTAP headers are built here from gsmtap.h and the gsmtapv3 draft, the IP and UDP headers with dpkt
and the pcap records with ``struct`` (pcapng through ``vestige.evidence.capture.write_pcapng``), so that the
reader under test is checked against other writers.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import dpkt

from vestige.evidence.capture import Packet, write_pcapng

GSMTAP_PORT = 4729
ETHERNET, RAW, IPV4, USER0, USER1 = 1, 101, 228, 147, 148
T0 = 1_765_000_000_000_000_000
"""Default time of the first packet (ns since the epoch); each next packet comes 1 ms later."""

# GSMTAP v2 (libosmocore gsmtap.h).
TYPE_UM, TYPE_ABIS, TYPE_UMTS_RRC, TYPE_LTE_RRC, TYPE_LTE_MAC, TYPE_LTE_NAS = 0x01, 0x02, 0x0C, 0x0D, 0x0E, 0x12
LTE_RRC = {
    "DL-CCCH": 0,
    "DL-DCCH": 1,
    "UL-CCCH": 2,
    "UL-DCCH": 3,
    "BCCH-BCH": 4,
    "BCCH-DL-SCH": 5,
    "PCCH": 6,
    "MCCH": 7,
}
UMTS_RRC = {"DL-DCCH": 0, "UL-DCCH": 1, "DL-CCCH": 2, "UL-CCCH": 3, "PCCH": 4, "BCCH-FACH": 7, "BCCH-BCH": 8, "MIB": 16}
UMTS_SIB1 = 17
"""v2 sub-type of SIB1; SIB2 is 18, SIB3 19... (gsmtap.h's order)."""
UM = {"BCCH": 1, "CCCH": 2, "RACH": 3, "AGCH": 4, "PCH": 5, "SDCCH": 6, "SDCCH/4": 7, "SDCCH/8": 8}
UM.update({"TCH/F": 9, "TCH/H": 10, "PACCH": 11, "PDCH": 13})
UM_ACCH = 0x80
LTE_NAS_PLAIN, LTE_NAS_PROTECTED = 0, 1

# GSMTAP v3 (the gsmtapv3.h draft).
V3_UM, V3_ABIS, V3_UMTS_RRC, V3_LTE_RRC, V3_NAS_EPS, V3_NR_RRC = 0x0200, 0x0205, 0x0303, 0x0403, 0x0404, 0x0503
V3_LTE_RRC_SUB = {
    "BCCH-BCH": 0x01,
    "BCCH-DL-SCH": 0x03,
    "MCCH": 0x06,
    "PCCH": 0x07,
    "DL-CCCH": 0x08,
    "DL-DCCH": 0x09,
    "UL-CCCH": 0x0A,
    "UL-DCCH": 0x0B,
}
V3_UM_ACCH = 0x0100
V3_END = 0xFFFE
TAG_TIMESTAMP, TAG_CHANNEL_NUMBER, TAG_CELL_INDEX, TAG_TIMESLOT, TAG_SUB_SLOT = 0x0000, 0x0002, 0x0005, 0x0006, 0x0007


def gsmtap_v2(
    kind: int,
    sub_type: int,
    payload: bytes,
    *,
    arfcn: int = 0,
    uplink: bool = False,
    pcs: bool = False,
    timeslot: int = 0,
    sub_slot: int = 0,
    frame_number: int = 0,
    header_words: int = 4,
) -> bytes:
    """A GSMTAP v2 header (``header_words`` as written, whatever it says) and the message."""
    arfcn_field = (arfcn & 0x3FFF) | (0x4000 if uplink else 0) | (0x8000 if pcs else 0)
    header = struct.pack(
        "!BBBBHbbIBBBB", 2, header_words, kind, timeslot, arfcn_field, -70, 10, frame_number, sub_type, 0, sub_slot, 0
    )
    return header + b"\0" * max(0, header_words * 4 - 16) + payload


def gsmtap_v3(
    kind: int,
    sub_type: int,
    payload: bytes,
    *,
    metadata: Sequence[tuple[int, bytes]] = (),
    header_words: int | None = None,
    end: bool = True,
) -> bytes:
    """A GSMTAP v3 header: the metadata TLVs as given, the end tag (unless ``end`` is False), no padding;
    ``header_words`` defaults to the header's length rounded up to whole words, as SCAT writes it (so it
    points past the end tag by up to 3 bytes)."""
    tlvs = b"".join(struct.pack("!HH", tag, len(value)) + value for tag, value in metadata)
    if end:
        tlvs += struct.pack("!H", V3_END)
    words = math.ceil((8 + len(tlvs)) / 4) if header_words is None else header_words
    return struct.pack("!BBHHH", 3, 0, words, kind, sub_type) + tlvs + payload


def channel_number(value: int) -> tuple[int, bytes]:
    """The v3 channel number metadata (u32)."""
    return TAG_CHANNEL_NUMBER, struct.pack("!I", value)


def cell_index(value: int) -> tuple[int, bytes]:
    """The v3 BSIC/PSC/PCI metadata (u16, as SCAT writes it)."""
    return TAG_CELL_INDEX, struct.pack("!H", value)


def udp_ipv4(payload: bytes, *, sport: int = 40000, dport: int = GSMTAP_PORT) -> bytes:
    """An IPv4 packet carrying ``payload`` in UDP, from 127.0.0.1 to 127.0.0.1 as QCSuper sends it."""
    udp = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
    udp.ulen = len(udp)
    ip = dpkt.ip.IP(src=bytes((127, 0, 0, 1)), dst=bytes((127, 0, 0, 1)), p=dpkt.ip.IP_PROTO_UDP, ttl=64, data=udp)
    ip.len = len(ip)
    return bytes(ip)


def ethernet(ip_packet: bytes, *, ethertype: int = dpkt.ethernet.ETH_TYPE_IP) -> bytes:
    """An Ethernet II frame carrying ``ip_packet``."""
    frame = dpkt.ethernet.Ethernet(
        src=bytes.fromhex("020000000002"), dst=bytes.fromhex("020000000001"), type=ethertype, data=ip_packet
    )
    return bytes(frame)


def link_frame(linktype: int, gsmtap: bytes, *, sport: int = 40000, dport: int = GSMTAP_PORT) -> bytes:
    """``gsmtap`` in UDP over IPv4, framed for ``linktype`` (1, 101 or 228)."""
    ip_packet = udp_ipv4(gsmtap, sport=sport, dport=dport)
    if linktype == ETHERNET:
        return ethernet(ip_packet)
    if linktype in (RAW, IPV4):
        return ip_packet
    raise ValueError(f"link type {linktype} does not carry GSMTAP here")


def lapdm(
    layer3: bytes,
    *,
    frame: str = "UI",
    sapi: int = 0,
    send: int = 0,
    receive: int = 0,
    more: bool = False,
    command: bool = True,
    length_octet: bool = True,
    block: int = 23,
) -> bytes:
    """A LAPDm frame (TS 44.006) carrying ``layer3``: ``frame`` is UI, I, SABM, UA or RR (receive ready,
    a supervisory frame); ``length_octet`` False gives format B4 (no length octet); filled with 0x2b to a
    ``block`` of 23 bytes."""
    address = (sapi << 2) | (0x02 if command else 0) | 0x01
    control = {
        "UI": 0x03,
        "SABM": 0x3F,  # with the P bit, as a mobile sends it
        "UA": 0x73,
        "RR": (receive << 5) | 0x01,
        "I": (receive << 5) | (send << 1),
    }[frame]
    body = bytes((address, control))
    if length_octet:
        body += bytes(((len(layer3) << 2) | (0x02 if more else 0) | 0x01,))
    body += layer3
    return body + b"\x2b" * max(0, block - len(body))


def sacch_l1(power: int = 5, timing_advance: int = 1) -> bytes:
    """The 2-byte L1 header of a SACCH block."""
    return bytes((power & 0x1F, timing_advance))


@dataclass
class GsmtapCapture:
    """Packets in capture order, each a GSMTAP message (or any frame of the link type), written as pcap or
    pcapng. Every adding method returns the number of the packet it added (from 1, as Wireshark numbers)."""

    linktype: int = IPV4
    packets: list[tuple[int, bytes]] = field(default_factory=list)
    """(time_ns, link-layer frame)."""

    def add_frame(self, frame: bytes, time_ns: int | None = None) -> int:
        """Any link-layer frame (a TCP segment, a DNS query, a broken GSMTAP packet...)."""
        self.packets.append((T0 + len(self.packets) * 1_000_000 if time_ns is None else time_ns, frame))
        return len(self.packets)

    def add_gsmtap(self, gsmtap: bytes, time_ns: int | None = None, *, sport: int = 40000) -> int:
        """Already built GSMTAP bytes, in UDP to port 4729."""
        return self.add_frame(link_frame(self.linktype, gsmtap, sport=sport), time_ns)

    def add(
        self,
        kind: int,
        sub_type: int,
        payload: bytes,
        time_ns: int | None = None,
        arfcn: int = 0,
        uplink: bool = False,
        **header: int,
    ) -> int:
        """One message in a GSMTAP v2 header of type ``kind`` and ``sub_type``."""
        return self.add_gsmtap(gsmtap_v2(kind, sub_type, payload, arfcn=arfcn, uplink=uplink, **header), time_ns)

    def add_v3(
        self,
        kind: int,
        sub_type: int,
        payload: bytes,
        time_ns: int | None = None,
        metadata: Sequence[tuple[int, bytes]] = (),
    ) -> int:
        """One message in a GSMTAP v3 header (as SCAT writes it: ``hdr_len`` rounded up)."""
        return self.add_gsmtap(gsmtap_v3(kind, sub_type, payload, metadata=metadata), time_ns)

    def lte_rrc(
        self,
        channel: str,
        payload: bytes,
        time_ns: int | None = None,
        earfcn: int = 0,
        pci: int | None = None,
        version: int = 2,
    ) -> int:
        """An LTE RRC message (UPER bytes) on ``channel`` (``DL-DCCH``...); v3 carries the EARFCN and PCI in
        metadata, v2 the EARFCN in the ARFCN field with the uplink bit of UL channels (as Rayhunter)."""
        if version == 3:
            metadata = [channel_number(earfcn)] + ([] if pci is None else [cell_index(pci)])
            return self.add_v3(V3_LTE_RRC, V3_LTE_RRC_SUB[channel], payload, time_ns, metadata)
        return self.add(TYPE_LTE_RRC, LTE_RRC[channel], payload, time_ns, earfcn, channel.startswith("UL-"))

    def lte_nas(
        self,
        payload: bytes,
        time_ns: int | None = None,
        protected: bool = False,
        uplink: bool = False,
        earfcn: int = 0,
        version: int = 2,
    ) -> int:
        """An EPS NAS message; ``protected`` gives sub-type 1 (with a security header)."""
        sub_type = LTE_NAS_PROTECTED if protected else LTE_NAS_PLAIN
        if version == 3:
            return self.add_v3(V3_NAS_EPS, sub_type, payload, time_ns, [channel_number(earfcn)])
        return self.add(TYPE_LTE_NAS, sub_type, payload, time_ns, earfcn, uplink)

    def umts_rrc(self, channel: str, payload: bytes, time_ns: int | None = None, uarfcn: int = 0) -> int:
        """A UMTS RRC message on ``channel`` (``DL-DCCH``..., ``MIB``, or ``SIB<n>`` for n in 1-4)."""
        sub_type = UMTS_RRC[channel] if channel in UMTS_RRC else UMTS_SIB1 + int(channel.removeprefix("SIB")) - 1
        return self.add(TYPE_UMTS_RRC, sub_type, payload, time_ns, uarfcn, channel.startswith("UL-"))

    def gsm_rr(
        self, channel: str, payload: bytes, time_ns: int | None = None, arfcn: int = 0, uplink: bool = False
    ) -> int:
        """A radio resources message on a Um common channel (``BCCH``, ``CCCH``, ``AGCH``, ``PCH``), as given
        (with or without its L2 pseudo-length)."""
        return self.add(TYPE_UM, UM[channel], payload, time_ns, arfcn, uplink)

    def gsm_dedicated(
        self,
        channel: str,
        layer3: bytes,
        time_ns: int | None = None,
        arfcn: int = 0,
        uplink: bool = False,
        sacch: bool = False,
        timeslot: int = 0,
        **frame: int | bool | str,
    ) -> int:
        """A layer 3 message in a LAPDm frame (``lapdm(**frame)``) on a Um dedicated channel (``SDCCH``,
        ``SDCCH/8``, ``TCH/F``...), on its SACCH (with the L1 header) if ``sacch``."""
        block = lapdm(layer3, **frame)  # type: ignore[arg-type]
        sub_type = UM[channel] | (UM_ACCH if sacch else 0)
        payload = (sacch_l1() if sacch else b"") + block
        return self.add(TYPE_UM, sub_type, payload, time_ns, arfcn, uplink, timeslot=timeslot)

    def gsm_abis(
        self, layer3: bytes, time_ns: int | None = None, arfcn: int = 0, uplink: bool = False, sub_type: int = 0
    ) -> int:
        """A raw GSM layer 3 message in an Abis frame, as QCSuper (sub-type: the Um channel) and SCAT (0)
        write 2G signalling."""
        return self.add(TYPE_ABIS, sub_type, layer3, time_ns, arfcn, uplink)

    def _records(self) -> list[Packet]:
        return [
            Packet(number, time_ns, self.linktype, frame, len(frame), 0)
            for number, (time_ns, frame) in enumerate(self.packets, 1)
        ]

    def pcap(self, nanoseconds: bool = False) -> bytes:
        """A classic pcap (little-endian, microsecond or nanosecond times)."""
        return write_pcap(self._records(), self.linktype, nanoseconds)

    def pcapng(self) -> bytes:
        """A pcapng (one interface, nanosecond times)."""
        return pcapng_bytes(self._records())


def write_pcap(packets: Sequence[Packet], linktype: int, nanoseconds: bool = False) -> bytes:
    """A little-endian classic pcap of ``packets``."""
    magic, unit = (0xA1B23C4D, 1) if nanoseconds else (0xA1B2C3D4, 1000)
    parts = [struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)]
    for packet in packets:
        seconds, fraction = divmod(packet.time_ns, 1_000_000_000)
        parts.append(struct.pack("<IIII", seconds, fraction // unit, len(packet.data), len(packet.data)))
        parts.append(packet.data)
    return b"".join(parts)


def pcapng_bytes(packets: Sequence[Packet]) -> bytes:
    """A pcapng of ``packets`` (one interface per link type)."""
    out = io.BytesIO()
    write_pcapng(packets, out)
    return out.getvalue()


def nas_user_capture(messages: Sequence[bytes], linktype: int = USER1, pcapng: bool = False) -> bytes:
    """EPS NAS messages, one a packet, in link type 148 (srsRAN's NAS pcap), 1 ms apart from ``T0``."""
    packets = [
        Packet(number, T0 + (number - 1) * 1_000_000, linktype, message, len(message), 0)
        for number, message in enumerate(messages, 1)
    ]
    return pcapng_bytes(packets) if pcapng else write_pcap(packets, linktype)
