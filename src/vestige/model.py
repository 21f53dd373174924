"""The shared vocabulary of vestige: severities, observables, locators, records, findings.

Pure data with no I/O. Every layer speaks in these types: readers yield ``Record`` objects that cite
their ``Locator`` and carry a typed payload (one frozen dataclass per record kind, defined by the
artifact that reads it); the indicator engine answers ``IndicatorMatch`` tuples; detectors yield
``Finding`` objects; renderers turn them into files. ``as_json`` gives the JSON-able form that the
report layer serialises (RFC 8785 for findings.json). ``json_tree`` turns any value evidence can hold
(cycles, nesting past the recursion limit, keys that are not text, integers of any width) into JSON
every writer takes, without recursion: the one walk behind ``evidence.plist.plain`` and
``report.encoding``.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar, Protocol, TypeAlias, Union

import orjson
import rfc8785

JSON: TypeAlias = Union[bool, int, float, str, list["JSON"], dict[str, "JSON"], None]  # noqa: UP007


class Severity(enum.IntEnum):
    """How much a finding matters, in the order analysts triage them."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r}; expected one of {names}") from None


class ObservableKind(str, enum.Enum):
    """What an observable value is. Indicator types map onto these (see indicators.types)."""

    DOMAIN = "domain"
    IP = "ip"
    URL = "url"
    PROCESS = "process"
    EMAIL = "email"
    FILE_NAME = "file-name"
    FILE_PATH = "file-path"
    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    APP_ID = "app-id"
    APP_CERT = "app-cert"
    PROFILE_ID = "configuration-profile"
    ANDROID_PROPERTY = "android-property"


@dataclass(frozen=True, slots=True)
class Observable:
    """A value seen in evidence that an indicator may name, already normalised for lookup."""

    kind: ObservableKind
    value: str


SAFE_INTEGER = 2**53 - 1  # the largest integer I-JSON (RFC 7493) and RFC 8785 keep exact
_DECIMAL_BITS = 14_000
"""Integers up to this many bits are written in decimal: Python refuses to convert one of more than 4,300
digits (a denial-of-service guard), so a wider one (a binary plist holds integers of up to 32 KiB) is written
in hexadecimal."""


def int_text(value: int) -> str:
    """An integer as text, whatever its size: decimal, or ``0x`` hexadecimal beyond 14,000 bits."""
    return str(value) if value.bit_length() <= _DECIMAL_BITS else hex(value)


def sql_literal(value: object) -> str:
    """A value as SQLite writes it in SQL: an integer in decimal, a real as its shortest text, text quoted
    (``'it''s'``), a BLOB as ``x'0a1b'``, ``NULL``. Names a row by a key that is not an integer, unambiguously
    (text is quoted, an integer is not). Any other value is written as the JSON text of ``json_tree``."""
    if value is None:
        return "NULL"
    if isinstance(value, int) and not isinstance(value, bool):
        return int_text(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"x'{bytes(value).hex()}'"
    return json_text(json_tree(value, _any_scalar))


JSON_DEPTH = 100
"""The deepest nesting ``json_tree`` keeps as JSON containers. Deeper parts are kept as their JSON text, so that
every writer of the report takes a value whole: orjson stops at 255 levels, the RFC 8785 writer at Python's
recursion limit, and a record line adds a few levels of its own (real values nest a dozen levels)."""


def json_tree(value: object, scalar: Callable[[object], object], limit: int | None = None) -> Any:
    """``value`` as a tree that any JSON writer takes whole, whatever evidence put in it; never recursive.

    - A mapping whose keys are all text stays a dictionary. One with any other key (a binary plist allows
      integers, data, dates as keys) becomes ``{"$pairs": [[key, value], ...]}`` in its own order, so that no
      two keys (``1`` and ``"1"``) are merged.
    - A list or tuple becomes a list, a dataclass instance the dictionary of its fields (as orjson writes one).
    - A container met again inside itself becomes ``{"$cycle": n}``, ``n`` the levels up to where it opened; a
      container met twice elsewhere is written twice, as JSON has no references.
    - Containers nested deeper than ``JSON_DEPTH`` are kept as their JSON text: ``{"$deep": "[[...]]"}``.
    - Every other value is given to ``scalar``, which returns what the caller's writer takes.

    ``limit`` bounds the values written (a shared container counts at each use): ``OverflowError`` beyond.
    """
    if isinstance(value, str | int | float) or value is None:
        return scalar(value)
    walk = _TreeWalk(scalar, limit)
    tree = walk.run(value)
    return tree if walk.deepest <= JSON_DEPTH else _cut(tree, JSON_DEPTH)


_END = object()


class _TreeWalk:
    """One walk of ``json_tree``: a stack of open containers instead of recursion."""

    def __init__(self, scalar: Callable[[object], object], limit: int | None) -> None:
        self.scalar = scalar
        self.limit = limit
        self.count = 0
        self.deepest = 0
        self.open: dict[int, int] = {}  # id of each container being written -> its depth
        self.stack: list[tuple[Iterator[Any], dict[str, Any] | list[Any], int | None, int]] = []

    def run(self, value: object) -> Any:
        tree = self.convert(value, 1)
        stack = self.stack
        while stack:
            items, target, ident, depth = stack[-1]
            item: Any = next(items, _END)
            if item is _END:
                stack.pop()
                if ident is not None:
                    del self.open[ident]
            elif isinstance(target, dict):
                target[item[0]] = self.convert(item[1], depth + 1)
            else:
                target.append(self.convert(item, depth + 1))
        return tree

    def convert(self, value: object, depth: int) -> Any:
        """``value``'s scalar, or its (still empty) container, opened on the stack to be filled."""
        self.count += 1
        if self.limit is not None and self.count > self.limit:
            raise OverflowError(f"more than {self.limit} values")
        kind = type(value)
        if kind is str or kind is float or kind is int or value is None or kind is bool:
            return self.scalar(value)
        items: Iterator[Any]
        if isinstance(value, list | tuple):
            target: dict[str, Any] | list[Any] = []
            items = iter(value)
        elif isinstance(value, Mapping):
            if all(isinstance(key, str) for key in value):
                target, items = {}, iter(value.items())
            else:  # one more level: the pairs, each a list of two
                target, items = [], iter([list(pair) for pair in value.items()])
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            target = {}
            items = ((field.name, getattr(value, field.name)) for field in dataclasses.fields(value))
        else:
            return self.scalar(value)
        ident = id(value)
        opened = self.open.get(ident)
        if opened is not None:
            return {"$cycle": depth - opened}
        self.open[ident] = depth
        if isinstance(target, list) and isinstance(value, Mapping):
            self.stack.append((items, target, ident, depth + 1))
            self.deepest = max(self.deepest, depth + 2)
            return {"$pairs": target}
        self.deepest = max(self.deepest, depth)
        self.stack.append((items, target, ident, depth))
        return target


def _cut(tree: Any, depth: int) -> Any:
    """``tree`` (of dictionaries, lists and scalars) with each container at ``depth`` replaced by its text."""
    if depth <= 1:
        return {"$deep": json_text(tree)} if isinstance(tree, dict | list) else tree
    stack: list[tuple[Any, int]] = [(tree, 1)]
    while stack:
        node, level = stack.pop()
        slots = node.items() if isinstance(node, dict) else enumerate(node)
        for slot, child in list(slots):
            if isinstance(child, dict | list):
                if level + 1 >= depth:
                    node[slot] = {"$deep": json_text(child)}
                else:
                    stack.append((child, level + 1))
    return tree


def json_text(tree: Any) -> str:
    """The compact JSON text of a tree of dictionaries, lists and scalars orjson writes, however deep."""
    out: list[str] = []
    stack: list[tuple[Iterator[Any], str, list[bool]]] = [(iter((tree,)), "", [False])]
    while stack:
        items, close, started = stack[-1]
        item: Any = next(items, _END)
        if item is _END:
            stack.pop()
            out.append(close)
            continue
        if started[0]:
            out.append(",")
        started[0] = True
        if close == "}":
            out.append(orjson.dumps(item[0]).decode() + ":")
            item = item[1]
        if isinstance(item, dict):
            out.append("{")
            stack.append((iter(item.items()), "}", [False]))
        elif isinstance(item, list):
            out.append("[")
            stack.append((iter(item), "]", [False]))
        else:
            out.append(orjson.dumps(item, option=orjson.OPT_UTC_Z).decode())
    return "".join(out)


def _any_scalar(value: object) -> object:
    """Any value as a JSON scalar: text for what JSON cannot hold exactly."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if abs(value) <= SAFE_INTEGER else int_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"x'{bytes(value).hex()}'"
    return str(value)


@dataclass(frozen=True, slots=True)
class Locator:
    """Where a piece of evidence sits: a file of the acquisition and a place inside it.

    ``acquisition`` is the position of the acquisition in a check of several (``vestige check A B``);
    a check of one leaves it out, so the same evidence has the same locator, and its findings the
    same ids, whatever the shape of the acquisition it came in. A SQLite row is named by ``row`` (its
    rowid, or the integer key that aliases it); see ``of_row`` for a row keyed by anything else. A
    packet of a capture is named by ``packet``, its number counted from 1 as Wireshark numbers frames
    (``offset`` may add the byte offset of its record in the uncompressed capture).
    """

    path: str
    sha256: str | None
    table: str | None = None
    row: int | None = None
    line: int | None = None
    offset: int | None = None
    key: str | None = None
    acquisition: int | None = None
    packet: int | None = None

    @classmethod
    def of_row(cls, path: str, sha256: str | None, table: str, column: str, value: object) -> Locator:
        """The row of ``table`` whose key ``column`` holds ``value``: ``row`` when the key is an integer, as it
        is in every real database (the rowid or a column aliasing it). A crafted table may declare its key
        BLOB or TEXT, so any other value is named in ``key`` as SQL (``ROWID = x'01'``, ``ROWID IS NULL``):
        the row is still told apart from its neighbours, and no value can break a finding's id."""
        if type(value) is int:
            return cls(path, sha256, table, value)
        if value is None:
            return cls(path, sha256, table, key=f"{column} IS NULL")
        return cls(path, sha256, table, key=f"{column} = {sql_literal(value)}")

    def as_json(self) -> dict[str, JSON]:
        """The parts as findings.json writes them: integers beyond ±(2^53 − 1) as their text, which canonical
        JSON keeps exact, and any value a part was not meant to hold (a plugin's BLOB row) as SQL text."""
        out = self.parts()
        for name, value in out.items():
            if isinstance(value, str) or value is None:
                continue
            if isinstance(value, int) and not isinstance(value, bool) and -SAFE_INTEGER <= value <= SAFE_INTEGER:
                continue
            out[name] = sql_literal(value)
        return out

    def parts(self) -> dict[str, JSON]:
        """The locator's set parts as they are (for JSON Lines, which keep 64-bit integers exact)."""
        out: dict[str, JSON] = {"path": self.path, "sha256": self.sha256}
        if self.table is not None:
            out["table"] = self.table
        if self.row is not None:
            out["row"] = self.row
        if self.line is not None:
            out["line"] = self.line
        if self.offset is not None:
            out["offset"] = self.offset
        if self.key is not None:
            out["key"] = self.key
        if self.packet is not None:
            out["packet"] = self.packet
        if self.acquisition is not None:
            out["acquisition"] = self.acquisition
        return out


def format_time(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with microseconds and a ``Z``: the one time format of every output. A naive time is
    taken as UTC (as a plist date is), never as the examiner's local time; a time at the edge of the
    calendar that UTC cannot hold keeps its own offset."""
    if moment is None:
        return None
    if moment.tzinfo is not timezone.utc:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        else:
            try:
                moment = moment.astimezone(timezone.utc)
            except OverflowError:
                return moment.isoformat(timespec="microseconds")
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"  # without its "+00:00"


class RecordPayload(Protocol):
    """What a record holds: a frozen, slotted dataclass, one per record kind (``SafariVisit``,
    ``DataUsageProcess``, ...), so that type checkers see every field a detector reads."""

    __dataclass_fields__: ClassVar[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Record:
    """One parsed item of an artifact (a visit, a message, a process row), with no judgement.

    ``payload`` is the item's typed content. ``time_kind`` says what ``time`` is (``visit time``,
    ``message date``, ...): the timeline's ``timestamp_desc``. ``cites`` names other evidence that a
    finding about the record must cite with its locator (a Manifest.db row cites the file it lists,
    whose content a hash describes).
    """

    artifact: str
    locator: Locator
    time: datetime | None
    summary: str
    payload: RecordPayload
    observables: tuple[Observable, ...] = ()
    time_kind: str = "event time"
    cites: tuple[Locator, ...] = ()


@dataclass(frozen=True, slots=True)
class IndicatorMatch:
    """An indicator that names an observable, with the set and collection it came from."""

    value: str
    type: str
    collection: str
    set_name: str
    set_sha256: str

    def as_json(self) -> dict[str, JSON]:
        return {
            "value": self.value,
            "type": self.type,
            "collection": self.collection,
            "set": self.set_name,
            "set_sha256": self.set_sha256,
        }


class IndicatorLookup(Protocol):
    """What a detector may ask of the indicator index: the indicators that name an observable."""

    def match(self, observable: Observable) -> tuple[IndicatorMatch, ...]: ...


@dataclass(frozen=True, slots=True)
class Evidence:
    """A locator cited by a finding, with a short excerpt a person can read."""

    locator: Locator
    excerpt: str

    def as_json(self) -> dict[str, JSON]:
        return {"locator": self.locator.as_json(), "excerpt": self.excerpt}


@dataclass(frozen=True, slots=True)
class Finding:
    """What was seen, why it matters, what else could explain it, and the evidence for it."""

    rule: str
    severity: Severity
    title: str
    explanation: str
    caveats: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    indicators: tuple[IndicatorMatch, ...] = ()
    time: datetime | None = None

    @property
    def id(self) -> str:
        """A digest of the rule, the cited locators and the indicator values: stable across runs."""
        return finding_id(
            self.rule, [e.locator.as_json() for e in self.evidence], [f"{m.type}={m.value}" for m in self.indicators]
        )

    def as_json(self) -> dict[str, JSON]:
        return {
            "id": self.id,
            "rule": self.rule,
            "severity": self.severity.label,
            "title": self.title,
            "explanation": self.explanation,
            "caveats": list(self.caveats),
            "time": format_time(self.time),
            "evidence": [e.as_json() for e in self.evidence],
            "indicators": [m.as_json() for m in self.indicators],
        }


def finding_id(rule: str, locators: list[dict[str, JSON]], indicators: list[str]) -> str:
    """The id of a finding: the first 20 hex digits of the SHA-256 of its rule, its evidence locators
    (as findings.json writes them) and its indicators (``type=value``, distinct, sorted), in RFC 8785
    canonical JSON. A locator part canonical JSON cannot hold (a plugin's BLOB) counts as its text."""
    basis: JSON = {
        "rule": rule,
        "evidence": list[JSON](locators),
        "indicators": list[JSON](sorted(set(indicators))),
    }
    try:
        canonical = rfc8785.dumps(basis)
    except rfc8785.CanonicalizationError:
        canonical = rfc8785.dumps(json_tree(basis, _any_scalar))
    return hashlib.sha256(canonical).hexdigest()[:20]


@dataclass(frozen=True, slots=True)
class Problem:
    """Input that could not be read: which artifact, which file, and why. The run carries on.

    ``acquisition``, as in ``Locator``, is the position of the acquisition in a check of several.
    """

    artifact: str
    path: str
    reason: str
    acquisition: int | None = None

    def as_json(self) -> dict[str, JSON]:
        out: dict[str, JSON] = {"artifact": self.artifact, "path": self.path, "reason": self.reason}
        if self.acquisition is not None:
            out["acquisition"] = self.acquisition
        return out
