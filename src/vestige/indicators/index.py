"""The compiled indicator index: every set's indicators in hash tables, one family per observable kind.

Looking up an observable costs a few dictionary probes whatever the number of indicators
(ARCHITECTURE.md, principle 6); nothing here loops over indicators. The rules:

- DOMAIN: an indicator matches the host and every subdomain. The host's label suffixes are probed
  (``a.b.evil.com``, ``b.evil.com``, ``evil.com``, ``com``), so ``c2.bad.net`` matches
  ``x.c2.bad.net`` but not ``bad.net``.
- IP: exact address, or a CIDR network: one table per prefix length present, so at most 33 (IPv4)
  or 129 (IPv6) probes. Never a substring: ``198.51.100.1`` does not match ``198.51.100.11``.
- FILE_PATH: an absolute indicator matches the path and everything under it, on component
  boundaries (``/private/var/tmp/hooker`` matches ``/private/var/tmp/hooker/x``, not
  ``/private/var/tmp/hookerx``); the path's component prefixes are probed. A relative indicator
  (``Library/Preferences/x.plist``) matches any path that ends with it on a component boundary.
- PROCESS: exact and case-sensitive; a name of exactly 16 characters (a kernel ``p_comm``/``comm``
  cut short) also matches every longer indicator that begins with it, through a table of 16-character
  prefixes.
- URL: the URL in lookup form (see ``observables.url_key``): ``https://a.example`` and
  ``https://a.example/`` are the same, ``/x`` and ``/x/`` are not.
- everything else: set membership.

A match names the indicator value, its type, its collection, and its set's name and SHA-256. An
indicator present in several sets or collections gives one match for each: nothing is overwritten.

Indicators with several terms (``[a AND b]``, ``[a] AND [b]``) are kept off that path. The terms of
one observation bracket must hold on one record (``match_record``); brackets that may hold on
different records of an acquisition are followed by a ``ConjunctionTracker``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from vestige.indicators.sets import IndicatorSet, IndicatorTerm
from vestige.indicators.types import COMPOUND
from vestige.model import IndicatorMatch, Observable, ObservableKind

COMM_LENGTH = 16
"""Length at which process names are cut in kernel accounting (iOS/macOS ``p_comm``, MAXCOMLEN)."""

P = TypeVar("P", bound=Hashable)
W = TypeVar("W")


class _Table(Generic[P]):
    """Payloads by lookup key; ``lookup`` applies the matching rule of one observable kind."""

    def __init__(self) -> None:
        self._building: dict[str, dict[P, None]] = {}
        self._entries: dict[str, tuple[P, ...]] = {}

    def add(self, key: str, payload: P) -> None:
        self._building.setdefault(key, {})[payload] = None

    def freeze(self) -> None:
        self._entries = {key: tuple(payloads) for key, payloads in self._building.items()}
        self._building = {}

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, value: str) -> tuple[P, ...]:
        return self._entries.get(value, ())


class _DomainTable(_Table[P]):
    """Probes only the label suffixes that are no longer than the longest indicator: the others
    cannot match, and probing every one of them would cost the square of the value's length (each
    probe copies and hashes its suffix)."""

    def __init__(self) -> None:
        super().__init__()
        self._suffixes_from = -1

    def freeze(self) -> None:
        super().freeze()
        # As a negative start, str.find counts it from the end (from 0 when the value is shorter).
        self._suffixes_from = -1 - max(map(len, self._entries), default=0)

    def lookup(self, value: str) -> tuple[P, ...]:
        entries = self._entries
        found = entries.get(value, ())
        dot = value.find(".", self._suffixes_from)
        while dot >= 0:
            hit = entries.get(value[dot + 1 :])
            if hit:
                found += hit
            dot = value.find(".", dot + 1)
        return found


class _PathTable(_Table[P]):
    """Probes component prefixes (absolute indicators) and suffixes (relative ones) only up to the
    length of the longest indicator of each kind: longer ones cannot match, and probing all of them
    would cost the square of the path's length (each probe copies and hashes its part)."""

    def __init__(self) -> None:
        super().__init__()
        self._absolute: dict[str, tuple[P, ...]] = {}
        self._relative: dict[str, tuple[P, ...]] = {}
        self._tops: frozenset[str] = frozenset()
        self._names: frozenset[str] = frozenset()
        self._absolute_end = 1
        self._suffixes_from = -1

    def freeze(self) -> None:
        super().freeze()
        self._relative = {key: hit for key, hit in self._entries.items() if not key.startswith("/")}
        self._absolute = {key: hit for key, hit in self._entries.items() if key.startswith("/")}
        # A path can only match an absolute indicator with the same first component, and a relative
        # one with the same last component: one probe each rules out nearly every path.
        self._tops = frozenset(key.split("/", 2)[1] for key in self._absolute)
        self._names = frozenset(key.rpartition("/")[2] for key in self._relative)
        self._absolute_end = max(map(len, self._absolute), default=0) + 1  # a prefix ends before it
        # As a negative start, str.find counts it from the end (from 0 when the path is shorter).
        self._suffixes_from = -1 - max(map(len, self._relative), default=0)

    def lookup(self, value: str) -> tuple[P, ...]:
        found: tuple[P, ...] = ()
        if value.startswith("/") and value[1:].partition("/")[0] in self._tops:
            absolute = self._absolute
            head = value[: self._absolute_end]  # the value itself when it is shorter (no copy)
            slash = head.find("/", 1)
            while slash > 0:
                hit = absolute.get(head[:slash])
                if hit:
                    found += hit
                slash = head.find("/", slash + 1)
            found += absolute.get(value, ())
        if value.rpartition("/")[2] in self._names:
            relative = self._relative
            found += relative.get(value, ())
            slash = value.find("/", self._suffixes_from)
            while slash >= 0:
                hit = relative.get(value[slash + 1 :])
                if hit:
                    found += hit
                slash = value.find("/", slash + 1)
        return found


class _ProcessTable(_Table[P]):
    def __init__(self) -> None:
        super().__init__()
        self._by_prefix: dict[str, tuple[P, ...]] = {}

    def freeze(self) -> None:
        super().freeze()
        by_prefix: dict[str, dict[P, None]] = {}
        for key, payloads in self._entries.items():
            if len(key) > COMM_LENGTH:
                by_prefix.setdefault(key[:COMM_LENGTH], {}).update(dict.fromkeys(payloads))
        self._by_prefix = {prefix: tuple(payloads) for prefix, payloads in by_prefix.items()}

    def lookup(self, value: str) -> tuple[P, ...]:
        found = self._entries.get(value, ())
        if len(value) == COMM_LENGTH:
            found += self._by_prefix.get(value, ())
        return found


_Networks = tuple[tuple[int, dict[int, tuple[P, ...]]], ...]
"""(prefix length, {network number: payloads}) pairs, longest prefix first."""


class _IpTable(_Table[P]):
    def __init__(self) -> None:
        super().__init__()
        self._v4: _Networks[P] = ()
        self._v6: _Networks[P] = ()

    def freeze(self) -> None:
        networks: dict[int, dict[int, dict[int, dict[P, None]]]] = {4: {}, 6: {}}
        exact: dict[str, dict[P, None]] = {}
        for key, payloads in self._building.items():
            if "/" not in key:
                exact[key] = payloads
                continue
            network = ipaddress.ip_network(key)
            shift = network.max_prefixlen - network.prefixlen
            by_prefix = networks[network.version].setdefault(network.prefixlen, {})
            by_prefix.setdefault(int(network.network_address) >> shift, {}).update(payloads)
        self._building = exact
        super().freeze()
        self._v4 = _freeze_networks(networks[4])
        self._v6 = _freeze_networks(networks[6])

    def __len__(self) -> int:
        return len(self._entries) + sum(len(table) for _, table in (*self._v4, *self._v6))

    def lookup(self, value: str) -> tuple[P, ...]:
        found = self._entries.get(value, ())
        if self._v4 or self._v6:
            found += self._network_lookup(value)
        return found

    def _network_lookup(self, value: str) -> tuple[P, ...]:
        version6 = ":" in value
        networks = self._v6 if version6 else self._v4
        if not networks:
            return ()
        try:
            packed = socket.inet_pton(socket.AF_INET6 if version6 else socket.AF_INET, value)
        except OSError:
            return ()
        number = int.from_bytes(packed, "big")
        bits = 128 if version6 else 32
        found: tuple[P, ...] = ()
        for prefix, table in networks:
            hit = table.get(number >> (bits - prefix))
            if hit:
                found += hit
        return found


def _freeze_networks(networks: dict[int, dict[int, dict[P, None]]]) -> _Networks[P]:
    return tuple(
        (prefix, {number: tuple(payloads) for number, payloads in table.items()})
        for prefix, table in sorted(networks.items(), reverse=True)
    )


_TABLE_TYPES: dict[ObservableKind, type[_Table[Any]]] = {
    ObservableKind.DOMAIN: _DomainTable,
    ObservableKind.IP: _IpTable,
    ObservableKind.FILE_PATH: _PathTable,
    ObservableKind.PROCESS: _ProcessTable,
}


def _table_for(kind: ObservableKind) -> _Table[Any]:
    """An empty table with the matching rule of ``kind`` (set membership unless listed above)."""
    return _TABLE_TYPES.get(kind, _Table)()


@dataclass(frozen=True, slots=True)
class _TermRef:
    """Term ``term`` of group ``group`` of compiled conjunction ``conjunction``."""

    conjunction: int
    group: int
    term: int


@dataclass(frozen=True, slots=True)
class _Conjunction:
    """A pattern alternative of several terms, with the matches it gives (one per collection)."""

    matches: tuple[IndicatorMatch, ...]
    group_sizes: dict[int, int]


class IndicatorIndex:
    """Every indicator of some sets, compiled for O(1) lookups. Built once, then read-only."""

    def __init__(self, sets: Iterable[IndicatorSet]) -> None:
        self.sets = tuple(sets)
        self._tables: dict[ObservableKind, _Table[IndicatorMatch]] = {k: _table_for(k) for k in ObservableKind}
        self._term_tables: dict[ObservableKind, _Table[_TermRef]] = {k: _table_for(k) for k in ObservableKind}
        self._conjunctions: list[_Conjunction] = []
        for indicator_set in self.sets:
            self._add_set(indicator_set)
        for tables in (self._tables, self._term_tables):
            for table in tables.values():
                table.freeze()
        self._lookups = {kind: table.lookup for kind, table in self._tables.items() if len(table)}
        self._has_cross_group = any(len(c.group_sizes) > 1 for c in self._conjunctions)

    def _add_set(self, indicator_set: IndicatorSet) -> None:
        name, digest = indicator_set.name, indicator_set.sha256
        for indicator in indicator_set.indicators:
            for alternative in indicator.alternatives:
                if len(alternative) == 1:
                    term = alternative[0]
                    for collection in indicator.collections:
                        match = IndicatorMatch(term.value, term.type, collection, name, digest)
                        self._tables[term.kind].add(term.value, match)
                else:
                    matches = tuple(
                        IndicatorMatch(indicator.value, COMPOUND, collection, name, digest)
                        for collection in indicator.collections
                    )
                    self._add_conjunction(alternative, matches)

    def _add_conjunction(self, terms: tuple[IndicatorTerm, ...], matches: tuple[IndicatorMatch, ...]) -> None:
        number = len(self._conjunctions)
        sizes: dict[int, int] = {}
        for term in terms:
            position = sizes.get(term.group, 0)
            sizes[term.group] = position + 1
            self._term_tables[term.kind].add(term.value, _TermRef(number, term.group, position))
        self._conjunctions.append(_Conjunction(matches, sizes))

    def __len__(self) -> int:
        """The number of distinct single-term lookup keys."""
        return sum(len(table) for table in self._tables.values())

    def match(self, observable: Observable) -> tuple[IndicatorMatch, ...]:
        """The single-term indicators that name ``observable`` (which must come from ``observables``)."""
        lookup = self._lookups.get(observable.kind)
        return lookup(observable.value) if lookup is not None else ()

    def match_record(self, observables: Sequence[Observable]) -> list[tuple[Observable, IndicatorMatch]]:
        """All matches of one record's observables, including patterns whose terms share a bracket.

        A multi-term bracket (``[file:name = 'a' AND file:hashes.MD5 = '...']``) matches when every
        term holds on an observable of this record; each of those observables is paired with the
        match. Patterns spanning several brackets are left to a ``ConjunctionTracker``.
        """
        pairs = [(observable, match) for observable in observables for match in self.match(observable)]
        if self._conjunctions:
            for (number, _group), witnesses in self._satisfied_groups(observables).items():
                conjunction = self._conjunctions[number]
                if len(conjunction.group_sizes) == 1:
                    pairs.extend((seen, match) for seen in witnesses for match in conjunction.matches)
        return pairs

    def spans_records(self, observables: Sequence[Observable]) -> bool:
        """True when a bracket of a multi-bracket pattern holds on these observables: the record must
        reach a ``ConjunctionTracker`` (which may run in another process than the one that read it)."""
        if not self._has_cross_group:
            return False
        return any(len(self._conjunctions[number].group_sizes) > 1 for number, _ in self._satisfied_groups(observables))

    def _satisfied_groups(self, observables: Sequence[Observable]) -> dict[tuple[int, int], tuple[Observable, ...]]:
        """The (conjunction, group) pairs whose terms all hold on these observables, with the witnesses."""
        held: dict[tuple[int, int], dict[int, Observable]] = {}
        for observable in observables:
            for ref in self._term_tables[observable.kind].lookup(observable.value):
                held.setdefault((ref.conjunction, ref.group), {}).setdefault(ref.term, observable)
        return {
            key: tuple(dict.fromkeys(terms.values()))
            for key, terms in held.items()
            if len(terms) == self._conjunctions[key[0]].group_sizes[key[1]]
        }


@dataclass(frozen=True, slots=True)
class GroupWitness(Generic[W]):
    """The record (``W``: a locator, a record id) on which one bracket of a pattern held."""

    group: int
    record: W
    observables: tuple[Observable, ...]


@dataclass(frozen=True, slots=True)
class ConjunctionMatch(Generic[W]):
    """A pattern whose brackets all held somewhere in an acquisition, with where each one did."""

    match: IndicatorMatch
    witnesses: tuple[GroupWitness[W], ...]


class ConjunctionTracker(Generic[W]):
    """Follows the brackets of multi-bracket patterns (``[a] AND [b]``) across the records of one run.

    Feed it every record with ``observe``; ``completed`` lists each pattern whose brackets have all
    held, once, with the first record on which each bracket held. Its memory grows with the number
    of such patterns, not with the number of records. With no such pattern in the index, ``observe``
    returns at once.
    """

    def __init__(self, index: IndicatorIndex) -> None:
        self._index = index
        self._held: dict[int, dict[int, GroupWitness[W]]] = {}
        self._completed: list[ConjunctionMatch[W]] = []

    def observe(self, record: W, observables: Sequence[Observable]) -> None:
        index = self._index
        if not index._has_cross_group:
            return
        for (number, group), witnesses in index._satisfied_groups(observables).items():
            conjunction = index._conjunctions[number]
            if len(conjunction.group_sizes) < 2:
                continue  # a single bracket is answered by match_record
            held = self._held.setdefault(number, {})
            if len(held) == len(conjunction.group_sizes):
                continue  # already completed and reported
            held.setdefault(group, GroupWitness(group, record, witnesses))
            if len(held) == len(conjunction.group_sizes):
                ordered = tuple(held[key] for key in sorted(held))
                self._completed.extend(ConjunctionMatch(match, ordered) for match in conjunction.matches)

    def completed(self) -> tuple[ConjunctionMatch[W], ...]:
        return tuple(self._completed)
