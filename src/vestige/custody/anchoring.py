"""Anchoring the custody log in time with RFC 3161 timestamps over its checkpoints.

``case timestamp`` takes the latest checkpoint, hashes its canonical payload, and writes a request
(``custody/timestamps/NNNNNN.tsq``, named after the checkpoint). Online (``--tsa URL``) the request
is sent at once; offline it can be carried to a TSA and the token brought back (``--response``).
The token and the TSA's chain are kept beside the request (``.tsr``, ``.pem``) and an ``anchor``
record commits to all three. ``check_anchor`` verifies an anchor offline: the token covers that
checkpoint, and the checkpoint's tree is what the log says; the claim is "the log up to this
checkpoint existed before genTime". A request carries no nonce, so its bytes follow from the
checkpoint alone: ``check_request`` recomputes them, and a ``.tsq`` holding anything else is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vestige.custody.bag import read_regular
from vestige.custody.dsse import Envelope, EnvelopeError
from vestige.custody.log import CHECKPOINTS
from vestige.custody.timestamp import TimestampError, timestamp_request, verify_timestamp
from vestige.model import format_time

TIMESTAMPS = "custody/timestamps"


def latest_checkpoint(root: Path) -> Path:
    checkpoints = sorted((root / CHECKPOINTS).glob("*.json"))
    if not checkpoints:
        raise TimestampError("the bundle has no checkpoint to timestamp")
    return checkpoints[-1]


def checkpoint_digest(path: Path) -> bytes:
    """SHA-256 of a checkpoint's canonical payload (the signed tree head itself)."""
    try:
        return hashlib.sha256(Envelope.parse(read_regular(path).strip()).payload).digest()
    except EnvelopeError as error:
        raise TimestampError(f"{path.name}: {error}") from None
    except OSError as error:
        raise TimestampError(f"{path.name}: cannot be read ({error.strerror or error})") from None


def anchor_fields(root: Path, checkpoint: Path, response: bytes, chain: bytes) -> dict[str, Any]:
    """Verifies a token for ``checkpoint``, stores it with the chain, and gives the anchor record."""
    token = verify_timestamp(response, checkpoint_digest(checkpoint), chain)
    stem = root / TIMESTAMPS / checkpoint.stem
    stem.with_suffix(".tsr").write_bytes(response)
    stem.with_suffix(".pem").write_bytes(chain)
    return {
        "action": "anchor",
        "checkpoint": f"{CHECKPOINTS}/{checkpoint.name}",
        "digests": {
            "checkpoint_sha256": checkpoint_digest(checkpoint).hex(),
            "tsr_sha256": hashlib.sha256(response).hexdigest(),
            "tsa_chain_sha256": hashlib.sha256(chain).hexdigest(),
        },
        "gen_time": format_time(token.gen_time),
        "tsa": token.tsa_subject,
        "note": f"RFC 3161 token serial {token.serial_number}",
    }


def check_anchor(root: Path, record: Mapping[str, Any], roots: bytes | None = None) -> tuple[bool, str]:
    """Whether an anchor record's token verifies, offline, over the checkpoint it names; with
    ``roots`` (the verifier's own TSA roots) the TSA must chain to them, otherwise to the chain
    stored in the bundle."""
    checkpoint = root / str(record.get("checkpoint", ""))
    digests = record.get("digests", {})
    stem = root / TIMESTAMPS / checkpoint.stem
    try:
        response, chain = read_regular(stem.with_suffix(".tsr")), read_regular(stem.with_suffix(".pem"))
    except OSError:
        return False, f"{checkpoint.name}: the timestamp token or its TSA chain is missing"
    if hashlib.sha256(response).hexdigest() != digests.get("tsr_sha256") or hashlib.sha256(
        chain
    ).hexdigest() != digests.get("tsa_chain_sha256"):
        return False, f"{checkpoint.name}: the token or chain is not the one the anchor record signed"
    try:
        digest = checkpoint_digest(checkpoint)
        token = verify_timestamp(response, digest, chain, roots_pem=roots)
    except (TimestampError, OSError) as error:
        return False, f"{checkpoint.name}: {error}"
    if digest.hex() != digests.get("checkpoint_sha256"):
        return False, f"{checkpoint.name}: the anchor record names another checkpoint"
    return True, f"the log up to {checkpoint.name} existed before {format_time(token.gen_time)} ({token.tsa_subject})"


def check_request(root: Path, request: str) -> str | None:
    """Why the request file ``request`` (``custody/timestamps/NNNNNN.tsq``) is not the one vestige
    writes for checkpoint NNNNNN, or None when it is, byte for byte."""
    checkpoint = root / CHECKPOINTS / f"{Path(request).stem}.json"
    try:
        expected = timestamp_request(checkpoint_digest(checkpoint))
        found = read_regular(root / request)
    except TimestampError as error:
        return f"{request}: its checkpoint cannot be read ({error})"
    except OSError as error:
        return f"{request}: cannot be read ({error.strerror or error})"
    if found != expected:
        return f"{request}: not the RFC 3161 request for {checkpoint.name} vestige writes ({len(found)} bytes)"
    return None
