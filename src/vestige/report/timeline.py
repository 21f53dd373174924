"""``timeline.jsonl``: Timesketch-compatible events, sorted by time, with bounded memory.

Each line has the three fields Timesketch requires (``message``, ``datetime`` in ISO 8601,
``timestamp_desc``) plus ``timestamp`` (microseconds since the Unix epoch), ``data_type`` (the
artifact), the evidence locator and the record's fields. Findings with a time are events too, tagged
with their severity. Each artifact's events are sorted in chunks spilled to temporary files, and the
runs of all artifacts are merged at the end, so millions of records never sit in memory.
"""

from __future__ import annotations

import heapq
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

import orjson

from vestige.model import Finding, Record, format_time
from vestige.report.encoding import dumps

CHUNK = 50_000
# Each line of a run starts with a fixed-width key (timestamp, rank, part, sequence) so that plain
# byte comparison orders the lines; timestamps are shifted to be positive.
_SHIFT = 1 << 62
_KEY_WIDTH = 20 + 1 + 7 + 1 + 7 + 1 + 12 + 1
_DUMP_OPTIONS = orjson.OPT_SORT_KEYS
RESERVED = frozenset({"message", "datetime", "timestamp", "timestamp_desc", "data_type", "tag"})
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def microseconds(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def record_event(record: Record) -> dict[str, object] | None:
    """The Timesketch event of a record: its fields, then the event attributes (which win)."""
    if record.time is None:
        return None
    event: dict[str, object] = dict(record.fields)
    if not RESERVED.isdisjoint(event):
        event = {key: value for key, value in event.items() if key not in RESERVED}
    event.update(
        message=record.summary,
        datetime=format_time(record.time),
        timestamp=microseconds(record.time),
        timestamp_desc=record.time_kind,
        data_type=record.artifact,
        evidence=record.locator.parts(),
    )
    return event


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
    ``part`` the partition of entries an ``EntryArtifact`` read, so the merged timeline is the same
    whether the artifacts ran in one process or several.
    """

    def __init__(self, folder: Path, rank: int, part: int = 0) -> None:
        self.folder, self.rank, self.part = folder, rank, part
        self.runs: list[str] = []
        self._chunk: list[tuple[int, int, bytes]] = []
        self._sequence = 0

    def add(self, event: dict[str, object] | None) -> None:
        if event is None:
            return
        timestamp = event["timestamp"]
        assert isinstance(timestamp, int)
        # Concatenating copies the line to its exact size: orjson's own buffer is a few KiB larger.
        self._chunk.append((timestamp, self._sequence, dumps(event, _DUMP_OPTIONS) + b"\n"))
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


def merge_runs(runs: list[str], path: Path) -> int:
    """Merges sorted runs into the timeline file; returns the number of events."""
    count = 0
    with ExitStack() as stack, path.open("wb") as out:
        streams = [stack.enter_context(Path(run).open("rb")) for run in runs]
        for line in heapq.merge(*streams):
            out.write(line[_KEY_WIDTH:])
            count += 1
    return count
