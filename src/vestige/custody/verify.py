"""``vestige verify``: checks a case bundle offline, read-only, with a trust list the verifier brings.

The procedure is docs/custody-design.md section 7.4: bag integrity; the custody log (signatures against the
trust list, ``seq``/``prev`` chain, who may sign what); checkpoints (the log extends each signed
tree head); RFC 3161 tokens; items (their salted Merkle roots recomputed); attestations (subjects
and dependencies against the files); and, on request, a reproduction of each analysis. Each check
is reported; the exit code is the most serious failure: 1 integrity, 2 signature/trust/chain,
3 reproduction, 4 warnings only, 0 all verified.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from vestige.custody.anchoring import TIMESTAMPS, check_anchor
from vestige.custody.attestation import analysis_findings_root, statement_findings_root
from vestige.custody.bag import PAYLOAD_MANIFEST, Bag, BagError, validate
from vestige.custody.case import ALLOWED_WHEN_SEALED, ATTESTATIONS, CASE_BAG, KEYS, CustodyState, actor_key, apply
from vestige.custody.checkpoint import Checkpoint, check_since
from vestige.custody.dsse import CHECKPOINT_TYPE, IN_TOTO_TYPE, Envelope, EnvelopeError
from vestige.custody.items import ItemFile, item_root
from vestige.custody.keys import KeyFileError, PublicKey, parse_trust_list
from vestige.custody.log import CHECKPOINT_SCHEMA, CHECKPOINTS, LOG, Entry, LogError, digest, log_root, parse_line
from vestige.evidence.errors import EvidenceError
from vestige.evidence.hashing import hash_in_order
from vestige.evidence.sources import open_source

INTEGRITY, CHAIN, REPRODUCTION, WARNING = 1, 2, 3, 4
Reanalyse = Callable[[str, Path], bytes]
"""Given an analysis run and the bundle root, the findings.json a fresh run produces."""


@dataclass(frozen=True, slots=True)
class Check:
    area: str
    ok: bool
    message: str
    code: int = 0

    def as_json(self) -> dict[str, object]:
        return {"area": self.area, "ok": self.ok, "message": self.message, "code": self.code}


@dataclass
class Report:
    """Every check made, the keys seen, and the verdict."""

    bundle: str
    kind: str
    checks: list[Check] = field(default_factory=list)
    keys: dict[str, dict[str, object]] = field(default_factory=dict)
    facts: dict[str, object] = field(default_factory=dict)

    def ok(self, area: str, message: str) -> None:
        self.checks.append(Check(area, True, message))

    def fail(self, area: str, message: str, code: int) -> None:
        self.checks.append(Check(area, False, message, code))

    @property
    def exit_code(self) -> int:
        codes = {c.code for c in self.checks if not c.ok}
        for code in (INTEGRITY, CHAIN, REPRODUCTION, WARNING):
            if code in codes:
                return code
        return 0

    def as_json(self) -> dict[str, object]:
        return {
            "bundle": self.bundle,
            "kind": self.kind,
            "exit_code": self.exit_code,
            "checks": [c.as_json() for c in self.checks],
            "keys": self.keys,
            "facts": self.facts,
        }


def verify_case(
    root: Path,
    trusted: Mapping[str, PublicKey],
    reanalyse: Reanalyse | None = None,
    tsa_roots: bytes | None = None,
    since: Checkpoint | None = None,
) -> Report:
    report = Report(str(root), CASE_BAG)
    _integrity(root, report)
    try:
        bag = Bag(root)
    except BagError as error:
        report.fail("integrity", str(error), INTEGRITY)
        return report
    entries = check_log(root, report)
    run_stage(report, "keys", CHAIN, lambda: check_key_hints(root, trusted, report))
    state = CustodyState()
    run_stage(
        report, "custody", CHAIN, lambda: state.__dict__.update(check_custody(bag, entries, trusted, report).__dict__)
    )
    run_stage(report, "checkpoints", CHAIN, lambda: check_checkpoints(root, entries, trusted, report))
    if since is not None:
        check_since(report, entries, since)
    run_stage(report, "timestamps", CHAIN, lambda: _timestamps(root, entries, report, tsa_roots))
    if chain_holds(report):
        run_stage(report, "bundle", INTEGRITY, lambda: _bundle(root, bag, entries, state, report))
        run_stage(report, "items", INTEGRITY, lambda: _items(root, bag, state, report))
        run_stage(report, "attestations", INTEGRITY, lambda: _attestations(root, bag, state, trusted, report))
    else:
        report.fail("items", "not checked: the custody log did not verify, so its records prove nothing", CHAIN)
    if reanalyse is not None and chain_holds(report):
        run_stage(report, "reproduce", REPRODUCTION, lambda: _reproduce(root, state, reanalyse, report))
    report.facts.update(
        case=state.case,
        records=len(entries),
        items=sorted(state.items),
        analyses=len(state.analyses),
        sealed=state.sealed,
        last_checkpoint_root=log_root(e.envelope.payload for e in entries),
    )
    return report


def chain_holds(report: Report) -> bool:
    """Whether the log, its signatures and its checkpoints verified: only then do records vouch for files."""
    return not any(c.code == CHAIN for c in report.checks if not c.ok and c.area in ("custody", "checkpoints", "keys"))


MALFORMED = (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, EnvelopeError, EvidenceError)


def run_stage(report: Report, area: str, code: int, check: Callable[[], object]) -> None:
    """Runs one area's checks; a file too damaged to read is that area's failure, never a crash."""
    try:
        check()
    except MALFORMED as error:
        report.fail(
            area, f"could not be checked: a file is missing or malformed ({type(error).__name__}: {error})", code
        )


def _integrity(root: Path, report: Report) -> None:
    problems = validate(root)
    for problem in problems:
        report.fail("integrity", f"{problem.path}: {problem.reason}", INTEGRITY)
    if not problems:
        report.ok("integrity", "every file matches the bag manifests and Payload-Oxum")


def check_log(root: Path, report: Report) -> list[Entry]:
    entries: list[Entry] = []
    path = root / LOG
    if not path.is_file():
        report.fail("custody", f"{LOG} is missing", CHAIN)
        return entries
    for number, line in enumerate((x for x in path.read_bytes().split(b"\n") if x), start=1):
        try:
            entries.append(parse_line(line, number))
        except LogError as error:
            report.fail("custody", str(error), CHAIN)
    return entries


def check_key_hints(root: Path, trusted: Mapping[str, PublicKey], report: Report) -> None:
    for hint in sorted((root / KEYS).glob("*")):
        try:
            keys = parse_trust_list(hint.read_text("utf-8"), hint.name)
        except (KeyFileError, OSError, UnicodeDecodeError) as error:
            report.fail("keys", f"{KEYS}/{hint.name}: not a public key ({error})", INTEGRITY)
            continue
        for fingerprint, key in keys.items():
            if hint.name != f"{fingerprint.split(':', 1)[1]}.pub":
                report.fail("keys", f"{KEYS}/{hint.name} holds another key ({fingerprint})", CHAIN)
            report.keys.setdefault(fingerprint, {"name": key.name, "trusted": fingerprint in trusted})


def check_custody(
    bag: Bag, entries: list[Entry], trusted: Mapping[str, PublicKey], report: Report, *, payload_committed: bool = True
) -> CustodyState:
    """Replays the log, checking the chain and who signed each record; with ``payload_committed``
    the last record must have signed this bag's payload manifest (a disclosure has its own)."""
    state = CustodyState()
    failures = len(report.checks)
    previous: Entry | None = None
    receivers = {
        int(e.record.get("transfer_seq", -1)): actor_key(e.record)
        for e in entries
        if e.record.get("action") == "receive"
    }
    for position, entry in enumerate(entries):
        record = entry.record
        where = f"record {position}"
        if entry.seq != position:
            report.fail("custody", f"{where}: seq is {record.get('seq')}, expected {position}", CHAIN)
        expected_prev = digest(previous.envelope.payload) if previous else None
        if record.get("prev") != expected_prev:
            report.fail("custody", f"{where}: prev does not match the previous record", CHAIN)
        if previous is not None and str(record.get("time", {}).get("utc", "")) < str(
            previous.record.get("time", {}).get("utc", "")
        ):
            report.fail(
                "custody", f"{where}: its time is earlier than the previous record's (untrusted clock)", WARNING
            )
        _signatures(entry, where, state, receivers, trusted, report)
        _apply(record, where, state, report)
        previous = entry
    latest = max(entries, key=lambda e: e.seq, default=None)
    if payload_committed and latest is not None and isinstance(latest.record.get("bag"), dict):
        committed = latest.record["bag"].get("manifest_sha256")
        if committed != hashlib.sha256((bag.root / PAYLOAD_MANIFEST).read_bytes()).hexdigest():
            report.fail("custody", "the payload manifest changed after the last signed record", INTEGRITY)
    if state.pending is not None:
        report.fail("custody", f"the transfer of record {state.pending[0]} has not been received", WARNING)
    if len(report.checks) == failures:
        report.ok("custody", f"{len(entries)} records, chained and signed by the custodian of the moment")
    return state


def _signatures(
    entry: Entry,
    where: str,
    state: CustodyState,
    receivers: Mapping[int, str],
    trusted: Mapping[str, PublicKey],
    report: Report,
) -> None:
    record = entry.record
    valid, unknown, invalid = entry.envelope.valid_signers(trusted)
    for keyid in sorted(invalid):
        report.fail("custody", f"{where}: the signature of {keyid} does not verify", CHAIN)
    for keyid in sorted(unknown):
        report.keys.setdefault(keyid, {"name": "", "trusted": False})
        report.fail("custody", f"{where}: signed by {keyid}, a key your trust list does not hold", WARNING)
    signer = actor_key(record)
    action = record.get("action")
    if signer not in valid:
        report.fail("custody", f"{where} ({action}): no valid signature by a trusted key of its actor", CHAIN)
    if action == "open":
        if entry.seq != 0:
            report.fail("custody", f"{where}: 'open' is only the first record", CHAIN)
    elif action == "receive":
        if state.pending is None or signer not in (state.pending[1], state.custodian):
            report.fail("custody", f"{where}: received by a key the pending transfer did not name", CHAIN)
    elif signer != state.custodian:
        report.fail("custody", f"{where} ({action}): its actor is not the custodian at that point", CHAIN)
    if action == "key-rotate" and str(record.get("counterparty", {}).get("key", "")) not in valid:
        report.fail("custody", f"{where}: the key rotation lacks the new key's trusted signature", CHAIN)
    if action == "transfer":
        counterparty = str(record.get("counterparty", {}).get("key", ""))
        receiver = receivers.get(entry.seq)
        if receiver == counterparty and counterparty not in valid:
            report.fail("custody", f"{where}: the hand-over lacks the receiver's trusted signature", CHAIN)
        if receiver not in (None, counterparty, signer):
            report.fail("custody", f"{where}: received by another key than the one it names", CHAIN)


def _apply(record: Mapping[str, Any], where: str, state: CustodyState, report: Report) -> None:
    action = str(record.get("action"))
    if state.sealed and action not in ALLOWED_WHEN_SEALED:
        report.fail("custody", f"{where}: '{action}' while the bundle was sealed", CHAIN)
    if state.pending is not None and action != "receive":
        report.fail("custody", f"{where}: '{action}' while a transfer was pending", CHAIN)
    apply(state, record)
    if record.get("case") != state.case:
        report.fail("custody", f"{where}: belongs to case {record.get('case')!r}, not {state.case!r}", CHAIN)


def check_checkpoints(root: Path, entries: list[Entry], trusted: Mapping[str, PublicKey], report: Report) -> None:
    folder = root / CHECKPOINTS
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    failures = len(report.checks)
    payloads = [e.envelope.payload for e in entries]
    signers = {actor_key(e.record) for e in entries} - {""}
    for number, path in enumerate(files, start=1):
        where = f"{CHECKPOINTS}/{path.name}"
        if path.name != f"{number:06d}.json":
            report.fail("checkpoints", f"{where}: expected {number:06d}.json (a checkpoint is missing)", CHAIN)
        try:
            envelope = Envelope.parse(path.read_bytes().strip())
            body = orjson.loads(envelope.payload)
        except (EnvelopeError, orjson.JSONDecodeError) as error:
            report.fail("checkpoints", f"{where}: {error}", CHAIN)
            continue
        valid, _, invalid = envelope.valid_signers(trusted)
        if envelope.payload_type != CHECKPOINT_TYPE or body.get("schema") != CHECKPOINT_SCHEMA:
            report.fail("checkpoints", f"{where}: not a vestige checkpoint", CHAIN)
            continue
        if invalid or not (valid & signers):
            report.fail("checkpoints", f"{where}: not signed by a trusted signer of the log", CHAIN)
        size = body.get("tree_size")
        if not isinstance(size, int) or size != number or size > len(payloads):
            report.fail("checkpoints", f"{where}: covers {size} records, the log has {len(payloads)}", CHAIN)
            continue
        if body.get("root") != log_root(payloads[:size]):
            report.fail("checkpoints", f"{where}: the log does not extend it (records changed or removed)", CHAIN)
    if len(files) != len(entries):
        report.fail("checkpoints", f"{len(files)} checkpoints for {len(entries)} records", CHAIN)
    if len(report.checks) == failures:
        report.ok("checkpoints", f"the log extends all {len(files)} signed tree heads")


def _timestamps(root: Path, entries: list[Entry], report: Report, roots: bytes | None) -> None:
    anchors = [e.record for e in entries if e.record.get("action") == "anchor"]
    if not anchors:
        report.ok("timestamps", "no RFC 3161 timestamp: record times are the examiner's clock")
        return
    for anchor in anchors:
        ok, message = check_anchor(root, anchor, roots)
        if not ok:
            report.fail("timestamps", message, CHAIN)
        elif roots is None:
            report.fail(
                "timestamps",
                f"{message}; checked against the TSA chain stored in the bundle only "
                "(give --tsa-roots to check it against roots you trust)",
                WARNING,
            )
        else:
            report.ok("timestamps", message)


def _bundle(root: Path, bag: Bag, entries: list[Entry], state: CustodyState, report: Report) -> None:
    """The parts of a bag nothing signs on its own must agree with what the signed log says."""
    failures = len(report.checks)
    info = bag.info()
    if info.get("Bag-Type") != CASE_BAG or info.get("External-Identifier") != state.case:
        report.fail("bundle", "bag-info.txt does not name the case and bundle type the log opened", INTEGRITY)
    opening = entries[0].record.get("bundle", {}) if entries else {}
    verify_md = root / "VERIFY.md"
    if not verify_md.is_file() or hashlib.sha256(verify_md.read_bytes()).hexdigest() != opening.get("verify_md_sha256"):
        report.fail("bundle", "VERIFY.md is not the one the opening record signed", INTEGRITY)
    for name in sorted(set(bag.tag_files()) - accounted_tag_files(entries, state)):
        report.fail("bundle", f"{name}: a file that no record or checkpoint accounts for", INTEGRITY)
    if "data/disclosure.json" in bag.payload:
        report.fail("bundle", "a case bundle holds no disclosure document", INTEGRITY)
    if len(report.checks) == failures:
        report.ok("bundle", "bag-info.txt, VERIFY.md and every file outside data/ are the signed ones")


def accounted_tag_files(entries: list[Entry], state: CustodyState) -> set[str]:
    """The files outside data/ that the log accounts for."""
    names = {"bagit.txt", "bag-info.txt", PAYLOAD_MANIFEST, "VERIFY.md", LOG}
    names |= {f"{CHECKPOINTS}/{number:06d}.json" for number in range(1, len(entries) + 1)}
    for entry in entries:
        for signature in entry.envelope.signatures:
            names.add(f"{KEYS}/{signature.keyid.partition(':')[2]}.pub")
        if entry.record.get("action") == "anchor":
            stem = Path(str(entry.record.get("checkpoint", ""))).stem
            names |= {f"{TIMESTAMPS}/{stem}.tsr", f"{TIMESTAMPS}/{stem}.pem", f"{TIMESTAMPS}/{stem}.tsq"}
    names |= {f"{TIMESTAMPS}/{number:06d}.tsq" for number in range(1, len(entries) + 1)}
    names |= {f"{ATTESTATIONS}/analysis-{a.get('run')}.intoto.jsonl" for a in state.analyses}
    return names


def _items(root: Path, bag: Bag, state: CustodyState, report: Report) -> None:
    for item, record in sorted(state.items.items()):
        failures = len(report.checks)
        digests = record.get("digests", {})
        manifest_name, description_name = f"data/items/{item}/manifest.jsonl", f"data/items/{item}/item.json"
        if bag.payload.get(manifest_name) != digests.get("manifest_sha256"):
            report.fail("items", f"{item}: its file list is not the one the acquire record signed", INTEGRITY)
            continue
        if bag.payload.get(description_name) != digests.get("item_sha256"):
            report.fail("items", f"{item}: item.json is not the one the acquire record signed", INTEGRITY)
            continue
        description = orjson.loads((root / description_name).read_bytes())
        files = [ItemFile(**orjson.loads(line)) for line in (root / manifest_name).read_bytes().splitlines() if line]
        if item_root(bytes.fromhex(description["salt_seed"]), files) != digests.get("merkle_root"):
            report.fail("items", f"{item}: the Merkle root of its files is not the signed one", INTEGRITY)
        if not record.get("item", {}).get("by_reference"):
            _copied(root, bag, item, description, digests, files, report)
        if len(report.checks) == failures:
            report.ok(
                "items", f"{item}: {len(files)} files, Merkle root {str(digests.get('merkle_root'))[:16]}… as signed"
            )


def _copied(
    root: Path,
    bag: Bag,
    item: str,
    description: Mapping[str, Any],
    digests: Mapping[str, Any],
    files: list[ItemFile],
    report: Report,
) -> None:
    """The bundled copy must be the signed files: a folder's files one by one; for an archive, the
    archive the acquire record signed, whose members (read again) are the signed file list."""
    prefix = f"data/acquisition/{item}/"
    copied = {name[len(prefix) :]: sha for name, sha in bag.payload.items() if name.startswith(prefix)}
    source = description.get("source", {"shape": "folder"})
    if source.get("shape", "folder") != "archive":
        if copied != {f.path: f.sha256 for f in files}:
            report.fail("items", f"{item}: the copied files differ from its signed file list", INTEGRITY)
        return
    name = str(source.get("name"))
    if copied != {name: digests.get("container_sha256")}:
        report.fail("items", f"{item}: the copied archive is not the one its acquire record signed", INTEGRITY)
        return
    with open_source(root / prefix / name) as archive:
        members = archive.within(str(source.get("within", ""))) if source.get("within") else archive
        names = sorted(m.name for m in members.members() if m.type == "file")
        read = [(n, r) for n, r in hash_in_order((n, members.hash_target(n)) for n in names)]
    if {(n, r[1]) if isinstance(r, tuple) else (n, None) for n, r in read} != {(f.path, f.sha256) for f in files}:
        report.fail("items", f"{item}: the members of the copied archive differ from its signed file list", INTEGRITY)


def _attestations(root: Path, bag: Bag, state: CustodyState, trusted: Mapping[str, PublicKey], report: Report) -> None:
    for record in state.analyses:
        run = str(record.get("run"))
        where = f"analysis {run}"
        path = root / ATTESTATIONS / f"analysis-{run}.intoto.jsonl"
        failures = len(report.checks)
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != record.get("digests", {}).get(
            "attestation_sha256"
        ):
            report.fail("attestations", f"{where}: the attestation is not the one its record signed", CHAIN)
            continue
        envelope = Envelope.parse(path.read_bytes().strip())
        valid, _, _ = envelope.valid_signers(trusted)
        if envelope.payload_type != IN_TOTO_TYPE or str(record.get("actor", {}).get("key")) not in valid:
            report.fail("attestations", f"{where}: not signed by the analysing custodian's trusted key", CHAIN)
        statement = orjson.loads(envelope.payload)
        for subject in statement.get("subject", []):
            if bag.payload.get(subject.get("name")) != subject.get("digest", {}).get("sha256"):
                report.fail("attestations", f"{where}: {subject.get('name')} is not the attested file", INTEGRITY)
        _dependencies(root, bag, state, statement, where, report)
        committed = statement_findings_root(statement)
        findings = root / f"data/analysis/{run}/findings.json"
        if (
            committed is None
            or not findings.is_file()
            or committed[0] != analysis_findings_root(findings.parent, statement)
        ):
            report.fail("attestations", f"{where}: the findings root does not match findings.json", INTEGRITY)
        if len(report.checks) == failures:
            report.ok("attestations", f"{where}: signed Statement over {len(statement.get('subject', []))} files")


def _dependencies(
    root: Path, bag: Bag, state: CustodyState, statement: Mapping[str, Any], where: str, report: Report
) -> None:
    dependencies = statement.get("predicate", {}).get("buildDefinition", {}).get("resolvedDependencies", [])
    for dependency in dependencies:
        name, uri = str(dependency.get("name", "")), dependency.get("uri")
        sha256 = dependency.get("digest", {}).get("sha256")
        if name.startswith("item:"):
            acquired = state.items.get(name[5:], {}).get("digests", {})
            if sha256 != acquired.get("manifest_sha256") or dependency.get("annotations", {}).get(
                "merkle_root"
            ) != acquired.get("merkle_root"):
                report.fail("attestations", f"{where}: {name} is not the acquired item", INTEGRITY)
        elif name.startswith("indicators:") and bag.payload.get(str(uri)) != sha256:
            report.fail("attestations", f"{where}: {name} is not the indicator file in the bundle", INTEGRITY)


def _reproduce(root: Path, state: CustodyState, reanalyse: Reanalyse, report: Report) -> None:
    for record in state.analyses:
        run = str(record.get("run"))
        expected = record.get("digests", {}).get("findings_sha256")
        try:
            fresh = reanalyse(run, root)
        except ReproductionUnavailableError as why:
            report.fail("reproduce", f"analysis {run}: {why}", WARNING)
            continue
        if hashlib.sha256(fresh).hexdigest() == expected:
            report.ok("reproduce", f"analysis {run}: a fresh run gives the same findings.json ({str(expected)[:16]}…)")
        else:
            old = (root / f"data/analysis/{run}/findings.json").read_bytes()
            report.fail("reproduce", f"analysis {run}: findings differ: {findings_diff(old, fresh)}", REPRODUCTION)


class ReproductionUnavailableError(Exception):
    """An analysis that cannot be run again here (an item kept by reference, without its files)."""


def findings_diff(old: bytes, new: bytes) -> str:
    """A readable summary of how two findings.json differ: findings added, removed, changed."""
    before = {f["id"]: f for f in orjson.loads(old).get("findings", [])}
    after = {f["id"]: f for f in orjson.loads(new).get("findings", [])}
    parts = [f"+ {after[i]['severity']} {after[i]['title']}" for i in sorted(set(after) - set(before))]
    parts += [f"- {before[i]['severity']} {before[i]['title']}" for i in sorted(set(before) - set(after))]
    parts += [f"~ {after[i]['title']}" for i in sorted(set(before) & set(after)) if before[i] != after[i]]
    rest = _document_diff(orjson.loads(old), orjson.loads(new))
    return "; ".join(parts + rest + _version_changes(orjson.loads(old), orjson.loads(new))) or (
        "the documents differ outside the findings"
    )


def _version_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Artifacts and correlators whose version differs between the recorded run and this vestige: a
    stored result made by an older version is stale, and differences from them are expected."""

    def versions(document: Mapping[str, Any]) -> dict[str, object]:
        runs = [*document.get("artifacts", []), *document.get("correlators", [])]
        return {str(r.get("name")): r.get("version") for r in runs if isinstance(r, Mapping)}

    before, after = versions(old), versions(new)
    changed = [
        f"{name} {before.get(name, 'absent')} -> {after.get(name, 'absent')}"
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    ]
    return [f"versions changed since the analysis ({', '.join(changed)}): its results are stale"] if changed else []


def _document_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return [
        f"{key} changed" for key in sorted(set(old) | set(new)) if key != "findings" and old.get(key) != new.get(key)
    ]
