"""Property lists: bounded loading of XML and binary plists, and a fast reader of NSKeyedArchiver roots.

A plist on a phone is the spyware operator's to shape: nested past any recursion limit, a binary
object graph whose references loop back, or whose shared sub-objects expand exponentially (a
456-byte file holding 4 GB of values), dictionary keys that are not text. ``load_plist`` reads
under the limits of the current task (``budget.current().limits``: ``text``, ``plist_objects``,
``plist_depth``) and raises ``UnexpectedFormatError`` naming the file and what was refused.

- Binary plists (``bplist00``) are read by ``_BinaryPlist``: the object graph is walked first,
  without building anything, so that a cycle, a nesting past ``plist_depth`` or an expansion past
  ``plist_objects`` (a shared object counted at each use) is refused in milliseconds; the values are
  then built without recursion, in the types ``plistlib`` gives (a shared object is one Python
  object). A date no ``datetime`` can hold (NaN, beyond year 9999), which iOS itself reads, is kept
  as its seconds since 2001 (a float) rather than refusing the whole file.
- XML plists are parsed by ``plistlib`` (which refuses entity declarations, and nests without
  recursion) after one pass of expat that counts the elements and their nesting.

``plain`` makes any such value JSON (``model.json_tree``: never recursive, keys that are not text
kept apart). ``keyed_archive_fields`` reads only the root object of an NSKeyedArchiver binary
plist (the format of the ``file`` column of an iOS backup's Manifest.db, class ``MBFile``) and
returns its scalar fields, following references to strings. It skips the generic object graph,
which dominated the cost of reading a 200,000-row manifest. The binary plist format is documented
in Apple's CFBinaryPList.c (``bplist00``: objects, an offset table, a 32-byte trailer).
"""

from __future__ import annotations

import math
import plistlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from xml.parsers import expat
from xml.parsers.expat import ExpatError

import orjson

from vestige.evidence import budget
from vestige.evidence.budget import BudgetExceededError, Limits
from vestige.evidence.errors import UnexpectedFormatError
from vestige.model import JSON, int_text, json_tree

_TRAILER = struct.Struct(">6xBBQQQ")
_FROM = int.from_bytes
BINARY_MAGIC = b"bplist00"


class _RefusedError(Exception):
    """What ``load_plist`` refuses, said in one clause (the file's name is added)."""


def load_plist(data: bytes, name: str) -> Any:
    """Parse an XML or binary plist under the current task's limits; ``name`` is the file's path, used in
    the error message. Callers read at most ``limits.text + 1`` bytes; more is refused here."""
    limits = reading_limits()
    try:
        if len(data) > limits.text:
            raise _RefusedError(f"larger than {limits.text} bytes{_RAISE.format('text')}")
        if data[:8] == BINARY_MAGIC:
            return _BinaryPlist(data, limits).value()
        _check_xml(data, limits)
        return plistlib.loads(data)
    except _RefusedError as refusal:
        raise UnexpectedFormatError(f"{name}: {refusal}") from None
    except (
        plistlib.InvalidFileException,
        ExpatError,
        ValueError,
        struct.error,
        IndexError,
        OverflowError,  # a corrupt length or offset wider than the platform's sizes
        TypeError,  # an unhashable key
        RecursionError,  # an XML value nested deeper than Python's own limit, below plist_depth
    ) as error:
        raise UnexpectedFormatError(f"{name}: not a valid property list ({error})") from None


_RAISE = " (the {0} limit; raise it with --limit {0}=VALUE if needed)"


def reading_limits() -> Limits:
    """The limits a plist is read under: the current task's, and outside any task the defaults (the
    structure of hostile data is bounded even where its time is not)."""
    return budget.current().limits


def load_plist_dict(data: bytes, name: str) -> dict[str, Any]:
    """A plist whose top-level object must be a dictionary."""
    value = load_plist(data, name)
    if not isinstance(value, dict):
        raise UnexpectedFormatError(f"{name}: expected a dictionary at the top, found {type(value).__name__}")
    return value


def _check_xml(data: bytes, limits: Limits) -> None:
    """Counts the elements of an XML plist and the nesting of its arrays and dictionaries, before
    ``plistlib`` builds them; refuses entity declarations first, as ``plistlib`` does. A document
    that is not well-formed is left for ``plistlib`` to refuse with its own message."""
    parser = expat.ParserCreate()
    counts = [0, 0]  # elements, open containers

    def begin(element: str, _: object) -> None:
        if element == "plist":  # the wrapper, not a value
            return
        counts[0] += 1
        if counts[0] % _CHECK_EVERY == 0:
            budget.check()
        if counts[0] > limits.plist_objects:
            raise _RefusedError(f"more than {limits.plist_objects} elements{_RAISE.format('plist-objects')}")
        if element in ("array", "dict"):
            counts[1] += 1
            if counts[1] > limits.plist_depth:
                raise _RefusedError(
                    f"arrays and dictionaries nested deeper than {limits.plist_depth}{_RAISE.format('plist-depth')}"
                )

    def end(element: str) -> None:
        if element in ("array", "dict"):
            counts[1] -= 1

    def entity(*_: object) -> None:
        raise _RefusedError("not a valid property list (XML entity declarations are not supported in plist files)")

    parser.StartElementHandler = begin
    parser.EndElementHandler = end
    parser.EntityDeclHandler = entity
    try:
        parser.Parse(data, True)
    except ExpatError:
        return


_INT_FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}
_MAC_EPOCH = datetime(2001, 1, 1)
_CHECK_EVERY = 1 << 14
"""Objects walked between two checks of the task's time and memory."""


class _BinaryPlist:
    """One binary plist: its trailer and offset table, read once, and its objects by number."""

    def __init__(self, data: bytes, limits: Limits) -> None:
        if len(data) < len(BINARY_MAGIC) + _TRAILER.size:
            raise _RefusedError("not a valid property list (too short for a binary property list)")
        offset_size, self.ref_size, count, self.top, table = _TRAILER.unpack_from(data, len(data) - _TRAILER.size)
        if count > limits.plist_objects:
            raise _RefusedError(f"{count} objects{_RAISE.format('plist-objects')}")
        end = len(data) - _TRAILER.size
        if not offset_size or not self.ref_size or table < len(BINARY_MAGIC) or table + count * offset_size > end:
            raise _RefusedError("not a valid property list (its trailer describes an offset table outside the file)")
        if self.top >= count:
            raise _RefusedError(f"not a valid property list (the top object {self.top} is not one of its {count})")
        self.data, self.count, self.limits, self.end = data, count, limits, table
        self.offsets = self._ints(table, count, offset_size)
        self.held: dict[int, tuple[int, ...]] = {}

    def value(self) -> Any:
        """The top object, built from the leaves up, each object once (a shared one is one Python object)."""
        values: list[Any] = [None] * self.count
        for number in self._post_order():
            values[number] = self._build(number, values)
        return values[self.top]

    def _ints(self, start: int, count: int, size: int) -> tuple[int, ...]:
        if start + count * size > len(self.data):
            raise _RefusedError(f"not a valid property list ({count} numbers at offset {start} run past the end)")
        form = _INT_FORMATS.get(size)
        if form is not None:
            return struct.unpack_from(f">{count}{form}", self.data, start)
        return tuple(_FROM(self.data[at : at + size], "big") for at in range(start, start + count * size, size))

    def _head(self, number: int) -> tuple[int, int, int]:
        """The marker of object ``number``, its length (elements, bytes or characters) and where its
        content starts."""
        offset = self.offsets[number]
        if not len(BINARY_MAGIC) <= offset < self.end:
            raise _RefusedError(f"not a valid property list (object {number} lies outside the object table)")
        marker = self.data[offset]
        length = marker & 0x0F
        if length != 0x0F or marker >> 4 in (0x0, 0x1, 0x2, 0x3, 0x8):  # these have no extended length
            return marker, length, offset + 1
        width = 1 << (self.data[offset + 1] & 0x3)
        start = offset + 2 + width
        if start > len(self.data):
            raise _RefusedError(f"not a valid property list (object {number} is cut short)")
        return marker, _FROM(self.data[offset + 2 : start], "big"), start

    def _children(self, number: int) -> tuple[int, ...]:
        """The objects an array or dictionary refers to (a dictionary's keys, then its values)."""
        marker, length, start = self._head(number)
        kind = marker >> 4
        if kind != 0xA and kind != 0xD:
            return ()
        count = length if kind == 0xA else 2 * length
        if start + count * self.ref_size > self.end:
            raise _RefusedError(f"not a valid property list (object {number} runs past the object table)")
        refs = self._ints(start, count, self.ref_size)
        if refs and max(refs) >= self.count:
            raise _RefusedError(
                f"not a valid property list (object {number} refers to object {max(refs)}, of {self.count})"
            )
        return refs

    def _post_order(self) -> list[int]:
        """The objects reachable from the top, each after the objects it holds (the arrays' and
        dictionaries' references kept in ``self.held``). Refuses a reference cycle, a nesting deeper than
        ``plist_depth``, and an expansion (every use of a shared object counted) beyond ``plist_objects``,
        before any value is built."""
        most, deepest, held = self.limits.plist_objects, self.limits.plist_depth, self.held
        state = bytearray(self.count)  # 0 not seen, 1 open (on the current path), 2 done
        weight = [1] * self.count  # the objects an object expands to, itself included
        order: list[int] = []
        held[self.top] = self._children(self.top)
        state[self.top] = 1
        stack: list[tuple[int, Iterator[int], int]] = [(self.top, iter(held[self.top]), 1)]
        walked = 0
        while stack:
            number, refs, total = stack.pop()
            for child in refs:
                seen = state[child]
                if seen == 0:
                    children = self._children(child)
                    if children:
                        if len(stack) + 1 >= deepest:
                            raise _RefusedError(
                                f"arrays and dictionaries nested deeper than {deepest}{_RAISE.format('plist-depth')}"
                            )
                        held[child] = children
                        state[child] = 1
                        stack.append((number, refs, total))
                        stack.append((child, iter(children), 1))
                        break
                    state[child] = 2
                    order.append(child)
                elif seen == 1:
                    raise _RefusedError(f"not a valid property list (reference cycle at object {child})")
                total += weight[child]
                if total > most:
                    raise _RefusedError(
                        f"expands to more than {most} objects, shared ones counted at each use"
                        f"{_RAISE.format('plist-objects')}"
                    )
            else:  # every child counted: the object is done
                state[number], weight[number] = 2, total
                order.append(number)
                walked += 1
                if walked % _CHECK_EVERY == 0:
                    budget.check()
                if stack:
                    parent, parent_refs, parent_total = stack.pop()
                    parent_total += total
                    if parent_total > most:
                        raise _RefusedError(
                            f"expands to more than {most} objects, shared ones counted at each use"
                            f"{_RAISE.format('plist-objects')}"
                        )
                    stack.append((parent, parent_refs, parent_total))
        return order

    def _build(self, number: int, values: list[Any]) -> Any:
        """Object ``number``, whose children (if any) are built already."""
        marker, length, start = self._head(number)
        kind = marker >> 4
        if kind == 0xA:
            return [values[ref] for ref in self.held.get(number, ())]
        if kind == 0xD:
            refs = self.held.get(number, ())
            result: dict[Any, Any] = {}
            for key, item in zip(refs[:length], refs[length:], strict=True):
                try:
                    result[values[key]] = values[item]
                except TypeError:
                    raise _RefusedError(
                        f"not a valid property list (object {number} has a key that is an array or a dictionary)"
                    ) from None
            return result
        if marker in _SINGLETONS:
            return _SINGLETONS[marker]
        if kind == 0x1:
            width = 1 << length
            return _FROM(self._bytes(number, start, width), "big", signed=length >= 3)
        if marker == 0x22:
            return struct.unpack(">f", self._bytes(number, start, 4))[0]
        if marker == 0x23:
            return struct.unpack(">d", self._bytes(number, start, 8))[0]
        if marker == 0x33:
            return _date(struct.unpack(">d", self._bytes(number, start, 8))[0])
        if kind == 0x4:
            return self._bytes(number, start, length)
        try:
            if kind == 0x5:
                return self._bytes(number, start, length).decode("ascii")
            if kind == 0x6:
                return self._bytes(number, start, 2 * length).decode("utf-16-be")
        except UnicodeDecodeError as error:
            raise _RefusedError(f"not a valid property list (object {number}: {error})") from None
        if kind == 0x8:
            uid = _FROM(self._bytes(number, start, length + 1), "big")
            if uid >= 1 << 64:
                raise _RefusedError(f"not a valid property list (object {number} is a UID wider than 64 bits)")
            return plistlib.UID(uid)
        raise _RefusedError(f"not a valid property list (object {number} has the unknown marker 0x{marker:02x})")

    def _bytes(self, number: int, start: int, length: int) -> bytes:
        if start + length > self.end:
            raise _RefusedError(f"not a valid property list (object {number} runs past the object table)")
        return self.data[start : start + length]


_SINGLETONS: dict[int, Any] = {0x00: None, 0x08: False, 0x09: True, 0x0F: b""}


def _date(seconds: float) -> datetime | float:
    """A plist date (seconds since 2001, UTC) as ``plistlib`` gives it (naive), or the seconds themselves
    when no ``datetime`` holds it: iOS reads such a date, so it costs its value, not the file."""
    try:
        return _MAC_EPOCH + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        return seconds


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


def plain(value: Any) -> JSON:
    """A plist value as JSON that any writer of the report takes whole: bytes become hex, dates ISO
    strings, UIDs integers, integers beyond 64 bits and non-finite reals their text; a dictionary with
    keys that are not text becomes ``{"$pairs": [[key, value], ...]}``, and a cycle or a nesting deeper
    than ``model.JSON_DEPTH`` is kept as ``model.json_tree`` says. Never recursive; a value that expands
    beyond the task's ``plist_objects`` (shared parts counted at each use) stops at that limit."""
    limit = reading_limits().plist_objects
    try:
        return json_tree(value, _plain_scalar, limit)  # type: ignore[no-any-return]
    except OverflowError:
        raise BudgetExceededError("plist-objects", f"a value of more than {limit} objects") from None


_INT64 = (-(1 << 63), (1 << 64) - 1)


def _plain_scalar(value: object) -> JSON:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else int_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, plistlib.UID):
        return value.data
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


TEXT_LIMIT = 200
"""The longest text ``plist_text`` gives of a value that is not a string."""


def plist_text(value: Any) -> str:
    """A plist value as text for a summary, a title or a locator key: a string as it is, anything else
    (an integer key, a data blob, a dictionary where a string was expected) as the JSON of its ``plain``
    value, cut at ``TEXT_LIMIT`` characters. Never raises: ``str`` refuses an integer of more than 4,300
    digits and recurses through nesting."""
    if isinstance(value, str):
        return value
    text = orjson.dumps(plain(value)).decode()
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"
