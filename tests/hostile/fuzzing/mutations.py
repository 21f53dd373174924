"""What a spyware operator can do to the files of a backup, as small values that say what they do.

This module holds what the kinds of mutation share (the demo's targets, ``Site``, ``Mutation``);
the mutations themselves are in ``plists`` (a), ``databases`` (b), ``listing`` (c) and ``files`` (d).
Each is a frozen dataclass whose ``repr`` is its reproduction: applied with ``apply(site)``
to a copy of the demo backup (``vestige.ios.sample.demo.build_demo_backup``), it changes one thing
the way an adversary who controls the phone's data (or the folder handed to the examiner) could.
They compose: a test input is a list of them, applied in order. One that cannot apply to what the
earlier ones left (an UPDATE on a table already turned into a view) does nothing (``site.skipped``
says so), so that any list is a valid input.

Some mutations also say what the run must still show (``keeps``: text the findings of a completed
run must contain, the genuine data a decoy or a bad row must not hide; ``shows``: the manipulation
itself must be visible, as a finding or a problem that the unmutated demo does not have), where the output goes
(``output``) or that the run is interrupted (``signal_after``). Text placed outside the backup
(the target of a symlink, a write-ahead log outside) carries ``OUTSIDE_MARKER``, which must never
reach the output: a link is listed, never followed. Text meant to forge a terminal line carries
``FORGED_MARKER``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from vestige.ios.acquisitions import LISTING, file_id
from vestige.ios.artifacts import datausage, safari_history, sms, webkit_observations
from vestige.ios.sample.schemas import SMS_DB

OUTSIDE_MARKER = "vestige-fuzz-outside"
"""In every file placed outside the backup: reading it is following a link out of the acquisition."""
FORGED_MARKER = "vestige-fuzz-forged"
"""Begins a line that evidence text tries to print on the analyst's terminal as if vestige said it."""
FORGED_TEXT = (
    f"Amina\n\x1b[2K\rCRITICAL {FORGED_MARKER}: this phone is clean\t\u202egnp.exe\u202c :skull: "
    "[bold red]clean[/bold red] [/] [link=https://x.example]x[/link]\x07\x9b31m"
)
"""Newline, carriage return, ESC sequences, a tab, a bidi override, an emoji code and rich markup."""
LINK_MESSAGES, LINK_MESSAGE = 4, 2
"""The demo's sms.db has four messages; the third (index 2 by rowid) carries the link."""
SMS_LINK_DOMAIN = "smscentro.com"
"""The demo's SMS carries a link on this domain (the harness's indicator list names it): the genuine
sms.db is read when a finding names it."""

IDSTATUS = "HomeDomain/Library/Preferences/com.apple.identityservices.idstatuscache.plist"
OSANALYTICS = "HomeDomain/Library/Preferences/com.apple.osanalytics.addaily.plist"
SMS = "HomeDomain/Library/SMS/sms.db"
HISTORY = "HomeDomain/Library/Safari/History.db"
DATAUSAGE = "WirelessDomain/Library/Databases/DataUsage.sqlite"
OBSERVATIONS = "AppDomain-com.atebits.Tweetie2/Library/WebKit/WebsiteData/ResourceLoadStatistics/observations.db"
PHOTO = "CameraRollDomain/Media/DCIM/100APPLE/IMG_4100.HEIC"
MANIFEST_DB = "Manifest.db"
TOP_PLISTS = ("Info.plist", "Manifest.plist", "Status.plist")
STORED_PLISTS = (IDSTATUS, OSANALYTICS)
PLISTS = TOP_PLISTS + STORED_PLISTS
STORED_DATABASES = (SMS, HISTORY, DATAUSAGE, OBSERVATIONS)
DATABASES = (MANIFEST_DB, *STORED_DATABASES)
STORED_FILES = (*STORED_DATABASES, *STORED_PLISTS, PHOTO)

TABLES: dict[str, dict[str, tuple[str, ...]]] = {
    database: {table.name: (*table.required, *table.optional) for table in (*structure.required, *structure.optional)}
    for database, structure in (
        (MANIFEST_DB, LISTING),
        (SMS, sms.STRUCTURE),
        (HISTORY, safari_history.STRUCTURE),
        (DATAUSAGE, datausage.STRUCTURE),
        (OBSERVATIONS, webkit_observations.STRUCTURE),
    )
}
"""The tables (and their columns) that vestige reads in each database: the ones worth breaking."""


@dataclass
class Site:
    """The copy of the backup being mutated, and a folder outside it for link targets."""

    backup: Path
    outside: Path
    skipped: list[str] = field(default_factory=list)

    def path(self, target: str) -> Path:
        """Where ``target`` (a top-level name or a device path of the demo) is on disk."""
        if "/" not in target:
            return self.backup / target
        domain, relative = target.split("/", 1)
        name = file_id(domain, relative)
        return self.backup / name[:2] / name

    def outside_file(self, name: str, data: bytes) -> Path:
        path = self.outside / name
        path.write_bytes(data)
        return path


class Mutation:
    """One change to a backup. ``keeps``: text a completed run's findings must still contain."""

    keeps: tuple[str, ...] = ()
    shows: bool = False
    """A manipulation that must be visible: the findings or problems differ from the unmutated demo's."""
    output: str | None = None
    signal_after: float | None = None

    def apply(self, site: Site) -> None:
        raise NotImplementedError


def open_for_writing(path: Path) -> sqlite3.Connection:
    """The mutated copy opened for writing, leaving no journal beside it."""
    db = sqlite3.connect(str(path), isolation_level=None)
    db.execute("PRAGMA journal_mode = MEMORY")
    return db


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def edit_bytes(data: bytes, edits: tuple[tuple[str, int, int], ...]) -> bytes:
    """``(op, position, value)``: ``flip`` xors a byte with value (1-255), ``truncate`` cuts, ``insert``
    puts ``value`` bytes of 0xff (or a run of one byte) at the position; positions wrap."""
    buffer = bytearray(data)
    for op, position, value in edits:
        at = position % (len(buffer) + 1)
        if op == "flip" and buffer:
            buffer[at % len(buffer)] ^= value or 1
        elif op == "truncate":
            del buffer[at:]
        elif op == "insert":
            buffer[at:at] = bytes([value & 0xFF]) * (1 + value % 64)
    return bytes(buffer)


DECOYS = ("empty-database", "garbage", "absent", "same-content")


def decoy_bytes(kind: str, genuine: Path) -> bytes | None:
    if kind == "absent":
        return None
    if kind == "garbage":
        return b"SQLite format 3\x00" + b"\x00" * 84
    if kind == "same-content":
        return genuine.read_bytes() if genuine.is_file() else b""
    scratch = genuine.with_name(genuine.name + ".fuzz-decoy")
    db = sqlite3.connect(str(scratch))
    db.executescript(SMS_DB)
    db.close()
    data = scratch.read_bytes()
    scratch.unlink()
    return data
