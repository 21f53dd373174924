"""How results look on a terminal: a progress bar while working, then the summary of findings."""

from __future__ import annotations

import re
import time
from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from vestige.analysis import Result
from vestige.model import Finding, Severity

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def shown(text: str) -> str:
    """Evidence text made safe to print: control characters (an escape sequence in an SMS could
    retitle or clear the analyst's terminal) become visible ``\\xNN`` escapes, and rich markup is
    escaped."""
    return escape(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text))


STYLES = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
SHOWN_FROM = Severity.MEDIUM


class ProgressBar:
    """The engine's ``Progress`` drawn with rich; silent when stderr is not a terminal.

    It redraws when the engine reports progress rather than from a thread of its own, so that the
    engine may fork worker processes without a drawing thread running.
    """

    def __init__(self, console: Console) -> None:
        self._progress: Progress | None = None
        if console.is_terminal:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
                auto_refresh=False,
            )
        self._task: TaskID | None = None
        self._drawn = 0.0

    def __enter__(self) -> ProgressBar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def phase(self, name: str, total: int | None) -> None:
        if self._progress is None:
            return
        if self._task is not None:
            self._progress.update(self._task, visible=False)
        self._task = self._progress.add_task(name, total=total)
        self._progress.refresh()

    def advance(self, count: int = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, count)
            now = time.monotonic()
            if now - self._drawn > 0.1:
                self._drawn = now
                self._progress.refresh()


def render_summary(console: Console, result: Result, folder: Path) -> None:
    several = len(result.acquisitions) > 1
    for number, acquisition in enumerate(result.acquisitions):
        device = acquisition.device
        console.print(
            (f"[bold]acquisition {number}[/] " if several else "")
            + f"[bold]{shown(acquisition.kind)}[/] {shown(device.name or '')} {shown(device.model or '')} "
            f"{shown(device.os_name or '')} {shown(device.os_version or '')}: {acquisition.file_count} entries, "
            f"{acquisition.total_bytes} bytes, Merkle root {acquisition.merkle_root[:16]}…"
        )
    table = Table(title="Findings by severity", show_edge=False)
    table.add_column("severity")
    table.add_column("count", justify="right")
    for severity in sorted(Severity, reverse=True):
        count = sum(1 for f in result.findings if f.severity == severity)
        table.add_row(f"[{STYLES[severity]}]{severity.label}[/]", str(count))
    console.print(table)
    for finding in result.findings:
        if finding.severity >= SHOWN_FROM:
            render_finding(console, finding)
    if result.problems:
        console.print(f"[bold yellow]{len(result.problems)} problem(s): the run is incomplete[/]")
        for problem in result.problems:
            console.print(f"  [yellow]{shown(problem.artifact)}[/] {shown(problem.reason)}")
    console.print(f"Results: [bold]{shown(str(folder))}[/] (findings.json, timeline.jsonl, records/, manifest.jsonl)")


def render_finding(console: Console, finding: Finding) -> None:
    when = finding.time.isoformat() if finding.time else "undated"
    console.print(
        f"\n[{STYLES[finding.severity]}]{finding.severity.label.upper()}[/] {shown(finding.title)}"
        f"  [dim]{finding.rule} {finding.id} {when}[/]"
    )
    console.print(f"  {shown(finding.explanation)}", soft_wrap=False)
    for evidence in finding.evidence:
        locator = evidence.locator
        where = ", ".join(
            f"{name} {value}"
            for name, value in (
                ("table", locator.table),
                ("row", locator.row),
                ("line", locator.line),
                ("offset", locator.offset),
                ("key", locator.key),
                ("acquisition", locator.acquisition),
            )
            if value is not None
        )
        console.print(
            f"  [dim]evidence[/] {shown(locator.path)} [dim]sha256 {(locator.sha256 or '-')[:16]}… {shown(where)}[/]"
        )
        console.print(f"    {shown(evidence.excerpt)}")
    for match in finding.indicators:
        console.print(
            f"  [dim]indicator[/] {shown(match.type)} {shown(match.value)} [dim]{shown(match.collection)} "
            f"({shown(match.set_name)} {match.set_sha256[:12]}…)[/]"
        )
