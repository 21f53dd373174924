"""A writer of binary plists of any shape, for hostile inputs ``plistlib`` cannot write.

``plistlib.dumps`` recurses (it cannot write a value nested 5,000 deep) and sorts or refuses keys
that are not text; a phone's file is under no such rule. Each object here is given as its encoded
bytes (``array``, ``dictionary``, ``text``...), referring to others by number; ``bplist`` lays them
out with an offset table and the 32-byte trailer, as CFBinaryPList.c describes.
"""

from __future__ import annotations

import struct


def _length(marker: int, count: int) -> bytes:
    if count < 15:
        return bytes([marker | count])
    return bytes([marker | 0x0F, 0x13]) + count.to_bytes(8, "big")


def array(*refs: int) -> bytes:
    return _length(0xA0, len(refs)) + b"".join(ref.to_bytes(2, "big") for ref in refs)


def dictionary(pairs: list[tuple[int, int]]) -> bytes:
    keys = b"".join(key.to_bytes(2, "big") for key, _ in pairs)
    values = b"".join(value.to_bytes(2, "big") for _, value in pairs)
    return _length(0xD0, len(pairs)) + keys + values


def text(value: str) -> bytes:
    return _length(0x50, len(value)) + value.encode("ascii")


def integer(value: int, width: int = 8) -> bytes:
    """An integer of ``width`` bytes (1, 2, 4, 8 or 16, or wider: up to 2^15 bytes)."""
    return bytes([0x10 | (width.bit_length() - 1)]) + value.to_bytes(width, "big", signed=width >= 8)


def date(seconds: float) -> bytes:
    return b"\x33" + struct.pack(">d", seconds)


def data(value: bytes) -> bytes:
    return _length(0x40, len(value)) + value


def bplist(objects: list[bytes], top: int = 0) -> bytes:
    """The file of ``objects`` (references 2 bytes wide, offsets 4 bytes), its top object ``top``."""
    body = bytearray(b"bplist00")
    offsets = []
    for encoded in objects:
        offsets.append(len(body))
        body += encoded
    table = len(body)
    body += b"".join(offset.to_bytes(4, "big") for offset in offsets)
    body += struct.pack(">6xBBQQQ", 4, 2, len(objects), top, table)
    return bytes(body)


def doubling(levels: int) -> bytes:
    """Arrays each holding the one below it twice: ``levels + 1`` objects that expand to 2^(levels+1) - 1."""
    objects = [integer(0, 1)] + [array(level, level) for level in range(levels)]
    return bplist(objects, top=levels)


def nested(levels: int) -> bytes:
    """Arrays nested ``levels`` deep around the integer 7: the outermost array is the top."""
    objects = [integer(7, 1)] + [array(level) for level in range(levels)]
    return bplist(objects, top=levels)
