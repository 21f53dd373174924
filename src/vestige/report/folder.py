"""The output folder of a check: where each result file goes, written as the analysis streams.

Layout: ``findings.json`` (canonical), ``manifest.jsonl`` (one line per acquisition entry),
``records/<artifact>.jsonl`` (every parsed record), ``timeline.jsonl`` (Timesketch), ``run.json``
(times, host, options; never part of any digest).
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

import orjson

from vestige import __version__
from vestige.analysis import Result
from vestige.model import JSON, Record, format_time
from vestige.report.encoding import dumps, record_json
from vestige.report.findings import write_findings
from vestige.report.timeline import TimelineRuns, append_file, finding_event, merge_runs, record_event


class OutputFolder:
    """Where a check writes. ``open`` gives each artifact its own writer (in whichever process runs it);
    ``finish`` writes the files that need the whole result."""

    def __init__(self, path: Path, workers: int = 1) -> None:
        self.path = path
        self.workers = workers
        (path / "records").mkdir(parents=True, exist_ok=True)
        self._scratch = Path(tempfile.mkdtemp(prefix="vestige-timeline-"))
        self._runs: list[str] = []
        self._parted: set[str] = set()

    def open(self, artifact: str, rank: int, part: int | None = None) -> ArtifactWriter:
        """The writer of an artifact; one partition's writer writes to scratch until it is absorbed."""
        if part is None:
            return ArtifactWriter(self._records(artifact), TimelineRuns(self._scratch, rank), artifact)
        records = self._scratch / f"records-{rank:07d}-{part:07d}.jsonl"
        return ArtifactWriter(records, TimelineRuns(self._scratch, rank, part), artifact, parted=True)

    def absorb(self, receipt: object) -> None:
        """Takes the timeline runs that an artifact's writer reported when it closed, and appends a
        partition's records to the artifact's records file (partitions arrive in order)."""
        assert isinstance(receipt, Receipt)
        self._runs.extend(receipt.runs)
        if receipt.records_part is not None:
            part = Path(receipt.records_part)
            # Not "ab": copy_file_range refuses a file opened to append.
            mode = "r+b" if receipt.artifact in self._parted else "wb"
            self._parted.add(receipt.artifact)
            with self._records(receipt.artifact).open(mode) as out:
                out.seek(0, os.SEEK_END)
                if part.exists():
                    with part.open("rb") as stream:
                        append_file(stream, out)
                    part.unlink()

    def manifest_file(self) -> IO[bytes]:
        """``manifest.jsonl``, written by the engine's seal task (in a worker when there are several)."""
        return (self.path / "manifest.jsonl").open("wb", buffering=WRITE_BUFFER)

    def _records(self, artifact: str) -> Path:
        return self.path / "records" / f"{artifact}.jsonl"

    def discard_scratch(self) -> None:
        """Removes the temporary timeline runs and records (``finish`` does; a failed run calls it itself)."""
        shutil.rmtree(self._scratch, ignore_errors=True)

    def finish(self, result: Result, run: dict[str, JSON]) -> str:
        """Writes findings.json, timeline.jsonl and run.json (manifest.jsonl is written during the
        analysis); returns the findings digest."""
        findings = TimelineRuns(self._scratch, FINDINGS_RANK)
        for finding in result.findings:
            findings.add(finding_event(finding))
        events = merge_runs(self._runs + findings.spill(), self.path / "timeline.jsonl", self.workers)
        self.discard_scratch()
        digest = write_findings(result, self.path / "findings.json")
        run = {**run, "timeline_events": events, "findings_sha256": digest}
        (self.path / "run.json").write_bytes(orjson.dumps(run, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        return digest


FINDINGS_RANK = 1 << 20
WRITE_BUFFER = 1 << 20


@dataclass(frozen=True)
class Receipt:
    """What an artifact's writer hands to ``OutputFolder.absorb``: its timeline runs, and where one
    partition's records wait to be appended."""

    artifact: str
    runs: list[str]
    records_part: str | None


class ArtifactWriter:
    """Writes one artifact's records to ``records/<artifact>.jsonl`` (or one partition's to scratch)
    and its timeline runs."""

    def __init__(self, path: Path, timeline: TimelineRuns, artifact: str, parted: bool = False) -> None:
        self._stream: IO[bytes] | None = None
        self._path = path
        self._timeline = timeline
        self._artifact, self._parted = artifact, parted

    def record(self, record: Record) -> None:
        if self._stream is None:
            self._stream = self._path.open("wb", buffering=WRITE_BUFFER)
        locator = record.locator.parts()  # written in both lines: built once
        self._stream.write(dumps(record_json(record, locator), orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE))
        self._timeline.add(record_event(record, locator))

    def close(self) -> Receipt:
        """Closes the records file; the receipt is for ``OutputFolder.absorb``."""
        if self._stream is not None:
            self._stream.close()
        runs = [str(run) for run in self._timeline.spill()]
        return Receipt(self._artifact, runs, str(self._path) if self._parted else None)


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
