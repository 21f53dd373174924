"""The analysis attestation: an in-toto Statement v1 with an SLSA-provenance-shaped predicate.

Subjects are the analysis outputs (findings.json, timeline, records, manifest) by SHA-256.
``resolvedDependencies`` name the item (its manifest file's SHA-256, with the item's Merkle root as
an annotation), every indicator set file by SHA-256, and vestige itself by the digest of its
installed package. The findings are also committed one by one: ``byproducts`` carries the RFC 6962
root over the canonical JSON of each finding in findings.json order, so a disclosure can prove that
one finding belongs to the attested analysis without revealing the others (docs/custody-design.md sections 3.6
and 7.3). The Statement is signed in a DSSE envelope (``application/vnd.in-toto+json``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from vestige import __version__
from vestige.custody.distribution import package_digest
from vestige.custody.log import canonical
from vestige.evidence.merkle import MerkleRoot, inclusion_proof, leaf_hash

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "urn:vestige:analysis:v1"
FINDINGS_ROOT = "vestige.findings-root"


def finding_leaves(findings_json: bytes) -> list[bytes]:
    """The canonical JSON of each finding of a findings.json, in its order."""
    document = orjson.loads(findings_json)
    return [canonical(finding) for finding in document.get("findings", [])]


def findings_root(findings_json: bytes) -> str:
    root = MerkleRoot()
    for leaf in finding_leaves(findings_json):
        root.add_leaf(leaf)
    return root.hexdigest()


def finding_proof(findings_json: bytes, index: int) -> list[bytes]:
    return inclusion_proof([leaf_hash(leaf) for leaf in finding_leaves(findings_json)], index)


def analysis_statement(
    *,
    subjects: Mapping[str, str],
    item: str,
    item_manifest_sha256: str,
    item_root: str,
    indicator_files: Sequence[Mapping[str, str]],
    parameters: Mapping[str, Any],
    run: str,
    started: str,
    finished: str,
    findings_json: bytes,
) -> dict[str, Any]:
    """The Statement of one analysis run; ``subjects`` maps paths in the bundle to SHA-256."""
    dependencies: list[dict[str, Any]] = [
        {
            "name": f"item:{item}",
            "uri": f"data/items/{item}/manifest.jsonl",
            "digest": {"sha256": item_manifest_sha256},
            "annotations": {"merkle_root": item_root},
        },
        *(
            {"name": f"indicators:{entry['name']}", "uri": entry["file"], "digest": {"sha256": entry["sha256"]}}
            for entry in indicator_files
        ),
        {"name": "vestige", "digest": {"sha256": package_digest()}, "annotations": {"version": __version__}},
    ]
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": sha256}} for name, sha256 in sorted(subjects.items())],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": dict(parameters),
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {"id": f"urn:vestige:{__version__}", "version": {"vestige": __version__}},
                "metadata": {"invocationId": run, "startedOn": started, "finishedOn": finished},
                "byproducts": [
                    {
                        "name": FINDINGS_ROOT,
                        "digest": {"sha256": findings_root(findings_json)},
                        "annotations": {
                            "findings": len(finding_leaves(findings_json)),
                            "meaning": "RFC 6962 Merkle root over the RFC 8785 JSON of each finding, in order",
                        },
                    }
                ],
            },
        },
    }


def statement_findings_root(statement: Mapping[str, Any]) -> tuple[str, int] | None:
    """The findings root and count committed by a Statement, if it carries them."""
    try:
        for byproduct in statement["predicate"]["runDetails"]["byproducts"]:
            if byproduct.get("name") == FINDINGS_ROOT:
                return str(byproduct["digest"]["sha256"]), int(byproduct["annotations"]["findings"])
    except (KeyError, TypeError, ValueError):
        return None
    return None
