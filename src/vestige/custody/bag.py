"""BagIt bags (RFC 8493, BagIt 1.0): the container of a case bundle and of a disclosure package.

A bag holds ``bagit.txt``, ``bag-info.txt`` (with ``Payload-Oxum``: payload bytes and files),
``manifest-sha256.txt`` (every payload file under ``data/``) and ``tagmanifest-sha256.txt`` (every
other file but the tag manifest itself: the custody log, checkpoints, attestations, VERIFY.md).
Manifest lines are ``<sha256>  <path>`` sorted by path, with ``%``, CR and LF percent-encoded
(RFC 8493 section 2.1.3). Files are copied in with their hash computed in the same pass, and
validated with 1 MiB reads, large files in parallel threads, so a bundle is checked at the speed of
SHA-256 itself.

A bag vestige reads holds only regular files and folders (``walk`` names anything else, and nothing
is followed), its files are opened with ``open_regular`` (no link followed, no FIFO waited on), and
its manifests and ``bag-info.txt`` must be byte for byte in the one form vestige writes: anything
else (a duplicated or unknown label, a line in another spelling, another algorithm's manifest) is a
problem, so that no byte of a bag means more than what its signed records and manifests say.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from vestige import __version__
from vestige.evidence.hashing import CHUNK, hash_threads

BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
PAYLOAD_MANIFEST = "manifest-sha256.txt"
TAG_MANIFEST = "tagmanifest-sha256.txt"
BAG_INFO = "bag-info.txt"
INFO_LABELS = frozenset(
    {"Bag-Software-Agent", "Bag-Type", "Bagging-Date", "External-Identifier", "Payload-Oxum", "Source-Organization"}
)
"""The labels vestige writes in bag-info.txt; all but Source-Organization are always there."""
REQUIRED_LABELS = INFO_LABELS - {"Source-Organization"}
OXUM = re.compile(r"(0|[1-9][0-9]{0,19})\.(0|[1-9][0-9]{0,19})")
DIGEST = re.compile(r"[0-9a-f]{64}")
LARGE_IN_FLIGHT = 16
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


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
    """``{relative path: sha256}`` of a manifest file. Anything but the exact bytes ``write_manifest``
    gives for those entries (another spacing, an unsorted or repeated line, an encoding RFC 8493 does
    not use) raises ``BagError``: a manifest is checked against the files, so it must hold nothing else."""
    try:
        data = read_regular(path)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BagError(f"{path.name}: cannot be read ({_reason(error)})") from None
    entries: dict[str, str] = {}
    lines = text.split("\n")
    if lines[-1]:
        raise BagError(f"{path.name}: the last line does not end with a line feed")
    for number, line in enumerate(lines[:-1], start=1):
        digest, separator, name = line[:64], line[64:66], line[66:]
        if not DIGEST.fullmatch(digest) or separator != "  " or not name or encode_path(decode_path(name)) != name:
            raise BagError(f"{path.name}: line {number} is not '<sha256>  <path>' as vestige writes it")
        if decode_path(name) in entries:
            raise BagError(f"{path.name}: line {number} repeats {_shown(decode_path(name))!r}")
        entries[decode_path(name)] = digest
    if list(entries) != sorted(entries):
        raise BagError(f"{path.name}: its lines are not sorted by path")
    return entries


def manifest_text(entries: Mapping[str, str]) -> str:
    return "".join(f"{entries[name]}  {encode_path(name)}\n" for name in sorted(entries))


def read_bag_info(data: bytes) -> tuple[dict[str, str], list[str]]:
    """The labels of a bag-info.txt and every way it differs from what vestige writes: text that is
    not UTF-8, a line that is not ``Label: value``, a label vestige does not write or one given
    twice (other BagIt readers take the first of two, vestige the last: a reader must never have to
    choose), a required label missing, lines out of order."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return {}, [f"{BAG_INFO}: not UTF-8 text (byte {error.start})"]
    values: dict[str, str] = {}
    problems: list[str] = []
    lines = text.split("\n")
    if lines[-1]:
        problems.append(f"{BAG_INFO}: the last line does not end with a line feed")
    for number, line in enumerate(lines[:-1], start=1):
        label, separator, value = line.partition(": ")
        if not separator or not value or value != value.strip() or not label or label != label.strip():
            problems.append(f"{BAG_INFO}: line {number} is not 'Label: value' as vestige writes it")
        elif label not in INFO_LABELS:
            problems.append(f"{BAG_INFO}: line {number} has the label {_shown(label)!r}, which vestige does not write")
        elif label in values:
            problems.append(f"{BAG_INFO}: line {number} repeats the label {label}")
        else:
            values[label] = value
    problems.extend(f"{BAG_INFO}: the label {label} is missing" for label in sorted(REQUIRED_LABELS - set(values)))
    if not problems and info_text(values) != text:
        problems.append(f"{BAG_INFO}: its lines are not in the order vestige writes them")
    return values, problems


def info_text(values: Mapping[str, str]) -> str:
    """bag-info.txt as vestige writes it: one ``Label: value`` line each, sorted by label."""
    for label, value in values.items():
        if label not in INFO_LABELS or not value or value != value.strip() or _CONTROL.search(value):
            raise BagError(f"{BAG_INFO}: {label}: {value!r} cannot be written (a label vestige writes, one line)")
    return "".join(f"{label}: {values[label]}\n" for label in sorted(values))


def write_manifest(path: Path, entries: Mapping[str, str]) -> None:
    path.write_text(manifest_text(entries), "utf-8")


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
        info_text(info)  # a value that cannot be written is refused before anything is
        (root / "data").mkdir(parents=True, exist_ok=True)
        (root / "bagit.txt").write_text(BAGIT_TXT, "utf-8")
        bag = cls(root)
        bag.save(info)
        return bag

    def info(self) -> dict[str, str]:
        """The labels of bag-info.txt; ``BagError`` if it is not what vestige writes."""
        path = self.root / BAG_INFO
        if not path.exists():
            return {}
        try:
            values, problems = read_bag_info(read_regular(path))
        except OSError as error:
            raise BagError(f"{BAG_INFO}: cannot be read ({_reason(error)})") from None
        if problems:
            raise BagError(problems[0])
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
        (self.root / BAG_INFO).write_text(info_text(values), "utf-8")
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
    """Relative paths of every regular file under ``root``, in sorted order (links and special files
    are left out: ``walk`` names them)."""
    yield from walk(root)[0]


def walk(root: Path) -> tuple[list[str], list[IntegrityProblem]]:
    """The regular files under ``root`` (relative POSIX paths, sorted) and one problem for each entry
    that is neither a regular file nor a folder. Nothing is followed or opened: a link is never
    entered (a link to ``/`` or to the bag itself stays a link) and a FIFO is never read."""
    files: list[str] = []
    problems: list[IntegrityProblem] = []
    folders = [""]
    while folders:
        base = folders.pop()
        try:
            entries = sorted(os.scandir(root / base if base else root), key=lambda e: e.name)
        except OSError as error:
            problems.append(IntegrityProblem(_shown(base or "."), f"the folder cannot be listed ({error.strerror})"))
            continue
        for entry in entries:
            relative = f"{base}/{entry.name}" if base else entry.name
            if entry.is_dir(follow_symlinks=False):
                folders.append(relative)
            elif entry.is_file(follow_symlinks=False):
                files.append(relative)
            else:
                reason = f"{_kind(entry)}; a bag holds only regular files and folders"
                problems.append(IntegrityProblem(_shown(relative), reason))
    return sorted(files), sorted(problems, key=lambda p: p.path)


def regular_tree(root: Path) -> list[str]:
    """Every entry under ``root`` that is not a regular file or a folder (a symbolic link, a FIFO, a
    device, a socket), one problem each naming its path; empty when the tree is safe to read. Bundles
    and disclosure packages are both checked with it before anything in them is opened."""
    return [f"{problem.path}: {problem.reason}" for problem in walk(root)[1]]


def _kind(entry: os.DirEntry[str]) -> str:
    try:
        mode = entry.stat(follow_symlinks=False).st_mode
    except OSError as error:
        return f"cannot be examined ({error.strerror})"
    if stat.S_ISLNK(mode):
        try:
            return f"a symbolic link (to {_shown(str(Path(entry.path).readlink()))})"
        except OSError:
            return "a symbolic link"
    kinds = {stat.S_ISFIFO: "a FIFO", stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device"}
    kinds[stat.S_ISSOCK] = "a socket"
    return next((name for test, name in kinds.items() if test(mode)), "not a regular file")


def _shown(name: str) -> str:
    """A name as text any report can hold: bytes that are not UTF-8 as ``\\xNN``."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class NotRegularError(OSError):
    """A path that is not a regular file (a link, a FIFO, a device), refused before it is read."""


def open_regular(path: Path) -> IO[bytes]:
    """Opens a regular file for reading without following a final symbolic link and without blocking
    (a FIFO opened for reading waits for a writer; ``O_NONBLOCK`` returns at once and ``fstat`` then
    refuses it). Raises ``NotRegularError`` for anything but a regular file."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise NotRegularError(errno.ELOOP, "a symbolic link, not a regular file", str(path)) from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise NotRegularError(errno.EINVAL, "not a regular file", str(path))
        return os.fdopen(descriptor, "rb", buffering=0)
    except BaseException:
        os.close(descriptor)
        raise


def read_regular(path: Path) -> bytes:
    """The bytes of a regular file, read as ``open_regular`` opens it."""
    with open_regular(path) as stream:
        return stream.read()


def validate(root: Path, walked: tuple[list[str], list[IntegrityProblem]] | None = None) -> list[IntegrityProblem]:
    """Everything that disagrees between the bag's files and its manifests, its Payload-Oxum, and
    anything in it vestige does not write: a link or special file, another manifest, a bag-info.txt
    label. ``walked`` is ``walk(root)`` when the caller has it already. Every file is read once."""
    files, odd = walked if walked is not None else walk(root)
    problems = list(odd)
    present = set(files)
    if "bagit.txt" not in present:
        return [*problems, IntegrityProblem("bagit.txt", f"{_shown(str(root))}: not a bag (no bagit.txt)")]
    try:
        if read_regular(root / "bagit.txt") != BAGIT_TXT.encode():
            problems.append(IntegrityProblem("bagit.txt", "not the BagIt 1.0 declaration vestige writes"))
    except OSError as error:
        problems.append(IntegrityProblem("bagit.txt", f"cannot be read ({_reason(error)})"))
    for name in sorted(present - {PAYLOAD_MANIFEST, TAG_MANIFEST}):
        if name.startswith(("manifest-", "tagmanifest-")):
            problems.append(
                IntegrityProblem(_shown(name), "a manifest vestige does not write (it writes SHA-256 only)")
            )
    manifests: dict[str, dict[str, str]] = {}
    for manifest in (PAYLOAD_MANIFEST, TAG_MANIFEST):
        try:
            manifests[manifest] = read_manifest(root / manifest)
        except BagError as error:
            problems.append(IntegrityProblem(manifest, str(error)))
    payload_files = {p for p in present if p.startswith("data/")}
    tag_files = {p for p in present - payload_files if not p.startswith("tagmanifest-")}
    listed = sorted(
        (set(manifests.get(PAYLOAD_MANIFEST, {})) & payload_files) | (set(manifests.get(TAG_MANIFEST, {})) & tag_files)
    )
    hashed = hash_files(root, listed)
    if PAYLOAD_MANIFEST in manifests:
        problems.extend(_compare(manifests[PAYLOAD_MANIFEST], payload_files, hashed, "payload"))
    if TAG_MANIFEST in manifests:
        problems.extend(_compare(manifests[TAG_MANIFEST], tag_files, hashed, "tag"))
    problems.extend(_bag_info(root, present, manifests.get(PAYLOAD_MANIFEST), hashed))
    return problems


def _compare(
    manifest: Mapping[str, str], present: set[str], hashed: Mapping[str, HashResult], kind: str
) -> Iterable[IntegrityProblem]:
    for name in sorted(present - set(manifest)):
        yield IntegrityProblem(_shown(name), f"a {kind} file that the manifest does not list")
    for name in sorted(set(manifest) - present):
        yield IntegrityProblem(_shown(name), f"listed in the {kind} manifest but missing")
    for name in sorted(set(manifest) & present):
        result = hashed[name]
        if isinstance(result, OSError):
            yield IntegrityProblem(_shown(name), f"cannot be read ({_reason(result)})")
        elif result[1] != manifest[name]:
            yield IntegrityProblem(_shown(name), "its SHA-256 differs from the manifest")


def _bag_info(
    root: Path, present: set[str], payload: Mapping[str, str] | None, hashed: Mapping[str, HashResult]
) -> Iterable[IntegrityProblem]:
    if BAG_INFO not in present:
        yield IntegrityProblem(BAG_INFO, "missing")
        return
    try:
        values, problems = read_bag_info(read_regular(root / BAG_INFO))
    except OSError as error:
        yield IntegrityProblem(BAG_INFO, f"cannot be read ({_reason(error)})")
        return
    for problem in problems:
        yield IntegrityProblem(BAG_INFO, problem.removeprefix(f"{BAG_INFO}: "))
    oxum = values.get("Payload-Oxum")
    match = OXUM.fullmatch(oxum or "")
    if oxum is not None and match is None:
        yield IntegrityProblem(BAG_INFO, "Payload-Oxum is not '<octets>.<files>' in ASCII digits")
    if match is None or payload is None:
        return
    actual = sum(result[0] for name in payload if isinstance(result := hashed.get(name), tuple))
    if (int(match[1]), int(match[2])) != (actual, len(payload)):
        yield IntegrityProblem(BAG_INFO, f"Payload-Oxum {oxum} does not match {actual}.{len(payload)}")


HashResult = tuple[int, str] | OSError


def hash_files(root: Path, names: Iterable[str]) -> dict[str, HashResult]:
    """The size and SHA-256 of each file (or the error that stopped its reading), each read once,
    opened with ``open_regular``. Files of up to 1 MiB are read in this thread (for them the cost
    is the system calls); larger ones in a few threads, where SHA-256 and the reads release the GIL,
    at most ``LARGE_IN_FLIGHT`` open at a time."""
    results: dict[str, HashResult] = {}
    in_flight: deque[tuple[str, Future[HashResult]]] = deque()
    with ThreadPoolExecutor(max_workers=hash_threads()) as pool:
        for name in names:
            try:
                stream = open_regular(root / name)
            except OSError as error:
                results[name] = error
                continue
            if os.fstat(stream.fileno()).st_size <= CHUNK:
                results[name] = _digest(stream)
                continue
            in_flight.append((name, pool.submit(_digest, stream)))
            if len(in_flight) >= LARGE_IN_FLIGHT:
                done, future = in_flight.popleft()
                results[done] = future.result()
        for done, future in in_flight:
            results[done] = future.result()
    return results


def _digest(stream: IO[bytes]) -> HashResult:
    """Size and SHA-256 of an open file, read in 1 MiB chunks; closes it."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    size = 0
    try:
        with stream:
            while count := stream.readinto(buffer):  # type: ignore[attr-defined]
                digest.update(view[:count])
                size += count
    except OSError as error:
        return error
    return size, digest.hexdigest()


def _reason(error: OSError | UnicodeDecodeError) -> str:
    return error.strerror or str(error) if isinstance(error, OSError) else str(error)
