"""The custody log: JSON Lines of DSSE envelopes over RFC 8785 records, hash-chained, checkpointed.

Each record (schema ``vestige.custody/1``, docs/custody-design.md section 7.2) carries ``seq`` (from 0) and
``prev`` (``sha256:`` + the SHA-256 of the previous record's canonical payload), the case, the
action, the time as the host clock claims it, the actor's handle and key fingerprint, and the
digests the action produced. Integers that may exceed 2**53 are strings (a payload holding a larger
integer is not RFC 8785 JSON and is refused). ``record_problems`` says how a record departs from the
schema: an action vestige does not know, a field of the wrong type, an item, run or checkpoint name
that is not one vestige makes (such names become paths inside the bundle). A checkpoint
(``vestige.checkpoint/1``) is a signed RFC 6962 tree head over the canonical payloads of records
``0..n-1``: a later log that does not extend it is caught, which a hash chain alone cannot show.
"""

from __future__ import annotations

import hashlib
import re
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
    try:
        recanonical = canonical(record)
    except ValueError:  # rfc8785's CanonicalizationError: a number JSON parsers may not all read alike
        raise LogError(
            f"{LOG} line {number}: the payload is not RFC 8785 JSON (a number beyond the I-JSON range)"
        ) from None
    if recanonical != envelope.payload:
        raise LogError(f"{LOG} line {number}: the payload is not in RFC 8785 canonical form")
    return Entry(envelope, record)


Shape = type | tuple[type, ...] | re.Pattern[str] | dict[str, "Shape"] | list["Shape"]
"""What a record field must be: a type, a pattern a string must match, an object with these fields
(a name ending in ``?`` may be absent; other fields are allowed, they are signed like the rest),
or a list of one shape."""

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
FINGERPRINT = re.compile(r"ed25519:[0-9a-f]{64}")
ITEM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
RUN_NAME = re.compile(r"[0-9]{4,9}")
CHECKPOINT_NAME = re.compile(r"custody/checkpoints/[0-9]{6}\.json")
PARTY: Shape = {"handle": str, "key": FINGERPRINT}
FILES: Shape = [{"name": str, "sha256": SHA256_HEX}]
RECORD: dict[str, Shape] = {
    "schema": str,
    "seq": int,
    "prev": (str, type(None)),
    "time": {"utc": str, "source": str},
    "tool": {"name": str, "version": str, "package_sha256": SHA256_HEX},
    "case": ITEM_NAME,
    "actor": PARTY,
    "bag": {"manifest_sha256": SHA256_HEX, "info_sha256": SHA256_HEX, "payload_files": int},
    "action": str,
    "note?": str,
    "inputs?": FILES,
    "outputs?": FILES,
}
ACTION_FIELDS: dict[str, dict[str, Shape]] = {
    "open": {"bundle": {"type": str, "verify_md_sha256": SHA256_HEX}},
    "acquire": {
        "item": {"id": ITEM_NAME, "kind": str, "by_reference": bool, "shape": str},
        "digests": {
            "merkle_root": SHA256_HEX,
            "manifest_sha256": SHA256_HEX,
            "item_sha256": SHA256_HEX,
            "container_sha256?": SHA256_HEX,
        },
        "files": int,
        "size": str,
    },
    "analyze": {
        "item": {"id": ITEM_NAME, "kind": str, "by_reference": bool},
        "run": RUN_NAME,
        "digests": {"merkle_root": SHA256_HEX, "findings_sha256": SHA256_HEX, "attestation_sha256": SHA256_HEX},
    },
    "transfer": {"counterparty": PARTY},
    "key-rotate": {"counterparty": PARTY},
    "receive": {"transfer_seq": int},
    "anchor": {
        "checkpoint": CHECKPOINT_NAME,
        "digests": {"checkpoint_sha256": SHA256_HEX, "tsr_sha256": SHA256_HEX, "tsa_chain_sha256": SHA256_HEX},
    },
}


def record_problems(record: Mapping[str, Any]) -> list[str]:
    """How a record departs from ``vestige.custody/1``: an unknown action, a missing field, a field of
    another type, a name that is not one vestige makes. Empty for a well-formed record."""
    action = record.get("action")
    if isinstance(action, str) and action not in ACTIONS:
        return [f"unknown action {action!r}"]
    fields = {**RECORD, **ACTION_FIELDS.get(str(action), {})}
    return _shape_problems(record, fields, "")


def _shape_problems(value: object, shape: Shape, where: str) -> list[str]:
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [f"{where or 'the record'} is not an object"]
        problems: list[str] = []
        for name, inner in shape.items():
            field = name.removesuffix("?")
            if field in value:
                problems += _shape_problems(value[field], inner, f"{where}.{field}" if where else field)
            elif not name.endswith("?"):
                problems.append(f"{where}.{field} is missing" if where else f"{field} is missing")
        return problems
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [f"{where} is not a list"]
        return [
            problem
            for index, element in enumerate(value)
            for problem in _shape_problems(element, shape[0], f"{where}[{index}]")
        ]
    if isinstance(shape, re.Pattern):
        return (
            [] if isinstance(value, str) and shape.fullmatch(value) else [f"{where} is not a name vestige writes there"]
        )
    # bool is an int to Python; a field that is a count is never true or false
    if isinstance(value, bool) and shape is not bool and not (isinstance(shape, tuple) and bool in shape):
        return [f"{where} is not of the type vestige writes"]
    return [] if isinstance(value, shape) else [f"{where} is not of the type vestige writes"]


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
