"""Per-process network usage, ``DataUsage.sqlite`` (WirelessDomain) and ``netusage.sqlite``.

Core Data stores (docs/ios-formats.md section 3): ``ZPROCESS(Z_PK, ZFIRSTTIMESTAMP, ZTIMESTAMP,
ZBUNDLENAME, ZPROCNAME)`` and ``ZLIVEUSAGE(Z_PK, ZHASPROCESS -> ZPROCESS.Z_PK, ZTIMESTAMP, ZWIFIIN,
ZWIFIOUT, ZWWANIN, ZWWANOUT, ...)``; times are Mac absolute seconds; ``ZPROCNAME`` is often
``process/bundle.id`` and truncated to 16 characters; ``Z_PRIMARYKEY.Z_MAX`` is the highest ``Z_PK``
handed out. Process names are checked against ``process:name`` indicators (critical).

Detectors (Amnesty methodology as implemented by MVT, and Kaspersky's triangle_check):
- a ``ZLIVEUSAGE`` row whose process row is missing: the process was removed while its usage stayed
  (high, "manipulated");
- gaps in ``ZPROCESS.Z_PK``, including rows above the last one up to ``Z_MAX``: deleted process rows
  (low);
- ``BackupAgent`` using the network: a deprecated binary that Operation Triangulation ran (high).
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from vestige.evidence.acquisition import Acquisition
from vestige.evidence.sqlite import Schema, Structure, Table
from vestige.evidence.values import SqlValue, as_int, text_of
from vestige.indicators.observables import app_id_observable, process_observable
from vestige.ios.acquisitions import IOS_BACKUP
from vestige.ios.processes import PROCESS_NAME_CAVEATS, TRIANGULATION_PROCESSES, backup_agent_finding
from vestige.ios.timestamps import from_mac_absolute
from vestige.model import Evidence, Finding, IndicatorLookup, Locator, Observable, Record, Severity
from vestige.platforms import MatchPolicy, excerpt

NAME = "ios.datausage"
VERSION = 2
PATHS = {
    IOS_BACKUP: (
        "WirelessDomain/Library/Databases/DataUsage.sqlite",
        "WirelessDomain/Library/Databases/DataUsage-watch.sqlite",
    ),
}
DESCRIPTION = "Processes that used the network, and their usage rows, from DataUsage.sqlite"
MATCHES = MatchPolicy(
    Severity.CRITICAL,
    "A process that used the network (DataUsage)",
    (
        "Process names are short and can be reused by legitimate software, though the names on spyware lists "
        "were chosen to imitate system daemons and are rare on clean phones.",
    ),
    PROCESS_NAME_CAVEATS,
)
CITED_EXAMPLES = 10

PROCESSES = Table("ZPROCESS", required=("Z_PK", "ZPROCNAME", "ZBUNDLENAME", "ZFIRSTTIMESTAMP", "ZTIMESTAMP"))
LIVE_USAGE = Table(
    "ZLIVEUSAGE",
    required=("Z_PK", "ZHASPROCESS", "ZTIMESTAMP"),
    optional=("ZWIFIIN", "ZWIFIOUT", "ZWWANIN", "ZWWANOUT"),
)
PRIMARY_KEYS = Table("Z_PRIMARYKEY", required=("Z_ENT", "Z_NAME", "Z_MAX"))
STRUCTURE = Structure(required=(PROCESSES, LIVE_USAGE), optional=(PRIMARY_KEYS,), writer="iOS")


@dataclass(frozen=True, slots=True)
class DataUsageProcess:
    """A ``ZPROCESS`` row: a process (or ``process/bundle.id``) that used the network."""

    pk: SqlValue
    process: SqlValue
    bundle: SqlValue
    first_timestamp: SqlValue
    timestamp: SqlValue


@dataclass(frozen=True, slots=True)
class DataUsageLiveUsage:
    """A ``ZLIVEUSAGE`` row, with whether the process row it points to exists."""

    pk: SqlValue
    process_pk: SqlValue
    process_present: bool
    process: SqlValue
    timestamp: SqlValue
    wifi_in: SqlValue
    wifi_out: SqlValue
    wwan_in: SqlValue
    wwan_out: SqlValue


@dataclass(frozen=True, slots=True)
class DataUsagePrimaryKey:
    """``Z_PRIMARYKEY.Z_MAX`` of the Process entity: the highest ``ZPROCESS`` key handed out."""

    entity: str
    z_max: SqlValue


def parse(acquisition: Acquisition, path: str) -> Iterator[Record]:
    sha256 = acquisition.file(path).sha256
    with acquisition.sqlite(path) as db:
        schema = STRUCTURE.read(db, path)
        yield from _processes(db, schema, path, sha256)
        yield from _live_usage(db, schema, path, sha256)
        if schema.has(PRIMARY_KEYS):
            yield from _primary_key_max(db, path, sha256)


def _processes(db: sqlite3.Connection, schema: Schema, path: str, sha256: str | None) -> Iterator[Record]:
    rows = db.execute(f"SELECT {schema.select(PROCESSES, '')} FROM ZPROCESS ORDER BY Z_PK")
    for pk, name, bundle, first, last in rows:
        yield Record(
            artifact=NAME,
            locator=Locator.of_row(path, sha256, "ZPROCESS", "Z_PK", pk),
            time=from_mac_absolute(first),
            summary=f"Process {name!r}" + (f" (bundle {bundle})" if bundle else "") + " first used the network",
            payload=DataUsageProcess(pk, name, bundle, first, last),
            observables=_process_observables(name, bundle),
            time_kind="first network use",
        )


def _process_observables(stored_name: object, stored_bundle: object) -> tuple[Observable, ...]:
    """The process name (``proc/bundle.id`` rows name the process before the slash) and bundle id, read
    as text even when stored as a BLOB."""
    found: list[Observable | None] = []
    name, bundle = text_of(stored_name), text_of(stored_bundle)
    if name:
        process, _, suffix = name.partition("/")
        found.append(process_observable(process))
        if suffix:
            found.append(app_id_observable(suffix))
    if bundle:
        found.append(app_id_observable(bundle))
    return tuple(dict.fromkeys(o for o in found if o is not None))


def _live_usage(db: sqlite3.Connection, schema: Schema, path: str, sha256: str | None) -> Iterator[Record]:
    rows = db.execute(
        f"SELECT {schema.select(LIVE_USAGE, 'u')}, p.Z_PK, p.ZPROCNAME "
        "FROM ZLIVEUSAGE u LEFT JOIN ZPROCESS p ON p.Z_PK = u.ZHASPROCESS ORDER BY u.Z_PK"
    )
    for pk, process_pk, timestamp, wifi_in, wifi_out, wwan_in, wwan_out, found_pk, name in rows:
        who = repr(name) if found_pk is not None else f"missing process row {process_pk}"
        yield Record(
            artifact=NAME,
            locator=Locator.of_row(path, sha256, "ZLIVEUSAGE", "Z_PK", pk),
            time=from_mac_absolute(timestamp),
            summary=f"Network usage by {who}: Wi-Fi in {wifi_in} out {wifi_out}, cellular in {wwan_in} out {wwan_out}",
            payload=DataUsageLiveUsage(
                pk, process_pk, found_pk is not None, name, timestamp, wifi_in, wifi_out, wwan_in, wwan_out
            ),
            time_kind="usage recorded",
        )


def _primary_key_max(db: sqlite3.Connection, path: str, sha256: str | None) -> Iterator[Record]:
    """The highest ZPROCESS key Core Data handed out, so deleted rows at the end can be seen too."""
    for ent, z_max in db.execute("SELECT Z_ENT, Z_MAX FROM Z_PRIMARYKEY WHERE Z_NAME = 'Process'"):
        yield Record(
            artifact=NAME,
            locator=Locator.of_row(path, sha256, "Z_PRIMARYKEY", "Z_ENT", ent),
            time=None,
            summary=f"Core Data has handed out ZPROCESS keys up to {z_max}",
            payload=DataUsagePrimaryKey("Process", z_max),
        )


def detect(records: Iterable[Record], indicators: IndicatorLookup) -> Iterator[Finding]:
    files: dict[str, _Store] = {}
    for record in records:
        store = files.setdefault(record.locator.path, _Store())
        store.observe(record)
    for path in sorted(files):
        yield from files[path].findings()


class _Store:
    """What the detectors keep of one store: process keys, orphaned usage rows, BackupAgent rows."""

    def __init__(self) -> None:
        self.process_keys: list[int] = []
        self.process_sha256: str | None = None
        self.path = ""
        self.z_max: int | None = None
        self.orphans: list[Record] = []
        self.orphan_count = 0
        self.triangulation: list[Record] = []

    def observe(self, record: Record) -> None:
        row = record.payload
        self.path, self.process_sha256 = record.locator.path, record.locator.sha256
        if isinstance(row, DataUsageProcess):
            pk = as_int(row.pk)
            if pk is not None:
                self.process_keys.append(pk)
            if text_of(row.process) in TRIANGULATION_PROCESSES:
                self.triangulation.append(record)
        elif isinstance(row, DataUsageLiveUsage):
            if not row.process_present and row.process_pk is not None:
                self.orphan_count += 1
                if len(self.orphans) < CITED_EXAMPLES:
                    self.orphans.append(record)
            if text_of(row.process) in TRIANGULATION_PROCESSES:
                self.triangulation.append(record)
        elif isinstance(row, DataUsagePrimaryKey) and as_int(row.z_max) is not None:
            self.z_max = as_int(row.z_max)

    def findings(self) -> Iterator[Finding]:
        if self.orphan_count:
            yield self._manipulated()
        yield from self._gaps()
        if self.triangulation:
            yield self._backup_agent()

    def _manipulated(self) -> Finding:
        keys = sorted(
            {r.payload.process_pk for r in self.orphans if isinstance(r.payload, DataUsageLiveUsage)}, key=str
        )
        return Finding(
            rule="ios.datausage.manipulated_process_entry",
            severity=Severity.HIGH,
            title=f"{self.orphan_count} network-usage rows point to process rows that no longer exist",
            explanation=(
                f"{self.path} has {self.orphan_count} ZLIVEUSAGE rows whose ZHASPROCESS refers to a ZPROCESS row "
                f"that is missing (process keys {', '.join(str(k) for k in keys)}; the first rows are cited). "
                "Removing a process row while its usage rows stay is how Pegasus was seen to hide its processes."
            ),
            caveats=(
                "iOS may prune process rows during database maintenance; compare with the gaps finding and the "
                "dates of the orphaned rows.",
            ),
            evidence=tuple(Evidence(r.locator, excerpt(r.summary)) for r in self.orphans),
            time=min((r.time for r in self.orphans if r.time), default=None),
        )

    def _gaps(self) -> Iterator[Finding]:
        keys = sorted(set(self.process_keys))
        if not keys:
            return
        upper = max(keys[-1], self.z_max or 0)
        ranges = missing_ranges(keys, upper)
        if not ranges:
            return
        missing = sum(b - a + 1 for a, b in ranges)
        shown = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges[:20])
        z_max = f"Core Data's Z_MAX is {self.z_max}" if self.z_max is not None else "Z_PRIMARYKEY gives no Z_MAX"
        yield Finding(
            rule="ios.datausage.missing_process_rows",
            severity=Severity.LOW,
            title=f"{missing} process rows are missing from the ZPROCESS key sequence",
            explanation=(
                f"{self.path}: ZPROCESS keys run from {keys[0]} to {upper} ({z_max}) but "
                f"{missing} are absent ({shown}{', ...' if len(ranges) > 20 else ''}): those rows were deleted."
            ),
            caveats=("iOS deletes process rows of uninstalled apps and during maintenance; gaps are common.",),
            evidence=(Evidence(Locator(self.path, self.process_sha256, table="ZPROCESS"), f"missing Z_PK {shown}"),),
        )

    def _backup_agent(self) -> Finding:
        return backup_agent_finding(
            "ios.datausage.backupagent_network_use",
            f"{self.path} records network use by a process named BackupAgent",
            self.triangulation,
        )


def missing_ranges(keys: list[int], upper: int) -> list[tuple[int, int]]:
    """The runs of integers absent from sorted, distinct ``keys`` between the first key and ``upper``;
    computed from neighbouring keys, so a corrupt Z_MAX of 2^63 costs nothing."""
    ranges = [(a + 1, b - 1) for a, b in itertools.pairwise(keys) if b - a > 1]
    if upper > keys[-1]:
        ranges.append((keys[-1] + 1, upper))
    return ranges
