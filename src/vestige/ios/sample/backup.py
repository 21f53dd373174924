"""Writes iOS backup folders in the Finder/iTunes/idevicebackup2 layout, with real schemas.

A ``BackupBuilder`` writes each added file at ``<fileID[:2]>/<fileID>``, a ``Files`` row with an
NSKeyedArchiver ``MBFile`` blob into ``Manifest.db`` (parent directories are listed too, as a real
backup lists them), and on ``finish`` the host's ``Info.plist`` and the device's ``Manifest.plist``
and ``Status.plist``. Times are fixed by the caller so that the same script gives the same bytes.
"""

from __future__ import annotations

import plistlib
import sqlite3
import stat
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vestige.ios.acquisitions import file_id
from vestige.ios.sample.schemas import MANIFEST_DB


@dataclass(frozen=True)
class Device:
    """What the host and the device write about the phone into a backup."""

    name: str = "Reporter's iPhone"
    product_type: str = "iPhone14,2"
    product_name: str = "iPhone 13 Pro"
    product_version: str = "17.5.1"
    build_version: str = "21F90"
    serial: str = "F17XK0A1Q6L8"
    udid: str = "00008110-001A2B3C4D5E801E"
    imei: str = "356789104523871"
    iccid: str = "8921201234567890123"
    phone_number: str = "+212 6 12 34 56 78"
    installed_applications: tuple[str, ...] = (
        "com.apple.mobilesafari",
        "net.whatsapp.WhatsApp",
        "com.atebits.Tweetie2",
        "ph.telegra.Telegraph",
    )


def unix(moment: datetime) -> int:
    return int(moment.timestamp())


@dataclass
class BackupBuilder:
    """Builds one backup folder. Call ``add_*`` then ``finish``."""

    root: Path
    device: Device = field(default_factory=Device)
    backup_date: datetime = datetime(2024, 5, 20, 18, 30, tzinfo=timezone.utc)
    with_manifest_plist: bool = True
    with_status_plist: bool = True
    encrypted: bool = False
    _db: sqlite3.Connection = field(init=False)
    _directories: set[tuple[str, str]] = field(init=False, default_factory=set)
    _inode: int = field(init=False, default=100000)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.root / "Manifest.db"))
        self._db.executescript(MANIFEST_DB)

    def add_file(
        self,
        domain: str,
        relative_path: str,
        content: bytes,
        *,
        modified: datetime | None = None,
        mode: int = 0o644,
        protection_class: int = 3,
    ) -> str:
        """Adds a regular file and its parent directories; returns the backup file name."""
        self._add_parents(domain, relative_path, modified)
        name = file_id(domain, relative_path)
        (self.root / name[:2]).mkdir(exist_ok=True)
        (self.root / name[:2] / name).write_bytes(content)
        when = unix(modified or self.backup_date)
        blob = self._mbfile(relative_path, stat.S_IFREG | mode, len(content), when, protection_class)
        self._db.execute("INSERT INTO Files VALUES (?, ?, ?, 1, ?)", (name, domain, relative_path, blob))
        return name

    def add_listing(
        self, domain: str, relative_path: str, flags: int, *, size: int = 0, modified: datetime | None = None
    ) -> str:
        """Adds a Manifest.db row without writing content (a directory, a symlink, or a file left out)."""
        name = file_id(domain, relative_path)
        file_type = {1: stat.S_IFREG, 2: stat.S_IFDIR, 4: stat.S_IFLNK}[flags]
        mode = file_type | (0o755 if flags == 2 else 0o644)
        blob = self._mbfile(relative_path, mode, size, unix(modified or self.backup_date), 3 if flags == 1 else 0)
        self._db.execute(
            "INSERT OR IGNORE INTO Files VALUES (?, ?, ?, ?, ?)", (name, domain, relative_path, flags, blob)
        )
        return name

    def add_database(
        self,
        domain: str,
        relative_path: str,
        schema: str,
        fill: Callable[[sqlite3.Connection], None],
        *,
        modified: datetime | None = None,
    ) -> str:
        """Creates a SQLite database with ``schema``, lets ``fill`` insert rows, and adds its bytes."""
        with tempfile.TemporaryDirectory(prefix="vestige-sample-") as scratch:
            location = Path(scratch) / "db.sqlite"
            connection = sqlite3.connect(str(location))
            connection.executescript(schema)
            fill(connection)
            connection.commit()
            connection.close()
            return self.add_file(domain, relative_path, location.read_bytes(), modified=modified)

    def add_plist(
        self,
        domain: str,
        relative_path: str,
        value: Any,
        *,
        binary: bool = True,
        modified: datetime | None = None,
    ) -> str:
        fmt = plistlib.FMT_BINARY if binary else plistlib.FMT_XML
        return self.add_file(domain, relative_path, plistlib.dumps(value, fmt=fmt), modified=modified)

    def finish(self) -> Path:
        """Writes Manifest.db to disk and the three top-level plists; returns the backup folder."""
        self._db.commit()
        self._db.close()
        naive_date = self.backup_date.astimezone(timezone.utc).replace(tzinfo=None)
        (self.root / "Info.plist").write_bytes(plistlib.dumps(self._info_plist(naive_date), fmt=plistlib.FMT_XML))
        if self.with_manifest_plist:
            (self.root / "Manifest.plist").write_bytes(
                plistlib.dumps(self._manifest_plist(naive_date), fmt=plistlib.FMT_BINARY)
            )
        if self.with_status_plist:
            status = {
                "Version": "3.3",
                "UUID": str(uuid.uuid5(uuid.NAMESPACE_URL, self.device.udid + naive_date.isoformat())).upper(),
                "Date": naive_date,
                "BackupState": "new",
                "SnapshotState": "finished",
                "IsFullBackup": False,
            }
            (self.root / "Status.plist").write_bytes(plistlib.dumps(status, fmt=plistlib.FMT_BINARY))
        return self.root

    def _add_parents(self, domain: str, relative_path: str, modified: datetime | None) -> None:
        parts = relative_path.split("/")[:-1]
        for depth in range(len(parts) + 1):
            parent = "/".join(parts[:depth])
            if (domain, parent) not in self._directories:
                self._directories.add((domain, parent))
                self.add_listing(domain, parent, 2, modified=modified)

    def _mbfile(self, relative_path: str, mode: int, size: int, when: int, protection_class: int) -> bytes:
        self._inode += 1
        archive = {
            "$version": 100000,
            "$archiver": "NSKeyedArchiver",
            "$top": {"root": plistlib.UID(1)},
            "$objects": [
                "$null",
                {
                    "$class": plistlib.UID(3),
                    "RelativePath": plistlib.UID(2),
                    "Mode": mode,
                    "InodeNumber": self._inode,
                    "UserID": 501,
                    "GroupID": 501,
                    "LastModified": when,
                    "LastStatusChange": when,
                    "Birth": when,
                    "Size": size,
                    "ProtectionClass": protection_class,
                    "Flags": 0,
                },
                relative_path,
                {"$classname": "MBFile", "$classes": ["MBFile", "NSObject"]},
            ],
        }
        return plistlib.dumps(archive, fmt=plistlib.FMT_BINARY, sort_keys=False)

    def _info_plist(self, naive_date: datetime) -> dict[str, Any]:
        d = self.device
        return {
            "Build Version": d.build_version,
            "Device Name": d.name,
            "Display Name": d.name,
            "GUID": uuid.uuid5(uuid.NAMESPACE_DNS, d.udid).hex.upper(),
            "ICCID": d.iccid,
            "IMEI": d.imei,
            "Installed Applications": list(d.installed_applications),
            "Last Backup Date": naive_date,
            "Phone Number": d.phone_number,
            "Product Name": d.product_name,
            "Product Type": d.product_type,
            "Product Version": d.product_version,
            "Serial Number": d.serial,
            "Target Identifier": d.udid,
            "Target Type": "Device",
            "Unique Identifier": d.udid.upper(),
            "iTunes Version": "12.13.2.3",
        }

    def _manifest_plist(self, naive_date: datetime) -> dict[str, Any]:
        d = self.device
        return {
            "Version": "10.0",
            "SystemDomainsVersion": "24.0",
            "Date": naive_date,
            "IsEncrypted": self.encrypted,
            "WasPasscodeSet": True,
            "Lockdown": {
                "ProductVersion": d.product_version,
                "BuildVersion": d.build_version,
                "DeviceName": d.name,
                "UniqueDeviceID": d.udid,
                "SerialNumber": d.serial,
                "ProductType": d.product_type,
            },
            "Applications": {},
        }
