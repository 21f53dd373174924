"""``findings.json``: the versioned, canonical result document.

Schema ``vestige.findings/1``, serialised as RFC 8785 canonical JSON (``rfc8785`` package): keys
sorted, no insignificant whitespace, numbers in their shortest form. It holds no wall-clock time,
host name or absolute path, so the same acquisition, indicator sets and vestige version give the
same bytes; ``run.json`` carries the run's metadata instead.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import rfc8785

from vestige import __version__
from vestige.analysis import Result
from vestige.model import JSON, Severity
from vestige.report.encoding import i_json

SCHEMA = "vestige.findings/1"


def findings_document(result: Result) -> dict[str, JSON]:
    counts: dict[str, JSON] = {s.label: 0 for s in Severity}
    for finding in result.findings:
        label = finding.severity.label
        count = counts[label]
        assert isinstance(count, int)
        counts[label] = count + 1
    return {
        "schema": SCHEMA,
        "vestige_version": __version__,
        "acquisition": {
            "kind": result.kind,
            "device": result.device.as_json(),
            "files": result.file_count,
            "bytes": result.total_bytes,
            "merkle_root": result.merkle_root,
        },
        "indicator_sets": [s.as_json() for s in result.indicator_sets],
        "summary": {"complete": result.complete, "findings": counts, "problems": len(result.problems)},
        "findings": [f.as_json() for f in result.findings],
        "problems": [p.as_json() for p in sorted(result.problems, key=lambda p: (p.artifact, p.path, p.reason))],
        "artifacts": [
            {"name": a.name, "description": a.description, "files": list(a.files), "records": a.records}
            for a in result.artifacts
        ],
    }


def canonical_findings(result: Result) -> bytes:
    return bytes(rfc8785.dumps(i_json(findings_document(result))))


def write_findings(result: Result, path: Path) -> str:
    """Writes findings.json and returns its SHA-256."""
    data = canonical_findings(result)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()
