"""findings.json as a typed document: built from a result, written canonically, read back to the same bytes,
its JSON Schema published and current, and documents that are not valid refused with where and why."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import orjson
import pytest

from vestige.analysis import AcquisitionSummary, ArtifactSummary, CorrelatorSummary, Result
from vestige.evidence.acquisition import DeviceInfo
from vestige.model import Evidence, Finding, IndicatorMatch, Locator, Problem, Severity
from vestige.report.findings import SCHEMA, FindingsFormatError, findings_document, json_schema, read_findings

PUBLISHED = Path(__file__).parent.parent.parent / "docs" / "findings.schema.json"


def result(several: bool = False) -> Result:
    position = 1 if several else None
    finding = Finding(
        rule="ios.sms.indicator_match",
        severity=Severity.HIGH,
        title="A message involves the domain example.org",
        explanation="Seen.",
        caveats=("A caveat.",),
        evidence=(
            Evidence(
                Locator("HomeDomain/sms.db", "ab" * 32, table="message", row=2**63 - 1, acquisition=position), "x"
            ),
        ),
        indicators=(IndicatorMatch("example.org", "domain-name:value", "Pegasus", "set.stix2", "cd" * 32),),
        time=datetime(2024, 5, 14, tzinfo=timezone.utc),
    )
    acquisitions = [AcquisitionSummary("ios-backup", DeviceInfo(name="phone"), 3, 2**60, "ef" * 32)]
    if several:
        acquisitions.append(AcquisitionSummary("pcap", DeviceInfo(), 1, 10, "01" * 32))
    return Result(
        acquisitions=acquisitions,
        indicator_sets=(),
        findings=[finding],
        problems=[Problem("ios.sms", "HomeDomain/sms.db", "unreadable", position)],
        artifacts=[ArtifactSummary("ios.sms", 1, "messages", ("HomeDomain/sms.db",), 5, position)],
        correlators=[CorrelatorSummary("ios.redirect_then_new_process", 1, "joins", 0, position)],
    )


def test_a_document_is_written_canonically_and_read_back_to_the_same_bytes() -> None:
    data = findings_document(result()).canonical()
    document = orjson.loads(data)
    assert document["schema"] == SCHEMA == "vestige.findings/2"
    locator = document["findings"][0]["evidence"][0]["locator"]
    assert locator == {"path": "HomeDomain/sms.db", "sha256": "ab" * 32, "table": "message", "row": str(2**63 - 1)}
    assert document["acquisitions"][0]["bytes"] == str(2**60)
    assert document["problems"] == [{"artifact": "ios.sms", "path": "HomeDomain/sms.db", "reason": "unreadable"}]
    assert read_findings(data).canonical() == data


def test_in_a_check_of_several_acquisitions_each_place_names_its_acquisition() -> None:
    data = findings_document(result(several=True)).canonical()
    document = orjson.loads(data)
    assert [a["kind"] for a in document["acquisitions"]] == ["ios-backup", "pcap"]
    assert document["findings"][0]["evidence"][0]["locator"]["acquisition"] == 1
    assert document["problems"][0]["acquisition"] == 1
    assert document["artifacts"][0]["acquisition"] == document["correlators"][0]["acquisition"] == 1
    assert read_findings(data).canonical() == data


def test_the_published_schema_is_the_one_the_model_generates_and_validates_documents() -> None:
    assert orjson.loads(PUBLISHED.read_bytes()) == json_schema(), (
        "run: python -m vestige.report.findings > docs/findings.schema.json"
    )
    jsonschema.validate(orjson.loads(findings_document(result()).canonical()), json_schema())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(extra=1), r"^findings\.json: extra: Extra inputs are not permitted$"),
        (
            lambda d: d.update(schema="vestige.findings/1"),
            r"^findings\.json: schema: Input should be 'vestige\.findings/2'",
        ),
        (
            lambda d: d["findings"][0].update(severity="grave"),
            r"^findings\.json: findings\.0\.severity: Input should be",
        ),
        (
            lambda d: d["findings"][0]["evidence"][0]["locator"].update(row=3),
            r"its id is not the digest of its rule, evidence and indicators",
        ),
    ],
)
def test_a_document_that_is_not_valid_is_refused_with_where(change, message) -> None:  # type: ignore[no-untyped-def]
    document = orjson.loads(findings_document(result()).canonical())
    change(document)
    with pytest.raises(FindingsFormatError, match=message):
        read_findings(orjson.dumps(document))
    with pytest.raises(FindingsFormatError, match=r"^x\.json: not JSON"):
        read_findings(b"{", "x.json")
