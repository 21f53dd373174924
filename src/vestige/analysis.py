"""The engine: acquisition -> artifacts -> records -> (indicator matches + detectors) -> findings.

``open_acquisition`` picks the reader for a path. ``analyse`` hashes every file once into the
acquisition's manifest, then runs each artifact that reads the acquisition's kind on each file its
``PATHS`` select. Records stream through: each is handed to the sink (the report layer writes it),
its observables are looked up in the indicator index (never a loop over indicators), and it is
passed on to the artifact's detector. A file that cannot be read becomes a ``Problem`` and the run
carries on. Findings are de-duplicated by id and sorted, so the result is deterministic.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from vestige.evidence.acquisition import IOS_BACKUP, Acquisition, DeviceInfo, detect_kind
from vestige.evidence.artifact import Artifact, excerpt
from vestige.evidence.errors import EvidenceError
from vestige.evidence.workers import map_in_processes
from vestige.indicators.index import ConjunctionMatch, ConjunctionTracker, IndicatorIndex
from vestige.indicators.sets import IndicatorSet
from vestige.ios.acquisitions import IosBackup
from vestige.ios.artifacts import ARTIFACTS as IOS_ARTIFACTS
from vestige.model import Evidence, Finding, IndicatorMatch, Observable, Problem, Record, Severity

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

    def open(self, artifact: str, rank: int) -> RecordSink: ...

    def absorb(self, receipt: object) -> None: ...


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
    if progress is not None:
        progress.phase("hashing files", acquisition.expected_entries())
    manifest = acquisition.manifest(progress.advance if progress is not None else None, workers)
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
        merkle_root=manifest.merkle_root,
        indicator_sets=tuple(indicator_sets),
        problems=problems,
    )
    artifacts = artifacts_for(acquisition.kind)
    if progress is not None:
        progress.phase("reading artifacts", len(artifacts))
    findings: dict[str, Finding] = {}
    tracker: ConjunctionTracker[Record] = ConjunctionTracker(index)
    context = _Context(acquisition, index, artifacts, sinks)
    for outcome in map_in_processes(_run_artifact, context, range(len(artifacts)), workers):
        for finding in outcome.findings:
            findings.setdefault(finding.id, finding)
        for record in outcome.pattern_records:
            tracker.observe(record, record.observables)
        result.problems.extend(outcome.problems)
        result.artifacts.append(outcome.summary)
        if sinks is not None:
            sinks.absorb(outcome.receipt)
        if progress is not None:
            progress.advance(1)
    for completed in tracker.completed():
        finding = pattern_finding(completed)
        findings.setdefault(finding.id, finding)
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


def _run_artifact(context: _Context, position: int) -> _Outcome:
    """Runs one artifact on every file it selects; in a worker process or in this one."""
    artifact = context.artifacts[position]
    sink = context.sinks.open(artifact.NAME, position) if context.sinks is not None else None
    paths = _selected_paths(context.acquisition, artifact)
    run = _ArtifactRun(artifact, context.acquisition, context.index, sink)
    findings = list(artifact.detect(run.records(paths)))
    for _ in run.remaining():
        pass
    receipt = sink.close() if sink is not None else None
    summary = ArtifactSummary(artifact.NAME, artifact.DESCRIPTION, paths, run.count)
    return _Outcome(summary, findings + run.matches, run.problems, run.pattern_records, receipt)


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

    def records(self, paths: Iterable[str]) -> Iterator[Record]:
        self._stream = self._records(paths)
        return self._stream

    def remaining(self) -> Iterator[Record]:
        """Whatever a detector left unread, so every record is still written and matched."""
        return self._stream if self._stream is not None else iter(())

    def _records(self, paths: Iterable[str]) -> Iterator[Record]:
        for path in paths:
            try:
                for record in self.artifact.parse(self.acquisition, path):
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
