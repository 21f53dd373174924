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
from dataclasses import dataclass

from vestige.evidence.acquisition import Acquisition
from vestige.evidence.sqlite import Schema, Structure, Table
from vestige.evidence.values import SqlValue, as_flag, text_of
from vestige.indicators.observables import domain_observable
from vestige.ios.acquisitions import IOS_BACKUP
from vestige.ios.timestamps import from_unix
from vestige.model import Finding, IndicatorLookup, Locator, Observable, Record, Severity
from vestige.platforms import MatchPolicy

NAME = "ios.webkit_observations"
VERSION = 2
PATHS = {IOS_BACKUP: ("*/Library/WebKit/WebsiteData/ResourceLoadStatistics/observations.db",)}
DESCRIPTION = "Sites loaded by WebKit views (Safari and in-app browsers) from observations.db"
MATCHES = MatchPolicy(
    Severity.HIGH,
    "A site loaded by a web view (WebKit resource-load statistics)",
    ("A site is recorded when any page element loads from it, which can happen without the user choosing it.",),
)
DOMAINS = Table("ObservedDomains", required=("domainID", "registrableDomain", "lastSeen", "hadUserInteraction"))
REDIRECTS_TO = Table("TopFrameUniqueRedirectsTo", required=("sourceDomainID", "toDomainID"))
REDIRECTS_FROM = Table("TopFrameUniqueRedirectsFrom", required=("fromDomainID", "targetDomainID"))
STRUCTURE = Structure(required=(DOMAINS,), optional=(REDIRECTS_TO, REDIRECTS_FROM), writer="iOS")


@dataclass(frozen=True, slots=True)
class ObservedDomain:
    """A row of ``ObservedDomains``: a site a WebKit view of this app loaded."""

    app_domain: str
    domain_id: SqlValue
    registrable_domain: str
    last_seen: SqlValue
    had_user_interaction: bool


@dataclass(frozen=True, slots=True)
class TopFrameRedirect:
    """A top-frame redirect between two observed sites (``from_domain``/``to_domain`` None when the
    row names a site that is not in ``ObservedDomains``)."""

    table: str
    from_domain: str | None
    to_domain: str | None


def parse(acquisition: Acquisition, path: str) -> Iterator[Record]:
    sha256 = acquisition.file(path).sha256
    app = path.split("/", 1)[0]
    with acquisition.sqlite(path) as db:
        schema = STRUCTURE.read(db, path)
        domains: dict[object, str] = {}
        rows = db.execute(f"SELECT {schema.select(DOMAINS, '')} FROM ObservedDomains ORDER BY domainID")
        for domain_id, stored, last_seen, interaction in rows:
            domain = text_of(stored) or ""  # a domain stored as a BLOB is still the text WebKit reads
            domains[domain_id] = domain
            yield Record(
                artifact=NAME,
                locator=Locator.of_row(path, sha256, "ObservedDomains", "domainID", domain_id),
                time=from_unix(last_seen),
                summary=f"{app} loaded content from {domain}"
                + (" with user interaction" if as_flag(interaction) else ""),
                payload=ObservedDomain(app, domain_id, domain, last_seen, as_flag(interaction)),
                observables=_domain_observables(domain),
                time_kind="last seen",
            )
        for table in (REDIRECTS_TO, REDIRECTS_FROM):
            if schema.has(table):
                yield from _redirects(db, schema, table, path, sha256, app, domains)


def _redirects(
    db: sqlite3.Connection,
    schema: Schema,
    table: Table,
    path: str,
    sha256: str | None,
    app: str,
    domains: dict[object, str],
) -> Iterator[Record]:
    rows = db.execute(f"SELECT rowid, {schema.select(table, '')} FROM {table.name} ORDER BY rowid")
    for rowid, source, target in rows:
        source_domain, target_domain = domains.get(source), domains.get(target)
        observables: list[Observable] = []
        for domain in (source_domain, target_domain):
            if domain:
                observables.extend(_domain_observables(domain))
        yield Record(
            artifact=NAME,
            locator=Locator.of_row(path, sha256, table.name, "rowid", rowid),
            time=None,
            summary=f"{app}: a top-frame redirect from {source_domain} to {target_domain}",
            payload=TopFrameRedirect(table.name, source_domain, target_domain),
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
