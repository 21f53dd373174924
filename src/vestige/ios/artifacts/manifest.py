"""Every entry of an iOS backup's ``Manifest.db`` (``Files`` table), with the hash vestige computed.

Each listed file, directory and symlink becomes a record timed by its ``LastModified`` (from the
``MBFile`` blob). Its device path is checked against ``file:path`` and ``file:name`` indicators (the
absolute path where the domain's root is fixed, and ``/`` + relativePath as the domain sees it),
its SHA-256 against file-hash indicators, and host names inside path components (WebKit names
website-data folders ``https_<host>_<port>``) against domain indicators. Files listed but absent,
and files present but not listed, are reported. A match cites the Manifest.db row and, for a file
with content, the file itself (what a hash describes, and what a disclosure can carry instead of the
whole listing). Format: docs/ios-formats.md section 1.

What a genuine backup never holds is reported as manipulation, medium, one finding of each kind per
backup with a count and the first examples by path (``vestige.ios.acquisitions`` says how each is
listed): rows whose ``fileID`` is not SHA-1 of ``domain-relativePath`` (``ios.backup.file_id_mismatch``),
paths that Manifest.db lists more than once (``ios.backup.duplicate_path``: every row is read by the
artifacts, each under its own name), files of the backup that are symbolic links where a top-level
file or a listed file's content should be (``ios.backup.symlinked_file``: never followed), and files
in the backup folder at a device path (``HomeDomain/...``) that Manifest.db does not list
(``ios.backup.unlisted_device_path``: never parsed as the device file).

This is a listing artifact (``vestige.platforms.ListingArtifact``): the engine reads it in the same
pass that hashes the backup (``parse_entries`` on each partition of the listing, where it was
hashed, so records follow Manifest.db's row order), and ``tally``/``conclude`` split the detector
over the partitions; ``parse``/``detect`` read the finished manifest in one piece (in path order)
and give the same records and the same findings. Its records are the backup's entries, which
``manifest.jsonl`` holds in full, so they are not written again under ``records/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from vestige.evidence.acquisition import LISTED_AS, UNLISTED, Acquisition, EvidenceFile
from vestige.evidence.sqlite import SIDECARS
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
VERSION = 2
PATHS = {IOS_BACKUP: ("Manifest.db",)}
DESCRIPTION = "Files, directories and symlinks listed in Manifest.db, with their SHA-256 and MACB times"
MATCHES = MatchPolicy(
    Severity.HIGH,
    "A file listed in the backup",
    ("The backup lists files by path; a path match says such a file existed, not that it ran.",),
)
CITED_EXAMPLES = 10
TOP_LEVEL_NAMES = frozenset((*TOP_LEVEL_FILES, *(MANIFEST_DB + suffix for suffix in SIDECARS)))
DEVICE_PATH = re.compile(r"[A-Za-z]+Domain(-[^/]+)?/")
"""The first component of a device path: a backup domain (``HomeDomain``, ``AppDomain-<bundle id>``)."""


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
class FlaggedEntry(ListedEntry):
    """An entry of Manifest.db that a genuine backup never holds: its fileID is not SHA-1 of its path
    (it is then named ``<listed_as> [fileID <fileID>]``, ``file_id_expected`` is the SHA-1, and
    ``same_path_file_ids`` the other rows that list the path), or its stored file is a link
    (``stored_type``, ``stored_target``). Only such entries carry these fields (the timeline shows
    them); the hundreds of thousands of others are ``ListedEntry``."""

    listed_as: str | None = None
    file_id_expected: str | None = None
    same_path_file_ids: tuple[str, ...] = ()
    stored_as: str | None = None
    stored_type: str | None = None
    stored_target: str | None = None


@dataclass(frozen=True, slots=True)
class UnlistedFile:
    """A file in the backup folder that Manifest.db does not list."""

    path: str
    size: int | None
    sha256: str | None


@dataclass(frozen=True, slots=True)
class BackupLink:
    """A member of the backup folder that is not a file or folder (a symbolic link, a FIFO), listed as
    what it is and never opened: at the top (where ``Info.plist`` or a ``Manifest.db-wal`` should
    be), or in a subfolder without a Manifest.db row."""

    path: str
    type: str
    target: str | None
    unlisted: bool


def parse(acquisition: Acquisition, path: str) -> Iterator[Record]:
    return parse_entries(acquisition, acquisition.files())


def parse_entries(acquisition: Acquisition, entries: Iterable[EvidenceFile]) -> Iterator[Record]:
    """The records of some hashed entries of the backup (the top-level files are not listed; a link
    at the top is)."""
    manifest_sha256 = acquisition.file(MANIFEST_DB).sha256
    for entry in entries:
        if entry.type not in ("file", "directory") and "file_id" not in entry.metadata:
            yield _link_record(entry)
        elif entry.path not in TOP_LEVEL_FILES:
            yield _record(entry, manifest_sha256)


def _link_record(entry: EvidenceFile) -> Record:
    target = entry.metadata.get("target")
    link = BackupLink(
        entry.path, entry.type, target if isinstance(target, str) else None, bool(entry.metadata.get(UNLISTED))
    )
    what = f"a symbolic link to {link.target}" if entry.type == "symlink" else f"a {entry.type}"
    where = "in the backup folder, not listed in Manifest.db" if link.unlisted else "at the top of the backup folder"
    return Record(
        artifact=NAME,
        locator=Locator(entry.path, None),
        time=None,
        summary=f"{entry.path}: {what} {where} (never followed)",
        payload=link,
    )


def _record(entry: EvidenceFile, manifest_sha256: str | None) -> Record:
    meta = entry.metadata
    if meta.get(UNLISTED):
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
    fields: _Fields = (
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
    summary = f"{entry.path} ({entry.type}{_size(entry)}) listed in Manifest.db"
    listed: ListedEntry
    if LISTED_AS in meta or "stored_type" in meta:
        listed = _flagged(fields, entry)
        summary = _flagged_summary(listed, entry)
    else:
        listed = ListedEntry(*fields)
    return Record(
        artifact=NAME,
        locator=Locator(MANIFEST_DB, manifest_sha256, table="Files", key=str(meta.get("file_id"))),
        time=datetime.fromisoformat(modified.replace("Z", "+00:00")) if isinstance(modified, str) else None,
        summary=summary,
        payload=listed,
        observables=_observables(domain, relative_path) + _hash_observables(entry),
        time_kind="last modified",
        cites=() if entry.sha256 is None else (Locator(entry.path, entry.sha256),),
    )


_Fields = tuple[str, str, str | None, JSON, JSON, JSON, JSON, JSON, JSON, JSON, bool]
"""The fields of a ``ListedEntry``, in order."""


def _flagged(fields: _Fields, entry: EvidenceFile) -> FlaggedEntry:
    meta = entry.metadata

    def text(key: str) -> str | None:
        value = meta.get(key)
        return value if isinstance(value, str) else None

    others = meta.get("same_path_file_ids")
    same_path = tuple(str(other) for other in others) if isinstance(others, list) else ()
    return FlaggedEntry(
        *fields,
        listed_as=text(LISTED_AS),
        file_id_expected=text("file_id_expected"),
        same_path_file_ids=same_path,
        stored_as=entry.stored_as,
        stored_type=text("stored_type"),
        stored_target=text("stored_target"),
    )


def _flagged_summary(listed: FlaggedEntry, entry: EvidenceFile) -> str:
    shown = listed.listed_as or entry.path
    parts = [f"{shown} ({entry.type}{_size(entry)}) listed in Manifest.db"]
    if listed.file_id_expected is not None:
        parts.append(f"under fileID {listed.file_id}, not the SHA-1 of its path ({listed.file_id_expected})")
    if listed.same_path_file_ids:
        parts.append(
            f"as also by the row{'s' if len(listed.same_path_file_ids) > 1 else ''} of fileID "
            + ", ".join(listed.same_path_file_ids)
        )
    if listed.stored_type is not None:
        what = (
            f"a symbolic link to {listed.stored_target}"
            if listed.stored_type == "symlink"
            else f"a {listed.stored_type}"
        )
        parts.append(f"its stored file {listed.stored_as} is {what}, never followed")
    return "; ".join(parts)


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
    """What the detector keeps of some records: how many of each kind of entry it reports (absent,
    unlisted, forged fileID, path listed twice, linked file, unlisted at a device path), and the few
    of each with the smallest paths to cite (the same whatever order the records came in)."""

    absent_count: int = 0
    unlisted_count: int = 0
    absent: list[Record] = field(default_factory=list)
    unlisted: list[Record] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[Record]] = field(default_factory=dict)

    def add(self, other: Tally) -> None:
        self.absent_count += other.absent_count
        self.unlisted_count += other.unlisted_count
        self.absent = _first_paths(self.absent + other.absent)
        self.unlisted = _first_paths(self.unlisted + other.unlisted)
        for kind, count in other.counts.items():
            self.counts[kind] = self.counts.get(kind, 0) + count
            self.examples[kind] = _first_paths(self.examples.get(kind, []) + other.examples[kind])

    def note(self, kind: str, record: Record) -> None:
        """Counts a record of one kind of manipulation, keeping the first examples by path."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        kept = self.examples.setdefault(kind, [])
        kept.append(record)
        if len(kept) > 4 * CITED_EXAMPLES:
            self.examples[kind] = _first_paths(kept)


def _first_paths(records: list[Record]) -> list[Record]:
    return sorted(records, key=lambda r: (_entry_path(r), r.locator.path, r.locator.key or ""))[:CITED_EXAMPLES]


def _entry_path(record: Record) -> str:
    return record.payload.path if isinstance(record.payload, ListedEntry | UnlistedFile | BackupLink) else ""


FORGED, DUPLICATE, LINKED, DEVICE_PATH_UNLISTED = (
    "file_id_mismatch",
    "duplicate_path",
    "symlinked_file",
    "unlisted_device_path",
)


def tally(records: Iterable[Record]) -> Tally:
    counted = Tally()
    for record in records:
        payload = record.payload
        if isinstance(payload, ListedEntry) and payload.absent:
            counted.absent_count += 1
            counted.absent.append(record)
            if len(counted.absent) > 4 * CITED_EXAMPLES:
                counted.absent = _first_paths(counted.absent)
        elif isinstance(payload, UnlistedFile):
            counted.unlisted_count += 1
            counted.unlisted.append(record)
            if len(counted.unlisted) > 4 * CITED_EXAMPLES:
                counted.unlisted = _first_paths(counted.unlisted)
            if DEVICE_PATH.match(payload.path):
                counted.note(DEVICE_PATH_UNLISTED, record)
        if isinstance(payload, FlaggedEntry):
            if payload.file_id_expected is not None:
                counted.note(FORGED, record)
            if payload.same_path_file_ids:
                counted.note(DUPLICATE, record)
            if payload.stored_type is not None:
                counted.note(LINKED, record)
        elif isinstance(payload, BackupLink) and not payload.unlisted and payload.path in TOP_LEVEL_NAMES:
            counted.note(LINKED, record)
    counted.absent, counted.unlisted = _first_paths(counted.absent), _first_paths(counted.unlisted)
    for kind, kept in counted.examples.items():
        counted.examples[kind] = _first_paths(kept)
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
    yield from _manipulation(total)


MANIPULATION_CAVEAT = (
    "A backup is copied and stored by hosts and tools outside the phone; the change may have been made "
    "to the copy rather than on the device."
)


def _manipulation(total: Tally) -> Iterator[Finding]:
    """The findings of what a genuine backup never holds, one per kind (counts, first examples)."""
    if total.counts.get(FORGED):
        yield _manipulation_finding(
            total,
            FORGED,
            "rows of Manifest.db have a fileID that is not the SHA-1 of their path",
            "The device names each file it backs up SHA-1(domain-relativePath) and stores it under that name; "
            "these rows carry another fileID, so their content was stored or listed by something else. Each is "
            "read by the artifacts under its own name, '<path> [fileID <fileID>]'.",
            (
                "vestige knows of no backup tool that writes such rows; a tool that rewrites Manifest.db could.",
                MANIPULATION_CAVEAT,
            ),
        )
    if total.counts.get(DUPLICATE):
        yield _manipulation_finding(
            total,
            DUPLICATE,
            "paths are listed more than once in Manifest.db",
            "A path is one row of a genuine Manifest.db (its fileID is the SHA-1 of the path, and fileID is the "
            "table's key). Here another row lists the same path and points at a different stored file, as a decoy "
            "that would hide the real file does. Every row is read by the artifacts: the row whose fileID matches "
            "under the path itself, each other under '<path> [fileID <fileID>]'.",
            (MANIPULATION_CAVEAT,),
        )
    if total.counts.get(LINKED):
        yield _manipulation_finding(
            total,
            LINKED,
            "files of the backup are symbolic links",
            "A backup holds regular files only. These top-level files or stored files are symbolic links (or other "
            "non-files); vestige never follows them, so the content they stand for was not examined.",
            ("Copying a backup with a tool that keeps links, or a backup folder assembled by hand, can leave links.",),
        )
    if total.counts.get(DEVICE_PATH_UNLISTED):
        yield _manipulation_finding(
            total,
            DEVICE_PATH_UNLISTED,
            "files in the backup folder are named like device paths that Manifest.db does not list",
            "A backup stores files under their fileID only. These files sit at device paths (a domain, then the "
            "path inside it) without a Manifest.db row; they were hashed but not parsed as the device files they "
            "are named after.",
            (MANIPULATION_CAVEAT, "Some extraction tools write a device-path copy next to the backup folder."),
        )


def _manipulation_finding(total: Tally, kind: str, what: str, explanation: str, caveats: tuple[str, ...]) -> Finding:
    count, examples = total.counts[kind], total.examples[kind]
    title = f"{count} {what}" if count > 1 else f"1 {_singular(what)}"
    cited = f" The {len(examples)} first by path are cited." if count > len(examples) else ""
    return Finding(
        rule=f"ios.backup.{kind}",
        severity=Severity.MEDIUM,
        title=title,
        explanation=explanation + cited,
        caveats=caveats,
        evidence=tuple(evidence for record in examples for evidence in _cited(record)),
    )


def _singular(what: str) -> str:
    return (
        what.replace("rows of Manifest.db have", "row of Manifest.db has")
        .replace("paths are listed", "path is listed")
        .replace("files of the backup are symbolic links", "file of the backup is a symbolic link")
        .replace(
            "files in the backup folder are named like device paths",
            "file in the backup folder is named like a device path",
        )
        .replace("their path", "its path")
    )


def _cited(record: Record) -> tuple[Evidence, ...]:
    """The record's own locator (a Manifest.db row, or a file of the backup folder), the file it
    points at, and for a path listed twice the other rows that list it."""
    cited = [Evidence(record.locator, excerpt(record.summary))]
    cited.extend(Evidence(locator, excerpt(f"the content of {record.locator.key}")) for locator in record.cites)
    payload = record.payload
    if isinstance(payload, FlaggedEntry):
        for other in payload.same_path_file_ids:
            locator = Locator(MANIFEST_DB, record.locator.sha256, table="Files", key=other)
            where = f"{other[:2]}/{other}"
            cited.append(
                Evidence(locator, excerpt(f"{payload.listed_as}: also listed by this row (stored as {where})"))
            )
    return tuple(cited)
