"""Forged terminal lines (issue 9, class 6): text in the evidence cannot steer the analyst's terminal
or print a line that looks like vestige's own.

The phone's owner names the device and anyone can send it an SMS: both reach the summary of
``vestige check``. Here they hold a newline followed by a fake finding, an escape sequence, a tab,
bidi controls, a rich emoji code and rich markup.
"""

from __future__ import annotations

import hashlib
import os
import plistlib
import sqlite3
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.cells import cell_len

from vestige.cli import main
from vestige.ios.sample.demo import SMS_LINK, build_demo_backup

FORGED = "\nCRITICAL all clear \x1b[1;32mthis phone is clean\x1b[0m\t\u202eevil\u202c :skull: [bold]x[/bold]\u2028LOW"
PADDED = "Phone" + " " * 64 + "CRITICAL all clear: this phone is clean"
"""Soft-wrapped on an 80-column terminal after ``ios-backup ``, the padding would put the fake
finding at the start of the second row."""


def _store(root: Path, domain: str, relative_path: str) -> Path:
    file_id = hashlib.sha1(f"{domain}-{relative_path}".encode()).hexdigest()
    return root / file_id[:2] / file_id


def hostile_backup(root: Path, device_name: str) -> Path:
    """The demo backup with ``device_name`` in Info.plist and a forged line in the SMS that carries
    the planted link (so that it is quoted by a finding) and in its sender's handle."""
    build_demo_backup(root)
    info = plistlib.loads((root / "Info.plist").read_bytes())
    info["Device Name"] = device_name
    (root / "Info.plist").write_bytes(plistlib.dumps(info, fmt=plistlib.FMT_BINARY))
    sms = sqlite3.connect(_store(root, "HomeDomain", "Library/SMS/sms.db"))
    sms.execute("UPDATE message SET text = ? WHERE ROWID = 3", (f"see {SMS_LINK} {FORGED}",))
    sms.execute("UPDATE handle SET id = ? WHERE ROWID = 2", ("+212600112233\u2066:skull:\u2069",))
    sms.commit()
    sms.close()
    return root


@pytest.fixture(scope="module")
def forged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hostile_backup(tmp_path_factory.mktemp("forged") / "backup", "Phone" + FORGED)


@pytest.mark.parametrize("verbose", [[], ["-v"]], ids=["summary", "verbose"])
def test_evidence_text_is_shown_with_visible_escapes_and_forges_no_line(
    forged: Path, tmp_path: Path, verbose: list[str]
) -> None:
    result = CliRunner().invoke(main, ["check", str(forged), "-o", str(tmp_path / "out"), *verbose])
    output = result.output  # standard output and standard error
    assert result.exit_code == 0, output
    assert not [line for line in output.splitlines() if line.lstrip().startswith(("CRITICAL all clear", "LOW"))]
    assert [c for c in output if c != "\n" and unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs")] == []
    assert "💀" not in output
    assert (
        "ios-backup Phone\\x0aCRITICAL all clear \\x1b[1;32mthis phone is clean\\x1b[0m\\x09\\u202eevil\\u202c "
        ":skull: [bold]x[/bold]\\u2028LOW iPhone14,2" in output
    )
    if not verbose:  # the summary quotes no excerpt
        assert "this phone is clean\\x1b[0m \\u202eevil" not in output
        return
    # The SMS quoted by its finding (the rule's excerpt joins the lines of the message with spaces).
    assert "from +212600112233\\u2066:skull:\\u2069" in output
    assert "\\x1b[1;32mthis phone is clean\\x1b[0m \\u202eevil\\u202c :skull: [bold]x[/bold] LOW" in output


def terminal_rows(output: str, columns: int) -> list[str]:
    """The rows a terminal of ``columns`` columns shows for ``output``: each line, wrapped where it
    reaches the right edge."""
    rows = []
    for line in output.split("\n"):
        row = ""
        for character in line:
            if cell_len(row + character) > columns:
                rows.append(row)
                row = ""
            row += character
        rows.append(row)
    return rows


def test_on_a_terminal_no_row_starts_with_evidence(tmp_path: Path) -> None:
    """Run as on an 80-column terminal (rich takes ``FORCE_COLOR`` for a terminal; ``TERM=dumb``
    keeps it to 80 columns and no colours): the padded device name may not wrap into a row of its
    own; every row fits, and each one that vestige did not start is marked as a continuation."""
    backup = hostile_backup(tmp_path / "backup", PADDED)
    environment = {**os.environ, "FORCE_COLOR": "1", "TERM": "dumb", "PYTHONPATH": os.pathsep.join(sys.path)}
    environment.pop("NO_COLOR", None)
    environment.pop("COLUMNS", None)
    done = subprocess.run(
        [sys.executable, "-m", "vestige", "check", str(backup), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = terminal_rows(done.stdout, 80)
    assert [row for row in rows if row.startswith("CRITICAL all clear")] == []
    assert all(cell_len(row) <= 80 for row in rows)
    assert rows[:2] == [
        "ios-backup Phone",
        "  ↪ CRITICAL all clear: this phone is clean iPhone14,2 iOS 17.5.1: 39 entries,",
    ]


def test_a_name_the_terminal_cannot_encode_is_escaped_not_a_defect(tmp_path: Path) -> None:
    """An ASCII-only standard output (``PYTHONIOENCODING=ascii``, an old ``LANG=C`` system) and a
    device named in Arabic: the name is written as escapes and the run ends normally (before, an
    encoding error was reported as a defect, exit 70)."""
    backup = hostile_backup(tmp_path / "backup", "هاتف\u202e")
    environment = {**os.environ, "PYTHONIOENCODING": "ascii", "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-m", "vestige", "check", str(backup), "-o", str(tmp_path / "out")],
        capture_output=True,
        env=environment,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert b"ios-backup \\u0647\\u0627\\u062a\\u0641\\u202e iPhone14,2" in done.stdout
    assert done.stdout.isascii() and done.stderr.isascii()
