"""STIX 2.0 and 2.1 bundles of indicators (OASIS STIX 2.1, sections 4 and 8; STIX 2.0 part 1).

What is read: ``indicator`` objects (their ``pattern``, section 4.7); the collections they belong
to, named by the ``name`` of the target of an ``indicates`` relationship (usually a ``malware``) or
by a ``report``/``grouping`` that lists them in ``object_refs``. An indicator in no collection is
credited to the set's name; one in several collections is credited to each.

Loading is linear in the size of the bundle: objects are indexed by id once and every relationship
and reference is resolved through that index. Real bundles are not always tidy, so: object types
outside the standard are counted (``unknown_objects``), relationships that point at an object the
bundle does not hold are counted (``dangling_relationships``; Wintego Helios has one), and an
indicator whose pattern does not parse or cannot be evaluated is recorded as a problem while the
rest of the bundle loads.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from vestige.indicators.sets import (
    IndicatorFormatError,
    IndicatorSet,
    IndicatorSetBuilder,
    ProblemKind,
    SetOrigin,
)

FORMAT = "stix2"

STANDARD_TYPES = frozenset(
    {
        # STIX Domain Objects (2.0 and 2.1)
        "attack-pattern",
        "campaign",
        "course-of-action",
        "grouping",
        "identity",
        "incident",
        "indicator",
        "infrastructure",
        "intrusion-set",
        "location",
        "malware",
        "malware-analysis",
        "note",
        "observed-data",
        "opinion",
        "report",
        "threat-actor",
        "tool",
        "vulnerability",
        # STIX Relationship Objects
        "relationship",
        "sighting",
        # STIX Cyber-observable Objects
        "artifact",
        "autonomous-system",
        "directory",
        "domain-name",
        "email-addr",
        "email-message",
        "file",
        "ipv4-addr",
        "ipv6-addr",
        "mac-addr",
        "mutex",
        "network-traffic",
        "process",
        "software",
        "url",
        "user-account",
        "windows-registry-key",
        "x509-certificate",
        # Meta objects
        "extension-definition",
        "language-content",
        "marking-definition",
    }
)
"""Every object type defined by STIX 2.0 or 2.1; anything else is counted as unknown."""

_COLLECTION_LISTS = frozenset({"report", "grouping"})
_USED_TYPES = frozenset(
    {"malware", "intrusion-set", "campaign", "threat-actor", "tool", "infrastructure", "attack-pattern"}
)
"""The types an ``indicates`` relationship may point at (STIX 2.1 section 4.7.2): they name collections."""

_StixObject = Mapping[str, Any]


def read_stix_bundle(data: bytes, origin: SetOrigin) -> IndicatorSet:
    """Read a STIX 2.x bundle. Raises ``IndicatorFormatError`` if ``data`` is not a bundle at all."""
    with _cyclic_collector_paused():
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError as error:
            raise IndicatorFormatError(origin.path, f"not JSON ({error})") from None
        objects = document.get("objects") if isinstance(document, dict) else None
        if not isinstance(document, dict) or document.get("type") != "bundle" or not isinstance(objects, list):
            raise IndicatorFormatError(origin.path, "not a STIX 2 bundle (no 'type': 'bundle' with 'objects')")
        builder = IndicatorSetBuilder(origin, FORMAT)
        bundle = _index_objects(objects, builder)
        collections = _collections_by_indicator(bundle, builder)
        for where, indicator in bundle.indicators:
            _add_indicator(builder, where, indicator, collections.get(where, (origin.name,)))
        return builder.build()


@contextmanager
def _cyclic_collector_paused() -> Iterator[None]:
    """Keep Python's cyclic garbage collector from rescanning the bundle while it is being read.

    A bundle decodes into millions of small, acyclic dicts and strings that stay alive until the
    set is built. Every full collection would walk all of them again; for a bundle of 100,000
    indicators that doubled the loading time. Nothing allocated here forms reference cycles, and
    the collector is switched back on (if it was on) as soon as the set is built.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass(slots=True)
class _Bundle:
    """The objects of a bundle that loading needs, sorted in one pass."""

    by_id: dict[str, _StixObject] = field(default_factory=dict)
    indicators: list[tuple[str, _StixObject]] = field(default_factory=list)
    links: list[_StixObject] = field(default_factory=list)


def _index_objects(objects: list[Any], builder: IndicatorSetBuilder) -> _Bundle:
    """Index the objects by id, list indicators and linking objects, count what vestige does not use."""
    bundle = _Bundle()
    for position, item in enumerate(objects):
        object_type = item.get("type") if isinstance(item, dict) else None
        if not isinstance(object_type, str):
            builder.problem(ProblemKind.INVALID, f"objects[{position}]", "not a STIX object (no 'type')")
            continue
        identifier = item.get("id")
        if isinstance(identifier, str):
            bundle.by_id[identifier] = item
        if object_type == "indicator":
            bundle.indicators.append((identifier if isinstance(identifier, str) else f"objects[{position}]", item))
        elif object_type == "relationship" or object_type in _COLLECTION_LISTS:
            bundle.links.append(item)
        elif object_type not in STANDARD_TYPES:
            builder.unknown_object(object_type)
        elif object_type not in _USED_TYPES:
            builder.ignore_object(object_type)
    return bundle


def _collections_by_indicator(bundle: _Bundle, builder: IndicatorSetBuilder) -> dict[str, tuple[str, ...]]:
    """The collections of each indicator id, from ``indicates`` relationships and report refs."""
    found: dict[str, dict[str, None]] = {}
    names: dict[str, str] = {}  # collection names by STIX id, computed once rather than per relationship
    for item in bundle.links:
        if item["type"] == "relationship":
            if item.get("relationship_type") != "indicates":
                continue
            source = _referenced(bundle, item.get("source_ref"))
            target = _referenced(bundle, item.get("target_ref"))
            if source is None or target is None:
                builder.dangling_relationship()
            elif source["type"] == "indicator":
                target_id: str = target["id"]
                name = names.get(target_id) or names.setdefault(target_id, _collection_name(target))
                found.setdefault(source["id"], {})[name] = None
        elif isinstance(item.get("object_refs"), list):
            name = _collection_name(item)
            for reference in item["object_refs"]:
                referenced = _referenced(bundle, reference)
                if referenced is not None and referenced["type"] == "indicator":
                    found.setdefault(reference, {})[name] = None
    return {identifier: tuple(collections) for identifier, collections in found.items()}


def _referenced(bundle: _Bundle, reference: object) -> _StixObject | None:
    return bundle.by_id.get(reference) if isinstance(reference, str) else None


def _collection_name(item: _StixObject) -> str:
    name = item.get("name")
    return name if isinstance(name, str) and name.strip() else str(item.get("id"))


def _add_indicator(
    builder: IndicatorSetBuilder, where: str, indicator: _StixObject, collections: tuple[str, ...]
) -> None:
    if indicator.get("revoked") is True:
        builder.problem(ProblemKind.REVOKED, where, "revoked by its producer")
        return
    pattern_type = indicator.get("pattern_type", "stix")
    if pattern_type != "stix":
        builder.problem(ProblemKind.UNSUPPORTED, where, f"pattern_type {pattern_type!r} is not supported")
        return
    pattern = indicator.get("pattern")
    if not isinstance(pattern, str):
        builder.problem(ProblemKind.INVALID, where, "indicator without a pattern string")
        return
    builder.add_pattern(pattern, collections, where)
