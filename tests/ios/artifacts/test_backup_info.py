"""Info.plist, Manifest.plist and Status.plist: device facts, installed apps, outdated iOS, unfinished backups."""

from __future__ import annotations

import plistlib
from pathlib import Path

from tests.builders import backup_with, check, plain_set
from vestige.ios.artifacts.backup_info import BackupPlist
from vestige.ios.sample.backup import Device
from vestige.model import Severity


def test_each_plist_is_a_record_with_its_keys(tmp_path: Path) -> None:
    result = check(backup_with(tmp_path / "b"))
    records = {r.locator.path: r for r in result.artifact_records("ios.backup_info")}
    assert sorted(records) == ["Info.plist", "Manifest.plist", "Status.plist"]
    info = records["Info.plist"]
    assert info.summary == "Backup of Reporter's iPhone (iPhone14,2, iOS 17.5.1 build 21F90)"
    assert isinstance(info.payload, BackupPlist)
    assert info.payload.values["IMEI"] == "356789104523871"
    assert info.payload.installed_applications == (
        "com.apple.mobilesafari",
        "com.atebits.Tweetie2",
        "net.whatsapp.WhatsApp",
        "ph.telegra.Telegraph",
    )
    assert [o.value for o in info.observables] == [
        "com.apple.mobilesafari",
        "com.atebits.tweetie2",
        "net.whatsapp.whatsapp",
        "ph.telegra.telegraph",
    ]
    status, manifest = records["Status.plist"].payload, records["Manifest.plist"].payload
    assert isinstance(status, BackupPlist) and status.snapshot_state == "finished"
    assert isinstance(manifest, BackupPlist) and manifest.values["IsEncrypted"] is False


def test_an_outdated_ios_is_an_info_finding_citing_product_version(tmp_path: Path) -> None:
    result = check(backup_with(tmp_path / "b"))
    [finding] = result.findings("ios.backup_info.outdated_ios")
    assert finding.severity is Severity.INFO
    assert finding.title == "The device ran iOS 17.5.1 when it was backed up, an outdated release"
    assert "belongs to a release line with no update among the newest releases known to vestige as of 2026-11-28" in (
        finding.explanation
    )
    assert (finding.evidence[0].locator.path, finding.evidence[0].locator.key) == ("Info.plist", "Product Version")


def test_the_newest_release_of_a_line_is_not_outdated(tmp_path: Path) -> None:
    result = check(backup_with(tmp_path / "b", device=Device(product_version="26.7.2", build_version="23H30")))
    assert result.findings("ios.backup_info.outdated_ios") == []
    older = check(backup_with(tmp_path / "c", device=Device(product_version="26.7.1", build_version="23H20")))
    [finding] = older.findings("ios.backup_info.outdated_ios")
    assert "older than iOS 26.7.2, the newest release of its line as of 2026-11-28" in finding.explanation


def test_an_installed_app_on_an_indicator_list_is_high(tmp_path: Path) -> None:
    sets = [plain_set("stalkerware", "package_names", ["ph.telegra.telegraph"])]
    result = check(backup_with(tmp_path / "b"), sets)
    [finding] = result.findings("ios.backup_info.indicator_match")
    assert finding.severity is Severity.HIGH
    assert finding.title == (
        "An installed application involves the app identifier ph.telegra.telegraph, named by a stalkerware indicator"
    )


def test_an_unfinished_snapshot_is_low(tmp_path: Path) -> None:
    root = backup_with(tmp_path / "b")
    status = plistlib.loads((root / "Status.plist").read_bytes())
    status["SnapshotState"] = "uploading"
    (root / "Status.plist").write_bytes(plistlib.dumps(status, fmt=plistlib.FMT_BINARY))
    [finding] = check(root).findings("ios.backup_info.unfinished_backup")
    assert finding.severity is Severity.LOW
    assert finding.title == "The backup did not finish (SnapshotState is 'uploading')"


def test_a_backup_without_manifest_and_status_plists_is_read(tmp_path: Path) -> None:
    root = backup_with(tmp_path / "b", with_manifest_plist=False, with_status_plist=False)
    result = check(root)
    assert [r.locator.path for r in result.artifact_records("ios.backup_info")] == ["Info.plist"]
    assert result.result.acquisitions[0].device.model == "iPhone14,2"
    assert result.result.complete


def test_a_corrupt_status_plist_is_a_problem(tmp_path: Path) -> None:
    root = backup_with(tmp_path / "b")
    (root / "Status.plist").write_bytes(b"bplist00\x00garbage")
    result = check(root)
    assert [(p.artifact, p.path) for p in result.result.problems] == [("ios.backup_info", "Status.plist")]
    assert result.result.acquisitions[0].device.os_version == "17.5.1"
