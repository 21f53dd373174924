"""Link, IP and transport headers of a captured frame: the TCP or UDP segment it carries.

Link types (https://www.tcpdump.org/linktypes.html): 1 Ethernet (IEEE 802.3, with 802.1Q / 802.1ad
VLAN tags, stacked, and PPPoE sessions as a router's WAN side carries them), 0 BSD null/loopback and
108 OpenBSD loopback (a 4-byte address family, in the byte order of the capturing host for 0 and of
the network for 108, though writers disagree, so both are tried: 2 is IPv4; 24, 28 and 30 are IPv6 on
the BSDs and macOS), 101 raw IP (and 12, 14, its numbers on some BSDs; the version is the first
nibble), 228 raw IPv4, 229 raw IPv6, 113 Linux cooked capture (SLL, 16-byte header) and 276 Linux
cooked capture v2 (SLL2, 20-byte header).

Network and transport: IPv4 (RFC 791: header length, total length, which trims Ethernet padding; only
an unfragmented packet or a first fragment that holds the whole transport header is decoded), IPv6
(RFC 8200: hop-by-hop, routing, destination options and fragment extension headers are walked, at
most ``MAX_EXTENSION_HEADERS`` of them), TCP (RFC 9293: data offset checked, options kept raw) and UDP
(RFC 768: its length checked against the IP payload).

This is the hot path of a capture's analysis: the common frame (Ethernet, IPv4 with a 20-byte
header, TCP) is read with one precompiled ``struct`` call.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from functools import lru_cache

from vestige.evidence.capture import Packet

FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
ECE, CWR = 0x40, 0x80

ETHERNET, NULL, LOOP, RAW, RAW_BSD12, RAW_BSD14, IPV4, IPV6 = 1, 0, 108, 101, 12, 14, 228, 229
LINUX_SLL, LINUX_SLL2 = 113, 276

ETHERTYPE_IPV4, ETHERTYPE_IPV6 = 0x0800, 0x86DD
ETHERTYPE_PPPOE_SESSION = 0x8864
_PPP_PROTOCOLS = {0x0021: ETHERTYPE_IPV4, 0x0057: ETHERTYPE_IPV6}
VLAN_ETHERTYPES = frozenset({0x8100, 0x88A8, 0x9100})
"""802.1Q, 802.1ad (QinQ) and the pre-standard QinQ tag."""
MAX_VLAN_TAGS = 8
MAX_EXTENSION_HEADERS = 8

TCP, UDP = 6, 17
_HOP_BY_HOP, _ROUTING, _FRAGMENT, _DESTINATION = 0, 43, 44, 60
_NULL_IPV4 = frozenset({2})
_NULL_IPV6 = frozenset({24, 28, 30})


@dataclass(slots=True)
class Segment:
    """An IPv4 or IPv6 packet carrying TCP (``protocol`` 6) or UDP (17), decoded from one frame.
    Addresses are raw (4 or 16 bytes; ``address_text`` gives the canonical text); the TCP fields are 0
    for UDP; ``payload`` is the transport payload as captured (shorter than sent when the snap length
    cut it: ``cut`` is then True)."""

    number: int
    time_ns: int
    version: int
    src: bytes
    dst: bytes
    ttl: int
    ip_id: int | None
    df: bool
    protocol: int
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    window: int
    options: bytes
    payload: bytes
    cut: bool
    key: bytes = field(default=b"", compare=False, repr=False)
    """The flow key of this direction, sliced once by the decoder (``flow_key``; empty when the segment
    was built otherwise, and the flow table then makes it). A copy with other addresses or ports must
    set it to ``b""``."""


def flow_key(segment: Segment) -> bytes:
    """One bytes value for a segment's direction of its flow: source and destination addresses, then
    ports, then for UDP its protocol number, so that a TCP and a UDP flow on the same addresses and ports
    differ (their lengths do: 12 or 36 bytes for TCP, 13 or 37 for UDP). An Ethernet frame holds the first
    part as it is (``src dst sport dport``), so the decoder slices it once; a dict hashes a bytes key once
    and caches it, where a tuple of addresses and ports is hashed again at every lookup."""
    if segment.key:
        return segment.key
    ports = _PORTS.pack(segment.sport, segment.dport)
    return segment.src + segment.dst + (ports if segment.protocol == TCP else ports + b"\x11")


def reverse_key(key: bytes) -> bytes:
    """The flow key of the other direction."""
    size = 4 if len(key) < 16 else 16
    ports = 2 * size
    return key[size:ports] + key[:size] + key[ports + 2 : ports + 4] + key[ports : ports + 2] + key[ports + 4 :]


_V4_ENDS = struct.Struct("!IIHH")
_V6_ENDS = struct.Struct("!QQQQHH")
_GOLDEN = 0x9E3779B97F4A7C15
"""2**64 divided by the golden ratio: multiplying by it spreads every input bit over the high bits (Knuth's
multiplicative hashing, TAOCP vol. 3, 6.4)."""


def flow_shard(key: bytes, shards: int) -> int:
    """Which of ``shards`` parts a flow belongs to, from either direction's key (``flow_key``): the same for
    both, and the same on every machine and in every run (Python's own hash of bytes is salted per
    process, so it cannot decide what a run writes). The two addresses and the two ports are combined by
    exclusive or, which does not depend on their order, then hashed."""
    if len(key) < 16:
        a, b, p, q = _V4_ENDS.unpack_from(key)
        mixed = a ^ b | (p ^ q) << 32
    else:
        a1, a2, b1, b2, p, q = _V6_ENDS.unpack_from(key)
        mixed = a1 ^ a2 ^ b1 ^ b2 ^ (p ^ q) << 48
    return int(((mixed * _GOLDEN) & 0xFFFF_FFFF_FFFF_FFFF) >> 32) % shards


# Ethernet, IPv4 with a 20-byte header and TCP, in one call: ethertype; version/IHL, total length, IP-ID,
# flags/fragment offset, TTL, protocol, source, destination; ports, seq, ack, data offset, flags, window.
_ETHERNET_IPV4_TCP = struct.Struct("!12xHBxHHHBB2x4s4sHHIIBBH")
_IPV4 = struct.Struct("!BxHHHBB2x4s4s")
_IPV6 = struct.Struct("!4xHBB16s16s")
_TCP = struct.Struct("!HHIIBBH")
_UDP = struct.Struct("!HHH")
_ETHERTYPE = struct.Struct("!H")
_PORTS = struct.Struct("!HH")


def decode(packet: Packet) -> Segment | None:
    """The TCP or UDP segment the frame carries, or None (another protocol, a later IP fragment, a
    header cut short)."""
    data = packet.data
    linktype = packet.linktype
    if linktype == ETHERNET:
        if len(data) >= 54:
            (ethertype, version_ihl, total, ip_id, fragment, ttl, protocol, src, dst, sport, dport, seq, ack, offset,
             flags, window) = _ETHERNET_IPV4_TCP.unpack_from(data)  # fmt: skip
            if (  # the conditions ``decodes_at_once`` reads too: change both together
                ethertype == ETHERTYPE_IPV4
                and version_ihl == 0x45
                and protocol == TCP
                and not fragment & 0x3FFF
                and offset >= 0x50
                and total >= 40
            ):
                header_end = 34 + (offset >> 4) * 4
                ip_end = 14 + total
                if header_end <= ip_end and header_end <= len(data):
                    captured_end = len(data) if len(data) < ip_end else ip_end
                    return Segment(
                        packet.number,
                        packet.time_ns,
                        4,
                        src,
                        dst,
                        ttl,
                        ip_id,
                        fragment & 0x4000 != 0,
                        TCP,
                        sport,
                        dport,
                        seq,
                        ack,
                        flags,
                        window,
                        data[54:header_end],
                        data[header_end:captured_end],
                        captured_end < ip_end,
                        data[26:38],  # flow_key: source, destination, ports, as the frame holds them
                    )
        return _after_ethertype(packet, data, 12)
    if linktype in (RAW, RAW_BSD12, RAW_BSD14):
        if not data:
            return None
        version = data[0] >> 4
        if version == 4:
            return _ipv4(packet, data, 0)
        return _ipv6(packet, data, 0) if version == 6 else None
    if linktype in (NULL, LOOP):
        return _after_family(packet, data)
    if linktype == LINUX_SLL:
        return _after_ethertype(packet, data, 14)
    if linktype == LINUX_SLL2:
        return _after_ethertype(packet, data, 0, payload_at=20)
    if linktype == IPV4:
        return _ipv4(packet, data, 0)
    if linktype == IPV6:
        return _ipv6(packet, data, 0)
    return None


def frame_shard(packet: Packet, shards: int) -> int | None:
    """The ``flow_shard`` of the common frame (Ethernet, then IPv4 with a 20-byte header or IPv6, then TCP or
    UDP) read from its bytes, without decoding it; None for another frame.

    A reader split into shards passes over most packets of a capture: the bytes here are those ``decode``
    takes its flow key from whenever it decodes such a frame, so the shard is the one decoding would give.
    ``decode`` may still reject the frame (a fragment, a header cut short): ``decodes_at_once`` says when
    it surely does not."""
    data = packet.data
    if packet.linktype != ETHERNET or len(data) < 38:
        return None
    ethertype = data[12:14]
    if ethertype == b"\x08\x00" and data[14] == 0x45 and data[23] in _TRANSPORTS:
        return flow_shard(data[26:38], shards)
    if ethertype == b"\x86\xdd" and len(data) >= 58 and data[20] in _TRANSPORTS:
        return flow_shard(data[22:58], shards)
    return None


_TRANSPORTS = frozenset({TCP, UDP})
_IPV4_TCP_LENGTHS = struct.Struct("!16xH2xHxB22xB")
"""Of an Ethernet frame whose IPv4 header is 20 bytes: total length, flags and fragment offset, protocol, and
the TCP data offset."""


def decodes_at_once(data: bytes) -> bool:
    """Whether ``decode`` gives a segment for the Ethernet frame ``data`` on its first, one-call path (IPv4
    with a 20-byte header, TCP, not a fragment, a sound data offset, lengths that hold the headers): the
    same conditions, read without building the segment. False for any other frame, which ``decode`` may
    still read."""
    if data[12:14] != b"\x08\x00" or len(data) < 54 or data[14] != 0x45:
        return False
    total, fragment, protocol, offset = _IPV4_TCP_LENGTHS.unpack_from(data)
    header_end = 34 + (offset >> 4) * 4
    return (
        protocol == TCP
        and not fragment & 0x3FFF
        and offset >= 0x50
        and total >= 40
        and header_end <= 14 + total
        and header_end <= len(data)
    )


def _after_ethertype(packet: Packet, data: bytes, at: int, payload_at: int | None = None) -> Segment | None:
    """The IP packet after the ethertype at ``at`` (and the VLAN tags that may follow it); its header
    starts at ``payload_at`` when the ethertype is not just before it (SLL2)."""
    if at + 2 > len(data):
        return None
    ethertype = _ETHERTYPE.unpack_from(data, at)[0]
    start = at + 2 if payload_at is None else payload_at
    tags = 0
    while ethertype in VLAN_ETHERTYPES:
        tags += 1
        # A tag is 2 bytes of tag control (priority, VLAN id) then the next ethertype.
        if tags > MAX_VLAN_TAGS or start + 4 > len(data):
            return None
        ethertype = _ETHERTYPE.unpack_from(data, start + 2)[0]
        start += 4
    if ethertype == ETHERTYPE_PPPOE_SESSION and start + 8 <= len(data):
        # PPPoE (RFC 2516): version/type, code, session, length, then the PPP protocol (RFC 1661).
        ethertype = _PPP_PROTOCOLS.get(_ETHERTYPE.unpack_from(data, start + 6)[0], 0)
        start += 8
    if ethertype == ETHERTYPE_IPV4:
        return _ipv4(packet, data, start)
    if ethertype == ETHERTYPE_IPV6:
        return _ipv6(packet, data, start)
    return None


def _after_family(packet: Packet, data: bytes) -> Segment | None:
    """The IP packet after a loopback header's address family, whichever byte order it is in."""
    if len(data) < 4:
        return None
    family = int.from_bytes(data[:4], "little")
    if family > 0xFFFF:
        family = int.from_bytes(data[:4], "big")
    if family in _NULL_IPV4:
        return _ipv4(packet, data, 4)
    if family in _NULL_IPV6:
        return _ipv6(packet, data, 4)
    return None


def _ipv4(packet: Packet, data: bytes, start: int) -> Segment | None:
    if start + 20 > len(data):
        return None
    version_ihl, total, ip_id, fragment, ttl, protocol, src, dst = _IPV4.unpack_from(data, start)
    header = (version_ihl & 0x0F) * 4
    if version_ihl >> 4 != 4 or header < 20 or fragment & 0x1FFF or protocol not in (TCP, UDP):
        return None
    if total == 0:
        # Captured before TCP segmentation offload split it: the length is the captured one.
        total = len(data) - start
    if total < header:
        return None
    first_fragment = fragment & 0x2000 != 0
    return _transport(
        packet, data, 4, src, dst, ttl, ip_id, fragment & 0x4000 != 0, protocol, start + header, start + total,
        first_fragment,
    )  # fmt: skip


def _ipv6(packet: Packet, data: bytes, start: int) -> Segment | None:
    if start + 40 > len(data) or data[start] >> 4 != 6:
        return None
    length, following, hop_limit, src, dst = _IPV6.unpack_from(data, start)
    at = start + 40
    end = at + length if length else len(data)  # 0: a jumbogram or offload, the captured length
    first_fragment = False
    for _ in range(MAX_EXTENSION_HEADERS + 1):
        if following in (TCP, UDP):
            return _transport(
                packet, data, 6, src, dst, hop_limit, None, False, following, at, end, first_fragment
            )  # fmt: skip
        if at + 8 > len(data) or at + 8 > end:
            return None
        if following == _FRAGMENT:
            fragment = _ETHERTYPE.unpack_from(data, at + 2)[0]
            if fragment & 0xFFF8:  # a later fragment
                return None
            first_fragment = fragment & 1 == 1
            following, at = data[at], at + 8
        elif following in (_HOP_BY_HOP, _ROUTING, _DESTINATION):
            following, at = data[at], at + (data[at + 1] + 1) * 8
        else:
            return None
    return None


def _transport(
    packet: Packet,
    data: bytes,
    version: int,
    src: bytes,
    dst: bytes,
    ttl: int,
    ip_id: int | None,
    df: bool,
    protocol: int,
    at: int,
    ip_end: int,
    first_fragment: bool,
) -> Segment | None:
    """The TCP or UDP header at ``at`` of an IP packet that should end at ``ip_end``. A first fragment's
    payload is only its own part of the datagram, so it is marked ``cut``."""
    captured_end = min(len(data), ip_end)
    cut = captured_end < ip_end or first_fragment
    if protocol == TCP:
        if at + 20 > captured_end:
            return None
        sport, dport, seq, ack, offset, flags, window = _TCP.unpack_from(data, at)
        header_end = at + (offset >> 4) * 4
        if offset < 0x50 or header_end > captured_end:
            return None
        return Segment(
            packet.number, packet.time_ns, version, src, dst, ttl, ip_id, df, TCP, sport, dport, seq, ack, flags,
            window, data[at + 20 : header_end], data[header_end:captured_end], cut, src + dst + data[at : at + 4],
        )  # fmt: skip
    if at + 8 > captured_end:
        return None
    sport, dport, length = _UDP.unpack_from(data, at)
    if length < 8 or (length > ip_end - at and not first_fragment):
        return None
    end = min(at + length, captured_end)
    return Segment(
        packet.number, packet.time_ns, version, src, dst, ttl, ip_id, df, UDP, sport, dport, 0, 0, 0, 0, b"",
        data[at + 8 : end], cut or end < at + length, src + dst + data[at : at + 4] + b"\x11",
    )  # fmt: skip


@lru_cache(maxsize=65_536)
def address_text(raw: bytes) -> str:
    """The canonical text of a 4- or 16-byte address (RFC 5952 for IPv6)."""
    if len(raw) == 4:
        return f"{raw[0]}.{raw[1]}.{raw[2]}.{raw[3]}"  # what ipaddress writes, without making its objects
    if len(raw) != 16:
        raise ValueError(f"an IP address is 4 or 16 bytes, not {len(raw)}")
    address = ipaddress.IPv6Address(raw)
    # An IPv4-mapped address keeps its dotted quad (RFC 5952 section 5; Wireshark and Python 3.13 agree).
    mapped = address.ipv4_mapped
    return str(address) if mapped is None else f"::ffff:{mapped}"


_OPTION_NAMES = {0: "EOL", 1: "NOP", 2: "MSS", 3: "WS", 4: "SACK_PERM", 5: "SACK", 8: "TS"}


def _options(options: bytes) -> list[tuple[int, bytes]]:
    """The (kind, value) pairs of a TCP option list, up to the end-of-list option or the first malformed
    option (a length below 2 or past the end), which ends the walk."""
    found: list[tuple[int, bytes]] = []
    at = 0
    while at < len(options):
        kind = options[at]
        if kind == 0:
            found.append((0, b""))
            break
        if kind == 1:
            found.append((1, b""))
            at += 1
            continue
        if at + 1 >= len(options):
            break
        length = options[at + 1]
        if length < 2 or at + length > len(options):
            break
        found.append((kind, options[at + 2 : at + length]))
        at += length
    return found


def option_names(options: bytes) -> str:
    """TCP option kinds as ``MSS,NOP,WS,SACK_PERM,TS`` (an unnamed kind by its number; ``EOL`` ends the
    list, and so does a malformed option)."""
    return ",".join(_OPTION_NAMES.get(kind) or str(kind) for kind, _ in _options(options))


def tcp_timestamp(options: bytes) -> tuple[int, int] | None:
    """The TCP timestamps option (TSval, TSecr), if present."""
    for kind, value in _options(options):
        if kind == 8 and len(value) == 8:
            tsval, tsecr = struct.unpack(">II", value)
            return tsval, tsecr
    return None


def window_scale(options: bytes) -> int | None:
    """The window scale shift of a SYN's options, if present."""
    for kind, value in _options(options):
        if kind == 3 and len(value) == 1:
            return value[0]
    return None


_FLAG_ORDER = ((SYN, "S"), (FIN, "F"), (RST, "R"), (PSH, "P"), (ACK, "A"), (URG, "U"), (ECE, "E"), (CWR, "C"))
"""The letters in this fixed order: SYN, FIN, RST, PSH, ACK, URG, ECE, CWR (``SA``, ``PA``, ``FA``,
``FPA``, ``RA``)."""
_FLAG_LETTERS = tuple("".join(letter for bit, letter in _FLAG_ORDER if flags & bit) for flags in range(256))


def flag_letters(flags: int) -> str:
    """``S``, ``SA``, ``PA``, ``FA``, ``R``... (see ``events.SegmentView.flags``): the letters of the set
    flags in the order S F R P A U E C; no flag set is the empty string."""
    return _FLAG_LETTERS[flags & 0xFF]
