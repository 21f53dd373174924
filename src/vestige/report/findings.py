"""``findings.json``: the versioned, typed result document, written canonically and read back.

``FindingsDocument`` (schema ``vestige.findings/2``) is the one model of a result on disk: the
report layer builds it from a ``Result`` and writes it as RFC 8785 canonical JSON (``rfc8785``:
keys sorted, no insignificant whitespace, numbers in their shortest form, integers beyond
±(2^53 − 1) as text, per I-JSON); ``read_findings`` validates a document and loads it back, so that
the HTML report, the exports and rescans never read the JSON by hand. Reading a document and
writing it again gives the same bytes. The JSON Schema generated from the model is published as
``docs/findings.schema.json`` (``python -m vestige.report.findings`` prints it).

The document holds no wall-clock time, host name or absolute path: the same acquisitions, indicator
sets and vestige version give the same bytes; ``run.json`` carries the run's metadata instead.
Artifacts and correlators name their ``version``, so that a stored result made by an older one can
be told stale.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
import rfc8785
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vestige import __version__
from vestige.analysis import Result
from vestige.model import JSON, Severity, finding_id
from vestige.report.encoding import i_json

SCHEMA = "vestige.findings/2"
SeverityLabel = Literal["info", "low", "medium", "high", "critical"]
Integer = Annotated[int | str, Field(description="an integer; beyond ±(2^53 − 1) its decimal text (I-JSON)")]


def _absent(value: object) -> bool:
    return value is None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class LocatorDocument(_Model):
    """A file of an acquisition (path and SHA-256) and a place in it; the place's parts are present
    only when set, and ``acquisition`` only in a check of several acquisitions."""

    path: str
    sha256: str | None
    table: str | None = Field(default=None, exclude_if=_absent)
    row: Integer | None = Field(default=None, exclude_if=_absent)
    line: Integer | None = Field(default=None, exclude_if=_absent)
    offset: Integer | None = Field(default=None, exclude_if=_absent)
    key: str | None = Field(default=None, exclude_if=_absent)
    packet: Integer | None = Field(default=None, exclude_if=_absent)
    acquisition: int | None = Field(default=None, exclude_if=_absent)


class EvidenceDocument(_Model):
    locator: LocatorDocument
    excerpt: str


class IndicatorDocument(_Model):
    value: str
    type: str
    collection: str
    set_name: str = Field(alias="set")
    set_sha256: str


class FindingDocument(_Model):
    """A finding: what was seen, why it matters, its caveats, evidence and indicators. ``id`` is the
    digest of its rule, evidence locators and indicators, checked when a document is read."""

    id: str
    rule: str
    severity: SeverityLabel
    title: str
    explanation: str
    caveats: list[str]
    time: str | None
    evidence: list[EvidenceDocument]
    indicators: list[IndicatorDocument]

    @model_validator(mode="after")
    def _id_matches(self) -> FindingDocument:
        expected = finding_id(
            self.rule,
            [e.locator.model_dump(mode="json") for e in self.evidence],
            [f"{m.type}={m.value}" for m in self.indicators],
        )
        if self.id != expected:
            raise ValueError(f"finding {self.id}: its id is not the digest of its rule, evidence and indicators")
        return self


class DeviceDocument(_Model):
    name: str | None
    model: str | None
    os_name: str | None
    os_version: str | None
    os_build: str | None
    serial: str | None
    identifiers: dict[str, str]
    acquired: str | None
    encrypted: bool | None


class AcquisitionDocument(_Model):
    """One acquisition of the check, in the order given: its kind, device, size and Merkle root."""

    kind: str
    device: DeviceDocument
    files: int
    bytes: Integer
    merkle_root: str


class IndicatorSetDocument(_Model):
    name: str
    source: str
    licence: str
    sha256: str
    format: str
    indicators: int
    counts: dict[str, int]
    invalid: int
    unsupported: int
    unknown_objects: int
    dangling_relationships: int
    duplicates: int


class SummaryDocument(_Model):
    complete: bool
    findings: dict[SeverityLabel, int]
    problems: int


class ProblemDocument(_Model):
    artifact: str
    path: str
    reason: str
    acquisition: int | None = Field(default=None, exclude_if=_absent)


class ArtifactDocument(_Model):
    name: str
    version: int
    description: str
    files: list[str]
    records: int
    acquisition: int | None = Field(default=None, exclude_if=_absent)


class CorrelatorDocument(_Model):
    name: str
    version: int
    description: str
    records: int
    acquisition: int | None = Field(default=None, exclude_if=_absent)


class FindingsDocument(_Model):
    """The whole of ``findings.json``."""

    schema_name: Literal["vestige.findings/2"] = Field(alias="schema")
    vestige_version: str
    acquisitions: list[AcquisitionDocument]
    indicator_sets: list[IndicatorSetDocument]
    summary: SummaryDocument
    findings: list[FindingDocument]
    problems: list[ProblemDocument]
    artifacts: list[ArtifactDocument]
    correlators: list[CorrelatorDocument]

    def canonical(self) -> bytes:
        """The document as RFC 8785 canonical JSON: the bytes of ``findings.json``."""
        return bytes(rfc8785.dumps(i_json(self.model_dump(mode="json", by_alias=True))))


class FindingsFormatError(Exception):
    """A findings.json that is not a valid document of this schema; the message says where."""


def findings_document(result: Result) -> FindingsDocument:
    """The document of a result."""
    counts: dict[str, JSON] = {s.label: 0 for s in Severity}
    for finding in result.findings:
        count = counts[finding.severity.label]
        assert isinstance(count, int)
        counts[finding.severity.label] = count + 1
    document: dict[str, JSON] = {
        "schema": SCHEMA,
        "vestige_version": __version__,
        "acquisitions": [
            {
                "kind": a.kind,
                "device": a.device.as_json(),
                "files": a.file_count,
                "bytes": a.total_bytes,
                "merkle_root": a.merkle_root,
            }
            for a in result.acquisitions
        ],
        "indicator_sets": [s.as_json() for s in result.indicator_sets],
        "summary": {"complete": result.complete, "findings": counts, "problems": len(result.problems)},
        "findings": [f.as_json() for f in result.findings],
        "problems": [
            p.as_json()
            for p in sorted(result.problems, key=lambda p: (p.acquisition or 0, p.artifact, p.path, p.reason))
        ],
        "artifacts": [_summary_json(a, files=list(a.files)) for a in result.artifacts],
        "correlators": [_summary_json(c) for c in result.correlators],
    }
    return FindingsDocument.model_validate(i_json(document))


def _summary_json(summary: Any, **extra: JSON) -> dict[str, JSON]:
    """An artifact's or a correlator's run: name, version, description, records, acquisition."""
    out: dict[str, JSON] = {
        "name": summary.name,
        "version": summary.version,
        "description": summary.description,
        "records": summary.records,
        **extra,
    }
    if summary.acquisition is not None:
        out["acquisition"] = summary.acquisition
    return out


def canonical_findings(result: Result) -> bytes:
    return findings_document(result).canonical()


def write_findings(result: Result, path: Path) -> str:
    """Writes findings.json and returns its SHA-256."""
    data = canonical_findings(result)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def read_findings(data: bytes, name: str = "findings.json") -> FindingsDocument:
    """A findings document, validated; ``FindingsFormatError`` names the file and the first problem."""
    try:
        return FindingsDocument.model_validate(orjson.loads(data))
    except orjson.JSONDecodeError as error:
        raise FindingsFormatError(f"{name}: not JSON ({error})") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the document"
        raise FindingsFormatError(f"{name}: {where}: {first['msg']}") from None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of findings.json, as published in docs/findings.schema.json."""
    schema = FindingsDocument.model_json_schema(by_alias=True, mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA, **schema}


if __name__ == "__main__":
    sys.stdout.write(orjson.dumps(json_schema(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n")
