"""ARCHITECTURE.md principle 1: no command writes inside an acquisition, WAL databases included.

Single-file acquisitions (captures, plain and gzip, and a DIAG log) get the same check.

The backup here has a WAL-mode Manifest.db with its ``-wal`` and ``-shm`` beside it on disk, and an
sms.db whose ``-wal`` and ``-shm`` are separate backup entries: the cases where a careless
``mode=ro`` open creates or changes files. Every command of the CLI runs on it (or next to it), on a
zip of it, and through the custody commands (copied, kept by reference and analysed from where it is),
and the whole folder and the zip are hashed before and after.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from tests.builders import change_in_wal, tree_digest, zip_folder
from tests.builders.captures import CaptureBuilder
from tests.builders.custody import PASSPHRASE, cli
from tests.builders.diag import DiagLogBuilder
from vestige.cli import main
from vestige.custody.keys import generate, save_key
from vestige.ios.sample.backup import BackupBuilder
from vestige.ios.sample.schemas import SMS_DB


def wal_backup(root: Path, scratch: Path) -> Path:
    live = sqlite3.connect(str(scratch / "sms.db"))
    live.executescript(SMS_DB)
    live.execute("PRAGMA journal_mode = WAL")
    live.execute("PRAGMA wal_autocheckpoint = 0")
    live.execute("INSERT INTO message (ROWID, guid, text, date) VALUES (1, 'g1', 'in the WAL: https://example.org', 1)")
    live.commit()
    builder = BackupBuilder(root)
    for suffix in ("", "-wal", "-shm"):
        builder.add_file("HomeDomain", f"Library/SMS/sms.db{suffix}", (scratch / f"sms.db{suffix}").read_bytes())
    live.close()
    builder.finish()
    change_in_wal(root / "Manifest.db", "INSERT INTO Properties VALUES ('note', x'00')")
    return root


def test_every_command_leaves_the_acquisition_byte_for_byte(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    backup = wal_backup(tmp_path / "backup", scratch)
    assert sorted(p.name for p in backup.iterdir() if p.name.startswith("Manifest.db")) == [
        "Manifest.db",
        "Manifest.db-shm",
        "Manifest.db-wal",
    ]
    before = tree_digest(backup)
    runner = CliRunner()
    checked = runner.invoke(main, ["check", str(backup), "-o", str(tmp_path / "out"), "-j", "1"])
    assert checked.exit_code == 0, checked.output
    assert runner.invoke(main, ["check", str(backup), "-o", str(tmp_path / "out2"), "-j", "2"]).exit_code == 0
    assert runner.invoke(main, ["iocs", "list"]).exit_code == 0
    assert runner.invoke(main, ["demo", "-o", str(tmp_path / "demo")]).exit_code == 0
    assert tree_digest(backup) == before
    records = (tmp_path / "out" / "records" / "ios.sms.jsonl").read_text()
    assert "in the WAL: https://example.org" in records


def test_custody_commands_leave_the_acquisition_byte_for_byte(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    backup = wal_backup(tmp_path / "backup", scratch)
    archive = zip_folder(backup, tmp_path / "backup.zip")
    before = tree_digest(backup), archive.read_bytes()
    key = tmp_path / "k.key"
    save_key(generate("examiner"), key, PASSPHRASE)
    bundle = tmp_path / "bundle"
    steps = [
        ("case", "new", str(bundle), "--case-id", "C-1", "--examiner", str(key)),
        ("case", "add", str(bundle), str(backup), "--item-id", "COPY", "--key", str(key)),
        ("case", "add", str(bundle), str(backup), "--item-id", "REF", "--by-reference", "--key", str(key)),
        ("case", "add", str(bundle), str(archive), "--item-id", "ZIP", "--key", str(key)),
        ("check", "--case", str(bundle), "REF", "--acquisition", str(backup), "--key", str(key), "-q", "-j", "2"),
        ("check", "--case", str(bundle), "ZIP", "--key", str(key), "-q", "-j", "1"),
        ("check", str(archive), "-o", str(tmp_path / "from-zip"), "-q"),
    ]
    for step in steps:
        code, output = cli(*step)
        assert code == 0, (step, output)
    assert (tree_digest(backup), archive.read_bytes()) == before


def test_single_file_acquisitions_are_left_byte_for_byte(tmp_path: Path) -> None:
    """Captures (plain and gzip) and a DIAG log, checked alone and together, with both worker counts, and
    acquired into a case, report and export run on their output: the files are hashed before and after."""
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    capture = CaptureBuilder()
    talk = capture.connect("10.0.0.2", 51000, "93.184.216.34", 80, at=1_600_000_000.0)
    talk.send(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
    talk.inject(b"HTTP/1.1 302 Found\r\nLocation: http://evil.example/\r\nContent-Length: 0\r\n\r\n", after=0.002)
    talk.reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    capture.write_pcap(evidence / "capture.pcap")
    capture.write_pcap(evidence / "capture.pcap.gz", compress=True)
    log = DiagLogBuilder()
    log.lte_rrc(bytes.fromhex("320020"), "DL-DCCH")  # a security mode command with eea0
    log.write(evidence / "diag.qmdl")
    before = tree_digest(evidence)
    runner = CliRunner()
    runs = [
        [str(evidence / "capture.pcap"), "-j", "1"],
        [str(evidence / "capture.pcap.gz"), "-j", "2"],
        [str(evidence / "diag.qmdl"), str(evidence / "capture.pcap"), "-j", "2"],
    ]
    for number, arguments in enumerate(runs):
        out = tmp_path / f"out{number}"
        checked = runner.invoke(main, ["check", *arguments, "-o", str(out), "--no-bundled-iocs"])
        assert checked.exit_code == 0, checked.output
        assert runner.invoke(main, ["report", str(out), "-o", str(tmp_path / f"report{number}.html")]).exit_code == 0
        assert runner.invoke(main, ["export", str(out), "--csv", str(tmp_path / f"csv{number}")]).exit_code == 0
    key = tmp_path / "a.key"
    save_key(generate("examiner-a"), key, PASSPHRASE)
    bundle = tmp_path / "bundle"
    for step in (
        ("case", "new", str(bundle), "--case-id", "CASE-1", "--examiner", str(key)),
        ("case", "add", str(bundle), str(evidence / "capture.pcap"), "--item-id", "CAP", "--key", str(key)),
        ("case", "add", str(bundle), str(evidence / "diag.qmdl"), "--item-id", "LOG", "--key", str(key)),
        ("check", "--case", str(bundle), "CAP", "--key", str(key), "-q", "-j", "1", "--no-bundled-iocs"),
    ):
        code, output = cli(*step)
        assert code == 0, (step, output)
    assert tree_digest(evidence) == before
