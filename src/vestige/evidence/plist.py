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
_OFFSET_FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}


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
        return _ArchiveReader(blob).root_fields()
    except (IndexError, struct.error, UnicodeDecodeError, KeyError) as error:
        raise ValueError(f"malformed keyed archive ({error})") from None


_REF_FORMATS = {1: "B", 2: "H", 4: "I"}


class _ArchiveReader:
    """Reads just enough of a binary plist to return the root object of a keyed archive."""

    __slots__ = ("blob", "offsets", "ref_fmt", "ref_size")

    def __init__(self, blob: bytes) -> None:
        if not blob.startswith(b"bplist00") or len(blob) < 40:
            raise ValueError("not a binary property list")
        offset_size, self.ref_size, count, _, table = _TRAILER.unpack_from(blob, len(blob) - 32)
        self.blob = blob
        self.ref_fmt = _REF_FORMATS[self.ref_size]
        self.offsets: tuple[int, ...] = struct.unpack_from(f">{count}{_OFFSET_FORMATS[offset_size]}", blob, table)

    def root_fields(self) -> dict[str, Scalar]:
        blob = self.blob
        top = _TRAILER.unpack_from(blob, len(blob) - 32)[3]
        archive = self._dict_refs(top)
        objects_start, objects_count = self._length(self.offsets[archive["$objects"]])
        objects = struct.unpack_from(f">{objects_count}{self.ref_fmt}", blob, objects_start)
        root_uid = self._uid(self._dict_refs(archive["$top"])["root"])
        fields: dict[str, Scalar] = {}
        for key, value in self._dict_refs(objects[root_uid]).items():
            scalar = self._scalar(value, objects)
            if scalar is not None and key[0] != "$":
                fields[key] = scalar
        return fields

    def _length(self, offset: int) -> tuple[int, int]:
        """Start of the payload and the element count of a variable-length object."""
        blob = self.blob
        count = blob[offset] & 0x0F
        if count != 0x0F:
            return offset + 1, count
        width = 1 << (blob[offset + 1] & 0x0F)
        return offset + 2 + width, _FROM(blob[offset + 2 : offset + 2 + width], "big")

    def _dict_refs(self, index: int) -> dict[str, int]:
        offset = self.offsets[index]
        if self.blob[offset] >> 4 != 0xD:
            raise ValueError("expected a dictionary")
        start, count = self._length(offset)
        refs = struct.unpack_from(f">{2 * count}{self.ref_fmt}", self.blob, start)
        string = self._string
        return {string(refs[i]): refs[count + i] for i in range(count)}

    def _string(self, index: int) -> str:
        offset = self.offsets[index]
        marker = self.blob[offset]
        if marker >> 4 == 0x5 and marker & 0x0F != 0x0F:
            cached = _ASCII_CACHE.get(self.blob[offset : offset + 1 + (marker & 0x0F)])
            if cached is not None:
                return cached
        start, count = self._length(offset)
        if marker >> 4 == 0x5:
            text = self.blob[start : start + count].decode("ascii")
            if count < 32 and len(_ASCII_CACHE) < 4096:
                _ASCII_CACHE[self.blob[offset : start + count]] = text
            return text
        if marker >> 4 == 0x6:
            return self.blob[start : start + 2 * count].decode("utf-16-be")
        raise ValueError("expected a string")

    def _uid(self, index: int) -> int:
        offset = self.offsets[index]
        marker = self.blob[offset]
        if marker >> 4 != 0x8:
            raise ValueError("expected a UID")
        return _FROM(self.blob[offset + 1 : offset + 2 + (marker & 0x0F)], "big")

    def _scalar(self, index: int, objects: tuple[int, ...]) -> Scalar | None:
        blob = self.blob
        offset = self.offsets[index]
        marker = blob[offset]
        kind, low = marker >> 4, marker & 0x0F
        if kind == 0x1:
            width = 1 << low
            return _FROM(blob[offset + 1 : offset + 1 + width], "big", signed=width >= 8)
        if kind == 0x8:
            target = objects[_FROM(blob[offset + 1 : offset + 2 + low], "big")]
            if blob[self.offsets[target]] >> 4 in (0x5, 0x6):
                text = self._string(target)
                return None if text == "$null" else text
            return None
        if kind == 0x2:
            value: float = struct.unpack_from(">d" if low == 3 else ">f", blob, offset + 1)[0]
            return value
        if kind == 0x0 and low in (8, 9):
            return low == 9
        if kind in (0x5, 0x6):
            return self._string(index)
        return None


# Keys of keyed archives repeat in every row of a manifest; decoding them once is measurably cheaper.
_ASCII_CACHE: dict[bytes, str] = {}


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
