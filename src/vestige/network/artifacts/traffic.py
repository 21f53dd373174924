"""A packet capture's traffic: DNS lookups, TLS server names, HTTP requests and flows as records, and the
injection detectors D10-D15 of reference/network-injection.md sections 3 and 6.

The capture (pcap or pcapng, plain or gzip; ``evidence.capture``) is read in one streaming pass: each
frame is decoded (``evidence.headers``), handed to the flow table (``network.tcp``), and its payload to the
DNS tracker (``network.dns``), to the TLS ClientHello reader on the first client payload of a TCP flow
(``network.tls``; a hello larger than a segment is joined from the client's next segments in sequence
order) and to the HTTP request reader on client payloads (``network.http``). Records cite their packet by
number, as Wireshark numbers frames, so that an analyst jumps to it with Go To Packet. Frames that carry
no TCP or UDP are counted in the capture's summary record; a capture cut short or broken keeps every
record before the break (pending lookups and flows included) and is reported as a problem of the file.

Detectors:
- D10 ``network.tcp_race`` (high): two segments of one flow and direction covered the same sequence
  numbers with different bytes; the receiver kept the first (the race's winner).
- D11 ``network.injected_response`` (critical, instead of D10): the winner, from the server to the client,
  starts an HTTP 30x response whose ``Location`` is on another site than the request's host, or a 30x
  with ``Content-Length: 0``, or carries script.
- D12 (corroboration, never a finding of its own and never a change of severity): the winner's headers
  against the server's SYN/ACK and the other segment: TTL more than 1 away from the SYN/ACK's, an IP-ID
  of 0 or 1 or far from the other segment's, DF unlike the SYN/ACK's, no TCP timestamps although the
  handshake negotiated them, arrival less than half the handshake's round trip after the request. When
  any holds, the title adds that the winner's headers differ from the server's and the explanation lists
  each in plain words; when none holds the explanation says that the headers match, which neither
  clears nor condemns the race (a careful injector copies them; the Fox-IT lab injector did not).
- D13 ``network.dns_race`` (high): two different answers to one DNS query (Hold-On, Duan et al. 2012).
- D14 ``network.handshake_hijack`` (medium): a second SYN/ACK for one SYN with another sequence number;
  ``network.data_after_close`` (medium): data at the closing sequence after that side's RST or FIN
  (HoneyBadger's handshake-hijack and censor-injection reports).
- D15: the engine matches each record's observables (DNS names and answers, TLS server names, HTTP hosts
  and URLs, both addresses of a flow) against the indicators; an observable is carried only by the first
  record of its flow that holds it, so a match is one finding per flow and indicator, citing the first
  packet where it appeared.
Flow summaries, lookups, server names and requests are for the timeline and for matching: no finding.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import chain
from urllib.parse import urlsplit

from vestige.evidence import budget
from vestige.evidence.acquisition import Acquisition
from vestige.evidence.capture import CaptureFormatError, Packet, read_capture
from vestige.evidence.headers import Segment, decode, decodes_at_once, flow_shard, frame_shard
from vestige.indicators.observables import domain_observable, ip_observable, observables_from_url
from vestige.model import (
    Evidence,
    Finding,
    IndicatorLookup,
    Locator,
    Observable,
    ObservableKind,
    Record,
    RecordPayload,
    Severity,
    format_time,
)
from vestige.network import dns, http, tcp, tls
from vestige.network.events import (
    DataAfterClose,
    DnsAnswerView,
    DnsLookup,
    DnsRace,
    Flow,
    FlowSummary,
    HandshakeHijack,
    HttpRequest,
    HttpResponseHead,
    SegmentView,
    TcpRace,
    TlsClientHello,
)
from vestige.platforms import MatchPolicy, excerpt

NAME = "network.traffic"
VERSION = 1
PCAP = "pcap"
"""The network platform's capture kind (``platform.PCAP``, which imports this module through the artifact list)."""
PATHS = {PCAP: ("*",)}
DESCRIPTION = "DNS lookups, TLS server names, HTTP requests and flows of a packet capture, and injected segments"
MATCHES = MatchPolicy(
    Severity.CRITICAL,
    "Network traffic",
    (
        "A capture shows what passed its capture point, not which app or person asked for it: a link preview, "
        "a prefetch, an advertisement or a security scanner makes lookups and connections no one chose.",
        "Behind NAT or on a shared network, one address stands for several devices.",
    ),
)

RACE_RULE = "network.tcp_race"
INJECTED_RULE = "network.injected_response"
DNS_RACE_RULE = "network.dns_race"
HIJACK_RULE = "network.handshake_hijack"
DATA_AFTER_CLOSE_RULE = "network.data_after_close"

SHARDS = 2
"""The engine reads a capture in two shards (``parse_shard``), each in its own process when there are
workers: each reads every packet and keeps the flows whose addresses and ports hash to it
(``evidence.headers.flow_shard``), so a flow, its DNS query and answers, its races and its requests are all
in one shard. Fixed, never taken from the machine, so that records and findings are the same whatever the
number of workers. Each shard has its share of the bounds of a whole reading (``FLOW_STATES``, the flow
table's flows and stored payload, the DNS tracker's queries), so that memory stays what one reading's is."""
BUDGET_EVERY = 4096
"""Packets between two checks of the task's budget (each check reads the clock)."""
FREEZE_EVERY = 16 * BUDGET_EVERY
"""Packets between two freezes of the cyclic garbage collector's generations while a capture is parsed
(``_young_collections``)."""
FLOW_STATES = 65_536
"""Flows whose requests and carried observables are remembered at once; the oldest is forgotten first
(the flow table evicts flows of its own; this only bounds what a capture of countless flows costs)."""
OBSERVED_PER_FLOW = 256
"""Distinct observables remembered per flow: past it, a flow's observables are carried again (more
findings, never fewer)."""
HELLO_BYTES = 16 * 1024 * 1024
"""Bytes of ClientHellos spanning several segments held at once while they are joined (a hello is at most
about 18 KiB; real ones under 3 KiB): past it, a hello's later segments are not joined."""
REQUESTS_PER_FLOW = 4
"""Recent HTTP requests remembered per flow, to find the one a race answered (pipelining keeps few)."""
SHOWN_BYTES = 64
"""Bytes of each payload a finding shows (escaped)."""
SHOWN_ANSWERS = 8
TTL_SLACK = 1
"""Hold-On's rule: a genuine path's TTL stays within 1 of the learned value."""
IP_ID_DISTANCE = 1024
"""IP-IDs farther apart than this (modulo 2^16) do not come from one host's counter within a race's
milliseconds (a server sends far fewer packets in between)."""

QUERY_TIMES = 16_384
"""DNS packets whose capture time is remembered until their lookup comes out (the tracker holds a query
for its hold-on window of 5 s, or 10 s unanswered)."""
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_METHOD_INITIALS = frozenset(b"GPHDOCT")
"""First letters of HTTP methods (GET, POST, PUT, PATCH, HEAD, DELETE, OPTIONS, CONNECT, TRACE)."""

_RACE_CAVEATS: tuple[str, ...] = (
    "Equipment on the path can answer in the server's place without an attack: transparent proxies, content "
    "filters and captive portals (hotel, airline or café Wi-Fi sending a login page) rewrite responses, and "
    "load balancers or NAT can make two servers' answers look like one flow.",
    "A broken TCP stack or middlebox may resend a segment with changed content; the header comparison helps "
    "tell such a retransmission from a forged segment.",
    "The capture shows which segment reached the capture point first; the receiver may have seen another "
    "order if the capture was taken elsewhere on the path, and an injection on a path the capture point does "
    "not see (the mobile network, when capturing on Wi-Fi) leaves nothing here.",
    "Which of the two segments the real server sent cannot be known from the capture alone.",
)


@dataclass(frozen=True, slots=True)
class CaptureSummary:
    """What one pass over the capture read: its packets, and how many could not be decoded."""

    packets: int
    undecodable: int
    """Frames that carry no TCP or UDP over IPv4/IPv6 as far as vestige decodes (ARP, ICMP, a later IP
    fragment, an unknown link type) or whose headers were cut short: counted, never an error."""
    first_time_ns: int | None
    last_time_ns: int | None


# ----------------------------------------------------------------------------------------------
# Reading


def parse(acquisition: Acquisition, path: str) -> Iterator[Record]:
    """Every record of the capture, in one pass."""
    return _parse(acquisition, path, None)


def parse_shard(acquisition: Acquisition, path: str, shard: int) -> Iterator[Record]:
    """The records of the flows of one shard (``SHARDS``). Frames that carry no flow (``decode`` gives None)
    are the last shard's, which ends with the capture's summary, so that the records of all shards in order end
    as those of ``parse`` do."""
    return _parse(acquisition, path, shard)


def _parse(acquisition: Acquisition, path: str, shard: int | None) -> Iterator[Record]:
    sha256 = acquisition.file(path).sha256
    reading = _Reading(path, sha256, 1 if shard is None else SHARDS)
    reading.summarises = shard is None or shard == SHARDS - 1
    with acquisition.open(path) as stream, _young_collections():
        reading.freezing = True
        packets = read_capture(stream, path)
        try:
            if shard is None:
                for packet in packets:
                    made = reading.packet(packet.time_ns, decode(packet))
                    if made:
                        yield from made
            else:
                yield from _shard_records(reading, packets, shard)
        except CaptureFormatError:
            # a cut or broken capture: what was read before it stands (pending lookups and flows included);
            # the engine reports the error as a problem of the file
            yield from reading.finish()
            raise
    yield from reading.finish()


def _shard_records(reading: _Reading, packets: Iterable[Packet], shard: int) -> Iterator[Record]:
    """The records of one shard's flows: every other packet is only counted."""
    last = SHARDS - 1
    for packet in packets:
        seen = frame_shard(packet, SHARDS)
        if seen is not None and seen != shard and (shard != last or decodes_at_once(packet.data)):
            reading.count(packet.time_ns)
            continue
        segment = decode(packet)
        if segment is None:
            owner = last  # an undecodable frame: the last shard counts it
        elif seen is None:
            owner = flow_shard(segment.key, SHARDS)
        else:
            owner = seen  # decoding took its flow key from the bytes ``frame_shard`` read
        if owner != shard:
            reading.count(packet.time_ns)
            continue
        made = reading.packet(packet.time_ns, segment)
        if made:
            yield from made


@contextmanager
def _young_collections() -> Iterator[None]:
    """While a capture is parsed, the collector's generations are frozen every ``FREEZE_EVERY`` packets,
    so that its collections only look at objects made since.

    The flow table keeps tens of thousands of flows and segments alive for seconds to minutes of capture
    time: each survives the young collections, so the older generations hold millions of objects that
    every collection of them walks again (a fifth of the parse's time on a capture of a million packets).
    None of them is garbage in a cycle (the table breaks its own cycles when a flow ends or a stored
    segment leaves), so freezing costs no memory: reference counting frees them as usual. Afterwards the
    frozen objects are handed back to the collector, unless someone had frozen objects before (the
    pipeline freezes the indicator index for a whole run and thaws everything at its end)."""
    frozen_before = gc.get_freeze_count() > 0
    try:
        yield
    finally:
        if not frozen_before:
            gc.unfreeze()


@dataclass(slots=True)
class _FlowState:
    """What the reading remembers of one flow: whether the client sent a payload yet, its recent HTTP
    requests, the observables its records carried already, and a ClientHello being joined. The
    collections are made when first needed: most flows (DNS, TLS) never hold a request, and a flow table
    of tens of thousands of flows would hold an empty deque (600 bytes) for each."""

    client_spoke: bool = False
    requests: deque[HttpRequest] | None = None
    observed: set[tuple[int, str]] | None = None
    """The observables carried already, by ``_seen_key``."""
    hello: _PartialHello | None = None


@dataclass(slots=True)
class _PartialHello:
    """A ClientHello that spans several segments (a post-quantum key share makes one larger than a segment),
    joined in sequence order until it holds the whole record."""

    packet: int
    time_ns: int
    size: int
    next_seq: int
    data: bytearray


_NONE: tuple[Record, ...] = ()
_DNS_PORT, _TCP = dns.DNS_PORT, tcp.TCP_PROTOCOL
"""Read for every packet: module globals, not attributes of another module."""


class _Reading:
    """One streaming pass over a capture: packets in, records out (most packets make none)."""

    def __init__(self, path: str, sha256: str | None, share: int = 1) -> None:
        """``share``: how many readings share the capture (``SHARDS``, one per shard): each keeps that share
        of the bounds of a whole reading, so that together they hold what one would."""
        self.path, self.sha256 = path, sha256
        self.flows = tcp.FlowTable(max_flows=tcp.MAX_FLOWS // share, stored_bytes=tcp.STORED_BYTES // share)
        self.lookups = dns.DnsTracker(max_pending=dns.MAX_PENDING // share)
        self.flow_states = FLOW_STATES // share
        self.query_limit = QUERY_TIMES // share
        self.hello_limit = HELLO_BYTES // share
        self.states: OrderedDict[Flow, _FlowState] = OrderedDict()
        self.query_times: OrderedDict[int, int] = OrderedDict()
        """Capture times of recent DNS packets by number: a lookup's time is its query's."""
        self.hello_bytes = 0
        """Bytes reserved by the partial ClientHellos being joined, at most ``hello_limit``."""
        self.packets = 0
        self.undecodable = 0
        self.first_time_ns: int | None = None
        self.last_time_ns: int | None = None
        self.finished = False
        self.freezing = False
        """Whether to freeze the collector's generations every ``FREEZE_EVERY`` packets (``parse``)."""
        self.summarises = True
        """Whether ``finish`` ends with the capture's summary (only the last shard's does)."""

    def count(self, time_ns: int) -> None:
        """Counts a packet of the capture, whoever reads it (the summary's count and times, the budget)."""
        self.packets += 1
        if self.first_time_ns is None:
            self.first_time_ns = time_ns
        self.last_time_ns = time_ns
        if self.packets % BUDGET_EVERY == 0:
            budget.check()
            if self.freezing and self.packets % FREEZE_EVERY == 0:
                gc.freeze()

    def packet(self, time_ns: int, segment: Segment | None) -> Sequence[Record]:
        """The records one packet completes, in order: flows that ended before it, then what it revealed."""
        self.count(time_ns)
        if segment is None:
            self.undecodable += 1
            return _NONE
        flow, to_client, observations = self.flows.add(segment)
        made: list[Record] = []
        for observation in observations:
            self.observation(observation, made)
        payload = segment.payload
        if payload and (segment.sport == _DNS_PORT or segment.dport == _DNS_PORT):
            self.query_times[segment.number] = time_ns
            if len(self.query_times) > self.query_limit:
                self.query_times.popitem(last=False)
        events = self.lookups.add(flow, to_client, segment)  # every packet moves its hold-on clock
        if events:
            for event in events:
                self.observation(event, made)
        if payload and not to_client and segment.protocol == _TCP:
            self.client_payload(flow, segment, made)
        return made

    def client_payload(self, flow: Flow, segment: Segment, made: list[Record]) -> None:
        state = self.state(flow)
        first, state.client_spoke = not state.client_spoke, True
        payload = segment.payload
        if state.hello is not None:
            self.join_hello(flow, state, segment, made)
            return
        if first:
            size = tls.client_hello_size(payload)
            if size is not None:
                hello = tls.client_hello(payload)
                if hello is not None:
                    made.append(self.record(TlsClientHello(flow, segment.number, *hello), segment.time_ns))
                elif len(payload) < size and self.hello_bytes + size <= self.hello_limit:
                    self.hello_bytes += size
                    next_seq = (segment.seq + len(payload)) & tcp.MASK
                    state.hello = _PartialHello(segment.number, segment.time_ns, size, next_seq, bytearray(payload))
                return
        if payload[0] in _METHOD_INITIALS:
            request = http.request(flow, segment.number, payload)
            if request is not None:
                if state.requests is None:
                    state.requests = deque(maxlen=REQUESTS_PER_FLOW)
                state.requests.append(request)
                made.append(self.record(request, segment.time_ns))

    def join_hello(self, flow: Flow, state: _FlowState, segment: Segment, made: list[Record]) -> None:
        """Adds the next segment to a partial ClientHello. A retransmission of bytes already joined is
        skipped; a gap or a reordering ends the attempt (the name then stays unknown, as it is to a reader
        of one segment)."""
        partial = state.hello
        assert partial is not None
        behind = (partial.next_seq - segment.seq) & tcp.MASK
        if 0 < behind <= len(partial.data) and behind >= len(segment.payload):
            return
        if segment.seq == partial.next_seq:
            partial.data += segment.payload[: partial.size - len(partial.data)]
            partial.next_seq = (segment.seq + len(segment.payload)) & tcp.MASK
            hello = tls.client_hello(bytes(partial.data))
            if hello is None and len(partial.data) < partial.size:
                return
            if hello is not None:
                made.append(self.record(TlsClientHello(flow, partial.packet, *hello), partial.time_ns))
        self.release_hello(state)

    def release_hello(self, state: _FlowState) -> None:
        if state.hello is not None:
            self.hello_bytes -= state.hello.size
            state.hello = None

    def observation(self, event: object, made: list[Record]) -> None:
        if isinstance(event, FlowSummary):
            made.append(self.record(event, event.first_time_ns, "flow start"))
            ended = self.states.pop(event.flow, None)
            if ended is not None:
                self.release_hello(ended)
        elif isinstance(event, TcpRace):
            made.append(self.record(self.answered(event), event.first.time_ns))
        elif isinstance(event, HandshakeHijack | DnsRace):
            made.append(self.record(event, event.first.time_ns))
        elif isinstance(event, DataAfterClose):
            made.append(self.record(event, event.close.time_ns))
        elif isinstance(event, DnsLookup):
            asked = self.query_times.pop(event.query_packet, None) if event.query_packet is not None else None
            if asked is not None:
                made.append(self.record(event, asked, "query time"))
            else:
                made.append(self.record(event, event.answer.time_ns if event.answer else None, "answer time"))

    def answered(self, race: TcpRace) -> TcpRace:
        """The race with the request it answered (the flow's last before the winner) and the HTTP response
        heads each segment starts, if any."""
        state = self.states.get(race.flow)
        request = None
        if state is not None and state.requests is not None:
            request = next((r for r in reversed(state.requests) if r.packet < race.first.packet), None)
        return dataclasses.replace(
            race,
            request_host=request.host if request is not None else race.request_host,
            request_url=request.url if request is not None else race.request_url,
            first_response=http.response_head(race.first.head),
            second_response=http.response_head(race.second.head),
        )

    def state(self, flow: Flow) -> _FlowState:
        state = self.states.get(flow)
        if state is None:
            if len(self.states) >= self.flow_states:
                self.release_hello(self.states.popitem(last=False)[1])
            state = self.states[flow] = _FlowState()
        return state

    def record(self, payload: Flowing, time_ns: int | None, time_kind: str = "packet time") -> Record:
        carried = _observables(payload)
        if carried:
            state = self.state(payload.flow)
            observed = state.observed
            if observed is None:
                observed = state.observed = set()
            fresh: list[Observable] = []
            for observable in carried:
                key = (id(observable.kind), observable.value)  # _seen_key, inlined: this runs for every record
                if key not in observed:
                    fresh.append(observable)
                    if len(observed) < OBSERVED_PER_FLOW:
                        observed.add(key)
            carried = tuple(fresh)
        return Record(
            artifact=NAME,
            locator=Locator(self.path, self.sha256, packet=_packet_of(payload)),
            time=moment(time_ns),
            summary=summary(payload),
            payload=payload,
            observables=carried,
            time_kind=time_kind,
        )

    def finish(self) -> Iterator[Record]:
        if self.finished:
            return
        self.finished = True
        for event in chain(self.lookups.finish(), self.flows.finish()):  # streamed: a table may hold 100,000
            made: list[Record] = []
            self.observation(event, made)
            yield from made
        if not self.summarises:
            return
        done = CaptureSummary(self.packets, self.undecodable, self.first_time_ns, self.last_time_ns)
        yield Record(
            artifact=NAME,
            locator=Locator(self.path, self.sha256),
            time=moment(self.first_time_ns),
            summary=summary(done),
            payload=done,
            time_kind="first packet",
        )


Flowing = TcpRace | HandshakeHijack | DataAfterClose | DnsLookup | DnsRace | TlsClientHello | HttpRequest | FlowSummary
"""The payloads of the records of one flow."""


def _packet_of(payload: RecordPayload) -> int | None:
    """The packet a record cites: where what it records starts."""
    if isinstance(payload, TcpRace | HandshakeHijack | DnsRace):
        return payload.first.packet
    if isinstance(payload, DataAfterClose):
        return payload.close.packet
    if isinstance(payload, FlowSummary):
        return payload.first_packet
    if isinstance(payload, DnsLookup):
        return payload.query_packet if payload.query_packet is not None else _answer_packet(payload.answer)
    if isinstance(payload, TlsClientHello | HttpRequest):
        return payload.packet
    return None


def _answer_packet(answer: DnsAnswerView | None) -> int | None:
    return None if answer is None else answer.packet


def _observables(payload: RecordPayload) -> tuple[Observable, ...]:
    """What an indicator may name in a record: D15's names, URLs and addresses."""
    if isinstance(payload, FlowSummary):  # the most common record: two addresses, rarely the same one
        flow = payload.flow
        client, server = _address(flow.client), _address(flow.server)
        if client is None or server is None or client.value == server.value:
            return _distinct((client, server))
        return client, server
    found: list[Observable | None] = []
    if isinstance(payload, DnsLookup):
        found.append(_domain(payload.name))
        for answer in payload.answer.answers if payload.answer is not None else ():
            kind, _, value = answer.partition(" ")
            if kind in ("A", "AAAA"):
                # an A or AAAA record of the wrong length is written as generic data (``\\# 3 0a0001``)
                found.append(ip_observable(value) if value.startswith("\\") else _address(value))
            elif kind == "CNAME":
                found.append(_domain(value))
    elif isinstance(payload, TlsClientHello) and payload.server_name:
        found.append(_domain(payload.server_name))
    elif isinstance(payload, HttpRequest):
        if payload.host:
            found.append(_domain(payload.host))
        found.extend(_url(payload.url))
    return _distinct(found)


def _seen_key(observable: Observable) -> tuple[int, str]:
    """What tells observables apart, hashed in C: a kind is one enum member, so its identity stands for
    it (the dataclass's own hash calls two Python functions, the enum's included, for each lookup)."""
    return id(observable.kind), observable.value


def _distinct(found: Iterable[Observable | None]) -> tuple[Observable, ...]:
    """The observables in ``found``, each once, in order of first appearance (equal ones are one)."""
    seen: set[tuple[int, str]] = set()
    kept: list[Observable] = []
    for observable in found:
        if observable is not None:
            key = (id(observable.kind), observable.value)
            if key not in seen:
                seen.add(key)
                kept.append(observable)
    return tuple(kept)


# A capture names the same hosts and addresses over and over: each is normalised once (pure functions,
# so the caches hold no state of a reading).
_domain = functools.lru_cache(maxsize=1 << 16)(domain_observable)


@functools.lru_cache(maxsize=1 << 16)
def _address(text: str) -> Observable | None:
    """The observable of an address as ``evidence.headers.address_text`` writes it (flows, DNS answers): that text is
    already the canonical one ``normalise_ip`` gives, so it is taken as it is, without parsing it again,
    except an IPv4-mapped IPv6 address, which the observable names as IPv4."""
    if text.startswith("::ffff:"):
        return ip_observable(text)
    return Observable(ObservableKind.IP, text)


_url = functools.lru_cache(maxsize=1 << 14)(observables_from_url)


def moment(time_ns: int | None) -> datetime | None:
    """Nanoseconds since the Unix epoch as a UTC time (microseconds kept); None for a time no calendar holds."""
    if time_ns is None:
        return None
    seconds, nanoseconds = divmod(time_ns, 1_000_000_000)
    try:
        # The positional (days, seconds, microseconds) form: microseconds alone as a keyword cost half again.
        return _UNIX_EPOCH + timedelta(0, seconds, nanoseconds // 1000)
    except OverflowError:
        return None


def _when(time_ns: int) -> str:
    return format_time(moment(time_ns)) or f"{time_ns} ns after 1970 (beyond the calendar)"


# ----------------------------------------------------------------------------------------------
# Summaries: one line a person reads


def summary(payload: RecordPayload) -> str:
    if isinstance(payload, DnsLookup):
        return _lookup_summary(payload)
    if isinstance(payload, HttpRequest):
        return f"HTTP {payload.method} {payload.url} from {payload.flow.client}"
    if isinstance(payload, TlsClientHello):
        asked = f"for {payload.server_name}" if payload.server_name else "without a server name"
        return f"TLS ClientHello {asked} ({payload.version}) from {payload.flow.client} to {payload.flow.server}"
    if isinstance(payload, FlowSummary):
        return _flow_summary(payload)
    if isinstance(payload, TcpRace):
        side = "server" if payload.to_client else "client"
        return (
            f"Two different segments from the {side} raced for the same {payload.overlap_length} bytes on "
            f"{payload.flow.text} (packets {payload.first.packet} and {payload.second.packet})"
        )
    if isinstance(payload, HandshakeHijack):
        return (
            f"Two SYN/ACKs with different sequence numbers answered one SYN on {payload.flow.text} "
            f"(packets {payload.first.packet} and {payload.second.packet})"
        )
    if isinstance(payload, DataAfterClose):
        return (
            f"Data after {_closing(payload.close)} from the {'server' if payload.to_client else 'client'} on "
            f"{payload.flow.text} (packets {payload.close.packet} and {payload.data.packet})"
        )
    if isinstance(payload, DnsRace):
        return (
            f"Two different DNS answers for {payload.name} ({payload.qtype}) on {payload.flow.text} "
            f"(packets {payload.first.packet} and {payload.second.packet})"
        )
    if isinstance(payload, CaptureSummary):
        undecoded = f", {payload.undecodable} not decoded as TCP or UDP over IP" if payload.undecodable else ""
        return f"{_count(payload.packets, 'packet')}{undecoded}"
    return type(payload).__name__


def _lookup_summary(lookup: DnsLookup) -> str:
    asked = f"DNS lookup of {lookup.name} ({lookup.qtype})"
    answer = lookup.answer
    if answer is None:
        return f"{asked} unanswered"
    if answer.rcode != 0:
        return f"{asked} answered {_RCODES.get(answer.rcode, f'rcode {answer.rcode}')}"
    if not answer.answers:
        return f"{asked} answered with no records"
    values = [a.partition(" ")[2] if a.startswith(("A ", "AAAA ")) else a for a in answer.answers[:SHOWN_ANSWERS]]
    more = len(answer.answers) - SHOWN_ANSWERS
    return f"{asked} answered {', '.join(values)}" + (f" and {more} more" if more > 0 else "")


_RCODES = {1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def _flow_summary(flow: FlowSummary) -> str:
    packets = flow.packets_to_server + flow.packets_to_client
    sent = flow.bytes_to_server + flow.bytes_to_client
    service = f" ({flow.service})" if flow.service else ""
    return f"{flow.flow.text}{service}: {_count(packets, 'packet')}, {_size(sent)}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _size(count: int) -> str:
    if count < 1000:
        return _count(count, "byte")
    for unit, scale in (("kB", 1e3), ("MB", 1e6), ("GB", 1e9)):
        if count < scale * 1000 or unit == "GB":
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def _closing(segment: SegmentView) -> str:
    return "RST" if "R" in segment.flags else "FIN"


# ----------------------------------------------------------------------------------------------
# Detectors


def detect(records: Iterable[Record], indicators: IndicatorLookup) -> Iterator[Finding]:
    """D10-D14 from the records' payloads. Holds no record: only the last few request packets of each open
    flow (a race cites the request it answered)."""
    requests = _RecentRequests()
    for record in records:
        payload = record.payload
        if isinstance(payload, HttpRequest):
            requests.add(payload.flow, _Sent(payload.packet, _nanoseconds(record.time)))
        elif isinstance(payload, FlowSummary):
            requests.forget(payload.flow)
        elif isinstance(payload, TcpRace):
            yield race_finding(record.locator, payload, requests.before(payload.flow, payload.first.packet))
        elif isinstance(payload, DnsRace):
            yield dns_race_finding(record.locator, payload)
        elif isinstance(payload, HandshakeHijack):
            yield hijack_finding(record.locator, payload)
        elif isinstance(payload, DataAfterClose):
            yield data_after_close_finding(record.locator, payload)


@dataclass(frozen=True, slots=True)
class _Sent:
    """An HTTP request as a race finding cites it: its packet and time."""

    packet: int
    time_ns: int | None


class _RecentRequests:
    """The last few requests of each open flow, bounded like the reading's flow states."""

    def __init__(self) -> None:
        self.flows: OrderedDict[Flow, deque[_Sent]] = OrderedDict()

    def add(self, flow: Flow, sent: _Sent) -> None:
        recent = self.flows.get(flow)
        if recent is None:
            if len(self.flows) >= FLOW_STATES:
                self.flows.popitem(last=False)
            recent = self.flows[flow] = deque(maxlen=REQUESTS_PER_FLOW)
        recent.append(sent)

    def forget(self, flow: Flow) -> None:
        self.flows.pop(flow, None)

    def before(self, flow: Flow, packet: int) -> _Sent | None:
        return next((s for s in reversed(self.flows.get(flow, ())) if s.packet < packet), None)


def _nanoseconds(when: datetime | None) -> int | None:
    if when is None:
        return None
    delta = when - _UNIX_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def race_finding(locator: Locator, race: TcpRace, request: _Sent | None) -> Finding:
    """D10, or D11 when the winner is an injected-looking response; D12 shapes the wording."""
    first, second = race.first, race.second
    injected = _injection_traits(race) if race.to_client else []
    corroboration = _header_traits(race, request) if race.to_client else []
    side = "server" if race.to_client else "client"
    title = _race_title(race, injected)
    if corroboration:
        title += ", with headers unlike the server's" if injected else ", the first with headers unlike the server's"
    gap_ms = (second.time_ns - first.time_ns) / 1e6
    parts = [
        f"On {race.flow.text}, two segments from the {side} covered the same sequence numbers with different "
        f"bytes: {race.overlap_length} bytes overlap from relative sequence {race.overlap_start}, {race.differing} "
        f"of them differ. The receiver's TCP keeps the first segment for those sequence numbers and drops the "
        f"second as a retransmission.",
        f"First: {_segment_text(first)}.",
        f"Second, {gap_ms:.3f} ms later: {_segment_text(second)}.",
    ]
    if race.request_url is not None or request is not None:
        where = f" in packet {request.packet}" if request is not None else ""
        asked = f" for {race.request_url}" if race.request_url is not None else ""
        parts.append(f"The client's last HTTP request before the first segment was sent{where}{asked}.")
    if injected:
        parts.append(
            "The first segment starts a response with the traits of an injected one (network-injection detector "
            "D11): " + "; ".join(injected) + "."
        )
    elif race.to_client and race.second_response is not None and _injection_traits(race, winner=False):
        parts.append(
            "The second segment, which the receiver dropped, starts a response with the traits of an injected "
            "one: " + "; ".join(_injection_traits(race, winner=False)) + "."
        )
    if corroboration:
        parts.append(
            "The first segment's headers differ from the server's, as a segment sent by another machine on the "
            "path does (detector D12): " + "; ".join(corroboration) + "."
        )
    elif race.to_client:
        parts.append(
            "The first segment's headers are consistent with the server's (TTL, IP-ID, DF, TCP timestamps and "
            "timing), which neither clears nor condemns it: a careful injector copies them."
        )
    evidence = [
        Evidence(dataclasses.replace(locator, packet=first.packet), excerpt(f"first segment: {_shown(first.head)}")),
        Evidence(dataclasses.replace(locator, packet=second.packet), excerpt(f"second segment: {_shown(second.head)}")),
    ]
    if request is not None:
        asked = race.request_url or "an HTTP request"
        evidence.append(Evidence(dataclasses.replace(locator, packet=request.packet), excerpt(f"request: {asked}")))
    caveats = _RACE_CAVEATS
    if injected:
        caveats += (
            "A captive portal or a content filter also answers a clear-text request with a redirect to its own "
            "site, or with a page of its own.",
        )
    return Finding(
        rule=INJECTED_RULE if injected else RACE_RULE,
        severity=Severity.CRITICAL if injected else Severity.HIGH,
        title=title,
        explanation=" ".join(parts),
        caveats=caveats,
        evidence=tuple(evidence),
        time=moment(first.time_ns),
    )


def _race_title(race: TcpRace, injected: list[str]) -> str:
    response = race.first_response
    if injected and response is not None:
        if _is_redirect(response):
            target = _location_host(response.location)
            to = f" to {target}" if target else ""
            empty = "An empty " if response.content_length == 0 else "An "
            return f"{empty}HTTP {response.status} redirect{to} raced a different response on {race.flow.text}"
        return f"A response carrying script raced a different response on {race.flow.text}"
    side = "server" if race.to_client else "client"
    return f"Two segments from the {side} with different bytes for the same sequence numbers on {race.flow.text}"


def _is_redirect(response: HttpResponseHead) -> bool:
    return 300 <= response.status <= 399


def _injection_traits(race: TcpRace, *, winner: bool = True) -> list[str]:
    """D11: what marks a response as injected, in plain words (none for an ordinary response)."""
    response = race.first_response if winner else race.second_response
    if response is None:
        return []
    traits: list[str] = []
    requested = race.request_host or race.flow.server
    if _is_redirect(response):
        location = response.location
        if location is not None and http.cross_site_location(location, requested):
            traits.append(
                f"it is an HTTP {response.status} redirect to {_escaped(location, 200)}, another site than the "
                f"requested {requested}"
            )
        if response.content_length == 0:
            traits.append(
                f"it is an HTTP {response.status} redirect with Content-Length: 0, so the receiver follows it and "
                "takes nothing of what the server sends after it"
            )
    if response.script:
        traits.append("it carries script")
    return traits


def _location_host(location: str | None) -> str | None:
    if location is None:
        return None
    try:
        host = urlsplit(location).hostname
    except ValueError:
        host = None
    return _escaped(host or location, 100)


def _header_traits(race: TcpRace, request: _Sent | None) -> list[str]:
    """D12: how the winner's headers differ from the server's SYN/ACK and the other segment."""
    first, second, handshake = race.first, race.second, race.handshake
    traits: list[str] = []
    server_ttl = handshake.server_ttl if handshake is not None else None
    if server_ttl is not None and abs(first.ttl - server_ttl) > TTL_SLACK:
        synack = handshake.synack_packet if handshake is not None else None
        traits.append(
            f"its TTL is {first.ttl} where the server's SYN/ACK (packet {synack}) had {server_ttl} and the "
            f"second segment {second.ttl}"
        )
    if first.ip_id is not None and second.ip_id is not None and _odd_ip_id(first.ip_id, second.ip_id):
        traits.append(f"its IP-ID is {first.ip_id} where the second segment's is {second.ip_id}")
    if handshake is not None and handshake.server_df is not None and first.df != handshake.server_df:
        traits.append(
            f"its Don't Fragment bit is {'set' if first.df else 'clear'} where the server's SYN/ACK "
            f"{'set' if handshake.server_df else 'cleared'} it"
        )
    if handshake is not None and handshake.timestamps and "TS" not in first.options.split(","):
        traits.append("it carries no TCP timestamps although the handshake negotiated them (RFC 7323)")
    if handshake is not None and handshake.rtt_ns and request is not None and request.time_ns is not None:
        delay = first.time_ns - request.time_ns
        if 0 <= delay < handshake.rtt_ns / 2:
            traits.append(
                f"it arrived {delay / 1e6:.3f} ms after the request, less than half the handshake's round trip "
                f"({handshake.rtt_ns / 1e6:.3f} ms)"
            )
    return traits


def _odd_ip_id(winner: int, other: int) -> bool:
    """An IP-ID of 0 or 1 beside a counting one (a crafting tool's default), or far from the other's."""
    distance = min((winner - other) % 65_536, (other - winner) % 65_536)
    return (winner <= 1 < other) or distance > IP_ID_DISTANCE


def _segment_text(segment: SegmentView) -> str:
    ip_id = "none" if segment.ip_id is None else str(segment.ip_id)
    return (
        f"packet {segment.packet} at {_when(segment.time_ns)}, TTL {segment.ttl}, IP-ID {ip_id}, "
        f"DF {'set' if segment.df else 'clear'}, flags {segment.flags or 'none'}, window {segment.window}, "
        f"TCP options {segment.options or 'none'}, {_payload_text(segment)}"
    )


def _payload_text(segment: SegmentView) -> str:
    if not segment.length:
        return "no payload"
    if segment.length <= SHOWN_BYTES and len(segment.head) == segment.length:
        return f"{segment.length} bytes: {_shown(segment.head)}"
    return f"{segment.length} bytes, the first {min(SHOWN_BYTES, len(segment.head))}: {_shown(segment.head)}"


def _shown(head: bytes) -> str:
    """The first ``SHOWN_BYTES`` of a payload as quoted text, every byte that is not printable ASCII escaped."""
    return '"' + _escaped(head[:SHOWN_BYTES].decode("latin-1"), SHOWN_BYTES) + '"'


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\r": "\\r", "\n": "\\n", "\t": "\\t"}


def _escaped(text: str, limit: int) -> str:
    """``text`` with backslashes, quotes and every character outside printable ASCII escaped, at most
    ``limit`` characters of it."""
    out = []
    for character in text[:limit]:
        if character in _ESCAPES:
            out.append(_ESCAPES[character])
        elif " " <= character <= "~":
            out.append(character)
        else:
            code = ord(character)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


def dns_race_finding(locator: Locator, race: DnsRace) -> Finding:
    """D13: two different answers to one query."""
    first, second = race.first, race.second
    gap_ms = (second.time_ns - first.time_ns) / 1e6
    parts = [
        f"On {race.flow.text}, the DNS query {race.transaction} for {race.name} ({race.qtype})"
        + (f", sent in packet {race.query_packet}," if race.query_packet is not None else "")
        + " was answered twice with different answers.",
        f"First: {_answer_text(first)}.",
        f"Second, {gap_ms:.3f} ms later: {_answer_text(second)}.",
        "A stub resolver takes the first answer; an on-path injector cannot stop the real resolver's answer, "
        "so an injected answer arrives first and the genuine one after it (Hold-On, Duan et al. 2012).",
    ]
    traits = []
    if abs(first.ttl - second.ttl) > TTL_SLACK:
        traits.append(f"their IP TTLs differ ({first.ttl} and {second.ttl}), as answers along two paths do")
    if race.query_time_ns is not None:
        first_delay, second_delay = first.time_ns - race.query_time_ns, second.time_ns - race.query_time_ns
        if 0 <= first_delay < second_delay / 2:
            traits.append(
                f"the first came {first_delay / 1e6:.3f} ms after the query, less than half the second's "
                f"{second_delay / 1e6:.3f} ms"
            )
    if traits:
        parts.append("Hold-On's checks single out the first answer: " + "; ".join(traits) + ".")
    evidence = [
        Evidence(dataclasses.replace(locator, packet=first.packet), excerpt(f"first answer: {_answers(first)}")),
        Evidence(dataclasses.replace(locator, packet=second.packet), excerpt(f"second answer: {_answers(second)}")),
    ]
    if race.query_packet is not None:
        evidence.append(
            Evidence(
                dataclasses.replace(locator, packet=race.query_packet), excerpt(f"query: {race.name} ({race.qtype})")
            )
        )
    return Finding(
        rule=DNS_RACE_RULE,
        severity=Severity.HIGH,
        title=f"Two different DNS answers for {race.name} ({race.qtype}) came for one query on {race.flow.text}",
        explanation=" ".join(parts),
        caveats=(
            "A client that resends a query with the same transaction id may get two answers from a resolver "
            "that rotates or load-balances its records; the two answers then come from the same resolver with "
            "the same TTL.",
            "Some networks answer DNS in the resolver's place (captive portals, filtering resolvers), which is "
            "an injection by the network's own operator.",
        ),
        evidence=tuple(evidence),
        time=moment(first.time_ns),
    )


def _answers(answer: DnsAnswerView) -> str:
    if answer.rcode != 0:
        return _RCODES.get(answer.rcode, f"rcode {answer.rcode}")
    shown = ", ".join(answer.answers[:SHOWN_ANSWERS]) or "no records"
    return shown + (" ..." if len(answer.answers) > SHOWN_ANSWERS else "")


def _answer_text(answer: DnsAnswerView) -> str:
    ip_id = "none" if answer.ip_id is None else str(answer.ip_id)
    return (
        f"packet {answer.packet} at {_when(answer.time_ns)}, TTL {answer.ttl}, IP-ID {ip_id}, "
        f"answering {_answers(answer)}"
    )


def hijack_finding(locator: Locator, hijack: HandshakeHijack) -> Finding:
    """D14: a second SYN/ACK for one SYN, with another sequence number."""
    first, second = hijack.first, hijack.second
    return Finding(
        rule=HIJACK_RULE,
        severity=Severity.MEDIUM,
        title=f"Two SYN/ACKs with different sequence numbers answered one SYN on {hijack.flow.text}",
        explanation=(
            f"On {hijack.flow.text}, two SYN/ACKs acknowledged the same SYN ({first.ack}) with different sequence "
            f"numbers ({first.seq} and {second.seq}), so the two cannot both come from one server's connection. "
            f"An on-path attacker who answers the SYN first takes the connection over (HoneyBadger's handshake "
            f"hijack). First: {_segment_text(first)}. Second, {(second.time_ns - first.time_ns) / 1e6:.3f} ms "
            f"later: {_segment_text(second)}."
        ),
        caveats=(
            "A server or load balancer that lost its first SYN/ACK's state (a restarted listener, SYN cookies "
            "behind two back ends) can answer a retransmitted SYN with a new sequence number.",
            "NAT reusing a port for a new connection within moments can look the same at the capture point.",
        ),
        evidence=(
            Evidence(dataclasses.replace(locator, packet=first.packet), excerpt(f"first SYN/ACK, seq {first.seq}")),
            Evidence(dataclasses.replace(locator, packet=second.packet), excerpt(f"second SYN/ACK, seq {second.seq}")),
        ),
        time=moment(first.time_ns),
    )


def data_after_close_finding(locator: Locator, after: DataAfterClose) -> Finding:
    """D14: data at the closing sequence number after that side's RST or FIN."""
    close, data = after.close, after.data
    side = "server" if after.to_client else "client"
    closing = _closing(close)
    return Finding(
        rule=DATA_AFTER_CLOSE_RULE,
        severity=Severity.MEDIUM,
        title=f"Data from the {side} followed its {closing} on {after.flow.text}",
        explanation=(
            f"On {after.flow.text}, the {side}'s {closing} in packet {close.packet} ended its side of the "
            f"connection at sequence {close.seq}, yet packet {data.packet} carried {data.length} bytes at that "
            f"sequence {(data.time_ns - close.time_ns) / 1e6:.3f} ms later. A forged {closing} that races the "
            f"genuine data leaves this (HoneyBadger's censor injection; Weaver, Sommer and Paxson 2009). The "
            f"{closing}: {_segment_text(close)}. The data: {_segment_text(data)}."
        ),
        caveats=(
            "NAT, load balancers and some stacks reset a connection while data is still in flight, and packets "
            "reordered before the capture point arrive after the reset.",
        ),
        evidence=(
            Evidence(dataclasses.replace(locator, packet=close.packet), excerpt(f"{closing} at sequence {close.seq}")),
            Evidence(dataclasses.replace(locator, packet=data.packet), excerpt(f"data: {_shown(data.head)}")),
        ),
        time=moment(close.time_ns),
    )
