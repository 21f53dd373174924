"""A binary property list writer by hand, for object graphs that ``plistlib`` will not write.

``plistlib.dumps`` writes trees of well-typed values; an adversary writes any graph the format can
express: an array that contains itself, one object referenced from everywhere so that a 456-byte
file unfolds into gigabytes, dictionaries keyed by integers or arrays, integers of 128 bits, nesting
ten thousand levels deep. ``Graph`` holds numbered objects whose references may point anywhere, and
``Graph.dumps`` lays them out as ``bplist00`` (Apple's CFBinaryPList.c: a header, the objects, an
offset table and a 32-byte trailer).

``graph_of`` turns an ordinary plist value (as ``plistlib.loads`` gives it) into a graph, with
``Splice`` markers where a hostile sub-graph goes, so that a file keeps its real shape around the
crafted part.
"""

from __future__ import annotations

import datetime
import plistlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAC_EPOCH = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)


@dataclass
class Graph:
    """Numbered binary-plist objects, each already encoded except for its references."""

    objects: list[tuple[str, Any]] = field(default_factory=list)

    def add(self, kind: str, payload: Any = None) -> int:
        """A new object (``kind`` one of null, bool, int, real, date, data, str, uid, array, dict)."""
        self.objects.append((kind, payload))
        return len(self.objects) - 1

    def set(self, ref: int, kind: str, payload: Any) -> None:
        """Replaces object ``ref`` (to close a cycle once its members exist)."""
        self.objects[ref] = (kind, payload)

    def dumps(self, top: int) -> bytes:
        count = len(self.objects)
        ref_size = 1 if count < 1 << 8 else 2 if count < 1 << 16 else 4
        body = bytearray(b"bplist00")
        offsets: list[int] = []
        for kind, payload in self.objects:
            offsets.append(len(body))
            body += _encode(kind, payload, ref_size)
        table = len(body)
        offset_size = 1 if table < 1 << 8 else 2 if table < 1 << 16 else 4 if table < 1 << 32 else 8
        for offset in offsets:
            body += offset.to_bytes(offset_size, "big")
        body += struct.pack(">6xBBQQQ", offset_size, ref_size, count, top, table)
        return bytes(body)


def _length(marker: int, count: int) -> bytes:
    if count < 15:
        return bytes([marker | count])
    return bytes([marker | 0x0F]) + _int(count)


def _int(value: int) -> bytes:
    if 0 <= value < 1 << 8:
        return b"\x10" + value.to_bytes(1, "big")
    if 0 <= value < 1 << 16:
        return b"\x11" + value.to_bytes(2, "big")
    if 0 <= value < 1 << 32:
        return b"\x12" + value.to_bytes(4, "big")
    if -(1 << 63) <= value < 1 << 63:
        return b"\x13" + value.to_bytes(8, "big", signed=True)
    return b"\x14" + (value % (1 << 128)).to_bytes(16, "big")


def _encode(kind: str, payload: Any, ref_size: int) -> bytes:
    refs: Callable[[list[int]], bytes] = lambda items: b"".join(r.to_bytes(ref_size, "big") for r in items)  # noqa: E731
    if kind == "null":
        return b"\x00"
    if kind == "bool":
        return b"\x09" if payload else b"\x08"
    if kind == "int":
        return _int(payload)
    if kind == "real":
        return b"\x23" + struct.pack(">d", payload)
    if kind == "date":
        return b"\x33" + struct.pack(">d", payload)
    if kind == "data":
        return _length(0x40, len(payload)) + payload
    if kind == "str":
        if payload.isascii():
            return _length(0x50, len(payload)) + payload.encode("ascii")
        encoded = payload.encode("utf-16-be", "surrogatepass")
        return _length(0x60, len(encoded) // 2) + encoded
    if kind == "uid":
        return bytes([0x80 | 7]) + payload.to_bytes(8, "big")
    if kind == "array":
        return _length(0xA0, len(payload)) + refs(payload)
    if kind == "dict":
        keys = [k for k, _ in payload]
        values = [v for _, v in payload]
        return _length(0xD0, len(payload)) + refs(keys) + refs(values)
    raise ValueError(f"unknown object kind {kind}")


@dataclass(frozen=True)
class Splice:
    """Where ``graph_of`` puts a hostile sub-graph: ``build(graph)`` adds it and returns its ref."""

    build: Callable[[Graph], int]


def graph_of(value: Any, graph: Graph) -> int:
    """Adds ``value`` (a plist tree with ``Splice`` markers) to ``graph``; returns its ref."""
    if isinstance(value, Splice):
        return value.build(graph)
    if isinstance(value, bool):
        return graph.add("bool", value)
    if isinstance(value, int):
        return graph.add("int", value)
    if isinstance(value, float):
        return graph.add("real", value)
    if isinstance(value, datetime.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
        return graph.add("date", (moment - MAC_EPOCH).total_seconds())
    if isinstance(value, bytes):
        return graph.add("data", value)
    if isinstance(value, str):
        return graph.add("str", value)
    if isinstance(value, plistlib.UID):
        return graph.add("uid", value.data)
    if isinstance(value, list | tuple):
        ref = graph.add("array", [])
        graph.set(ref, "array", [graph_of(v, graph) for v in value])
        return ref
    if isinstance(value, dict):
        ref = graph.add("dict", [])
        graph.set(ref, "dict", [(graph_of(k, graph), graph_of(v, graph)) for k, v in value.items()])
        return ref
    raise TypeError(f"cannot write {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """``value`` (with ``Splice`` markers) as a binary plist."""
    graph = Graph()
    top = graph_of(value, graph)
    return graph.dumps(top)
