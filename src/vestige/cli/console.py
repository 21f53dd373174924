"""How results look on a terminal: a progress bar while working, then the summary of findings.

Evidence is written by whoever controls the phone, so no text that comes from it (a device name,
an SMS, a URL, a path, a finding's title or explanation quoting them, a problem, a refusal naming
a file) may steer the analyst's terminal or forge a line of vestige's own. Three rules hold:

- ``visible``: every character that is not shown as itself (C0 and C1 controls, DEL, line and
  paragraph separators, bidi embeddings, overrides, isolates and marks, zero-width and other
  invisible format characters, blank fillers, lone surrogates) is written as a Python-style escape
  (``\\x0a``, ``\\u202e``, ``\\U000e0041``), the form vestige's own messages already give to
  bytes that are not UTF-8 (``notes-\\xff.txt``), which are therefore left as they are. A backslash
  next to another, before an escaped character, before ``[`` or at the end is itself written
  ``\\x5c``: rich would read it as its own escape, and its markup patterns take time quadratic in
  a run of backslashes;
- ``shown``: that, with rich markup escaped, for building markup lines; ``new_console`` gives a
  console with emoji codes (``:skull:``) and highlighting off;
- ``print_line``: one logical line. On a terminal vestige wraps it itself and marks every
  continuation row with ``↪``, so the terminal's own wrapping (or a run of padding) can never make
  evidence text start a row that looks like vestige's; elsewhere (a pipe, a file) it is one line.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
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
from rich.text import Text

from vestige.analysis import Result
from vestige.model import Finding, Locator, Severity

INVISIBLE: tuple[tuple[int, int], ...] = (
    (0x0000, 0x001F),  # C0 controls: ESC, newline, carriage return, tab, backspace...
    (0x007F, 0x009F),  # DEL and C1 controls (U+0085 NEXT LINE, U+009B the one-byte CSI)
    (0x00AD, 0x00AD),  # soft hyphen
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x0600, 0x0605),  # Arabic number signs (format characters)
    (0x061C, 0x061C),  # Arabic letter mark (bidi)
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x115F, 0x1160),  # Hangul fillers: blank, yet letters
    (0x17B4, 0x17B5),  # Khmer inherent vowels, invisible
    (0x180E, 0x180E),  # Mongolian vowel separator
    (0x200B, 0x200F),  # zero-width space, non-joiner, joiner; left-to-right and right-to-left marks
    (0x2028, 0x202E),  # line and paragraph separators; bidi embeddings, pops and overrides
    (0x2060, 0x206F),  # word joiner, invisible operators, bidi isolates, deprecated format characters
    (0x3164, 0x3164),  # Hangul filler
    (0xD800, 0xDFFF),  # lone surrogates (undecodable bytes kept by ``surrogateescape``)
    (0xFEFF, 0xFEFF),  # zero-width no-break space (byte order mark)
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xFFF9, 0xFFFB),  # interlinear annotation controls
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),  # Egyptian hieroglyph format controls
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical symbol format controls
    (0xE0000, 0xE007F),  # tag characters (invisible text)
)
"""Code points written as escapes: every character of Unicode categories Cc, Cf, Zl, Zp and Cs
(``tests/cli/test_console.py`` checks this against ``unicodedata``) and a few invisible letters."""

_INVISIBLE_CLASS = "[" + "".join(f"{re.escape(chr(first))}-{re.escape(chr(last))}" for first, last in INVISIBLE) + "]"
_ESCAPED = re.compile(rf"{_INVISIBLE_CLASS}|\\(?=[\\\[]|{_INVISIBLE_CLASS}|\Z)")


def _escape(found: re.Match[str]) -> str:
    character = found.group()
    code = ord(character)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


SHOWN_LIMIT = 4096
"""Characters of one value shown on the terminal; the rest is counted, never dropped silently (the
whole value is in the output files). A value may be as long as the text budget allows (megabytes):
drawing all of it would only bury the summary and take minutes."""


def visible(text: str, limit: int = SHOWN_LIMIT) -> str:
    """``text`` as it must reach a terminal: only characters that show as themselves, the others
    escaped (see the module docstring), and at most ``limit`` of them: the first and last halves, with
    how many were left out between them (the end of a long message is often its reason)."""
    if len(text) <= limit:
        return _ESCAPED.sub(_escape, text)
    head, gap, tail = _cut(text, limit)
    return _ESCAPED.sub(_escape, head) + gap + _ESCAPED.sub(_escape, tail)


def _cut(text: str, limit: int) -> tuple[str, str, str]:
    """The first and last halves of ``limit`` characters of ``text``, and the note of the gap."""
    first = (limit + 1) // 2
    last = limit - first
    left_out = len(text) - limit
    return text[:first], f"… ({left_out} characters left out) …", text[len(text) - last :] if last else ""


_INVISIBLE_IN_JSON = re.compile(rf"(?!\n){_INVISIBLE_CLASS}")
"""Outside its strings a JSON document holds only newlines and spaces (its strings hold no raw C0)."""


def json_visible(document: str) -> str:
    """A JSON document with every invisible character of its strings written as a JSON escape
    (``\\u202e``; a character beyond the BMP as its surrogate pair), so that the document printed
    on a terminal shows only what is there, and still reads back to the same values."""

    def escape_json(found: re.Match[str]) -> str:
        code = ord(found.group())
        if code < 0x10000:
            return f"\\u{code:04x}"
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"

    return _INVISIBLE_IN_JSON.sub(escape_json, document)


def shown(text: str, limit: int = SHOWN_LIMIT) -> str:
    """Evidence text for a rich markup line: ``visible`` with the markup escaped (and the count of
    characters left out, if any, dimmed: no evidence can be drawn in a style)."""
    if len(text) <= limit:
        return escape(visible(text))
    head, gap, tail = _cut(text, limit)
    return escape(visible(head)) + f"[dim]{gap}[/]" + escape(visible(tail))


def new_console(stderr: bool = False) -> Console:
    """A console for vestige's output: emoji codes and highlighting off, so that no text in the
    evidence is ever interpreted; no wrapping of its own (``print_line`` does it on a terminal)."""
    return Console(stderr=stderr, soft_wrap=True, emoji=False, highlight=False)


CONTINUATION = "  ↪ "


def print_line(console: Console, markup: str) -> None:
    """Print one logical line of markup (its ``\\n`` start new lines; evidence in it went through
    ``shown`` and holds none). On a terminal each line is wrapped to the width with every row after
    the first marked by ``CONTINUATION``: a row that starts without it is vestige's own."""
    text = console.render_str(markup)
    if not console.is_terminal:
        console.print(text, soft_wrap=True)
        return
    width = max(console.width - len(CONTINUATION), 1)
    for line in text.split("\n", allow_blank=True):
        for number, row in enumerate(line.wrap(console, width, overflow="fold")):
            row.rstrip()
            console.print(Text.assemble((CONTINUATION, "dim"), row) if number else row, soft_wrap=True)


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
                TextColumn("{task.description}", markup=False),
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
        self._task = self._progress.add_task(visible(name), total=total)
        self._progress.refresh()

    def advance(self, count: int = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, count)
            now = time.monotonic()
            if now - self._drawn > 0.1:
                self._drawn = now
                self._progress.refresh()


def render_summary(console: Console, result: Result, folder: Path, verbose: bool = False) -> None:
    """The end of a check: the acquisitions, the verdict in plain words, the counts by severity, then each
    finding at or above medium in one compact entry (with ``verbose``, in full: explanation, caveats,
    evidence and indicators), the problems, and where the results and the report are."""
    several = len(result.acquisitions) > 1
    for number, acquisition in enumerate(result.acquisitions):
        device = acquisition.device
        print_line(
            console,
            (f"[bold]acquisition {number}[/] " if several else "")
            + f"[bold]{shown(acquisition.kind)}[/] {shown(device.name or '')} {shown(device.model or '')} "
            f"{shown(device.os_name or '')} {shown(device.os_version or '')}: {acquisition.file_count} entries, "
            f"{acquisition.total_bytes} bytes, Merkle root {shown(acquisition.merkle_root[:16])}…",
        )
    print_line(console, f"\n[bold]{verdict(result.findings)}[/]")
    print_line(console, severity_counts(result.findings))
    shown_findings = [f for f in result.findings if f.severity >= SHOWN_FROM]
    if shown_findings and not verbose:
        console.print()
    for finding in shown_findings:
        if verbose:
            render_finding(console, finding)
        else:
            render_entry(console, finding)
    render_problems(console, result, verbose)
    console.print()
    report = folder / REPORT
    if report.is_file():
        print_line(console, f"Report: [bold]{shown(str(report))}[/]")
    print_line(
        console,
        f"Results: [bold]{shown(str(folder))}[/] (findings.json, timeline.jsonl, records/, manifest.jsonl)"
        + ("" if verbose or not shown_findings else "; -v prints each finding in full"),
    )


REPORT = "report.html"
"""The HTML report a check writes next to findings.json (the summary names it when it is there)."""
PROBLEMS_LISTED = 10
"""Problems the summary lists one by one without ``-v`` (findings.json holds them all)."""


def verdict(findings: Sequence[Finding]) -> str:
    """The result in plain words, from the most severe findings: how many, and whether known indicators
    name their traces (and which collections: ``Pegasus``) or vestige's detectors flagged them. Markup:
    the collection names come from indicator sets and are shown escaped."""
    if not findings:
        return "No findings: nothing matched the indicator sets used, and no detector flagged anything"
    top = max(f.severity for f in findings)
    if top < SHOWN_FROM:
        below = ", ".join(f"{count} {severity.label}" for severity, count in _counts(findings) if count)
        return f"No finding at {SHOWN_FROM.label} or above ({below})"
    worst = [f for f in findings if f.severity == top]
    count = f"{len(worst)} {top.label} finding{'s' if len(worst) > 1 else ''}"
    names = _distinct(m.collection for f in worst for m in f.indicators if m.collection != m.set_name)
    parts = []
    if any(f.indicators for f in worst):
        known = f"known {_joined([shown(n) for n in names])} indicators" if names else "known indicators"
        parts.append(f"traces that match {known}")
    if not all(f.indicators for f in worst):
        parts.append("traces that vestige's detectors flag with no indicator naming them")
    return f"{count}: {', and '.join(parts)}"


def _distinct(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _joined(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _counts(findings: Sequence[Finding]) -> list[tuple[Severity, int]]:
    return [(s, sum(1 for f in findings if f.severity == s)) for s in sorted(Severity, reverse=True)]


def severity_counts(findings: Sequence[Finding]) -> str:
    """``critical 2 · high 5 · medium 1 · low 0 · info 1``, each severity in its style (markup)."""
    return " · ".join(f"[{STYLES[s]}]{s.label}[/] {count}" for s, count in _counts(findings))


LABEL_WIDTH = len("CRITICAL") + 2
PLACES_LISTED = 5
FILES_LISTED = 3


def render_entry(console: Console, finding: Finding) -> None:
    """A finding in two lines: its severity and title; where its evidence is (path and table, rows, lines,
    packets) and which indicator sets name it (or, for a detector's finding, its rule)."""
    label = finding.severity.label.upper()
    print_line(
        console, f"[{STYLES[finding.severity]}]{label}[/]{' ' * (LABEL_WIDTH - len(label))}{shown(finding.title)}"
    )
    print_line(console, f"{' ' * LABEL_WIDTH}{evidence_places(finding)} [dim]·[/] {indicator_sets(finding)}")


def indicator_sets(finding: Finding) -> str:
    """Which indicator sets name a finding: their collections' names (``Pegasus``), and how many other sets
    (a plain list, whose collection is only its file name) do; a set's file name when no collection is named;
    the rule of a detector's finding (markup)."""
    if not finding.indicators:
        return f"rule {shown(finding.rule)}"
    named = _distinct(m.collection for m in finding.indicators if m.collection != m.set_name)
    sets = _distinct(m.set_name for m in finding.indicators)
    if not named:
        return ", ".join(shown(name) for name in sets)
    others = len(set(sets) - {m.set_name for m in finding.indicators if m.collection != m.set_name})
    more = f" and {others} more set{'s' if others > 1 else ''}" if others else ""
    return ", ".join(shown(name) for name in named) + more


def evidence_places(finding: Finding) -> str:
    """Where a finding's evidence is, one group per file (and table): ``History.db history_visits rows 102,
    103``; at most ``FILES_LISTED`` files and ``PLACES_LISTED`` places each, then how many more (markup)."""
    files: dict[tuple[int | None, str], dict[str | None, list[Locator]]] = {}
    for evidence in finding.evidence:
        locator = evidence.locator
        files.setdefault((locator.acquisition, locator.path), {}).setdefault(locator.table, []).append(locator)
    texts = []
    for (acquisition, path), tables in list(files.items())[:FILES_LISTED]:
        places = [_places(table, locators) for table, locators in tables.items()]
        prefix = f"acquisition {acquisition}: " if acquisition is not None else ""
        texts.append(prefix + " ".join([shown(path), ", ".join(p for p in places if p)]).rstrip())
    if len(files) > FILES_LISTED:
        texts.append(f"and {len(files) - FILES_LISTED} more files")
    return "; ".join(texts) if texts else "no evidence cited"


def _places(table: str | None, locators: list[Locator]) -> str:
    """``history_visits rows 102, 103, 104``: a table's places, by kind (markup)."""
    parts = [shown(table)] if table is not None else []
    for name in ("row", "line", "packet", "offset", "key"):
        values = _distinct(str(getattr(locator, name)) for locator in locators if getattr(locator, name) is not None)
        if values:
            listed = ", ".join(shown(value) for value in values[:PLACES_LISTED])
            more = f" and {len(values) - PLACES_LISTED} more" if len(values) > PLACES_LISTED else ""
            parts.append(f"{name}{'s' if len(values) > 1 else ''} {listed}{more}")
    return " ".join(parts)


def render_problems(console: Console, result: Result, verbose: bool) -> None:
    if not result.problems:
        return
    print_line(console, f"\n[bold yellow]{len(result.problems)} problem(s): the run is incomplete[/]")
    listed = result.problems if verbose else result.problems[:PROBLEMS_LISTED]
    for problem in listed:
        print_line(console, f"  [yellow]{shown(problem.artifact)}[/] {shown(problem.reason)}")
    if len(listed) < len(result.problems):
        print_line(console, f"  and {len(result.problems) - len(listed)} more (findings.json lists them all)")


def render_finding(console: Console, finding: Finding) -> None:
    """A finding in full (``-v``): title, rule, id and time; explanation; caveats; each evidence with its
    excerpt; each indicator with its set."""
    when = finding.time.isoformat() if finding.time else "undated"
    print_line(
        console,
        f"\n[{STYLES[finding.severity]}]{finding.severity.label.upper()}[/] {shown(finding.title)}"
        f"  [dim]{shown(finding.rule)} {shown(finding.id)} {when}[/]",
    )
    print_line(console, f"  {shown(finding.explanation)}")
    for caveat in finding.caveats:
        print_line(console, f"  [dim]caveat[/] {shown(caveat)}")
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
                ("packet", locator.packet),
                ("acquisition", locator.acquisition),
            )
            if value is not None
        )
        print_line(
            console,
            f"  [dim]evidence[/] {shown(locator.path)} "
            f"[dim]sha256 {shown((locator.sha256 or '-')[:16])}… {shown(where)}[/]",
        )
        print_line(console, f"    {shown(evidence.excerpt)}")
    for match in finding.indicators:
        print_line(
            console,
            f"  [dim]indicator[/] {shown(match.type)} {shown(match.value)} [dim]{shown(match.collection)} "
            f"({shown(match.set_name)} {shown(match.set_sha256[:12])}…)[/]",
        )
