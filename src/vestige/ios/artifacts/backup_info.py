"""The three plists at the top of an iOS backup: ``Info.plist``, ``Manifest.plist``, ``Status.plist``.

``Info.plist`` is written by the host (iTunes, Finder, idevicebackup2): device name, product type and
version, build, serial number, IMEI, phone number, last backup date, installed applications.
``Manifest.plist`` (device, class MBProperties) holds ``IsEncrypted``, ``WasPasscodeSet``, ``Date``
and the ``Lockdown`` values; ``Status.plist`` (device, class MBStatus) holds ``SnapshotState``
(``finished`` once the backup completed). Key lists: libimobiledevice ``tools/idevicebackup2.c`` and
docs/ios-formats.md section 1. Installed application identifiers are checked against ``app:id``
indicators. An iOS older than the newest release of its line is an info finding.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from vestige.evidence.acquisition import Acquisition
from vestige.evidence.plist import plain, plist_text
from vestige.ios.acquisitions import IOS_BACKUP
from vestige.ios.timestamps import plist_date
from vestige.ios.versions import release_table
from vestige.model import (
    JSON,
    Evidence,
    Finding,
    IndicatorLookup,
    Locator,
    Observable,
    ObservableKind,
    Record,
    Severity,
)
from vestige.platforms import MatchPolicy

NAME = "ios.backup_info"
VERSION = 2
PATHS = {IOS_BACKUP: ("Info.plist", "Manifest.plist", "Status.plist")}
DESCRIPTION = "Device and backup facts from Info.plist, Manifest.plist and Status.plist"
MATCHES = MatchPolicy(
    Severity.HIGH,
    "An installed application",
    ("An application identifier can be reused by an unrelated app; check the app's name and developer.",),
)

INFO_KEYS = (
    "Device Name",
    "Product Type",
    "Product Name",
    "Product Version",
    "Build Version",
    "Serial Number",
    "Unique Identifier",
    "IMEI",
    "MEID",
    "ICCID",
    "Phone Number",
    "Last Backup Date",
    "iTunes Version",
)
MANIFEST_KEYS = ("Version", "Date", "IsEncrypted", "WasPasscodeSet", "Lockdown")
STATUS_KEYS = ("Version", "UUID", "Date", "BackupState", "SnapshotState", "IsFullBackup")


@dataclass(frozen=True, slots=True)
class BackupPlist:
    """The keys vestige reads of ``Info.plist``, ``Manifest.plist`` or ``Status.plist``, as stored, and
    the installed applications that ``Info.plist`` lists."""

    file: str
    values: Mapping[str, JSON]
    installed_applications: tuple[str, ...] = ()

    @property
    def product_version(self) -> str | None:
        version = self.values.get("Product Version")
        return version if isinstance(version, str) else None

    @property
    def snapshot_state(self) -> JSON:
        return self.values.get("SnapshotState")


def parse(acquisition: Acquisition, path: str) -> Iterator[Record]:
    entry = acquisition.file(path)
    content = acquisition.plist(path)
    keys = {"Info.plist": INFO_KEYS, "Manifest.plist": MANIFEST_KEYS, "Status.plist": STATUS_KEYS}[path]
    values: dict[str, JSON] = {key: plain(content[key]) for key in keys if key in content}
    apps: list[str] = []
    if path == "Info.plist":
        listed = content.get("Installed Applications")
        apps = sorted(a for a in listed if isinstance(a, str)) if isinstance(listed, list) else []
    yield Record(
        artifact=NAME,
        locator=Locator(path, entry.sha256),
        time=plist_date(content.get("Last Backup Date") if path == "Info.plist" else content.get("Date")),
        summary=_summary(path, content),
        payload=BackupPlist(path, values, tuple(apps)),
        observables=tuple(Observable(ObservableKind.APP_ID, a.lower()) for a in sorted(set(apps))),
        time_kind="backup date",
    )


def _summary(path: str, content: dict[str, Any]) -> str:
    def shown(key: str) -> str:
        return plist_text(content.get(key, "?"))

    if path == "Info.plist":
        return (
            f"Backup of {plist_text(content.get('Device Name', 'an unnamed device'))} ({shown('Product Type')}, "
            f"iOS {shown('Product Version')} build {shown('Build Version')})"
        )
    if path == "Manifest.plist":
        return f"Backup manifest: encrypted {bool(content.get('IsEncrypted'))}, version {shown('Version')}"
    return f"Backup status: snapshot {shown('SnapshotState')}, state {shown('BackupState')}"


def detect(records: Iterable[Record], indicators: IndicatorLookup) -> Iterator[Finding]:
    for record in records:
        plist = record.payload
        if not isinstance(plist, BackupPlist):
            continue
        if plist.file == "Info.plist":
            yield from _outdated(record, plist)
        elif plist.file == "Status.plist":
            yield from _unfinished(record, plist)


def _outdated(record: Record, plist: BackupPlist) -> Iterator[Finding]:
    version = plist.product_version
    if version is None:
        return
    reason = release_table().outdated_reason(version)
    if reason is None:
        return
    yield Finding(
        rule="ios.backup_info.outdated_ios",
        severity=Severity.INFO,
        title=f"The device ran iOS {version} when it was backed up, an outdated release",
        explanation=(
            f"Info.plist records iOS {version} (build {plist_text(plist.values.get('Build Version', '?'))}). {reason}. "
            "Outdated releases lack fixes for vulnerabilities that spyware has exploited."
        ),
        caveats=(
            "The version is the one at backup time; the phone may have been updated since.",
            "An outdated version is a risk factor, not evidence of compromise.",
        ),
        evidence=(Evidence(Locator("Info.plist", record.locator.sha256, key="Product Version"), version),),
        time=record.time,
    )


def _unfinished(record: Record, plist: BackupPlist) -> Iterator[Finding]:
    if plist.snapshot_state in (None, "finished"):
        return
    state = plist_text(plist.snapshot_state)
    yield Finding(
        rule="ios.backup_info.unfinished_backup",
        severity=Severity.LOW,
        title=f"The backup did not finish (SnapshotState is '{state}')",
        explanation=(
            f"Status.plist records SnapshotState '{state}' instead of 'finished', so the backup may be missing "
            "files and databases; an absence of traces in this backup proves less than usual."
        ),
        caveats=("Some tools write Status.plist before the transfer completes and never update it.",),
        evidence=(Evidence(Locator("Status.plist", record.locator.sha256, key="SnapshotState"), state),),
        time=record.time,
    )
