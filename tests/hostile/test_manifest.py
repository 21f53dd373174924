"""Hostile Manifest.db and MBFile blobs: decoys, forged fileIDs, unlisted files at device paths, names
that are not UTF-8, and MBFile archives crafted to poison the layout cache (issue 9, classes 7 to 9)."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sqlite3
import struct
from contextlib import closing
from pathlib import Path

import orjson
import pytest

from tests.builders import check
from vestige.evidence import plist
from vestige.evidence.acquisition import leaf, leaf_of
from vestige.evidence.merkle import MerkleRoot
from vestige.evidence.plist import keyed_archive_fields
from vestige.evidence.sources import open_source
from vestige.ios import acquisitions as ios_acquisitions
from vestige.ios.acquisitions import IosBackup, file_id
from vestige.ios.artifacts.manifest import ListedEntry
from vestige.ios.sample.backup import BackupBuilder
from vestige.ios.sample.demo import build_demo_backup
from vestige.ios.sample.schemas import SMS_DB
from vestige.model import Severity


def _bplist(objects: list[bytes], top: int = 0) -> bytes:
    """A binary plist of raw objects laid out one after the other (one-byte offsets and references):
    an object whose bytes end early shares its last bytes with the next one."""
    body = b"bplist00"
    offsets = []
    for data in objects:
        offsets.append(len(body))
        body += data
    table = len(body)
    body += bytes(offsets)
    return body + struct.pack(">6xBBQQQ", 1, 1, len(objects), top, table)


def _ascii(text: str) -> bytes:
    return bytes([0x50 | len(text)]) + text.encode()


def _overlapping_archive(size_object: bytes) -> bytes:
    """An MBFile-like archive whose root dictionary is the last structural object and ends one byte
    early: the reference of its ``Mode`` value is the marker byte of the object after it (``Size``'s
    value), which the old cache did not compare. An int marker 0x10 points at object 16, 0x11 at 17."""
    objects = [
        b"\xd2\x01\x02\x03\x04",  # 0: {"$top": 3, "$objects": 4}
        _ascii("$top"),  # 1
        _ascii("$objects"),  # 2
        b"\xd1\x05\x06",  # 3: {"root": UID 1}
        b"\xa2\x07\x0a",  # 4: ["$null", root]
        _ascii("root"),  # 5
        b"\x80\x01",  # 6: UID 1
        _ascii("$null"),  # 7
        _ascii("Size"),  # 8
        _ascii("Mode"),  # 9
        b"\xd2\x08\x09\x0b",  # 10: {"Size": 11, "Mode": <the next byte>}
        size_object,  # 11
        *(b"\x10\x00" for _ in range(12, 16)),
        b"\x11\x81\xa4",  # 16: 0o100644
        b"\x11\x41\xed",  # 17: 0o40755
    ]
    return _bplist(objects)


def test_the_mbfile_layout_cache_never_depends_on_the_order_archives_are_seen() -> None:
    first, second = _overlapping_archive(b"\x10\x05"), _overlapping_archive(b"\x11\x00\x07")
    plist._KNOWN.clear()
    alone = keyed_archive_fields(second)
    assert alone == {"Size": 7, "Mode": 0o40755}
    plist._KNOWN.clear()
    assert keyed_archive_fields(first) == {"Size": 5, "Mode": 0o100644}
    assert keyed_archive_fields(second) == alone  # the first archive's layout must not be reused
    plist._KNOWN.clear()


# Mutated copies of the demo backup.


SMS_ID = file_id("HomeDomain", "Library/SMS/sms.db")


def _demo(root: Path) -> Path:
    return build_demo_backup(root)


def _sms_row(root: Path) -> tuple[str, str, str, int, bytes]:
    with closing(sqlite3.connect(root / "Manifest.db")) as db:
        row = db.execute("SELECT * FROM Files WHERE relativePath = 'Library/SMS/sms.db'").fetchone()
    return row  # type: ignore[no-any-return]


def _store(root: Path, name: str, content: bytes) -> None:
    (root / name[:2]).mkdir(exist_ok=True)
    (root / name[:2] / name).write_bytes(content)


def _empty_sms_db(folder: Path) -> bytes:
    location = folder / "empty-sms.db"
    with closing(sqlite3.connect(location)) as db:
        db.executescript(SMS_DB)
        db.commit()
    return location.read_bytes()


def test_a_decoy_row_for_sms_db_never_hides_the_real_one(tmp_path: Path) -> None:
    root = _demo(tmp_path / "b")
    real_id, domain, relative_path, flags, blob = _sms_row(root)
    decoy, empty = "00" + "d" * 38, _empty_sms_db(tmp_path)
    _store(root, decoy, empty)
    with closing(sqlite3.connect(root / "Manifest.db")) as db:
        db.execute("INSERT INTO Files VALUES (?, ?, ?, ?, ?)", (decoy, domain, relative_path, flags, blob))
        # The decoy is listed first: the genuine row moves after it.
        db.execute("UPDATE Files SET rowid = (SELECT max(rowid) + 1 FROM Files) WHERE fileID = ?", (real_id,))
        db.commit()
    result = check(root)
    decoy_name = f"HomeDomain/Library/SMS/sms.db [fileID {decoy}]"
    [sms] = [a for a in result.result.artifacts if a.name == "ios.sms"]
    assert sms.files == ("HomeDomain/Library/SMS/sms.db", decoy_name)
    assert sorted({r.locator.path for r in result.artifact_records("ios.sms")}) == ["HomeDomain/Library/SMS/sms.db"]
    assert len(result.artifact_records("ios.sms")) == 4  # the real messages, read beside the empty decoy
    [duplicate] = result.findings("ios.backup.duplicate_path")
    assert (duplicate.severity, duplicate.title) == (Severity.MEDIUM, "1 path is listed more than once in Manifest.db")
    assert [(e.locator.path, e.locator.key) for e in duplicate.evidence] == [
        ("Manifest.db", decoy),
        (decoy_name, None),
        ("Manifest.db", real_id),
    ]
    assert duplicate.evidence[0].excerpt.startswith(
        f"HomeDomain/Library/SMS/sms.db (file, {len(empty)} bytes) listed in Manifest.db; under"
        f" fileID {decoy}, not the SHA-1 of its path ({real_id})"
    )
    assert duplicate.evidence[2].excerpt == (
        f"HomeDomain/Library/SMS/sms.db: also listed by this row (stored as {real_id[:2]}/{real_id})"
    )
    assert [f.title for f in result.findings("ios.backup.file_id_mismatch")] == [
        "1 row of Manifest.db has a fileID that is not the SHA-1 of its path"
    ]


def test_forged_file_ids_are_one_finding_with_a_count_and_the_first_examples(tmp_path: Path) -> None:
    builder = BackupBuilder(tmp_path / "b")
    for number in range(30):
        builder.add_file("HomeDomain", f"Library/f{number:02d}.txt", b"%d" % number)
    root = builder.finish()
    with closing(sqlite3.connect(root / "Manifest.db")) as db:
        db.execute("UPDATE Files SET fileID = 'ff' || substr(fileID, 3) WHERE relativePath LIKE 'Library/f%'")
        db.commit()
    result = check(root)
    [forged] = result.findings("ios.backup.file_id_mismatch")
    assert forged.title == "30 rows of Manifest.db have a fileID that is not the SHA-1 of their path"
    assert forged.explanation.endswith("The 10 first by path are cited.")
    assert [e.excerpt.split(" (")[0] for e in forged.evidence] == [
        f"HomeDomain/Library/f{n:02d}.txt" for n in range(10)
    ]
    assert result.findings("ios.backup.duplicate_path") == []
    listed = {r.payload.path for r in result.artifact_records("ios.manifest") if isinstance(r.payload, ListedEntry)}
    assert f"HomeDomain/Library/f00.txt [fileID ff{file_id('HomeDomain', 'Library/f00.txt')[2:]}]" in listed


def test_an_unlisted_file_at_a_device_path_is_never_parsed_as_evidence(tmp_path: Path) -> None:
    root = _demo(tmp_path / "b")
    real_id = _sms_row(root)[0]
    with closing(sqlite3.connect(root / "Manifest.db")) as db:
        db.execute("DELETE FROM Files WHERE fileID = ?", (real_id,))
        db.commit()
    (root / "HomeDomain" / "Library" / "SMS").mkdir(parents=True)
    (root / real_id[:2] / real_id).rename(root / "HomeDomain" / "Library" / "SMS" / "sms.db")
    (root / "HomeDomain" / "Library" / "SMS" / "sms.db-wal").write_bytes(b"not a log")
    with IosBackup(open_source(root)) as backup:
        assert backup.manifest().get("HomeDomain/Library/SMS/sms.db-wal", unlisted=True) is not None  # hashed
        assert backup.manifest().get("HomeDomain/Library/SMS/sms.db-wal") is None  # never a database's sidecar
    result = check(root)
    [sms] = [a for a in result.result.artifacts if a.name == "ios.sms"]
    assert (sms.files, sms.records) == ((), 0)
    [unlisted] = result.findings("ios.backup.unlisted_device_path")
    assert (unlisted.severity, unlisted.title) == (
        Severity.MEDIUM,
        "2 files in the backup folder are named like device paths that Manifest.db does not list",
    )
    assert [e.locator.path for e in unlisted.evidence] == [
        "HomeDomain/Library/SMS/sms.db",
        "HomeDomain/Library/SMS/sms.db-wal",
    ]


def test_a_relative_path_that_is_not_utf8_costs_only_its_own_escaping(tmp_path: Path) -> None:
    root = _demo(tmp_path / "b")
    raw = b"Library/Notes/caf\xe9.db"  # Latin-1, as a crafted row would hold it
    name = hashlib.sha1(b"HomeDomain-" + raw).hexdigest()
    _store(root, name, b"note")
    with closing(sqlite3.connect(root / "Manifest.db")) as db:
        db.execute("INSERT INTO Files VALUES (?, 'HomeDomain', CAST(? AS TEXT), 1, NULL)", (name, raw))
        db.commit()
    with IosBackup(open_source(root)) as backup:
        entry = backup.file("HomeDomain/Library/Notes/caf\\xe9.db")
        assert dict(entry.metadata) == {
            "file_id": name,
            "domain": "HomeDomain",
            "relative_path": "Library/Notes/caf\\xe9.db",
            "flags": 1,
            "name_not_utf8": True,
            "path_bytes": (b"HomeDomain/" + raw).hex(),
        }
        assert (entry.size, entry.sha256) == (4, hashlib.sha256(b"note").hexdigest())
        assert backup.file("HomeDomain/Library/SMS/sms.db").sha256 is not None  # every other row is still read
    result = check(root)
    assert result.findings("ios.backup.file_id_mismatch") == []  # checked against the raw bytes
    assert len(result.artifact_records("ios.sms")) == 4


def test_a_raw_name_and_its_escape_are_both_kept_with_different_leaves(tmp_path: Path) -> None:
    root = BackupBuilder(tmp_path / "b").finish()
    with closing(sqlite3.connect(root / "Manifest.db")) as db:
        for relative_path in (b"Library/\xff", b"Library/\\xff"):  # a raw byte, and the four characters
            name = hashlib.sha1(b"HomeDomain-" + relative_path).hexdigest()
            db.execute("INSERT INTO Files VALUES (?, 'HomeDomain', CAST(? AS TEXT), 2, NULL)", (name, relative_path))
        db.commit()
    with IosBackup(open_source(root)) as backup:
        manifest = backup.manifest()
        literal, raw = backup.file("HomeDomain/Library/\\xff"), backup.file("HomeDomain/Library/\\xff [2]")
        assert "path_bytes" not in literal.metadata
        assert raw.metadata["listed_as"] == "HomeDomain/Library/\\xff"
        assert literal.leaf() == b"HomeDomain/Library/\\xff\x00directory\x00\x00"
        assert raw.leaf()[:1] == b"\x00" and raw.leaf() != literal.leaf()
        assert [(p.path, p.reason) for p in manifest.problems] == [
            (
                "HomeDomain/Library/\\xff [2]",
                "HomeDomain/Library/\\xff: another entry has the same path; this one is listed as"
                " HomeDomain/Library/\\xff [2]",
            )
        ]
        assert [e.path for e in backup.glob("HomeDomain/Library/\\xff")] == [
            "HomeDomain/Library/\\xff",
            "HomeDomain/Library/\\xff [2]",
        ]
        lines = io.BytesIO()
        root_hash = manifest.seal(lines)
    rebuilt = MerkleRoot()  # what verify and disclose can do with manifest.jsonl alone
    for line in lines.getvalue().splitlines():
        rebuilt.add_leaf(leaf_of(orjson.loads(line)))
    assert rebuilt.hexdigest() == root_hash


def test_a_raw_file_name_and_its_escape_in_the_backup_folder_are_both_kept(tmp_path: Path) -> None:
    root = BackupBuilder(tmp_path / "b").finish()
    (root / "ab").mkdir()
    (root / "ab" / "x\\xff").write_bytes(b"literal")
    (root / "ab" / os.fsdecode(b"x\xff")).write_bytes(b"raw")
    with IosBackup(open_source(root)) as backup:
        literal = backup.manifest().get("ab/x\\xff", unlisted=True)
        raw = backup.manifest().get("ab/x\\xff [2]", unlisted=True)
        assert literal is not None and raw is not None
        problems = [(p.path, p.reason) for p in backup.manifest().problems]
    assert (literal.sha256, raw.sha256) == (hashlib.sha256(b"literal").hexdigest(), hashlib.sha256(b"raw").hexdigest())
    assert raw.metadata["path_bytes"] == b"ab/x\xff".hex()
    assert literal.leaf() != raw.leaf()
    assert problems == [
        (
            "ab/x\\xff [2]",
            "ab/x\\xff: a name that is not UTF-8 whose escapes spell another member's name; listed as ab/x\\xff [2]",
        )
    ]


def test_leaves_are_injective_and_ordinary_ones_unchanged() -> None:
    sha = "ab" * 32
    assert leaf("a/b", "file", 3, sha) == b"a/b\x00file\x003\x00" + sha.encode()
    odd = [
        leaf("a\\xff", "file", 3, sha, b"a\xff"),
        leaf("a\\xff", "file", 3, sha),
        leaf("a\x00file", "file", 3, sha),
        leaf("a", "file\x00file", 3, sha),
        leaf("", "file", 3, sha),
        leaf("a\\xff", "file", 3, sha, b"a\\xff"),
    ]
    assert len(set(odd)) == len(odd)


def test_the_mbfile_cache_gives_each_row_its_own_fields_with_any_number_of_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builder = BackupBuilder(tmp_path / "b")
    builder.add_file("HomeDomain", "Library/a.txt", b"a")
    root = builder.finish()
    first, second = _overlapping_archive(b"\x10\x05"), _overlapping_archive(b"\x11\x00\x07")
    with closing(sqlite3.connect(root / "Manifest.db")) as db:
        for number, blob in enumerate((first, second)):
            relative_path = f"Library/poison{number}"
            db.execute(
                "INSERT INTO Files VALUES (?, 'HomeDomain', ?, 2, ?)",
                (file_id("HomeDomain", relative_path), relative_path, blob),
            )
        db.commit()
    monkeypatch.setattr(ios_acquisitions, "ROWS_PER_PARTITION", 1)
    seen = []
    for workers in (1, 2):
        plist._KNOWN.clear()
        with IosBackup(open_source(root)) as backup:
            entry = backup.manifest(workers=workers).get("HomeDomain/Library/poison1")
            assert entry is not None
            seen.append((entry.metadata["mode"], entry.metadata["size"]))
    assert seen == [(oct(0o40755), 7), (oct(0o40755), 7)]  # as read alone: never the first archive's layout
    plist._KNOWN.clear()


def test_an_unlisted_wal_beside_a_device_path_is_never_applied_to_the_listed_database(tmp_path: Path) -> None:
    root = _demo(tmp_path / "b")
    stored = root / SMS_ID[:2] / SMS_ID
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(stored, work / "sms.db")
    live = sqlite3.connect(work / "sms.db")
    live.execute("PRAGMA journal_mode = WAL")
    live.execute("PRAGMA wal_autocheckpoint = 0")
    live.execute(
        "INSERT INTO message (guid, text, handle_id, service, date, is_from_me) VALUES ('planted', 'x', 1, 'SMS', 0, 0)"
    )
    live.commit()
    main, wal = (work / "sms.db").read_bytes(), (work / "sms.db-wal").read_bytes()
    live.close()
    stored.write_bytes(main)  # the listed sms.db, now in WAL mode, without the planted message
    (root / "HomeDomain" / "Library" / "SMS").mkdir(parents=True)
    (root / "HomeDomain" / "Library" / "SMS" / "sms.db-wal").write_bytes(wal)  # not listed in Manifest.db
    result = check(root)
    assert [r.payload.guid for r in result.artifact_records("ios.sms") if r.locator.table == "message"] == [
        r.payload.guid
        for r in check(_demo(tmp_path / "genuine")).artifact_records("ios.sms")
        if r.locator.table == "message"
    ]
    assert [f.title for f in result.findings("ios.backup.unlisted_device_path")] == [
        "1 file in the backup folder is named like a device path that Manifest.db does not list"
    ]


def test_a_name_longer_than_any_device_path_is_listed_by_its_digest_not_copied_whole(tmp_path: Path) -> None:
    """A crafted 8 MiB domain used to be copied into every line citing the row (hundreds of MB of
    output, and pattern matching over it that outran the time limit)."""
    root = _demo(tmp_path / "b")
    domain = b"D" * (8 << 20)
    with closing(sqlite3.connect(root / "Manifest.db")) as db:
        db.execute("INSERT INTO Files VALUES ('f00d', ?, 'Library/x.db', 1, NULL)", (domain,))
        db.commit()
    digest = hashlib.sha256(b"f00d\x00" + domain + b"\x00Library/x.db").hexdigest()
    with IosBackup(open_source(root)) as backup:
        entry = backup.file(f"[name too long]/{digest}")
        assert dict(entry.metadata) == {
            "name_too_long": True,
            "name_sha256": digest,
            "flags": 1,
            "file_id": "f00d",
            "file_id_length": 4,
            "domain": "D" * 256,
            "domain_length": 8 << 20,
            "relative_path": "Library/x.db",
            "relative_path_length": 12,
            "absent": True,
        }
        assert backup.file("HomeDomain/Library/SMS/sms.db").sha256 is not None
    result = check(root)
    assert len(result.artifact_records("ios.sms")) == 4
