"""The custody commands end to end: keys, verify (table, JSON, exit codes, reproduction), CASE export."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from tests.builders.custody import ITEM, Built, cli
from tests.custody.test_verify import rewrite_manifests
from vestige.cli import main
from vestige.custody.keys import load_key, load_trust_list
from vestige.custody.verify import REPRODUCTION, verify_case


def test_key_new_prompts_for_a_passphrase_twice_and_export_prints_a_trust_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["key", "new", "--name", "analyst", "-o", str(tmp_path / "k.key")], input="pw\npw\n"
    )
    assert result.exit_code == 0, result.output
    key = load_key(tmp_path / "k.key", "pw")
    assert f"fingerprint {key.public.fingerprint}" in result.output
    exported = CliRunner().invoke(main, ["key", "export", str(tmp_path / "k.key")])
    assert exported.output == key.public.trust_line() + "\n"


def test_a_key_name_reaches_the_terminal_only_as_visible_text(tmp_path: Path) -> None:
    name = "ana\u202eCRITICAL :skull: [red]x\x1b[2J"
    result = CliRunner().invoke(main, ["key", "new", "--name", name, "-o", str(tmp_path / "k.key")], input="pw\npw\n")
    assert result.exit_code == 0, result.output
    exported = CliRunner().invoke(main, ["key", "export", str(tmp_path / "k.key")])
    for output in (result.output, exported.output):
        assert " ana\\u202eCRITICAL :skull: [red]x\\x1b[2J\n" in output
        assert "\x1b" not in output
        assert "\u202e" not in output


def test_verify_prints_a_table_and_a_json_report_with_exit_0(built: Built) -> None:
    code, output = cli("verify", str(built.bundle), "--trust", str(built.trust))
    assert code == 0, output
    assert "verified (exit 0)" in output
    code, output = cli("verify", str(built.bundle), "--trust", str(built.trust), "--json")
    report = orjson.loads(output)
    assert (code, report["exit_code"], report["kind"]) == (0, 0, "vestige-case/1")
    assert report["facts"]["records"] == 6


def test_reproduce_passes_on_a_fresh_bundle_and_the_two_analyses_agree(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    code, output = cli("verify", str(bundle), "--trust", str(built.trust), "--reproduce")
    assert code == 0, output
    assert "analysis 0001: a fresh run gives the same findings.json" in output
    cli("case", "unseal", str(bundle), "--key", str(built.key_b), "--note", "second analysis")
    code, output = cli("check", "--case", str(bundle), ITEM, "--key", str(built.key_b), "-q", "-j", "2")
    assert code == 0, output
    first, second = (bundle / "data/analysis/0001/findings.json"), (bundle / "data/analysis/0002/findings.json")
    assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()


def test_reproduce_is_not_run_after_the_indicator_set_file_is_altered(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    indicators = orjson.loads((bundle / "data/analysis/0001/indicators.json").read_bytes())
    pegasus = next(i for i in indicators if i["name"] == "amnesty/2021-07-18_nso/pegasus.stix2")
    path = bundle / pegasus["file"]
    path.write_bytes(path.read_bytes().replace(b"process:name='bh'", b"process:name='zz'"))
    code, output = cli("verify", str(bundle), "--trust", str(built.trust), "--reproduce", "--json")
    report = orjson.loads(output)
    assert code == 1
    [reproduce] = [c for c in report["checks"] if c["area"] == "reproduce"]
    assert reproduce == {
        "area": "reproduce",
        "ok": False,
        "message": "not run: only a bundle whose integrity and signatures verified is run again",
        "code": 1,
    }


def test_a_reproduction_mismatch_alone_exits_3_with_a_diff(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    findings = (bundle / "data/analysis/0001/findings.json").read_bytes()
    document = orjson.loads(findings)
    document["findings"] = document["findings"][1:]

    def reanalyse(run: str, root: Path) -> bytes:
        return orjson.dumps(document)

    report = verify_case(bundle, load_trust_list(built.trust), reanalyse)
    assert report.exit_code == REPRODUCTION
    [mismatch] = [c.message for c in report.checks if c.area == "reproduce"]
    assert mismatch.startswith("analysis 0001: findings differ: - critical A process that used the network")


def test_verify_exit_codes_for_integrity_and_untrusted_keys(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    (bundle / "data/analysis/0001/timeline.jsonl").write_bytes(b"")
    assert cli("verify", str(bundle), "--trust", str(built.trust))[0] == 1
    rewrite_manifests(bundle)
    assert cli("verify", str(bundle), "--trust", str(built.trust))[0] == 1
    other = built.copy(tmp_path / "c")
    empty = tmp_path / "empty.txt"
    empty.write_text("# nobody\n")
    code, output = cli("verify", str(other), "--trust", str(empty))
    assert code == 2
    assert "NOT in your trust list" in output


def test_case_export_writes_case_uco_that_case_validate_accepts(built: Built, tmp_path: Path) -> None:
    pytest.importorskip("case_utils", reason="case-utils is a test extra: pip install -e '.[test]'")
    bundle = built.copy(tmp_path / "b")
    target = tmp_path / "case.jsonld"
    cli("case", "unseal", str(bundle), "--key", str(built.key_b), "--note", "export into the bundle")
    code, output = cli("case", "export", str(bundle), "--case-uco", str(target), "--key", str(built.key_b))
    assert code == 0, output
    assert (bundle / "data/export/case.jsonld").read_bytes() == target.read_bytes()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from case_utils.case_validate import main; sys.exit(main())",
            "--built-version",
            "case-1.5.0",
            str(target),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Conforms: True" in done.stdout
    assert cli("verify", str(bundle), "--trust", str(built.trust))[0] == 0


def test_a_wrong_passphrase_is_one_sentence_and_exit_2(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    result = CliRunner().invoke(
        main, ["case", "note", str(bundle), "x", "--key", str(built.key_b)], env={"VESTIGE_KEY_PASSPHRASE": "wrong"}
    )
    assert result.exit_code == 2
    assert "the passphrase is wrong or the key is damaged" in result.output
