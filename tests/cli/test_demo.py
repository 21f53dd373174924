"""``vestige demo``: builds the sample, finds the planted traces, says where the results are."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from vestige.cli import main


def test_demo_finds_the_three_planted_traces(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "-o", str(tmp_path / "out"), "--keep-sample", str(tmp_path / "sample")])
    assert result.exit_code == 0, result.output
    assert f"Open {tmp_path / 'out' / 'findings.json'} for the findings" in result.output
    document = json.loads((tmp_path / "out" / "findings.json").read_bytes())
    rules = {f["rule"] for f in document["findings"] if f["severity"] in ("critical", "high")}
    assert rules == {
        "ios.datausage.indicator_match",
        "ios.redirect_then_new_process",
        "ios.safari_history.injected_redirect",
        "ios.safari_history.indicator_match",
        "ios.sms.indicator_match",
        "ios.webkit_observations.indicator_match",
    }
    assert (tmp_path / "sample" / "Manifest.db").is_file()


def test_demo_refuses_an_existing_sample_folder(tmp_path: Path) -> None:
    (tmp_path / "sample").mkdir()
    result = CliRunner().invoke(main, ["demo", "--keep-sample", str(tmp_path / "sample")])
    assert result.exit_code == 2
    assert "already exists; --keep-sample needs a new folder" in result.output
