"""The analysis attestation: an in-toto Statement v1 with an SLSA-provenance-shaped predicate.

Subjects are the analysis outputs (findings.json, timeline, records, manifest) by SHA-256.
``resolvedDependencies`` name the item (its manifest file's SHA-256, with the item's Merkle root as
an annotation), every indicator set file by SHA-256, and vestige itself by the digest of its
installed package. The findings are also committed one by one: ``byproducts`` carries the RFC 6962
root over a leaf per finding, in findings.json order, so a disclosure can prove that one finding
belongs to the attested analysis without revealing the others (docs/custody-design.md sections 3.6
and 7.3). The Statement is signed in a DSSE envelope (``application/vnd.in-toto+json``).

A finding's leaf is salted like an item's file leaf: ``salt || RFC 8785 JSON of the finding``, the
salt ``HMAC-SHA256(seed, index)`` (32 bytes) with a random seed kept in the analysis folder
(``finding-salts.json``), never in the attestation or the log. A disclosure reveals the salts of
the findings it shows only, so a reader who guesses a withheld finding cannot confirm the guess
against a sibling hash of a disclosed proof. Analyses made before salting commit the bare JSON of
each finding (their byproduct has no ``salted`` annotation): they still verify, and such a guess
can be confirmed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from vestige import __version__
from vestige.custody.distribution import package_digest
from vestige.custody.items import SEED_BYTES, salt_for
from vestige.custody.log import canonical
from vestige.evidence.merkle import MerkleRoot, inclusion_proof, leaf_hash

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "urn:vestige:analysis:v1"
FINDINGS_ROOT = "vestige.findings-root"
FINDING_SALTS = "finding-salts.json"
"""In an analysis folder: ``{"salt_seed": <64 hex digits>}``, the secret its finding salts come from."""


def finding_salt(seed: bytes, index: int) -> bytes:
    return salt_for(seed, str(index))


def finding_leaf(finding: Any, salt: bytes | None) -> bytes:
    """A finding's leaf: its 32-byte salt, then its RFC 8785 JSON (no salt for unsalted analyses)."""
    return (salt or b"") + canonical(finding)


def finding_leaves(findings_json: bytes, seed: bytes | None = None) -> list[bytes]:
    """The leaf of each finding of a findings.json, in its order, salted when ``seed`` is given."""
    document = orjson.loads(findings_json)
    return [
        finding_leaf(finding, None if seed is None else finding_salt(seed, index))
        for index, finding in enumerate(document.get("findings", []))
    ]


def findings_root(findings_json: bytes, seed: bytes | None = None) -> str:
    root = MerkleRoot()
    for leaf in finding_leaves(findings_json, seed):
        root.add_leaf(leaf)
    return root.hexdigest()


def finding_proof(findings_json: bytes, index: int, seed: bytes | None = None) -> list[bytes]:
    return inclusion_proof([leaf_hash(leaf) for leaf in finding_leaves(findings_json, seed)], index)


def finding_salts_file(seed: bytes) -> bytes:
    return orjson.dumps({"salt_seed": seed.hex()})


def parse_finding_seed(data: bytes) -> bytes | None:
    """The seed a ``finding-salts.json`` holds, or None when it holds none of 32 bytes."""
    try:
        value = orjson.loads(data).get("salt_seed")
        seed = bytes.fromhex(value) if isinstance(value, str) else b""
    except (orjson.JSONDecodeError, AttributeError, ValueError):
        return None
    return seed if len(seed) == SEED_BYTES else None


def read_finding_seed(folder: Path) -> bytes | None:
    """The seed of an analysis folder's finding salts, or None when it has none."""
    path = folder / FINDING_SALTS
    return parse_finding_seed(path.read_bytes()) if path.is_file() else None


def analysis_findings_root(folder: Path, statement: Mapping[str, Any]) -> str | None:
    """The findings root of the analysis in ``folder``, computed the way its Statement committed it:
    over salted leaves with the folder's seed (None without one), or over the bare findings."""
    findings_json = (folder / "findings.json").read_bytes()
    if not statement_findings_salted(statement):
        return findings_root(findings_json)
    seed = read_finding_seed(folder)
    return None if seed is None else findings_root(findings_json, seed)


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
    finding_seed: bytes | None = None,
) -> dict[str, Any]:
    """The Statement of one analysis run; ``subjects`` maps paths in the bundle to SHA-256; with
    ``finding_seed`` the findings root is over salted leaves (without, as before salting)."""
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
                        "digest": {"sha256": findings_root(findings_json, finding_seed)},
                        "annotations": _findings_annotations(len(finding_leaves(findings_json)), finding_seed),
                    }
                ],
            },
        },
    }


def _findings_annotations(count: int, seed: bytes | None) -> dict[str, Any]:
    if seed is None:
        return {"findings": count, "meaning": "RFC 6962 Merkle root over the RFC 8785 JSON of each finding, in order"}
    return {
        "findings": count,
        "salted": True,
        "meaning": "RFC 6962 Merkle root over a 32-byte salt followed by the RFC 8785 JSON of each finding, "
        "in order; the salts are revealed only for disclosed findings",
    }


def statement_findings_salted(statement: Mapping[str, Any]) -> bool:
    """Whether a Statement commits salted finding leaves (False for analyses made before salting)."""
    try:
        for byproduct in statement["predicate"]["runDetails"]["byproducts"]:
            if byproduct.get("name") == FINDINGS_ROOT:
                return byproduct["annotations"].get("salted") is True
    except (KeyError, TypeError, AttributeError):
        return False
    return False


def statement_findings_root(statement: Mapping[str, Any]) -> tuple[str, int] | None:
    """The findings root and count committed by a Statement, if it carries them."""
    try:
        for byproduct in statement["predicate"]["runDetails"]["byproducts"]:
            if byproduct.get("name") == FINDINGS_ROOT:
                return str(byproduct["digest"]["sha256"]), int(byproduct["annotations"]["findings"])
    except (KeyError, TypeError, ValueError):
        return None
    return None
