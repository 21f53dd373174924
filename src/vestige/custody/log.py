"""The custody log: JSON Lines of DSSE envelopes over RFC 8785 records, hash-chained, checkpointed.

Each record (schema ``vestige.custody/1``, docs/custody-design.md section 7.2) carries ``seq`` (from 0) and
``prev`` (``sha256:`` + the SHA-256 of the previous record's canonical payload), the case, the
action, the time as the host clock claims it, the actor's handle and key fingerprint, and the
digests the action produced. Integers that may exceed 2**53 are strings. A checkpoint
(``vestige.checkpoint/1``) is a signed RFC 6962 tree head over the canonical payloads of records
``0..n-1``: a later log that does not extend it is caught, which a hash chain alone cannot show.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import rfc8785

from vestige import __version__
from vestige.custody.distribution import package_digest
from vestige.custody.dsse import CHECKPOINT_TYPE, CUSTODY_TYPE, Envelope, EnvelopeError
from vestige.custody.keys import SigningKey
from vestige.evidence.merkle import MerkleRoot
from vestige.model import format_time

RECORD_SCHEMA = "vestige.custody/1"
CHECKPOINT_SCHEMA = "vestige.checkpoint/1"
LOG = "custody/custody.jsonl"
CHECKPOINTS = "custody/checkpoints"
ACTIONS = frozenset(
    {
        "open",
        "consent",
        "receive",
        "seal",
        "acquire",
        "hash",
        "verify",
        "copy",
        "transfer",
        "store",
        "unseal",
        "analyze",
        "redact",
        "export",
        "report",
        "anchor",
        "key-rotate",
        "dispose",
        "note",
    }
)


class LogError(Exception):
    """A custody log line that cannot be read as a record."""


def canonical(value: Any) -> bytes:
    return bytes(rfc8785.dumps(value))


def digest(payload: bytes) -> str:
    return "sha256:" + hashlib.sha256(payload).hexdigest()


def now() -> dict[str, str]:
    """The time of an action as the host clock claims it (only a timestamp anchors it from outside)."""
    return {"utc": format_time(datetime.now(timezone.utc)) or "", "source": "host-clock"}


@dataclass(frozen=True)
class Entry:
    """One line of the log: the envelope as written and its decoded record."""

    envelope: Envelope
    record: dict[str, Any]

    @property
    def seq(self) -> int:
        value = self.record.get("seq")
        return value if isinstance(value, int) else -1


def parse_line(line: bytes, number: int) -> Entry:
    try:
        envelope = Envelope.parse(line)
    except EnvelopeError as error:
        raise LogError(f"{LOG} line {number}: {error}") from None
    if envelope.payload_type != CUSTODY_TYPE:
        raise LogError(f"{LOG} line {number}: payload type {envelope.payload_type!r} is not a custody record")
    try:
        record = orjson.loads(envelope.payload)
    except orjson.JSONDecodeError:
        raise LogError(f"{LOG} line {number}: the payload is not JSON") from None
    if not isinstance(record, dict) or record.get("schema") != RECORD_SCHEMA:
        raise LogError(f"{LOG} line {number}: not a {RECORD_SCHEMA} record")
    if canonical(record) != envelope.payload:
        raise LogError(f"{LOG} line {number}: the payload is not in RFC 8785 canonical form")
    return Entry(envelope, record)


class CustodyLog:
    """The log of a bundle, read and appended to (appending never rewrites earlier lines)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / LOG

    def lines(self) -> list[bytes]:
        if not self.path.exists():
            return []
        return [line for line in self.path.read_bytes().split(b"\n") if line]

    def entries(self) -> list[Entry]:
        return [parse_line(line, number) for number, line in enumerate(self.lines(), start=1)]

    def append(self, fields: Mapping[str, Any], signers: Sequence[SigningKey]) -> Entry:
        """Adds a record after the last one, signed by ``signers`` (the first is the actor)."""
        entries = self.entries()
        record = {
            "schema": RECORD_SCHEMA,
            "seq": len(entries),
            "prev": digest(entries[-1].envelope.payload) if entries else None,
            "time": now(),
            "tool": tool(),
            **fields,
        }
        if record.get("action") not in ACTIONS:
            raise LogError(f"unknown custody action {record.get('action')!r}")
        envelope = Envelope(CUSTODY_TYPE, canonical(record))
        for key in signers:
            envelope = envelope.signed(key)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as stream:
            stream.write(envelope.line() + b"\n")
        return Entry(envelope, record)

    def countersign(self, seq: int, key: SigningKey) -> None:
        """Adds ``key``'s signature to record ``seq`` (a hand-over signed by its receiver)."""
        lines = self.lines()
        entry = parse_line(lines[seq], seq + 1)
        lines[seq] = entry.envelope.signed(key).line()
        self.path.write_bytes(b"".join(line + b"\n" for line in lines))

    def checkpoint(self, key: SigningKey, case: str) -> Path:
        """Writes a signed tree head over the whole log as the next checkpoint file."""
        entries = self.entries()
        body = {
            "schema": CHECKPOINT_SCHEMA,
            "case": case,
            "log": LOG,
            "tree_size": len(entries),
            "root": log_root(e.envelope.payload for e in entries),
            "last": digest(entries[-1].envelope.payload) if entries else None,
            "time": now(),
        }
        folder = self.root / CHECKPOINTS
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{len(list(folder.glob('*.json'))) + 1:06d}.json"
        target.write_bytes(Envelope(CHECKPOINT_TYPE, canonical(body)).signed(key).line() + b"\n")
        return target


def log_root(payloads: Iterator[bytes] | Sequence[bytes]) -> str:
    root = MerkleRoot()
    for payload in payloads:
        root.add_leaf(payload)
    return root.hexdigest()


def tool() -> dict[str, str]:
    return {"name": "vestige", "version": __version__, "package_sha256": package_digest()}
