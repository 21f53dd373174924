"""Findings and timeline as CSV for spreadsheets: ``findings.csv`` and ``timeline.csv``.

RFC 4180: a header row, fields separated by commas, records ended by CRLF, a field holding a comma, a
quote or a line break quoted with its quotes doubled (a finding's caveats, evidence and indicators are
each one field with one item per line). UTF-8 with a byte order mark, which spreadsheet programs need to
read text that is not Latin (an Arabic SMS) as UTF-8.

Evidence is written by whoever controls the phone, and spreadsheet programs run a cell that starts
with ``=``, ``+``, ``-`` or ``@`` as a formula (``=HYPERLINK(...)``, ``=cmd|...``), as some do after a tab or
carriage return: every text cell that starts with one of these is written with a ``'`` before it
(OWASP's guidance on CSV injection), which shows the text as it is. Numbers are written as numbers.

``timeline.csv`` has one row per event of ``timeline.jsonl``, read one at a time and written as it is
read: the event's attributes, its evidence's place, the findings that cite it, and the record's other
fields as one JSON text.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import orjson

from vestige.report.citations import PLACE, Citations, locator_text, most_severe
from vestige.report.findings import FindingDocument, FindingsDocument
from vestige.report.timeline import read_timeline
from vestige.report.timesketch import FINDING_DATA_TYPE

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FINDINGS_CSV = "findings.csv"
TIMELINE_CSV = "timeline.csv"
FINDING_COLUMNS = (
    "id",
    "severity",
    "rule",
    "time",
    "title",
    "explanation",
    "caveats",
    "evidence",
    "excerpts",
    "indicators",
)
TIMELINE_COLUMNS = (
    "datetime",
    "timestamp",
    "timestamp_desc",
    "artifact",
    "message",
    *PLACE,
    "finding_id",
    "severity",
    "fields",
)

Cell = str | int | float | None


def spreadsheet_cell(value: Cell) -> Cell:
    """A cell no spreadsheet takes for a formula: text that starts like one gets a ``'`` before it."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


@dataclass(frozen=True, slots=True)
class CsvCount:
    findings: int
    events: int


def write_csv(document: FindingsDocument, timeline: Path, folder: Path) -> CsvCount:
    """Writes ``findings.csv`` and ``timeline.csv`` into ``folder`` (which exists)."""
    with (folder / FINDINGS_CSV).open("w", encoding="utf-8-sig", newline="", errors="backslashreplace") as out:
        findings = write_rows(out, FINDING_COLUMNS, (finding_row(f) for f in document.findings))
    citations = Citations(document)
    with (folder / TIMELINE_CSV).open("w", encoding="utf-8-sig", newline="", errors="backslashreplace") as out:
        events = write_rows(out, TIMELINE_COLUMNS, timeline_rows(citations, timeline))
    return CsvCount(findings, events)


def write_rows(out: IO[str], columns: Sequence[str], rows: Iterable[Sequence[Cell]]) -> int:
    """The header and each row, RFC 4180 quoted and guarded; returns the number of rows."""
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL, strict=True)
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow([spreadsheet_cell(value) for value in row])
        count += 1
    return count


def finding_row(finding: FindingDocument) -> list[Cell]:
    return [
        finding.id,
        finding.severity,
        finding.rule,
        finding.time,
        finding.title,
        finding.explanation,
        "\n".join(finding.caveats),
        "\n".join(locator_text(e.locator) + f" (sha256 {e.locator.sha256 or '-'})" for e in finding.evidence),
        "\n".join(e.excerpt for e in finding.evidence),
        "\n".join(f"{m.type} {m.value} ({m.collection}, {m.set_name} {m.set_sha256})" for m in finding.indicators),
    ]


def timeline_rows(citations: Citations, timeline: Path) -> Iterable[list[Cell]]:
    for event in read_timeline(timeline):
        fields = dict(event.fields)
        if event.data_type == FINDING_DATA_TYPE:
            cited = citations.by_id.get(str(fields.get("finding_id")))
            citing = [cited] if cited is not None else []
        else:
            citing = citations.citing(event.evidence)
        place = event.evidence or {}
        yield [
            event.datetime,
            event.timestamp,
            event.timestamp_desc,
            event.data_type,
            event.message,
            *(_scalar(place.get(name)) for name in PLACE),
            " ".join(f.id for f in citing) or None,
            most_severe(citing),
            orjson.dumps(fields).decode() if fields else None,
        ]


def _scalar(value: object) -> Cell:
    return value if isinstance(value, str | int | float) or value is None else str(value)
