"""The shared vocabulary of vestige: severities, observables, locators, records, findings.

Pure data with no I/O. Every layer speaks in these types: readers yield ``Record`` objects that cite
their ``Locator``; the indicator engine answers ``IndicatorMatch`` tuples; detectors yield
``Finding`` objects; renderers turn them into files. ``as_json`` gives the JSON-able form that the
report layer serialises (RFC 8785 for findings.json).
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol, TypeAlias, Union

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


@dataclass(frozen=True, slots=True)
class Locator:
    """Where a piece of evidence sits: a file of the acquisition and a place inside it."""

    path: str
    sha256: str | None
    table: str | None = None
    row: int | None = None
    line: int | None = None
    offset: int | None = None
    key: str | None = None

    def as_json(self) -> dict[str, JSON]:
        """Row ids and offsets beyond ±(2^53 − 1) are written as text, which canonical JSON keeps exact."""
        out = self.parts()
        for name in ("row", "line", "offset"):
            value = out.get(name)
            if isinstance(value, int) and abs(value) > SAFE_INTEGER:
                out[name] = str(value)
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
        return out


def format_time(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with microseconds and a ``Z``: the one time format of every output."""
    if moment is None:
        return None
    if moment.tzinfo is not timezone.utc:
        moment = moment.astimezone(timezone.utc)
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"  # without its "+00:00"


@dataclass(frozen=True, slots=True)
class Record:
    """One parsed item of an artifact (a visit, a message, a process row), with no judgement.

    ``time_kind`` says what ``time`` is (``visit time``, ``message date``, ...): the timeline's
    ``timestamp_desc``. ``cites`` names other evidence that a finding about the record must cite
    with its locator (a Manifest.db row cites the file it lists, whose content a hash describes).
    """

    artifact: str
    locator: Locator
    time: datetime | None
    summary: str
    fields: Mapping[str, JSON] = field(default_factory=dict)
    observables: tuple[Observable, ...] = ()
    time_kind: str = "event time"
    cites: tuple[Locator, ...] = ()

    def as_json(self) -> dict[str, JSON]:
        return {
            "artifact": self.artifact,
            "locator": self.locator.as_json(),
            "time": format_time(self.time),
            "time_kind": self.time_kind,
            "summary": self.summary,
            "fields": dict(self.fields),
            "observables": [{"kind": o.kind.value, "value": o.value} for o in self.observables],
            "cites": [c.as_json() for c in self.cites],
        }


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
        basis: JSON = {
            "rule": self.rule,
            "evidence": [e.locator.as_json() for e in self.evidence],
            "indicators": list[JSON](sorted({f"{m.type}={m.value}" for m in self.indicators})),
        }
        return hashlib.sha256(rfc8785.dumps(basis)).hexdigest()[:20]

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


@dataclass(frozen=True, slots=True)
class Problem:
    """Input that could not be read: which artifact, which file, and why. The run carries on."""

    artifact: str
    path: str
    reason: str

    def as_json(self) -> dict[str, JSON]:
        return {"artifact": self.artifact, "path": self.path, "reason": self.reason}
