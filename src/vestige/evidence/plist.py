"""Property lists: safe loading of XML and binary plists, and a fast reader of NSKeyedArchiver roots.

``load_plist`` wraps ``plistlib`` so that every malformed plist raises ``UnexpectedFormatError``
naming the file. ``keyed_archive_fields`` reads only the root object of an NSKeyedArchiver binary
plist (the format of the ``file`` column of an iOS backup's Manifest.db, class ``MBFile``) and
returns its scalar fields, following references to strings. It skips ``plistlib``'s generic object
graph, which dominated the cost of reading a 200,000-row manifest. The binary plist format is
documented in Apple's CFBinaryPList.c (``bplist00``: objects, an offset table, a 32-byte trailer).
"""

from __future__ import annotations

import plistlib
import struct
from collections.abc import Mapping
from typing import Any
from xml.parsers.expat import ExpatError

from vestige.evidence.errors import UnexpectedFormatError

_TRAILER = struct.Struct(">6xBBQQQ")
_FROM = int.from_bytes


def load_plist(data: bytes, name: str) -> Any:
    """Parse an XML or binary plist; ``name`` is the file's path, used in the error message."""
    try:
        return plistlib.loads(data)
    except (plistlib.InvalidFileException, ExpatError, ValueError, struct.error, IndexError) as error:
        raise UnexpectedFormatError(f"{name}: not a valid property list ({error})") from None


def load_plist_dict(data: bytes, name: str) -> dict[str, Any]:
    """A plist whose top-level object must be a dictionary."""
    value = load_plist(data, name)
    if not isinstance(value, dict):
        raise UnexpectedFormatError(f"{name}: expected a dictionary at the top, found {type(value).__name__}")
    return value


Scalar = int | float | str | bool


def keyed_archive_fields(blob: bytes) -> dict[str, Scalar]:
    """The scalar fields of the root object of an NSKeyedArchiver binary plist.

    Integer, real, boolean and string fields are returned as they are; a field holding a reference
    to a string object (``RelativePath``, ``Target``) is returned as that string. Other references
    (data, dictionaries, ``$null``) are left out. Raises ``ValueError`` on a malformed archive.
    """
    try:
        return _root_fields(blob)
    except (IndexError, KeyError, struct.error, UnicodeDecodeError) as error:
        raise ValueError(f"malformed keyed archive ({error})") from None


_OFFSET_FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}
# Keys of keyed archives repeat in every row of a manifest: their raw bytes map to the decoded key.
_KEY_CACHE: dict[bytes, str] = {}


def _root_fields(blob: bytes) -> dict[str, Scalar]:
    """One flat pass over the trailer, the offset table and three dictionaries: speed matters here."""
    if blob[:8] != b"bplist00" or len(blob) < 40:
        raise ValueError("not a binary property list")
    offset_size, ref_size, count, top, table = _TRAILER.unpack_from(blob, len(blob) - 32)
    offsets = struct.unpack_from(f">{count}{_OFFSET_FORMATS[offset_size]}", blob, table)
    ref_format = _OFFSET_FORMATS[ref_size]

    def key(index: int) -> str:
        offset = offsets[index]
        marker = blob[offset]
        if 0x50 <= marker < 0x5F:
            raw = blob[offset : offset + 1 + (marker & 0x0F)]
        elif marker == 0x5F and blob[offset + 1] == 0x10:
            raw = blob[offset : offset + 3 + blob[offset + 2]]
        else:
            return _string_at(blob, offset)
        known = _KEY_CACHE.get(raw)
        if known is None:
            known = _string_at(blob, offset)
            if len(_KEY_CACHE) < 4096:
                _KEY_CACHE[raw] = known
        return known

    def refs(index: int, pairs: int) -> tuple[int, ...]:
        offset = offsets[index]
        start, length = _extent(blob, offset)
        return struct.unpack_from(f">{pairs * length}{ref_format}", blob, start)

    def dictionary(index: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        if blob[offsets[index]] >> 4 != 0xD:
            raise ValueError("expected a dictionary")
        both = refs(index, 2)
        half = len(both) // 2
        return both[:half], both[half:]

    top_keys, top_values = dictionary(top)
    archive = {key(k): v for k, v in zip(top_keys, top_values, strict=True)}
    objects = refs(archive["$objects"], 1)
    top_dict_keys, top_dict_values = dictionary(archive["$top"])
    root = dict(zip(map(key, top_dict_keys), top_dict_values, strict=True))["root"]
    marker = blob[offsets[root]]
    if marker >> 4 != 0x8:
        raise ValueError("expected a UID")
    uid = _FROM(blob[offsets[root] + 1 : offsets[root] + 2 + (marker & 0x0F)], "big")
    fields: dict[str, Scalar] = {}
    for k, v in zip(*dictionary(objects[uid]), strict=True):
        offset = offsets[v]
        marker = blob[offset]
        kind = marker >> 4
        value: Scalar
        if kind == 0x1:
            width = 1 << (marker & 0x0F)
            value = _FROM(blob[offset + 1 : offset + 1 + width], "big", signed=width >= 8)
        elif kind == 0x8:
            target = offsets[objects[_FROM(blob[offset + 1 : offset + 2 + (marker & 0x0F)], "big")]]
            if blob[target] >> 4 not in (0x5, 0x6):
                continue
            value = _string_at(blob, target)
            if value == "$null":
                continue
        elif kind == 0x2:
            value = struct.unpack_from(">d" if marker & 0x0F == 3 else ">f", blob, offset + 1)[0]
        elif marker in (0x08, 0x09):
            value = marker == 0x09
        elif kind in (0x5, 0x6):
            value = _string_at(blob, offset)
        else:
            continue
        name = key(k)
        if name[0] != "$":
            fields[name] = value
    return fields


def _extent(blob: bytes, offset: int) -> tuple[int, int]:
    """Start of the payload and the element count of a variable-length object."""
    count = blob[offset] & 0x0F
    if count != 0x0F:
        return offset + 1, count
    width = 1 << (blob[offset + 1] & 0x0F)
    return offset + 2 + width, _FROM(blob[offset + 2 : offset + 2 + width], "big")


def _string_at(blob: bytes, offset: int) -> str:
    start, count = _extent(blob, offset)
    kind = blob[offset] >> 4
    if kind == 0x5:
        return blob[start : start + count].decode("ascii")
    if kind == 0x6:
        return blob[start : start + 2 * count].decode("utf-16-be")
    raise ValueError("expected a string")


def plain(value: Any) -> Any:
    """A plist value made JSON-able: bytes become hex, dates ISO strings, UIDs integers."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, plistlib.UID):
        return value.data
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return value
