"""The output folder of a check: where each result file goes, written as the analysis streams.

Layout: ``findings.json`` (canonical), ``manifest.jsonl`` (one line per acquisition entry),
``records/<artifact>.jsonl`` (every parsed record), ``timeline.jsonl`` (Timesketch), ``run.json``
(times, host, options; never part of any digest).
"""

from __future__ import annotations

import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

import orjson

from vestige import __version__
from vestige.analysis import Result
from vestige.evidence.acquisition import Acquisition
from vestige.model import JSON, Record, format_time
from vestige.report.findings import write_findings
from vestige.report.timeline import TimelineWriter, finding_event, record_event


class OutputFolder:
    """Receives records during the analysis (a ``RecordSink``), then writes the remaining files."""

    def __init__(self, path: Path) -> None:
        self.path = path
        (path / "records").mkdir(parents=True, exist_ok=True)
        self._records: dict[str, IO[bytes]] = {}
        self._timeline = TimelineWriter()

    def record(self, record: Record) -> None:
        stream = self._records.get(record.artifact)
        if stream is None:
            stream = (self.path / "records" / f"{record.artifact}.jsonl").open("wb")
            self._records[record.artifact] = stream
        stream.write(orjson.dumps(record, option=orjson.OPT_UTC_Z) + b"\n")
        self._timeline.add(record_event(record))

    def finish(self, result: Result, acquisition: Acquisition, run: dict[str, JSON]) -> str:
        """Writes findings.json, manifest.jsonl, timeline.jsonl and run.json; returns the findings digest."""
        for stream in self._records.values():
            stream.close()
        self._records.clear()
        with (self.path / "manifest.jsonl").open("wb") as stream:
            for line in acquisition.manifest().json_lines():
                stream.write(line + b"\n")
        for finding in result.findings:
            self._timeline.add(finding_event(finding))
        events = self._timeline.write(self.path / "timeline.jsonl")
        digest = write_findings(result, self.path / "findings.json")
        run = {**run, "timeline_events": events, "findings_sha256": digest}
        (self.path / "run.json").write_bytes(orjson.dumps(run, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        return digest


def run_metadata(started: datetime, options: dict[str, JSON]) -> dict[str, JSON]:
    finished = datetime.now(timezone.utc)
    return {
        "vestige_version": __version__,
        "started": format_time(started),
        "finished": format_time(finished),
        "duration_seconds": round((finished - started).total_seconds(), 3),
        "host": platform.node(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "options": options,
    }
