"""Which findings cite a timeline event (the exports tag an event with the findings whose evidence is its place),
and a place in words.

A finding's evidence locators (``findings.json``, integers beyond ±(2^53 − 1) as their text) and a
timeline event's locator (``timeline.jsonl``, integers as they are) name the same place when their set
parts are equal as text; ``place`` is that common form.
"""

from __future__ import annotations

from collections.abc import Mapping

from vestige.model import JSON, Severity
from vestige.report.findings import FindingDocument, FindingsDocument, LocatorDocument

Place = tuple[tuple[str, str], ...]
PLACE = ("path", "sha256", "table", "row", "line", "offset", "key", "packet", "acquisition")
"""The parts of a locator, in the order the exports write them."""


def place(parts: Mapping[str, object]) -> Place:
    """A locator's set parts, each as text, in name order."""
    return tuple(sorted((name, str(value)) for name, value in parts.items() if value is not None))


class Citations:
    """The findings of a document by the places their evidence cites, and by id."""

    def __init__(self, document: FindingsDocument) -> None:
        self.by_id: dict[str, FindingDocument] = {f.id: f for f in document.findings}
        self._by_place: dict[Place, list[FindingDocument]] = {}
        for finding in document.findings:
            for evidence in finding.evidence:
                citing = self._by_place.setdefault(place(evidence.locator.model_dump(mode="json")), [])
                if finding not in citing:
                    citing.append(finding)

    def citing(self, evidence: Mapping[str, JSON] | None) -> list[FindingDocument]:
        """The findings that cite the place of a timeline event's evidence, in the document's order."""
        return [] if evidence is None else self._by_place.get(place(evidence), [])


def most_severe(findings: list[FindingDocument]) -> str | None:
    """The highest severity label among findings (None for none)."""
    if not findings:
        return None
    return max(Severity.parse(f.severity) for f in findings).label


def locator_text(locator: LocatorDocument) -> str:
    """``HomeDomain/Library/Safari/History.db history_visits row 103``: a place in words."""
    parts = [locator.path]
    if locator.acquisition is not None:
        parts.insert(0, f"acquisition {locator.acquisition}:")
    if locator.table is not None:
        parts.append(locator.table)
    for name in ("row", "line", "packet", "offset", "key"):
        value = getattr(locator, name)
        if value is not None:
            parts.append(f"{name} {value}")
    return " ".join(parts)
