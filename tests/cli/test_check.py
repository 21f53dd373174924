"""``vestige check``: output files, canonical and deterministic findings.json, exit codes, messages."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import rfc8785
from click.testing import CliRunner

from tests.builders import backup_with, tree_digest
from vestige.cli import main
from vestige.ios import acquisitions as ios_acquisitions
from vestige.ios.sample.demo import build_demo_backup


@pytest.fixture(scope="module")
def demo_backup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_backup(tmp_path_factory.mktemp("demo") / "backup")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_check_writes_every_output_file(demo_backup: Path, tmp_path: Path) -> None:
    code, output = run("check", str(demo_backup), "-o", str(tmp_path / "out"))
    assert code == 0, output
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "findings.json",
        "manifest.jsonl",
        "records",
        "report.html",
        "run.json",
        "timeline.jsonl",
    ]
    assert sorted(p.name for p in (out / "records").iterdir()) == [
        "ios.backup_info.jsonl",
        "ios.datausage.jsonl",
        "ios.idstatuscache.jsonl",
        "ios.osanalytics_addaily.jsonl",
        "ios.safari_history.jsonl",
        "ios.sms.jsonl",
        "ios.webkit_observations.jsonl",
    ]
    assert "critical 2 · high 5 · medium 1 · low 0 · info 2" in output
    assert "CRITICAL  A process that used the network (DataUsage) involves the process name bh" in output


def test_findings_json_is_canonical_versioned_and_complete(demo_backup: Path, tmp_path: Path) -> None:
    run("check", str(demo_backup), "-o", str(tmp_path / "out"))
    raw = (tmp_path / "out" / "findings.json").read_bytes()
    document = json.loads(raw)
    assert rfc8785.dumps(document) == raw
    assert document["schema"] == "vestige.findings/2"
    assert [(a["kind"], a["files"]) for a in document["acquisitions"]] == [("ios-backup", 39)]
    assert document["summary"] == {
        "complete": True,
        "findings": {"critical": 2, "high": 5, "info": 2, "low": 0, "medium": 1},
        "problems": 0,
    }
    assert [(a["name"], a["version"]) for a in document["artifacts"]] == [
        ("ios.backup_info", 2),
        ("ios.manifest", 2),
        ("ios.safari_history", 2),
        ("ios.datausage", 2),
        ("ios.osanalytics_addaily", 2),
        ("ios.sms", 2),
        ("ios.idstatuscache", 2),
        ("ios.webkit_observations", 2),
    ]
    assert document["correlators"] == [
        {
            "name": "ios.redirect_then_new_process",
            "version": 1,
            "description": "A process with no bundle id first using the network within 60 s after a redirected "
            "http:// visit",
            "records": 8,
        },
        {
            "name": "correlation.injection_on_device_and_wire",
            "version": 1,
            "description": "A cross-site redirect of an http:// visit in Safari and a TCP race in the capture for the "
            "same URL, within the clock-skew window",
            "records": 4,
        },
        {
            "name": "correlation.indicator_on_device_and_wire",
            "version": 1,
            "description": "An indicator match in the capture and a Safari visit (same indicator) or DataUsage process "
            "(same campaign) within the clock-skew window",
            "records": 0,
        },
        {
            "name": "correlation.baseband_during_injection",
            "version": 1,
            "description": "For each injection or injected redirect, what the baseband log shows around it (serving "
            "cell, ciphering and integrity, cell changes, IMSI requests, rogue-station findings), against the "
            "hypothesis of a rogue base station",
            "records": 0,
        },
    ]
    first = document["findings"][0]
    assert first["evidence"][0]["locator"] == {
        "path": "WirelessDomain/Library/Databases/DataUsage.sqlite",
        "row": 11,
        "sha256": first["evidence"][0]["locator"]["sha256"],
        "table": "ZPROCESS",
    }
    assert first["indicators"][0]["set_sha256"] == "df1bcaa78abc7b85781b1ebc2daa3cc225371e2024d9ef96e84f80f927256586"
    names = [s["name"] for s in document["indicator_sets"]]
    assert "amnesty/2021-07-18_nso/pegasus.stix2" in names
    assert str(demo_backup) not in raw.decode()


def test_findings_json_is_byte_identical_across_runs(demo_backup: Path, tmp_path: Path) -> None:
    run("check", str(demo_backup), "-o", str(tmp_path / "a"))
    run("check", str(demo_backup), "-o", str(tmp_path / "b"))
    assert (tmp_path / "a" / "findings.json").read_bytes() == (tmp_path / "b" / "findings.json").read_bytes()
    assert (tmp_path / "a" / "timeline.jsonl").read_bytes() == (tmp_path / "b" / "timeline.jsonl").read_bytes()
    run_a = json.loads((tmp_path / "a" / "run.json").read_bytes())
    assert set(run_a) >= {"started", "finished", "duration_seconds", "host", "python", "options", "findings_sha256"}
    assert run_a["versions"]["ios.safari_history"] == 2
    assert run_a["versions"]["ios.redirect_then_new_process"] == 1


def test_manifest_and_timeline_files(demo_backup: Path, tmp_path: Path) -> None:
    run("check", str(demo_backup), "-o", str(tmp_path / "out"))
    lines = (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()
    assert len(lines) == 39
    sms = next(json.loads(line) for line in lines if json.loads(line)["path"] == "HomeDomain/Library/SMS/sms.db")
    assert sms["stored_as"] == "3d/3d0d7e5fb2ce288813306e4d4636395e047a3d28"
    assert set(sms["metadata"]) >= {"mode", "modified", "birth", "file_id", "domain", "relative_path"}
    events = [json.loads(line) for line in (tmp_path / "out" / "timeline.jsonl").read_text().splitlines()]
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    assert all({"message", "datetime", "timestamp_desc"} <= set(e) for e in events)
    assert sum(1 for e in events if e["data_type"] == "vestige.finding") == 10


def test_fail_on_makes_a_finding_at_that_severity_exit_1(demo_backup: Path, tmp_path: Path) -> None:
    assert run("check", str(demo_backup), "-o", str(tmp_path / "a"), "--fail-on", "critical")[0] == 1
    clean = backup_with(tmp_path / "clean")
    assert run("check", str(clean), "-o", str(tmp_path / "b"), "--fail-on", "medium")[0] == 0


def test_an_unreadable_artifact_makes_the_run_exit_3(demo_backup: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(demo_backup, copy)
    (copy / "3d" / "3d0d7e5fb2ce288813306e4d4636395e047a3d28").write_bytes(b"garbage")
    code, output = run("check", str(copy), "-o", str(tmp_path / "out"))
    assert code == 3
    assert "1 problem(s): the run is incomplete" in output
    document = json.loads((tmp_path / "out" / "findings.json").read_bytes())
    assert document["problems"] == [
        {
            "artifact": "ios.sms",
            "path": "HomeDomain/Library/SMS/sms.db",
            "reason": "HomeDomain/Library/SMS/sms.db: not a SQLite database (the header is wrong)",
        }
    ]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "no such file or folder"),
        ("not-backup", "not an acquisition vestige can read"),
        ("encrypted", "this iOS backup is encrypted; decrypt it first"),
        ("bad-manifest", "Manifest.db: unreadable SQLite database (file is not a database)"),
    ],
)
def test_unreadable_input_is_one_sentence_and_exit_2(tmp_path: Path, setup: str, message: str) -> None:
    target = tmp_path / setup
    if setup == "not-backup":
        target.mkdir()
    elif setup == "encrypted":
        backup_with(target, encrypted=True)
        (target / "Manifest.db").write_bytes(b"\x8a" * 4096)
    elif setup == "bad-manifest":
        backup_with(target)
        (target / "Manifest.db").write_bytes(b"SQLite format 3\x00" + b"\x8a" * 4096)
    code, output = run("check", str(target), "-o", str(tmp_path / "out"))
    assert code == 2
    assert message in output
    assert "Traceback" not in output
    assert not (tmp_path / "out").exists()


def test_a_non_empty_output_folder_is_refused(demo_backup: Path, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    code, output = run("check", str(demo_backup), "-o", str(tmp_path / "out"))
    assert code == 2
    assert "the output folder exists and is not empty" in output
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"


def test_an_unreadable_indicator_file_is_refused(demo_backup: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.stix2"
    bad.write_text("{not json")
    code, output = run("check", str(demo_backup), "--iocs", str(bad), "-o", str(tmp_path / "out"))
    assert code == 2
    assert "bad.stix2" in output


def test_default_output_folder_is_named_by_the_merkle_root_and_never_overwritten(
    demo_backup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("check", str(demo_backup), "-q")[0] == 0
    assert run("check", str(demo_backup), "-q")[0] == 0
    root = json.loads(next(tmp_path.glob("vestige-*/findings.json")).read_bytes())["acquisitions"][0]["merkle_root"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"vestige-{root[:12]}", f"vestige-{root[:12]}-2"]


def test_check_never_writes_inside_the_acquisition(
    demo_backup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = tree_digest(demo_backup)
    assert run("check", str(demo_backup), "-o", str(tmp_path / "out"))[0] == 0
    run("iocs", "list")
    code, output = run("check", str(demo_backup), "-o", str(demo_backup / "HomeDomain" / "out"))
    assert (code, "the output folder is inside the acquisition" in output) == (2, True)
    monkeypatch.chdir(demo_backup)
    code, output = run("check", ".")
    assert (code, "the working directory is inside the acquisition" in output) == (2, True)
    assert tree_digest(demo_backup) == before


def test_check_does_not_load_the_custody_layer() -> None:
    """Forked workers copy the pages of every module loaded before the fork: check keeps them few."""
    probe = "import sys, vestige.cli; print([m for m in ('cryptography', 'vestige.custody.case') if m in sys.modules])"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded == "[]\n"


def test_a_defect_is_reported_with_exit_70_and_leaves_no_partial_output(
    demo_backup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(sys.modules["vestige.pipeline"], "analyse", broken)
    code, output = run("check", str(demo_backup), "-o", str(tmp_path / "out"))
    assert code == 70
    assert "vestige: internal error (RuntimeError: boom). This is a defect in vestige" in output
    assert not (tmp_path / "out").exists()


def test_any_number_of_workers_gives_the_same_bytes(
    demo_backup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("check", str(demo_backup), "-o", str(tmp_path / "whole"), "-j", "1")[0] == 0
    # Small partitions, so ios.manifest's timeline events come from many partitions in any order.
    monkeypatch.setattr(ios_acquisitions, "ROWS_PER_PARTITION", 7)
    for jobs in ("1", "2", "3"):
        assert run("check", str(demo_backup), "-o", str(tmp_path / jobs), "-j", jobs)[0] == 0
    names = ("findings.json", "timeline.jsonl", "manifest.jsonl", "records/ios.safari_history.jsonl")
    for name in names:
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "1" / name).read_bytes(), name
        assert (
            (tmp_path / "1" / name).read_bytes()
            == (tmp_path / "2" / name).read_bytes()
            == (tmp_path / "3" / name).read_bytes()
        ), name


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            "speed=3",
            "'speed=3': expected NAME=VALUE with NAME one of memory, plist-depth, plist-objects, rows, seconds, text",
        ),
        ("rows=0", "'rows=0': a limit must be positive"),
        ("memory=lots", "'memory=lots': 'LOTS' is not a number"),
        ("rows=9007199254740992", "'rows=9007199254740992': a limit may be at most 9007199254740991"),
        ("seconds=inf", "'seconds=inf': a limit may be at most 9007199254740991"),
    ],
)
def test_a_limit_that_is_not_one_is_refused_with_exit_2(
    demo_backup: Path, tmp_path: Path, given: str, message: str
) -> None:
    code, output = run("check", str(demo_backup), "-o", str(tmp_path / "out"), "--limit", given)
    assert code == 2
    assert output.splitlines()[-1] == f"Error: Invalid value for '--limit': {message}"
    assert not (tmp_path / "out").exists()


def test_the_limits_of_a_run_are_in_run_json(demo_backup: Path, tmp_path: Path) -> None:
    args = ("--limit", "memory=8G", "--limit", "seconds=600", "--limit", "plist-depth=64", "-j", "1")
    code, output = run("check", str(demo_backup), "-o", str(tmp_path / "out"), *args)
    assert code == 0, output
    options = json.loads((tmp_path / "out" / "run.json").read_bytes())["options"]
    assert options["limits"] == {
        "seconds": 600.0,
        "memory": 8 << 30,
        "rows": 50_000_000,
        "plist-objects": 5_000_000,
        "plist-depth": 64,
        "text": 256 << 20,
    }
