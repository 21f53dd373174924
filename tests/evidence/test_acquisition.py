"""The Acquisition contract on every shape: the hashed manifest and its Merkle root, safe reads, SQLite
from an archive member, and the source's refusals carried into the manifest's problems."""

from __future__ import annotations

import hashlib
import sqlite3
import zipfile
from pathlib import Path

import pytest

from tests.builders import zip_folder
from vestige.evidence.acquisition import FileManifest, FilesAcquisition
from vestige.evidence.errors import MissingFileError, UnexpectedFormatError
from vestige.evidence.merkle import MerkleRoot
from vestige.evidence.sources import open_source


def folder(root: Path) -> Path:
    (root / "logs").mkdir(parents=True)
    (root / "logs" / "a.txt").write_bytes(b"alpha")
    (root / "logs" / "b.txt").write_bytes(b"b" * 3_000_000)
    (root / "z.txt").write_bytes(b"")
    return root


def entries(acquisition: FilesAcquisition) -> list[tuple[str, str, int | None, str | None]]:
    return [(e.path, e.type, e.size, e.sha256) for e in acquisition.files()]


def test_a_folder_and_a_zip_of_it_give_the_same_entries_and_merkle_root(tmp_path: Path) -> None:
    root = folder(tmp_path / "dump")
    archive = zip_folder(root, tmp_path / "dump.zip", method=zipfile.ZIP_DEFLATED)
    with FilesAcquisition(open_source(root), "dump") as a, FilesAcquisition(open_source(archive), "dump") as b:
        files = [e for e in entries(a) if e[1] == "file"]
        assert files == [e for e in entries(b) if e[1] == "file"]
        assert files == [
            ("logs/a.txt", "file", 5, hashlib.sha256(b"alpha").hexdigest()),
            ("logs/b.txt", "file", 3_000_000, hashlib.sha256(b"b" * 3_000_000).hexdigest()),
            ("z.txt", "file", 0, hashlib.sha256(b"").hexdigest()),
        ]
        expected = MerkleRoot()
        for entry in a.files():
            expected.add_leaf(entry.leaf())
        assert a.manifest().merkle_root == expected.hexdigest()
        assert b.read_bytes("logs/a.txt") == b"alpha"
        assert a.manifest().total_bytes == b.manifest().total_bytes == 3_000_005


def test_several_workers_give_the_same_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "many"
    root.mkdir()
    for number in range(40):
        (root / f"f{number:02d}").write_bytes(b"%d" % number * (number + 1))
    archive = zip_folder(root, tmp_path / "many.zip", method=zipfile.ZIP_DEFLATED)
    monkeypatch.setattr(FilesAcquisition, "SLICE", 7)
    for path in (root, archive):
        with FilesAcquisition(open_source(path), "x") as one, FilesAcquisition(open_source(path), "x") as two:
            assert one.manifest(workers=1).merkle_root == two.manifest(workers=2).merkle_root
            assert entries(one) == entries(two)
            assert len(entries(one)) == 40


def test_a_single_file_is_one_entry_under_its_name(tmp_path: Path) -> None:
    (tmp_path / "capture.pcap").write_bytes(b"\xd4\xc3\xb2\xa1rest")
    with FilesAcquisition(open_source(tmp_path / "capture.pcap"), "pcap") as capture:
        assert entries(capture) == [("capture.pcap", "file", 8, hashlib.sha256(b"\xd4\xc3\xb2\xa1rest").hexdigest())]
        with capture.open("capture.pcap") as stream:
            assert stream.read(4) == b"\xd4\xc3\xb2\xa1"


def test_sqlite_reads_a_database_that_sits_in_an_archive(tmp_path: Path) -> None:
    db = sqlite3.connect(str(tmp_path / "app.db"))
    db.execute("CREATE TABLE t (v TEXT)")
    db.execute("INSERT INTO t VALUES ('from the zip')")
    db.commit()
    db.close()
    archive = tmp_path / "dump.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.write(tmp_path / "app.db", "data/app.db")
    before = archive.read_bytes()
    with FilesAcquisition(open_source(archive), "dump") as dump, dump.sqlite("data/app.db") as connection:
        assert connection.execute("SELECT v FROM t").fetchall() == [("from the zip",)]
    assert archive.read_bytes() == before


def test_reads_are_bounded_and_missing_files_named(tmp_path: Path) -> None:
    root = folder(tmp_path / "dump")
    with FilesAcquisition(open_source(root), "dump") as dump:
        with pytest.raises(UnexpectedFormatError, match=r"^logs/b\.txt: 3000000 bytes is larger than expected"):
            dump.read_bytes("logs/b.txt", limit=1000)
        with pytest.raises(MissingFileError, match=r"^logs/none: not in the acquisition$"):
            dump.read_bytes("logs/none")


def test_members_an_archive_refuses_are_problems_of_the_manifest(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("ok.txt", b"fine")
        out.writestr("../escape.txt", b"outside")
    with FilesAcquisition(open_source(archive), "dump") as dump:
        assert [e.path for e in dump.files()] == ["ok.txt"]
        [problem] = dump.manifest().problems
    assert (problem.artifact, problem.path) == ("acquisition", "../escape.txt")
    assert "climbs out of the archive" in problem.reason


def test_file_manifest_spool_is_removed_on_close() -> None:
    manifest = FileManifest()
    manifest.build([("b", "file", 1, "00", "b", b"{}"), ("a", "directory", None, None, None, b"{}")])
    assert [e.path for e in manifest] == ["a", "b"]
    spool = manifest._folder
    manifest.close()
    assert not spool.exists()


def test_sealed_lines_name_their_acquisition_in_a_check_of_several(tmp_path: Path) -> None:
    manifest = FileManifest()
    manifest.build([("a", "file", 1, "00", "a", b"{}")])
    with (tmp_path / "one").open("wb") as one, (tmp_path / "two").open("wb") as two:
        assert manifest.seal(one) == manifest.seal(two, acquisition=1)
    manifest.close()
    assert (tmp_path / "one").read_bytes() == (
        b'{"path":"a","type":"file","stored_as":"a","size":1,"sha256":"00","metadata":{}}\n'
    )
    assert (tmp_path / "two").read_bytes() == (
        b'{"path":"a","type":"file","stored_as":"a","size":1,"sha256":"00","metadata":{},"acquisition":1}\n'
    )
