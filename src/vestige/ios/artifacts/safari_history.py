"""Safari browsing history, ``History.db`` (iOS 13 and later; per-profile copies from iOS 17).

Tables (SafariShared ``WBSHistorySQLiteSchema``, schema 16 on iOS 26.1; docs/ios-formats.md
section 2): ``history_items(id, url, ...)``, ``history_visits(id, history_item, visit_time, title,
load_successful, redirect_source, redirect_destination, origin, ...)`` where ``visit_time`` is Mac
absolute time in seconds as a double, and a redirect chain is a linked list (``redirect_destination``
of one visit is the ``id`` of the next); ``history_tombstones(start_time, end_time, url)`` records
deleted history (``url`` is encrypted from schema 8).

Detectors (``../shared/reference/network-injection.md`` sections 2.1 and 6):
- D1 (medium): a chain whose head is an ``http://`` visit reaches another site (registrable domain,
  Public Suffix List shipped offline) within 0 to 1000 ms of the head, measured in exact milliseconds
  over the whole chain rather than the first hop only.
- D2 (high): D1 and one of: the cross-site host has two or more random-looking labels, an explicit
  port other than 443/8443 (80/8080 for http), a single-token path revisited with ``#`` and 20 or more
  digits within 60 s, or a redirect faster than 50 ms.
- Deleted history: each tombstone is an info finding, medium when it covers the time of a D1/D2
  redirect (within 10 minutes), as Amnesty found logs wiped seconds after an injection.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from vestige.evidence.acquisition import IOS_BACKUP, Acquisition
from vestige.evidence.artifact import MatchPolicy, excerpt
from vestige.evidence.sqlite import require_tables, table_columns
from vestige.indicators.observables import observables_from_url, registrable_domain
from vestige.ios.timestamps import from_mac_absolute
from vestige.model import JSON, Evidence, Finding, Locator, Observable, Record, Severity, format_time

NAME = "ios.safari_history"
KINDS = (IOS_BACKUP,)
PATHS = (
    "HomeDomain/Library/Safari/History.db",
    "HomeDomain/Library/Safari/Profiles/*/History.db",
    "AppDomain-com.apple.mobilesafari/Library/Safari/History.db",
)
DESCRIPTION = "Safari visits, redirect chains and deleted-history tombstones from History.db"
MATCHES = MatchPolicy(
    Severity.HIGH,
    "A Safari visit",
    ("The visit may have been a redirect the user did not choose; see any redirect finding at the same time.",),
)

SLOW_MS = 1000.0
FAST_MS = 50.0
FOLLOW_UP_SECONDS = 60.0
TOMBSTONE_WINDOW_SECONDS = 600.0
ORDINARY_PORTS = {"https": {443, 8443}, "http": {80, 8080}}
_TOKEN_PATH = re.compile(r"/[A-Za-z0-9]{4,16}")
_DIGIT_FRAGMENT = re.compile(r"[0-9]{20,}")
_RANDOM_LABEL = re.compile(r"(?=[a-z0-9]*[0-9])(?=[a-z0-9]*[a-z])[a-z0-9]{8,16}")
_OPTIONAL_VISIT_COLUMNS = ("title", "load_successful", "http_non_get", "synthesized", "origin")


def parse(acquisition: Acquisition, path: str) -> Iterator[Record]:
    sha256 = acquisition.file(path).sha256
    with acquisition.sqlite(path) as db:
        require_tables(db, path, "history_items", "history_visits")
        yield from _visits(db, path, sha256)
        if "url" in table_columns(db, "history_tombstones"):
            yield from _tombstones(db, path, sha256)


def _visits(db: sqlite3.Connection, path: str, sha256: str | None) -> Iterator[Record]:
    present = table_columns(db, "history_visits")
    optional = ", ".join(f"v.{c}" if c in present else f"NULL AS {c}" for c in _OPTIONAL_VISIT_COLUMNS)
    rows = db.execute(
        "SELECT v.id, v.history_item, i.url, v.visit_time, v.redirect_source, v.redirect_destination, "
        f"{optional} FROM history_visits v LEFT JOIN history_items i ON i.id = v.history_item "
        "ORDER BY v.visit_time, v.id"
    )
    for (
        visit_id,
        item,
        url,
        visit_time,
        source,
        destination,
        title,
        loaded,
        non_get,
        synthesized,
        origin,
    ) in rows:
        url = url if isinstance(url, str) else None
        fields: dict[str, JSON] = {
            "kind": "visit",
            "visit_id": visit_id,
            "history_item": item,
            "url": url,
            "visit_time": visit_time,
            "title": title,
            "redirect_source": source,
            "redirect_destination": destination,
            "load_successful": loaded,
            "http_non_get": non_get,
            "synthesized": synthesized,
            "origin": origin,
        }
        yield Record(
            artifact=NAME,
            locator=Locator(path, sha256, table="history_visits", row=visit_id),
            time=from_mac_absolute(visit_time),
            summary=f"Safari visit to {url or '(missing history item)'}",
            fields=fields,
            observables=_url_observables(url) if url else (),
            time_kind="visit time",
        )


@functools.lru_cache(maxsize=8192)
def _url_observables(url: str) -> tuple[Observable, ...]:
    """Visits repeat their history item's URL: each distinct URL is normalised once."""
    return observables_from_url(url)


def _tombstones(db: sqlite3.Connection, path: str, sha256: str | None) -> Iterator[Record]:
    for row_id, start, end, url in db.execute(
        "SELECT id, start_time, end_time, url FROM history_tombstones ORDER BY start_time, id"
    ):
        shown = url if isinstance(url, str) else (f"encrypted ({len(url)} bytes)" if isinstance(url, bytes) else None)
        yield Record(
            artifact=NAME,
            locator=Locator(path, sha256, table="history_tombstones", row=row_id),
            time=from_mac_absolute(end),
            summary=(
                f"Safari history deleted for {format_time(from_mac_absolute(start))} to "
                f"{format_time(from_mac_absolute(end))}" + (f" ({shown})" if shown else "")
            ),
            fields={"kind": "tombstone", "start_time": start, "end_time": end, "url": shown},
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
    """What the detectors keep of one History.db: visits in redirect chains, follow-ups, tombstones."""

    chained: dict[int, _Visit]
    follow_ups: dict[str, list[_Visit]]
    tombstones: list[Record]


def detect(records: Iterable[Record]) -> Iterator[Finding]:
    histories: dict[str, _History] = defaultdict(lambda: _History({}, defaultdict(list), []))
    for record in records:
        history = histories[record.locator.path]
        fields = record.fields
        if fields.get("kind") == "tombstone":
            history.tombstones.append(record)
            continue
        visit = _as_visit(record)
        if visit is None:
            continue
        if visit.source is not None or visit.destination is not None:
            history.chained[visit.id] = visit
        base, _, fragment = visit.url.partition("#")
        if _DIGIT_FRAGMENT.fullmatch(fragment):
            history.follow_ups[base].append(visit)
    for path in sorted(histories):
        yield from _history_findings(histories[path])


def _as_visit(record: Record) -> _Visit | None:
    f = record.fields
    url, seconds, visit_id = f.get("url"), f.get("visit_time"), f.get("visit_id")
    if not isinstance(url, str) or not isinstance(seconds, int | float) or not isinstance(visit_id, int):
        return None
    source, destination = f.get("redirect_source"), f.get("redirect_destination")
    return _Visit(
        visit_id,
        url,
        float(seconds),
        source if isinstance(source, int) else None,
        destination if isinstance(destination, int) else None,
        record,
    )


def _history_findings(history: _History) -> Iterator[Finding]:
    redirects: list[Finding] = []
    for head in sorted(history.chained.values(), key=lambda v: (v.seconds, v.id)):
        if head.destination is None or (head.source is not None and head.source in history.chained):
            continue
        finding = _injected_redirect(_chain(head, history.chained), history.follow_ups)
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


def _injected_redirect(chain: list[_Visit], follow_ups: dict[str, list[_Visit]]) -> Finding | None:
    hops = [_hop(v.url) for v in chain]
    head = hops[0]
    if head is None or head.scheme != "http":
        return None
    crossing = next(
        (i for i in range(1, len(chain)) if (h := hops[i]) is not None and not _same_site(head.site, h.site)), None
    )
    if crossing is None:
        return None
    index, hop = crossing, hops[crossing]
    assert hop is not None
    delta_ms = (chain[index].seconds - chain[0].seconds) * 1000.0
    if not -SLOW_MS < delta_ms < SLOW_MS:
        return None
    tail = [(v, h) for v, h in zip(chain[index:], hops[index:], strict=True) if h is not None]
    features = _injection_features(tail, delta_ms, follow_ups)
    return _redirect_finding(chain, hop, delta_ms, features)


def _injection_features(
    tail: list[tuple[_Visit, _Hop]], delta_ms: float, follow_ups: dict[str, list[_Visit]]
) -> list[tuple[str, Record | None]]:
    """The D2 traits of the hops from the first cross-site one on, each with the record it cites."""
    features: list[tuple[str, Record | None]] = []
    if 0 <= delta_ms < FAST_MS:
        features.append((f"the redirect took {delta_ms:.1f} ms, faster than {FAST_MS:.0f} ms", None))
    for visit, hop in tail:
        extra_labels = hop.host.removesuffix(hop.site).rstrip(".").split(".") if hop.host != hop.site else []
        random_labels = [label for label in extra_labels if _RANDOM_LABEL.fullmatch(label)]
        if len(random_labels) >= 2:
            features.append((f"the host {hop.host} has random-looking labels ({', '.join(random_labels)})", None))
        if hop.port is not None and hop.port not in ORDINARY_PORTS.get(hop.scheme, set()):
            features.append((f"the URL {visit.url} uses the unusual port {hop.port}", None))
        if _TOKEN_PATH.fullmatch(hop.path):
            base = visit.url.partition("#")[0]
            for later in follow_ups.get(base, []):
                if 0 <= later.seconds - visit.seconds <= FOLLOW_UP_SECONDS:
                    gap = later.seconds - visit.seconds
                    features.append(
                        (
                            f"the same URL was visited again {gap:.1f} s later with a long numeric fragment",
                            later.record,
                        )
                    )
                    break
    return features


def _redirect_finding(
    chain: list[_Visit], hop: _Hop, delta_ms: float, features: list[tuple[str, Record | None]]
) -> Finding:
    head = chain[0]
    clock_went_back = delta_ms < 0
    severity = Severity.LOW if clock_went_back else Severity.HIGH if features else Severity.MEDIUM
    rule = (
        "ios.safari_history.injected_redirect" if severity == Severity.HIGH else "ios.safari_history.fast_http_redirect"
    )
    steps = " -> ".join(f"{v.url} (visit {v.id})" for v in chain)
    timing = (
        f"recorded {abs(delta_ms):.3f} ms before the http:// visit, so the phone's clock moved and the timing "
        "cannot be relied on"
        if clock_went_back
        else f"{delta_ms:.3f} ms after the http:// visit"
    )
    explanation = (
        f"Safari recorded a redirect chain: {steps}. The unencrypted http:// visit to {head.url} led to another "
        f"site, {hop.host} (registrable domain {hop.site}), {timing}. An on-path attacker who injects a redirect "
        "into a clear-text request produces exactly this trace (network-injection detector D1"
        + (
            ", with D2 features: " + "; ".join(text for text, _ in features) + ")."
            if features and not clock_went_back
            else ")."
        )
    )
    evidence = [Evidence(v.record.locator, excerpt(f"{v.url} at {format_time(v.record.time)}")) for v in chain]
    evidence.extend(
        Evidence(r.locator, excerpt(f"{r.fields.get('url')} at {format_time(r.time)}")) for _, r in features if r
    )
    return Finding(
        rule=rule,
        severity=severity,
        title=(
            f"An http:// visit to {_hop_host(head.url)} was redirected to {hop.host} in {abs(delta_ms):.1f} ms"
            + (" with traits of an injected redirect" if severity == Severity.HIGH else "")
        ),
        explanation=explanation,
        caveats=(
            "Legitimate sites also redirect clear-text requests to another domain (a CDN, a sign-in page, a "
            "regional site), usually within milliseconds; where the chain led matters more than its speed.",
            "Safari's timestamps come from the phone's clock and record when each page started loading.",
            "Two sites of one organisation under different suffixes (yahoo.fr, yahoo.com) are treated as one site.",
        ),
        evidence=tuple(evidence),
        time=head.record.time,
    )


def _hop_host(url: str) -> str:
    hop = _hop(url)
    return hop.host if hop else url


def _deleted_history(tombstone: Record, redirects: list[Finding]) -> Finding:
    start, end = tombstone.fields.get("start_time"), tombstone.fields.get("end_time")
    near: list[Finding] = []
    if isinstance(start, int | float) and isinstance(end, int | float):
        low = from_mac_absolute(float(start) - TOMBSTONE_WINDOW_SECONDS)
        high = from_mac_absolute(float(end) + TOMBSTONE_WINDOW_SECONDS)
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
        severity, title = Severity.LOW, "Safari history was deleted around a fast HTTP redirect"
        context = f" The deleted period lies within {window} of {len(near)} fast clear-text redirect(s)."
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
