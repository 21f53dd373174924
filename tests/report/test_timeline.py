"""The timeline writer sorts any number of events in bounded memory by merging spilled chunks."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from vestige.model import Locator, Record
from vestige.report import timeline
from vestige.report.timeline import TimelineRuns, merge_runs, microseconds, record_event


def test_events_are_merged_in_time_order_across_spilled_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timeline, "CHUNK", 7)
    start = datetime(2024, 5, 14, tzinfo=timezone.utc)
    offsets = list(range(100))
    random.Random(4).shuffle(offsets)
    first, second = TimelineRuns(tmp_path, 0), TimelineRuns(tmp_path, 1)
    for offset in offsets:
        record = Record("t", Locator("p", None, row=offset), start + timedelta(seconds=offset), f"event {offset}")
        (first if offset % 2 else second).add(record_event(record))
    second.add(record_event(Record("t", Locator("p", None), start + timedelta(seconds=99), "same time, later rank")))
    first.add(record_event(Record("t", Locator("p", None), None, "undated")))
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
    }


def test_microseconds_are_exact() -> None:
    assert microseconds(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=timezone.utc)) == 1_000_005
