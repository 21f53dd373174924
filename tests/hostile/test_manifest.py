"""Hostile Manifest.db and MBFile blobs: decoys, forged fileIDs, unlisted files at device paths, names
that are not UTF-8, and MBFile archives crafted to poison the layout cache (issue 9, classes 7 to 9)."""

from __future__ import annotations

import struct

from vestige.evidence import plist
from vestige.evidence.plist import keyed_archive_fields


def _bplist(objects: list[bytes], top: int = 0) -> bytes:
    """A binary plist of raw objects laid out one after the other (one-byte offsets and references):
    an object whose bytes end early shares its last bytes with the next one."""
    body = b"bplist00"
    offsets = []
    for data in objects:
        offsets.append(len(body))
        body += data
    table = len(body)
    body += bytes(offsets)
    return body + struct.pack(">6xBBQQQ", 1, 1, len(objects), top, table)


def _ascii(text: str) -> bytes:
    return bytes([0x50 | len(text)]) + text.encode()


def _overlapping_archive(size_object: bytes) -> bytes:
    """An MBFile-like archive whose root dictionary is the last structural object and ends one byte
    early: the reference of its ``Mode`` value is the marker byte of the object after it (``Size``'s
    value), which the old cache did not compare. An int marker 0x10 points at object 16, 0x11 at 17."""
    objects = [
        b"\xd2\x01\x02\x03\x04",  # 0: {"$top": 3, "$objects": 4}
        _ascii("$top"),  # 1
        _ascii("$objects"),  # 2
        b"\xd1\x05\x06",  # 3: {"root": UID 1}
        b"\xa2\x07\x0a",  # 4: ["$null", root]
        _ascii("root"),  # 5
        b"\x80\x01",  # 6: UID 1
        _ascii("$null"),  # 7
        _ascii("Size"),  # 8
        _ascii("Mode"),  # 9
        b"\xd2\x08\x09\x0b",  # 10: {"Size": 11, "Mode": <the next byte>}
        size_object,  # 11
        *(b"\x10\x00" for _ in range(12, 16)),
        b"\x11\x81\xa4",  # 16: 0o100644
        b"\x11\x41\xed",  # 17: 0o40755
    ]
    return _bplist(objects)


def test_the_mbfile_layout_cache_never_depends_on_the_order_archives_are_seen() -> None:
    first, second = _overlapping_archive(b"\x10\x05"), _overlapping_archive(b"\x11\x00\x07")
    plist._KNOWN.clear()
    alone = keyed_archive_fields(second)
    assert alone == {"Size": 7, "Mode": 0o40755}
    plist._KNOWN.clear()
    assert keyed_archive_fields(first) == {"Size": 5, "Mode": 0o100644}
    assert keyed_archive_fields(second) == alone  # the first archive's layout must not be reused
    plist._KNOWN.clear()
