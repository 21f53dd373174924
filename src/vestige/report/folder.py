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
from vestige.report.encoding import payload_json, records_line
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

    def open(
        self, artifact: str, rank: int, acquisition: int | None, part: int | None = None, shard: int | None = None
    ) -> ArtifactWriter:
        """The writer of an artifact of one acquisition. The records of a listing artifact (one
        partition of entries at a time) are the entries manifest.jsonl holds: they go to the timeline
        only. Several acquisitions of a check append to the same records file, one after the other. A
        shard of a sharded artifact writes its records aside (shards run at the same time), and
        ``absorb`` appends them to the artifact's file in the engine's order of shards."""
        if part is not None:
            return ArtifactWriter(None, TimelineRuns(self._scratch, rank, part), acquisition)
        records = self.path / "records" / f"{artifact}.jsonl"
        if shard is None:
            return ArtifactWriter(records, TimelineRuns(self._scratch, rank), acquisition)
        aside = self._scratch / f"records-{rank:07d}-{shard:07d}.jsonl"
        return ArtifactWriter(aside, TimelineRuns(self._scratch, rank, shard), acquisition, records)

    def absorb(self, receipt: object) -> None:
        """Takes the timeline runs that an artifact's writer reported when it closed, and the records of
        a shard written aside."""
        assert isinstance(receipt, Receipt)
        self._runs.extend(receipt.runs)
        if receipt.aside is not None:
            aside, records = Path(receipt.aside[0]), Path(receipt.aside[1])
            with writing(records), records.open("ab") as out, aside.open("rb") as written:
                shutil.copyfileobj(written, out, WRITE_BUFFER)
            aside.unlink()

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
    """What an artifact's writer hands to ``OutputFolder.absorb``: its timeline runs, and for a shard the
    file its records were written to and the records file they belong at the end of."""

    runs: list[str]
    aside: tuple[str, str] | None = None


class ArtifactWriter:
    """Writes one artifact's records of one acquisition to ``records/<artifact>.jsonl`` (appending) and
    its timeline runs; a writer with no records file writes the timeline only."""

    def __init__(
        self, path: Path | None, timeline: TimelineRuns, acquisition: int | None, destination: Path | None = None
    ) -> None:
        self._stream: IO[bytes] | None = None
        self._path = path
        self._timeline = timeline
        self._acquisition = acquisition
        self._destination = destination
        """Where records written to ``path`` belong in the end (a shard's; ``OutputFolder.absorb``)."""

    def record(self, record: Record) -> None:
        locator = record.locator.parts()  # written in both lines: built once
        if self._acquisition is not None:
            locator["acquisition"] = self._acquisition
        if self._path is not None:
            try:  # not ``with writing``: this runs for every record
                if self._stream is None:
                    self._stream = self._path.open("ab", buffering=WRITE_BUFFER)
                fields = payload_json(record.payload)  # written once for both lines
                self._stream.write(records_line(record, locator, self._acquisition, fields))
            except OSError as error:
                raise named(error, self._path) from error
        else:
            fields = payload_json(record.payload)
        self._timeline.add_line(record_line(record, locator, fields))

    def close(self) -> Receipt:
        """Closes the records file; the receipt is for ``OutputFolder.absorb``."""
        if self._stream is not None:
            with writing(self._path or Path()):
                self._stream.close()
        runs = [str(run) for run in self._timeline.spill()]
        if self._destination is None or self._stream is None:
            return Receipt(runs)
        return Receipt(runs, (str(self._path), str(self._destination)))


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
