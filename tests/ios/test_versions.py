"""The shipped table of newest iOS releases and what counts as outdated."""

from __future__ import annotations

from vestige.ios.versions import parse_version, release_table


def test_the_table_is_dated_and_has_the_current_lines() -> None:
    table = release_table()
    assert table.as_of == "2026-11-28"
    assert table.latest_by_major == {27: (27, 2, 0), 26: (26, 7, 2), 18: (18, 7, 9)}


def test_outdated_reasons() -> None:
    table = release_table()
    assert table.outdated_reason("27.2") is None
    assert table.outdated_reason("28.0") is None
    assert (
        table.outdated_reason("26.7.1")
        == "iOS 26.7.1 is older than iOS 26.7.2, the newest release of its line as of 2026-11-28"
    )
    reason = table.outdated_reason("16.7.10")
    assert reason is not None and reason.startswith("iOS 16.7.10 belongs to a release line with no update")
    assert table.outdated_reason("beta") is None


def test_parse_version_pads_to_three_numbers() -> None:
    assert parse_version("17.5") == (17, 5, 0)
    assert parse_version("17.x") is None
