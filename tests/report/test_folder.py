"""The output folder: records appended per artifact (one acquisition after the other), the entries of a
listing artifact on the timeline only, the timeline merged in time order, and run.json with versions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

from vestige.analysis import AcquisitionSummary, ArtifactSummary, CorrelatorSummary, Result
from vestige.evidence.acquisition import DeviceInfo
from vestige.model import Locator, Record
from vestige.report.folder import OutputFolder

T0 = datetime(2024, 5, 14, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class Visit:
    url: str


def record(seconds: int, url: str) -> Record:
    return Record(
        "ios.safari_history", Locator("History.db", "00", row=seconds), T0 + timedelta(seconds=seconds), url, Visit(url)
    )


def test_records_timeline_and_run_json(tmp_path: Path) -> None:
    folder = OutputFolder(tmp_path / "out")
    first = folder.open("ios.safari_history", 0, 0)
    first.record(record(2, "https://b.example/"))
    folder.absorb(first.close())
    second = folder.open("ios.safari_history", 1, 1)
    second.record(record(1, "https://a.example/"))
    folder.absorb(second.close())
    listing = folder.open("ios.manifest", 2, None, part=0)
    listing.record(Record("ios.manifest", Locator("Manifest.db", "11", key="k"), T0, "entry", Visit("x")))
    folder.absorb(listing.close())
    with folder.manifest_file() as lines:
        lines.write(b"{}\n")
    result = Result(
        [AcquisitionSummary("ios-backup", DeviceInfo(), 1, 1, "22" * 32)],
        (),
        artifacts=[ArtifactSummary("ios.safari_history", 3, "visits", ("History.db",), 2)],
        correlators=[CorrelatorSummary("ios.redirect_then_new_process", 1, "joins", 0)],
    )
    digest = folder.finish(result, {"options": {}})

    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "records").iterdir()) == ["ios.safari_history.jsonl"]
    lines = [orjson.loads(line) for line in (out / "records" / "ios.safari_history.jsonl").read_bytes().splitlines()]
    assert [(r["summary"], r["locator"]["acquisition"], r["type"], r["fields"]) for r in lines] == [
        ("https://b.example/", 0, "Visit", {"url": "https://b.example/"}),
        ("https://a.example/", 1, "Visit", {"url": "https://a.example/"}),
    ]
    events = [orjson.loads(line) for line in (out / "timeline.jsonl").read_bytes().splitlines()]
    assert [e["message"] for e in events] == ["entry", "https://a.example/", "https://b.example/"]
    assert events[0]["evidence"] == {"path": "Manifest.db", "sha256": "11", "key": "k"}
    run = orjson.loads((out / "run.json").read_bytes())
    assert run["versions"] == {"ios.redirect_then_new_process": 1, "ios.safari_history": 3}
    assert (run["timeline_events"], run["findings_sha256"]) == (3, digest)
    assert (out / "manifest.jsonl").read_bytes() == b"{}\n"
