"""Reading the bytes of an acquisition, whatever its shape: a folder, one file, or a zip or tar archive.

An acquisition arrives as a folder (an iOS backup), a single file (a pcap, a QMDL log), an archive (an
Android bug report zip, a zipped iOS backup, a tar of a file-system dump, compressed or not) or an
archive inside a folder (androidqf's ``bugreport.zip``). ``open_source`` tells them apart by their
content, never by their name, and gives a ``Source``: its members sorted by name (relative POSIX
names) and a way to read each, so that the readers above this layer need not know the shape.

Evidence is never written (ARCHITECTURE.md principle 1): nothing is created, changed or locked next to
the acquisition. The only folder written is the source's private scratch folder (``vestige-source-*``
in the system's temporary folder), made on first need and removed by ``close``: copies of archive
members for SQLite, which needs a real file, and the members of a compressed tar.

Every byte is written by an adversary. A folder's symbolic links are listed, never entered or opened.
Archive members that could land outside the archive (absolute names, ``..``, links that leave it),
encrypted members and duplicate names are refused: left out and reported in ``problems``. Archives are
read within ``ArchiveLimits`` (how many members, how many bytes, how far a member or a stream may
expand), and a stream never yields more bytes than its member declares. Streams raise only ``OSError``
on corrupt data, which the hashing layer reports as an unreadable file.

Formats: zip as PKWARE's APPNOTE.TXT describes it, read with ``zipfile`` (stored and deflated members:
the two whose decompression ``zipfile`` bounds); tar in its ustar, pax and GNU forms, read with
``tarfile``, plain or compressed with gzip, bzip2 or xz.
"""

from __future__ import annotations

import abc
import bz2
import errno
import functools
import gzip
import hashlib
import io
import itertools
import lzma
import os
import posixpath
import re
import shutil
import stat
import tarfile
import tempfile
import threading
import zipfile
import zlib
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, ClassVar, NamedTuple, TypeVar, cast

from vestige.evidence.errors import CorruptArchiveError, MissingFileError, NotAnAcquisitionError
from vestige.model import Problem

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

CHUNK = 1 << 20
"""Bytes copied or decompressed at a time."""

_STREAM_BUFFER = 1 << 16
_LINK_MAX = 4096  # PATH_MAX: a longer link target is not a real one
_TAR_READ_MAX = 64 << 20  # the largest single read a tar header may ask for (a pax header, a GNU long name)
_SHARD = 4096  # extracted tar members per scratch sub-folder
_UNIX = 3  # ZipInfo.create_system of an archive whose external attributes hold a Unix mode
_ENCRYPTED = 0x1  # general purpose bit 0
_UTF8_NAME = 0x800  # general purpose bit 11: the name is UTF-8
_READABLE_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive's end record
_COMPRESSION_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"))
_DRIVE = re.compile(r"[A-Za-z]:(?:$|[/\\])")
_READ_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    tarfile.TarError,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    NotImplementedError,
    UnicodeDecodeError,
    ValueError,  # tarfile on a malformed sparse map or number field
)
"""What ``zipfile``, ``tarfile`` and the decompressors raise on corrupt data, besides ``OSError``."""
_DAMAGE_ERRORS: tuple[type[Exception], ...] = (*_READ_ERRORS, OSError)

_S = TypeVar("_S", bound="Source")
_H = TypeVar("_H", bound="_CheckedHeader")


def name_text(name: str) -> tuple[str, bool]:
    """A file name as UTF-8 text, and whether it already was. ``os`` gives the bytes of a name that is
    not UTF-8 as surrogates, which no manifest can hold; they are shown as ``\\xNN`` escapes."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace"), False
    return name, True


class Member(NamedTuple):
    """One member of a source. ``name`` is a relative POSIX path inside the source, with no ``.``,
    ``..`` or empty components and no NUL; ``type`` is ``file``, ``directory``, ``symlink``,
    ``hardlink`` or ``other`` (a FIFO, a device). ``size`` is the size of a file as its archive declares
    it, or a single file's own size; None for a folder member (the listing does not stat each file) and
    for anything but a file. ``target`` is a link's target as stored. ``utf8`` is False when the name
    on disk is not UTF-8 (``name`` then shows its bytes as ``\\xNN``; the member can still be read).
    A named tuple rather than a frozen dataclass: a folder of a phone lists hundreds of thousands, and a
    tuple is made several times faster."""

    name: str
    type: str
    size: int | None
    target: str | None = None
    utf8: bool = True


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """How far reading an archive may go. ``max_total_bytes`` counts the uncompressed bytes of all
    members; ``max_ratio`` is uncompressed over compressed bytes, checked only from ``ratio_floor``
    uncompressed bytes on: real dumps hold zero-filled files of a few MB (preallocated logs, SQLite
    free pages) that deflate near its 1,032:1 limit, and expanding them does no harm."""

    max_members: int = 5_000_000
    max_total_bytes: int = 1 << 40
    max_ratio: float = 1_000.0
    ratio_floor: int = 64 << 20


class ArchiveReadError(OSError):
    """An archive member whose bytes cannot be read: corrupt compressed data, a failed CRC, a truncated
    archive. It is an ``OSError`` because the hashing layer reports an ``OSError`` as an unreadable file
    and carries on; what ``zipfile``, ``tarfile`` and the decompressors raise becomes this."""


class Source(abc.ABC):
    """The members of an acquisition and their bytes, read without writing next to them.

    ``location`` is the folder, file or archive file as given; ``label`` names it in problems and
    messages (its file name, or ``outer/inner.zip`` for a nested archive). A listing is made once, on
    first use; ``problems`` holds a ``Problem`` for each member refused and each limit met.
    """

    shape: ClassVar[str]

    def __init__(self, location: Path, limits: ArchiveLimits | None = None, label: str | None = None) -> None:
        self.location = location
        self.limits = limits or ArchiveLimits()
        self.label = label or location.name or str(location)
        self.scope = ""  # where a nested archive sits in the acquisition ("bugreport.zip"); "" for the whole
        self.problems: list[Problem] = []
        self._root: Source = self  # the source whose listing, handles and scratch folder a view uses
        self._prefix = ""
        self._found: dict[str, Member] | None = None
        self._sorted: list[Member] = []
        self._scratch: Path | None = None
        self._scratch_creator = 0
        self._children: list[Source] = []
        self._raw_names: dict[str, bytes] = {}  # member name -> its bytes as stored, for names not UTF-8
        self._lock = threading.RLock()
        self._lock_pid = os.getpid()

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def prefix(self) -> str:
        """The folder (ending in ``/``) that a view given by ``within`` shows, or ``""``."""
        return self._prefix

    @property
    def _in(self) -> str:
        """How problems and read errors begin: the nested archive they are in, or nothing. Never the
        name of the file or folder given, which is not part of the acquisition (the same bytes under
        another name give the same findings)."""
        return f"{self.scope}: " if self.scope else ""

    @property
    def root(self) -> Source:
        """The source a view shows part of (a source is its own root): what the owner of a view closes."""
        return self._root

    def members(self) -> Iterator[Member]:
        """Every member, sorted by name; refused members are left out (and reported once)."""
        ordered = self._root._listing_sorted()
        if not self._prefix:
            return iter(ordered)
        return self._members_within(ordered)

    def _members_within(self, ordered: list[Member]) -> Iterator[Member]:
        start = bisect_left(ordered, self._prefix, key=_name_of)
        for member in itertools.islice(ordered, start, None):
            if not member.name.startswith(self._prefix):
                break
            yield self._relative(member)

    def member(self, name: str) -> Member | None:
        found = self._root._listing().get(self._prefix + name)
        return None if found is None else self._relative(found)

    def has_file(self, name: str) -> bool:
        """Whether ``name`` is a file member."""
        found = self.member(name)
        return found is not None and found.type == "file"

    def file_names(self) -> Iterator[str]:
        """The names of the file members, sorted."""
        return (member.name for member in self.members() if member.type == "file")

    def links(self) -> list[Member]:
        """The members that are neither files nor folders (symbolic and hard links, FIFOs, devices),
        sorted by name: listed as what they are, never opened."""
        return [member for member in self.members() if member.type not in ("file", "directory")]

    def subfolders(self) -> list[str]:
        """The names of the folders at the top of this source (or view), sorted: those listed, and those
        an archive names only in the paths of its members."""
        found: set[str] = set()
        for member in self.members():
            head, separator, _ = member.name.partition("/")
            if separator or member.type == "directory":
                found.add(head)
        return sorted(found)

    def open(self, name: str) -> IO[bytes]:
        """A binary stream of a file member's bytes."""
        return self._root._open(self._file_member(name))

    def hash_target(self, name: str) -> str | Callable[[], IO[bytes]]:
        """What the hashing layer reads: the path of a plain file holding the member's bytes (a folder's
        file, a copy already made), or else a function that opens a stream of them."""
        member = self._file_member(name)
        root = self._root
        path = root._plain_text(member)
        return path if path is not None else functools.partial(root._open, member)

    def local_path(self, name: str) -> Path:
        """A real file holding the member's bytes (SQLite needs one): in place for a folder or a file,
        else a private copy in the scratch folder, made once."""
        member = self._file_member(name)
        root = self._root
        return root._plain_file(member) or root._copy(member)

    def name_bytes(self, name: str) -> bytes:
        """A member's name as stored, in bytes: what a name shown with ``\\xNN`` escapes really is (a
        Merkle leaf is made of it, so that a raw ``\\xff`` and the four characters differ)."""
        root = self._root
        full = root._stored_name(self._prefix + name)
        if not self._prefix:
            return full
        return full[len(root._stored_name(self._prefix[:-1])) + 1 :]

    def _stored_name(self, name: str) -> bytes:
        return self._raw_names.get(name) or name.encode()

    def _note_name(self, stored: str) -> str:
        """``_normal_name`` of an archive member's stored name, keeping its bytes when not UTF-8."""
        name = _normal_name(stored)
        if not name_text(stored)[1]:
            parts = (part for part in stored.split("/") if part not in ("", "."))
            self._raw_names[name] = "/".join(parts).encode("utf-8", "surrogateescape")
        return name

    def within(self, prefix: str) -> Source:
        """A view of the members under folder ``prefix`` (``UDID/`` in a zip of an iOS backup), named
        relative to it. It shares this source's listing, problems and handles; closing it closes nothing."""
        parts = [part for part in prefix.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise ValueError(f"{prefix}: a folder inside a source cannot climb out of it with '..'")
        view = type(self).__new__(type(self))
        view._view_of(self, "".join(part + "/" for part in parts))
        return view

    def nested(self, name: str) -> Source:
        """The archive stored as file member ``name`` (androidqf's ``bugreport.zip``), read with the same
        limits: in place from a folder, from a private copy out of an archive. Each call opens it anew;
        this source closes it with itself."""
        member = self._file_member(name)
        root = self._root
        path = self.local_path(name)
        label = f"{root.label}/{member.name}"
        scope = f"{root.scope}/{member.name}" if root.scope else member.name
        child = _archive_source(path, root.limits, label, scope)
        if child is None:
            raise CorruptArchiveError(f"{label}: not a zip or tar archive")
        root._children.append(child)
        return child

    def close(self) -> None:
        """Closes what this source opened and removes its scratch folder (only in the process that made
        it: a forked worker leaves its parent's). A view closes nothing."""
        if self._root is not self:
            return
        while self._children:
            self._children.pop().close()
        if self._scratch is not None and self._scratch_creator == os.getpid():
            shutil.rmtree(self._scratch, ignore_errors=True)
        self._scratch = None

    # What each shape provides; called on the root source, with members named from the root.

    @abc.abstractmethod
    def _scan(self, census: _Census) -> None:
        """Finds every member, once, handing each to the census."""

    @abc.abstractmethod
    def _open(self, member: Member) -> IO[bytes]:
        """A stream of a file member's bytes."""

    def _reachable(self, member: Member) -> bool:
        """Whether a listed file can be opened by its name."""
        return True

    def _plain_text(self, member: Member) -> str | None:
        """``_plain_file`` as text, which the hashing layer takes by the hundred thousand."""
        path = self._plain_file(member)
        return None if path is None else os.fspath(path)

    def _plain_file(self, member: Member) -> Path | None:
        """A plain file that already holds the member's bytes (here: a copy made by ``_copy``)."""
        if self._scratch is None:
            return None
        copy = _copy_path(self._scratch, member)
        return copy if copy.exists() else None

    # Shared machinery.

    def _view_of(self, parent: Source, prefix: str) -> None:
        root = parent._root
        self.location, self.limits, self.label, self.problems = root.location, root.limits, root.label, root.problems
        self.scope = root.scope
        self._root, self._prefix = root, parent._prefix + prefix

    def _relative(self, member: Member) -> Member:
        if not self._prefix:
            return member
        return Member(member.name[len(self._prefix) :], member.type, member.size, member.target, member.utf8)

    def _file_member(self, name: str) -> Member:
        root = self._root
        member = root._listing().get(self._prefix + name)
        if member is None or member.type != "file" or not root._reachable(member):
            raise MissingFileError(f"{root._in}{self._prefix + name}: no such file")
        return member

    def _listing(self) -> dict[str, Member]:
        """The members by name, listed on first use (in one thread, once)."""
        found = self._found
        if found is None:
            with self._guard():
                found = self._found
                if found is None:
                    found = self._list()
        return found

    def _listing_sorted(self) -> list[Member]:
        self._listing()
        return self._sorted

    def _list(self) -> dict[str, Member]:
        census = _Census(self)
        try:
            self._scan(census)
        except _OverLimitError as limit:
            self.problems.append(Problem(artifact="acquisition", path=self.scope or ".", reason=limit.reason))
        self._order(census.found)
        self._found = census.found  # last: a thread that sees it sees the order too
        return census.found

    def _order(self, found: dict[str, Member]) -> None:
        """Keeps the members in name order for ``members``."""
        self._sorted = sorted(found.values(), key=_name_of)

    def _guard(self) -> threading.RLock:
        """This process's lock for work done once (listing, opening, the scratch folder): a forked worker
        may inherit a lock that another of its parent's threads held."""
        if self._lock_pid != os.getpid():
            self._lock, self._lock_pid = threading.RLock(), os.getpid()
        return self._lock

    def _scratch_folder(self) -> Path:
        with self._guard():
            if self._scratch is None:
                self._scratch = Path(tempfile.mkdtemp(prefix="vestige-source-"))
                self._scratch_creator = os.getpid()
            return self._scratch

    def _copy(self, member: Member) -> Path:
        """A private copy of a file member, made once. It is written under a name of its own and renamed
        into place whole, so threads and forked workers that copy the same member at once all see a
        complete file."""
        target = _copy_path(self._scratch_folder(), member)
        if target.exists():
            return target
        target.parent.mkdir(exist_ok=True)
        partial = target.with_name(f"{target.name}.{os.getpid()}-{threading.get_ident()}")
        try:
            with self._open(member) as stream, partial.open("xb") as copy:
                shutil.copyfileobj(stream, copy, CHUNK)
            partial.replace(target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return target


class FolderSource(Source):
    """A folder read in place (an iOS backup, an androidqf dump). It is walked once with ``os.scandir``,
    one call per folder and no ``stat`` per file; symbolic links are listed with their target, never
    entered or opened. A name that is not UTF-8 is listed with ``\\xNN`` escapes (``utf8`` False) and
    read under its real name.

    A phone's folder holds hundreds of thousands of regular files with plain names: the listing keeps
    those as names only (``_files``), and a ``Member`` for everything else, so that it stays small in
    the process that forks the workers and the workers' lookups write to none of its objects."""

    shape = "folder"

    def __init__(self, location: Path, limits: ArchiveLimits | None = None, label: str | None = None) -> None:
        super().__init__(location, limits, label)
        self._real: dict[str, str] = {}  # escaped member name -> the name on disk, for names not UTF-8
        self._files: set[str] = set()  # regular files with plain names, the members not in _found
        self._names: list[str] = []  # every member's name, sorted
        self._base = os.fspath(location).rstrip("/") + "/"  # a member's path is one concatenation

    @property
    def _folder(self) -> FolderSource:
        """The folder source a view of a folder shows part of (listed): where the names are kept."""
        root = cast(FolderSource, self._root)
        if root._found is None:
            root._listing()
        return root

    def members(self) -> Iterator[Member]:
        root = self._folder
        names, prefix = root._names, self._prefix
        start = bisect_left(names, prefix) if prefix else 0
        for name in itertools.islice(names, start, None):
            if prefix and not name.startswith(prefix):
                break
            yield self._relative(root._member_of(name))

    def member(self, name: str) -> Member | None:
        root = self._folder
        full = self._prefix + name
        if full not in root._files and full not in root._listing():
            return None
        return self._relative(root._member_of(full))

    def has_file(self, name: str) -> bool:
        root = self._folder
        full = self._prefix + name
        if full in root._files:
            return True
        member = root._listing().get(full)
        return member is not None and member.type == "file"

    def file_names(self) -> Iterator[str]:
        root = self._folder
        names, prefix, files, found = root._names, self._prefix, root._files, root._listing()
        start = bisect_left(names, prefix) if prefix else 0
        for name in itertools.islice(names, start, None):
            if prefix and not name.startswith(prefix):
                break
            if name in files or found[name].type == "file":
                yield name[len(prefix) :]

    def links(self) -> list[Member]:
        # Only the members kept as ``Member`` can be links: not the plain files, by the hundred thousand.
        root, prefix = self._folder, self._prefix
        found = [
            self._relative(member)
            for name, member in root._listing().items()
            if name.startswith(prefix) and member.type not in ("file", "directory")
        ]
        return sorted(found, key=_name_of)

    def local_path(self, name: str) -> Path:
        """The file in place, checked again not to be a symbolic link: SQLite opens it by its path, so a
        file swapped for a link since the listing would be followed (a checked file swapped in the
        moment before SQLite opens it is beyond any check by path)."""
        path = super().local_path(name)
        status = os.lstat(path)
        if not stat.S_ISREG(status.st_mode):
            target = _link_target(os.fspath(path)) if stat.S_ISLNK(status.st_mode) else None
            what = f"a symbolic link to {target}" if target is not None else "not a regular file"
            raise OSError(errno.ELOOP, f"{_shown(self._prefix + name)} is now {what}; vestige does not follow it")
        return path

    def _member_of(self, name: str) -> Member:
        return Member(name, "file", None) if name in self._files else self._listing()[name]

    def _file_member(self, name: str) -> Member:
        root = self._folder
        full = self._prefix + name
        if full in root._files:
            return Member(full, "file", None)
        return super()._file_member(name)

    def hash_target(self, name: str) -> str | Callable[[], IO[bytes]]:
        """The file's path (the hashing layer asks for one per file of the folder)."""
        root, full = self._folder, self._prefix + name
        if full in root._files:
            return root._base + full
        return super().hash_target(name)  # lists first, reads a file with an escaped name, or names what is missing

    def _order(self, found: dict[str, Member]) -> None:
        self._names = sorted([*self._files, *found])

    def _scan(self, census: _Census) -> None:
        pending = [(os.fspath(self.location), "", "")]
        files = self._files
        while pending:
            folder, prefix, real_prefix = pending.pop()
            try:
                with os.scandir(folder) as listing:
                    entries = list(listing)
                if not all(entry.name.isascii() for entry in entries):
                    entries.sort(key=_entry_name)  # a fixed order, so names that escape alike resolve alike
            except OSError as error:
                shown = _shown(prefix.rstrip("/") or ".")
                reason = f"{self._in}folder {shown} cannot be read ({error.strerror}); its contents were not listed"
                census.note(shown, reason)
                continue
            plain = prefix == real_prefix  # every folder above has a UTF-8 name
            found = census.found
            for entry in entries:
                raw = entry.name
                if plain and raw.isascii() and entry.is_file(follow_symlinks=False):
                    name = prefix + raw
                    if name not in found and name not in files:  # the common case, by the hundred thousand
                        files.add(name)
                        continue
                text, clean = (raw, True) if raw.isascii() else name_text(raw)
                if not clean:
                    text = self._free_name(prefix, text, census)
                member = _folder_member(entry, prefix + text, clean and plain)
                if member.name in files or not census.admit(member):
                    if member.name in files:
                        census.refuse(member.name, "another member has the same name, and the first one was kept")
                    continue
                if not (clean and plain):
                    self._real[member.name] = real_prefix + raw
                if member.type == "directory":
                    pending.append((entry.path, member.name + "/", real_prefix + raw + "/"))

    def _free_name(self, prefix: str, text: str, census: _Census) -> str:
        """The name of a member whose name is not UTF-8: its escaped text, or, when that spells the name
        of a member already listed (a raw ``\\xff`` beside the four characters ``\\xff``, which sort
        first), the first free ``<name> [n]``, reported: both are kept, neither replaces the other."""
        name, number = prefix + text, 2
        while name in self._files or name in census.found:
            name = f"{prefix}{text} [{number}]"
            number += 1
        if number > 2:
            shown = _shown(prefix + text)
            census.note(
                _shown(name),
                f"{self._in}{shown}: a name that is not UTF-8 whose escapes spell another member's name;"
                f" listed as {_shown(name)}",
            )
        return name[len(prefix) :]

    def _stored_name(self, name: str) -> bytes:
        return os.fsencode(self._real.get(name, name))

    def _on_disk(self, member: Member) -> str:
        return self._base + self._real.get(member.name, member.name)

    def _plain_text(self, member: Member) -> str:
        return self._on_disk(member)

    def _plain_file(self, member: Member) -> Path:
        return Path(self._on_disk(member))

    def _open(self, member: Member) -> IO[bytes]:
        # O_NOFOLLOW: a file swapped for a link since the listing is not followed either.
        descriptor = os.open(self._on_disk(member), os.O_RDONLY | os.O_NOFOLLOW)
        return os.fdopen(descriptor, "rb")


class FileSource(Source):
    """A single file (a pcap, a QMDL log): one member named after the file."""

    shape = "file"

    def _scan(self, census: _Census) -> None:
        census.admit(Member(name_text(self.location.name)[0], "file", self.location.stat().st_size))

    def _plain_file(self, member: Member) -> Path:
        return self.location

    def _open(self, member: Member) -> IO[bytes]:
        return self.location.open("rb")


class ZipSource(Source):
    """A zip archive, read in place with ``zipfile``. Members are refused for an absolute name, a ``..``
    component, a NUL, encryption, a declared expansion beyond ``max_ratio``, a link leaving the archive
    or a name already taken. Only stored and deflated members can be opened: ``zipfile`` decompresses
    bzip2 and LZMA data without bounding the output, so one crafted block could fill the memory; such
    members are listed, and opening one raises ``ArchiveReadError``."""

    shape = "archive"

    def __init__(self, location: Path, limits: ArchiveLimits | None = None, label: str | None = None) -> None:
        super().__init__(location, limits, label)
        self._infos: dict[str, zipfile.ZipInfo] = {}
        self._handle = self._open_zip()
        self._handle_pid = os.getpid()

    def _open_zip(self) -> zipfile.ZipFile:
        try:
            return zipfile.ZipFile(self.location)
        except (zipfile.BadZipFile, EOFError, ValueError) as error:
            raise CorruptArchiveError(f"{self.label}: not a readable zip archive ({error})") from None

    @property
    def _zip(self) -> zipfile.ZipFile:
        """This process's handle. A forked worker opens its own: the inherited one shares its file offset
        with the parent's, so reads in one process would move the other's."""
        if self._handle_pid != os.getpid():
            with self._guard():
                if self._handle_pid != os.getpid():
                    self._handle = self._open_zip()
                    self._handle_pid = os.getpid()
        return self._handle

    def _scan(self, census: _Census) -> None:
        for info in self._zip.infolist():
            census.enter()
            member = self._zip_member(info, census)
            if member is not None and census.admit(member):
                self._infos[member.name] = info

    def _zip_member(self, info: zipfile.ZipInfo, census: _Census) -> Member | None:
        stored = _zip_name(info)
        fault = _name_fault(stored)
        if fault is not None:
            census.refuse(stored, fault)
            return None
        name = self._note_name(stored)
        mode = info.external_attr >> 16 if info.create_system == _UNIX else 0
        if stored.endswith("/") or stat.S_ISDIR(mode):
            return Member(name, "directory", None) if name else None
        if not name:
            census.refuse(stored, "its name is empty")
            return None
        if info.flag_bits & _ENCRYPTED:
            census.refuse(stored, "it is encrypted")
            return None
        if stat.S_ISLNK(mode):
            return self._zip_link(info, name, census)
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            return Member(name, "other", None)
        limits = self.limits
        if info.file_size >= limits.ratio_floor and info.file_size > limits.max_ratio * info.compress_size:
            census.refuse(
                stored,
                f"it declares {info.file_size} bytes from {info.compress_size} compressed, more than"
                f" {limits.max_ratio:g} times (a decompression bomb)",
            )
            return None
        return Member(name, "file", info.file_size, None, name_text(stored)[1])

    def _zip_link(self, info: zipfile.ZipInfo, name: str, census: _Census) -> Member | None:
        """A symbolic link member: its content is the target."""
        if info.file_size > _LINK_MAX:
            census.refuse(_zip_name(info), f"its link target is longer than {_LINK_MAX} bytes")
            return None
        try:
            with self._member_stream(info, name) as stream:
                target = name_text(os.fsdecode(stream.read()))[0]
        except OSError as error:
            census.refuse(_zip_name(info), f"its link target cannot be read ({error})")
            return None
        fault = _link_fault(name, target, hard=False)
        if fault is not None:
            census.refuse(_zip_name(info), fault)
            return None
        return Member(name, "symlink", None, target)

    def _open(self, member: Member) -> IO[bytes]:
        return self._member_stream(self._infos[member.name], member.name)

    def _member_stream(self, info: zipfile.ZipInfo, name: str) -> IO[bytes]:
        what = f"{self._in}member {_shown(name)}"
        if info.compress_type not in _READABLE_ZIP_METHODS:
            raise ArchiveReadError(
                f"{what} is compressed with method {info.compress_type}, which vestige does not decompress"
                " (its output cannot be bounded)"
            )
        try:
            inner = self._zip.open(info)
        except _READ_ERRORS as error:
            raise ArchiveReadError(f"{what} cannot be read ({error})") from error
        return _bounded(inner, info.file_size, what)

    def close(self) -> None:
        super().close()
        if self._root is self:
            self._handle.close()


class TarSource(Source):
    """A tar archive, plain or compressed with gzip, bzip2 or xz, read with ``tarfile`` in one forward
    pass on first use. Members are refused as in a zip (an absolute name, ``..``, a NUL, a link leaving
    the archive, a name already taken); hard links are listed with their target and no content,
    devices and FIFOs as ``other``.

    A compressed tar is decompressed exactly once: that pass extracts every regular file into the
    scratch folder (numbered files, never links or special files), counting decompressed bytes, and
    stops at ``max_total_bytes`` or when they pass ``max_ratio`` times the compressed file's size. A
    plain tar is read in place through each member's offset (no copy of a file-system dump), except
    sparse members, which the pass extracts.
    """

    shape = "archive"

    def __init__(self, location: Path, limits: ArchiveLimits | None = None, label: str | None = None) -> None:
        super().__init__(location, limits, label)
        kind = _tar_kind(location)
        if kind is None:
            raise CorruptArchiveError(f"{self.label}: not a tar archive (its first header is not a tar header)")
        self._compression = None if kind == "tar" else kind
        self._in_place: dict[str, tuple[int, int]] = {}  # offset and size of a plain tar's member
        self._extracted: dict[str, Path] = {}

    def _scan(self, census: _Census) -> None:
        with self.location.open("rb") as raw:
            compressed_size = os.fstat(raw.fileno()).st_size
            inner = raw if self._compression is None else _decompressing(self._compression, raw)
            with _TarFeed(inner, None if self._compression is None else compressed_size, self) as feed:
                self._pass(feed, census)

    def _pass(self, feed: _TarFeed, census: _Census) -> None:
        """Reads every header, and the content of the members it extracts; damage ends the pass with a
        problem naming the entry (header or content) where reading stopped."""
        number = 1
        try:
            archive = tarfile.TarFile(
                fileobj=feed, mode="r", tarinfo=_CheckedHeader, encoding="utf-8", errors="surrogateescape"
            )
            while (info := archive.next()) is not None:
                _forget_headers(archive)
                number = census.enter()
                self._take(archive, info, number, census)
                number += 1
        except _DAMAGE_ERRORS as error:
            census.note(self.scope or ".", f"{self._in}reading stopped at entry {number} ({error})")

    def _take(self, archive: tarfile.TarFile, info: tarfile.TarInfo, number: int, census: _Census) -> None:
        member = self._tar_member(info, census)
        if member is None or not census.admit(member) or member.type != "file":
            return
        if self._compression is None and not info.issparse():
            self._in_place[member.name] = (info.offset_data, info.size)
            return
        folder = self._scratch_folder() / "members" / str(number // _SHARD)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / str(number)
        try:
            stream = archive.extractfile(info)
            if stream is None:  # not for a regular file; checked for the type checker
                raise ArchiveReadError(f"member {_shown(member.name)} has no content")
            with stream, target.open("xb") as copy:
                shutil.copyfileobj(stream, copy, CHUNK)
        except BaseException:
            target.unlink(missing_ok=True)
            census.withdraw(member)
            raise
        self._extracted[member.name] = target

    def _tar_member(self, info: tarfile.TarInfo, census: _Census) -> Member | None:
        stored = info.name
        fault = _name_fault(stored)
        if fault is not None:
            census.refuse(stored, fault)
            return None
        name = self._note_name(stored)
        if info.isdir():
            return Member(name, "directory", None) if name else None  # "./" is the archive's own root
        if not name:
            census.refuse(stored, "its name is empty")
            return None
        if info.issym() or info.islnk():
            fault = _link_fault(name, info.linkname, hard=info.islnk())
            if fault is not None:
                census.refuse(stored, fault)
                return None
            return Member(name, "symlink" if info.issym() else "hardlink", None, name_text(info.linkname)[0])
        if info.isreg() and info.issparse():
            # Extracting one writes its holes in full: a few KB of tar could fill the disk.
            census.refuse(stored, "it is a sparse file, which vestige does not extract")
            return None
        if info.isreg():
            return Member(name, "file", info.size, None, name_text(stored)[1])
        return Member(name, "other", None)

    def _plain_file(self, member: Member) -> Path | None:
        return self._extracted.get(member.name) or super()._plain_file(member)

    def _open(self, member: Member) -> IO[bytes]:
        extracted = self._extracted.get(member.name)
        if extracted is not None:
            return extracted.open("rb")
        offset, size = self._in_place[member.name]
        raw = self.location.open("rb")
        raw.seek(offset)
        return _bounded(raw, size, f"{self._in}member {_shown(member.name)}")


def open_source(path: Path, limits: ArchiveLimits | None = None) -> Source:
    """The source at ``path``, by content: a folder; a zip; a tar (plain, gzip, bzip2 or xz); any
    other file as a single member. A gzip file that does not hold a tar is a single file."""
    if not path.exists():
        raise NotAnAcquisitionError(f"{path}: no such file or folder")
    if path.is_dir():
        return FolderSource(path, limits)
    if not path.is_file():
        raise NotAnAcquisitionError(f"{path}: neither a regular file nor a folder")
    archive = _archive_source(path, limits, None)
    return archive if archive is not None else FileSource(path, limits)


def _archive_source(path: Path, limits: ArchiveLimits | None, label: str | None, scope: str = "") -> Source | None:
    """A zip or tar source for the file at ``path`` (``scope``: where it sits in the acquisition, for a
    nested one), or None when it is neither."""
    with path.open("rb") as stream:
        head = stream.read(4)
    source: Source
    if head in _ZIP_MAGIC:
        source = ZipSource(path, limits, label)
    elif _tar_kind(path) is not None:
        source = TarSource(path, limits, label)
    else:
        return None
    source.scope = scope
    return source


def _tar_kind(path: Path) -> str | None:
    """``tar`` for a tar, ``gzip``, ``bzip2`` or ``xz`` for a tar compressed so, or None: the first
    block, decompressed if need be, must be a tar header with a valid checksum. A block of zeros is
    not one, so an empty tar (or a file of zeros) is not taken for an archive."""
    with path.open("rb") as raw:
        head = raw.read(6)
        raw.seek(0)
        kind = next((name for magic, name in _COMPRESSION_MAGIC if head.startswith(magic)), None)
        if kind is None:
            return "tar" if _is_tar_header(raw.read(tarfile.BLOCKSIZE)) else None
        try:
            with _decompressing(kind, raw) as stream:
                block = stream.read(tarfile.BLOCKSIZE)
        except _DAMAGE_ERRORS:
            return None
        return kind if _is_tar_header(block) else None


def _is_tar_header(block: bytes) -> bool:
    if len(block) != tarfile.BLOCKSIZE:
        return False
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def _decompressing(kind: str, raw: IO[bytes]) -> io.BufferedIOBase:
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if kind == "bzip2":
        return bz2.BZ2File(raw)
    return lzma.LZMAFile(raw)


class _OverLimitError(Exception):
    """A limit of ``ArchiveLimits`` was met: the listing stops, with ``reason`` as its problem."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Census:
    """One listing in progress: the members admitted so far, counted against the limits of an archive,
    and a problem for each member refused."""

    def __init__(self, source: Source) -> None:
        self.prefix, self.limits, self.problems = source._in, source.limits, source.problems
        self.bounded = source.shape == "archive"
        self.found: dict[str, Member] = {}
        self.entries = 0
        self.total = 0

    def enter(self) -> int:
        """Counts one more stored entry and returns its number; past ``max_members`` the listing stops."""
        self.entries += 1
        if self.entries > self.limits.max_members:
            raise _OverLimitError(f"{self.prefix}more than {self.limits.max_members} members; the rest were not read")
        return self.entries

    def admit(self, member: Member) -> bool:
        """Takes a member unless its name is taken; past ``max_total_bytes`` the listing stops."""
        if member.name in self.found:
            self.refuse(member.name, "another member has the same name, and the first one was kept")
            return False
        if self.bounded and member.type == "file" and member.size is not None:
            self.total += member.size
            if self.total > self.limits.max_total_bytes:
                raise _OverLimitError(
                    f"{self.prefix}its members declare more than {self.limits.max_total_bytes} bytes in all;"
                    " the rest were not read"
                )
        self.found[member.name] = member
        return True

    def withdraw(self, member: Member) -> None:
        """Takes back a member whose content could not be read whole."""
        del self.found[member.name]
        self.total -= member.size or 0

    def refuse(self, stored: str, why: str) -> None:
        shown = _shown(stored)
        self.note(shown, f"{self.prefix}member {shown} was refused: {why}")

    def note(self, path: str, reason: str) -> None:
        self.problems.append(Problem(artifact="acquisition", path=path, reason=reason))


class _MemberStream(io.RawIOBase):
    """The bytes of one archive member: exactly as many as it declares, or an ``ArchiveReadError``.
    Whatever a decompressor makes of crafted data, no more than the declared size comes out, and what
    ``zipfile``, ``tarfile`` and the decompressors raise on corrupt data becomes an ``OSError``."""

    def __init__(self, inner: IO[bytes], size: int, what: str) -> None:
        super().__init__()
        self._inner, self._size, self._left, self._what = inner, size, size, what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._left)
        if want == 0:
            return 0
        try:
            data = self._inner.read(want)
        except _READ_ERRORS as error:
            raise ArchiveReadError(f"{self._what} cannot be read ({error})") from error
        if not data:
            raise ArchiveReadError(f"{self._what} ends after {self._size - self._left} of its {self._size} bytes")
        count = len(data)
        view[:count] = data
        self._left -= count
        return count

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


def _bounded(inner: IO[bytes], size: int, what: str) -> IO[bytes]:
    return io.BufferedReader(_MemberStream(inner, size, what), _STREAM_BUFFER)


class _TarFeed(io.RawIOBase):
    """A tar's bytes as ``tarfile`` reads them, in one forward pass. Seeking backwards is refused (it
    would decompress again from the start); skipping forward through a compressed stream is reading, so
    every decompressed byte is counted against the limits; and no single read may ask for more than
    ``_TAR_READ_MAX`` bytes (``tarfile`` reads a pax header or GNU long name whole, at the size its
    header declares)."""

    def __init__(self, inner: io.BufferedIOBase, compressed_size: int | None, source: Source) -> None:
        super().__init__()
        self._inner, self._compressed_size = inner, compressed_size
        self._limits, self._prefix = source.limits, source._in
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def read(self, size: int = -1, /) -> bytes:
        if size < 0 or size > _TAR_READ_MAX:
            raise ArchiveReadError(f"a header asks to read {size} bytes at once, more than a tar holds")
        return super().read(size) or b""

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        count = self._inner.readinto(buffer)
        self._position += count
        if self._compressed_size is not None:
            self._check(self._compressed_size)
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int:
        if whence != io.SEEK_SET or offset < self._position:
            raise ArchiveReadError("reading went backwards, which one pass through a tar never does")
        if self._compressed_size is None:
            self._position = self._inner.seek(offset)
            return self._position
        skipped = bytearray(min(CHUNK, offset - self._position))
        while self._position < offset and self.readinto(memoryview(skipped)[: offset - self._position]):
            pass
        return self._position

    def _check(self, compressed_size: int) -> None:
        limits, done = self._limits, self._position
        if done > limits.max_total_bytes:
            raise _OverLimitError(
                f"{self._prefix}it decompresses to more than {limits.max_total_bytes} bytes; the rest was not read"
            )
        if done >= limits.ratio_floor and done > limits.max_ratio * compressed_size:
            raise _OverLimitError(
                f"{self._prefix}it decompresses to more than {limits.max_ratio:g} times its {compressed_size}"
                " compressed bytes (a decompression bomb); the rest was not read"
            )

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


class _CheckedHeader(tarfile.TarInfo):
    """A tar header that does not let a damaged archive end quietly. ``tarfile`` takes a bad, cut or
    missing header after the first for the end of the archive; here it is an error, reported as a
    problem. Only a block of zeros (the end-of-archive marker) ends the archive."""

    @classmethod
    def frombuf(cls: type[_H], buf: bytes | bytearray, encoding: str, errors: str) -> _H:
        try:
            return super().frombuf(buf, encoding, errors)
        except tarfile.HeaderError as error:
            if not buf:
                raise tarfile.ReadError(
                    "it ends without the end-of-archive marker, so it may have been cut short"
                ) from None
            if len(buf) == tarfile.BLOCKSIZE and buf.count(0) == tarfile.BLOCKSIZE:
                raise  # the end-of-archive marker
            raise tarfile.ReadError(f"a damaged header: {error}") from None


def _forget_headers(archive: tarfile.TarFile) -> None:
    """Drops the headers ``tarfile`` keeps of every member read (``TarFile.members``, which its type
    stubs omit): one pass needs none of them again, and millions of them would fill the memory."""
    kept = vars(archive).get("members")
    if isinstance(kept, list):
        kept.clear()


def _name_fault(stored: str) -> str | None:
    """Why an archive member's stored name cannot be a member's name, or None when it can. Backslashes
    count as separators here (an archive made on Windows may use them), so ``..\\`` is refused too."""
    if "\x00" in stored:
        return "its name holds a NUL character"
    if stored.startswith(("/", "\\")) or _DRIVE.match(stored):
        return "its name is absolute"
    if ".." in re.split(r"[/\\]", stored):
        return "its name climbs out of the archive with '..'"
    return None


def _normal_name(stored: str) -> str:
    """A stored name that passed ``_name_fault`` as a member's name: ``.`` and empty components dropped,
    bytes that are not UTF-8 escaped; ``""`` for the archive's own root."""
    return name_text("/".join(part for part in stored.split("/") if part not in ("", ".")))[0]


def _zip_name(info: zipfile.ZipInfo) -> str:
    """A zip member's name as stored. ``filename`` is cut at a NUL, so ``orig_filename`` is read; a name
    without the UTF-8 flag was decoded by ``zipfile`` as CP437, which Info-ZIP and most tools on Linux
    and macOS do not mean (they write the file system's bytes, UTF-8 as a rule): its bytes are taken
    back and read as UTF-8, with ``\\xNN`` for bytes that are not, as a folder's names are."""
    if info.flag_bits & _UTF8_NAME:
        return info.orig_filename
    return info.orig_filename.encode("cp437").decode("utf-8", "surrogateescape")


def _link_fault(name: str, target: str, hard: bool) -> str | None:
    """Why a link cannot be listed, or None: its target is absolute or, with ``..`` normalised away,
    leaves the archive (from the link's folder for a symbolic link, from the root for a hard link). The
    check reads the names only: vestige never follows a link, this is for the readers above."""
    leaves = "\x00" in target or target.startswith(("/", "\\")) or bool(_DRIVE.match(target))
    if not leaves:
        resolved = posixpath.normpath(posixpath.join("" if hard else posixpath.dirname(name), target))
        leaves = resolved == ".." or resolved.startswith("../")
    return f"it is a link to {_shown(target)}, outside the archive" if leaves else None


def _shown(text: str) -> str:
    """A stored name as one line of text: bytes that are not UTF-8 and control characters (a NUL, a
    newline) written as escapes."""
    text = name_text(text)[0]
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _folder_member(entry: os.DirEntry[str], name: str, utf8: bool) -> Member:
    """A folder entry as a member, from what ``scandir`` knows of it (its ``d_type``)."""
    try:
        if entry.is_file(follow_symlinks=False):
            return Member(name, "file", None, None, utf8)
        if entry.is_dir(follow_symlinks=False):
            return Member(name, "directory", None, None, utf8)
        if entry.is_symlink():
            return Member(name, "symlink", None, _link_target(entry.path), utf8)
    except OSError:  # gone since the folder was listed, or its type cannot be read: nothing to open
        return Member(name, "other", None, None, utf8)
    return Member(name, "other", None, None, utf8)


def _link_target(path: str) -> str | None:
    try:
        return name_text(os.readlink(path))[0]  # noqa: PTH115 - the target as stored; Path would normalise it
    except OSError:  # gone since the folder was listed
        return None


def _copy_path(scratch: Path, member: Member) -> Path:
    """Where the copy of a member sits: named by a digest, since a member's name may be too long for one
    file name or hold characters a file system refuses."""
    return scratch / "copies" / hashlib.sha256(member.name.encode()).hexdigest()


def _name_of(member: Member) -> str:
    return member.name


def _entry_name(entry: os.DirEntry[str]) -> str:
    return entry.name
