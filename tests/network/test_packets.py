"""The packets of a capture as disclosable units: their canonical bytes, reading a capture (up to a cut
record), writing a pcapng of chosen packets and reading it back strictly."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from tests.builders.captures import RAW, CaptureBuilder
from vestige.evidence.capture import CaptureFormatError, Packet, read_capture
from vestige.network.packets import PACKETS, packet_unit, unit_packet


def capture_bytes(tmp_path: Path, builder: CaptureBuilder | None = None) -> bytes:
    capture = builder or CaptureBuilder()
    if builder is None:
        talk = capture.connect("10.0.0.2", 51000, "93.184.216.34", 80, at=1_600_000_000.5)
        talk.send(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        talk.reply(b"HTTP/1.1 200 OK\r\n\r\n")
    return capture.write_pcap(tmp_path / "c.pcap", nano=True).read_bytes()


def test_a_packets_canonical_bytes_are_its_link_type_time_and_length_in_decimal_then_its_bytes() -> None:
    packet = Packet(7, 1_600_000_000_123_456_789, 1, b"\x00\x01frame", 1514, 40, interface=3)
    unit = packet_unit(packet)
    assert unit == b"1\x001600000000123456789\x001514\x00\x00\x01frame"
    back = unit_packet(unit, 2)
    assert (back.number, back.time_ns, back.linktype, back.data, back.original_length) == (
        2,
        1_600_000_000_123_456_789,
        1,
        b"\x00\x01frame",
        1514,
    )


@pytest.mark.parametrize("unit", [b"1\x002\x00", b"x\x002\x003\x00data", b"1\x00\xff\x003\x00data"])
def test_bytes_that_are_not_a_packets_canonical_bytes_are_refused(unit: bytes) -> None:
    with pytest.raises(ValueError, match="unit 4: not the canonical bytes of a packet"):
        unit_packet(unit, 4)


def test_reading_gives_each_packet_and_stops_at_a_cut_record(tmp_path: Path) -> None:
    data = capture_bytes(tmp_path)
    units = list(PACKETS.read(io.BytesIO(data), "c.pcap"))
    assert len(units) == 5
    assert units == [packet_unit(p) for p in read_capture(io.BytesIO(data), "c.pcap")]
    assert list(PACKETS.read(io.BytesIO(data[:-3]), "c.pcap")) == units[:4]
    assert list(PACKETS.read(io.BytesIO(gzip.compress(data, mtime=0)), "c.pcap.gz")) == units
    assert list(PACKETS.read(io.BytesIO(b"not a capture at all"), "x")) == []


def test_written_packets_read_back_the_same_whatever_their_link_types(tmp_path: Path) -> None:
    ethernet = list(PACKETS.read(io.BytesIO(capture_bytes(tmp_path)), "c.pcap"))
    raw = CaptureBuilder(linktype=RAW)
    raw.udp(1_700_000_000.25, "2001:db8::1", 5353, "2001:db8::2", 53, b"\x12\x34query")
    raw_units = list(PACKETS.read(io.BytesIO(capture_bytes(tmp_path, raw)), "r.pcap"))
    cut = packet_unit(Packet(1, 5, 1, b"\x00" * 60, 1514, 0))  # snapped: the original length is kept
    chosen = [ethernet[1], *raw_units, ethernet[3], cut]
    out = io.BytesIO()
    PACKETS.write(chosen, out)
    assert out.getvalue().startswith(b"\x0a\x0d\x0d\x0a")
    assert list(PACKETS.read_written(io.BytesIO(out.getvalue()), "small.pcapng")) == chosen


def test_reading_a_written_file_back_refuses_anything_but_a_whole_pcapng(tmp_path: Path) -> None:
    data = capture_bytes(tmp_path)
    out = io.BytesIO()
    PACKETS.write(list(PACKETS.read(io.BytesIO(data), "c.pcap"))[:2], out)
    small = out.getvalue()
    for given, sentence in [
        (data, "small.pcapng: not a pcapng file (it starts with"),
        (gzip.compress(small, mtime=0), "small.pcapng: not a pcapng file (it starts with 1f8b"),
        (b"", "small.pcapng: not a pcapng file (it starts with nothing)"),
        (small[:-5], "small.pcapng"),
    ]:
        with pytest.raises(CaptureFormatError, match=sentence.replace("(", r"\(").replace(")", r"\)")):
            list(PACKETS.read_written(io.BytesIO(given), "small.pcapng"))
