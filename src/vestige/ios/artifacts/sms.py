"""SMS and iMessage, ``sms.db`` (HomeDomain ``Library/SMS/sms.db``).

Tables (iOS 17; docs/ios-formats.md section 4): ``message(ROWID, guid, text, attributedBody,
handle_id, service, date, date_read, is_from_me, ...)`` with dates in nanoseconds since 2001 (seconds
before iOS 11), ``handle(ROWID, id, service)``, ``attachment(ROWID, filename, mime_type,
transfer_name, created_date, is_outgoing)`` and ``message_attachment_join``. When ``text`` is NULL
the body is read from ``attributedBody``, a typedstream ``NSAttributedString`` whose first
``NSString`` holds the text.

URLs in message bodies are checked against indicators (never fetched; shortened links are not
expanded). Apple's threat notifications are high findings; a received attachment under
``/var/tmp/`` whose name ends in ``-1`` is the iMessage exploitation pattern MVT reports (medium).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator

from vestige.evidence.acquisition import IOS_BACKUP, Acquisition
from vestige.evidence.artifact import MatchPolicy, excerpt
from vestige.evidence.sqlite import require_tables, table_columns, table_names
from vestige.indicators.observables import extract_urls, observables_from_url, path_observables
from vestige.ios.timestamps import from_mac_absolute_auto
from vestige.model import JSON, Evidence, Finding, IndicatorLookup, Locator, Observable, Record, Severity

NAME = "ios.sms"
KINDS = (IOS_BACKUP,)
PATHS = ("HomeDomain/Library/SMS/sms.db", "private/var/mobile/Library/SMS/sms.db")
DESCRIPTION = "SMS/iMessage messages, their links and attachments from sms.db"
MATCHES = MatchPolicy(
    Severity.HIGH,
    "A message",
    ("Receiving a malicious link shows targeting, not infection; look for a visit to it at the same time.",),
)

THREAT_NOTIFICATIONS = (
    "alert: state-sponsored attackers may be targeting your iphone",
    "alert: apple detected a targeted mercenary spyware attack against your iphone",
)
_MESSAGE_COLUMNS = ("text", "attributedBody", "service", "date", "date_read", "is_from_me", "handle_id")


def parse(acquisition: Acquisition, path: str) -> Iterator[Record]:
    sha256 = acquisition.file(path).sha256
    with acquisition.sqlite(path) as db:
        require_tables(db, path, "message")
        yield from _messages(db, path, sha256)
        if table_columns(db, "attachment") >= {"filename", "ROWID"}:
            yield from _attachments(db, path, sha256)


def _messages(db: sqlite3.Connection, path: str, sha256: str | None) -> Iterator[Record]:
    present = table_columns(db, "message")
    columns = ", ".join(f"m.{c}" if c in present else f"NULL AS {c}" for c in _MESSAGE_COLUMNS)
    handles = "handle" in table_names(db)
    join = "LEFT JOIN handle h ON h.ROWID = m.handle_id" if handles else ""
    handle = "h.id" if handles else "NULL"
    rows = db.execute(f"SELECT m.ROWID, m.guid, {columns}, {handle} FROM message m {join} ORDER BY m.ROWID")
    for rowid, guid, text, body, service, date, date_read, from_me, _, sender in rows:
        if not isinstance(text, str) and isinstance(body, bytes):
            text = attributed_text(body)
        text = text if isinstance(text, str) else ""
        urls: list[JSON] = list(extract_urls(text))
        observables: list[Observable] = []
        for url in urls:
            observables.extend(observables_from_url(str(url)))
        direction = "sent to" if from_me else "received from"
        fields: dict[str, JSON] = {
            "kind": "message",
            "rowid": rowid,
            "guid": guid,
            "service": service,
            "handle": sender,
            "is_from_me": bool(from_me),
            "date": date,
            "date_read": date_read,
            "text": text,
            "urls": urls,
        }
        yield Record(
            artifact=NAME,
            locator=Locator(path, sha256, table="message", row=rowid),
            time=from_mac_absolute_auto(date),
            summary=f"{service or 'Message'} {direction} {sender or 'an unknown handle'}: {excerpt(text, 160)}",
            fields=fields,
            observables=tuple(dict.fromkeys(observables)),
            time_kind="message date",
        )


def _attachments(db: sqlite3.Connection, path: str, sha256: str | None) -> Iterator[Record]:
    present = table_columns(db, "attachment")
    optional = ", ".join(
        f"a.{c}" if c in present else f"NULL AS {c}"
        for c in ("mime_type", "transfer_name", "created_date", "is_outgoing")
    )
    join = "message_attachment_join" in table_names(db)
    message = "j.message_id" if join else "NULL"
    join_clause = "LEFT JOIN message_attachment_join j ON j.attachment_id = a.ROWID" if join else ""
    rows = db.execute(
        f"SELECT a.ROWID, a.filename, {optional}, {message} FROM attachment a {join_clause} ORDER BY a.ROWID"
    )
    for rowid, filename, mime, transfer_name, created, outgoing, message_id in rows:
        name = filename if isinstance(filename, str) else ""
        yield Record(
            artifact=NAME,
            locator=Locator(path, sha256, table="attachment", row=rowid),
            time=from_mac_absolute_auto(created),
            summary=f"{'Sent' if outgoing else 'Received'} attachment {name or transfer_name!r} ({mime})",
            fields={
                "kind": "attachment",
                "rowid": rowid,
                "filename": name,
                "mime_type": mime,
                "transfer_name": transfer_name,
                "is_outgoing": bool(outgoing),
                "message_rowid": message_id,
            },
            observables=path_observables(name) if name.startswith("/") else (),
            time_kind="attachment created",
        )


def attributed_text(blob: bytes) -> str | None:
    """The text of a typedstream ``NSAttributedString`` (``message.attributedBody``)."""
    start = blob.find(b"NSString")
    if start < 0:
        return None
    marker = blob.find(b"+", start + 8, start + 24)
    if marker < 0 or marker + 1 >= len(blob):
        return None
    length, cursor = blob[marker + 1], marker + 2
    if length == 0x81:
        length, cursor = int.from_bytes(blob[cursor : cursor + 2], "little"), cursor + 2
    elif length == 0x82:
        length, cursor = int.from_bytes(blob[cursor : cursor + 4], "little"), cursor + 4
    return blob[cursor : cursor + length].decode("utf-8", errors="replace")


def detect(records: Iterable[Record], indicators: IndicatorLookup) -> Iterator[Finding]:
    for record in records:
        kind = record.fields.get("kind")
        if kind == "message":
            yield from _threat_notification(record)
        elif kind == "attachment":
            yield from _tmp_attachment(record)


def _threat_notification(record: Record) -> Iterator[Finding]:
    text = record.fields.get("text")
    if not isinstance(text, str) or record.fields.get("is_from_me"):
        return
    if not text.lstrip().lower().startswith(THREAT_NOTIFICATIONS):
        return
    yield Finding(
        rule="ios.sms.apple_threat_notification",
        severity=Severity.HIGH,
        title="The phone received a message worded as Apple's threat notification",
        explanation=(
            f"Message {record.fields.get('rowid')} from {record.fields.get('handle')!r} begins like the iMessage "
            "Apple sends to people it believes were targeted by mercenary spyware: "
            f"{excerpt(text, 160)!r}."
        ),
        caveats=(
            "Phishing messages imitate these notifications; a genuine one never asks to install anything or to "
            "share codes. Check the sender and any link before relying on it.",
            "Apple's notification says Apple suspects targeting; it is not proof of an infection of this phone.",
        ),
        evidence=(Evidence(record.locator, excerpt(text)),),
        time=record.time,
    )


def _tmp_attachment(record: Record) -> Iterator[Finding]:
    name = record.fields.get("filename")
    if not isinstance(name, str) or record.fields.get("is_outgoing"):
        return
    if not (name.startswith(("/var/tmp/", "/private/var/tmp/")) and name.endswith("-1")):
        return
    yield Finding(
        rule="ios.sms.tmp_attachment",
        severity=Severity.MEDIUM,
        title="A received attachment was stored under /var/tmp with a name ending in -1",
        explanation=(
            f"Attachment {record.fields.get('rowid')} of message {record.fields.get('message_rowid')} is stored as "
            f"{name}. Ordinary attachments live under ~/Library/SMS/Attachments; this location and suffix match "
            "iMessage attachments seen in Pegasus zero-click exploitation."
        ),
        caveats=("Some system-generated attachments use temporary paths; check the message and its sender.",),
        evidence=(Evidence(record.locator, excerpt(name)),),
        time=record.time,
    )
