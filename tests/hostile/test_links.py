"""Symbolic links in an iOS backup folder are listed as links, never followed: at the top (Info.plist,
a Manifest.db-wal pointing outside the backup), where a stored file should be, and a file swapped for
a link after the listing (issue 9, class 10)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.builders import check
from vestige.evidence.errors import NotAnAcquisitionError
from vestige.evidence.sources import open_source
from vestige.ios.acquisitions import IosBackup, file_id
from vestige.ios.sample.demo import build_demo_backup
from vestige.model import Severity
from vestige.platforms import Registry

SMS_ID = file_id("HomeDomain", "Library/SMS/sms.db")


def _wal_outside(root: Path, outside: Path) -> None:
    """Makes the backup's Manifest.db WAL-mode and puts beside it a ``Manifest.db-wal`` link to a log,
    outside the backup, that adds a row."""
    outside.mkdir()
    shutil.copy(root / "Manifest.db", outside / "Manifest.db")
    live = sqlite3.connect(outside / "Manifest.db")
    live.execute("PRAGMA journal_mode = WAL")
    live.execute("PRAGMA wal_autocheckpoint = 0")
    relative_path = "Library/planted/by-the-wal"
    live.execute(
        "INSERT INTO Files VALUES (?, 'HomeDomain', ?, 2, NULL)", (file_id("HomeDomain", relative_path), relative_path)
    )
    live.commit()
    main, wal = (outside / "Manifest.db").read_bytes(), (outside / "Manifest.db-wal").read_bytes()
    live.close()  # checkpoints: put the log back as it was
    (outside / "Manifest.db-wal").write_bytes(wal)
    (root / "Manifest.db").write_bytes(main)
    (root / "Manifest.db-wal").symlink_to(outside / "Manifest.db-wal")


def test_a_manifest_db_wal_link_to_a_log_outside_the_backup_adds_no_rows_and_is_reported(tmp_path: Path) -> None:
    root = build_demo_backup(tmp_path / "b")
    _wal_outside(root, tmp_path / "outside")
    target = str(tmp_path / "outside" / "Manifest.db-wal")
    with IosBackup(open_source(root)) as backup:
        paths = [entry.path for entry in backup.files()]
        link = backup.file("Manifest.db-wal")
        problems = [(p.path, p.reason) for p in backup.manifest().problems]
    assert not any("planted" in path for path in paths)
    assert (link.type, link.size, link.sha256, link.stored_as, dict(link.metadata)) == (
        "symlink",
        None,
        None,
        None,
        {"target": target},
    )
    assert problems == [
        (
            "Manifest.db-wal",
            f"Manifest.db-wal: cannot be read (a symbolic link to {target}, which vestige does not follow)",
        )
    ]
    [linked] = check(root).findings("ios.backup.symlinked_file")
    assert (linked.severity, linked.title) == (Severity.MEDIUM, "1 file of the backup is a symbolic link")
    assert [(e.locator.path, e.excerpt) for e in linked.evidence] == [
        (
            "Manifest.db-wal",
            f"Manifest.db-wal: a symbolic link to {target} at the top of the backup folder (never followed)",
        )
    ]


def test_an_info_plist_link_is_listed_as_a_link_and_the_backup_still_read(tmp_path: Path) -> None:
    root = build_demo_backup(tmp_path / "b")
    outside = tmp_path / "Info.plist"
    (root / "Info.plist").rename(outside)
    (root / "Info.plist").symlink_to(outside)
    with Registry.discover().open(root) as backup:
        assert "imei" not in backup.info().identifiers  # Info.plist alone holds it: the link is not read
        assert backup.file("Info.plist").type == "symlink"
    result = check(root)
    assert [a.files for a in result.result.artifacts if a.name == "ios.backup_info"] == [
        ("Manifest.plist", "Status.plist")
    ]
    assert [(p.path, p.reason) for p in result.result.problems] == [
        ("Info.plist", f"Info.plist: cannot be read (a symbolic link to {outside}, which vestige does not follow)")
    ]
    assert [f.title for f in result.findings("ios.backup.symlinked_file")] == [
        "1 file of the backup is a symbolic link"
    ]
    assert len(result.artifact_records("ios.sms")) == 4


def test_a_manifest_db_link_is_refused_with_a_sentence_naming_it(tmp_path: Path) -> None:
    root = build_demo_backup(tmp_path / "b")
    (root / "Manifest.db").rename(tmp_path / "Manifest.db")
    (root / "Manifest.db").symlink_to(tmp_path / "Manifest.db")
    with pytest.raises(NotAnAcquisitionError, match=rf"Manifest\.db is a symbolic link to {tmp_path}/Manifest\.db;"):
        Registry.discover().open(root)


def test_a_stored_file_that_is_a_link_is_listed_and_never_followed(tmp_path: Path) -> None:
    root = build_demo_backup(tmp_path / "b")
    stored = root / SMS_ID[:2] / SMS_ID
    stored.rename(tmp_path / "sms.db")
    stored.symlink_to(tmp_path / "sms.db")
    result = check(root)
    assert result.artifact_records("ios.sms") == []
    [sms] = [a for a in result.result.artifacts if a.name == "ios.sms"]
    assert sms.files == ()
    reason = (
        f"its stored file {SMS_ID[:2]}/{SMS_ID} is a symbolic link to {tmp_path}/sms.db, which vestige does not follow"
    )
    assert [(p.path, p.reason) for p in result.result.problems] == [
        ("HomeDomain/Library/SMS/sms.db", f"HomeDomain/Library/SMS/sms.db: cannot be read ({reason})")
    ]
    [linked] = result.findings("ios.backup.symlinked_file")
    assert (linked.evidence[0].locator.path, linked.evidence[0].locator.key) == ("Manifest.db", SMS_ID)
    assert linked.evidence[0].excerpt.startswith(
        f"HomeDomain/Library/SMS/sms.db (file) listed in Manifest.db; its stored file {SMS_ID[:2]}/{SMS_ID} is a"
    )
    assert result.findings("ios.manifest.listed_files_absent") == []  # it is there, as a link


def test_a_file_swapped_for_a_link_after_the_listing_is_not_opened(tmp_path: Path) -> None:
    root = build_demo_backup(tmp_path / "b")
    with IosBackup(open_source(root)) as backup:
        backup.manifest()
        stored = root / SMS_ID[:2] / SMS_ID
        stored.rename(tmp_path / "sms.db")
        stored.symlink_to(tmp_path / "sms.db")
        with pytest.raises(OSError, match="symbolic link"):
            backup.open("HomeDomain/Library/SMS/sms.db")
        with pytest.raises(OSError, match=rf"is now a symbolic link to {tmp_path}/sms\.db; vestige does not follow it"):
            backup.location("HomeDomain/Library/SMS/sms.db")


def test_links_in_the_subfolders_are_listed_as_unlisted_links(tmp_path: Path) -> None:
    root = build_demo_backup(tmp_path / "b")
    (root / "ab" / "planted").symlink_to("/etc/passwd")
    with IosBackup(open_source(root)) as backup:
        assert backup.manifest().get("ab/planted") is None  # never taken as part of a listed file
        entry = backup.manifest().get("ab/planted", unlisted=True)
        assert entry is not None
        problems = [p.path for p in backup.manifest().problems]
    assert (entry.type, dict(entry.metadata)) == ("symlink", {"unlisted": True, "target": "/etc/passwd"})
    assert problems == ["ab/planted"]
    assert backup.glob("ab/*") == []  # never selected
