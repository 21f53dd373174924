"""Rollback detection: the log a verifier is shown must extend a checkpoint they were given earlier.

A bundle's own checkpoints cannot show a rollback: whoever removes the latest records removes their
checkpoints with them, and what is left is a shorter log that is consistent in every way. Only a
tree head kept outside the bundle can show it, which is what Certificate Transparency clients do
with the signed tree heads they have seen (RFC 9162 section 8.1.2). ``vestige case checkpoint DIR``
prints the log's current tree head as one line, ``SIZE:ROOT`` (the number of records and the RFC
6962 root over their canonical payloads, the root the signed checkpoint files state), to hand to a
court, a lawyer or a second lab. ``vestige verify --since SIZE:ROOT`` later builds the consistency
proof from the bundle's log, checks it with the RFC 9162 section 2.1.4.2 algorithm and puts it in
the report, so anyone can check it with another implementation: a truncated log (fewer records than
the checkpoint) or a forked one (a record at or before it changed, removed or replaced) fails.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from vestige.custody.dsse import Envelope, EnvelopeError
from vestige.custody.log import CHECKPOINTS, LOG, Entry, LogError, log_root, parse_line
from vestige.evidence.merkle import consistency_proof, leaf_hash, verify_consistency

if TYPE_CHECKING:
    from vestige.custody.verify import Report

ROLLBACK = "rollback"
_LINE = re.compile(r"([1-9][0-9]{0,17}):([0-9a-f]{64})", re.ASCII)


class CheckpointError(Exception):
    """A ``SIZE:ROOT`` line that cannot be read, or a log whose tree head cannot be given."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head of a custody log: its number of records and the RFC 6962 root over them."""

    size: int
    root: bytes

    def line(self) -> str:
        return f"{self.size}:{self.root.hex()}"


def parse_checkpoint(text: str) -> Checkpoint:
    """``SIZE:ROOT`` as ``case checkpoint`` prints it: a positive number of records in ASCII digits,
    a colon and 64 lowercase hex digits (surrounding white space is ignored, nothing else is)."""
    match = _LINE.fullmatch(text.strip())
    if match is None:
        raise CheckpointError(
            f"{text.strip()[:80]!r} is not a checkpoint: expected SIZE:ROOT, the number of records and "
            "64 lowercase hex digits, as 'vestige case checkpoint' prints them"
        )
    return Checkpoint(int(match[1]), bytes.fromhex(match[2]))


def current_checkpoint(root: Path) -> Checkpoint:
    """The tree head of the bundle's log now; it must be the one its latest signed checkpoint file
    states, so the line handed over is the one a verifier of this bundle will see signed."""
    entries = _read_log(root)
    if not entries:
        raise CheckpointError(f"{LOG}: the custody log is empty")
    head = Checkpoint(len(entries), bytes.fromhex(log_root(e.envelope.payload for e in entries)))
    latest = root / CHECKPOINTS / f"{head.size:06d}.json"
    try:
        body = orjson.loads(Envelope.parse(_regular_bytes(latest).removesuffix(b"\n")).payload)
    except (OSError, EnvelopeError, orjson.JSONDecodeError) as error:
        where = f"{CHECKPOINTS}/{latest.name}"
        raise CheckpointError(f"{where}: the latest signed checkpoint cannot be read ({error})") from None
    if not isinstance(body, dict) or body.get("tree_size") != head.size or body.get("root") != head.root.hex():
        raise CheckpointError(
            f"{CHECKPOINTS}/{latest.name} does not state the log's tree head; run 'vestige verify' on the bundle"
        )
    return head


def check_since(report: Report, entries: Sequence[Entry], since: Checkpoint) -> None:
    """Whether the log of ``entries`` extends ``since``; the proof goes in the report's facts."""
    from vestige.custody.verify import INTEGRITY  # verify imports this module for its --since hook

    hashes = [leaf_hash(e.envelope.payload) for e in entries]
    head = Checkpoint(len(hashes), bytes.fromhex(log_root(e.envelope.payload for e in entries)))
    report.facts["since"] = since.line()
    if since.size > head.size:
        report.fail(
            ROLLBACK,
            f"the log has {head.size} records, fewer than the {since.size} of the checkpoint you hold: "
            "records were removed after it (a rollback)",
            INTEGRITY,
        )
        return
    proof = consistency_proof(hashes, since.size)
    report.facts["consistency_proof"] = [node.hex() for node in proof]
    if not verify_consistency(since.size, head.size, since.root, head.root, proof):
        report.fail(
            ROLLBACK,
            f"the log does not extend the checkpoint you hold ({since.size} records): a record at or "
            f"before record {since.size - 1} was changed, removed or replaced (a forked log)",
            INTEGRITY,
        )
        return
    report.ok(ROLLBACK, f"the log of {head.size} records extends the checkpoint you hold ({since.size} records)")


def _read_log(root: Path) -> list[Entry]:
    try:
        data = _regular_bytes(root / LOG)
        return [parse_line(line, number) for number, line in enumerate((x for x in data.split(b"\n") if x), 1)]
    except OSError as error:
        raise CheckpointError(f"{LOG}: cannot be read ({error.strerror or error})") from None
    except LogError as error:
        raise CheckpointError(str(error)) from None


def _regular_bytes(path: Path) -> bytes:
    """The bytes of a regular file, never through a link and never waiting on a FIFO or a device."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            raise OSError(f"{path.name} is not a regular file")
        return stream.read()
