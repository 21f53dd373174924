"""DSSE envelopes (Dead Simple Signing Envelope, secure-systems-lab/dsse v1.0), signed with Ed25519.

An envelope is ``{"payloadType", "payload" (standard base64), "signatures": [{"keyid", "sig"}]}``.
Signatures cover the pre-authentication encoding ``PAE = "DSSEv1" SP len(type) SP type SP len(body)
SP body``, never a re-encoding of the JSON, and an envelope may carry several signatures (a custody
hand-over is signed by both custodians). ``keyid`` is the signer's fingerprint.

An envelope is read only in the one encoding vestige writes (``Envelope.line``: keys sorted, no
spaces, canonical base64, each key signing once): a field DSSE does not define, a repeated key, other
spacing or another base64 spelling of the same bytes is refused, so that no byte of an envelope
carries anything its signatures do not cover or its reader would have to interpret.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from vestige.custody.keys import PublicKey, SigningKey

CUSTODY_TYPE = "application/vnd.vestige.custody+json"
CHECKPOINT_TYPE = "application/vnd.vestige.checkpoint+json"
IN_TOTO_TYPE = "application/vnd.in-toto+json"


class EnvelopeError(Exception):
    """Text that is not a DSSE envelope."""


def pae(payload_type: str, payload: bytes) -> bytes:
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True, slots=True)
class Signature:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...] = field(default=())

    def signed(self, key: SigningKey) -> Envelope:
        """This envelope with one more signature (a key signs an envelope once)."""
        fingerprint = key.public.fingerprint
        if any(s.keyid == fingerprint for s in self.signatures):
            return self
        signature = Signature(fingerprint, key.sign(pae(self.payload_type, self.payload)))
        return Envelope(self.payload_type, self.payload, (*self.signatures, signature))

    def valid_signers(self, trusted: Mapping[str, PublicKey]) -> tuple[set[str], set[str], set[str]]:
        """The keyids whose signature verifies with a trusted key, those unknown to the trust list,
        and those whose signature does not verify."""
        valid: set[str] = set()
        unknown: set[str] = set()
        invalid: set[str] = set()
        message = pae(self.payload_type, self.payload)
        for signature in self.signatures:
            key = trusted.get(signature.keyid)
            if key is None:
                unknown.add(signature.keyid)
            elif key.verify(signature.sig, message):
                valid.add(signature.keyid)
            else:
                invalid.add(signature.keyid)
        return valid, unknown, invalid

    def as_json(self) -> dict[str, object]:
        return {
            "payloadType": self.payload_type,
            "payload": base64.b64encode(self.payload).decode(),
            "signatures": [{"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode()} for s in self.signatures],
        }

    def line(self) -> bytes:
        return orjson.dumps(self.as_json(), option=orjson.OPT_SORT_KEYS)

    @classmethod
    def parse(cls, data: bytes) -> Envelope:
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise EnvelopeError("not a DSSE envelope (not JSON)") from None
        try:
            if not isinstance(document, dict) or set(document) != ENVELOPE_FIELDS:
                raise TypeError(f"its fields are not exactly {', '.join(sorted(ENVELOPE_FIELDS))}")
            if not isinstance(document["signatures"], list):
                raise TypeError("signatures is not a list")
            signatures = tuple(_signature(s) for s in document["signatures"])
            payload_type, payload = document["payloadType"], document["payload"]
            if not isinstance(payload_type, str) or not isinstance(payload, str):
                raise TypeError("payloadType and payload are not strings")
            envelope = cls(payload_type, base64.b64decode(payload, validate=True), signatures)
        except (KeyError, TypeError, binascii.Error, ValueError) as error:
            raise EnvelopeError(f"not a DSSE envelope ({error})") from None
        if len({s.keyid for s in signatures}) != len(signatures):
            raise EnvelopeError("not a DSSE envelope vestige writes (a key signs it twice)")
        if envelope.line() != data:
            raise EnvelopeError(
                "not a DSSE envelope in the one encoding vestige writes (spacing, key order or base64 differ)"
            )
        return envelope


ENVELOPE_FIELDS = frozenset({"payloadType", "payload", "signatures"})
SIGNATURE_FIELDS = frozenset({"keyid", "sig"})


def _signature(value: object) -> Signature:
    if not isinstance(value, dict) or set(value) != SIGNATURE_FIELDS:
        raise TypeError("a signature's fields are not exactly keyid, sig")
    keyid, sig = value["keyid"], value["sig"]
    if not isinstance(keyid, str) or not isinstance(sig, str):
        raise TypeError("a signature's keyid and sig are not strings")
    return Signature(keyid, base64.b64decode(sig, validate=True))
