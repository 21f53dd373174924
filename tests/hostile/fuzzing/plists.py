"""(a) Property lists: bytes, structure (``bplist``), hostile XML, oversized files."""

from __future__ import annotations

import plistlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.hostile.fuzzing import bplist
from tests.hostile.fuzzing.mutations import FORGED_TEXT, IDSTATUS, OSANALYTICS, Mutation, Site, edit_bytes

PLIST_PLACES: dict[str, tuple[tuple[Any, ...], ...]] = {
    "Info.plist": ((), ("Device Name",), ("Product Version",), ("Last Backup Date",), ("Installed Applications",)),
    "Manifest.plist": ((), ("Lockdown",), ("Lockdown", "ProductVersion"), ("IsEncrypted",), ("Date",)),
    "Status.plist": ((), ("Date",), ("UUID",), ("SnapshotState",), ("IsFullBackup",)),
    IDSTATUS: (
        (),
        ("com.apple.madrid",),
        ("com.apple.madrid", "tel:+212612345699"),
        ("com.apple.madrid", "tel:+212612345699", "IDStatus"),
        ("com.apple.madrid", "tel:+212612345699", "LookupDate"),
    ),
    OSANALYTICS: ((), ("netUsageBaseline",), ("netUsageBaseline", "apsd"), ("netUsageBaseline", "apsd", 0)),
}
"""Where a crafted value goes in each plist: the whole file, or the value at a key path."""


@dataclass(frozen=True)
class PlistBytes(Mutation):
    """Bytes of a plist flipped, cut or inserted (binary plists, or the XML Info.plist)."""

    target: str
    edits: tuple[tuple[str, int, int], ...]

    def apply(self, site: Site) -> None:
        path = site.path(self.target)
        path.write_bytes(edit_bytes(path.read_bytes(), self.edits))


@dataclass(frozen=True)
class Shape:
    """A hostile plist sub-graph: ``kind`` with a ``size`` (depth, fan-out levels, bytes...)."""

    kind: str
    size: int = 0

    def build(self, graph: bplist.Graph) -> int:
        return _SHAPES[self.kind](graph, self.size)


def _nested(graph: bplist.Graph, depth: int, container: str) -> int:
    top = graph.add(container, [])
    ref = top
    for _ in range(depth):
        inner = graph.add(container, [])
        graph.set(ref, container, [inner] if container == "array" else [(graph.add("str", "k"), inner)])
        ref = inner
    return top


def _cycle(graph: bplist.Graph, length: int) -> int:
    """Arrays and dictionaries that refer back to the first: a graph with no bottom."""
    first = graph.add("array", [])
    ref = first
    for index in range(max(length, 1) - 1):
        inner = graph.add("dict" if index % 2 == 0 else "array", [])
        graph.set(
            ref,
            graph.objects[ref][0],
            [inner] if graph.objects[ref][0] == "array" else [(graph.add("str", "k"), inner)],
        )
        ref = inner
    kind = graph.objects[ref][0]
    graph.set(ref, kind, [first, first] if kind == "array" else [(graph.add("str", "k"), first)])
    return first


def _shared(graph: bplist.Graph, levels: int) -> int:
    """Each level an array holding the next one twice: 2**levels leaves from a few hundred bytes."""
    ref = graph.add("str", "leaf")
    for _ in range(levels):
        ref = graph.add("array", [ref, ref])
    return ref


def _shared_dict(graph: bplist.Graph, levels: int) -> int:
    ref = graph.add("int", 1)
    for _ in range(levels):
        ref = graph.add("dict", [(graph.add("str", "a"), ref), (graph.add("str", "b"), ref)])
    return ref


def _odd_keys(graph: bplist.Graph, which: int) -> int:
    """A dictionary keyed by what is not a string (``which`` picks the key), valued like a handle entry."""
    makers: list[Callable[[], int]] = [
        lambda: graph.add("int", 1),
        lambda: graph.add("int", 1 << 100),
        lambda: graph.add("real", 1.5),
        lambda: graph.add("bool", True),
        lambda: graph.add("data", b"\xff\x00"),
        lambda: graph.add("date", 0.0),
        lambda: graph.add("uid", 3),
        lambda: graph.add("null"),
        lambda: graph.add("array", []),
        lambda: graph.add("dict", []),
    ]
    entry = bplist.graph_of({"LookupDate": 1.0, "IDStatus": 1}, graph)
    return graph.add(
        "dict", [(makers[which % len(makers)](), entry), (graph.add("str", "mailto:x@example.org"), entry)]
    )


def _scalar(graph: bplist.Graph, which: int) -> int:
    """A value of a type that code expecting a string or a number does not: huge integers, NaN, UIDs..."""
    makers: list[Callable[[], int]] = [
        lambda: graph.add("int", (1 << 127) - 1),
        lambda: graph.add("int", -(1 << 127)),
        lambda: graph.add("int", 1 << 64),
        lambda: graph.add("int", (1 << 63) - 1),
        lambda: graph.add("real", float("nan")),
        lambda: graph.add("real", float("inf")),
        lambda: graph.add("date", float("nan")),
        lambda: graph.add("date", 1e300),
        lambda: graph.add("date", -1e300),
        lambda: graph.add("uid", (1 << 64) - 1),
        lambda: graph.add("null"),
        lambda: graph.add("bool", False),
        lambda: graph.add("data", b"\xff\xfe"),
        lambda: graph.add("str", "\ud800"),
        lambda: graph.add("str", FORGED_TEXT),
    ]
    return makers[which % len(makers)]()


def _oversized(graph: bplist.Graph, size: int) -> int:
    return graph.add("str", "A" * size)


def _oversized_data(graph: bplist.Graph, size: int) -> int:
    return graph.add("data", b"\x00" * size)


_SHAPES: dict[str, Callable[[bplist.Graph, int], int]] = {
    "nested-array": lambda g, n: _nested(g, n, "array"),
    "nested-dict": lambda g, n: _nested(g, n, "dict"),
    "cycle": _cycle,
    "shared": _shared,
    "shared-dict": _shared_dict,
    "odd-keys": _odd_keys,
    "scalar": _scalar,
    "oversized-text": _oversized,
    "oversized-data": _oversized_data,
}
SHAPE_KINDS = tuple(_SHAPES)


def _spliced(value: Any, place: tuple[Any, ...], shape: Shape) -> Any:
    """``value`` with the item at ``place`` (keys and list indexes) replaced by ``shape``."""
    splice = bplist.Splice(shape.build)
    if not place:
        return splice
    head, rest = place[0], place[1:]
    if isinstance(value, dict):
        return {**value, head: _spliced(value.get(head), rest, shape)}
    if isinstance(value, list) and isinstance(head, int) and value:
        copy = list(value)
        copy[head % len(copy)] = _spliced(copy[head % len(copy)], rest, shape)
        return copy
    return splice


@dataclass(frozen=True)
class PlistValue(Mutation):
    """A plist rewritten by hand with ``shape`` at ``place`` (its other values kept)."""

    target: str
    place: tuple[Any, ...]
    shape: Shape

    def apply(self, site: Site) -> None:
        path = site.path(self.target)
        try:
            value = plistlib.loads(path.read_bytes())
        except Exception:  # an earlier mutation broke it: put the shape at the top
            value = None
        path.write_bytes(bplist.dumps(_spliced(value, self.place, self.shape)))


XML_ATTACKS = {
    "billion-laughs": (
        '<?xml version="1.0"?><!DOCTYPE plist [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
        + ']><plist version="1.0"><dict><key>Device Name</key><string>&j;</string></dict></plist>'
    ),
    "external-entity": (
        '<?xml version="1.0"?><!DOCTYPE plist [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<plist version="1.0"><dict><key>Device Name</key><string>&x;</string></dict></plist>'
    ),
    "deep-xml": '<plist version="1.0">' + "<array>" * 100000 + "</array>" * 100000 + "</plist>",
    "forged-name": (
        '<plist version="1.0"><dict><key>Device Name</key><string>'
        + FORGED_TEXT.replace("&", "&amp;").replace("<", "&lt;").replace("\x1b", "").replace("\x07", "")
        + "</string><key>Product Version</key><string>17.5.1\n[bold]CRITICAL[/bold]</string></dict></plist>"
    ),
}


@dataclass(frozen=True)
class PlistXml(Mutation):
    """A plist replaced by a hostile XML document (entities, nesting, forged text)."""

    target: str
    attack: str

    def apply(self, site: Site) -> None:
        site.path(self.target).write_text(XML_ATTACKS[self.attack])


@dataclass(frozen=True)
class Oversized(Mutation):
    """A file grown to ``size`` bytes (sparse: the disk holds only its real start)."""

    target: str
    size: int

    def apply(self, site: Site) -> None:
        path = site.path(self.target)
        with path.open("r+b") as stream:
            stream.truncate(self.size)
