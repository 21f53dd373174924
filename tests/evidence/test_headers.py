"""Decoding link, IP and TCP/UDP headers: every link type, VLAN and QinQ, IPv4 options, padding,
snap-length cuts and fragments, IPv6 extension headers, malformed headers; the option, flag and
address helpers; and the real Fox-IT captures against tshark and dpkt."""

from __future__ import annotations

import dataclasses
import ipaddress
import random
import shutil
import struct
import subprocess
from pathlib import Path

import dpkt
import pytest

from tests.builders.captures import (
    ETHERNET,
    LINUX_SLL,
    LINUX_SLL2,
    NULL,
    RAW,
    SYN_OPTIONS,
    CaptureBuilder,
    dns_query,
)
from vestige.evidence.capture import Packet, read_capture, write_pcapng
from vestige.evidence.headers import (
    ACK,
    FIN,
    PSH,
    RST,
    SYN,
    URG,
    Segment,
    address_text,
    decode,
    flag_letters,
    flow_key,
    flow_shard,
    option_names,
    reverse_key,
    tcp_timestamp,
    window_scale,
)

QUANTUMINSERT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pcaps" / "quantuminsert"
"""Fox-IT's captures beside the repository (CI has them there); the tests that read them skip without."""
CLIENT4, SERVER4 = ipaddress.ip_address("10.0.0.2").packed, ipaddress.ip_address("93.184.216.34").packed
CLIENT6, SERVER6 = ipaddress.ip_address("2001:db8::2").packed, ipaddress.ip_address("2001:db8:1::80").packed
GET = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"


def frames(capture: CaptureBuilder) -> list[Packet]:
    return [
        Packet(number, 1_600_000_000_000_000_000 + number, capture.linktype, data, len(data), 0)
        for number, (_, data) in enumerate(capture.frames, start=1)
    ]


def expected_tcp(number: int, version: int, payload: bytes = GET, **changes: object) -> Segment:
    src, dst = (CLIENT4, SERVER4) if version == 4 else (CLIENT6, SERVER6)
    segment = Segment(
        number,
        1_600_000_000_000_000_000 + number,
        version,
        src,
        dst,
        64,
        7 if version == 4 else None,
        version == 4,
        6,
        51000,
        80,
        1001,
        5001,
        PSH | ACK,
        502,
        SYN_OPTIONS,
        payload,
        False,
    )
    for field, value in changes.items():
        setattr(segment, field, value)
    return segment


@pytest.mark.parametrize("linktype", [ETHERNET, RAW, LINUX_SLL, LINUX_SLL2, NULL])
@pytest.mark.parametrize("version", [4, 6])
def test_tcp_over_every_link_type_the_builder_writes(linktype: int, version: int) -> None:
    capture = CaptureBuilder(linktype=linktype)
    client, server = ("10.0.0.2", "93.184.216.34") if version == 4 else ("2001:db8::2", "2001:db8:1::80")
    capture.tcp(0, client, 51000, server, 80, 1001, 5001, PSH | ACK, GET, options=SYN_OPTIONS, ip_id=7)
    [packet] = frames(capture)
    assert decode(packet) == expected_tcp(1, version)


@pytest.mark.parametrize("version", [4, 6])
def test_udp_over_ethernet_with_a_vlan_tag(version: int) -> None:
    capture = CaptureBuilder()
    client, server = ("10.0.0.2", "93.184.216.34") if version == 4 else ("2001:db8::2", "2001:db8:1::80")
    query = dns_query("example.com", 0x1234)
    capture.udp(0, client, 53000, server, 53, query, ip_id=9, df=False, vlan=100)
    [packet] = frames(capture)
    segment = decode(packet)
    assert segment is not None
    assert (segment.protocol, segment.sport, segment.dport, segment.payload, segment.cut) == (
        17,
        53000,
        53,
        query,
        False,
    )
    assert (segment.seq, segment.ack, segment.flags, segment.window, segment.options) == (0, 0, 0, 0, b"")
    assert (segment.ip_id, segment.df) == ((9, False) if version == 4 else (None, False))


# Hand-built frames for the odd cases.


def ipv4(
    transport: bytes,
    protocol: int = 6,
    *,
    ttl: int = 64,
    ip_id: int = 7,
    flags_fragment: int = 0x4000,
    options: bytes = b"",
    total: int | None = None,
) -> bytes:
    header_length = 20 + len(options)
    length = header_length + len(transport) if total is None else total
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x40 | header_length // 4, 0, length, ip_id, flags_fragment, ttl, protocol, 0, CLIENT4, SERVER4
    )
    return header + options + transport


def ipv6(payload: bytes, following: int, *, hop_limit: int = 64) -> bytes:
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), following, hop_limit, CLIENT6, SERVER6) + payload


def tcp(
    payload: bytes = GET, *, flags: int = PSH | ACK, options: bytes = SYN_OPTIONS, offset: int | None = None
) -> bytes:
    words = (20 + len(options)) // 4 if offset is None else offset
    return struct.pack("!HHIIBBHHH", 51000, 80, 1001, 5001, words << 4, flags, 502, 0, 0) + options + payload


def udp(payload: bytes, length: int | None = None) -> bytes:
    return struct.pack("!HHHH", 53000, 53, 8 + len(payload) if length is None else length, 0) + payload


def ethernet(ethertype: int, body: bytes, *tags: tuple[int, int]) -> bytes:
    out = b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02"
    for tpid, vlan in tags:
        out += struct.pack("!HH", tpid, vlan)
    return out + struct.pack("!H", ethertype) + body


def packet(linktype: int, data: bytes, number: int = 1) -> Packet:
    return Packet(number, 1_600_000_000_000_000_000 + number, linktype, data, len(data), 0)


def test_stacked_vlan_tags_qinq_and_the_old_9100_tag() -> None:
    for tags in ([(0x88A8, 200), (0x8100, 100)], [(0x9100, 1), (0x8100, 2), (0x8100, 3)]):
        segment = decode(packet(ETHERNET, ethernet(0x0800, ipv4(tcp()), *tags)))
        assert segment == expected_tcp(1, 4)


def pppoe(protocol: int, body: bytes) -> bytes:
    return struct.pack("!BBHHH", 0x11, 0, 0x1234, len(body) + 2, protocol) + body


def test_pppoe_sessions_carry_ipv4_and_ipv6_and_nothing_else_is_read() -> None:
    assert decode(packet(ETHERNET, ethernet(0x8864, pppoe(0x0021, ipv4(tcp()))))) == expected_tcp(1, 4)
    assert decode(packet(ETHERNET, ethernet(0x8864, pppoe(0x0057, ipv6(tcp(), 6)), (0x8100, 7)))) == expected_tcp(1, 6)
    assert decode(packet(ETHERNET, ethernet(0x8864, pppoe(0xC021, ipv4(tcp()))))) is None  # LCP
    assert decode(packet(ETHERNET, ethernet(0x8864, b"\x11\0\x12"))) is None


def test_too_many_vlan_tags_or_a_tag_cut_short_is_not_decoded() -> None:
    assert decode(packet(ETHERNET, ethernet(0x0800, ipv4(tcp()), *[(0x8100, n) for n in range(9)]))) is None
    assert decode(packet(ETHERNET, ethernet(0x8100, b"\0"))) is None


@pytest.mark.parametrize(
    ("linktype", "header", "version"),
    [
        (NULL, struct.pack("<I", 2), 4),
        (NULL, struct.pack(">I", 2), 4),
        (NULL, struct.pack("<I", 30), 6),
        (108, struct.pack(">I", 2), 4),
        (108, struct.pack(">I", 24), 6),
        (108, struct.pack(">I", 28), 6),
        (108, struct.pack("<I", 30), 6),
        (12, b"", 4),
        (14, b"", 6),
        (101, b"", 6),
        (228, b"", 4),
        (229, b"", 6),
        (LINUX_SLL, struct.pack(">HHH8s", 0, 1, 6, b"\x02\0\0\0\0\x02\0\0"), 4),
    ],
)
def test_loopback_raw_and_cooked_link_types(linktype: int, header: bytes, version: int) -> None:
    if linktype == LINUX_SLL:
        header += struct.pack("!H", 0x0800)
    body = ipv4(tcp()) if version == 4 else ipv6(tcp(), 6)
    assert decode(packet(linktype, header + body)) == expected_tcp(1, version)


@pytest.mark.parametrize(
    ("linktype", "data"),
    [
        (ETHERNET, ethernet(0x0806, b"\0" * 28)),  # ARP
        (ETHERNET, ethernet(0x05DC, b"\0" * 40)),  # 802.3 length, LLC
        (ETHERNET, ethernet(0x0800, ipv4(b"\x08\0" + b"\0" * 30, protocol=1))),  # ICMP
        (ETHERNET, b"\x02\0\0"),
        (NULL, struct.pack("<I", 7) + ipv4(tcp())),
        (NULL, b"\x02\0"),
        (228, ipv6(tcp(), 6)),  # raw IPv4 that holds IPv6
        (229, ipv4(tcp())),
        (101, b""),
        (101, b"\x50" + ipv4(tcp())[1:]),
        (147, ipv4(tcp())),  # a user link type
        (LINUX_SLL2, b"\x08\x00" + b"\0" * 10),
    ],
)
def test_other_protocols_and_short_frames_are_not_segments(linktype: int, data: bytes) -> None:
    assert decode(packet(linktype, data)) is None


def test_ipv4_options_padding_and_a_snap_length_cut() -> None:
    with_options = ipv4(tcp(), options=b"\x01\x01\x01\x00")  # IHL 6
    assert decode(packet(228, with_options)) == expected_tcp(1, 4)
    padded = ethernet(0x0800, ipv4(tcp(b"", flags=ACK, options=b"")) + b"\0" * 6)  # to Ethernet's 60 bytes
    assert decode(packet(ETHERNET, padded)) == expected_tcp(1, 4, b"", flags=ACK, options=b"")
    whole = ethernet(0x0800, ipv4(tcp()))
    assert decode(packet(ETHERNET, whole[:-10])) == expected_tcp(1, 4, GET[:-10], cut=True)


def test_an_ipv4_total_length_of_zero_is_taken_from_the_capture_as_offload_writes_it() -> None:
    assert decode(packet(ETHERNET, ethernet(0x0800, ipv4(tcp(), total=0)))) == expected_tcp(1, 4)


def test_ipv4_fragments_only_the_first_with_a_whole_header_is_decoded() -> None:
    first = decode(packet(ETHERNET, ethernet(0x0800, ipv4(tcp(), flags_fragment=0x2000))))
    assert first == expected_tcp(1, 4, df=False, cut=True)
    assert decode(packet(ETHERNET, ethernet(0x0800, ipv4(tcp()[:12], flags_fragment=0x2000)))) is None
    assert decode(packet(ETHERNET, ethernet(0x0800, ipv4(tcp(), flags_fragment=0x2000 | 185)))) is None
    assert decode(packet(ETHERNET, ethernet(0x0800, ipv4(tcp(), flags_fragment=185)))) is None
    first_udp = decode(packet(228, ipv4(udp(b"x" * 16, length=3000), 17, flags_fragment=0x2000)))
    assert first_udp is not None and (first_udp.payload, first_udp.cut) == (b"x" * 16, True)


def test_malformed_ipv4_and_tcp_headers_are_not_decoded() -> None:
    assert decode(packet(228, b"\x44" + ipv4(tcp())[1:])) is None  # IHL 4
    assert decode(packet(228, ipv4(tcp(), total=19))) is None
    assert decode(packet(228, ipv4(tcp(), total=30))) is None  # the TCP header overruns the IP packet
    assert decode(packet(228, ipv4(tcp(offset=4)))) is None
    assert decode(packet(228, ipv4(tcp(b"", offset=15)))) is None  # 60 bytes of header, 40 there
    assert decode(packet(228, ipv4(tcp())[:30])) is None


def test_udp_length_is_checked_against_the_ip_payload() -> None:
    trimmed = decode(packet(228, ipv4(udp(b"query" + b"\0\0\0", length=13), 17)))
    assert trimmed is not None and (trimmed.payload, trimmed.cut) == (b"query", False)
    assert decode(packet(228, ipv4(udp(b"query", length=14), 17))) is None
    assert decode(packet(228, ipv4(udp(b"query", length=7), 17))) is None
    cut = decode(packet(228, ipv4(udp(b"query"), 17)[:-2]))
    assert cut is not None and (cut.payload, cut.cut) == (b"que", True)


def test_ipv6_extension_headers_are_walked() -> None:
    hop_by_hop = bytes([60, 0]) + b"\x01\x04\0\0\0\0"  # next: destination options; PadN
    destination = bytes([43, 1]) + b"\0" * 14  # next: routing; 16 bytes
    routing = bytes([44, 0, 0, 0]) + b"\0" * 4  # next: fragment
    fragment = bytes([6, 0]) + struct.pack("!HI", 0, 0x1234)  # offset 0, no more fragments: atomic
    chain = hop_by_hop + destination + routing + fragment
    segment = decode(packet(229, ipv6(chain + tcp(), 0, hop_limit=57)))
    assert segment == expected_tcp(1, 6, ttl=57)


def options_chain(count: int) -> bytes:
    """``count`` destination options headers, each of 8 bytes (PadN), the last followed by TCP."""
    return b"".join(bytes([60 if n < count - 1 else 6, 0]) + b"\x01\x04\0\0\0\0" for n in range(count))


def test_ipv6_fragments_and_endless_or_unknown_extension_headers() -> None:
    first = struct.pack("!BBHI", 6, 0, 1, 0x1234)  # offset 0, more fragments
    assert decode(packet(229, ipv6(first + tcp(), 44))) == expected_tcp(1, 6, cut=True)
    later = struct.pack("!BBHI", 6, 0, 185 << 3, 0x1234)
    assert decode(packet(229, ipv6(later + tcp(), 44))) is None
    assert decode(packet(229, ipv6(options_chain(9) + tcp(), 60))) is None
    assert decode(packet(229, ipv6(options_chain(8) + tcp(), 60))) == expected_tcp(1, 6)
    assert decode(packet(229, ipv6(bytes([6, 0]) + b"\0" * 6 + tcp(), 135))) is None  # mobility
    assert decode(packet(229, ipv6(bytes([6, 200]) + b"\0" * 6 + tcp(), 0))) is None  # overruns


# The helpers.


def test_option_names() -> None:
    assert option_names(SYN_OPTIONS) == "MSS,SACK_PERM,TS,NOP,WS"
    assert option_names(b"\x01\x01\x08\x0a" + b"\0" * 8) == "NOP,NOP,TS"
    assert option_names(b"") == ""
    assert option_names(b"\x01\x00\x02\x04\x05\xb4") == "NOP,EOL"
    assert option_names(b"\x1e\x04\xab\xcd\x05\x0a" + b"\0" * 8) == "30,SACK"
    assert option_names(b"\x02\x04\x05\xb4\x03\x00\x01") == "MSS"  # length 0 ends the walk
    assert option_names(b"\x02\x04\x05\xb4\x08\x0a\x00") == "MSS"  # overruns the list
    assert option_names(b"\x01\x02") == "NOP"


def test_timestamps_and_window_scale() -> None:
    assert tcp_timestamp(SYN_OPTIONS) == (1, 0)
    assert tcp_timestamp(b"\x01\x01\x08\x0a" + struct.pack(">II", 4_000_000_000, 77)) == (4_000_000_000, 77)
    assert tcp_timestamp(b"\x08\x06\0\0\0\0") is None
    assert tcp_timestamp(SYN_OPTIONS[:4]) is None
    assert window_scale(SYN_OPTIONS) == 7
    assert window_scale(b"\x03\x04\x07\x00") is None
    assert window_scale(b"\x00\x03\x03\x07") is None  # after the end of the list


def test_flag_letters_in_the_order_s_f_r_p_a_u_e_c() -> None:
    assert [flag_letters(f) for f in (SYN, SYN | ACK, ACK, PSH | ACK, FIN | ACK, RST, RST | ACK)] == [
        "S",
        "SA",
        "A",
        "PA",
        "FA",
        "R",
        "RA",
    ]
    assert flag_letters(FIN | PSH | ACK) == "FPA"
    assert flag_letters(0xFF) == "SFRPAUEC"
    assert flag_letters(URG | ACK) == "AU"
    assert flag_letters(0) == ""


def test_address_text() -> None:
    assert address_text(CLIENT4) == "10.0.0.2"
    assert address_text(CLIENT6) == "2001:db8::2"
    assert address_text(bytes.fromhex("00000000000000000000ffffc0000201")) == "::ffff:192.0.2.1"
    assert address_text(bytes.fromhex("20010db8000000000001000000000001")) == "2001:db8::1:0:0:1"
    with pytest.raises(ValueError, match=r"^an IP address is 4 or 16 bytes, not 5$"):
        address_text(b"\0" * 5)


# The real Fox-IT captures.

FIRST_PACKETS = {
    # name: packet 1 as tshark shows it (source, destination, ports, TTL, IP-ID, options), all SYNs
    "qi_internet_SYNACK_curl_jsonip.pcap": ("178.200.100.200", "96.126.98.124", 39976, 80, 64, 0xC0A2),
    "qi_local_GET_slashdot_redirect.pcap": ("10.0.1.4", "216.34.181.45", 58178, 80, 64, 0x689A),
    "qi_local_SYNACK_putty_dl.pcap": ("10.0.1.4", "212.13.197.229", 42084, 80, 64, 0xEA9A),
}


def fox_it(name: str) -> list[Packet]:
    path = QUANTUMINSERT / name
    if not path.exists():
        pytest.skip(f"{path} is not on this machine")
    with path.open("rb") as stream:
        return list(read_capture(stream, name))


@pytest.mark.parametrize("name", sorted(FIRST_PACKETS))
def test_packet_1_of_the_fox_it_captures_as_tshark_shows_it(name: str) -> None:
    segment = decode(fox_it(name)[0])
    assert segment is not None
    seen = (address_text(segment.src), address_text(segment.dst), segment.sport, segment.dport, segment.ttl)
    assert (*seen, segment.ip_id) == FIRST_PACKETS[name]
    assert (flag_letters(segment.flags), segment.payload, segment.cut) == ("S", b"", False)


def test_the_internet_capture_option_list_as_tshark_shows_it() -> None:
    segment = decode(fox_it("qi_internet_SYNACK_curl_jsonip.pcap")[0])
    assert segment is not None
    assert segment.options.hex() == "020405b401010402010303000101080aed372c4800000000"
    assert option_names(segment.options) == "MSS,NOP,NOP,SACK_PERM,NOP,WS,NOP,NOP,TS"
    assert tcp_timestamp(segment.options) == (0xED372C48, 0)


def test_every_frame_of_a_fox_it_capture_decodes_as_dpkt_decodes_it() -> None:
    """dpkt is an independent decoder: on every frame both give the same fields and payload; the TCP
    payload bytes add up to tshark's sum of tcp.len (1190546)."""
    path = QUANTUMINSERT / "qi_local_SYNACK_putty_dl.pcap"
    packets = fox_it(path.name)
    with path.open("rb") as stream:
        theirs = [buffer for _, buffer in dpkt.pcap.Reader(stream)]
    assert len(packets) == len(theirs) == 1089
    total = 0
    for ours, buffer in zip(packets, theirs, strict=True):
        segment = decode(ours)
        ip = dpkt.ethernet.Ethernet(buffer).data
        assert segment is not None and isinstance(ip, dpkt.ip.IP) and isinstance(ip.data, dpkt.tcp.TCP)
        segment_tcp = ip.data
        assert (segment.src, segment.dst, segment.ttl, segment.ip_id, segment.df) == (
            ip.src,
            ip.dst,
            ip.ttl,
            ip.id,
            bool(ip.df),
        )
        assert (segment.sport, segment.dport, segment.seq, segment.ack, segment.flags, segment.window) == (
            segment_tcp.sport,
            segment_tcp.dport,
            segment_tcp.seq,
            segment_tcp.ack,
            segment_tcp.flags,
            segment_tcp.win,
        )
        assert (segment.options, segment.payload) == (segment_tcp.opts, segment_tcp.data)
        total += len(segment.payload)
    assert total == 1_190_546


@pytest.mark.parametrize("linktype", [ETHERNET, NULL, 108, RAW, 12, 14, 228, 229, LINUX_SLL, LINUX_SLL2])
def test_mutated_frames_decode_or_give_none_and_never_raise(linktype: int) -> None:
    """Seeded mutations of well-formed frames of each link type (IPv4 and IPv6, TCP and UDP, with a VLAN
    tag): every one decodes to a segment whose payload lies within the frame, or to None."""
    rng = random.Random(linktype)
    bodies = [ipv4(tcp()), ipv6(tcp(), 6), ipv4(udp(b"query"), 17), ipv6(options_chain(2) + udp(b"q"), 60)]
    headers = {
        ETHERNET: lambda body: ethernet(0x0800 if body[0] >> 4 == 4 else 0x86DD, body, (0x8100, 5)),
        NULL: lambda body: struct.pack("<I", 2 if body[0] >> 4 == 4 else 30) + body,
        108: lambda body: struct.pack(">I", 2 if body[0] >> 4 == 4 else 24) + body,
        LINUX_SLL: lambda body: b"\0" * 14 + (b"\x08\x00" if body[0] >> 4 == 4 else b"\x86\xdd") + body,
        LINUX_SLL2: lambda body: (b"\x08\x00" if body[0] >> 4 == 4 else b"\x86\xdd") + b"\0" * 18 + body,
    }
    decoded = 0
    for _ in range(2000):
        body = rng.choice(bodies)
        data = bytearray(headers.get(linktype, lambda body: body)(body))
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            del data[rng.randrange(len(data)) :]
        segment = decode(packet(linktype, bytes(data)))
        if segment is not None:
            decoded += 1
            assert len(segment.payload) < len(data) and segment.protocol in (6, 17)
    assert 200 < decoded < 2000


TSHARK = shutil.which("tshark")


@pytest.mark.skipif(
    TSHARK is None, reason="tshark is not installed, so the comparison with Wireshark's decoding is not made"
)
def test_every_link_type_decodes_as_tshark_decodes_it(tmp_path: Path) -> None:
    """One frame per link type and IP version, with a VLAN pair and IPv6 extension headers, written with
    ``write_pcapng`` and decoded by tshark: the same source, ports, sequence number and payload length."""
    frames_: list[tuple[int, bytes]] = []
    for version in (4, 6):
        body = ipv4(tcp()) if version == 4 else ipv6(options_chain(2) + tcp(), 60)
        ethertype = 0x0800 if version == 4 else 0x86DD
        frames_ += [
            (ETHERNET, ethernet(ethertype, body, (0x88A8, 20), (0x8100, 10))),
            (ETHERNET, ethernet(0x8864, pppoe(0x0021 if version == 4 else 0x0057, body))),
            (NULL, struct.pack("<I", 2 if version == 4 else 30) + body),
            (108, struct.pack(">I", 2 if version == 4 else 24) + body),
            (RAW, body),
            (228 if version == 4 else 229, body),
            (LINUX_SLL, struct.pack(">HHH8sH", 0, 1, 6, b"\x02\0\0\0\0\x02\0\0", ethertype) + body),
            (LINUX_SLL2, struct.pack(">HHIHBB8s", ethertype, 0, 2, 1, 0, 6, b"\x02\0\0\0\0\x02\0\0") + body),
        ]
        frames_.append(
            (ETHERNET, ethernet(ethertype, ipv4(udp(b"query"), 17) if version == 4 else ipv6(udp(b"q"), 17)))
        )
    packets_ = [packet(linktype, data, number) for number, (linktype, data) in enumerate(frames_, start=1)]
    path = tmp_path / "every.pcapng"
    with path.open("wb") as out:
        write_pcapng(packets_, out)
    assert TSHARK is not None
    fields = ("ip.src", "ipv6.src", "tcp.srcport", "udp.srcport", "tcp.seq_raw", "tcp.len", "udp.length")
    result = subprocess.run(
        [TSHARK, "-r", str(path), "-T", "fields", "-E", "separator=,", *(f"-e{field}" for field in fields)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    theirs = [line.split(",") for line in result.stdout.splitlines()]
    ours = []
    for packet_ in packets_:
        segment = decode(packet_)
        assert segment is not None
        ours.append(
            [
                address_text(segment.src) if segment.version == 4 else "",
                address_text(segment.src) if segment.version == 6 else "",
                str(segment.sport) if segment.protocol == 6 else "",
                str(segment.sport) if segment.protocol == 17 else "",
                str(segment.seq) if segment.protocol == 6 else "",
                str(len(segment.payload)) if segment.protocol == 6 else "",
                str(len(segment.payload) + 8) if segment.protocol == 17 else "",
            ]
        )
    assert theirs == ours
    assert len(ours) == 18


@pytest.mark.parametrize("linktype", [ETHERNET, RAW, LINUX_SLL, LINUX_SLL2, NULL])
@pytest.mark.parametrize("version", [4, 6])
def test_the_flow_key_is_the_same_whichever_way_the_frame_was_decoded(linktype: int, version: int) -> None:
    capture = CaptureBuilder(linktype=linktype)
    client, server = ("10.0.0.2", "93.184.216.34") if version == 4 else ("2001:db8::2", "2001:db8:1::80")
    capture.tcp(0, client, 51000, server, 80, 1001, 5001, PSH | ACK, GET, options=SYN_OPTIONS, ip_id=7)
    capture.tcp(0, server, 80, client, 51000, 5001, 1001 + len(GET), ACK, b"", ip_id=8)
    capture.udp(0, client, 51000, server, 80, b"\x00" * 12, ip_id=9)
    forward, backward, datagram = (decode(packet) for packet in frames(capture))
    assert forward is not None and backward is not None and datagram is not None
    src, dst = (CLIENT4, SERVER4) if version == 4 else (CLIENT6, SERVER6)
    ports = struct.pack("!HH", 51000, 80)
    assert forward.key == src + dst + ports  # 12 or 36 bytes, the Ethernet fast path's slice included
    assert backward.key == dst + src + struct.pack("!HH", 80, 51000) == reverse_key(forward.key)
    assert datagram.key == src + dst + ports + b"\x11"  # a UDP flow on the same ports is another flow
    assert reverse_key(datagram.key) == dst + src + struct.pack("!HH", 80, 51000) + b"\x11"
    # A segment built without a key (as tests and tools may build one) gets the same from flow_key.
    built = dataclasses.replace(forward, key=b"")
    assert flow_key(built) == forward.key
    assert flow_key(dataclasses.replace(datagram, key=b"")) == datagram.key
    assert built == forward  # the key takes no part in comparing segments


def test_ipv4_address_text_is_what_ipaddress_writes() -> None:
    rng = random.Random(11)
    for raw in [bytes(4), b"\xff" * 4, b"\x0a\x00\x00\x02", *(rng.randbytes(4) for _ in range(2000))]:
        assert address_text(raw) == str(ipaddress.IPv4Address(raw))


def test_a_flow_has_one_shard_from_either_direction_on_every_machine() -> None:
    def key(src: str, dst: str, sport: int, dport: int, udp: bool = False) -> bytes:
        ports = struct.pack("!HH", sport, dport)
        return ipaddress.ip_address(src).packed + ipaddress.ip_address(dst).packed + ports + (b"\x11" if udp else b"")

    # fixed values: the shard decides which process reads a flow, so it must not depend on the run
    ipv4, ipv6 = key("10.0.0.2", "93.184.216.34", 51000, 80), key("fd00::2", "2001:db8::80", 52000, 80)
    assert [flow_shard(ipv4, shards) for shards in (2, 3, 7)] == [1, 1, 3]
    assert [flow_shard(ipv6, shards) for shards in (2, 3, 7)] == [0, 0, 0]
    assert flow_shard(key("10.0.0.2", "93.184.216.34", 51000, 80, udp=True), 7) == 3
    generator = random.Random(7)
    counts = [0, 0]
    for _ in range(2000):
        forward = generator.randbytes(12)
        assert flow_shard(forward, 2) == flow_shard(reverse_key(forward), 2)
        counts[flow_shard(forward, 2)] += 1
        forward6 = generator.randbytes(36)
        assert flow_shard(forward6, 5) == flow_shard(reverse_key(forward6), 5)
    assert counts == [995, 1005]
