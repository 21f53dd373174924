"""iOS time bases: Mac absolute seconds, sms.db nanoseconds, Unix seconds; implausible values are None."""

from __future__ import annotations

from datetime import datetime, timezone

from vestige.ios.timestamps import from_mac_absolute, from_mac_absolute_auto, from_unix, plist_date


def test_mac_absolute_time_keeps_microseconds() -> None:
    assert from_mac_absolute(737370761.0024) == datetime(2024, 5, 14, 9, 12, 41, 2400, tzinfo=timezone.utc)


def test_sms_dates_in_nanoseconds_and_in_seconds() -> None:
    assert from_mac_absolute_auto(737370761_250000000) == datetime(2024, 5, 14, 9, 12, 41, 250000, tzinfo=timezone.utc)
    assert from_mac_absolute_auto(500000000) == datetime(2016, 11, 5, 0, 53, 20, tzinfo=timezone.utc)
    assert from_mac_absolute_auto(0) is None


def test_implausible_or_wrong_typed_values_give_none() -> None:
    assert from_unix(-5) is None
    assert from_unix(1e13) is None
    assert from_mac_absolute(None) is None
    assert from_mac_absolute(True) is None
    for special in (float("nan"), float("inf"), float("-inf")):
        assert (from_unix(special), from_mac_absolute(special), from_mac_absolute_auto(special)) == (None, None, None)
    assert from_mac_absolute_auto(2**80) is None
    assert from_unix(1715677961) == datetime(2024, 5, 14, 9, 12, 41, tzinfo=timezone.utc)


def test_plist_dates_are_utc() -> None:
    assert plist_date(datetime(2024, 5, 20, 18, 30)) == datetime(2024, 5, 20, 18, 30, tzinfo=timezone.utc)
    assert plist_date("2024") is None
