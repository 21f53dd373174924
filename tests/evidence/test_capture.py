"""Reading pcap and pcapng files (plain and gzip), written by dpkt (tests/builders/captures.py) or by
hand for what dpkt does not write: both byte orders, nanoseconds, several sections and interfaces,
Simple and obsolete Packet Blocks, truncation at every kind of place, hostile lengths; and the real
Fox-IT captures, against tshark's counts."""

from __future__ import annotations

import gzip
import io
import random
import shutil
import struct
import subprocess
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

import pytest

from tests.builders.captures import RAW, CaptureBuilder
from vestige.evidence.capture import (
    CaptureFormatError,
    Packet,
    TruncatedCaptureError,
    capture_head,
    is_capture,
    read_capture,
    write_pcapng,
)

QUANTUMINSERT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pcaps" / "quantuminsert"
"""Fox-IT's captures beside the repository (CI has them there); the tests that read them skip without."""
TSHARK = shutil.which("tshark")

FRAMES = (b"\x01" * 60, b"\x02" * 61, b"\x03" * 62, b"\x04" * 63)


def packets(data: bytes, name: str = "capture.pcap") -> list[Packet]:
    return list(read_capture(io.BytesIO(data), name))


def read_until_error(data: bytes, name: str = "capture.pcap") -> tuple[list[Packet], CaptureFormatError]:
    """The packets yielded before the reader raised, and what it raised."""
    got: list[Packet] = []
    with pytest.raises(CaptureFormatError) as raised:
        for packet in read_capture(io.BytesIO(data), name):
            got.append(packet)
    return got, raised.value


# Hand-built classic pcap.


def pcap_bytes(
    order: str,
    nano: bool,
    records: list[tuple[int, int, bytes]],
    linktype: int = 1,
    version: int = 2,
    original: int | None = None,
) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, version, 4, 0, 0, 65535, linktype)]
    for seconds, fraction, data in records:
        out.append(struct.pack(order + "IIII", seconds, fraction, len(data), original or len(data)) + data)
    return b"".join(out)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_a_pcap_of_either_byte_order_and_unit_gives_exact_times_and_offsets(order: str, nano: bool) -> None:
    fraction = 123_456_789 if nano else 123_456
    data = pcap_bytes(order, nano, [(1_700_000_000, fraction, FRAMES[0]), (1_700_000_001, 0, FRAMES[1])], 113)
    first, second = packets(data)
    assert first == Packet(1, 1_700_000_000_123_456_789 if nano else 1_700_000_000_123_456_000, 113, FRAMES[0], 60, 24)
    assert second == Packet(2, 1_700_000_001_000_000_000, 113, FRAMES[1], 61, 24 + 16 + 60)


def test_a_pcap_written_by_dpkt_reads_back_frame_for_frame(tmp_path: Path) -> None:
    capture = CaptureBuilder(linktype=RAW)
    for index, frame in enumerate(FRAMES):
        capture.frame(1_600_000_000.25 + index, frame)
    for path in (capture.write_pcap(tmp_path / "a.pcap"), capture.write_pcap(tmp_path / "a.pcap.gz", compress=True)):
        got = list(read_capture(path.open("rb"), path.name))
        assert [(p.number, p.time_ns, p.linktype, p.data, p.offset) for p in got] == [
            (1, 1_600_000_000_250_000_000, RAW, FRAMES[0], 24),
            (2, 1_600_000_001_250_000_000, RAW, FRAMES[1], 100),
            (3, 1_600_000_002_250_000_000, RAW, FRAMES[2], 177),
            (4, 1_600_000_003_250_000_000, RAW, FRAMES[3], 255),
        ]


def test_a_pcapng_written_by_dpkt_reads_back_frame_for_frame(tmp_path: Path) -> None:
    capture = CaptureBuilder()
    for index, frame in enumerate(FRAMES):
        capture.frame(1_600_000_000.5 + index, frame)
    got = packets(capture.write_pcapng(tmp_path / "a.pcapng").read_bytes())
    assert [(p.number, p.time_ns, p.linktype, p.data, p.original_length, p.interface) for p in got] == [
        (1, 1_600_000_000_500_000_000, 1, FRAMES[0], 60, 0),
        (2, 1_600_000_001_500_000_000, 1, FRAMES[1], 61, 0),
        (3, 1_600_000_002_500_000_000, 1, FRAMES[2], 62, 0),
        (4, 1_600_000_003_500_000_000, 1, FRAMES[3], 63, 0),
    ]


def test_a_pcap_larger_than_the_read_chunk_is_read_whole(tmp_path: Path) -> None:
    frame = bytes(range(256)) * 6
    data = pcap_bytes("<", False, [(1_700_000_000 + n, n, frame) for n in range(2000)])  # 3 MiB: several chunks
    got = packets(data)
    assert len(got) == 2000
    assert got[-1].number == 2000 and got[-1].time_ns == 1_700_001_999_001_999_000
    assert got[-1].offset == 24 + 1999 * (16 + len(frame)) and got[-1].data == frame


# Hand-built pcapng.


def block(order: str, kind: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack(order + "II", kind, length) + body + struct.pack(order + "I", length)


def section(order: str) -> bytes:
    return block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def option(order: str, code: int, value: bytes) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def interface(order: str, linktype: int, *options: bytes, snaplen: int = 0) -> bytes:
    body = struct.pack(order + "HHI", linktype, 0, snaplen) + b"".join(options)
    if options:
        body += struct.pack(order + "HH", 0, 0)
    return block(order, 1, body)


def enhanced(order: str, interface_id: int, units: int, data: bytes, original: int | None = None) -> bytes:
    header = struct.pack(
        order + "IIIII", interface_id, units >> 32, units & 0xFFFFFFFF, len(data), original or len(data)
    )
    return block(order, 6, header + data)


def simple(order: str, data: bytes, original: int | None = None) -> bytes:
    return block(order, 3, struct.pack(order + "I", original or len(data)) + data)


def obsolete(order: str, interface_id: int, units: int, data: bytes) -> bytes:
    header = struct.pack(order + "HHIIII", interface_id, 0, units >> 32, units & 0xFFFFFFFF, len(data), len(data))
    return block(order, 2, header + data)


def two_sections() -> bytes:
    """Section 1, little-endian: interface 0 Ethernet in microseconds (the default), interface 1 raw IP
    in 2^-20 s with an offset of 100 s; an unknown block; a Simple and an obsolete Packet Block.
    Section 2, big-endian: interface 0 (numbering starts again) raw IPv6 in nanoseconds."""
    little = "<"
    first = b"".join(
        (
            section(little),
            interface(little, 1),
            interface(little, 101, option(little, 9, b"\x94"), option(little, 14, struct.pack("<q", 100))),
            enhanced(little, 1, 1_700_000_000 * 2**20 + 2**19, FRAMES[0]),
            block(little, 0x00000BAD, b"skipped by its length"),
            enhanced(little, 0, 1_700_000_000_000_001, FRAMES[1], 1500),
            simple(little, FRAMES[2]),
            obsolete(little, 0, 1_700_000_002_000_000, FRAMES[3]),
        )
    )
    big = ">"
    second = b"".join(
        (
            section(big),
            interface(big, 229, option(big, 2, b"eth0"), option(big, 9, b"\x09")),
            enhanced(big, 0, 1_700_000_003_000_000_007, FRAMES[0]),
        )
    )
    return first + second


def test_pcapng_sections_interfaces_resolutions_and_packet_blocks() -> None:
    data = two_sections()
    got = packets(data, "capture.pcapng")
    assert [(p.number, p.time_ns, p.linktype, p.interface, p.data, p.original_length) for p in got] == [
        (1, 1_700_000_100_500_000_000, 101, 1, FRAMES[0], 60),
        (2, 1_700_000_000_000_001_000, 1, 0, FRAMES[1], 1500),
        (3, 0, 1, 0, FRAMES[2], 62),
        (4, 1_700_000_002_000_000_000, 1, 0, FRAMES[3], 63),
        (5, 1_700_000_003_000_000_007, 229, 0, FRAMES[0], 60),
    ]
    # Offsets are where each block starts: the SHB is 28 bytes, the IDBs 20 and 44.
    assert [p.offset for p in got] == [92, 220, 316, 396, 560]
    assert [data[p.offset : p.offset + 4] for p in got] == [
        b"\x06\0\0\0",
        b"\x06\0\0\0",
        b"\x03\0\0\0",
        b"\x02\0\0\0",
        b"\0\0\0\x06",
    ]


def test_a_simple_packet_block_is_cut_to_the_interface_snap_length() -> None:
    data = section("<") + interface("<", 1, snaplen=16) + simple("<", FRAMES[0])
    [packet] = packets(data, "capture.pcapng")
    assert (packet.data, packet.original_length) == (FRAMES[0][:16], 60)


@pytest.mark.parametrize(
    ("tsresol", "units", "time_ns"),
    [
        (b"\x00", 1_700_000_000, 1_700_000_000_000_000_000),
        (b"\x03", 1_700_000_000_123, 1_700_000_000_123_000_000),
        (b"\x0c", 1_700_000_000_123_456_789, 1_700_000_000_123_456),
        (b"\x80", 1_700_000_000, 1_700_000_000_000_000_000),
        (b"\x8a", 1_700_000_000 * 1024 + 1, 1_700_000_000_000_976_562),
    ],
)
def test_pcapng_time_resolutions_powers_of_ten_and_of_two(tsresol: bytes, units: int, time_ns: int) -> None:
    data = section("<") + interface("<", 1, option("<", 9, tsresol)) + enhanced("<", 0, units, FRAMES[0])
    assert [p.time_ns for p in packets(data, "capture.pcapng")] == [time_ns]


# gzip.


def test_gzip_of_one_or_several_members_with_zero_padding_reads_as_the_plain_file() -> None:
    plain = pcap_bytes("<", False, [(1_700_000_000 + n, 0, FRAMES[n % 4]) for n in range(50)])
    expected = packets(plain)
    assert packets(gzip.compress(plain, mtime=0), "capture.pcap.gz") == expected
    members = gzip.compress(plain[:1000], mtime=0) + gzip.compress(plain[1000:], mtime=0) + b"\0" * 16
    assert packets(members, "capture.pcap.gz") == expected
    assert packets(gzip.compress(two_sections()), "c.pcapng.gz") == packets(two_sections(), "c.pcapng")


def test_a_gzip_stream_cut_short_yields_what_it_holds_then_says_so() -> None:
    plain = pcap_bytes("<", False, [(1_700_000_000 + n, 0, FRAMES[n % 4]) for n in range(50)])
    compressed = gzip.compress(plain, mtime=0)
    # Without its 8-byte trailer every packet decompresses, but the stream never ended.
    got, error = read_until_error(compressed[:-8], "capture.pcap.gz")
    assert len(got) == 50
    assert isinstance(error, TruncatedCaptureError)
    assert str(error) == (
        f"capture.pcap.gz: the gzip stream is cut short after byte {len(plain)} of the capture: "
        "the packets before it were read"
    )
    assert (error.number, error.offset) == (51, len(plain))
    # Cut in the middle, the packets before the cut are read, then the cut packet is named.
    got, error = read_until_error(compressed[: len(compressed) // 2], "capture.pcap.gz")
    assert isinstance(error, TruncatedCaptureError)
    assert [p.number for p in got] == list(range(1, error.number))
    assert got == packets(plain)[: error.number - 1]


def test_a_corrupt_gzip_stream_is_a_format_error_after_the_sound_packets_before_it() -> None:
    frame = bytes(range(256)) * 6
    plain = pcap_bytes("<", False, [(1_700_000_000 + n, n, frame) for n in range(2000)])  # 3 MiB
    compressed = bytearray(gzip.compress(plain, mtime=0))
    compressed[-8] ^= 0xFF  # the CRC-32: every byte of the capture inflates, then the check fails
    got, error = read_until_error(bytes(compressed), "capture.pcap.gz")
    assert type(error) is CaptureFormatError
    assert str(error) == (
        "capture.pcap.gz: the gzip stream is corrupt after byte 3104000 of the capture "
        "(Error -3 while decompressing data: incorrect data check)"
    )
    # Inflated 256 bytes at a time after the failure, all but its last 24 bytes were kept.
    assert len(got) == 1999


# Truncation.


def three_packets() -> bytes:
    return pcap_bytes("<", False, [(1_700_000_000, n, FRAMES[n]) for n in range(3)])


@pytest.mark.parametrize(
    ("cut", "read", "message"),
    [
        (10, 0, "capture.pcap: the capture ends inside its file header (record at byte 0)"),
        (24 + 76 + 8, 1, "capture.pcap: the capture ends inside packet 2 (record at byte 100)"),
        (24 + 76 + 77 + 16 + 30, 2, "capture.pcap: the capture ends inside packet 3 (record at byte 177)"),
        (24 + 76 + 77 + 16 + 61, 2, "capture.pcap: the capture ends inside packet 3 (record at byte 177)"),
    ],
)
def test_a_pcap_cut_inside_a_record_yields_every_packet_before_it(cut: int, read: int, message: str) -> None:
    got, error = read_until_error(three_packets()[:cut])
    assert [p.number for p in got] == list(range(1, read + 1))
    assert isinstance(error, TruncatedCaptureError)
    assert str(error) == message + ": the packets before it were read"


def test_a_pcap_cut_between_records_is_complete() -> None:
    assert [p.number for p in packets(three_packets()[: 24 + 76 + 77])] == [1, 2]


@pytest.mark.parametrize(
    ("cut", "read", "what", "offset"),
    [
        (92 + 10, 0, "a block header", 92),
        (92 + 40, 0, "packet 1", 92),
        (184 + 20, 1, "a block of type 0x00000bad", 184),
        (len(two_sections()) - 1, 4, "packet 5", 560),
    ],
)
def test_a_pcapng_cut_inside_a_block_yields_every_packet_before_it(cut: int, read: int, what: str, offset: int) -> None:
    got, error = read_until_error(two_sections()[:cut], "capture.pcapng")
    assert len(got) == read
    assert isinstance(error, TruncatedCaptureError)
    assert str(error) == (
        f"capture.pcapng: the capture ends inside {what} (record at byte {offset}): the packets before it were read"
    )
    assert (error.number, error.offset) == (read + 1, offset)


# Broken structure and hostile lengths.


def test_a_record_claiming_4_gib_fails_at_once_without_allocating_it() -> None:
    data = three_packets()[:24] + struct.pack("<IIII", 1, 0, 0xFFFF_FFFF, 0xFFFF_FFFF) + b"x" * 100
    tracemalloc.start()
    try:
        got, error = read_until_error(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got == [] and type(error) is CaptureFormatError
    assert str(error) == (
        "capture.pcap: packet 1 (record at byte 24) claims 4294967295 captured bytes, "
        "more than any capture holds (262144)"
    )
    assert peak < 8 * 1024 * 1024


def test_a_pcapng_block_claiming_4_gib_fails_at_once() -> None:
    data = section("<") + struct.pack("<II", 6, 0xFFFF_FFF0) + b"\0" * 64
    got, error = read_until_error(data, "capture.pcapng")
    assert got == [] and type(error) is CaptureFormatError
    assert str(error) == (
        "capture.pcapng: the block at byte 28 (type 0x00000006) has length 4294967280, above the limit of 16777216"
    )


def with_interface(*blocks: bytes) -> bytes:
    return section("<") + interface("<", 1) + enhanced("<", 0, 5, FRAMES[0]) + b"".join(blocks)


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (
            struct.pack("<III", 6, 14, 14),
            "the block at byte 140 (type 0x00000006) has length 14, not a valid block length",
        ),
        (
            struct.pack("<III", 6, 8, 8),
            "the block at byte 140 (type 0x00000006) has length 8, not a valid block length",
        ),
        (
            block("<", 0xBAD, b"1234")[:-4] + struct.pack("<I", 12),
            "the block at byte 140 (type 0x00000bad) ends with length 12, not 16",
        ),
        (enhanced("<", 3, 5, FRAMES[0]), "the block at byte 140 is a packet on interface 3, which no block declared"),
        (
            block("<", 6, struct.pack("<IIIII", 0, 0, 0, 200_000, 200_000) + b"x" * 8),
            "packet 2 (record at byte 140) claims 200000 captured bytes, but its block holds 8 "
            "and a capture at most 262144",
        ),
        (block("<", 6, b"\0" * 8), "the block at byte 140 is an enhanced packet block shorter than 32 bytes"),
        (
            block("<", 0x0A0D0D0A, b"\x01\x02\x03\x04" + b"\0" * 12),
            "the section header at byte 140 has no byte-order magic (01020304)",
        ),
    ],
)
def test_broken_pcapng_structure_is_a_format_error_after_the_packets_before_it(broken: bytes, message: str) -> None:
    got, error = read_until_error(with_interface(broken), "capture.pcapng")
    assert [p.number for p in got] == [1]
    assert type(error) is CaptureFormatError
    assert str(error) == "capture.pcapng: " + message  # fmt: skip


def test_an_interface_option_overrunning_its_block_is_a_format_error() -> None:
    overrun = block("<", 1, struct.pack("<HHI", 1, 0, 0) + struct.pack("<HH", 9, 200))
    _, error = read_until_error(section("<") + overrun, "capture.pcapng")
    assert (
        str(error)
        == "capture.pcapng: the block at byte 28 is an interface description whose option 9 overruns the block"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "capture.pcap: not a pcap or pcapng capture (it holds 0 bytes)"),
        (b"GET / HTTP/1.1\r\n", "capture.pcap: not a pcap or pcapng capture (magic 47455420 at byte 0)"),
        (
            pcap_bytes("<", False, [], version=3),
            "capture.pcap: pcap version 3 at byte 4, where libpcap writes version 2",
        ),
    ],
)
def test_what_is_not_a_capture_is_refused_while_iterating(data: bytes, message: str) -> None:
    reader = read_capture(io.BytesIO(data), "capture.pcap")  # reads nothing yet, so raises nothing
    with pytest.raises(CaptureFormatError) as raised:
        next(reader)
    assert str(raised.value) == message


def test_is_capture_knows_every_magic_and_the_head_of_a_gzip() -> None:
    for order in "<>":
        for nano in (False, True):
            assert is_capture(pcap_bytes(order, nano, []))
        assert is_capture(section(order))
    assert not is_capture(b"\x0a\x0d\x0d\x0a" + b"\0" * 8)
    assert not is_capture(b"PK\x03\x04")
    assert not is_capture(b"")
    head = capture_head(io.BytesIO(gzip.compress(two_sections())))
    assert head == two_sections()[:64]
    assert capture_head(io.BytesIO(b"\x1f\x8bnot really gzip")) == b""


def test_a_compression_bomb_is_read_a_chunk_at_a_time() -> None:
    """A gzip of a huge record: the reader refuses its length before inflating the rest."""
    header = three_packets()[:24] + struct.pack("<IIII", 1, 0, 0x7FFF_FFFF, 0x7FFF_FFFF)
    inflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = inflate.compress(header) + b"".join(inflate.compress(b"\0" * (1 << 20)) for _ in range(64)) + inflate.flush()
    tracemalloc.start()
    try:
        _, error = read_until_error(bomb, "bomb.pcap.gz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "claims 2147483647 captured bytes" in str(error)
    assert peak < 8 * 1024 * 1024


# Writing pcapng.


def mixed() -> list[Packet]:
    return [
        Packet(1, 1_700_000_000_123_456_789, 1, FRAMES[0], 60, 0),
        Packet(2, 1_700_000_000_223_456_789, 101, b"\x45" + FRAMES[1][1:], 1500, 0),
        Packet(3, 1_700_000_001_000_000_000, 1, FRAMES[2], 62, 0),
    ]


def written(packets_: list[Packet]) -> bytes:
    out = io.BytesIO()
    write_pcapng(packets_, out)
    return out.getvalue()


def fields(got: list[Packet]) -> list[tuple[int, int, int, bytes, int]]:
    return [(p.number, p.time_ns, p.linktype, p.data, p.original_length) for p in got]


def test_write_pcapng_reads_back_identically() -> None:
    got = packets(written(mixed()), "out.pcapng")
    assert fields(got) == fields(mixed())
    assert [p.interface for p in got] == [0, 1, 0]


def test_the_fox_it_captures_written_again_read_back_identically() -> None:
    path = QUANTUMINSERT / "qi_local_GET_slashdot_redirect.pcap"
    original = list(read_capture(path.open("rb"), path.name))
    assert fields(packets(written(original), "again.pcapng")) == fields(original)


FIELDS = ("frame.number", "frame.time_epoch", "frame.len", "frame.cap_len", "frame.interface_id", "frame.encap_type")


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed, so Wireshark's reading of the output is untested")
def test_tshark_opens_what_write_pcapng_writes(tmp_path: Path) -> None:
    path = tmp_path / "out.pcapng"
    path.write_bytes(written(mixed()))
    assert TSHARK is not None
    result = subprocess.run(
        [TSHARK, "-r", str(path), "-T", "fields", *(f"-e{field}" for field in FIELDS)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.splitlines() == [
        "1\t1700000000.123456789\t60\t60\t0\t1",
        "2\t1700000000.223456789\t1500\t61\t1\t7",
        "3\t1700000001.000000000\t62\t62\t0\t1",
    ]


# The real Fox-IT captures (fox-it/quantuminsert, pcaps/; see the README and LICENSE beside them).

FOX_IT = {
    # name: (packets as `tshark -r FILE | wc -l` counts them, packet 1's time, the last packet's time)
    "qi_internet_SYNACK_curl_jsonip.pcap": (14, 1_429_652_006_616_371_000, 1_429_652_006_726_806_000),
    "qi_local_GET_slashdot_redirect.pcap": (204, 1_429_625_142_266_714_000, 1_429_625_147_266_320_000),
    "qi_local_SYNACK_curl_jsonip.pcap": (13, 1_429_701_763_119_390_000, 1_429_701_763_214_810_000),
    "qi_local_SYNACK_imgur_qdp.pcap": (1650, 1_429_576_565_150_663_000, 1_429_576_571_067_848_000),
    "qi_local_SYNACK_linkedin_redirect.pcap": (1260, 1_429_576_801_853_954_000, 1_429_576_803_265_509_000),
    "qi_local_SYNACK_putty_dl.pcap": (1089, 1_429_576_912_996_607_000, 1_429_576_919_613_906_000),
    "qi_local_SYNACK_slashdot_redirect.pcap": (1313, 1_429_582_740_617_471_000, 1_429_582_744_452_577_000),
}


def fox_it(name: str) -> Iterator[Packet]:
    path = QUANTUMINSERT / name
    if not path.exists():
        pytest.skip(f"{path} is not on this machine")
    with path.open("rb") as stream:
        yield from read_capture(stream, name)


@pytest.mark.parametrize("name", sorted(FOX_IT))
def test_the_fox_it_captures_have_tsharks_packet_count_and_times(name: str) -> None:
    count, first, last = FOX_IT[name]
    got = list(fox_it(name))
    assert [p.number for p in got] == list(range(1, count + 1))
    assert (got[0].time_ns, got[-1].time_ns) == (first, last)
    assert {p.linktype for p in got} == {1}
    assert got[0].offset == 24


def test_mutated_captures_give_packets_or_a_format_error_and_nothing_else() -> None:
    """Seeded mutations (bytes overwritten, cuts, lengths set to extremes) of a pcap, a pcapng and their
    gzip: reading either ends or raises CaptureFormatError, never another exception."""
    rng = random.Random(11)
    originals = [three_packets(), two_sections(), gzip.compress(two_sections(), mtime=0)]
    outcomes = {"complete": 0, "format": 0, "truncated": 0}
    for _ in range(1500):
        data = bytearray(rng.choice(originals))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            if rng.random() < 0.3:
                data[at : at + 4] = rng.choice((b"\xff\xff\xff\xff", b"\0\0\0\0", b"\x0c\0\0\0", b"\0\0\0\x0c"))
            else:
                data[at] = rng.randrange(256)
        if rng.random() < 0.3:
            del data[rng.randrange(len(data)) :]
        try:
            for packet in read_capture(io.BytesIO(bytes(data)), "fuzz.pcap"):
                assert len(packet.data) <= 262_144
            outcomes["complete"] += 1
        except TruncatedCaptureError:
            outcomes["truncated"] += 1
        except CaptureFormatError:
            outcomes["format"] += 1
    assert min(outcomes.values()) > 100, outcomes


class Trickle(io.RawIOBase):
    """A stream that gives at most ``step`` bytes a read (a pipe or a socket does) and counts what was read."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step, self.position = data, step, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = self.step if size < 0 else min(size, self.step)
        chunk = self.data[self.position : self.position + size]
        self.position += len(chunk)
        return chunk


@pytest.mark.parametrize("compress", [False, True])
def test_short_reads_give_the_same_packets(compress: bool) -> None:
    data = gzip.compress(two_sections(), mtime=0) if compress else two_sections()
    stream = cast(IO[bytes], Trickle(data, 7))
    assert list(read_capture(stream, "c.pcapng")) == packets(two_sections(), "c.pcapng")


def test_the_first_packet_comes_before_the_file_is_read_whole() -> None:
    frame = bytes(range(256)) * 6
    data = pcap_bytes("<", False, [(1_700_000_000 + n, n, frame) for n in range(4000)])  # 6 MiB
    stream = Trickle(data, len(data))
    reader = read_capture(cast(IO[bytes], stream), "capture.pcap")
    assert next(reader).number == 1
    assert stream.position == 1 << 20
    assert sum(1 for _ in reader) == 3999


def test_the_fcs_bits_above_a_pcap_link_type_are_not_part_of_it() -> None:
    """draft-ietf-opsawg-pcap: the upper bits of the LinkType field say whether frames end with an FCS."""
    data = pcap_bytes("<", False, [(1, 0, FRAMES[0])], linktype=0x1C00_0000 | 1)
    assert [p.linktype for p in packets(data)] == [1]
