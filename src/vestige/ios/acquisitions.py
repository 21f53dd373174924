"""Readers for iOS acquisitions: the unencrypted (or decrypted) iTunes/Finder/idevicebackup2 backup.

A backup folder holds ``Info.plist`` (written by the host), ``Manifest.plist`` and ``Status.plist``
(written by the device; older tools and anonymised samples omit them), ``Manifest.db`` and one file
per backed-up regular file at ``<fileID[:2]>/<fileID>`` where ``fileID = sha1(domain + "-" +
relativePath)``. ``Manifest.db`` (iOS 10 and later) has ``Files(fileID TEXT PRIMARY KEY, domain TEXT,
relativePath TEXT, flags INTEGER, file BLOB)``; ``flags & 7`` is 1 for a file, 2 a directory, 4 a
symlink (MobileBackup ``+[MBDatabaseIndex flagsForMode:]``); ``file`` is an NSKeyedArchiver ``MBFile``
holding Unix times, mode, owner, inode, size and protection class. Sources: libimobiledevice
``tools/idevicebackup2.c``; docs/ios-formats.md section 1.

Every byte here may be the spyware operator's, so the listing trusts nothing it can check:

- An entry is named ``domain/relativePath`` when its ``fileID`` is SHA-1 of ``domain-relativePath``,
  as the device always writes it. A row whose ``fileID`` is anything else is named
  ``domain/relativePath [fileID <fileID>]`` and keeps ``domain/relativePath`` as the path it was
  listed under (``listed_as``): artifacts still select and read it, beside the row that matches, so
  a second row for ``HomeDomain/Library/SMS/sms.db`` pointing at an empty database never hides the
  real one. The metadata of such a row holds the fileID expected (``file_id_expected``) and the
  fileIDs of the other rows that list the same path (``same_path_file_ids``, looked up through the
  ``relativePath`` index when Manifest.db has one). Two rows that would still share a name are
  named apart by the manifest (``vestige.evidence.acquisition``).
- A ``domain`` or ``relativePath`` that is not UTF-8 costs only its own escaping: the row is read
  as bytes, shown with ``\\xNN`` escapes and flagged ``name_not_utf8``, with its raw bytes in
  ``path_bytes`` (for its Merkle leaf); the fileID is checked against the raw bytes.
- Only entries that Manifest.db lists are selected by artifacts: a file in the backup folder that
  it does not list (at ``HomeDomain/Library/SMS/sms.db`` as much as anywhere) is hashed and flagged
  ``unlisted``, never parsed as the device file it is named after.
- Symbolic links are never followed: a link at the top (``Info.plist``, a ``Manifest.db-wal``) or
  where a stored file should be is listed as a link (its target in ``target``; for a listed file,
  ``stored_type`` and ``stored_target``) with no content, and reported as a problem naming it and
  its target. Manifest.db is read in place (immutable, so SQLite opens nothing beside it) or, with a
  ``-wal`` or ``-journal``, through a private copy settled with it when it is a regular file, and
  without it when it is a link.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Any

from vestige.evidence.acquisition import (
    LISTED_AS,
    NAME_NOT_UTF8,
    PATH_BYTES,
    UNLISTED,
    Acquisition,
    DeviceInfo,
    EvidenceFile,
    name_metadata,
)
from vestige.evidence.errors import (
    CorruptDatabaseError,
    EncryptedBackupError,
    NotAnAcquisitionError,
    UnexpectedFormatError,
)
from vestige.evidence.hashing import HashTarget
from vestige.evidence.plist import keyed_archive_fields, load_plist_dict, reading_limits
from vestige.evidence.sources import Member, Source
from vestige.evidence.sqlite import SIDECARS, SQLITE_HEADER, Structure, Table, open_database, settled_copy
from vestige.ios.timestamps import from_unix, plist_date, unix_time_text
from vestige.model import JSON, format_time

IOS_BACKUP = "ios-backup"
BACKUP_DESCRIPTION = "an iOS backup folder holds Manifest.db and Info.plist"
FILE_TYPES = {1: "file", 2: "directory", 4: "symlink"}

# Where a backup domain sits on the device, for the domains whose root is fixed (not an app container).
DOMAIN_ROOTS = {
    "HomeDomain": "/private/var/mobile",
    "CameraRollDomain": "/private/var/mobile",
    "MediaDomain": "/private/var/mobile",
    "RootDomain": "/private/var/root",
    "WirelessDomain": "/private/var/wireless",
    "KeychainDomain": "/private/var/Keychains",
    "SystemPreferencesDomain": "/private/var/preferences",
    "ManagedPreferencesDomain": "/private/var/Managed Preferences",
    "DatabaseDomain": "/private/var/db",
}

MANIFEST_DB = "Manifest.db"
TOP_LEVEL_FILES = ("Info.plist", "Manifest.plist", "Status.plist", MANIFEST_DB)
TOP_PLIST_LIMIT = 64 << 20
"""The largest top-level plist read (the host's Info.plist lists every installed app: a few MB at most)."""
FILES = Table("Files", required=("fileID", "domain", "relativePath", "flags", "file"))
LISTING = Structure(required=(FILES,))


def file_id(domain: str, relative_path: str) -> str:
    """The name of a backed-up file: ``sha1(domain + "-" + relativePath)``."""
    return hashlib.sha1(f"{domain}-{relative_path}".encode()).hexdigest()


def backup_path(domain: str, relative_path: str) -> str:
    """The path vestige gives a backup entry: ``domain/relativePath`` (``HomeDomain/Library/SMS/sms.db``)."""
    return f"{domain}/{relative_path}" if relative_path else domain


# Manifest.db rows per partition: about 0.2 s of work each, so the workers finish the listing nearly
# together, while each partition's own files (records, timeline run) stay few.
ROWS_PER_PARTITION = 5_000


def recognise_backup(source: Source) -> Source | None:
    """The backup in ``source``: the source itself, or the one backup folder it holds (Finder's
    ``MobileSync/Backup`` with a single device, a zip of one backup folder); None when there is none.
    Refuses an encrypted backup and a folder of several backups with what to do."""
    if source.shape == "file":
        return None
    if _is_backup(source):
        _refuse_encrypted(source)
        return source
    inner = sorted(name for name in source.subfolders() if _is_backup(source, f"{name}/"))
    if len(inner) > 1:
        raise NotAnAcquisitionError(
            f"{source.location}: holds several iOS backups ({', '.join(inner)}); give the path of one"
        )
    if inner:
        backup = source.within(f"{inner[0]}/")
        _refuse_encrypted(backup)
        return backup
    return None


def _is_backup(source: Source, prefix: str = "") -> bool:
    """Manifest.db and Info.plist are there (Info.plist may be a link, which is reported, not followed)."""
    manifest = source.member(f"{prefix}{MANIFEST_DB}")
    return manifest is not None and manifest.type != "directory" and source.member(f"{prefix}Info.plist") is not None


def _refuse_encrypted(backup: Source) -> None:
    """A backup whose Manifest.db is SQLite is readable (a decrypted copy keeps ``IsEncrypted``)."""
    where = f"{backup.location}/{backup.prefix}".rstrip("/")
    manifest = backup.member(MANIFEST_DB)
    if manifest is not None and manifest.type != "file":
        what = f"a symbolic link to {manifest.target}" if manifest.type == "symlink" else "not a regular file"
        raise NotAnAcquisitionError(
            f"{where}: Manifest.db is {what}; vestige never follows links in evidence, so the backup cannot"
            " be read (give a copy of the backup without links)"
        )
    try:
        with backup.open(MANIFEST_DB) as stream:
            if stream.read(len(SQLITE_HEADER)) == SQLITE_HEADER:
                return
    except OSError as error:
        raise NotAnAcquisitionError(f"{where}: Manifest.db cannot be read ({error})") from None
    encrypted = False
    if backup.has_file("Manifest.plist"):
        try:
            encrypted = bool(_read_plist(backup, "Manifest.plist").get("IsEncrypted"))
        except UnexpectedFormatError:
            encrypted = False
    if encrypted:
        raise EncryptedBackupError(
            f"{where}: this iOS backup is encrypted; decrypt it first (vestige reads the decrypted copy)"
        )
    raise NotAnAcquisitionError(f"{where}: Manifest.db is not a SQLite database, so the backup cannot be read")


def _read_plist(source: Source, name: str) -> dict[str, Any]:
    """A top-level plist, of which at most ``TOP_PLIST_LIMIT`` (or the task's ``text`` limit) is read."""
    limit = min(TOP_PLIST_LIMIT, reading_limits().text)
    try:
        with source.open(name) as stream:
            data = stream.read(limit + 1)
    except OSError as error:
        raise UnexpectedFormatError(f"{name}: cannot be read ({error})") from None
    if len(data) > limit:
        raise UnexpectedFormatError(f"{name}: larger than {limit} bytes, not a backup's plist")
    return load_plist_dict(data, name)


def _utf8(source: Source, name: str) -> bool:
    member = source.member(name)
    return member is None or member.utf8


def _stored_file(source: Source, name: str, metadata: dict[str, JSON]) -> EvidenceFile:
    """A file found in the backup folder, listed under its own name (a name that is not UTF-8 under
    its escaped text, and said so)."""
    if not _utf8(source, name):
        metadata = {**metadata, **name_metadata(source, name)}
    return EvidenceFile(name, "file", None, None, name, metadata)


def _link(source: Source, member: Member, metadata: dict[str, JSON]) -> tuple[EvidenceFile, HashTarget]:
    """A member that is not a file or folder (a link, a FIFO) listed as what it is, without content;
    its hash target fails with what it is, so that the analyst has a problem naming it."""
    if not member.utf8:
        metadata = {**metadata, **name_metadata(source, member.name)}
    if member.target is not None:
        metadata = {**metadata, "target": member.target}
    entry = EvidenceFile(member.name, member.type, None, None, None, metadata)
    return entry, _refusal(_what_it_is(member))


def _what_it_is(member: Member) -> str:
    if member.type == "symlink":
        return f"a symbolic link to {member.target}, which vestige does not follow"
    return f"a {member.type} (not a regular file), which vestige does not open"


def _refusal(reason: str) -> Callable[[], IO[bytes]]:
    """A hash target that fails with ``reason``: the hashing layer reports it as a problem."""

    def refuse() -> IO[bytes]:
        raise OSError(errno.ELOOP, reason)

    return refuse


class IosBackup(Acquisition):
    """An unencrypted iOS backup (a folder, or an archive of one), read in place."""

    def __init__(self, source: Source) -> None:
        super().__init__(source, IOS_BACKUP)
        self._listing: Path | None = None
        self._scratch: Path | None = None
        self._creator = os.getpid()

    def expected_entries(self) -> int | None:
        with self._manifest_db() as db:
            LISTING.read(db, MANIFEST_DB)  # a view in place of Files is refused before it is run
            (count,) = db.execute("SELECT count(*) FROM Files").fetchone()
        return int(count) + len(TOP_LEVEL_FILES)

    def _manifest_db(self) -> AbstractContextManager[sqlite3.Connection]:
        """Manifest.db, read in place (immutable: SQLite then reads nothing beside it, a ``-wal`` link
        included); with a ``-wal`` or ``-journal``, or a sidecar that is not a file, through one private
        copy made on first use and shared by every
        partition (and forked worker) after it: settled with its ``-wal`` or ``-journal`` when that is a
        regular file, alone when a sidecar is a link or another non-file (never followed, and nothing of
        the folder sits beside the copy that SQLite opens)."""
        if self._listing is None:
            source = self.source
            try:
                beside = {suffix: source.member(MANIFEST_DB + suffix) for suffix in SIDECARS}
                location = source.local_path(MANIFEST_DB)
                sidecars = {
                    suffix: source.local_path(MANIFEST_DB + suffix)
                    for suffix, member in beside.items()
                    if member is not None and member.type == "file"
                }
                linked = any(member is not None and member.type != "file" for member in beside.values())
            except OSError as error:  # a member of an archive that cannot be read; a file swapped for a link
                raise CorruptDatabaseError(f"{MANIFEST_DB}: cannot be read ({error.strerror or error})") from None
            if not linked and "-wal" not in sidecars and "-journal" not in sidecars:
                self._listing = location
            else:
                scratch = Path(tempfile.mkdtemp(prefix="vestige-listing-"))
                try:
                    if "-wal" in sidecars or "-journal" in sidecars:
                        self._listing = settled_copy(location, MANIFEST_DB, sidecars, scratch)
                    else:
                        self._listing = _private_copy(source, scratch)
                except OSError as error:
                    shutil.rmtree(scratch, ignore_errors=True)
                    raise CorruptDatabaseError(f"{MANIFEST_DB}: cannot be read ({error.strerror or error})") from None
                except BaseException:
                    shutil.rmtree(scratch, ignore_errors=True)
                    raise
                self._scratch = scratch
        return open_database(self._listing, MANIFEST_DB)

    def close(self) -> None:
        super().close()
        if self._scratch is not None and os.getpid() == self._creator:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = self._listing = None

    def _partitions(self) -> Sequence[Hashable]:
        """The top-level files, then slices of Manifest.db's rows by rowid (the source is listed here,
        in this process, when Manifest.db is first opened: the workers share the listing)."""
        with self._manifest_db() as db:
            LISTING.read(db, MANIFEST_DB)
            low, high, count = db.execute("SELECT min(rowid), max(rowid), count(*) FROM Files").fetchone()
            if low is None:
                return ("top",)
            if high - low < 2 * count:  # dense rowids, as iOS writes them: slices of the range
                starts = list(range(low, high + 1, ROWS_PER_PARTITION))
            else:  # a gap (crafted, or rows deleted): cut by row count, so the gap costs nothing
                starts = [
                    row[0]
                    for row in db.execute(
                        "SELECT rowid FROM (SELECT rowid, row_number() OVER (ORDER BY rowid) AS n FROM Files)"
                        " WHERE (n - 1) % ? = 0 ORDER BY rowid",
                        (ROWS_PER_PARTITION,),
                    )
                ]
        ends = [start - 1 for start in starts[1:]] + [high]
        return ("top", *zip(starts, ends, strict=True))

    def _entries(self, partition: Hashable) -> Iterator[tuple[EvidenceFile, HashTarget | None]]:
        source = self.source
        if partition == "top":
            for name in source.file_names():
                if "/" not in name:
                    yield _stored_file(source, name, {}), source.hash_target(name)
            for member in source.links():
                if "/" not in member.name:
                    yield _link(source, member, {})
            return
        assert isinstance(partition, tuple)
        with self._manifest_db() as db:
            same_path = _SamePath(db)
            # A plain cursor and strict decoding, whatever the connection gives by default: a name that is
            # not UTF-8 is seen here, and its row read again as bytes (the raw name is kept, not an escape).
            db.text_factory = str
            done = 0
            try:
                for row in db.cursor().execute(_ROWS, partition):
                    done += 1
                    yield _listed(source, same_path, *row)
                return
            except sqlite3.OperationalError as error:
                if "decode" not in str(error):
                    raise
            # A text that is not UTF-8: the rest of the partition is read as bytes, each row decoded alone.
            db.text_factory = bytes
            for row in db.cursor().execute(f"{_ROWS} LIMIT -1 OFFSET ?", (*partition, done)):
                yield _listed(source, same_path, *row)

    def _unlisted(self, listed: set[str]) -> Iterator[tuple[EvidenceFile, HashTarget | None]]:
        """Files (and links) in the backup's subfolders that Manifest.db does not list: hashed and
        flagged ``unlisted``, never selected by an artifact (the top-level files are listed by the
        first partition)."""
        source = self.source
        for name in source.file_names():
            if "/" in name and name not in listed:
                yield _stored_file(source, name, {UNLISTED: True}), source.hash_target(name)
        for member in source.links():
            if "/" in member.name and member.name not in listed:
                yield _link(source, member, {UNLISTED: True})

    def info(self) -> DeviceInfo:
        info = self._top_plist("Info.plist")
        manifest = self._optional_plist("Manifest.plist")
        status = self._optional_plist("Status.plist")
        lockdown = manifest.get("Lockdown") if isinstance(manifest.get("Lockdown"), dict) else {}
        assert isinstance(lockdown, dict)

        def text(*values: object) -> str | None:
            for value in values:
                if isinstance(value, str) and value:
                    return value
            return None

        identifiers = {
            key: value
            for key, value in {
                "udid": text(
                    info.get("Unique Identifier"),
                    info.get("Target Identifier"),
                    lockdown.get("UniqueDeviceID"),
                ),
                "imei": text(info.get("IMEI")),
                "meid": text(info.get("MEID")),
                "iccid": text(info.get("ICCID")),
                "phone_number": text(info.get("Phone Number")),
                "backup_uuid": text(status.get("UUID")),
            }.items()
            if value is not None
        }
        return DeviceInfo(
            name=text(info.get("Device Name"), info.get("Display Name"), lockdown.get("DeviceName")),
            model=text(info.get("Product Type"), lockdown.get("ProductType")),
            os_name="iOS",
            os_version=text(info.get("Product Version"), lockdown.get("ProductVersion")),
            os_build=text(info.get("Build Version"), lockdown.get("BuildVersion")),
            serial=text(info.get("Serial Number"), lockdown.get("SerialNumber")),
            identifiers=identifiers,
            acquired=plist_date(info.get("Last Backup Date"))
            or plist_date(status.get("Date"))
            or plist_date(manifest.get("Date")),
            encrypted=bool(manifest["IsEncrypted"]) if "IsEncrypted" in manifest else None,
        )

    def _optional_plist(self, name: str) -> dict[str, Any]:
        """Manifest.plist and Status.plist only complete Info.plist; the artifact reports them if broken."""
        try:
            return self._top_plist(name)
        except UnexpectedFormatError:
            return {}

    def _top_plist(self, name: str) -> dict[str, Any]:
        if not self.source.has_file(name):
            return {}
        return _read_plist(self.source, name)


_ROWS = "SELECT fileID, domain, relativePath, flags, file FROM Files WHERE rowid BETWEEN ? AND ? ORDER BY rowid"


def _private_copy(source: Source, folder: Path) -> Path:
    """Manifest.db copied through the source (a folder's file opened without following a link)."""
    copy = folder / "db"
    with source.open(MANIFEST_DB) as stream, copy.open("xb") as out:
        shutil.copyfileobj(stream, out, 1 << 20)
    return copy


class _SamePath:
    """Finds the other rows that list a path, for a row whose fileID does not match it: through an
    index whose first column is ``relativePath`` (every real Manifest.db has one), else not at all
    (a scan per row of a crafted listing could take hours)."""

    QUERY = (
        "SELECT CAST(fileID AS BLOB) FROM Files WHERE relativePath = CAST(? AS TEXT) AND domain = CAST(? AS TEXT)"
        " AND CAST(fileID AS BLOB) IS NOT ? ORDER BY rowid LIMIT 16"
    )

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._indexed: bool | None = None

    def file_ids(self, domain: bytes, relative_path: bytes, file_id: bytes) -> list[str] | None:
        """The fileIDs (at most 16) of the other rows listing the path; None when that cannot be known."""
        if self._indexed is None:
            self._indexed = _path_indexed(self.db)
        if not self._indexed:
            return None
        rows = self.db.execute(self.QUERY, (relative_path, domain, file_id))
        return [bytes(found).decode("utf-8", "backslashreplace") for (found,) in rows]


def _path_indexed(db: sqlite3.Connection) -> bool:
    for _, name, _, _, partial in db.execute("SELECT * FROM pragma_index_list('Files')"):
        first = db.execute("SELECT name FROM pragma_index_info(?) WHERE seqno = 0", (name,)).fetchone()
        if not partial and first is not None and first[0] == "relativePath":
            return True
    return False


def _listed(
    source: Source,
    same_path: _SamePath,
    name: object,
    domain: object,
    relative_path: object,
    flags: object,
    blob: object,
) -> tuple[EvidenceFile, HashTarget | None]:
    """A Manifest.db ``Files`` row as an entry, with where its content is. The common row (three UTF-8
    texts, a domain) takes the first branch; a name no device holds, ``_too_long_row``; anything else,
    ``_odd_row``."""
    metadata: dict[str, JSON]
    if _length(domain) + _length(relative_path) + _length(name) > NAME_LIMIT:
        file_id_, path, metadata = _too_long_row(name, domain, relative_path, flags)
    elif type(name) is str and type(domain) is str and type(relative_path) is str and domain:
        file_id_ = name
        path = f"{domain}/{relative_path}" if relative_path else domain
        metadata = {
            "file_id": name,
            "domain": domain,
            "relative_path": relative_path,
            "flags": flags if isinstance(flags, int) else None,
        }
        if name != _sha1(f"{domain}-{relative_path}".encode()).hexdigest():
            path = _forged(same_path, path, metadata, name.encode(), domain.encode(), relative_path.encode())
    else:
        file_id_, path, metadata = _odd_row(same_path, name, domain, relative_path, flags)
    if isinstance(blob, bytes):
        metadata.update(_mbfile_metadata(blob))
    kind = FILE_TYPES.get((flags if isinstance(flags, int) else 0) & 7, "other")
    if kind != "file":
        return EvidenceFile(path, kind, None, None, None, metadata), None
    stored_as = f"{file_id_[:2]}/{file_id_}"
    if source.has_file(stored_as):
        return EvidenceFile(path, "file", None, None, stored_as, metadata), source.hash_target(stored_as)
    member = source.member(stored_as)
    if member is not None:  # a link (or a FIFO) where the stored file should be: listed, never followed
        metadata["stored_type"] = member.type
        if member.target is not None:
            metadata["stored_target"] = member.target
        refusal = _refusal(f"its stored file {stored_as} is {_what_it_is(member)}")
        return EvidenceFile(path, "file", None, None, stored_as, metadata), refusal
    metadata["absent"] = True
    return EvidenceFile(path, "file", None, None, None, metadata), None


_sha1 = hashlib.sha1
NAME_LIMIT = 4096
"""The longest fileID, domain and relativePath together that a row may name an entry by. iOS paths
end at 1,024 bytes (Darwin's PATH_MAX); a longer name is no device path, and kept whole it would be
copied into every line that cites it (a crafted 8 MiB domain made the output hundreds of MB)."""
NAME_SHOWN = 256


def _length(value: object) -> int:
    return len(value) if isinstance(value, str | bytes) else 0


def _too_long_row(
    name: object, domain: object, relative_path: object, flags: object
) -> tuple[str, str, dict[str, JSON]]:
    """A row whose names are longer than ``NAME_LIMIT``: listed as ``[name too long]/<digest>`` with
    the first ``NAME_SHOWN`` characters of each text, their lengths and the SHA-256 of the whole
    ``fileID``, ``domain`` and ``relativePath`` (the row itself stays in the sealed Manifest.db)."""
    parts = [_decoded(value) for value in (name, domain, relative_path)]
    raw = b"\x00".join(bytes_ or b"" for _, bytes_, _ in parts)
    digest = hashlib.sha256(raw).hexdigest()
    metadata: dict[str, JSON] = {
        "name_too_long": True,
        "name_sha256": digest,
        "flags": flags if isinstance(flags, int) else None,
    }
    for key, (text, bytes_, _) in zip(("file_id", "domain", "relative_path"), parts, strict=True):
        metadata[key] = text[:NAME_SHOWN]
        metadata[f"{key}_length"] = len(bytes_ or b"")
    file_id_ = parts[0][0] if len(parts[0][0]) <= NAME_SHOWN else digest
    return file_id_, f"[name too long]/{digest}", metadata


def _odd_row(
    same_path: _SamePath, name: object, domain: object, relative_path: object, flags: object
) -> tuple[str, str, dict[str, JSON]]:
    """The fileID, path and metadata of a row that is not three UTF-8 texts: a text read as bytes
    (not UTF-8: shown with ``\\xNN`` escapes and flagged), a NULL domain (a placeholder row, named
    ``[no domain]/<fileID>``, whose fileID cannot be checked), a number where a text belongs."""
    file_id_, raw_id, id_utf8 = _decoded(name)
    if raw_id is None:
        file_id_, raw_id = str(name), str(name).encode()
    domain_text, raw_domain, domain_utf8 = _decoded(domain)
    relative_text, raw_relative, relative_utf8 = _decoded(relative_path)
    metadata: dict[str, JSON] = {
        "file_id": file_id_,
        "domain": domain_text,
        "relative_path": relative_text,
        "flags": flags if isinstance(flags, int) else None,
    }
    if not id_utf8:
        metadata["file_id_not_utf8"] = True
    if raw_domain is None or not domain_text:
        return file_id_, f"[no domain]/{file_id_}", metadata
    raw_relative = raw_relative or b""
    path = backup_path(domain_text, relative_text)
    if not (domain_utf8 and relative_utf8):
        metadata[NAME_NOT_UTF8] = True
        metadata[PATH_BYTES] = (raw_domain + b"/" + raw_relative if raw_relative else raw_domain).hex()
    if file_id_ != _sha1(raw_domain + b"-" + raw_relative).hexdigest():
        path = _forged(same_path, path, metadata, raw_id, raw_domain, raw_relative)
    return file_id_, path, metadata


def _decoded(value: object) -> tuple[str, bytes | None, bool]:
    """A text column as text, its bytes and whether they were UTF-8 (not: ``\\xNN`` escapes); a NULL
    or a number gives ``("", None, True)``."""
    if isinstance(value, str):
        return value, value.encode(), True
    if isinstance(value, bytes):
        try:
            return value.decode(), value, True
        except UnicodeDecodeError:
            return value.decode("utf-8", "backslashreplace"), value, False
    return "", None, True


def _forged(
    same_path: _SamePath, path: str, metadata: dict[str, JSON], file_id: bytes, domain: bytes, relative_path: bytes
) -> str:
    """The name of a row whose fileID is not SHA-1 of its ``domain-relativePath`` (the device never
    writes one): ``<path> [fileID <fileID>]``, listed as ``path`` so that artifacts still read it,
    with the fileID expected and the other rows that list the same path."""
    expected = _sha1(domain + b"-" + relative_path).hexdigest()
    suffix = f" [fileID {metadata['file_id']}]"
    metadata["file_id_expected"] = expected
    metadata[LISTED_AS] = path
    raw = metadata.get(PATH_BYTES)
    if isinstance(raw, str):
        metadata[PATH_BYTES] = raw + suffix.encode().hex()
    others = same_path.file_ids(domain, relative_path, file_id)
    if others:
        metadata["same_path_file_ids"] = list[JSON](others)
    return path + suffix


_MBFILE_FIELDS = (
    ("Mode", "mode"),
    ("UserID", "uid"),
    ("GroupID", "gid"),
    ("InodeNumber", "inode"),
    ("Size", "size"),
    ("ProtectionClass", "protection_class"),
    ("Flags", "bsd_flags"),
    ("Target", "target"),
)
_MBFILE_TIMES = (("LastModified", "modified"), ("LastStatusChange", "status_changed"), ("Birth", "birth"))


def _mbfile_metadata(blob: bytes) -> dict[str, JSON]:
    """Mode, owner, size and MACB times of a Manifest.db ``file`` blob (an archived ``MBFile``)."""
    try:
        fields = keyed_archive_fields(blob)
    except ValueError as error:
        return {"metadata_error": str(error)}
    metadata: dict[str, JSON] = {name: fields[key] for key, name in _MBFILE_FIELDS if key in fields}
    mode = metadata.get("mode")
    if isinstance(mode, int):
        metadata["mode"] = oct(mode)
    last: object = None
    text: str | None = None
    for key, name in _MBFILE_TIMES:
        value = fields.get(key)
        if value is None:
            continue
        if value != last or type(value) is not type(last):  # the three times are often one
            last = value
            if isinstance(value, int) and not isinstance(value, bool):
                text = unix_time_text(value)
            elif isinstance(value, float):
                text = format_time(from_unix(value))
            else:
                last = None
                continue
        metadata[name] = text
    return metadata


__all__ = ["IosBackup", "backup_path", "file_id"]
