"""Rayhunter-compatible NDJSON: the exact lines for a small synthetic log's findings (a redirect to GERAN and an
identity request on one message, a null cipher on another, a finding with no packet, a network finding left
out), and every line parsed back with exactly Rayhunter's keys."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

from vestige.analysis import ArtifactSummary, Result
from vestige.model import Evidence, Finding, Locator, Severity
from vestige.report.findings import findings_document, read_findings
from vestige.report.rayhunter import ANALYZERS, OTHER, Host, analyzer_of, write_rayhunter

LOG, SHA = "diag.qmdl", "c" * 64
T0 = datetime(2024, 5, 14, 9, 11, 41, 250000, tzinfo=timezone.utc)
HOST = Host("vestige 0.9.0", "Linux 6.1", "x86_64")


def finding(rule: str, severity: Severity, title: str, packet: int | None, seconds: float | None) -> Finding:
    locator = Locator(LOG, SHA, packet=packet) if packet is not None else Locator(LOG, SHA, key="cell 1")
    return Finding(
        rule=rule,
        severity=severity,
        title=title,
        explanation="...",
        caveats=(),
        evidence=(Evidence(locator, "excerpt"),),
        time=T0 + timedelta(seconds=seconds) if seconds is not None else None,
    )


def document_of(findings: list[Finding]) -> bytes:
    artifacts = [ArtifactSummary("cellular.signalling", 3, "Signalling messages", (LOG,), 400)]
    result = Result([], (), findings=findings, artifacts=artifacts)
    out = io.BytesIO()
    write_rayhunter(read_findings(findings_document(result).canonical()), out, HOST)
    return out.getvalue()


FINDINGS = [
    finding("cellular.lte_null_cipher", Severity.MEDIUM, "RRC security mode command with eea0", 312, 20),
    finding("cellular.lte_redirect_to_geran", Severity.HIGH, "Release redirecting to GERAN (2G)", 299, 0),
    finding("cellular.lte_identity_request", Severity.CRITICAL, "IMSI requested, then rejected", 299, 0),
    finding("cellular.lte_identity_request", Severity.INFO, "IMEISV requested after authentication", 299, 0),
    finding("cellular.gsm_broadcast_score", Severity.LOW, "Broadcast parameters score 1.7", None, 30),
    finding("network.tcp_race", Severity.HIGH, "A TCP race", 5, 1),
]


def empty(count: int) -> list[None]:
    return [None] * count


def test_the_lines_of_a_small_log() -> None:
    lines = document_of(FINDINGS).decode().splitlines()
    slots = len(ANALYZERS)
    assert [a.name for a in ANALYZERS][:3] == [
        "Connection Release/Redirected Carrier 2G Downgrade",
        "LTE SIB 6/7 Downgrade",
        "Null Cipher",
    ]
    assert json.loads(lines[0]) == {
        "analyzers": [{"name": a.name, "description": a.description, "version": 3} for a in ANALYZERS],
        "rayhunter": {"rayhunter_version": "vestige 0.9.0", "system_os": "Linux 6.1", "arch": "x86_64"},
        "report_version": 2,
    }
    redirect = {"event_type": "High", "message": "Release redirecting to GERAN (2G) (packet 299)"}
    imsi = {"event_type": "High", "message": "IMSI requested, then rejected (packet 299)"}
    imeisv = {"event_type": "Informational", "message": "IMEISV requested after authentication (packet 299)"}
    null = {"event_type": "Medium", "message": "RRC security mode command with eea0 (packet 312)"}
    score = {"event_type": "Low", "message": "Broadcast parameters score 1.7"}
    assert lines[1:] == [
        json.dumps(
            {
                "packet_timestamp": "2024-05-14T09:11:41.250000Z",
                "skipped_message_reason": None,
                "events": [redirect, *empty(4), imsi, *empty(slots - 6)],
            },
            separators=(",", ":"),
        ),
        json.dumps(
            {
                "packet_timestamp": "2024-05-14T09:11:41.250000Z",
                "skipped_message_reason": None,
                "events": [*empty(5), imeisv, *empty(slots - 6)],
            },
            separators=(",", ":"),
        ),
        json.dumps(
            {
                "packet_timestamp": "2024-05-14T09:12:01.250000Z",
                "skipped_message_reason": None,
                "events": [*empty(2), null, *empty(slots - 3)],
            },
            separators=(",", ":"),
        ),
        json.dumps(
            {
                "packet_timestamp": "2024-05-14T09:12:11.250000Z",
                "skipped_message_reason": None,
                "events": [*empty(11), score, None],
            },
            separators=(",", ":"),
        ),
    ]


def test_every_line_has_exactly_rayhunters_keys() -> None:
    lines = [json.loads(line) for line in document_of(FINDINGS).splitlines()]
    assert set(lines[0]) == {"analyzers", "rayhunter", "report_version"}
    assert all(set(a) == {"name", "description", "version"} for a in lines[0]["analyzers"])
    assert set(lines[0]["rayhunter"]) == {"rayhunter_version", "system_os", "arch"}
    assert len(lines) == 5
    for row in lines[1:]:
        assert set(row) == {"packet_timestamp", "skipped_message_reason", "events"}
        assert len(row["events"]) == len(ANALYZERS)
        for event in row["events"]:
            assert event is None or (
                set(event) == {"event_type", "message"}
                and event["event_type"] in {"Informational", "Low", "Medium", "High"}
            )


def test_without_cellular_findings_only_the_metadata_is_written() -> None:
    lines = document_of([FINDINGS[-1]]).splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["analyzers"][0]["version"] == 3


def test_rules_map_to_their_family() -> None:
    names = {
        "cellular.nas_null_cipher": "NAS Null Cipher Requested",
        "cellular.lte_null_cipher": "Null Cipher",
        "cellular.null_integrity": "Null Integrity",
        "cellular.sib_priority_downgrade": "LTE SIB 6/7 Downgrade",
        "cellular.authentication_mac_failure": "Authentication failure (MAC failure)",
        "cellular.imsi_exposing_reject": "Diagnostic detector for messages which might lead to IMSI exposure",
        "cellular.incomplete_sib1": "Incomplete SIB",
        "cellular.gsm_location_update_imsi_reject": "2G identification catcher",
        "cellular.gsm_cipher_downgrade": "2G cipher downgrade",
        "cellular.something_new": OTHER.name,
    }
    assert {rule: analyzer_of(rule).name for rule in names} == names
