"""Reading an acquisition's bytes whatever its shape (folder, file, zip, tar), never writing next to it,
never following a link out of it, and stopping at the limits."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import multiprocessing
import os
import random
import re
import stat
import tarfile
import warnings
import zipfile
from multiprocessing.queues import Queue
from pathlib import Path
from typing import IO, Any

import pytest

from vestige.evidence.errors import CorruptArchiveError, MissingFileError, NotAnAcquisitionError
from vestige.evidence.sources import (
    ArchiveLimits,
    ArchiveReadError,
    FileSource,
    FolderSource,
    Member,
    Source,
    TarSource,
    ZipSource,
    open_source,
)
from vestige.model import Problem

ZipEntry = tuple[str | zipfile.ZipInfo, bytes]


def make_zip(path: Path, entries: list[ZipEntry], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns of the duplicate names some tests write
        with zipfile.ZipFile(path, "w", compression) as archive:
            for name, data in entries:
                archive.writestr(name, data)
    return path


def zip_link(name: str, target: str) -> ZipEntry:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def tar_entry(
    name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = ""
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def make_tar(path: Path, entries: list[tuple[tarfile.TarInfo, bytes]], mode: str = "w") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode) as archive:
        for info, data in entries:
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def problem(path: str, reason: str) -> Problem:
    return Problem(artifact="acquisition", path=path, reason=reason)


def read(source: Source, name: str) -> bytes:
    with source.open(name) as stream:
        return stream.read()


# Folders and single files


def test_a_folder_is_listed_sorted_and_its_links_are_never_followed(tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_bytes(b"not evidence")
    root = tmp_path / "backup"
    (root / "a" / "d").mkdir(parents=True)
    (root / "b.txt").write_bytes(b"bee")
    (root / "a" / "c.txt").write_bytes(b"sea")
    (root / "a" / "d" / "e.bin").write_bytes(b"\x00\x01")
    (root / "to_root").symlink_to("/")
    (root / "a" / "to_outside").symlink_to("../../outside.txt")
    os.mkfifo(root / "pipe")
    before = sorted(str(path.relative_to(root)) for path in root.rglob("*"))
    with open_source(root) as source:
        assert isinstance(source, FolderSource)
        assert source.shape == "folder"
        assert list(source.members()) == [
            Member("a", "directory", None),
            Member("a/c.txt", "file", None),
            Member("a/d", "directory", None),
            Member("a/d/e.bin", "file", None),
            Member("a/to_outside", "symlink", None, "../../outside.txt"),
            Member("b.txt", "file", None),
            Member("pipe", "other", None),
            Member("to_root", "symlink", None, "/"),
        ]
        assert read(source, "a/d/e.bin") == b"\x00\x01"
        assert source.hash_target("b.txt") == str(root / "b.txt")
        assert source.local_path("a/c.txt") == root / "a" / "c.txt"
        assert source.member("to_root") == Member("to_root", "symlink", None, "/")
        for name in ("to_root", "a/to_outside", "pipe", "a", "to_root/etc/passwd", "missing"):
            with pytest.raises(MissingFileError, match=f"^{re.escape(name)}: no such file$"):
                source.open(name)
        with pytest.raises(MissingFileError):
            source.local_path("a/to_outside")
        with pytest.raises(MissingFileError):
            source.hash_target("to_root")
        assert source.problems == []
    assert sorted(str(path.relative_to(root)) for path in root.rglob("*")) == before


def test_a_folder_name_that_is_not_utf8_is_listed_escaped_and_read_under_its_real_name(tmp_path: Path) -> None:
    root = tmp_path / "dump"
    root.mkdir()
    raw = os.fsencode(root)
    with open(raw + b"/caf\xe9.txt", "wb") as odd:  # noqa: PTH123 - a name Path cannot take as text
        odd.write(b"cafe")
    Path(os.fsdecode(raw + b"/d\xff")).mkdir()
    (Path(os.fsdecode(raw + b"/d\xff")) / "x").write_bytes(b"x")
    (root / "plain.txt").write_bytes(b"plain")
    with FolderSource(root) as source:
        assert list(source.members()) == [
            Member("caf\\xe9.txt", "file", None, None, utf8=False),
            Member("d\\xff", "directory", None, None, utf8=False),
            Member("d\\xff/x", "file", None, None, utf8=False),
            Member("plain.txt", "file", None),
        ]
        assert read(source, "caf\\xe9.txt") == b"cafe"
        assert read(source, "d\\xff/x") == b"x"
        assert source.hash_target("caf\\xe9.txt") == os.fsdecode(raw + b"/caf\xe9.txt")
        assert read(source, "plain.txt") == b"plain"
        assert source.problems == []


def test_a_single_file_is_one_member_named_after_it(tmp_path: Path) -> None:
    path = tmp_path / "capture.pcap"
    data = b"\xd4\xc3\xb2\xa1" + bytes(60)
    path.write_bytes(data)
    with open_source(path) as source:
        assert isinstance(source, FileSource)
        assert (source.shape, source.location) == ("file", path)
        assert list(source.members()) == [Member("capture.pcap", "file", 64)]
        assert read(source, "capture.pcap") == data
        assert source.hash_target("capture.pcap") == str(path)
        assert source.local_path("capture.pcap") == path
        with pytest.raises(MissingFileError, match=r"^other: no such file$"):
            source.open("other")


def test_open_source_tells_the_shape_by_content_never_by_name(tmp_path: Path) -> None:
    entries = [tar_entry("a.txt", b"a")]
    shapes = {
        "evidence.dat": make_zip(tmp_path / "evidence.dat", [("a.txt", b"a")]),
        "looks.zip": make_tar(tmp_path / "looks.zip", entries),
        "x.bin": make_tar(tmp_path / "x.bin", entries, "w:gz"),
        "y.bin": make_tar(tmp_path / "y.bin", entries, "w:bz2"),
        "z.bin": make_tar(tmp_path / "z.bin", entries, "w:xz"),
        "empty.zip": make_zip(tmp_path / "empty.zip", []),
    }
    plain = {
        "capture.pcap.gz": gzip.compress(b"\xd4\xc3\xb2\xa1" + bytes(600)),
        "log.bz2": bz2.compress(b"a log line\n" * 100),
        "log.xz": lzma.compress(b"a log line\n" * 100),
        "zeros.tar": bytes(10240),
        "empty.tgz": b"",
    }
    for name, data in plain.items():
        (tmp_path / name).write_bytes(data)
    kinds = {}
    for name in [*shapes, *plain]:
        with open_source(tmp_path / name) as source:
            kinds[name] = type(source).__name__
    assert kinds == {
        "evidence.dat": "ZipSource",
        "looks.zip": "TarSource",
        "x.bin": "TarSource",
        "y.bin": "TarSource",
        "z.bin": "TarSource",
        "empty.zip": "ZipSource",
        "capture.pcap.gz": "FileSource",
        "log.bz2": "FileSource",
        "log.xz": "FileSource",
        "zeros.tar": "FileSource",
        "empty.tgz": "FileSource",
    }
    for name in ("looks.zip", "x.bin", "y.bin", "z.bin"):
        with open_source(tmp_path / name) as source:
            assert (list(source.members()), read(source, "a.txt")) == ([Member("a.txt", "file", 1)], b"a")
    missing = tmp_path / "nothing-here"
    with pytest.raises(NotAnAcquisitionError, match=f"^{re.escape(str(missing))}: no such file or folder$"):
        open_source(missing)


# Zip archives


def test_a_zip_is_listed_opened_and_its_members_copied_once(tmp_path: Path) -> None:
    text, database = b"bee" * 1000, bytes(range(256)) * 100
    archive = make_zip(tmp_path / "evidence" / "backup.zip", [("b.txt", text), ("a/", b""), ("a/c.db", database)])
    with open_source(archive) as source:
        assert isinstance(source, ZipSource)
        assert (source.shape, source.location, source.prefix) == ("archive", archive, "")
        assert list(source.members()) == [
            Member("a", "directory", None),
            Member("a/c.db", "file", 25600),
            Member("b.txt", "file", 3000),
        ]
        assert read(source, "b.txt") == text
        opener = source.hash_target("b.txt")
        assert callable(opener)
        with opener() as stream:
            assert stream.read() == text
        copy = source.local_path("a/c.db")
        assert copy.read_bytes() == database
        assert copy.parent.parent.name.startswith("vestige-source-")
        assert archive.parent not in copy.parents
        again = source.local_path("a/c.db")
        assert (again, again.stat().st_ino) == (copy, copy.stat().st_ino)
        assert source.hash_target("a/c.db") == str(copy)
        with pytest.raises(MissingFileError, match=r"^a: no such file$"):
            source.open("a")
        assert source.problems == []
    assert not copy.parent.parent.exists()
    assert [path.name for path in archive.parent.iterdir()] == ["backup.zip"]


def test_a_zip_member_with_an_absolute_name_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "evil.zip", [("/etc/passwd", b"x"), ("C:/Windows/win.ini", b"x"), ("ok.txt", b"ok")])
    with open_source(archive) as source:
        assert list(source.members()) == [Member("ok.txt", "file", 2)]
        assert source.problems == [
            problem("/etc/passwd", "member /etc/passwd was refused: its name is absolute"),
            problem("C:/Windows/win.ini", "member C:/Windows/win.ini was refused: its name is absolute"),
        ]


def test_a_zip_member_climbing_out_with_dotdot_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "evil.zip", [("a/../../evil.sh", b"x"), ("a/ok.txt", b"ok")])
    with open_source(archive) as source:
        assert list(source.members()) == [Member("a/ok.txt", "file", 2)]
        assert source.problems == [
            problem(
                "a/../../evil.sh",
                "member a/../../evil.sh was refused: its name climbs out of the archive with '..'",
            )
        ]


def test_a_zip_symlink_leaving_the_archive_is_refused(tmp_path: Path) -> None:
    entries = [
        zip_link("dir/escape", "../../etc/passwd"),
        zip_link("dir/inside", "../ok.txt"),
        zip_link("absolute", "/etc/shadow"),
        ("ok.txt", b"ok"),
    ]
    with open_source(make_zip(tmp_path / "links.zip", entries)) as source:
        assert list(source.members()) == [
            Member("dir/inside", "symlink", None, "../ok.txt"),
            Member("ok.txt", "file", 2),
        ]
        assert source.problems == [
            problem(
                "dir/escape",
                "member dir/escape was refused: it is a link to ../../etc/passwd, outside the archive",
            ),
            problem("absolute", "member absolute was refused: it is a link to /etc/shadow, outside the archive"),
        ]
        with pytest.raises(MissingFileError, match=r"^dir/inside: no such file$"):
            source.open("dir/inside")


def test_a_tar_link_leaving_the_archive_is_refused(tmp_path: Path) -> None:
    entries = [
        tar_entry("ok.txt", b"ok"),
        tar_entry("dir/escape", kind=tarfile.SYMTYPE, link="../../etc"),
        tar_entry("dir/up", kind=tarfile.SYMTYPE, link="../ok.txt"),
        tar_entry("absolute", kind=tarfile.SYMTYPE, link="/etc/passwd"),
        tar_entry("hard", kind=tarfile.LNKTYPE, link="../x"),
        tar_entry("copy", kind=tarfile.LNKTYPE, link="ok.txt"),
        tar_entry("pipe", kind=tarfile.FIFOTYPE),
    ]
    with open_source(make_tar(tmp_path / "links.tar", entries)) as source:
        assert list(source.members()) == [
            Member("copy", "hardlink", None, "ok.txt"),
            Member("dir/up", "symlink", None, "../ok.txt"),
            Member("ok.txt", "file", 2),
            Member("pipe", "other", None),
        ]
        assert source.problems == [
            problem("dir/escape", "member dir/escape was refused: it is a link to ../../etc, outside the archive"),
            problem("absolute", "member absolute was refused: it is a link to /etc/passwd, outside the archive"),
            problem("hard", "member hard was refused: it is a link to ../x, outside the archive"),
        ]
        for name in ("copy", "dir/up", "pipe"):
            with pytest.raises(MissingFileError):
                source.open(name)


@pytest.mark.parametrize("suffix", ["zip", "tar", "tgz"])
def test_too_many_members_stop_the_listing(tmp_path: Path, suffix: str) -> None:
    names = [f"m{i}.txt" for i in range(5)]
    if suffix == "zip":
        archive = make_zip(tmp_path / "many.zip", [(name, name.encode()) for name in names])
    else:
        mode = "w" if suffix == "tar" else "w:gz"
        archive = make_tar(tmp_path / f"many.{suffix}", [tar_entry(name, name.encode()) for name in names], mode)
    with open_source(archive, ArchiveLimits(max_members=3)) as source:
        assert list(source.members()) == [Member(name, "file", 6) for name in names[:3]]
        assert list(source.members()) == [Member(name, "file", 6) for name in names[:3]]
        assert source.member("m3.txt") is None
        assert source.problems == [problem(".", "more than 3 members; the rest were not read")]


def test_a_zip_ratio_bomb_is_refused_from_the_ratio_floor_on(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "bomb.zip", [("zeros", bytes(80 << 20)), ("small.txt", bytes(1000))])
    with zipfile.ZipFile(archive) as raw:
        compressed = raw.getinfo("zeros").compress_size
    assert (80 << 20) / compressed > 1000
    with open_source(archive) as source:
        assert list(source.members()) == [Member("small.txt", "file", 1000)]
        reason = (
            f"member zeros was refused: it declares 83886080 bytes from {compressed} compressed,"
            " more than 1000 times (a decompression bomb)"
        )
        assert source.problems == [problem("zeros", reason)]
    with open_source(archive, ArchiveLimits(ratio_floor=128 << 20)) as source:
        assert [member.name for member in source.members()] == ["small.txt", "zeros"]
        assert source.problems == []


def test_a_tar_gz_bomb_is_stopped_by_its_stream_ratio(tmp_path: Path) -> None:
    archive = make_tar(
        tmp_path / "bomb.tgz", [tar_entry("a.txt", b"first"), tar_entry("zeros", bytes(8 << 20))], "w:gz"
    )
    size = archive.stat().st_size
    with open_source(archive, ArchiveLimits(max_ratio=100.0, ratio_floor=1 << 20)) as source:
        assert list(source.members()) == [Member("a.txt", "file", 5)]
        reason = (
            f"it decompresses to more than 100 times its {size} compressed bytes (a decompression bomb);"
            " the rest was not read"
        )
        assert source.problems == [problem(".", reason)]
        extracted = source.local_path("a.txt")
        assert extracted.read_bytes() == b"first"
        assert [path.name for path in extracted.parent.iterdir()] == [extracted.name]  # no half-written bomb


def test_the_declared_total_size_stops_the_listing(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "big.zip", [("a", bytes(100)), ("b", bytes(100)), ("c", bytes(10))])
    with open_source(archive, ArchiveLimits(max_total_bytes=150)) as source:
        assert list(source.members()) == [Member("a", "file", 100)]
        reason = "its members declare more than 150 bytes in all; the rest were not read"
        assert source.problems == [problem(".", reason)]


def test_duplicate_names_keep_the_first_member(tmp_path: Path) -> None:
    entries: list[ZipEntry] = [("a.txt", b"first"), ("a.txt", b"second"), ("b.txt", b"b"), ("./b.txt", b"other b")]
    with open_source(make_zip(tmp_path / "twice.zip", entries)) as source:
        assert list(source.members()) == [Member("a.txt", "file", 5), Member("b.txt", "file", 1)]
        assert (read(source, "a.txt"), read(source, "b.txt")) == (b"first", b"b")
        same = "was refused: another member has the same name, and the first one was kept"
        assert source.problems == [
            problem("a.txt", f"member a.txt {same}"),
            problem("b.txt", f"member b.txt {same}"),
        ]


def test_an_encrypted_zip_member_is_refused(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "locked.zip", [("secret.txt", b"secret"), ("plain.txt", b"plain")], zipfile.ZIP_STORED
    )
    data = bytearray(archive.read_bytes())
    local = 0  # secret.txt is the first member: its local header starts the file
    central = data.index(b"PK\x01\x02")  # and its entry starts the central directory
    data[local + 6] |= 0x1  # general purpose bit 0: encrypted
    data[central + 8] |= 0x1
    archive.write_bytes(bytes(data))
    with open_source(archive) as source:
        assert list(source.members()) == [Member("plain.txt", "file", 5)]
        assert source.problems == [problem("secret.txt", "member secret.txt was refused: it is encrypted")]


def test_a_corrupt_zip_stream_raises_an_oserror_not_badzipfile(tmp_path: Path) -> None:
    data = b"".join(f"line {i} of a log\n".encode() for i in range(20000))
    archive = make_zip(tmp_path / "corrupt.zip", [("log.txt", data)])
    raw = bytearray(archive.read_bytes())
    start = 30 + len("log.txt") + int.from_bytes(raw[28:30], "little")  # after the local header
    raw[start + 2000 : start + 2064] = bytes(64)
    archive.write_bytes(bytes(raw))
    with open_source(archive) as source:
        with pytest.raises(ArchiveReadError, match=r"^member log\.txt cannot be read \(") as caught:
            read(source, "log.txt")
        assert isinstance(caught.value, OSError)
        assert not isinstance(caught.value, zipfile.BadZipFile)
        with pytest.raises(OSError, match=r"^member log\.txt cannot be read \("):
            source.local_path("log.txt")


def test_a_zip_member_compressed_with_bzip2_is_listed_but_not_decompressed(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "bz.zip", [("a.txt", b"a" * 100)], zipfile.ZIP_BZIP2)
    with open_source(archive) as source:
        assert list(source.members()) == [Member("a.txt", "file", 100)]
        reason = r"^member a\.txt is compressed with method 12, which vestige does not decompress"
        with pytest.raises(ArchiveReadError, match=reason):
            source.open("a.txt")


def test_a_zip_whose_central_directory_is_gone_is_a_corrupt_archive(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "cut.zip", [("a.txt", b"a" * 100)])
    archive.write_bytes(archive.read_bytes()[:-22])  # without its end of central directory record
    with pytest.raises(CorruptArchiveError, match=r"^cut\.zip: not a readable zip archive \(File is not a zip file\)$"):
        open_source(archive)


# Tar archives


def test_a_tar_gz_is_decompressed_in_one_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    contents = {"a/one.txt": b"one" * 5000, "b.bin": bytes(range(256)) * 50, "c.txt": b"three"}
    archive = make_tar(tmp_path / "dump.tar.gz", [tar_entry(name, data) for name, data in contents.items()], "w:gz")
    passes: list[int] = []

    class CountedGzipFile(gzip.GzipFile):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            passes.append(1)
            super().__init__(*args, **kwargs)

    with open_source(archive) as source:
        assert isinstance(source, TarSource)
        monkeypatch.setattr(gzip, "GzipFile", CountedGzipFile)
        assert [member.name for member in source.members()] == ["a/one.txt", "b.bin", "c.txt"]
        assert read(source, "c.txt") == contents["c.txt"]
        archive.unlink()  # what the members give now cannot come from the compressed file
        for name, data in contents.items():
            assert read(source, name) == data
            assert source.local_path(name).read_bytes() == data
            assert source.hash_target(name) == str(source.local_path(name))
        assert len(passes) == 1
        assert source.problems == []


def test_a_plain_tar_is_read_in_place(tmp_path: Path) -> None:
    entries = [
        tar_entry("./", kind=tarfile.DIRTYPE),
        tar_entry("./data/sms.db", b"SQLite format 3\x00" + bytes(100)),
        tar_entry("./data/copy.db", kind=tarfile.LNKTYPE, link="data/sms.db"),
        tar_entry("./notes.txt", b"notes"),
    ]
    archive = make_tar(tmp_path / "fs.tar", entries)
    with open_source(archive) as source:
        assert list(source.members()) == [
            Member("data/copy.db", "hardlink", None, "data/sms.db"),
            Member("data/sms.db", "file", 116),
            Member("notes.txt", "file", 5),
        ]
        opener = source.hash_target("notes.txt")
        assert callable(opener)
        with opener() as stream:
            assert stream.read() == b"notes"
        assert source.local_path("data/sms.db").read_bytes() == b"SQLite format 3\x00" + bytes(100)
        with pytest.raises(MissingFileError, match=r"^data/copy\.db: no such file$"):
            source.open("data/copy.db")
        assert source.problems == []


def test_a_damaged_tar_header_stops_the_listing_with_a_problem(tmp_path: Path) -> None:
    entries = [tar_entry("a.txt", b"a"), tar_entry("b.txt", b"b"), tar_entry("c.txt", b"c")]
    archive = make_tar(tmp_path / "damaged.tar", entries)
    data = bytearray(archive.read_bytes())
    data[1024 + 148 : 1024 + 156] = b"0000000\x00"  # the checksum of the second header
    archive.write_bytes(bytes(data))
    with open_source(archive) as source:
        assert list(source.members()) == [Member("a.txt", "file", 1)]
        reason = "reading stopped at entry 2 (a damaged header: bad checksum)"
        assert source.problems == [problem(".", reason)]


def test_a_tar_cut_short_lists_what_it_holds_and_says_so(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "cut.tar", [tar_entry("a.txt", b"a"), tar_entry("b.txt", b"b")])
    archive.write_bytes(archive.read_bytes()[:2048])  # both members, no end-of-archive marker
    with open_source(archive) as source:
        assert list(source.members()) == [Member("a.txt", "file", 1), Member("b.txt", "file", 1)]
        reason = "reading stopped at entry 3 (it ends without the end-of-archive marker, so it may have been cut short)"
        assert source.problems == [problem(".", reason)]
        assert read(source, "b.txt") == b"b"


def test_a_tar_header_asking_for_a_huge_read_stops_the_pass(tmp_path: Path) -> None:
    info = tarfile.TarInfo("././@LongLink")
    info.type, info.size = tarfile.GNUTYPE_LONGNAME, 1 << 40  # tarfile would read the long name whole
    archive = tmp_path / "longname.tgz"
    archive.write_bytes(gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT) + bytes(1 << 16)))
    with open_source(archive) as source:
        assert list(source.members()) == []
        reason = "reading stopped at entry 1 (a header asks to read 1099511627776 bytes at once, more than a tar holds)"
        assert source.problems == [problem(".", reason)]


# Views and nested archives


def test_within_a_zip_of_an_ios_backup(tmp_path: Path) -> None:
    udid = "00008110-001A2B3C4D5E801E"
    entries: list[ZipEntry] = [
        (f"{udid}/", b""),
        (f"{udid}/Manifest.db", b"SQLite format 3\x00manifest"),
        (f"{udid}/Info.plist", b"<plist/>"),
        (f"{udid}/3d/3d0d7e5fb2ce288813306e4d4636395e047a3d28", b"sms"),
        (f"{udid}-other/Manifest.db", b"not this one"),
        ("readme.txt", b"readme"),
    ]
    archive = make_zip(tmp_path / "backup.zip", entries)
    with open_source(archive) as source:
        view = source.within(udid)
        assert (view.prefix, view.shape, view.location) == (f"{udid}/", "archive", archive)
        assert list(view.members()) == [
            Member("3d/3d0d7e5fb2ce288813306e4d4636395e047a3d28", "file", 3),
            Member("Info.plist", "file", 8),
            Member("Manifest.db", "file", 24),
        ]
        assert view.member("Manifest.db") == Member("Manifest.db", "file", 24)
        assert view.member("readme.txt") is None
        assert read(view, "Manifest.db") == b"SQLite format 3\x00manifest"
        assert view.local_path("Manifest.db").read_bytes() == b"SQLite format 3\x00manifest"
        assert view.hash_target("Manifest.db") == str(source.local_path(f"{udid}/Manifest.db"))
        assert [member.name for member in view.within("3d/").members()] == ["3d0d7e5fb2ce288813306e4d4636395e047a3d28"]
        with pytest.raises(MissingFileError, match=rf"^{udid}/readme\.txt: no such file$"):
            view.open("readme.txt")
        with pytest.raises(ValueError, match=r"^\.\./x: a folder inside a source cannot climb out of it with '\.\.'$"):
            source.within("../x")
        view.close()
        assert read(source, "readme.txt") == b"readme"


def test_nested_bugreport_zip_in_an_androidqf_folder(tmp_path: Path) -> None:
    folder = tmp_path / "androidqf"
    inner = make_zip(folder / "bugreport.zip", [("dumpstate.txt", b"dumpstate"), ("FS/data/x", b"x")])
    (folder / "packages.json").write_bytes(b"[]")
    with open_source(folder) as source:
        report = source.nested("bugreport.zip")
        assert isinstance(report, ZipSource)
        assert (report.location, report.label, report.scope) == (inner, "androidqf/bugreport.zip", "bugreport.zip")
        assert list(report.members()) == [Member("FS/data/x", "file", 1), Member("dumpstate.txt", "file", 9)]
        assert read(report, "dumpstate.txt") == b"dumpstate"
        with pytest.raises(CorruptArchiveError, match=r"^androidqf/packages\.json: not a zip or tar archive$"):
            source.nested("packages.json")
        with pytest.raises(MissingFileError, match=r"^FS: no such file$"):
            source.nested("FS")


def test_nested_archives_in_a_zip_are_copied_out_and_closed_with_it(tmp_path: Path) -> None:
    inner_zip = make_zip(tmp_path / "build" / "inner.zip", [("a.txt", b"inner a")])
    inner_tgz = make_tar(tmp_path / "build" / "logs.tgz", [tar_entry("log.txt", b"log")], "w:gz")
    entries: list[ZipEntry] = [
        ("inner.zip", inner_zip.read_bytes()),
        ("logs/logs.tgz", inner_tgz.read_bytes()),
        ("notes.txt", b"notes"),
    ]
    outer = open_source(make_zip(tmp_path / "outer.zip", entries))
    nested_zip = outer.nested("inner.zip")
    assert nested_zip.label == "outer.zip/inner.zip"
    assert nested_zip.location == outer.local_path("inner.zip")
    assert list(nested_zip.members()) == [Member("a.txt", "file", 7)]
    assert read(nested_zip, "a.txt") == b"inner a"
    nested_tar = outer.within("logs").nested("logs.tgz")
    assert (nested_tar.label, nested_tar.scope) == ("outer.zip/logs/logs.tgz", "logs/logs.tgz")
    with pytest.raises(MissingFileError, match=r"^logs/logs\.tgz: absent: no such file$"):
        nested_tar.open("absent")
    extracted = nested_tar.local_path("log.txt")
    assert extracted.read_bytes() == b"log"
    outer.close()
    assert not extracted.exists()  # the nested tar's own scratch folder went with it
    assert not nested_zip.location.exists()


# Forked workers


def read_in_child(source: Source, names: list[str], results: Queue[dict[str, str]]) -> None:
    digests: dict[str, str] = {}
    for _ in range(10):
        for name in names:
            with source.open(name) as stream:
                digests[name] = hashlib.sha256(stream.read()).hexdigest()
    source.close()  # a worker closing its copy must leave the parent's scratch folder alone
    results.put(digests)


def digest_in_pieces(stream: IO[bytes], size: int) -> str:
    digest = hashlib.sha256()
    while piece := stream.read(size):
        digest.update(piece)
    return digest.hexdigest()


def test_a_forked_worker_reads_through_its_own_handle_while_the_parent_keeps_reading(tmp_path: Path) -> None:
    rng = random.Random(7)
    letters = bytes(ord("a") + i % 16 for i in range(256))
    contents = {f"m{i}.txt": rng.randbytes(1 << 20).translate(letters) for i in range(4)}
    expected = {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()}
    archive = make_zip(tmp_path / "shared.zip", list(contents.items()))
    context = multiprocessing.get_context("fork")
    with open_source(archive) as source:
        copy = source.local_path("m0.txt")  # the scratch folder exists before the fork
        stream = source.open("m1.txt")
        head = stream.read(100_000)
        results: Queue[dict[str, str]] = context.Queue()
        child = context.Process(target=read_in_child, args=(source, list(contents), results))
        child.start()
        parts = [head]
        while chunk := stream.read(1000):
            parts.append(chunk)
        stream.close()
        mine: dict[str, str] = {}
        for _ in range(5):
            for name in contents:
                with source.open(name) as each:
                    mine[name] = digest_in_pieces(each, 3000)
        theirs = results.get(timeout=120)
        child.join(120)
        assert child.exitcode == 0
        assert b"".join(parts) == contents["m1.txt"]
        assert mine == expected
        assert theirs == expected
        assert copy.read_bytes() == contents["m0.txt"]


def without_utf8_flag(archive: Path) -> Path:
    """The zip as Info-ZIP writes one on Linux: names in UTF-8 bytes, but general purpose bit 11 unset."""
    data = bytearray(archive.read_bytes())
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = data.find(signature)
        while start >= 0:
            data[start + flags_at + 1] &= ~0x08  # bit 11 is bit 3 of the high byte
            start = data.find(signature, start + 4)
    archive.write_bytes(bytes(data))
    return archive


def test_zip_names_without_the_utf8_flag_are_read_as_the_bytes_they_are(tmp_path: Path) -> None:
    archive = without_utf8_flag(make_zip(tmp_path / "infozip.zip", [("0d/café.txt", b"cafe"), ("plain.txt", b"p")]))
    with zipfile.ZipFile(archive) as raw:
        assert [i.orig_filename for i in raw.infolist()] == ["0d/caf├⌐.txt", "plain.txt"]  # what zipfile makes of it
    with open_source(archive) as source:
        assert [m.name for m in source.members()] == ["0d/café.txt", "plain.txt"]
        assert read(source, "0d/café.txt") == b"cafe"


def test_a_sparse_tar_member_is_refused_and_a_malformed_sparse_map_stops_the_listing(tmp_path: Path) -> None:
    sparse = tarfile.TarInfo("holes.img")
    sparse.type, sparse.size = tarfile.GNUTYPE_SPARSE, 0
    archive = tmp_path / "sparse.tar"
    first, data = tar_entry("a.txt", b"first")
    with tarfile.open(archive, "w", format=tarfile.GNU_FORMAT) as out:
        out.addfile(first, io.BytesIO(data))
        out.addfile(sparse, io.BytesIO())
    with open_source(archive) as source:
        assert [m.name for m in source.members()] == ["a.txt"]
        assert source.problems == [
            problem("holes.img", "member holes.img was refused: it is a sparse file, which vestige does not extract")
        ]
    broken = tarfile.TarInfo("map.img")
    broken.size = 0
    broken.pax_headers = {"GNU.sparse.map": "x,y", "GNU.sparse.size": "1"}
    malformed = tmp_path / "map.tar"
    with tarfile.open(malformed, "w", format=tarfile.PAX_FORMAT) as out:
        out.addfile(first, io.BytesIO(data))
        out.addfile(broken, io.BytesIO())
    with open_source(malformed) as source:
        assert [m.name for m in source.members()] == ["a.txt"]
        [stopped] = source.problems
    assert (stopped.path, stopped.reason.startswith("reading stopped at entry 2 (")) == (".", True)
