"""Rayhunter-compatible NDJSON: the exact lines for a small synthetic log's findings (a redirect to GERAN and an
identity request on one message, a null cipher on another, a finding with no packet, a network finding left
out), and every line parsed back with exactly Rayhunter's keys."""

from __future__ import annotations

import io
import json
import platform
from datetime import datetime, timedelta, timezone
from pathlib import Path

from click.testing import CliRunner

from tests.correlations.test_baseband import downgraded_diag_log
from vestige import __version__
from vestige.analysis import ArtifactSummary, Result
from vestige.cellular import lte_detectors
from vestige.cli import main
from vestige.model import Evidence, Finding, Locator, Severity
from vestige.report.findings import findings_document, read_findings
from vestige.report.rayhunter import ANALYZERS, OTHER, Host, analyzer_of, write_rayhunter

LOG, SHA = "diag.qmdl", "c" * 64
T0 = datetime(2024, 5, 14, 9, 11, 41, 250000, tzinfo=timezone.utc)
IDENTITY = "Identity (IMSI or IMEI) requested in suspicious manner"
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
    finding("cellular.lte.null_cipher_as", Severity.MEDIUM, "RRC security mode command with eea0", 312, 20),
    finding("cellular.lte.redirect_downgrade", Severity.HIGH, "Release redirecting to GERAN (2G)", 299, 0),
    finding("cellular.lte.imsi_request_then_reject", Severity.CRITICAL, "IMSI requested, then rejected", 299, 0),
    finding("cellular.lte.equipment_identity_request", Severity.INFO, "IMEISV requested after authentication", 299, 0),
    finding("cellular.gsm.catcher_score", Severity.LOW, "Broadcast parameters score 1.7", None, 30),
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


def test_every_rule_of_vestiges_cellular_detectors_has_its_family() -> None:
    families = {
        "cellular.lte.redirect_downgrade": "Connection Release/Redirected Carrier 2G Downgrade",
        "cellular.lte.sib_priority_downgrade": "LTE SIB 6/7 Downgrade",
        "cellular.lte.null_cipher_as": "Null Cipher",
        "cellular.umts.null_cipher": "Null Cipher",
        "cellular.lte.null_cipher_nas": "NAS Null Cipher Requested",
        "cellular.lte.null_integrity": "Null Integrity",
        "cellular.lte.imsi_request_then_reject": IDENTITY,
        "cellular.lte.imsi_request_unsolicited": IDENTITY,
        "cellular.lte.equipment_identity_request": IDENTITY,
        "cellular.lte.identity_request_then_no_service": IDENTITY,
        "cellular.umts.imsi_request_reject": IDENTITY,
        "cellular.lte.authentication_mac_failure": "Authentication failure (MAC failure)",
        "cellular.lte.imsi_exposing_message": "Diagnostic detector for messages which might lead to IMSI exposure",
        "cellular.lte.incomplete_sib1": "Incomplete SIB",
        "cellular.gsm.no_ciphering": "2G cipher downgrade",
        "cellular.gsm.cipher_downgrade": "2G cipher downgrade",
        "cellular.gsm.gprs_weak_cipher": "2G cipher downgrade",
        "cellular.gsm.breakable_cipher": "2G cipher downgrade",
        "cellular.gsm.location_update_imsi_reject": "2G identification catcher",
        "cellular.gsm.catcher_score": "2G broadcast parameter score",
    }
    assert {rule: analyzer_of(rule).name for rule in families} == families
    lte_rules = {value for name, value in vars(lte_detectors).items() if name.endswith("_RULE")}
    assert lte_rules == {rule for rule in families if rule.startswith("cellular.lte.")}


def test_a_rule_of_a_newer_vestige_goes_by_its_words() -> None:
    assert analyzer_of("cellular.nr.null_cipher_nas").name == "NAS Null Cipher Requested"
    assert analyzer_of("cellular.gsm.a5_2_offered").name == "2G cipher downgrade"
    assert analyzer_of("cellular.lte.something_new") is OTHER


def test_vestige_check_format_rayhunter_writes_the_report_of_a_log_into_the_output_folder(tmp_path: Path) -> None:
    log = downgraded_diag_log(tmp_path / "diag.qmdl")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["check", str(log), "-o", str(out), "--no-bundled-iocs", "--format", "rayhunter"])
    assert result.exit_code == 0, result.output
    assert f"Rayhunter NDJSON: {out / 'rayhunter.ndjson'} (3 rows, 3 cellular findings)" in result.output
    lines = [json.loads(line) for line in (out / "rayhunter.ndjson").read_bytes().splitlines()]
    assert lines[0]["rayhunter"] == {
        "rayhunter_version": f"vestige {__version__}",
        "system_os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
    }
    assert [a["version"] for a in lines[0]["analyzers"]] == [1] * len(ANALYZERS)
    slots = len(ANALYZERS)
    assert lines[1:] == [
        {
            "packet_timestamp": "2024-05-14T09:11:41.250000Z",
            "skipped_message_reason": None,
            "events": [
                {
                    "event_type": "High",
                    "message": "An RRC connection release redirected the phone to GSM (GERAN), carrier 10 (packet 3)",
                },
                *empty(slots - 1),
            ],
        },
        {
            "packet_timestamp": "2024-05-14T09:12:01.250000Z",
            "skipped_message_reason": None,
            "events": [
                *empty(9),
                {
                    "event_type": "Low",
                    "message": "A GSM ciphering mode command started no ciphering on GSM, PLMN 001-01, LAC 1, cell 1, "
                    "ARFCN 20, BSIC 7 (packet 6)",
                },
                *empty(slots - 10),
            ],
        },
        {
            "packet_timestamp": "2024-05-14T09:16:41.250000Z",
            "skipped_message_reason": None,
            "events": [
                *empty(11),
                {
                    "event_type": "Informational",
                    "message": "GSM, PLMN 001-01, LAC 1, cell 1, ARFCN 20, BSIC 7 scores 2.5 on SnoopSnitch's IMSI "
                    "catcher criteria (packet 7)",
                },
                *empty(slots - 12),
            ],
        },
    ]


def test_format_rayhunter_is_refused_with_a_case(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("")
    result = CliRunner().invoke(
        main, ["check", "item", "--case", str(tmp_path), "--key", str(key), "--format", "rayhunter"]
    )
    assert result.exit_code == 2
    assert "--format writes into the output folder of a check, not into a case bundle" in result.output
