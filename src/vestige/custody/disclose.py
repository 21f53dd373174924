"""Selective disclosure: a package with only some findings and the evidence files they cite.

The package is itself a bag (``Bag-Type: vestige-disclosure/1``) holding ``data/disclosure.json``,
the cited files under ``data/evidence/<item>/``, the case's custody log, checkpoints, key hints and
timestamps, and the attestations of the analyses the findings come from. For each finding it gives
its RFC 6962 inclusion proof against the findings root of the signed attestation; for each file,
its salt and inclusion proof against the item root signed in the ``acquire`` record. A verifier
checks all of it without the rest of the acquisition and learns how many files were withheld, but
not what they were (docs/custody-design.md section 7.5).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from vestige.custody.attestation import finding_leaves, finding_proof, statement_findings_root
from vestige.custody.bag import Bag, BagError, validate
from vestige.custody.case import ATTESTATIONS, KEYS, Case, CaseError, CustodyState
from vestige.custody.dsse import Envelope
from vestige.custody.items import ItemFile, LeafProof, leaf_proofs
from vestige.custody.keys import PublicKey, SigningKey
from vestige.custody.log import CHECKPOINTS, LOG, Entry, canonical
from vestige.custody.verify import (
    CHAIN,
    INTEGRITY,
    Report,
    accounted_tag_files,
    chain_holds,
    check_checkpoints,
    check_custody,
    check_key_hints,
    check_log,
    run_stage,
)
from vestige.evidence.merkle import leaf_hash, verify_inclusion
from vestige.evidence.sources import open_source

DISCLOSURE_BAG = "vestige-disclosure/1"
DOCUMENT = "data/disclosure.json"


def disclose(case_root: Path, finding_ids: Sequence[str], out: Path, key: SigningKey) -> Path:
    """Writes the disclosure package of ``finding_ids`` to ``out`` and logs an ``export``."""
    with Case(case_root, for_writing=True) as case:
        return _disclose(case, case_root, finding_ids, out, key)


def _disclose(case: Case, case_root: Path, finding_ids: Sequence[str], out: Path, key: SigningKey) -> Path:
    state = case.state()
    chosen = [_find(case_root, state.analyses, wanted) for wanted in finding_ids]
    evidence: list[dict[str, Any]] = []
    files_to_copy: list[tuple[Callable[[Bag, str], object], str]] = []
    withheld: dict[str, dict[str, int]] = {}
    for item in sorted({c["item"] for c in chosen}):
        description = orjson.loads((case_root / f"data/items/{item}/item.json").read_bytes())
        files = _item_files(case_root, item)
        cited = {
            locator["sha256"]
            for c in chosen
            if c["item"] == item
            for e in c["finding"]["evidence"]
            if (locator := e["locator"]).get("sha256")
        }
        wanted = {f.path for f in files if f.sha256 in cited}
        proofs = _one_per_digest(leaf_proofs(bytes.fromhex(description["salt_seed"]), files, wanted))
        for proof in proofs:
            name = f"data/evidence/{item}/{proof.entry.path}"
            evidence.append({"item": item, "file": name, "leaf": proof.as_json()})
            if not state.items[item]["item"]["by_reference"]:
                files_to_copy.append((partial(_copy_item_file, case_root, item, description, proof.entry.path), name))
        withheld[item] = {"files": len(files) - len(proofs), "of": len(files)}
    document = {
        "schema": DISCLOSURE_BAG,
        "case": case.case_id,
        "findings": chosen,
        "evidence": evidence,
        "withheld": withheld,
    }
    data = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    if out.exists() and any(out.iterdir()):
        raise CaseError(f"{out}: exists and is not empty; a disclosure needs a new folder")
    note = f"disclosure of findings {', '.join(c['finding']['id'] for c in chosen)}"
    case.simple(key, "export", note=note, outputs={"disclosure.json": hashlib.sha256(data).hexdigest()})
    return _write_package(case_root, out, data, str(document["case"]), files_to_copy, {c["run"] for c in chosen})


def _find(root: Path, analyses: Sequence[Mapping[str, Any]], wanted: str) -> dict[str, Any]:
    """The finding whose id is ``wanted`` (or starts with it, when unambiguous), in any analysis."""
    found: list[dict[str, Any]] = []
    for analysis in analyses:
        run = str(analysis["run"])
        findings_json = (root / f"data/analysis/{run}/findings.json").read_bytes()
        for index, finding in enumerate(orjson.loads(findings_json)["findings"]):
            if finding["id"].startswith(wanted):
                proof = finding_proof(findings_json, index)
                found.append(
                    {
                        "run": run,
                        "item": analysis["item"]["id"],
                        "index": index,
                        "count": len(finding_leaves(findings_json)),
                        "finding": finding,
                        "proof": [step.hex() for step in proof],
                    }
                )
    ids = {f["finding"]["id"] for f in found}
    if len(ids) != 1:
        raise CaseError(f"finding {wanted!r} matches {len(ids)} findings in the bundle; give more of its id")
    return found[-1]


def _item_files(root: Path, item: str) -> list[ItemFile]:
    lines = (root / f"data/items/{item}/manifest.jsonl").read_bytes().splitlines()
    return [ItemFile(**orjson.loads(line)) for line in lines if line]


def _one_per_digest(proofs: list[LeafProof]) -> list[LeafProof]:
    """Identical copies of a cited file prove nothing more: one proof per SHA-256 is enough."""
    seen: dict[str, LeafProof] = {}
    for proof in proofs:
        seen.setdefault(proof.entry.sha256, proof)
    return sorted(seen.values(), key=lambda p: p.entry.path)


def _copy_item_file(root: Path, item: str, description: Mapping[str, Any], path: str, bag: Bag, name: str) -> object:
    """Copies the bundled bytes of an item's file into ``bag`` as ``name``: from the item's folder, or,
    streamed, from the member of its archive."""
    folder = root / "data" / "acquisition" / item
    source = description.get("source", {"shape": "folder"})
    if source.get("shape", "folder") != "archive":
        return bag.copy_in(folder / path, name)
    with open_source(folder / str(source["name"])) as archive:
        members = archive.within(str(source["within"])) if source.get("within") else archive
        with members.open(path) as stream:
            return bag.copy_in(stream, name)


def _write_package(
    case_root: Path,
    out: Path,
    document: bytes,
    case_id: str,
    files: list[tuple[Callable[[Bag, str], object], str]],
    runs: set[str],
) -> Path:
    try:
        bag = Bag.create(out, {"Bag-Type": DISCLOSURE_BAG, "External-Identifier": case_id})
    except BagError as error:
        raise CaseError(str(error)) from None
    for copy, name in files:
        copy(bag, name)
    bag.write(DOCUMENT, document)
    for relative in (LOG, CHECKPOINTS, KEYS, "custody/timestamps", "VERIFY.md"):
        source = case_root / relative
        if source.is_dir():
            shutil.copytree(source, out / relative)
        elif source.is_file():
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, out / relative)
    for run in sorted(runs):
        name = f"{ATTESTATIONS}/analysis-{run}.intoto.jsonl"
        (out / ATTESTATIONS).mkdir(exist_ok=True)
        shutil.copyfile(case_root / name, out / name)
    bag.save()
    return out


def verify_disclosure(root: Path, trusted: Mapping[str, PublicKey]) -> Report:
    """Checks a disclosure package on its own: the log, the signed export that names the document,
    each finding's proof against its attestation, each file's proof against its signed item."""
    report = Report(str(root), DISCLOSURE_BAG)
    problems = validate(root)
    for problem in problems:
        report.fail("integrity", f"{problem.path}: {problem.reason}", INTEGRITY)
    if not problems:
        report.ok("integrity", "every file matches the bag manifests and Payload-Oxum")
    try:
        bag = Bag(root)
        raw = (root / DOCUMENT).read_bytes()
        document = orjson.loads(raw)
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
    except (BagError, OSError, ValueError) as error:
        report.fail("integrity", f"{DOCUMENT}: {error}", INTEGRITY)
        return report
    entries = check_log(root, report)
    run_stage(report, "keys", CHAIN, lambda: check_key_hints(root, trusted, report))
    state = CustodyState()

    def custody() -> None:
        replayed = check_custody(bag, entries, trusted, report, payload_committed=False)
        state.__dict__.update(vars(replayed))

    run_stage(report, "custody", CHAIN, custody)
    run_stage(report, "checkpoints", CHAIN, lambda: check_checkpoints(root, entries, trusted, report))
    if not chain_holds(report):
        report.fail("findings", "not checked: the custody log did not verify, so its records prove nothing", CHAIN)
        return report
    run_stage(report, "disclosure", CHAIN, lambda: _check_document(root, bag, raw, document, entries, state, report))
    analyses = {str(a["run"]): a for a in state.analyses}

    def findings() -> None:
        for disclosed in document.get("findings", []):
            _check_finding(root, disclosed, analyses, trusted, report)

    def evidence() -> None:
        proven: dict[str, int] = {}
        for item in document.get("evidence", []):
            if _check_evidence(bag, item, state.items, document, report):
                proven[str(item.get("item"))] = proven.get(str(item.get("item")), 0) + 1
        _check_withheld(bag, document, proven, report)

    run_stage(report, "findings", INTEGRITY, findings)
    run_stage(report, "evidence", INTEGRITY, evidence)
    return report


def _check_document(
    root: Path,
    bag: Bag,
    raw: bytes,
    document: Mapping[str, Any],
    entries: list[Entry],
    state: CustodyState,
    report: Report,
) -> None:
    """The document is the one a signed export named, of this case, and the package holds nothing else."""
    digest = hashlib.sha256(raw).hexdigest()
    named = [
        e
        for e in entries
        if e.record.get("action") == "export"
        and any(o.get("sha256") == digest for o in e.record.get("outputs", []) if isinstance(o, dict))
    ]
    if not named:
        report.fail("disclosure", f"{DOCUMENT} is not named by a signed export record of the log", CHAIN)
        return
    if document.get("case") != state.case or bag.info().get("External-Identifier") != state.case:
        report.fail("disclosure", "the package names another case than its custody log", INTEGRITY)
    stray = [n for n in bag.payload if not n.startswith("data/evidence/") and n != DOCUMENT]
    for name in sorted(stray):
        report.fail("disclosure", f"{name}: a disclosure holds only the document and cited evidence", INTEGRITY)
    runs = {str(f.get("run")) for f in document.get("findings", []) if isinstance(f, dict)}
    allowed = accounted_tag_files(entries, state) - {
        f"{ATTESTATIONS}/analysis-{a.get('run')}.intoto.jsonl" for a in state.analyses if str(a.get("run")) not in runs
    }
    for name in sorted(set(bag.tag_files()) - allowed):
        report.fail("disclosure", f"{name}: a file that no record or checkpoint accounts for", INTEGRITY)
    report.ok("disclosure", f"the document is the one named by signed record {named[-1].seq} (export)")


def _check_withheld(bag: Bag, document: Mapping[str, Any], proven: Mapping[str, int], report: Report) -> None:
    """Withheld counts come from the proofs (tree size minus files shown), never from the document."""
    sizes = {
        str(e.get("item")): int(e.get("leaf", {}).get("tree_size", 0))
        for e in document.get("evidence", [])
        if isinstance(e, dict)
    }
    computed = {item: {"files": size - proven.get(item, 0), "of": size} for item, size in sorted(sizes.items())}
    if document.get("withheld") != computed:
        report.fail("evidence", "the withheld counts the document states are not what its proofs show", INTEGRITY)
    listed = {str(e.get("file")) for e in document.get("evidence", []) if isinstance(e, dict)}
    for name in sorted(n for n in bag.payload if n.startswith("data/evidence/") and n not in listed):
        report.fail("evidence", f"{name}: a file no proof accounts for", INTEGRITY)
    report.facts["withheld"] = computed


def _check_finding(
    root: Path,
    disclosed: Mapping[str, Any],
    analyses: Mapping[str, Mapping[str, Any]],
    trusted: Mapping[str, PublicKey],
    report: Report,
) -> None:
    finding = disclosed.get("finding", {})
    where = f"finding {finding.get('id')}"
    run = str(disclosed.get("run"))
    analysis = analyses.get(run)
    path = root / f"{ATTESTATIONS}/analysis-{run}.intoto.jsonl"
    if analysis is None or not path.is_file():
        report.fail(
            "findings", f"{where}: its analysis {run} is not in the custody log or lacks its attestation", CHAIN
        )
        return
    envelope = Envelope.parse(path.read_bytes().strip())
    valid, _, _ = envelope.valid_signers(trusted)
    if (
        hashlib.sha256(path.read_bytes()).hexdigest() != analysis.get("digests", {}).get("attestation_sha256")
        or str(analysis.get("actor", {}).get("key")) not in valid
    ):
        report.fail("findings", f"{where}: the attestation of analysis {run} is not the signed one", CHAIN)
        return
    committed = statement_findings_root(orjson.loads(envelope.payload))
    proof = [bytes.fromhex(step) for step in disclosed.get("proof", [])]
    index, count = disclosed.get("index"), disclosed.get("count")
    if (
        committed is None
        or count != committed[1]
        or not isinstance(index, int)
        or not verify_inclusion(leaf_hash(canonical(finding)), index, committed[1], proof, bytes.fromhex(committed[0]))
    ):
        report.fail("findings", f"{where}: not proven to be in the attested findings of analysis {run}", INTEGRITY)
        return
    report.ok("findings", f"{where}: finding {index + 1} of {count} in the signed analysis {run}")


def _check_evidence(
    bag: Bag,
    evidence: Mapping[str, Any],
    items: Mapping[str, Mapping[str, Any]],
    document: Mapping[str, Any],
    report: Report,
) -> bool:
    """Whether one disclosed file is proven in its signed item (and present unless kept by reference)."""
    leaf = evidence.get("leaf", {})
    item = str(evidence.get("item"))
    where = f"{item}/{leaf.get('path')}"
    acquired = items.get(item)
    if acquired is None:
        report.fail("evidence", f"{where}: item {item} was never acquired in this log", CHAIN)
        return False
    proof = LeafProof(
        ItemFile(str(leaf.get("path")), int(leaf.get("size", -1)), str(leaf.get("sha256"))),
        bytes.fromhex(str(leaf.get("salt", ""))),
        int(leaf.get("index", -1)),
        int(leaf.get("tree_size", -1)),
        tuple(bytes.fromhex(step) for step in leaf.get("proof", [])),
    )
    if not proof.verifies(str(acquired.get("digests", {}).get("merkle_root"))):
        report.fail("evidence", f"{where}: its inclusion proof does not reach the signed item root", INTEGRITY)
        return False
    name = str(evidence.get("file"))
    if name != f"data/evidence/{item}/{proof.entry.path}":
        report.fail("evidence", f"{where}: the file is not stored under its own name", INTEGRITY)
        return False
    by_reference = bool(acquired.get("item", {}).get("by_reference"))
    if name not in bag.payload and not by_reference:
        report.fail("evidence", f"{where}: the cited file is missing from the package", INTEGRITY)
        return False
    if name in bag.payload and bag.payload[name] != proof.entry.sha256:
        report.fail("evidence", f"{where}: the disclosed file is not the one in the acquisition", INTEGRITY)
        return False
    cited = {
        e["locator"].get("sha256")
        for f in document.get("findings", [])
        for e in f.get("finding", {}).get("evidence", [])
    }
    if proof.entry.sha256 not in cited:
        report.fail("evidence", f"{where}: no disclosed finding cites this file", INTEGRITY)
        return False
    present = "disclosed" if name in bag.payload else "proven; the item is kept by reference"
    report.ok("evidence", f"{where}: leaf {proof.index + 1} of {proof.size} of the signed item, {present}")
    return True
