"""report.html, read as the bytes it is: the demo's first screen, findings, stories and chart; a file that
needs nothing from a network; hostile evidence escaped; personal data hidden unless asked for; the
timeline in compressed chunks; ``vestige report`` on output folders and case bundles. The page in a real
browser is tested in ``test_html_browser.py``."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
import shutil
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from tests.builders import tree_digest
from tests.builders.custody import Built
from tests.report.timelines import HISTORY, START, write_timeline_folder
from vestige.analysis import AcquisitionSummary, Result
from vestige.cli import main
from vestige.evidence.acquisition import DeviceInfo
from vestige.ios.sample.demo import build_demo_backup
from vestige.model import Evidence, Finding, IndicatorMatch, Locator, Severity
from vestige.report.findings import read_findings, write_findings
from vestige.report.html import BLOCK, NO_FINDING_MEANING, asset, csp_hash, write_report
from vestige.report.personal import Redaction, hide, redactions
from vestige.report.timeline import finding_event

CONTACT = "+212600112233"  # the sender of the demo's Pegasus SMS
SMS_TEXT = "Votre colis est retenu. Confirmez l'adresse de livraison: https://smscentro.com/c2q7/verify"
CHUNK = re.compile(r'<script type="application/octet-stream" class="timeline-chunk" id="tl-(\d+)">([^<]*)</script>')


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def demo_backup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_backup(tmp_path_factory.mktemp("report-demo") / "backup")


@pytest.fixture(scope="module")
def demo(demo_backup: Path) -> Path:
    out = demo_backup.parent / "out"
    code, output = run("check", str(demo_backup), "-o", str(out), "-j", "1")
    assert code == 0, output
    return out


def chunks(page: str) -> list[list[list[str]]]:
    """The timeline's rows, chunk by chunk, decoded as the browser decodes them."""
    found = CHUNK.findall(page)
    assert [int(number) for number, _ in found] == list(range(len(found)))
    return [orjson.loads(gzip.decompress(base64.b64decode(data))) for _, data in found]


def test_demo_first_screen(demo: Path) -> None:
    page = (demo / "report.html").read_text()
    document = read_findings((demo / "findings.json").read_bytes())
    assert '<h1 id="verdict-text">2 critical findings: traces that match known Pegasus indicators</h1>' in page
    assert "Also 5 high and 1 medium." in page
    counts = re.findall(r'<span class="n" data-severity="(\w+)">(\d+)</span>', page)
    assert counts == [("critical", "2"), ("high", "5"), ("medium", "1"), ("low", "0"), ("info", "2")]
    assert "The run completed: every file selected was read." in page
    assert "This report was made from an output folder: it states no chain of custody." in page
    assert f"<code>{document.acquisitions[0].merkle_root}</code>" in page
    assert "<dt>os version</dt><dd><code>17.5.1</code></dd>" in page
    for indicator_set in document.indicator_sets:
        assert f"<code>{indicator_set.sha256}</code>" in page
    digest = hashlib.sha256((demo / "findings.json").read_bytes()).hexdigest()
    assert f"from findings.json SHA-256 <code>{digest}</code>" in page
    # The verdict comes first, then the custody, the acquisition and the sets, before any finding.
    order = [page.index(f'id="{name}"') for name in ("verdict", "custody", "acquisitions", "indicator-sets", "stories")]
    assert order == sorted(order)


def test_demo_findings_grouped_by_severity_and_story(demo: Path) -> None:
    page = (demo / "report.html").read_text()
    document = read_findings((demo / "findings.json").read_bytes())
    articles = re.findall(r'<article class="(finding[^"]*)" id="f-(\w+)" data-rule="([^"]+)"', page)
    assert len(articles) == 10
    assert sorted(i for _, i, _ in articles) == sorted(f.id for f in document.findings)
    stories = [(i, rule) for kind, i, rule in articles if kind.startswith("finding story")]
    story = next(f for f in document.findings if f.rule == "ios.redirect_then_new_process")
    baseband = next(f for f in document.findings if f.rule == "correlation.baseband_during_injection")
    assert stories == [
        (story.id, "ios.redirect_then_new_process"),
        (baseband.id, "correlation.baseband_during_injection"),
    ]
    groups = re.findall(r'<div class="severity-group" data-severity="(\w+)"><h3 class="sev-\w+">(\w+ \(\d+\))', page)
    assert groups == [
        ("critical", "Critical (1)"),
        ("high", "High (5)"),
        ("medium", "Medium (1)"),
        ("info", "Info (1)"),
    ]
    sides = re.search(r'<ol class="sides">(.*?)</ol>', page)
    assert sides is not None
    items = re.findall(r"<li><code><bdi>([^<]+)</bdi></code>: (\d+) pieces? of evidence", sides.group(1))
    assert items == [
        ("HomeDomain/Library/Safari/History.db", "3"),
        ("WirelessDomain/Library/Databases/DataUsage.sqlite", "1"),
    ]
    cited = re.findall(r"<tr><td><code><bdi>([^<]+)</bdi></code><br>.*?<td>(table [^<]+)</td>", sides.group(1))
    assert cited == [
        ("HomeDomain/Library/Safari/History.db", "table history_visits, row 102"),
        ("HomeDomain/Library/Safari/History.db", "table history_visits, row 103"),
        ("HomeDomain/Library/Safari/History.db", "table history_visits, row 104"),
        ("WirelessDomain/Library/Databases/DataUsage.sqlite", "table ZPROCESS, row 11"),
    ]
    linked = re.findall(r'href="#f-(\w+)"', sides.group(1))
    expected = [
        f.id
        for f in document.findings
        if f.id != story.id and {e.locator.path for e in f.evidence} & {"HomeDomain/Library/Safari/History.db"}
    ]
    datausage = [f.id for f in document.findings if f.rule == "ios.datausage.indicator_match"]
    assert linked == expected + datausage
    assert 'What to do next</h4><p class="next">Confirm the match' in page


def test_demo_chart_marks_each_dated_finding(demo: Path) -> None:
    page = (demo / "report.html").read_text()
    chart = re.search(r'<svg id="timeline-chart".*?</svg>', page)
    assert chart is not None
    assert len(re.findall(r'<path class="mark sev-', chart.group())) == 10
    counts = [int(n.replace(",", "")) for n in re.findall(r"<title>([\d,]+) events</title>", chart.group())]
    events = len((demo / "timeline.jsonl").read_bytes().splitlines())
    assert sum(counts) == events == 122
    firsts = [int(n) for n in re.findall(r'data-first="(\d+)"', chart.group())]
    assert firsts == sorted(firsts) and firsts[0] == 0


def test_report_needs_no_network(demo: Path) -> None:
    page = (demo / "report.html").read_text()
    csp = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert csp == [
        f"default-src 'none'; img-src data:; style-src {csp_hash(asset('report.css'))}; "
        f"script-src {csp_hash(asset('report.js'))}; base-uri 'none'; form-action 'none'"
    ]
    assert f"<style>{asset('report.css')}</style>" in page
    assert f"<script>{asset('report.js')}</script>" in page
    assert "<link" not in page
    assert re.search(r"\ssrc=", page) is None
    assert {h[0] for h in re.findall(r'href="(.)', page)} == {"#"}
    assert "@media print" in page


def test_report_is_deterministic(demo: Path, tmp_path: Path) -> None:
    again = write_report(demo, tmp_path / "again.html")
    assert again.read_bytes() == (demo / "report.html").read_bytes()


def test_same_report_for_any_number_of_workers(demo: Path, demo_backup: Path, tmp_path: Path) -> None:
    code, output = run("check", str(demo_backup), "-o", str(tmp_path / "two"), "-j", "2")
    assert code == 0, output
    assert (tmp_path / "two" / "report.html").read_bytes() == (demo / "report.html").read_bytes()


def test_personal_data_hidden_by_default(demo: Path) -> None:
    page = (demo / "report.html").read_text()
    assert 'data-mode="hidden"' in page
    assert "This report hides personal data where a finding does not need it" in page
    rows = [row for chunk in chunks(page) for row in chunk]
    everything = page + orjson.dumps(rows).decode()
    for private in (CONTACT, "Votre colis", "+212612345699", "brouillon", "Reporter&#x27;s iPhone", "Le Monde"):
        assert private not in everything
    assert "+212 6 12 34 56 78" not in page
    placeholder = "[message text hidden: 91 characters; its URLs: https://smscentro.com/c2q7/verify]"
    assert f"SMS received from [contact hidden: 13 characters]: {placeholder}" in page
    sms = [row for row in rows if row["data_type"] == "ios.sms"]
    assert sms[0]["message"] == (
        "iMessage sent to [contact hidden: 13 characters]: [message text hidden: 13 characters]"
    )
    assert (sms[0]["handle"], sms[0]["text"]) == (
        "[contact hidden: 13 characters]",
        "[message text hidden: 13 characters]",
    )
    lookups = [row for row in rows if row["data_type"] == "ios.idstatuscache"]
    assert lookups[1] == {
        "message": "com.apple.madrid looked up '[contact hidden: 17 characters]' (status 1)",
        "datetime": "2024-05-12T09:12:41.250000Z",
        "timestamp": 1_715_505_161_250_000,
        "timestamp_desc": "lookup date",
        "data_type": "ios.idstatuscache",
        "evidence": {
            "path": "HomeDomain/Library/Preferences/com.apple.identityservices.idstatuscache.plist",
            "sha256": lookups[1]["evidence"]["sha256"],
            "key": "com.apple.madrid/[contact hidden: 17 characters]",
        },
        "service": "com.apple.madrid",
        "handle": "[contact hidden: 17 characters]",
        "id_status": 1,
    }
    # Events of the other artifacts are embedded as timeline.jsonl holds them.
    lines = [orjson.loads(line) for line in (demo / "timeline.jsonl").read_bytes().splitlines()]
    others = {"ios.sms", "ios.idstatuscache", "ios.safari_history"}
    assert [row for row in rows if row["data_type"] not in others] == [
        line for line in lines if line["data_type"] not in others
    ]


def test_show_personal_data(demo: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(demo, tmp_path / "copy")
    code, output = run("report", str(folder), "--show-personal-data")
    assert (code, output) == (0, f"Report: {folder / 'report.html'}\n")
    page = (folder / "report.html").read_text()
    assert 'data-mode="shown"' in page
    assert "This report was made with --show-personal-data" in page
    assert f"SMS received from {CONTACT}: {SMS_TEXT.replace(chr(39), '&#x27;')}" in page
    rows = [row for chunk in chunks(page) for row in chunk]
    assert "Tu peux m'envoyer le brouillon de l'article ?" in orjson.dumps(rows).decode()
    assert "Reporter&#x27;s iPhone" in page


def test_check_show_personal_data(demo_backup: Path, tmp_path: Path) -> None:
    code, output = run("check", str(demo_backup), "-o", str(tmp_path / "out"), "-j", "1", "--show-personal-data")
    assert code == 0, output
    run_json = orjson.loads((tmp_path / "out" / "run.json").read_bytes())
    assert run_json["options"]["show_personal_data"] is True
    assert 'data-mode="shown"' in (tmp_path / "out" / "report.html").read_text()


T0 = datetime(2024, 5, 14, 9, 12, 41, tzinfo=timezone.utc)


def hostile_folder(folder: Path) -> Finding:
    """An output folder whose one finding carries a script, bidi controls and a huge string."""
    finding = Finding(
        rule="ios.sms.indicator_match",
        severity=Severity.HIGH,
        title="evil \u202egnp.exe\u202c title",
        explanation="x" * 100_000,
        caveats=("<img src=x onerror=alert(3)>",),
        evidence=(
            Evidence(Locator("HomeDomain/Library/SMS/sms.db", "11" * 32, "message", 7), "<script>alert(1)</script>"),
        ),
        indicators=(IndicatorMatch("evil.example", "domain-name:value", "Pegasus", "set", "aa" * 32),),
        time=T0,
    )
    result = Result([AcquisitionSummary("ios-backup", DeviceInfo(), 1, 1, "33" * 32)], (), [finding])
    write_timeline_folder(folder, 0, result)
    (folder / "timeline.jsonl").write_bytes(
        orjson.dumps(
            {
                "message": "</script><script>alert(2)</script>",
                "datetime": "2024-05-14T09:12:41.000000Z",
                "timestamp": 1_715_677_961_000_000,
                "timestamp_desc": "event time",
                "data_type": "test.hostile",
                "evidence": {"path": "a\u202eb", "sha256": None},
            }
        )
        + b"\n"
    )
    return finding


def test_hostile_evidence_is_text(tmp_path: Path) -> None:
    finding = hostile_folder(tmp_path / "out")
    page = write_report(tmp_path / "out").read_text()
    assert "<script>alert(1)</script>" not in page
    assert "<td><bdi>&lt;script&gt;alert(1)&lt;/script&gt;</bdi></td>" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(3)&gt;" in page
    assert "\u202e" not in page
    assert "evil \\u202egnp.exe\\u202c title" in page
    assert f"{'x' * 2048} … (95904 characters left out) … {'x' * 2048}" in page
    assert len(re.findall(r"<script", page)) == 3  # one chunk, the timeline's description, the page's script
    assert chunks(page) == [[orjson.loads((tmp_path / "out" / "timeline.jsonl").read_bytes())]]
    assert f'id="f-{finding.id}"' in page


def test_timeline_in_chunks(tmp_path: Path) -> None:
    folder = write_timeline_folder(tmp_path / "out", 12_345)
    page = write_report(folder).read_text()
    assert write_report(folder, tmp_path / "two.html", workers=2).read_text() == page
    lines = (folder / "timeline.jsonl").read_bytes().splitlines(keepends=True)
    offsets = [0]
    for line in lines[:-1]:
        offsets.append(offsets[-1] + len(line))
    per_block = Counter(offset // BLOCK for offset in offsets)
    sizes = [per_block[number] for number in range(max(per_block) + 1)]
    assert len(sizes) == 3 and sum(sizes) == 12_345
    meta = re.search(r'<script type="application/json" id="timeline-meta">([^<]*)</script>', page)
    assert meta is not None
    assert orjson.loads(meta.group(1)) == {"events": 12_345, "starts": [0, sizes[0], sizes[0] + sizes[1]], "page": 100}
    decoded = chunks(page)
    assert [len(c) for c in decoded] == sizes
    assert decoded[0][1] == {
        "message": "Safari visit to https://site1.example/",
        "datetime": "2024-05-14T09:12:42.250000Z",
        "timestamp": 1_715_677_962_250_000,
        "timestamp_desc": "visit time",
        "data_type": "ios.safari_history",
        "evidence": {"path": HISTORY, "sha256": "22" * 32, "table": "history_visits", "row": 1},
        "url": "https://site1.example/",
        "title": "[page title hidden: 6 characters]",
    }
    assert decoded[1][0]["evidence"]["row"] == sizes[0]  # the first event of the second block
    assert decoded[2][-1]["message"] == "Safari visit to https://site12344.example/"
    assert '<span id="page-count">124</span>' in page
    assert "12,345 events from 2024-05-14T09:12:41.250000Z to 2024-05-14T12:38:25.250000Z" in page
    assert '<h1 id="verdict-text">No finding at medium or above</h1>' in page
    assert NO_FINDING_MEANING.replace("'", "&#x27;") in page


def test_a_checks_own_timeline_gives_the_same_report(tmp_path: Path) -> None:
    """The timeline a check has just written is not parsed to check its lines (each event's time is read
    where timeline.py writes it): the report is the same bytes as one that parses them, with a finding's
    event (keys sorted), fields that nest a "timestamp" or quote one, a long line and personal data."""
    folder = write_timeline_folder(tmp_path / "out", 12_345)
    finding = Finding("ios.sms.indicator_match", Severity.CRITICAL, 'a "timestamp":1 title', "why", (), (), time=T0)
    finding_line = orjson.dumps(finding_event(finding), option=orjson.OPT_SORT_KEYS)
    nested = {
        "message": 'quotes "timestamp":5,',
        "datetime": "2024-05-14T09:12:41.000000Z",
        "timestamp": START + 6_000_000_000,  # mid-timeline: the nested times would fall in the first bar
        "timestamp_desc": "event time",
        "data_type": "test.nested",
        "evidence": {"path": "p", "sha256": None},
        "inner": {"timestamp": 1, "items": [{"timestamp": 2}]},
    }
    long = {**nested, "data_type": "ios.sms", "text": "t" * 40_000, "handle": "+33123", "timestamp": START + 7}
    lines = (folder / "timeline.jsonl").read_bytes().splitlines(keepends=True)
    lines[6_001:6_001] = [orjson.dumps(nested) + b"\n"]  # each in its place in time, as a check writes them
    lines[1:1] = [orjson.dumps(long) + b"\n"]
    lines[:0] = [finding_line + b"\n"]
    (folder / "timeline.jsonl").write_bytes(b"".join(lines))
    for workers in (1, 2):
        parsed = write_report(folder, tmp_path / f"parsed-{workers}.html", workers=workers).read_bytes()
        written = write_report(folder, tmp_path / f"written-{workers}.html", workers=workers, timeline_as_written=True)
        assert written.read_bytes() == parsed
    assert "12,348 events from" in parsed.decode()


def test_long_values_are_cut(tmp_path: Path) -> None:
    folder = write_timeline_folder(tmp_path / "out", 0)
    event = {
        "message": "m" * 50_000,
        "datetime": "2024-05-14T09:12:41.000000Z",
        "timestamp": 1_715_677_961_000_000,
        "timestamp_desc": "event time",
        "data_type": "test.long",
        "evidence": {"path": "p" * 3_000, "sha256": None},
        "values": list(range(5_000)),
        "small": [1, 2],
    }
    (folder / "timeline.jsonl").write_bytes(orjson.dumps(event) + b"\n")
    [[row]] = chunks(write_report(folder).read_text())
    assert row["message"] == "m" * 960 + " … (49040 characters left out)"
    assert row["evidence"] == {"path": "p" * 960 + " … (2040 characters left out)", "sha256": None}
    assert (row["small"], row["timestamp"], row["datetime"]) == ([1, 2], 1_715_677_961_000_000, event["datetime"])
    assert row["values"].startswith("[0,1,2,3,") and row["values"].endswith(" characters left out)")


def test_multi_acquisition_blocks(demo_backup: Path, tmp_path: Path) -> None:
    second = shutil.copytree(demo_backup, tmp_path / "second")
    code, output = run("check", str(demo_backup), str(second), "-o", str(tmp_path / "out"), "-j", "1")
    assert code == 0, output
    page = (tmp_path / "out" / "report.html").read_text()
    assert re.findall(r'<div class="acquisition" id="(acquisition-\d)"><h3>(Acquisition \d)</h3>', page) == [
        ("acquisition-0", "Acquisition 0"),
        ("acquisition-1", "Acquisition 1"),
    ]
    blocks = re.findall(r'<div class="acquisition-findings" id="([\w-]+)">', page)
    assert blocks == ["findings-acquisition-0", "findings-acquisition-1"]
    first, second_block = page.index('id="findings-acquisition-0"'), page.index('id="findings-acquisition-1"')
    assert page.count('<article class="finding sev-', first, second_block) == 8


def test_report_of_a_case_bundle(built: Built, tmp_path: Path) -> None:
    before = tree_digest(built.bundle)
    target = tmp_path / "case.html"
    code, output = run("report", str(built.bundle), "-o", str(target))
    assert (code, output) == (0, f"Report: {target}\n")
    page = target.read_text()
    assert "Case <strong>CASE-2026-0042</strong>, analysis <strong>0001</strong>." in page
    assert "Not verified by this report" in page
    assert re.search(
        r"Analysis 0001 of item CASE-2026-0042-001A was recorded by examiner-a \(key ed25519:[0-9a-f]{64}\) at "
        r"\d{4}-\d\d-\d\dT[\d:.]+Z by the host&#x27;s clock\.",
        page,
    )
    assert "has the SHA-256 the analysis record states" in page
    assert "Seal recorded by examiner-b" in page
    code, output = run("report", str(built.bundle), "-o", str(target), "--trust", str(built.trust))
    assert code == 0, output
    page = target.read_text()
    trust = hashlib.sha256(built.trust.read_bytes()).hexdigest()
    assert f"against the trust list with SHA-256 <code>{trust}</code>" in page
    assert '<p class="verified">Verified' in page
    assert "The analysis record is signed by the key your trust list names &#x27;examiner-a&#x27;." in page
    recorded = (built.bundle / "data" / "analysis" / "0001" / "report.html").read_text()
    assert "This report was written by the analysis itself, inside a case bundle" in recorded
    code, output = run("report", str(built.bundle), "-o", str(built.bundle / "report.html"))
    assert code == 2 and "inside the case bundle" in output and "whose files are signed" in output
    code, output = run("report", str(built.bundle / "data" / "analysis" / "0001"))
    assert (
        code == 2 and f"{built.bundle / 'data' / 'analysis' / '0001' / 'report.html'}: inside the case bundle" in output
    )
    code, output = run("report", str(built.bundle), "--run", "0009", "-o", str(target))
    assert code == 2 and "records no analysis '0009' (analyses: 0001)" in output
    assert tree_digest(built.bundle) == before


@pytest.mark.broken_findings
def test_report_refuses_what_is_not_an_output_folder(tmp_path: Path) -> None:
    code, output = run("report", str(tmp_path))
    assert code == 2 and f"{tmp_path}: holds no findings.json" in output
    (tmp_path / "findings.json").write_bytes(b'{"schema": "vestige.findings/1"}')
    code, output = run("report", str(tmp_path))
    assert code == 2 and "findings.json: schema: Input should be 'vestige.findings/2'" in output
    assert not (tmp_path / "report.html").exists()


def test_hide_finds_values_and_their_excerpts() -> None:
    text = "line one\nline two " + "word " * 40
    hidden = redactions("ios.sms", {"text": text, "handle": "+33123"})
    assert hidden == [
        Redaction(text, f"[message text hidden: {len(text)} characters]"),
        Redaction("+33123", "[contact hidden: 6 characters]"),
    ]
    excerpt = " ".join(text.split())[:40] + "…"
    assert hide(f"From +33123: {excerpt} (row 3)", hidden) == (
        f"From [contact hidden: 6 characters]: [message text hidden: {len(text)} characters] (row 3)"
    )
    quoted = repr(" ".join(text.split())[:159] + "…")
    assert hide(f"The message {quoted}.", hidden) == f"The message '[message text hidden: {len(text)} characters]'."
    both = f"{text} and again: {quoted}"
    assert hide(both, hidden) == (
        f"[message text hidden: {len(text)} characters] and again: '[message text hidden: {len(text)} characters]'"
    )
    # A handle an indicator names is evidence: kept.
    assert redactions("ios.idstatuscache", {"handle": "mailto:spy@evil.example"}, ["spy@evil.example"]) == []


def test_lines_that_are_not_events_are_counted(tmp_path: Path) -> None:
    folder = write_timeline_folder(tmp_path / "out", 3)
    with (folder / "timeline.jsonl").open("ab") as timeline:
        timeline.write(b"{not json\n[1, 2]\n")
    page = write_report(folder).read_text()
    assert '<p class="incomplete">2 lines of timeline.jsonl left out: not JSON events.</p>' in page
    assert [len(chunk) for chunk in chunks(page)] == [3]
    chart = re.search(r'<svg id="timeline-chart".*?</svg>', page)
    assert chart is not None
    assert re.findall(r"<title>([\d,]+) events</title>", chart.group()) == ["1", "1", "1"]


def test_report_without_timeline(tmp_path: Path) -> None:
    folder = write_timeline_folder(tmp_path / "out", 0)
    (folder / "timeline.jsonl").unlink()
    page = write_report(folder).read_text()
    assert '<section id="timeline"><h2>Timeline</h2><p>No dated event.</p></section>' in page
    assert CHUNK.findall(page) == []
    write_findings(Result([], ()), folder / "findings.json")
    assert "<h2>Acquisitions</h2></section>" in write_report(folder).read_text()
