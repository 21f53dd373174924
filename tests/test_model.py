"""The shared vocabulary: locators as findings.json writes them, finding ids, severities, times."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime, timedelta, timezone

import pytest

from vestige.model import Evidence, Finding, IndicatorMatch, Locator, Problem, Severity, finding_id, format_time


def test_a_locator_writes_only_its_set_parts_and_wide_integers_as_text() -> None:
    assert Locator("a.db", None).parts() == {"path": "a.db", "sha256": None}
    wide = Locator("a.db", "00", table="t", row=2**53, line=3, offset=-(2**60), key="k", acquisition=2)
    assert wide.parts() == {
        "path": "a.db",
        "sha256": "00",
        "table": "t",
        "row": 2**53,
        "line": 3,
        "offset": -(2**60),
        "key": "k",
        "acquisition": 2,
    }
    assert wide.as_json()["row"] == "9007199254740992"
    assert wide.as_json()["offset"] == str(-(2**60))
    assert Locator("a.db", "00", row=2**53 - 1).as_json()["row"] == 2**53 - 1


def finding(**changes: object) -> Finding:
    base = Finding(
        rule="r",
        severity=Severity.LOW,
        title="t",
        explanation="e",
        caveats=("c",),
        evidence=(Evidence(Locator("p", "00", row=1), "x"),),
        indicators=(IndicatorMatch("v", "domain-name:value", "C", "S", "11"),),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_a_finding_id_is_the_digest_of_rule_evidence_and_indicators_only() -> None:
    first = finding()
    assert first.id == finding_id("r", [{"path": "p", "sha256": "00", "row": 1}], ["domain-name:value=v"])
    canonical = b'{"evidence":[{"path":"p","row":1,"sha256":"00"}],"indicators":["domain-name:value=v"],"rule":"r"}'
    assert first.id == hashlib.sha256(canonical).hexdigest()[:20] == "15af310275c9a7e6b932"
    assert finding(title="other", caveats=(), severity=Severity.HIGH).id == first.id
    assert finding(rule="other").id != first.id
    assert finding(evidence=(Evidence(Locator("p", "00", row=1, acquisition=0), "x"),)).id != first.id
    assert finding(indicators=()).id != first.id


def test_severities_parse_by_name_and_order() -> None:
    assert Severity.parse(" High ") is Severity.HIGH
    assert sorted([Severity.CRITICAL, Severity.INFO, Severity.MEDIUM]) == [
        Severity.INFO,
        Severity.MEDIUM,
        Severity.CRITICAL,
    ]
    with pytest.raises(
        ValueError, match=r"^unknown severity 'grave'; expected one of info, low, medium, high, critical$"
    ):
        Severity.parse("grave")


def test_times_are_written_in_utc_with_microseconds() -> None:
    moment = datetime(2024, 5, 14, 11, 12, 41, 250000, tzinfo=timezone(timedelta(hours=2)))
    assert format_time(moment) == "2024-05-14T09:12:41.250000Z"
    assert format_time(None) is None


def test_a_problem_names_its_acquisition_only_in_a_check_of_several() -> None:
    assert Problem("a", "p", "why").as_json() == {"artifact": "a", "path": "p", "reason": "why"}
    assert Problem("a", "p", "why", 1).as_json() == {"artifact": "a", "path": "p", "reason": "why", "acquisition": 1}
