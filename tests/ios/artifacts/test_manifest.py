"""Manifest.db entries: device paths, hashes and host names against indicators; absent and unlisted files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.builders import Collected, check, plain_set
from vestige.analysis import analyse
from vestige.evidence.sources import open_source
from vestige.indicators import IndicatorIndex
from vestige.ios import acquisitions as ios_acquisitions
from vestige.ios.acquisitions import IosBackup, file_id
from vestige.ios.artifacts import manifest
from vestige.ios.artifacts.manifest import ListedEntry
from vestige.ios.sample.backup import BackupBuilder
from vestige.model import Severity
from vestige.platforms import Registry


def build(root: Path) -> Path:
    builder = BackupBuilder(root)
    builder.add_file("RootDomain", "Library/Preferences/roleaccountd.plist", b"<plist/>")
    builder.add_file(
        "HomeDomain", "Library/WebKit/WebsiteData/LocalStorage/https_evil.example-bad.com_0.localstorage", b"x"
    )
    builder.add_file("HomeDomain", "Library/Preferences/com.apple.Preferences.plist", b"benign")
    builder.add_listing("HomeDomain", "Library/Caches/gone.db", 1, size=4096)
    return builder.finish()


def test_every_listed_entry_is_a_record_citing_its_manifest_row(tmp_path: Path) -> None:
    result = check(build(tmp_path / "b"))
    records = result.artifact_records("ios.manifest")
    by_path = {r.payload.path: r for r in records if isinstance(r.payload, ListedEntry)}
    plist = by_path["RootDomain/Library/Preferences/roleaccountd.plist"]
    expected_id = file_id("RootDomain", "Library/Preferences/roleaccountd.plist")
    assert (plist.locator.path, plist.locator.table, plist.locator.key) == ("Manifest.db", "Files", expected_id)
    listed = plist.payload
    assert isinstance(listed, ListedEntry)
    assert listed.sha256 == hashlib.sha256(b"<plist/>").hexdigest()
    assert listed.file_id == expected_id
    assert listed.mode == "0o100644"
    assert (listed.domain, listed.size, listed.absent) == ("RootDomain", 8, False)
    assert [(o.kind.value, o.value) for o in plist.observables] == [
        ("file-path", "/Library/Preferences/roleaccountd.plist"),
        ("file-path", "/private/var/root/Library/Preferences/roleaccountd.plist"),
        ("file-name", "roleaccountd.plist"),
        ("sha256", hashlib.sha256(b"<plist/>").hexdigest()),
    ]
    directory = by_path["HomeDomain/Library"].payload
    assert isinstance(directory, ListedEntry) and directory.type == "directory"


def test_file_names_paths_hashes_and_hosts_in_folder_names_are_matched(tmp_path: Path) -> None:
    sets = [
        plain_set("pegasus-files", "files", ["roleaccountd.plist"]),
        plain_set("webkit-hosts", "domains", ["example-bad.com"]),
        plain_set("hashes", "sha256", [hashlib.sha256(b"benign").hexdigest()]),
    ]
    root = build(tmp_path / "b")
    result = check(root, sets)
    matches = result.findings("ios.manifest.indicator_match")
    assert sorted((f.indicators[0].set_name, f.indicators[0].value, f.severity) for f in matches) == [
        ("hashes", hashlib.sha256(b"benign").hexdigest(), Severity.HIGH),
        ("pegasus-files", "roleaccountd.plist", Severity.HIGH),
        ("webkit-hosts", "example-bad.com", Severity.HIGH),
    ]
    # A hash describes the file's content: the finding cites the file as well as its Manifest.db row.
    [by_hash] = [f for f in matches if f.indicators[0].set_name == "hashes"]
    path = "HomeDomain/Library/Preferences/com.apple.Preferences.plist"
    assert [(e.locator.path, e.locator.table, e.locator.sha256) for e in by_hash.evidence] == [
        ("Manifest.db", "Files", hashlib.sha256((root / "Manifest.db").read_bytes()).hexdigest()),
        (path, None, hashlib.sha256(b"benign").hexdigest()),
    ]
    assert by_hash.evidence[1].excerpt == f"{path}, as {path} (file, 6 bytes) listed in Manifest.db"


def test_absent_and_unlisted_files_are_reported_once_each(tmp_path: Path) -> None:
    root = build(tmp_path / "b")
    (root / "ff").mkdir()
    (root / "ff" / "ffffffffffffffffffffffffffffffffffffffff").write_bytes(b"stray")
    result = check(root)
    [absent] = result.findings("ios.manifest.listed_files_absent")
    assert absent.severity is Severity.INFO
    assert absent.title == "1 files listed in Manifest.db are absent from the backup folder"
    assert absent.evidence[0].locator.key == file_id("HomeDomain", "Library/Caches/gone.db")
    [unlisted] = result.findings("ios.manifest.unlisted_files")
    assert unlisted.severity is Severity.LOW
    assert unlisted.evidence[0].locator.path == "ff/ffffffffffffffffffffffffffffffffffffffff"
    assert unlisted.evidence[0].locator.sha256 == hashlib.sha256(b"stray").hexdigest()


def test_cited_absent_files_are_the_first_by_path_whatever_the_order_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builder = BackupBuilder(tmp_path / "b")
    for number in reversed(range(25)):  # Manifest.db rows in the reverse of path order
        builder.add_listing("HomeDomain", f"Library/Caches/gone-{number:02d}.db", 1, size=10)
    root = builder.finish()
    monkeypatch.setattr(ios_acquisitions, "ROWS_PER_PARTITION", 4)
    [engine] = check(root).findings("ios.manifest.listed_files_absent")
    with IosBackup(open_source(root)) as backup:
        [whole] = list(manifest.detect(manifest.parse(backup, "Manifest.db"), IndicatorIndex(())))
    assert engine == whole
    assert engine.title == "25 files listed in Manifest.db are absent from the backup folder"
    expected = [file_id("HomeDomain", f"Library/Caches/gone-{number:02d}.db") for number in range(10)]
    assert [e.locator.key for e in engine.evidence] == expected


def test_the_engine_reads_the_listing_when_the_manifest_was_built_before(tmp_path: Path) -> None:
    root = build(tmp_path / "b")
    registry = Registry.discover()
    with registry.open(root) as acquisition:
        acquisition.manifest()  # built without the engine's reader
        sink = Collected()
        result = analyse([acquisition], registry, IndicatorIndex([]), [], sinks=sink)
    records = [r for r in sink.records if r.artifact == "ios.manifest"]
    usual = check(root)
    assert sorted(map(repr, records)) == sorted(map(repr, usual.artifact_records("ios.manifest")))
    assert len(records) == 13
    [summary] = [a for a in result.artifacts if a.name == "ios.manifest"]
    assert summary.records == 13
    assert [f for f in result.findings if f.rule.startswith("ios.manifest.")] == [
        f for f in usual.result.findings if f.rule.startswith("ios.manifest.")
    ]
    assert [f.rule for f in result.findings if f.rule.startswith("ios.manifest.")] == [
        "ios.manifest.listed_files_absent"
    ]
