"""iOS backups: recognising one (a folder, a folder holding one, a zip of one; encrypted ones refused),
and reading it through the Acquisition contract (hashed manifest, device info, safe SQLite)."""

from __future__ import annotations

import hashlib
import os
import plistlib
import sqlite3
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.builders import backup_with, change_in_wal, check, zip_folder
from vestige.evidence.errors import EncryptedBackupError, MissingFileError, NotAnAcquisitionError, UnexpectedFormatError
from vestige.evidence.merkle import MerkleRoot
from vestige.evidence.sources import open_source
from vestige.ios import acquisitions as ios_acquisitions
from vestige.ios.acquisitions import IOS_BACKUP, IosBackup
from vestige.ios.sample.backup import BackupBuilder
from vestige.platforms import Registry
from vestige.report.findings import findings_document


def detect(path: Path) -> tuple[str, Path, str]:
    """The kind, location and folder inside it that the registry recognises at ``path``."""
    with Registry.discover().recognise(path) as recognised:
        return recognised.kind.name, recognised.source.location, recognised.source.prefix


def test_a_missing_path_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(NotAnAcquisitionError, match=r"nowhere: no such file or folder$"):
        detect(tmp_path / "nowhere")


def test_a_folder_that_is_not_a_backup_is_refused_with_what_a_backup_holds(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    with pytest.raises(NotAnAcquisitionError, match=r"an iOS backup folder holds Manifest\.db and Info\.plist"):
        detect(tmp_path / "photos")


def test_a_folder_with_one_backup_inside_is_accepted(tmp_path: Path) -> None:
    backup_with(tmp_path / "MobileSync" / "Backup" / "00008110-001A2B3C4D5E801E")
    found = detect(tmp_path / "MobileSync" / "Backup")
    assert found == (IOS_BACKUP, tmp_path / "MobileSync" / "Backup", "00008110-001A2B3C4D5E801E/")


def test_a_zip_of_one_backup_folder_is_read_like_the_folder(tmp_path: Path) -> None:
    root = backup_with(tmp_path / "00008110-001A2B3C4D5E801E", [])
    archive = zip_folder(root, tmp_path / "backup.zip", "00008110-001A2B3C4D5E801E/")
    assert detect(archive) == (IOS_BACKUP, archive, "00008110-001A2B3C4D5E801E/")
    registry = Registry.discover()
    scratch = sorted(Path(tempfile.gettempdir()).glob("vestige-source-*"))
    with registry.open(root) as folder, registry.open(archive) as zipped_backup:
        assert list(zipped_backup.files()) == list(folder.files())
        assert zipped_backup.manifest().merkle_root == folder.manifest().merkle_root
        assert zipped_backup.info() == folder.info()
        assert len(sorted(Path(tempfile.gettempdir()).glob("vestige-source-*"))) == len(scratch) + 1  # Manifest.db
    assert sorted(Path(tempfile.gettempdir()).glob("vestige-source-*")) == scratch  # removed with the view's root


def test_a_folder_with_two_backups_asks_for_one(tmp_path: Path) -> None:
    backup_with(tmp_path / "all" / "a")
    backup_with(tmp_path / "all" / "b")
    with pytest.raises(NotAnAcquisitionError, match=r"holds several iOS backups \(a, b\); give the path of one"):
        detect(tmp_path / "all")


def test_an_encrypted_backup_is_refused_with_what_to_do(tmp_path: Path) -> None:
    root = backup_with(tmp_path / "enc", encrypted=True)
    (root / "Manifest.db").write_bytes(bytes(range(256)) * 16)
    with pytest.raises(EncryptedBackupError, match=r"this iOS backup is encrypted; decrypt it first"):
        detect(root)


def test_a_decrypted_copy_that_keeps_is_encrypted_is_read(tmp_path: Path) -> None:
    root = backup_with(tmp_path / "dec", encrypted=True)
    assert detect(root) == (IOS_BACKUP, root, "")


def test_manifest_hashes_every_file_and_roots_them_in_path_order(tmp_path: Path) -> None:
    builder = BackupBuilder(tmp_path / "b")
    builder.add_file("HomeDomain", "Library/a.txt", b"alpha")
    root = builder.finish()
    with IosBackup(open_source(root)) as backup:
        entries = list(backup.files())
        manifest = backup.manifest()
        assert [e.path for e in entries] == sorted(e.path for e in entries)
        expected = MerkleRoot()
        for entry in entries:
            expected.add_leaf(entry.leaf())
        assert manifest.merkle_root == expected.hexdigest()
        assert manifest.count == len(entries) == 7
        a = backup.file("HomeDomain/Library/a.txt")
        assert (a.type, a.size, a.sha256) == ("file", 5, hashlib.sha256(b"alpha").hexdigest())
        assert a.leaf() == b"HomeDomain/Library/a.txt\x00file\x005\x00" + hashlib.sha256(b"alpha").hexdigest().encode()
        assert manifest.total_bytes == sum(e.size or 0 for e in entries if e.type == "file")
        assert backup.read_bytes("HomeDomain/Library/a.txt") == b"alpha"
        with pytest.raises(MissingFileError, match=r"^HomeDomain/Library/none: not in the acquisition$"):
            backup.file("HomeDomain/Library/none")


def test_files_whose_names_are_not_utf8_are_listed_by_their_escaped_name(tmp_path: Path) -> None:
    root = BackupBuilder(tmp_path / "b").finish()
    (root / os.fsdecode(b"notes-\xff.txt")).write_bytes(b"top")
    (root / "ab").mkdir()
    (root / "ab" / os.fsdecode(b"x\xfe")).write_bytes(b"stray")
    with IosBackup(open_source(root)) as backup:
        odd = [(e.path, e.sha256, dict(e.metadata)) for e in backup.files() if "name_not_utf8" in e.metadata]
    assert odd == [
        (
            "ab/x\\xfe",
            hashlib.sha256(b"stray").hexdigest(),
            {"unlisted": True, "name_not_utf8": True, "path_bytes": b"ab/x\xfe".hex()},
        ),
        (
            "notes-\\xff.txt",
            hashlib.sha256(b"top").hexdigest(),
            {"name_not_utf8": True, "path_bytes": b"notes-\xff.txt".hex()},
        ),
    ]


def test_glob_matches_across_slashes_and_literals_exactly(tmp_path: Path) -> None:
    builder = BackupBuilder(tmp_path / "b")
    for domain in ("AppDomain-a", "AppDomain-b"):
        builder.add_file(domain, "Library/WebKit/WebsiteData/ResourceLoadStatistics/observations.db", b"x")
    root = builder.finish()
    with IosBackup(open_source(root)) as backup:
        found = backup.glob("*/Library/WebKit/WebsiteData/ResourceLoadStatistics/observations.db")
        assert [e.path.split("/")[0] for e in found] == ["AppDomain-a", "AppDomain-b"]
        assert [e.path for e in backup.glob("Info.plist")] == ["Info.plist"]
        assert backup.glob("Nothing.plist") == []


def test_sqlite_uses_the_backup_sidecars_of_a_device_path(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    live = sqlite3.connect(str(scratch / "sms.db"))
    live.execute("PRAGMA journal_mode = WAL")
    live.execute("PRAGMA wal_autocheckpoint = 0")
    live.execute("CREATE TABLE message (ROWID INTEGER PRIMARY KEY, text TEXT)")
    live.execute("INSERT INTO message VALUES (1, 'only in the WAL')")
    live.commit()
    builder = BackupBuilder(tmp_path / "b")
    for suffix in ("", "-wal", "-shm"):
        builder.add_file("HomeDomain", f"Library/SMS/sms.db{suffix}", (scratch / f"sms.db{suffix}").read_bytes())
    live.close()
    root = builder.finish()
    with IosBackup(open_source(root)) as backup, backup.sqlite("HomeDomain/Library/SMS/sms.db") as db:
        assert db.execute("SELECT text FROM message").fetchall() == [("only in the WAL",)]


def test_device_info_comes_from_the_three_plists(tmp_path: Path) -> None:
    root = backup_with(tmp_path / "b")
    with IosBackup(open_source(root)) as backup:
        info = backup.info().as_json()
    assert info == {
        "name": "Reporter's iPhone",
        "model": "iPhone14,2",
        "os_name": "iOS",
        "os_version": "17.5.1",
        "os_build": "21F90",
        "serial": "F17XK0A1Q6L8",
        "identifiers": {
            "udid": "00008110-001A2B3C4D5E801E",
            "imei": "356789104523871",
            "iccid": "8921201234567890123",
            "phone_number": "+212 6 12 34 56 78",
            "backup_uuid": info["identifiers"]["backup_uuid"],  # type: ignore[index]
        },
        "acquired": "2024-05-20T18:30:00.000000Z",
        "encrypted": False,
    }


def test_a_broken_info_plist_is_an_error_naming_the_file(tmp_path: Path) -> None:
    root = backup_with(tmp_path / "b")
    (root / "Info.plist").write_bytes(plistlib.dumps([1]))
    with (
        IosBackup(open_source(root)) as backup,
        pytest.raises(UnexpectedFormatError, match=r"^Info\.plist: expected a dictionary"),
    ):
        backup.info()


def test_a_wal_mode_manifest_db_is_copied_once_for_every_partition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builder = BackupBuilder(tmp_path / "b")
    for number in range(12):
        builder.add_file("HomeDomain", f"Library/f{number}.txt", b"%d" % number)
    root = builder.finish()
    change_in_wal(
        root / "Manifest.db",
        f"UPDATE Files SET relativePath = 'Library/only-in-the-wal.txt',"
        f" fileID = '{ios_acquisitions.file_id('HomeDomain', 'Library/only-in-the-wal.txt')}'"
        " WHERE relativePath = 'Library/f0.txt'",
    )
    copies: list[Path] = []
    real = ios_acquisitions.settled_copy

    def counted(*args: Any) -> Path:
        copies.append(args[0])
        return real(*args)

    monkeypatch.setattr(ios_acquisitions, "settled_copy", counted)
    monkeypatch.setattr(ios_acquisitions, "ROWS_PER_PARTITION", 4)
    with IosBackup(open_source(root)) as backup:
        paths = {entry.path for entry in backup.files()}
        scratch = backup._scratch
        assert scratch is not None and scratch.is_dir()
    assert copies == [root / "Manifest.db"]
    assert "HomeDomain/Library/only-in-the-wal.txt" in paths
    assert "HomeDomain/Library/f0.txt" not in paths
    assert not scratch.exists()


def test_a_zipped_backup_whose_manifest_db_cannot_be_read_is_refused_by_name(tmp_path: Path) -> None:
    archive = zip_folder(backup_with(tmp_path / "b"), tmp_path / "b.zip", methods={"Manifest.db": zipfile.ZIP_BZIP2})
    with pytest.raises(NotAnAcquisitionError, match=r"b\.zip: Manifest\.db cannot be read \(member Manifest\.db is"):
        detect(archive)


def test_an_unreadable_info_plist_in_a_zip_is_a_problem_and_the_rest_is_read(tmp_path: Path) -> None:
    archive = zip_folder(backup_with(tmp_path / "b"), tmp_path / "b.zip", methods={"Info.plist": zipfile.ZIP_BZIP2})
    result = check(archive).result
    assert [(p.artifact, p.path) for p in result.problems] == [("acquisition", "Info.plist"), ("acquisition", "info")]
    assert result.problems[0].reason.startswith("Info.plist: cannot be read (member Info.plist is compressed")
    assert result.problems[1].reason.startswith("Info.plist: cannot be read (member Info.plist is compressed")
    assert result.acquisitions[0].device.model is None


def test_the_same_archive_under_another_name_gives_the_same_findings(tmp_path: Path) -> None:
    root = backup_with(tmp_path / "b")
    first = zip_folder(root, tmp_path / "first.zip")
    with zipfile.ZipFile(first, "a") as out:
        out.writestr("../escape.txt", b"outside")  # a refused member: a problem of the acquisition
    second = tmp_path / "renamed-copy.zip"
    second.write_bytes(first.read_bytes())
    one, two = check(first).result, check(second).result
    assert [p.as_json() for p in one.problems] == [
        {
            "artifact": "acquisition",
            "path": "../escape.txt",
            "reason": "member ../escape.txt was refused: its name climbs out of the archive with '..'",
        }
    ]
    assert findings_document(one).canonical() == findings_document(two).canonical()


def test_a_backup_in_a_folder_whose_name_is_not_utf8_is_read(tmp_path: Path) -> None:
    parent = Path(os.fsdecode(os.fsencode(tmp_path) + b"/UD\xffID"))
    root = backup_with(parent / "00008110-001A2B3C4D5E801E")
    assert root.is_dir()
    result = check(parent).result
    assert result.complete and result.acquisitions[0].device.model == "iPhone14,2"


def test_manifest_db_is_cut_by_row_count_so_a_rowid_gap_costs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builder = BackupBuilder(tmp_path / "b")
    for number in range(5):
        builder.add_file("HomeDomain", f"Library/f{number}.txt", b"%d" % number)
    root = builder.finish()
    db = sqlite3.connect(str(root / "Manifest.db"))
    (count,) = db.execute("SELECT count(*) FROM Files").fetchone()
    db.execute("UPDATE Files SET rowid = 9223372036854775807 WHERE relativePath = 'Library/f4.txt'")
    db.commit()
    db.close()
    monkeypatch.setattr(ios_acquisitions, "ROWS_PER_PARTITION", 3)
    with IosBackup(open_source(root)) as backup:
        partitions = backup._partitions()
        assert partitions[0] == "top"
        assert len(partitions) == 1 + -(-count // 3)
        assert partitions[-1][1] == 9223372036854775807
        assert "HomeDomain/Library/f4.txt" in {entry.path for entry in backup.files()}
