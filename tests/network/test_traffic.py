"""The traffic artifact: D10-D14 findings from records, and (with generated captures) the whole pass from
a capture file to records, findings, problems and the CLI's output."""

from __future__ import annotations

import dataclasses

from vestige.model import Evidence, Locator, Record, Severity
from vestige.network.artifacts import traffic
from vestige.network.events import (
    DataAfterClose,
    DnsAnswerView,
    DnsRace,
    Flow,
    FlowSummary,
    Handshake,
    HandshakeHijack,
    HttpRequest,
    HttpResponseHead,
    SegmentView,
    TcpRace,
)

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


def view(packet: int, at_ms: float, head: bytes, **fields: object) -> SegmentView:
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
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def record(payload: object, packet: int) -> Record:
    return Record(
        artifact=traffic.NAME,
        locator=Locator("capture.pcap", SHA, packet=packet),
        time=traffic.moment(T),
        summary=traffic.summary(payload),  # type: ignore[arg-type]
        payload=payload,  # type: ignore[arg-type]
    )


def request(packet: int, at_ms: float) -> Record:
    sent = HttpRequest(FLOW, packet, "GET", "example.com", "/", "http://example.com/", None)
    return dataclasses.replace(record(sent, packet), time=traffic.moment(T + int(at_ms * 1e6)))


def race(first: SegmentView, second: SegmentView, **fields: object) -> TcpRace:
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
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def head(status: int, location: str | None = None, length: int | None = None, script: bool = False) -> HttpResponseHead:
    return HttpResponseHead(status, "Found" if status == 302 else "OK", location, length, script)


def findings(*records: Record) -> list:  # type: ignore[type-arg]
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
        "tcp 10.0.0.2:51000 -> 93.184.216.34:80, and its headers differ from the server's"
    )
    assert finding.evidence == (
        Evidence(
            Locator("capture.pcap", SHA, packet=5),
            'first segment: "HTTP/1.1 302 Found\\r\\nLocation: http://evil.example.net/x\\r\\nContent"...',
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
        "options none, 78 bytes starting "
        '"HTTP/1.1 302 Found\\r\\nLocation: http://evil.example.net/x\\r\\nContent"....'
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
    assert finding.title.endswith(", and its headers differ from the server's")
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
    assert traffic._shown(b"x" * 65) == '"' + "x" * 64 + '"...'
