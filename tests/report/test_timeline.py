"""The timeline writer sorts any number of events in bounded memory by merging spilled chunks."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from vestige.model import Locator, Record, format_time
from vestige.report import timeline
from vestige.report.timeline import TimelineRuns, merge_runs, microseconds, record_line


@dataclass(frozen=True, slots=True)
class Event:
    """A payload with one field, as an artifact's record would carry."""

    note: str


EVENT = Event("a field")


def test_events_are_merged_in_time_order_across_spilled_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timeline, "CHUNK", 7)
    start = datetime(2024, 5, 14, tzinfo=timezone.utc)
    offsets = list(range(100))
    random.Random(4).shuffle(offsets)
    first, second = TimelineRuns(tmp_path, 0), TimelineRuns(tmp_path, 1)
    for offset in offsets:
        record = Record(
            "t", Locator("p", None, row=offset), start + timedelta(seconds=offset), f"event {offset}", EVENT
        )
        (first if offset % 2 else second).add_line(record_line(record))
    second.add_line(
        record_line(Record("t", Locator("p", None), start + timedelta(seconds=99), "same time, later rank", EVENT))
    )
    first.add_line(record_line(Record("t", Locator("p", None), None, "undated", EVENT)))
    assert merge_runs(first.spill() + second.spill(), tmp_path / "timeline.jsonl") == 101
    events = [json.loads(line) for line in (tmp_path / "timeline.jsonl").read_text().splitlines()]
    assert [e["message"] for e in events] == [f"event {n}" for n in range(100)] + ["same time, later rank"]
    assert events[0] == {
        "message": "event 0",
        "datetime": "2024-05-14T00:00:00.000000Z",
        "timestamp": 1715644800000000,
        "timestamp_desc": "event time",
        "data_type": "t",
        "evidence": {"path": "p", "sha256": None, "row": 0},
        "note": "a field",
    }


@dataclass(frozen=True, slots=True)
class Clashing:
    """A payload with fields named like event attributes, and one that is not."""

    message: str
    evidence: str
    size: int


def test_a_record_line_is_the_event_then_the_payload_fields_and_never_repeats_a_key() -> None:
    moment = datetime(2024, 5, 14, tzinfo=timezone.utc)
    plain = record_line(Record("t", Locator("p", "00", row=3), moment, "seen", EVENT, time_kind="visit time"))
    assert plain == (
        1715644800000000,
        b'{"message":"seen","datetime":"2024-05-14T00:00:00.000000Z","timestamp":1715644800000000,'
        b'"timestamp_desc":"visit time","data_type":"t","evidence":{"path":"p","sha256":"00","row":3},'
        b'"note":"a field"}',
    )
    clashing = record_line(Record("t", Locator("p", None), moment, "seen", Clashing("other", "x", 7)))
    assert clashing is not None
    assert json.loads(clashing[1]) == {
        "message": "seen",
        "datetime": "2024-05-14T00:00:00.000000Z",
        "timestamp": 1715644800000000,
        "timestamp_desc": "event time",
        "data_type": "t",
        "evidence": {"path": "p", "sha256": None},
        "size": 7,
    }
    assert record_line(Record("t", Locator("p", None), None, "undated", EVENT)) is None


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2025, 12, 6, 5, 46, 40, 123456, tzinfo=timezone.utc),
        datetime(2025, 12, 6, 5, 46, 40, tzinfo=timezone.utc),  # a zero fraction, which orjson leaves out
        datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=timezone.utc),
        datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
        datetime(2025, 12, 6, 5, 46, 40, 5),  # naive: taken as UTC
        datetime(2025, 12, 6, 5, 46, 40, 5, tzinfo=timezone(timedelta(hours=2))),
        datetime(1, 1, 1, 0, 30, 0, 5, tzinfo=timezone(timedelta(hours=1))),  # before what UTC can hold
    ],
)
def test_a_line_writes_the_time_as_format_time_does(moment: datetime) -> None:
    line = record_line(Record("t", Locator("p", None), moment, "seen", EVENT))
    assert line is not None
    assert json.loads(line[1])["datetime"] == format_time(moment)


def test_microseconds_are_exact() -> None:
    assert microseconds(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=timezone.utc)) == 1_000_005


@pytest.mark.parametrize("workers", [2, 3, 5])
def test_a_merge_cut_into_slices_gives_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    monkeypatch.setattr(timeline, "CHUNK", 97)
    monkeypatch.setattr(timeline, "SAMPLES_PER_RUN", 5)
    start = datetime(2024, 5, 14, tzinfo=timezone.utc)
    generator = random.Random(11)
    runs = []
    added = 0
    for rank in range(4):
        events = TimelineRuns(tmp_path / "runs", rank)
        (tmp_path / "runs").mkdir(exist_ok=True)
        for number in range(generator.randrange(0, 700)):
            moment = start + timedelta(seconds=generator.randrange(0, 50))  # many equal times
            events.add_line(record_line(Record("t", Locator("p", None, row=number), moment, f"{rank}-{number}", EVENT)))
            added += 1
        runs += events.spill()
    assert len(timeline._split_keys(runs, workers)) == workers - 1
    whole = merge_runs(runs, tmp_path / "one.jsonl")
    assert merge_runs(runs, tmp_path / "sliced.jsonl", workers) == whole
    assert (tmp_path / "sliced.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.jsonl", "runs", "sliced.jsonl"]
    lines = [json.loads(line) for line in (tmp_path / "one.jsonl").read_text().splitlines()]
    assert len(lines) == whole == added
    assert [e["timestamp"] for e in lines] == sorted(e["timestamp"] for e in lines)


def test_the_first_line_at_or_after_a_key_is_found_by_binary_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(timeline, "_KEY_WIDTH", 5)
    run = tmp_path / "run"
    keys = [b"%05d" % n for n in range(0, 300, 3)]
    content = b"".join(key + b" x" * (int(key) % 7) + b"\n" for key in keys)
    run.write_bytes(content)
    with run.open("rb") as stream:
        for probe in range(-1, 302):
            key = b"%05d" % probe if probe >= 0 else b"-0001"
            offset = timeline._first_at_or_after(stream, key)
            expected = next((k for k in keys if k >= key), b"")
            assert content[offset : offset + 5] == expected, probe


@pytest.mark.parametrize("workers", [1, 2])
def test_more_runs_than_the_fan_in_are_merged_in_rounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    monkeypatch.setattr(timeline, "CHUNK", 5)
    monkeypatch.setattr(timeline, "MAX_FAN_IN", 3)
    start = datetime(2024, 5, 14, tzinfo=timezone.utc)
    (tmp_path / "runs").mkdir()
    events = TimelineRuns(tmp_path / "runs", 0)
    offsets = list(range(200))
    random.Random(5).shuffle(offsets)
    for offset in offsets:
        events.add_line(
            record_line(Record("t", Locator("p", None), start + timedelta(seconds=offset), f"e{offset}", EVENT))
        )
    runs = events.spill()
    assert len(runs) == 40
    assert merge_runs(runs, tmp_path / "timeline.jsonl", workers) == 200
    lines = (tmp_path / "timeline.jsonl").read_text().splitlines()
    assert [json.loads(line)["message"] for line in lines] == [f"e{n}" for n in range(200)]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(Path(run).name for run in runs)
