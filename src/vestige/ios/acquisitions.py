"""Readers for iOS acquisitions: the unencrypted (or decrypted) iTunes/Finder/idevicebackup2 backup.

A backup folder holds ``Info.plist`` (written by the host), ``Manifest.plist`` and ``Status.plist``
(written by the device; older tools and anonymised samples omit them), ``Manifest.db`` and one file
per backed-up regular file at ``<fileID[:2]>/<fileID>`` where ``fileID = sha1(domain + "-" +
relativePath)``. ``Manifest.db`` (iOS 10 and later) has ``Files(fileID TEXT PRIMARY KEY, domain TEXT,
relativePath TEXT, flags INTEGER, file BLOB)``; ``flags & 7`` is 1 for a file, 2 a directory, 4 a
symlink (MobileBackup ``+[MBDatabaseIndex flagsForMode:]``); ``file`` is an NSKeyedArchiver ``MBFile``
holding Unix times, mode, owner, inode, size and protection class. Sources: libimobiledevice
``tools/idevicebackup2.c``; docs/ios-formats.md section 1.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Hashable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from vestige.evidence.acquisition import Acquisition, DeviceInfo, EvidenceFile
from vestige.evidence.errors import (
    CorruptDatabaseError,
    EncryptedBackupError,
    NotAnAcquisitionError,
    UnexpectedFormatError,
)
from vestige.evidence.hashing import HashTarget
from vestige.evidence.plist import keyed_archive_fields, load_plist_dict, reading_limits
from vestige.evidence.sources import Source
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
    return source.has_file(f"{prefix}{MANIFEST_DB}") and source.has_file(f"{prefix}Info.plist")


def _refuse_encrypted(backup: Source) -> None:
    """A backup whose Manifest.db is SQLite is readable (a decrypted copy keeps ``IsEncrypted``)."""
    where = f"{backup.location}/{backup.prefix}".rstrip("/")
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


def _stored_file(name: str, metadata: dict[str, JSON], utf8: bool) -> EvidenceFile:
    """A file found in the backup folder, listed under its own name (a name that is not UTF-8 under
    its escaped text, and said so)."""
    return EvidenceFile(name, "file", None, None, name, metadata if utf8 else {**metadata, "name_not_utf8": True})


class IosBackup(Acquisition):
    """An unencrypted iOS backup (a folder, or an archive of one), read in place."""

    def __init__(self, source: Source) -> None:
        super().__init__(source, IOS_BACKUP)
        self._listing: Path | None = None
        self._scratch: Path | None = None
        self._creator = os.getpid()

    def expected_entries(self) -> int | None:
        with self._manifest_db() as db:
            (count,) = db.execute("SELECT count(*) FROM Files").fetchone()
        return int(count) + len(TOP_LEVEL_FILES)

    def _manifest_db(self) -> AbstractContextManager[sqlite3.Connection]:
        """Manifest.db, read in place; a WAL-mode one through one private copy made on first use and
        shared by every partition (and forked worker) after it."""
        if self._listing is None:
            try:
                location = self.source.local_path(MANIFEST_DB)
                sidecars = {
                    suffix: self.source.local_path(MANIFEST_DB + suffix)
                    for suffix in SIDECARS
                    if self.source.has_file(MANIFEST_DB + suffix)
                }
            except OSError as error:  # a member of an archive that cannot be read
                raise CorruptDatabaseError(f"{MANIFEST_DB}: cannot be read ({error})") from None
            if "-wal" not in sidecars and "-journal" not in sidecars:
                self._listing = location
            else:
                scratch = Path(tempfile.mkdtemp(prefix="vestige-listing-"))
                try:
                    self._listing = settled_copy(location, MANIFEST_DB, sidecars, scratch)
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
                    yield _stored_file(name, {}, _utf8(source, name)), source.hash_target(name)
            return
        assert isinstance(partition, tuple)
        with self._manifest_db() as db:
            query = (
                "SELECT fileID, domain, relativePath, flags, file FROM Files WHERE rowid BETWEEN ? AND ? ORDER BY rowid"
            )
            for row in db.execute(query, partition):
                entry = _entry(*row)
                if entry.type == "file":
                    file_id_ = str(entry.metadata["file_id"])
                    stored_as = f"{file_id_[:2]}/{file_id_}"
                    if source.has_file(stored_as):
                        present = EvidenceFile(entry.path, "file", None, None, stored_as, entry.metadata)
                        yield present, source.hash_target(stored_as)
                        continue
                    entry = EvidenceFile(entry.path, entry.type, None, None, None, {**entry.metadata, "absent": True})
                yield entry, None

    def _unlisted(self, listed: set[str]) -> Iterator[tuple[EvidenceFile, HashTarget | None]]:
        """Files in the backup's subfolders that Manifest.db does not list: hashed and flagged (the
        top-level files are listed by the first partition)."""
        source = self.source
        for name in source.file_names():
            if "/" in name and name not in listed:
                yield _stored_file(name, {"unlisted": True}, _utf8(source, name)), source.hash_target(name)

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


def _entry(name: object, domain: object, relative_path: object, flags: object, blob: object) -> EvidenceFile:
    """A Manifest.db ``Files`` row as an entry without content (the caller attaches its file)."""
    domain = domain if isinstance(domain, str) else ""
    relative_path = relative_path if isinstance(relative_path, str) else ""
    flags = flags if isinstance(flags, int) else None
    file_id_ = str(name)
    metadata: dict[str, JSON] = {
        "file_id": file_id_,
        "domain": domain,
        "relative_path": relative_path,
        "flags": flags,
    }
    if isinstance(blob, bytes):
        metadata.update(_mbfile_metadata(blob))
    path = backup_path(domain, relative_path) if domain else f"[no domain]/{file_id_}"
    return EvidenceFile(path, FILE_TYPES.get((flags or 0) & 7, "other"), None, None, None, metadata)


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
