"""The STIX 2.1 export: valid for the stix2 library without custom content, deterministic, free of victim data."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import stix2
from stix2 import v21

from tests.builders import check
from vestige.indicators import bundled_sets
from vestige.ios.sample.demo import build_demo_backup
from vestige.model import Evidence, Finding, IndicatorMatch, Locator, Severity
from vestige.report.findings import FindingDocument, FindingsDocument, IndicatorDocument, findings_document
from vestige.report.stix import IDENTITY_ID, OBSERVABLES, VESTIGE, pattern, stix_bundle, stix_json

CLASSES = {
    "identity": v21.Identity,
    "indicator": v21.Indicator,
    "observed-data": v21.ObservedData,
    "sighting": v21.Sighting,
    "report": v21.Report,
    "domain-name": v21.DomainName,
    "file": v21.File,
    "process": v21.Process,
    "directory": v21.Directory,
    "url": v21.URL,
    "ipv4-addr": v21.IPv4Address,
    "ipv6-addr": v21.IPv6Address,
    "email-addr": v21.EmailAddress,
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> FindingsDocument:
    return findings_document(
        check(build_demo_backup(tmp_path_factory.mktemp("demo") / "backup"), bundled_sets()).result
    )


def parsed(bundle: dict[str, Any]) -> Any:
    """The bundle as the stix2 library reads it, refusing any custom object or property."""
    return stix2.parse(stix_json(bundle).decode(), allow_custom=False)


def test_the_demo_bundle_is_valid_stix_2_1_with_a_sighting_of_each_matched_indicator(demo: FindingsDocument) -> None:
    bundle = parsed(stix_bundle(demo))
    assert isinstance(bundle, v21.Bundle)
    assert all(isinstance(o, CLASSES[o.type]) for o in bundle.objects)
    assert Counter(o.type for o in bundle.objects) == {
        "identity": 1,
        "indicator": 5,
        "sighting": 14,
        "observed-data": 14,
        "domain-name": 3,
        "file": 1,
        "process": 1,
        "report": 1,
    }
    by_id = {o.id: o for o in bundle.objects}
    for sighting in (o for o in bundle.objects if o.type == "sighting"):
        assert by_id[sighting.sighting_of_ref].type == "indicator"
        assert [by_id[ref].type for ref in sighting.observed_data_refs] == ["observed-data"]
        assert sighting.created_by_ref == IDENTITY_ID
    # One sighting per finding and distinct indicator (set, type, value) it names.
    assert sum(len({(m.set_sha256, m.type, m.value) for m in f.indicators}) for f in demo.findings) == 14
    (report,) = (o for o in bundle.objects if o.type == "report")
    assert set(report.object_refs) == set(by_id) - {report.id}
    assert report.name == "vestige: 10 findings (2 critical, 5 high, 1 medium, 2 info)"


def test_the_sighting_of_bh_points_to_its_indicator_and_a_process_named_bh(demo: FindingsDocument) -> None:
    bundle = stix_bundle(demo)
    by_id = {o["id"]: o for o in bundle["objects"]}
    (indicator,) = (o for o in bundle["objects"] if o["type"] == "indicator" and o["name"] == "bh")
    pegasus = next(s for s in demo.indicator_sets if s.name == "amnesty/2021-07-18_nso/pegasus.stix2")
    expected = uuid.uuid5(VESTIGE, "\0".join(("indicator", pegasus.sha256, "process:name", "bh")))
    assert indicator["id"] == f"indicator--{expected}"
    assert indicator["pattern"] == "[process:name = 'bh']"
    assert indicator["valid_from"] == indicator["created"] == "2024-05-20T18:30:00.000000Z"  # the backup's date
    sightings = [o for o in bundle["objects"] if o["type"] == "sighting" and o["sighting_of_ref"] == indicator["id"]]
    assert [s["description"] for s in sightings] == [
        "vestige finding 85700d6f7d95312569ce (critical, rule ios.datausage.indicator_match)",
        "vestige finding 1953f00aba066737b677 (critical, rule ios.redirect_then_new_process)",
    ]
    assert {(s["first_seen"], s["last_seen"]) for s in sightings} == {
        ("2024-05-14T09:12:49.250000Z", "2024-05-14T09:12:49.250000Z")
    }
    (observed,) = (by_id[ref] for ref in sightings[0]["observed_data_refs"])
    (process,) = (by_id[ref] for ref in observed["object_refs"])
    assert process["type"] == "process"
    image = by_id[process["image_ref"]]
    # A file's identifier is the one STIX 2.1 defines: UUIDv5 of its identifying properties in canonical JSON.
    assert image == {
        "type": "file",
        "spec_version": "2.1",
        "id": "file--" + str(uuid.uuid5(OBSERVABLES, '{"name":"bh"}')),
        "name": "bh",
    }
    assert image["id"] == v21.File(name="bh").id  # as the stix2 library makes it


def test_two_exports_of_one_result_are_the_same_bytes(demo: FindingsDocument, tmp_path: Path) -> None:
    assert stix_json(stix_bundle(demo)) == stix_json(stix_bundle(demo))
    again = findings_document(
        check(build_demo_backup(tmp_path / "backup"), bundled_sets()).result
    )  # a second run, at another time
    assert stix_json(stix_bundle(again)) == stix_json(stix_bundle(demo))


def test_the_bundle_holds_no_victim_data(demo: FindingsDocument) -> None:
    text = stix_json(stix_bundle(demo)).decode()
    device = demo.acquisitions[0].device
    private = [
        "+212600112233",  # the SMS's sender
        "Votre colis",  # its text
        "smscentro.com/c2q7",  # the link's path
        "yahoo.fr",  # a site the victim visited
        "szev4hz",  # the exploit URL's path, from the visit row
        "Tweetie2",  # an app the victim uses
        "HomeDomain",
        str(device.name),
        str(device.serial),
        *device.identifiers.values(),
        *(e.excerpt for f in demo.findings for e in f.evidence),
        *(e.locator.sha256 or "-" for f in demo.findings for e in f.evidence),
        demo.acquisitions[0].merkle_root,
    ]
    assert [value for value in private if value in text] == []
    assert all(f.id in text for f in demo.findings)


def finding_with(*matches: IndicatorMatch, time: bool = True) -> FindingDocument:
    finding = Finding(
        "test.rule",
        Severity.HIGH,
        "a title",
        "why",
        (),
        (Evidence(Locator("a.db", "0" * 64, "t", 1), "private text"),),
        matches,
        time=datetime(2024, 1, 2, 3, 4, 5, 6000) if time else None,
    )
    return FindingDocument.model_validate(finding.as_json())


def match(kind: str, value: str) -> IndicatorMatch:
    return IndicatorMatch(value, kind, "Predator", "test/cytrox.stix2", "c" * 64)


EVERY_TYPE = [
    ("domain-name:value", "it's\\odd.example", ["domain-name"]),
    ("url:value", "https://x.example/a?b=1", ["url"]),
    ("ipv4-addr:value", "203.0.113.0/24", ["ipv4-addr"]),
    ("ipv6-addr:value", "2001:db8::1", ["ipv6-addr"]),
    ("email-addr:value", "op@x.example", ["email-addr"]),
    ("file:name", "payload.dylib", ["file"]),
    ("file:path", "/private/var/tmp/bh", ["directory", "file"]),
    ("directory:path", "/private/var/db/x", ["directory"]),
    ("file:hashes.'SHA-256'", "ab" * 32, ["file"]),
    ("file:hashes.MD5", "cd" * 16, ["file"]),
    ("app:id", "com.example.spy", []),
    ("configuration-profile:id", "ABC-123", []),
    ("stix-pattern", "[process:name = 'a'] OR [file:name = 'b']", []),
]


def test_every_indicator_type_gives_a_valid_indicator_and_only_standard_observables(
    demo: FindingsDocument,
) -> None:
    findings = [finding_with(match(kind, value)) for kind, value, _ in EVERY_TYPE]
    document = demo.model_copy(update={"findings": findings})
    bundle = stix_bundle(document)
    stix = parsed(bundle)
    by_id = {o.id: o for o in stix.objects}
    for (kind, _value, observables), finding in zip(EVERY_TYPE, findings, strict=True):
        (sighting,) = (o for o in stix.objects if o.type == "sighting" and finding.id in o.description)
        refs = getattr(sighting, "observed_data_refs", [])
        seen = [by_id[r] for ref in refs for r in by_id[ref].object_refs]
        below = [by_id[o.parent_directory_ref] for o in seen if getattr(o, "parent_directory_ref", None)]
        assert sorted(o.type for o in seen + below) == observables, kind
        assert stix2.utils.format_datetime(sighting.first_seen) == "2024-01-02T03:04:05.006Z"
    patterns = {o.name: o.pattern for o in stix.objects if o.type == "indicator"}
    assert patterns["it's\\odd.example"] == "[domain-name:value = 'it\\'s\\\\odd.example']"
    assert patterns["[process:name = 'a'] OR [file:name = 'b']"] == "[process:name = 'a'] OR [file:name = 'b']"
    file_path = next(o for o in stix.objects if o.type == "file" and o.name == "bh")
    assert by_id[file_path.parent_directory_ref].path == "/private/var/tmp"
    assert "private text" not in stix_json(bundle).decode()


def test_a_finding_without_a_time_is_sighted_at_the_result_time_and_no_finding_gives_a_report_alone(
    demo: FindingsDocument,
) -> None:
    undated = finding_with(match("domain-name:value", "x.example"), time=False)
    bundle = parsed(stix_bundle(demo.model_copy(update={"findings": [undated]})))
    (sighting,) = (o for o in bundle.objects if o.type == "sighting")
    assert not hasattr(sighting, "first_seen")
    (observed,) = (o for o in bundle.objects if o.type == "observed-data")
    assert observed.first_observed == observed.last_observed == sighting.created  # the acquisition's date
    empty = stix_bundle(demo.model_copy(update={"findings": []}))
    assert [o["type"] for o in empty["objects"]] == ["identity", "report"]
    assert empty["objects"][1]["object_refs"] == [IDENTITY_ID]
    assert empty["objects"][1]["name"] == "vestige: 0 findings"
    parsed(empty)


def test_a_quote_or_backslash_in_a_value_cannot_break_out_of_the_pattern() -> None:
    hostile = IndicatorDocument.model_validate(match("domain-name:value", "x'] OR [file:name = 'y").as_json())
    written = pattern(hostile)
    assert written == "[domain-name:value = 'x\\'] OR [file:name = \\'y']"
    v21.Indicator(pattern=written, pattern_type="stix", valid_from="2024-01-01T00:00:00Z")
    assert json.loads(json.dumps(written)) == written


def test_a_time_at_the_edge_of_the_calendar_is_left_out_not_a_defect(demo: FindingsDocument) -> None:
    edge = finding_with(match("domain-name:value", "x.example")).model_copy(
        update={"time": "0001-01-01T00:30:00.000000+01:00"}  # as findings.json keeps a time UTC cannot hold
    )
    bundle = stix_bundle(demo.model_copy(update={"findings": [edge]}))
    (sighting,) = (o for o in bundle["objects"] if o["type"] == "sighting")
    assert "first_seen" not in sighting
    assert sighting["created"] == "2024-05-20T18:30:00.000000Z"
    parsed(bundle)
