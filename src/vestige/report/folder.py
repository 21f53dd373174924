"""The output folder of a check: where each result file goes, written as the analysis streams.

Layout: ``findings.json`` (canonical), ``manifest.jsonl`` (one line per acquisition entry),
``records/<artifact>.jsonl`` (every parsed record but the entries themselves), ``timeline.jsonl``
(Timesketch), ``run.json`` (times, host, options, artifact versions; never part of any digest),
``report.html`` (the offline report, ``report/html.py``, made from findings.json and the timeline).
"""

from __future__ import annotations

import platform
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
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
from vestige.report.html import REPORT, write_report
from vestige.report.timeline import TimelineRuns, finding_event, merge_runs, record_line


class OutputFolder:
    """Where a check writes. ``open`` gives each artifact its own writer (in whichever process runs it);
    ``finish`` writes the files that need the whole result."""

    def __init__(self, path: Path, workers: int = 1) -> None:
        self.path = path
        self.workers = workers
        (path / "records").mkdir(parents=True, exist_ok=True)
        self._scratch = Path(tempfile.mkdtemp(prefix="vestige-timeline-"))
        self._runs: list[str] = []

    def open(self, artifact: str, rank: int, acquisition: int | None, part: int | None = None) -> ArtifactWriter:
        """The writer of an artifact of one acquisition. The records of a listing artifact (one
        partition of entries at a time) are the entries manifest.jsonl holds: they go to the timeline
        only. Several acquisitions of a check append to the same records file, one after the other."""
        records = None if part is not None else self.path / "records" / f"{artifact}.jsonl"
        return ArtifactWriter(records, TimelineRuns(self._scratch, rank, part or 0), acquisition)

    def absorb(self, receipt: object) -> None:
        """Takes the timeline runs that an artifact's writer reported when it closed."""
        assert isinstance(receipt, Receipt)
        self._runs.extend(receipt.runs)

    def manifest_file(self) -> IO[bytes]:
        """``manifest.jsonl``, written by the engine's seal task (in a worker when there are several),
        one acquisition after the other."""
        return (self.path / "manifest.jsonl").open("ab", buffering=WRITE_BUFFER)

    def discard_scratch(self) -> None:
        """Removes the temporary timeline runs (``finish`` does; a failed run calls it itself)."""
        shutil.rmtree(self._scratch, ignore_errors=True)

    def finish(self, result: Result, run: dict[str, JSON]) -> str:
        """Writes findings.json, timeline.jsonl, run.json and report.html (manifest.jsonl and the records
        are written during the analysis); returns the findings digest. The report shows personal data
        when the run's options say ``show_personal_data``."""
        findings = TimelineRuns(self._scratch, FINDINGS_RANK)
        for finding in result.findings:
            findings.add(finding_event(finding))
        with writing(self.path / "timeline.jsonl"):
            events = merge_runs(self._runs + findings.spill(), self.path / "timeline.jsonl", self.workers)
        self.discard_scratch()
        with writing(self.path / "findings.json"):
            digest = write_findings(result, self.path / "findings.json")
        versions = {a.name: a.version for a in result.artifacts} | {c.name: c.version for c in result.correlators}
        run = {**run, "versions": dict(sorted(versions.items())), "timeline_events": events, "findings_sha256": digest}
        with writing(self.path / "run.json"):
            (self.path / "run.json").write_bytes(orjson.dumps(run, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        options = run.get("options")
        personal = isinstance(options, dict) and options.get("show_personal_data") is True
        with writing(self.path / REPORT):
            write_report(self.path, show_personal_data=personal, workers=self.workers, timeline_as_written=True)
        return digest


FINDINGS_RANK = 1 << 20
WRITE_BUFFER = 1 << 20


@dataclass(frozen=True)
class Receipt:
    """What an artifact's writer hands to ``OutputFolder.absorb``: its timeline runs."""

    runs: list[str]


class ArtifactWriter:
    """Writes one artifact's records of one acquisition to ``records/<artifact>.jsonl`` (appending) and
    its timeline runs; a writer with no records file writes the timeline only."""

    def __init__(self, path: Path | None, timeline: TimelineRuns, acquisition: int | None) -> None:
        self._stream: IO[bytes] | None = None
        self._path = path
        self._timeline = timeline
        self._acquisition = acquisition

    def record(self, record: Record) -> None:
        locator = record.locator.parts()  # written in both lines: built once
        if self._acquisition is not None:
            locator["acquisition"] = self._acquisition
        if self._path is not None:
            try:  # not ``with writing``: this runs for every record
                if self._stream is None:
                    self._stream = self._path.open("ab", buffering=WRITE_BUFFER)
                line = record_json(record, locator, self._acquisition)
                self._stream.write(dumps(line, orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE))
            except OSError as error:
                raise named(error, self._path) from error
        self._timeline.add_line(record_line(record, locator))

    def close(self) -> Receipt:
        """Closes the records file; the receipt is for ``OutputFolder.absorb``."""
        if self._stream is not None:
            with writing(self._path or Path()):
                self._stream.close()
        return Receipt([str(run) for run in self._timeline.spill()])


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Names ``path`` in an error of the system while it is written: a failed write says only "No space
    left on device", and the analyst needs to know where."""
    try:
        yield
    except OSError as error:
        raise named(error, path) from error


def named(error: OSError, path: Path) -> OSError:
    """``error`` naming ``path`` if it names no file."""
    return error if error.filename is not None else OSError(error.errno, error.strerror, str(path))


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
