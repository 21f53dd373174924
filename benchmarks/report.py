"""Benchmark: writing report.html for a timeline of 1,000,000 events, its size, and the time headless
Chromium takes to show its first page, against writing the findings and the timeline themselves.

Run from the repository root with vestige importable (``pip install -e .`` or ``PYTHONPATH=src``)::

    python benchmarks/report.py [--events 1000000] [--runs 3] [--workdir DIR]

What it does, all offline:

1. The peer: writes an output folder's timeline and findings the way a check does, from ``--events``
   records one second apart, mixed as in a backup's timeline: half the entries of its file listing
   (``ios.manifest``, nothing to hide), a quarter SMS (a contact and a text to hide), a quarter Safari
   visits (a page title to hide); with ``--personal-only``, the worst case: a third SMS and two thirds
   visits, every event rewritten: each record's line (``report.timeline.record_line``) into sorted runs
   (``TimelineRuns``), merged into ``timeline.jsonl`` (``merge_runs``, one worker), then
   ``findings.json`` (``write_findings``). The time to make the records alone is measured apart and
   taken off, so the peer is the cost of writing them.
2. The report: ``report.html.write_report`` of that folder as a check calls it (personal data hidden, the
   default; ``timeline_as_written``: the timeline was just merged by ``merge_runs``, as in a check), timed
   ``--runs`` times with one worker (as the peer merges with one) and ``--runs`` times with ``--jobs``
   (default: one per CPU, as a check runs); the medians are shown, with the size of the file next to
   timeline.jsonl's.
3. The first page: with Playwright and ``/usr/bin/chromium`` (never a downloaded browser), the seconds
   from opening the file to the first row of the timeline table drawn, ``--runs`` times (median); left
   out, saying why, when either is missing.

``report/peer`` is the report's time over the peer's: what writing report.html adds to the output of a
check with this many timeline events.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from vestige.analysis import AcquisitionSummary, Result
from vestige.evidence.acquisition import DeviceInfo
from vestige.model import Locator, Record
from vestige.report.findings import write_findings
from vestige.report.html import write_report
from vestige.report.timeline import TimelineRuns, merge_runs, record_line

T0 = datetime(2024, 5, 14, 9, 0, tzinfo=timezone.utc)
CHROMIUM = Path("/usr/bin/chromium")


@dataclass(frozen=True, slots=True)
class Visit:
    visit_id: int
    url: str
    title: str


@dataclass(frozen=True, slots=True)
class Message:
    rowid: int
    handle: str
    text: str
    urls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Entry:
    path: str
    size: int
    mode: int
    sha256: str


def record(number: int, personal_only: bool = False) -> Record:
    """Event ``number``: a file entry of the backup's listing (one in two), an SMS (one in four) or a
    Safari visit; with ``personal_only``, SMS (one in three) and visits only."""
    moment = T0 + timedelta(seconds=number)
    if not personal_only and number % 2 == 0:
        path = f"HomeDomain/Library/Caches/com.example.app{number % 300}/file{number}.db"
        return Record(
            "ios.manifest",
            Locator("Manifest.db", "33" * 32, "Files", number),
            moment,
            f"File {path} modified",
            Entry(path, number % 65_536, 0o100644, f"{number:064x}"),
            time_kind="modified",
        )
    if number % 3 == 0:
        handle, text = f"+2126{number:08d}", f"Message number {number}, see you at the usual place"
        return Record(
            "ios.sms",
            Locator("HomeDomain/Library/SMS/sms.db", "11" * 32, "message", number),
            moment,
            f"SMS received from {handle}: {text}",
            Message(number, handle, text, ()),
            time_kind="message date",
        )
    url = f"https://news{number % 5000}.example/article/{number}"
    return Record(
        "ios.safari_history",
        Locator("HomeDomain/Library/Safari/History.db", "22" * 32, "history_visits", number),
        moment,
        f"Safari visit to {url}",
        Visit(number, url, f"Article {number}"),
        time_kind="visit time",
    )


def make_only(events: int, personal_only: bool) -> float:
    started = time.perf_counter()
    for number in range(events):
        record(number, personal_only)
    return time.perf_counter() - started


def write_peer(folder: Path, events: int, personal_only: bool) -> float:
    """Writes timeline.jsonl and findings.json as a check does; returns the seconds it took."""
    if folder.exists():
        shutil.rmtree(folder)
    scratch = folder / "scratch"
    scratch.mkdir(parents=True)
    started = time.perf_counter()
    runs = TimelineRuns(scratch, 0)
    for number in range(events):
        runs.add_line(record_line(record(number, personal_only)))
    merge_runs(runs.spill(), folder / "timeline.jsonl", 1)
    result = Result([AcquisitionSummary("ios-backup", DeviceInfo(), events, 0, "33" * 32)], ())
    write_findings(result, folder / "findings.json")
    seconds = time.perf_counter() - started
    shutil.rmtree(scratch)
    return seconds


def first_page(report: Path, runs: int) -> list[float] | str:
    """Seconds to the first drawn row in headless Chromium, or why it was not measured."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "playwright is not installed"
    if not CHROMIUM.is_file():
        return f"no browser at {CHROMIUM}"
    times: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        for _ in range(runs):
            page = browser.new_page()
            started = time.perf_counter()
            page.goto(report.as_uri())
            page.wait_for_selector("#timeline-table tbody tr", timeout=120_000)
            times.append(time.perf_counter() - started)
            page.close()
        browser.close()
    return times


def median(times: list[float]) -> float:
    return statistics.median(times)


def timed(action: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        out.append(time.perf_counter() - started)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--personal-only", action="store_true", help="only SMS and visits: every event hides data")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="workers of the second report run")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "vestige-bench-report")
    arguments = parser.parse_args()
    events, runs, personal = arguments.events, arguments.runs, arguments.personal_only
    folder = arguments.workdir / "out"
    mix = "a third SMS, two thirds Safari visits" if personal else "half file entries, a quarter SMS, a quarter visits"
    print(f"{events:,} timeline events ({mix}), {runs} runs each, load average {os.getloadavg()[0]:.2f}")
    making = median([make_only(events, personal) for _ in range(runs)])
    peer = median([write_peer(folder, events, personal) for _ in range(runs)]) - making
    report = median(timed(lambda: write_report(folder, timeline_as_written=True), runs))
    jobs = arguments.jobs
    parallel = median(timed(lambda: write_report(folder, workers=jobs, timeline_as_written=True), runs))
    size = (folder / "report.html").stat().st_size
    timeline = (folder / "timeline.jsonl").stat().st_size
    print(f"{'what':<44} {'seconds':>9}")
    print(f"{'making the records (taken off the peer)':<44} {making:>9.2f}")
    print(f"{'peer: timeline.jsonl + findings.json':<44} {peer:>9.2f}")
    print(f"{'report.html, one worker':<44} {report:>9.2f}")
    print(f"{f'report.html, {jobs} workers':<44} {parallel:>9.2f}")
    print(f"report/peer: {report / peer:.2f} with one worker, {parallel / peer:.2f} with {jobs}")
    print(f"report.html {size / 1e6:.1f} MB; timeline.jsonl {timeline / 1e6:.1f} MB ({size / timeline:.3f} of it)")
    shown = first_page(folder / "report.html", runs)
    if isinstance(shown, str):
        print(f"first page in Chromium: not measured ({shown})")
    else:
        print(f"first page in Chromium: {median(shown):.2f} s (runs: {', '.join(f'{t:.2f}' for t in shown)})")
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
