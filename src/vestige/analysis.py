"""The engine: acquisitions -> artifacts -> records -> (indicator matches + detectors) -> correlators -> findings.

``analyse`` takes one or several acquisitions (of one device: a backup and a capture taken the same
day) and the registry that says which artifacts and correlators read each kind. For each
acquisition in turn, it hashes every file once into the acquisition's manifest, running the
listing artifacts on each partition of entries as it is hashed, then runs each other artifact that
reads the acquisition's kind on each file its ``PATHS`` select. Records stream through: each is
handed to the sink (the report layer writes it), its observables are looked up in the indicator
index (never a loop over indicators), the records a correlator needs are kept, and the record is
passed on to the artifact's detector. A file that cannot be read becomes a ``Problem`` and the run
carries on. When every acquisition is read, the correlators join records and findings, over each
acquisition or over the whole check. Findings are de-duplicated by id and sorted, so the result is
deterministic.

In a check of several acquisitions every locator names its acquisition by position; a check of
one leaves it out (``model.Locator``).
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from itertools import chain
from typing import IO, Protocol

from vestige.evidence import budget
from vestige.evidence.acquisition import Acquisition, DeviceInfo, EvidenceFile
from vestige.evidence.budget import Budget, BudgetExceededError, Limits
from vestige.evidence.errors import EvidenceError
from vestige.evidence.sqlite import findings_of
from vestige.evidence.workers import map_in_processes
from vestige.indicators.index import ConjunctionMatch, ConjunctionTracker, IndicatorIndex
from vestige.indicators.sets import IndicatorSet
from vestige.model import Evidence, Finding, IndicatorMatch, Locator, Observable, Problem, Record, Severity
from vestige.platforms import (
    ACQUISITION_SCOPE,
    CHECK_SCOPE,
    Artifact,
    Correlator,
    ListingArtifact,
    Registry,
    ShardedArtifact,
    excerpt,
)

READ_ERRORS = (EvidenceError, sqlite3.Error, OSError)
PATTERN_RULE = "indicator.pattern_match"
CORRELATION_LIMIT = 100_000
"""The most records one correlator keeps of one acquisition; the rest are reported, never joined."""
DEFAULT_LIMITS = Limits()
CHECK_EVERY = 8
"""A record stream checks its task's budget at one record in this many (and the rows limit exactly):
``Budget.check`` costs about 0.4 us where reading /proc is slow (a virtual machine), which at every
record would add about 5% to writing one; one in eight adds about 1%."""


class OutputWriteError(Exception):
    """A sink could not write what the run made (a full disk, an I/O error, the output folder removed):
    the run cannot complete. Not an error of the evidence, so never reported as a problem of a file."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error)  # the only argument, so that it crosses from a worker process intact
        self.error = error

    def __str__(self) -> str:
        return (
            f"{failed_path(self.error) or 'a file of the run'}: cannot be written ({self.error.strerror or self.error})"
        )


def failed_path(error: OSError) -> str | None:
    """The path an error of the system names, as text (None if it names none)."""
    where = error.filename
    return None if where is None else os.fsdecode(where) if isinstance(where, str | bytes) else str(where)


class RecordSink(Protocol):
    """Where one artifact's records go as they stream (the report layer's writer)."""

    def record(self, record: Record) -> None: ...

    def close(self) -> object:
        """Finishes the artifact; the picklable receipt is handed to ``SinkFactory.absorb``."""


class SinkFactory(Protocol):
    """Gives each artifact its sink, in whichever process the artifact runs."""

    def open(
        self, artifact: str, rank: int, acquisition: int | None, part: int | None = None, shard: int | None = None
    ) -> RecordSink:
        """The sink of an artifact of the acquisition at ``acquisition`` (None in a check of one), of
        one partition of a listing artifact (``part``: its records are the entries, put only on the
        timeline), or of one shard of a sharded artifact (``shard``: its records follow those of the
        shards before it, whichever finished first)."""

    def absorb(self, receipt: object) -> None: ...

    def manifest_file(self) -> IO[bytes]:
        """Where the acquisitions' manifests go, one JSON line per entry in path order, one acquisition
        after the other (opened in the process that writes it)."""


class Progress(Protocol):
    """What the engine reports while it works (the CLI draws a progress bar from it)."""

    def phase(self, name: str, total: int | None) -> None: ...

    def advance(self, count: int = 1) -> None: ...


@dataclass(frozen=True, slots=True)
class AcquisitionSummary:
    """What a result says of one acquisition: its kind, device, size and Merkle root."""

    kind: str
    device: DeviceInfo
    file_count: int
    total_bytes: int
    merkle_root: str


@dataclass(frozen=True, slots=True)
class ArtifactSummary:
    """One artifact's run over one acquisition."""

    name: str
    version: int
    description: str
    files: tuple[str, ...]
    records: int
    acquisition: int | None = None


@dataclass(frozen=True, slots=True)
class CorrelatorSummary:
    """One correlator's run: how many records it joined, over one acquisition or the whole check."""

    name: str
    version: int
    description: str
    records: int
    acquisition: int | None = None


@dataclass
class Result:
    """Everything a renderer needs: the acquisitions, the indicator sets, findings and problems."""

    acquisitions: list[AcquisitionSummary]
    indicator_sets: tuple[IndicatorSet, ...]
    findings: list[Finding] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    artifacts: list[ArtifactSummary] = field(default_factory=list)
    correlators: list[CorrelatorSummary] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.problems


def analyse(
    acquisitions: Sequence[Acquisition],
    registry: Registry,
    index: IndicatorIndex,
    indicator_sets: Sequence[IndicatorSet],
    sinks: SinkFactory | None = None,
    progress: Progress | None = None,
    workers: int = 1,
    limits: Limits = DEFAULT_LIMITS,
) -> Result:
    """Run every applicable artifact and correlator on ``acquisitions`` and return the findings.

    With several workers the manifest's partitions and then the artifacts run in forked processes;
    the result, the records and the timeline are the same as with one. Each artifact task, and each
    listing artifact on each partition, runs under a budget of ``limits`` in the process that runs it:
    a task over budget stops with a problem naming the file and the limit, and the run goes on.
    """
    result = Result([], tuple(indicator_sets))
    findings: dict[str, Finding] = {}
    several = len(acquisitions) > 1
    whole_check = registry.correlators_for([a.kind for a in acquisitions], CHECK_SCOPE)
    joined_check: dict[str, list[Record]] = {c.NAME: [] for c in whole_check}
    rank = 0
    for number, acquisition in enumerate(acquisitions):
        position = number if several else None
        artifacts = registry.artifacts_for(acquisition.kind)
        own = registry.correlators_for([acquisition.kind], ACQUISITION_SCOPE)
        plan = _Plan(
            acquisition, position, index, artifacts, (*own, *whole_check), sinks, rank, len(acquisitions), limits
        )
        rank += len(artifacts)
        read = _read_acquisition(plan, progress, workers)
        result.acquisitions.append(read.summary)
        result.artifacts.extend(read.artifacts)
        result.problems.extend(read.problems)
        for finding in read.findings:
            findings.setdefault(finding.id, finding)
        for correlator in whole_check:
            joined_check[correlator.NAME].extend(read.kept.get(correlator.NAME, []))
        for correlator in own:
            records = read.kept.get(correlator.NAME, [])
            result.correlators.append(_correlator_summary(correlator, len(records), position))
            made = correlator.correlate(records, _joinable(read.findings), index)
            for finding in read.sidecars.cite_all(made):
                findings.setdefault(finding.id, finding)
    if whole_check:
        sidecars = _SidecarCitations(
            {None: acquisitions[0]} if not several else dict[int | None, Acquisition](enumerate(acquisitions))
        )
        so_far = _joinable(list(findings.values()))
        for correlator in whole_check:
            records = joined_check[correlator.NAME]
            result.correlators.append(_correlator_summary(correlator, len(records), None))
            for finding in sidecars.cite_all(correlator.correlate(records, so_far, index)):
                findings.setdefault(finding.id, finding)
    result.findings = sorted(findings.values(), key=finding_order)
    return result


def _joinable(findings: Sequence[Finding]) -> list[Finding]:
    """The findings correlators see: those of artifacts, in a fixed order."""
    return sorted((f for f in findings if f.rule != PATTERN_RULE), key=finding_order)


def _correlator_summary(correlator: Correlator, records: int, position: int | None) -> CorrelatorSummary:
    return CorrelatorSummary(correlator.NAME, correlator.VERSION, correlator.DESCRIPTION, records, position)


@dataclass(frozen=True)
class _Plan:
    """What every task of one acquisition shares (inherited by forked workers, never pickled)."""

    acquisition: Acquisition
    position: int | None
    indicators: IndicatorIndex
    artifacts: tuple[Artifact, ...]
    correlators: tuple[Correlator, ...]
    sinks: SinkFactory | None
    rank: int
    count: int
    limits: Limits

    def wanted(self) -> dict[type, tuple[Correlator, ...]]:
        """For each record type some correlator needs, those correlators."""
        wanted: dict[type, list[Correlator]] = {}
        for correlator in self.correlators:
            for needed in correlator.NEEDS:
                wanted.setdefault(needed, []).append(correlator)
        return {kind: tuple(correlators) for kind, correlators in wanted.items()}


@dataclass(frozen=True)
class _AcquisitionRead:
    """What reading one acquisition gave: its summary, artifacts, findings and the records kept."""

    summary: AcquisitionSummary
    artifacts: list[ArtifactSummary]
    findings: list[Finding]
    problems: list[Problem]
    kept: dict[str, list[Record]]
    sidecars: _SidecarCitations


def _read_acquisition(plan: _Plan, progress: Progress | None, workers: int) -> _AcquisitionRead:
    acquisition = plan.acquisition
    listing = _ListingReader(plan)
    which = f" ({plan.position + 1} of {plan.count})" if plan.position is not None else ""
    if progress is not None:
        progress.phase(f"hashing files{which}", acquisition.expected_entries())
    manifest = acquisition.manifest(progress.advance if progress is not None else None, workers, listing)
    problems = [_placed(p, plan.position) for p in manifest.problems]
    try:
        with budget.task(plan.limits):  # the device's plists are evidence too
            device = acquisition.info()
    except READ_ERRORS as error:
        problems.append(_placed(Problem("acquisition", "info", str(error)), plan.position))
        device = DeviceInfo()
    tasks: list[_Task] = [_SealTask()]
    for n, artifact in enumerate(plan.artifacts):
        if isinstance(artifact, ShardedArtifact):
            tasks.extend(_ArtifactTask(n, shard) for shard in range(artifact.SHARDS))
        elif n not in listing.ranks:
            tasks.append(_ArtifactTask(n))
    if progress is not None:  # one step per artifact task (a shard is one) and per listing artifact
        progress.phase(f"reading artifacts{which}", len(tasks) - 1 + len(listing.ranks))
    sidecars = _SidecarCitations({plan.position: acquisition})
    tracker: ConjunctionTracker[Record] = ConjunctionTracker(plan.indicators)
    findings: list[Finding] = []
    summaries: dict[int, ArtifactSummary] = {}
    kept: dict[str, list[Record]] = {}
    # Closed here (its workers stopped) when anything stops the run, not when the traceback is freed.
    with closing(map_in_processes(_run_task, plan, tasks, workers)) as results:
        sealed = next(results)
        assert isinstance(sealed, str)
        others = zip(tasks[1:], (r for r in results if isinstance(r, _TaskResult)), strict=True)
        by_index = chain(listing.results(), ((t.index, r) for t, r in others if isinstance(t, _ArtifactTask)))
        for index, task_result in by_index:
            findings.extend(sidecars.cite_all(_stamped(f, plan.position) for f in task_result.findings))
            for record in task_result.pattern_records:
                tracker.observe(record, record.observables)
            for problem in task_result.problems:
                placed = _placed(problem, plan.position)
                if index not in summaries or placed not in problems:  # a file's error, once for all its shards
                    problems.append(placed)
            for name, records in task_result.kept.items():
                kept.setdefault(name, []).extend(records)
            summaries[index] = _merged(summaries.get(index), task_result.summary)
            if plan.sinks is not None and task_result.receipt is not None:
                plan.sinks.absorb(task_result.receipt)
            if progress is not None:
                progress.advance(1)
    findings.extend(sidecars.cite_all(pattern_finding(c) for c in tracker.completed()))
    findings = _first_of_each(findings)  # a file's error reported by each of its shards
    for name, records in kept.items():
        if len(records) > CORRELATION_LIMIT:
            reason = f"{name}: more than {CORRELATION_LIMIT} records to join; the first {CORRELATION_LIMIT} were used"
            problems.append(_placed(Problem(name, "correlation", reason), plan.position))
            del records[CORRELATION_LIMIT:]
    summary = AcquisitionSummary(acquisition.kind, device, manifest.count, manifest.total_bytes, sealed)
    artifacts = [summaries[n] for n in sorted(summaries)]
    return _AcquisitionRead(summary, artifacts, findings, problems, kept, sidecars)


@dataclass(frozen=True, slots=True)
class _SealTask:
    """Seal the manifest: its Merkle root, and manifest.jsonl when there is a sink."""


@dataclass(frozen=True, slots=True)
class _ArtifactTask:
    """Run the artifact at ``index`` in the plan's list of artifacts (one ``shard`` of it, for a sharded
    artifact)."""

    index: int
    shard: int | None = None


_Task = _SealTask | _ArtifactTask


@dataclass(frozen=True)
class _TaskResult:
    """What an artifact task sends back: small, picklable."""

    summary: ArtifactSummary
    findings: list[Finding]
    problems: list[Problem]
    pattern_records: list[Record]
    kept: dict[str, list[Record]]
    receipt: object


def _run_task(plan: _Plan, task: _Task) -> _TaskResult | str:
    """Runs one artifact, or seals the manifest (returns its Merkle root)."""
    if isinstance(task, _SealTask):
        manifest = plan.acquisition.manifest()
        if plan.sinks is None:
            return manifest.seal(None)
        with plan.sinks.manifest_file() as lines:
            return manifest.seal(lines, plan.position)
    return _run_artifact(plan, task.index, task.shard)


def _run_artifact(plan: _Plan, index: int, shard: int | None = None) -> _TaskResult:
    """Runs one artifact (or one shard of it) on every file it selects, under its budget; in a worker
    process or in this one."""
    artifact = plan.artifacts[index]
    sinks = plan.sinks
    sink = sinks.open(artifact.NAME, plan.rank + index, plan.position, shard=shard) if sinks is not None else None
    paths = _selected_paths(plan.acquisition, artifact)
    with budget.task(plan.limits):
        run = _ArtifactRun(artifact, plan, sink)
        findings = list(
            artifact.detect(
                run.records((path, _parser(artifact, plan.acquisition, path, shard)) for path in paths), plan.indicators
            )
        )
        for _ in run.remaining():
            pass
    receipt = sink.close() if sink is not None else None
    summary = _summary(artifact, paths, run.count, plan.position)
    return _TaskResult(summary, findings + run.matches, run.problems, run.pattern_records, run.kept, receipt)


def _parser(
    artifact: Artifact, acquisition: Acquisition, path: str, shard: int | None
) -> Callable[[], Iterable[Record]]:
    if shard is None:
        return partial(artifact.parse, acquisition, path)
    assert isinstance(artifact, ShardedArtifact)
    return partial(artifact.parse_shard, acquisition, path, shard)


def _first_of_each(findings: Iterable[Finding]) -> list[Finding]:
    """``findings`` without repeats (by id), each where it first came."""
    unique: dict[str, Finding] = {}
    for finding in findings:
        unique.setdefault(finding.id, finding)
    return list(unique.values())


def _merged(summary: ArtifactSummary | None, shard: ArtifactSummary) -> ArtifactSummary:
    """An artifact's summary with one more shard's records counted."""
    if summary is None:
        return shard
    return dataclasses.replace(summary, records=summary.records + shard.records)


def _summary(artifact: Artifact, paths: tuple[str, ...], count: int, position: int | None) -> ArtifactSummary:
    return ArtifactSummary(artifact.NAME, artifact.VERSION, artifact.DESCRIPTION, paths, count, position)


@dataclass(frozen=True)
class _PartReading:
    """What a listing artifact made of one partition of entries: small, picklable."""

    count: int
    matches: list[Finding]
    problems: list[Problem]
    pattern_records: list[Record]
    kept: dict[str, list[Record]]
    tally: object
    receipt: object


class _ListingReader:
    """The ``PartitionReader`` of a check: runs each listing artifact on every partition of entries in
    the process that hashed it, and gathers the partitions' readings in this one, in order."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self.artifacts = {n: a for n, a in enumerate(plan.artifacts) if isinstance(a, ListingArtifact)}
        self.ranks = frozenset(self.artifacts)
        self._parts: dict[int, list[_PartReading]] = {n: [] for n in self.artifacts}

    def read(self, part: int, entries: Sequence[EvidenceFile]) -> dict[int, _PartReading]:
        plan = self.plan
        readings: dict[int, _PartReading] = {}
        for index, artifact in self.artifacts.items():
            sinks = plan.sinks
            sink = sinks.open(artifact.NAME, plan.rank + index, plan.position, part) if sinks is not None else None
            location = next(iter(artifact.PATHS[plan.acquisition.kind]), artifact.NAME)
            with budget.task(plan.limits):
                run = _ArtifactRun(artifact, plan, sink)
                tally = artifact.tally(
                    run.records([(location, partial(artifact.parse_entries, plan.acquisition, entries))])
                )
                for _ in run.remaining():
                    pass
            receipt = sink.close() if sink is not None else None
            readings[index] = _PartReading(
                run.count, run.matches, run.problems, run.pattern_records, run.kept, tally, receipt
            )
        return readings

    def absorb(self, reading: object) -> None:
        assert isinstance(reading, dict)
        for index, part in reading.items():
            self._parts[index].append(part)
            if self.plan.sinks is not None and part.receipt is not None:
                self.plan.sinks.absorb(part.receipt)

    def results(self) -> Iterator[tuple[int, _TaskResult]]:
        """Each listing artifact's result over all partitions, once the manifest is built."""
        for index, artifact in self.artifacts.items():
            parts = self._parts[index]
            findings = [finding for part in parts for finding in part.matches]
            findings.extend(artifact.conclude([part.tally for part in parts]))
            paths = _selected_paths(self.plan.acquisition, artifact)
            summary = _summary(artifact, paths, sum(part.count for part in parts), self.plan.position)
            problems = [problem for part in parts for problem in part.problems]
            pattern_records = [record for part in parts for record in part.pattern_records]
            kept: dict[str, list[Record]] = {}
            for part in parts:
                for name, records in part.kept.items():
                    kept.setdefault(name, []).extend(records)
            yield index, _TaskResult(summary, findings, problems, pattern_records, kept, None)


def finding_order(finding: Finding) -> tuple[int, str, str, str]:
    """Most severe first, then by time (undated last), rule and id."""
    when = finding.time.isoformat() if finding.time is not None else "~"
    return (-int(finding.severity), when, finding.rule, finding.id)


def _selected_paths(acquisition: Acquisition, artifact: Artifact) -> tuple[str, ...]:
    paths: dict[str, None] = {}
    for pattern in artifact.PATHS.get(acquisition.kind, ()):
        for entry in acquisition.glob(pattern):
            if entry.type == "file" and entry.sha256 is not None:
                paths[entry.path] = None
    return tuple(sorted(paths))


class _ArtifactRun:
    """Streams one artifact's records through the sink and the index on the way to its detector,
    keeping those that a correlator needs."""

    def __init__(self, artifact: Artifact, plan: _Plan, sink: RecordSink | None) -> None:
        self.artifact, self.plan, self.indicators, self.sink = artifact, plan, plan.indicators, sink
        self.wanted = plan.wanted()
        self.matches: list[Finding] = []
        self.problems: list[Problem] = []
        self.pattern_records: list[Record] = []
        self.kept: dict[str, list[Record]] = {}
        self.count = 0
        self.budget = budget.current()  # made inside the task: its budget
        self._stream: Iterator[Record] | None = None

    def records(self, sources: Iterable[tuple[str, Callable[[], Iterable[Record]]]]) -> Iterator[Record]:
        """The records of each source: a file of the acquisition and how to parse it."""
        self._stream = self._records(sources)
        return self._stream

    def remaining(self) -> Iterator[Record]:
        """Whatever a detector left unread, so every record is still written and matched."""
        return self._stream if self._stream is not None else iter(())

    def _records(self, sources: Iterable[tuple[str, Callable[[], Iterable[Record]]]]) -> Iterator[Record]:
        """Each source's records under the task's budget: a file over a limit stops with a problem that
        names it and the limit (its records so far are kept); once the task's time or memory is spent,
        each file left is reported as not read."""
        for path, parse in sources:
            spent = _spent(self.budget)
            if spent is not None:
                self.problems.append(Problem(self.artifact.NAME, path, f"{path}: not read: {spent}"))
                continue
            try:
                due = 1
                for count, record in enumerate(parse(), 1):
                    if count >= due:  # one comparison per record; the budget itself once in CHECK_EVERY
                        due = self._checkpoint(count)
                    self._take(record)
                    yield record
            except READ_ERRORS as error:
                self.problems.append(Problem(self.artifact.NAME, path, _reason(path, error)))
                self.matches.extend(findings_of(error))

    def _checkpoint(self, count: int) -> int:
        """Checks the task's budget at the ``count``-th record of a file (and the file's rows); returns
        the count at which to check again."""
        rows = self.budget.limits.rows
        if count > rows:
            raise BudgetExceededError("rows", f"more than {rows} rows or records in this file")
        self.budget.check()
        return min(count + CHECK_EVERY, rows + 1)

    def _take(self, record: Record) -> None:
        self.count += 1
        if self.sink is not None:
            try:
                self.sink.record(record)
            except OSError as error:  # writing, not reading: it must not pass for a problem of the file
                raise OutputWriteError(error) from None
        if record.observables:
            by_observable: dict[Observable, list[IndicatorMatch]] = {}
            for observable, match in self.indicators.match_record(record.observables):
                by_observable.setdefault(observable, []).append(match)
            for observable, matches in by_observable.items():
                self.matches.append(self.artifact.MATCHES.finding(record, observable, tuple(matches)))
            if self.indicators.spans_records(record.observables):
                self.pattern_records.append(_placed_record(record, self.plan.position))
        correlators = self.wanted.get(type(record.payload))
        if correlators:
            for correlator in correlators:
                if correlator.select(record):
                    kept = self.kept.setdefault(correlator.NAME, [])
                    if len(kept) <= CORRELATION_LIMIT:
                        kept.append(_placed_record(record, self.plan.position))


def _spent(running: Budget) -> BudgetExceededError | None:
    """What stops the task before it opens another file: its time or memory already spent."""
    try:
        running.check()
    except BudgetExceededError as error:
        return error
    return None


def _placed(problem: Problem, position: int | None) -> Problem:
    return problem if position is None else dataclasses.replace(problem, acquisition=position)


def _placed_locator(locator: Locator, position: int | None) -> Locator:
    return locator if position is None else dataclasses.replace(locator, acquisition=position)


def _placed_record(record: Record, position: int | None) -> Record:
    """The record with its locators naming its acquisition (in a check of several)."""
    if position is None:
        return record
    return dataclasses.replace(
        record,
        locator=_placed_locator(record.locator, position),
        cites=tuple(_placed_locator(c, position) for c in record.cites),
    )


def _stamped(finding: Finding, position: int | None) -> Finding:
    """The finding with every evidence locator naming its acquisition (in a check of several)."""
    if position is None:
        return finding
    evidence = tuple(dataclasses.replace(e, locator=_placed_locator(e.locator, position)) for e in finding.evidence)
    return dataclasses.replace(finding, evidence=evidence)


READ_WITH = ("-wal", "-journal")
"""Files SQLite reads with a database, which change what its rows say: a row may live only in the log."""


class _SidecarCitations:
    """Adds to a finding that cites rows of a SQLite database the write-ahead log or rollback journal
    beside it, so that the rows can be checked (and disclosed) as vestige read them."""

    def __init__(self, acquisitions: dict[int | None, Acquisition]) -> None:
        """``acquisitions`` by the position their locators name (None in a check of one)."""
        self.acquisitions = acquisitions
        self._found: dict[tuple[int | None, str], tuple[Locator, ...]] = {}

    def cite_all(self, findings: Iterable[Finding]) -> Iterator[Finding]:
        return (self.cite(f) for f in findings)

    def cite(self, finding: Finding) -> Finding:
        cited = {(e.locator.acquisition, e.locator.path) for e in finding.evidence}
        extra: list[Evidence] = []
        for evidence in finding.evidence:
            if evidence.locator.table is None:
                continue
            for sidecar in self._sidecars(evidence.locator):
                if (sidecar.acquisition, sidecar.path) not in cited:
                    cited.add((sidecar.acquisition, sidecar.path))
                    extra.append(
                        Evidence(sidecar, excerpt(f"{sidecar.path}: read by SQLite with {evidence.locator.path}"))
                    )
        return dataclasses.replace(finding, evidence=finding.evidence + tuple(extra)) if extra else finding

    def _sidecars(self, locator: Locator) -> tuple[Locator, ...]:
        key = (locator.acquisition, locator.path)
        found = self._found.get(key)
        if found is None:
            acquisition = self.acquisitions.get(locator.acquisition)
            found = ()
            if acquisition is not None:
                manifest = acquisition.manifest()
                entries = (manifest.get(locator.path + suffix) for suffix in READ_WITH)
                found = tuple(
                    Locator(e.path, e.sha256, acquisition=locator.acquisition)
                    for e in entries
                    if e is not None and e.sha256 is not None
                )
            self._found[key] = found
        return found


def pattern_finding(completed: ConjunctionMatch[Record]) -> Finding:
    """A STIX pattern whose brackets held on different records of the acquisition."""
    match = completed.match
    records = [w.record for w in completed.witnesses]
    return Finding(
        rule=PATTERN_RULE,
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
