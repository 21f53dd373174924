"""sms.db (iOS 17 schema): links in messages, attributedBody, threat notifications, /var/tmp attachments."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.builders import T0, backup_with, check, plain_set
from vestige.ios.artifacts.sms import SmsAttachment, SmsMessage, attributed_text
from vestige.ios.sample.schemas import SMS_DB
from vestige.ios.timestamps import MAC_EPOCH
from vestige.model import Severity

NS = round((T0 - MAC_EPOCH).total_seconds()) * 1_000_000_000


def typedstream(text: str) -> bytes:
    """An attributedBody as iOS writes it: a typedstream NSAttributedString whose NSString holds the text."""
    body = text.encode()
    length = bytes([len(body)]) if len(body) < 0x80 else b"\x81" + len(body).to_bytes(2, "little")
    return (
        b"\x04\x0bstreamtyped\x81\xe8\x03\x84\x01@\x84\x84\x84\x12NSAttributedString\x00\x84\x84\x08NSObject\x00"
        b"\x85\x92\x84\x84\x84\x08NSString\x01\x94\x84\x01+" + length + body + b"\x86\x84\x02iI\x01\x05\x92"
    )


def fill(db: sqlite3.Connection) -> None:
    db.executemany(
        "INSERT INTO handle (ROWID, id, service) VALUES (?, ?, ?)",
        [(1, "+33600000001", "SMS"), (2, "apple", "iMessage")],
    )
    rows = [
        (1, "Colis en attente: https://smscentro.com/c2q7/verify et www.example.org", None, 1, "SMS", NS, 0),
        (2, None, typedstream("Lien: https://tookcheckout.com/x"), 1, "iMessage", NS + 10**9, 0),
        (
            3,
            "ALERT: State-sponsored attackers may be targeting your iPhone\nApple believes you are being targeted.",
            None,
            2,
            "iMessage",
            NS + 2 * 10**9,
            0,
        ),
        (4, "ALERT: State-sponsored attackers may be targeting your iPhone", None, 1, "SMS", NS + 3 * 10**9, 1),
    ]
    db.executemany(
        "INSERT INTO message (ROWID, guid, text, attributedBody, handle_id, service, date, is_from_me)"
        " VALUES (?, 'g' || ?, ?, ?, ?, ?, ?, ?)",
        [(r[0], r[0], *r[1:]) for r in rows],
    )
    db.executemany(
        "INSERT INTO attachment (ROWID, guid, filename, mime_type, is_outgoing, created_date)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (1, "a1", "/var/tmp/com.apple.messages/4A1F-1", "image/gif", 0, NS),
            (2, "a2", "~/Library/SMS/Attachments/0a/10/IMG_0001.HEIC", "image/heic", 0, NS),
            (3, "a3", "/var/tmp/outgoing-1", "image/gif", 1, NS),
        ],
    )
    db.executemany("INSERT INTO message_attachment_join VALUES (?, ?)", [(2, 1), (1, 2), (4, 3)])


def test_messages_and_attachments_become_records(tmp_path: Path) -> None:
    result = check(backup_with(tmp_path / "b", [("HomeDomain", "Library/SMS/sms.db", SMS_DB, fill)]))
    records = result.artifact_records("ios.sms")
    assert [(type(r.payload), r.locator.table, r.locator.row) for r in records] == [
        (SmsMessage, "message", 1),
        (SmsMessage, "message", 2),
        (SmsMessage, "message", 3),
        (SmsMessage, "message", 4),
        (SmsAttachment, "attachment", 1),
        (SmsAttachment, "attachment", 2),
        (SmsAttachment, "attachment", 3),
    ]
    first = records[0]
    assert first.time == T0
    assert isinstance(first.payload, SmsMessage)
    assert first.payload.urls == ("https://smscentro.com/c2q7/verify", "www.example.org")
    assert first.summary.startswith("SMS received from +33600000001: Colis en attente")
    assert isinstance(records[1].payload, SmsMessage) and records[1].payload.text == "Lien: https://tookcheckout.com/x"
    assert isinstance(records[4].payload, SmsAttachment) and records[4].payload.message_rowid == 2


def test_links_are_matched_and_never_fetched(tmp_path: Path) -> None:
    sets = [plain_set("pegasus", "domains", ["smscentro.com", "tookcheckout.com"])]
    result = check(backup_with(tmp_path / "b", [("HomeDomain", "Library/SMS/sms.db", SMS_DB, fill)]), sets)
    matches = result.findings("ios.sms.indicator_match")
    assert [(f.evidence[0].locator.row, f.severity, f.indicators[0].value) for f in matches] == [
        (1, Severity.HIGH, "smscentro.com"),
        (2, Severity.HIGH, "tookcheckout.com"),
    ]
    assert matches[0].title == "A message involves the domain smscentro.com, named by a pegasus indicator"


def test_a_received_threat_notification_is_high_and_a_sent_copy_is_not(tmp_path: Path) -> None:
    result = check(backup_with(tmp_path / "b", [("HomeDomain", "Library/SMS/sms.db", SMS_DB, fill)]))
    [finding] = result.findings("ios.sms.apple_threat_notification")
    assert finding.severity is Severity.HIGH
    assert finding.evidence[0].locator.row == 3
    assert "Phishing messages imitate these notifications" in finding.caveats[0]


def test_only_received_var_tmp_attachments_ending_in_dash_one_are_flagged(tmp_path: Path) -> None:
    result = check(backup_with(tmp_path / "b", [("HomeDomain", "Library/SMS/sms.db", SMS_DB, fill)]))
    [finding] = result.findings("ios.sms.tmp_attachment")
    assert finding.severity is Severity.MEDIUM
    assert finding.evidence[0].excerpt == "/var/tmp/com.apple.messages/4A1F-1"


def test_attributed_text_reads_long_strings_and_refuses_garbage() -> None:
    long_text = "x" * 300
    assert attributed_text(typedstream(long_text)) == long_text
    assert attributed_text(b"no marker here") is None
