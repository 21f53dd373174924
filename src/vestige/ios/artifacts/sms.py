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
from dataclasses import dataclass

from vestige.evidence.acquisition import Acquisition
from vestige.evidence.sqlite import Schema, Structure, Table
from vestige.evidence.values import SqlValue, as_flag, lenient_text, text_of
from vestige.indicators.observables import extract_urls, observables_from_url, path_observables
from vestige.ios.acquisitions import IOS_BACKUP
from vestige.ios.timestamps import from_mac_absolute_auto
from vestige.model import Evidence, Finding, IndicatorLookup, Locator, Observable, Record, Severity
from vestige.platforms import MatchPolicy, excerpt

NAME = "ios.sms"
VERSION = 2
PATHS = {IOS_BACKUP: ("HomeDomain/Library/SMS/sms.db",)}
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
MESSAGES = Table(
    "message",
    required=("ROWID", "guid"),
    optional=("text", "attributedBody", "service", "date", "date_read", "is_from_me", "handle_id"),
)
HANDLES = Table("handle", required=("ROWID", "id"))
ATTACHMENTS = Table(
    "attachment",
    required=("ROWID", "filename"),
    optional=("mime_type", "transfer_name", "created_date", "is_outgoing"),
)
ATTACHMENT_JOIN = Table("message_attachment_join", required=("message_id", "attachment_id"))
STRUCTURE = Structure(required=(MESSAGES,), optional=(HANDLES, ATTACHMENTS, ATTACHMENT_JOIN), writer="iOS")


@dataclass(frozen=True, slots=True)
class SmsMessage:
    """A ``message`` row with its sender's handle, its text (from ``attributedBody`` when ``text`` is
    NULL) and the URLs found in it."""

    rowid: SqlValue
    guid: SqlValue
    service: SqlValue
    handle: SqlValue
    is_from_me: bool
    date: SqlValue
    date_read: SqlValue
    text: str
    urls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SmsAttachment:
    """An ``attachment`` row and the message it belongs to."""

    rowid: SqlValue
    filename: str
    mime_type: SqlValue
    transfer_name: SqlValue
    is_outgoing: bool
    message_rowid: SqlValue


def parse(acquisition: Acquisition, path: str) -> Iterator[Record]:
    sha256 = acquisition.file(path).sha256
    with acquisition.sqlite(path) as db:
        schema = STRUCTURE.read(db, path)
        yield from _messages(db, schema, path, sha256)
        if schema.has(ATTACHMENTS):
            yield from _attachments(db, schema, path, sha256)


def _messages(db: sqlite3.Connection, schema: Schema, path: str, sha256: str | None) -> Iterator[Record]:
    handles = schema.has(HANDLES)
    join = "LEFT JOIN handle h ON h.ROWID = m.handle_id" if handles else ""
    handle = "h.id" if handles else "NULL"
    rows = db.execute(f"SELECT {schema.select(MESSAGES, 'm')}, {handle} FROM message m {join} ORDER BY m.ROWID")
    for rowid, guid, text, body, service, date, date_read, from_me, _, sender in rows:
        text = text_of(text)  # a body stored as a BLOB is still the text Messages shows
        if text is None and isinstance(body, bytes):
            text = attributed_text(body)
        text = text or ""
        urls = tuple(extract_urls(text))
        observables: list[Observable] = []
        for url in urls:
            observables.extend(observables_from_url(url))
        direction = "sent to" if as_flag(from_me) else "received from"
        yield Record(
            artifact=NAME,
            locator=Locator.of_row(path, sha256, "message", "ROWID", rowid),
            time=from_mac_absolute_auto(date),
            summary=f"{service or 'Message'} {direction} {sender or 'an unknown handle'}: {excerpt(text, 160)}",
            payload=SmsMessage(rowid, guid, service, sender, as_flag(from_me), date, date_read, text, urls),
            observables=tuple(dict.fromkeys(observables)),
            time_kind="message date",
        )


def _attachments(db: sqlite3.Connection, schema: Schema, path: str, sha256: str | None) -> Iterator[Record]:
    join = schema.has(ATTACHMENT_JOIN)
    message = "j.message_id" if join else "NULL"
    join_clause = "LEFT JOIN message_attachment_join j ON j.attachment_id = a.ROWID" if join else ""
    rows = db.execute(
        f"SELECT {schema.select(ATTACHMENTS, 'a')}, {message} FROM attachment a {join_clause} ORDER BY a.ROWID"
    )
    for rowid, filename, mime, transfer_name, created, outgoing, message_id in rows:
        name = text_of(filename) or ""
        yield Record(
            artifact=NAME,
            locator=Locator.of_row(path, sha256, "attachment", "ROWID", rowid),
            time=from_mac_absolute_auto(created),
            summary=f"{'Sent' if as_flag(outgoing) else 'Received'} attachment {name or transfer_name!r} ({mime})",
            payload=SmsAttachment(rowid, name, mime, transfer_name, as_flag(outgoing), message_id),
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
    return lenient_text(blob[cursor : cursor + length])


def detect(records: Iterable[Record], indicators: IndicatorLookup) -> Iterator[Finding]:
    for record in records:
        if isinstance(record.payload, SmsMessage):
            yield from _threat_notification(record, record.payload)
        elif isinstance(record.payload, SmsAttachment):
            yield from _tmp_attachment(record, record.payload)


def _threat_notification(record: Record, message: SmsMessage) -> Iterator[Finding]:
    if message.is_from_me or not message.text.lstrip().lower().startswith(THREAT_NOTIFICATIONS):
        return
    yield Finding(
        rule="ios.sms.apple_threat_notification",
        severity=Severity.HIGH,
        title="The phone received a message worded as Apple's threat notification",
        explanation=(
            f"Message {message.rowid!s} from {message.handle!r} begins like the iMessage "
            "Apple sends to people it believes were targeted by mercenary spyware: "
            f"{excerpt(message.text, 160)!r}."
        ),
        caveats=(
            "Phishing messages imitate these notifications; a genuine one never asks to install anything or to "
            "share codes. Check the sender and any link before relying on it.",
            "Apple's notification says Apple suspects targeting; it is not proof of an infection of this phone.",
        ),
        evidence=(Evidence(record.locator, excerpt(message.text)),),
        time=record.time,
    )


def _tmp_attachment(record: Record, attachment: SmsAttachment) -> Iterator[Finding]:
    name = attachment.filename
    if attachment.is_outgoing or not (name.startswith(("/var/tmp/", "/private/var/tmp/")) and name.endswith("-1")):
        return
    yield Finding(
        rule="ios.sms.tmp_attachment",
        severity=Severity.MEDIUM,
        title="A received attachment was stored under /var/tmp with a name ending in -1",
        explanation=(
            f"Attachment {attachment.rowid!s} of message {attachment.message_rowid!s} is stored as "
            f"{name}. Ordinary attachments live under ~/Library/SMS/Attachments; this location and suffix match "
            "iMessage attachments seen in Pegasus zero-click exploitation."
        ),
        caveats=("Some system-generated attachments use temporary paths; check the message and its sender.",),
        evidence=(Evidence(record.locator, excerpt(name)),),
        time=record.time,
    )
