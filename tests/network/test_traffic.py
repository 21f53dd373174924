"""The traffic artifact: D10-D14 findings from records, and (with generated captures) the whole pass from
a capture file to records, findings, problems and the CLI's output."""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import http.client
import json
import os
import queue
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.builders import Checked, check, plain_set
from tests.builders.captures import ACK, RST, SYN, CaptureBuilder, dns_answer, dns_query
from vestige.analysis import analyse
from vestige.cli import main
from vestige.evidence.capture import read_capture
from vestige.evidence.headers import decode, decodes_at_once, flow_shard, frame_shard
from vestige.indicators import IndicatorIndex
from vestige.model import Evidence, Finding, Locator, ObservableKind, Record, RecordPayload, Severity
from vestige.network.artifacts import traffic
from vestige.network.events import (
    DataAfterClose,
    DnsAnswerView,
    DnsLookup,
    DnsRace,
    Flow,
    FlowSummary,
    Handshake,
    HandshakeHijack,
    HttpRequest,
    HttpResponseHead,
    SegmentView,
    TcpRace,
    TlsClientHello,
)
from vestige.platforms import Registry

SHA = "ab" * 32
FLOW = Flow("tcp", "10.0.0.2", 51000, "93.184.216.34", 80)
T = 1_600_000_000_000_000_000
HANDSHAKE = Handshake(
    syn_packet=1,
    synack_packet=2,
    server_ttl=52,
    server_ip_id=0,
    server_df=True,
    timestamps=True,
    server_window_scale=7,
    rtt_ns=30_000_000,
)
REDIRECT = b"HTTP/1.1 302 Found\r\nLocation: http://evil.example.net/x\r\nContent-Length: 0\r\n\r\n"
GENUINE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def view(packet: int, at_ms: float, head: bytes, **fields: Any) -> SegmentView:
    base = SegmentView(
        packet=packet,
        time_ns=T + int(at_ms * 1e6),
        ttl=52,
        ip_id=7,
        df=True,
        flags="PA",
        seq=5_000_001,
        ack=1_039,
        window=509,
        options="NOP,NOP,TS",
        length=len(head),
        head=head,
    )
    return dataclasses.replace(base, **fields)


def record(payload: RecordPayload, packet: int) -> Record:
    return Record(
        artifact=traffic.NAME,
        locator=Locator("capture.pcap", SHA, packet=packet),
        time=traffic.moment(T),
        summary=traffic.summary(payload),
        payload=payload,
    )


def request(packet: int, at_ms: float) -> Record:
    sent = HttpRequest(FLOW, packet, "GET", "example.com", "/", "http://example.com/", None)
    return dataclasses.replace(record(sent, packet), time=traffic.moment(T + int(at_ms * 1e6)))


def race(first: SegmentView, second: SegmentView, **fields: Any) -> TcpRace:
    base = TcpRace(
        flow=FLOW,
        to_client=True,
        overlap_start=1,
        overlap_length=min(first.length, second.length),
        differing=min(first.length, second.length),
        first=first,
        second=second,
        handshake=HANDSHAKE,
        request_host="example.com",
        request_url="http://example.com/",
        first_response=None,
        second_response=None,
    )
    return dataclasses.replace(base, **fields)


def head(status: int, location: str | None = None, length: int | None = None, script: bool = False) -> HttpResponseHead:
    return HttpResponseHead(status, "Found" if status == 302 else "OK", location, length, script)


def findings(*records: Record) -> list[Finding]:
    return list(traffic.detect(records, _NoIndicators()))


class _NoIndicators:
    def match(self, observable: object) -> tuple[()]:
        return ()


def forged(packet: int = 5, at_ms: float = 31.0, head_bytes: bytes = REDIRECT) -> SegmentView:
    """The Fox-IT lab injector's segment: TTL 64, IP-ID 1, DF clear, window 8192, no options."""
    return view(packet, at_ms, head_bytes, ttl=64, ip_id=1, df=False, window=8192, options="", flags="FPA")


def test_an_injected_cross_site_redirect_is_d11_critical_citing_both_segments_and_the_request() -> None:
    won = race(forged(), view(7, 61.0, GENUINE), first_response=head(302, "http://evil.example.net/x", 0))
    [finding] = findings(request(4, 30.5), record(won, 5))
    assert finding.rule == "network.injected_response"
    assert finding.severity is Severity.CRITICAL
    assert finding.title == (
        "An empty HTTP 302 redirect to evil.example.net raced a different response on "
        "tcp 10.0.0.2:51000 -> 93.184.216.34:80, with headers unlike the server's"
    )
    assert finding.evidence == (
        Evidence(
            Locator("capture.pcap", SHA, packet=5),
            'first segment: "HTTP/1.1 302 Found\\r\\nLocation: http://evil.example.net/x\\r\\nContent"',
        ),
        Evidence(
            Locator("capture.pcap", SHA, packet=7),
            'second segment: "HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok"',
        ),
        Evidence(Locator("capture.pcap", SHA, packet=4), "request: http://example.com/"),
    )
    assert finding.time == traffic.moment(T + 31_000_000)
    explanation = finding.explanation
    assert (
        "First: packet 5 at 2020-09-13T12:26:40.031000Z, TTL 64, IP-ID 1, DF clear, flags FPA, window 8192, TCP "
        "options none, 78 bytes, the first 64: "
        '"HTTP/1.1 302 Found\\r\\nLocation: http://evil.example.net/x\\r\\nContent".'
    ) in explanation
    assert "Second, 30.000 ms later: packet 7 at 2020-09-13T12:26:40.061000Z, TTL 52, IP-ID 7, DF set" in explanation
    assert "The client's last HTTP request before the first segment was sent in packet 4 for http://example.com/." in (
        explanation
    )
    assert (
        "(network-injection detector D11): it is an HTTP 302 redirect to http://evil.example.net/x, another site "
        "than the requested example.com; it is an HTTP 302 redirect with Content-Length: 0, so the receiver "
        "follows it and takes nothing of what the server sends after it."
    ) in explanation
    assert (
        "(detector D12): its TTL is 64 where the server's SYN/ACK (packet 2) had 52 and the second segment 52; "
        "its IP-ID is 1 where the second segment's is 7; its Don't Fragment bit is clear where the server's "
        "SYN/ACK set it; it carries no TCP timestamps although the handshake negotiated them (RFC 7323); it "
        "arrived 0.500 ms after the request, less than half the handshake's round trip (30.000 ms)."
    ) in explanation
    assert any("captive portal" in caveat for caveat in finding.caveats)


def test_a_race_whose_winner_looks_like_the_server_is_d10_high_and_says_the_headers_match() -> None:
    won = race(view(5, 61.0, b"HTTP/1.1 200 OK\r\n\r\nBANG!"), view(7, 62.0, GENUINE))
    [finding] = findings(request(4, 30.5), record(won, 5))
    assert finding.rule == "network.tcp_race"
    assert finding.severity is Severity.HIGH
    assert finding.title == (
        "Two segments from the server with different bytes for the same sequence numbers on "
        "tcp 10.0.0.2:51000 -> 93.184.216.34:80"
    )
    assert "D12" not in finding.explanation
    assert finding.explanation.endswith(
        "The first segment's headers are consistent with the server's (TTL, IP-ID, DF, TCP timestamps and "
        "timing), which neither clears nor condemns it: a careful injector copies them."
    )
    assert [e.locator.packet for e in finding.evidence] == [5, 7, 4]


def test_d12_alone_changes_the_title_and_explanation_but_not_the_severity() -> None:
    won = race(forged(head_bytes=b"BANG! BANG!"), view(9, 60.0, GENUINE))
    [finding] = findings(record(won, 5))
    assert (finding.rule, finding.severity) == ("network.tcp_race", Severity.HIGH)
    assert finding.title.endswith(", the first with headers unlike the server's")
    assert [e.locator.packet for e in finding.evidence] == [5, 9]
    assert "arrived" not in finding.explanation  # no request: no timing


def test_a_same_site_redirect_with_a_body_is_not_d11() -> None:
    redirect = b"HTTP/1.1 301 Moved\r\nLocation: http://www.example.com/\r\nContent-Length: 5\r\n\r\nmoved"
    won = race(view(5, 61.0, redirect), view(7, 62.0, GENUINE), first_response=head(301, "http://www.example.com/", 5))
    [finding] = findings(record(won, 5))
    assert (finding.rule, finding.severity) == ("network.tcp_race", Severity.HIGH)


def test_script_in_the_winner_is_d11() -> None:
    body = b'HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n<script>alert("x")</script>'
    won = race(view(5, 61.0, body), view(7, 62.0, GENUINE), first_response=head(200, None, 30, script=True))
    [finding] = findings(record(won, 5))
    assert (finding.rule, finding.severity) == ("network.injected_response", Severity.CRITICAL)
    assert finding.title == (
        "A response carrying script raced a different response on tcp 10.0.0.2:51000 -> 93.184.216.34:80"
    )
    assert "D11): it carries script." in finding.explanation


def test_a_client_side_race_is_d10_without_d11_or_d12() -> None:
    won = race(forged(head_bytes=REDIRECT), view(7, 62.0, GENUINE), to_client=False, first_response=head(302, "x", 0))
    [finding] = findings(record(won, 5))
    assert (finding.rule, finding.severity) == ("network.tcp_race", Severity.HIGH)
    assert finding.title == (
        "Two segments from the client with different bytes for the same sequence numbers on "
        "tcp 10.0.0.2:51000 -> 93.184.216.34:80"
    )
    assert "D12" not in finding.explanation and "consistent" not in finding.explanation


def test_an_injected_redirect_that_lost_the_race_is_named_but_stays_d10() -> None:
    won = race(
        view(5, 61.0, GENUINE),
        forged(7, 62.0),
        first_response=head(200, None, 2),
        second_response=head(302, "http://evil.example.net/x", 0),
    )
    [finding] = findings(record(won, 5))
    assert (finding.rule, finding.severity) == ("network.tcp_race", Severity.HIGH)
    assert "The second segment, which the receiver dropped, starts a response with the traits of an injected one" in (
        finding.explanation
    )


def test_the_request_cited_is_the_flows_last_before_the_winner_and_forgotten_with_the_flow() -> None:
    won = race(view(5, 61.0, b"a"), view(9, 62.0, b"b"))
    summary = FlowSummary(FLOW, 1, T, T, 3, 3, 10, 10, "http", "closed")
    [cited] = findings(request(3, 1.0), request(4, 2.0), request(6, 63.0), record(won, 5))
    assert [e.locator.packet for e in cited.evidence] == [5, 9, 4]
    [uncited] = findings(request(4, 2.0), record(summary, 1), record(won, 5))
    assert [e.locator.packet for e in uncited.evidence] == [5, 9]


def test_dns_race_is_d13_high_with_hold_on_corroboration() -> None:
    dns_flow = Flow("udp", "10.0.0.2", 40000, "9.9.9.9", 53)
    injected = DnsAnswerView(11, T + 2_000_000, 64, 1, 0, ("A 203.0.113.66",))
    genuine = DnsAnswerView(12, T + 20_000_000, 57, 4242, 0, ("A 93.184.216.34",))
    raced = DnsRace(dns_flow, 0x1234, "example.com", "A", 10, T, injected, genuine)
    [finding] = findings(record(raced, 11))
    assert (finding.rule, finding.severity) == ("network.dns_race", Severity.HIGH)
    assert (
        finding.title
        == "Two different DNS answers for example.com (A) came for one query on udp 10.0.0.2:40000 -> 9.9.9.9:53"
    )
    assert [e.locator.packet for e in finding.evidence] == [11, 12, 10]
    assert [e.excerpt for e in finding.evidence] == [
        "first answer: A 203.0.113.66",
        "second answer: A 93.184.216.34",
        "query: example.com (A)",
    ]
    assert (
        "Hold-On's checks single out the first answer: their IP TTLs differ (64 and 57), as answers along two "
        "paths do; the first came 2.000 ms after the query, less than half the second's 20.000 ms."
    ) in finding.explanation


def test_handshake_hijack_and_data_after_close_are_d14_medium() -> None:
    synack = view(2, 30.0, b"", flags="SA", seq=5_000_000, ack=1_001, length=0)
    other = dataclasses.replace(synack, packet=3, seq=77_000, ttl=64, time_ns=T + 31_000_000)
    [hijack] = findings(record(HandshakeHijack(FLOW, synack, other), 2))
    assert (hijack.rule, hijack.severity) == ("network.handshake_hijack", Severity.MEDIUM)
    assert hijack.title == (
        "Two SYN/ACKs with different sequence numbers answered one SYN on tcp 10.0.0.2:51000 -> 93.184.216.34:80"
    )
    assert [(e.locator.packet, e.excerpt) for e in hijack.evidence] == [
        (2, "first SYN/ACK, seq 5000000"),
        (3, "second SYN/ACK, seq 77000"),
    ]
    reset = view(6, 40.0, b"", flags="R", seq=5_000_100, length=0)
    data = view(8, 45.0, b"late", seq=5_000_100)
    [after] = findings(record(DataAfterClose(FLOW, True, reset, data), 6))
    assert (after.rule, after.severity) == ("network.data_after_close", Severity.MEDIUM)
    assert after.title == "Data from the server followed its RST on tcp 10.0.0.2:51000 -> 93.184.216.34:80"
    assert [(e.locator.packet, e.excerpt) for e in after.evidence] == [
        (6, "RST at sequence 5000100"),
        (8, 'data: "late"'),
    ]


def test_timeline_records_make_no_finding() -> None:
    summary = FlowSummary(FLOW, 1, T, T + 10**9, 6, 6, 300, 3200, "http", "closed")
    assert findings(request(4, 1.0), record(summary, 1)) == []
    assert traffic.summary(summary) == "tcp 10.0.0.2:51000 -> 93.184.216.34:80 (http): 12 packets, 3.5 kB"


def test_payload_bytes_are_escaped_whatever_they_hold() -> None:
    assert traffic._shown(b'a"\\\x00\xff\r\n\t') == '"a\\"\\\\\\x00\\xff\\r\\n\\t"'
    assert traffic._shown(b"x" * 65) == '"' + "x" * 64 + '"'


# ----------------------------------------------------------------------------------------------
# Generated captures, read by the engine as `vestige check` reads them

AT = 1_600_000_000.0
"""2020-09-13T12:26:40Z: the capture builder's clock (seconds)."""
CLIENT, SERVER = "10.0.0.2", "93.184.216.34"
GET = b"GET /download HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5.0\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 9\r\n\r\n<p>ok</p>"
FORGED_REDIRECT = (
    b"HTTP/1.1 302 Found\r\nLocation: http://fp3x9k2q.evil.example.net:30495/x\r\nContent-Length: 0\r\n\r\n"
)


def injected(
    tmp_path: Path,
    forged_bytes: bytes,
    *,
    client: str = CLIENT,
    server: str = SERVER,
    server_isn: int = 5_000_000,
    vlan: int | None = None,
) -> tuple[Path, dict[str, int]]:
    """A capture of one HTTP exchange whose response an on-path injector raced (Fox-IT's lab injector: the
    forged segment 2 ms after the request, the server's own 30 ms after it)."""
    capture = CaptureBuilder()
    talk = capture.connect(client, 51000, server, 80, at=AT, server_isn=server_isn, vlan=vlan)
    numbers = {"syn": talk.syn, "synack": talk.synack}
    numbers["request"] = talk.send(GET)
    numbers["forged"] = talk.inject(forged_bytes, after=0.002)
    numbers["genuine"] = talk.reply(OK, after=0.028)
    talk.close()
    return capture.write_pcap(tmp_path / "capture.pcap"), numbers


def serious(result: Checked) -> list[tuple[str, Severity, list[int | None]]]:
    return [
        (f.rule, f.severity, [e.locator.packet for e in f.evidence])
        for f in result.result.findings
        if f.severity >= Severity.MEDIUM
    ]


def test_an_injected_cross_site_redirect_in_a_capture_is_one_critical_finding(tmp_path: Path) -> None:
    path, n = injected(tmp_path, FORGED_REDIRECT)
    assert (n["request"], n["forged"], n["genuine"]) == (4, 5, 6)
    result = check(path)
    assert result.result.problems == []
    assert serious(result) == [("network.injected_response", Severity.CRITICAL, [5, 6, 4])]
    [finding] = result.findings("network.injected_response")
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    assert finding.evidence[0] == Evidence(
        Locator("capture.pcap", sha256, packet=5),
        'first segment: "HTTP/1.1 302 Found\\r\\nLocation: http://fp3x9k2q.evil.example.net:3"',
    )
    assert finding.title == (
        "An empty HTTP 302 redirect to fp3x9k2q.evil.example.net raced a different response on "
        "tcp 10.0.0.2:51000 -> 93.184.216.34:80, with headers unlike the server's"
    )
    assert finding.time == datetime(2020, 9, 13, 12, 26, 40, 33200, tzinfo=timezone.utc)
    assert "Second, 28.000 ms later: packet 6 at 2020-09-13T12:26:40.061200Z, TTL 52, IP-ID 1, DF set" in (
        finding.explanation
    )
    assert (
        "it is an HTTP 302 redirect to http://fp3x9k2q.evil.example.net:30495/x, another site than the requested "
        "example.com; it is an HTTP 302 redirect with Content-Length: 0"
    ) in finding.explanation
    assert (
        "(detector D12): its TTL is 64 where the server's SYN/ACK (packet 2) had 52 and the second segment 52; "
        "its Don't Fragment bit is clear where the server's SYN/ACK set it; it carries no TCP timestamps although "
        "the handshake negotiated them (RFC 7323); it arrived 2.000 ms after the request, less than half the "
        "handshake's round trip (30.000 ms)."
    ) in finding.explanation
    requests = [r for r in result.artifact_records(traffic.NAME) if isinstance(r.payload, HttpRequest)]
    assert [(r.locator.packet, r.summary) for r in requests] == [
        (4, "HTTP GET http://example.com/download from 10.0.0.2")
    ]


def test_injected_script_is_critical(tmp_path: Path) -> None:
    script = b"HTTP/1.1 200 OK\r\nContent-Length: 51\r\n\r\n<script src=http://evil.example.net/x.js></script>"
    path, _ = injected(tmp_path, script)
    result = check(path)
    assert serious(result) == [("network.injected_response", Severity.CRITICAL, [5, 6, 4])]
    [finding] = result.findings("network.injected_response")
    assert finding.title.startswith("A response carrying script raced a different response on ")
    assert "(network-injection detector D11): it carries script." in finding.explanation


def test_an_empty_redirect_within_the_site_is_critical(tmp_path: Path) -> None:
    path, _ = injected(
        tmp_path, b"HTTP/1.1 302 Found\r\nLocation: http://www.example.com/x\r\nContent-Length: 0\r\n\r\n"
    )
    [finding] = check(path).findings("network.injected_response")
    assert finding.severity is Severity.CRITICAL
    assert "another site" not in finding.explanation
    assert "it is an HTTP 302 redirect with Content-Length: 0" in finding.explanation


def test_a_race_over_sequence_wraparound_is_found(tmp_path: Path) -> None:
    path, _ = injected(tmp_path, b"BANG! BANG! BANG!", server_isn=2**32 - 5)
    result = check(path)
    assert serious(result) == [("network.tcp_race", Severity.HIGH, [5, 6, 4])]
    [race] = [r.payload for r in result.artifact_records(traffic.NAME) if isinstance(r.payload, TcpRace)]
    assert (race.first.seq, race.second.seq, race.overlap_start, race.overlap_length) == (2**32 - 4, 2**32 - 4, 1, 17)


@pytest.mark.parametrize(
    ("client", "server", "vlan", "flow", "ip_id"),
    [
        ("2001:db8::2", "2001:db8::1", None, "tcp [2001:db8::2]:51000 -> [2001:db8::1]:80", "none"),
        (CLIENT, SERVER, 42, "tcp 10.0.0.2:51000 -> 93.184.216.34:80", "1"),
        ("2001:db8::2", "2001:db8::1", 7, "tcp [2001:db8::2]:51000 -> [2001:db8::1]:80", "none"),
    ],
    ids=["ipv6", "vlan", "ipv6-in-vlan"],
)
def test_a_race_over_ipv6_or_in_a_vlan_is_found(
    tmp_path: Path, client: str, server: str, vlan: int | None, flow: str, ip_id: str
) -> None:
    path, _ = injected(tmp_path, FORGED_REDIRECT, client=client, server=server, vlan=vlan)
    result = check(path)
    assert serious(result) == [("network.injected_response", Severity.CRITICAL, [5, 6, 4])]
    [finding] = result.findings("network.injected_response")
    assert f"on {flow}, with headers unlike the server's" in finding.title
    assert f"First: packet 5 at 2020-09-13T12:26:40.033200Z, TTL 64, IP-ID {ip_id}, DF clear" in finding.explanation


def test_retransmissions_and_out_of_order_segments_are_no_race(tmp_path: Path) -> None:
    capture = CaptureBuilder()
    talk = capture.connect(CLIENT, 51000, SERVER, 80, at=AT)
    talk.send(GET)
    first_part, second_part = OK[:30], OK[30:]
    start = talk.server_seq
    sent = talk.reply(first_part)  # 5
    talk.server_seq = start  # the same segment again: a retransmission with identical bytes
    talk.reply(first_part)  # 6
    late = talk.server_seq
    talk.server_seq = late + len(second_part)
    talk.reply(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")  # 7: a second response, ahead of its place
    talk.server_seq = late
    talk.reply(second_part)  # 8: the bytes before it, out of order
    talk.close()
    result = check(capture.write_pcap(tmp_path / "capture.pcap"))
    assert sent == 5
    assert result.result.problems == []
    assert serious(result) == []
    assert [type(r.payload).__name__ for r in result.artifact_records(traffic.NAME)] == [
        "HttpRequest",
        "FlowSummary",
        "CaptureSummary",
    ]


def test_a_zero_window_probe_replaced_when_the_window_opens_is_no_race(tmp_path: Path) -> None:
    """Windows and BSD probe a zero window with the next byte of data and may send another byte there once
    the window opens: benign different bytes at one sequence number."""
    capture = CaptureBuilder()
    talk = capture.connect(CLIENT, 51000, SERVER, 80, at=AT)
    talk.send(GET)
    start = talk.server_seq
    capture.tcp(talk.now + 0.01, CLIENT, 51000, SERVER, 80, talk.client_seq, start, ACK, window=0)  # 5
    probe = talk.reply(b"X", after=0.2)  # 6: one byte while the window is shut
    capture.tcp(talk.now + 0.01, CLIENT, 51000, SERVER, 80, talk.client_seq, start, ACK, window=502)  # 7
    talk.server_seq = start
    talk.reply(OK, after=0.02)  # 8: the response, its first byte in place of the probe's
    talk.close()
    result = check(capture.write_pcap(tmp_path / "capture.pcap"))
    assert probe == 6
    assert serious(result) == []
    assert not [r for r in result.artifact_records(traffic.NAME) if isinstance(r.payload, TcpRace)]


def test_frames_that_carry_no_tcp_or_udp_are_counted_and_skipped(tmp_path: Path) -> None:
    capture = CaptureBuilder()
    arp = b"\xff" * 6 + bytes.fromhex("020000000002") + b"\x08\x06" + bytes(28)
    capture.frame(AT, arp)
    capture.frame(AT + 0.001, bytes.fromhex("020000000001020000000002") + b"\x08\x00\x45")  # IPv4 cut short
    capture.udp(AT + 0.002, CLIENT, 40000, "9.9.9.9", 53, dns_query("example.com", 9))
    result = check(capture.write_pcap(tmp_path / "capture.pcap"))
    assert result.result.problems == []
    records = result.artifact_records(traffic.NAME)
    assert [r.summary for r in records] == [
        "DNS lookup of example.com (A) unanswered",
        "udp 10.0.0.2:40000 -> 9.9.9.9:53 (dns): 1 packet, 29 bytes",
        "3 packets, 2 not decoded as TCP or UDP over IP",
    ]
    assert records[-1].payload == traffic.CaptureSummary(3, 2, 1_600_000_000_000_000_000, 1_600_000_000_002_000_000)


def test_dns_race_in_a_capture_is_high(tmp_path: Path) -> None:
    capture = CaptureBuilder()
    query = capture.udp(AT, CLIENT, 40000, "9.9.9.9", 53, dns_query("example.com", 0x1234))
    forged = capture.udp(
        AT + 0.002, "9.9.9.9", 53, CLIENT, 40000, dns_answer("example.com", 0x1234, ["203.0.113.66"]), ttl=64, ip_id=1
    )
    genuine = capture.udp(
        AT + 0.020,
        "9.9.9.9",
        53,
        CLIENT,
        40000,
        dns_answer("example.com", 0x1234, ["93.184.216.34"]),
        ttl=57,
        ip_id=4242,
    )
    result = check(capture.write_pcap(tmp_path / "capture.pcap"))
    assert serious(result) == [("network.dns_race", Severity.HIGH, [forged, genuine, query])]
    [finding] = result.findings("network.dns_race")
    assert "their IP TTLs differ (64 and 57)" in finding.explanation
    assert "the first came 2.000 ms after the query, less than half the second's 20.000 ms" in finding.explanation


def test_handshake_hijack_and_data_after_reset_in_a_capture_are_medium(tmp_path: Path) -> None:
    capture = CaptureBuilder()
    talk = capture.connect(CLIENT, 51000, SERVER, 80, at=AT)  # 1 SYN, 2 SYN/ACK, 3 ACK
    hijack = capture.tcp(AT + 0.031, SERVER, 80, CLIENT, 51000, 77_000, 1_001, SYN | ACK, ttl=64)  # 4
    talk.send(GET)  # 5
    reset = capture.tcp(talk.now + 0.002, SERVER, 80, CLIENT, 51000, talk.server_seq, talk.client_seq, RST, ttl=64)
    talk.reply(OK)  # 7: the server's data at the sequence number the RST closed
    result = check(capture.write_pcap(tmp_path / "capture.pcap"))
    assert (hijack, reset) == (4, 6)
    assert serious(result) == [
        ("network.handshake_hijack", Severity.MEDIUM, [2, 4]),
        ("network.data_after_close", Severity.MEDIUM, [6, 7]),
    ]


def test_a_capture_cut_inside_a_record_keeps_what_came_before_and_reports_the_cut(tmp_path: Path) -> None:
    path, _ = injected(tmp_path, FORGED_REDIRECT)
    data = path.read_bytes()
    seventh = _record_offset(data, 7)
    path.write_bytes(data[: seventh + 16 + 20])  # the 7th record's header and 20 bytes of its frame
    result = check(path)
    assert [(p.artifact, p.path, p.reason) for p in result.result.problems] == [
        (
            "network.traffic",
            "capture.pcap",
            f"capture.pcap: the capture ends inside packet 7 (record at byte {seventh}): the packets before it "
            "were read",
        )
    ]
    assert serious(result) == [("network.injected_response", Severity.CRITICAL, [5, 6, 4])]
    records = result.artifact_records(traffic.NAME)
    assert [(r.locator.packet, r.summary) for r in records] == [
        (4, "HTTP GET http://example.com/download from 10.0.0.2"),
        (
            5,
            "Two different segments from the server raced for the same 72 bytes on tcp 10.0.0.2:51000 -> "
            "93.184.216.34:80 (packets 5 and 6)",
        ),
        (1, "tcp 10.0.0.2:51000 -> 93.184.216.34:80 (http): 6 packets, 234 bytes"),
        (None, "6 packets"),
    ]
    assert isinstance(records[2].payload, FlowSummary) and records[2].payload.ended == "capture end"
    out = tmp_path / "out"
    code, output = run_cli("check", str(path), "-o", str(out), "--no-bundled-iocs")
    assert code == 3, output
    document = json.loads((out / "findings.json").read_bytes())
    assert [p["reason"] for p in document["problems"]] == [result.result.problems[0].reason]


def _record_offset(pcap: bytes, number: int) -> int:
    """Where the ``number``-th record of a little-endian classic pcap starts."""
    offset = 24
    for _ in range(number - 1):
        offset += 16 + int.from_bytes(pcap[offset + 8 : offset + 12], "little")
    return offset


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def indicator_capture(tmp_path: Path) -> Path:
    """Two DNS lookups of an indicator's domain on one flow and one on another, then two HTTP requests for
    it on one TCP connection."""
    capture = CaptureBuilder()
    for transaction, port, at in ((1, 40000, AT), (2, 40000, AT + 1), (3, 40001, AT + 2)):
        capture.udp(at, CLIENT, port, "9.9.9.9", 53, dns_query("cdn.evil.example.net", transaction))
        answer = dns_answer("cdn.evil.example.net", transaction, ["203.0.113.66"])
        capture.udp(at + 0.02, "9.9.9.9", 53, CLIENT, port, answer, ttl=57)
    talk = capture.connect(CLIENT, 51000, "203.0.113.66", 80, at=AT + 3)  # packets 7, 8, 9
    for _ in range(2):
        talk.send(b"GET / HTTP/1.1\r\nHost: cdn.evil.example.net\r\n\r\n")  # 10, then 12
        talk.reply(OK)
    talk.close()
    return capture.write_pcap(tmp_path / "capture.pcap")


def test_an_indicator_is_one_finding_per_flow_citing_its_first_packet(tmp_path: Path) -> None:
    result = check(indicator_capture(tmp_path), [plain_set("campaign", "domains", ["evil.example.net"])])
    matches = result.findings("network.traffic.indicator_match")
    assert [(f.severity, [e.locator.packet for e in f.evidence], f.title) for f in matches] == [
        (
            Severity.CRITICAL,
            [1],
            "Network traffic involves the domain cdn.evil.example.net, named by a campaign indicator",
        ),
        (
            Severity.CRITICAL,
            [5],
            "Network traffic involves the domain cdn.evil.example.net, named by a campaign indicator",
        ),
        (
            Severity.CRITICAL,
            [10],
            "Network traffic involves the domain cdn.evil.example.net, named by a campaign indicator",
        ),
    ]
    assert matches[0].explanation.startswith(
        "DNS lookup of cdn.evil.example.net (A) answered 203.0.113.66. The domain cdn.evil.example.net is named "
    )
    assert serious(result) == [(f.rule, f.severity, [e.locator.packet for e in f.evidence]) for f in matches]


def test_vestige_check_writes_findings_with_packet_locators(tmp_path: Path) -> None:
    path = indicator_capture(tmp_path)
    iocs = tmp_path / "domains.txt"
    iocs.write_text("evil.example.net\n")
    out = tmp_path / "out"
    code, output = run_cli("check", str(path), "-o", str(out), "--no-bundled-iocs", "--iocs", str(iocs))
    assert code == 0, output
    document = json.loads((out / "findings.json").read_bytes())
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    assert [(f["rule"], [e["locator"] for e in f["evidence"]]) for f in document["findings"]] == [
        ("network.traffic.indicator_match", [{"path": "capture.pcap", "sha256": sha256, "packet": packet}])
        for packet in (1, 5, 10)
    ]
    assert document["problems"] == []
    lines = (out / "records" / "network.traffic.jsonl").read_text().splitlines()
    assert len(lines) == len(check(path).artifact_records(traffic.NAME))


def client_hello(server_name: str, padding: int = 0) -> bytes:
    """A TLS 1.2 ClientHello record naming ``server_name`` (RFC 8446 4.1.2, RFC 6066 section 3), after a
    padding extension of ``padding`` bytes when asked (RFC 7685; as a large key share, it pushes the name
    into a later segment)."""
    name = server_name.encode()
    sni = struct.pack(">HHHBH", 0, len(name) + 5, len(name) + 3, 0, len(name)) + name
    extensions = (struct.pack(">HH", 21, padding) + bytes(padding) if padding else b"") + sni
    body = (
        b"\x03\x03"
        + bytes(32)
        + b"\x00"
        + b"\x00\x02\xc0\x2f"
        + b"\x01\x00"
        + struct.pack(">H", len(extensions))
        + extensions
    )
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack(">H", len(handshake)) + handshake


def named_hosts_capture(tmp_path: Path) -> Path:
    """A DNS lookup, a TLS connection and a clear-text HTTP request: records that name hosts."""
    capture = CaptureBuilder()
    capture.udp(AT, CLIENT, 40000, "9.9.9.9", 53, dns_query("www.example.org", 7))  # 1
    capture.udp(AT + 0.02, "9.9.9.9", 53, CLIENT, 40000, dns_answer("www.example.org", 7, ["93.184.216.34"]))  # 2
    tls = capture.connect(CLIENT, 51001, SERVER, 443, at=AT + 0.03)  # 3, 4, 5
    tls.send(client_hello("www.example.org"))  # 6
    web = capture.connect(CLIENT, 51002, SERVER, 80, at=AT + 0.1)  # 7, 8, 9
    web.send(GET)  # 10
    web.reply(OK)  # 11
    web.close()  # 12, 13, 14
    return capture.write_pcap(tmp_path / "capture.pcap")


def test_lookups_server_names_requests_and_flows_are_timeline_records(tmp_path: Path) -> None:
    result = check(named_hosts_capture(tmp_path))
    records = result.artifact_records(traffic.NAME)
    assert [(r.locator.packet, r.time_kind, r.summary, [o.value for o in r.observables]) for r in records] == [
        (
            6,
            "packet time",
            "TLS ClientHello for www.example.org (TLS 1.2) from 10.0.0.2 to 93.184.216.34",
            ["www.example.org"],
        ),
        (
            10,
            "packet time",
            "HTTP GET http://example.com/download from 10.0.0.2",
            ["example.com", "http://example.com/download"],
        ),
        (
            1,
            "query time",
            "DNS lookup of www.example.org (A) answered 93.184.216.34",
            ["www.example.org", "93.184.216.34"],
        ),
        (1, "flow start", "udp 10.0.0.2:40000 -> 9.9.9.9:53 (dns): 2 packets, 82 bytes", ["10.0.0.2", "9.9.9.9"]),
        (
            3,
            "flow start",
            "tcp 10.0.0.2:51001 -> 93.184.216.34:443 (tls): 4 packets, 76 bytes",
            ["10.0.0.2", "93.184.216.34"],
        ),
        (
            7,
            "flow start",
            "tcp 10.0.0.2:51002 -> 93.184.216.34:80 (http): 8 packets, 141 bytes",
            ["10.0.0.2", "93.184.216.34"],
        ),
        (None, "first packet", "14 packets", []),
    ]
    assert records[2].time == datetime(2020, 9, 13, 12, 26, 40, tzinfo=timezone.utc)
    assert serious(result) == []
    assert all(f.severity < Severity.MEDIUM for f in result.result.findings)


def test_a_client_hello_over_two_segments_gives_its_server_name(tmp_path: Path) -> None:
    hello = client_hello("pq.example.org", padding=1800)
    capture = CaptureBuilder()
    talk = capture.connect(CLIENT, 51001, SERVER, 443, at=AT)
    start = talk.client_seq
    first = talk.send(hello[:1400])  # 4
    talk.client_seq = start
    talk.send(hello[:1400])  # 5: a retransmission of the first part
    talk.send(hello[1400:])  # 6
    cut = capture.connect(CLIENT, 51002, SERVER, 443, at=AT + 1)  # 7, 8, 9
    cut.send(hello[:1400])  # 10
    cut.client_seq += 10
    cut.send(hello[1410:])  # 11: after a gap, so the name stays unknown
    result = check(capture.write_pcap(tmp_path / "capture.pcap"))
    hellos = [r for r in result.artifact_records(traffic.NAME) if isinstance(r.payload, TlsClientHello)]
    assert [(r.locator.packet, r.summary) for r in hellos] == [
        (first, "TLS ClientHello for pq.example.org (TLS 1.2) from 10.0.0.2 to 93.184.216.34")
    ]
    assert hellos[0].time == datetime(2020, 9, 13, 12, 26, 40, 31200, tzinfo=timezone.utc)


AUDITED = """
import sys
record = open(sys.argv[1], "a")
def refuse_sockets(event, args):
    if event.startswith("socket."):
        record.write(event + "\\n")
        record.flush()
        raise PermissionError("vestige opened a socket: " + event)
sys.addaudithook(refuse_sockets)
from vestige.cli import run
sys.argv = ["vestige", *sys.argv[2:]]
run()
"""


def test_checking_a_capture_opens_no_socket(tmp_path: Path) -> None:
    """Records name hosts (a DNS lookup, a TLS server name, an HTTP Host and a redirect's Location): nothing
    resolves or contacts them. Every socket event of the interpreter is refused and written down."""
    path = named_hosts_capture(tmp_path)
    (tmp_path / "injected").mkdir()
    injected_path, _ = injected(tmp_path / "injected", FORGED_REDIRECT)
    events = tmp_path / "socket-events.txt"
    for number, capture in enumerate((path, injected_path)):
        out = tmp_path / f"out{number}"
        done = subprocess.run(
            [sys.executable, "-c", AUDITED, str(events), "check", str(capture), "-o", str(out), "--fail-on", "high"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == (0, 1)[number], done.stdout + done.stderr
        assert (out / "findings.json").exists()
    assert not events.exists() or events.read_text() == ""


PAGES = {"/": b"<html><body><a href=/big>big</a></body></html>", "/big": bytes(range(256)) * 800}


class _Pages(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = PAGES.get(self.path)
        if body is None:
            self.send_response(301)
            self.send_header("Location", "/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _recorder(path: Path, bpf: str) -> tuple[list[str], str]:
    """The command that records the loopback interface into ``path``, and what it prints once it listens."""
    dumpcap, tcpdump = shutil.which("dumpcap"), shutil.which("tcpdump")
    if dumpcap is not None:
        return [dumpcap, "-i", "lo", "-f", bpf, "-w", str(path)], "Capturing on"
    if tcpdump is not None:
        return [tcpdump, "-i", "lo", "-U", "-w", str(path), bpf], "listening on"
    pytest.skip("neither dumpcap (Debian package wireshark-common) nor tcpdump is installed to record loopback")


def _until_listening(recorder: subprocess.Popen[str], ready: str) -> str:
    """What the recorder printed until it said ``ready`` (or ended, or 30 s passed)."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert recorder.stderr is not None
        for line in recorder.stderr:  # to its end: a full pipe would stall the recorder
            lines.put(line)
        lines.put("")

    threading.Thread(target=read, daemon=True).start()
    said = ""
    while ready not in said:
        try:
            line = lines.get(timeout=30)
        except queue.Empty:
            break
        if not line:
            break
        said += line
    return said


def _resolver(address: str) -> socket.socket:
    """A UDP socket on ``address`` port 53, which the DNS reader recognises (binding it needs root)."""
    resolver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        resolver.bind((address, 53))
    except OSError as error:
        resolver.close()
        pytest.skip(f"cannot bind a DNS responder to {address}:53 on loopback ({error.strerror}); run as root")
    return resolver


def _answer_queries(resolver: socket.socket, count: int) -> None:
    for _ in range(count):
        query, client = resolver.recvfrom(2048)
        transaction = int.from_bytes(query[:2], "big")
        name = f"host{transaction}.example.com"
        resolver.sendto(dns_answer(name, transaction, ["127.0.0.1"]), client)


def test_a_capture_of_the_linux_stack_on_loopback_gives_nothing_at_medium_or_above(tmp_path: Path) -> None:
    """Real segmentation, timestamps, window scaling, delayed ACKs, keep-alive and closes as Linux makes
    them: a local web server fetched with urllib and http.client, and DNS exchanges, recorded by dumpcap or
    tcpdump. Nothing in them is an injection, a race or an indicator."""
    resolver_address = f"127.{os.getpid() % 200 + 20}.{os.getpid() // 200 % 250 + 1}.53"
    resolver = _resolver(resolver_address)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    port = server.server_address[1]
    path = tmp_path / "loopback.pcapng"
    command, ready = _recorder(path, f"(tcp port {port}) or (host {resolver_address} and udp port 53)")
    recorder = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    threads = [
        threading.Thread(target=server.serve_forever, daemon=True),
        threading.Thread(target=_answer_queries, args=(resolver, 3), daemon=True),
    ]
    try:
        said = _until_listening(recorder, ready)
        if ready not in said:
            pytest.skip(f"{command[0]} cannot record the loopback interface: {said.strip()}")
        time.sleep(0.3)
        for thread in threads:
            thread.start()
        for path_asked in ("/", "/big", "/moved"):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path_asked}", timeout=10) as response:
                assert response.read() == PAGES["/" if path_asked == "/moved" else path_asked]
        kept = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for path_asked in ("/", "/big"):
            kept.request("GET", path_asked)
            assert kept.getresponse().read() == PAGES[path_asked]
        kept.close()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(10)
            for transaction in range(3):
                client.sendto(dns_query(f"host{transaction}.example.com", transaction), (resolver_address, 53))
                client.recvfrom(2048)
        time.sleep(0.5)
    finally:
        recorder.terminate()
        recorder.wait(timeout=30)
        server.shutdown()
        server.server_close()
        resolver.close()
    result = check(path)
    assert result.result.problems == []
    assert serious(result) == []
    records = [r.payload for r in result.artifact_records(traffic.NAME)]
    requests = [r.target for r in records if isinstance(r, HttpRequest)]
    assert requests == ["/", "/big", "/moved", "/", "/", "/big"]
    lookups = sorted((r.name, r.answer is not None) for r in records if isinstance(r, DnsLookup))
    assert lookups == [(f"host{n}.example.com", True) for n in range(3)]
    flows = [r for r in records if isinstance(r, FlowSummary)]
    assert sorted(f.flow.protocol for f in flows) == ["tcp"] * 5 + ["udp"]


def test_a_time_beyond_the_calendar_is_named_not_fatal() -> None:
    far = 2**64 * 10**9  # a pcapng timestamp of 2^64 seconds (if_tsresol 10^0)
    won = race(view(5, 0, b"a", time_ns=far - 10**6), view(7, 0, b"b", time_ns=far))
    [finding] = findings(record(won, 5))
    assert finding.time is None
    assert f"First: packet 5 at {far - 10**6} ns after 1970 (beyond the calendar), TTL 52" in finding.explanation
    assert "Second, 1.000 ms later: packet 7" in finding.explanation


@pytest.mark.parametrize(
    ("client", "server", "expected"),
    [
        (CLIENT, SERVER, [CLIENT, SERVER]),
        (CLIENT, CLIENT, [CLIENT]),  # a flow from an address to itself names it once
        ("::ffff:10.0.0.2", CLIENT, [CLIENT]),  # the IPv4-mapped form is the IPv4 address
        ("2001:db8::1", SERVER, ["2001:db8::1", SERVER]),
    ],
)
def test_a_flow_summary_carries_both_addresses_once(client: str, server: str, expected: list[str]) -> None:
    flow = FlowSummary(Flow("udp", client, 5353, server, 53), 1, T, T, 1, 1, 40, 80, "dns", "idle")
    carried = traffic._observables(flow)
    assert [(o.kind, o.value) for o in carried] == [(ObservableKind.IP, value) for value in expected]


@pytest.mark.parametrize(
    ("time_ns", "expected"),
    [
        (0, datetime(1970, 1, 1, tzinfo=timezone.utc)),
        (1_765_000_000_123_456_789, datetime(2025, 12, 6, 5, 46, 40, 123456, tzinfo=timezone.utc)),
        (-1, datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)),  # floored, as microseconds
        (-1_000_001, datetime(1969, 12, 31, 23, 59, 59, 998999, tzinfo=timezone.utc)),
        (253_402_300_799_999_999_999, datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)),
        (253_402_300_800_000_000_000, None),
        (-62_135_596_800_000_000_001, None),
        (2**64 * 10**9, None),
        (None, None),
    ],
)
def test_a_capture_time_is_a_utc_moment_to_the_microsecond(time_ns: int | None, expected: datetime | None) -> None:
    moment = traffic.moment(time_ns)
    assert moment == expected
    assert moment is None or moment.tzinfo is timezone.utc


def test_the_reading_and_the_detector_remember_a_bounded_number_of_flows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(traffic, "FLOW_STATES", 2)
    monkeypatch.setattr(traffic, "OBSERVED_PER_FLOW", 3)
    flows = [Flow("tcp", CLIENT, port, SERVER, 80) for port in (1, 2, 3)]
    recent = traffic._RecentRequests()
    reading = traffic._Reading("capture.pcap", SHA)
    for flow in flows:
        recent.add(flow, traffic._Sent(flow.client_port, None))
        reading.state(flow)
    assert [f.client_port for f in recent.flows] == [2, 3]
    assert [f.client_port for f in reading.states] == [2, 3]
    hosts = [f"h{n}.example" for n in range(5)]
    carried = [
        reading.record(HttpRequest(flows[2], n, "GET", host, "/", f"http://{host}/", None), T).observables
        for n, host in enumerate([*hosts, hosts[0], hosts[4]])
    ]
    assert [[o.value for o in observables] for observables in carried] == [
        ["h0.example", "http://h0.example/"],
        ["h1.example", "http://h1.example/"],
        ["h2.example", "http://h2.example/"],
        ["h3.example", "http://h3.example/"],
        ["h4.example", "http://h4.example/"],
        [],
        ["h4.example", "http://h4.example/"],
    ]
    assert len(reading.states[flows[2]].observed) == 3


def test_addresses_become_observables_as_normalise_ip_writes_them() -> None:
    # Flow and answer addresses are taken as headers.address_text wrote them, without parsing them again:
    # the observable must still be the one normalise_ip gives (an IPv4-mapped address named as IPv4), and
    # an A record of the wrong length (written as generic data) must give none.
    mapped = Flow("tcp", "::ffff:10.0.0.2", 51000, "2001:db8::1", 80)
    summary = FlowSummary(mapped, 1, T, T, 1, 1, 0, 0, None, "closed")
    assert [(o.kind.value, o.value) for o in traffic._observables(summary)] == [
        ("ip", "10.0.0.2"),
        ("ip", "2001:db8::1"),
    ]
    same = FlowSummary(Flow("udp", CLIENT, 5353, CLIENT, 5353), 1, T, T, 1, 0, 0, 0, None, "closed")
    assert [o.value for o in traffic._observables(same)] == [CLIENT]
    answer = DnsAnswerView(
        2, T, 60, None, 0, ("A \\# 3 0a0001", "A 192.0.2.1", "AAAA ::ffff:192.0.2.1", "CNAME x.example")
    )
    lookup = DnsLookup(Flow("udp", CLIENT, 5353, SERVER, 53), 7, "x.example", "A", 1, answer)
    assert [(o.kind.value, o.value) for o in traffic._observables(lookup)] == [
        ("domain", "x.example"),
        ("ip", "192.0.2.1"),
    ]


def test_parsing_a_capture_hands_the_collector_back_as_it_found_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    capture = CaptureBuilder()
    capture.udp(0, CLIENT, 53000, SERVER, 53, dns_query("example.com", 1))
    capture.udp(0.01, SERVER, 53, CLIENT, 53000, dns_answer("example.com", 1, ["192.0.2.1"]))
    path = capture.write_pcap(tmp_path / "capture.pcap")
    monkeypatch.setattr(traffic, "BUDGET_EVERY", 1)
    monkeypatch.setattr(traffic, "FREEZE_EVERY", 1)  # the collector is frozen at every packet
    assert gc.get_freeze_count() == 0
    checked = check(path)
    assert gc.get_freeze_count() == 0  # nobody had frozen anything: everything is handed back
    traffic_records = [type(r.payload).__name__ for r in checked.records if r.artifact == traffic.NAME]
    assert traffic_records == ["DnsLookup", "FlowSummary", "CaptureSummary"]


def several_flows(tmp_path: Path) -> Path:
    """Flows of every shape a shard meets: HTTP exchanges on eight client ports, DNS over UDP, IPv6, a VLAN
    tag, and frames that carry no flow (ARP, an IPv4 header cut short)."""
    capture = CaptureBuilder()
    for number, port in enumerate(range(51000, 51008)):
        talk = capture.connect(CLIENT, port, SERVER, 80, at=AT + number)
        talk.send(GET)
        talk.reply(OK)
        talk.close()
    capture.udp(AT + 9, CLIENT, 40000, "9.9.9.9", 53, dns_query("example.com", 9))
    capture.udp(AT + 9.02, "9.9.9.9", 53, CLIENT, 40000, dns_answer("example.com", 9, ["93.184.216.34"]))
    capture.udp(AT + 9.5, CLIENT, 40001, "9.9.9.9", 53, dns_query("example.org", 10))
    talk = capture.connect("fd00::2", 52000, "2001:db8::80", 80, at=AT + 10)
    talk.send(GET)
    talk.close()
    talk = capture.connect(CLIENT, 53000, SERVER, 80, at=AT + 11, vlan=7)
    talk.send(GET)
    talk.close()
    capture.frame(AT + 12, b"\xff" * 6 + bytes.fromhex("020000000002") + b"\x08\x06" + bytes(28))
    capture.frame(AT + 12.1, bytes.fromhex("020000000001020000000002") + b"\x08\x00\x45")
    return capture.write_pcap(tmp_path / "capture.pcap")


def record_lines(records: list[Record]) -> list[str]:
    return [f"{r.locator.packet} {r.time_kind} {r.summary} {r.observables}" for r in records]


def test_the_shards_of_a_capture_split_its_flows_and_together_give_every_record(tmp_path: Path) -> None:
    path = several_flows(tmp_path)
    with Registry.discover().open(path) as acquisition:
        acquisition.manifest()
        whole = list(traffic.parse(acquisition, path.name))
        shards = [list(traffic.parse_shard(acquisition, path.name, shard)) for shard in range(traffic.SHARDS)]
    assert traffic.SHARDS == 2
    assert [len(records) for records in shards] == [12, 13]
    assert sorted(record_lines(shards[0] + shards[1])) == sorted(record_lines(whole))
    flows = [{r.payload.flow for r in records if isinstance(r.payload, FlowSummary)} for records in shards]
    assert (len(flows[0]), len(flows[1])) == (6, 6)
    assert not flows[0] & flows[1]
    for records, own in zip(shards, flows, strict=True):  # every record of a flow is in its flow's shard
        assert {r.payload.flow for r in records if hasattr(r.payload, "flow")} == own
    # the capture's summary, with the frames that carry no flow, ends the last shard as it ends the whole
    assert not [r for r in shards[0] if isinstance(r.payload, traffic.CaptureSummary)]
    assert (
        shards[1][-1].payload
        == whole[-1].payload
        == traffic.CaptureSummary(83, 2, 1_600_000_000_000_000_000, 1_600_000_012_100_000_000)
    )


def test_a_shard_reads_the_flow_of_a_common_frame_from_its_bytes_as_decoding_does(tmp_path: Path) -> None:
    path = several_flows(tmp_path)
    with path.open("rb") as stream:
        packets = list(read_capture(stream, path.name))
    seen = [frame_shard(packet, traffic.SHARDS) for packet in packets]
    decoded = [decode(packet) for packet in packets]
    expected = [None if s is None else flow_shard(s.key, traffic.SHARDS) for s in decoded]
    vlan = [n for n, packet in enumerate(packets) if packet.data[12:14] == b"\x81\x00"]
    assert len(vlan) == 7
    for n, shard in enumerate(seen):
        if n in vlan or decoded[n] is None:
            assert shard is None, n  # read by decoding: a VLAN tag, ARP, a cut IPv4 header
        else:
            assert shard == expected[n], n
    assert {s for s in seen if s is not None} == {0, 1}


def test_a_sharded_check_writes_the_same_files_with_one_worker_or_two(tmp_path: Path) -> None:
    path = several_flows(tmp_path)
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"out-{workers}"
        result = CliRunner().invoke(main, ["check", str(path), "-o", str(out), "-j", workers, "-q"])
        assert result.exit_code == 0, result.output
        outputs.append(out)
    for name in ("findings.json", "timeline.jsonl", "records/network.traffic.jsonl", "manifest.jsonl"):
        assert (outputs[0] / name).read_bytes() == (outputs[1] / name).read_bytes(), name
    lines = (outputs[0] / "records" / "network.traffic.jsonl").read_bytes().splitlines()
    assert len(lines) == 25
    assert json.loads(lines[-1])["summary"] == "83 packets, 2 not decoded as TCP or UDP over IP"
    document = json.loads((outputs[0] / "findings.json").read_bytes())
    [artifact] = [a for a in document["artifacts"] if a["name"] == traffic.NAME]
    assert artifact["records"] == 25
    assert not [p for p in (outputs[0] / "records").iterdir() if p.name != "network.traffic.jsonl"][1:]


def test_the_last_shard_passes_over_an_ipv4_tcp_frame_only_when_decoding_would_read_it(tmp_path: Path) -> None:
    """The last shard counts the frames ``decode`` rejects: it may skip decoding another shard's frame only
    when it is sure ``decode`` reads it."""
    path = several_flows(tmp_path)
    with path.open("rb") as stream:
        [sound] = [p for p in read_capture(stream, path.name) if p.number == 4]  # the request: IPv4, TCP, data
    data = sound.data

    def changed(at: int, value: bytes) -> bytes:
        return data[:at] + value + data[at + len(value) :]

    frames = {
        "sound": data,
        "a later fragment": changed(20, b"\x00\x10"),
        "more fragments": changed(20, b"\x20\x00"),
        "UDP": changed(23, b"\x11"),
        "a data offset under 5 words": changed(46, b"\x40"),
        "a data offset past the frame": changed(46, b"\xf0")[:60],
        "a total length under 40": changed(16, b"\x00\x27"),
        "a total length short of the TCP header": changed(16, b"\x00\x30"),
        "IPv6": changed(12, b"\x86\xdd"),
        "a frame cut inside its TCP header": data[:50],
    }
    answers = {}
    for name, frame in frames.items():
        packet = dataclasses.replace(sound, data=frame)
        answers[name] = decodes_at_once(frame)
        if answers[name]:
            assert decode(packet) is not None, name
    assert [name for name, sure in answers.items() if sure] == ["sound"]
    assert decode(dataclasses.replace(sound, data=frames["a later fragment"])) is None


def test_the_progress_of_a_capture_counts_each_shard_as_a_step(tmp_path: Path) -> None:
    path = several_flows(tmp_path)

    class Steps:
        def __init__(self) -> None:
            self.phases: list[tuple[str, int | None, int]] = []

        def phase(self, name: str, total: int | None) -> None:
            self.phases.append((name, total, 0))

        def advance(self, count: int = 1) -> None:
            name, total, done = self.phases[-1]
            self.phases[-1] = (name, total, done + count)

    steps = Steps()
    registry = Registry.discover()
    with registry.open(path) as acquisition:
        analyse([acquisition], registry, IndicatorIndex([]), [], progress=steps, workers=2)
    # network.traffic's two shards and cellular.signalling
    assert steps.phases[-1] == ("reading artifacts", 3, 3)
