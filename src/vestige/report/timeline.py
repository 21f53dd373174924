"""``timeline.jsonl``: Timesketch-compatible events, sorted by time, with bounded memory.

Each line has the three fields Timesketch requires (``message``, ``datetime`` in ISO 8601,
``timestamp_desc``) plus ``timestamp`` (microseconds since the Unix epoch), ``data_type`` (the
artifact), the evidence locator and the fields of the record's payload. Findings with a time are events too, tagged
with their severity. Each artifact's events are sorted in chunks spilled to temporary files, and the
runs of all artifacts are merged at the end, so millions of records never sit in memory.
``read_timeline`` reads the file back one event at a time, for the report and the exports.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

import orjson

from vestige.evidence.workers import map_in_processes
from vestige.model import JSON, Finding, Record, format_time
from vestige.report.encoding import dumps, payload_dict

CHUNK = 20_000
# Events an artifact's writer holds before it spills them as a sorted run: about 18 MB of a backup's
# listing lines in each worker, where 50,000 held 45 MB at the end of the analysis, when a check's
# memory peaks; a timeline of up to 4 million events still merges in one pass (MAX_FAN_IN runs).
# Each line of a run starts with a fixed-width key (timestamp, rank, part, sequence) so that plain
# byte comparison orders the lines; timestamps are shifted to be positive.
_SHIFT = 1 << 62
_KEY_WIDTH = 20 + 1 + 7 + 1 + 7 + 1 + 12 + 1
_DUMP_OPTIONS = orjson.OPT_SORT_KEYS
RESERVED = frozenset({"message", "datetime", "timestamp", "timestamp_desc", "data_type", "tag"})
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def microseconds(moment: datetime) -> int:
    """Microseconds since the Unix epoch (a naive time taken as UTC, as ``format_time`` takes it)."""
    try:
        delta = moment - _EPOCH
    except TypeError:  # naive
        delta = moment.replace(tzinfo=timezone.utc) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def record_line(
    record: Record, locator: dict[str, JSON] | None = None, fields: bytes | None = None
) -> tuple[int, bytes] | None:
    """The time and the Timesketch event line of a record: the event attributes, then the fields of
    the record's payload (written by orjson straight from the dataclass and spliced in, which a
    timeline of hundreds of thousands of records feels; a payload with a field named like an event
    attribute has that field left out). ``fields`` is the payload's JSON from ``encoding.payload_json``,
    if the caller has it."""
    if record.time is None:
        return None
    timestamp = microseconds(record.time)
    event = {
        "message": record.summary,
        "datetime": _time_text(record.time),
        "timestamp": timestamp,
        "timestamp_desc": record.time_kind,
        "data_type": record.artifact,
        "evidence": record.locator.parts() if locator is None else locator,
    }
    head = dumps(event, 0)
    payload = record.payload
    if not _splices(type(payload)):
        kept = {k: v for k, v in payload_dict(payload).items() if k not in event and k not in RESERVED}
        return timestamp, dumps({**event, **kept}, 0) if kept else head
    body = dumps(payload, 0) if fields is None else fields
    return timestamp, head if body == b"{}" else head[:-1] + b"," + body[1:]


def _time_text(moment: datetime) -> str | None:
    """``format_time``'s text of a time, written by orjson where it writes the same text: a time in UTC
    whose fraction is not zero (orjson leaves a zero fraction out). ``isoformat`` costs a microsecond, and a
    capture's timeline holds hundreds of thousands of records."""
    if moment.tzinfo is timezone.utc and moment.microsecond:
        return orjson.dumps(moment, option=orjson.OPT_UTC_Z)[1:-1].decode()
    return format_time(moment)


@functools.cache
def _splices(kind: type) -> bool:
    """Whether a payload type's fields can follow the event attributes as they are: no field is named
    like one of them."""
    return not ({f.name for f in dataclasses.fields(kind)} & (RESERVED | {"evidence"}))


def finding_event(finding: Finding) -> dict[str, object] | None:
    if finding.time is None:
        return None
    return {
        "message": f"[{finding.severity.label}] {finding.title}",
        "datetime": format_time(finding.time),
        "timestamp": microseconds(finding.time),
        "timestamp_desc": "finding",
        "data_type": "vestige.finding",
        "tag": ["vestige", f"vestige-{finding.severity.label}"],
        "finding_id": finding.id,
        "rule": finding.rule,
    }


class TimelineRuns:
    """The events of one artifact: sorted chunks spilled to ``folder`` as runs to merge later.

    Events are ordered by (timestamp, rank, part, sequence): ``rank`` is the artifact's position and
    ``part`` the partition of entries a listing artifact read, so the merged timeline is the same
    whether the artifacts ran in one process or several.
    """

    def __init__(self, folder: Path, rank: int, part: int = 0) -> None:
        self.folder, self.rank, self.part = folder, rank, part
        self.runs: list[str] = []
        self._chunk: list[tuple[int, int, bytes]] = []
        self._sequence = 0

    def add(self, event: dict[str, object] | None) -> None:
        """Takes an event as a dict (a finding's)."""
        if event is None:
            return
        timestamp = event["timestamp"]
        assert isinstance(timestamp, int)
        self.add_line((timestamp, dumps(event, _DUMP_OPTIONS)))

    def add_line(self, event: tuple[int, bytes] | None) -> None:
        """Takes an event as its time and JSON line (a record's, from ``record_line``)."""
        if event is None:
            return
        timestamp, line = event
        # Concatenating copies the line to its exact size: orjson's own buffer is a few KiB larger.
        self._chunk.append((timestamp, self._sequence, line + b"\n"))
        self._sequence += 1
        if len(self._chunk) >= CHUNK:
            self.spill()

    def spill(self) -> list[str]:
        """Writes the pending events as a sorted run; returns every run written so far."""
        if self._chunk:
            self._chunk.sort()
            run = self.folder / f"run-{self.rank:07d}-{self.part:07d}-{len(self.runs):05d}"
            with run.open("wb") as stream:
                for timestamp, sequence, line in self._chunk:
                    stream.write(
                        b"%020d %07d %07d %012d " % (timestamp + _SHIFT, self.rank, self.part, sequence) + line
                    )
            self.runs.append(str(run))
            self._chunk = []
        return self.runs


SAMPLES_PER_RUN = 64
MAX_FAN_IN = 200  # runs open at once in one merge, well under the usual limit of 1,024 descriptors


def merge_runs(runs: list[str], path: Path, workers: int = 1) -> int:
    """Merges sorted runs into the timeline file; returns the number of events.

    More than ``MAX_FAN_IN`` runs are first merged in groups into fewer, longer runs (removed once
    used). With several workers the range of keys is cut at keys sampled from the runs, each slice is
    merged by its own worker (every run read from the first line of the slice, found by binary
    search), and the slices are joined in order: the file is the same whatever the number of workers.
    """
    merged: list[str] = []
    while len(runs) > MAX_FAN_IN:
        groups = [runs[start : start + MAX_FAN_IN] for start in range(0, len(runs), MAX_FAN_IN)]
        names = [f"{runs[0]}.merged-{len(merged) + number:05d}" for number in range(len(groups))]
        list(map_in_processes(_merge_group, None, list(zip(groups, names, strict=True)), workers))
        for run in runs:
            if run in merged:
                Path(run).unlink()
        merged += names
        runs = names
    try:
        return _merge_slices(runs, path, workers)
    finally:
        for run in runs:
            if run in merged:
                Path(run).unlink()


def _merge_group(_: None, group: tuple[list[str], str]) -> None:
    """Worker: merges some runs into one longer run (lines keep their keys)."""
    inputs, output = group
    with ExitStack() as stack, Path(output).open("wb") as out:
        out.writelines(heapq.merge(*(stack.enter_context(Path(run).open("rb")) for run in inputs)))


def _merge_slices(runs: list[str], path: Path, workers: int) -> int:
    bounds = _split_keys(runs, workers) if workers > 1 else []
    slices = list(enumerate(zip([None, *bounds], [*bounds, None], strict=True)))
    parts = [path] + [path.with_name(f"{path.name}.part{number}") for number in range(1, len(slices))]
    counts = list(map_in_processes(_merge_slice, (runs, parts), slices, workers))
    with path.open("r+b") as out:
        out.seek(0, os.SEEK_END)
        for part in parts[1:]:
            with part.open("rb") as stream:
                append_file(stream, out)
            part.unlink()
    return sum(counts)


def _merge_slice(shared: tuple[list[str], list[Path]], numbered: tuple[int, tuple[bytes | None, bytes | None]]) -> int:
    """Worker: merges the lines whose keys are in ``[low, high)`` into slice ``number``'s file."""
    runs, parts = shared
    number, (low, high) = numbered
    count = 0
    with ExitStack() as stack, parts[number].open("wb") as out:
        streams = [_lines_between(stack.enter_context(Path(run).open("rb")), low, high) for run in runs]
        for line in heapq.merge(*streams):
            out.write(memoryview(line)[_KEY_WIDTH:])
            count += 1
    return count


def _lines_between(stream: IO[bytes], low: bytes | None, high: bytes | None) -> Iterator[bytes]:
    if low is not None:
        stream.seek(_first_at_or_after(stream, low))
    if high is None:
        yield from stream
        return
    for line in stream:
        if line[:_KEY_WIDTH] >= high:
            return
        yield line


def _line_start(stream: IO[bytes], position: int) -> int:
    """The offset of the first line that starts at or after ``position``."""
    if position == 0:
        return 0
    stream.seek(position - 1)
    stream.readline()
    return stream.tell()


def _key_at(stream: IO[bytes], start: int) -> bytes | None:
    stream.seek(start)
    return stream.readline()[:_KEY_WIDTH] or None


def _first_at_or_after(stream: IO[bytes], key: bytes) -> int:
    """The offset of the first line of a sorted run whose key is at least ``key``."""
    low, high = 0, os.fstat(stream.fileno()).st_size
    while low < high:  # the smallest position whose line (the first starting there or later) holds
        middle = (low + high) // 2
        found = _key_at(stream, _line_start(stream, middle))
        if found is None or found >= key:
            high = middle
        else:
            low = middle + 1
    return _line_start(stream, low)


def _split_keys(runs: list[str], workers: int) -> list[bytes]:
    """Keys that cut the runs' lines into ``workers`` slices of about the same size, from samples."""
    samples: list[tuple[bytes, int]] = []
    for run in runs:
        with Path(run).open("rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            weight = size // (SAMPLES_PER_RUN + 1)
            for number in range(SAMPLES_PER_RUN + 1):
                key = _key_at(stream, _line_start(stream, size * number // (SAMPLES_PER_RUN + 1)))
                if key is not None:
                    samples.append((key, weight))
    samples.sort()
    total = sum(weight for _, weight in samples)
    bounds: list[bytes] = []
    seen = 0
    for key, weight in samples:
        seen += weight
        if len(bounds) < workers - 1 and seen >= total * (len(bounds) + 1) / workers and key not in bounds:
            bounds.append(key)
    return bounds


def append_file(source: IO[bytes], target: IO[bytes]) -> None:
    """Appends a freshly opened file to another (opened without ``O_APPEND``, positioned at its end),
    at the level of their descriptors: in the kernel where it can (``copy_file_range``), the rest
    through a buffer."""
    target.flush()
    read_from, write_to = source.fileno(), target.fileno()
    try:
        while os.copy_file_range(read_from, write_to, 1 << 30) > 0:
            pass
    except (AttributeError, OSError):  # not Linux, or a file system that cannot
        pass
    while chunk := os.read(read_from, 1 << 20):  # whatever the kernel did not copy
        view = memoryview(chunk)
        while view:
            view = view[os.write(write_to, view) :]


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One line of ``timeline.jsonl`` read back: the event attributes, the evidence locator (a record's
    event; a finding's has none) and every other field (a record's payload; a finding's ``tag``,
    ``finding_id`` and ``rule``), in the order written."""

    message: str
    datetime: str
    timestamp: int
    timestamp_desc: str
    data_type: str
    evidence: dict[str, JSON] | None
    fields: dict[str, JSON]


class TimelineFormatError(Exception):
    """A timeline.jsonl line that is not an event as ``record_line`` or ``finding_event`` writes it; the
    message names the file and line."""


_EVENT_TEXT = ("message", "datetime", "timestamp_desc", "data_type")


def read_timeline(path: Path) -> Iterator[TimelineEvent]:
    """The events of a timeline file, one line at a time (a timeline may hold millions: it is never loaded
    whole)."""
    with path.open("rb") as stream:
        for number, line in enumerate(stream, 1):
            try:
                yield timeline_event(line)
            except (orjson.JSONDecodeError, TypeError) as error:
                raise TimelineFormatError(f"{path.name}: line {number}: {error}") from None


def timeline_event(line: bytes) -> TimelineEvent:
    """An event from its line; ``TypeError`` says which attribute is missing or of the wrong type."""
    event = orjson.loads(line)
    if not isinstance(event, dict):
        raise TypeError("not a JSON object")
    for name in _EVENT_TEXT:
        if not isinstance(event.get(name), str):
            raise TypeError(f"{name!r} is not text")
    timestamp = event.pop("timestamp", None)
    if type(timestamp) is not int:
        raise TypeError("'timestamp' is not an integer")
    evidence = event.pop("evidence", None)
    if evidence is not None and not isinstance(evidence, dict):
        raise TypeError("'evidence' is not an object")
    return TimelineEvent(
        message=event.pop("message"),
        datetime=event.pop("datetime"),
        timestamp=timestamp,
        timestamp_desc=event.pop("timestamp_desc"),
        data_type=event.pop("data_type"),
        evidence=evidence,
        fields=event,
    )
