"""The flow table: TCP and UDP flows keyed by 5-tuple, per-direction TCP sequence tracking, and the
TCP-level observations of ``reference/network-injection.md`` section 6 (D10 races, the handshake that
D12 compares a race against, D14 handshake hijacks and data after a close).

Sequence numbers follow RFC 9293 (section 3.4: arithmetic modulo 2**32). Each direction keeps its
numbers relative to its initial sequence number as Wireshark's relative numbers do (``packet-tcp.c``):
the SYN's, else one less than the first sequence number that side sent or the first acknowledgement
number the other side sent, whichever came first, so that the first payload byte is 1. They are
unwrapped against the highest byte seen, so a flow crossing 2**32 (or carrying more than 4 GiB) keeps a
straight line.

D10 follows the detectors the reference reads: Fox-IT's Snort/Zeek patches keep old segments per stream
and compare a new one with them; HoneyBadger keeps a ring of recent segments per direction
(``retrospective.go``); Suricata raises ``reassembly_overlap_different_data`` and Wireshark
``tcp.segment.overlap.conflict`` on the same condition. Here each direction keeps its most recent
payload segments (bounded in count and bytes, and by one budget for the whole table); a segment that
starts below the highest byte seen is compared with them, and overlapping bytes that differ are a race.
What a TCP stack sends on purpose and must not count: a keep-alive (at most one byte at the next
sequence number minus one, Wireshark's ``tcp.analysis.keep_alive``), a zero-window probe (one byte at
the next sequence number while the receiver advertises a zero window, ``tcp.analysis.zero_window_probe``:
Windows and BSD send a byte they may later replace), and any payload of a RST (RFC 9293 3.5.3 lets a
RST carry diagnostic text).

D14 follows HoneyBadger (``connection.go`` detectHijack; ``detectCensorInjection``): a second SYN/ACK
that acknowledges the same number with another sequence number, and payload after a side's RST or FIN
that covers that side's closing sequence number (the RST's sequence number; a FIN's own number, after
its payload). Data entirely before the closing number (a retransmission, a late segment) is normal.

Memory stays bounded whatever the capture: flows idle longer than ``idle_seconds`` of capture time are
swept every ``SWEEP_EVERY`` packets, a closed flow lingers ``linger_seconds`` (long enough to see data
after the close) and goes, a full table pushes out its least recently active flow, and stored payload
is bounded per direction and for the whole table.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import replace

from vestige.evidence.headers import (
    ACK,
    FIN,
    RST,
    SYN,
    Segment,
    address_text,
    flag_letters,
    flow_key,
    option_names,
    reverse_key,
    tcp_timestamp,
    window_scale,
)
from vestige.network.events import (
    HEAD_BYTES,
    TCP,
    UDP,
    DataAfterClose,
    Flow,
    FlowSummary,
    Handshake,
    HandshakeHijack,
    SegmentView,
    TcpRace,
)

Observation = TcpRace | HandshakeHijack | DataAfterClose | FlowSummary

TCP_PROTOCOL, UDP_PROTOCOL = 6, 17
MASK, HALF = 0xFFFFFFFF, 1 << 31
SWEEP_EVERY = 4096
"""Packets between two sweeps for idle and lingering closed flows (a sweep per packet would cost more
than the packet)."""
MAX_RACES_PER_FLOW = 8
"""A pathological flow (a server retransmitting into a confused stack) reports this many races, no more."""
COMPACT_SLACK = 65_536
"""Stale entries the activity queue may hold beyond twice the live flows before it is compacted (each
entry is a pointer: a compaction walks about one entry per packet since the last)."""
SEEN_BEFORE_CHECKS = 4
"""Conflicts a segment may explain away as bytes already stored before the scan stops (each check walks
the window: a flow of alternating versions must not cost the square of the window per packet)."""
ENTRY_OVERHEAD = 768
"""Bytes charged to the table's budget for each stored segment besides its payload: the segment object (19
slots), the integers and bytes of its header fields and flow key, and the bookkeeping tuple and slots
(measured with tracemalloc on a capture of HTTP and TLS flows: about 700 to 800 bytes a segment)."""
MAX_FLOWS = 65_536
"""Live flows a table holds at most, by default."""
STORED_BYTES = 64 * 1024 * 1024
"""Payload (and per-segment overhead) a table keeps for D10, by default."""
SERVICE_PORTS = {53: "dns"}
HTTP_METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ", b"TRACE ")

_NOTHING: tuple[Observation, ...] = ()
_Entry = tuple[int, int, Segment, "_Direction"]
"""A stored payload segment: its first and past-the-end relative (unwrapped) sequence numbers, the
segment itself (kept, not copied: the table never changes a segment it was given), and its direction
(one tuple serves the direction's window and the table's budget: a packet allocates as little as it can)."""


class _Direction:
    """One direction of a flow: its sequence base, the highest byte seen, its recent payload segments,
    its counts, and its close."""

    __slots__ = (
        "base",
        "close",
        "close_length",
        "close_reported",
        "close_seq",
        "fin",
        "octets",
        "packets",
        "peer",
        "peer_known",
        "segments",
        "state",
        "stored_bytes",
        "to_client",
        "top",
        "window",
    )

    def __init__(self, state: _FlowState, to_client: bool) -> None:
        self.state = state
        """The flow (the table's dict maps each direction's key straight to its direction: one object
        reached per packet, not a tuple of four; ``_FlowState.end`` breaks the cycle)."""
        self.to_client = to_client
        self.peer: _Direction = self
        """The other direction (set by the flow)."""
        self.peer_known = False
        """The other direction's sequence base is set (it never changes once set)."""
        self.base = -1
        """The initial sequence number (absolute), or -1 before this direction's first packet."""
        self.top = 1
        """Past the highest payload byte seen, relative and unwrapped (the next sequence number)."""
        self.window = -1
        """The window this side advertised in its last packet (-1: none yet)."""
        self.segments: list[_Entry] | None = None
        """Recent payload segments, oldest first (a list: a deque's first block costs 600 bytes a flow)."""
        self.stored_bytes = 0
        self.packets = 0
        self.octets = 0
        self.fin = False
        self.close: Segment | None = None
        self.close_length = 0
        self.close_seq = 0
        self.close_reported = False


class _FlowState:
    __slots__ = (
        "client",
        "closed",
        "closed_ns",
        "first_packet",
        "first_time_ns",
        "flow",
        "handshake",
        "hijack_reported",
        "keys",
        "last_time_ns",
        "live",
        "queued",
        "queued_udp",
        "races",
        "seen_ns",
        "server",
        "service",
        "service_checked",
        "syn",
        "synack",
        "synack_length",
    )

    def __init__(self, flow: Flow, keys: tuple[bytes, bytes], segment: Segment) -> None:
        self.flow = flow
        self.keys = keys
        self.client = _Direction(self, False)
        self.server = _Direction(self, True)
        self.client.peer, self.server.peer = self.server, self.client
        self.first_packet = segment.number
        self.first_time_ns = segment.time_ns
        self.last_time_ns = segment.time_ns
        self.seen_ns = 0
        """The table's clock at this flow's last packet (capture time never running backwards)."""
        self.service: str | None = None
        self.service_checked = False
        self.syn: Segment | None = None
        self.synack: Segment | None = None
        self.synack_length = 0
        self.handshake: Handshake | None = None
        self.hijack_reported = False
        self.races = 0
        self.closed = False
        self.closed_ns = 0
        self.live = True
        self.queued = 0
        """Entries of this flow in the table's activity queue (the last one stands for it)."""
        self.queued_udp = 0
        """Entries of this (UDP) flow in the table's queue of UDP activity."""

    def end(self) -> None:
        """Drops the flow's stored segments and the references between it and its directions, so that
        reference counting frees it (a segment still in the table's budget keeps its direction only)."""
        self.live = False
        for side in (self.client, self.server):
            side.segments = None
            side.stored_bytes = 0
            del side.state, side.peer


class FlowTable:
    """Every flow of a capture, fed one decoded segment at a time in capture order."""

    def __init__(
        self,
        *,
        idle_seconds: float = 300.0,
        udp_idle_seconds: float = 60.0,
        max_flows: int = MAX_FLOWS,
        window_segments: int = 32,
        window_bytes: int = 256 * 1024,
        linger_seconds: float = 10.0,
        stored_bytes: int = STORED_BYTES,
    ) -> None:
        """``idle_seconds``: capture time after which a silent flow ends (Zeek's TCP inactivity timeout
        is 5 minutes); ``udp_idle_seconds``: the same for a UDP flow (Zeek's UDP inactivity timeout is 1
        minute: a phone makes a flow of each DNS lookup, from a new port, which is over in milliseconds).
        ``max_flows``: live flows at most (a flow costs about 1-2 KiB besides its stored
        payload, so the default stays near 150 MiB). ``window_segments``/``window_bytes``: recent payload
        segments kept per direction for D10. ``linger_seconds``: how long a closed flow stays to see
        data after its close. ``stored_bytes``: payload kept for the whole table (a race's two segments
        arrive milliseconds apart; the budget holds the last tens of thousands of segments)."""
        self._idle_ns = int(idle_seconds * 1e9)
        self._udp_idle_ns = int(min(udp_idle_seconds, idle_seconds) * 1e9)
        self._linger_ns = int(linger_seconds * 1e9)
        self._max_flows = max(1, max_flows)
        self._window_segments = max(1, window_segments)
        self._window_bytes = max(1, window_bytes)
        self._budget = max(1, stored_bytes)
        self._flows: dict[bytes, _Direction] = {}
        """Both directions' keys (``evidence.headers.flow_key``) of every live flow: the flow, whether that
        direction is server to client, and its direction and the other's."""
        self._recent: deque[_FlowState] = deque()
        """Flows in order of activity, least recent first: each packet appends its flow, so a flow's last
        entry is where it stands and its earlier ones are stale (``queued`` counts them). Moving a flow to
        the end of an ordered dict at every packet costs more than the rest of the table's work on it (its
        neighbours' links are cold in memory); stale entries leave from the front, or in ``_compact``."""
        self._recent_udp: deque[_FlowState] = deque()
        """UDP flows in order of activity, kept as ``_recent`` is (``queued_udp`` counts their entries): the
        sweep ends idle UDP flows from its front, which ``_recent``'s front may not reach behind a TCP flow
        that is not idle yet."""
        self._live = 0
        self._closing: deque[_FlowState] = deque()
        """Closed flows in order of their close, to leave once their linger is over."""
        self._stored: deque[_Entry] = deque()
        """Every stored segment of the table in order of storing, with its charge in ``_stored_total``:
        the oldest leaves first when the budget is spent."""
        self._stored_total = 0
        self._now = 0
        self._packets = 0
        self._next_sweep = SWEEP_EVERY

    def __len__(self) -> int:
        """Live flows."""
        return self._live

    def add(self, segment: Segment) -> tuple[Flow, bool, Sequence[Observation]]:
        """The segment's flow, whether it travels server to client, and what it revealed (flows that
        ended before it, races, hijacks, data after a close)."""
        found: list[Observation] | None = None
        now = segment.time_ns
        if now > self._now:
            self._now = now
        else:
            now = self._now
        self._packets += 1
        if self._packets >= self._next_sweep:
            self._next_sweep = self._packets + SWEEP_EVERY
            found = self._sweep()
        protocol = segment.protocol
        side = self._flows.get(segment.key or flow_key(segment))
        if side is None or (protocol == TCP_PROTOCOL and segment.flags & (SYN | ACK) == SYN):
            side, found = self._entry(side, segment, found)
        state = side.state
        to_client = side.to_client
        state.last_time_ns = segment.time_ns
        state.seen_ns = now
        self._recent.append(state)
        state.queued += 1
        if protocol != TCP_PROTOCOL:
            self._recent_udp.append(state)
            state.queued_udp += 1
        payload = segment.payload
        side.packets += 1
        if payload:
            side.octets += len(payload)
            if not state.service_checked:
                state.service_checked = True
                state.service = _service(segment)
        if protocol != TCP_PROTOCOL:
            return state.flow, to_client, _NOTHING if found is None else tuple(found)
        flags = segment.flags
        if side.base < 0:
            side.base = segment.seq if flags & SYN else (segment.seq - 1) & MASK
        if not side.peer_known:
            other = side.peer
            if other.base >= 0:
                side.peer_known = True
            elif flags & ACK:
                # Wireshark's rule: the other side's numbers count from this acknowledgement when it was
                # not seen first, so relative numbers here are the ones an analyst reads there.
                other.base = (segment.ack - 1) & MASK
                side.peer_known = True
        side.window = segment.window
        if flags & (SYN | FIN | RST):
            hijack = self._control(state, side, side.peer, to_client, segment)
            if hijack is not None:
                found = _append(found, hijack)
        if payload and not flags & RST:
            observed = self._payload(state, side, side.peer, to_client, segment)
            if observed is not None:
                found = _append(found, observed)
        return state.flow, to_client, _NOTHING if found is None else tuple(found)

    def _entry(
        self, side: _Direction | None, segment: Segment, found: list[Observation] | None
    ) -> tuple[_Direction, list[Observation] | None]:
        """The flow direction of a segment that has none yet, or of a SYN (which may open a new
        connection on the ports of a closed one)."""
        if side is not None:
            side, ended = self._reused(side, segment)
            found = _append(found, ended)
        if side is None:
            side, evicted = self._open(segment)
            found = _append(found, evicted)
        return side, found

    def finish(self) -> Iterator[FlowSummary]:
        """Every flow still open at the end of the capture (a closed one still lingering ends ``closed``)."""
        while (state := self._oldest()) is not None:
            yield self._end(state, "closed" if state.closed else "capture end")

    def _open(self, segment: Segment) -> tuple[_Direction, FlowSummary | None]:
        evicted = None
        if self._live >= self._max_flows:
            oldest = self._oldest()
            assert oldest is not None  # a live flow is queued
            evicted = self._end(oldest, "closed" if oldest.closed else "evicted")
        protocol = segment.protocol
        forward = flow_key(segment)
        backward = reverse_key(forward)
        # A SYN/ACK seen first was sent by the server: the client is the SYN's sender, its destination.
        server_first = protocol == TCP_PROTOCOL and segment.flags & (SYN | ACK) == SYN | ACK
        if server_first:
            flow = Flow(TCP, address_text(segment.dst), segment.dport, address_text(segment.src), segment.sport)
        else:
            flow = Flow(
                TCP if protocol == TCP_PROTOCOL else UDP,
                address_text(segment.src),
                segment.sport,
                address_text(segment.dst),
                segment.dport,
            )
        state = _FlowState(flow, (forward, backward), segment)
        self._live += 1  # queued by ``add``, which goes on with it
        side = state.server if server_first else state.client
        self._flows[forward] = side
        self._flows[backward] = side.peer
        return side, evicted

    def _reused(self, side: _Direction, segment: Segment) -> tuple[_Direction | None, FlowSummary | None]:
        """A SYN on a closed flow with a new initial sequence number opens a new connection on the same
        ports (RFC 9293 3.4.1: TIME-WAIT reuse); the old flow ends."""
        state = side.state
        if not state.closed:
            return side, None
        syn = state.syn
        if syn is not None and syn.seq == segment.seq and syn.src == segment.src:
            return side, None
        return None, self._end(state, "closed")

    def _control(
        self, state: _FlowState, side: _Direction, other: _Direction, to_client: bool, segment: Segment
    ) -> HandshakeHijack | None:
        flags = segment.flags
        found = None
        if flags & SYN:
            # The latest SYN before the SYN/ACK (a retransmitted SYN gives the truer round trip); SYN/ACKs
            # count from the server only (a simultaneous open has no hijack to tell).
            if not flags & ACK:
                if state.synack is None and not to_client:
                    state.syn = _retained(segment)
            elif not to_client:
                pass
            elif state.synack is None:
                state.synack = _retained(segment)
                state.synack_length = len(segment.payload)
            else:
                found = self._hijack(state, segment)
        if flags & (FIN | RST):
            if side.close is None:
                # The first close is the one an injector forges ahead of the genuine end.
                side.close = _retained(segment)
                side.close_length = len(segment.payload)
                side.close_seq = self._relative(side, segment.seq)
                if not flags & RST:
                    side.close_seq += len(segment.payload)
            if flags & RST:
                self._closed(state)
            else:
                side.fin = True
                if other.fin:
                    self._closed(state)
        return found

    def _hijack(self, state: _FlowState, segment: Segment) -> HandshakeHijack | None:
        first = state.synack
        if first is None or state.hijack_reported or first.ack != segment.ack or first.seq == segment.seq:
            return None
        state.hijack_reported = True
        return HandshakeHijack(state.flow, segment_view(first, state.synack_length), segment_view(segment))

    def _closed(self, state: _FlowState) -> None:
        if not state.closed:
            state.closed = True
            state.closed_ns = self._now
            self._closing.append(state)

    def _payload(
        self, state: _FlowState, side: _Direction, other: _Direction, to_client: bool, segment: Segment
    ) -> TcpRace | DataAfterClose | None:
        payload = segment.payload
        seq = segment.seq + 1 if segment.flags & SYN else segment.seq
        top = side.top
        start = top + ((seq - side.base - top + HALF) & MASK) - HALF
        end = start + len(payload)
        found: TcpRace | DataAfterClose | None = None
        if side.close is not None and not side.close_reported and start <= side.close_seq < end:
            side.close_reported = True
            close = segment_view(side.close, side.close_length)
            found = DataAfterClose(state.flow, to_client, close, segment_view(segment))
        if start >= top:
            if start == top and end == top + 1 and other.window == 0:
                return found  # a zero-window probe: its byte may be replaced when the window opens
            side.top = end
        elif end == top and start == top - 1:
            return found  # a keep-alive's garbage byte at the next sequence number minus one
        else:
            if end > top:
                side.top = end
            if side.segments and state.races < MAX_RACES_PER_FLOW:
                race = self._race(state, side, to_client, start, end, segment)
                if race is not None:
                    state.races += 1
                    found = race
        self._store(side, (start, end, segment, side))
        return found

    def _race(
        self, state: _FlowState, side: _Direction, to_client: bool, start: int, end: int, segment: Segment
    ) -> TcpRace | None:
        """The first stored segment whose overlap with this one holds different bytes, unless another
        stored segment already carried this one's bytes there (a retransmission of a race's loser is
        the same race, reported when the loser first came)."""
        segments = side.segments
        if segments is None:
            return None
        payload = segment.payload
        checks = SEEN_BEFORE_CHECKS
        for stored_start, stored_end, stored, _ in segments:
            if stored_end <= start or stored_start >= end:
                continue
            low, high = max(start, stored_start), min(end, stored_end)
            mine = payload[low - start : high - start]
            theirs = stored.payload[low - stored_start : high - stored_start]
            if mine == theirs:
                continue
            if _seen_before(segments, stored, low, high, mine):
                checks -= 1
                if checks == 0:
                    return None
                continue
            differing = sum(1 for a, b in zip(mine, theirs, strict=True) if a != b)
            return TcpRace(
                flow=state.flow,
                to_client=to_client,
                overlap_start=low & MASK,
                overlap_length=high - low,
                differing=differing,
                first=segment_view(stored),
                second=segment_view(segment),
                handshake=self._handshake(state),
                request_host=None,
                request_url=None,
                first_response=None,
                second_response=None,
            )
        return None

    def _handshake(self, state: _FlowState) -> Handshake | None:
        if state.handshake is None and state.synack is not None:
            state.handshake = handshake(state.syn, state.synack)
        return state.handshake

    def _store(self, side: _Direction, entry: _Entry) -> None:
        segments = side.segments
        if segments is None:
            segments = side.segments = []
        size = entry[1] - entry[0]
        segments.append(entry)
        kept = side.stored_bytes + size
        if len(segments) > self._window_segments or kept > self._window_bytes:
            while len(segments) > 1 and (len(segments) > self._window_segments or kept > self._window_bytes):
                kept -= segments[0][1] - segments[0][0]
                del segments[0]
        side.stored_bytes = kept
        self._stored.append(entry)
        total = self._stored_total + size + ENTRY_OVERHEAD
        self._stored_total = total if total <= self._budget else self._spend(total)

    def _spend(self, total: int) -> int:
        """Drops the table's oldest stored segments until ``total`` fits the budget again."""
        stored = self._stored
        while total > self._budget and stored:
            oldest = stored.popleft()
            owner = oldest[3]
            size = oldest[1] - oldest[0]
            total -= size + ENTRY_OVERHEAD
            # Per direction, segments leave in the order they came, so a still stored one is the first.
            if owner.segments and owner.segments[0] is oldest:
                del owner.segments[0]
                owner.stored_bytes -= size
        return total

    @staticmethod
    def _relative(side: _Direction, seq: int) -> int:
        top = side.top
        return top + ((seq - side.base - top + HALF) & MASK) - HALF

    def _sweep(self) -> list[Observation] | None:
        """Flows silent for ``idle_seconds``, and closed flows whose linger is over, end."""
        found: list[Observation] | None = None
        idle_before = self._now - self._idle_ns
        while (state := self._oldest()) is not None and state.seen_ns < idle_before:
            found = _append(found, self._end(state, "closed" if state.closed else "idle"))
        udp_idle_before = self._now - self._udp_idle_ns
        while (state := self._oldest_udp()) is not None and state.seen_ns < udp_idle_before:
            found = _append(found, self._end(state, "idle"))
        closing = self._closing
        linger_before = self._now - self._linger_ns
        while closing and closing[0].closed_ns < linger_before:
            state = closing.popleft()
            if not state.live:
                continue
            if state.seen_ns >= linger_before:
                # Still talking after its close (a forged RST does not stop the genuine peer): it stays
                # until it has been silent for a linger.
                state.closed_ns = state.seen_ns
                closing.append(state)
            else:
                found = _append(found, self._end(state, "closed"))
        if len(self._recent) > 2 * self._live + COMPACT_SLACK:
            self._compact()
        if len(self._recent_udp) > 2 * self._live + COMPACT_SLACK:
            self._compact_udp()
        return found

    def _oldest(self) -> _FlowState | None:
        """The least recently active live flow (stale entries before it leave the queue)."""
        return _front(self._recent, "queued")

    def _oldest_udp(self) -> _FlowState | None:
        """The least recently active live UDP flow (stale entries before it leave the UDP queue)."""
        return _front(self._recent_udp, "queued_udp")

    def _compact(self) -> None:
        """The activity queue without its stale entries, in the same order (each flow at its last entry)."""
        self._recent = _without_stale(self._recent, "queued")

    def _compact_udp(self) -> None:
        """The UDP queue without its stale entries, in the same order."""
        self._recent_udp = _without_stale(self._recent_udp, "queued_udp")

    def _end(self, state: _FlowState, ended: str) -> FlowSummary:
        self._live -= 1
        forward, backward = state.keys
        # A newer flow may hold the keys already (a reused port pair): only this flow's entries go.
        for key in (forward, backward):
            side = self._flows.get(key)
            if side is not None and (side is state.client or side is state.server):
                del self._flows[key]
        state.end()
        return FlowSummary(
            flow=state.flow,
            first_packet=state.first_packet,
            first_time_ns=state.first_time_ns,
            last_time_ns=state.last_time_ns,
            packets_to_server=state.client.packets,
            packets_to_client=state.server.packets,
            bytes_to_server=state.client.octets,
            bytes_to_client=state.server.octets,
            service=state.service,
            ended=ended,
        )


def _front(queue: deque[_FlowState], count: str) -> _FlowState | None:
    """The flow at the front of an activity queue whose entries of each flow the flow's attribute ``count``
    counts (its last entry stands for it): stale entries before it, and flows ended since, leave the queue.
    Runs at sweeps and evictions, not for each packet."""
    while queue:
        state = queue[0]
        left = getattr(state, count)
        if left == 1 and state.live:
            return state
        queue.popleft()
        setattr(state, count, left - 1)
    return None


def _without_stale(queue: deque[_FlowState], count: str) -> deque[_FlowState]:
    """An activity queue with each live flow once, at its last entry, in the same order."""
    kept: deque[_FlowState] = deque()
    for state in queue:
        left = getattr(state, count) - 1
        setattr(state, count, left)
        if left == 0 and state.live:
            kept.append(state)
    for state in kept:
        setattr(state, count, 1)
    return kept


def _append(found: list[Observation] | None, more: Observation | list[Observation] | None) -> list[Observation] | None:
    if more is None:
        return found
    if found is None:
        found = []
    if isinstance(more, list):
        found.extend(more)
    else:
        found.append(more)
    return found


def _seen_before(segments: list[_Entry], conflicting: Segment, low: int, high: int, mine: bytes) -> bool:
    """Whether stored segments other than ``conflicting`` carried exactly ``mine`` over all of
    ``[low, high)``."""
    covered: list[tuple[int, int]] = []
    for stored_start, stored_end, stored, _ in segments:
        if stored is conflicting or stored_end <= low or stored_start >= high:
            continue
        a, b = max(low, stored_start), min(high, stored_end)
        if stored.payload[a - stored_start : b - stored_start] == mine[a - low : b - low]:
            covered.append((a, b))
    reached = low
    for a, b in sorted(covered):
        if a > reached:
            return False
        reached = max(reached, b)
    return reached >= high


def _service(segment: Segment) -> str | None:
    """What a flow's first payload looks like."""
    if segment.sport in SERVICE_PORTS:
        return SERVICE_PORTS[segment.sport]
    if segment.dport in SERVICE_PORTS:
        return SERVICE_PORTS[segment.dport]
    payload = segment.payload
    if segment.protocol == TCP_PROTOCOL:
        if payload.startswith(b"HTTP/") or payload.startswith(HTTP_METHODS):
            return "http"
        if payload[:2] == b"\x16\x03":
            return "tls"
    return None


def _retained(segment: Segment) -> Segment:
    """A segment kept for its header (a SYN, a SYN/ACK, a close) without more payload than a view shows:
    a flow table full of 64 KiB FIN segments (a capture taken below GRO) must not hold them all."""
    if len(segment.payload) <= HEAD_BYTES:
        return segment
    return replace(segment, payload=segment.payload[:HEAD_BYTES])


def segment_view(segment: Segment, length: int | None = None) -> SegmentView:
    """A TCP segment as a finding shows it (``length``: its payload length, when ``segment`` was kept
    without all of its payload)."""
    return SegmentView(
        packet=segment.number,
        time_ns=segment.time_ns,
        ttl=segment.ttl,
        ip_id=segment.ip_id,
        df=segment.df,
        flags=flag_letters(segment.flags),
        seq=segment.seq,
        ack=segment.ack,
        window=segment.window,
        options=option_names(segment.options),
        length=len(segment.payload) if length is None else length,
        head=bytes(segment.payload[:HEAD_BYTES]),
    )


def handshake(syn: Segment | None, synack: Segment) -> Handshake:
    """What a flow's SYN and SYN/ACK said of the server (D12's reference)."""
    timestamps = syn is not None and tcp_timestamp(syn.options) is not None
    return Handshake(
        syn_packet=syn.number if syn is not None else None,
        synack_packet=synack.number,
        server_ttl=synack.ttl,
        server_ip_id=synack.ip_id,
        server_df=synack.df,
        timestamps=timestamps and tcp_timestamp(synack.options) is not None,
        server_window_scale=window_scale(synack.options),
        rtt_ns=synack.time_ns - syn.time_ns if syn is not None else None,
    )
