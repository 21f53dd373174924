"""DNS messages carried in captures (RFC 1035 section 4, names compressed per section 4.1.4; AAAA RFC 3596;
SVCB/HTTPS RFC 9460; DNS over TCP's two-byte length prefix RFC 1035 section 4.2.2 and RFC 7766), and the
tracker that pairs queries with their answers and sees two different answers to one query (D13,
reference/network-injection.md sections 3.4 "Hold-On" and 6).

Every byte is the sender's choice: names are read with a bounded number of compression jumps, each jump
going strictly before the part of the name it was read from (so loops and forward pointers end the
name), a 255-byte limit on the name, label lengths above 63 refused, and record counts bounded by the
bytes actually present. A message that cannot be read past some point gives what was read before it
(``DnsMessage.complete`` is then False); only fewer than 12 bytes, or a question that cannot be read,
make it "not DNS".

Which traffic: UDP and TCP with port 53 on either side. Multicast DNS (5353) and LLMNR (5355) are left
out: they resolve link-local names (``.local``, bare host names), mDNS answers go to a multicast group
with transaction id 0 so that they pair with no query, and a device on a Wi-Fi network sends them by the
hundred; none of it names an Internet host a race or an indicator would be about.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from vestige.evidence.headers import Segment, address_text
from vestige.network.events import DnsAnswerView, DnsLookup, DnsRace, Flow

DNS_PORT = 53
HEADER_BYTES = 12
MAX_NAME_BYTES = 255
"""RFC 1035 section 2.3.4: a name on the wire, length octets and final zero included."""
MAX_LABEL_BYTES = 63
MAX_JUMPS = 127
"""A 255-byte name has at most 127 labels, and a legitimate name needs at most one pointer per label."""
GENERIC_RDATA_BYTES = 64
"""Record data of a type shown in RFC 3597's generic form (``\\# 12 0a0b...``) is cut to this many bytes."""
TCP_MESSAGES_PER_SEGMENT = 64

TYPE_NAMES: dict[int, str] = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    12: "PTR",
    13: "HINFO",
    15: "MX",
    16: "TXT",
    28: "AAAA",
    33: "SRV",
    35: "NAPTR",
    39: "DNAME",
    41: "OPT",
    43: "DS",
    46: "RRSIG",
    47: "NSEC",
    48: "DNSKEY",
    50: "NSEC3",
    52: "TLSA",
    64: "SVCB",
    65: "HTTPS",
    99: "SPF",
    252: "AXFR",
    255: "ANY",
    257: "CAA",
}
A, NS, CNAME, PTR, MX, AAAA, SVCB, HTTPS = 1, 2, 5, 12, 15, 28, 64, 65
_NAME_TYPES = frozenset({NS, CNAME, PTR, 39})

# Bytes that stand for themselves in a name's text: printable ASCII but the backslash (which starts an
# escape) and, inside a label, the dot (which would read as a label boundary).
_PLAIN_IN_NAME = bytes(sorted(set(range(0x21, 0x7F)) - {ord("\\")}))
_PLAIN_IN_LABEL = _PLAIN_IN_NAME.replace(b".", b"")


def type_name(number: int) -> str:
    """``A``, ``AAAA``, ``HTTPS``..., or ``TYPE65280`` for a type without a mnemonic (RFC 3597 section 5)."""
    return TYPE_NAMES.get(number) or f"TYPE{number}"


def label_text(raw: bytes) -> str:
    """A DNS label as lower-case text: printable ASCII stays as it is, anything else (a dot inside the
    label included) becomes ``\\xNN``, so that a hostile name can be shown and compared but never passes
    for another name."""
    return _escaped(raw, _PLAIN_IN_LABEL)


def host_text(raw: bytes) -> str:
    """A host name received as bytes (a TLS server name) as lower-case text, escaped as ``label_text``
    does but with its dots kept."""
    return _escaped(raw, _PLAIN_IN_NAME)


def _escaped(raw: bytes, plain: bytes) -> str:
    lowered = raw.lower()
    if not lowered.translate(None, plain):
        return lowered.decode("ascii")
    return "".join(chr(byte) if byte in plain else f"\\x{byte:02x}" for byte in lowered)


@dataclass(frozen=True, slots=True)
class DnsQuestion:
    name: str
    """Lower case, without the final dot (the root is ``""``)."""
    qtype: str


@dataclass(frozen=True, slots=True)
class DnsRecord:
    """One resource record of the answer section."""

    name: str
    rtype: int
    ttl: int
    data: str
    """The record data in presentation form: ``192.0.2.1``, ``x.example``, ``10 mx.example``,
    ``1 . alpn=h2 ipv4hint=192.0.2.1``, or ``\\# 4 0a000001`` for other types."""
    addresses: tuple[str, ...] = ()
    """The addresses the record gives: an A or AAAA address, an HTTPS/SVCB record's address hints."""
    target: str | None = None
    """The name it points to (CNAME, NS, PTR, DNAME, MX exchange, SVCB/HTTPS target)."""

    @property
    def text(self) -> str:
        return f"{type_name(self.rtype)} {self.data}"


@dataclass(frozen=True, slots=True)
class DnsMessage:
    id: int
    is_response: bool
    opcode: int
    rcode: int
    truncated: bool
    """The TC bit: the server cut the answer to fit UDP (the client asks again over TCP)."""
    questions: tuple[DnsQuestion, ...]
    records: tuple[DnsRecord, ...]
    """The answer section (authority and additional records are not read)."""
    answers: tuple[str, ...]
    """``records`` as text: ``A 192.0.2.1``, ``CNAME x.example``, in message order."""
    complete: bool
    """Every question and answer the header counts was read (False for a message cut short or broken)."""

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(address for record in self.records for address in record.addresses)

    @property
    def cnames(self) -> tuple[str, ...]:
        return tuple(record.target for record in self.records if record.rtype == CNAME and record.target is not None)


def parse_message(payload: bytes) -> DnsMessage | None:
    """The DNS message in a UDP payload (or a TCP one without its length prefix), or None when it is not
    one (fewer than 12 bytes, or a question that cannot be read)."""
    size = len(payload)
    if size < HEADER_BYTES:
        return None
    flags = (payload[2] << 8) | payload[3]
    question_count = (payload[4] << 8) | payload[5]
    answer_count = (payload[6] << 8) | payload[7]
    offset = HEADER_BYTES
    questions: list[DnsQuestion] = []
    names: _Names = {}
    # Each question and record consumes at least 5 bytes or ends the loop, so a count of 65535 in a short
    # message costs no more than the bytes that are there.
    for _ in range(question_count):
        read = _read_name(payload, offset, names)
        if read is None or read[1] + 4 > size:
            if not questions:
                return None
            break
        name, offset = read
        questions.append(DnsQuestion(name, type_name((payload[offset] << 8) | payload[offset + 1])))
        offset += 4
    records: list[DnsRecord] = []
    if len(questions) == question_count:
        for _ in range(answer_count):
            record = _read_record(payload, offset, names)
            if record is None:
                break
            records.append(record[0])
            offset = record[1]
    return DnsMessage(
        id=(payload[0] << 8) | payload[1],
        is_response=bool(flags & 0x8000),
        opcode=(flags >> 11) & 0xF,
        rcode=flags & 0xF,
        truncated=bool(flags & 0x0200),
        questions=tuple(questions),
        records=tuple(records),
        answers=tuple(record.text for record in records),
        complete=len(questions) == question_count and len(records) == answer_count,
    )


def tcp_messages(payload: bytes) -> list[bytes]:
    """The whole DNS messages of a DNS-over-TCP segment (each after its two-byte length); a message that
    continues in the next segment is not reassembled and ends the list."""
    messages: list[bytes] = []
    offset = 0
    while offset + 2 <= len(payload) and len(messages) < TCP_MESSAGES_PER_SEGMENT:
        length = (payload[offset] << 8) | payload[offset + 1]
        end = offset + 2 + length
        if length < HEADER_BYTES or end > len(payload):
            break
        messages.append(payload[offset + 2 : end])
        offset = end
    return messages


_Names = dict[int, tuple[str, int]]
"""The names of one message already read, by the offset they start at: their text and wire length (most
names of a response are pointers to the question's name or to a CNAME target, read once this way)."""


def _read_name(message: bytes, offset: int, names: _Names, size: int | None = None) -> tuple[str, int] | None:
    """The name at ``offset`` and the offset just after it, or None for a name that is broken: a label
    longer than 63 or of an extended type, a name over 255 bytes, bytes missing, or a pointer that does
    not go back before the part of the name it is in (which is how loops and forward pointers show).
    ``size`` ends the bytes the name may use (the end of a record's data)."""
    if size is None:
        size = len(message)
    labels: list[bytes] = []
    wire_length = 1
    position = offset
    limit = offset
    after: int | None = None
    jumps: list[tuple[int, int, int]] = []  # where each pointer went; labels and wire length read before it
    suffix = ""
    while True:
        if position >= size:
            return None
        length = message[position]
        if length == 0:
            break
        if length >= 0xC0:
            if position + 1 >= size or len(jumps) == MAX_JUMPS:
                return None
            target = ((length & 0x3F) << 8) | message[position + 1]
            if target >= limit:
                return None
            if after is None:
                after = position + 2
            known = names.get(target)
            if known is not None:
                suffix, known_length = known
                wire_length += known_length - 1
                if wire_length > MAX_NAME_BYTES:
                    return None
                break
            jumps.append((target, len(labels), wire_length))
            limit = position = target
            continue
        if length > MAX_LABEL_BYTES:
            return None
        wire_length += length + 1
        end = position + 1 + length
        if wire_length > MAX_NAME_BYTES or end > size:
            return None
        labels.append(message[position + 1 : end])
        position = end
    text = _with_suffix(labels, suffix)
    names[offset] = (text, wire_length)
    # The names the pointers went to are remembered too, so that many records pointing into one long
    # chain of pointers cost one walk of it, not one each.
    for target, read_before, wire_before in jumps:
        if target not in names:
            names[target] = (_with_suffix(labels[read_before:], suffix), wire_length - wire_before + 1)
    return text, position + 1 if after is None else after


def _with_suffix(labels: list[bytes], suffix: str) -> str:
    if not labels:
        return suffix
    text = _joined(labels)
    return f"{text}.{suffix}" if suffix else text


def _joined(labels: list[bytes]) -> str:
    """The text of a name's labels; one check of the joined name serves the usual name, in which every
    byte is plain and every dot is between labels."""
    raw = b".".join(labels)
    if not raw.translate(None, _PLAIN_IN_NAME) and raw.count(b".") == len(labels) - 1:
        return raw.lower().decode("ascii")
    return ".".join(label_text(label) for label in labels)


def _read_record(message: bytes, offset: int, names: _Names) -> tuple[DnsRecord, int] | None:
    read = _read_name(message, offset, names)
    if read is None:
        return None
    name, offset = read
    if offset + 10 > len(message):
        return None
    rtype = (message[offset] << 8) | message[offset + 1]
    ttl = int.from_bytes(message[offset + 4 : offset + 8], "big")
    length = (message[offset + 8] << 8) | message[offset + 9]
    start = offset + 10
    end = start + length
    if end > len(message):
        return None
    return _record(message, names, name, rtype, ttl, start, end), end


def _record(message: bytes, names: _Names, name: str, rtype: int, ttl: int, start: int, end: int) -> DnsRecord:
    rdata = message[start:end]
    if rtype == A and len(rdata) == 4:
        address = address_text(rdata)
        return DnsRecord(name, rtype, ttl, address, (address,))
    if rtype == AAAA and len(rdata) == 16:
        address = address_text(rdata)
        return DnsRecord(name, rtype, ttl, address, (address,))
    if rtype in _NAME_TYPES:
        target = _name_within(message, names, start, end)
        if target is not None:
            return DnsRecord(name, rtype, ttl, target or ".", target=target)
    elif rtype == MX and len(rdata) > 2:
        exchange = _name_within(message, names, start + 2, end)
        if exchange is not None:
            return DnsRecord(name, rtype, ttl, f"{(rdata[0] << 8) | rdata[1]} {exchange or '.'}", target=exchange)
    elif rtype in (SVCB, HTTPS):
        service = _service_binding(message, names, name, rtype, ttl, start, end)
        if service is not None:
            return service
    return DnsRecord(name, rtype, ttl, _generic(rdata))


def _name_within(message: bytes, names: _Names, start: int, end: int) -> str | None:
    """A name that must end inside the record data at ``start:end`` (it may point before it)."""
    read = _read_name(message, start, names, end)
    return None if read is None else read[0]


def _generic(rdata: bytes) -> str:
    shown = rdata[:GENERIC_RDATA_BYTES].hex()
    return f"\\# {len(rdata)} {shown}{'...' if len(rdata) > GENERIC_RDATA_BYTES else ''}".rstrip()


def _service_binding(
    message: bytes, names: _Names, name: str, rtype: int, ttl: int, start: int, end: int
) -> DnsRecord | None:
    """An SVCB or HTTPS record (RFC 9460 section 2.2): priority, target, and of its parameters the ones
    that name where to connect (alpn, ipv4hint, ipv6hint)."""
    if end - start < 3:
        return None
    priority = (message[start] << 8) | message[start + 1]
    read = _read_name(message, start + 2, names, end)
    if read is None:
        return None
    target, offset = read
    words = [str(priority), target or "."]
    addresses: list[str] = []
    while offset + 4 <= end:
        key = (message[offset] << 8) | message[offset + 1]
        length = (message[offset + 2] << 8) | message[offset + 3]
        value = message[offset + 4 : offset + 4 + length]
        offset += 4 + length
        if offset > end:
            return None
        if key == 1:
            words.append("alpn=" + ",".join(_alpn_ids(value)))
        elif key == 4 and value and len(value) % 4 == 0:
            hints = [address_text(value[i : i + 4]) for i in range(0, len(value), 4)]
            addresses.extend(hints)
            words.append("ipv4hint=" + ",".join(hints))
        elif key == 6 and value and len(value) % 16 == 0:
            hints = [address_text(value[i : i + 16]) for i in range(0, len(value), 16)]
            addresses.extend(hints)
            words.append("ipv6hint=" + ",".join(hints))
    return DnsRecord(name, rtype, ttl, " ".join(words), tuple(addresses), target)


def _alpn_ids(value: bytes) -> list[str]:
    ids: list[str] = []
    offset = 0
    while offset < len(value):
        length = value[offset]
        ids.append(host_text(value[offset + 1 : offset + 1 + length]))
        offset += 1 + length
    return ids


AnswerSet = tuple[int, tuple[str, ...]]
"""What two responses must share to be the same answer: the rcode and the answers, in sorted order (a
resolver may rotate round-robin records between two copies of one answer)."""

MAX_ANSWER_SETS = 8
"""Distinct answer sets remembered per query: past this, further different answers give no more races
(a query answered by a flood of different responses is reported by its first eight)."""


@dataclass(slots=True)
class _Transaction:
    flow: Flow
    transaction: int
    name: str
    qtype: str
    query_packet: int | None
    query_time_ns: int | None
    deadline_ns: int
    serial: int
    first: DnsAnswerView | None = None
    reference: DnsAnswerView | None = None
    """The first whole response, which later ones are compared with."""
    answer_sets: set[AnswerSet] = field(default_factory=set)

    def lookup(self) -> DnsLookup:
        return DnsLookup(self.flow, self.transaction, self.name, self.qtype, self.query_packet, self.first)


_Key = tuple[Flow, int, str, str]
_NOTHING: tuple[DnsLookup | DnsRace, ...] = ()


MAX_PENDING = 10_000
"""Queries a tracker holds at once, by default."""


class DnsTracker:
    """Pairs DNS queries with their responses, one flow at a time, and reports two different responses to
    one query (D13).

    A query is identified by its flow (client and server, whichever way the caller saw it first), its
    transaction id and its question (name and type, first question). The first response is held for
    ``hold_on_seconds`` of capture time: a response that differs from it (another rcode, or another set of
    answers, order ignored) within that window gives a ``DnsRace`` at once; identical copies give nothing.
    When the window has passed, the query gives one ``DnsLookup`` with its first response. A query that
    stays unanswered for ``answer_timeout_seconds`` gives a ``DnsLookup`` without answer; a response to a
    query the capture did not see (it started late, or the query expired) gives one without query packet.

    Hold-on is 5 seconds by default: stub resolvers wait that long for an answer before asking again
    (glibc's and Android's ``timeout:5``), and the on-path injectors Hold-On measured answer within tens of
    milliseconds of the genuine answer's round trip; a genuine answer more than 5 s after another is not a
    race the client could have lost. Memory is bounded by ``max_pending`` queries (the oldest gives its
    lookup early when a new one needs room) and ``MAX_ANSWER_SETS`` answer sets per query. Time is the
    latest capture time seen, so timestamps that go backwards do not revive expired queries. Records come
    out in a deterministic order: expired lookups by deadline then arrival, then what the segment gave.
    Messages without a question (some servers' FORMERR) cannot be tied to a name and are not recorded.
    """

    def __init__(
        self,
        *,
        hold_on_seconds: float = 5.0,
        max_pending: int = MAX_PENDING,
        answer_timeout_seconds: float = 10.0,
    ) -> None:
        self._hold_on_ns = round(hold_on_seconds * 1e9)
        self._timeout_ns = round(answer_timeout_seconds * 1e9)
        self._max_pending = max(1, max_pending)
        self._pending: dict[_Key, _Transaction] = {}
        self._deadlines: list[tuple[int, int, _Key]] = []
        self._serial = 0
        self._clock = -(2**63)

    def add(self, flow: Flow, to_client: bool, segment: Segment) -> Sequence[DnsLookup | DnsRace]:
        """What a segment of ``flow`` gives (``to_client``: it goes from the flow's server to its client)."""
        if segment.time_ns > self._clock:
            self._clock = segment.time_ns
        due = self._deadlines and self._deadlines[0][0] < self._clock
        if not segment.payload or (segment.sport != DNS_PORT and segment.dport != DNS_PORT):
            # Most packets of a capture: they only move the clock (and so end lookups), so they make no list.
            return list(self._expire(self._clock)) if due else _NOTHING
        records: list[DnsLookup | DnsRace] = list(self._expire(self._clock)) if due else []
        if segment.protocol == 17:
            payloads = [segment.payload]
        elif segment.protocol == 6:
            payloads = tcp_messages(segment.payload)
        else:
            return records
        for payload in payloads:
            message = parse_message(payload)
            if message is not None and message.questions:
                self._message(flow, to_client, segment, message, records)
        return records

    def finish(self) -> Iterator[DnsLookup]:
        """The lookups still held (answered ones whose window had not passed, and unanswered queries)."""
        yield from self._expire(None)

    def _message(
        self, flow: Flow, to_client: bool, segment: Segment, message: DnsMessage, records: list[DnsLookup | DnsRace]
    ) -> None:
        # The querier is the flow's client: a capture that began with a response made the server the
        # flow's client, and the flow is turned round so that the query and its answers share one key.
        if message.is_response != to_client:
            flow = replace(
                flow, client=flow.server, client_port=flow.server_port, server=flow.client, server_port=flow.client_port
            )
        question = message.questions[0]
        key = (flow, message.id, question.name, question.qtype)
        transaction = self._pending.get(key)
        if not message.is_response:
            if transaction is None:
                self._open(key, segment, records)
            return
        if transaction is None:
            transaction = self._open(key, None, records)
        view = DnsAnswerView(
            segment.number, segment.time_ns, segment.ttl, segment.ip_id, message.rcode, message.answers
        )
        answer_set = (message.rcode, tuple(sorted(message.answers)))
        if transaction.first is None:
            transaction.first = view
            self._schedule(key, transaction, self._clock + self._hold_on_ns)
        # A response cut by the snap length or broken part way cannot be told from a different one: only
        # whole responses are compared, with the first whole one.
        if not message.complete or answer_set in transaction.answer_sets:
            return
        reference = transaction.reference
        if reference is None:
            transaction.reference = view
            transaction.answer_sets.add(answer_set)
            return
        if len(transaction.answer_sets) >= MAX_ANSWER_SETS:
            return
        transaction.answer_sets.add(answer_set)
        first, second = sorted((reference, view), key=lambda answer: (answer.time_ns, answer.packet))
        race = DnsRace(
            flow,
            message.id,
            question.name,
            question.qtype,
            transaction.query_packet,
            transaction.query_time_ns,
            first,
            second,
        )
        records.append(race)

    def _open(self, key: _Key, query: Segment | None, records: list[DnsLookup | DnsRace]) -> _Transaction:
        if len(self._pending) >= self._max_pending:
            # Room is made by ending the oldest query now; its heap entry becomes stale.
            records.append(self._pending.pop(next(iter(self._pending))).lookup())
        flow, transaction_id, name, qtype = key
        transaction = _Transaction(
            flow,
            transaction_id,
            name,
            qtype,
            None if query is None else query.number,
            None if query is None else query.time_ns,
            0,
            0,
        )
        self._pending[key] = transaction
        self._schedule(key, transaction, self._clock + self._timeout_ns)
        return transaction

    def _schedule(self, key: _Key, transaction: _Transaction, deadline_ns: int) -> None:
        self._serial += 1
        transaction.deadline_ns = deadline_ns
        transaction.serial = self._serial
        heapq.heappush(self._deadlines, (deadline_ns, self._serial, key))
        # Entries of answered or evicted queries stay in the heap until their time; rebuilding it when
        # they outnumber the live ones keeps it within a constant of ``max_pending``.
        if len(self._deadlines) > 2 * len(self._pending) + 1024:
            self._deadlines = [(entry.deadline_ns, entry.serial, name) for name, entry in self._pending.items()]
            heapq.heapify(self._deadlines)

    def _expire(self, now_ns: int | None) -> Iterator[DnsLookup]:
        """The lookups whose deadline is before ``now_ns`` (all of them for None), by deadline."""
        while self._deadlines and (now_ns is None or self._deadlines[0][0] < now_ns):
            _, serial, key = heapq.heappop(self._deadlines)
            transaction = self._pending.get(key)
            if transaction is not None and transaction.serial == serial:
                del self._pending[key]
                yield transaction.lookup()
