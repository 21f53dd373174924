"""``vestige iocs list``: every set a check would use, with counts, problems and digests."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from vestige.cli import main
from vestige.indicators import bundled_sets


def test_lists_the_bundled_sets_with_their_digests() -> None:
    result = CliRunner().invoke(main, ["iocs", "list"])
    assert result.exit_code == 0, result.output
    sets = bundled_sets()
    assert f"{len(sets)} set(s), {sum(len(s.indicators) for s in sets)} indicators." in result.output
    assert "df1bcaa78abc7b85781b1ebc2daa3cc225371e2024d9ef96e84f80f927256586" in result.output


def test_added_sets_report_patterns_that_cannot_be_evaluated(tmp_path: Path) -> None:
    bundle = tmp_path / "mixed.stix2"
    bundle.write_text(
        '{"type": "bundle", "id": "bundle--1", "objects": ['
        '{"type": "indicator", "id": "indicator--1", "pattern": "[domain-name:value = \'evil.example\']"},'
        '{"type": "indicator", "id": "indicator--2", "pattern": "[file:size > 10]"}]}'
    )
    result = CliRunner().invoke(main, ["iocs", "list", "--no-bundled-iocs", "--iocs", str(bundle)])
    assert result.exit_code == 0, result.output
    assert "indicators  1: domain-name:value 1" in result.output
    assert "1 set(s), 1 indicators." in result.output
    assert "not evaluated 1 unsupported:" in result.output


def test_a_missing_indicator_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["iocs", "list", "--iocs", str(tmp_path / "none.stix2")])
    assert result.exit_code == 2
    assert "none.stix2" in result.output
