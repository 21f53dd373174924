"""A Timesketch timeline: JSON Lines that Timesketch imports, from ``timeline.jsonl`` and ``findings.json``.

Timesketch's JSONL import (its user guide, "Import from JSON or CSV") needs three fields on each line:
``message`` (text), ``datetime`` (ISO 8601) and ``timestamp_desc`` (what the time is); every other field
becomes an attribute of the event. Each event of the timeline is written with flat attributes so that
Timesketch's index takes every line whatever artifact it came from: ``artifact`` (also ``data_type``),
the evidence's ``path``, ``sha256`` and place (``table``, ``row``, ``line``, ``offset``, ``key``,
``packet``, ``acquisition``), then the record's payload fields (a nested value as its JSON text; a field
named like one of the attributes above as ``payload_<name>``). An event a finding cites carries the
findings' ``finding_id`` (a list), the highest ``severity`` and a ``tag``. The timeline's own line for each
finding with a time is replaced by the finding in full: severity, rule, title, explanation, indicators and
where its evidence is. A finding without a time cannot be placed on a timeline and is counted instead.

The timeline is read one event at a time (it can hold millions) and the file is written as it is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import orjson

from vestige.model import JSON
from vestige.report.citations import PLACE, Citations, locator_text, most_severe
from vestige.report.findings import FindingDocument, FindingsDocument
from vestige.report.timeline import TimelineEvent, read_timeline

REQUIRED = ("message", "datetime", "timestamp_desc")
"""The fields Timesketch needs on every line."""
FINDING_DATA_TYPE = "vestige.finding"
ATTRIBUTES = frozenset(
    {*REQUIRED, "timestamp", "data_type", "artifact", "tag", "finding_id", "severity", "rule", *PLACE}
    | {"title", "explanation", "indicators", "evidence", "caveats"}
)
"""Names of the attributes vestige writes itself: a payload field of the same name is renamed."""


@dataclass(frozen=True, slots=True)
class TimesketchCount:
    """What a Timesketch export wrote: events of records, findings, and findings left out for want of a time."""

    events: int
    findings: int
    undated_findings: int


def write_timesketch(document: FindingsDocument, timeline: Path, out: IO[bytes]) -> TimesketchCount:
    """Writes the Timesketch JSONL of an output folder's timeline and findings to ``out``."""
    events = findings = 0
    for line in timesketch_lines(document, timeline):
        out.write(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))
        if line.get("data_type") == FINDING_DATA_TYPE:
            findings += 1
        else:
            events += 1
    return TimesketchCount(events, findings, sum(1 for f in document.findings if f.time is None))


def timesketch_lines(document: FindingsDocument, timeline: Path) -> Iterator[dict[str, JSON]]:
    """Each line of the export, in the timeline's order."""
    citations = Citations(document)
    for event in read_timeline(timeline):
        if event.data_type == FINDING_DATA_TYPE:
            finding = citations.by_id.get(str(event.fields.get("finding_id")))
            if finding is not None:
                yield finding_line(finding, event)
                continue
        yield event_line(event, citations)


def event_line(event: TimelineEvent, citations: Citations) -> dict[str, JSON]:
    """A record's event with flat attributes, and the findings that cite it."""
    line: dict[str, JSON] = {
        "message": event.message,
        "datetime": event.datetime,
        "timestamp_desc": event.timestamp_desc,
        "timestamp": event.timestamp,
        "data_type": event.data_type,
        "artifact": event.data_type,
    }
    for name in PLACE:
        value = (event.evidence or {}).get(name)
        if value is not None:
            line[name] = value
    citing = citations.citing(event.evidence)
    if citing:
        severity = most_severe(citing)
        line["finding_id"] = [f.id for f in citing]
        line["severity"] = severity
        line["tag"] = ["vestige", f"vestige-{severity}"]
    for name, value in event.fields.items():
        line[f"payload_{name}" if name in ATTRIBUTES else name] = flat(value)
    return line


def finding_line(finding: FindingDocument, event: TimelineEvent) -> dict[str, JSON]:
    """A finding as an event: its time, severity, rule, title, explanation, indicators and evidence."""
    return {
        "message": f"[{finding.severity}] {finding.title}",
        "datetime": event.datetime,
        "timestamp_desc": event.timestamp_desc,
        "timestamp": event.timestamp,
        "data_type": FINDING_DATA_TYPE,
        "artifact": FINDING_DATA_TYPE,
        "tag": ["vestige", f"vestige-{finding.severity}"],
        "finding_id": finding.id,
        "severity": finding.severity,
        "rule": finding.rule,
        "title": finding.title,
        "explanation": finding.explanation,
        "caveats": list(finding.caveats),
        "indicators": [f"{m.type} {m.value} ({m.collection}, {m.set_name})" for m in finding.indicators],
        "evidence": [locator_text(e.locator) for e in finding.evidence],
    }


def flat(value: JSON) -> JSON:
    """A payload value Timesketch's index takes in any event: a scalar or a list of text as it is, anything
    nested as its JSON text (an attribute that is an object in one event and text in another is refused)."""
    if isinstance(value, dict) or (isinstance(value, list) and not all(isinstance(v, str) for v in value)):
        return orjson.dumps(value).decode()
    return value
