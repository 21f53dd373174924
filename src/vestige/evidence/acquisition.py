"""The Acquisition contract, the file manifest every acquisition shares, and kind detection.

A reader (``ios.acquisitions.IosBackup``, ...) lists its entries; this base class hashes every file
once, streaming, in parallel threads, into a ``FileManifest``: a private temporary SQLite database
holding path, storage name, type, size, SHA-256 and the reader's metadata of each entry. Keeping it
on disk bounds memory for acquisitions of millions of files and gives artifacts cheap lookups
(SHA-256 of the file a record cites, glob of device paths). Its Merkle root (RFC 6962, leaves in
path order) identifies the acquisition's contents; ``seal`` computes it in the same ordered pass
that writes ``manifest.jsonl``, which the engine runs on a worker beside the artifacts.
"""

from __future__ import annotations

import abc
import fnmatch
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, ClassVar, Protocol

import orjson

from vestige.evidence import sqlite as safe_sqlite
from vestige.evidence.errors import (
    EncryptedBackupError,
    MissingFileError,
    NotAnAcquisitionError,
    UnexpectedFormatError,
)
from vestige.evidence.hashing import hash_in_order
from vestige.evidence.merkle import MerkleRoot
from vestige.evidence.plist import load_plist_dict
from vestige.evidence.workers import map_in_processes
from vestige.model import JSON, Problem, format_time

Progress = Callable[[int], None]


class EntryReader(Protocol):
    """Reads the hashed entries of each partition in the process that hashed them (one pass over the
    listing shared by hashing and parsing), and takes the results back in this process."""

    def read(self, part: int, entries: Sequence[EvidenceFile]) -> object:
        """Runs where the partition was hashed; the result must be picklable and small."""

    def absorb(self, outcome: object) -> None:
        """Runs in this process, once per partition, in partition order."""


def name_text(name: str) -> tuple[str, bool]:
    """A file name as UTF-8 text, and whether it already was. ``os`` gives the bytes of a name that is
    not UTF-8 as surrogates, which no manifest can hold; they are shown as ``\\xNN`` escapes."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace"), False
    return name, True


def leaf(path: str, kind: str, size: int | None, sha256: str | None) -> bytes:
    """The Merkle leaf of an entry: path, type, size and SHA-256, NUL-separated."""
    return f"{path}\x00{kind}\x00{'' if size is None else size}\x00{sha256 or ''}".encode()


@dataclass(frozen=True, slots=True)
class EvidenceFile:
    """One entry of an acquisition. ``path`` is relative to the acquisition root in the device's
    terms (for an iOS backup ``HomeDomain/Library/SMS/sms.db``); ``stored_as`` is where its bytes
    sit under the root (``3d/3d0d7e5f...``), or None for an entry with no content of its own."""

    path: str
    type: str
    size: int | None
    sha256: str | None
    stored_as: str | None
    metadata: Mapping[str, JSON] = field(default_factory=dict)

    def leaf(self) -> bytes:
        """The Merkle leaf of this entry: path, type, size and SHA-256, NUL-separated."""
        return leaf(self.path, self.type, self.size, self.sha256)

    def as_json(self) -> dict[str, JSON]:
        return {
            "path": self.path,
            "type": self.type,
            "stored_as": self.stored_as,
            "size": self.size,
            "sha256": self.sha256,
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the acquisition says about the device it came from."""

    name: str | None = None
    model: str | None = None
    os_name: str | None = None
    os_version: str | None = None
    os_build: str | None = None
    serial: str | None = None
    identifiers: Mapping[str, str] = field(default_factory=dict)
    acquired: datetime | None = None
    encrypted: bool | None = None

    def as_json(self) -> dict[str, JSON]:
        return {
            "name": self.name,
            "model": self.model,
            "os_name": self.os_name,
            "os_version": self.os_version,
            "os_build": self.os_build,
            "serial": self.serial,
            "identifiers": dict(self.identifiers),
            "acquired": format_time(self.acquired),
            "encrypted": self.encrypted,
        }


SpoolRow = tuple[str, str, int | None, str | None, str | None, bytes]
"""An entry as the spool stores it: path, type, size, SHA-256, stored_as, metadata as JSON."""


class FileManifest:
    """Every entry of an acquisition with its SHA-256, spooled to a temporary SQLite database."""

    _BATCH = 4096
    _COLUMNS = "path, type, size, sha256, stored_as, metadata"

    def __init__(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="vestige-manifest-"))
        self.path = self._folder / "manifest.sqlite"
        self._owner = self._creator = os.getpid()
        self._connection = sqlite3.connect(str(self.path), check_same_thread=False)
        self._connection.executescript(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
            "CREATE TABLE entries (path TEXT NOT NULL, type TEXT NOT NULL, size INTEGER, sha256 TEXT,"
            " stored_as TEXT, metadata BLOB NOT NULL);"
        )
        self.problems: list[Problem] = []
        self.count = 0
        self.total_bytes = 0
        self._merkle_root: str | None = None

    def build(self, rows: Iterable[SpoolRow]) -> None:
        """Spools the rows and indexes them by path (the Merkle root waits for ``seal``)."""
        batch: list[SpoolRow] = []
        insert = "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?)"
        count = total = 0
        for row in rows:
            batch.append(row)
            count += 1
            if row[1] == "file" and row[2] is not None:
                total += row[2]
            if len(batch) >= self._BATCH:
                self._db.executemany(insert, batch)
                batch.clear()
        self._db.executemany(insert, batch)
        self._db.execute("CREATE INDEX entries_by_path ON entries (path)")
        self._db.commit()
        self.count, self.total_bytes = count, total

    @property
    def merkle_root(self) -> str:
        """The RFC 6962 root of the entries' leaves in path order."""
        if self._merkle_root is None:
            self._merkle_root = self.seal(None)
        return self._merkle_root

    def seal(self, lines: IO[bytes] | None) -> str:
        """One pass in path order: returns the Merkle root and writes each entry's JSON line (as
        ``EvidenceFile.as_json``, the metadata as spooled) to ``lines`` when given."""
        root = MerkleRoot()
        dumps, fragment = orjson.dumps, orjson.Fragment
        rows = self._db.execute(f"SELECT {self._COLUMNS} FROM entries ORDER BY path, rowid")
        for path, kind, size, sha256, stored_as, metadata in rows:
            root.add_leaf(leaf(path, kind, size, sha256))
            if lines is not None:
                entry = {
                    "path": path,
                    "type": kind,
                    "stored_as": stored_as,
                    "size": size,
                    "sha256": sha256,
                    "metadata": fragment(metadata),
                }
                lines.write(dumps(entry, option=orjson.OPT_APPEND_NEWLINE))
        self._merkle_root = root.hexdigest()
        return self._merkle_root

    @property
    def _db(self) -> sqlite3.Connection:
        """This process's connection: a forked worker opens its own rather than share the parent's."""
        if os.getpid() != self._owner:
            self._owner = os.getpid()
            self._connection = sqlite3.connect(str(self.path), check_same_thread=False)
        return self._connection

    def __iter__(self) -> Iterator[EvidenceFile]:
        for row in self._db.execute(f"SELECT {self._COLUMNS} FROM entries ORDER BY path, rowid"):
            yield _entry(row)

    def get(self, path: str) -> EvidenceFile | None:
        row = self._db.execute(
            f"SELECT {self._COLUMNS} FROM entries WHERE path = ? ORDER BY rowid LIMIT 1", (path,)
        ).fetchone()
        return None if row is None else _entry(row)

    def glob(self, pattern: str) -> list[EvidenceFile]:
        """Entries whose path matches a shell-style pattern (``*`` may span ``/``)."""
        if not any(c in pattern for c in "*?["):
            entry = self.get(pattern)
            return [] if entry is None else [entry]
        regex = re.compile(fnmatch.translate(pattern))
        prefix = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
        # SQLite's GLOB reads * and ? as fnmatch does (classes differ, so patterns with one are left to
        # the regex alone): it drops the other rows before Python sees them.
        rows = self._db.execute(
            f"SELECT {self._COLUMNS} FROM entries WHERE path >= ? AND path < ? AND (? OR path GLOB ?)"
            " ORDER BY path, rowid",
            (prefix, prefix + "\U0010ffff", "[" in pattern, pattern),
        )
        return [_entry(row) for row in rows if regex.fullmatch(row[0])]

    def close(self) -> None:
        """Closes the spool; only the process that made it removes its folder."""
        self._db.close()
        if os.getpid() == self._creator:
            shutil.rmtree(self._folder, ignore_errors=True)


def _entry(row: tuple[str, str, int | None, str | None, str | None, bytes]) -> EvidenceFile:
    return EvidenceFile(row[0], row[1], row[2], row[3], row[4], orjson.loads(row[5]))


class Acquisition(abc.ABC):
    """An acquisition read in place. Subclasses list entries; this class hashes and serves them."""

    kind: ClassVar[str]

    def __init__(self, root: Path) -> None:
        self.root = root
        self._manifest: FileManifest | None = None
        self._first: dict[str, EvidenceFile] | None = None

    def __enter__(self) -> Acquisition:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _partitions(self) -> Sequence[Hashable]:
        """Picklable descriptions of slices of the entries, hashed by separate workers when many."""
        return (None,)

    @abc.abstractmethod
    def _entries(self, partition: Hashable) -> Iterator[tuple[EvidenceFile, str | None]]:
        """The entries of one partition without their hashes, each with the file to hash (None for
        directories and the like)."""

    def _leftovers(self, stored: set[str]) -> Iterator[tuple[EvidenceFile, str | None]]:
        """Entries that no partition listed, given the ``stored_as`` of every entry they listed."""
        return iter(())

    @abc.abstractmethod
    def info(self) -> DeviceInfo:
        """Device model, OS version and identifiers as the acquisition records them."""

    def expected_entries(self) -> int | None:
        """How many entries ``_entries`` will yield, when cheap to know (for progress bars)."""
        return None

    def manifest(
        self, progress: Progress | None = None, workers: int = 1, reader: EntryReader | None = None
    ) -> FileManifest:
        """The hashed file manifest, built on first use (every file is read exactly once).

        With several workers, partitions are listed and hashed in forked processes; the manifest is
        the same whatever the number of workers. A ``reader`` given to the call that builds the
        manifest reads each partition's hashed entries where they were hashed. The first partition
        (the files that list the others, such as Manifest.db) is hashed before the rest, so readers
        can already cite those files with ``file``. A reader given once the manifest exists reads
        its entries here, in path order, a slice at a time.
        """
        if self._manifest is not None and reader is not None:
            for part, entries in enumerate(_slices(self._manifest)):
                reader.absorb(reader.read(part, entries))
        if self._manifest is None:
            if self._first is not None:
                raise RuntimeError("the manifest was asked for while it was being built")
            manifest = FileManifest()
            try:
                manifest.build(self._hashed_rows(manifest, progress, workers, reader))
            except BaseException:
                manifest.close()
                raise
            finally:
                self._first = None
            self._manifest = manifest
        return self._manifest

    def _hashed_rows(
        self, manifest: FileManifest, progress: Progress | None, workers: int, reader: EntryReader | None
    ) -> Iterator[SpoolRow]:
        stored: set[str] = set()
        partitions = list(enumerate(self._partitions()))
        if partitions:
            first = _hash_partition((self, reader), partitions[0])  # sets self._first
        else:
            self._first, first = {}, _Hashed([], [], reader.read(0, []) if reader is not None else None)
        parts = map_in_processes(_hash_partition, (self, reader), partitions[1:], workers, bounded=True)
        for hashed in _chain(first, parts):
            manifest.problems.extend(hashed.problems)
            if reader is not None:
                reader.absorb(hashed.outcome)
            for row in hashed.rows:
                if row[4] is not None:
                    stored.add(row[4])
                yield row
            if progress is not None:
                progress(len(hashed.rows))
        last = _hash_partition((self, reader), (max(len(partitions), 1), _LEFTOVERS), self._leftovers(stored))
        manifest.problems.extend(last.problems)
        if reader is not None:
            reader.absorb(last.outcome)
        yield from last.rows

    def files(self) -> Iterator[EvidenceFile]:
        return iter(self.manifest())

    def file(self, path: str) -> EvidenceFile:
        if self._first is not None:  # while the manifest is being built
            if path not in self._first:
                raise MissingFileError(f"{path}: not among the first files hashed")
            return self._first[path]
        entry = self.manifest().get(path)
        if entry is None:
            raise MissingFileError(f"{path}: not in the acquisition")
        return entry

    def glob(self, pattern: str) -> list[EvidenceFile]:
        return self.manifest().glob(pattern)

    def location(self, path: str) -> Path:
        """Where the bytes of ``path`` sit on disk (for reading only)."""
        entry = self.file(path)
        if entry.stored_as is None or entry.sha256 is None:
            raise MissingFileError(f"{path}: listed in the acquisition but its content is not there")
        return self.root / entry.stored_as

    def open(self, path: str) -> IO[bytes]:
        return self.location(path).open("rb")

    def read_bytes(self, path: str, limit: int = 256 << 20) -> bytes:
        """The whole content of a small file; refuses files above ``limit`` bytes."""
        entry = self.file(path)
        if entry.size is not None and entry.size > limit:
            raise UnexpectedFormatError(f"{path}: {entry.size} bytes is larger than expected for this file")
        return self.location(path).read_bytes()

    def plist(self, path: str) -> dict[str, object]:
        return load_plist_dict(self.read_bytes(path), path)

    @contextmanager
    def sqlite(self, path: str) -> Iterator[sqlite3.Connection]:
        """A read-only connection that never writes inside the acquisition (principle 1)."""
        sidecars: dict[str, Path] = {}
        for suffix in safe_sqlite.SIDECARS:
            entry = self.manifest().get(path + suffix)
            if entry is not None and entry.stored_as is not None and entry.sha256 is not None:
                sidecars[suffix] = self.root / entry.stored_as
        with safe_sqlite.open_database(self.location(path), path, sidecars) as connection:
            yield connection

    def close(self) -> None:
        if self._manifest is not None:
            self._manifest.close()
            self._manifest = None


_LEFTOVERS = "leftovers"
_READ_BATCH = 10_000


def _slices(entries: Iterable[EvidenceFile]) -> Iterator[list[EvidenceFile]]:
    """Entries in lists of at most ``_READ_BATCH``."""
    batch: list[EvidenceFile] = []
    for entry in entries:
        batch.append(entry)
        if len(batch) >= _READ_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True, slots=True)
class _Hashed:
    """One hashed partition: its rows for the spool, its problems and what the reader made of it."""

    rows: list[SpoolRow]
    problems: list[Problem]
    outcome: object


def _chain(first: _Hashed, rest: Iterable[_Hashed]) -> Iterator[_Hashed]:
    yield first
    yield from rest


def _hash_partition(
    shared: tuple[Acquisition, EntryReader | None],
    numbered: tuple[int, Hashable],
    entries: Iterable[tuple[EvidenceFile, str | None]] | None = None,
) -> _Hashed:
    """Worker: lists and hashes one partition into rows for the spool, and hands the hashed entries
    to the reader."""
    acquisition, reader = shared
    part, partition = numbered
    rows, problems, hashed = _hashed(acquisition._entries(partition) if entries is None else entries)
    if part == 0:
        acquisition._first = {entry.path: entry for entry in hashed}
    outcome = reader.read(part, hashed) if reader is not None else None
    return _Hashed(rows, problems, outcome)


def _hashed(
    entries: Iterable[tuple[EvidenceFile, str | None]],
) -> tuple[list[SpoolRow], list[Problem], list[EvidenceFile]]:
    rows: list[SpoolRow] = []
    problems: list[Problem] = []
    hashed: list[EvidenceFile] = []
    dumps = orjson.dumps
    for entry, outcome in hash_in_order(entries):
        size, digest = entry.size, entry.sha256
        if isinstance(outcome, OSError):
            reason = f"{entry.path}: cannot be read ({outcome.strerror or outcome})"
            problems.append(Problem("acquisition", entry.path, reason))
        elif outcome is not None:
            size, digest = outcome
        # A copy to the exact size: orjson's own buffer is a few KiB larger than the text it holds.
        metadata = bytes(memoryview(dumps(entry.metadata)))
        rows.append((entry.path, entry.type, size, digest, entry.stored_as, metadata))
        hashed.append(EvidenceFile(entry.path, entry.type, size, digest, entry.stored_as, entry.metadata))
    return rows, problems, hashed


IOS_BACKUP = "ios-backup"


def detect_kind(path: Path) -> tuple[str, Path]:
    """The kind of acquisition at ``path`` and its root; refuses clearly what vestige cannot read."""
    if not path.exists():
        raise NotAnAcquisitionError(f"{path}: no such file or folder")
    if path.is_dir():
        if _is_ios_backup(path):
            _refuse_encrypted_backup(path)
            return IOS_BACKUP, path
        backups = [child for child in sorted(path.iterdir()) if child.is_dir() and _is_ios_backup(child)]
        if len(backups) == 1:
            _refuse_encrypted_backup(backups[0])
            return IOS_BACKUP, backups[0]
        if len(backups) > 1:
            names = ", ".join(child.name for child in backups)
            raise NotAnAcquisitionError(f"{path}: holds several iOS backups ({names}); give the path of one")
    raise NotAnAcquisitionError(
        f"{path}: not an acquisition vestige can read (an iOS backup folder holds Manifest.db and Info.plist)"
    )


def _is_ios_backup(folder: Path) -> bool:
    return (folder / "Manifest.db").is_file() and (folder / "Info.plist").is_file()


def _refuse_encrypted_backup(folder: Path) -> None:
    """A backup whose Manifest.db is SQLite is readable (a decrypted copy keeps ``IsEncrypted``)."""
    if safe_sqlite.is_sqlite(folder / "Manifest.db"):
        return
    encrypted = False
    manifest_plist = folder / "Manifest.plist"
    if manifest_plist.is_file():
        try:
            encrypted = bool(load_plist_dict(manifest_plist.read_bytes(), "Manifest.plist").get("IsEncrypted"))
        except UnexpectedFormatError:
            encrypted = False
    if encrypted:
        raise EncryptedBackupError(
            f"{folder}: this iOS backup is encrypted; decrypt it first (vestige reads the decrypted copy)"
        )
    raise NotAnAcquisitionError(f"{folder}: Manifest.db is not a SQLite database, so the backup cannot be read")
