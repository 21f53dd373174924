"""DNS messages (parse_message) and the query/answer tracker with its race detection (D13)."""

from __future__ import annotations

import ipaddress
import random
import struct
from pathlib import Path

import dpkt
import pytest

from tests.builders.captures import CaptureBuilder, dns_answer, dns_query
from vestige.evidence.capture import read_capture
from vestige.evidence.headers import Segment, address_text, decode
from vestige.network.dns import (
    MAX_ANSWER_SETS,
    DnsMessage,
    DnsQuestion,
    DnsRecord,
    DnsTracker,
    parse_message,
    tcp_messages,
)
from vestige.network.events import DnsAnswerView, DnsLookup, DnsRace, Flow

CLIENT, SERVER = "10.0.0.2", "10.0.0.1"
FLOW = Flow("udp", CLIENT, 40000, SERVER, 53)
T0 = 1_700_000_000_000_000_000
MS = 1_000_000


def wire_name(text: str) -> bytes:
    return b"".join(bytes([len(label)]) + label.encode() for label in text.split(".") if label) + b"\0"


def header(
    transaction: int, flags: int, questions: int, answers: int, authority: int = 0, additional: int = 0
) -> bytes:
    return struct.pack(">HHHHHH", transaction, flags, questions, answers, authority, additional)


def record(name: bytes, rtype: int, rdata: bytes, ttl: int = 60) -> bytes:
    return name + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


def response(transaction: int, name: str, answers: list[str], *, rcode: int = 0, qtype: int = 1) -> bytes:
    """A response whose answers are A records (``A 192.0.2.1``) or CNAMEs (``CNAME x.example``), names
    compressed against the question (offset 12)."""
    body = b""
    for answer in answers:
        kind, value = answer.split(" ")
        rdata = ipaddress.ip_address(value).packed if kind == "A" else wire_name(value)
        body += record(b"\xc0\x0c", 1 if kind == "A" else 5, rdata)
    question = wire_name(name) + struct.pack(">HH", qtype, 1)
    return header(transaction, 0x8180 | rcode, 1, len(answers)) + question + body


def segment(
    number: int,
    at_ns: int,
    payload: bytes,
    *,
    to_client: bool,
    ttl: int = 64,
    ip_id: int | None = 0,
    protocol: int = 17,
    port: int = 53,
) -> Segment:
    client, server = ipaddress.ip_address(CLIENT).packed, ipaddress.ip_address(SERVER).packed
    src, dst, sport, dport = (server, client, port, 40000) if to_client else (client, server, 40000, port)
    return Segment(
        number, at_ns, 4, src, dst, ttl, ip_id, True, protocol, sport, dport, 0, 0, 0, 0, b"", payload, False
    )


# parse_message


def test_query_gives_its_lower_case_name_and_type() -> None:
    message = parse_message(dns_query("WWW.Example.COM", 0x1234, dpkt.dns.DNS_AAAA))
    assert message == DnsMessage(
        id=0x1234,
        is_response=False,
        opcode=0,
        rcode=0,
        truncated=False,
        questions=(DnsQuestion("www.example.com", "AAAA"),),
        records=(),
        answers=(),
        complete=True,
    )


def test_answers_of_a_dpkt_response_with_compressed_names() -> None:
    message = parse_message(dns_answer("cdn.example.net", 7, ["192.0.2.1", "192.0.2.2"], ttl=300))
    assert message is not None
    assert message.is_response
    assert message.answers == ("A 192.0.2.1", "A 192.0.2.2")
    assert message.records[0] == DnsRecord("cdn.example.net", 1, 300, "192.0.2.1", ("192.0.2.1",))
    assert message.addresses == ("192.0.2.1", "192.0.2.2")


def test_cname_chain_aaaa_https_and_other_types() -> None:
    question = wire_name("www.example.com")  # at 12: "www" at 12, "example" at 16
    cname_target = wire_name("cdn")[:-1] + b"\xc0\x10"  # cdn.example.com, compressed
    cname_offset = 12 + len(question) + 4 + 12  # after the first answer's name and fixed fields
    https = (
        struct.pack(">H", 1)
        + b"\0"
        + struct.pack(">HH", 1, 6)
        + b"\x02h2\x02h3"
        + struct.pack(">HH", 4, 4)
        + bytes([192, 0, 2, 7])
        + struct.pack(">HH", 6, 16)
        + ipaddress.ip_address("2001:db8::7").packed
        + struct.pack(">HH", 3, 2)
        + b"\x01\xbb"  # port 443: a key that is not shown
    )
    answers = [
        record(b"\xc0\x0c", 5, cname_target),
        record(struct.pack(">H", 0xC000 | cname_offset), 1, bytes([192, 0, 2, 1])),
        record(struct.pack(">H", 0xC000 | cname_offset), 28, ipaddress.ip_address("2001:db8::1").packed),
        record(b"\xc0\x0c", 65, https),
        record(b"\xc0\x0c", 15, b"\x00\x0a" + wire_name("mx.example.com")),
        record(b"\xc0\x0c", 16, b"\x05hello"),
        record(b"\xc0\x0c", 65280, b""),
    ]
    payload = header(9, 0x8180, 1, len(answers)) + question + struct.pack(">HH", 1, 1) + b"".join(answers)
    message = parse_message(payload)
    assert message is not None
    assert message.complete
    assert message.answers == (
        "CNAME cdn.example.com",
        "A 192.0.2.1",
        "AAAA 2001:db8::1",
        "HTTPS 1 . alpn=h2,h3 ipv4hint=192.0.2.7 ipv6hint=2001:db8::7",
        "MX 10 mx.example.com",
        "TXT \\# 6 0568656c6c6f",
        "TYPE65280 \\# 0",
    )
    assert message.records[1].name == "cdn.example.com"
    assert message.addresses == ("192.0.2.1", "2001:db8::1", "192.0.2.7", "2001:db8::7")
    assert message.cnames == ("cdn.example.com",)
    assert message.records[3].target == ""


def test_rcode_and_truncation_bit() -> None:
    message = parse_message(header(5, 0x8383, 1, 0) + wire_name("nx.example") + struct.pack(">HH", 1, 1))
    assert message is not None
    assert (message.rcode, message.truncated, message.answers, message.complete) == (3, True, (), True)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x00" * 11,
        header(1, 0, 1, 0) + b"\xc0\x0c" + b"\0\x01\0\x01",  # the question's name points at itself
        header(1, 0, 1, 0) + b"\x01a\xc0\x0c" + b"\0\x01\0\x01",  # a label, then back to its own start
        header(1, 0, 1, 0) + b"\xc0\x10\0\0" + b"\x01a\0" + b"\0\x01\0\x01",  # a forward pointer
        header(1, 0, 1, 0) + b"\x40" + b"a" * 64 + b"\0\0\x01\0\x01",  # a label longer than 63
        header(1, 0, 1, 0)
        + b"\x3f"
        + b"a" * 63
        + b"\x3f"
        + b"b" * 63
        + b"\x3f"
        + b"c" * 63
        + b"\x3f"
        + b"d" * 63
        # four 63-byte labels: 257 bytes with the final zero, over RFC 1035's 255
        + b"\0\0\x01\0\x01",
        header(1, 0, 1, 0) + b"\x05ab",  # the label runs off the end
        header(1, 0, 1, 0) + wire_name("a.example") + b"\0",  # the question's type is cut
    ],
    ids=[
        "empty",
        "short header",
        "self pointer",
        "loop",
        "forward pointer",
        "label 64",
        "name 257",
        "cut label",
        "cut type",
    ],
)
def test_not_dns(payload: bytes) -> None:
    assert parse_message(payload) is None


def test_longest_name_is_read() -> None:
    labels = b"\x3f" + b"a" * 63 + b"\x3f" + b"b" * 63 + b"\x3f" + b"c" * 63 + b"\x3d" + b"d" * 61
    message = parse_message(header(1, 0, 1, 0) + labels + b"\0\0\x01\0\x01")
    assert message is not None
    assert message.questions[0].name == ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])


def test_non_ascii_and_dotted_labels_are_escaped() -> None:
    payload = header(1, 0, 1, 0) + b"\x03\xffAB\x04Ex.a\x01\\\x00" + b"\0\x1c\0\x01"
    message = parse_message(payload)
    assert message is not None
    assert message.questions == (DnsQuestion("\\xffab.ex\\x2ea.\\x5c", "AAAA"),)


def test_counts_that_claim_65535_records_in_30_bytes() -> None:
    payload = (
        header(1, 0x8180, 1, 65535, 65535, 65535)
        + b"\x01a\x00\x00\x01\x00\x01"
        + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00"
    )
    assert len(payload) == 30
    message = parse_message(payload)
    assert message is not None
    assert (message.questions, message.records, message.complete) == ((DnsQuestion("a", "A"),), (), False)


def test_truncated_rdata_ends_the_answers_read_so_far() -> None:
    full = response(3, "a.example", ["A 192.0.2.1", "A 192.0.2.2"])
    message = parse_message(full[:-2])
    assert message is not None
    assert (message.answers, message.complete) == (("A 192.0.2.1",), False)


def chain(links: int) -> bytes:
    """A response whose second answer's name is a chain of ``links`` pointers, each to the one before,
    kept inside the first answer's data and ending at the root."""
    question = wire_name("a.example") + struct.pack(">HH", 1, 1)
    start = 12 + len(question) + 2 + 10  # the first answer's data
    data = b"\0" + b"".join(
        struct.pack(">H", 0xC000 | (start + (0 if i == 0 else 1 + 2 * (i - 1)))) for i in range(links)
    )
    last_link = start + 1 + 2 * (links - 1)
    answers = record(b"\xc0\x0c", 65280, data) + record(struct.pack(">H", 0xC000 | last_link), 1, bytes(4))
    return header(1, 0x8180, 1, 2) + question + answers


def test_pointer_chains_are_followed_up_to_127_jumps() -> None:
    accepted = parse_message(chain(126))  # 126 links and the record's own pointer: 127 jumps
    refused = parse_message(chain(127))
    assert accepted is not None
    assert refused is not None
    assert (len(accepted.records), accepted.records[1].name, accepted.complete) == (2, "", True)
    assert (len(refused.records), refused.complete) == (1, False)


def test_compression_loop_in_an_answer_keeps_the_question() -> None:
    question = wire_name("a.example") + struct.pack(">HH", 1, 1)
    at = 12 + len(question)
    looping = struct.pack(">H", 0xC000 | (at + 2)) + struct.pack(">H", 0xC000 | at)  # each names the other
    message = parse_message(header(1, 0x8180, 1, 1) + question + looping + bytes(14))
    assert message is not None
    assert (message.questions, message.records, message.complete) == ((DnsQuestion("a.example", "A"),), (), False)


def test_every_prefix_and_byte_flip_of_a_response_is_handled() -> None:
    full = response(3, "www.example.com", ["CNAME cdn.example.net", "A 192.0.2.1"])
    prefixes = [parse_message(full[:length]) for length in range(len(full))]
    assert [message is None for message in prefixes].count(False) == len(full) - 12 - len(
        wire_name("www.example.com")
    ) - 4
    assert all(message is None or not message.complete for message in prefixes)
    generator = random.Random(11)
    flipped = 0
    for _ in range(2000):
        mutated = bytearray(full)
        mutated[generator.randrange(len(full))] = generator.randrange(256)
        message = parse_message(bytes(mutated))
        flipped += message is not None
    assert flipped > 1000


def test_tcp_messages_split_whole_messages() -> None:
    one, two = dns_query("a.example", 1), dns_query("b.example", 2)
    framed = struct.pack(">H", len(one)) + one + struct.pack(">H", len(two)) + two
    assert tcp_messages(framed) == [one, two]
    assert tcp_messages(framed[:-1]) == [one]
    assert tcp_messages(b"\x00") == []


# DnsTracker


def view(number: int, at_ns: int, answers: tuple[str, ...], *, ttl: int = 64, ip_id: int | None = 0) -> DnsAnswerView:
    return DnsAnswerView(number, at_ns, ttl, ip_id, 0, answers)


def test_answered_query_gives_its_lookup_once_the_hold_on_window_passed() -> None:
    tracker = DnsTracker()
    assert tracker.add(FLOW, False, segment(1, T0, dns_query("www.example.com", 77), to_client=False)) == []
    answer = dns_answer("www.example.com", 77, ["93.184.216.34"])
    assert tracker.add(FLOW, True, segment(2, T0 + 20 * MS, answer, to_client=True, ttl=57, ip_id=4321)) == []
    later = tracker.add(FLOW, False, segment(3, T0 + 5020 * MS, dns_query("other.example", 78), to_client=False))
    assert later == []  # the window is 5 s: at 5.020 s the answer is still held
    expected = DnsLookup(
        FLOW, 77, "www.example.com", "A", 1, view(2, T0 + 20 * MS, ("A 93.184.216.34",), ttl=57, ip_id=4321)
    )
    assert tracker.add(FLOW, False, segment(4, T0 + 5021 * MS, b"", to_client=False)) == [expected]
    assert list(tracker.finish()) == [DnsLookup(FLOW, 78, "other.example", "A", 3, None)]


def test_two_different_answers_within_the_window_are_a_race() -> None:
    tracker = DnsTracker()
    tracker.add(FLOW, False, segment(1, T0, dns_query("twitter.com", 4242), to_client=False))
    forged = response(4242, "twitter.com", ["A 203.0.113.66"])
    genuine = response(4242, "twitter.com", ["A 104.244.42.1", "A 104.244.42.65"])
    assert tracker.add(FLOW, True, segment(2, T0 + 9 * MS, forged, to_client=True, ttl=97, ip_id=1)) == []
    races = tracker.add(FLOW, True, segment(3, T0 + 41 * MS, genuine, to_client=True, ttl=57, ip_id=30001))
    first = view(2, T0 + 9 * MS, ("A 203.0.113.66",), ttl=97, ip_id=1)
    second = view(3, T0 + 41 * MS, ("A 104.244.42.1", "A 104.244.42.65"), ttl=57, ip_id=30001)
    assert races == [DnsRace(FLOW, 4242, "twitter.com", "A", 1, T0, first, second)]
    assert tracker.add(FLOW, True, segment(4, T0 + 60 * MS, genuine, to_client=True, ttl=57, ip_id=30002)) == []
    assert list(tracker.finish()) == [DnsLookup(FLOW, 4242, "twitter.com", "A", 1, first)]


def test_another_rcode_is_another_answer() -> None:
    tracker = DnsTracker()
    tracker.add(FLOW, False, segment(1, T0, dns_query("example.org", 5), to_client=False))
    tracker.add(FLOW, True, segment(2, T0 + MS, response(5, "example.org", [], rcode=3), to_client=True))
    races = tracker.add(
        FLOW, True, segment(3, T0 + 2 * MS, response(5, "example.org", ["A 192.0.2.9"]), to_client=True)
    )
    assert [(race.first.rcode, race.second.rcode, race.second.answers) for race in races] == [(3, 0, ("A 192.0.2.9",))]


def test_identical_and_reordered_answers_are_no_race() -> None:
    tracker = DnsTracker()
    tracker.add(FLOW, False, segment(1, T0, dns_query("pool.example", 9), to_client=False))
    one = response(9, "pool.example", ["A 192.0.2.1", "A 192.0.2.2"])
    rotated = response(9, "pool.example", ["A 192.0.2.2", "A 192.0.2.1"])
    records = [
        tracker.add(FLOW, True, segment(n, T0 + n * MS, payload, to_client=True))
        for n, payload in ((2, one), (3, one), (4, rotated))
    ]
    assert records == [[], [], []]
    assert [lookup.answer.packet if lookup.answer else None for lookup in tracker.finish()] == [2]


def test_a_different_answer_after_the_window_is_no_race() -> None:
    tracker = DnsTracker(hold_on_seconds=1.0)
    tracker.add(FLOW, False, segment(1, T0, dns_query("a.example", 3), to_client=False))
    tracker.add(FLOW, True, segment(2, T0 + MS, response(3, "a.example", ["A 192.0.2.1"]), to_client=True))
    late = tracker.add(
        FLOW, True, segment(3, T0 + 1002 * MS, response(3, "a.example", ["A 192.0.2.2"]), to_client=True)
    )
    assert late == [DnsLookup(FLOW, 3, "a.example", "A", 1, view(2, T0 + MS, ("A 192.0.2.1",)))]
    assert list(tracker.finish()) == [
        DnsLookup(FLOW, 3, "a.example", "A", None, view(3, T0 + 1002 * MS, ("A 192.0.2.2",)))
    ]


def test_unanswered_query_expires_after_the_answer_timeout() -> None:
    tracker = DnsTracker(answer_timeout_seconds=2.0)
    tracker.add(FLOW, False, segment(1, T0, dns_query("gone.example", 1), to_client=False))
    tracker.add(FLOW, False, segment(2, T0 + MS, dns_query("gone.example", 1), to_client=False))  # a retry
    assert list(tracker.add(FLOW, False, segment(3, T0 + 2000 * MS, b"", to_client=False))) == []
    assert tracker.add(FLOW, False, segment(4, T0 + 2001 * MS, b"", to_client=False)) == [
        DnsLookup(FLOW, 1, "gone.example", "A", 1, None)
    ]
    assert list(tracker.finish()) == []


def test_response_without_query_turns_the_flow_round() -> None:
    tracker = DnsTracker()
    seen_first = Flow("udp", SERVER, 53, CLIENT, 40000)  # the capture began with the response
    answer = response(8, "late.example", ["A 192.0.2.4"])
    assert tracker.add(seen_first, False, segment(1, T0, answer, to_client=True)) == []
    assert list(tracker.finish()) == [DnsLookup(FLOW, 8, "late.example", "A", None, view(1, T0, ("A 192.0.2.4",)))]


def test_same_id_other_question_is_another_query() -> None:
    tracker = DnsTracker()
    tracker.add(FLOW, False, segment(1, T0, dns_query("a.example", 1), to_client=False))
    tracker.add(FLOW, False, segment(2, T0, dns_query("a.example", 1, dpkt.dns.DNS_AAAA), to_client=False))
    tracker.add(FLOW, True, segment(3, T0 + MS, response(1, "a.example", ["A 192.0.2.1"]), to_client=True))
    aaaa = response(1, "a.example", [], qtype=28)
    assert tracker.add(FLOW, True, segment(4, T0 + MS, aaaa, to_client=True)) == []
    assert [
        (lookup.qtype, lookup.query_packet, lookup.answer and lookup.answer.packet) for lookup in tracker.finish()
    ] == [
        ("A", 1, 3),
        ("AAAA", 2, 4),
    ]


def test_cut_response_is_not_compared() -> None:
    tracker = DnsTracker()
    whole = response(2, "a.example", ["A 192.0.2.1", "A 192.0.2.2"])
    tracker.add(FLOW, True, segment(1, T0, whole, to_client=True))
    assert tracker.add(FLOW, True, segment(2, T0 + MS, whole[:-4], to_client=True)) == []


def test_dns_over_tcp() -> None:
    tracker = DnsTracker()
    flow = Flow("tcp", CLIENT, 40000, SERVER, 53)
    query, answer = dns_query("t.example", 6), response(6, "t.example", ["A 192.0.2.6"])
    tracker.add(flow, False, segment(4, T0, struct.pack(">H", len(query)) + query, to_client=False, protocol=6))
    tracker.add(flow, True, segment(6, T0 + MS, struct.pack(">H", len(answer)) + answer, to_client=True, protocol=6))
    tracker.add(flow, True, segment(7, T0 + MS, struct.pack(">H", 500) + answer, to_client=True, protocol=6))
    assert list(tracker.finish()) == [DnsLookup(flow, 6, "t.example", "A", 4, view(6, T0 + MS, ("A 192.0.2.6",)))]


@pytest.mark.parametrize("port", [5353, 5355, 443])
def test_other_ports_are_not_read(port: int) -> None:
    tracker = DnsTracker()
    flow = Flow("udp", CLIENT, 40000, SERVER, port)
    tracker.add(flow, False, segment(1, T0, dns_query("printer.local", 0), to_client=False, port=port))
    assert list(tracker.finish()) == []


def test_full_table_gives_the_oldest_lookup_early() -> None:
    tracker = DnsTracker(max_pending=2)
    tracker.add(FLOW, False, segment(1, T0, dns_query("one.example", 1), to_client=False))
    tracker.add(FLOW, False, segment(2, T0, dns_query("two.example", 2), to_client=False))
    assert tracker.add(FLOW, False, segment(3, T0, dns_query("three.example", 3), to_client=False)) == [
        DnsLookup(FLOW, 1, "one.example", "A", 1, None)
    ]
    assert [lookup.name for lookup in tracker.finish()] == ["two.example", "three.example"]


def test_a_flood_of_responses_keeps_memory_bounded() -> None:
    tracker = DnsTracker(max_pending=100)
    emitted = 0
    for number in range(1, 5_001):
        answer = response(number % 65536, f"h{number}.example", ["A 192.0.2.1"])
        emitted += len(tracker.add(FLOW, True, segment(number, T0 + number * 1000, answer, to_client=True)))
        assert len(tracker._pending) <= 100
        assert len(tracker._deadlines) <= 2 * 100 + 1025
    assert emitted + len(list(tracker.finish())) == 5_000


def test_a_flood_of_different_answers_to_one_query_gives_bounded_races() -> None:
    tracker = DnsTracker()
    tracker.add(FLOW, False, segment(1, T0, dns_query("a.example", 1), to_client=False))
    races = []
    for number in range(2, 1002):
        answer = response(1, "a.example", [f"A 10.0.{number // 256}.{number % 256}"])
        races += tracker.add(FLOW, True, segment(number, T0 + number, answer, to_client=True))
    assert len(races) == MAX_ANSWER_SETS - 1
    assert [race.second.packet for race in races] == list(range(3, 3 + MAX_ANSWER_SETS - 1))
    assert all(isinstance(race, DnsRace) and race.first.packet == 2 for race in races)


def test_expired_lookups_come_out_by_deadline() -> None:
    tracker = DnsTracker(hold_on_seconds=1.0, answer_timeout_seconds=3.0)
    tracker.add(FLOW, False, segment(1, T0, dns_query("slow.example", 1), to_client=False))
    tracker.add(FLOW, False, segment(2, T0 + MS, dns_query("fast.example", 2), to_client=False))
    tracker.add(FLOW, True, segment(3, T0 + 2 * MS, response(2, "fast.example", ["A 192.0.2.2"]), to_client=True))
    records = tracker.add(FLOW, False, segment(4, T0 + 4000 * MS, b"", to_client=False))
    assert [(record.name, record.query_packet) for record in records if isinstance(record, DnsLookup)] == [
        ("fast.example", 2),
        ("slow.example", 1),
    ]


def test_names_that_end_in_an_earlier_name() -> None:
    question = wire_name("example.com") + struct.pack(">HH", 1, 1)
    answers = record(b"\x03WWW\xc0\x0c", 1, bytes([192, 0, 2, 1])) + record(
        b"\x03api\xc0\x0c", 1, bytes([192, 0, 2, 2])
    )
    message = parse_message(header(1, 0x8180, 1, 2) + question + answers)
    assert message is not None
    assert [record.name for record in message.records] == ["www.example.com", "api.example.com"]


def test_a_name_made_too_long_by_its_pointer() -> None:
    long_name = b"\x3f" + b"a" * 63 + b"\x3f" + b"b" * 63 + b"\x3f" + b"c" * 63 + b"\x38" + b"d" * 56  # 249 bytes
    question = long_name + b"\0" + struct.pack(">HH", 1, 1)
    fits = record(b"\x04abcd\xc0\x0c", 1, bytes(4))  # 5 + 249 + 1 = 255 bytes
    too_long = record(b"\x05abcde\xc0\x0c", 1, bytes(4))  # 256 bytes
    message = parse_message(header(1, 0x8180, 1, 3) + question + fits + too_long + fits)
    assert message is not None
    assert ([len(record.name) for record in message.records], message.complete) == ([253], False)


def tracked(path: Path) -> list[DnsLookup | DnsRace]:
    """Every record a tracker gives for a capture file, read and decoded by vestige's own reader."""
    tracker = DnsTracker()
    flows: dict[tuple[str, int, str, int], Flow] = {}
    records: list[DnsLookup | DnsRace] = []
    with path.open("rb") as stream:
        for packet in read_capture(stream, path.name):
            decoded = decode(packet)
            assert decoded is not None
            src, dst = address_text(decoded.src), address_text(decoded.dst)
            flow = flows.get((dst, decoded.dport, src, decoded.sport))
            to_client = flow is not None
            if flow is None:
                flow = flows.setdefault(
                    (src, decoded.sport, dst, decoded.dport), Flow("udp", src, decoded.sport, dst, decoded.dport)
                )
            records.extend(tracker.add(flow, to_client, decoded))
    return records + list(tracker.finish())


def test_race_in_a_capture_file(tmp_path: Path) -> None:
    capture = CaptureBuilder()
    at = 1_700_000_000.0
    capture.udp(at, "2001:db8::2", 53001, "2001:db8::53", 53, dns_query("update.example.com", 0xBEEF), ttl=64)
    capture.udp(at + 0.004, "192.0.2.2", 53002, "192.0.2.53", 53, dns_query("mail.example.org", 0x0101))
    forged = dns_answer("update.example.com", 0xBEEF, ["203.0.113.66"], ttl=60)
    genuine = dns_answer("update.example.com", 0xBEEF, ["198.51.100.10"], ttl=300)
    capture.udp(at + 0.010, "2001:db8::53", 53, "2001:db8::2", 53001, forged, ttl=250)
    capture.udp(at + 0.045, "2001:db8::53", 53, "2001:db8::2", 53001, genuine, ttl=58)
    capture.udp(at + 0.046, "2001:db8::53", 53, "2001:db8::2", 53001, genuine, ttl=58)
    capture.udp(
        at + 0.050, "192.0.2.53", 53, "192.0.2.2", 53002, dns_answer("mail.example.org", 0x0101, ["192.0.2.25"])
    )
    records = tracked(capture.write_pcapng(tmp_path / "dns.pcapng"))
    v6 = Flow("udp", "2001:db8::2", 53001, "2001:db8::53", 53)
    v4 = Flow("udp", "192.0.2.2", 53002, "192.0.2.53", 53)
    ns = 1_000_000_000
    first = DnsAnswerView(3, 1_700_000_000_010_000_000, 250, None, 0, ("A 203.0.113.66",))
    second = DnsAnswerView(4, 1_700_000_000_045_000_000, 58, None, 0, ("A 198.51.100.10",))
    assert records == [
        DnsRace(v6, 0xBEEF, "update.example.com", "A", 1, 1_700_000_000 * ns, first, second),
        DnsLookup(v6, 0xBEEF, "update.example.com", "A", 1, first),
        DnsLookup(
            v4,
            0x0101,
            "mail.example.org",
            "A",
            2,
            DnsAnswerView(6, 1_700_000_000_050_000_000, 64, 0, 0, ("A 192.0.2.25",)),
        ),
    ]


def test_addresses_are_written_as_flows_write_them() -> None:
    question = wire_name("m.example") + struct.pack(">HH", 28, 1)
    mapped = record(b"\xc0\x0c", 28, ipaddress.ip_address("::ffff:192.0.2.1").packed)
    spelled = record(b"\xc0\x0c", 28, ipaddress.ip_address("2001:0db8:0000:0000:0000:0000:0000:0001").packed)
    message = parse_message(header(1, 0x8180, 1, 2) + question + mapped + spelled)
    assert message is not None
    assert message.answers == ("AAAA ::ffff:192.0.2.1", "AAAA 2001:db8::1")


def test_a_race_after_a_cut_first_response_is_between_whole_ones() -> None:
    tracker = DnsTracker()
    one = response(2, "a.example", ["A 192.0.2.1", "A 192.0.2.2"])
    other = response(2, "a.example", ["A 192.0.2.3"])
    tracker.add(FLOW, True, segment(1, T0, one[:-4], to_client=True))
    assert tracker.add(FLOW, True, segment(2, T0 + MS, one, to_client=True)) == []
    races = tracker.add(FLOW, True, segment(3, T0 + 2 * MS, other, to_client=True))
    assert [(race.first.packet, race.second.packet) for race in races] == [(2, 3)]
    assert [lookup.answer.packet if lookup.answer else None for lookup in tracker.finish()] == [1]


def test_many_records_pointing_into_one_long_chain() -> None:
    # Each of 5,394 records names the end of a 126-pointer chain: the chain is walked once, not per record.
    question = wire_name("a.example") + struct.pack(">HH", 1, 1)
    start = 12 + len(question) + 2 + 10
    links = b"\0" + b"".join(struct.pack(">H", 0xC000 | (start + (0 if i == 0 else 2 * i - 1))) for i in range(126))
    pointing = record(struct.pack(">H", 0xC000 | (start + 1 + 2 * 125)), 1, bytes([192, 0, 2, 1]))
    count = (65000 - len(links)) // len(pointing)
    payload = header(1, 0x8180, 1, count + 1) + question + record(b"\xc0\x0c", 65280, links) + pointing * count
    message = parse_message(payload)
    assert message is not None
    assert (len(message.records), message.complete, message.addresses.count("192.0.2.1")) == (
        count + 1,
        True,
        count,
    )
    assert {record.name for record in message.records[1:]} == {""}
