"""``vestige export DIR``: STIX, Timesketch and CSV files from an output folder or a case bundle, never over a file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import stix2
from click.testing import CliRunner

from tests.builders import tree_digest
from tests.builders.custody import Built
from vestige.cli import main
from vestige.ios.sample.demo import build_demo_backup
from vestige.report.findings import read_findings
from vestige.report.stix import stix_bundle, stix_json


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    backup = build_demo_backup(root / "backup")
    code, output = run("check", str(backup), "-o", str(root / "out"), "-q", "-j", "1")
    assert code == 0, output
    return root / "out"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_export_writes_the_three_formats_and_says_what_each_holds(folder: Path, tmp_path: Path) -> None:
    before = tree_digest(folder)
    stix, sketch, sheets = tmp_path / "bundle.json", tmp_path / "sketch.jsonl", tmp_path / "csv"
    code, output = run("export", str(folder), "--stix", str(stix), "--timesketch", str(sketch), "--csv", str(sheets))
    assert code == 0, output
    assert output.splitlines() == [
        f"STIX 2.1: {stix} (5 indicators, 14 sightings, 14 observed data, a report of 10 findings)",
        f"Timesketch: {sketch} (112 events, 10 findings)",
        f"CSV: {sheets / 'findings.csv'} (10 findings), {sheets / 'timeline.csv'} (122 events)",
    ]
    assert stix.read_bytes() == stix_json(stix_bundle(read_findings((folder / "findings.json").read_bytes())))
    stix2.parse(stix.read_text(), allow_custom=False)
    assert len(sketch.read_bytes().splitlines()) == 122
    assert sorted(p.name for p in sheets.iterdir()) == ["findings.csv", "timeline.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle.json", "csv", "sketch.jsonl"]  # no partial file
    assert tree_digest(folder) == before


def test_two_exports_are_the_same_bytes(folder: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert run("export", str(folder), "--stix", str(tmp_path / f"{name}.json"))[0] == 0
        assert run("export", str(folder), "--timesketch", str(tmp_path / f"{name}.jsonl"))[0] == 0
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_an_export_never_overwrites_and_needs_an_empty_csv_folder(folder: Path, tmp_path: Path) -> None:
    existing = tmp_path / "bundle.json"
    existing.write_text("mine")
    code, output = run("export", str(folder), "--stix", str(existing))
    assert code == 2
    assert output == f"vestige: {existing}: already exists; an export never overwrites a file\n"
    assert existing.read_text() == "mine"
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "notes.txt").write_text("x")
    code, output = run("export", str(folder), "--csv", str(tmp_path / "csv"))
    assert code == 2
    assert output == f"vestige: {tmp_path / 'csv'}: not empty; --csv needs a new or empty folder\n"
    code, output = run("export", str(folder))
    assert code == 2
    assert "say what to export: --stix FILE, --timesketch FILE and/or --csv DIR" in output


def test_a_folder_that_holds_no_results_is_refused(tmp_path: Path) -> None:
    code, output = run("export", str(tmp_path), "--stix", str(tmp_path / "x.json"))
    assert code == 2
    assert output == f"vestige: {tmp_path}: neither an output folder of vestige check nor a case bundle\n"
    assert not (tmp_path / "x.json").exists()


@pytest.mark.broken_findings
def test_a_findings_json_that_is_not_a_document_is_refused(folder: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(folder, tmp_path / "copy")
    document = json.loads((copy / "findings.json").read_bytes())
    document["findings"][0]["severity"] = "apocalyptic"
    (copy / "findings.json").write_text(json.dumps(document))
    code, output = run("export", str(copy), "--stix", str(tmp_path / "x.json"))
    assert code == 2
    assert output.startswith(f"vestige: {copy / 'findings.json'}: findings.0.severity: Input should be ")
    assert not (tmp_path / "x.json").exists()


def test_a_timeline_line_that_is_not_an_event_stops_the_export_and_leaves_nothing(folder: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(folder, tmp_path / "copy")
    with (copy / "timeline.jsonl").open("ab") as out:
        out.write(b'{"message": 1}\n')
    code, output = run("export", str(copy), "--timesketch", str(tmp_path / "t.jsonl"), "--csv", str(tmp_path / "csv"))
    assert code == 2
    assert output == "vestige: timeline.jsonl: line 123: 'message' is not text\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy"]
    assert run("export", str(copy), "--csv", str(tmp_path / "csv"))[0] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy"]  # the folder it made is removed too


def test_a_case_bundle_exports_its_latest_analysis_or_the_one_named(built: Built, tmp_path: Path) -> None:
    before = tree_digest(built.bundle)
    code, output = run("export", str(built.bundle), "--stix", str(tmp_path / "a.json"))
    assert code == 0, output
    (analysis,) = (built.bundle / "data" / "analysis").iterdir()
    assert (tmp_path / "a.json").read_bytes() == stix_json(
        stix_bundle(read_findings((analysis / "findings.json").read_bytes()))
    )
    code, output = run("export", str(built.bundle), "--run", analysis.name, "--csv", str(tmp_path / "csv"))
    assert code == 0, output
    code, output = run("export", str(built.bundle), "--run", "9999", "--stix", str(tmp_path / "b.json"))
    assert code == 2
    assert output == f"vestige: {built.bundle}: no analysis run '9999' (the bundle holds {analysis.name})\n"
    assert tree_digest(built.bundle) == before
