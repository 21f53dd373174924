"""(c) Manifest.db rows: duplicates, forged fileIDs, odd fields and flags, MBFile archives."""

from __future__ import annotations

import hashlib
import plistlib
import sqlite3
import struct
from collections.abc import Callable
from dataclasses import dataclass

from tests.hostile.fuzzing import bplist
from tests.hostile.fuzzing.databases import SQL_VALUES
from tests.hostile.fuzzing.mutations import (
    HISTORY,
    MANIFEST_DB,
    PHOTO,
    SMS,
    SMS_LINK_DOMAIN,
    Mutation,
    Site,
    decoy_bytes,
    edit_bytes,
    open_for_writing,
    quote,
)
from tests.hostile.fuzzing.plists import Shape
from vestige.ios.acquisitions import file_id


def _manifest(site: Site, what: str, edit: Callable[[sqlite3.Connection], None]) -> None:
    path = site.backup / MANIFEST_DB
    if not path.is_file() or path.is_symlink():
        site.skipped.append(f"{what}: Manifest.db is not a file")
        return
    try:
        db = open_for_writing(path)
        try:
            edit(db)
        finally:
            db.close()
    except sqlite3.Error as error:
        site.skipped.append(f"{what}: {error}")


@dataclass(frozen=True)
class DuplicateRow(Mutation):
    """A second Files row for ``path`` with another fileID and a decoy file (before the real row, or after)."""

    shows = True

    path: str
    decoy: str
    first: bool = True

    @property
    def keeps(self) -> tuple[str, ...]:  # type: ignore[override]
        return (SMS_LINK_DOMAIN,) if self.path == SMS else ()

    def apply(self, site: Site) -> None:
        domain, relative = self.path.split("/", 1)
        fake = hashlib.sha1(f"decoy-{self.decoy}-{self.path}".encode()).hexdigest()
        data = decoy_bytes(self.decoy, site.path(self.path))
        if data is not None:
            (site.backup / fake[:2]).mkdir(exist_ok=True)
            (site.backup / fake[:2] / fake).write_bytes(data)

        def edit(db: sqlite3.Connection) -> None:
            row = db.execute(
                "SELECT flags, file FROM Files WHERE domain = ? AND relativePath = ?", (domain, relative)
            ).fetchone()
            flags, blob = row if row else (1, b"")
            (low, high) = db.execute("SELECT min(rowid), max(rowid) FROM Files").fetchone()
            rowid = (low or 1) - 1 if self.first else (high or 0) + 1
            db.execute(
                "INSERT INTO Files (rowid, fileID, domain, relativePath, flags, file) VALUES (?, ?, ?, ?, ?, ?)",
                (rowid, fake, domain, relative, flags, blob),
            )

        _manifest(site, repr(self), edit)


@dataclass(frozen=True)
class ForgedFileID(Mutation):
    """The Files row of ``path`` given a fileID that is not sha1(domain-relativePath): ``other`` (it
    swaps fileIDs with the row of ``OTHER``: each path names the other's file), ``random`` (the file
    moved to match), ``traversal`` (``../`` in the fileID), ``upper`` (upper-case hex, the file renamed
    to match)."""

    shows = True

    path: str
    how: str

    OTHER = HISTORY

    def apply(self, site: Site) -> None:
        domain, relative = self.path.split("/", 1)
        genuine = site.path(self.path)
        if self.how == "other":  # the two rows swap fileIDs: each path names the other's file
            other = self.OTHER if self.path != self.OTHER else SMS  # never a swap with itself
            forged, theirs = site.path(other).name, genuine.name
            _manifest(
                site,
                repr(self),
                lambda db: db.executescript(
                    f"UPDATE Files SET fileID = 'fuzz-swap' WHERE fileID = '{theirs}';"
                    f"UPDATE Files SET fileID = '{theirs}' WHERE fileID = '{forged}';"
                    f"UPDATE Files SET fileID = '{forged}' WHERE fileID = 'fuzz-swap';"
                ),
            )
            return
        if self.how == "traversal":
            forged = "../Manifest.db"
        elif self.how == "upper":
            forged = genuine.name.upper()
        else:
            forged = hashlib.sha1(f"random-{self.path}".encode()).hexdigest()
        if self.how in ("random", "upper") and genuine.is_file():
            (site.backup / forged[:2]).mkdir(exist_ok=True)
            genuine.rename(site.backup / forged[:2] / forged)
        _manifest(
            site,
            repr(self),
            lambda db: db.execute(
                "UPDATE Files SET fileID = ? WHERE domain = ? AND relativePath = ?", (forged, domain, relative)
            ),
        )


@dataclass(frozen=True)
class ManifestField(Mutation):
    """A Files column of ``path``'s row set to ``SQL_VALUES[value]`` (domain, relativePath, flags, fileID, file)."""

    path: str
    column: str
    value: str

    def apply(self, site: Site) -> None:
        domain, relative = self.path.split("/", 1)
        _manifest(
            site,
            repr(self),
            lambda db: db.execute(
                f"UPDATE Files SET {quote(self.column)} = {SQL_VALUES[self.value]}"
                " WHERE domain = ? AND relativePath = ?",
                (domain, relative),
            ),
        )

    @property
    def keeps(self) -> tuple[str, ...]:  # type: ignore[override]
        # One unreadable row of another file costs that row, never the genuine sms.db.
        return (SMS_LINK_DOMAIN,) if self.path != SMS and self.column in ("relativePath", "domain") else ()


@dataclass(frozen=True)
class Flags(Mutation):
    """The flags of ``path``'s row set to any integer (a file listed as a directory or link, -1, 2**63-1)."""

    path: str
    flags: int

    def apply(self, site: Site) -> None:
        domain, relative = self.path.split("/", 1)
        _manifest(
            site,
            repr(self),
            lambda db: db.execute(
                "UPDATE Files SET flags = ? WHERE domain = ? AND relativePath = ?", (self.flags, domain, relative)
            ),
        )


@dataclass(frozen=True)
class MBFileBytes(Mutation):
    """The ``file`` blob (an NSKeyedArchiver MBFile) of ``path``'s row edited byte by byte, or
    replaced by a hand-written archive whose root holds ``shape``."""

    path: str
    edits: tuple[tuple[str, int, int], ...] = ()
    shape: Shape | None = None

    def apply(self, site: Site) -> None:
        domain, relative = self.path.split("/", 1)

        def edit(db: sqlite3.Connection) -> None:
            row = db.execute(
                "SELECT file FROM Files WHERE domain = ? AND relativePath = ?", (domain, relative)
            ).fetchone()
            if row is None or not isinstance(row[0], bytes):
                return
            blob = edit_bytes(row[0], self.edits)
            if self.shape is not None:
                archive = plistlib.loads(row[0])
                archive["$objects"][1]["Size"] = bplist.Splice(self.shape.build)
                blob = bplist.dumps(archive)
            db.execute("UPDATE Files SET file = ? WHERE domain = ? AND relativePath = ?", (blob, domain, relative))

        _manifest(site, repr(self), edit)


@dataclass(frozen=True)
class PadRows(Mutation):
    """``count`` directory rows added after the others, so that the listing has several partitions
    (5,000 rows each) and ``-j 2`` reads them in different processes."""

    count: int

    def apply(self, site: Site) -> None:
        def edit(db: sqlite3.Connection) -> None:
            (blob,) = db.execute("SELECT file FROM Files WHERE flags = 2 ORDER BY rowid LIMIT 1").fetchone()
            rows = [
                (file_id("HomeDomain", f"Library/Pad/{n}"), "HomeDomain", f"Library/Pad/{n}", 2, blob)
                for n in range(self.count)
            ]
            db.execute("BEGIN")
            db.executemany("INSERT INTO Files VALUES (?, ?, ?, ?, ?)", rows)
            db.execute("COMMIT")

        _manifest(site, repr(self), edit)


@dataclass(frozen=True)
class PoisonedLayout(Mutation):
    """Two MBFile archives that share their first bytes and offsets but not their root dictionary
    (its value references straddle the end of the shared prefix): whichever is read first decides
    how the other is read when a process caches archive layouts by prefix. The first goes into
    ``path``'s row, the second into the last row of a padded listing (another partition)."""

    path: str = PHOTO

    def apply(self, site: Site) -> None:
        domain, relative = self.path.split("/", 1)

        def edit(db: sqlite3.Connection) -> None:
            first, second = poisoned_archives()
            db.execute("UPDATE Files SET file = ? WHERE domain = ? AND relativePath = ?", (first, domain, relative))
            (last,) = db.execute("SELECT max(rowid) FROM Files").fetchone()
            db.execute("UPDATE Files SET file = ?, flags = 1 WHERE rowid = ?", (second, last))

        _manifest(site, repr(self), edit)


def poisoned_archives() -> tuple[bytes, bytes]:
    """Two keyed archives, identical up to the middle of the root dictionary: object 10 starts
    inside the root dictionary (object 9), between its two value references, so a layout cached
    from the first (Mode -> 111) is taken for the second (Mode -> 222 when read afresh)."""

    def archive(mode_ref: int) -> bytes:
        objects = [
            b"\xd2\x01\x02\x03\x04",  # 0: {$objects: 3, $top: 4}
            b"\x58$objects",  # 1
            b"\x54$top",  # 2
            b"\xa2\x0d\x09",  # 3: $objects = [$null, root]
            b"\xd1\x05\x06",  # 4: {root: UID 1}
            b"\x54root",  # 5
            b"\x80\x01",  # 6: UID 1
            b"\x54Size",  # 7
            b"\x54Mode",  # 8
            b"\xd2\x07\x08\x0b" + bytes([mode_ref]),  # 9: root {Size: 11, Mode: mode_ref}
            b"\x10\x6f",  # 11: 111
            b"\x10\xde",  # 12: 222
            b"\x55$null",  # 13
        ]
        body = bytearray(b"bplist00")
        offsets = []
        for index, encoded in enumerate(objects):
            offsets.append(len(body))
            if index == 9:
                offsets.append(len(body) + 4)  # 10: overlaps the last value reference of the root
            body += encoded
        table = len(body)
        body += bytes(offsets)
        body += struct.pack(">6xBBQQQ", 1, 1, len(offsets), 0, table)
        return bytes(body)

    return archive(11), archive(12)
