"""Daily network-usage baseline, ``com.apple.osanalytics.addaily.plist`` (HomeDomain preferences).

The key ``netUsageBaseline`` maps a process or bundle name to ``[date, wifiIn, wifiOut, wwanIn,
wwanOut]`` (docs/ios-formats.md section 7). Names are checked against ``process:name`` indicators;
``BackupAgent`` is the Operation Triangulation rule of Kaspersky's triangle_check (``NetUsage``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from vestige.evidence.acquisition import Acquisition
from vestige.evidence.errors import UnexpectedFormatError
from vestige.evidence.plist import plain, plist_text
from vestige.indicators.observables import process_observable
from vestige.ios.acquisitions import IOS_BACKUP
from vestige.ios.processes import PROCESS_NAME_CAVEATS, TRIANGULATION_PROCESSES, backup_agent_finding
from vestige.ios.timestamps import plist_date
from vestige.model import JSON, Finding, IndicatorLookup, Locator, Observable, Record, Severity
from vestige.platforms import MatchPolicy

NAME = "ios.osanalytics_addaily"
VERSION = 2
PATHS = {IOS_BACKUP: ("HomeDomain/Library/Preferences/com.apple.osanalytics.addaily.plist",)}
DESCRIPTION = "Per-process network usage baseline from com.apple.osanalytics.addaily.plist"
MATCHES = MatchPolicy(
    Severity.CRITICAL,
    "The daily network-usage baseline (osanalytics addaily)",
    ("Process names on spyware lists imitate system daemons; confirm the exact spelling.",),
    PROCESS_NAME_CAVEATS,
)


@dataclass(frozen=True, slots=True)
class BaselineProcess:
    """One process of ``netUsageBaseline``: its name, the values as stored and the usage numbers."""

    process: str
    values: JSON
    usage: tuple[int | float, ...]


def parse(acquisition: Acquisition, path: str) -> Iterator[Record]:
    sha256 = acquisition.file(path).sha256
    baseline = acquisition.plist(path).get("netUsageBaseline", {})
    if not isinstance(baseline, dict):
        raise UnexpectedFormatError(f"{path}: netUsageBaseline is not a dictionary")
    for key in sorted(baseline, key=plist_text):
        values = baseline[key]
        values = values if isinstance(values, list) else [values]
        when = plist_date(values[0]) if values else None
        usage = tuple(v for v in values[1:5] if isinstance(v, int | float))
        name = plist_text(key)
        yield Record(
            artifact=NAME,
            locator=Locator(path, sha256, key=f"netUsageBaseline/{name}"),
            time=when,
            summary=f"Process {name!r} in the daily network-usage baseline",
            payload=BaselineProcess(name, plain(values), usage),
            observables=_process_observables(name),
            time_kind="baseline date",
        )


def _process_observables(name: str) -> tuple[Observable, ...]:
    observable = process_observable(name)
    return () if observable is None else (observable,)


def detect(records: Iterable[Record], indicators: IndicatorLookup) -> Iterator[Finding]:
    triangulation = [
        r for r in records if isinstance(r.payload, BaselineProcess) and r.payload.process in TRIANGULATION_PROCESSES
    ]
    for path in sorted({r.locator.path for r in triangulation}):
        yield backup_agent_finding(
            "ios.osanalytics_addaily.backupagent_network_use",
            f"{path} lists BackupAgent under netUsageBaseline",
            [r for r in triangulation if r.locator.path == path],
        )
