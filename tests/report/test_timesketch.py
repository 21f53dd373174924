"""The Timesketch export: every line has the fields Timesketch needs, flat attributes, findings in full."""

from __future__ import annotations

import io
import tracemalloc
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from tests.builders import check
from vestige.indicators import bundled_sets
from vestige.ios.sample.demo import build_demo_backup
from vestige.model import JSON, Evidence, Finding, Locator, Severity
from vestige.pipeline import run_check
from vestige.platforms import Registry
from vestige.report.findings import FindingDocument, FindingsDocument, read_findings
from vestige.report.timeline import TimelineFormatError, read_timeline
from vestige.report.timesketch import REQUIRED, TimesketchCount, write_timesketch


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of a check of the demo backup."""
    root = tmp_path_factory.mktemp("demo")
    backup = build_demo_backup(root / "backup")
    return run_check([backup], root / "out", bundled_sets(), Registry.discover(), {}).folder


def document(folder: Path) -> FindingsDocument:
    return read_findings((folder / "findings.json").read_bytes())


def exported(folder: Path, doc: FindingsDocument | None = None) -> tuple[TimesketchCount, list[dict[str, JSON]]]:
    out = io.BytesIO()
    count = write_timesketch(doc or document(folder), folder / "timeline.jsonl", out)
    return count, [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_every_line_has_the_fields_timesketch_needs_and_only_flat_values(folder: Path) -> None:
    count, lines = exported(folder)
    assert count == TimesketchCount(events=112, findings=10, undated_findings=0)
    assert len(lines) == 122
    for line in lines:
        assert all(isinstance(line[name], str) and line[name] for name in REQUIRED), line
        moment = datetime.fromisoformat(str(line["datetime"]).replace("Z", "+00:00"))
        assert moment.utcoffset() is not None
        assert line["timestamp"] == round(moment.timestamp() * 1_000_000)
        for value in line.values():
            assert not isinstance(value, dict)
            assert not isinstance(value, list) or all(isinstance(item, str) for item in value)
    times = [line["timestamp"] for line in lines]
    assert times == sorted(times)  # the timeline's order


def test_an_event_a_finding_cites_names_its_place_and_the_findings(folder: Path) -> None:
    _, lines = exported(folder)
    (sms,) = (line for line in lines if line.get("data_type") == "ios.sms" and line.get("row") == 3)
    assert sms == {
        "message": "SMS received from +212600112233: Votre colis est retenu. Confirmez l'adresse de livraison: "
        "https://smscentro.com/c2q7/verify",
        "datetime": "2024-05-10T06:12:41.250000Z",
        "timestamp_desc": "message date",
        "timestamp": 1715321561250000,
        "data_type": "ios.sms",
        "artifact": "ios.sms",
        "path": "HomeDomain/Library/SMS/sms.db",
        "sha256": "1171a4e687cf167ecae87c8122f19bd29d489ebbdb9d3786d52f3a91f2615ea8",
        "table": "message",
        "row": 3,
        "finding_id": ["a41a1124cae608c88aca"],
        "severity": "high",
        "tag": ["vestige", "vestige-high"],
        "rowid": 3,
        "guid": "5E3A1F0C-0000-4000-8000-000000000003",
        "service": "SMS",
        "handle": "+212600112233",
        "is_from_me": False,
        "date": 737014361250000000,
        "date_read": None,
        "text": "Votre colis est retenu. Confirmez l'adresse de livraison: https://smscentro.com/c2q7/verify",
        "urls": ["https://smscentro.com/c2q7/verify"],
    }
    visit = next(line for line in lines if line.get("table") == "history_visits" and line.get("row") == 102)
    assert visit["finding_id"] == [
        "1953f00aba066737b677",
        "e3bce72cce7aaaae867d",
        "24300fed71dfda8932e9",
        "7b228107b40bb570fc12",  # the baseband correlator: no log, the rogue-station hypothesis untestable
    ]
    assert visit["severity"] == "critical"
    uncited = next(line for line in lines if line.get("data_type") == "ios.datausage" and line.get("row") == 1)
    assert "finding_id" not in uncited
    assert "tag" not in uncited


def test_each_finding_is_one_line_with_its_severity_rule_indicators_and_evidence(folder: Path) -> None:
    _, lines = exported(folder)
    findings = [line for line in lines if line["data_type"] == "vestige.finding"]
    # the info at the redirect's time: the baseband correlator's (no log, the rogue-station hypothesis untestable)
    assert [line["severity"] for line in findings] == ["high"] * 3 + ["info"] + ["high"] * 2 + ["critical"] * 2 + [
        "medium",
        "info",
    ]
    (bh,) = (line for line in findings if line["rule"] == "ios.datausage.indicator_match")
    assert bh == {
        "message": "[critical] A process that used the network (DataUsage) involves the process name bh, named by a "
        "Pegasus indicator",
        "datetime": "2024-05-14T09:12:49.250000Z",
        "timestamp_desc": "finding",
        "timestamp": 1715677969250000,
        "data_type": "vestige.finding",
        "artifact": "vestige.finding",
        "tag": ["vestige", "vestige-critical"],
        "finding_id": "85700d6f7d95312569ce",
        "severity": "critical",
        "rule": "ios.datausage.indicator_match",
        "title": "A process that used the network (DataUsage) involves the process name bh, named by a Pegasus "
        "indicator",
        "explanation": bh["explanation"],
        "caveats": bh["caveats"],
        "indicators": ["process:name bh (Pegasus, amnesty/2021-07-18_nso/pegasus.stix2)"],
        "evidence": ["WirelessDomain/Library/Databases/DataUsage.sqlite ZPROCESS row 11"],
    }
    assert str(bh["explanation"]).startswith("Process 'bh' first used the network.")
    assert len(bh["caveats"]) >= 1  # type: ignore[arg-type]


def write_lines(path: Path, events: list[dict[str, JSON]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(e, option=orjson.OPT_APPEND_NEWLINE) for e in events))
    return path


EVENT: dict[str, JSON] = {
    "message": "m",
    "datetime": "2024-01-01T00:00:00.000000Z",
    "timestamp": 1704067200000000,
    "timestamp_desc": "t",
    "data_type": "x.artifact",
    "evidence": {"path": "p", "sha256": None, "packet": 7, "acquisition": 1},
}


def test_payload_fields_named_like_an_attribute_are_renamed_and_nested_values_are_text(
    folder: Path, tmp_path: Path
) -> None:
    timeline = write_lines(
        tmp_path / "timeline.jsonl",
        [{**EVENT, "path": "/payload/path", "severity": 5, "evidence": EVENT["evidence"], "n": {"a": [1]}}],
    )
    out = io.BytesIO()
    write_timesketch(document(folder), timeline, out)
    assert orjson.loads(out.getvalue()) == {
        "message": "m",
        "datetime": "2024-01-01T00:00:00.000000Z",
        "timestamp_desc": "t",
        "timestamp": 1704067200000000,
        "data_type": "x.artifact",
        "artifact": "x.artifact",
        "path": "p",
        "packet": 7,
        "acquisition": 1,
        "payload_path": "/payload/path",
        "payload_severity": 5,
        "n": '{"a":[1]}',
    }


def test_a_finding_without_a_time_is_counted_as_left_out(folder: Path) -> None:
    doc = document(folder)
    undated = doc.findings[-1].model_copy(update={"time": None})
    count, _ = exported(folder, doc.model_copy(update={"findings": [*doc.findings[:-1], undated]}))
    assert count.undated_findings == 1


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"{not json\n", "line 2: unexpected character"),
        (b"[1]\n", "line 2: not a JSON object"),
        (orjson.dumps({**EVENT, "timestamp": "1"}) + b"\n", "line 2: 'timestamp' is not an integer"),
        (orjson.dumps({**EVENT, "message": None}) + b"\n", "line 2: 'message' is not text"),
        (orjson.dumps({**EVENT, "evidence": [1]}) + b"\n", "line 2: 'evidence' is not an object"),
    ],
)
def test_a_line_that_is_not_an_event_is_named(tmp_path: Path, line: bytes, reason: str) -> None:
    timeline = tmp_path / "timeline.jsonl"
    timeline.write_bytes(orjson.dumps(EVENT) + b"\n" + line)
    with pytest.raises(TimelineFormatError) as raised:
        list(read_timeline(timeline))
    assert str(raised.value).startswith(f"timeline.jsonl: {reason}")


def test_the_timeline_is_streamed_not_loaded(folder: Path, tmp_path: Path) -> None:
    line = orjson.dumps({**EVENT, "text": "x" * 200}) + b"\n"
    timeline = tmp_path / "timeline.jsonl"
    with timeline.open("wb") as out:
        out.write(line * 100_000)  # 27 MB
    sink = (tmp_path / "out.jsonl").open("wb")
    doc = document(folder)
    tracemalloc.start()
    try:
        count = write_timesketch(doc, timeline, sink)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        sink.close()
    assert count.events == 100_000
    assert peak < 2_000_000


def test_a_check_of_the_demo_gives_the_same_export_as_the_engine_alone(folder: Path) -> None:
    """The finding lines come from findings.json through the typed document: the same findings as the engine's."""
    result = check(folder.parent / "backup", bundled_sets()).result
    _, lines = exported(folder)
    assert {line["finding_id"] for line in lines if line["data_type"] == "vestige.finding"} == {
        f.id for f in result.findings
    }


def test_a_row_beyond_2_53_cites_its_event_though_findings_json_writes_it_as_text(folder: Path, tmp_path: Path) -> None:
    row = 2**53 + 1
    finding = Finding("r", Severity.HIGH, "t", "e", (), (Evidence(Locator("a.db", None, "t", row), ""),))
    doc = document(folder).model_copy(update={"findings": [FindingDocument.model_validate(finding.as_json())]})
    assert doc.findings[0].evidence[0].locator.row == str(row)
    timeline = write_lines(
        tmp_path / "timeline.jsonl",
        [{**EVENT, "evidence": {"path": "a.db", "sha256": None, "table": "t", "row": row}}],
    )
    out = io.BytesIO()
    write_timesketch(doc, timeline, out)
    line = orjson.loads(out.getvalue())
    assert (line["row"], line["finding_id"], line["severity"]) == (row, [finding.id], "high")
