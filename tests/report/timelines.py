"""Output folders with large synthetic timelines for the report's tests: a findings.json of the demo's
shape is not needed, only a valid one, and events written as ``report/timeline.py`` writes them."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import orjson

from vestige.analysis import AcquisitionSummary, Result
from vestige.evidence.acquisition import DeviceInfo
from vestige.report.findings import write_findings

START = 1_715_677_961_250_000  # 2024-05-14T09:12:41.25Z, in microseconds
SMS = "HomeDomain/Library/SMS/sms.db"
HISTORY = "HomeDomain/Library/Safari/History.db"


def iso(microseconds: int) -> str:
    moment = datetime.fromtimestamp(microseconds / 1_000_000, tz=timezone.utc)
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"


def event_line(number: int, step: int = 1_000_000) -> bytes:
    """Event ``number``: every third one an SMS (with a contact and a text), the others Safari visits."""
    timestamp = START + number * step
    if number % 3 == 0:
        event = {
            "message": f"SMS received from +2126000{number:07d}: private words {number}",
            "datetime": iso(timestamp),
            "timestamp": timestamp,
            "timestamp_desc": "message date",
            "data_type": "ios.sms",
            "evidence": {"path": SMS, "sha256": "11" * 32, "table": "message", "row": number},
            "handle": f"+2126000{number:07d}",
            "text": f"private words {number}",
            "urls": [],
        }
    else:
        event = {
            "message": f"Safari visit to https://site{number}.example/",
            "datetime": iso(timestamp),
            "timestamp": timestamp,
            "timestamp_desc": "visit time",
            "data_type": "ios.safari_history",
            "evidence": {"path": HISTORY, "sha256": "22" * 32, "table": "history_visits", "row": number},
            "url": f"https://site{number}.example/",
            "title": f"Page {number}",
        }
    return orjson.dumps(event) + b"\n"


def write_timeline_folder(folder: Path, events: int, result: Result | None = None) -> Path:
    """An output folder holding a findings.json (of ``result``, else of nothing found) and ``events`` events."""
    folder.mkdir(parents=True, exist_ok=True)
    result = result or Result([AcquisitionSummary("ios-backup", DeviceInfo(), 1, 1, "33" * 32)], ())
    write_findings(result, folder / "findings.json")
    with (folder / "timeline.jsonl").open("wb") as out:
        batch: list[bytes] = []
        for number in range(events):
            batch.append(event_line(number))
            if len(batch) == 10_000:
                out.write(b"".join(batch))
                batch = []
        out.write(b"".join(batch))
    return folder
