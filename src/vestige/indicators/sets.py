"""Indicator sets: the indicators of one file, where the file came from, and what could not be used.

Every loader (``stix``, ``plain``, ``stalkerware``) feeds an ``IndicatorSetBuilder``, which parses
and normalises each indicator, merges duplicates, and records every indicator it has to leave out
with the reason, so that one bad indicator never stops a set from loading (ARCHITECTURE.md,
principle 5). A set keeps the SHA-256 of the exact bytes it was read from: findings cite it.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from vestige.indicators.patterns import Pattern, PatternError, UnsupportedPatternError, parse_pattern
from vestige.indicators.types import (
    COMPOUND,
    InvalidIndicatorValueError,
    canonical_type,
    normalise_indicator,
)
from vestige.model import JSON, ObservableKind


class IndicatorFormatError(ValueError):
    """A file that is not an indicator set of the format it was read as. The message names the file."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ProblemKind(str, enum.Enum):
    """Why an indicator of a file was left out of its set."""

    INVALID = "invalid"
    """Malformed: a pattern that does not parse, a value that cannot be of its type."""
    UNSUPPORTED = "unsupported"
    """Well-formed but not something vestige evaluates (``LIKE``, ``WITHIN``, ``network-traffic:...``)."""
    REVOKED = "revoked"
    """Withdrawn by its producer (STIX ``revoked: true``)."""


@dataclass(frozen=True, slots=True)
class IndicatorProblem:
    """An indicator left out of a set: where it is in the file and why."""

    kind: ProblemKind
    where: str
    reason: str


@dataclass(frozen=True, slots=True)
class IndicatorTerm:
    """One ``type = value`` test of an indicator, normalised, in observation bracket ``group``."""

    type: str
    kind: ObservableKind
    value: str
    group: int = 0


@dataclass(frozen=True, slots=True)
class Indicator:
    """An indicator: a single term (``type``/``value``) or a STIX pattern with several terms.

    ``alternatives`` is the pattern in disjunctive normal form (see ``patterns``); a single-term
    indicator has one alternative of one term, and then ``type``/``value`` are that term's. For
    anything larger ``type`` is ``stix-pattern`` and ``value`` the pattern text. ``collections``
    are the malware families or reports it is credited to.
    """

    type: str
    value: str
    alternatives: tuple[tuple[IndicatorTerm, ...], ...]
    collections: tuple[str, ...]
    origin: str


@dataclass(frozen=True, slots=True)
class SetOrigin:
    """Where a set comes from: its stable name, source, licence, path and the SHA-256 of its bytes."""

    name: str
    source: str
    licence: str
    path: str
    sha256: str


@dataclass(frozen=True, slots=True)
class IndicatorSet:
    """The usable indicators of one file, and an account of everything else in it."""

    name: str
    source: str
    licence: str
    sha256: str
    path: str
    format: str
    indicators: tuple[Indicator, ...]
    counts: Mapping[str, int] = field(default_factory=dict)
    problems: tuple[IndicatorProblem, ...] = ()
    ignored_objects: Mapping[str, int] = field(default_factory=dict)
    """STIX object types of the standard that vestige does not use (identity, marking-definition, ...)."""
    unknown_objects: Mapping[str, int] = field(default_factory=dict)
    """Object types that are not in STIX 2.0 or 2.1 at all."""
    dangling_relationships: int = 0
    """Relationships whose source or target is not in the bundle."""
    duplicates: int = 0
    """Indicators repeated in the same collection, merged into one."""

    @property
    def invalid_count(self) -> int:
        return sum(1 for problem in self.problems if problem.kind is ProblemKind.INVALID)

    @property
    def unsupported_count(self) -> int:
        return sum(1 for problem in self.problems if problem.kind is ProblemKind.UNSUPPORTED)

    @property
    def unknown_object_count(self) -> int:
        return sum(self.unknown_objects.values())

    def as_json(self) -> dict[str, JSON]:
        """What a report says about the set: provenance and counts (not the indicators)."""
        return {
            "name": self.name,
            "source": self.source,
            "licence": self.licence,
            "sha256": self.sha256,
            "format": self.format,
            "indicators": len(self.indicators),
            "counts": dict(sorted(self.counts.items())),
            "invalid": self.invalid_count,
            "unsupported": self.unsupported_count,
            "unknown_objects": self.unknown_object_count,
            "dangling_relationships": self.dangling_relationships,
            "duplicates": self.duplicates,
        }


class IndicatorSetBuilder:
    """Collects the indicators of one file while a loader reads it, then freezes them into a set."""

    def __init__(self, origin: SetOrigin, format_name: str) -> None:
        self._origin = origin
        self._format = format_name
        self._indicators: dict[tuple[str, str], _Draft] = {}
        self._problems: list[IndicatorProblem] = []
        self._ignored: Counter[str] = Counter()
        self._unknown: Counter[str] = Counter()
        self._dangling = 0
        self._duplicates = 0

    def add_value(self, indicator_type: str, raw: str, collections: Iterable[str], where: str) -> None:
        """Add a single-value indicator of a canonical type (a line of a plain list, a YAML entry)."""
        try:
            normalised = normalise_indicator(indicator_type, raw)
        except InvalidIndicatorValueError as error:
            self.problem(ProblemKind.INVALID, where, str(error))
            return
        term = IndicatorTerm(normalised.type, normalised.kind, normalised.value)
        self._add(normalised.type, normalised.value, ((term,),), collections, where)

    def add_pattern(self, text: str, collections: Iterable[str], where: str) -> None:
        """Add a STIX pattern; a pattern that does not parse or cannot be evaluated becomes a problem."""
        try:
            alternatives = _normalised_alternatives(parse_pattern(text))
        except UnsupportedPatternError as error:
            self.problem(ProblemKind.UNSUPPORTED, where, f"{error.reason}: {text}")
            return
        except (PatternError, InvalidIndicatorValueError) as error:
            self.problem(ProblemKind.INVALID, where, f"{error}: {text}")
            return
        if len(alternatives) == 1 and len(alternatives[0]) == 1:
            only = alternatives[0][0]
            self._add(only.type, only.value, alternatives, collections, where)
        else:
            self._add(COMPOUND, text, alternatives, collections, where)

    def problem(self, kind: ProblemKind, where: str, reason: str) -> None:
        self._problems.append(IndicatorProblem(kind, where, reason))

    def ignore_object(self, object_type: str) -> None:
        self._ignored[object_type] += 1

    def unknown_object(self, object_type: str) -> None:
        self._unknown[object_type] += 1

    def dangling_relationship(self) -> None:
        self._dangling += 1

    def _add(
        self,
        indicator_type: str,
        value: str,
        alternatives: tuple[tuple[IndicatorTerm, ...], ...],
        collections: Iterable[str],
        where: str,
    ) -> None:
        # (type, value) identifies an indicator: a single term's value, or a whole pattern's text
        draft = self._indicators.get((indicator_type, value))
        if draft is None:
            draft = self._indicators[indicator_type, value] = _Draft(where, alternatives)
        for collection in collections:
            if collection in draft.collections:
                self._duplicates += 1
            else:
                draft.collections[collection] = None

    def build(self) -> IndicatorSet:
        indicators = tuple(
            Indicator(indicator_type, value, draft.alternatives, tuple(draft.collections), draft.origin)
            for (indicator_type, value), draft in self._indicators.items()
        )
        origin = self._origin
        return IndicatorSet(
            name=origin.name,
            source=origin.source,
            licence=origin.licence,
            sha256=origin.sha256,
            path=origin.path,
            format=self._format,
            indicators=indicators,
            counts=dict(Counter(indicator.type for indicator in indicators)),
            problems=tuple(self._problems),
            ignored_objects=dict(self._ignored),
            unknown_objects=dict(self._unknown),
            dangling_relationships=self._dangling,
            duplicates=self._duplicates,
        )


@dataclass(slots=True)
class _Draft:
    origin: str
    alternatives: tuple[tuple[IndicatorTerm, ...], ...]
    collections: dict[str, None] = field(default_factory=dict)


def _normalised_alternatives(pattern: Pattern) -> tuple[tuple[IndicatorTerm, ...], ...]:
    """The pattern's DNF with every term typed and normalised; repeats that normalising reveals merge."""
    if len(pattern.alternatives) == 1 and len(pattern.alternatives[0].terms) == 1:
        only = pattern.alternatives[0].terms[0]
        return ((_term(only.object_path, only.value, only.group),),)
    return tuple(
        dict.fromkeys(
            tuple(dict.fromkeys(_term(term.object_path, term.value, term.group) for term in conjunction.terms))
            for conjunction in pattern.alternatives
        )
    )


def _term(object_path: str, value: str, group: int) -> IndicatorTerm:
    indicator_type = canonical_type(object_path)
    if indicator_type is None:
        raise UnsupportedPatternError(f"object path {object_path} is not supported")
    normalised = normalise_indicator(indicator_type, value)
    return IndicatorTerm(normalised.type, normalised.kind, normalised.value, group)
