"""The findings as a STIX 2.1 bundle that can be shared without the victim's data.

STIX 2.1 (OASIS Committee Specification, part 3 for the domain objects, part 4 for the observables, part
5.7 for sightings, part 6 for patterns). For each finding that an indicator names:

- an ``indicator`` re-created from the matched value and type (``[domain-name:value = 'x.com']``; a
  pattern of several terms as the set wrote it), with the set's name and SHA-256 in its description;
- ``observed-data`` holding only the observable the indicator names (a ``domain-name``, ``url``, IP
  address, ``email-addr``, a ``file`` by name, path or hash, a ``process`` by its image's name), never
  the message, visit or row it was seen in: a type with no STIX observable (``app:id``, ...) has none;
- a ``sighting`` of the indicator, citing the observed data, with the finding's time, id and rule.

An ``identity`` names vestige as the creator of every object, and a ``report`` lists every finding by
severity, rule, id and the indicators that name it (never its title or explanation, which may quote the
evidence: the site a visit went to) and refers to every object.

Nothing depends on when the export runs: identifiers are UUIDv5 of what an object stands for (an
indicator: its set's SHA-256, type and value; a sighting: the finding's id and the indicator), cyber
observables take the identifiers STIX 2.1 part 2.9 defines (UUIDv5 of their identifying properties,
in the STIX namespace), and every timestamp comes from the result: objects are dated by the latest time
the result holds (a finding's time or an acquisition's date), sightings by their finding's time. Two
exports of one result are the same bytes.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson
import rfc8785

from vestige.indicators import types
from vestige.model import Severity, format_time
from vestige.report.findings import FindingDocument, FindingsDocument, IndicatorDocument

VESTIGE = uuid.UUID("6f1d4d3e-5b7a-5c38-9b0e-7c2f64a1d9e3")
"""The namespace of the UUIDv5 identifiers vestige gives its STIX objects."""
OBSERVABLES = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
"""The namespace STIX 2.1 part 2.9 gives the UUIDv5 identifiers of cyber observables."""
IDENTITY_CREATED = "2024-01-01T00:00:00.000Z"
"""When vestige's identity object is dated: one fixed time, so that every export carries the same object."""
NO_TIME = "1970-01-01T00:00:00.000Z"
"""The date of a result that holds no time at all (no finding with a time, no acquisition date)."""

Object = dict[str, Any]

_VALUE_OBSERVABLES = {
    types.DOMAIN: "domain-name",
    types.URL: "url",
    types.IPV4: "ipv4-addr",
    types.IPV6: "ipv6-addr",
    types.EMAIL: "email-addr",
}
_HASHES = {types.MD5: "MD5", types.SHA1: "SHA-1", types.SHA256: "SHA-256"}


def _id(kind: str, *parts: str) -> str:
    return f"{kind}--{uuid.uuid5(VESTIGE, chr(0).join((kind, *parts)))}"


def observable_id(kind: str, identifying: dict[str, Any]) -> str:
    """A cyber observable's identifier as STIX 2.1 part 2.9 defines it: UUIDv5, in the STIX namespace,
    of the RFC 8785 canonical JSON of its identifying properties."""
    return f"{kind}--{uuid.uuid5(OBSERVABLES, rfc8785.dumps(identifying).decode())}"


IDENTITY_ID = _id("identity", "vestige")


def identity() -> Object:
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": IDENTITY_ID,
        "created": IDENTITY_CREATED,
        "modified": IDENTITY_CREATED,
        "name": "vestige",
        "description": "vestige, verifiable mobile-spyware forensics: the tool that made these objects.",
        "identity_class": "system",
    }


def stix_time(text: str) -> str | None:
    """A time of the result as a STIX timestamp (UTC, with a ``Z``, to the microsecond), or None for a time
    STIX cannot hold: one at the edge of the calendar that UTC cannot hold, which findings.json keeps with
    its own offset."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return format_time(moment.astimezone(timezone.utc))
    except (ValueError, OverflowError):
        return None


def result_time(document: FindingsDocument) -> str:
    """The latest time the result holds: the date of the objects that have no time of their own. (Every
    time is written in one format with a four-digit year, so the latest is the greatest text.)"""
    texts = [f.time for f in document.findings] + [a.device.acquired for a in document.acquisitions]
    times = [t for t in (stix_time(text) for text in texts if text is not None) if t is not None]
    return max(times) if times else NO_TIME


def pattern(match: IndicatorDocument) -> str:
    """The STIX pattern of a matched indicator: one comparison (the value quoted as part 6 says: a
    backslash and a quote escaped by a backslash), or the whole pattern of a match of several terms."""
    if match.type == types.COMPOUND:
        return match.value
    quoted = match.value.replace("\\", "\\\\").replace("'", "\\'")
    return f"[{match.type} = '{quoted}']"


@dataclass
class StixBundle:
    """The objects of the export, each once, in the order first made."""

    time: str
    objects: dict[str, Object] = field(default_factory=dict)

    def add(self, made: Object) -> str:
        self.objects.setdefault(made["id"], made)
        return str(made["id"])

    def indicator(self, match: IndicatorDocument, collections: Iterable[str]) -> str:
        named = ", ".join(dict.fromkeys(collections))
        return self.add(
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": _id("indicator", match.set_sha256, match.type, match.value),
                "created_by_ref": IDENTITY_ID,
                "created": self.time,
                "modified": self.time,
                "name": match.value,
                "description": f"{match.type} {match.value} from the indicator set {match.set_name} (SHA-256 "
                f"{match.set_sha256}), collection {named}; re-created by vestige from the matched value.",
                "pattern": pattern(match),
                "pattern_type": "stix",
                "pattern_version": "2.1",
                "valid_from": self.time,
            }
        )

    def observables(self, match: IndicatorDocument) -> list[str]:
        """The cyber observables an indicator names (the last one the one observed), or none."""
        kind = _VALUE_OBSERVABLES.get(match.type)
        if kind is not None:
            return [self._observable(kind, {"value": match.value})]
        if match.type in _HASHES:
            return [self._observable("file", {"hashes": {_HASHES[match.type]: match.value}})]
        if match.type == types.FILE_NAME:
            return [self._observable("file", {"name": match.value})]
        if match.type == types.DIRECTORY_PATH:
            return [self._observable("directory", {"path": match.value})]
        if match.type == types.FILE_PATH:
            folder, _, name = match.value.rpartition("/")
            parent = self._observable("directory", {"path": folder or "/"})
            return [parent, self._observable("file", {"name": name, "parent_directory_ref": parent})]
        if match.type == types.PROCESS:
            image = self._observable("file", {"name": match.value})
            # A process has no identifying property in STIX 2.1: its identifier is vestige's, made of its image.
            return [
                image,
                self.add({"type": "process", "spec_version": "2.1", "id": _id("process", image), "image_ref": image}),
            ]
        return []

    def _observable(self, kind: str, identifying: dict[str, Any]) -> str:
        return self.add({"type": kind, "spec_version": "2.1", "id": observable_id(kind, identifying), **identifying})

    def finding(self, finding: FindingDocument) -> None:
        """The indicators, observed data and sightings of one finding."""
        when = stix_time(finding.time) if finding.time is not None else None  # None: not placed in time
        collections: dict[tuple[str, str, str], list[str]] = {}
        for match in finding.indicators:
            collections.setdefault((match.set_sha256, match.type, match.value), []).append(match.collection)
        seen: set[tuple[str, str, str]] = set()
        for match in finding.indicators:
            key = (match.set_sha256, match.type, match.value)
            if key in seen:
                continue
            seen.add(key)
            indicator = self.indicator(match, collections[key])
            observed = self.observables(match)
            sighting: Object = {
                "type": "sighting",
                "spec_version": "2.1",
                "id": _id("sighting", finding.id, indicator),
                "created_by_ref": IDENTITY_ID,
                "created": self.time,
                "modified": self.time,
                "description": f"vestige finding {finding.id} ({finding.severity}, rule {finding.rule})",
                "sighting_of_ref": indicator,
                "count": 1,
            }
            if when is not None:
                sighting["first_seen"] = sighting["last_seen"] = when
            if observed:
                sighting["observed_data_refs"] = [self.observed_data(finding, indicator, observed[-1], when)]
            self.add(sighting)

    def observed_data(self, finding: FindingDocument, indicator: str, observable: str, when: str | None) -> str:
        return self.add(
            {
                "type": "observed-data",
                "spec_version": "2.1",
                "id": _id("observed-data", finding.id, indicator),
                "created_by_ref": IDENTITY_ID,
                "created": self.time,
                "modified": self.time,
                "first_observed": when or self.time,
                "last_observed": when or self.time,
                "number_observed": 1,
                "object_refs": [observable],
            }
        )


def stix_bundle(document: FindingsDocument) -> Object:
    """The STIX 2.1 bundle of a result."""
    bundle = StixBundle(result_time(document))
    bundle.add(identity())
    for finding in document.findings:
        bundle.finding(finding)
    digest = hashlib.sha256(document.canonical()).hexdigest()
    bundle.add(report(document, digest, bundle.time, list(bundle.objects)))
    return {"type": "bundle", "id": _id("bundle", digest), "objects": list(bundle.objects.values())}


def report(document: FindingsDocument, digest: str, time: str, refs: list[str]) -> Object:
    """The report: how many findings of each severity, then one line per finding: its severity, rule, id and
    the indicators that name it. Not its title, which may quote what the evidence holds (the site a visit
    went to: "An http:// visit to yahoo.fr was redirected...")."""
    labels: list[str] = [f.severity for f in document.findings]
    counts = ", ".join(f"{n} {s.label}" for s in sorted(Severity, reverse=True) if (n := labels.count(s.label)))
    lines = [
        f"{f.severity} {f.rule} {f.id}" + "".join(f"; {m.type} {m.value} ({m.collection})" for m in _distinct(f))
        for f in _by_severity(document.findings)
    ]
    return {
        "type": "report",
        "spec_version": "2.1",
        "id": _id("report", digest),
        "created_by_ref": IDENTITY_ID,
        "created": time,
        "modified": time,
        "name": f"vestige: {len(document.findings)} findings" + (f" ({counts})" if counts else ""),
        "description": "\n".join(
            [f"Findings of a vestige {document.vestige_version} check (findings.json SHA-256 {digest}):", *lines]
        ),
        "report_types": ["observed-data"],
        "published": time,
        "object_refs": refs,
    }


def _distinct(finding: FindingDocument) -> list[IndicatorDocument]:
    """A finding's indicators, one per type, value and collection."""
    return list({(m.type, m.value, m.collection): m for m in finding.indicators}.values())


def _by_severity(findings: list[FindingDocument]) -> list[FindingDocument]:
    return sorted(findings, key=lambda f: -Severity.parse(f.severity))


def stix_json(bundle: Object) -> bytes:
    """A bundle as the bytes of the export file."""
    return orjson.dumps(bundle, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
