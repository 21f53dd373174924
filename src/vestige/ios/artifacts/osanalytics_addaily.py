"""Daily network-usage baseline, ``com.apple.osanalytics.addaily.plist`` (HomeDomain preferences).

The key ``netUsageBaseline`` maps a process or bundle name to ``[date, wifiIn, wifiOut, wwanIn,
wwanOut]`` (docs/ios-formats.md section 7). Names are checked against ``process:name`` indicators;
``BackupAgent`` is the Operation Triangulation rule of Kaspersky's triangle_check (``NetUsage``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from vestige.evidence.acquisition import IOS_BACKUP, Acquisition
from vestige.evidence.artifact import MatchPolicy, excerpt
from vestige.evidence.errors import UnexpectedFormatError
from vestige.evidence.plist import plain
from vestige.indicators.observables import process_observable
from vestige.ios.processes import TRIANGULATION_PROCESSES
from vestige.ios.timestamps import plist_date
from vestige.model import JSON, Evidence, Finding, IndicatorLookup, Locator, Observable, Record, Severity

NAME = "ios.osanalytics_addaily"
KINDS = (IOS_BACKUP,)
PATHS = (
    "HomeDomain/Library/Preferences/com.apple.osanalytics.addaily.plist",
    "private/var/mobile/Library/Preferences/com.apple.osanalytics.addaily.plist",
)
DESCRIPTION = "Per-process network usage baseline from com.apple.osanalytics.addaily.plist"
MATCHES = MatchPolicy(
    Severity.CRITICAL,
    "The daily network-usage baseline (osanalytics addaily)",
    ("Process names on spyware lists imitate system daemons; confirm the exact spelling.",),
)


def parse(acquisition: Acquisition, path: str) -> Iterator[Record]:
    sha256 = acquisition.file(path).sha256
    baseline = acquisition.plist(path).get("netUsageBaseline", {})
    if not isinstance(baseline, dict):
        raise UnexpectedFormatError(f"{path}: netUsageBaseline is not a dictionary")
    for name in sorted(baseline, key=str):
        values = baseline[name]
        values = values if isinstance(values, list) else [values]
        when = plist_date(values[0]) if values else None
        usage: list[JSON] = [v for v in values[1:5] if isinstance(v, int | float)]
        yield Record(
            artifact=NAME,
            locator=Locator(path, sha256, key=f"netUsageBaseline/{name}"),
            time=when,
            summary=f"Process {name!r} in the daily network-usage baseline",
            fields={"process": str(name), "values": plain(values), "usage": usage},
            observables=_process_observables(str(name)),
            time_kind="baseline date",
        )


def _process_observables(name: str) -> tuple[Observable, ...]:
    observable = process_observable(name)
    return () if observable is None else (observable,)


def detect(records: Iterable[Record], indicators: IndicatorLookup) -> Iterator[Finding]:
    for record in records:
        if record.fields.get("process") in TRIANGULATION_PROCESSES:
            yield Finding(
                rule="ios.osanalytics_addaily.backupagent_network_use",
                severity=Severity.HIGH,
                title="The BackupAgent process appears in the daily network-usage baseline",
                explanation=(
                    f"{record.locator.path} lists BackupAgent under netUsageBaseline. Kaspersky reported that "
                    "Operation Triangulation's implant used this name, a deprecated binary that should not use the "
                    "network on a normally used phone; its triangle_check tool treats it as a detection."
                ),
                caveats=("BackupAgent2, a different and legitimate process, is not matched; check the exact name.",),
                evidence=(Evidence(record.locator, excerpt(record.summary)),),
                time=record.time,
            )
