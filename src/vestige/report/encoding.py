"""JSON for values read from evidence, which may hold what JSON cannot.

Records carry fields as the evidence stores them: a SQLite column declared TEXT may hold a BLOB, a
property list may hold a 128-bit integer, keys that are not text, values nested past any recursion
limit or looping back on themselves, a corrupt float column may hold NaN. None of that may stop a
report, and nothing is dropped: bytes become ``{"base64": ...}``; integers beyond what the output
format keeps exactly (64 bits for the JSON Lines files, ±(2^53 − 1) for canonical ``findings.json``,
per I-JSON, RFC 7493) become their text (``model.int_text``); non-finite floats become ``null`` in
JSON Lines (orjson's rule) and their text in ``findings.json``; a mapping with keys that are not
text, a cycle and a nesting deeper than ``model.JSON_DEPTH`` are written as ``model.json_tree`` says.
Records are written by orjson at full speed; only a value orjson refuses takes the slower, total path.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import functools
import math
import operator
import uuid
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any

import orjson

from vestige.model import JSON, SAFE_INTEGER, Record, RecordPayload, int_text, json_tree

_INT64 = (-(2**63), 2**64 - 1)  # orjson writes unsigned 64-bit integers too
_NATIVE = (datetime, date, time, uuid.UUID, enum.Enum)
"""Scalars orjson writes itself (a record's time is a ``datetime``, written in UTC)."""


def dumps(value: object, option: int) -> bytes:
    """The JSON of ``value`` for a JSON Lines file, whatever the evidence put in it."""
    try:
        return orjson.dumps(value, default=_default, option=option)
    except TypeError:  # an integer beyond 64 bits, a key that is not text, a cycle, 255 levels: rare
        return orjson.dumps(_bounded(value, *_INT64), default=_default, option=option)


def i_json(value: JSON) -> JSON:
    """``value`` with every number an RFC 8785 serialiser can write exactly."""
    return _bounded(value, -SAFE_INTEGER, SAFE_INTEGER)  # type: ignore[no-any-return]


def _default(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"base64": base64.b64encode(value).decode("ascii")}
    return str(value)  # e.g. a property list UID: its text is what an analyst would want to see


def _bounded(value: Any, low: int, high: int) -> Any:
    """``value`` as a tree orjson (and RFC 8785) writes whole, integers outside ``[low, high]`` as text."""
    return json_tree(value, functools.partial(_scalar, low, high))


def _scalar(low: int, high: int, value: object) -> object:
    if isinstance(value, str):
        return _utf8(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if low <= value <= high else int_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) or high != SAFE_INTEGER else str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return _default(value)
    if isinstance(value, _NATIVE):
        return value
    return _text(value)


def _utf8(text: str) -> str:
    """``text`` as UTF-8 holds it: a lone surrogate (as Python keeps a byte it could not decode) becomes its
    escape, ``\\udcff``, rather than stopping orjson."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode()
    return text


def _text(value: object) -> str:
    """The text of a value orjson does not know (``_default``'s rule), for a value whose ``str`` fails."""
    try:
        return str(value)
    except (ValueError, RecursionError) as error:
        return f"<{type(value).__name__}: {error}>"


def payload_json(payload: RecordPayload) -> bytes | None:
    """The JSON of a record's payload, to be written once for both lines of the record (``records_line``'s
    ``fields`` and the fields ``timeline.record_line`` splices in), or None where the two lines would not
    write the same bytes (a payload holding a time: they write times with different options) or where
    orjson refuses it (each line then takes ``dumps``'s slower path, as it would have).

    orjson writes a slotted dataclass (every record payload) attribute by attribute, five times slower than
    a dict of the same fields: written once, not twice. The payload is written inside a one-element array,
    at the depth the records line holds it, so that it fails here exactly where it would fail there
    (orjson's nesting limit)."""
    try:
        return orjson.dumps((payload,), default=_default_but_time, option=orjson.OPT_PASSTHROUGH_DATETIME)[1:-1]
    except TypeError:
        return None


def _default_but_time(value: object) -> object:
    if isinstance(value, _TIMES):
        raise TypeError("a time: written by each line with its own option")
    return _default(value)


_TIMES = (datetime, date, time)


def record_json(record: Record, locator: dict[str, JSON], acquisition: int | None = None) -> dict[str, object]:
    """A record as a line of ``records/<artifact>.jsonl`` holds it (the time stays a ``datetime``, which
    orjson writes in UTC, and the payload a dataclass, which orjson writes field by field): built here
    rather than by orjson from the record, which is slower. ``locator`` is the record's locator parts
    (built once by the caller for the timeline too); ``acquisition`` is added to the cited locators."""
    cites = [c.parts() for c in record.cites]
    if acquisition is not None:
        for cited in cites:
            cited["acquisition"] = acquisition
    return {
        "artifact": record.artifact,
        "locator": locator,
        "time": record.time,
        "time_kind": record.time_kind,
        "summary": record.summary,
        "type": type(record.payload).__name__,
        "fields": record.payload,
        "observables": [{"kind": o.kind, "value": o.value} for o in record.observables],  # orjson writes the value
        "cites": cites,
    }


RECORDS_LINE = orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE
"""How a line of ``records/<artifact>.jsonl`` is written."""


def records_line(
    record: Record, locator: dict[str, JSON], acquisition: int | None = None, fields: bytes | None = None
) -> bytes:
    """``record_json``'s line, written as ``dumps`` writes it with ``RECORDS_LINE``. ``fields`` is the
    payload's JSON from ``payload_json``, if the caller has it: the line is then the same bytes, written
    without writing the payload again (where orjson refuses something else in the line, the line is
    written as it would have been, the payload with it)."""
    line = record_json(record, locator, acquisition)
    if fields is not None:
        line["fields"] = orjson.Fragment(fields)
        try:
            return orjson.dumps(line, default=_default, option=RECORDS_LINE)
        except TypeError:  # text that is not UTF-8, a wide integer... elsewhere in the line: rare
            line["fields"] = record.payload
    return dumps(line, RECORDS_LINE)


@functools.cache
def _payload_reader(kind: type) -> tuple[tuple[str, ...], Callable[[object], Any]]:
    """The field names of a record payload type, and one C-level getter of all their values."""
    names = tuple(f.name for f in dataclasses.fields(kind))
    return names, operator.attrgetter(*names) if names else (lambda _: ())


def payload_dict(payload: RecordPayload) -> dict[str, object]:
    """A record payload's fields by name (for the timeline, hundreds of thousands of times a run)."""
    names, values = _payload_reader(type(payload))
    if len(names) == 1:
        return {names[0]: values(payload)}
    return dict(zip(names, values(payload), strict=True))
