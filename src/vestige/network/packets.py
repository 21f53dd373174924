"""The packets of a capture as disclosable units (``platforms.Units``): what a case binds of each packet,
and the small pcapng a disclosure writes of the packets its findings cite.

A packet's canonical bytes are its link type, its time in nanoseconds since the Unix epoch and its
original length, each in decimal followed by a NUL, then the bytes captured: decimal keeps any value a
capture may state (a pcapng time is 64 bits of units of any resolution), and the captured bytes come
last, so one string has one reading. The pcapng interface a packet came in on is not bound (the small
file has one interface per link type), nor are comments or other options, which a capture's writer
chooses and the analysis never reads. Numbers count from 1 as Wireshark numbers frames, as the traffic
artifact's locators do (``Locator.packet``).

The disclosed file is a pcapng (``capture.write_pcapng``: nanosecond times, one interface per link
type) that Wireshark opens; a verifier reads it back with ``capture.read_capture`` and proves what that
reader sees, which must be a whole pcapng file, nothing cut and nothing else.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import IO

from vestige.evidence.capture import CaptureFormatError, Packet, read_capture, write_pcapng

PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
"""The block type of a pcapng Section Header Block, the first four bytes of every pcapng file."""


def packet_unit(packet: Packet) -> bytes:
    """The canonical bytes of a packet: what a case binds and a disclosure proves."""
    return f"{packet.linktype}\x00{packet.time_ns}\x00{packet.original_length}\x00".encode() + packet.data


def unit_packet(unit: bytes, number: int) -> Packet:
    """The packet whose canonical bytes are ``unit`` (numbered ``number`` in the file it goes to)."""
    parts = unit.split(b"\x00", 3)
    if len(parts) != 4:
        raise ValueError(f"unit {number}: not the canonical bytes of a packet")
    try:
        linktype, time_ns, original_length = (int(part.decode("ascii")) for part in parts[:3])
    except (UnicodeDecodeError, ValueError):
        raise ValueError(f"unit {number}: not the canonical bytes of a packet") from None
    return Packet(number, time_ns, linktype, parts[3], original_length, 0)


class PacketUnits:
    """The ``Units`` of a capture: every file of a capture acquisition is one capture."""

    locator = "packet"
    noun = "packet"
    suffix = ".packets.pcapng"

    def divides(self, path: str) -> bool:
        return True

    def read(self, stream: IO[bytes], name: str) -> Iterator[bytes]:
        """Each packet, until the end or the first record that cannot be read (as the analysis stops
        there too, so the packet numbers of its findings are the numbers of these units)."""
        try:
            for packet in read_capture(stream, name):
                yield packet_unit(packet)
        except CaptureFormatError:
            return

    def write(self, units: Iterable[bytes], out: IO[bytes]) -> None:
        write_pcapng((unit_packet(unit, number) for number, unit in enumerate(units, 1)), out)

    def read_written(self, stream: IO[bytes], name: str) -> Iterator[bytes]:
        """The packets of a pcapng file, all of it: a pcap, a gzip file or a cut pcapng raises
        ``CaptureFormatError`` (read_capture reads those, but ``write`` never writes them)."""
        head = stream.read(len(PCAPNG_MAGIC))
        if head != PCAPNG_MAGIC:
            raise CaptureFormatError(f"{name}: not a pcapng file (it starts with {head.hex() or 'nothing'})")
        for packet in read_capture(io.BufferedReader(_Rejoined(head, stream)), name):
            yield packet_unit(packet)


class _Rejoined(io.RawIOBase):
    """A stream whose first bytes were already read: ``head`` and then the rest, so that the magic is
    checked without seeking (a verifier's stream need not be seekable)."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        super().__init__()
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


PACKETS = PacketUnits()
"""What ``network/platform.py`` gives its capture kind as ``units``."""
