"""BagIt bags (RFC 8493, BagIt 1.0): the container of a case bundle and of a disclosure package.

A bag holds ``bagit.txt``, ``bag-info.txt`` (with ``Payload-Oxum``: payload bytes and files),
``manifest-sha256.txt`` (every payload file under ``data/``) and ``tagmanifest-sha256.txt`` (every
other file but the tag manifest itself: the custody log, checkpoints, attestations, VERIFY.md).
Manifest lines are ``<sha256>  <path>`` sorted by path, with ``%``, CR and LF percent-encoded
(RFC 8493 section 2.1.3). Files are copied in with their hash computed in the same pass, and
validated with 1 MiB reads, large files in parallel threads, so a bundle is checked at the speed of
SHA-256 itself.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from vestige import __version__
from vestige.evidence.hashing import CHUNK, hash_in_order

BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
PAYLOAD_MANIFEST = "manifest-sha256.txt"
TAG_MANIFEST = "tagmanifest-sha256.txt"


class BagError(Exception):
    """A folder that is not a bag vestige can use."""


@dataclass(frozen=True, slots=True)
class IntegrityProblem:
    """One way the bag's files and its manifests disagree."""

    path: str
    reason: str


def encode_path(path: str) -> str:
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def decode_path(text: str) -> str:
    return text.replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")


def read_manifest(path: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of a manifest file; malformed lines raise ``BagError``."""
    entries: dict[str, str] = {}
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BagError(f"{path.name}: cannot be read ({error})") from None
    for number, line in enumerate(text.split("\n"), start=1):
        if not line and number == text.count("\n") + 1:
            break
        digest, _, name = line.partition(" ")
        name = name.lstrip(" ")
        if len(digest) != 64 or not name or any(c not in "0123456789abcdef" for c in digest):
            raise BagError(f"{path.name}: line {number} is not '<sha256> <path>'")
        entries[decode_path(name)] = digest
    return entries


def write_manifest(path: Path, entries: Mapping[str, str]) -> None:
    lines = [f"{entries[name]}  {encode_path(name)}\n" for name in sorted(entries)]
    path.write_text("".join(lines), "utf-8")


def copy_with_hash(source: Path, target: Path) -> tuple[int, str]:
    """Copies a file and returns its size and SHA-256, reading it once."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    size = 0
    if not target.parent.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb", buffering=0) as reader, target.open("xb", buffering=0) as writer:
        while count := reader.readinto(buffer):
            digest.update(view[:count])
            writer.write(view[:count])
            size += count
    return size, digest.hexdigest()


def copy_stream_with_hash(reader: IO[bytes], target: Path) -> tuple[int, str]:
    """Writes a stream to a new file and returns its size and SHA-256, reading it once."""
    digest = hashlib.sha256()
    size = 0
    if not target.parent.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("xb", buffering=0) as writer:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
            writer.write(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class Bag:
    """A bag on disk with its payload manifest in memory; ``save`` rewrites the manifests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        if not (root / "bagit.txt").is_file():
            raise BagError(f"{root}: not a bag (no bagit.txt)")
        self.payload = read_manifest(root / PAYLOAD_MANIFEST) if (root / PAYLOAD_MANIFEST).exists() else {}
        self.sizes: dict[str, int] = {}

    @classmethod
    def create(cls, root: Path, info: Mapping[str, str]) -> Bag:
        if root.exists() and any(root.iterdir()):
            raise BagError(f"{root}: exists and is not empty; a new bundle needs a new folder")
        (root / "data").mkdir(parents=True, exist_ok=True)
        (root / "bagit.txt").write_text(BAGIT_TXT, "utf-8")
        bag = cls(root)
        bag.save(info)
        return bag

    def info(self) -> dict[str, str]:
        values: dict[str, str] = {}
        path = self.root / "bag-info.txt"
        if path.is_file():
            for line in path.read_text("utf-8").splitlines():
                label, _, value = line.partition(":")
                if value:
                    values[label.strip()] = value.strip()
        return values

    def add(self, relative: str, size: int, sha256: str) -> None:
        """Records a payload file the caller has written (``relative`` starts with ``data/``)."""
        if not relative.startswith("data/"):
            raise BagError(f"{relative}: payload files live under data/")
        self.payload[relative] = sha256
        self.sizes[relative] = size

    def write(self, relative: str, content: bytes) -> str:
        """Writes a new payload file and records it; returns its SHA-256."""
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        digest = hashlib.sha256(content).hexdigest()
        self.add(relative, len(content), digest)
        return digest

    def copy_in(self, source: Path | IO[bytes], relative: str) -> tuple[int, str]:
        """Copies a file, or a stream (a member of an archive), into the payload."""
        if isinstance(source, Path):
            size, digest = copy_with_hash(source, self.root / relative)
        else:
            size, digest = copy_stream_with_hash(source, self.root / relative)
        self.add(relative, size, digest)
        return size, digest

    def save(self, info: Mapping[str, str] | None = None) -> None:
        """Writes the payload manifest, bag-info.txt (with Payload-Oxum) and the tag manifest."""
        write_manifest(self.root / PAYLOAD_MANIFEST, self.payload)
        values = self.info()
        values.update(info or {})
        octets = sum(self._size(name) for name in self.payload)
        values["Payload-Oxum"] = f"{octets}.{len(self.payload)}"
        values.setdefault("Bagging-Date", datetime.now(timezone.utc).date().isoformat())
        values["Bag-Software-Agent"] = f"vestige {__version__}"
        (self.root / "bag-info.txt").write_text("".join(f"{k}: {v}\n" for k, v in sorted(values.items())), "utf-8")
        self.save_tags()

    def save_tags(self) -> None:
        tags = {name: hashlib.sha256((self.root / name).read_bytes()).hexdigest() for name in self.tag_files()}
        write_manifest(self.root / TAG_MANIFEST, tags)

    def tag_files(self) -> list[str]:
        """Every file outside ``data/`` except the tag manifest itself."""
        return sorted(
            name
            for name in _files(self.root)
            if not name.startswith("data/") and name != TAG_MANIFEST and not name.startswith("tagmanifest-")
        )

    def manifest_sha256(self) -> str:
        return hashlib.sha256((self.root / PAYLOAD_MANIFEST).read_bytes()).hexdigest()

    def _size(self, name: str) -> int:
        size = self.sizes.get(name)
        if size is None:
            size = (self.root / name).stat().st_size
            self.sizes[name] = size
        return size


def _files(root: Path) -> Iterator[str]:
    """Relative paths of every regular file under ``root`` (symlinks are reported as files too)."""
    for folder, folders, names in os.walk(root):
        folders.sort()
        base = Path(folder).relative_to(root).as_posix()
        for name in sorted(names):
            yield name if base == "." else f"{base}/{name}"


def validate(root: Path) -> list[IntegrityProblem]:
    """Everything that disagrees between the bag's files and its manifests, and its Payload-Oxum."""
    problems: list[IntegrityProblem] = []
    try:
        bag = Bag(root)
    except BagError as error:
        return [IntegrityProblem("bagit.txt", str(error))]
    if (root / "bagit.txt").read_text("utf-8", errors="replace") != BAGIT_TXT:
        problems.append(IntegrityProblem("bagit.txt", "not the BagIt 1.0 declaration vestige writes"))
    try:
        payload = read_manifest(root / PAYLOAD_MANIFEST)
        tags = read_manifest(root / TAG_MANIFEST)
    except BagError as error:
        return [*problems, IntegrityProblem(PAYLOAD_MANIFEST, str(error))]
    present = set(_files(root))
    problems.extend(_compare(root, payload, {p for p in present if p.startswith("data/")}, "payload"))
    expected_tags = {p for p in present if not p.startswith("data/") and not p.startswith("tagmanifest-")}
    problems.extend(_compare(root, tags, expected_tags, "tag"))
    problems.extend(_oxum(bag, payload))
    return problems


def _compare(root: Path, manifest: Mapping[str, str], present: set[str], kind: str) -> Iterable[IntegrityProblem]:
    for name in sorted(present - set(manifest)):
        yield IntegrityProblem(name, f"a {kind} file that the manifest does not list")
    for name in sorted(set(manifest) - present):
        yield IntegrityProblem(name, f"listed in the {kind} manifest but missing")
    listed = sorted(set(manifest) & present)
    for name, result in hash_in_order((name, str(root / name)) for name in listed):
        if isinstance(result, OSError):
            yield IntegrityProblem(name, f"cannot be read ({result.strerror})")
        elif result is None or result[1] != manifest[name]:
            yield IntegrityProblem(name, "its SHA-256 differs from the manifest")


def _oxum(bag: Bag, payload: Mapping[str, str]) -> Iterable[IntegrityProblem]:
    oxum = bag.info().get("Payload-Oxum", "")
    octets, _, count = oxum.partition(".")
    if not (octets.isdigit() and count.isdigit()):
        yield IntegrityProblem("bag-info.txt", "Payload-Oxum is missing or malformed")
        return
    actual = sum((bag.root / name).stat().st_size for name in payload if (bag.root / name).is_file())
    if (int(octets), int(count)) != (actual, len(payload)):
        yield IntegrityProblem("bag-info.txt", f"Payload-Oxum {oxum} does not match {actual}.{len(payload)}")
