"""Selective disclosure: a package with only some findings and the evidence files they cite.

The package is itself a bag (``Bag-Type: vestige-disclosure/1``) holding ``data/disclosure.json``,
the cited files under ``data/evidence/<item>/``, the case's custody log, checkpoints, key hints and
RFC 3161 tokens, VERIFY.md, and the attestations of the analyses the findings come from. For each
finding it gives its salt and RFC 6962 inclusion proof against the findings root of the signed
attestation; for each file, its salt and inclusion proof against the item root signed in the
``acquire`` record. The ``export`` record that ends the package's log signs the document, the
payload manifest and bag-info.txt, so every byte of the package is signed by the log or rejected.
A verifier checks all of it without the rest of the acquisition, with the checks a case bundle gets
(VERIFY.md, bag-info.txt, timestamps, no link or special file), and learns how many files were
withheld (from the signed file count, never from the document), but not what they were, nor,
because finding leaves are salted, which findings were withheld (docs/custody-design.md section 7.5).

A file made of units (the packets of a capture, ``platforms.Units``) whose findings cite only some of
its units by number (``Locator.packet``) is not disclosed whole: the package holds
``data/evidence/<item>/<path><suffix>`` (``.packets.pcapng``), a file of the field holding only the
cited units, and the document gives the file's leaf (with its units root and count) and, for each
unit, its number, salt and inclusion proof against that root. The verifier reads the units back from
that file with the kind's own reader, so what is proven is what an expert opening it sees; the file's
own SHA-256 cannot be checked (it is withheld), its units root and count are, against the signed leaf.

``disclose`` trusts nothing it reads: it verifies the bundle first, reads the bundle one path
component at a time without following links, writes only new files under the output folder, and
checks every copied file against its proof before it signs the export.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import shutil
import stat
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, TypeGuard

import orjson

from vestige import __version__
from vestige.custody.anchoring import TIMESTAMPS, checkpoint_digest
from vestige.custody.attestation import (
    FINDING_SALTS,
    finding_leaf,
    finding_leaves,
    finding_proof,
    finding_salt,
    parse_finding_seed,
    statement_findings_root,
    statement_findings_salted,
)
from vestige.custody.bag import (
    BAGIT_TXT,
    PAYLOAD_MANIFEST,
    TAG_MANIFEST,
    Bag,
    BagError,
    encode_path,
    read_manifest,
    regular_tree,
    validate,
)
from vestige.custody.case import ATTESTATIONS, ITEM_ID, Case, CaseError, CustodyState, KindUnits, read_units
from vestige.custody.checkpoint import Checkpoint, check_since
from vestige.custody.dsse import Envelope
from vestige.custody.items import (
    SEED_BYTES,
    ItemFile,
    LeafProof,
    UnitProof,
    UnitTree,
    is_digest,
    leaf_proofs,
    unit_proofs,
)
from vestige.custody.keys import PublicKey, SigningKey
from vestige.custody.log import CHECKPOINTS, Entry
from vestige.custody.timestamp import TimestampError, timestamp_request
from vestige.custody.verify import (
    CHAIN,
    INTEGRITY,
    MALFORMED,
    WARNING,
    Report,
    accounted_tag_files,
    chain_holds,
    check_anchors,
    check_checkpoints,
    check_custody,
    check_key_hints,
    check_log,
    run_stage,
    verify_case,
)
from vestige.evidence.errors import EvidenceError
from vestige.evidence.hashing import CHUNK
from vestige.evidence.merkle import leaf_hash, verify_inclusion
from vestige.evidence.sources import open_source
from vestige.platforms import Registry, Units

DISCLOSURE_BAG = "vestige-disclosure/1"
DOCUMENT = "data/disclosure.json"
BAG_INFO = "bag-info.txt"
BAG_INFO_LABELS = frozenset({"Bag-Software-Agent", "Bag-Type", "Bagging-Date", "External-Identifier", "Payload-Oxum"})
"""The labels vestige writes in a package's bag-info.txt: no other, and each once."""
SIGNED_BY_EXPORT = ("disclosure.json", BAG_INFO, PAYLOAD_MANIFEST)
"""The names under which the export record signs the document, bag-info.txt and the payload manifest."""
_HEX = re.compile(r"[0-9a-f]*", re.ASCII)
_REQUEST = re.compile(rf"{TIMESTAMPS}/[0-9]{{6}}\.tsq", re.ASCII)
_MAX_COUNT = 1 << 53


def disclose(
    case_root: Path,
    finding_ids: Sequence[str],
    out: Path,
    key: SigningKey,
    trusted: Mapping[str, PublicKey],
    tsa_roots: bytes | None = None,
    registry: Registry | None = None,
) -> Report:
    """Writes the disclosure package of ``finding_ids`` to ``out``, logs the signed ``export`` in the
    bundle, and returns the package's own verification report. The bundle must verify first against
    ``trusted``; nothing is signed until every copied file has matched its proof. A failure leaves no
    package (a failure after signing leaves the export record, which names what was to be written).
    ``registry`` gives the units of each kind of acquisition (by default, the installed platforms)."""
    with Case(case_root, for_writing=True) as case:
        checked = verify_case(case_root, trusted, tsa_roots=tsa_roots, registry=registry)
        if checked.exit_code not in (0, WARNING):
            failures = "; ".join(c.message for c in checked.checks if not c.ok and c.code != WARNING)
            raise CaseError(f"{case_root}: the bundle does not verify ({failures}); nothing was disclosed")
        package = _Package.create(out)
        try:
            _disclose(case, case_root, finding_ids, package, key, KindUnits(registry))
        except MALFORMED as error:
            package.discard()
            raise CaseError(f"{case_root}: cannot be disclosed: {type(error).__name__}: {error}") from None
        except BaseException:
            package.discard()
            raise
        finally:
            package.close()
    report = verify_disclosure(out, trusted, tsa_roots, registry=registry)
    if report.exit_code not in (0, WARNING):
        package.discard()
        failures = "; ".join(c.message for c in report.checks if not c.ok and c.code != WARNING)
        raise CaseError(f"{out}: the package written does not verify ({failures}); it was removed")
    return report


@dataclass(frozen=True)
class _Copy:
    """One cited file to put in the package: whole, or only the units ``numbers`` (from 1)."""

    item: str
    name: str
    archive: tuple[str, str] | None
    proof: LeafProof
    evidence: dict[str, Any]
    """The document's entry for the file, which the proofs of its units complete."""
    seed: bytes = b""
    units: Units | None = None
    numbers: tuple[int, ...] = ()


@dataclass
class _Chosen:
    """What disclosing takes from the bundle: the findings with their proofs, the cited files with
    theirs, and how to copy each file."""

    findings: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    copies: list[_Copy] = field(default_factory=list)
    withheld: dict[str, dict[str, Any]] = field(default_factory=dict)


def _disclose(
    case: Case, root: Path, finding_ids: Sequence[str], package: _Package, key: SigningKey, kinds: KindUnits
) -> None:
    state = case.state()
    chosen = _Chosen([_find(root, state.analyses, wanted) for wanted in finding_ids])
    for item in sorted({str(c["item"]) for c in chosen.findings}):
        _choose_evidence(root, item, state.items.get(item, {}), chosen, kinds)
    for copy in chosen.copies:
        entry = copy.proof.entry
        if copy.units is not None:
            copy.evidence["units"] = [proof.as_json() for proof in _copy_units(root, copy, package)]
            continue
        size, sha256 = _copy_item_file(root, copy.item, copy.archive, entry.path, package, copy.name)
        if (size, sha256) != (entry.size, entry.sha256):
            raise CaseError(f"{copy.item}/{entry.path}: the bundle's copy is not the file its acquire record signed")
    document = {
        "schema": DISCLOSURE_BAG,
        "case": case.case_id,
        "findings": chosen.findings,
        "evidence": chosen.evidence,
        "withheld": chosen.withheld,
    }
    signed = package.seal_payload(
        orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS), case.case_id
    )
    note = f"disclosure of findings {', '.join(c['finding']['id'] for c in chosen.findings)}"
    case.simple(key, "export", note=note, outputs=signed)
    runs = {str(c["run"]) for c in chosen.findings}
    for name in sorted(_package_tag_files(case.log.entries(), case.state(), runs)):
        if not name.endswith(".tsq") and os.path.lexists(root / name):
            with _open_in_bundle(root, name) as source:
                package.copy(name, source)
    package.seal_tags()


def _find(root: Path, analyses: Sequence[Mapping[str, Any]], wanted: str) -> dict[str, Any]:
    """The finding whose id is ``wanted`` (or starts with it, when unambiguous), in any analysis, with
    its salt and its proof against the analysis's attested findings root."""
    found: list[dict[str, Any]] = []
    for analysis in analyses:
        run = _safe_name(str(analysis.get("run")), "analysis run")
        findings_json = _read_in_bundle(root, f"data/analysis/{run}/findings.json")
        statement = orjson.loads(Envelope.parse(_read_in_bundle(root, _attestation(run)).strip()).payload)
        seed = None
        if statement_findings_salted(statement):
            seed = parse_finding_seed(_read_in_bundle(root, f"data/analysis/{run}/{FINDING_SALTS}"))
            if seed is None:
                raise CaseError(f"analysis {run}: {FINDING_SALTS} holds no seed of {SEED_BYTES} bytes")
        for index, finding in enumerate(orjson.loads(findings_json)["findings"]):
            if finding["id"].startswith(wanted):
                disclosed = {
                    "run": run,
                    "item": analysis["item"]["id"],
                    "index": index,
                    "count": len(finding_leaves(findings_json)),
                    "finding": finding,
                    "proof": [step.hex() for step in finding_proof(findings_json, index, seed)],
                }
                if seed is not None:
                    disclosed["salt"] = finding_salt(seed, index).hex()
                found.append(disclosed)
    ids = {f["finding"]["id"] for f in found}
    if len(ids) != 1:
        raise CaseError(f"finding {wanted!r} matches {len(ids)} findings in the bundle; give more of its id")
    return found[-1]


def _choose_evidence(root: Path, item: str, acquired: Mapping[str, Any], chosen: _Chosen, kinds: KindUnits) -> None:
    """The proofs of the files the chosen findings of ``item`` cite, each checked against the signed
    item root and file count before anything is copied; a file of units that the findings cite only
    by unit number is to be disclosed as those units alone."""
    item = _safe_name(item, "item id")
    description = orjson.loads(_read_in_bundle(root, f"data/items/{item}/item.json"))
    lines = _read_in_bundle(root, f"data/items/{item}/manifest.jsonl").splitlines()
    files = [ItemFile.of_line(line) for line in lines if line]
    for entry in files:
        _parts(entry.path)
    locators = [
        e["locator"]
        for c in chosen.findings
        if c["item"] == item
        for e in c["finding"]["evidence"]
        if isinstance(e["locator"], dict) and e["locator"].get("sha256")
    ]
    cited = {locator["sha256"] for locator in locators}
    wanted = {f.path for f in files if f.sha256 in cited}
    seed = bytes.fromhex(description["salt_seed"])
    proofs = _one_per_digest(leaf_proofs(seed, files, wanted))
    signed_root, signed_files = acquired.get("digests", {}).get("merkle_root"), acquired.get("files")
    source = description.get("source", {"shape": "folder"})
    archive = None
    if source.get("shape", "folder") == "archive":
        archive = (_one_part(str(source.get("name"))), str(source.get("within") or ""))
    by_reference = bool(acquired.get("item", {}).get("by_reference"))
    divided: dict[str, dict[str, int]] = {}
    for proof in proofs:
        if proof.size != signed_files or not proof.verifies(str(signed_root)):
            raise CaseError(f"{item}/{proof.entry.path}: its proof does not reach the root its acquire record signed")
        units = _units_of(proof.entry, acquired, kinds) if not by_reference else None
        numbers = _cited_units(proof.entry, units, locators) if units is not None else None
        suffix = units.suffix if units is not None and numbers is not None else ""
        name = f"data/evidence/{item}/{proof.entry.path}{suffix}"
        evidence = {"item": item, "file": name, "leaf": proof.as_json()}
        chosen.evidence.append(evidence)
        if units is not None and numbers is not None and proof.entry.units is not None:
            chosen.copies.append(_Copy(item, name, archive, proof, evidence, seed, units, numbers))
            divided[proof.entry.path] = {
                "withheld": proof.entry.units.count - len(numbers),
                "of": proof.entry.units.count,
            }
        elif not by_reference:
            chosen.copies.append(_Copy(item, name, archive, proof, evidence))
    chosen.withheld[item] = {"files": len(files) - len(proofs), "of": len(files)}
    if divided:
        chosen.withheld[item]["units"] = divided


def _units_of(entry: ItemFile, acquired: Mapping[str, Any], kinds: KindUnits) -> Units | None:
    """The units of a cited file that has a tree of them; refused when no installed platform reads its
    kind (disclosing the whole capture instead would reveal what was meant to be withheld)."""
    if entry.units is None:
        return None
    kind = str(acquired.get("item", {}).get("kind"))
    units = kinds.units(kind)
    if units is None:
        raise CaseError(
            f"{entry.path}: a file of units of the kind {kind!r}, which no installed platform divides; "
            "install the platform that reads it to disclose only the units cited"
        )
    return units


def _cited_units(entry: ItemFile, units: Units, locators: Sequence[Mapping[str, Any]]) -> tuple[int, ...] | None:
    """The numbers of the units of ``entry`` the findings cite, or None when one of them cites the file
    without a unit number (it is then disclosed whole, as any file is)."""
    numbers: set[int] = set()
    assert entry.units is not None
    for locator in locators:
        if locator.get("sha256") != entry.sha256:
            continue
        number = locator.get(units.locator)
        if number is None:
            return None
        if not _is_count(number) or not 1 <= number <= entry.units.count:
            raise CaseError(
                f"{entry.path}: a finding cites {units.noun} {number!r}; the signed file has {entry.units.count}"
            )
        numbers.add(number)
    return tuple(sorted(numbers))


def _one_per_digest(proofs: list[LeafProof]) -> list[LeafProof]:
    """Identical copies of a cited file prove nothing more: one proof per SHA-256 is enough."""
    seen: dict[str, LeafProof] = {}
    for proof in proofs:
        seen.setdefault(proof.entry.sha256, proof)
    return sorted(seen.values(), key=lambda p: p.entry.path)


def _copy_item_file(
    root: Path, item: str, archive: tuple[str, str] | None, path: str, package: _Package, name: str
) -> tuple[int, str]:
    """Copies the bundled bytes of an item's file into the package as ``name``."""
    with _open_item_file(root, item, archive, path) as stream:
        return package.copy(name, stream)


def _copy_units(root: Path, copy: _Copy, package: _Package) -> list[UnitProof]:
    """Reads the bundled file of units once, proving it is the signed file (its SHA-256 and its units
    tree), and writes the cited units into the package as a file of the field; gives their proofs."""
    entry, units, signed = copy.proof.entry, copy.units, copy.proof.entry.units
    assert signed is not None and units is not None
    with _open_item_file(root, copy.item, copy.archive, entry.path) as stream:
        proven, size, sha256 = read_units(
            units, stream, entry.path, lambda read: unit_proofs(copy.seed, entry.path, read, signed.count, copy.numbers)
        )
    if (size, sha256) != (entry.size, entry.sha256) or proven.tree != signed:
        raise CaseError(f"{copy.item}/{entry.path}: the bundle's copy is not the file its acquire record signed")
    written = io.BytesIO()
    try:
        units.write((proven.units[n] for n in copy.numbers), written)
    except (EvidenceError, ValueError, OSError) as error:
        raise CaseError(f"{copy.item}/{entry.path}: its {units.noun}s cannot be written ({error})") from None
    package.copy(copy.name, io.BytesIO(written.getvalue()))
    return [proven.proofs[n] for n in copy.numbers]


@contextmanager
def _open_item_file(root: Path, item: str, archive: tuple[str, str] | None, path: str) -> Iterator[IO[bytes]]:
    """The bundled bytes of an item's file: from the item's folder, or, streamed, from the member of
    the archive (name, folder within) it was acquired as."""
    if archive is None:
        with _open_in_bundle(root, f"data/acquisition/{item}/{path}") as stream:
            yield stream
        return
    relative, within = f"data/acquisition/{item}/{archive[0]}", archive[1]
    with _open_in_bundle(root, relative):
        pass  # a regular file, reached through no link; its members are hashed as they are read
    with open_source(root / relative) as source:
        members = source.within(within) if within else source
        with members.open(path) as stream:
            yield stream


def _package_tag_files(entries: list[Entry], state: CustodyState, runs: set[str]) -> set[str]:
    """The files outside data/ a package may carry from its bundle: the log, its checkpoints, the key
    hints, the RFC 3161 tokens, chains and requests, VERIFY.md, and the attestations of the disclosed
    analyses (the bag's own files are written for the package; ``disclose`` leaves out the requests,
    which prove nothing, and packages made before did not)."""
    names = accounted_tag_files(entries, state) - {"bagit.txt", BAG_INFO, PAYLOAD_MANIFEST}
    return names - {_attestation(str(a.get("run"))) for a in state.analyses if str(a.get("run")) not in runs}


def _attestation(run: str) -> str:
    return f"{ATTESTATIONS}/analysis-{run}.intoto.jsonl"


# Reading the bundle: one component at a time, never through a link, never blocking on a FIFO.


def _inside(relative: str) -> bool:
    """Whether a path stays inside the folder it is relative to: not absolute, no '.', '..' or empty
    part, no NUL, and UTF-8 (a manifest line naming ../../x must never make vestige read or write
    outside the bundle or the package)."""
    parts = relative.split("/")
    if not relative or "\x00" in relative or any(p in ("", ".", "..") for p in parts):
        return False
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parts(relative: str) -> list[str]:
    if not _inside(relative):
        raise CaseError(f"{relative!r}: not a relative path inside the bundle; refusing to disclose through it")
    return relative.split("/")


def _one_part(name: str) -> str:
    """A file name inside one folder of the bundle: a path of one component."""
    if len(_parts(name)) != 1:
        raise CaseError(f"{name!r}: not a file name inside its folder; refusing to disclose through it")
    return name


def _safe_name(name: str, what: str) -> str:
    if not ITEM_ID.fullmatch(name):
        raise CaseError(f"{name!r}: not a valid {what}; refusing to disclose through it")
    return name


@contextmanager
def _open_in_bundle(root: Path, relative: str) -> Iterator[IO[bytes]]:
    """The regular file ``relative`` under ``root``, each folder on the way opened without following
    a link, the file with O_NOFOLLOW and O_NONBLOCK (a FIFO never blocks) and checked with fstat."""
    parts = _parts(relative)
    try:
        descriptor = _open_beneath(os.open(root, os.O_RDONLY | os.O_DIRECTORY), parts, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise CaseError(f"{relative}: {_refusal(error)}") from None
    with os.fdopen(descriptor, "rb") as stream:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise CaseError(f"{relative}: not a regular file (a FIFO, a device or a socket), which vestige never reads")
        yield stream


def _open_beneath(folder: int, parts: Sequence[str], flags: int, mode: int = 0o644, *, make: bool = False) -> int:
    """Opens ``parts`` under the folder descriptor ``folder`` (which it closes), one component at a
    time with O_NOFOLLOW, so that a link anywhere on the way fails instead of being followed; with
    ``make``, missing folders are created on the way."""
    try:
        for part in parts[:-1]:
            if make:
                with suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=folder)
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
            os.close(folder)
            folder = inner
        return os.open(parts[-1], flags | os.O_NOFOLLOW, mode, dir_fd=folder)
    finally:
        os.close(folder)


def _read_in_bundle(root: Path, relative: str) -> bytes:
    with _open_in_bundle(root, relative) as stream:
        return stream.read()


def _refusal(error: OSError) -> str:
    if error.errno in (errno.ELOOP, errno.EMLINK):
        return "a symbolic link, which vestige never follows"
    if error.errno == errno.ENOTDIR:
        return "a part of its path is a symbolic link or not a folder, which vestige never follows"
    if error.errno == errno.ENOENT:
        return "missing"
    return f"cannot be read ({error.strerror})"


class _Package:
    """The package folder being written. Every file and folder is created new (O_EXCL, mkdir) under
    ``out``, reached from its descriptor one component at a time with O_NOFOLLOW, so nothing is
    written through a link or outside ``out``."""

    def __init__(self, out: Path, descriptor: int, created: bool) -> None:
        self.out = out
        self.descriptor = descriptor
        self.created = created
        self.payload: dict[str, str] = {}
        self.octets = 0

    @classmethod
    def create(cls, out: Path) -> _Package:
        try:
            status = os.lstat(out)
        except FileNotFoundError:
            out.parent.mkdir(parents=True, exist_ok=True)
            try:
                out.mkdir(0o755)
            except OSError as error:
                raise CaseError(f"{out}: cannot be created ({error.strerror})") from None
            created = True
        else:
            if not stat.S_ISDIR(status.st_mode) or any(os.scandir(out)):
                raise CaseError(f"{out}: exists and is not an empty folder; a disclosure needs a new folder")
            created = False
        return cls(out, os.open(out, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW), created)

    def close(self) -> None:
        if self.descriptor >= 0:
            os.close(self.descriptor)
            self.descriptor = -1

    def discard(self) -> None:
        """Removes what this run wrote: the folder it made, or the contents of the empty one it was given."""
        self.close()
        if self.created:
            shutil.rmtree(self.out, ignore_errors=True)
            return
        for entry in os.scandir(self.out):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                Path(entry.path).unlink()

    @contextmanager
    def _new_file(self, relative: str) -> Iterator[IO[bytes]]:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        descriptor = _open_beneath(os.dup(self.descriptor), _parts(relative), flags, make=True)
        with os.fdopen(descriptor, "wb") as stream:
            yield stream

    def write(self, relative: str, content: bytes) -> str:
        with self._new_file(relative) as stream:
            stream.write(content)
        return hashlib.sha256(content).hexdigest()

    def copy(self, relative: str, source: IO[bytes]) -> tuple[int, str]:
        """Copies a stream into a new file, hashing it in the same pass; a payload file is recorded."""
        digest, size = hashlib.sha256(), 0
        with self._new_file(relative) as stream:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                stream.write(chunk)
                size += len(chunk)
        if relative.startswith("data/"):
            self.payload[relative] = digest.hexdigest()
            self.octets += size
        return size, digest.hexdigest()

    def seal_payload(self, document: bytes, case_id: str) -> dict[str, str]:
        """Writes the document, bagit.txt, the payload manifest and bag-info.txt; gives their digests
        under the names the export record signs them by."""
        self.payload[DOCUMENT] = self.write(DOCUMENT, document)
        self.octets += len(document)
        self.write("bagit.txt", BAGIT_TXT.encode())
        manifest = self.write(PAYLOAD_MANIFEST, _manifest_text(self.payload))
        labels = {
            "Bag-Software-Agent": f"vestige {__version__}",
            "Bag-Type": DISCLOSURE_BAG,
            "Bagging-Date": datetime.now(timezone.utc).date().isoformat(),
            "External-Identifier": case_id,
            "Payload-Oxum": f"{self.octets}.{len(self.payload)}",
        }
        info = self.write(BAG_INFO, "".join(f"{k}: {v}\n" for k, v in sorted(labels.items())).encode())
        return dict(zip(SIGNED_BY_EXPORT, (self.payload[DOCUMENT], info, manifest), strict=True))

    def seal_tags(self) -> None:
        tags: dict[str, str] = {}
        for folder, _, names in os.walk(self.out):
            base = Path(folder).relative_to(self.out).as_posix()
            for name in names:
                relative = name if base == "." else f"{base}/{name}"
                if not relative.startswith("data/") and relative != TAG_MANIFEST:
                    tags[relative] = hashlib.sha256((self.out / relative).read_bytes()).hexdigest()
        self.write(TAG_MANIFEST, _manifest_text(tags))


def _manifest_text(entries: Mapping[str, str]) -> bytes:
    return "".join(f"{entries[name]}  {encode_path(name)}\n" for name in sorted(entries)).encode()


# Verifying a package.


def verify_disclosure(
    root: Path,
    trusted: Mapping[str, PublicKey],
    tsa_roots: bytes | None = None,
    since: Checkpoint | None = None,
    *,
    registry: Registry | None = None,
) -> Report:
    """Checks a disclosure package on its own, as a case bundle is checked (files, bag-info.txt,
    VERIFY.md, log, checkpoints, timestamps), then the signed export that names the document, each
    finding's proof against its attestation and each file's proof against its signed item (and each
    disclosed unit's against its file's units root, read back with the units of ``registry``'s kind:
    by default, the installed platforms)."""
    report = Report(str(root), DISCLOSURE_BAG)
    if not _files_are_plain(root, report):
        return report
    try:
        bag = Bag(root)
        raw = _read_in_bundle(root, DOCUMENT)
        document = orjson.loads(raw)
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
    except (BagError, CaseError) as error:
        report.fail("integrity", str(error), INTEGRITY)
        return report
    except ValueError as error:
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
    if since is not None:
        check_since(report, entries, since)
    run_stage(report, "timestamps", CHAIN, lambda: _check_timestamps(root, bag, entries, report, tsa_roots))
    if not chain_holds(report):
        report.fail("findings", "not checked: the custody log did not verify, so its records prove nothing", CHAIN)
        return report
    run_stage(report, "disclosure", CHAIN, lambda: _check_package(root, bag, raw, document, entries, state, report))
    if any(c.code == CHAIN for c in report.checks if not c.ok and c.area == "disclosure"):
        report.fail("findings", "not checked: no signed export record names the document, so it proves nothing", CHAIN)
        return report
    analyses = {str(a.get("run")): a for a in state.analyses}

    def findings() -> None:
        for disclosed in _objects(document.get("findings")):
            _check_finding(root, disclosed, analyses, trusted, report)

    def evidence() -> None:
        proven = _Proven()
        kinds = KindUnits(registry)
        for item in _objects(document.get("evidence")):
            _check_evidence(root, bag, item, state.items, document, proven, kinds, report)
        _check_withheld(bag, document, state.items, proven, report)

    run_stage(report, "findings", INTEGRITY, findings)
    run_stage(report, "evidence", INTEGRITY, evidence)
    return report


def _files_are_plain(root: Path, report: Report) -> bool:
    """No link, FIFO, device or socket anywhere, and no manifest line leaving the package, before a
    byte is read or hashed (a FIFO would block the reader; a link or '..' would read outside)."""
    for special in regular_tree(root):
        report.fail("integrity", special, INTEGRITY)
    if any(not c.ok for c in report.checks):
        return False
    for manifest in (PAYLOAD_MANIFEST, TAG_MANIFEST):
        try:
            names = read_manifest(root / manifest) if (root / manifest).is_file() else {}
        except BagError as error:
            report.fail("integrity", str(error), INTEGRITY)
            return False
        for name in sorted(n for n in names if not _inside(n)):
            report.fail("integrity", f"{manifest}: {name!r} is not a path inside the package", INTEGRITY)
    if any(not c.ok for c in report.checks):
        return False
    try:
        (root / BAG_INFO).read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        report.fail("integrity", f"{BAG_INFO} is not UTF-8 text", INTEGRITY)
        return False
    except OSError:
        pass  # a missing bag-info.txt is the bag check's to report
    try:
        problems = validate(root)
    except (UnicodeDecodeError, OSError, BagError) as error:
        report.fail("integrity", f"the bag cannot be read ({error})", INTEGRITY)
        return False
    for problem in problems:
        report.fail("integrity", f"{problem.path}: {problem.reason}", INTEGRITY)
    if not problems:
        report.ok("integrity", "every file matches the bag manifests and Payload-Oxum")
    return True


def _check_timestamps(root: Path, bag: Bag, entries: list[Entry], report: Report, roots: bytes | None) -> None:
    """As for a bundle: every request file is the one vestige writes for its checkpoint, byte for
    byte; every anchor's token verifies over its checkpoint, against ``roots`` when given."""
    failures = len(report.checks)
    for name in bag.tag_files():
        if _REQUEST.fullmatch(name) and (problem := _request_problem(root, name)) is not None:
            report.fail("timestamps", problem, INTEGRITY)
    anchors = [e.record for e in entries if e.record.get("action") == "anchor"]
    if not anchors and len(report.checks) == failures:
        report.ok("timestamps", "no RFC 3161 timestamp: record times are the examiner's clock")
    check_anchors(root, anchors, roots, report)


def _request_problem(root: Path, request: str) -> str | None:
    checkpoint = f"{CHECKPOINTS}/{Path(request).stem}.json"
    if not os.path.lexists(root / checkpoint):
        return None  # a request for no checkpoint is a file no record accounts for
    try:
        expected = timestamp_request(checkpoint_digest(root / checkpoint))
        found = _read_in_bundle(root, request)
    except (TimestampError, CaseError) as error:
        return f"{request}: its checkpoint cannot be read ({error})"
    except OSError as error:
        return f"{request}: its checkpoint cannot be read ({error.strerror or error})"
    if found != expected:
        return f"{request}: not the RFC 3161 request for {Path(checkpoint).name} vestige writes ({len(found)} bytes)"
    return None


def _check_package(
    root: Path,
    bag: Bag,
    raw: bytes,
    document: Mapping[str, Any],
    entries: list[Entry],
    state: CustodyState,
    report: Report,
) -> None:
    """The document is the one a signed export named, of this case; bag-info.txt and the payload
    manifest are the ones it signed; VERIFY.md is the one the opening record signed; and the
    package holds nothing else."""
    digest = hashlib.sha256(raw).hexdigest()
    named = [
        e
        for e in entries
        if e.record.get("action") == "export"
        and any(o.get("sha256") == digest for o in _objects(e.record.get("outputs")))
    ]
    if not named:
        report.fail("disclosure", f"{DOCUMENT} is not named by a signed export record of the log", CHAIN)
        return
    failures = len(report.checks)
    outputs = {str(o.get("name")): o.get("sha256") for o in _objects(named[-1].record.get("outputs"))}
    _check_bag_info(root, outputs, state, report)
    opening = entries[0].record.get("bundle", {}) if entries else {}
    if _sha256_of(root, "VERIFY.md") != opening.get("verify_md_sha256"):
        report.fail("disclosure", "VERIFY.md is not the one the opening record signed", INTEGRITY)
    if document.get("case") != state.case or document.get("schema") != DISCLOSURE_BAG:
        report.fail(
            "disclosure", "the document names another case than its custody log, or is no disclosure", INTEGRITY
        )
    stray = [n for n in bag.payload if not n.startswith("data/evidence/") and n != DOCUMENT]
    for name in sorted(stray):
        report.fail("disclosure", f"{name}: a disclosure holds only the document and cited evidence", INTEGRITY)
    runs = {str(f.get("run")) for f in _objects(document.get("findings"))}
    allowed = _package_tag_files(entries, state, runs) | {"bagit.txt", BAG_INFO, PAYLOAD_MANIFEST}
    for name in sorted(set(bag.tag_files()) - allowed):
        report.fail("disclosure", f"{name}: a file that no record or checkpoint accounts for", INTEGRITY)
    for path in sorted(root.glob("tagmanifest-*")):
        if path.name != TAG_MANIFEST:
            report.fail("disclosure", f"{path.name}: a tag manifest vestige does not write", INTEGRITY)
    if len(report.checks) == failures:
        report.ok("disclosure", f"the document, bag-info.txt and payload manifest signed by record {named[-1].seq}")


def _check_bag_info(root: Path, outputs: Mapping[str, object], state: CustodyState, report: Report) -> None:
    """bag-info.txt holds exactly the labels vestige writes, each once, naming this case and a
    disclosure; the export record signs it (packages made before it did only get the label check)."""
    try:
        lines = _read_in_bundle(root, BAG_INFO).decode("utf-8").split("\n")
    except CaseError as error:
        report.fail("disclosure", str(error), INTEGRITY)
        return
    except UnicodeDecodeError:
        report.fail("disclosure", f"{BAG_INFO} is not UTF-8 text", INTEGRITY)
        return
    labels: dict[str, str] = {}
    for line in lines[:-1] if lines[-1] == "" else lines:
        label, separator, value = line.partition(": ")
        if not separator or label in labels or label not in BAG_INFO_LABELS:
            report.fail("disclosure", f"{BAG_INFO}: {line[:80]!r} is not a label vestige writes once", INTEGRITY)
        labels.setdefault(label, value)
    if labels.keys() != BAG_INFO_LABELS or (labels["Bag-Type"], labels["External-Identifier"]) != (
        DISCLOSURE_BAG,
        state.case,
    ):
        report.fail("disclosure", f"{BAG_INFO} does not name a disclosure of the case its log opened", INTEGRITY)
    if outputs.get(BAG_INFO) is None and outputs.get(PAYLOAD_MANIFEST) is None:
        report.fail(
            "disclosure",
            f"{BAG_INFO} and the payload manifest are not signed (a package made before vestige signed them): "
            "their labels were checked, the Bagging-Date and Bag-Software-Agent are claims",
            WARNING,
        )
        return
    for name in (BAG_INFO, PAYLOAD_MANIFEST):
        if _sha256_of(root, name) != outputs.get(name):
            report.fail("disclosure", f"{name} is not the one the export record signed", INTEGRITY)


def _sha256_of(root: Path, relative: str) -> str | None:
    try:
        return hashlib.sha256(_read_in_bundle(root, relative)).hexdigest()
    except CaseError:
        return None


@dataclass
class _Proven:
    """What the evidence checks proved: the leaves of each item, and, of each file disclosed as some
    of its units, how many units were proven of how many the signed leaf counts."""

    leaves: dict[str, set[int]] = field(default_factory=dict)
    units: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)


def _check_withheld(
    bag: Bag,
    document: Mapping[str, Any],
    items: Mapping[str, Mapping[str, Any]],
    proven: _Proven,
    report: Report,
) -> None:
    """Withheld counts come from the signed file count of each item minus the files proven, and from
    the signed units count of each file minus the units proven, never from the document."""
    computed: dict[str, dict[str, Any]] = {}
    for item in sorted({str(e.get("item")) for e in _objects(document.get("evidence"))}):
        signed = items.get(item, {}).get("files")
        if _is_count(signed):
            computed[item] = {"files": int(signed) - len(proven.leaves.get(item, set())), "of": int(signed)}
            if proven.units.get(item):
                computed[item]["units"] = proven.units[item]
    if document.get("withheld") != computed:
        report.fail("evidence", "the withheld counts the document states are not what its proofs show", INTEGRITY)
    listed = {str(e.get("file")) for e in _objects(document.get("evidence"))}
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
    finding = disclosed.get("finding")
    where = f"finding {finding.get('id') if isinstance(finding, dict) else None}"
    run = str(disclosed.get("run"))
    analysis = analyses.get(run)
    path = root / _attestation(run) if ITEM_ID.fullmatch(run) else None
    if analysis is None or path is None or not path.is_file():
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
    statement = orjson.loads(envelope.payload)
    committed = statement_findings_root(statement)
    salted = statement_findings_salted(statement)
    salt = _hex(disclosed.get("salt"), SEED_BYTES) if salted else None
    if (salted and salt is None) or (not salted and "salt" in disclosed):
        wanted = f"a salt of {SEED_BYTES} bytes (64 lowercase hex digits)" if salted else "no salt"
        report.fail("findings", f"{where}: analysis {run} commits {wanted} for each finding", INTEGRITY)
        return
    proof = [_hex(step, 32) for step in disclosed.get("proof", [])] if isinstance(disclosed.get("proof"), list) else []
    index, count = disclosed.get("index"), disclosed.get("count")
    if (
        committed is None
        or not isinstance(finding, dict)
        or not _is_count(count)
        or count != committed[1]
        or not _is_count(index)
        or any(step is None for step in proof)
        or not verify_inclusion(
            leaf_hash(finding_leaf(finding, salt)),
            int(index),
            committed[1],
            [step for step in proof if step is not None],
            bytes.fromhex(committed[0]),
        )
        or disclosed.get("item") != analysis.get("item", {}).get("id")
    ):
        report.fail("findings", f"{where}: not proven to be in the attested findings of analysis {run}", INTEGRITY)
        return
    report.ok("findings", f"{where}: finding {int(index) + 1} of {count} in the signed analysis {run}")
    if not salted:
        report.fail(
            "findings",
            f"{where}: analysis {run} was made before vestige salted finding leaves; a reader who guesses one of "
            "its withheld findings can confirm the guess against this proof",
            WARNING,
        )


def _check_evidence(
    root: Path,
    bag: Bag,
    evidence: Mapping[str, Any],
    items: Mapping[str, Mapping[str, Any]],
    document: Mapping[str, Any],
    proven: _Proven,
    kinds: KindUnits,
    report: Report,
) -> None:
    """Whether one disclosed file is proven in its signed item (and present unless kept by reference):
    its leaf read strictly (a salt of exactly 32 bytes, a path with no NUL, a SHA-256 of 64 lowercase
    hex digits, so one leaf has one reading), its proof against the signed root, its tree the signed
    file count; a file disclosed as some of its units is then checked unit by unit."""
    item = str(evidence.get("item"))
    proof = _leaf_proof(evidence.get("leaf"))
    where = f"{item}/{proof.entry.path if isinstance(proof, LeafProof) else '?'}"
    acquired = items.get(item)
    if acquired is None:
        report.fail("evidence", f"{where}: item {item} was never acquired in this log", CHAIN)
        return
    if isinstance(proof, str):
        report.fail("evidence", f"{where}: {proof}", INTEGRITY)
        return
    signed_files = acquired.get("files")
    if proof.size != signed_files:
        report.fail(
            "evidence",
            f"{where}: its proof is for a tree of {proof.size} files; the acquire record signed {signed_files}",
            INTEGRITY,
        )
        return
    if not proof.verifies(str(acquired.get("digests", {}).get("merkle_root"))):
        report.fail("evidence", f"{where}: its inclusion proof does not reach the signed item root", INTEGRITY)
        return
    if proof.index in proven.leaves.setdefault(item, set()):
        report.fail("evidence", f"{where}: leaf {proof.index + 1} is given twice", INTEGRITY)
        return
    cited = [
        e["locator"]
        for f in _objects(document.get("findings"))
        for e in f.get("finding", {}).get("evidence", [])
        if isinstance(e, dict) and isinstance(e.get("locator"), dict)
    ]
    if proof.entry.sha256 not in {locator.get("sha256") for locator in cited}:
        report.fail("evidence", f"{where}: no disclosed finding cites this file", INTEGRITY)
        return
    by_reference = bool(acquired.get("item", {}).get("by_reference"))
    if "units" in evidence:
        _check_units(root, bag, evidence, proof, acquired, cited, proven, kinds, report)
        return
    name = str(evidence.get("file"))
    if name != f"data/evidence/{item}/{proof.entry.path}":
        report.fail("evidence", f"{where}: the file is not stored under its own name", INTEGRITY)
        return
    if name not in bag.payload and not by_reference:
        report.fail("evidence", f"{where}: the cited file is missing from the package", INTEGRITY)
        return
    if name in bag.payload and bag.payload[name] != proof.entry.sha256:
        report.fail("evidence", f"{where}: the disclosed file is not the one in the acquisition", INTEGRITY)
        return
    proven.leaves[item].add(proof.index)
    present = "disclosed" if name in bag.payload else "proven; the item is kept by reference"
    report.ok("evidence", f"{where}: leaf {proof.index + 1} of {proof.size} of the signed item, {present}")


def _check_units(
    root: Path,
    bag: Bag,
    evidence: Mapping[str, Any],
    proof: LeafProof,
    acquired: Mapping[str, Any],
    cited: Sequence[Mapping[str, Any]],
    proven: _Proven,
    kinds: KindUnits,
    report: Report,
) -> None:
    """A file disclosed as some of its units: its signed leaf binds a units tree; the file of units is
    in the package under its name; read back with the kind's units, it holds exactly the units the
    document proves, in order, each proven at its number against the signed units root; and each is
    cited by a disclosed finding, as each unit a disclosed finding cites is disclosed."""
    item, entry = str(evidence.get("item")), proof.entry
    where = f"{item}/{entry.path}"
    kind = str(acquired.get("item", {}).get("kind"))
    signed = entry.units
    if signed is None:
        report.fail("evidence", f"{where}: its units are disclosed, but its signed leaf binds no units", INTEGRITY)
        return
    units = kinds.units(kind)
    if units is None:
        report.fail(
            "evidence",
            f"{where}: cannot be checked: no installed platform divides files of the kind {kind!r} into units",
            INTEGRITY,
        )
        return
    if acquired.get("item", {}).get("by_reference"):
        report.fail(
            "evidence", f"{where}: its {units.noun}s are disclosed, but the item is kept by reference", INTEGRITY
        )
        return
    name = str(evidence.get("file"))
    if name != f"data/evidence/{item}/{entry.path}{units.suffix}":
        report.fail(
            "evidence", f"{where}: its {units.noun}s are not stored under its name and {units.suffix}", INTEGRITY
        )
        return
    if name not in bag.payload:
        report.fail("evidence", f"{where}: the file of its disclosed {units.noun}s is missing", INTEGRITY)
        return
    claimed = _unit_proofs(evidence.get("units"), signed)
    if isinstance(claimed, str):
        report.fail("evidence", f"{where}: {claimed}", INTEGRITY)
        return
    failures = len(report.checks)
    try:
        with _open_in_bundle(root, name) as stream:
            _match_units(where, units, units.read_written(stream, name), claimed, signed, report)
    except (EvidenceError, ValueError, OSError, EOFError) as error:
        report.fail("evidence", f"{where}: its disclosed {units.noun}s cannot be read ({error})", INTEGRITY)
        return
    if any(locator.get("sha256") == entry.sha256 and locator.get(units.locator) is None for locator in cited):
        report.fail(
            "evidence",
            f"{where}: a disclosed finding cites the whole file, but only some of its {units.noun}s are disclosed",
            INTEGRITY,
        )
    numbers = {p.number for p in claimed}
    asked = {
        locator.get(units.locator)
        for locator in cited
        if locator.get("sha256") == entry.sha256 and _is_count(locator.get(units.locator))
    }
    for number in sorted(numbers - asked):
        report.fail(
            "evidence", f"{where}: {units.noun} {number} is disclosed, but no disclosed finding cites it", INTEGRITY
        )
    for number in sorted(n for n in asked - numbers if isinstance(n, int)):
        report.fail(
            "evidence",
            f"{where}: {units.noun} {number}, which a disclosed finding cites, is not in the package",
            INTEGRITY,
        )
    if len(report.checks) != failures:
        return
    proven.leaves.setdefault(item, set()).add(proof.index)
    proven.units.setdefault(item, {})[entry.path] = {"withheld": signed.count - len(claimed), "of": signed.count}
    listed = ", ".join(str(p.number) for p in claimed)
    report.ok(
        "evidence",
        f"{where}: leaf {proof.index + 1} of {proof.size} of the signed item; {units.noun}s {listed} of its "
        f"{signed.count} disclosed and proven, {signed.count - len(claimed)} withheld",
    )


def _unit_proofs(value: object, signed: UnitTree) -> list[UnitProof] | str:
    """The document's proofs of a file's units, read strictly: numbers within the signed count, in
    increasing order (the order of the disclosed file), each with a 32-byte salt and SHA-256 steps."""
    if not isinstance(value, list) or not value:
        return "its disclosed units are not a list of proofs"
    proofs: list[UnitProof] = []
    for given in value:
        if not isinstance(given, dict) or set(given) != {"number", "salt", "proof"}:
            return "a disclosed unit's proof is not an object of its number, salt and proof"
        number, salt, steps = given["number"], _hex(given["salt"], SEED_BYTES), given["proof"]
        if not _is_count(number) or not 1 <= number <= signed.count:
            return f"a disclosed unit's number {number!r} is not one of the {signed.count} units of its signed leaf"
        if proofs and number <= proofs[-1].number:
            return f"the disclosed units are not in increasing order of number ({number} after {proofs[-1].number})"
        if salt is None:
            return f"unit {number}: its salt is not {SEED_BYTES} bytes (64 lowercase hex digits)"
        if not isinstance(steps, list) or not all(is_digest(step) for step in steps):
            return f"unit {number}: its proof is not a list of SHA-256 digests"
        proofs.append(UnitProof(number, salt, tuple(bytes.fromhex(step) for step in steps)))
    return proofs


def _match_units(
    where: str, units: Units, read: Iterator[bytes], claimed: Sequence[UnitProof], signed: UnitTree, report: Report
) -> None:
    """Each unit read from the disclosed file against the proof at its place; reading stops one unit
    after the last proof (a file holding more is refused without reading all of it)."""
    held = 0
    for unit in read:
        held += 1
        if held > len(claimed):
            report.fail(
                "evidence",
                f"{where}: the disclosed file holds more {units.noun}s than the {len(claimed)} the document proves",
                INTEGRITY,
            )
            return
        given = claimed[held - 1]
        if not given.verifies(unit, signed):
            report.fail(
                "evidence",
                f"{where}: {units.noun} {held} of the disclosed file is not {units.noun} {given.number} of the signed "
                f"file (its bytes or its number differ)",
                INTEGRITY,
            )
    if held < len(claimed):
        report.fail(
            "evidence",
            f"{where}: the document proves {len(claimed)} {units.noun}s; the disclosed file holds {held}",
            INTEGRITY,
        )


def _leaf_proof(leaf: object) -> LeafProof | str:
    """A disclosed file's leaf and proof, or why it cannot be read as one."""
    if not isinstance(leaf, dict):
        return "its leaf is not an object"
    path, size, salt = leaf.get("path"), leaf.get("size"), _hex(leaf.get("salt"), SEED_BYTES)
    steps = leaf.get("proof")
    if not isinstance(path, str) or not _inside(path):
        return "its path is not a relative path inside the item"
    if salt is None:
        return f"its salt is not {SEED_BYTES} bytes (64 lowercase hex digits)"
    if not _is_count(size) or _hex(leaf.get("sha256"), 32) is None:
        return "its size or SHA-256 is malformed (a whole number; 64 lowercase hex digits)"
    if not _is_count(leaf.get("index")) or not _is_count(leaf.get("tree_size")):
        return "its index or tree size is not a whole number"
    if not isinstance(steps, list) or any(_hex(step, 32) is None for step in steps):
        return "its proof is not a list of SHA-256 digests"
    try:
        units = UnitTree.of_json(leaf["units"]) if "units" in leaf else None
    except ValueError as error:
        return str(error)
    return LeafProof(
        ItemFile(path, int(size), str(leaf["sha256"]), units),
        salt,
        int(leaf["index"]),
        int(leaf["tree_size"]),
        tuple(bytes.fromhex(step) for step in steps),
    )


def _hex(value: object, length: int) -> bytes | None:
    """``value`` as exactly ``length`` bytes written in lowercase hex, or None."""
    if isinstance(value, str) and len(value) == 2 * length and _HEX.fullmatch(value):
        return bytes.fromhex(value)
    return None


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _MAX_COUNT


def _objects(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
