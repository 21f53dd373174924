"""Safari browsing history, ``History.db`` (iOS 13 and later; per-profile copies from iOS 17).

Tables (SafariShared ``WBSHistorySQLiteSchema``, schema 16 on iOS 26.1; docs/ios-formats.md
section 2): ``history_items(id, url, ...)``, ``history_visits(id, history_item, visit_time, title,
load_successful, redirect_source, redirect_destination, origin, ...)`` where ``visit_time`` is Mac
absolute time in seconds as a double, and a redirect chain is a linked list (``redirect_destination``
of one visit is the ``id`` of the next); ``history_tombstones(start_time, end_time, url)`` records
deleted history (``url`` is encrypted from schema 8).

Detectors (facts in docs/ios-formats.md section 2.4):
- D1 (medium): a chain whose head is an ``http://`` visit reaches another site (registrable domain,
  Public Suffix List shipped offline). The chain is Safari's linked list of redirect visits, walked to
  its end; its cross-site hop must be stamped within 1000 ms of the head. That bound only says which
  visits form one chain: Safari stamps a redirect's destination within about a millisecond of its
  source whatever the network did (0.2 to 0.4 ms for every redirect of a real, benign history), so
  speed is never evidence here.
- D2 (high): D1 and a trait of where the chain led: a host with two or more random-looking labels,
  an explicit port other than 443/8443 (80/8080 for http), a single-token path visited again with
  ``#`` and 20 or more digits within 60 s, or an indicator naming the URL or host of any hop. That
  the destination host appears in no other visit is stated as corroboration and never decides: it
  is also true of many one-off benign redirects (a typo domain's hop to the real site).
- Deleted history: each tombstone is an info finding; low when it covers the time of a D1 redirect
  and medium near a D2 one (within 10 minutes), as Amnesty found logs wiped seconds after an
  injection.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from vestige.evidence.acquisition import Acquisition
from vestige.evidence.sqlite import Schema, Structure, Table
from vestige.evidence.values import SqlValue, as_float, as_int, text_of
from vestige.indicators.observables import observables_from_url, registrable_domain
from vestige.ios.acquisitions import IOS_BACKUP
from vestige.ios.timestamps import from_mac_absolute
from vestige.model import (
    Evidence,
    Finding,
    IndicatorLookup,
    IndicatorMatch,
    Locator,
    Observable,
    ObservableKind,
    Record,
    Severity,
    format_time,
)
from vestige.platforms import MatchPolicy, excerpt

NAME = "ios.safari_history"
VERSION = 2
PATHS = {
    IOS_BACKUP: (
        "HomeDomain/Library/Safari/History.db",
        "HomeDomain/Library/Safari/Profiles/*/History.db",
        "AppDomain-com.apple.mobilesafari/Library/Safari/History.db",
    ),
}
DESCRIPTION = "Safari visits, redirect chains and deleted-history tombstones from History.db"
MATCHES = MatchPolicy(
    Severity.HIGH,
    "A Safari visit",
    ("The visit may have been a redirect the user did not choose; see any redirect finding at the same time.",),
)

REDIRECT_RULES = ("ios.safari_history.injected_redirect", "ios.safari_history.cross_site_http_redirect")
"""The rules of D2 and D1: a cross-site redirect of an ``http://`` visit, with and without destination traits."""
CHAIN_WINDOW_MS = 1000.0
FOLLOW_UP_SECONDS = 60.0
TOMBSTONE_WINDOW_SECONDS = 600.0
ORDINARY_PORTS = {"https": {443, 8443}, "http": {80, 8080}}
_TOKEN_PATH = re.compile(r"/[A-Za-z0-9]{4,16}")
_DIGIT_FRAGMENT = re.compile(r"[0-9]{20,}")
_RANDOM_LABEL = re.compile(r"(?=[a-z0-9]*[0-9])(?=[a-z0-9]*[a-z])[a-z0-9]{8,16}")

ITEMS = Table("history_items", required=("id", "url"))
VISITS = Table(
    "history_visits",
    required=("id", "history_item", "visit_time", "redirect_source", "redirect_destination"),
    optional=("title", "load_successful", "http_non_get", "synthesized", "origin"),
)
TOMBSTONES = Table("history_tombstones", required=("id", "start_time", "end_time", "url"))
STRUCTURE = Structure(required=(ITEMS, VISITS), optional=(TOMBSTONES,), writer="iOS")


@dataclass(frozen=True, slots=True)
class SafariVisit:
    """A row of ``history_visits`` with its item's URL (columns as stored)."""

    visit_id: SqlValue
    history_item: SqlValue
    url: str | None
    visit_time: SqlValue
    redirect_source: SqlValue
    redirect_destination: SqlValue
    title: SqlValue
    load_successful: SqlValue
    http_non_get: SqlValue
    synthesized: SqlValue
    origin: SqlValue


@dataclass(frozen=True, slots=True)
class SafariTombstone:
    """A row of ``history_tombstones``: a period of deleted history (``url`` shown, or described when
    encrypted)."""

    start_time: SqlValue
    end_time: SqlValue
    url: str | None


def parse(acquisition: Acquisition, path: str) -> Iterator[Record]:
    sha256 = acquisition.file(path).sha256
    with acquisition.sqlite(path) as db:
        schema = STRUCTURE.read(db, path)
        yield from _visits(db, schema, path, sha256)
        if schema.has(TOMBSTONES):
            yield from _tombstones(db, schema, path, sha256)


def _visits(db: sqlite3.Connection, schema: Schema, path: str, sha256: str | None) -> Iterator[Record]:
    rows = db.execute(
        f"SELECT {schema.select(VISITS, 'v')}, i.url FROM history_visits v "
        "LEFT JOIN history_items i ON i.id = v.history_item ORDER BY v.visit_time, v.id"
    )
    for visit_id, item, visit_time, source, destination, title, loaded, non_get, synthesized, origin, url in rows:
        url = text_of(url)  # a URL stored as a BLOB is still the text Safari shows
        yield Record(
            artifact=NAME,
            locator=Locator.of_row(path, sha256, "history_visits", "id", visit_id),
            time=from_mac_absolute(visit_time),
            summary=f"Safari visit to {url or '(missing history item)'}",
            payload=SafariVisit(
                visit_id, item, url, visit_time, source, destination, title, loaded, non_get, synthesized, origin
            ),
            observables=_url_observables(url) if url else (),
            time_kind="visit time",
        )


@functools.lru_cache(maxsize=8192)
def _url_observables(url: str) -> tuple[Observable, ...]:
    """Visits repeat their history item's URL: each distinct URL is normalised once."""
    return observables_from_url(url)


def _tombstones(db: sqlite3.Connection, schema: Schema, path: str, sha256: str | None) -> Iterator[Record]:
    for row_id, start, end, url in db.execute(
        f"SELECT {schema.select(TOMBSTONES, '')} FROM history_tombstones ORDER BY start_time, id"
    ):
        shown = url if isinstance(url, str) else (f"encrypted ({len(url)} bytes)" if isinstance(url, bytes) else None)
        yield Record(
            artifact=NAME,
            locator=Locator.of_row(path, sha256, "history_tombstones", "id", row_id),
            time=from_mac_absolute(end),
            summary=(
                f"Safari history deleted for {format_time(from_mac_absolute(start))} to "
                f"{format_time(from_mac_absolute(end))}" + (f" ({shown})" if shown else "")
            ),
            payload=SafariTombstone(start, end, shown),
            observables=observables_from_url(url) if isinstance(url, str) and "://" in url else (),
            time_kind="history deletion",
        )


@dataclass(frozen=True, slots=True)
class _Visit:
    id: int
    url: str
    seconds: float
    source: int | None
    destination: int | None
    record: Record


@dataclass
class _History:
    """What the detectors keep of one History.db: visits in redirect chains, follow-ups, tombstones,
    and how many visits went to each host (to tell a destination seen only once)."""

    chained: dict[int, _Visit] = field(default_factory=dict)
    follow_ups: dict[str, list[_Visit]] = field(default_factory=lambda: defaultdict(list))
    tombstones: list[Record] = field(default_factory=list)
    hosts: Counter[str] = field(default_factory=Counter)


def detect(records: Iterable[Record], indicators: IndicatorLookup) -> Iterator[Finding]:
    histories: dict[str, _History] = defaultdict(_History)
    for record in records:
        history = histories[record.locator.path]
        if isinstance(record.payload, SafariTombstone):
            history.tombstones.append(record)
            continue
        visit = _as_visit(record)
        if visit is None:
            continue
        host = _visit_host(record)
        if host is not None:
            history.hosts[host] += 1
        if visit.source is not None or visit.destination is not None:
            history.chained[visit.id] = visit
        base, _, fragment = visit.url.partition("#")
        if _DIGIT_FRAGMENT.fullmatch(fragment):
            history.follow_ups[base].append(visit)
    for path in sorted(histories):
        yield from _history_findings(histories[path], indicators)


def _as_visit(record: Record) -> _Visit | None:
    visit = record.payload
    if not isinstance(visit, SafariVisit):
        return None
    visit_id, seconds = as_int(visit.visit_id), as_float(visit.visit_time)
    if visit.url is None or seconds is None or visit_id is None:
        return None
    return _Visit(
        visit_id, visit.url, seconds, as_int(visit.redirect_source), as_int(visit.redirect_destination), record
    )


def _history_findings(history: _History, indicators: IndicatorLookup) -> Iterator[Finding]:
    redirects: list[Finding] = []
    for head in sorted(history.chained.values(), key=lambda v: (v.seconds, v.id)):
        if head.destination is None or (head.source is not None and head.source in history.chained):
            continue
        finding = _cross_site_redirect(_chain(head, history.chained), history, indicators)
        if finding is not None:
            redirects.append(finding)
    yield from redirects
    for tombstone in history.tombstones:
        yield _deleted_history(tombstone, redirects)


def _chain(head: _Visit, chained: dict[int, _Visit]) -> list[_Visit]:
    chain = [head]
    seen = {head.id}
    while chain[-1].destination is not None and chain[-1].destination in chained and len(chain) < 32:
        nxt = chained[chain[-1].destination]
        if nxt.id in seen:
            break
        seen.add(nxt.id)
        chain.append(nxt)
    return chain


@dataclass(frozen=True, slots=True)
class _Hop:
    scheme: str
    host: str
    port: int | None
    path: str
    site: str


def _visit_host(record: Record) -> str | None:
    """The host of a visit as its observables normalise it (already computed for the index)."""
    for observable in record.observables:
        if observable.kind is ObservableKind.DOMAIN or observable.kind is ObservableKind.IP:
            return observable.value
    return None


def _first_on(chain: list[_Visit], hop: _Hop) -> int:
    """The position in the chain of the first visit to ``hop``'s host."""
    return next(i for i, v in enumerate(chain) if (h := _hop(v.url)) is not None and h.host == hop.host)


@functools.lru_cache(maxsize=8192)
def _hop(url: str) -> _Hop | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return None
    return _Hop(parts.scheme.lower(), host, port, parts.path, registrable_domain(host) or host)


def _same_site(a: str, b: str) -> bool:
    """Same registrable domain, or the same brand under two suffixes (yahoo.fr and yahoo.com)."""
    return a == b or a.split(".", 1)[0] == b.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class _Trait:
    """Something about where a chain led that marks an injected redirect, with what it cites."""

    text: str
    cites: Record | None = None
    indicators: tuple[IndicatorMatch, ...] = ()


def _cross_site_redirect(chain: list[_Visit], history: _History, indicators: IndicatorLookup) -> Finding | None:
    """D1 for a chain whose ``http://`` head leads to another site, raised to D2 by destination traits."""
    hops = [_hop(v.url) for v in chain]
    head = hops[0]
    if head is None or head.scheme != "http":
        return None
    crossing = next(
        (i for i in range(1, len(chain)) if (h := hops[i]) is not None and not _same_site(head.site, h.site)), None
    )
    if crossing is None:
        return None
    hop = hops[crossing]
    assert hop is not None
    delta_ms = (chain[crossing].seconds - chain[0].seconds) * 1000.0
    if not -CHAIN_WINDOW_MS < delta_ms < CHAIN_WINDOW_MS:
        return None
    tail = [(v, h) for v, h in zip(chain[crossing:], hops[crossing:], strict=True) if h is not None]
    traits = _destination_traits(tail, history.follow_ups) + _indicator_traits(chain, indicators)
    return _redirect_finding(chain, hop, delta_ms, traits, _seen_only_here(chain, hop, history))


def _destination_traits(tail: list[tuple[_Visit, _Hop]], follow_ups: dict[str, list[_Visit]]) -> list[_Trait]:
    """The D2 traits of the hops from the first cross-site one on: where the chain led, not how fast."""
    traits: list[_Trait] = []
    for visit, hop in tail:
        extra_labels = hop.host.removesuffix(hop.site).rstrip(".").split(".") if hop.host != hop.site else []
        random_labels = [label for label in extra_labels if _RANDOM_LABEL.fullmatch(label)]
        if len(random_labels) >= 2:
            traits.append(_Trait(f"the host {hop.host} has random-looking labels ({', '.join(random_labels)})"))
        if hop.port is not None and hop.port not in ORDINARY_PORTS.get(hop.scheme, set()):
            traits.append(_Trait(f"the URL {visit.url} uses the unusual port {hop.port}"))
        if _TOKEN_PATH.fullmatch(hop.path):
            base = visit.url.partition("#")[0]
            for later in follow_ups.get(base, []):
                gap = later.seconds - visit.seconds
                if 0 <= gap <= FOLLOW_UP_SECONDS:
                    text = f"the same URL was visited again {gap:.1f} s later with a long numeric fragment"
                    traits.append(_Trait(text, later.record))
                    break
    return traits


def _indicator_traits(chain: list[_Visit], indicators: IndicatorLookup) -> list[_Trait]:
    """Hops whose URL or host an indicator names (each visit is also reported as an indicator match)."""
    traits: list[_Trait] = []
    for visit in chain:
        for observable in visit.record.observables:
            matches = indicators.match(observable)
            if matches:
                collections = {m.collection for m in matches if m.collection != m.set_name}
                named = " / ".join(sorted(collections or {m.collection for m in matches}))
                sets = sorted({m.set_name for m in matches})
                text = (
                    f"the {observable.kind.value} {observable.value} is named by a {named} indicator "
                    f"(set{'s' if len(sets) > 1 else ''} {', '.join(sets)})"
                )
                traits.append(_Trait(text, None, matches))
    return traits


def _seen_only_here(chain: list[_Visit], hop: _Hop, history: _History) -> bool:
    """Whether the destination host appears in no visit of this history outside the chain and the
    chain's own numeric-fragment reloads (corroborates D2; alone it is true of many one-off redirects)."""
    host = _visit_host(chain[_first_on(chain, hop)].record)
    inside = sum(1 for v in chain if _visit_host(v.record) == host)
    reloads = {
        later.id
        for v in chain
        for later in history.follow_ups.get(v.url.partition("#")[0], [])
        if 0 <= later.seconds - v.seconds <= FOLLOW_UP_SECONDS
    }
    return host is not None and history.hosts[host] <= inside + len(reloads)


def _redirect_finding(
    chain: list[_Visit], hop: _Hop, delta_ms: float, traits: list[_Trait], seen_only_here: bool
) -> Finding:
    head = chain[0]
    injected = bool(traits)
    severity = Severity.HIGH if injected else Severity.MEDIUM
    rule = REDIRECT_RULES[0] if injected else REDIRECT_RULES[1]
    steps = " -> ".join(f"{v.url} (visit {v.id})" for v in chain)
    timing = (
        f"Its destination is stamped {abs(delta_ms):.3f} ms before the http:// visit, so the phone's clock moved "
        "in between."
        if delta_ms < 0
        else f"Its destination is stamped {delta_ms:.3f} ms after the http:// visit."
    )
    once = (
        f" The destination host {hop.host} appears in no other visit of this history."
        if seen_only_here
        else f" The destination host {hop.host} also appears in other visits of this history."
    )
    if injected:
        verdict = (
            " Where it led has the traits of an injected redirect (network-injection detector D2): "
            + "; ".join(t.text for t in traits)
            + "."
        )
    else:
        verdict = (
            " An on-path attacker who injects a redirect into a clear-text request leaves such a chain, but so do "
            "ordinary sites; nothing about where it led marks an injection (network-injection detector D1)."
        )
    explanation = (
        f"Safari recorded a redirect chain: {steps}. The unencrypted http:// visit to {head.url} led to another "
        f"site, {hop.host} (registrable domain {hop.site}). {timing}{once}{verdict}"
    )
    evidence = [Evidence(v.record.locator, excerpt(f"{v.url} at {format_time(v.record.time)}")) for v in chain]
    evidence.extend(
        Evidence(t.cites.locator, excerpt(f"{_visit_url(t.cites)} at {format_time(t.cites.time)}"))
        for t in traits
        if t.cites is not None
    )
    matches = {m for t in traits for m in t.indicators}
    title = f"An http:// visit to {_hop_host(head.url)} was redirected to another site, {hop.host}"
    return Finding(
        rule=rule,
        severity=severity,
        title=title + (", a destination with traits of an injected redirect" if injected else ""),
        explanation=explanation,
        caveats=(
            "Sites redirect clear-text requests to other domains of their own every day: an organisation's typo "
            "or regional domains (foxnew.com to www.foxnews.com), link shorteners (bit.ly, t.co), sign-in hops "
            "(a login page on the provider's domain) and content-delivery hosts; most cross-site redirects in "
            "real histories are one of these.",
            "Safari stamps a redirect's destination within about a millisecond of its source whatever the "
            "network did, so the speed of a recorded redirect is no evidence of injection; only where it led is.",
            "Safari's timestamps come from the phone's clock and record when each page started loading.",
            "Two sites of one organisation under different suffixes (yahoo.fr, yahoo.com) are treated as one site.",
        ),
        evidence=tuple(evidence),
        indicators=tuple(sorted(matches, key=lambda m: (m.set_name, m.collection, m.type, m.value))),
        time=head.record.time,
    )


def _visit_url(record: Record) -> str | None:
    return record.payload.url if isinstance(record.payload, SafariVisit) else None


def _hop_host(url: str) -> str:
    hop = _hop(url)
    return hop.host if hop else url


def _deleted_history(tombstone: Record, redirects: list[Finding]) -> Finding:
    deleted = tombstone.payload
    assert isinstance(deleted, SafariTombstone)
    start, end = as_float(deleted.start_time), as_float(deleted.end_time)
    near: list[Finding] = []
    if start is not None and end is not None:
        low = from_mac_absolute(start - TOMBSTONE_WINDOW_SECONDS)
        high = from_mac_absolute(end + TOMBSTONE_WINDOW_SECONDS)
        near = [f for f in redirects if f.time and low and high and low <= f.time <= high]
    evidence = [Evidence(tombstone.locator, excerpt(tombstone.summary))]
    evidence.extend(f.evidence[0] for f in near)
    injected = any(f.severity >= Severity.HIGH for f in near)
    window = f"{TOMBSTONE_WINDOW_SECONDS / 60:.0f} minutes"
    if injected:
        severity, title = Severity.MEDIUM, "Safari history was deleted around a suspected injected redirect"
        context = (
            f" The deleted period lies within {window} of {len(near)} redirect(s), at least one with the traits of "
            "an injected redirect; spyware operators have wiped traces right after an injection."
        )
    elif near:
        severity, title = Severity.LOW, "Safari history was deleted around a cross-site HTTP redirect"
        context = f" The deleted period lies within {window} of {len(near)} cross-site clear-text redirect(s)."
    else:
        severity, title, context = Severity.INFO, "Safari history was deleted for a period of time", ""
    return Finding(
        rule="ios.safari_history.deleted_history",
        severity=severity,
        title=title,
        explanation=f"{tombstone.summary}. History.db keeps a tombstone for each deletion.{context}",
        caveats=("People clear their history for ordinary reasons; a deletion alone shows no compromise.",),
        evidence=tuple(evidence),
        time=tombstone.time,
    )
