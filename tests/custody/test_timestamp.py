"""RFC 3161 timestamps: requests made offline, fetched from a real TSA on loopback, verified offline.

The TSA is ``openssl ts -reply`` behind an HTTP server on 127.0.0.1 (``tests/custody/tsa.py``),
with a CA and TSA certificates made by ``openssl`` for the session.
"""

from __future__ import annotations

import hashlib
import re
import socket
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.custody.tsa import POLICY, SLOW_SECONDS, TimestampAuthority, resign
from tests.custody.tsa import tsa_fixture as tsa_fixture  # the session fixture "tsa"
from vestige.custody.timestamp import (
    TimestampError,
    TimestampToken,
    fetch_timestamp,
    timestamp_request,
    verify_timestamp,
)

DIGEST = hashlib.sha256(b"checkpoint 7 of a custody log").digest()
OTHER_DIGEST = hashlib.sha256(b"checkpoint 8 of a custody log").digest()
NONCE = 0x1F2E3D4C5B6A7988


def stamp(tsa: TimestampAuthority, section: str = "rsa", nonce: int | None = NONCE) -> bytes:
    """A TimeStampResp over DIGEST from the loopback TSA."""
    return fetch_timestamp(tsa.url(section), timestamp_request(DIGEST, nonce=nonce))


def reason(error: pytest.ExceptionInfo[TimestampError]) -> str:
    return str(error.value)


def der_sha256(pem: bytes) -> str:
    certificate = x509.load_pem_x509_certificate(pem)
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def openssl_reply_text(tsa: TimestampAuthority, response: bytes, tmp_path: Path) -> dict[str, str]:
    """The fields ``openssl ts -reply -text`` prints for a response, by their label."""
    path = tmp_path / "reply.tsr"
    path.write_bytes(response)
    text = tsa.pki.openssl("ts", "-reply", "-in", path, "-text").decode()
    return dict(re.findall(r"^([A-Za-z ]+): (.*)$", text, flags=re.MULTILINE))


# Requests


def test_request_without_nonce_is_what_openssl_writes(tsa: TimestampAuthority, tmp_path: Path) -> None:
    query = tmp_path / "openssl.tsq"
    tsa.pki.openssl("ts", "-query", "-sha256", "-digest", DIGEST.hex(), "-cert", "-no_nonce", "-out", query)
    assert timestamp_request(DIGEST) == query.read_bytes()


def test_request_is_deterministic_given_the_nonce(tsa: TimestampAuthority, tmp_path: Path) -> None:
    request = timestamp_request(DIGEST, nonce=NONCE)
    assert timestamp_request(DIGEST, nonce=NONCE) == request
    assert timestamp_request(DIGEST, nonce=NONCE + 1) != request
    assert len(request) == len(timestamp_request(DIGEST)) + 10  # INTEGER tag, length and 8 bytes
    path = tmp_path / "ours.tsq"
    path.write_bytes(request)
    text = tsa.pki.openssl("ts", "-query", "-in", path, "-text").decode()
    assert "Version: 1\nHash Algorithm: sha256\n" in text
    assert f"Nonce: 0x{NONCE:X}\n" in text
    assert "Certificate required: yes\n" in text


def test_request_refuses_a_digest_that_is_not_sha256_sized_and_a_negative_nonce() -> None:
    with pytest.raises(ValueError, match=r"^a SHA-256 digest is 32 bytes, not 20$"):
        timestamp_request(b"\x00" * 20)
    with pytest.raises(ValueError, match=r"^a nonce is a non-negative integer, not -1$"):
        timestamp_request(DIGEST, nonce=-1)


# Round trips


@pytest.mark.parametrize("section", ["rsa", "ec"])
def test_request_fetch_verify_round_trip(tsa: TimestampAuthority, tmp_path: Path, section: str) -> None:
    started = datetime.now(timezone.utc).replace(microsecond=0)
    response = stamp(tsa, section)
    finished = datetime.now(timezone.utc)
    token = verify_timestamp(response, DIGEST, tsa.pki.pem("ca"), nonce=NONCE)
    assert started <= token.gen_time <= finished
    assert token.gen_time.tzinfo is timezone.utc
    assert token.digest == DIGEST
    assert token.policy == POLICY
    assert token.tsa_subject == f"CN=Vestige Test TSA {section.upper()},O=Vestige Test"
    assert token.signer_sha256 == der_sha256(tsa.pki.pem(f"tsa-{section}"))
    # openssl reads the same serial number and time from the same bytes
    fields = openssl_reply_text(tsa, response, tmp_path)
    assert fields["Status"] == "Granted."
    assert fields["Serial number"] == f"0x{token.serial_number:02X}"
    # GeneralizedTime drops a fraction of zero (DER), so a millisecond clock may still print none.
    shape = "%b %d %H:%M:%S.%f %Y GMT" if "." in fields["Time stamp"] else "%b %d %H:%M:%S %Y GMT"
    assert section == "ec" or "." not in fields["Time stamp"]
    assert datetime.strptime(fields["Time stamp"], shape).replace(tzinfo=timezone.utc) == token.gen_time
    assert fields["Nonce"] == f"0x{NONCE:X}"


def test_serial_numbers_increase(tsa: TimestampAuthority) -> None:
    first = verify_timestamp(stamp(tsa), DIGEST, tsa.pki.pem("ca"))
    second = verify_timestamp(stamp(tsa), DIGEST, tsa.pki.pem("ca"))
    assert second.serial_number == first.serial_number + 1


def test_a_bare_token_verifies_like_the_response(tsa: TimestampAuthority, tmp_path: Path) -> None:
    response = stamp(tsa)
    (tmp_path / "reply.tsr").write_bytes(response)
    tsa.pki.openssl("ts", "-reply", "-in", tmp_path / "reply.tsr", "-token_out", "-out", tmp_path / "token.der")
    bare = (tmp_path / "token.der").read_bytes()
    assert len(bare) < len(response)
    expected = verify_timestamp(response, DIGEST, tsa.pki.pem("ca"), nonce=NONCE)
    assert verify_timestamp(bare, DIGEST, tsa.pki.pem("ca"), nonce=NONCE) == expected


def test_trust_in_roots_with_the_stored_chain_or_in_the_pinned_tsa_certificate(tsa: TimestampAuthority) -> None:
    response = stamp(tsa)
    expected = verify_timestamp(response, DIGEST, tsa.pki.pem("ca"))
    assert verify_timestamp(response, DIGEST, tsa.pki.pem("tsa-rsa"), roots_pem=tsa.pki.pem("ca")) == expected
    assert verify_timestamp(response, DIGEST, b"", roots_pem=tsa.pki.pem("ca")) == expected
    assert verify_timestamp(response, DIGEST, tsa.pki.pem("tsa-rsa")) == expected


# Rejections


def test_a_wrong_digest_is_rejected(tsa: TimestampAuthority) -> None:
    with pytest.raises(TimestampError) as error:
        verify_timestamp(stamp(tsa), OTHER_DIGEST, tsa.pki.pem("ca"))
    assert reason(error) == (
        f"the token's message imprint {DIGEST.hex()} does not equal the digest {OTHER_DIGEST.hex()}"
    )


@pytest.mark.parametrize("section", ["rsa", "ec"])
def test_a_response_checked_against_another_ca_is_rejected(tsa: TimestampAuthority, section: str) -> None:
    # The impostor CA has the real CA's name, so only the signature on the TSA certificate differs.
    response = stamp(tsa, section)
    with pytest.raises(TimestampError) as error:
        verify_timestamp(response, DIGEST, tsa.pki.pem("impostor-ca"))
    assert reason(error).startswith("the TSA certificate does not verify against the trusted certificates at genTime ")
    assert "signature does not match" in reason(error)


def test_with_roots_given_the_stored_chain_is_not_trusted(tsa: TimestampAuthority) -> None:
    chain = tsa.pki.pem("tsa-rsa") + tsa.pki.pem("ca")
    with pytest.raises(TimestampError) as error:
        verify_timestamp(stamp(tsa), DIGEST, chain, roots_pem=tsa.pki.pem("impostor-ca"))
    assert reason(error).startswith("the TSA certificate does not verify against the trusted certificates at genTime ")


def test_a_flipped_signature_byte_is_rejected(tsa: TimestampAuthority) -> None:
    # openssl writes the signature last in the SignerInfo, and the SignerInfo last in the token.
    tampered = bytearray(stamp(tsa))
    tampered[-1] ^= 0x01
    with pytest.raises(TimestampError) as error:
        verify_timestamp(bytes(tampered), DIGEST, tsa.pki.pem("ca"))
    assert reason(error) == "the signature over the signed attributes does not verify with the TSA certificate's key"


def test_a_flipped_tst_info_byte_is_rejected(tsa: TimestampAuthority) -> None:
    response = stamp(tsa)
    tampered = bytearray(response)
    at = response.index(DIGEST)  # the message imprint inside the TSTInfo
    tampered[at] ^= 0x01
    with pytest.raises(TimestampError) as error:
        verify_timestamp(bytes(tampered), DIGEST, tsa.pki.pem("ca"))
    match = re.fullmatch(
        r"the message-digest attribute ([0-9a-f]{64}) does not equal the sha256 of the TSTInfo, ([0-9a-f]{64})",
        reason(error),
    )
    assert match is not None, reason(error)
    assert match.group(1) != match.group(2)


def test_a_nonce_mismatch_is_rejected(tsa: TimestampAuthority) -> None:
    with pytest.raises(TimestampError) as error:
        verify_timestamp(stamp(tsa), DIGEST, tsa.pki.pem("ca"), nonce=NONCE + 1)
    assert reason(error) == f"the token carries nonce {NONCE}, not the nonce {NONCE + 1} of the request"
    with pytest.raises(TimestampError) as error:
        verify_timestamp(stamp(tsa, nonce=None), DIGEST, tsa.pki.pem("ca"), nonce=NONCE)
    assert reason(error) == f"the token carries no nonce, not the nonce {NONCE} of the request"


def test_a_rejection_by_the_tsa_is_reported_with_its_reason(tsa: TimestampAuthority, tmp_path: Path) -> None:
    query = tmp_path / "policy.tsq"
    tsa.pki.openssl("ts", "-query", "-sha256", "-digest", DIGEST.hex(), "-tspolicy", "1.2.3.99", "-out", query)
    response = fetch_timestamp(tsa.url("rsa"), query.read_bytes())
    with pytest.raises(TimestampError) as error:
        verify_timestamp(response, DIGEST, tsa.pki.pem("ca"))
    assert reason(error) == (
        "the TSA did not grant a timestamp: status rejection (Requested policy is not supported.), "
        "failure unacceptedPolicy"
    )


@pytest.mark.parametrize("by_key_identifier", [False, True], ids=["issuer-and-serial", "key-identifier"])
def test_a_resigned_token_verifies_so_the_checks_below_fail_for_their_own_reason(
    tsa: TimestampAuthority, by_key_identifier: bool
) -> None:
    response = stamp(tsa)
    expected = verify_timestamp(response, DIGEST, tsa.pki.pem("ca"))
    resigned = resign(response, tsa.pki.pem("tsa-rsa"), tsa.pki.key("tsa-rsa"), by_key_identifier=by_key_identifier)
    assert verify_timestamp(resigned, DIGEST, tsa.pki.pem("ca")) == expected


def test_an_ess_attribute_naming_another_certificate_is_rejected(tsa: TimestampAuthority) -> None:
    forged = resign(stamp(tsa), tsa.pki.pem("tsa-rsa"), tsa.pki.key("tsa-rsa"), ess_cert_pem=tsa.pki.pem("tsa-ec"))
    with pytest.raises(TimestampError) as error:
        verify_timestamp(forged, DIGEST, tsa.pki.pem("ca"))
    assert reason(error) == (
        f"the ESS signing-certificate attribute names the certificate with sha256 {der_sha256(tsa.pki.pem('tsa-ec'))}, "
        f"not the signer's, {der_sha256(tsa.pki.pem('tsa-rsa'))}"
    )


def test_a_content_type_attribute_other_than_tst_info_is_rejected(tsa: TimestampAuthority) -> None:
    forged = resign(stamp(tsa), tsa.pki.pem("tsa-rsa"), tsa.pki.key("tsa-rsa"), content_type_attr="data")
    with pytest.raises(TimestampError) as error:
        verify_timestamp(forged, DIGEST, tsa.pki.pem("ca"))
    assert reason(error) == (
        "the content-type attribute is 1.2.840.113549.1.7.1, not TSTInfo (1.2.840.113549.1.9.16.1.4)"
    )


def test_a_tsa_certificate_whose_time_stamping_usage_is_not_critical_is_rejected(tsa: TimestampAuthority) -> None:
    forged = resign(stamp(tsa), tsa.pki.pem("tsa-eku-not-critical"), tsa.pki.key("tsa-eku-not-critical"))
    with pytest.raises(TimestampError) as error:
        verify_timestamp(forged, DIGEST, tsa.pki.pem("ca"))
    assert reason(error) == "the TSA certificate's extendedKeyUsage extension is not critical"


def test_a_ca_certificate_is_not_a_tsa_certificate(tsa: TimestampAuthority) -> None:
    forged = resign(stamp(tsa), tsa.pki.pem("ca"), tsa.pki.key("ca"))
    with pytest.raises(TimestampError) as error:
        verify_timestamp(forged, DIGEST, tsa.pki.pem("ca"))
    assert reason(error) == "the TSA certificate has no extendedKeyUsage extension"


@pytest.mark.parametrize("trusted", ["ca", "tsa-rsa"])
@pytest.mark.parametrize(
    "gen_time", [datetime(2001, 1, 1, tzinfo=timezone.utc), datetime(2040, 1, 1, tzinfo=timezone.utc)]
)
def test_a_gen_time_outside_the_certificates_validity_is_rejected(
    tsa: TimestampAuthority, trusted: str, gen_time: datetime
) -> None:
    # The TSA certificate is valid for 365 days from today, the CA for 3650; pinning changes nothing.
    forged = resign(stamp(tsa), tsa.pki.pem("tsa-rsa"), tsa.pki.key("tsa-rsa"), gen_time=gen_time)
    with pytest.raises(TimestampError) as error:
        verify_timestamp(forged, DIGEST, tsa.pki.pem(trusted))
    assert reason(error).startswith(
        f"the TSA certificate does not verify against the trusted certificates at genTime {gen_time.isoformat()}: "
    )
    assert "not valid at validation time" in reason(error)


def test_input_that_is_not_a_response_is_rejected(tsa: TimestampAuthority) -> None:
    with pytest.raises(TimestampError) as error:
        verify_timestamp(stamp(tsa), DIGEST[:20], tsa.pki.pem("ca"))
    assert reason(error) == "the digest to check is 20 bytes, not a 32-byte SHA-256 digest"
    with pytest.raises(TimestampError) as error:
        verify_timestamp(b"\x30\x03\x02\x01", DIGEST, tsa.pki.pem("ca"))
    assert reason(error).startswith("the response is not a DER TimeStampResp or TimeStampToken: ")
    with pytest.raises(TimestampError) as error:
        verify_timestamp(stamp(tsa) + b"\x00", DIGEST, tsa.pki.pem("ca"))
    assert reason(error).startswith("the response is not a DER TimeStampResp or TimeStampToken: ")
    with pytest.raises(TimestampError) as error:
        verify_timestamp(stamp(tsa), DIGEST, b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    assert reason(error).startswith("tsa_chain_pem is not a list of valid PEM certificates: ")
    with pytest.raises(TimestampError) as error:
        verify_timestamp(stamp(tsa), DIGEST, b"")
    assert reason(error) == "no trusted certificate was given: tsa_chain_pem and roots_pem hold none"


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
@pytest.mark.parametrize("section", ["rsa", "ec"])
def test_every_single_bit_flip_is_rejected_or_changes_nothing(tsa: TimestampAuthority, section: str) -> None:
    # Unsigned parts (the embedded CA certificate, the SignedData digestAlgorithms, NULL
    # parameters, granted versus grantedWithMods) may change without changing what is proven.
    response = stamp(tsa, section)
    expected = verify_timestamp(response, DIGEST, tsa.pki.pem("ca"))
    outcomes: dict[str, int] = {"rejected": 0, "unchanged": 0}
    for at in range(len(response)):
        tampered = bytearray(response)
        tampered[at] ^= 0x01
        try:
            token: TimestampToken | None = verify_timestamp(bytes(tampered), DIGEST, tsa.pki.pem("ca"))
        except TimestampError:
            token = None
        if token is None:
            outcomes["rejected"] += 1
        else:
            assert token == expected, f"byte {at}"
            outcomes["unchanged"] += 1
    assert outcomes["rejected"] + outcomes["unchanged"] == len(response)
    assert outcomes["rejected"] > len(response) // 2


# Cross-check with the openssl command


def test_openssl_ts_verify_agrees_with_the_verifier(tsa: TimestampAuthority, tmp_path: Path) -> None:
    request = timestamp_request(DIGEST, nonce=NONCE)
    response = fetch_timestamp(tsa.url("ec"), request)
    verify_timestamp(response, DIGEST, tsa.pki.pem("ca"), nonce=NONCE)
    (tmp_path / "q.tsq").write_bytes(request)
    (tmp_path / "r.tsr").write_bytes(response)
    ca = tsa.pki.directory / "ca.pem"
    accepted = tsa.pki.run("ts", "-verify", "-in", tmp_path / "r.tsr", "-queryfile", tmp_path / "q.tsq", "-CAfile", ca)
    assert (accepted.returncode, accepted.stdout) == (0, b"Verification: OK\n")
    tampered = bytearray(response)
    tampered[-1] ^= 0x01
    (tmp_path / "bad.tsr").write_bytes(bytes(tampered))
    with pytest.raises(TimestampError):
        verify_timestamp(bytes(tampered), DIGEST, tsa.pki.pem("ca"), nonce=NONCE)
    refused = tsa.pki.run("ts", "-verify", "-in", tmp_path / "bad.tsr", "-queryfile", tmp_path / "q.tsq", "-CAfile", ca)
    assert (refused.returncode, refused.stdout) == (1, b"Verification: FAILED\n")


# Fetching


def test_http_500_is_an_error(tsa: TimestampAuthority) -> None:
    url = tsa.url("status/500")
    with pytest.raises(TimestampError) as error:
        fetch_timestamp(url, timestamp_request(DIGEST))
    assert reason(error) == f"the TSA at {url} answered HTTP 500 Internal Server Error"


def test_a_redirect_is_an_error(tsa: TimestampAuthority) -> None:
    # urllib would follow it with a GET and no body; a TSA URL must be the one that answers.
    url = tsa.url("redirect")
    with pytest.raises(TimestampError) as error:
        fetch_timestamp(url, timestamp_request(DIGEST))
    assert reason(error) == f"the TSA at {url} answered HTTP 302 Found"


def test_a_wrong_content_type_is_an_error(tsa: TimestampAuthority) -> None:
    url = tsa.url("wrong-type")
    with pytest.raises(TimestampError) as error:
        fetch_timestamp(url, timestamp_request(DIGEST))
    assert reason(error) == f"the TSA at {url} answered with content type text/html, not application/timestamp-reply"


def test_a_tsa_that_does_not_answer_in_time_is_an_error(tsa: TimestampAuthority) -> None:
    url = tsa.url("slow")
    started = datetime.now(timezone.utc)
    with pytest.raises(TimestampError) as error:
        fetch_timestamp(url, timestamp_request(DIGEST), timeout=0.2)
    assert reason(error) == f"the TSA at {url} did not answer within 0.2 s"
    assert (datetime.now(timezone.utc) - started).total_seconds() < SLOW_SECONDS


def test_bad_urls_are_errors() -> None:
    with pytest.raises(TimestampError) as error:
        fetch_timestamp("file:///etc/passwd", timestamp_request(DIGEST))
    assert reason(error) == "the TSA URL 'file:///etc/passwd' is not an http:// or https:// URL"
    with socket.socket() as unused:  # a loopback port that nothing listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    url = f"http://127.0.0.1:{port}/tsa"
    with pytest.raises(TimestampError) as error:
        fetch_timestamp(url, timestamp_request(DIGEST))
    assert reason(error).startswith(f"the TSA at {url} could not be reached: ")
    assert "Connection refused" in reason(error)
