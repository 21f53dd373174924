"""The check pipeline: several acquisitions in one output folder, output-folder rules, and the collector
tuned for the run only."""

from __future__ import annotations

import errno
import gc
import hashlib
import tempfile
from pathlib import Path

import orjson
import pytest

from tests.builders import backup_with, zip_folder
from tests.ios.artifacts.test_safari_history import INJECTED, history
from vestige.evidence.budget import Limits
from vestige.ios.sample.schemas import SAFARI_HISTORY
from vestige.pipeline import InputError, limits_record, recorded_limits, run_check, temporary_root, tuned_collector
from vestige.platforms import Registry
from vestige.report.folder import OutputFolder


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


def test_limits_are_recorded_by_their_option_names_and_read_back() -> None:
    limits = Limits(seconds=90.5, memory=8 << 30, rows=1000)
    record = limits_record(limits)
    assert record == {
        "seconds": 90.5,
        "memory": 8 << 30,
        "rows": 1000,
        "plist-objects": 5_000_000,
        "plist-depth": 256,
        "text": 256 << 20,
    }
    assert recorded_limits(orjson.loads(orjson.dumps(record))) == limits
    assert recorded_limits(None) == Limits()  # an analysis recorded before limits were
    assert recorded_limits({"rows": 10}) == Limits(rows=10)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"speed": 3}, "the recorded limits {'speed': 3} are not limits this version knows"),
        ([1800], "the recorded limits [1800] are not limits this version knows"),
        ({"rows": 0}, "the recorded limit rows=0 is not a positive number"),
        ({"rows": "many"}, "the recorded limit rows='many' is not a positive number"),
        ({"seconds": True}, "the recorded limit seconds=True is not a positive number"),
    ],
)
def test_recorded_limits_that_are_not_limits_are_refused(record: object, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        recorded_limits(record)  # type: ignore[arg-type]
    assert str(refused.value) == message


def test_every_temporary_folder_of_a_command_is_made_in_one_removed_at_its_end() -> None:
    before = tempfile.tempdir
    with pytest.raises(KeyboardInterrupt), temporary_root() as root:
        assert root is not None and root.name.startswith("vestige-run-")
        assert Path(tempfile.mkdtemp(prefix="vestige-sqlite-")).parent == root
        raise KeyboardInterrupt
    assert tempfile.tempdir == before
    assert root is not None and not root.exists()


def test_a_run_that_stops_on_an_error_of_the_output_says_where_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backup = backup_with(tmp_path / "b")

    def full(self: object, result: object, run: object) -> str:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(OutputFolder, "finish", full)
    with pytest.raises(InputError) as stopped:
        run_check([backup], tmp_path / "out", [], Registry.discover(), {})
    assert str(stopped.value) == (
        f"writing in {tmp_path}/out: No space left on device; the check stopped and kept no output"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]
