"""The Acquisition contract, and the file manifest every acquisition shares.

An acquisition reads a ``Source`` (a folder, a single file or an archive: ``sources``) and lists its
entries: each has a path in the acquisition's own terms (for an iOS backup the device path
``HomeDomain/Library/SMS/sms.db``), a type, and the member of the source that holds its bytes
(``stored_as``). A reader that needs nothing more uses ``FilesAcquisition``: every member is an
entry under its own name. This base class hashes every file once, streaming, in parallel threads,
into a ``FileManifest``: a private temporary SQLite database holding path, storage name, type, size,
SHA-256 and the reader's metadata of each entry. Keeping it on disk bounds memory for acquisitions
of millions of files and gives artifacts cheap lookups (SHA-256 of the file a record cites, glob of
paths). Its Merkle root (RFC 6962, leaves in path order) identifies the acquisition's contents;
``seal`` computes it in the same ordered pass that writes ``manifest.jsonl``, which the engine runs
on a worker beside the artifacts. The same manifest and root cover every shape alike.
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
from typing import IO, Protocol

import orjson

from vestige.evidence import sqlite as safe_sqlite
from vestige.evidence.errors import MissingFileError, SchemaManipulatedError, UnexpectedFormatError
from vestige.evidence.hashing import HashTarget, hash_in_order
from vestige.evidence.merkle import MerkleRoot
from vestige.evidence.plist import load_plist_dict
from vestige.evidence.sources import Member, Source
from vestige.evidence.workers import map_in_processes
from vestige.model import JSON, Problem, format_time

Progress = Callable[[int], None]


class PartitionReader(Protocol):
    """Reads the hashed entries of each partition in the process that hashed them (one pass over the
    listing shared by hashing and parsing), and takes the results back in this process."""

    def read(self, part: int, entries: Sequence[EvidenceFile]) -> object:
        """Runs where the partition was hashed; the result must be picklable and small."""

    def absorb(self, reading: object) -> None:
        """Runs in this process, once per partition, in partition order."""


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

    def seal(self, lines: IO[bytes] | None, acquisition: int | None = None) -> str:
        """One pass in path order: returns the Merkle root and writes each entry's JSON line (as
        ``EvidenceFile.as_json``, the metadata as spooled) to ``lines`` when given; in a check of
        several acquisitions each line also names its ``acquisition`` (position)."""
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
                if acquisition is not None:
                    entry["acquisition"] = acquisition
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
    """An acquisition read in place from its source. Subclasses list entries; this class hashes and
    serves them.

    Entries are listed in partitions, hashed by separate workers when there are many. The first
    partition holds the files that list or describe the others, if the reader has such (an iOS
    backup's Manifest.db and plists): it is hashed in this process before the rest, so that records
    read from the other partitions can already cite those files with ``file``. A reader driven by such
    a listing may also report, once every partition is hashed, the files of its source that the
    listing did not name (``_unlisted``).
    """

    def __init__(self, source: Source, kind: str) -> None:
        self.source = source
        self.kind = kind
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
    def _entries(self, partition: Hashable) -> Iterator[tuple[EvidenceFile, HashTarget | None]]:
        """The entries of one partition without their hashes, each with where to read its bytes
        (``Source.hash_target``; None for directories and the like)."""

    def _unlisted(self, listed: set[str]) -> Iterator[tuple[EvidenceFile, HashTarget | None]]:
        """Entries for the files of the source that no partition listed, given the ``stored_as`` of
        every entry they listed."""
        return iter(())

    def info(self) -> DeviceInfo:
        """Device model, OS version and identifiers as the acquisition records them."""
        return DeviceInfo()

    def expected_entries(self) -> int | None:
        """How many entries ``_entries`` will yield, when cheap to know (for progress bars)."""
        return None

    def manifest(
        self, progress: Progress | None = None, workers: int = 1, reader: PartitionReader | None = None
    ) -> FileManifest:
        """The hashed file manifest, built on first use (every file is read exactly once).

        With several workers, partitions are listed and hashed in forked processes; the manifest is
        the same whatever the number of workers. A ``reader`` given to the call that builds the
        manifest reads each partition's hashed entries where they were hashed. A reader given once
        the manifest exists reads its entries here, in path order, a slice at a time.
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
            manifest.problems.extend(self.source.problems)
            self._manifest = manifest
        return self._manifest

    def _hashed_rows(
        self, manifest: FileManifest, progress: Progress | None, workers: int, reader: PartitionReader | None
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
                reader.absorb(hashed.reading)
            for row in hashed.rows:
                if row[4] is not None:
                    stored.add(row[4])
                yield row
            if progress is not None:
                progress(len(hashed.rows))
        last = _hash_partition((self, reader), (max(len(partitions), 1), _UNLISTED), self._unlisted(stored))
        manifest.problems.extend(last.problems)
        if reader is not None:
            reader.absorb(last.reading)
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

    def _stored_name(self, path: str) -> str:
        entry = self.file(path)
        if entry.stored_as is None or entry.sha256 is None:
            raise MissingFileError(f"{path}: listed in the acquisition but its content is not there")
        return entry.stored_as

    def location(self, path: str) -> Path:
        """A real file holding the bytes of ``path`` (for reading only): in place, or a private copy
        for a member of an archive."""
        return self.source.local_path(self._stored_name(path))

    def open(self, path: str) -> IO[bytes]:
        return self.source.open(self._stored_name(path))

    def read_bytes(self, path: str, limit: int = 256 << 20) -> bytes:
        """The whole content of a small file; refuses files above ``limit`` bytes."""
        entry = self.file(path)
        if entry.size is not None and entry.size > limit:
            raise UnexpectedFormatError(f"{path}: {entry.size} bytes is larger than expected for this file")
        with self.open(path) as stream:
            data = stream.read(limit + 1)
        if len(data) > limit:
            raise UnexpectedFormatError(f"{path}: more than {limit} bytes, larger than expected for this file")
        return data

    def plist(self, path: str) -> dict[str, object]:
        return load_plist_dict(self.read_bytes(path), path)

    @contextmanager
    def sqlite(self, path: str) -> Iterator[sqlite3.Connection]:
        """A read-only, hardened connection that never writes inside the acquisition (principle 1). A
        manipulated schema found in the block is raised citing the database's SHA-256."""
        sidecars: dict[str, Path] = {}
        for suffix in safe_sqlite.SIDECARS:
            entry = self.manifest().get(path + suffix)
            if entry is not None and entry.stored_as is not None and entry.sha256 is not None:
                sidecars[suffix] = self.source.local_path(entry.stored_as)
        try:
            with safe_sqlite.open_database(self.location(path), path, sidecars) as connection:
                yield connection
        except SchemaManipulatedError as error:
            error.sha256 = self.file(path).sha256
            raise

    def close(self) -> None:
        """Closes the manifest spool and the source (the whole of it, when the acquisition reads a view)."""
        if self._manifest is not None:
            self._manifest.close()
            self._manifest = None
        self.source.root.close()


class FilesAcquisition(Acquisition):
    """An acquisition whose entries are the members of its source, each under its own name: a single
    capture or log file, the members of an archive, the files of a dump folder."""

    SLICE = 5_000

    def __init__(self, source: Source, kind: str) -> None:
        super().__init__(source, kind)
        self._members: list[Member] | None = None

    def _listing(self) -> list[Member]:
        if self._members is None:
            self._members = list(self.source.members())
        return self._members

    def expected_entries(self) -> int | None:
        return len(self._listing())

    def _partitions(self) -> Sequence[Hashable]:
        count = len(self._listing())
        return tuple((start, min(count, start + self.SLICE)) for start in range(0, count, self.SLICE))

    def _entries(self, partition: Hashable) -> Iterator[tuple[EvidenceFile, HashTarget | None]]:
        assert isinstance(partition, tuple)
        start, end = partition
        for member in self._listing()[start:end]:
            if member.type == "file":
                yield EvidenceFile(member.name, "file", None, None, member.name), self.source.hash_target(member.name)
            else:
                metadata: dict[str, JSON] = {} if member.target is None else {"target": member.target}
                yield EvidenceFile(member.name, member.type, None, None, None, metadata), None


_UNLISTED = "unlisted"
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
    reading: object


def _chain(first: _Hashed, rest: Iterable[_Hashed]) -> Iterator[_Hashed]:
    yield first
    yield from rest


def _hash_partition(
    shared: tuple[Acquisition, PartitionReader | None],
    numbered: tuple[int, Hashable],
    entries: Iterable[tuple[EvidenceFile, HashTarget | None]] | None = None,
) -> _Hashed:
    """Worker: lists and hashes one partition into rows for the spool, and hands the hashed entries
    to the reader."""
    acquisition, reader = shared
    part, partition = numbered
    rows, problems, hashed = _hashed(acquisition._entries(partition) if entries is None else entries)
    if part == 0:
        acquisition._first = {entry.path: entry for entry in hashed}
    reading = reader.read(part, hashed) if reader is not None else None
    return _Hashed(rows, problems, reading)


def _hashed(
    entries: Iterable[tuple[EvidenceFile, HashTarget | None]],
) -> tuple[list[SpoolRow], list[Problem], list[EvidenceFile]]:
    rows: list[SpoolRow] = []
    problems: list[Problem] = []
    hashed: list[EvidenceFile] = []
    dumps = orjson.dumps
    for entry, result in hash_in_order(entries):
        size, digest = entry.size, entry.sha256
        if isinstance(result, OSError):
            reason = f"{entry.path}: cannot be read ({result.strerror or result})"
            problems.append(Problem("acquisition", entry.path, reason))
        elif result is not None:
            size, digest = result
        # A copy to the exact size: orjson's own buffer is a few KiB larger than the text it holds.
        metadata = bytes(memoryview(dumps(entry.metadata)))
        rows.append((entry.path, entry.type, size, digest, entry.stored_as, metadata))
        hashed.append(EvidenceFile(entry.path, entry.type, size, digest, entry.stored_as, entry.metadata))
    return rows, problems, hashed
