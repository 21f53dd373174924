"""The newest iOS releases known to this version of vestige, to flag an outdated iOS offline.

The table is data (``ios/data/ios_versions.json``) with the date it was checked and its sources, so
that a finding can say exactly what it compared against; refresh it with each vestige release.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class ReleaseTable:
    as_of: str
    latest_by_major: dict[int, tuple[int, ...]]

    def newest(self) -> tuple[int, ...]:
        return max(self.latest_by_major.values())

    def outdated_reason(self, version: str) -> str | None:
        """Why ``version`` is outdated, or None when it is the newest release of a line in the table."""
        parsed = parse_version(version)
        if parsed is None:
            return None
        known = ", ".join(show(v) for v in sorted(self.latest_by_major.values(), reverse=True))
        latest = self.latest_by_major.get(parsed[0])
        if latest is None:
            if parsed > self.newest():
                return None
            return (
                f"iOS {version} belongs to a release line with no update among the newest releases known "
                f"to vestige as of {self.as_of} ({known})"
            )
        if parsed < latest:
            return f"iOS {version} is older than iOS {show(latest)}, the newest release of its line as of {self.as_of}"
        return None


def parse_version(text: str) -> tuple[int, ...] | None:
    parts = text.strip().split(".")
    if not parts or not all(p.isdigit() for p in parts):
        return None
    numbers = [int(p) for p in parts]
    while len(numbers) < 3:
        numbers.append(0)
    return tuple(numbers)


def show(version: tuple[int, ...]) -> str:
    trimmed = list(version)
    while len(trimmed) > 2 and trimmed[-1] == 0:
        trimmed.pop()
    return ".".join(str(n) for n in trimmed)


@cache
def release_table() -> ReleaseTable:
    raw = json.loads(resources.files("vestige.ios").joinpath("data/ios_versions.json").read_text("utf-8"))
    latest: dict[int, tuple[int, ...]] = {}
    for major, version in raw["latest_by_major"].items():
        parsed = parse_version(version)
        if parsed is not None:
            latest[int(major)] = parsed
    return ReleaseTable(as_of=str(raw["as_of"]), latest_by_major=latest)
