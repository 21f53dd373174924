"""The engine: acquisition -> artifacts -> records -> (indicator matches + detectors) -> findings.

``open_acquisition`` picks the reader for a path. ``analyse`` hashes every file once into the
acquisition's manifest, running the artifacts that read the listing itself (``EntryArtifact``) on
each partition of entries as it is hashed, then runs each other artifact that reads the
acquisition's kind on each file its ``PATHS`` select. Records stream through: each is handed to the
sink (the report layer writes it), its observables are looked up in the indicator index (never a
loop over indicators), and it is passed on to the artifact's detector. A file that cannot be read
becomes a ``Problem`` and the run carries on. Findings are de-duplicated by id and sorted, so the
result is deterministic.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import chain
from pathlib import Path
from typing import IO, Protocol

from vestige.evidence.acquisition import IOS_BACKUP, Acquisition, DeviceInfo, EvidenceFile, detect_kind
from vestige.evidence.artifact import Artifact, EntryArtifact, excerpt
from vestige.evidence.errors import EvidenceError
from vestige.evidence.workers import map_in_processes
from vestige.indicators.index import ConjunctionMatch, ConjunctionTracker, IndicatorIndex
from vestige.indicators.sets import IndicatorSet
from vestige.ios.acquisitions import IosBackup
from vestige.ios.artifacts import ARTIFACTS as IOS_ARTIFACTS
from vestige.model import Evidence, Finding, IndicatorMatch, Locator, Observable, Problem, Record, Severity

READERS: dict[str, type[Acquisition]] = {IOS_BACKUP: IosBackup}
ALL_ARTIFACTS: tuple[Artifact, ...] = IOS_ARTIFACTS
READ_ERRORS = (EvidenceError, sqlite3.Error, OSError)


def open_acquisition(path: Path) -> Acquisition:
    """The reader for the acquisition at ``path``; raises ``NotAnAcquisitionError`` and friends."""
    kind, root = detect_kind(path)
    return READERS[kind](root)


def artifacts_for(kind: str) -> tuple[Artifact, ...]:
    return tuple(a for a in ALL_ARTIFACTS if kind in a.KINDS)


class RecordSink(Protocol):
    """Where one artifact's records go as they stream (the report layer's writer)."""

    def record(self, record: Record) -> None: ...

    def close(self) -> object:
        """Finishes the artifact; the picklable receipt is handed to ``SinkFactory.absorb``."""


class SinkFactory(Protocol):
    """Gives each artifact its sink, in whichever process the artifact runs."""

    def open(self, artifact: str, rank: int, part: int | None = None) -> RecordSink:
        """The sink of an artifact, or of one partition of an ``EntryArtifact`` (absorbed in order)."""

    def absorb(self, receipt: object) -> None: ...

    def manifest_file(self) -> IO[bytes]:
        """Where the acquisition manifest goes, one JSON line per entry in path order (opened in the
        process that writes it)."""


class Progress(Protocol):
    """What the engine reports while it works (the CLI draws a progress bar from it)."""

    def phase(self, name: str, total: int | None) -> None: ...

    def advance(self, count: int = 1) -> None: ...


@dataclass(frozen=True, slots=True)
class ArtifactSummary:
    name: str
    description: str
    files: tuple[str, ...]
    records: int


@dataclass
class Result:
    """Everything a renderer needs: the acquisition, the indicator sets, findings and problems."""

    kind: str
    device: DeviceInfo
    file_count: int
    total_bytes: int
    merkle_root: str
    indicator_sets: tuple[IndicatorSet, ...]
    findings: list[Finding] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    artifacts: list[ArtifactSummary] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.problems


def analyse(
    acquisition: Acquisition,
    index: IndicatorIndex,
    indicator_sets: Sequence[IndicatorSet],
    sinks: SinkFactory | None = None,
    progress: Progress | None = None,
    workers: int = 1,
) -> Result:
    """Run every applicable artifact on ``acquisition`` and return the findings.

    With several workers the manifest's partitions and then the artifacts run in forked processes;
    the result, the records and the timeline are the same as with one.
    """
    artifacts = artifacts_for(acquisition.kind)
    listing = _ListingReader(acquisition, index, artifacts, sinks)
    if progress is not None:
        progress.phase("hashing files", acquisition.expected_entries())
    manifest = acquisition.manifest(progress.advance if progress is not None else None, workers, listing)
    problems = list(manifest.problems)
    try:
        device = acquisition.info()
    except EvidenceError as error:
        problems.append(Problem("acquisition", "info", str(error)))
        device = DeviceInfo()
    result = Result(
        kind=acquisition.kind,
        device=device,
        file_count=manifest.count,
        total_bytes=manifest.total_bytes,
        merkle_root="",  # from the seal task below
        indicator_sets=tuple(indicator_sets),
        problems=problems,
    )
    if progress is not None:
        progress.phase("reading artifacts", len(artifacts))
    findings: dict[str, Finding] = {}
    summaries: dict[int, ArtifactSummary] = {}
    tracker: ConjunctionTracker[Record] = ConjunctionTracker(index)
    context = _Context(acquisition, index, artifacts, sinks)
    # The manifest is sealed (Merkle root, manifest.jsonl) on a worker beside the artifacts.
    tasks = [_SEAL, *(rank for rank in range(len(artifacts)) if rank not in listing.ranks)]
    results = map_in_processes(_run_task, context, tasks, workers)
    sealed = next(results)
    assert isinstance(sealed, str)
    result.merkle_root = sealed
    others = zip(tasks[1:], (outcome for outcome in results if isinstance(outcome, _Outcome)), strict=True)
    outcomes = chain(listing.outcomes(), others)
    sidecars = _SidecarCitations(acquisition)
    for rank, outcome in outcomes:
        for finding in outcome.findings:
            finding = sidecars.cite(finding)
            findings.setdefault(finding.id, finding)
        for record in outcome.pattern_records:
            tracker.observe(record, record.observables)
        result.problems.extend(outcome.problems)
        summaries[rank] = outcome.summary
        if sinks is not None and outcome.receipt is not None:
            sinks.absorb(outcome.receipt)
        if progress is not None:
            progress.advance(1)
    for completed in tracker.completed():
        finding = sidecars.cite(pattern_finding(completed))
        findings.setdefault(finding.id, finding)
    result.artifacts = [summaries[rank] for rank in sorted(summaries)]
    result.findings = sorted(findings.values(), key=finding_order)
    return result


@dataclass(frozen=True)
class _Context:
    """What every artifact task shares (inherited by forked workers, never pickled)."""

    acquisition: Acquisition
    index: IndicatorIndex
    artifacts: tuple[Artifact, ...]
    sinks: SinkFactory | None


@dataclass(frozen=True)
class _Outcome:
    """What an artifact task sends back: small, picklable."""

    summary: ArtifactSummary
    findings: list[Finding]
    problems: list[Problem]
    pattern_records: list[Record]
    receipt: object


_SEAL = -1


def _run_task(context: _Context, position: int) -> _Outcome | str:
    """Runs one artifact (by position) or seals the manifest (``_SEAL``: returns its Merkle root)."""
    if position == _SEAL:
        manifest = context.acquisition.manifest()
        if context.sinks is None:
            return manifest.seal(None)
        with context.sinks.manifest_file() as lines:
            return manifest.seal(lines)
    return _run_artifact(context, position)


def _run_artifact(context: _Context, position: int) -> _Outcome:
    """Runs one artifact on every file it selects; in a worker process or in this one."""
    artifact = context.artifacts[position]
    sink = context.sinks.open(artifact.NAME, position) if context.sinks is not None else None
    paths = _selected_paths(context.acquisition, artifact)
    run = _ArtifactRun(artifact, context.acquisition, context.index, sink)
    findings = list(
        artifact.detect(
            run.records((path, partial(artifact.parse, context.acquisition, path)) for path in paths), context.index
        )
    )
    for _ in run.remaining():
        pass
    receipt = sink.close() if sink is not None else None
    summary = ArtifactSummary(artifact.NAME, artifact.DESCRIPTION, paths, run.count)
    return _Outcome(summary, findings + run.matches, run.problems, run.pattern_records, receipt)


@dataclass(frozen=True)
class _PartOutcome:
    """What an entry artifact made of one partition of entries: small, picklable."""

    count: int
    matches: list[Finding]
    problems: list[Problem]
    pattern_records: list[Record]
    tally: object
    receipt: object


class _ListingReader:
    """The ``EntryReader`` of a check: runs each ``EntryArtifact`` on every partition of entries in the
    process that hashed it, and gathers the partitions' outcomes in this one, in order."""

    def __init__(
        self, acquisition: Acquisition, index: IndicatorIndex, artifacts: Sequence[Artifact], sinks: SinkFactory | None
    ) -> None:
        self.acquisition, self.index, self.sinks = acquisition, index, sinks
        self.artifacts = {rank: a for rank, a in enumerate(artifacts) if isinstance(a, EntryArtifact)}
        self.ranks = frozenset(self.artifacts)
        self._parts: dict[int, list[_PartOutcome]] = {rank: [] for rank in self.artifacts}

    def read(self, part: int, entries: Sequence[EvidenceFile]) -> dict[int, _PartOutcome]:
        outcomes: dict[int, _PartOutcome] = {}
        for rank, artifact in self.artifacts.items():
            sink = self.sinks.open(artifact.NAME, rank, part) if self.sinks is not None else None
            run = _ArtifactRun(artifact, self.acquisition, self.index, sink)
            location = artifact.PATHS[0] if artifact.PATHS else artifact.NAME
            tally = artifact.tally(
                run.records([(location, partial(artifact.parse_entries, self.acquisition, entries))])
            )
            for _ in run.remaining():
                pass
            receipt = sink.close() if sink is not None else None
            outcomes[rank] = _PartOutcome(run.count, run.matches, run.problems, run.pattern_records, tally, receipt)
        return outcomes

    def absorb(self, outcome: object) -> None:
        assert isinstance(outcome, dict)
        for rank, part in outcome.items():
            self._parts[rank].append(part)
            if self.sinks is not None and part.receipt is not None:
                self.sinks.absorb(part.receipt)

    def outcomes(self) -> Iterator[tuple[int, _Outcome]]:
        """Each entry artifact's outcome over all partitions, once the manifest is built."""
        for rank, artifact in self.artifacts.items():
            parts = self._parts[rank]
            findings = [finding for part in parts for finding in part.matches]
            findings.extend(artifact.conclude([part.tally for part in parts]))
            paths = _selected_paths(self.acquisition, artifact)
            summary = ArtifactSummary(artifact.NAME, artifact.DESCRIPTION, paths, sum(part.count for part in parts))
            problems = [problem for part in parts for problem in part.problems]
            pattern_records = [record for part in parts for record in part.pattern_records]
            yield rank, _Outcome(summary, findings, problems, pattern_records, None)


def finding_order(finding: Finding) -> tuple[int, str, str, str]:
    """Most severe first, then by time (undated last), rule and id."""
    when = finding.time.isoformat() if finding.time is not None else "~"
    return (-int(finding.severity), when, finding.rule, finding.id)


def _selected_paths(acquisition: Acquisition, artifact: Artifact) -> tuple[str, ...]:
    paths: dict[str, None] = {}
    for pattern in artifact.PATHS:
        for entry in acquisition.glob(pattern):
            if entry.type == "file" and entry.sha256 is not None:
                paths[entry.path] = None
    return tuple(sorted(paths))


class _ArtifactRun:
    """Streams one artifact's records through the sink and the index on the way to its detector."""

    def __init__(
        self, artifact: Artifact, acquisition: Acquisition, index: IndicatorIndex, sink: RecordSink | None
    ) -> None:
        self.artifact, self.acquisition, self.index, self.sink = artifact, acquisition, index, sink
        self.matches: list[Finding] = []
        self.problems: list[Problem] = []
        self.pattern_records: list[Record] = []
        self.count = 0
        self._stream: Iterator[Record] | None = None

    def records(self, sources: Iterable[tuple[str, Callable[[], Iterable[Record]]]]) -> Iterator[Record]:
        """The records of each source: a file of the acquisition and how to parse it."""
        self._stream = self._records(sources)
        return self._stream

    def remaining(self) -> Iterator[Record]:
        """Whatever a detector left unread, so every record is still written and matched."""
        return self._stream if self._stream is not None else iter(())

    def _records(self, sources: Iterable[tuple[str, Callable[[], Iterable[Record]]]]) -> Iterator[Record]:
        for path, parse in sources:
            try:
                for record in parse():
                    self._take(record)
                    yield record
            except READ_ERRORS as error:
                self.problems.append(Problem(self.artifact.NAME, path, _reason(path, error)))

    def _take(self, record: Record) -> None:
        self.count += 1
        if self.sink is not None:
            self.sink.record(record)
        if record.observables:
            by_observable: dict[Observable, list[IndicatorMatch]] = {}
            for observable, match in self.index.match_record(record.observables):
                by_observable.setdefault(observable, []).append(match)
            for observable, matches in by_observable.items():
                self.matches.append(self.artifact.MATCHES.finding(record, observable, tuple(matches)))
            if self.index.spans_records(record.observables):
                self.pattern_records.append(record)


READ_WITH = ("-wal", "-journal")
"""Files SQLite reads with a database, which change what its rows say: a row may live only in the log."""


class _SidecarCitations:
    """Adds to a finding that cites rows of a SQLite database the write-ahead log or rollback journal
    beside it, so that the rows can be checked (and disclosed) as vestige read them."""

    def __init__(self, acquisition: Acquisition) -> None:
        self.acquisition = acquisition
        self._found: dict[str, tuple[Locator, ...]] = {}

    def cite(self, finding: Finding) -> Finding:
        cited = {evidence.locator.path for evidence in finding.evidence}
        extra: list[Evidence] = []
        for evidence in finding.evidence:
            if evidence.locator.table is None:
                continue
            for sidecar in self._sidecars(evidence.locator.path):
                if sidecar.path not in cited:
                    cited.add(sidecar.path)
                    extra.append(
                        Evidence(sidecar, excerpt(f"{sidecar.path}: read by SQLite with {evidence.locator.path}"))
                    )
        return dataclasses.replace(finding, evidence=finding.evidence + tuple(extra)) if extra else finding

    def _sidecars(self, path: str) -> tuple[Locator, ...]:
        found = self._found.get(path)
        if found is None:
            manifest = self.acquisition.manifest()
            entries = (manifest.get(path + suffix) for suffix in READ_WITH)
            found = tuple(Locator(e.path, e.sha256) for e in entries if e is not None and e.sha256 is not None)
            self._found[path] = found
        return found


def pattern_finding(completed: ConjunctionMatch[Record]) -> Finding:
    """A STIX pattern whose brackets held on different records of the acquisition."""
    match = completed.match
    records = [w.record for w in completed.witnesses]
    return Finding(
        rule="indicator.pattern_match",
        severity=Severity.HIGH,
        title=f"Every part of a {match.collection} indicator pattern was observed in this acquisition",
        explanation=(
            f"The pattern {match.value} (set {match.set_name}) combines several observations with AND; each was "
            "seen: " + "; ".join(r.summary for r in records) + "."
        ),
        caveats=("The parts were seen in different records; their relation in time is not checked.",),
        evidence=tuple(Evidence(r.locator, excerpt(r.summary)) for r in records),
        indicators=(match,),
        time=min((r.time for r in records if r.time is not None), default=None),
    )


def _reason(path: str, error: Exception) -> str:
    text = str(error)
    if isinstance(error, sqlite3.Error):
        return f"{path}: SQLite error ({text})"
    if isinstance(error, OSError):
        return f"{path}: cannot be read ({error.strerror or text})"
    return text if text.startswith(path) else f"{path}: {text}"
