"""Test-only builders for custody: a case bundle built once per session through the CLI, exactly as an
the demo backup acquired with a consent document, analysed, handed over and sealed."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from vestige.cli import main
from vestige.custody.keys import generate, save_key
from vestige.ios.sample.demo import build_demo_backup

PASSPHRASE = "correct horse battery staple"
ITEM = "CASE-2026-0042-001A"


@dataclass(frozen=True)
class Built:
    root: Path
    bundle: Path
    key_a: Path
    key_b: Path
    trust: Path
    sample: Path

    def copy(self, target: Path) -> Path:
        shutil.copytree(self.bundle, target)
        return target


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"VESTIGE_KEY_PASSPHRASE": PASSPHRASE})
    return result.exit_code, result.output


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("custody")
    key_a, key_b = root / "a.key", root / "b.key"
    for path, name in ((key_a, "examiner-a"), (key_b, "examiner-b")):
        save_key(generate(name), path, PASSPHRASE)
    trust = root / "trust.txt"
    trust.write_text("".join(cli("key", "export", str(k))[1] for k in (key_a, key_b)))
    sample = build_demo_backup(root / "sample")
    consent = root / "consent.pdf"
    consent.write_bytes(b"%PDF-1.4 signed consent of the phone's owner")
    bundle = root / "bundle"
    steps = [
        ("case", "new", str(bundle), "--case-id", "CASE-2026-0042", "--examiner", str(key_a)),
        ("case", "add", str(bundle), str(sample), "--item-id", ITEM, "--consent", str(consent), "--key", str(key_a)),
        ("check", "--case", str(bundle), ITEM, "--key", str(key_a), "-q", "-j", "1"),
        ("case", "transfer", str(bundle), "--to", str(key_b), "--key", str(key_a), "--note", "to the lab"),
        ("case", "receive", str(bundle), "--key", str(key_b)),
        ("case", "seal", str(bundle), "--key", str(key_b), "--note", "sealed for review"),
    ]
    for step in steps:
        code, output = cli(*step)
        assert code == 0, (step, output)
    return Built(root, bundle, key_a, key_b, trust, sample)
