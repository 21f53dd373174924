"""JSON for values read from evidence, which may hold what JSON cannot.

Records carry fields as the evidence stores them: a SQLite column declared TEXT may hold a BLOB, a
property list may hold a 128-bit integer, a corrupt float column may hold NaN. None of that may stop
a report. Bytes become ``{"base64": ...}``; integers beyond what the output format keeps exactly
(64 bits for the JSON Lines files, ±(2^53 − 1) for canonical ``findings.json``, per I-JSON, RFC 7493)
become their decimal text; non-finite floats become ``null`` in JSON Lines (orjson's rule) and their
text in ``findings.json``.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from vestige.model import JSON, SAFE_INTEGER, Record, RecordPayload

_INT64 = (-(2**63), 2**64 - 1)  # orjson writes unsigned 64-bit integers too


def dumps(value: object, option: int) -> bytes:
    """The JSON of ``value`` for a JSON Lines file, whatever the evidence put in it."""
    try:
        return orjson.dumps(value, default=_default, option=option)
    except TypeError:  # an integer beyond 64 bits; rare enough to pay for a second pass
        return orjson.dumps(_bounded(value, *_INT64), default=_default, option=option)


def i_json(value: JSON) -> JSON:
    """``value`` with every number an RFC 8785 serialiser can write exactly."""
    return _bounded(value, -SAFE_INTEGER, SAFE_INTEGER)  # type: ignore[no-any-return]


def _default(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"base64": base64.b64encode(value).decode("ascii")}
    return str(value)  # e.g. a property list UID: its text is what an analyst would want to see


def _bounded(value: Any, low: int, high: int) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if low <= value <= high else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) or high != SAFE_INTEGER else str(value)
    if isinstance(value, Mapping):
        return {key: _bounded(item, low, high) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_bounded(item, low, high) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # as orjson writes one: every field
        return {field.name: _bounded(getattr(value, field.name), low, high) for field in dataclasses.fields(value)}
    return value


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
