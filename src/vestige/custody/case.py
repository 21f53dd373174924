"""Case bundles: a BagIt bag holding acquisitions, analyses, the exact indicator sets, attestations,
and the signed custody log of everything done to them (docs/custody-design.md section 7.1).

Layout::

    bagit.txt  bag-info.txt  manifest-sha256.txt  tagmanifest-sha256.txt  VERIFY.md
    data/acquisition/<item>/...          the acquisition as received: a folder's files, or the one file or
                                         archive it is (absent when by reference)
    data/items/<item>/manifest.jsonl     every file of the item (for an archive, every member): path, size, SHA-256
    data/items/<item>/item.json          kind, shape, counts, salt seed and Merkle root of the item
    data/analysis/<run>/...              findings.json, timeline.jsonl, records/, manifest.jsonl,
                                         indicators.json, run.json, finding-salts.json (the secret seed
                                         of its finding salts)
    data/iocs/<sha256>.<ext>             each indicator set file an analysis used
    data/export/case.jsonld              the CASE/UCO export, when made
    custody/custody.jsonl                the log; custody/checkpoints/NNNNNN.json its signed tree heads
    custody/keys/<fingerprint>.pub       public keys of the signers: hints, never trusted on their own
    custody/timestamps/NNNNNN.tsq|.tsr|.pem   RFC 3161 requests, tokens and TSA chains
    attestations/analysis-<run>.intoto.jsonl  the signed in-toto Statement of each analysis

Every operation is done by the current custodian with their key: it writes its files, records them
in the payload manifest, appends one signed record (which commits to the payload manifest and to
bag-info.txt), writes a checkpoint and rewrites the tag manifest. While the bundle is sealed no
record changes the payload (a CASE/UCO export made then is written only where it was asked for). A
hand-over is a ``transfer`` signed by the releasing custodian and countersigned by the receiver when
they ``receive``.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from importlib import resources
from pathlib import Path
from typing import IO, Any, TypeVar

import orjson

from vestige.custody.anchoring import TIMESTAMPS, anchor_fields, checkpoint_digest, latest_checkpoint
from vestige.custody.attestation import FINDING_SALTS, analysis_statement, finding_salts_file
from vestige.custody.bag import BAG_INFO, Bag, BagError, copy_with_hash, read_regular
from vestige.custody.case_uco import case_graph
from vestige.custody.dsse import IN_TOTO_TYPE, Envelope
from vestige.custody.items import ItemFile, UnitTree, item_root, new_seed, unit_tree
from vestige.custody.keys import KeyFileError, PublicKey, SigningKey, parse_trust_list
from vestige.custody.log import CustodyLog, Entry, canonical
from vestige.custody.timestamp import TimestampError, fetch_timestamp, timestamp_request
from vestige.evidence.errors import EvidenceError, NotAnAcquisitionError
from vestige.evidence.hashing import CHUNK, hash_in_order, hash_threads, sha256_file
from vestige.evidence.sources import Source, name_text
from vestige.indicators import IndicatorSet, read_indicator_data
from vestige.indicators.plain import read_plain_list
from vestige.indicators.sets import IndicatorFormatError, SetOrigin
from vestige.platforms import Registry, Units

_T = TypeVar("_T")
CASE_BAG = "vestige-case/1"
KEYS = "custody/keys"
ATTESTATIONS = "attestations"
INDICATORS = "indicators.json"
EXPORT = "data/export/case.jsonld"
TAKE_BATCH = 256
ITEM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
PINNED_SET = re.compile(r"data/iocs/[0-9a-f]{64}\.[^/\x00]{1,64}")
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
    sealed_manifest: str = ""
    """The payload manifest digest the ``seal`` committed: no record may change it while sealed."""
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
        bag = record.get("bag")
        state.sealed_manifest = str(bag.get("manifest_sha256", "")) if isinstance(bag, Mapping) else ""
    elif action == "acquire":
        # One acquire per item: a second one never supersedes the first (verify reports it).
        state.items.setdefault(str(record.get("item", {}).get("id", "")), dict(record))
    elif action == "analyze":
        state.analyses.append(dict(record))


class Case:
    """A case bundle on disk. Opened ``for_writing``, it holds an exclusive lock on the bundle for as
    long as the object lives, so two commands never interleave their records."""

    def __init__(self, root: Path, *, for_writing: bool = False) -> None:
        try:
            self.bag = Bag(root)
            info = self.bag.info()
        except BagError as error:
            raise CaseError(str(error)) from None
        if info.get("Bag-Type") != CASE_BAG:
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
        """The case named by the signed ``open`` record."""
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
            "bag": {
                "manifest_sha256": self.bag.manifest_sha256(),
                "info_sha256": sha256_file(self.root / BAG_INFO)[1],
                "payload_files": len(self.bag.payload),
            },
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
        if latest.get("bag", {}).get("info_sha256") != sha256_file(self.root / BAG_INFO)[1]:
            raise CaseError("bag-info.txt changed since the last signed record; run 'vestige verify' first")
        try:
            info = self.bag.info()
        except BagError as error:
            raise CaseError(str(error)) from None
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
        location: Path,
        item: str,
        key: SigningKey,
        registry: Registry | None = None,
        *,
        consent: Path | None = None,
        note: str = "",
        by_reference: bool = False,
    ) -> Entry:
        """Takes an acquisition into the bundle (a copy, or only its file list when by reference).

        A folder is copied file by file; a single file or an archive is copied as it is. The item's
        files, the leaves of its salted Merkle tree, are the files the analysis reads: the files of
        the folder, the file itself, or the members of the archive (so a disclosure can carry one
        member without the rest). When the kind declares units (the packets of a capture), each file
        it divides also gets a salted tree over its units, bound in its leaf (``items.UnitTree``), so a
        disclosure can carry some packets without the rest. ``registry`` says which kinds of
        acquisition exist (by default, the installed platforms).
        """
        state = self.require_custodian(key, "acquire")
        if not ITEM_ID.fullmatch(item):
            raise CaseError(f"{item!r}: an item id is letters, digits, '.', '_' and '-'")
        if item in state.items:
            raise CaseError(f"item {item} is already in the bundle")
        if self.root.resolve().is_relative_to(location.resolve()):
            raise CaseError(f"{self.root}: the bundle is inside the acquisition it would take in; put it elsewhere")
        try:
            recognised = (registry or Registry.discover()).recognise(location)
        except EvidenceError as error:
            raise CaseError(str(error)) from None
        kind = recognised.kind.name
        seed = new_seed()
        with recognised:
            source = recognised.source
            units = recognised.kind.units
            trees = _unit_trees(source, units, seed) if units is not None else {}
            files, container = self._take_files(source, item, by_reference)
            try:
                files = _bind_units(files, trees)
            except CaseError:
                self._forget_copy(item)
                raise
            refused = [problem.reason for problem in source.problems]
            shape = {"shape": source.shape, "name": source.location.name, "within": source.prefix}
        merkle_root = item_root(seed, files)
        manifest = b"".join(entry.line() for entry in files)
        manifest_sha256 = self.bag.write(f"data/items/{item}/manifest.jsonl", manifest)
        description: dict[str, Any] = {
            "id": item,
            "kind": kind,
            "by_reference": by_reference,
            "files": len(files),
            "bytes": str(sum(entry.size for entry in files)),
            "merkle_root": merkle_root,
            "salt_seed": seed.hex(),
            "source": shape,
        }
        if container is not None:
            description["container"] = {"size": container.size, "sha256": container.sha256}
        if refused:
            description["refused"] = refused
        item_sha256 = self.bag.write(
            f"data/items/{item}/item.json", orjson.dumps(description, option=orjson.OPT_INDENT_2)
        )
        fields: dict[str, Any] = {
            "action": "acquire",
            "item": {"id": item, "kind": kind, "by_reference": by_reference, "shape": source.shape},
            "digests": {"merkle_root": merkle_root, "manifest_sha256": manifest_sha256, "item_sha256": item_sha256},
            "size": description["bytes"],
            "files": len(files),
            "note": note,
        }
        if container is not None:
            fields["digests"]["container_sha256"] = container.sha256
        if consent is not None:
            fields["authority"] = {"type": "consent", "ref": "sha256:" + sha256_file(consent)[1]}
        return self._commit(key, fields)

    def _take_files(self, source: Source, item: str, by_reference: bool) -> tuple[list[ItemFile], ItemFile | None]:
        """The item's files, copied in (hashed in the same pass) or only hashed, and for an archive the
        archive itself as one file (its container). A file or archive is read whole before it is copied,
        so a member that cannot be read stops the item with nothing written."""
        if source.shape == "folder":
            names = _folder_files(source)
            return (self._hash_files(source, names) if by_reference else self._copy_folder(source, item, names)), None
        if not name_text(str(source.location))[1]:
            raise CaseError(
                f"{name_text(str(source.location))[0]}: a file name that is not UTF-8; a case bundle's "
                "manifests cannot name it"
            )
        names = [m.name for m in source.members() if m.type == "file"]
        files = self._hash_files(source, names)  # first: an unreadable member stops it before anything is copied
        if by_reference and source.shape == "file":
            return files, None
        if by_reference:
            size, sha256 = sha256_file(source.location)
            return files, ItemFile(source.location.name, size, sha256)
        container = self._copy_container(source.location, item)
        return files, None if source.shape == "file" else container

    def _copy_folder(self, source: Source, item: str, names: list[str]) -> list[ItemFile]:
        target = self.root / "data" / "acquisition" / item
        # The copy is made under a hidden name and renamed when complete: a failed copy leaves nothing.
        staging = target.with_name(f".partial-{item}")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            files = _copy_files(source, staging, names)
            staging.rename(target)
        except BaseException as error:
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(error, OSError):
                where = error.filename or source.location
                raise CaseError(f"{where}: cannot be copied into the bundle ({error.strerror or error})") from None
            raise
        for entry in files:
            self.bag.add(f"data/acquisition/{item}/{entry.path}", entry.size, entry.sha256)
        return files

    def _copy_container(self, location: Path, item: str) -> ItemFile:
        """Copies a single file or an archive into the bundle as it is."""
        target = self.root / "data" / "acquisition" / item
        staging = target.with_name(f".partial-{item}")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            size, sha256 = copy_with_hash(location, staging / location.name)
            staging.rename(target)
        except BaseException as error:
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(error, OSError):
                raise CaseError(f"{location}: cannot be copied into the bundle ({error.strerror or error})") from None
            raise
        self.bag.add(f"data/acquisition/{item}/{location.name}", size, sha256)
        return ItemFile(location.name, size, sha256)

    def _forget_copy(self, item: str) -> None:
        """Removes the copy of an item that will not be recorded, and its payload entries."""
        prefix = f"data/acquisition/{item}/"
        for name in [n for n in self.bag.payload if n.startswith(prefix)]:
            del self.bag.payload[name]
            self.bag.sizes.pop(name, None)
        shutil.rmtree(self.root / "data" / "acquisition" / item, ignore_errors=True)

    @staticmethod
    def _hash_files(source: Source, names: list[str]) -> list[ItemFile]:
        """Sizes and SHA-256 of the item's files, read where they are."""
        files: list[ItemFile] = []
        for name, result in hash_in_order((name, source.hash_target(name)) for name in names):
            if not isinstance(result, tuple):
                raise CaseError(f"{source.location}: {name} cannot be read ({result})")
            files.append(ItemFile(name, result[0], result[1]))
        return files

    def item_location(self, item: str) -> Path:
        """Where the bundled copy of an item is: its folder, or the file or archive inside it (a name
        that would lead out of the item's folder is refused)."""
        if not ITEM_ID.fullmatch(item):
            raise CaseError(f"{item!r}: not an item id")
        description = orjson.loads(read_regular(self.root / f"data/items/{item}/item.json"))
        folder = self.root / "data" / "acquisition" / item
        source = description.get("source", {"shape": "folder"})
        if source.get("shape", "folder") == "folder":
            return folder
        name = str(source.get("name"))
        if name in ("", ".", "..") or "/" in name or "\x00" in name:
            raise CaseError(f"item {item}: its file name {name!r} is not a name inside the bundle")
        return folder / name

    def require_acquired_files(self, item: str, manifest: Path, where: str) -> None:
        """An item must be analysed from exactly the files that were acquired (and signed): the
        entries of the analysis's manifest that have content, by where they are stored."""
        lines = (self.root / "data" / "items" / item / "manifest.jsonl").read_bytes().splitlines()
        signed = {(entry["path"], entry["sha256"]) for entry in map(orjson.loads, lines)}
        seen = {
            (entry["stored_as"], entry["sha256"])
            for entry in map(orjson.loads, manifest.read_bytes().splitlines())
            if entry["stored_as"] is not None and entry["sha256"] is not None
        }
        if signed != seen:
            raise CaseError(f"{item}: the files {where} are not the ones its acquire record signed")

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
        finding_seed = new_seed()
        (staging / FINDING_SALTS).write_bytes(finding_salts_file(finding_seed))
        staging.replace(self.root / folder)
        subjects: dict[str, str] = {}
        for relative in _written_files(self.root / folder):
            name = f"{folder}/{relative}"
            size, sha256 = sha256_file(self.root / name)
            self.bag.add(name, size, sha256)
            subjects[name] = sha256  # run.json too: nothing in an analysis folder goes unattested
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
            finding_seed=finding_seed,
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
        """Writes the custody history as CASE/UCO JSON-LD to ``target`` and, unless the bundle is
        sealed (a sealed payload does not change), into the bundle."""
        state = self.require_custodian(key, "export")
        graph = case_graph([entry.record for entry in self.log.entries()])
        data = orjson.dumps(graph, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        if state.sealed:
            sha256, name = hashlib.sha256(data).hexdigest(), target.name
        else:
            sha256, name = self.bag.write(EXPORT, data), EXPORT
        target.write_bytes(data)
        return self._commit(
            key, {"action": "export", "outputs": [{"name": name, "sha256": sha256}], "note": "CASE/UCO"}
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


def _copy_files(source: Source, target: Path, names: list[str]) -> list[ItemFile]:
    """Copies the files ``names`` of a folder source to ``target``, hashing in the same pass, a few
    files at once (hashing, reading and writing release the GIL, so two cores copy and hash about
    twice as fast as one stream)."""
    # Making every folder first is markedly cheaper than interleaving mkdir with the copies.
    for folder in sorted({name.rpartition("/")[0] for name in names}):
        (target / folder).mkdir(parents=True, exist_ok=True)

    def take(name: str) -> tuple[int, str]:
        return copy_with_hash(source.local_path(name), target / name)

    files: list[ItemFile] = []
    with ThreadPoolExecutor(max_workers=hash_threads()) as pool:
        for start in range(0, len(names), TAKE_BATCH):
            batch = names[start : start + TAKE_BATCH]
            for name, (size, sha256) in zip(batch, pool.map(take, batch), strict=True):
                files.append(ItemFile(name, size, sha256))
    return files


class KindUnits:
    """The units of each kind of acquisition, from a registry discovered only when a file has units
    (a bundle of iOS backups never loads the other platforms)."""

    def __init__(self, registry: Registry | None) -> None:
        self._registry = registry

    def units(self, kind: str) -> Units | None:
        if self._registry is None:
            self._registry = Registry.discover()
        try:
            return self._registry.kind(kind).units
        except NotAnAcquisitionError:
            return None


class HashingReader(io.RawIOBase):
    """A stream that hashes and counts what is read through it, so that what a reader made of a file
    (its units) is known to come from the bytes with that SHA-256, read once."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__()
        self._stream = stream
        self._digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        self._digest.update(data)
        self.size += len(data)
        return len(data)

    def finish(self) -> tuple[int, str]:
        """Reads what the reader left (the end of a cut capture) and gives the size and SHA-256."""
        buffer = memoryview(bytearray(CHUNK))
        while self.readinto(buffer):
            pass
        return self.size, self._digest.hexdigest()


def read_units(
    units: Units, stream: IO[bytes], name: str, consume: Callable[[Iterator[bytes]], _T]
) -> tuple[_T, int, str]:
    """What ``consume`` makes of the units of ``stream`` (the file ``name``), and the size and SHA-256
    of the bytes they were read from; a file that cannot be read is a ``CaseError``."""
    hashing = HashingReader(stream)
    try:
        made = consume(units.read(io.BufferedReader(hashing, CHUNK), name))
        return (made, *hashing.finish())
    except (OSError, EvidenceError, ValueError, EOFError) as error:
        raise CaseError(f"{name}: its {units.noun}s cannot be read ({type(error).__name__}: {error})") from None


def _unit_trees(source: Source, units: Units, seed: bytes) -> dict[str, tuple[int, str, UnitTree]]:
    """The tree of units of each file the kind divides, with the size and SHA-256 of the bytes read."""
    trees: dict[str, tuple[int, str, UnitTree]] = {}
    for name in source.file_names():
        if units.divides(name):
            with source.open(name) as stream:
                tree, size, sha256 = read_units(units, stream, name, partial(unit_tree, seed, name))
            trees[name] = (size, sha256, tree)
    return trees


def _bind_units(files: list[ItemFile], trees: Mapping[str, tuple[int, str, UnitTree]]) -> list[ItemFile]:
    """The item's files with their unit trees; a file whose bytes changed between the two reads is refused."""
    bound: list[ItemFile] = []
    for entry in files:
        found = trees.get(entry.path)
        if found is None:
            bound.append(entry)
            continue
        if found[:2] != (entry.size, entry.sha256):
            raise CaseError(f"{entry.path}: changed while it was acquired; acquire it again from a copy nothing writes")
        bound.append(ItemFile(entry.path, entry.size, entry.sha256, found[2]))
    return bound


def _folder_files(source: Source) -> list[str]:
    """The regular files of a folder, sorted; symlinks and names that are not UTF-8 (which a BagIt
    manifest cannot hold) are refused before anything is written."""
    names: list[str] = []
    for member in source.members():
        if not member.utf8:
            raise CaseError(f"{member.name}: a file name that is not UTF-8; a case bundle's manifests cannot name it")
        if member.type == "symlink":
            where = source.location / source.prefix / member.name
            raise CaseError(f"{where}: a symbolic link inside the acquisition; copy it without links")
        if member.type == "file":
            names.append(member.name)
    return sorted(names)


def _written_files(root: Path) -> list[str]:
    """Relative paths of the files vestige wrote under ``root`` (an analysis folder), sorted."""
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


def analysis_parameters(root: Path, run: str) -> dict[str, Any]:
    """The parameters an analysis was run with, as its signed attestation states them (``verify
    --reproduce`` runs it again with the same: its limits)."""
    envelope = Envelope.parse((root / ATTESTATIONS / f"analysis-{run}.intoto.jsonl").read_bytes().strip())
    statement = orjson.loads(envelope.payload)
    parameters = statement.get("predicate", {}).get("buildDefinition", {}).get("externalParameters", {})
    return dict(parameters) if isinstance(parameters, dict) else {}


def pinned_sets(root: Path, folder: Path) -> list[IndicatorSet]:
    """The indicator sets an analysis used, loaded from the bundle's copies under their own names."""
    from vestige.custody.verify import ReproductionUnavailableError

    sets: list[IndicatorSet] = []
    for entry in orjson.loads(read_regular(folder / INDICATORS)):
        name = str(entry["file"])
        if not PINNED_SET.fullmatch(name):
            raise ReproductionUnavailableError(f"{name!r}: not an indicator set file inside the bundle")
        data = read_regular(root / name)
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise ReproductionUnavailableError(f"{name}: not the indicator set file the analysis used")
        origin = SetOrigin(entry["name"], entry["source"], entry["licence"], entry["file_name"], entry["sha256"])
        try:
            if "indicator_type" in entry:
                sets.append(read_plain_list(data, origin, entry["indicator_type"]))
            else:
                sets.append(read_indicator_data(data, origin))
        except IndicatorFormatError as error:
            raise ReproductionUnavailableError(str(error)) from None
    return sets


def verify_text() -> str:
    return resources.files("vestige.custody").joinpath("VERIFY.md").read_text("utf-8")
