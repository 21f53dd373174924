"""The Artifact contract, and the wording of indicator-match findings that every artifact shares.

An artifact is a module that declares ``NAME``, ``KINDS`` (acquisition kinds it reads), ``PATHS``
(paths or globs in the acquisition), ``DESCRIPTION`` and ``MATCHES`` (how an indicator match on its
records is worded and how severe it is), and defines two functions:

- ``parse(acquisition, path)`` yields the records of one file, extraction only. The engine calls it
  once per file that ``PATHS`` selects, so one corrupt file never hides the others.
- ``detect(records, indicators)`` consumes the stream of all records of the artifact (the engine
  writes and matches each record as it passes through) and yields the findings of the artifact's own
  heuristics, keeping only the state it needs. ``indicators`` answers which indicators name an
  observable, for a heuristic that weighs a match (a redirect to a host an indicator names).

An artifact that reads the acquisition's listing itself (``ios.manifest``: a record per entry) is
an ``EntryArtifact``: the engine runs it inside the hashing pass, on each partition of entries where
it was hashed, so the listing is read once. Its detector is split in two: ``tally`` sums up one
partition's records, ``conclude`` turns the tallies of all partitions, in order, into findings.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from vestige.evidence.acquisition import Acquisition, EvidenceFile
from vestige.model import (
    Evidence,
    Finding,
    IndicatorLookup,
    IndicatorMatch,
    Observable,
    ObservableKind,
    Record,
    Severity,
)

EXCERPT_LIMIT = 200

_KIND_NOUNS = {
    ObservableKind.DOMAIN: "domain",
    ObservableKind.IP: "IP address",
    ObservableKind.URL: "URL",
    ObservableKind.PROCESS: "process name",
    ObservableKind.EMAIL: "email address",
    ObservableKind.FILE_NAME: "file name",
    ObservableKind.FILE_PATH: "file path",
    ObservableKind.MD5: "MD5 hash",
    ObservableKind.SHA1: "SHA-1 hash",
    ObservableKind.SHA256: "SHA-256 hash",
    ObservableKind.APP_ID: "app identifier",
    ObservableKind.APP_CERT: "signing certificate hash",
    ObservableKind.PROFILE_ID: "configuration profile identifier",
    ObservableKind.ANDROID_PROPERTY: "system property",
}

_KIND_CAVEATS = {
    ObservableKind.DOMAIN: (
        "A domain on an indicator list can be reached without any infection: a link opened by mistake, "
        "a researcher's visit, or a domain that changed owner after the campaign; compare the time with "
        "the campaign's known period.",
    ),
    ObservableKind.URL: (
        "A URL on an indicator list can be reached without any infection (a link opened by mistake or "
        "a researcher's visit).",
    ),
    ObservableKind.IP: ("IP addresses are reassigned; an address on an old indicator list may now be innocent.",),
    ObservableKind.PROCESS: (
        "Some indicator process names imitate Apple daemons by one letter; confirm the exact spelling.",
    ),
    ObservableKind.EMAIL: (
        "A lookup of an address means the phone was asked about that account; it is not itself an infection.",
    ),
    ObservableKind.FILE_NAME: ("A file name alone can collide with an innocent file of the same name.",),
}


@dataclass(frozen=True, slots=True)
class MatchPolicy:
    """How an indicator match on an artifact's records is worded and how severe it is."""

    severity: Severity
    subject: str
    caveats: tuple[str, ...] = ()

    def finding(self, record: Record, observable: Observable, matches: tuple[IndicatorMatch, ...]) -> Finding:
        noun = _KIND_NOUNS[observable.kind]
        named = {m.collection for m in matches if m.collection != m.set_name}
        collections = sorted(named or {m.collection for m in matches})
        named_by = "; ".join(sorted({f"{m.type} '{m.value}' in {m.collection} (set {m.set_name})" for m in matches}))
        return Finding(
            rule=f"{record.artifact}.indicator_match",
            severity=self.severity,
            title=f"{self.subject} involves the {noun} {observable.value}, named by a {' / '.join(collections)} "
            "indicator",
            explanation=(
                f"{record.summary}. The {noun} {observable.value} is named by an indicator of compromise: {named_by}."
            ),
            caveats=self.caveats + _KIND_CAVEATS.get(observable.kind, ()),
            evidence=(
                Evidence(record.locator, excerpt(record.summary)),
                *(Evidence(cited, excerpt(f"{cited.path}, as {record.summary}")) for cited in record.cites),
            ),
            indicators=tuple(sorted(set(matches), key=lambda m: (m.set_name, m.collection, m.type, m.value))),
            time=record.time,
        )


def excerpt(text: str, limit: int = EXCERPT_LIMIT) -> str:
    """A short, single-line excerpt of evidence text."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class Artifact(Protocol):
    """What the analysis engine expects of an artifact module (its constants are read-only)."""

    @property
    def NAME(self) -> str: ...  # noqa: N802

    @property
    def KINDS(self) -> tuple[str, ...]: ...  # noqa: N802

    @property
    def PATHS(self) -> tuple[str, ...]: ...  # noqa: N802

    @property
    def DESCRIPTION(self) -> str: ...  # noqa: N802

    @property
    def MATCHES(self) -> MatchPolicy: ...  # noqa: N802

    def parse(self, acquisition: Acquisition, path: str) -> Iterator[Record]: ...

    def detect(self, records: Iterable[Record], indicators: IndicatorLookup) -> Iterator[Finding]: ...


@runtime_checkable
class EntryArtifact(Artifact, Protocol):
    """An artifact whose records come from the acquisition's entries, read as they are hashed."""

    def parse_entries(self, acquisition: Acquisition, entries: Iterable[EvidenceFile]) -> Iterator[Record]: ...

    def tally(self, records: Iterable[Record]) -> object:
        """What the detector needs of one partition's records: small and picklable."""

    def conclude(self, tallies: Sequence[Any]) -> Iterator[Finding]:
        """The findings of every partition's tally (each what this artifact's ``tally`` returned)."""
