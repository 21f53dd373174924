"""pcap and pcapng files, plain or gzip-compressed: their packets, one at a time. (CONTRACT: the
capture helper writes the bodies and this docstring; the signatures below are what the rest of the
network package relies on.)"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from vestige.evidence.errors import UnexpectedFormatError


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
    raise NotImplementedError


def read_capture(stream: IO[bytes], name: str) -> Iterator[Packet]:
    """The packets of the capture in ``stream`` (gzip is recognised and decompressed), in file order.
    Raises ``CaptureFormatError`` naming ``name`` for a broken file, ``TruncatedCaptureError`` after the
    last complete packet for a cut one."""
    raise NotImplementedError


def write_pcapng(packets: Iterable[Packet], out: IO[bytes]) -> None:
    """Writes ``packets`` as a pcapng file (one interface per link type, nanosecond timestamps) that
    Wireshark opens, and that ``read_capture`` reads back with the same link types, times and bytes."""
    raise NotImplementedError
