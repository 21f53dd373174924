"""The check pipeline: several acquisitions in one output folder, output-folder rules, and the collector
tuned for the run only."""

from __future__ import annotations

import gc
import hashlib
from pathlib import Path

import orjson
import pytest

from tests.builders import backup_with, zip_folder
from tests.ios.artifacts.test_safari_history import INJECTED, history
from vestige.ios.sample.schemas import SAFARI_HISTORY
from vestige.pipeline import InputError, run_check, tuned_collector
from vestige.platforms import Registry


def test_the_collector_is_tuned_for_the_run_and_restored_after() -> None:
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    with tuned_collector():
        assert gc.get_threshold() == (100_000, 50, 100)
        assert gc.get_freeze_count() > frozen
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_two_acquisitions_share_one_output_folder_and_each_place_names_its_acquisition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = backup_with(
        tmp_path / "first", [("HomeDomain", "Library/Safari/History.db", SAFARI_HISTORY, history(INJECTED))]
    )
    second = zip_folder(backup_with(tmp_path / "second"), tmp_path / "second.zip", "backup/")
    monkeypatch.chdir(tmp_path)
    outcome = run_check([first, second], None, [], Registry.discover(), {})
    roots = [a.merkle_root for a in outcome.result.acquisitions]
    assert outcome.folder.name == "vestige-" + hashlib.sha256("\n".join(roots).encode()).hexdigest()[:12]
    document = orjson.loads((outcome.folder / "findings.json").read_bytes())
    assert [a["kind"] for a in document["acquisitions"]] == ["ios-backup", "ios-backup"]
    [redirect] = [f for f in document["findings"] if f["rule"] == "ios.safari_history.injected_redirect"]
    assert {e["locator"]["acquisition"] for e in redirect["evidence"]} == {0}
    assert sorted({a.get("acquisition") for a in document["artifacts"]}) == [0, 1]
    lines = [orjson.loads(line) for line in (outcome.folder / "manifest.jsonl").read_bytes().splitlines()]
    assert [line["acquisition"] for line in lines] == sorted(line["acquisition"] for line in lines)
    assert {line["acquisition"] for line in lines} == {0, 1}
    records = [
        orjson.loads(line) for line in (outcome.folder / "records" / "ios.backup_info.jsonl").read_bytes().splitlines()
    ]
    assert [r["locator"]["acquisition"] for r in records] == [0, 0, 0, 1, 1, 1]
    run = orjson.loads((outcome.folder / "run.json").read_bytes())
    assert [a["within"] for a in run["options"]["acquisitions"]] == ["", "backup/"]


def test_an_output_folder_inside_an_acquisition_or_not_empty_is_refused(tmp_path: Path) -> None:
    backup = backup_with(tmp_path / "b")
    registry = Registry.discover()
    with pytest.raises(InputError, match=r"the output folder is inside the acquisition"):
        run_check([backup], backup / "out", [], registry, {})
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(InputError, match=r"full: the output folder exists and is not empty"):
        run_check([backup], tmp_path / "full", [], registry, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "full"]
