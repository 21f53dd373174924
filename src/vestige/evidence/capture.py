"""pcap and pcapng files, plain or gzip-compressed: their packets, one at a time.

Formats (as libpcap, tcpdump and Wireshark write them):

- classic pcap (draft-ietf-opsawg-pcap; https://www.tcpdump.org/manpages/pcap-savefile.5.html): a
  24-byte file header whose magic gives the byte order and the time unit (``a1b2c3d4`` microseconds,
  ``a1b23c4d`` nanoseconds) and whose last field gives the link type (its low 26 bits; the upper bits
  carry FCS information), then records of a 16-byte header and the captured bytes;
- pcapng (draft-ietf-opsawg-pcapng): blocks of ``type, total length, body, total length``. A Section
  Header Block starts each section and gives its byte order; Interface Description Blocks declare the
  interfaces of the section (link type, snap length, ``if_tsresol`` a power of 10 or of 2,
  ``if_tsoffset`` in seconds); Enhanced, Simple and (obsolete) Packet Blocks carry packets; every
  other block is skipped by its length.

A gzip-compressed capture (``tcpdump -w - | gzip``, Wireshark's ``.pcapng.gz``) is recognised by its
magic and decompressed while it is read, a bounded amount at a time (so a compression bomb costs no
more memory than a plain file).

Packets are numbered from 1 in file order, as Wireshark numbers frames, so an analyst finds them with
Go To Packet. A Simple Packet Block has no time: its packet gets ``time_ns`` 0, as Wireshark shows it.

Every length in the file is checked before anything is read on its strength: a record longer than
``MAX_CAPTURED`` or a block longer than ``MAX_BLOCK`` is a ``CaptureFormatError``, so a hostile length
costs nothing. A file that ends inside a record raises ``TruncatedCaptureError`` after every complete
packet before it was yielded.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Protocol

from vestige.evidence.errors import UnexpectedFormatError

CHUNK = 1 << 20
"""Bytes read from the file (or decompressed) at a time."""

MAX_CAPTURED = 262_144
"""The largest captured length accepted for one packet: Wireshark's own limit for every common link
type (``WTAP_MAX_PACKET_SIZE_STANDARD``); tcpdump's default snap length is the same."""

MAX_BLOCK = 16 * 1024 * 1024
"""The largest pcapng block accepted (Wireshark refuses larger ones too)."""

HEAD_BYTES = 64
"""How much of a file ``is_capture`` needs."""

GZIP_MAGIC = b"\x1f\x8b"
PCAPNG_SECTION = b"\x0a\x0d\x0d\x0a"
_PCAP_MAGICS = {
    # magic as stored: (byte order, nanoseconds per unit of the fraction field)
    b"\xd4\xc3\xb2\xa1": ("<", 1000),
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),
    b"\xa1\xb2\x3c\x4d": (">", 1),
}
_BYTE_ORDER_MAGICS = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}
_LINKTYPE_MASK = 0x03FF_FFFF

INTERFACE_DESCRIPTION, PACKET, SIMPLE_PACKET, ENHANCED_PACKET = 1, 2, 3, 6
SECTION_HEADER = 0x0A0D0D0A
_OPTION_TSRESOL, _OPTION_TSOFFSET = 9, 14


@dataclass(slots=True)
class Packet:
    """One captured frame. ``number`` counts from 1 in file order, as Wireshark numbers frames;
    ``time_ns`` is nanoseconds since the Unix epoch (UTC); ``offset`` is where its record starts in the
    uncompressed capture; ``interface`` is the pcapng interface (0 in a pcap)."""

    number: int
    time_ns: int
    linktype: int
    data: bytes
    original_length: int
    offset: int
    interface: int = 0


class CaptureFormatError(UnexpectedFormatError):
    """A file that is not a capture, or whose structure is broken before its end."""


class TruncatedCaptureError(CaptureFormatError):
    """The capture ends in the middle of a record; every packet before it was read."""

    def __init__(self, message: str, number: int, offset: int) -> None:
        super().__init__(message)
        self.number = number
        self.offset = offset


def is_capture(head: bytes) -> bool:
    """Whether a file starting with ``head`` (its first 64 bytes, decompressed if gzip) is a pcap or pcapng."""
    if head[:4] in _PCAP_MAGICS:
        return True
    return head[:4] == PCAPNG_SECTION and head[8:12] in _BYTE_ORDER_MAGICS


def capture_head(stream: IO[bytes], size: int = HEAD_BYTES) -> bytes:
    """The first ``size`` bytes of the capture in ``stream``, decompressed if it is gzip (reading at
    most a few KiB of it): what ``is_capture`` looks at."""
    head = stream.read(size)
    if not head.startswith(GZIP_MAGIC):
        return head
    # A gzip header may carry a file name, and the first deflate block a Huffman table: a few KiB of
    # compressed bytes always hold the first 64 uncompressed bytes of a real capture.
    compressed = head + stream.read(4096)
    try:
        return zlib.decompressobj(31).decompress(compressed, size)
    except zlib.error:
        return b""


def read_capture(stream: IO[bytes], name: str) -> Iterator[Packet]:
    """The packets of the capture in ``stream`` (gzip is recognised and decompressed), in file order.
    Raises ``CaptureFormatError`` naming ``name`` for a broken file, ``TruncatedCaptureError`` after the
    last complete packet for a cut one. Nothing is read until the first packet is asked for, and every
    error is raised while iterating."""
    source: _Input = _Plain(stream)
    buffer = _more(source, b"", 0, 24)
    if buffer.startswith(GZIP_MAGIC):
        source = _Gunzip(stream, name, buffer)
        buffer = _more(source, b"", 0, 24)
    if len(buffer) < 4:
        raise CaptureFormatError(f"{name}: not a pcap or pcapng capture (it holds {len(buffer)} bytes)")
    if buffer[:4] in _PCAP_MAGICS:
        yield from _pcap_packets(source, buffer, name)
    elif buffer[:4] == PCAPNG_SECTION:
        yield from _pcapng_packets(source, buffer, name)
    else:
        raise CaptureFormatError(f"{name}: not a pcap or pcapng capture (magic {buffer[:4].hex()} at byte 0)")


def write_pcapng(packets: Iterable[Packet], out: IO[bytes]) -> None:
    """Writes ``packets`` as a pcapng file (one interface per link type, nanosecond timestamps) that
    Wireshark opens, and that ``read_capture`` reads back with the same link types, times and bytes."""
    out.write(_SECTION_HEADER)
    interfaces: dict[int, int] = {}
    for packet in packets:
        interface = interfaces.get(packet.linktype)
        if interface is None:
            interface = interfaces[packet.linktype] = len(interfaces)
            out.write(_interface_block(packet.linktype))
        out.write(_enhanced_packet_block(packet, interface))


# The writer's blocks, little-endian.

_SECTION_HEADER = struct.pack("<IIIHHqI", SECTION_HEADER, 28, 0x1A2B3C4D, 1, 0, -1, 28)


def _interface_block(linktype: int) -> bytes:
    # if_tsresol 9 (nanoseconds), then opt_endofopt.
    options = struct.pack("<HHB3x", _OPTION_TSRESOL, 1, 9) + struct.pack("<HH", 0, 0)
    length = 20 + len(options)
    return (
        struct.pack("<IIHHI", INTERFACE_DESCRIPTION, length, linktype, 0, MAX_CAPTURED)
        + options
        + (struct.pack("<I", length))
    )


def _enhanced_packet_block(packet: Packet, interface: int) -> bytes:
    data = packet.data
    if not 0 <= packet.time_ns < 1 << 64:
        raise ValueError(f"packet {packet.number}: its time {packet.time_ns} ns does not fit a pcapng timestamp")
    if len(data) > MAX_CAPTURED:
        raise ValueError(f"packet {packet.number}: {len(data)} bytes, more than a capture holds ({MAX_CAPTURED})")
    padding = -len(data) % 4
    length = 32 + len(data) + padding
    header = struct.pack(
        "<IIIIIII",
        ENHANCED_PACKET,
        length,
        interface,
        packet.time_ns >> 32,
        packet.time_ns & 0xFFFF_FFFF,
        len(data),
        packet.original_length,
    )
    return b"".join((header, data, b"\0" * padding, struct.pack("<I", length)))


# Input: the file's bytes, decompressed when need be, a chunk at a time.


class _Input(Protocol):
    cut: bool
    """The input ended before its own end marker (a gzip stream cut short)."""

    def read(self, size: int) -> bytes: ...


class _Plain:
    cut = False

    def __init__(self, stream: IO[bytes]) -> None:
        self.read = stream.read


class _Gunzip:
    """A gzip stream (one member or several), decompressed ``size`` bytes at most at a time."""

    def __init__(self, stream: IO[bytes], name: str, first: bytes) -> None:
        self._stream = stream
        self._name = name
        self._pending = first
        self._inflate = zlib.decompressobj(31)
        self._in_member = False
        self._produced = 0
        self._failure: CaptureFormatError | None = None
        self.cut = False

    def read(self, size: int) -> bytes:
        if self._failure is not None:
            raise self._failure
        while True:
            inflate = self._inflate
            if inflate.unconsumed_tail:
                compressed = inflate.unconsumed_tail
            else:
                compressed = self._pending or self._stream.read(CHUNK)
                self._pending = b""
                if not self._in_member:
                    # Between members: gzip allows zero padding after the last one.
                    compressed = compressed.lstrip(b"\0")
                    if not compressed:
                        if self._at_end():
                            return b""
                        continue
                elif not compressed:
                    # Output zlib may still hold back, then the end of a stream cut short.
                    data = inflate.decompress(b"", size)
                    if data:
                        self._produced += len(data)
                        return data
                    self.cut = True
                    return b""
            self._in_member = True
            before = inflate.copy()
            try:
                data = inflate.decompress(compressed, size)
            except zlib.error as error:
                # The call that fails returns nothing, though most of what it inflated may be sound (a
                # bad CRC is only seen at the very end): inflate again in small steps, keep what comes
                # before the error, and raise it at the next read.
                data = _sound_part(before, compressed)
                self._failure = CaptureFormatError(
                    f"{self._name}: the gzip stream is corrupt after byte {self._produced + len(data)} of the "
                    f"capture ({error})"
                )
                if not data:
                    raise self._failure from None
            if inflate.eof:
                self._pending = inflate.unused_data
                self._inflate = zlib.decompressobj(31)
                self._in_member = False
            if data:
                self._produced += len(data)
                return data

    def _at_end(self) -> bool:
        """Whether the compressed stream has ended (after zero padding), reading ahead to know."""
        more = self._stream.read(CHUNK)
        if not more:
            return True
        self._pending = more
        return False


def _sound_part(inflate: zlib._Decompress, compressed: bytes, step: int = 256) -> bytes:
    """What ``inflate`` gives of ``compressed`` before it fails, ``step`` bytes at a time."""
    parts: list[bytes] = []
    while compressed:
        try:
            data = inflate.decompress(compressed, step)
        except zlib.error:
            break
        if not data:
            break
        parts.append(data)
        compressed = inflate.unconsumed_tail
    return b"".join(parts)


def _more(source: _Input, buffer: bytes, position: int, need: int) -> bytes:
    """``buffer[position:]`` followed by what the input holds next, until it is ``need`` bytes long or
    the input ends (reading whole chunks, so that the next records are already there)."""
    parts = [buffer[position:]]
    have = len(buffer) - position
    while have < need:
        chunk = source.read(max(CHUNK, need - have))
        if not chunk:
            break
        parts.append(chunk)
        have += len(chunk)
    return b"".join(parts)


def _ends_inside(name: str, what: str, number: int, offset: int) -> TruncatedCaptureError:
    return TruncatedCaptureError(
        f"{name}: the capture ends inside {what} (record at byte {offset}): the packets before it were read",
        number,
        offset,
    )


def _cut_short(name: str, number: int, offset: int) -> TruncatedCaptureError:
    return TruncatedCaptureError(
        f"{name}: the gzip stream is cut short after byte {offset} of the capture: the packets before it were read",
        number,
        offset,
    )


# Classic pcap.


def _pcap_packets(source: _Input, buffer: bytes, name: str) -> Iterator[Packet]:
    order, unit = _PCAP_MAGICS[buffer[:4]]
    if len(buffer) < 24:
        raise _ends_inside(name, "its file header", 1, 0)
    major, _minor, _zone, _sigfigs, _snaplen, network = struct.unpack_from(order + "HHiIII", buffer, 4)
    if major != 2:
        raise CaptureFormatError(f"{name}: pcap version {major} at byte 4, where libpcap writes version 2")
    linktype = network & _LINKTYPE_MASK
    unpack = struct.Struct(order + "IIII").unpack_from
    position, base, number = 24, 0, 0
    while True:
        start = position + 16
        if start > len(buffer):
            base += position
            buffer = _more(source, buffer, position, 16)
            position, start = 0, 16
            if len(buffer) < 16:
                if buffer:
                    raise _ends_inside(name, f"packet {number + 1}", number + 1, base)
                if source.cut:
                    raise _cut_short(name, number + 1, base)
                return
        seconds, fraction, captured, original = unpack(buffer, position)
        if captured > MAX_CAPTURED:
            raise CaptureFormatError(
                f"{name}: packet {number + 1} (record at byte {base + position}) claims {captured} captured bytes, "
                f"more than any capture holds ({MAX_CAPTURED})"
            )
        end = start + captured
        if end > len(buffer):
            base += position
            buffer = _more(source, buffer, position, 16 + captured)
            position, start, end = 0, 16, 16 + captured
            if end > len(buffer):
                raise _ends_inside(name, f"packet {number + 1}", number + 1, base)
        number += 1
        yield Packet(
            number, seconds * 1_000_000_000 + fraction * unit, linktype, buffer[start:end], original, base + position
        )
        position = end


# pcapng.


@dataclass(frozen=True, slots=True)
class _Interface:
    """What an Interface Description Block declares: time in nanoseconds is
    ``units * multiplier // divisor + offset_ns``."""

    linktype: int
    snaplen: int
    multiplier: int
    divisor: int
    offset_ns: int


def _pcapng_packets(source: _Input, buffer: bytes, name: str) -> Iterator[Packet]:
    position, base, number = 0, 0, 0
    interfaces: list[_Interface] = []
    clocks: list[tuple[int, int, int, int]] = []  # the interfaces' fields the common block needs
    order = "<"
    head = struct.Struct("<II").unpack_from
    enhanced = struct.Struct("<IIIII").unpack_from
    word = struct.Struct("<I").unpack_from
    while True:
        if position + 12 > len(buffer):
            base += position
            buffer = _more(source, buffer, position, 12)
            position = 0
            if len(buffer) < 12:
                if buffer:
                    raise _ends_inside(name, "a block header", number + 1, base)
                if source.cut:
                    raise _cut_short(name, number + 1, base)
                return
        kind, length = head(buffer, position)
        end = position + length
        if (
            kind == ENHANCED_PACKET
            and 32 <= length <= MAX_BLOCK
            and not length & 3
            and end <= len(buffer)
            and word(buffer, end - 4)[0] == length
        ):
            # The common block, whole in the buffer and well formed: read it at once (what fails here is
            # looked at again below, where each problem has its message).
            interface, high, low, captured, original = enhanced(buffer, position + 8)
            if captured <= length - 32 and captured <= MAX_CAPTURED and interface < len(clocks):
                linktype, multiplier, divisor, offset_ns = clocks[interface]
                number += 1
                yield Packet(
                    number,
                    ((high << 32) | low) * multiplier // divisor + offset_ns,
                    linktype,
                    buffer[position + 28 : position + 28 + captured],
                    original,
                    base + position,
                    interface,
                )
                position = end
                continue
        if kind == SECTION_HEADER:  # a palindrome: the same in either byte order
            magic = buffer[position + 8 : position + 12]
            if magic not in _BYTE_ORDER_MAGICS:
                raise CaptureFormatError(
                    f"{name}: the section header at byte {base + position} has no byte-order magic ({magic.hex()})"
                )
            order = _BYTE_ORDER_MAGICS[magic]
            head = struct.Struct(order + "II").unpack_from
            enhanced = struct.Struct(order + "IIIII").unpack_from
            word = struct.Struct(order + "I").unpack_from
            interfaces = []
            clocks = []
            length = head(buffer, position)[1]
        if length % 4 or length < 12 or length > MAX_BLOCK:
            raise CaptureFormatError(
                f"{name}: the block at byte {base + position} (type 0x{kind:08x}) has length {length}, "
                + (f"above the limit of {MAX_BLOCK}" if length > MAX_BLOCK else "not a valid block length")
            )
        if position + length > len(buffer):
            base += position
            buffer = _more(source, buffer, position, length)
            position = 0
            if length > len(buffer):
                what = f"packet {number + 1}" if kind in _PACKET_BLOCKS else f"a block of type 0x{kind:08x}"
                raise _ends_inside(name, what, number + 1, base)
        end = position + length
        if word(buffer, end - 4)[0] != length:
            raise CaptureFormatError(
                f"{name}: the block at byte {base + position} (type 0x{kind:08x}) ends with length "
                f"{word(buffer, end - 4)[0]}, not {length}"
            )
        if kind in (ENHANCED_PACKET, PACKET):  # the obsolete packet block has the same layout
            if length < 32:
                what = "an enhanced packet" if kind == ENHANCED_PACKET else "a packet"
                raise _bad_block(name, base + position, f"{what} block shorter than 32 bytes")
            if kind == ENHANCED_PACKET:
                interface, high, low, captured, original = enhanced(buffer, position + 8)
            else:
                interface, high, low, captured, original = struct.unpack_from(order + "HxxIIII", buffer, position + 8)
            if captured > MAX_CAPTURED or captured > length - 32:
                raise _bad_captured(name, number + 1, base + position, captured, length - 32)
            if interface >= len(interfaces):
                raise _bad_block(name, base + position, f"a packet on interface {interface}, which no block declared")
            described = interfaces[interface]
            number += 1
            yield Packet(
                number,
                ((high << 32) | low) * described.multiplier // described.divisor + described.offset_ns,
                described.linktype,
                buffer[position + 28 : position + 28 + captured],
                original,
                base + position,
                interface,
            )
        elif kind == SIMPLE_PACKET:
            if length < 16:
                raise _bad_block(name, base + position, "a simple packet block shorter than 16 bytes")
            if not interfaces:
                raise _bad_block(name, base + position, "a simple packet before any interface description")
            described = interfaces[0]
            original = word(buffer, position + 8)[0]
            captured = min(original, length - 16)
            if described.snaplen:
                captured = min(captured, described.snaplen)
            if captured > MAX_CAPTURED:
                raise _bad_captured(name, number + 1, base + position, captured, length - 16)
            number += 1
            data = buffer[position + 12 : position + 12 + captured]
            yield Packet(number, 0, described.linktype, data, original, base + position)
        elif kind == INTERFACE_DESCRIPTION:
            described = _interface(buffer, position, length, order, name, base + position)
            interfaces.append(described)
            clocks.append((described.linktype, described.multiplier, described.divisor, described.offset_ns))
        elif kind == SECTION_HEADER:
            _check_section(buffer, position, length, order, name, base + position)
        position = end


_PACKET_BLOCKS = frozenset({ENHANCED_PACKET, SIMPLE_PACKET, PACKET})


def _bad_block(name: str, offset: int, problem: str) -> CaptureFormatError:
    return CaptureFormatError(f"{name}: the block at byte {offset} is {problem}")


def _bad_captured(name: str, number: int, offset: int, captured: int, room: int) -> CaptureFormatError:
    return CaptureFormatError(
        f"{name}: packet {number} (record at byte {offset}) claims {captured} captured bytes, but its block holds "
        f"{max(room, 0)} and a capture at most {MAX_CAPTURED}"
    )


def _check_section(buffer: bytes, position: int, length: int, order: str, name: str, offset: int) -> None:
    if length < 28:
        raise _bad_block(name, offset, "a section header block shorter than 28 bytes")
    major, minor = struct.unpack_from(order + "HH", buffer, position + 12)
    if major != 1:
        raise CaptureFormatError(f"{name}: the section at byte {offset} is pcapng version {major}.{minor}, not 1.x")


def _interface(buffer: bytes, position: int, length: int, order: str, name: str, offset: int) -> _Interface:
    """The interface an Interface Description Block declares, with its time resolution and offset."""
    if length < 20:
        raise _bad_block(name, offset, "an interface description block shorter than 20 bytes")
    linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", buffer, position + 8)
    multiplier, divisor, offset_ns = 1000, 1, 0  # the default resolution is microseconds
    option = struct.Struct(order + "HH")
    at, end = position + 16, position + length - 4
    while at + 4 <= end:
        code, size = option.unpack_from(buffer, at)
        if code == 0:
            break
        value_end = at + 4 + size
        if value_end > end:
            raise _bad_block(name, offset, f"an interface description whose option {code} overruns the block")
        if code == _OPTION_TSRESOL and size == 1:
            multiplier, divisor = _resolution(buffer[at + 4])
        elif code == _OPTION_TSOFFSET and size == 8:
            offset_ns = struct.unpack_from(order + "q", buffer, at + 4)[0] * 1_000_000_000
        at = value_end + (-size % 4)
    return _Interface(linktype, snaplen, multiplier, divisor, offset_ns)


def _resolution(tsresol: int) -> tuple[int, int]:
    """``if_tsresol`` as (multiplier, divisor) from units to nanoseconds: the top bit set means a
    negative power of 2, clear a negative power of 10."""
    exponent = tsresol & 0x7F
    if tsresol & 0x80:
        return 1_000_000_000, 1 << exponent
    if exponent <= 9:
        return 10 ** (9 - exponent), 1
    return 1, 10 ** (exponent - 9)
