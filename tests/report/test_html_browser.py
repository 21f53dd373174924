"""report.html in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright, which
never downloads a browser here. The demo's report loads with no console error and shows its verdict and
every finding; the filters show exact counts; the chart marks each dated finding; hostile evidence stays
text (no dialog opens); a report of 1,000,000 timeline events shows its first page within 3 seconds.
A screenshot of the demo's report is saved under ``$VESTIGE_REPORT_SCREENSHOTS`` (or the test's tmp dir).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from tests.report.test_html import hostile_folder
from tests.report.timelines import write_timeline_folder
from vestige.cli import main
from vestige.report.findings import read_findings
from vestige.report.html import write_report

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
MILLION = 1_000_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright; the test extra has it)")
    if not CHROMIUM.is_file():
        pytest.skip(f"no browser at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield chromium
        chromium.close()


class Opened:
    """A page with the errors and dialogs it met."""

    def __init__(self, browser: Browser) -> None:
        self.page: Page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("dialog", self._dialog)

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(message.text)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def open(self, report: Path) -> float:
        """Opens the report; returns the seconds until the first page of the timeline is drawn."""
        started = time.monotonic()
        self.page.goto(report.as_uri())
        self.page.wait_for_selector("#timeline-table tbody tr", timeout=30_000)
        return time.monotonic() - started


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("browser-demo") / "out"
    result = CliRunner().invoke(main, ["demo", "-o", str(out), "-j", "1"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def opened(browser: Browser) -> Iterator[Opened]:
    page = Opened(browser)
    yield page
    page.page.close()


def visible_count(page: Page) -> int:
    return int(page.locator("article.finding:visible").count())


def test_demo_report_loads_and_shows_every_finding(opened: Opened, demo: Path, tmp_path: Path) -> None:
    opened.open(demo / "report.html")
    page = opened.page
    assert opened.errors == []
    assert page.inner_text("#verdict-text") == "2 critical findings: traces that match known Pegasus indicators"
    document = read_findings((demo / "findings.json").read_bytes())
    titles = page.locator("article.finding h3.title bdi").all_inner_texts()
    assert sorted(titles) == sorted(f.title for f in document.findings)
    assert page.inner_text("#finding-count") == "Showing 10 of 10 findings"
    assert page.inner_text("#mode").startswith("This report hides personal data")
    folder = Path(os.environ.get("VESTIGE_REPORT_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    shot = folder / "demo-report.png"
    page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_filters_change_what_is_shown(opened: Opened, demo: Path) -> None:
    opened.open(demo / "report.html")
    page = opened.page
    page.select_option("#filter-rule", "ios.safari_history.indicator_match")
    assert (page.inner_text("#finding-count"), visible_count(page)) == ("Showing 2 of 10 findings", 2)
    assert page.locator("#stories").is_hidden()
    page.select_option("#filter-rule", "")
    page.select_option("#filter-artifact", "ios.safari_history")
    assert (page.inner_text("#finding-count"), visible_count(page)) == ("Showing 4 of 10 findings", 4)
    page.fill("#filter-text", "tombstone")
    assert (page.inner_text("#finding-count"), visible_count(page)) == ("Showing 1 of 10 findings", 1)
    assert page.locator("article.finding:visible h3.title bdi").inner_text() == (
        "Safari history was deleted around a suspected injected redirect"
    )
    page.emulate_media(media="print")  # printed, the report is whole: every finding, no filters
    assert (visible_count(page), page.locator("#filters").is_visible()) == (10, False)
    page.emulate_media(media="screen")
    assert visible_count(page) == 1
    page.select_option("#filter-artifact", "")
    page.fill("#filter-text", "BH")  # the two findings on 'bh', and the baseband story that links to one of them
    assert (page.inner_text("#finding-count"), visible_count(page)) == ("Showing 3 of 10 findings", 3)
    page.fill("#filter-text", "")
    assert (page.inner_text("#finding-count"), visible_count(page)) == ("Showing 10 of 10 findings", 10)
    assert opened.errors == []


def test_timeline_chart_and_pages(opened: Opened, demo: Path) -> None:
    opened.open(demo / "report.html")
    page = opened.page
    assert page.locator("#timeline-chart .mark").count() == 10
    assert page.locator("#timeline-chart .bar").count() == 32
    assert page.locator("#timeline-table tbody tr").count() == 100
    assert page.inner_text("#timeline-status") == "Events 1–100 of 122"
    page.click("#page-next")
    page.wait_for_selector('#timeline-table[data-page="2"]')
    assert page.locator("#timeline-table tbody tr").count() == 22
    assert page.inner_text("#timeline-status") == "Events 101–122 of 122"
    page.click("#page-first")
    page.wait_for_selector('#timeline-table[data-page="1"]')
    page.fill("#timeline-search", "free247downloads")
    page.locator("#timeline-status", has_text="matching").wait_for()
    rows = page.locator("#timeline-table tbody tr").count()
    assert page.inner_text("#timeline-status") == f"Events 1–{rows} of {rows} matching (of 122)"
    assert rows == 7  # 3 records (a web view, two visits) and the 4 findings on them
    findings = page.locator("#timeline-table tbody tr.is-finding").count()
    assert findings == 4
    last = page.locator("#timeline-chart .bar").last
    assert last.get_attribute("data-first") == "99"  # the last bin's first event: on page 1
    last.click()  # shows every event again, at the page holding the bin's first event
    page.wait_for_selector("#timeline-status:text-is('Events 1–100 of 122')")
    page.fill("#page-number", "2")
    page.press("#page-number", "Enter")
    page.wait_for_selector('#timeline-table[data-page="2"]')
    assert page.inner_text("#timeline-status") == "Events 101–122 of 122"
    assert opened.errors == []


def test_hostile_evidence_is_shown_as_text(opened: Opened, tmp_path: Path) -> None:
    hostile_folder(tmp_path / "out")
    opened.open(write_report(tmp_path / "out"))
    page = opened.page
    assert opened.dialogs == []
    assert opened.errors == []
    assert page.locator("table.evidence tbody td:last-child").inner_text() == "<script>alert(1)</script>"
    assert page.locator("ul.caveats li").inner_text() == "<img src=x onerror=alert(3)>"
    cells = page.locator("#timeline-table tbody tr td").all_inner_texts()
    assert cells == [
        "2024-05-14T09:12:41.000000Z",
        "test.hostile",
        "event time",
        "</script><script>alert(2)</script>",
        "a\\u202eb",
    ]
    assert page.locator("script").count() == 3


@pytest.fixture(scope="module")
def million(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_timeline_folder(tmp_path_factory.mktemp("million") / "out", MILLION)
    return write_report(folder)


def test_a_million_events_first_page_within_3_seconds(opened: Opened, million: Path) -> None:
    seconds = opened.open(million)
    page = opened.page
    assert seconds < 3.0
    assert page.inner_text("#timeline-status") == "Events 1–100 of 1,000,000"
    assert page.locator("#timeline-table tbody tr").count() == 100
    page.click("#page-last")
    page.wait_for_selector('#timeline-table[data-page="10000"]')
    assert page.inner_text("#timeline-status") == "Events 999,901–1,000,000 of 1,000,000"
    message, details = page.locator("#timeline-table tbody tr td").nth(3).inner_text().split("\n")
    assert message == "SMS received from [contact hidden: 15 characters]: [message text hidden: 20 characters]"
    assert details == "handle: [contact hidden: 15 characters] · text: [message text hidden: 20 characters] · urls: []"
    assert page.locator("#timeline-table tr").count() == 101
    assert opened.errors == []
