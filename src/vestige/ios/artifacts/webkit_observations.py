"""WebKit resource-load statistics, ``observations.db`` (Safari and every app's web views).

``ObservedDomains(domainID, registrableDomain, lastSeen, hadUserInteraction, ...)`` lists every
site a WebKit view loaded, with ``lastSeen`` in Unix seconds; ``TopFrameUniqueRedirectsTo`` and
``TopFrameUniqueRedirectsFrom`` record top-frame redirects between them (WebKit
``ResourceLoadStatisticsStore.cpp``; docs/ios-formats.md section 5). The file sits at
``Library/WebKit/WebsiteData/ResourceLoadStatistics/observations.db`` in any app domain, which is
how a link opened inside an app (the Omar Radi case) leaves a trace outside Safari's history.
Registrable domains are checked against domain indicators.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator

from vestige.evidence.acquisition import IOS_BACKUP, Acquisition
from vestige.evidence.artifact import MatchPolicy
from vestige.evidence.sqlite import require_tables, table_columns
from vestige.indicators.observables import domain_observable
from vestige.ios.timestamps import from_unix
from vestige.model import Finding, IndicatorLookup, Locator, Observable, Record, Severity

NAME = "ios.webkit_observations"
KINDS = (IOS_BACKUP,)
PATHS = ("*/Library/WebKit/WebsiteData/ResourceLoadStatistics/observations.db",)
DESCRIPTION = "Sites loaded by WebKit views (Safari and in-app browsers) from observations.db"
MATCHES = MatchPolicy(
    Severity.HIGH,
    "A site loaded by a web view (WebKit resource-load statistics)",
    ("A site is recorded when any page element loads from it, which can happen without the user choosing it.",),
)
REDIRECT_TABLES = (
    ("TopFrameUniqueRedirectsTo", "sourceDomainID", "toDomainID"),
    ("TopFrameUniqueRedirectsFrom", "fromDomainID", "targetDomainID"),
)


def parse(acquisition: Acquisition, path: str) -> Iterator[Record]:
    sha256 = acquisition.file(path).sha256
    app = path.split("/", 1)[0]
    with acquisition.sqlite(path) as db:
        require_tables(db, path, "ObservedDomains")
        domains: dict[int, str] = {}
        rows = db.execute(
            "SELECT domainID, registrableDomain, lastSeen, hadUserInteraction FROM ObservedDomains ORDER BY domainID"
        )
        for domain_id, domain, last_seen, interaction in rows:
            domains[domain_id] = str(domain)
            yield Record(
                artifact=NAME,
                locator=Locator(path, sha256, table="ObservedDomains", row=domain_id),
                time=from_unix(last_seen),
                summary=f"{app} loaded content from {domain}" + (" with user interaction" if interaction else ""),
                fields={
                    "kind": "observed_domain",
                    "app_domain": app,
                    "domain_id": domain_id,
                    "registrable_domain": domain,
                    "last_seen": last_seen,
                    "had_user_interaction": bool(interaction),
                },
                observables=_domain_observables(str(domain)),
                time_kind="last seen",
            )
        yield from _redirects(db, path, sha256, app, domains)


def _redirects(
    db: sqlite3.Connection, path: str, sha256: str | None, app: str, domains: dict[int, str]
) -> Iterator[Record]:
    for table, source_column, target_column in REDIRECT_TABLES:
        if not {source_column, target_column} <= table_columns(db, table):
            continue
        rows = db.execute(f"SELECT rowid, {source_column}, {target_column} FROM {table} ORDER BY rowid")
        for rowid, source, target in rows:
            source_domain, target_domain = domains.get(source), domains.get(target)
            observables: list[Observable] = []
            for domain in (source_domain, target_domain):
                if domain:
                    observables.extend(_domain_observables(domain))
            yield Record(
                artifact=NAME,
                locator=Locator(path, sha256, table=table, row=rowid),
                time=None,
                summary=f"{app}: a top-frame redirect from {source_domain} to {target_domain}",
                fields={"kind": "redirect", "table": table, "from": source_domain, "to": target_domain},
                observables=tuple(dict.fromkeys(observables)),
            )


def _domain_observables(domain: str) -> tuple[Observable, ...]:
    observable = domain_observable(domain)
    return () if observable is None else (observable,)


def detect(records: Iterable[Record], indicators: IndicatorLookup) -> Iterator[Finding]:
    """No heuristics of its own: indicator matches are all this artifact reports."""
    for _ in records:
        pass
    yield from ()
