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

Paths are the manifest's key: no two entries share one. A reader that lists two entries under one
path (an iOS backup whose Manifest.db lists a path twice; a name that is not UTF-8 whose ``\\xNN``
escapes spell another entry's name) keeps both: one keeps the path (an ordinary entry before an
unlisted one or one named in bytes that are not UTF-8, else the first in listing order), each
other one is named ``<path> [2]``, ``<path> [3]``... (the first number whose name is free), keeps
the path it was listed under in its metadata (``listed_as``, so that artifacts still select it),
and is reported as a problem. A reader may also name an entry itself and give ``listed_as`` (the
iOS backup does so for a row whose fileID does not match its path). Entries of files the listing
did not name (``_unlisted``) are hashed and sealed but never selected by ``glob`` nor returned by
``get`` (unless asked): nothing says which device file they were, so no artifact parses them as one,
and no database takes one as its ``-wal``.

A Merkle leaf is ``path NUL type NUL size NUL sha256`` for an ordinary name (UTF-8, not empty, no
NUL: its first byte is never NUL). A name that is not UTF-8 is shown with ``\\xNN`` escapes, and its
raw bytes travel in its metadata (``path_bytes``, hex); such an entry, and one whose path is empty
or holds a NUL, has a leaf that starts with a NUL byte followed by the length-prefixed path,
raw name, type, size and SHA-256, so that no two entries share a leaf (a raw ``\\xff`` and the four
characters ``\\xff`` differ) and ``manifest.jsonl`` alone gives every leaf back (``leaf_of``).
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
from typing import IO, Any, Protocol

import orjson

from vestige.evidence import sqlite as safe_sqlite
from vestige.evidence.errors import MissingFileError, SchemaManipulatedError, UnexpectedFormatError
from vestige.evidence.hashing import HashTarget, hash_in_order
from vestige.evidence.merkle import MerkleRoot
from vestige.evidence.plist import load_plist_dict
from vestige.evidence.sources import Member, Source
from vestige.evidence.workers import map_in_processes
from vestige.model import JSON, Problem, format_time, int_text, json_tree

Progress = Callable[[int], None]


class PartitionReader(Protocol):
    """Reads the hashed entries of each partition in the process that hashed them (one pass over the
    listing shared by hashing and parsing), and takes the results back in this process."""

    def read(self, part: int, entries: Sequence[EvidenceFile]) -> object:
        """Runs where the partition was hashed; the result must be picklable and small."""

    def absorb(self, reading: object) -> None:
        """Runs in this process, once per partition, in partition order."""


LISTED_AS = "listed_as"
"""Metadata key: the path an entry was listed under, when the manifest names it otherwise."""
PATH_BYTES = "path_bytes"
"""Metadata key: the raw bytes (hex) of a path that is not UTF-8, which the path shows as ``\\xNN``."""
NAME_NOT_UTF8 = "name_not_utf8"
"""Metadata key: True when the entry's name is not UTF-8 (its path shows the bytes as ``\\xNN``)."""
UNLISTED = "unlisted"
"""Metadata key: True for a file the acquisition's own listing does not name (never selected)."""


def leaf(path: str, kind: str, size: int | None, sha256: str | None, raw: bytes | None = None) -> bytes:
    """The Merkle leaf of an entry: path, type, size and SHA-256, NUL-separated; for a name that is not
    UTF-8 (``raw``: its bytes), empty or holding a NUL, a NUL byte then each part length-prefixed."""
    if raw is None and path and "\x00" not in path:
        return f"{path}\x00{kind}\x00{'' if size is None else size}\x00{sha256 or ''}".encode()
    parts = (
        path.encode(),
        raw or b"",
        kind.encode(),
        b"" if size is None else str(size).encode(),
        (sha256 or "").encode(),
    )
    return b"\x00" + b"".join(len(part).to_bytes(8, "big") + part for part in parts)


def path_bytes(metadata: Mapping[str, JSON]) -> bytes | None:
    """The raw bytes of an entry's name when they are not its path's UTF-8 (``PATH_BYTES``)."""
    raw = metadata.get(PATH_BYTES)
    return bytes.fromhex(raw) if isinstance(raw, str) else None


def leaf_of(line: Mapping[str, JSON]) -> bytes:
    """The Merkle leaf of an entry as ``manifest.jsonl`` holds it (one parsed line)."""
    metadata = line.get("metadata")
    size, sha256 = line.get("size"), line.get("sha256")
    return leaf(
        str(line["path"]),
        str(line["type"]),
        size if isinstance(size, int) else None,
        sha256 if isinstance(sha256, str) else None,
        path_bytes(metadata) if isinstance(metadata, Mapping) else None,
    )


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
        """The Merkle leaf of this entry (``leaf``)."""
        return leaf(self.path, self.type, self.size, self.sha256, path_bytes(self.metadata))

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


SpoolRow = (
    tuple[str, str, int | None, str | None, str | None, bytes]
    | tuple[str, str, int | None, str | None, str | None, bytes, bytes | None, str | None, int | None]
)
"""An entry as the spool stores it: path, type, size, SHA-256, stored_as, metadata as JSON; for an
entry out of the ordinary, also the raw bytes of a name that is not UTF-8, the path it was listed
under (when named otherwise), and 1 for an entry of a file the listing did not name. Ordinary
entries, by the hundred thousand, are inserted without the last three (they are NULL)."""


class FileManifest:
    """Every entry of an acquisition with its SHA-256, spooled to a temporary SQLite database."""

    _BATCH = 4096
    _COLUMNS = "path, type, size, sha256, stored_as, metadata"
    _INSERT_ODD = "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"

    def __init__(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="vestige-manifest-"))
        self.path = self._folder / "manifest.sqlite"
        self._owner = self._creator = os.getpid()
        self._connection = sqlite3.connect(str(self.path), check_same_thread=False)
        self._connection.executescript(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
            "CREATE TABLE entries (path TEXT NOT NULL, type TEXT NOT NULL, size INTEGER, sha256 TEXT,"
            " stored_as TEXT, metadata BLOB NOT NULL, raw BLOB, listed TEXT, unlisted INTEGER);"
        )
        self.problems: list[Problem] = []
        self.count = 0
        self.total_bytes = 0
        self._listed = 0  # entries selected by a path other than their own (``listed_as``)
        self._merkle_root: str | None = None

    def build(self, rows: Iterable[SpoolRow]) -> None:
        """Spools the rows, names apart those that share a path, and indexes them by path (the Merkle
        root waits for ``seal``)."""
        batch: list[SpoolRow] = []
        odd: list[SpoolRow] = []
        insert = f"INSERT INTO entries ({self._COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
        count = total = listed = 0
        for row in rows:
            count += 1
            if row[1] == "file" and row[2] is not None:
                total += row[2]
            if len(row) == 6:
                batch.append(row)
                if len(batch) >= self._BATCH:
                    self._db.executemany(insert, batch)
                    batch.clear()
            else:
                odd.append(row)
                listed += row[7] is not None
                if len(odd) >= self._BATCH:
                    self._db.executemany(self._INSERT_ODD, odd)
                    odd.clear()
        self._db.executemany(insert, batch)
        self._db.executemany(self._INSERT_ODD, odd)
        self._db.commit()
        self._db.execute("PRAGMA journal_mode = MEMORY")  # a failed CREATE must roll back, which OFF cannot
        try:
            self._db.execute("CREATE UNIQUE INDEX entries_by_path ON entries (path)")
        except sqlite3.IntegrityError:  # two entries with one path: rare, and never in a genuine acquisition
            listed += self._name_apart()
        if listed:
            self._db.execute("CREATE INDEX entries_by_listing ON entries (listed) WHERE listed IS NOT NULL")
        self._db.commit()
        self.count, self.total_bytes, self._listed = count, total, listed

    def _name_apart(self) -> int:
        """Gives each entry whose path another entry keeps the first free name ``<path> [n]``, keeps the
        path it was listed under, and reports it; returns how many. An ordinary entry keeps its path
        before one out of the ordinary (unlisted, renamed by its reader, or named in bytes that are not
        UTF-8); among alike ones, the first in listing order does (the spool keeps each kind in order)."""
        db = self._db
        db.execute("CREATE INDEX entries_by_path ON entries (path)")
        shared = db.execute(
            "SELECT rowid, path, metadata FROM entries WHERE path IN"
            " (SELECT path FROM entries GROUP BY path HAVING count(*) > 1)"
            " ORDER BY path, raw IS NOT NULL OR listed IS NOT NULL OR unlisted IS NOT NULL, rowid"
        ).fetchall()
        renamed, previous = 0, None
        for rowid, path, metadata in shared:
            if path != previous:  # the first entry with this path keeps it
                previous = path
                continue
            number = 2
            while db.execute("SELECT 1 FROM entries WHERE path = ?", (f"{path} [{number}]",)).fetchone():
                number += 1
            name = f"{path} [{number}]"
            described = orjson.loads(metadata)
            described.setdefault(LISTED_AS, path)
            db.execute(
                "UPDATE entries SET path = ?, metadata = ?, listed = ? WHERE rowid = ?",
                (name, orjson.dumps(described), described[LISTED_AS], rowid),
            )
            self.problems.append(
                Problem("acquisition", name, f"{path}: another entry has the same path; this one is listed as {name}")
            )
            renamed += 1
        db.execute("DROP INDEX entries_by_path")
        db.execute("CREATE UNIQUE INDEX entries_by_path ON entries (path)")
        return renamed

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
        rows = self._db.execute(f"SELECT {self._COLUMNS}, raw FROM entries ORDER BY path")
        for path, kind, size, sha256, stored_as, metadata, raw in rows:
            root.add_leaf(leaf(path, kind, size, sha256, raw))
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
        for row in self._db.execute(f"SELECT {self._COLUMNS} FROM entries ORDER BY path"):
            yield _entry(row)

    def get(self, path: str, *, unlisted: bool = False) -> EvidenceFile | None:
        """The entry named ``path`` (its own path, whatever it was listed under). A file the listing did
        not name is left out unless ``unlisted``: nothing may take it as part of a listed file (a
        database's ``-wal`` beside it, an entry a finding cites), though it is hashed and sealed."""
        query = f"SELECT {self._COLUMNS} FROM entries WHERE path = ?"
        row = self._db.execute(query if unlisted else f"{query} AND unlisted IS NULL", (path,)).fetchone()
        return None if row is None else _entry(row)

    def glob(self, pattern: str) -> list[EvidenceFile]:
        """Entries listed under a path that matches a shell-style pattern (``*`` may span ``/``): their
        own path, or the one they were listed under (``listed_as``); never an unlisted file's."""
        if not any(c in pattern for c in "*?["):
            return self._listed_under(pattern)
        regex = re.compile(fnmatch.translate(pattern))
        prefix = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
        # SQLite's GLOB reads * and ? as fnmatch does (classes differ, so patterns with one are left to
        # the regex alone): it drops the other rows before Python sees them.
        bounds = (prefix, prefix + "\U0010ffff", "[" in pattern, pattern)
        rows = self._db.execute(
            f"SELECT {self._COLUMNS}, path FROM entries WHERE path >= ? AND path < ? AND (? OR path GLOB ?)"
            " AND listed IS NULL AND unlisted IS NULL ORDER BY path",
            bounds,
        ).fetchall()
        if self._listed:
            rows += self._db.execute(
                f"SELECT {self._COLUMNS}, listed FROM entries WHERE listed >= ? AND listed < ?"
                " AND (? OR listed GLOB ?) AND unlisted IS NULL",
                bounds,
            ).fetchall()
            rows.sort(key=_path_of)
        return [_entry(row) for row in rows if regex.fullmatch(row[6])]

    def _listed_under(self, path: str) -> list[EvidenceFile]:
        rows = self._db.execute(
            f"SELECT {self._COLUMNS} FROM entries WHERE path = ? AND listed IS NULL AND unlisted IS NULL", (path,)
        ).fetchall()
        if self._listed:
            rows += self._db.execute(
                f"SELECT {self._COLUMNS} FROM entries WHERE listed = ? AND unlisted IS NULL ORDER BY path", (path,)
            ).fetchall()
        return [_entry(row) for row in rows]

    def close(self) -> None:
        """Closes the spool; only the process that made it removes its folder."""
        self._db.close()
        if os.getpid() == self._creator:
            shutil.rmtree(self._folder, ignore_errors=True)


def _path_of(row: tuple[object, ...]) -> str:
    return str(row[0])


def _entry(row: Sequence[Any]) -> EvidenceFile:
    """An entry from a spool row that starts with ``_COLUMNS``."""
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
        source = self.source
        for member in self._listing()[start:end]:
            metadata: dict[str, JSON] = {} if member.utf8 else name_metadata(source, member.name)
            if member.type == "file":
                yield (
                    EvidenceFile(member.name, "file", None, None, member.name, metadata),
                    source.hash_target(member.name),
                )
            else:
                if member.target is not None:
                    metadata["target"] = member.target
                yield EvidenceFile(member.name, member.type, None, None, None, metadata), None


def name_metadata(source: Source, name: str) -> dict[str, JSON]:
    """What the metadata of an entry named after a member whose name is not UTF-8 says: that it is not,
    and its raw bytes (for its Merkle leaf)."""
    return {NAME_NOT_UTF8: True, PATH_BYTES: source.name_bytes(name).hex()}


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
    listing = acquisition._entries(partition) if entries is None else entries
    rows, problems, hashed = _hashed(listing, unlisted=partition is _UNLISTED)
    if part == 0:
        acquisition._first = {entry.path: entry for entry in hashed}
    reading = reader.read(part, hashed) if reader is not None else None
    return _Hashed(rows, problems, reading)


def _hashed(
    entries: Iterable[tuple[EvidenceFile, HashTarget | None]], unlisted: bool = False
) -> tuple[list[SpoolRow], list[Problem], list[EvidenceFile]]:
    rows: list[SpoolRow] = []
    problems: list[Problem] = []
    hashed: list[EvidenceFile] = []
    dumps = orjson.dumps
    outside = 1 if unlisted else None
    for entry, result in hash_in_order(entries):
        size, digest = entry.size, entry.sha256
        if isinstance(result, OSError):
            reason = f"{entry.path}: cannot be read ({result.strerror or result})"
            problems.append(Problem("acquisition", entry.path, reason))
        elif result is not None:
            size, digest = result
        # A copy to the exact size: orjson's own buffer is a few KiB larger than the text it holds.
        described = entry.metadata
        try:
            metadata = bytes(memoryview(dumps(described)))
        except TypeError:  # a value JSON cannot hold (a 128-bit size in a crafted MBFile): kept as text
            metadata = bytes(memoryview(dumps(json_tree(described, _json_scalar))))
        raw, listed = described.get(PATH_BYTES), described.get(LISTED_AS)
        if raw is None and listed is None and outside is None:
            rows.append((entry.path, entry.type, size, digest, entry.stored_as, metadata))
        else:
            raw_bytes = None if raw is None else bytes.fromhex(str(raw))
            listed_as = None if listed is None else str(listed)
            rows.append(
                (entry.path, entry.type, size, digest, entry.stored_as, metadata, raw_bytes, listed_as, outside)
            )
        hashed.append(EvidenceFile(entry.path, entry.type, size, digest, entry.stored_as, entry.metadata))
    return rows, problems, hashed


def _json_scalar(value: object) -> object:
    """A metadata value orjson can write: an integer beyond 64 bits as its text, anything else as is
    (or its text, when orjson would refuse it)."""
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else int_text(value)
    return str(value)
