"""Case bundles: a BagIt bag holding acquisitions, analyses, the exact indicator sets, attestations,
and the signed custody log of everything done to them (custody.md section 7.1).

Layout::

    bagit.txt  bag-info.txt  manifest-sha256.txt  tagmanifest-sha256.txt  VERIFY.md
    data/acquisition/<item>/...          the acquisition as received (absent when by reference)
    data/items/<item>/manifest.jsonl     every file of the item: path, size, SHA-256
    data/items/<item>/item.json          kind, counts, salt seed and Merkle root of the item
    data/analysis/<run>/...              findings.json, timeline.jsonl, records/, manifest.jsonl,
                                         indicators.json, run.json
    data/iocs/<sha256>.<ext>             each indicator set file an analysis used
    data/export/case.jsonld              the CASE/UCO export, when made
    custody/custody.jsonl                the log; custody/checkpoints/NNNNNN.json its signed tree heads
    custody/keys/<fingerprint>.pub       public keys of the signers: hints, never trusted on their own
    custody/timestamps/NNNNNN.tsq|.tsr|.pem   RFC 3161 requests, tokens and TSA chains
    attestations/analysis-<run>.intoto.jsonl  the signed in-toto Statement of each analysis

Every operation is done by the current custodian with their key: it writes its files, records them
in the payload manifest, appends one signed record (which commits to the payload manifest), writes a
checkpoint and rewrites the tag manifest. A hand-over is a ``transfer`` signed by the releasing
custodian and countersigned by the receiver when they ``receive``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from vestige.custody.anchoring import TIMESTAMPS, anchor_fields, checkpoint_digest, latest_checkpoint
from vestige.custody.attestation import analysis_statement
from vestige.custody.bag import Bag, BagError, copy_with_hash
from vestige.custody.case_uco import case_graph
from vestige.custody.dsse import IN_TOTO_TYPE, Envelope
from vestige.custody.items import ItemFile, item_root, new_seed
from vestige.custody.keys import KeyFileError, PublicKey, SigningKey, parse_trust_list
from vestige.custody.log import CustodyLog, Entry, canonical
from vestige.custody.timestamp import TimestampError, fetch_timestamp, timestamp_request
from vestige.evidence.acquisition import detect_kind, name_text
from vestige.evidence.errors import EvidenceError
from vestige.evidence.hashing import hash_in_order, hash_threads, sha256_file
from vestige.indicators import IndicatorSet

CASE_BAG = "vestige-case/1"
KEYS = "custody/keys"
ATTESTATIONS = "attestations"
INDICATORS = "indicators.json"
EXPORT = "data/export/case.jsonld"
TAKE_BATCH = 256
ITEM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
SIMPLE_ACTIONS = frozenset(
    {"note", "seal", "unseal", "consent", "hash", "verify", "copy", "store", "redact", "report", "dispose", "export"}
)
ALLOWED_WHEN_SEALED = frozenset(
    {"note", "verify", "export", "transfer", "receive", "unseal", "anchor", "report", "key-rotate"}
)


class CaseError(Exception):
    """An operation the bundle's state does not allow; the message says why and what to do."""


CASE_ERRORS = (CaseError, TimestampError)


def actor(key: PublicKey) -> dict[str, str]:
    return {"handle": key.name, "key": key.fingerprint}


@dataclass
class CustodyState:
    """What the log says now: who holds the bundle, whether it is sealed, its items and analyses."""

    case: str = ""
    custodian: str = ""
    sealed: bool = False
    pending: tuple[int, str] | None = None
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    analyses: list[dict[str, Any]] = field(default_factory=list)


def replay(records: Iterable[Mapping[str, Any]]) -> CustodyState:
    """The custody state after the records, applied in order (verify checks their signatures)."""
    state = CustodyState()
    for record in records:
        apply(state, record)
    return state


def actor_key(record: Mapping[str, Any]) -> str:
    who = record.get("actor")
    return str(who.get("key", "")) if isinstance(who, Mapping) else ""


def apply(state: CustodyState, record: Mapping[str, Any]) -> None:
    """One record's effect on the custody state."""
    action = record.get("action")
    if action == "open":
        state.case, state.custodian = str(record.get("case", "")), actor_key(record)
    elif action == "transfer":
        state.pending = (int(record.get("seq", -1)), str(record.get("counterparty", {}).get("key", "")))
    elif action == "receive":
        state.custodian, state.pending = actor_key(record), None
    elif action == "key-rotate":
        state.custodian = str(record.get("counterparty", {}).get("key", ""))
    elif action in ("seal", "unseal"):
        state.sealed = action == "seal"
    elif action == "acquire":
        state.items[str(record.get("item", {}).get("id", ""))] = dict(record)
    elif action == "analyze":
        state.analyses.append(dict(record))


class Case:
    """A case bundle on disk. Opened ``for_writing``, it holds an exclusive lock on the bundle for as
    long as the object lives, so two commands never interleave their records."""

    def __init__(self, root: Path, *, for_writing: bool = False) -> None:
        try:
            self.bag = Bag(root)
        except BagError as error:
            raise CaseError(str(error)) from None
        if self.bag.info().get("Bag-Type") != CASE_BAG:
            raise CaseError(f"{root}: not a vestige case bundle")
        self.root = root
        self.log = CustodyLog(root)
        self._lock: int | None = None
        if for_writing:
            self._lock = os.open(root / "bagit.txt", os.O_RDONLY)
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(self._lock)
                raise CaseError(f"{root}: another vestige command is working on this bundle") from None

    def __enter__(self) -> Case:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Releases the bundle's lock (closing the descriptor drops the flock)."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    @property
    def case_id(self) -> str:
        """The case named by the signed ``open`` record (bag-info.txt is not signed)."""
        entries = self.log.entries()
        if entries:
            return str(entries[0].record.get("case", ""))
        return self.bag.info().get("External-Identifier", "")

    def state(self) -> CustodyState:
        return replay(entry.record for entry in self.log.entries())

    @classmethod
    def create(cls, root: Path, case_id: str, key: SigningKey, organisation: str | None = None) -> Case:
        if not ITEM_ID.fullmatch(case_id):
            raise CaseError(f"{case_id!r}: a case id is letters, digits, '.', '_' and '-'")
        info = {"Bag-Type": CASE_BAG, "External-Identifier": case_id}
        if organisation:
            info["Source-Organization"] = organisation
        try:
            Bag.create(root, info)
        except BagError as error:
            raise CaseError(str(error)) from None
        (root / "VERIFY.md").write_text(verify_text(), "utf-8")
        case = cls(root, for_writing=True)
        opening = {
            "action": "open",
            "purpose": "case bundle opened",
            "bundle": {"type": CASE_BAG, "verify_md_sha256": sha256_file(root / "VERIFY.md")[1]},
        }
        case._commit(key, opening, check_custodian=False)
        return case

    def _commit(
        self,
        key: SigningKey,
        fields: Mapping[str, Any],
        *,
        extra_signers: tuple[SigningKey, ...] = (),
        check_custodian: bool = True,
    ) -> Entry:
        """Saves the payload manifest, appends the signed record, checkpoints, rewrites the tags."""
        if self._lock is None:
            raise CaseError("the bundle was not opened for writing")
        if check_custodian:
            self.require_custodian(key, str(fields.get("action")))
        self.bag.save()
        record = {
            "case": self.case_id,
            "actor": actor(key.public),
            "bag": {"manifest_sha256": self.bag.manifest_sha256(), "payload_files": len(self.bag.payload)},
            **fields,
        }
        entry = self.log.append(record, (key, *extra_signers))
        self._publish_keys(key, *extra_signers)
        self.log.checkpoint(key, self.case_id)
        self.bag.save_tags()
        return entry

    def _publish_keys(self, *keys: SigningKey) -> None:
        folder = self.root / KEYS
        folder.mkdir(parents=True, exist_ok=True)
        for key in keys:
            hint = folder / f"{key.public.fingerprint.split(':', 1)[1]}.pub"
            if not hint.exists():
                hint.write_text(key.public.trust_line() + "\n", "utf-8")

    def require_unchanged(self) -> None:
        """Refuses to sign on top of a bundle changed since its last signed record: a custodian must
        never launder someone else's edits by signing the state they left."""
        entries = self.log.entries()
        if not entries:
            raise CaseError(f"{self.root}: the custody log is empty")
        latest = entries[-1].record
        if latest.get("bag", {}).get("manifest_sha256") != self.bag.manifest_sha256():
            raise CaseError("the payload manifest changed since the last signed record; run 'vestige verify' first")
        info = self.bag.info()
        if info.get("External-Identifier") != self.case_id:
            raise CaseError("bag-info.txt names another case than the custody log; run 'vestige verify' first")
        for entry in entries:
            signer = actor_key(entry.record)
            hint = self.root / KEYS / f"{signer.partition(':')[2]}.pub"
            try:
                keys = parse_trust_list(hint.read_text("utf-8"), hint.name)
            except (OSError, KeyFileError, UnicodeDecodeError):
                keys = {}
            if signer not in entry.envelope.valid_signers(keys)[0]:
                raise CaseError(f"record {entry.seq} is not signed by its actor; run 'vestige verify' first")

    def require_custodian(self, key: SigningKey, action: str) -> CustodyState:
        self.require_unchanged()
        state = self.state()
        if state.pending is not None and action != "receive":
            raise CaseError("a transfer is pending: the receiver must run 'vestige case receive' first")
        releasing_again = action == "receive" and key.public.fingerprint == state.custodian
        if action != "receive" and key.public.fingerprint != state.custodian:
            raise CaseError(f"{key.public.fingerprint} is not the current custodian of this bundle")
        if state.sealed and action not in ALLOWED_WHEN_SEALED and not releasing_again:
            raise CaseError(f"the bundle is sealed; '{action}' needs 'vestige case unseal' first")
        return state

    def add(
        self,
        source: Path,
        item: str,
        key: SigningKey,
        *,
        consent: Path | None = None,
        note: str = "",
        by_reference: bool = False,
    ) -> Entry:
        """Takes an acquisition into the bundle (a copy, or only its manifest when by reference)."""
        state = self.require_custodian(key, "acquire")
        if not ITEM_ID.fullmatch(item):
            raise CaseError(f"{item!r}: an item id is letters, digits, '.', '_' and '-'")
        if item in state.items:
            raise CaseError(f"item {item} is already in the bundle")
        try:
            kind, root = detect_kind(source)
        except EvidenceError as error:
            raise CaseError(str(error)) from None
        files = self._take_files(root, item, by_reference)
        seed = new_seed()
        merkle_root = item_root(seed, files)
        manifest = b"".join(entry.line() for entry in files)
        manifest_sha256 = self.bag.write(f"data/items/{item}/manifest.jsonl", manifest)
        description = {
            "id": item,
            "kind": kind,
            "by_reference": by_reference,
            "files": len(files),
            "bytes": str(sum(entry.size for entry in files)),
            "merkle_root": merkle_root,
            "salt_seed": seed.hex(),
        }
        item_sha256 = self.bag.write(
            f"data/items/{item}/item.json", orjson.dumps(description, option=orjson.OPT_INDENT_2)
        )
        fields: dict[str, Any] = {
            "action": "acquire",
            "item": {"id": item, "kind": kind, "by_reference": by_reference},
            "digests": {"merkle_root": merkle_root, "manifest_sha256": manifest_sha256, "item_sha256": item_sha256},
            "size": description["bytes"],
            "files": len(files),
            "note": note,
        }
        if consent is not None:
            fields["authority"] = {"type": "consent", "ref": "sha256:" + sha256_file(consent)[1]}
        return self._commit(key, fields)

    def _take_files(self, root: Path, item: str, by_reference: bool) -> list[ItemFile]:
        """Every regular file of the acquisition, copied in (hashed in the same pass) or only hashed.

        Files are taken by a few threads at once: hashing, reading and writing release the GIL, so
        two cores copy and hash about twice as fast as one stream.
        """
        relatives = _walk(root)
        if by_reference:
            return self._hash_files(root, relatives)
        target = self.root / "data" / "acquisition" / item
        # The copy is made under a hidden name and renamed when complete: a failed copy leaves nothing.
        staging = target.with_name(f".partial-{item}")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            files = _copy_files(root, staging, relatives)
            staging.rename(target)
        except BaseException as error:
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(error, OSError):
                where = error.filename or root
                raise CaseError(f"{where}: cannot be copied into the bundle ({error.strerror or error})") from None
            raise
        for entry in files:
            self.bag.add(f"data/acquisition/{item}/{entry.path}", entry.size, entry.sha256)
        return files

    @staticmethod
    def _hash_files(root: Path, relatives: list[str]) -> list[ItemFile]:
        """Sizes and SHA-256 of files kept by reference (small ones inline, large ones in threads)."""
        files: list[ItemFile] = []
        for relative, outcome in hash_in_order((relative, f"{root}/{relative}") for relative in relatives):
            if not isinstance(outcome, tuple):
                raise CaseError(f"{root / relative}: cannot be read ({outcome})")
            files.append(ItemFile(relative, outcome[0], outcome[1]))
        return files

    def analysis_staging(self) -> Path:
        """A new, unlisted folder inside the bag where an analysis writes before it is recorded."""
        staging = self.root / "data" / "analysis" / f".partial-{os.getpid()}"
        if staging.exists():
            shutil.rmtree(staging)
        return staging

    def record_analysis(
        self,
        key: SigningKey,
        item: str,
        staging: Path,
        indicator_sets: Sequence[IndicatorSet],
        parameters: Mapping[str, Any],
        started: str,
        finished: str,
    ) -> Entry:
        """Moves a finished analysis into the bundle with the indicator sets it used, signs its
        attestation and records an ``analyze`` action."""
        state = self.require_custodian(key, "analyze")
        acquired = state.items.get(item)
        if acquired is None:
            raise CaseError(f"item {item} is not in the bundle")
        run = f"{len(state.analyses) + 1:04d}"
        folder = f"data/analysis/{run}"
        indicators = [self._keep_indicator_set(s) for s in indicator_sets]
        (staging / INDICATORS).write_bytes(orjson.dumps(indicators, option=orjson.OPT_INDENT_2))
        staging.replace(self.root / folder)
        subjects: dict[str, str] = {}
        for relative in _walk(self.root / folder):
            name = f"{folder}/{relative}"
            size, sha256 = sha256_file(self.root / name)
            self.bag.add(name, size, sha256)
            if relative != "run.json":
                subjects[name] = sha256
        digests = acquired["digests"]
        statement = analysis_statement(
            subjects=subjects,
            item=item,
            item_manifest_sha256=str(digests["manifest_sha256"]),
            item_root=str(digests["merkle_root"]),
            indicator_files=indicators,
            parameters={**parameters, "item": item},
            run=run,
            started=started,
            finished=finished,
            findings_json=(self.root / folder / "findings.json").read_bytes(),
        )
        envelope = Envelope(IN_TOTO_TYPE, canonical(statement)).signed(key)
        attestation = self.root / ATTESTATIONS / f"analysis-{run}.intoto.jsonl"
        attestation.parent.mkdir(parents=True, exist_ok=True)
        attestation.write_bytes(envelope.line() + b"\n")
        fields = {
            "action": "analyze",
            "item": {"id": item, "kind": acquired["item"]["kind"], "by_reference": acquired["item"]["by_reference"]},
            "run": run,
            "digests": {
                "merkle_root": digests["merkle_root"],
                "findings_sha256": subjects[f"{folder}/findings.json"],
                "attestation_sha256": sha256_file(attestation)[1],
            },
            "inputs": [{"name": entry["file"], "sha256": entry["sha256"]} for entry in indicators],
            "outputs": [{"name": name, "sha256": sha256} for name, sha256 in sorted(subjects.items())],
        }
        return self._commit(key, fields)

    def _keep_indicator_set(self, indicator_set: IndicatorSet) -> dict[str, str]:
        """Copies the set's file into ``data/iocs/<sha256>.<ext>`` (once) and describes it."""
        source = Path(indicator_set.path)
        data = source.read_bytes()
        if hashlib.sha256(data).hexdigest() != indicator_set.sha256:
            raise CaseError(f"{source}: changed since it was loaded; run the check again")
        name = f"data/iocs/{indicator_set.sha256}{source.suffix.lower() or '.txt'}"
        if name not in self.bag.payload:
            self.bag.write(name, data)
        description = {
            "name": indicator_set.name,
            "source": indicator_set.source,
            "licence": indicator_set.licence,
            "sha256": indicator_set.sha256,
            "format": indicator_set.format,
            "file": name,
            "file_name": source.name,
        }
        if indicator_set.format == "plain-list" and len(indicator_set.counts) == 1:
            description["indicator_type"] = next(iter(indicator_set.counts))
        return description

    def transfer(self, key: SigningKey, to: PublicKey, note: str = "") -> Entry:
        if to.fingerprint == key.public.fingerprint:
            raise CaseError("a transfer needs another custodian's key")
        return self._commit(key, {"action": "transfer", "counterparty": actor(to), "note": note})

    def receive(self, key: SigningKey, note: str = "") -> Entry:
        """Accepts a pending transfer; the releasing custodian receiving it back cancels it."""
        state = self.state()
        if state.pending is None:
            raise CaseError("no transfer is pending")
        seq, expected = state.pending
        if key.public.fingerprint == state.custodian:
            return self._commit(key, {"action": "receive", "note": note or "transfer cancelled", "transfer_seq": seq})
        if key.public.fingerprint != expected:
            raise CaseError(f"the pending transfer is to {expected}, not to {key.public.fingerprint}")
        self.require_unchanged()
        self.log.countersign(seq, key)
        return self._commit(key, {"action": "receive", "note": note, "transfer_seq": seq})

    def export_case_uco(self, key: SigningKey, target: Path) -> Entry:
        """Writes the custody history as CASE/UCO JSON-LD to ``target`` and into the bundle."""
        graph = case_graph([entry.record for entry in self.log.entries()])
        data = orjson.dumps(graph, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        sha256 = self.bag.write(EXPORT, data)
        target.write_bytes(data)
        return self._commit(
            key, {"action": "export", "outputs": [{"name": EXPORT, "sha256": sha256}], "note": "CASE/UCO"}
        )

    def timestamp(
        self, key: SigningKey, *, url: str | None, tsa_chain: Path | None, response: Path | None
    ) -> Path | Entry:
        """Anchors the latest checkpoint (see ``anchoring``) and returns the ``anchor`` record; offline,
        writes the request for later and returns its path."""
        self.require_custodian(key, "anchor")
        checkpoint = latest_checkpoint(self.root)
        request_path = self.root / TIMESTAMPS / f"{checkpoint.stem}.tsq"
        if url is None and response is None:
            request_path.parent.mkdir(parents=True, exist_ok=True)
            request_path.write_bytes(timestamp_request(checkpoint_digest(checkpoint)))
            self.bag.save_tags()
            return request_path
        if tsa_chain is None:
            raise CaseError("--tsa-cert is needed to check the token before it is recorded")
        if url is not None:
            request_path.parent.mkdir(parents=True, exist_ok=True)
            request_path.write_bytes(timestamp_request(checkpoint_digest(checkpoint)))
            token = fetch_timestamp(url, request_path.read_bytes())
        else:
            assert response is not None
            token = response.read_bytes()
        return self._commit(key, anchor_fields(self.root, checkpoint, token, tsa_chain.read_bytes()))

    def rotate_key(self, key: SigningKey, new: SigningKey, note: str = "") -> Entry:
        """The custodian moves to a new key; the record is signed by both keys."""
        if new.public.fingerprint == key.public.fingerprint:
            raise CaseError("key-rotate needs a different new key")
        fields = {"action": "key-rotate", "counterparty": actor(new.public), "note": note}
        return self._commit(key, fields, extra_signers=(new,))

    def simple(
        self,
        key: SigningKey,
        action: str,
        note: str = "",
        documents: Sequence[Path] = (),
        outputs: Mapping[str, str] | None = None,
    ) -> Entry:
        """``seal``, ``unseal``, ``note`` and the other actions that carry a note and, perhaps, the
        digests of documents (a consent form, a report) that stay outside the bundle."""
        if action not in SIMPLE_ACTIONS:
            raise CaseError(f"'{action}' is not recorded this way; use its own command")
        fields: dict[str, Any] = {"action": action, "note": note}
        if documents:
            fields["inputs"] = [{"name": path.name, "sha256": sha256_file(path)[1]} for path in documents]
        if outputs:
            fields["outputs"] = [{"name": name, "sha256": sha256} for name, sha256 in sorted(outputs.items())]
        return self._commit(key, fields)


def _copy_files(root: Path, target: Path, relatives: list[str]) -> list[ItemFile]:
    """Copies ``relatives`` from ``root`` to ``target``, hashing in the same pass, a few files at once."""
    # Making every folder first is markedly cheaper than interleaving mkdir with the copies.
    for folder in sorted({relative.rpartition("/")[0] for relative in relatives}):
        (target / folder).mkdir(parents=True, exist_ok=True)

    def take(relative: str) -> tuple[int, str]:
        return copy_with_hash(root / relative, target / relative)

    files: list[ItemFile] = []
    with ThreadPoolExecutor(max_workers=hash_threads()) as pool:
        for start in range(0, len(relatives), TAKE_BATCH):
            batch = relatives[start : start + TAKE_BATCH]
            for relative, (size, sha256) in zip(batch, pool.map(take, batch), strict=True):
                files.append(ItemFile(relative, size, sha256))
    return files


def _walk(root: Path) -> list[str]:
    """Relative paths of the regular files under ``root``, sorted; symlinks and names that are not
    UTF-8 (which a BagIt manifest cannot hold) are refused before anything is written."""
    found: list[str] = []
    pending = [("", str(root))]
    while pending:
        prefix, folder = pending.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                shown, utf8 = name_text(entry.path)
                if not utf8:
                    raise CaseError(f"{shown}: a file name that is not UTF-8; a case bundle's manifests cannot name it")
                if entry.is_symlink():
                    raise CaseError(f"{entry.path}: a symbolic link inside the acquisition; copy it without links")
                if entry.is_dir():
                    pending.append((f"{prefix}{entry.name}/", entry.path))
                elif entry.is_file():
                    found.append(prefix + entry.name)
    return sorted(found)


def verify_text() -> str:
    return resources.files("vestige.custody").joinpath("VERIFY.md").read_text("utf-8")
