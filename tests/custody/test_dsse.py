"""DSSE envelopes: the pre-authentication encoding, several signatures, parsing."""

from __future__ import annotations

import pytest

from vestige.custody.dsse import Envelope, EnvelopeError, pae
from vestige.custody.keys import generate


def test_pae_is_the_dsse_v1_encoding() -> None:
    assert pae("application/vnd.in-toto+json", b"{}") == b"DSSEv1 28 application/vnd.in-toto+json 2 {}"


def test_two_signers_each_verify_and_a_third_key_is_unknown() -> None:
    a, b, c = generate("a"), generate("b"), generate("c")
    envelope = Envelope("t", b"payload").signed(a).signed(b).signed(a)
    assert [s.keyid for s in envelope.signatures] == [a.public.fingerprint, b.public.fingerprint]
    trusted = {a.public.fingerprint: a.public, c.public.fingerprint: c.public}
    valid, unknown, invalid = envelope.valid_signers(trusted)
    assert (valid, unknown, invalid) == ({a.public.fingerprint}, {b.public.fingerprint}, set())


def test_an_edited_payload_invalidates_every_signature_and_survives_parsing() -> None:
    a = generate("a")
    envelope = Envelope.parse(Envelope("t", b"payload").signed(a).line())
    edited = Envelope(envelope.payload_type, b"pay1oad", envelope.signatures)
    assert edited.valid_signers({a.public.fingerprint: a.public}) == (set(), set(), {a.public.fingerprint})
    retyped = Envelope("u", envelope.payload, envelope.signatures)
    assert retyped.valid_signers({a.public.fingerprint: a.public})[2] == {a.public.fingerprint}


@pytest.mark.parametrize("line", [b"", b"{}", b'{"payloadType": "t", "payload": "***", "signatures": []}', b"[1]"])
def test_garbage_is_not_an_envelope(line: bytes) -> None:
    with pytest.raises(EnvelopeError):
        Envelope.parse(line)
