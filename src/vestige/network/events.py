"""What the traffic artifact records of a capture: the payloads of its records (one frozen dataclass per
record kind, so that detectors and correlators read typed fields).

Observations, not judgements: a ``TcpRace`` says that two segments covered the same sequence range with
different bytes, and what each looked like; how much that matters (D10-D12) is decided by the
artifact's detector. Times are nanoseconds since the Unix epoch (UTC), as the capture holds them;
addresses are text (``192.0.2.1``, ``2001:db8::1``); packet numbers count from 1, as Wireshark numbers
frames, so an analyst jumps to them with Go To Packet.
"""

from __future__ import annotations

from dataclasses import dataclass

TCP = "tcp"
UDP = "udp"


@dataclass(frozen=True, slots=True)
class Flow:
    """The transport flow a record belongs to: the client (who sent the first packet, or the SYN) and the
    server. ``text`` is ``tcp 10.0.0.2:51234 -> 93.184.216.34:80``."""

    protocol: str
    client: str
    client_port: int
    server: str
    server_port: int

    @property
    def text(self) -> str:
        return (
            f"{self.protocol} {_endpoint(self.client, self.client_port)} -> {_endpoint(self.server, self.server_port)}"
        )


def _endpoint(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


@dataclass(frozen=True, slots=True)
class SegmentView:
    """One TCP segment as a finding shows it: where it is, and the header fields that tell a forged
    segment from a genuine one (reference/network-injection.md section 3.2's table)."""

    packet: int
    time_ns: int
    ttl: int
    ip_id: int | None
    df: bool
    flags: str
    """TCP flags as letters in the fixed order ``S F R P A U E C`` (SYN, FIN, RST, PSH, ACK, URG, ECE, CWR):
    ``SA`` for a SYN/ACK, ``PA`` for a PSH/ACK, ``FPA``, ``RA``; empty when no flag is set
    (``evidence.headers.flag_letters``)."""
    seq: int
    ack: int
    window: int
    options: str
    """TCP option kinds in order, by their usual names: ``MSS,NOP,WS,SACK_PERM,TS`` (empty when none)."""
    length: int
    """Payload bytes captured in this segment."""
    head: bytes
    """The first bytes of the payload (at most ``HEAD_BYTES``)."""


HEAD_BYTES = 512


@dataclass(frozen=True, slots=True)
class Handshake:
    """What the flow's handshake said of each side, against which a later segment is compared (D12)."""

    syn_packet: int | None
    synack_packet: int | None
    server_ttl: int | None
    """TTL of the server's SYN/ACK."""
    server_ip_id: int | None
    server_df: bool | None
    timestamps: bool
    """Both SYN and SYN/ACK carried the TCP timestamps option (RFC 7323): every later segment must."""
    server_window_scale: int | None
    rtt_ns: int | None
    """SYN to SYN/ACK as the capture point saw it."""


@dataclass(frozen=True, slots=True)
class HttpResponseHead:
    """The start of an HTTP/1.x response carried by a segment (when the segment starts one)."""

    status: int
    reason: str
    location: str | None
    content_length: int | None
    script: bool
    """The response is a script (a JavaScript ``Content-Type``, as Fox-IT's injected imgur response), or its
    captured bytes hold a ``<script`` element or a ``javascript:`` URL."""


@dataclass(frozen=True, slots=True)
class TcpRace:
    """Two segments of one flow and direction that cover the same sequence numbers with different bytes
    (D10). ``first`` arrived first: the receiver kept its bytes and dropped the other's as a
    retransmission, so ``first`` is the race's winner."""

    flow: Flow
    to_client: bool
    """The race is in the server-to-client direction (a forged response), else client-to-server."""
    overlap_start: int
    """The first overlapping sequence number, relative to the direction's initial sequence number (as
    Wireshark shows relative sequence numbers), and the number of overlapping bytes that differ."""
    overlap_length: int
    differing: int
    first: SegmentView
    second: SegmentView
    handshake: Handshake | None
    request_host: str | None
    """The HTTP Host of the last request the client sent on the flow before the race, if any."""
    request_url: str | None
    first_response: HttpResponseHead | None
    second_response: HttpResponseHead | None


@dataclass(frozen=True, slots=True)
class HandshakeHijack:
    """A second SYN/ACK for one SYN that acknowledges the same number with another sequence number (D14)."""

    flow: Flow
    first: SegmentView
    second: SegmentView


@dataclass(frozen=True, slots=True)
class DataAfterClose:
    """Payload sent at the closing sequence number after that side's RST or FIN (D14)."""

    flow: Flow
    to_client: bool
    close: SegmentView
    data: SegmentView


@dataclass(frozen=True, slots=True)
class DnsAnswerView:
    """One DNS response as a race finding shows it."""

    packet: int
    time_ns: int
    ttl: int
    """The IP TTL (or hop limit) of the response: Hold-On's check is TTL within 1 of the learned value."""
    ip_id: int | None
    rcode: int
    answers: tuple[str, ...]
    """The answer records as ``A 192.0.2.1``, ``CNAME example.net``, in order."""


@dataclass(frozen=True, slots=True)
class DnsLookup:
    """A DNS query and, when one came, its answer."""

    flow: Flow
    transaction: int
    name: str
    """The queried name, lower-cased, without the final dot."""
    qtype: str
    """``A``, ``AAAA``, ``CNAME``, ``HTTPS``..., or ``TYPE65280`` for an unnamed type."""
    query_packet: int | None
    answer: DnsAnswerView | None


@dataclass(frozen=True, slots=True)
class DnsRace:
    """Two different responses to one query (same flow, transaction id and name) within the hold-on
    window (D13); ``first`` arrived first."""

    flow: Flow
    transaction: int
    name: str
    qtype: str
    query_packet: int | None
    query_time_ns: int | None
    first: DnsAnswerView
    second: DnsAnswerView


@dataclass(frozen=True, slots=True)
class TlsClientHello:
    """A TLS ClientHello and the server name it asked for (SNI), if any."""

    flow: Flow
    packet: int
    server_name: str | None
    version: str
    """The highest version offered: ``TLS 1.3`` (from supported_versions), ``TLS 1.2``..."""


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """An HTTP/1.x request line and Host, sent in clear on a TCP flow."""

    flow: Flow
    packet: int
    method: str
    host: str | None
    target: str
    """The request target as sent (``/path?q``, or an absolute URL to a proxy)."""
    url: str
    """``http://host[:port]/path`` as the client asked for it (the Host, else the server address)."""
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class FlowSummary:
    """A flow once it ended (FIN/RST from both sides, idle eviction, or the end of the capture)."""

    flow: Flow
    first_packet: int
    first_time_ns: int
    last_time_ns: int
    packets_to_server: int
    packets_to_client: int
    bytes_to_server: int
    """Payload bytes (TCP or UDP payload, as captured)."""
    bytes_to_client: int
    service: str | None
    """What the payload looked like: ``http``, ``tls``, ``dns``, or None."""
    ended: str
    """``closed`` (FIN or RST), ``idle`` (evicted after the idle timeout), ``capture end``, or ``evicted``
    (pushed out of a full flow table)."""
