"""The shared vocabulary of vestige: severities, observables, locators, records, findings.

Pure data with no I/O. Every layer speaks in these types: readers yield ``Record`` objects that cite
their ``Locator`` and carry a typed payload (one frozen dataclass per record kind, defined by the
artifact that reads it); the indicator engine answers ``IndicatorMatch`` tuples; detectors yield
``Finding`` objects; renderers turn them into files. ``as_json`` gives the JSON-able form that the
report layer serialises (RFC 8785 for findings.json).
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar, Protocol, TypeAlias, Union

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
    """Where a piece of evidence sits: a file of the acquisition and a place inside it.

    ``acquisition`` is the position of the acquisition in a check of several (``vestige check A B``);
    a check of one leaves it out, so the same evidence has the same locator, and its findings the
    same ids, whatever the shape of the acquisition it came in.
    """

    path: str
    sha256: str | None
    table: str | None = None
    row: int | None = None
    line: int | None = None
    offset: int | None = None
    key: str | None = None
    acquisition: int | None = None

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
        if self.acquisition is not None:
            out["acquisition"] = self.acquisition
        return out


def format_time(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with microseconds and a ``Z``: the one time format of every output."""
    if moment is None:
        return None
    if moment.tzinfo is not timezone.utc:
        moment = moment.astimezone(timezone.utc)
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
    canonical JSON."""
    basis: JSON = {
        "rule": rule,
        "evidence": list[JSON](locators),
        "indicators": list[JSON](sorted(set(indicators))),
    }
    return hashlib.sha256(rfc8785.dumps(basis)).hexdigest()[:20]


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
