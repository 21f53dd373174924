"""The flow table: per-direction sequence tracking, D10 races (and the benign shapes that must stay
silent), the handshake D12 compares against, D14 hijacks and data after a close, eviction and summaries.
Segments are built directly (the decoder has its own tests), numbered from 1 in capture order."""

from __future__ import annotations

import gc
import ipaddress
import random
import struct
import tracemalloc
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from vestige.evidence.headers import ACK, FIN, PSH, RST, SYN, Segment
from vestige.network.events import (
    DataAfterClose,
    Flow,
    FlowSummary,
    Handshake,
    HandshakeHijack,
    SegmentView,
    TcpRace,
)
from vestige.network.tcp import ENTRY_OVERHEAD, MAX_RACES_PER_FLOW, SWEEP_EVERY, FlowTable

T0 = 1_600_000_000_000_000_000
CLIENT, SERVER = "10.0.0.2", "93.184.216.34"
SYN_OPTIONS = b"\x02\x04\x05\xb4\x04\x02\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x00\x01\x03\x03\x07"
"""MSS 1460, SACK permitted, TS (1, 0), NOP, window scale 7: a Linux SYN."""
SYNACK_OPTIONS = b"\x02\x04\x05\xb4\x04\x02\x08\x0a\x00\x00\x00\x02\x00\x00\x00\x01\x01\x03\x03\x07"
GET = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
INJECTED = b"HTTP/1.1 302 Found\r\nLocation: http://exploit.example:30495/szev4hz\r\nContent-Length: 0\r\n\r\n"
GENUINE = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\n\r\n<html></html>"


def timestamps(value: int, echo: int) -> bytes:
    return b"\x01\x01\x08\x0a" + struct.pack(">II", value, echo)


@dataclass
class Wire:
    """Segments in capture order; ``client``/``server`` add one of a conversation's direction."""

    client: str = CLIENT
    client_port: int = 51000
    server: str = SERVER
    server_port: int = 80
    protocol: int = 6
    segments: list[Segment] = field(default_factory=list)

    def add(
        self,
        src: str,
        sport: int,
        dst: str,
        dport: int,
        at_us: int,
        seq: int,
        ack: int,
        flags: int,
        payload: bytes = b"",
        *,
        protocol: int | None = None,
        ttl: int = 64,
        ip_id: int | None = 0,
        df: bool = True,
        window: int = 502,
        options: bytes = b"",
    ) -> Segment:
        source = ipaddress.ip_address(src)
        segment = Segment(
            number=len(self.segments) + 1,
            time_ns=T0 + at_us * 1000,
            version=source.version,
            src=source.packed,
            dst=ipaddress.ip_address(dst).packed,
            ttl=ttl,
            ip_id=None if source.version == 6 else ip_id,
            df=df,
            protocol=self.protocol if protocol is None else protocol,
            sport=sport,
            dport=dport,
            seq=seq,
            ack=ack,
            flags=flags,
            window=window,
            options=options,
            payload=payload,
            cut=False,
        )
        self.segments.append(segment)
        return segment

    def c(self, at_us: int, seq: int, ack: int, flags: int, payload: bytes = b"", **header: Any) -> Segment:
        return self.add(
            self.client, self.client_port, self.server, self.server_port, at_us, seq, ack, flags, payload, **header
        )

    def s(self, at_us: int, seq: int, ack: int, flags: int, payload: bytes = b"", **header: Any) -> Segment:
        return self.add(
            self.server, self.server_port, self.client, self.client_port, at_us, seq, ack, flags, payload, **header
        )


def observations(wire: Wire, table: FlowTable | None = None) -> list[object]:
    """Everything the table reported while reading the wire, in order."""
    table = FlowTable() if table is None else table
    found: list[object] = []
    for segment in wire.segments:
        found.extend(table.add(segment)[2])
    return found


def races(wire: Wire) -> list[TcpRace]:
    found = observations(wire)
    assert all(isinstance(item, TcpRace) for item in found)
    return [item for item in found if isinstance(item, TcpRace)]


def fox_it(wire: Wire) -> None:
    """The Fox-IT QUANTUM INSERT shape (reference section 3.2): a handshake that negotiated timestamps,
    a GET, a forged 302 (Scapy's defaults: IP-ID 1, DF clear, window 8192, no options, TTL 64) one
    millisecond after the request, the genuine reply 31 ms later."""
    wire.c(0, 1000, 0, SYN, options=SYN_OPTIONS, window=64240)
    wire.s(30_000, 5000, 1001, SYN | ACK, ttl=53, ip_id=0, window=65160, options=SYNACK_OPTIONS)
    wire.c(30_100, 1001, 5001, ACK, options=timestamps(3, 2))
    wire.c(30_200, 1001, 5001, PSH | ACK, GET, options=timestamps(3, 2))
    wire.s(31_000, 5001, 1038, PSH | ACK, INJECTED, ttl=64, ip_id=1, df=False, window=8192)
    wire.s(62_000, 5001, 1038, PSH | ACK, GENUINE, ttl=53, ip_id=3548, window=227, options=timestamps(9, 3))
    wire.c(62_100, 1038, 5090, ACK, options=timestamps(4, 9))


def test_fox_it_race_reports_the_forged_302_as_the_winner_with_the_handshake() -> None:
    wire = Wire()
    fox_it(wire)
    table = FlowTable()
    results = [table.add(segment) for segment in wire.segments]

    flow = Flow("tcp", CLIENT, 51000, SERVER, 80)
    assert [(result[0], result[1]) for result in results] == [
        (flow, False),
        (flow, True),
        (flow, False),
        (flow, False),
        (flow, True),
        (flow, True),
        (flow, False),
    ]
    assert all(result[0] is results[0][0] for result in results)
    assert [len(result[2]) for result in results] == [0, 0, 0, 0, 0, 1, 0]
    assert results[5][2] == (
        TcpRace(
            flow=flow,
            to_client=True,
            overlap_start=1,
            overlap_length=77,
            differing=63,
            first=SegmentView(
                packet=5,
                time_ns=T0 + 31_000_000,
                ttl=64,
                ip_id=1,
                df=False,
                flags="PA",
                seq=5001,
                ack=1038,
                window=8192,
                options="",
                length=89,
                head=INJECTED,
            ),
            second=SegmentView(
                packet=6,
                time_ns=T0 + 62_000_000,
                ttl=53,
                ip_id=3548,
                df=True,
                flags="PA",
                seq=5001,
                ack=1038,
                window=227,
                options="NOP,NOP,TS",
                length=77,
                head=GENUINE,
            ),
            handshake=Handshake(
                syn_packet=1,
                synack_packet=2,
                server_ttl=53,
                server_ip_id=0,
                server_df=True,
                timestamps=True,
                server_window_scale=7,
                rtt_ns=30_000_000,
            ),
            request_host=None,
            request_url=None,
            first_response=None,
            second_response=None,
        ),
    )
    assert list(table.finish()) == [
        FlowSummary(
            flow=flow,
            first_packet=1,
            first_time_ns=T0,
            last_time_ns=T0 + 62_100_000,
            packets_to_server=4,
            packets_to_client=3,
            bytes_to_server=37,
            bytes_to_client=89 + 77,
            service="http",
            ended="capture end",
        )
    ]


def test_a_long_payload_keeps_only_its_head_in_the_view() -> None:
    wire = Wire()
    wire.s(0, 100, 0, ACK, b"a" * 1400)
    wire.s(1_000, 100, 0, ACK, b"b" * 1400)
    (race,) = races(wire)
    assert (race.first.length, race.first.head, race.second.head) == (1400, b"a" * 512, b"b" * 512)
    assert (race.overlap_start, race.overlap_length, race.differing, race.handshake) == (1, 1400, 1400, None)


def test_race_straddling_sequence_wraparound() -> None:
    isn = 2**32 - 100
    wire = Wire()
    wire.c(0, 7, 0, SYN)
    wire.s(10_000, isn, 8, SYN | ACK)
    wire.s(20_000, isn + 1, 8, ACK, b"a" * 60)  # relative 1..60
    wire.s(20_100, isn + 61, 8, ACK, b"b" * 100)  # relative 61..160, crosses 2**32 after 39 bytes
    wire.s(20_200, 61, 8, ACK, b"d" * 50)  # relative 161..210, after the wrap
    wire.s(20_300, 61, 8, ACK, b"d" * 50)  # its identical retransmission
    wire.s(20_400, 2**32 - 20, 8, ACK, b"c" * 40)  # relative 80..119: straddles 0, different bytes
    found = races(wire)
    assert [(r.first.packet, r.second.packet, r.overlap_start, r.overlap_length, r.differing) for r in found] == [
        (4, 7, 80, 40, 40)
    ]
    assert (found[0].first.seq, found[0].second.seq) == (2**32 - 39, 2**32 - 20)


def test_client_isn_near_wraparound_with_a_retransmission_across_zero() -> None:
    isn = 2**32 - 10
    wire = Wire()
    wire.c(0, isn, 0, SYN)
    wire.c(100, isn + 1, 0, ACK, b"x" * 30)  # relative 1..30, crosses 0
    wire.c(200, 5, 0, ACK, b"x" * 15)  # relative 15..29: the tail again, after 0
    wire.c(300, 5, 0, ACK, b"y" * 15)
    found = races(wire)
    assert [(r.to_client, r.first.packet, r.second.packet, r.overlap_start, r.overlap_length) for r in found] == [
        (False, 2, 4, 15, 15)
    ]


def test_ipv6_race() -> None:
    wire = Wire(client="2001:db8::2", server="2001:db8:0:0::80")
    fox_it(wire)
    (race,) = races(wire)
    assert race.flow.text == "tcp [2001:db8::2]:51000 -> [2001:db8::80]:80"
    assert (race.first.packet, race.second.packet, race.first.ip_id, race.second.ip_id) == (5, 6, None, None)
    assert race.handshake is not None
    assert (race.handshake.server_ip_id, race.handshake.server_ttl, race.handshake.timestamps) == (None, 53, True)


def test_client_to_server_race_on_a_flow_seen_mid_stream() -> None:
    wire = Wire()
    wire.c(0, 7000, 900, PSH | ACK, b"GET /a HTTP/1.1\r\n\r\n")
    wire.c(500, 7000, 900, PSH | ACK, b"GET /b HTTP/1.1\r\n\r\n")
    (race,) = races(wire)
    assert (race.to_client, race.overlap_start, race.overlap_length, race.differing) == (False, 1, 19, 1)
    assert (race.first.packet, race.second.packet, race.handshake) == (1, 2, None)
    assert race.flow == Flow("tcp", CLIENT, 51000, SERVER, 80)


def test_relative_numbers_of_a_side_first_seen_in_the_other_side_acknowledgement() -> None:
    wire = Wire()
    wire.c(0, 7000, 9001, ACK)  # the client acknowledges the server's byte 9000 before the server is seen
    wire.s(1_000, 9101, 7000, ACK, b"one")
    wire.s(2_000, 9101, 7000, ACK, b"two")
    (race,) = races(wire)
    assert (race.to_client, race.overlap_start, race.overlap_length, race.differing) == (True, 101, 3, 3)


def server_data(*pieces: tuple[int, bytes]) -> Wire:
    """A handshake, then server segments at the given relative sequence numbers, in the given order."""
    wire = Wire()
    wire.c(0, 1000, 0, SYN)
    wire.s(1_000, 5000, 1001, SYN | ACK)
    for at, (relative, payload) in enumerate(pieces, start=2):
        wire.s(at * 1_000, 5000 + relative, 1001, ACK, payload)
    return wire


BODY = bytes(range(256)) * 2


def test_identical_retransmission_is_not_a_race() -> None:
    assert observations(server_data((1, BODY[:100]), (101, BODY[100:200]), (1, BODY[:100]))) == []


def test_partial_retransmission_with_the_same_bytes_is_not_a_race() -> None:
    assert observations(server_data((1, BODY[:100]), (51, BODY[50:100]), (41, BODY[40:140]))) == []


def test_repacketised_retransmission_covering_two_segments_is_not_a_race() -> None:
    assert observations(server_data((1, BODY[:100]), (101, BODY[100:200]), (1, BODY[:200]))) == []


def test_repacketised_retransmission_with_a_changed_second_half_races_the_second_segment() -> None:
    changed = BODY[:150] + b"\xff" * 50
    found = races(server_data((1, BODY[:100]), (101, BODY[100:200]), (1, changed)))
    assert [(r.first.packet, r.second.packet, r.overlap_start, r.overlap_length, r.differing) for r in found] == [
        (4, 5, 101, 100, 50)
    ]


def test_out_of_order_delivery_is_not_a_race() -> None:
    wire = server_data((101, BODY[100:200]), (301, BODY[300:400]), (1, BODY[:100]), (201, BODY[200:300]))
    assert observations(wire) == []


def test_retransmission_of_a_race_loser_is_the_same_race() -> None:
    found = races(server_data((1, b"A" * 100), (1, b"B" * 100), (1, b"B" * 100), (1, b"A" * 100)))
    assert [(r.first.packet, r.second.packet) for r in found] == [(3, 4)]


def zero_window(receiver_window: int) -> Wire:
    """The server fills the client's window; the client advertises ``receiver_window``; the server
    sends a one-byte probe at the next sequence number, then, once the window opens, different data
    from the same sequence number (Windows and BSD may send a byte they later replace)."""
    wire = Wire()
    wire.c(0, 1000, 0, SYN)
    wire.s(1_000, 5000, 1001, SYN | ACK)
    wire.c(2_000, 1001, 5001, ACK)
    wire.s(3_000, 5001, 1001, ACK, BODY[:100])
    wire.c(4_000, 1001, 5101, ACK, window=receiver_window)
    wire.s(200_000, 5101, 1001, ACK, b"?")
    wire.c(201_000, 1001, 5101, ACK, window=receiver_window)
    wire.c(900_000, 1001, 5101, ACK, window=502)
    wire.s(901_000, 5101, 1001, ACK, BODY[100:300])
    return wire


def test_zero_window_probe_then_different_data_is_not_a_race() -> None:
    assert observations(zero_window(0)) == []


def test_the_same_byte_sent_without_a_zero_window_is_a_race() -> None:
    found = races(zero_window(502))
    assert [(r.first.packet, r.second.packet, r.overlap_start, r.overlap_length, r.differing) for r in found] == [
        (6, 9, 101, 1, 1)
    ]


def test_keep_alive_with_a_garbage_byte_is_not_a_race() -> None:
    wire = Wire()
    wire.c(0, 1000, 0, SYN)
    wire.s(1_000, 5000, 1001, SYN | ACK)
    wire.c(2_000, 1001, 5001, PSH | ACK, GET)
    wire.s(3_000, 5001, 1038, ACK)
    wire.c(45_000_000, 1037, 5001, ACK, b"\x00")  # Windows: one garbage byte at next - 1
    wire.c(90_000_000, 1037, 5001, ACK)  # Linux: no byte
    wire.c(91_000_000, 1038, 5001, PSH | ACK, GET)
    assert observations(wire) == []


def test_payload_of_a_reset_is_not_a_race() -> None:
    wire = server_data((1, BODY[:100]))
    wire.s(10_000, 5001, 1001, RST | ACK, b"Connection reset by policy" * 4)
    assert observations(wire) == []


def test_alternating_versions_are_one_race() -> None:
    wire = Wire()
    for n in range(200):
        wire.s(n * 100, 5001, 1001, ACK, b"AB"[n % 2 : n % 2 + 1] * 40)
    assert [(r.first.packet, r.second.packet) for r in races(wire)] == [(1, 2)]


def test_handshake_seen_from_the_synack_only_and_without_timestamps() -> None:
    wire = Wire()
    wire.s(0, 5000, 1001, SYN | ACK, ttl=50, ip_id=7, df=False, options=b"\x02\x04\x05\xb4")
    wire.s(1_000, 5001, 1001, ACK, b"one")
    wire.s(2_000, 5001, 1001, ACK, b"two")
    (race,) = races(wire)
    assert race.to_client is True
    assert race.handshake == Handshake(
        syn_packet=None,
        synack_packet=1,
        server_ttl=50,
        server_ip_id=7,
        server_df=False,
        timestamps=False,
        server_window_scale=None,
        rtt_ns=None,
    )


def test_race_cap_per_flow() -> None:
    wire = Wire()
    for n in range(MAX_RACES_PER_FLOW + 3):
        wire.s(n * 100, 5001, 1001, ACK, b"%04d" % n * 10)
    found = races(wire)
    assert MAX_RACES_PER_FLOW == 8
    assert [(r.first.packet, r.second.packet) for r in found] == [(1, n) for n in range(2, 10)]


def handshake_wire() -> Wire:
    wire = Wire()
    wire.c(0, 1000, 0, SYN, options=SYN_OPTIONS)
    wire.s(20_000, 5000, 1001, SYN | ACK, ttl=53, options=SYNACK_OPTIONS)
    return wire


def test_handshake_hijack() -> None:
    wire = handshake_wire()
    wire.s(21_000, 777_777, 1001, SYN | ACK, ttl=64, ip_id=1, df=False, window=8192)
    wire.s(22_000, 888_888, 1001, SYN | ACK)  # reported once per flow
    found = observations(wire)
    assert found == [
        HandshakeHijack(
            flow=Flow("tcp", CLIENT, 51000, SERVER, 80),
            first=SegmentView(
                packet=2,
                time_ns=T0 + 20_000_000,
                ttl=53,
                ip_id=0,
                df=True,
                flags="SA",
                seq=5000,
                ack=1001,
                window=502,
                options="MSS,SACK_PERM,TS,NOP,WS",
                length=0,
                head=b"",
            ),
            second=SegmentView(
                packet=3,
                time_ns=T0 + 21_000_000,
                ttl=64,
                ip_id=1,
                df=False,
                flags="SA",
                seq=777_777,
                ack=1001,
                window=8192,
                options="",
                length=0,
                head=b"",
            ),
        )
    ]


def test_retransmitted_synack_and_one_for_another_syn_are_not_hijacks() -> None:
    wire = handshake_wire()
    wire.s(1_020_000, 5000, 1001, SYN | ACK, ttl=53, options=SYNACK_OPTIONS)  # identical retransmission
    wire.s(1_030_000, 6000, 2001, SYN | ACK)  # acknowledges another SYN
    assert observations(wire) == []


def test_data_after_reset_at_the_closing_sequence() -> None:
    wire = server_data((1, BODY[:100]))
    wire.s(3_500, 5101, 0, RST, ttl=60, ip_id=1, df=False, window=0)  # a forged reset from the "server"
    wire.s(4_000, 5101, 1001, PSH | ACK, BODY[100:150], ttl=64, ip_id=42)  # the genuine data goes on
    wire.s(5_000, 5151, 1001, PSH | ACK, BODY[150:200])  # reported once
    found = observations(wire)
    assert found == [
        DataAfterClose(
            flow=Flow("tcp", CLIENT, 51000, SERVER, 80),
            to_client=True,
            close=SegmentView(
                packet=4,
                time_ns=T0 + 3_500_000,
                ttl=60,
                ip_id=1,
                df=False,
                flags="R",
                seq=5101,
                ack=0,
                window=0,
                options="",
                length=0,
                head=b"",
            ),
            data=SegmentView(
                packet=5,
                time_ns=T0 + 4_000_000,
                ttl=64,
                ip_id=42,
                df=True,
                flags="PA",
                seq=5101,
                ack=1001,
                window=502,
                options="",
                length=50,
                head=BODY[100:150],
            ),
        )
    ]


def test_a_close_is_kept_without_its_payload_but_shown_with_its_length() -> None:
    wire = server_data((1, BODY[:100]))
    wire.s(3_000, 5101, 1001, FIN | ACK, b"z" * 60_000)  # a capture taken below GRO: one 60 kB segment
    wire.s(4_000, 65101, 1001, ACK, b"late")
    table = FlowTable()
    (found,) = observations(wire, table)
    assert isinstance(found, DataAfterClose)
    assert (found.close.length, found.close.head, found.data.length) == (60_000, b"z" * 512, 4)
    assert len(wire.segments[3].payload) == 60_000  # the caller's segment is untouched


def test_big_closing_segments_do_not_stay_in_memory() -> None:
    table = FlowTable(stored_bytes=1024 * 1024)
    tracemalloc.start()
    try:
        for port in range(1000):
            wire = Wire(client_port=port)
            wire.s(port, 5001, 1001, FIN | ACK, b"z" * 60_000)  # one side's FIN: the flow stays open
            for segment in wire.segments:
                table.add(segment)
            del wire
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(table) == 1000
    assert held < 12 * 1024 * 1024  # 60 MB if every FIN kept its payload


def test_retransmission_before_a_fin_is_normal_and_data_at_the_fin_is_not() -> None:
    wire = server_data((1, BODY[:100]))
    wire.s(3_000, 5101, 1001, FIN | PSH | ACK, BODY[100:120])  # FIN after 20 bytes: closing number 5121
    wire.s(203_000, 5001, 1001, ACK, BODY[:100])  # retransmission before the FIN
    wire.s(403_000, 5101, 1001, FIN | PSH | ACK, BODY[100:120])  # the FIN again, with its bytes
    assert observations(wire) == []
    wire.s(404_000, 5121, 1001, PSH | ACK, b"more")
    (found,) = observations(wire)
    assert isinstance(found, DataAfterClose)
    assert (found.to_client, found.close.packet, found.data.packet, found.data.seq) == (True, 4, 7, 5121)


def test_data_after_the_client_fin_is_reported_client_side() -> None:
    wire = Wire()
    wire.c(0, 1000, 0, FIN | ACK)
    wire.c(1_000, 1000, 0, PSH | ACK, b"x")
    (found,) = observations(wire)
    assert isinstance(found, DataAfterClose)
    assert (found.to_client, found.close.packet, found.data.packet) == (False, 1, 2)


def summary(
    flow: Flow,
    first: int,
    times: tuple[int, int],
    to_server: tuple[int, int],
    to_client: tuple[int, int],
    service: str | None,
    ended: str,
) -> FlowSummary:
    return FlowSummary(
        flow=flow,
        first_packet=first,
        first_time_ns=T0 + times[0] * 1000,
        last_time_ns=T0 + times[1] * 1000,
        packets_to_server=to_server[0],
        packets_to_client=to_client[0],
        bytes_to_server=to_server[1],
        bytes_to_client=to_client[1],
        service=service,
        ended=ended,
    )


def test_idle_closed_and_capture_end_summaries() -> None:
    wire = Wire()
    http = Wire(segments=wire.segments)
    http.c(0, 1000, 0, SYN)
    http.s(1_000, 5000, 1001, SYN | ACK)
    http.c(2_000, 1001, 5001, ACK)
    http.c(3_000, 1001, 5001, PSH | ACK, GET)
    http.s(4_000, 5001, 1038, PSH | ACK, GENUINE)
    http.c(5_000, 1038, 5078, FIN | ACK)
    http.s(6_000, 5078, 1039, FIN | ACK)
    http.c(7_000, 1039, 5079, ACK)
    dns = Wire(client_port=40000, server="192.0.2.53", server_port=53, protocol=17, segments=wire.segments)
    dns.c(8_000, 0, 0, 0, b"q" * 30)
    dns.s(9_000, 0, 0, 0, b"a" * 46)
    tls = Wire(server_port=443, segments=wire.segments)
    tls.s(10_000, 5000, 3001, SYN | ACK)  # the capture starts after the SYN
    tls.c(11_000, 3001, 5001, PSH | ACK, b"\x16\x03\x01" + b"h" * 97)
    filler = Wire(client_port=5000, server="10.0.0.9", server_port=9999, protocol=17, segments=wire.segments)
    while len(wire.segments) < SWEEP_EVERY:
        filler.c(120_000_000, 0, 0, 0, b"f" * 10)
    table = FlowTable(idle_seconds=60)
    found = observations(wire, table)
    assert SWEEP_EVERY == 4096
    assert found == [
        summary(Flow("tcp", CLIENT, 51000, SERVER, 80), 1, (0, 7_000), (5, 37), (3, 77), "http", "closed"),
        summary(Flow("udp", CLIENT, 40000, "192.0.2.53", 53), 9, (8_000, 9_000), (1, 30), (1, 46), "dns", "idle"),
        summary(Flow("tcp", CLIENT, 51000, SERVER, 443), 11, (10_000, 11_000), (1, 100), (1, 0), "tls", "idle"),
    ]
    assert len(table) == 1
    reset = Wire(client_port=6000, segments=wire.segments)
    reset.c(121_000_000, 1, 0, SYN)
    reset.s(121_001_000, 0, 2, RST | ACK)
    assert observations(Wire(segments=wire.segments[-2:]), table) == []
    assert list(table.finish()) == [
        summary(
            Flow("udp", CLIENT, 5000, "10.0.0.9", 9999),
            13,
            (120_000_000, 120_000_000),
            (4084, 40840),
            (0, 0),
            None,
            "capture end",
        ),
        summary(
            Flow("tcp", CLIENT, 6000, SERVER, 80),
            4097,
            (121_000_000, 121_001_000),
            (1, 0),
            (1, 0),
            None,
            "closed",
        ),
    ]
    assert len(table) == 0


def test_closed_flow_leaves_after_its_linger() -> None:
    wire = Wire()
    wire.c(0, 1000, 0, SYN)
    wire.s(1_000, 5000, 1001, RST | ACK)
    other = Wire(client_port=5000, server="10.0.0.9", server_port=9999, protocol=17, segments=wire.segments)
    while len(wire.segments) < SWEEP_EVERY:
        other.c(11_000_000, 0, 0, 0, b"f")
    table = FlowTable(linger_seconds=10)
    found = observations(wire, table)
    assert found == [summary(Flow("tcp", CLIENT, 51000, SERVER, 80), 1, (0, 1_000), (1, 0), (1, 0), None, "closed")]
    assert len(table) == 1


def test_a_closed_flow_that_keeps_talking_stays() -> None:
    wire = Wire()
    wire.c(0, 1000, 0, SYN)
    wire.s(1_000, 5000, 1001, SYN | ACK)
    wire.s(2_000, 9999, 0, RST)  # a forged reset, off the closing sequence number
    wire.s(11_000_000, 5001, 1001, ACK, b"x" * 10)  # the genuine server goes on past the linger
    other = Wire(client_port=5000, server="10.0.0.9", server_port=9999, protocol=17, segments=wire.segments)
    while len(wire.segments) < SWEEP_EVERY:
        other.c(12_000_000, 0, 0, 0, b"f")
    table = FlowTable(linger_seconds=10)
    assert observations(wire, table) == []
    assert [(item.first_packet, item.packets_to_client, item.ended) for item in table.finish()] == [
        (1, 3, "closed"),
        (5, 0, "capture end"),
    ]


def test_a_reset_after_a_fin_closes_the_flow_and_the_fin_stays_the_close() -> None:
    wire = Wire()
    wire.c(0, 1000, 0, FIN | ACK)
    wire.c(1_000, 1001, 0, RST)
    wire.c(2_000, 1000, 0, ACK, b"x")
    table = FlowTable()
    (found,) = observations(wire, table)
    assert isinstance(found, DataAfterClose)
    assert (found.close.packet, found.close.flags, found.data.packet) == (1, "FA", 3)
    assert [item.ended for item in table.finish()] == ["closed"]


def test_full_table_evicts_the_least_recently_active_flow() -> None:
    wire = Wire(protocol=17)
    for port in (1, 2, 3):
        wire.add(CLIENT, port, SERVER, 9, port * 1_000, 0, 0, 0, b"x")
    wire.add(SERVER, 9, CLIENT, 1, 4_000, 0, 0, 0, b"yy")  # flow 1 is active again
    wire.add(CLIENT, 4, SERVER, 9, 5_000, 0, 0, 0, b"z")
    table = FlowTable(max_flows=3)
    found = observations(wire, table)
    assert found == [summary(Flow("udp", CLIENT, 2, SERVER, 9), 2, (2_000, 2_000), (1, 1), (0, 0), None, "evicted")]
    assert len(table) == 3
    assert [item.flow.client_port for item in table.finish()] == [3, 1, 4]


def test_a_new_syn_on_a_closed_flow_opens_a_new_flow() -> None:
    wire = handshake_wire()
    wire.c(30_000, 1001, 5001, RST)
    wire.c(40_000, 90_000, 0, SYN)
    table = FlowTable()
    results = [table.add(segment) for segment in wire.segments]
    old, new = results[0][0], results[3][0]
    assert new == old and new is not old
    assert results[3][2] == (
        summary(Flow("tcp", CLIENT, 51000, SERVER, 80), 1, (0, 30_000), (2, 0), (1, 0), None, "closed"),
    )
    assert [(item.first_packet, item.packets_to_server, item.ended) for item in table.finish()] == [
        (4, 1, "capture end")
    ]


def test_stored_payload_is_bounded_for_the_whole_table() -> None:
    wire = Wire()
    wire.s(0, 5001, 1001, ACK, b"a" * 100)
    for port in (1, 2, 3):
        wire.add(CLIENT, port, SERVER, 80, 1_000 * port, 1, 0, ACK, b"x" * 100)
    wire.s(9_000, 5001, 1001, ACK, b"b" * 100)
    assert [item.second.packet for item in races(wire)] == [5]
    assert observations(wire, FlowTable(stored_bytes=3 * (100 + ENTRY_OVERHEAD))) == []  # the first segment is gone


@pytest.mark.parametrize("table", [FlowTable(window_segments=3), FlowTable(window_bytes=39)])
def test_window_per_direction_keeps_the_most_recent_segments(table: FlowTable) -> None:
    pieces = [(1 + 10 * n, BODY[10 * n : 10 * n + 10]) for n in range(5)]
    wire = server_data(*pieces, (1, b"!" * 10), (41, b"!" * 10))
    found = observations(wire, table)
    assert [(item.first.packet, item.second.packet) for item in found if isinstance(item, TcpRace)] == [(7, 9)]
    assert len(found) == 1


def test_a_million_short_flows_stay_bounded() -> None:
    table = FlowTable(max_flows=1000, idle_seconds=1)
    segment = Segment(1, T0, 4, b"\x0a\x00\x00\x02", b"", 64, 0, True, 17, 0, 53, 0, 0, 0, 0, b"", b"q", False)
    ended = 0
    largest = 0
    for n in range(1_000_000):
        segment.number = n + 1
        segment.time_ns = T0 + n * 1000
        segment.sport = n & 0xFFFF
        segment.dst = (n >> 16).to_bytes(4, "big")
        ended += len(table.add(segment)[2])
        if n % 1000 == 0:
            largest = max(largest, len(table))
    assert largest == 1000
    assert len(table) == 1000
    assert ended == 999_000
    assert sum(1 for _ in table.finish()) == 1000


def test_random_segments_keep_every_bound() -> None:
    """Arbitrary flags, sequence numbers and payloads on a few ports: no exception, every cap holds, and
    every flow opened is summarised exactly once."""
    rng = random.Random(11)
    table = FlowTable(max_flows=20, window_segments=4, window_bytes=300, stored_bytes=4096)
    wire = Wire()
    opened: dict[int, Flow] = {}
    summarised: list[int] = []
    per_flow: Counter[tuple[str, int]] = Counter()
    for n in range(20_000):
        client_port = 1000 + rng.randrange(40)
        base = 2**32 - 500 if client_port % 2 else 7
        seq = (base + rng.randrange(1_000)) & 0xFFFFFFFF
        payload = bytes([rng.randrange(3)]) * rng.randrange(0, 120)
        flags = rng.choice([SYN, SYN | ACK, ACK, PSH | ACK, FIN | ACK, RST, RST | ACK, 0xFF])
        if rng.random() < 0.5:
            wire.add(CLIENT, client_port, SERVER, 80, n * 10_000, seq, 0, flags, payload)
        else:
            wire.add(SERVER, 80, CLIENT, client_port, n * 10_000, seq, 0, flags, payload)
        flow, _, found = table.add(wire.segments[-1])
        opened[id(flow)] = flow
        for item in found:
            if isinstance(item, FlowSummary):
                summarised.append(id(item.flow))
            else:
                per_flow[(type(item).__name__, id(item.flow))] += 1
        assert len(table) <= 20
    summarised.extend(id(item.flow) for item in table.finish())
    assert len(table) == 0
    assert sorted(summarised) == sorted(opened)
    kinds = Counter(kind for kind, _ in per_flow.elements())
    assert kinds["TcpRace"] > 0 and kinds["HandshakeHijack"] > 0 and kinds["DataAfterClose"] > 0
    assert max(count for (kind, _), count in per_flow.items() if kind == "TcpRace") <= MAX_RACES_PER_FLOW
    assert max(count for (kind, _), count in per_flow.items() if kind == "HandshakeHijack") == 1
    assert max(count for (kind, _), count in per_flow.items() if kind == "DataAfterClose") <= 2


@pytest.mark.parametrize("ending", ["finish", "close", "evict"])
def test_an_ended_flow_leaves_no_reference_cycle(ending: str) -> None:
    # A flow and its two directions refer to each other while it lives; its end must undo that, or every
    # flow of a capture would wait for the cyclic collector (which a parse freezes).
    wire = Wire()
    wire.c(0, 1000, 0, SYN)
    wire.s(100, 5000, 1001, SYN | ACK)
    wire.c(200, 1001, 5001, ACK)
    wire.c(300, 1001, 5001, PSH | ACK, b"GET / HTTP/1.1\r\n\r\n")
    wire.s(400, 5001, 1019, PSH | ACK, b"HTTP/1.1 200 OK\r\n\r\n")
    if ending == "close":
        wire.c(500, 1019, 5020, FIN | ACK)
        wire.s(600, 5020, 1020, FIN | ACK)
        wire.c(700, 1020, 5021, ACK)
    table = FlowTable(max_flows=1, linger_seconds=0.0)
    gc.collect()
    gc.disable()
    try:
        found = observations(wire, table)
        other = Wire(client_port=51001)
        if ending == "evict":  # another flow takes the only place
            found.extend(table.add(other.c(10_000, 1, 0, SYN))[2])
        elif ending == "close":  # the sweep of a later packet ends the closed flow, its linger over
            for number in range(SWEEP_EVERY):
                found.extend(table.add(other.c(10_000 + number, 1, 0, SYN if number == 0 else ACK))[2])
        found.extend(table.finish())
        ends = [(f.flow.client_port, f.ended) for f in found if isinstance(f, FlowSummary)]
        assert (
            ends
            == {
                "finish": [(51000, "capture end")],
                "close": [(51000, "closed"), (51001, "capture end")],
                "evict": [(51000, "evicted"), (51001, "capture end")],
            }[ending]
        )
        del table, found
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_a_udp_flow_ends_after_a_minute_of_silence_even_behind_an_older_tcp_flow() -> None:
    wire = Wire()
    http = Wire(segments=wire.segments)
    http.c(0, 1000, 0, SYN)
    http.s(1_000, 5000, 1001, SYN | ACK)
    http.c(2_000, 1001, 5001, ACK)  # then silent: not idle before 5 minutes
    dns = Wire(client_port=40000, server="192.0.2.53", server_port=53, protocol=17, segments=wire.segments)
    dns.c(1_000_000, 0, 0, 0, b"q" * 30)
    dns.s(1_020_000, 0, 0, 0, b"a" * 46)
    filler = Wire(client_port=5000, server="10.0.0.9", server_port=9999, protocol=17, segments=wire.segments)
    while len(wire.segments) < SWEEP_EVERY:
        filler.c(61_100_000, 0, 0, 0, b"f" * 10)
    table = FlowTable()
    assert observations(wire, table) == [
        summary(
            Flow("udp", CLIENT, 40000, "192.0.2.53", 53), 4, (1_000_000, 1_020_000), (1, 30), (1, 46), "dns", "idle"
        )
    ]
    assert len(table) == 2
    assert observations(wire, FlowTable(udp_idle_seconds=300)) == []
