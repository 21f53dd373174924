"""How evidence text reaches the terminal (vestige.cli.console): visible escapes, no markup, no
emoji, and rows that evidence cannot forge."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text

from tests.builders import check
from vestige.analysis import Result
from vestige.cli.console import (
    CONTINUATION,
    INVISIBLE,
    evidence_places,
    indicator_sets,
    json_visible,
    new_console,
    print_line,
    render_entry,
    render_summary,
    shown,
    verdict,
    visible,
)
from vestige.indicators import bundled_sets
from vestige.ios.sample.demo import build_demo_backup
from vestige.model import Evidence, Finding, IndicatorMatch, Locator, Problem, Severity

_ESCAPE = re.compile(r"\\x([0-9a-f]{2})|\\u([0-9a-f]{4})|\\U([0-9a-f]{8})")


def read_back(printed: str) -> str:
    """Text with every ``\\xNN``, ``\\uNNNN`` and ``\\UNNNNNNNN`` taken as the character it names
    (any other backslash is itself): ``visible`` changes nothing of this reading."""
    return _ESCAPE.sub(lambda m: chr(int(next(g for g in m.groups() if g), 16)), printed)


def is_shown_as_itself(character: str) -> bool:
    return unicodedata.category(character) not in ("Cc", "Cf", "Zl", "Zp", "Cs")


def test_every_control_format_and_separator_character_is_escaped() -> None:
    missed = [
        f"U+{code:04X}"
        for code in range(sys.maxunicode + 1)
        if not is_shown_as_itself(chr(code)) and not any(first <= code <= last for first, last in INVISIBLE)
    ]
    assert missed == []
    assert [visible(c) for c in "\x00\t\n\r\x1b\x7f\x85\x9b\u00ad\u061c\u200b\u200d\u200e\u2028\u2029"] == [
        "\\x00",
        "\\x09",
        "\\x0a",
        "\\x0d",
        "\\x1b",
        "\\x7f",
        "\\x85",
        "\\x9b",
        "\\xad",
        "\\u061c",
        "\\u200b",
        "\\u200d",
        "\\u200e",
        "\\u2028",
        "\\u2029",
    ]
    assert [visible(chr(c)) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))] == [
        f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))
    ]
    assert visible("\U000e0041\udcff\u3164\ufeff") == "\\U000e0041\\udcff\\u3164\\ufeff"


def test_ordinary_text_is_shown_as_it_is() -> None:
    for text in (
        "Amina’s iPhone",
        "Votre colis est retenu: https://smscentro.com/c2q7/verify?a=1&b=[2]",
        "سلام عليكم",
        "日本語のテキスト",
        "❤️ 😀 é",
        r"C:\Program Files\app",
        "a\\b",
    ):
        assert visible(text) == text


def test_a_backslash_that_rich_would_read_is_escaped_itself() -> None:
    assert visible("\\\\") == "\\x5c\\x5c"
    assert visible("end\\") == "end\\x5c"
    assert visible("\\[b] \\\x1b") == "\\x5c[b] \\x5c\\x1b"
    assert visible("notes-\\xff.txt \\u202e") == "notes-\\xff.txt \\u202e"  # as vestige writes bytes


@given(
    st.text(alphabet=st.sampled_from("\\xuU0123456789abcdef[]/:\n\x1b\u202e é😀"), max_size=40) | st.text(max_size=40)
)
def test_only_invisible_characters_and_backslashes_rich_would_read_are_written_differently(text: str) -> None:
    printed = visible(text)
    assert read_back(printed) == read_back(text)
    assert all(is_shown_as_itself(c) for c in printed)
    assert "\\\\" not in printed  # no run of backslashes reaches rich
    assert "\\[" not in printed  # nor one that rich would take for an escaped bracket
    assert not printed.endswith("\\")


@given(st.text(alphabet=st.sampled_from("\\[]/#@abz:= \n\x1b"), max_size=40) | st.text(max_size=40))
def test_shown_is_markup_that_draws_exactly_the_visible_text(text: str) -> None:
    assert Text.from_markup(f"[bold]{shown(text)}[/]", emoji=False).plain == visible(text)
    assert Text.from_markup(shown(text) + "[dim]x[/]", emoji=False).plain == visible(text) + "x"


def test_a_long_value_is_cut_and_the_cut_is_said() -> None:
    assert (
        visible("a" * 5000 + "the reason") == "a" * 2048 + "… (914 characters left out) …" + "a" * 2038 + "the reason"
    )
    assert visible("abc", limit=2) == "a… (1 characters left out) …c"
    assert visible("abc", limit=1) == "a… (2 characters left out) …"
    assert Text.from_markup(shown("[b]" * 10, limit=4)).plain == "[b… (26 characters left out) …b]"


def test_the_console_draws_no_emoji_markup_or_highlighting_from_evidence() -> None:
    console = new_console()
    console.file = io.StringIO()
    print_line(console, f"device {shown(':skull: [red]x[/red] 127.0.0.1 https://x.example')}")
    assert console.file.getvalue() == "device :skull: [red]x[/red] 127.0.0.1 https://x.example\n"


def terminal(width: int) -> Console:
    return Console(
        file=io.StringIO(), force_terminal=True, color_system=None, width=width, emoji=False, highlight=False
    )


def test_on_a_terminal_every_row_fits_and_continuations_are_marked() -> None:
    console = terminal(40)
    padding_then_forged = "x" + " " * 300 + "CRITICAL all clear: this phone is clean " + "y" * 100
    print_line(console, f"\nHIGH a finding\n  {shown(padding_then_forged)}")
    rows = console.file.getvalue().split("\n")
    assert rows[:3] == ["", "HIGH a finding", "  x"]
    assert all(len(row) <= 40 for row in rows)
    assert all(row.startswith(CONTINUATION) for row in rows[3:-1])
    assert rows[3] == CONTINUATION + "CRITICAL all clear: this phone is"
    assert rows[-1] == ""


def test_off_a_terminal_a_line_is_one_line_however_long() -> None:
    console = Console(file=io.StringIO(), width=40, soft_wrap=True, emoji=False, highlight=False)
    print_line(console, f"  {shown('word ' * 30)}")
    assert console.file.getvalue() == "  " + "word " * 29 + "word \n"


@given(st.dictionaries(st.text(max_size=8), st.lists(st.text(max_size=12), max_size=3), max_size=4))
def test_a_json_document_shows_only_what_is_there_and_reads_back_the_same(values: dict[str, list[str]]) -> None:
    printed = json_visible(orjson.dumps(values, option=orjson.OPT_INDENT_2).decode())
    assert json.loads(printed) == values
    assert all(c == "\n" or is_shown_as_itself(c) for c in printed)


@pytest.fixture(scope="module")
def demo_result(tmp_path_factory: pytest.TempPathFactory) -> Result:
    return check(build_demo_backup(tmp_path_factory.mktemp("demo") / "backup"), bundled_sets()).result


DEMO_SUMMARY = """\
ios-backup Reporter's iPhone iPhone14,2 iOS 17.5.1: 39 entries, 391520 bytes, Merkle root bfbfbe35f555cabb…

2 critical findings: traces that match known Pegasus indicators
critical 2 · high 5 · medium 1 · low 0 · info 2

CRITICAL  A process that used the network (DataUsage) involves the process name bh, named by a Pegasus indicator
          WirelessDomain/Library/Databases/DataUsage.sqlite ZPROCESS row 11 · Pegasus
CRITICAL  The process 'bh', with no app bundle, first used the network 8.0 s after a redirected http:// visit
          HomeDomain/Library/Safari/History.db history_visits rows 102, 103, 104; \
WirelessDomain/Library/Databases/DataUsage.sqlite ZPROCESS row 11 · Pegasus
HIGH      A message involves the domain smscentro.com, named by a Pegasus indicator
          HomeDomain/Library/SMS/sms.db message row 3 · Pegasus
HIGH      A site loaded by a web view (WebKit resource-load statistics) involves the domain free247downloads.com, \
named by a Pegasus indicator
          AppDomain-com.atebits.Tweetie2/Library/WebKit/WebsiteData/ResourceLoadStatistics/observations.db \
ObservedDomains row 4 · Pegasus and 1 more set
HIGH      An http:// visit to yahoo.fr was redirected to another site, bun54l2b67.get1tn0w.free247downloads.com, \
a destination with traits of an injected redirect
          HomeDomain/Library/Safari/History.db history_visits rows 102, 103, 104 · Pegasus and 1 more set
HIGH      A Safari visit involves the domain bun54l2b67.get1tn0w.free247downloads.com, named by a Pegasus indicator
          HomeDomain/Library/Safari/History.db history_visits row 103 · Pegasus and 1 more set
HIGH      A Safari visit involves the domain bun54l2b67.get1tn0w.free247downloads.com, named by a Pegasus indicator
          HomeDomain/Library/Safari/History.db history_visits row 104 · Pegasus and 1 more set
MEDIUM    Safari history was deleted around a suspected injected redirect
          HomeDomain/Library/Safari/History.db history_tombstones row 1, history_visits row 102 · \
rule ios.safari_history.deleted_history

Report: /out/report.html
Results: /out (findings.json, timeline.jsonl, records/, manifest.jsonl); -v prints each finding in full
"""


DEMO_SUMMARY_100_COLUMNS = """\
ios-backup Reporter's iPhone iPhone14,2 iOS 17.5.1: 39 entries, 391520 bytes, Merkle root
  ↪ bfbfbe35f555cabb…

2 critical findings: traces that match known Pegasus indicators
critical 2 · high 5 · medium 1 · low 0 · info 2

CRITICAL  A process that used the network (DataUsage) involves the process name bh, named by a
  ↪ Pegasus indicator
          WirelessDomain/Library/Databases/DataUsage.sqlite ZPROCESS row 11 · Pegasus
CRITICAL  The process 'bh', with no app bundle, first used the network 8.0 s after a redirected
  ↪ http:// visit
          HomeDomain/Library/Safari/History.db history_visits rows 102, 103, 104;
  ↪ WirelessDomain/Library/Databases/DataUsage.sqlite ZPROCESS row 11 · Pegasus
HIGH      A message involves the domain smscentro.com, named by a Pegasus indicator
          HomeDomain/Library/SMS/sms.db message row 3 · Pegasus
HIGH      A site loaded by a web view (WebKit resource-load statistics) involves the domain
  ↪ free247downloads.com, named by a Pegasus indicator
          AppDomain-com.atebits.Tweetie2/Library/WebKit/WebsiteData/ResourceLoadStatistics/obser
  ↪ vations.db ObservedDomains row 4 · Pegasus and 1 more set
HIGH      An http:// visit to yahoo.fr was redirected to another site,
  ↪ bun54l2b67.get1tn0w.free247downloads.com, a destination with traits of an injected redirect
          HomeDomain/Library/Safari/History.db history_visits rows 102, 103, 104 · Pegasus and 1
  ↪ more set
HIGH      A Safari visit involves the domain bun54l2b67.get1tn0w.free247downloads.com, named by
  ↪ a Pegasus indicator
          HomeDomain/Library/Safari/History.db history_visits row 103 · Pegasus and 1 more set
HIGH      A Safari visit involves the domain bun54l2b67.get1tn0w.free247downloads.com, named by
  ↪ a Pegasus indicator
          HomeDomain/Library/Safari/History.db history_visits row 104 · Pegasus and 1 more set
MEDIUM    Safari history was deleted around a suspected injected redirect
          HomeDomain/Library/Safari/History.db history_tombstones row 1, history_visits row 102
  ↪ · rule ios.safari_history.deleted_history

Report: vestige-bfbfbe35f555/report.html
Results: vestige-bfbfbe35f555 (findings.json, timeline.jsonl, records/, manifest.jsonl); -v
  ↪ prints each finding in full
"""


def summary(result: Result, folder: Path, console: Console | None = None, verbose: bool = False) -> str:
    console = console or Console(file=io.StringIO(), width=80, soft_wrap=True, emoji=False, highlight=False)
    render_summary(console, result, folder, verbose)
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def test_the_demo_summary_is_the_verdict_the_counts_and_one_entry_per_finding(
    demo_result: Result, tmp_path: Path
) -> None:
    (tmp_path / "report.html").write_text("")
    printed = summary(demo_result, tmp_path).replace(str(tmp_path), "/out")
    assert printed == DEMO_SUMMARY
    assert len(printed.splitlines()) == 24


def test_on_a_terminal_of_100_columns_the_demo_summary_fits_one_screen(
    demo_result: Result, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = Path("vestige-bfbfbe35f555")  # as a check names its folder by default
    folder.mkdir()
    (folder / "report.html").write_text("")
    printed = summary(demo_result, folder, terminal(100))
    assert printed == DEMO_SUMMARY_100_COLUMNS
    rows = printed.splitlines()
    # With the demo's own two lines (the sample's folder before, where to look after; two rows each at this
    # width), 40 rows: one screen.
    assert len(rows) == 36
    assert all(len(row) <= 100 for row in rows)


def test_without_a_report_the_summary_names_only_the_results(demo_result: Result, tmp_path: Path) -> None:
    printed = summary(demo_result, tmp_path)
    assert "report.html" not in printed
    assert printed.splitlines()[-1].startswith(f"Results: {tmp_path} (findings.json")


def test_verbose_prints_each_finding_in_full_with_its_caveats(demo_result: Result, tmp_path: Path) -> None:
    printed = summary(demo_result, tmp_path, verbose=True)
    deleted = next(f for f in demo_result.findings if f.rule == "ios.safari_history.deleted_history")
    assert f"  {deleted.explanation}\n" in printed
    assert all(f"  caveat {caveat}\n" in printed for caveat in deleted.caveats)
    assert len(deleted.caveats) >= 1
    assert printed.count("  indicator domain-name:value free247downloads.com Pegasus") == 4
    assert "-v prints" not in printed
    assert "2 critical findings: traces that match known Pegasus indicators\n" in printed


def finding(severity: Severity, *matches: IndicatorMatch, rule: str = "test.rule", **locator: Any) -> Finding:
    where = Locator(str(locator.pop("path", "a/b.db")), "0" * 64, **locator)
    return Finding(rule, severity, "a title", "why", ("an innocent reason",), (Evidence(where, "x"),), matches)


PEGASUS = IndicatorMatch("x.com", "domain-name:value", "Pegasus", "amnesty/pegasus.stix2", "1" * 64)
PREDATOR = IndicatorMatch("y.com", "domain-name:value", "Predator", "amnesty/cytrox.stix2", "2" * 64)
PLAIN = IndicatorMatch("x.com", "domain-name:value", "lists/domains.txt", "lists/domains.txt", "3" * 64)


def test_the_verdict_says_what_the_most_severe_findings_rest_on() -> None:
    assert verdict([]) == "No findings: nothing matched the indicator sets used, and no detector flagged anything"
    assert verdict([finding(Severity.INFO), finding(Severity.LOW), finding(Severity.INFO)]) == (
        "No finding at medium or above (1 low, 2 info)"
    )
    assert verdict([finding(Severity.HIGH, PEGASUS), finding(Severity.HIGH, PREDATOR, PEGASUS)]) == (
        "2 high findings: traces that match known Pegasus and Predator indicators"
    )
    assert verdict([finding(Severity.CRITICAL, PLAIN), finding(Severity.HIGH)]) == (
        "1 critical finding: traces that match known indicators"
    )
    assert verdict([finding(Severity.MEDIUM), finding(Severity.LOW, PEGASUS)]) == (
        "1 medium finding: traces that vestige's detectors flag with no indicator naming them"
    )
    assert verdict([finding(Severity.HIGH, PEGASUS), finding(Severity.HIGH)]) == (
        "2 high findings: traces that match known Pegasus indicators, and traces that vestige's detectors flag "
        "with no indicator naming them"
    )


def test_an_entry_names_every_kind_of_place_and_counts_what_it_leaves_out() -> None:
    packets = finding(Severity.HIGH, PLAIN, path="capture.pcapng", packet=7)
    assert evidence_places(packets) == "capture.pcapng packet 7"
    assert indicator_sets(packets) == "lists/domains.txt"
    rows = Finding(
        "r",
        Severity.HIGH,
        "t",
        "e",
        (),
        tuple(Evidence(Locator("a.db", None, "t", row=n), "") for n in range(1, 8))
        + tuple(Evidence(Locator(f"log{n}.txt", None, line=n, acquisition=1), "") for n in range(4)),
        (PEGASUS, PREDATOR, PLAIN),
    )
    assert evidence_places(rows) == (
        "a.db t rows 1, 2, 3, 4, 5 and 2 more; acquisition 1: log0.txt line 0; acquisition 1: log1.txt line 1; "
        "and 2 more files"
    )
    assert indicator_sets(rows) == "Pegasus, Predator and 1 more set"
    assert evidence_places(finding(Severity.LOW, key="ROWID = x'01'")) == "a/b.db key ROWID = x'01'"


def test_an_entry_shows_evidence_text_only_as_visible_escapes() -> None:
    hostile = Finding(
        "rule\x1b[2J",
        Severity.CRITICAL,
        "title \u202eevil[/] :skull:\nCRITICAL forged",
        "e",
        (),
        (Evidence(Locator("a\x1b]0;x\x07/[b]b.db", None, "t\u2028", row=1), ""),),
    )
    console = new_console()
    console.file = io.StringIO()
    render_entry(console, hostile)
    assert console.file.getvalue() == (
        "CRITICAL  title \\u202eevil[/] :skull:\\x0aCRITICAL forged\n"
        "          a\\x1b]0;x\\x07/[b]b.db t\\u2028 row 1 · rule rule\\x1b[2J\n"
    )


def test_the_summary_lists_ten_problems_and_counts_the_rest(demo_result: Result, tmp_path: Path) -> None:
    problems = [Problem("ios.sms", f"f{n}.db", f"reason {n}\x1b") for n in range(12)]
    result = dataclasses.replace(demo_result, findings=[], problems=problems)
    lines = summary(result, tmp_path).splitlines()
    assert lines[2:5] == [
        "No findings: nothing matched the indicator sets used, and no detector flagged anything",
        "critical 0 · high 0 · medium 0 · low 0 · info 0",
        "",
    ]
    assert lines[5:18] == [
        "12 problem(s): the run is incomplete",
        *(f"  ios.sms reason {n}\\x1b" for n in range(10)),
        "  and 2 more (findings.json lists them all)",
        "",
    ]
    assert lines[18] == f"Results: {tmp_path} (findings.json, timeline.jsonl, records/, manifest.jsonl)"
    assert len(lines) == 19
    assert summary(result, tmp_path, verbose=True).count("  ios.sms reason") == 12
