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
from dataclasses import dataclass
from typing import Any
from xml.parsers.expat import ExpatError

from vestige.evidence.errors import UnexpectedFormatError

_TRAILER = struct.Struct(">6xBBQQQ")
_FROM = int.from_bytes


def load_plist(data: bytes, name: str) -> Any:
    """Parse an XML or binary plist; ``name`` is the file's path, used in the error message."""
    try:
        return plistlib.loads(data)
    except (
        plistlib.InvalidFileException,
        ExpatError,
        ValueError,
        struct.error,
        IndexError,
        OverflowError,  # a corrupt length or offset wider than the platform's sizes
        TypeError,  # an unhashable key
        RecursionError,  # nesting deeper than any real plist
    ) as error:
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
    except (IndexError, KeyError, struct.error, UnicodeDecodeError, OverflowError) as error:
        raise ValueError(f"malformed keyed archive ({error})") from None


_OFFSET_FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}
# Integers by the low nibble of their marker (1, 2, 4 bytes unsigned; 8 bytes signed), and UIDs by
# the low nibble (one less than their length in bytes).
_INTEGERS = {0: struct.Struct(">B"), 1: struct.Struct(">H"), 2: struct.Struct(">I"), 3: struct.Struct(">q")}
_UIDS = {0: struct.Struct(">B"), 1: struct.Struct(">H"), 3: struct.Struct(">I"), 7: struct.Struct(">Q")}
_OFFSET_TABLES: dict[tuple[int, int], struct.Struct] = {}


def _offset_table(count: int, size: int) -> struct.Struct:
    """The compiled format of an offset table (archives of one backup share a few sizes)."""
    table = _OFFSET_TABLES.get((count, size))
    if table is None:
        table = struct.Struct(f">{count}{_OFFSET_FORMATS[size]}")
        if len(_OFFSET_TABLES) < 256:
            _OFFSET_TABLES[(count, size)] = table
    return table


_LAYOUT_CACHE_SIZE = 64


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where the root object's fields are in one archive: names, value references, the UID table."""

    names: tuple[str, ...]
    values: tuple[int, ...]
    objects: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _KnownPrefix:
    """Archives that start with the same bytes and the same offsets share one layout.

    ``prefix`` runs to the last byte that reading the layout touched (the top dictionaries,
    ``$objects``, the root dictionary, their keys: each to the end of its own extent, not to where the
    next object starts, since a crafted object may run into the next), and ``offsets`` are the offsets
    of every object up to the last of those. An archive that matches both gives ``_parse_layout``
    exactly the bytes it read from the archive that was cached, so it would find the same layout:
    which archive was seen first never changes a result.
    """

    prefix: bytes
    offsets: tuple[int, ...]
    ref_size: int
    top: int
    layout: _Layout


# The MBFile archives of one backup share a handful of layouts; parsing each only once is most of the
# speed of reading a large Manifest.db.
_KNOWN: list[_KnownPrefix] = []


def _root_fields(blob: bytes) -> dict[str, Scalar]:
    if blob[:8] != b"bplist00" or len(blob) < 40:
        raise ValueError("not a binary property list")
    offset_size, ref_size, count, top, table = _TRAILER.unpack_from(blob, len(blob) - 32)
    if count > len(blob) or table > len(blob) or top >= count:
        raise ValueError("the trailer points outside the file")
    offsets = _offset_table(count, offset_size).unpack_from(blob, table)
    for known in _KNOWN:
        if (
            known.top == top
            and known.ref_size == ref_size
            and offsets[: len(known.offsets)] == known.offsets
            and blob.startswith(known.prefix)
        ):
            layout = known.layout
            break
    else:
        layout = _parse_layout(blob, offsets, ref_size, top)
    fields: dict[str, Scalar] = {}
    objects = layout.objects
    for name, ref in zip(layout.names, layout.values, strict=True):
        offset = offsets[ref]
        marker = blob[offset]
        kind = marker >> 4
        value: Scalar
        if kind == 0x1:
            integer = _INTEGERS.get(marker & 0x0F)
            if integer is not None:
                value = integer.unpack_from(blob, offset + 1)[0]
            else:  # 16 bytes: a signed 128-bit integer
                width = 1 << (marker & 0x0F)
                value = _FROM(blob[offset + 1 : offset + 1 + width], "big", signed=True)
        elif kind == 0x8:
            uid = _UIDS.get(marker & 0x0F)
            number = (
                uid.unpack_from(blob, offset + 1)[0]
                if uid
                else _FROM(blob[offset + 1 : offset + 2 + (marker & 0x0F)], "big")
            )
            target = offsets[objects[number]]
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
        fields[name] = value
    return fields


def _parse_layout(blob: bytes, offsets: tuple[int, ...], ref_size: int, top: int) -> _Layout:
    """Reads the top dictionary, ``$top.root`` and the root dictionary's keys; remembers the layout."""
    ref_format = _OFFSET_FORMATS[ref_size]
    structural: list[int] = [top]

    def refs(index: int, per_element: int) -> tuple[int, ...]:
        start, length = _extent(blob, offsets[index])
        return struct.unpack_from(f">{per_element * length}{ref_format}", blob, start)

    def dictionary(index: int) -> dict[str, int]:
        if blob[offsets[index]] >> 4 != 0xD:
            raise ValueError("expected a dictionary")
        both = refs(index, 2)
        half = len(both) // 2
        structural.extend(both[:half])
        return {_string_at(blob, offsets[k]): v for k, v in zip(both[:half], both[half:], strict=True)}

    archive = dictionary(top)
    structural.extend((archive["$objects"], archive["$top"]))
    objects = refs(archive["$objects"], 1)
    root = dictionary(archive["$top"])["root"]
    marker = blob[offsets[root]]
    if marker >> 4 != 0x8:
        raise ValueError("expected a UID")
    root_index = objects[_FROM(blob[offsets[root] + 1 : offsets[root] + 2 + (marker & 0x0F)], "big")]
    structural.extend((root, root_index))
    fields = dictionary(root_index)
    kept = [(name, ref) for name, ref in fields.items() if not name.startswith("$")]
    layout = _Layout(tuple(n for n, _ in kept), tuple(r for _, r in kept), objects)
    _remember(blob, offsets, ref_size, top, structural, layout)
    return layout


def _remember(
    blob: bytes, offsets: tuple[int, ...], ref_size: int, top: int, structural: list[int], layout: _Layout
) -> None:
    """Caches the layout with every byte and offset it was read from (``_KnownPrefix``)."""
    if len(_KNOWN) >= _LAYOUT_CACHE_SIZE:
        return
    reach = max(_end(blob, offsets[index], ref_size) for index in structural)
    if reach > len(blob):  # a read was cut short by the end of the blob: a longer blob would differ
        return
    _KNOWN.append(_KnownPrefix(blob[:reach], offsets[: max(structural) + 1], ref_size, top, layout))


def _end(blob: bytes, offset: int, ref_size: int) -> int:
    """Where a structural object (a dictionary, an array, a string or a UID) ends: the end of its own
    extent, wherever the next object starts."""
    marker = blob[offset]
    kind = marker >> 4
    if kind == 0x8:
        return offset + 2 + (marker & 0x0F)
    start, count = _extent(blob, offset)
    width = {0xD: 2 * ref_size, 0xA: ref_size, 0x6: 2}.get(kind, 1)
    return start + width * count


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
