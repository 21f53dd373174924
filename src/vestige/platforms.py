"""Platforms: what a platform package declares, and the registry that finds them.

A platform package (``vestige.ios`` today; network captures, cellular logs and Android next) exposes
one ``Platform``: its acquisition kinds (a name, how a source is recognised, the reader), its
artifacts and its correlators. The engine, the custody layer and the CLI know kinds, artifacts and
correlators only through a ``Registry``, which loads the built-in platforms and every entry point of
the ``vestige.platforms`` group (``name = "package.module:PLATFORM"``), so a separate package adds a
platform without a change here. Platforms are loaded by name, never imported by this module, so
platform packages may import the contracts below.

The contracts (ARCHITECTURE.md, "The contracts"):

- an ``Artifact`` is a module declaring ``NAME``, ``VERSION`` (bumped when its output changes, so
  that stored results can be told stale), ``PATHS`` per acquisition kind, ``DESCRIPTION`` and
  ``MATCHES``, with ``parse(acquisition, path)`` (extraction only) and ``detect(records,
  indicators)`` (its own heuristics);
- a ``ListingArtifact`` reads the acquisition's entries themselves, in the pass that hashes them
  (``parse_entries`` on each partition of the listing; ``tally``/``conclude`` split its detector);
  its records are the entries that ``manifest.jsonl`` already holds, so they are matched, detected
  and put on the timeline, but not written again under ``records/``;
- a ``ShardedArtifact`` splits the reading of one file into a fixed number of ``SHARDS`` that share
  nothing (a capture's flows, by a hash of their addresses and ports): the engine runs each shard as
  a task of its own, in parallel when there are workers, and writes their records one shard after the
  other, so the output is the same whatever the number of workers;
- a ``Correlator`` declares the record types it ``NEEDS`` and keeps only what ``select`` accepts; it
  runs after the artifacts, over one acquisition or every acquisition of a check (``SCOPE``), on
  those records and the findings made so far, and cites every record it joins;
- an ``AcquisitionKind`` whose files are sequences of records (the packets of a capture, the frames
  of a baseband log) declares their ``Units``, so that a case binds every unit in the item's signed
  Merkle tree and a disclosure reveals only the units its findings cite.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

from vestige.evidence.acquisition import Acquisition, EvidenceFile
from vestige.evidence.errors import NotAnAcquisitionError
from vestige.evidence.sources import ArchiveLimits, Source, open_source
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

ENTRY_POINTS = "vestige.platforms"
BUILT_IN = (
    "vestige.ios.platform:PLATFORM",
    "vestige.network.platform:PLATFORM",
    "vestige.cellular.platform:PLATFORM",
    "vestige.correlations.platform:PLATFORM",
)
"""The platforms shipped with vestige, loaded by name like any plug-in."""

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

KIND_CAVEATS: Mapping[ObservableKind, tuple[str, ...]] = {
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
    ObservableKind.EMAIL: (
        "A lookup of an address means the phone was asked about that account; it is not itself an infection.",
    ),
    ObservableKind.FILE_NAME: ("A file name alone can collide with an innocent file of the same name.",),
}
"""Innocent explanations of a match that hold on every platform; a platform adds its own per artifact."""


@dataclass(frozen=True, slots=True)
class MatchPolicy:
    """How an indicator match on an artifact's records is worded and how severe it is.

    ``kind_caveats`` adds the platform's own innocent explanations for some observable kinds (on
    iOS, indicator process names that imitate Apple daemons).
    """

    severity: Severity
    subject: str
    caveats: tuple[str, ...] = ()
    kind_caveats: Mapping[ObservableKind, tuple[str, ...]] | None = None

    def finding(self, record: Record, observable: Observable, matches: tuple[IndicatorMatch, ...]) -> Finding:
        noun = _KIND_NOUNS[observable.kind]
        named = {m.collection for m in matches if m.collection != m.set_name}
        collections = sorted(named or {m.collection for m in matches})
        named_by = "; ".join(sorted({f"{m.type} '{m.value}' in {m.collection} (set {m.set_name})" for m in matches}))
        own = (self.kind_caveats or {}).get(observable.kind, ())
        return Finding(
            rule=f"{record.artifact}.indicator_match",
            severity=self.severity,
            title=f"{self.subject} involves the {noun} {observable.value}, named by a {' / '.join(collections)} "
            "indicator",
            explanation=(
                f"{record.summary}. The {noun} {observable.value} is named by an indicator of compromise: {named_by}."
            ),
            caveats=self.caveats + own + KIND_CAVEATS.get(observable.kind, ()),
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
    """What the engine expects of an artifact module (its constants are read-only)."""

    @property
    def NAME(self) -> str: ...  # noqa: N802

    @property
    def VERSION(self) -> int: ...  # noqa: N802

    @property
    def PATHS(self) -> Mapping[str, tuple[str, ...]]:  # noqa: N802
        """Paths or globs (``*`` may span ``/``) in the acquisition, per acquisition kind it reads."""

    @property
    def DESCRIPTION(self) -> str: ...  # noqa: N802

    @property
    def MATCHES(self) -> MatchPolicy: ...  # noqa: N802

    def parse(self, acquisition: Acquisition, path: str) -> Iterator[Record]: ...

    def detect(self, records: Iterable[Record], indicators: IndicatorLookup) -> Iterator[Finding]: ...


@runtime_checkable
class ListingArtifact(Artifact, Protocol):
    """An artifact whose records are the acquisition's entries, read where each partition is hashed."""

    def parse_entries(self, acquisition: Acquisition, entries: Iterable[EvidenceFile]) -> Iterator[Record]: ...

    def tally(self, records: Iterable[Record]) -> object:
        """What the detector needs of one partition's records: small and picklable."""

    def conclude(self, tallies: Sequence[Any]) -> Iterator[Finding]:
        """The findings of every partition's tally (each what this artifact's ``tally`` returned)."""


@runtime_checkable
class ShardedArtifact(Artifact, Protocol):
    """An artifact whose reading of a file splits into ``SHARDS`` independent parts.

    ``parse_shard(acquisition, path, shard)`` gives the records of one shard (``0 <= shard < SHARDS``),
    and ``detect`` runs on each shard's records alone, so a shard must hold everything a finding of its
    own needs (for a capture: whole flows). ``SHARDS`` is fixed by the artifact, never by the machine, so
    that records and findings do not depend on how many workers ran them. ``parse`` still reads the whole
    file in one pass, for callers outside the engine."""

    @property
    def SHARDS(self) -> int: ...  # noqa: N802

    def parse_shard(self, acquisition: Acquisition, path: str, shard: int) -> Iterator[Record]: ...


ACQUISITION_SCOPE = "acquisition"
CHECK_SCOPE = "check"


class Correlator(Protocol):
    """A detector that joins records of several artifacts (or acquisitions) and the findings so far."""

    @property
    def NAME(self) -> str: ...  # noqa: N802

    @property
    def VERSION(self) -> int: ...  # noqa: N802

    @property
    def DESCRIPTION(self) -> str: ...  # noqa: N802

    @property
    def NEEDS(self) -> tuple[type, ...]:  # noqa: N802
        """The record payload types it joins."""

    @property
    def SCOPE(self) -> str:  # noqa: N802
        """``acquisition`` (each acquisition alone) or ``check`` (all acquisitions of a check together)."""

    def select(self, record: Record) -> bool:
        """Whether to keep a record of a needed type (what the correlator cannot use is never kept)."""

    def correlate(
        self, records: Sequence[Record], findings: Sequence[Finding], indicators: IndicatorLookup
    ) -> Iterator[Finding]: ...


Recogniser = Callable[[Source], Source | None]
"""Given a source, the source of this kind's acquisition (the same, or a view of one folder inside it)
when it holds one, else None; raises an ``EvidenceError`` for one it cannot read (an encrypted backup)."""


class Units(Protocol):
    """The disclosable units of a kind's files: the packets of a capture, the frames of a baseband log.

    Each unit is given as its canonical bytes (every field a verifier must see, in one reading: for a
    packet its link type, time, original length and captured bytes). A case makes each unit a salted
    leaf of a Merkle tree whose root is bound in the file's leaf of the item (``custody/items.py``),
    and a disclosure writes the units its findings cite as a small file of the same field (a pcapng a
    court's expert opens in Wireshark) with their inclusion proofs; the verifier reads that file back
    with ``read_written``, so what is proven is what the reader of the file sees, never a side table.
    Numbers count units from 1 in file order, as the analysis numbers them in its locators.
    """

    @property
    def locator(self) -> str:
        """The ``Locator`` field a finding names a unit by (``packet``), holding its number."""

    @property
    def noun(self) -> str:
        """What one unit is called in a sentence (``packet``)."""

    @property
    def suffix(self) -> str:
        """Added to a file's path to name the file of its disclosed units (``.packets.pcapng``)."""

    def divides(self, path: str) -> bool:
        """Whether the file at ``path`` of an acquisition of this kind is made of units."""

    def read(self, stream: IO[bytes], name: str) -> Iterator[bytes]:
        """The canonical bytes of each unit of an acquired file, in order. It stops, without raising,
        at the first unit that cannot be read (a capture cut in the middle of a record): the units
        before it are numbered as the analysis numbers them, and the file's SHA-256 covers the rest."""

    def write(self, units: Iterable[bytes], out: IO[bytes]) -> None:
        """Writes units (canonical bytes, as ``read`` gives them) as a file the field's tools open."""

    def read_written(self, stream: IO[bytes], name: str) -> Iterator[bytes]:
        """The canonical bytes of the units of a file ``write`` made, in order. Anything else, or a
        broken or cut file, raises ``UnexpectedFormatError`` naming ``name``: a verifier never proves
        part of what it was given."""


@dataclass(frozen=True)
class AcquisitionKind:
    """A kind of acquisition: its name, what it looks like, how to recognise it and how to read it,
    and, when its files are sequences of records a disclosure may reveal one by one, their units."""

    name: str
    description: str
    recognise: Recogniser
    read: Callable[[Source], Acquisition]
    units: Units | None = None


@dataclass(frozen=True)
class Platform:
    """What a platform package exposes to the registry."""

    name: str
    kinds: tuple[AcquisitionKind, ...]
    artifacts: tuple[Artifact, ...]
    correlators: tuple[Correlator, ...] = ()


class PlatformError(Exception):
    """A platform that cannot be loaded, or two that claim the same name."""


@dataclass(frozen=True)
class Recognised:
    """A path recognised as an acquisition: its kind and its source (perhaps a view of one folder of what
    the path holds). The caller closes it, or hands the source to a reader, which closes it."""

    kind: AcquisitionKind
    source: Source

    def __enter__(self) -> Recognised:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.source.root.close()


class Registry:
    """The platforms of one run. Built per command (``discover``) and handed down, never global."""

    def __init__(self, platforms: Sequence[Platform]) -> None:
        for label, values in (
            ("platform", [p.name for p in platforms]),
            ("acquisition kind", [k.name for p in platforms for k in p.kinds]),
            ("artifact", [a.NAME for p in platforms for a in p.artifacts]),
            ("correlator", [c.NAME for p in platforms for c in p.correlators]),
        ):
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                raise PlatformError(f"the {label} {repeated[0]!r} is declared twice")
        self.platforms = tuple(platforms)
        self._kinds = {k.name: k for p in platforms for k in p.kinds}

    @classmethod
    def discover(cls) -> Registry:
        """The built-in platforms, then each ``vestige.platforms`` entry point, by name."""
        platforms = [load_platform(reference) for reference in BUILT_IN]
        known = {p.name for p in platforms}
        for point in sorted(entry_points(group=ENTRY_POINTS), key=lambda p: p.name):
            platform = load_platform(point.value, f"entry point {point.name!r} of {ENTRY_POINTS}")
            if platform.name not in known:
                known.add(platform.name)
                platforms.append(platform)
        return cls(platforms)

    @property
    def kinds(self) -> tuple[AcquisitionKind, ...]:
        return tuple(self._kinds.values())

    def kind(self, name: str) -> AcquisitionKind:
        try:
            return self._kinds[name]
        except KeyError:
            raise NotAnAcquisitionError(f"no platform of this vestige reads acquisitions of kind {name!r}") from None

    def artifacts_for(self, kind: str) -> tuple[Artifact, ...]:
        """The artifacts that read ``kind``, in the order their platforms list them."""
        return tuple(a for p in self.platforms for a in p.artifacts if kind in a.PATHS)

    def correlators_for(self, kinds: Iterable[str], scope: str) -> tuple[Correlator, ...]:
        """The correlators of ``scope`` that apply to acquisitions of ``kinds``: those of the platforms
        that read one of the kinds, and for the whole check those of every platform (a correlator
        that joins a backup with a capture belongs to neither platform alone)."""
        wanted = set(kinds)
        found: list[Correlator] = []
        for platform in self.platforms:
            if scope == CHECK_SCOPE or wanted & {k.name for k in platform.kinds}:
                found.extend(c for c in platform.correlators if scope == c.SCOPE)
        return tuple(found)

    def recognise(self, path: Path, limits: ArchiveLimits | None = None) -> Recognised:
        """The kind of acquisition at ``path`` and its source; refuses clearly what no platform reads."""
        source = open_source(path, limits)
        try:
            for kind in self._kinds.values():
                found = kind.recognise(source)
                if found is not None:
                    return Recognised(kind, found)
        except BaseException:
            source.close()
            raise
        source.close()
        expected = "; ".join(k.description for k in self._kinds.values())
        raise NotAnAcquisitionError(f"{path}: not an acquisition vestige can read ({expected})")

    def open(self, path: Path, limits: ArchiveLimits | None = None) -> Acquisition:
        """The reader of the acquisition at ``path`` (it closes its source)."""
        recognised = self.recognise(path, limits)
        try:
            return recognised.kind.read(recognised.source)
        except BaseException:
            recognised.close()
            raise


def load_platform(reference: str, origin: str | None = None) -> Platform:
    """The ``Platform`` named ``module:attribute``."""
    module_name, _, attribute = reference.partition(":")
    where = origin or reference
    try:
        platform = getattr(importlib.import_module(module_name), attribute or "PLATFORM")
    except (ImportError, AttributeError) as error:
        raise PlatformError(f"{where}: the platform {reference} cannot be loaded ({error})") from None
    if not isinstance(platform, Platform):
        raise PlatformError(f"{where}: {reference} is not a vestige Platform")
    return platform
