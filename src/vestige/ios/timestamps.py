"""Time bases used by iOS databases and plists, converted to aware UTC datetimes.

- Mac absolute time (Core Data, Safari ``visit_time``, DataUsage ``ZTIMESTAMP``): seconds since
  2001-01-01 00:00:00 UTC, often a double with sub-millisecond precision.
- ``sms.db`` ``message.date`` since iOS 11: nanoseconds since 2001-01-01 UTC (earlier: seconds).
- Unix time (Manifest.db ``MBFile`` times): seconds since 1970-01-01 UTC.

Values outside the range a phone can produce (before 2000 or after 2100) give None rather than a
misleading date.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import TypeGuard

MAC_EPOCH = datetime(2001, 1, 1, tzinfo=timezone.utc)
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
_LATEST = datetime(2100, 1, 1, tzinfo=timezone.utc)
_NANOSECONDS_THRESHOLD = 10**11


def _plausible(moment: datetime) -> datetime | None:
    return moment if _EARLIEST <= moment < _LATEST else None


def _number(value: object) -> TypeGuard[int | float]:
    """A finite int or float: what a time column holds when it holds a time (NaN comes from plists)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def from_mac_absolute(seconds: object) -> datetime | None:
    """Mac absolute time in seconds (a float keeps microseconds)."""
    if not _number(seconds):
        return None
    try:
        return _plausible(MAC_EPOCH + timedelta(seconds=seconds))
    except OverflowError:
        return None


def from_mac_absolute_auto(value: object) -> datetime | None:
    """``sms.db`` dates: nanoseconds since 2001 on iOS 11 and later, seconds before."""
    if not _number(value) or value == 0:
        return None
    if abs(value) > _NANOSECONDS_THRESHOLD:
        whole, nanos = divmod(int(value), 1_000_000_000)
        return from_mac_absolute(whole + nanos / 1e9)
    return from_mac_absolute(value)


_UNIX_EARLIEST = _EARLIEST.timestamp()
_UNIX_LATEST = _LATEST.timestamp()


def from_unix(seconds: object) -> datetime | None:
    if not _number(seconds):
        return None
    if not _UNIX_EARLIEST <= seconds < _UNIX_LATEST:
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def plist_date(value: object) -> datetime | None:
    """A plist ``date`` (plistlib gives a naive datetime that is in UTC); None for anything else."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return None


_DAYS: dict[int, str] = {}


def unix_time_text(seconds: int) -> str | None:
    """Whole Unix seconds as the ISO 8601 text of ``model.format_time``, fast (Manifest.db has one per
    time per file); None when implausible like ``from_unix``."""
    if not _UNIX_EARLIEST <= seconds < _UNIX_LATEST:
        return None
    day, rest = divmod(seconds, 86_400)
    date = _DAYS.get(day)
    if date is None:
        date = datetime.fromtimestamp(day * 86_400, tz=timezone.utc).date().isoformat()
        if len(_DAYS) < 65_536:
            _DAYS[day] = date
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    return f"{date}T{hours:02d}:{minutes:02d}:{secs:02d}.000000Z"
