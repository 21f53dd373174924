"""``report.html``: the offline report a person reads, written next to ``findings.json``.

One self-contained HTML5 file: no network, no server, every script and style inline and allowed by a
Content-Security-Policy that names their SHA-256 (``default-src 'none'``; images only as ``data:``).
It reads the result only through the typed document (``report/findings.py``: ``read_findings``) and
the events of ``timeline.jsonl`` (``report/timeline.py`` writes them, sorted by time).

What it shows, in order: the verdict in plain words with the counts by severity, the custody status
(when ``vestige report`` was given a case bundle), each acquisition, the indicator sets with their
digests, the correlated findings as stories with each side's evidence, every other finding grouped
by acquisition (in a check of several) and by severity, with filters by rule, artifact and text, the
timeline (a density chart drawn as inline SVG with each dated finding marked, and a table paged 100
events at a time), the problems, and what ran. Everything but the timeline table is written as HTML
here, so that it reads and prints without scripts.

The timeline is embedded in chunks, one per ``BLOCK`` bytes of ``timeline.jsonl`` (about 5,000
events), each a JSON array gzip-compressed and base64-encoded in its own ``<script
type="application/octet-stream">`` data block; the page decodes a chunk only when a page of the table
needs it (``DecompressionStream``, built into browsers), so a million events never become a million
DOM rows. Evidence is adversarial: every text from it is HTML-escaped here or set as ``textContent``
by the script, invisible and bidi control characters are shown as escapes (``\\u202e``), and a text
longer than ``TEXT_LIMIT`` characters shows its two ends and the count left out. Personal data is
hidden unless asked for (``report/personal.py``).

The same findings.json, timeline and options give the same bytes (gzip with no time stamp).
"""

from __future__ import annotations

import base64
import bisect
import functools
import gc
import gzip
import hashlib
import html
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import IO

import orjson

from vestige.evidence.workers import map_in_processes
from vestige.model import JSON
from vestige.report.findings import (
    AcquisitionDocument,
    EvidenceDocument,
    FindingDocument,
    FindingsDocument,
    LocatorDocument,
    read_findings,
)
from vestige.report.personal import (
    PERSONAL_DEVICE_FIELDS,
    PERSONAL_FIELDS,
    PERSONAL_IDENTIFIERS,
    Redaction,
    hide,
    hide_in_event,
    redactions,
)
from vestige.report.timeline import microseconds

REPORT = "report.html"
PAGE_EVENTS = 100
BINS = 120
TEXT_LIMIT = 4_096
ROW_TEXT_LIMIT = 1_024
SEVERITIES = ("critical", "high", "medium", "low", "info")
FINDING_EVENT = "vestige.finding"


@dataclass(frozen=True, slots=True)
class CustodyStatus:
    """What a case bundle says of the analysis a report is made from, and whether this report checked it.

    ``statements`` are the bundle's own words (its custody log), ``verified`` is None when no check was
    made, else the outcome of ``vestige verify`` against ``trust`` (a trust list, named by its digest);
    ``checks`` are the failed checks' messages."""

    case: str
    run: str
    statements: tuple[str, ...]
    verified: bool | None = None
    trust: str = ""
    checks: tuple[str, ...] = ()


@dataclass
class TimelineSummary:
    """What the chart and the table need of the timeline once its events are embedded."""

    events: int = 0
    first: int | None = None
    last: int | None = None
    first_text: str = ""
    last_text: str = ""
    bins: list[int] = field(default_factory=lambda: [0] * BINS)
    bin_start: list[int] = field(default_factory=lambda: [-1] * BINS)
    starts: list[int] = field(default_factory=list)
    """The number of the first event of each chunk."""
    unreadable: int = 0
    """Lines of the file that are not JSON events (left out)."""


def write_report(
    folder: Path,
    target: Path | None = None,
    *,
    show_personal_data: bool = False,
    custody: CustodyStatus | None = None,
    workers: int = 1,
    timeline_as_written: bool = False,
) -> Path:
    """Writes the report of the output folder ``folder`` (its ``findings.json`` and ``timeline.jsonl``)
    to ``target`` (default ``folder/report.html``), replacing it whole, with the timeline's chunks made
    by ``workers`` processes; returns its path. ``timeline_as_written``: the check that calls this has
    just written the timeline (``OutputFolder.finish``), so its lines need no parse to show that they
    are events (any other timeline may have been edited)."""
    findings_path = folder / "findings.json"
    data = findings_path.read_bytes()
    document = read_findings(data, str(findings_path))
    target = target if target is not None else folder / REPORT
    hidden = {} if show_personal_data else cited_personal_values(folder, document)
    partial = target.with_name(f".{target.name}.partial")
    try:
        with tempfile.TemporaryFile() as blocks:
            timeline = embed_timeline(
                folder / "timeline.jsonl", blocks, show_personal_data, workers, timeline_as_written
            )
            digest = hashlib.sha256(data).hexdigest()
            page = Page(document, digest, show_personal_data, custody, hidden, timeline, in_case_bundle(folder))
            with partial.open("wb") as out:
                for part in page.head():
                    out.write(part.encode())
                blocks.seek(0)
                shutil.copyfileobj(blocks, out, 1 << 20)
                out.write(page.tail().encode())
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def in_case_bundle(folder: Path) -> bool:
    """Whether ``folder`` is an analysis folder of a case bundle (``data/analysis/<run>`` of a BagIt bag),
    being written or recorded."""
    parents = folder.resolve().parents
    return (
        len(parents) > 2
        and parents[0].name == "analysis"
        and parents[1].name == "data"
        and (parents[2] / "bagit.txt").is_file()
    )


# -- text --------------------------------------------------------------------------------------------


@functools.cache
def _invisible(character: str) -> bool:
    """Whether a character does not show as itself: controls, format characters (bidi controls, zero
    widths), line and paragraph separators, surrogates, and the blank letters that pass for spaces."""
    return unicodedata.category(character) in ("Cc", "Cf", "Zl", "Zp", "Cs") or character in BLANK_LETTERS


BLANK_LETTERS = frozenset("\u115f\u1160\u17b4\u17b5\u3164\uffa0\u034f")
_CANDIDATE = re.compile(r"[^\x20-\x7e]")


def _escape_invisible(found: re.Match[str]) -> str:
    character = found.group()
    if not _invisible(character):
        return character
    code = ord(character)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(text: str, limit: int = TEXT_LIMIT) -> str:
    """``text`` with each invisible character written as an escape, cut to its two ends beyond ``limit``."""
    if len(text) > limit:
        half = limit // 2
        text = f"{text[:half]} … ({len(text) - 2 * half} characters left out) … {text[len(text) - half :]}"
    return _CANDIDATE.sub(_escape_invisible, text)


def esc(text: str, limit: int = TEXT_LIMIT) -> str:
    """Evidence text as HTML: visible, then escaped (quotes too: it may sit in an attribute)."""
    return html.escape(visible(text, limit), quote=True)


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


# -- personal data -----------------------------------------------------------------------------------


LocatorKey = tuple[str, ...]


def locator_key(parts: Mapping[str, JSON] | LocatorDocument) -> LocatorKey:
    """A locator as a key that a findings.json locator and a records line give alike."""
    values = parts.model_dump(mode="json") if isinstance(parts, LocatorDocument) else parts
    return tuple(
        f"{name}={values[name]}"
        for name in ("path", "table", "row", "line", "offset", "key", "packet", "acquisition")
        if values.get(name) is not None
    )


_ROW = re.compile(rb'"row":(-?\d+)')


def cited_personal_values(folder: Path, document: FindingsDocument) -> dict[LocatorKey, list[Redaction]]:
    """The personal values of each record a finding cites, from ``records/<artifact>.jsonl`` of the
    artifacts that hold any (``report/personal.py``), each kept where the finding's indicators name it."""
    needed: dict[LocatorKey, list[str]] = {}
    for finding in document.findings:
        values = [m.value for m in finding.indicators]
        for evidence in finding.evidence:
            needed.setdefault(locator_key(evidence.locator), []).extend(values)
    rows = {key_part.split("=", 1)[1] for key in needed for key_part in key if key_part.startswith("row=")}
    found: dict[LocatorKey, list[Redaction]] = {}
    for artifact in PERSONAL_FIELDS:
        path = folder / "records" / f"{artifact}.jsonl"
        if not needed or not path.is_file():
            continue
        with path.open("rb") as lines:
            for line in lines:
                row = _ROW.search(line)
                if row is not None and row.group(1).decode() not in rows:
                    continue  # most lines: not cited, and not parsed
                record = orjson.loads(line)
                key = locator_key(record.get("locator") or {})
                if key in needed:
                    found[key] = redactions(artifact, record.get("fields") or {}, needed[key])
    return found


# -- the timeline ------------------------------------------------------------------------------------


def _timestamp(line: bytes) -> int | None:
    if not line.strip():
        return None
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    value = event.get("timestamp") if isinstance(event, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _ends(path: Path) -> tuple[int | None, int | None]:
    """The timestamps of the first and last events of a sorted timeline file: of the first and last
    lines that are events within ``ENDS`` bytes of each end (a line that is not one is left out)."""
    with path.open("rb") as stream:
        head = stream.read(ENDS).split(b"\n")
        size = stream.seek(0, os.SEEK_END)
        stream.seek(max(size - ENDS, 0))
        tail = stream.read().split(b"\n")
    if size > ENDS:  # cut lines: the last of the head, the first of the tail
        head, tail = head[:-1], tail[1:]
    first = next((t for t in map(_timestamp, head) if t is not None), None)
    last = next((t for t in map(_timestamp, reversed(tail)) if t is not None), None)
    return first, last


ENDS = 1 << 20


def embed_timeline(
    path: Path, out: IO[bytes], show_personal_data: bool, workers: int = 1, as_written: bool = False
) -> TimelineSummary:
    """Writes the events of ``path`` to ``out`` as compressed data blocks, one per ``BLOCK`` bytes of the
    file (the events whose lines start in it), made by ``workers`` processes; returns what the chart
    and the table need. The blocks depend on the file alone, so the report is the same for any number
    of workers."""
    summary = TimelineSummary()
    size = path.stat().st_size if path.is_file() else 0
    if size == 0:
        return summary
    summary.first, summary.last = _ends(path)
    job = BlockJob(path, summary.first, summary.last, show_personal_data, as_written)
    blocks = map_in_processes(_embed_block, job, range(-(-size // BLOCK)), workers, bounded=True)
    with frozen_heap(), closing(blocks):
        for number, block in enumerate(blocks):
            out.write(b'<script type="application/octet-stream" class="timeline-chunk" id="tl-%d">' % number)
            out.write(block.data)
            out.write(b"</script>\n")
            _absorb(summary, block)
    return summary


@contextmanager
def frozen_heap() -> Iterator[None]:
    """While the body runs, the collector leaves alone the objects that exist now. A forked worker
    shares its parent's memory until it writes to it, and a full collection in the worker writes to
    every object it inherited (their collector headers): the parent's whole heap, copied into each."""
    already = gc.get_freeze_count() > 0
    gc.freeze()
    try:
        yield
    finally:
        if not already:
            gc.unfreeze()


BLOCK = 1 << 21
"""Bytes of timeline.jsonl per embedded chunk: about 5,000 events of a phone's timeline, which a
browser decodes in a few milliseconds."""
LONG_LINE = 1 << 14


@dataclass(frozen=True, slots=True)
class BlockJob:
    path: Path
    first: int | None
    last: int | None
    show_personal_data: bool
    as_written: bool
    """The timeline is as this process's check has just written it (``OutputFolder.finish``): every line
    an event as timeline.py writes it, whose parse would check nothing."""


@dataclass(frozen=True, slots=True)
class Block:
    """One chunk of the timeline: its compressed rows and what the chart needs of them."""

    data: bytes
    events: int
    first_text: str
    last_text: str
    bins: tuple[int, ...]
    bin_start: tuple[int, ...]
    unreadable: int


COMPRESSION = 3
"""gzip level of the embedded timeline: twice as fast as the default 6 on timeline lines (133 against 62 MB/s
on one core, measured on a 200,000-entry backup's timeline) for a file 15% larger (7.3:1 against 8.4:1)."""


def _embed_block(job: BlockJob, number: int) -> Block:
    """Worker: the events whose lines start in block ``number`` of the timeline, as a JSON array gzip'd
    (no time stamp: the same bytes every time) and base64-encoded. An event whose record holds personal
    data, or with a value too long to show, is rewritten (``_shown``); every other line goes in as it is.
    One parse of the whole array checks that each is an event, unless the timeline is as a check wrote
    it (``BlockJob.as_written``): then each line's time is read where timeline.py puts it."""
    with job.path.open("rb") as stream:
        lines = _block_lines(stream, number)
    hiding = not job.show_personal_data
    personal = PERSONAL_MARKER.search
    pieces: list[bytes] = []
    unreadable = 0
    for body in lines:
        if len(body) > LONG_LINE or (hiding and personal(body) is not None):
            shown = _shown(body, job.show_personal_data)
            if shown is None:
                unreadable += 1
                continue
            body = shown
        pieces.append(body)
    if job.as_written:
        bins, starts = _binned_in_order(pieces, job.first, job.last)
        ends = [orjson.loads(piece) for piece in (pieces[:1] + pieces[-1:])]
        dropped = 0
    else:
        pieces, events, dropped = _events_of(pieces)
        bins, starts = _binned([event.get("timestamp") for event in events], job.first, job.last)
        ends = events[:1] + events[-1:]
    first = str(ends[0].get("datetime") or "") if ends else ""
    last = str(ends[-1].get("datetime") or "") if ends else ""
    data = base64.b64encode(gzip.compress(b"[" + b",".join(pieces) + b"]", compresslevel=COMPRESSION, mtime=0))
    return Block(data, len(pieces), first, last, tuple(bins), tuple(starts), unreadable + dropped)


_WRITTEN_TIMESTAMP = re.compile(rb'"timestamp":(-?\d+)[,}]')
"""An event's time in its line as timeline.py writes it. Its first ``"timestamp":`` is the event's own:
only the message and datetime (a record's event) or strings (a finding's, keys sorted) come before it,
and a quote inside a JSON string is always escaped."""


def _written_timestamp(line: bytes) -> int | None:
    found = _WRITTEN_TIMESTAMP.search(line)
    return int(found.group(1)) if found is not None else None


def _binned(times: Sequence[object], first: int | None, last: int | None) -> tuple[list[int], list[int]]:
    """The count of events in each bin of the chart, and the number of the first event of each (or -1)."""
    bins = [0] * BINS
    starts = [-1] * BINS
    if first is None or last is None:
        return bins, starts
    for index, timestamp in enumerate(times):
        if type(timestamp) is int:
            slot = bin_of(timestamp, first, last)
            if starts[slot] < 0:
                starts[slot] = index
            bins[slot] += 1
    return bins, starts


def _binned_in_order(lines: Sequence[bytes], first: int | None, last: int | None) -> tuple[list[int], list[int]]:
    """``_binned`` of the lines of a check's timeline, each an event with its time, in the order of their
    times (timeline.py writes only dated events, merged so): the line where each bin starts is found by
    bisection, from the times of a few lines, not of all."""
    if not lines or first is None or last is None:
        return _binned((), first, last)

    def slot(line: bytes) -> int:
        timestamp = _written_timestamp(line)
        if timestamp is None:
            raise LookupError
        return bin_of(timestamp, first, last)

    bins = [0] * BINS
    starts = [-1] * BINS
    try:
        low = 0
        for number in range(slot(lines[0]), slot(lines[-1]) + 1):
            high = bisect.bisect_left(lines, number + 1, lo=low, key=slot)
            if high > low:
                bins[number], starts[number] = high - low, low
            low = high
    except LookupError:  # a line without its time, which timeline.py does not write: read every line
        return _binned([_written_timestamp(line) for line in lines], first, last)
    return bins, starts


PERSONAL_MARKER = re.compile(
    b'"data_type":"(?:' + b"|".join(re.escape(name.encode()) for name in PERSONAL_FIELDS) + b')"'
)
"""How the line of an event of an artifact holding personal data names it (as orjson writes it)."""


def _events_of(pieces: list[bytes]) -> tuple[list[bytes], list[dict[str, JSON]], int]:
    """The lines that are JSON events (objects), their events, and how many were not: one parse of
    them all, line by line only when that fails (a file edited by hand)."""
    try:
        parsed = orjson.loads(b"[" + b",".join(pieces) + b"]")
    except orjson.JSONDecodeError:
        parsed = [_parsed(piece) for piece in pieces]
    if all(type(event) is dict for event in parsed):
        return pieces, parsed, 0
    kept = [(piece, event) for piece, event in zip(pieces, parsed, strict=True) if type(event) is dict]
    return [piece for piece, _ in kept], [event for _, event in kept], len(pieces) - len(kept)


def _parsed(line: bytes) -> object:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None


def _shown(line: bytes, show_personal_data: bool) -> bytes | None:
    """An event's line as the report shows it: its record's personal data hidden (unless shown) and
    its values cut to ``ROW_TEXT_LIMIT`` characters; None when the line is not an event."""
    event = _parsed(line)
    if not isinstance(event, dict):
        return None
    artifact = event.get("data_type")
    if not show_personal_data and isinstance(artifact, str) and artifact in PERSONAL_FIELDS:
        hide_in_event(artifact, event)
    if len(line) > LONG_LINE:  # a value of megabytes would make the report as large
        event = {name: value if name in KEPT_WHOLE else _bounded(value) for name, value in event.items()}
        evidence = event.get("evidence")
        if isinstance(evidence, dict):
            event["evidence"] = {name: _bounded(value) for name, value in evidence.items()}
    return orjson.dumps(event)


KEPT_WHOLE = frozenset({"timestamp", "datetime", "evidence"})


def _block_lines(stream: IO[bytes], number: int) -> list[bytes]:
    """The lines (without their newlines) that start in block ``number`` of the file: its bytes read at
    once, and the end of the last line."""
    start = _line_start(stream, number * BLOCK)
    end = (number + 1) * BLOCK
    if start >= end:  # a line started in an earlier block runs past this one
        return []
    stream.seek(start)
    data = stream.read(end - start)
    if data and not data.endswith(b"\n"):
        data += stream.readline()
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def _line_start(stream: IO[bytes], position: int) -> int:
    """The offset of the first line that starts at or after ``position``."""
    if position == 0:
        return 0
    stream.seek(position - 1)
    stream.readline()
    return stream.tell()


def _absorb(summary: TimelineSummary, block: Block) -> None:
    """Adds a block's events, in file order, to the summary."""
    if block.events and summary.events == 0:
        summary.first_text = block.first_text
    if block.events:
        summary.last_text = block.last_text
    for slot in range(BINS):
        if block.bin_start[slot] >= 0 and summary.bin_start[slot] < 0:
            summary.bin_start[slot] = summary.events + block.bin_start[slot]
        summary.bins[slot] += block.bins[slot]
    summary.starts.append(summary.events)
    summary.events += block.events
    summary.unreadable += block.unreadable


def bin_of(timestamp: int, first: int, last: int) -> int:
    """The chart's bin of a time (clamped: a timeline edited by hand may not be sorted)."""
    span = max(last - first, 0) + 1
    return min(max((timestamp - first) * BINS // span, 0), BINS - 1)


def _cut(text: str) -> str:
    if len(text) <= ROW_TEXT_LIMIT:
        return text
    return f"{text[: ROW_TEXT_LIMIT - 64]} … ({len(text) - ROW_TEXT_LIMIT + 64} characters left out)"


def _bounded(value: JSON) -> JSON:
    """A field's value, or its text cut to ``ROW_TEXT_LIMIT`` characters when it is longer."""
    if isinstance(value, str):
        return _cut(value)
    if isinstance(value, dict | list):
        text = orjson.dumps(value).decode()
        return value if len(text) <= ROW_TEXT_LIMIT else _cut(text)
    return value


PLACES = ("acquisition", "table", "row", "line", "offset", "key", "packet")


def _place_of(parts: Mapping[str, JSON]) -> str:
    """Where in its file a locator points: ``table message, row 3``."""
    return ", ".join([f"{name} {value}" for name, value in ((n, parts.get(n)) for n in PLACES) if value is not None])


# -- the page ----------------------------------------------------------------------------------------


def asset(name: str) -> str:
    return resources.files("vestige.report.assets").joinpath(name).read_text(encoding="utf-8")


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


NEXT_STEPS_BY_RULE: tuple[tuple[str, str], ...] = (
    (
        ".indicator_match",
        "Confirm the match: open the cited file at the row given and compare the value with the indicator's "
        "source (set and SHA-256 below). Look at the timeline around this time for related events (a redirect, "
        "a process first using the network, deleted history). If it holds, keep the phone as it is (do not reset "
        "or update it before it is preserved) and take this report and the case bundle to a specialist, such as "
        "Amnesty International's Security Lab or Access Now's Digital Security Helpline.",
    ),
    (
        "redirect",
        "Ask whether the person opened the first page themselves at that time. Look for a network capture of "
        "the same moment (checked with this acquisition, vestige joins them) and for processes first using the "
        "network in the minutes after (DataUsage).",
    ),
    (
        ".deleted_history",
        "Ask whether the person cleared their history at that time; an earlier backup or acquisition may still "
        "hold the deleted visits: check it too.",
    ),
    (
        ".outdated_ios",
        "Once the acquisition is preserved, update the phone: exploits used by mercenary spyware target older "
        "versions.",
    ),
    (
        "evidence.",
        "Take a new acquisition of the device and compare: a manipulated file can be a sign of tampering, or of a "
        "broken backup tool.",
    ),
    (
        "ios.backup.",
        "Take a new acquisition of the device and compare: a manipulated backup can be a sign of tampering, or of "
        "a broken backup tool.",
    ),
)
NEXT_STEPS_CORRELATED = (
    "Each side of this story is a finding of its own, linked above and listed below: check each side's evidence "
    "and caveats, as the story holds only if both sides do. Preserve the device and this case bundle, and seek a "
    "specialist's review."
)
NEXT_STEPS_BY_SEVERITY = {
    "critical": "Preserve the device and this case bundle; keep the phone away from its usual networks without "
    "wiping it, and have a specialist review the evidence before acting on it.",
    "high": "Review the evidence and its caveats with a specialist; a further acquisition (a sysdiagnose, a full "
    "file-system dump, a network capture) can confirm or rule it out.",
    "medium": "Check the innocent explanations listed; look at the timeline around this time for findings that "
    "support it.",
    "low": "No action on its own: it may support or weaken other findings.",
    "info": "No action on its own: it describes the acquisition.",
}
NO_FINDING_MEANING = (
    "vestige found nothing that the indicator sets below name, and none of its detectors found a pattern at "
    "medium or above, in what these acquisitions hold. That does not mean the phone is clean: an acquisition "
    "holds only part of a phone's data, indicators name only infrastructure already known, and spyware may "
    "erase its traces. Findings at low and info, if any, are listed below."
)


def next_steps(finding: FindingDocument, correlated: bool) -> str:
    if correlated:
        return NEXT_STEPS_CORRELATED
    for part, text in NEXT_STEPS_BY_RULE:
        if part in finding.rule:
            return text
    return NEXT_STEPS_BY_SEVERITY[finding.severity]


class Page:
    """The HTML of one report: ``head()`` up to the timeline's data blocks, ``tail()`` after them."""

    def __init__(
        self,
        document: FindingsDocument,
        findings_sha256: str,
        show_personal_data: bool,
        custody: CustodyStatus | None,
        hidden: Mapping[LocatorKey, list[Redaction]],
        timeline: TimelineSummary,
        in_case: bool = False,
    ) -> None:
        self.document = document
        self.findings_sha256 = findings_sha256
        self.show = show_personal_data
        self.custody = custody
        self.hidden = hidden
        self.timeline = timeline
        self.correlators = {c.name for c in document.correlators}
        self.names = sorted({a.name for a in document.artifacts} | self.correlators, key=len, reverse=True)
        self.in_case = in_case
        self.style = asset("report.css")
        self.script = asset("report.js")

    # -- finding facts

    def correlated(self, finding: FindingDocument) -> bool:
        """A correlator's finding: rules named ``correlation.*`` or by a correlator of the run."""
        return finding.rule.startswith("correlation.") or finding.rule in self.correlators

    def artifact(self, finding: FindingDocument) -> str:
        """The artifact or correlator that made a finding: the longest one whose name starts its rule."""
        for name in self.names:
            if finding.rule == name or finding.rule.startswith(name + "."):
                return name
        return finding.rule.rpartition(".")[0] or finding.rule

    def redactions_of(self, finding: FindingDocument) -> list[Redaction]:
        out: list[Redaction] = []
        for evidence in finding.evidence:
            out.extend(self.hidden.get(locator_key(evidence.locator), ()))
        return sorted(out, key=lambda r: -len(r.value))

    # -- the document

    def head(self) -> Iterator[str]:
        """The document up to the timeline's data blocks, a section at a time."""
        d = self.document
        policy = (
            "This report was made with --show-personal-data: message texts, contacts, page titles and the "
            "device's name and phone number are shown as the acquisition holds them."
            if self.show
            else "This report hides personal data where a finding does not need it: message texts beyond "
            "their URLs, contacts, page titles, the device's name and phone number. "
            "vestige report --show-personal-data includes them."
        )
        csp = (
            "default-src 'none'; img-src data:; "
            f"style-src {csp_hash(self.style)}; script-src {csp_hash(self.script)}; "
            "base-uri 'none'; form-action 'none'"
        )
        yield from (
            "<!DOCTYPE html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n",
            f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n',
            '<meta name="referrer" content="no-referrer">\n',
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
            f"<title>vestige report: {esc(self.verdict()[0])}</title>\n",
            f"<style>{self.style}</style>\n</head>\n<body>\n",
            '<header class="top"><p class="brand">vestige report</p>',
            f'<p class="mode" id="mode" data-mode="{"shown" if self.show else "hidden"}">{esc(policy)}</p></header>\n',
            "<main>\n",
        )
        sections = (
            self.verdict_section,
            self.custody_section,
            self.acquisitions_section,
            self.sets_section,
            self.stories_section,
            self.findings_section,
            self.timeline_section,
            self.problems_section,
            self.runs_section,
        )
        for section in sections:
            yield section()
        yield from (
            "</main>\n",
            f"<footer><p>Made by vestige {esc(d.vestige_version)} from findings.json SHA-256 "
            f"<code>{self.findings_sha256}</code> (schema {esc(d.schema_name)}).</p></footer>\n",
            '<div id="timeline-data" hidden>\n',
        )

    def tail(self) -> str:
        meta = {"events": self.timeline.events, "starts": self.timeline.starts, "page": PAGE_EVENTS}
        return (
            "</div>\n"
            f'<script type="application/json" id="timeline-meta">{json_block(meta)}</script>\n'
            f"<script>{self.script}</script>\n</body>\n</html>\n"
        )

    def verdict(self) -> tuple[str, str]:
        """The verdict in plain words, and what it means."""
        counts = severity_counts(self.document)
        for severity in ("critical", "high", "medium"):
            count = counts.get(severity, 0)
            if not count:
                continue
            chosen = [f for f in self.document.findings if f.severity == severity]
            headline = f"{plural(count, severity + ' finding')}: {self.what(chosen, severity)}"
            others = [
                f"{counts.get(s, 0)} {s}" for s in SEVERITIES[SEVERITIES.index(severity) + 1 : 3] if counts.get(s, 0)
            ]
            meaning = (
                (f"Also {' and '.join(others)}. " if others else "")
                + "Each finding below says what the evidence shows, the innocent explanations, and what to do next; "
                "none alone proves an infection."
            )
            return headline, meaning
        return "No finding at medium or above", NO_FINDING_MEANING

    @staticmethod
    def what(findings: Sequence[FindingDocument], severity: str) -> str:
        collections = sorted({m.collection for f in findings for m in f.indicators if m.collection != m.set_name})
        if not collections:
            collections = sorted({m.collection for f in findings for m in f.indicators})
        if collections:
            return f"traces that match known {', '.join(collections)} indicators"
        return f"traces that vestige's detectors rate {severity}"

    def verdict_section(self) -> str:
        headline, meaning = self.verdict()
        summary = self.document.summary
        counts = severity_counts(self.document)
        top = next((s for s in SEVERITIES if counts.get(s, 0)), "none")
        cells = "".join(
            f'<li class="count sev-{s}"><span class="n" data-severity="{s}">{counts.get(s, 0)}</span> {s}</li>'
            for s in SEVERITIES
        )
        complete = (
            '<p class="complete">The run completed: every file selected was read.</p>'
            if summary.complete
            else f'<p class="incomplete">The run is incomplete: {plural(summary.problems, "problem")} '
            '(files not read, listed under <a href="#problems">Problems</a>); findings may be missing.</p>'
        )
        return (
            f'<section id="verdict" class="verdict top-{top}"><h1 id="verdict-text">{esc(headline)}</h1>'
            f'<p class="meaning">{esc(meaning)}</p><ul class="counts">{cells}</ul>{complete}</section>\n'
        )

    def custody_section(self) -> str:
        custody = self.custody
        if custody is None and self.in_case:
            body = (
                "<p>This report was written by the analysis itself, inside a case bundle, before the analysis was "
                "signed and recorded: it cannot state its own custody. Run <code>vestige report</code> on the "
                "bundle (with <code>--trust</code>) for the custody status.</p>"
            )
        elif custody is None:
            body = (
                "<p>This report was made from an output folder: it states no chain of custody. Run "
                "<code>vestige report</code> on a case bundle (with <code>--trust</code>) for the custody status "
                "of an analysis recorded in one.</p>"
            )
        else:
            if custody.verified is None:
                status = (
                    '<p class="unverified">Not verified by this report: the statements below are what the '
                    "bundle's custody log says, signatures not checked. Run <code>vestige verify</code> with your "
                    "trust list, or this report with <code>--trust</code>.</p>"
                )
            elif custody.verified:
                warnings = " with the warnings below" if custody.checks else ""
                status = (
                    f'<p class="verified">Verified{warnings} when this report was made, by <code>vestige verify</code>'
                    f"'s checks against the trust list with SHA-256 <code>{esc(custody.trust)}</code>.</p>"
                )
            else:
                status = (
                    f'<p class="unverified">Verification failed against the trust list with SHA-256 '
                    f"<code>{esc(custody.trust)}</code>:</p>"
                )
            checks = "".join(f"<li>{esc(c)}</li>" for c in custody.checks)
            statements = "".join(f"<li>{esc(s)}</li>" for s in custody.statements)
            body = (
                f"<p>Case <strong>{esc(custody.case)}</strong>, analysis <strong>{esc(custody.run)}</strong>.</p>"
                f"{status}" + (f'<ul class="checks">{checks}</ul>' if checks else "") + f"<ul>{statements}</ul>"
            )
        return f'<section id="custody"><h2>Custody</h2>{body}</section>\n'

    def acquisitions_section(self) -> str:
        blocks = [self.acquisition_block(number, a) for number, a in enumerate(self.document.acquisitions)]
        return f'<section id="acquisitions"><h2>Acquisitions</h2>{"".join(blocks)}</section>\n'

    def acquisition_block(self, number: int, acquisition: AcquisitionDocument) -> str:
        device = acquisition.device
        rows: list[tuple[str, str]] = [("kind", acquisition.kind)]
        for name in ("name", "model", "os_name", "os_version", "os_build", "serial", "acquired"):
            value = getattr(device, name)
            if value is None:
                continue
            if name in PERSONAL_DEVICE_FIELDS and not self.show:
                value = f"[device name hidden: {len(value)} characters]"
            rows.append((name.replace("_", " "), str(value)))
        if device.encrypted is not None:
            rows.append(("encrypted", "yes" if device.encrypted else "no"))
        for name, value in sorted(device.identifiers.items()):
            if name in PERSONAL_IDENTIFIERS and not self.show:
                value = f"[{name.replace('_', ' ')} hidden]"
            rows.append((name.replace("_", " "), value))
        rows += [
            ("files", f"{acquisition.files:,}"),
            ("bytes", f"{int(acquisition.bytes):,}"),
            ("Merkle root", acquisition.merkle_root),
        ]
        facts = "".join(f"<div><dt>{esc(k)}</dt><dd><code>{esc(v)}</code></dd></div>" for k, v in rows)
        title = f"Acquisition {number}" if len(self.document.acquisitions) > 1 else "Acquisition"
        return (
            f'<div class="acquisition" id="acquisition-{number}"><h3>{title}</h3><dl class="facts">{facts}</dl></div>'
        )

    def sets_section(self) -> str:
        rows = "".join(
            f"<tr><td>{esc(s.name)}</td><td>{esc(s.source)}</td><td>{esc(s.licence)}</td><td>{s.indicators:,}</td>"
            f"<td><code>{esc(s.sha256)}</code></td></tr>"
            for s in self.document.indicator_sets
        )
        if not rows:
            return '<section id="indicator-sets"><h2>Indicator sets</h2><p>No indicator set was used.</p></section>\n'
        return (
            '<section id="indicator-sets"><h2>Indicator sets</h2><table class="sets"><thead><tr><th>set</th>'
            "<th>source</th><th>licence</th><th>indicators</th><th>SHA-256 of the file</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></section>\n"
        )

    def stories_section(self) -> str:
        stories = [f for f in self.document.findings if self.correlated(f)]
        if not stories:
            return ""
        body = "".join(self.finding_html(f, story=True) for f in stories)
        return (
            '<section id="stories"><h2>Correlated findings</h2><p>Each joins evidence from several artifacts or '
            f"acquisitions into one story; each side's evidence is shown with it.</p>{body}</section>\n"
        )

    def findings_section(self) -> str:
        findings = [f for f in self.document.findings if not self.correlated(f)]
        rules = sorted({f.rule for f in self.document.findings})
        artifacts = sorted({self.artifact(f) for f in self.document.findings})
        total = len(self.document.findings)
        filters = (
            '<form class="filters" id="filters" role="search">'
            '<label>Rule <select id="filter-rule"><option value="">all rules</option>'
            + "".join(f'<option value="{esc(r)}">{esc(r)}</option>' for r in rules)
            + '</select></label> <label>Artifact <select id="filter-artifact"><option value="">all artifacts</option>'
            + "".join(f'<option value="{esc(a)}">{esc(a)}</option>' for a in artifacts)
            + '</select></label> <label>Text <input id="filter-text" type="search" placeholder="any word"></label> '
            f'<output id="finding-count">Showing {total} of {total} findings</output></form>'
        )
        several = len(self.document.acquisitions) > 1
        if not several:
            body = self.by_severity(findings)
        else:
            groups: dict[int | None, list[FindingDocument]] = {}
            for finding in findings:
                places = {e.locator.acquisition for e in finding.evidence}
                groups.setdefault(places.pop() if len(places) == 1 else None, []).append(finding)
            body = ""
            for number in range(len(self.document.acquisitions)):
                body += (
                    f'<div class="acquisition-findings" id="findings-acquisition-{number}"><h3>Acquisition {number}'
                    f"</h3>{self.by_severity(groups.get(number, []))}</div>"
                )
            if groups.get(None):
                body += (
                    '<div class="acquisition-findings" id="findings-across"><h3>Across acquisitions</h3>'
                    f"{self.by_severity(groups[None])}</div>"
                )
        return f'<section id="findings"><h2>Findings</h2>{filters}{body}</section>\n'

    def by_severity(self, findings: Sequence[FindingDocument]) -> str:
        out = []
        for severity in SEVERITIES:
            chosen = [f for f in findings if f.severity == severity]
            if chosen:
                out.append(
                    f'<div class="severity-group" data-severity="{severity}"><h3 class="sev-{severity}">'
                    f"{severity.capitalize()} ({len(chosen)})</h3>{''.join(self.finding_html(f) for f in chosen)}</div>"
                )
        return "".join(out) or "<p>No finding.</p>"

    def finding_html(self, finding: FindingDocument, story: bool = False) -> str:
        hidden = self.redactions_of(finding)

        def text(value: str) -> str:
            return esc(hide(value, hidden))

        caveats = "".join(f"<li>{text(c)}</li>" for c in finding.caveats) or "<li>None stated.</li>"
        evidence = "".join(self.evidence_row(e, hidden) for e in finding.evidence)
        indicators = "".join(
            f"<tr><td><code>{esc(m.value)}</code></td><td>{esc(m.type)}</td><td>{esc(m.collection)}</td>"
            f"<td>{esc(m.set_name)}</td><td><code>{esc(m.set_sha256)}</code></td></tr>"
            for m in finding.indicators
        )
        indicator_table = (
            '<h4>Indicators</h4><table class="indicators"><thead><tr><th>value</th><th>type</th><th>collection</th>'
            f"<th>set</th><th>set SHA-256</th></tr></thead><tbody>{indicators}</tbody></table>"
            if indicators
            else ""
        )
        evidence_table = (
            self.sides_html(finding, hidden) if story else f"<h4>Evidence</h4>{evidence_table_html(evidence)}"
        )
        kind = "finding story" if story else "finding"
        return (
            f'<article class="{kind} sev-{finding.severity}" id="f-{esc(finding.id)}" data-rule="{esc(finding.rule)}" '
            f'data-artifact="{esc(self.artifact(finding))}" data-severity="{finding.severity}">'
            f'<h3 class="title"><span class="badge sev-{finding.severity}">{finding.severity}</span> '
            f"<bdi>{text(finding.title)}</bdi></h3>"
            f'<p class="meta">rule <code>{esc(finding.rule)}</code> · id <code>{esc(finding.id)}</code> · '
            f"{esc(finding.time or 'undated')}</p>"
            f'<p class="explanation">{text(finding.explanation)}</p>'
            f'<h4>Innocent explanations</h4><ul class="caveats">{caveats}</ul>'
            f'<h4>What to do next</h4><p class="next">{esc(next_steps(finding, story))}</p>'
            f"{evidence_table}{indicator_table}</article>"
        )

    def evidence_row(self, evidence: EvidenceDocument, hidden: Sequence[Redaction]) -> str:
        locator = evidence.locator
        place = hide(_place_of(locator.model_dump(mode="json")), hidden)
        return (
            f"<tr><td><code><bdi>{esc(locator.path)}</bdi></code><br>"
            f'<code class="digest">SHA-256 {esc(locator.sha256 or "-")}</code></td><td>{esc(place)}</td>'
            f"<td><bdi>{esc(hide(evidence.excerpt, hidden))}</bdi></td></tr>"
        )

    def sides_html(self, story: FindingDocument, hidden: Sequence[Redaction]) -> str:
        """The sides of a correlated finding: its evidence by file, each side with its evidence and the
        other findings citing the same."""
        sides: dict[tuple[int | None, str], list[EvidenceDocument]] = {}
        for evidence in story.evidence:
            sides.setdefault((evidence.locator.acquisition, evidence.locator.path), []).append(evidence)
        items = []
        for (acquisition, path), cited in sides.items():
            keys = {locator_key(e.locator) for e in cited}
            also = [
                f
                for f in self.document.findings
                if f.id != story.id and any(locator_key(e.locator) in keys for e in f.evidence)
            ]
            links = ", ".join(f'<a href="#f-{esc(f.id)}">{esc(hide(f.title, self.redactions_of(f)))}</a>' for f in also)
            where = (f"acquisition {acquisition}: " if acquisition is not None else "") + path
            rows = "".join(self.evidence_row(e, hidden) for e in cited)
            items.append(
                f"<li><code><bdi>{esc(where)}</bdi></code>: {plural(len(cited), 'piece')} of evidence"
                + (f"; also reported as {links}" if links else "")
                + f"{evidence_table_html(rows)}</li>"
            )
        return f'<h4>The sides of this story, with their evidence</h4><ol class="sides">{"".join(items)}</ol>'

    def timeline_section(self) -> str:
        t = self.timeline
        left_out = (
            f'<p class="incomplete">{plural(t.unreadable, "line")} of timeline.jsonl left out: not JSON events.</p>'
            if t.unreadable
            else ""
        )
        if t.events == 0:
            return f'<section id="timeline"><h2>Timeline</h2><p>No dated event.</p>{left_out}</section>\n'
        return (
            f'<section id="timeline"><h2>Timeline</h2><p>{t.events:,} events from {esc(t.first_text)} to '
            f"{esc(t.last_text)} (UTC); a bar's height is the number of events in its span, each triangle a "
            f"dated finding. Choose a bar to show its events.</p>{left_out}"
            f"{self.chart()}"
            '<nav class="pager" id="pager"><button type="button" id="page-first">First</button> '
            '<button type="button" id="page-prev">Previous</button> <label>Page <input id="page-number" '
            f'type="number" min="1" value="1"></label> of <span id="page-count">{-(-t.events // PAGE_EVENTS):,}</span> '
            '<button type="button" id="page-next">Next</button> <button type="button" id="page-last">Last</button> '
            '<label>Search <input id="timeline-search" type="search" placeholder="text in any event"></label> '
            '<output id="timeline-status">Loading…</output></nav>'
            '<table class="timeline" id="timeline-table"><thead><tr><th>time (UTC)</th><th>artifact</th>'
            "<th>what</th><th>message</th><th>where</th></tr></thead><tbody></tbody></table>"
            "<noscript><p>The timeline table needs scripts; timeline.jsonl holds every event.</p></noscript>"
            "</section>\n"
        )

    def chart(self) -> str:
        """The density chart: one bar per bin (its height the square root of its count, so a quiet hour
        next to a busy one still shows), and a mark for each dated finding."""
        t = self.timeline
        if t.first is None or t.last is None:  # a file edited by hand: its ends are not events
            return ""
        width, height, base = 1000, 140, 110
        step = width / BINS
        peak = max(max(t.bins), 1)
        bars = []
        for number, count in enumerate(t.bins):
            if not count:
                continue
            tall = max(2.0, (count / peak) ** 0.5 * (base - 20))
            bars.append(
                f'<rect class="bar" data-first="{t.bin_start[number]}" x="{number * step:.2f}" '
                f'y="{base - tall:.2f}" width="{step - 1:.2f}" height="{tall:.2f}">'
                f"<title>{count:,} events</title></rect>"
            )
        marks = []
        for finding in self.document.findings:
            moment = self.finding_timestamp(finding)
            if moment is None:
                continue
            x = (bin_of(moment, t.first, t.last) + 0.5) * step
            marks.append(
                f'<a href="#f-{esc(finding.id)}"><path class="mark sev-{finding.severity}" '
                f'd="M{x:.2f} {base + 4} l-6 12 h12 z"><title>{esc(finding.severity)}: '
                f"{esc(hide(finding.title, self.redactions_of(finding)), 200)}</title></path></a>"
            )
        return (
            f'<svg id="timeline-chart" class="chart" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="events over time" xmlns="http://www.w3.org/2000/svg">'
            f'<line class="axis" x1="0" y1="{base}" x2="{width}" y2="{base}"/>'
            f"{''.join(bars)}{''.join(marks)}"
            f'<text class="label" x="0" y="{height - 2}">{esc(t.first_text[:19])}</text>'
            f'<text class="label" x="{width}" y="{height - 2}" text-anchor="end">{esc(t.last_text[:19])}</text></svg>'
        )

    def finding_timestamp(self, finding: FindingDocument) -> int | None:
        """The microseconds since the epoch of a finding's time, as the timeline counts them."""
        if finding.time is None:
            return None
        try:
            return microseconds(datetime.fromisoformat(finding.time.replace("Z", "+00:00")))
        except ValueError:
            return None

    def problems_section(self) -> str:
        problems = self.document.problems
        if not problems:
            return '<section id="problems"><h2>Problems</h2><p>None: every file selected was read.</p></section>\n'
        rows = "".join(
            f"<tr><td>{esc(p.artifact)}</td><td><code><bdi>{esc(p.path)}</bdi></code></td><td>{esc(p.reason)}</td>"
            f"<td>{'' if p.acquisition is None else p.acquisition}</td></tr>"
            for p in problems
        )
        return (
            f'<section id="problems"><h2>Problems ({len(problems)})</h2><table><thead><tr><th>artifact</th>'
            f"<th>file</th><th>reason</th><th>acquisition</th></tr></thead><tbody>{rows}</tbody></table></section>\n"
        )

    def runs_section(self) -> str:
        ran = [(a.name, a.version, a.records, a.description) for a in self.document.artifacts] + [
            (c.name, c.version, c.records, c.description) for c in self.document.correlators
        ]
        rows = "".join(
            f"<tr><td><code>{esc(name)}</code></td><td>{version}</td><td>{records:,}</td><td>{esc(description)}</td></tr>"
            for name, version, records, description in ran
        )
        return (
            '<section id="ran"><h2>What ran</h2><table><thead><tr><th>artifact or correlator</th><th>version</th>'
            f"<th>records</th><th>what it reads</th></tr></thead><tbody>{rows}</tbody></table></section>\n"
        )


def evidence_table_html(rows: str) -> str:
    return (
        '<table class="evidence"><thead><tr><th>file and its SHA-256</th><th>where</th><th>excerpt</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def severity_counts(document: FindingsDocument) -> dict[str, int]:
    """The document's count of findings per severity label."""
    return {str(label): count for label, count in document.summary.findings.items()}


def json_block(value: object) -> str:
    """JSON for a ``<script type="application/json">`` block: no ``<``, ``>`` or ``&`` in it, so that no
    value can close the block or open a comment."""
    text = orjson.dumps(value).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
