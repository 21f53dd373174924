"""``vestige verify``: checks a case bundle offline, read-only, with a trust list the verifier brings.

The procedure is docs/custody-design.md section 7.4, hardened against a bundle made by an attacker
(issue 10): first the tree (only regular files and folders; nothing is followed or opened that is
not a regular file of the bundle) and bag integrity; then the custody log (every line in the one
form vestige writes, each record well-formed, signatures against the trust list, ``seq``/``prev``,
who may sign what, names against the trust list, one acquire per item, no payload change while
sealed); checkpoints (the log extends each signed tree head); RFC 3161 requests and tokens; then
every file outside ``data/`` and every payload file accounted for by a signed record; items (their
salted Merkle roots recomputed); attestations (subjects, dependencies, the vestige package digest);
and, on request and only when all of that held, a reproduction of each analysis. Each check is
reported; the exit code is the most serious failure: 1 integrity, 2 signature/trust/chain,
3 reproduction, 4 warnings only, 0 all verified. VERIFY.md says to the reader what each means.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any

import orjson

from vestige import __version__
from vestige.custody.anchoring import TIMESTAMPS, check_anchor, check_request
from vestige.custody.attestation import (
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    analysis_findings_root,
    statement_findings_root,
)
from vestige.custody.bag import (
    BAG_INFO,
    PAYLOAD_MANIFEST,
    TAG_MANIFEST,
    Bag,
    BagError,
    IntegrityProblem,
    read_bag_info,
    read_regular,
    validate,
    walk,
)
from vestige.custody.case import (
    ALLOWED_WHEN_SEALED,
    ATTESTATIONS,
    CASE_BAG,
    EXPORT,
    KEYS,
    CaseError,
    CustodyState,
    KindUnits,
    actor_key,
    apply,
    read_units,
)
from vestige.custody.checkpoint import Checkpoint, check_since
from vestige.custody.distribution import package_digest
from vestige.custody.dsse import CHECKPOINT_TYPE, IN_TOTO_TYPE, Envelope, EnvelopeError
from vestige.custody.items import ItemFile, item_root, unit_tree
from vestige.custody.keys import KeyFileError, PublicKey, parse_trust_list
from vestige.custody.log import (
    CHECKPOINT_SCHEMA,
    CHECKPOINTS,
    LOG,
    Entry,
    LogError,
    digest,
    log_root,
    parse_line,
    record_problems,
)
from vestige.custody.releases import RELEASES
from vestige.evidence.errors import EvidenceError
from vestige.evidence.hashing import hash_in_order
from vestige.evidence.sources import open_source
from vestige.platforms import Registry

INTEGRITY, CHAIN, REPRODUCTION, WARNING = 1, 2, 3, 4
Reanalyse = Callable[[str, Path], bytes]
"""Given an analysis run and the bundle root, the findings.json a fresh run produces."""
HINT_NAME = re.compile(r"custody/keys/([0-9a-f]{64})\.pub")
CHECKPOINT_FILE = re.compile(r"custody/checkpoints/([0-9]{6})\.json")
REQUEST_FILE = re.compile(r"custody/timestamps/([0-9]{6})\.tsq")


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
        self.checks.append(Check(area, True, printable(message)))

    def fail(self, area: str, message: str, code: int) -> None:
        self.checks.append(Check(area, False, printable(message), code))

    @property
    def exit_code(self) -> int:
        codes = {c.code for c in self.checks if not c.ok}
        for code in (INTEGRITY, CHAIN, REPRODUCTION, WARNING):
            if code in codes:
                return code
        return 0

    def as_json(self) -> dict[str, object]:
        return {
            "bundle": printable(self.bundle),
            "kind": self.kind,
            "exit_code": self.exit_code,
            "checks": [c.as_json() for c in self.checks],
            "keys": self.keys,
            "facts": self.facts,
        }


def printable(message: str) -> str:
    """A message any output can hold: the bytes of a file name that is not UTF-8 (surrogates, which
    neither JSON nor a terminal encoding accepts) as ``\\xNN``."""
    return message.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def verify_case(
    root: Path,
    trusted: Mapping[str, PublicKey],
    reanalyse: Reanalyse | None = None,
    tsa_roots: bytes | None = None,
    since: Checkpoint | None = None,
    *,
    registry: Registry | None = None,
) -> Report:
    """Every check of a case bundle, in the order of the module docstring. A bundle holding anything
    but regular files and folders is not read beyond its listing; the log's records vouch for files
    only when the log verified; ``reanalyse`` runs only when nothing failed with exit 1 or 2.
    ``registry`` gives the units of each kind (by default, the installed platforms, loaded only when
    a file has units)."""
    report = Report(str(root), CASE_BAG)
    files, odd = walk(root)
    _integrity(root, (files, odd), report)
    if odd:
        report.fail("integrity", "nothing more was read: a bundle holding links or special files is refused", INTEGRITY)
        return report
    try:
        bag = Bag(root)
    except BagError as error:
        report.fail("integrity", str(error), INTEGRITY)
        return report
    present = set(files)
    bag.payload = {name: sha256 for name, sha256 in bag.payload.items() if name in present}
    entries = check_log(root, report)
    state = CustodyState()
    run_stage(
        report, "custody", CHAIN, lambda: state.__dict__.update(check_custody(bag, entries, trusted, report).__dict__)
    )
    run_stage(report, "keys", CHAIN, lambda: check_key_hints(root, trusted, report, entries))
    run_stage(report, "checkpoints", CHAIN, lambda: check_checkpoints(root, entries, trusted, report))
    if since is not None:
        check_since(report, entries, since)
    run_stage(report, "timestamps", CHAIN, lambda: _timestamps(root, present, entries, report, tsa_roots))
    if chain_holds(report):
        run_stage(report, "bundle", INTEGRITY, lambda: _bundle(root, present, entries, state, report))
        run_stage(report, "payload", INTEGRITY, lambda: _payload(bag, entries, state, report))
        run_stage(report, "items", INTEGRITY, lambda: _items(root, bag, state, KindUnits(registry), report))
        run_stage(report, "attestations", INTEGRITY, lambda: _attestations(root, bag, state, trusted, report))
    else:
        report.fail("items", "not checked: the custody log did not verify, so its records prove nothing", CHAIN)
    if reanalyse is not None:
        blocking = report.exit_code
        if blocking in (INTEGRITY, CHAIN):
            report.fail(
                "reproduce", "not run: only a bundle whose integrity and signatures verified is run again", blocking
            )
        else:
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


MALFORMED = (
    OSError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
    EnvelopeError,
    EvidenceError,
    BagError,
    LogError,
)


def run_stage(report: Report, area: str, code: int, check: Callable[[], object]) -> None:
    """Runs one area's checks; a file too damaged to read is that area's failure, never a crash."""
    try:
        check()
    except MALFORMED as error:
        report.fail(
            area, f"could not be checked: a file is missing or malformed ({type(error).__name__}: {error})", code
        )


def _integrity(root: Path, walked: tuple[list[str], list[IntegrityProblem]], report: Report) -> None:
    problems = validate(root, walked)
    for problem in problems:
        report.fail("integrity", f"{problem.path}: {problem.reason}", INTEGRITY)
    if not problems:
        report.ok("integrity", "every file matches the bag manifests and Payload-Oxum")


def check_log(root: Path, report: Report) -> list[Entry]:
    """The records of the log, each line read in the one form vestige writes; a line that is not a
    record, and any byte outside the lines (a blank line, a missing final line feed), is a failure."""
    entries: list[Entry] = []
    try:
        data = read_regular(root / LOG)
    except OSError as error:
        report.fail("custody", f"{LOG} is missing or cannot be read ({error.strerror or error})", CHAIN)
        return entries
    lines = data.split(b"\n")
    if lines[-1]:
        report.fail("custody", f"{LOG}: the last line does not end with a line feed", CHAIN)
    for number, line in enumerate(lines[:-1] if not lines[-1] else lines, start=1):
        if not line:
            report.fail("custody", f"{LOG} line {number}: an empty line", CHAIN)
            continue
        try:
            entries.append(parse_line(line, number))
        except LogError as error:
            report.fail("custody", str(error), CHAIN)
    return entries


def signed_names(entries: list[Entry]) -> dict[str, set[str]]:
    """The handles the signed records give each key (as actor or as counterparty)."""
    names: dict[str, set[str]] = {}
    for entry in entries:
        for role in ("actor", "counterparty"):
            party = entry.record.get(role)
            if isinstance(party, dict) and isinstance(party.get("key"), str) and isinstance(party.get("handle"), str):
                names.setdefault(party["key"], set()).add(party["handle"])
    return names


def check_key_hints(
    root: Path, trusted: Mapping[str, PublicKey], report: Report, entries: list[Entry] | None = None
) -> None:
    """Each key hint is one public key under its fingerprint, in the line ``key export`` writes, and
    (given the log) named as the signed records name that key: a hint's name is a claim, shown only
    as one, and it may claim nothing the log does not."""
    names = signed_names(entries) if entries is not None else None
    folder = root / KEYS
    hints = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    for name in hints:
        where = f"{KEYS}/{name}"
        match = HINT_NAME.fullmatch(where)
        try:
            data = read_regular(folder / name)
            keys = parse_trust_list(data.decode("utf-8"), name)
        except (KeyFileError, OSError, UnicodeDecodeError) as error:
            report.fail("keys", f"{where}: not a public key ({error})", INTEGRITY)
            continue
        if len(keys) != 1 or data != (next(iter(keys.values())).trust_line() + "\n").encode():
            report.fail("keys", f"{where}: not one public key in the line 'vestige key export' writes", INTEGRITY)
            continue
        fingerprint, key = next(iter(keys.items()))
        if match is None or match[1] != fingerprint.split(":", 1)[1]:
            report.fail("keys", f"{where} holds another key ({fingerprint})", CHAIN)
        elif names is not None and fingerprint in names and key.name not in names[fingerprint]:
            report.fail("keys", f"{where}: its name {key.name!r} is not the one the signed records give it", INTEGRITY)
        _seen(report, fingerprint, trusted, key.name)
    for fingerprint, handles in sorted((names or {}).items()):
        _seen(report, fingerprint, trusted, sorted(handles)[0])


def _seen(report: Report, fingerprint: str, trusted: Mapping[str, PublicKey], claimed: str) -> None:
    """Notes a key seen in the bundle: its name is the trust list's; the bundle's only a claim."""
    known = trusted.get(fingerprint)
    seen = report.keys.setdefault(
        fingerprint, {"name": known.name if known else "", "claimed": "", "trusted": known is not None}
    )
    if not seen.get("claimed"):
        seen["claimed"] = claimed


def check_custody(
    bag: Bag, entries: list[Entry], trusted: Mapping[str, PublicKey], report: Report, *, payload_committed: bool = True
) -> CustodyState:
    """Replays the log, checking the chain, each record's form, who signed it and what it may do; with
    ``payload_committed`` the last record must have signed this bag's payload manifest (a
    disclosure has its own)."""
    state = CustodyState()
    failures = len(report.checks)
    if not entries:
        report.fail("custody", "the custody log holds no record", CHAIN)
    previous: Entry | None = None
    well_formed: list[Entry] = []
    for position, entry in enumerate(entries):
        where = f"record {position}"
        problems = record_problems(entry.record)
        for problem in problems:
            report.fail("custody", f"{where}: {problem}", CHAIN)
        _chain(entry, previous, position, report)
        previous = entry
        if not problems:
            well_formed.append(entry)
    receivers = {
        int(e.record["transfer_seq"]): actor_key(e.record) for e in well_formed if e.record["action"] == "receive"
    }
    for entry in well_formed:
        where = f"record {entry.seq}"
        _signatures(entry, where, state, receivers, trusted, report)
        _names(entry, where, trusted, report)
        _apply(entry.record, where, state, report)
    for key, handles in sorted(signed_names(well_formed).items()):
        if len(handles) > 1:
            shown = " and ".join(repr(h) for h in sorted(handles))
            report.fail("custody", f"key {key} is named {shown} by the signed records: one key, one name", CHAIN)
    latest = max(entries, key=lambda e: e.seq, default=None)
    if payload_committed and latest is not None and isinstance(latest.record.get("bag"), dict):
        committed = latest.record["bag"].get("manifest_sha256")
        if committed != hashlib.sha256(read_regular(bag.root / PAYLOAD_MANIFEST)).hexdigest():
            report.fail("custody", "the payload manifest changed after the last signed record", INTEGRITY)
    if state.pending is not None:
        report.fail("custody", f"the transfer of record {state.pending[0]} has not been received", WARNING)
    if len(report.checks) == failures:
        report.ok("custody", f"{len(entries)} records, chained and signed by the custodian of the moment")
    return state


def _chain(entry: Entry, previous: Entry | None, position: int, report: Report) -> None:
    record = entry.record
    where = f"record {position}"
    if entry.seq != position:
        report.fail("custody", f"{where}: seq is {record.get('seq')}, expected {position}", CHAIN)
    expected_prev = digest(previous.envelope.payload) if previous else None
    if record.get("prev") != expected_prev:
        report.fail("custody", f"{where}: prev does not match the previous record", CHAIN)
    if previous is not None and _utc(record) < _utc(previous.record):
        report.fail("custody", f"{where}: its time is earlier than the previous record's (untrusted clock)", WARNING)


def _utc(record: Mapping[str, Any]) -> str:
    time = record.get("time")
    return str(time.get("utc", "")) if isinstance(time, dict) else ""


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
        _seen(report, keyid, trusted, "")
        report.fail("custody", f"{where}: signed by {keyid}, a key your trust list does not hold", WARNING)
    signer = actor_key(record)
    action = record["action"]
    if signer not in valid:
        report.fail("custody", f"{where} ({action}): no valid signature by a trusted key of its actor", CHAIN)
    if action == "open":
        if entry.seq != 0:
            report.fail("custody", f"{where}: 'open' is only the first record", CHAIN)
    elif entry.seq == 0:
        report.fail("custody", f"{where}: the first record is not 'open'", CHAIN)
    elif action == "receive":
        if state.pending is None or signer not in (state.pending[1], state.custodian):
            report.fail("custody", f"{where}: received by a key the pending transfer did not name", CHAIN)
    elif signer != state.custodian:
        report.fail("custody", f"{where} ({action}): its actor is not the custodian at that point", CHAIN)
    if action == "key-rotate" and record["counterparty"]["key"] not in valid:
        report.fail("custody", f"{where}: the key rotation lacks the new key's trusted signature", CHAIN)
    if action == "transfer":
        counterparty = record["counterparty"]["key"]
        receiver = receivers.get(entry.seq)
        if receiver == counterparty and counterparty not in valid:
            report.fail("custody", f"{where}: the hand-over lacks the receiver's trusted signature", CHAIN)
        if receiver not in (None, counterparty, signer):
            report.fail("custody", f"{where}: received by another key than the one it names", CHAIN)


def _names(entry: Entry, where: str, trusted: Mapping[str, PublicKey], report: Report) -> None:
    """A record's actor (and counterparty) must call itself what your trust list calls its key: a
    custodian signing as somebody else is a failure, not a detail."""
    for role in ("actor", "counterparty"):
        party = entry.record.get(role)
        if not isinstance(party, dict):
            continue
        known = trusted.get(party["key"])
        if known is not None and known.name and known.name != party["handle"]:
            report.fail(
                "custody",
                f"{where}: its {role} calls itself {party['handle']!r}, but your trust list names key "
                f"{party['key']} {known.name!r}",
                CHAIN,
            )


def _apply(record: Mapping[str, Any], where: str, state: CustodyState, report: Report) -> None:
    action = str(record["action"])
    if state.sealed and action not in ALLOWED_WHEN_SEALED:
        report.fail("custody", f"{where}: '{action}' while the bundle was sealed", CHAIN)
    elif state.sealed and record["bag"]["manifest_sha256"] != state.sealed_manifest:
        report.fail("custody", f"{where} ({action}): it changed the payload while the bundle was sealed", CHAIN)
    if state.pending is not None and action != "receive":
        report.fail("custody", f"{where}: '{action}' while a transfer was pending", CHAIN)
    if action == "acquire" and record["item"]["id"] in state.items:
        first = state.items[record["item"]["id"]]["seq"]
        report.fail("custody", f"{where}: a second 'acquire' of item {record['item']['id']} (record {first})", CHAIN)
    if action == "analyze":
        if record["item"]["id"] not in state.items:
            report.fail("custody", f"{where}: analyses item {record['item']['id']}, which was never acquired", CHAIN)
        if record["run"] != f"{len(state.analyses) + 1:04d}":
            report.fail("custody", f"{where}: run {record['run']}, expected {len(state.analyses) + 1:04d}", CHAIN)
    if action == "receive" and (state.pending is None or record["transfer_seq"] != state.pending[0]):
        report.fail("custody", f"{where}: receives a transfer other than the pending one", CHAIN)
    apply(state, record)
    if record.get("case") != state.case:
        report.fail("custody", f"{where}: belongs to case {record.get('case')!r}, not {state.case!r}", CHAIN)


def check_checkpoints(root: Path, entries: list[Entry], trusted: Mapping[str, PublicKey], report: Report) -> None:
    """Checkpoint N is a signed tree head over records 0..N-1, signed by the actor of record N-1 (who
    wrote it), in the one form vestige writes; the log must extend every one of them."""
    folder = root / CHECKPOINTS
    files = sorted(p.name for p in folder.iterdir() if p.name.endswith(".json")) if folder.is_dir() else []
    failures = len(report.checks)
    payloads = [e.envelope.payload for e in entries]
    for number, name in enumerate(files, start=1):
        where = f"{CHECKPOINTS}/{name}"
        if name != f"{number:06d}.json":
            report.fail("checkpoints", f"{where}: expected {number:06d}.json (a checkpoint is missing)", CHAIN)
        try:
            data = read_regular(folder / name)
            envelope = Envelope.parse(data.removesuffix(b"\n"))
            body = orjson.loads(envelope.payload)
            if not data.endswith(b"\n") or not isinstance(body, dict):
                raise EnvelopeError("not one envelope line as vestige writes it")
        except (EnvelopeError, orjson.JSONDecodeError, OSError) as error:
            report.fail("checkpoints", f"{where}: {error}", CHAIN)
            continue
        valid, _, invalid = envelope.valid_signers(trusted)
        if envelope.payload_type != CHECKPOINT_TYPE or body.get("schema") != CHECKPOINT_SCHEMA:
            report.fail("checkpoints", f"{where}: not a vestige checkpoint", CHAIN)
            continue
        size = body.get("tree_size")
        if not isinstance(size, int) or isinstance(size, bool) or size != number or size > len(payloads):
            report.fail("checkpoints", f"{where}: covers {size} records, the log has {len(payloads)}", CHAIN)
            continue
        if invalid or actor_key(entries[size - 1].record) not in valid:
            report.fail("checkpoints", f"{where}: not signed by the trusted actor of record {size - 1}", CHAIN)
        if body.get("root") != log_root(payloads[:size]) or body.get("last") != digest(payloads[size - 1]):
            report.fail("checkpoints", f"{where}: the log does not extend it (records changed or removed)", CHAIN)
        if body.get("case") != entries[0].record.get("case") or body.get("log") != LOG:
            report.fail("checkpoints", f"{where}: names another case or log", CHAIN)
    if len(files) != len(entries):
        report.fail("checkpoints", f"{len(files)} checkpoints for {len(entries)} records", CHAIN)
    if len(report.checks) == failures:
        report.ok("checkpoints", f"the log extends all {len(files)} signed tree heads")


def _timestamps(root: Path, present: set[str], entries: list[Entry], report: Report, roots: bytes | None) -> None:
    """Every request file is the one vestige writes for its checkpoint; every anchor's token verifies."""
    failures = len(report.checks)
    for name in sorted(n for n in present if n.startswith(f"{TIMESTAMPS}/")):
        if REQUEST_FILE.fullmatch(name) and (problem := check_request(root, name)) is not None:
            report.fail("timestamps", problem, INTEGRITY)
    anchors = [e.record for e in entries if e.record.get("action") == "anchor" and not record_problems(e.record)]
    if not anchors:
        if len(report.checks) == failures:
            report.ok("timestamps", "no RFC 3161 timestamp: record times are the examiner's clock")
        return
    check_anchors(root, anchors, roots, report)


def check_anchors(root: Path, anchors: Sequence[Mapping[str, Any]], roots: bytes | None, report: Report) -> None:
    """Each anchor's RFC 3161 token over its checkpoint, against ``roots`` when given (else a warning
    that only the bundle's own TSA chain vouches for it); shared by bundles and disclosures."""
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


def _bundle(root: Path, present: set[str], entries: list[Entry], state: CustodyState, report: Report) -> None:
    """Every file outside data/ is one the signed log accounts for, with the content it signs."""
    failures = len(report.checks)
    raw = read_regular(root / BAG_INFO)
    info, _ = read_bag_info(raw)  # how it departs from what vestige writes is an integrity problem already
    if info.get("Bag-Type") != CASE_BAG or info.get("External-Identifier") != state.case:
        report.fail("bundle", "bag-info.txt does not name the case and bundle type the log opened", INTEGRITY)
    latest = entries[-1].record if entries else {}
    if hashlib.sha256(raw).hexdigest() != latest.get("bag", {}).get("info_sha256"):
        report.fail("bundle", "bag-info.txt is not the one the last record signed", INTEGRITY)
    opening = entries[0].record.get("bundle", {}) if entries else {}
    try:
        verify_md = hashlib.sha256(read_regular(root / "VERIFY.md")).hexdigest()
    except OSError:
        verify_md = ""
    if verify_md != opening.get("verify_md_sha256"):
        report.fail("bundle", "VERIFY.md is not the one the opening record signed", INTEGRITY)
    outside = {name for name in present if not name.startswith("data/")} - {TAG_MANIFEST}
    for name in sorted(outside - accounted_tag_files(entries, state)):
        report.fail("bundle", f"{name}: a file that no record or checkpoint accounts for", INTEGRITY)
    if len(report.checks) == failures:
        report.ok("bundle", "bag-info.txt, VERIFY.md and every file outside data/ are the signed ones")


def accounted_tag_files(entries: list[Entry], state: CustodyState) -> set[str]:
    """The files outside data/ that the log accounts for."""
    names = {"bagit.txt", BAG_INFO, PAYLOAD_MANIFEST, "VERIFY.md", LOG}
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


def _payload(bag: Bag, entries: list[Entry], state: CustodyState, report: Report) -> None:
    """Every payload file belongs to something a signed record made: an acquired item's copy and
    file list, an analysis run's folder, an indicator set file an analysis used, the CASE/UCO
    export. Anything else was put there by nobody who signed for it."""
    runs = {str(a["run"]) for a in state.analyses}
    used = {str(i["name"]): str(i["sha256"]) for a in state.analyses for i in a.get("inputs", [])}
    exported = {
        str(o["name"]): str(o["sha256"])
        for e in entries
        if e.record.get("action") == "export"
        for o in e.record.get("outputs", [])
    }
    failures = len(report.checks)
    for name in sorted(bag.payload):
        parts = name.split("/")
        if len(parts) >= 4 and parts[1] == "acquisition" and parts[2] in state.items:
            claimed = not state.items[parts[2]]["item"]["by_reference"]
        elif len(parts) == 4 and parts[1] == "items" and parts[2] in state.items:
            claimed = parts[3] in ("manifest.jsonl", "item.json")
        elif len(parts) >= 4 and parts[1] == "analysis":
            claimed = parts[2] in runs
        elif len(parts) == 3 and parts[1] == "iocs":
            claimed = used.get(name) == bag.payload[name]
        else:
            claimed = name == EXPORT and exported.get(name) == bag.payload[name]
        if not claimed:
            report.fail("payload", f"{name}: a payload file no signed record accounts for", INTEGRITY)
    if len(report.checks) == failures:
        report.ok("payload", f"each of the {len(bag.payload)} payload files belongs to a signed record")


def _items(root: Path, bag: Bag, state: CustodyState, kinds: KindUnits, report: Report) -> None:
    for item, record in sorted(state.items.items()):
        failures = len(report.checks)
        digests = record["digests"]
        manifest_name, description_name = f"data/items/{item}/manifest.jsonl", f"data/items/{item}/item.json"
        if bag.payload.get(manifest_name) != digests["manifest_sha256"]:
            report.fail("items", f"{item}: its file list is not the one the acquire record signed", INTEGRITY)
            continue
        if bag.payload.get(description_name) != digests["item_sha256"]:
            report.fail("items", f"{item}: item.json is not the one the acquire record signed", INTEGRITY)
            continue
        description = orjson.loads(read_regular(root / description_name))
        files = [ItemFile.of_line(line) for line in read_regular(root / manifest_name).splitlines() if line]
        if item_root(bytes.fromhex(description["salt_seed"]), files) != digests["merkle_root"]:
            report.fail("items", f"{item}: the Merkle root of its files is not the signed one", INTEGRITY)
        if not record["item"]["by_reference"]:
            _copied(root, bag, item, description, digests, files, report)
            if len(report.checks) == failures:
                _unit_trees(root, item, record, description, files, kinds, report)
        if all(c.code == WARNING for c in report.checks[failures:]):
            report.ok("items", f"{item}: {len(files)} files, Merkle root {str(digests['merkle_root'])[:16]}… as signed")


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
    if copied != {name: digests.get("container_sha256")} or "/" in name:
        report.fail("items", f"{item}: the copied archive is not the one its acquire record signed", INTEGRITY)
        return
    with open_source(root / prefix / name) as archive:
        members = archive.within(str(source.get("within", ""))) if source.get("within") else archive
        names = sorted(m.name for m in members.members() if m.type == "file")
        read = [(n, r) for n, r in hash_in_order((n, members.hash_target(n)) for n in names)]
    if {(n, r[1]) if isinstance(r, tuple) else (n, None) for n, r in read} != {(f.path, f.sha256) for f in files}:
        report.fail("items", f"{item}: the members of the copied archive differ from its signed file list", INTEGRITY)


def _unit_trees(
    root: Path,
    item: str,
    record: Mapping[str, Any],
    description: Mapping[str, Any],
    files: list[ItemFile],
    kinds: KindUnits,
    report: Report,
) -> None:
    """The tree of units each file's signed leaf binds (a capture's packets) is recomputed from the
    bundled copy, so that the units a disclosure proves are the units of the signed file."""
    divided = [entry for entry in files if entry.units is not None]
    if not divided:
        return
    kind = str(record["item"]["kind"])
    units = kinds.units(kind)
    if units is None:
        report.fail(
            "items",
            f"{item}: the trees of its units were not recomputed: no installed platform divides files of the "
            f"kind {kind!r} into units",
            WARNING,
        )
        return
    seed = bytes.fromhex(description["salt_seed"])
    for entry in divided:
        try:
            with _bundled_file(root, item, description, entry.path) as stream:
                tree, size, sha256 = read_units(units, stream, entry.path, partial(unit_tree, seed, entry.path))
        except CaseError as error:
            report.fail("items", f"{item}/{error}", INTEGRITY)
            continue
        if (size, sha256, tree) != (entry.size, entry.sha256, entry.units):
            report.fail(
                "items",
                f"{item}/{entry.path}: the tree of its {units.noun}s is not the one its signed leaf binds",
                INTEGRITY,
            )


@contextmanager
def _bundled_file(root: Path, item: str, description: Mapping[str, Any], path: str) -> Iterator[IO[bytes]]:
    """The bundled bytes of an item's file (the bundle holds no link: ``walk`` refused it before)."""
    prefix = root / "data" / "acquisition" / item
    source = description.get("source", {"shape": "folder"})
    if source.get("shape", "folder") != "archive":
        with (prefix / path).open("rb") as stream:
            yield stream
        return
    with open_source(prefix / str(source.get("name"))) as archive:
        members = archive.within(str(source.get("within", ""))) if source.get("within") else archive
        with members.open(path) as stream:
            yield stream


def _attestations(root: Path, bag: Bag, state: CustodyState, trusted: Mapping[str, PublicKey], report: Report) -> None:
    for record in state.analyses:
        run = str(record["run"])
        where = f"analysis {run}"
        path = root / ATTESTATIONS / f"analysis-{run}.intoto.jsonl"
        failures = len(report.checks)
        try:
            data = read_regular(path)
        except OSError:
            data = b""
        if hashlib.sha256(data).hexdigest() != record["digests"]["attestation_sha256"]:
            report.fail("attestations", f"{where}: the attestation is not the one its record signed", CHAIN)
            continue
        envelope = Envelope.parse(data.removesuffix(b"\n"))
        valid, _, _ = envelope.valid_signers(trusted)
        if envelope.payload_type != IN_TOTO_TYPE or actor_key(record) not in valid:
            report.fail("attestations", f"{where}: not signed by the analysing custodian's trusted key", CHAIN)
        statement = orjson.loads(envelope.payload)
        _statement(bag, record, statement, where, report)
        _dependencies(bag, state, record, statement, where, report)
        committed = statement_findings_root(statement)
        findings = f"data/analysis/{run}/findings.json"
        if (
            committed is None
            or findings not in bag.payload
            or committed[0] != analysis_findings_root(root / f"data/analysis/{run}", statement)
        ):
            report.fail("attestations", f"{where}: the findings root does not match findings.json", INTEGRITY)
        if len(report.checks) == failures:
            report.ok("attestations", f"{where}: signed Statement over {len(statement.get('subject', []))} files")


def _statement(bag: Bag, record: Mapping[str, Any], statement: Any, where: str, report: Report) -> None:
    """The Statement's subjects are exactly the files of the analysis folder, as the record lists them."""
    run = str(record["run"])
    if not isinstance(statement, dict) or (statement.get("_type"), statement.get("predicateType")) != (
        STATEMENT_TYPE,
        PREDICATE_TYPE,
    ):
        raise TypeError("not an in-toto Statement v1 with an SLSA provenance predicate")
    subjects = {str(s["name"]): s["digest"]["sha256"] for s in statement["subject"]}
    for name, sha256 in sorted(subjects.items()):
        if bag.payload.get(name) != sha256:
            report.fail("attestations", f"{where}: {name} is not the attested file", INTEGRITY)
    folder = {name for name in bag.payload if name.startswith(f"data/analysis/{run}/")}
    for name in sorted(folder - set(subjects)):
        report.fail("attestations", f"{where}: {name} is in the analysis folder but not in its attestation", INTEGRITY)
    outputs = {str(o["name"]): o["sha256"] for o in record.get("outputs", [])}
    if outputs != subjects or any(not name.startswith(f"data/analysis/{run}/") for name in subjects):
        report.fail("attestations", f"{where}: the attested files are not the outputs its record signed", CHAIN)
    if statement["predicate"]["runDetails"]["metadata"].get("invocationId") != run:
        report.fail("attestations", f"{where}: the attestation is of another run", CHAIN)


def _dependencies(
    bag: Bag, state: CustodyState, record: Mapping[str, Any], statement: Mapping[str, Any], where: str, report: Report
) -> None:
    dependencies = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    items = [d for d in dependencies if str(d.get("name", "")).startswith("item:")]
    tools = [d for d in dependencies if d.get("name") == "vestige"]
    if [d.get("name") for d in items] != [f"item:{record['item']['id']}"] or len(tools) != 1:
        report.fail("attestations", f"{where}: does not name its item and one vestige package", CHAIN)
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
    for tool in tools:
        code, message = check_tool(
            str(tool.get("annotations", {}).get("version")), str(tool.get("digest", {}).get("sha256"))
        )
        if code:
            report.fail("attestations", f"{where}: {message}", code)


def check_tool(version: str, sha256: str) -> tuple[int, str]:
    """Whether an attested vestige package is one this verifier can vouch for: a release it knows by
    digest, or itself. A known version with another digest is a modified copy (a failure); a version
    it does not know is a warning that prints the digest for the reader to compare."""
    if (version, sha256) == (__version__, package_digest()):
        return 0, f"ran with this very vestige {version}"
    known = RELEASES.get(version)
    if known is None:
        return WARNING, (
            f"ran with vestige {version}, a version this vestige does not know; its package digest is {sha256}"
        )
    if known != sha256:
        return CHAIN, f"names vestige {version}, but its package digest {sha256} is not that release's ({known})"
    return 0, f"ran with the released vestige {version}"


def _reproduce(root: Path, state: CustodyState, reanalyse: Reanalyse, report: Report) -> None:
    for record in state.analyses:
        run = str(record["run"])
        expected = record["digests"]["findings_sha256"]
        try:
            fresh = reanalyse(run, root)
        except ReproductionUnavailableError as why:
            report.fail("reproduce", f"analysis {run}: {why}", WARNING)
            continue
        except Exception as error:
            # The whole analysis runs again on the evidence: whatever stops it is this check's result
            # (a reproduction that did not reproduce), never a crash of verify.
            report.fail(
                "reproduce", f"analysis {run}: could not be run again ({type(error).__name__}: {error})", REPRODUCTION
            )
            continue
        if hashlib.sha256(fresh).hexdigest() == expected:
            report.ok("reproduce", f"analysis {run}: a fresh run gives the same findings.json ({str(expected)[:16]}…)")
        else:
            old = read_regular(root / f"data/analysis/{run}/findings.json")
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
