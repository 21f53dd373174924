"""(d) Names, links, sidecars, special files, and where the output goes or when the run stops."""

from __future__ import annotations

import contextlib
import hashlib
import os
import plistlib
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from tests.hostile.fuzzing.mutations import (
    DATABASES,
    OUTSIDE_MARKER,
    SMS,
    SMS_LINK_DOMAIN,
    STORED_PLISTS,
    TABLES,
    TOP_PLISTS,
    Mutation,
    Site,
    decoy_bytes,
    open_for_writing,
    quote,
)
from vestige.ios.acquisitions import file_id


@dataclass(frozen=True)
class UnlistedFile(Mutation):
    """A file that Manifest.db does not list, at a device path inside the folder
    (``<backup>/HomeDomain/Library/SMS/sms.db``) or under the fileID of an unlisted device path."""

    shows = True

    path: str
    content: str
    as_device_path: bool = True

    @property
    def keeps(self) -> tuple[str, ...]:  # type: ignore[override]
        return (SMS_LINK_DOMAIN,) if self.path == SMS else ()

    def apply(self, site: Site) -> None:
        genuine = site.path(self.path)
        data = decoy_bytes(self.content, genuine) if self.content != "absent" else b""
        if self.as_device_path:
            where = site.backup / self.path
        else:
            domain, relative = self.path.split("/", 1)
            name = file_id(domain + "Decoy", relative)
            where = site.backup / name[:2] / name
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_bytes(data or b"")


@dataclass(frozen=True)
class OddName(Mutation):
    """Files whose names are not UTF-8 (``\\xff``), the literal text ``\\xff`` beside them, a newline
    or control characters, in a fileID folder or at the top."""

    raw: bytes
    top: bool = False

    def apply(self, site: Site) -> None:
        folder = site.backup if self.top else site.backup / "ff"
        folder.mkdir(exist_ok=True)
        for name in (self.raw, self.raw.decode("latin-1").encode("unicode_escape")):
            if name and b"/" not in name and name not in (b".", b".."):
                (folder / os.fsdecode(name)).write_bytes(b"odd name: " + name)  # fsdecode: any bytes


LINK_TARGETS = ("outside-copy", "root", "dev-zero", "dangling", "self", "parent-dir", "relative-escape")


@dataclass(frozen=True)
class Symlink(Mutation):
    """``target`` (a top-level name, a device path of a stored file, or either + ``-wal``/``-journal``)
    replaced by (or given) a symlink: to a copy outside the backup carrying ``OUTSIDE_MARKER``, to /,
    to /dev/zero, dangling, to itself, to a folder."""

    at: str
    to: str

    def apply(self, site: Site) -> None:
        path = site.path(self.at.removesuffix("-wal").removesuffix("-journal"))
        suffix = self.at[len(self.at.removesuffix("-wal").removesuffix("-journal")) :]
        link = path.with_name(path.name + suffix)
        outside = _outside_version(site, self.at, link)
        targets = {
            "outside-copy": str(outside),
            "root": "/",
            "dev-zero": "/dev/zero",
            "dangling": str(site.outside / "nowhere"),
            "self": link.name,
            "parent-dir": "..",
            "relative-escape": os.path.relpath(outside, link.parent),
        }
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(targets[self.to])


def _outside_version(site: Site, at: str, link: Path) -> Path:
    """What a link out of the backup points at: the file's own content made to carry the marker
    (a plist with the marker as device name, a database with a marked row, a log adding one)."""
    name = hashlib.sha1(at.encode()).hexdigest()
    original = link if link.is_file() and not link.is_symlink() else None
    if at.endswith(("-wal", "-journal")):
        return site.outside_file(name, _marked_wal(site, at))
    if original is not None and at in TOP_PLISTS + STORED_PLISTS:
        try:
            value = plistlib.loads(original.read_bytes())
        except Exception:
            value = {}
        if isinstance(value, dict):
            value["Device Name"] = OUTSIDE_MARKER
            value[OUTSIDE_MARKER] = {OUTSIDE_MARKER: {"IDStatus": OUTSIDE_MARKER, "LookupDate": 0.0}}
            return site.outside_file(name, plistlib.dumps(value, fmt=plistlib.FMT_BINARY))
    if original is not None and (at in DATABASES):
        copy = site.outside_file(name, original.read_bytes())
        db = open_for_writing(copy)
        try:
            for table, columns in TABLES[at].items():
                text_columns = [c for c in columns if c.lower() not in ("rowid", "z_pk", "id", "domainid", "flags")]
                if text_columns:
                    column = text_columns[0]
                    with contextlib.suppress(sqlite3.Error):
                        db.execute(
                            f"UPDATE {quote(table)} SET {quote(column)} = ?", (f"http://{OUTSIDE_MARKER}.example/",)
                        )
        finally:
            db.close()
        return copy
    return site.outside_file(name, f"{OUTSIDE_MARKER}\n".encode() * 64)


def _marked_wal(site: Site, at: str, marker: str = OUTSIDE_MARKER) -> bytes:
    """A write-ahead log for the database at ``at`` (without the suffix) that adds a row of ``marker``."""
    base = at.removesuffix("-wal").removesuffix("-journal")
    original = site.path(base)
    scratch = site.outside / ("wal-" + hashlib.sha1(f"{at} {marker}".encode()).hexdigest())
    scratch.mkdir(exist_ok=True)
    copy = scratch / "db"
    if original.is_file() and not original.is_symlink():
        shutil.copyfile(original, copy)
    live = sqlite3.connect(str(copy))
    try:
        live.execute("PRAGMA journal_mode = WAL")
        live.execute("PRAGMA wal_autocheckpoint = 0")
        for table, columns in TABLES.get(base, {}).items():
            try:
                values = ", ".join("?" for _ in columns)
                live.execute(
                    f"INSERT INTO {quote(table)} ({', '.join(map(quote, columns))}) VALUES ({values})",
                    [f"{marker}-{n}" if n else 987654 for n, _ in enumerate(columns)],
                )
            except sqlite3.Error:
                pass
        live.commit()
        wal = copy.with_name("db-wal")
        data = wal.read_bytes() if wal.exists() else marker.encode()
    finally:
        live.close()
    return data


@dataclass(frozen=True)
class Sidecar(Mutation):
    """A ``-wal`` or ``-journal`` file beside ``database`` in the folder: a real log that adds a row,
    or ``garbage`` bytes."""

    database: str
    suffix: str
    content: str

    def apply(self, site: Site) -> None:
        path = site.path(self.database)
        sidecar = path.with_name(path.name + self.suffix)
        if self.content == "garbage":
            sidecar.write_bytes(b"\x37\x7f\x06\x82" + b"\xff" * 4000)
        else:
            sidecar.write_bytes(_marked_wal(site, self.database + "-wal", "vestige-fuzz-inside"))


@dataclass(frozen=True)
class SpecialFile(Mutation):
    """A stored file replaced by a named pipe (opening it for reading waits for ever)."""

    at: str

    def apply(self, site: Site) -> None:
        path = site.path(self.at)
        if path.exists() or path.is_symlink():
            path.unlink()
        os.mkfifo(path)


@dataclass(frozen=True)
class DeepFolder(Mutation):
    """Folders nested below a fileID folder until the path is longer than PATH_MAX, a file at the bottom."""

    levels: int = 40

    def apply(self, site: Site) -> None:
        name = "d" * 200
        fd = os.open(site.backup / "ff", os.O_RDONLY | os.O_DIRECTORY) if (site.backup / "ff").is_dir() else None
        if fd is None:
            (site.backup / "ff").mkdir()
            fd = os.open(site.backup / "ff", os.O_RDONLY | os.O_DIRECTORY)
        try:
            for _ in range(self.levels):
                with contextlib.suppress(FileExistsError):  # drawn twice: the second goes down the same folders
                    os.mkdir(name, dir_fd=fd)
                inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                os.close(fd)
                fd = inner
            leaf = os.open("deep.bin", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
            os.write(leaf, b"deep")
            os.close(leaf)
        finally:
            os.close(fd)


OUTPUTS = ("dangling-symlink", "below-regular-file", "not-empty", "deeper-than-path-max", "inside-acquisition")


@dataclass(frozen=True)
class Output(Mutation):
    """``-o`` given where a run cannot write: at a dangling symlink, below a regular file, a folder
    that is not empty, below a folder deeper than PATH_MAX, inside the acquisition."""

    where: str

    @property
    def output(self) -> str:  # type: ignore[override]
        return self.where

    def apply(self, site: Site) -> None:
        pass


@dataclass(frozen=True)
class Interrupt(Mutation):
    """The run is sent SIGTERM (or SIGINT) ``after`` seconds: it must leave no partial output and no
    temporary folder."""

    after: float
    signal_name: str = "SIGTERM"

    @property
    def signal_after(self) -> float:  # type: ignore[override]
        return self.after

    def apply(self, site: Site) -> None:
        pass
