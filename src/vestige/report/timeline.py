"""``timeline.jsonl``: Timesketch-compatible events, sorted by time, with bounded memory.

Each line has the three fields Timesketch requires (``message``, ``datetime`` in ISO 8601,
``timestamp_desc``) plus ``timestamp`` (microseconds since the Unix epoch), ``data_type`` (the
artifact), the evidence locator and the record's fields. Findings with a time are events too, tagged
with their severity. Events are sorted in chunks spilled to temporary files and merged, so an
acquisition of millions of records never sits in memory.
"""

from __future__ import annotations

import heapq
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

import orjson

from vestige.model import Finding, Record, format_time

CHUNK = 50_000
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
    return {
        **{key: value for key, value in record.fields.items() if key not in RESERVED},
        "message": record.summary,
        "datetime": format_time(record.time),
        "timestamp": microseconds(record.time),
        "timestamp_desc": record.time_kind,
        "data_type": record.artifact,
        "evidence": record.locator.as_json(),
    }


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


class TimelineWriter:
    """Collects events, spills sorted chunks to a private temporary folder, merges on ``write``."""

    def __init__(self) -> None:
        self._scratch = tempfile.TemporaryDirectory(prefix="vestige-timeline-")
        self._chunk: list[tuple[int, int, bytes]] = []
        self._runs: list[Path] = []
        self._sequence = 0

    def add(self, event: dict[str, object] | None) -> None:
        if event is None:
            return
        timestamp = event["timestamp"]
        assert isinstance(timestamp, int)
        # Concatenating copies the line to its exact size: orjson's own buffer is a few KiB larger.
        self._chunk.append((timestamp, self._sequence, orjson.dumps(event, option=_DUMP_OPTIONS) + b"\n"))
        self._sequence += 1
        if len(self._chunk) >= CHUNK:
            self._spill()

    def _spill(self) -> None:
        self._chunk.sort()
        run = Path(self._scratch.name) / f"run-{len(self._runs):05d}"
        with run.open("wb") as stream:
            for timestamp, sequence, line in self._chunk:
                stream.write(b"%d %d " % (timestamp, sequence) + line)
        self._runs.append(run)
        self._chunk = []

    def write(self, path: Path) -> int:
        """Writes the merged, sorted timeline; returns the number of events."""
        self._spill()
        streams = [run.open("rb") for run in self._runs]
        count = 0
        try:
            with path.open("wb") as out:
                for _, _, line in heapq.merge(*(_read_run(s) for s in streams)):
                    out.write(line)
                    count += 1
        finally:
            for stream in streams:
                stream.close()
            self._scratch.cleanup()
        return count


def _read_run(stream: IO[bytes]) -> Iterator[tuple[int, int, bytes]]:
    for line in stream:
        timestamp, sequence, event = line.split(b" ", 2)
        yield int(timestamp), int(sequence), event
