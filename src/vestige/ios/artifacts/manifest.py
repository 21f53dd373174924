"""Every entry of an iOS backup's ``Manifest.db`` (``Files`` table), with the hash vestige computed.

Each listed file, directory and symlink becomes a record timed by its ``LastModified`` (from the
``MBFile`` blob). Its device path is checked against ``file:path`` and ``file:name`` indicators (the
absolute path where the domain's root is fixed, and ``/`` + relativePath as the domain sees it),
its SHA-256 against file-hash indicators, and host names inside path components (WebKit names
website-data folders ``https_<host>_<port>``) against domain indicators. Files listed but absent,
and files present but not listed, are reported. A match cites the Manifest.db row and, for a file
with content, the file itself (what a hash describes, and what a disclosure can carry instead of the
whole listing). Format: docs/ios-formats.md section 1.

This is a listing artifact (``vestige.platforms.ListingArtifact``): the engine reads it in the same
pass that hashes the backup (``parse_entries`` on each partition of the listing, where it was
hashed, so records follow Manifest.db's row order), and ``tally``/``conclude`` split the detector
over the partitions; ``parse``/``detect`` read the finished manifest in one piece (in path order)
and give the same records and the same findings. Its records are the backup's entries, which
``manifest.jsonl`` holds in full, so they are not written again under ``records/``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from vestige.evidence.acquisition import Acquisition, EvidenceFile
from vestige.indicators.observables import embedded_host_observable, normalise_path
from vestige.ios.acquisitions import DOMAIN_ROOTS, IOS_BACKUP, MANIFEST_DB, TOP_LEVEL_FILES
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
from vestige.platforms import MatchPolicy, excerpt

NAME = "ios.manifest"
VERSION = 1
PATHS = {IOS_BACKUP: ("Manifest.db",)}
DESCRIPTION = "Files, directories and symlinks listed in Manifest.db, with their SHA-256 and MACB times"
MATCHES = MatchPolicy(
    Severity.HIGH,
    "A file listed in the backup",
    ("The backup lists files by path; a path match says such a file existed, not that it ran.",),
)
CITED_EXAMPLES = 10


@dataclass(frozen=True, slots=True)
class ListedEntry:
    """An entry of Manifest.db's ``Files`` table, with what the hashing found (manifest.jsonl has the
    whole of its metadata: owner, inode, flags, protection class)."""

    path: str
    type: str
    sha256: str | None
    file_id: JSON
    domain: JSON
    size: JSON
    mode: JSON
    modified: JSON
    status_changed: JSON
    birth: JSON
    absent: bool


@dataclass(frozen=True, slots=True)
class UnlistedFile:
    """A file in the backup folder that Manifest.db does not list."""

    path: str
    size: int | None
    sha256: str | None


def parse(acquisition: Acquisition, path: str) -> Iterator[Record]:
    return parse_entries(acquisition, acquisition.files())


def parse_entries(acquisition: Acquisition, entries: Iterable[EvidenceFile]) -> Iterator[Record]:
    """The records of some hashed entries of the backup (the top-level files are not listed)."""
    manifest_sha256 = acquisition.file(MANIFEST_DB).sha256
    for entry in entries:
        if entry.path in TOP_LEVEL_FILES:
            continue
        yield _record(entry, manifest_sha256)


def _record(entry: EvidenceFile, manifest_sha256: str | None) -> Record:
    meta = entry.metadata
    if meta.get("unlisted"):
        return Record(
            artifact=NAME,
            locator=Locator(entry.path, entry.sha256),
            time=None,
            summary=f"{entry.path}: a file in the backup folder that Manifest.db does not list",
            payload=UnlistedFile(entry.path, entry.size, entry.sha256),
            observables=_hash_observables(entry),
        )
    domain = str(meta.get("domain", ""))
    relative_path = str(meta.get("relative_path", ""))
    modified = meta.get("modified")
    listed = ListedEntry(
        entry.path,
        entry.type,
        entry.sha256,
        meta.get("file_id"),
        meta.get("domain"),
        meta.get("size"),
        meta.get("mode"),
        modified,
        meta.get("status_changed"),
        meta.get("birth"),
        bool(meta.get("absent")),
    )
    return Record(
        artifact=NAME,
        locator=Locator(MANIFEST_DB, manifest_sha256, table="Files", key=str(meta.get("file_id"))),
        time=datetime.fromisoformat(modified.replace("Z", "+00:00")) if isinstance(modified, str) else None,
        summary=f"{entry.path} ({entry.type}{_size(entry)}) listed in Manifest.db",
        payload=listed,
        observables=_observables(domain, relative_path) + _hash_observables(entry),
        time_kind="last modified",
        cites=() if entry.sha256 is None else (Locator(entry.path, entry.sha256),),
    )


def _size(entry: EvidenceFile) -> str:
    return "" if entry.size is None else f", {entry.size} bytes"


def _observables(domain: str, relative_path: str) -> tuple[Observable, ...]:
    """The absolute device path (where the domain's root is fixed), ``/`` + relativePath, the file name,
    and host names found in ``_``-separated path components."""
    relative = normalise_path("/" + relative_path) if relative_path else None
    if relative is None or relative == "/":
        return ()
    found = [Observable(ObservableKind.FILE_PATH, relative)]
    root = DOMAIN_ROOTS.get(domain)
    if root is not None:
        found.append(Observable(ObservableKind.FILE_PATH, root + relative))
    found.append(Observable(ObservableKind.FILE_NAME, relative.rpartition("/")[2]))
    if "_" in relative and "." in relative:
        hosts: set[Observable] = set()
        for component in relative.split("/"):
            if "_" in component and "." in component:
                for part in component.lower().split("_"):
                    host = embedded_host_observable(part)
                    if host is not None and host not in hosts:
                        hosts.add(host)
                        found.append(host)
    return tuple(found)


def _hash_observables(entry: EvidenceFile) -> tuple[Observable, ...]:
    return () if entry.sha256 is None else (Observable(ObservableKind.SHA256, entry.sha256),)


@dataclass
class Tally:
    """What the detector keeps of some records: how many files are absent or unlisted, and the few of
    each with the smallest paths to cite (the same whatever order the records came in)."""

    absent_count: int = 0
    unlisted_count: int = 0
    absent: list[Record] = field(default_factory=list)
    unlisted: list[Record] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.absent_count += other.absent_count
        self.unlisted_count += other.unlisted_count
        self.absent = _first_paths(self.absent + other.absent)
        self.unlisted = _first_paths(self.unlisted + other.unlisted)


def _first_paths(records: list[Record]) -> list[Record]:
    return sorted(records, key=lambda r: (_entry_path(r), r.locator.path))[:CITED_EXAMPLES]


def _entry_path(record: Record) -> str:
    return record.payload.path if isinstance(record.payload, ListedEntry | UnlistedFile) else ""


def tally(records: Iterable[Record]) -> Tally:
    counted = Tally()
    for record in records:
        if isinstance(record.payload, ListedEntry) and record.payload.absent:
            counted.absent_count += 1
            counted.absent.append(record)
            if len(counted.absent) > 4 * CITED_EXAMPLES:
                counted.absent = _first_paths(counted.absent)
        elif isinstance(record.payload, UnlistedFile):
            counted.unlisted_count += 1
            counted.unlisted.append(record)
            if len(counted.unlisted) > 4 * CITED_EXAMPLES:
                counted.unlisted = _first_paths(counted.unlisted)
    counted.absent, counted.unlisted = _first_paths(counted.absent), _first_paths(counted.unlisted)
    return counted


def detect(records: Iterable[Record], indicators: IndicatorLookup) -> Iterator[Finding]:
    return conclude([tally(records)])


def conclude(tallies: Sequence[Tally]) -> Iterator[Finding]:
    """The findings of the tallies of every partition, taken in order."""
    total = Tally()
    for counted in tallies:
        total.add(counted)
    if total.absent_count:
        yield Finding(
            rule="ios.manifest.listed_files_absent",
            severity=Severity.INFO,
            title=f"{total.absent_count} files listed in Manifest.db are absent from the backup folder",
            explanation=(
                f"Manifest.db lists {total.absent_count} regular files whose content is not in the backup folder "
                f"(the {len(total.absent)} first by path are cited). Artifacts stored in them could not be examined."
            ),
            caveats=(
                "Samples shared for research often drop files to save space or protect privacy.",
                "An interrupted transfer leaves files out; see Status.plist SnapshotState.",
            ),
            evidence=tuple(Evidence(r.locator, excerpt(r.summary)) for r in total.absent),
        )
    if total.unlisted_count:
        yield Finding(
            rule="ios.manifest.unlisted_files",
            severity=Severity.LOW,
            title=f"{total.unlisted_count} files in the backup folder are not listed in Manifest.db",
            explanation=(
                f"The backup folder holds {total.unlisted_count} files that Manifest.db does not list (the "
                f"{len(total.unlisted)} first by path are cited). They were hashed into the acquisition manifest, "
                "but nothing says which device file they were."
            ),
            caveats=("Decryption and copying tools sometimes leave extra files; this is not a sign of compromise.",),
            evidence=tuple(Evidence(r.locator, excerpt(r.summary)) for r in total.unlisted),
        )
