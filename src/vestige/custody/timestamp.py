"""RFC 3161 trusted timestamps for custody-log checkpoints, requested offline and verified offline.

A checkpoint digest (SHA-256 of the JCS checkpoint) goes into a ``TimeStampReq`` (RFC 3161
section 2.4.1) that a bundle can keep as a ``.tsq`` file until a network is at hand.
``fetch_timestamp`` is the only function here that uses the network: it posts the request to a
time-stamping authority over HTTP(S) (RFC 3161 section 3.4). ``verify_timestamp`` checks the
answer (``.tsr``) with no network: the PKI status, the CMS SignedData signature over the signed
attributes (RFC 5652 section 5.4), the ESS signing-certificate attribute (RFC 2634, RFC 5816), the
TSA certificate's critical timeStamping extended key usage (RFC 3161 section 2.3), its chain to a
trusted certificate at genTime, the message imprint and the nonce. A valid token shows that the
digest existed no later than genTime; it says nothing of when the digested data was made.

ASN.1 is read and written with asn1crypto, which has no type hints: every value taken from it is
converted to a plain Python type in ``_read_token`` and ``timestamp_request``, and nothing else
touches asn1crypto objects.
"""

from __future__ import annotations

import hashlib
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import Message
from http.client import HTTPException
from typing import IO, Any

from asn1crypto import cms, core, parser, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
# "application/timestamp-response" is the name in the drafts before RFC 3161; some TSAs still send it.
REPLY_TYPES = frozenset({REPLY_TYPE, "application/timestamp-response"})
MAX_RESPONSE = 1 << 20  # a TimeStampResp with its certificates is a few KiB

SHA256 = "2.16.840.1.101.3.4.2.1"
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    SHA256: hashes.SHA256,
    "2.16.840.1.101.3.4.2.2": hashes.SHA384,
    "2.16.840.1.101.3.4.2.3": hashes.SHA512,
}
# Signature algorithm OID: (key type, the digest algorithm OID it names, if it names one).
_SIGNATURES: dict[str, tuple[str, str | None]] = {
    "1.2.840.113549.1.1.1": ("RSA", None),
    "1.2.840.113549.1.1.11": ("RSA", SHA256),
    "1.2.840.113549.1.1.12": ("RSA", "2.16.840.1.101.3.4.2.2"),
    "1.2.840.113549.1.1.13": ("RSA", "2.16.840.1.101.3.4.2.3"),
    "1.2.840.10045.4.3.2": ("ECDSA", SHA256),
    "1.2.840.10045.4.3.3": ("ECDSA", "2.16.840.1.101.3.4.2.2"),
    "1.2.840.10045.4.3.4": ("ECDSA", "2.16.840.1.101.3.4.2.3"),
}
SIGNED_DATA = "1.2.840.113549.1.7.2"
TST_INFO = "1.2.840.113549.1.9.16.1.4"
_CONTENT_TYPE_ATTR = "1.2.840.113549.1.9.3"
_MESSAGE_DIGEST_ATTR = "1.2.840.113549.1.9.4"
_SIGNING_CERTIFICATE_ATTR = "1.2.840.113549.1.9.16.2.12"  # ESSCertID, SHA-1 (RFC 2634)
_SIGNING_CERTIFICATE_V2_ATTR = "1.2.840.113549.1.9.16.2.47"  # ESSCertIDv2 (RFC 5816)
_SHA1 = "1.3.14.3.2.26"

# What loading and reading a malformed certificate raises; cryptography 45 raises KeyError for a
# name attribute of an unknown string type.
_BAD_CERTIFICATE = (ValueError, KeyError, x509.InvalidVersion, x509.DuplicateExtension, x509.UnsupportedGeneralNameType)


class TimestampError(Exception):
    """A timestamp could not be fetched or did not verify; the message says what did not match."""


@dataclass(frozen=True, slots=True)
class TimestampToken:
    """What a verified token asserts: ``digest`` existed no later than ``gen_time``."""

    gen_time: datetime
    digest: bytes
    serial_number: int
    policy: str
    tsa_subject: str
    signer_sha256: str


def timestamp_request(digest: bytes, *, nonce: int | None = None) -> bytes:
    """A DER TimeStampReq for a SHA-256 digest, asking for the TSA certificate; no network needed.

    The same digest and nonce always give the same bytes. Without a nonce the request is byte for
    byte what ``openssl ts -query -sha256 -digest HEX -cert -no_nonce`` writes.
    """
    _check_digest(digest)
    fields: dict[str, object] = {
        "version": "v1",
        "message_imprint": {
            "hash_algorithm": {"algorithm": "sha256", "parameters": core.Null()},
            "hashed_message": digest,
        },
        "cert_req": True,
    }
    if nonce is not None:
        if nonce < 0:
            raise ValueError(f"a nonce is a non-negative integer, not {nonce}")
        fields["nonce"] = nonce
    encoded: bytes = tsp.TimeStampReq(fields).dump()
    return encoded


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A TSA answers where it was asked; a redirect would turn the POST into a GET."""

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: Message, newurl: str
    ) -> urllib.request.Request | None:
        return None


def fetch_timestamp(url: str, request: bytes, timeout: float = 30.0) -> bytes:
    """POST a DER TimeStampReq to a TSA and return its DER TimeStampResp, unverified."""
    if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
        raise TimestampError(f"the TSA URL {url!r} is not an http:// or https:// URL")
    post = urllib.request.Request(
        url, data=request, method="POST", headers={"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE}
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(post, timeout=timeout) as answer:
            content_type = answer.headers.get_content_type()
            body: bytes = answer.read(MAX_RESPONSE + 1)
    except urllib.error.HTTPError as error:
        error.close()
        raise TimestampError(f"the TSA at {url} answered HTTP {error.code} {error.reason}") from error
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise TimestampError(f"the TSA at {url} did not answer within {timeout:g} s") from error
        raise TimestampError(f"the TSA at {url} could not be reached: {error.reason}") from error
    except TimeoutError as error:
        raise TimestampError(f"the TSA at {url} did not answer within {timeout:g} s") from error
    except (OSError, HTTPException) as error:
        raise TimestampError(f"the exchange with the TSA at {url} broke off: {error}") from error
    if content_type not in REPLY_TYPES:
        raise TimestampError(f"the TSA at {url} answered with content type {content_type}, not {REPLY_TYPE}")
    if not body:
        raise TimestampError(f"the TSA at {url} answered with an empty body")
    if len(body) > MAX_RESPONSE:
        raise TimestampError(f"the TSA at {url} answered with more than {MAX_RESPONSE} bytes")
    return body


def verify_timestamp(
    response: bytes,
    digest: bytes,
    tsa_chain_pem: bytes,
    *,
    roots_pem: bytes | None = None,
    nonce: int | None = None,
) -> TimestampToken:
    """Verify a DER TimeStampResp (or a bare TimeStampToken) over ``digest``, with no network.

    Trust: with ``roots_pem``, the TSA certificate must chain to one of those roots, and the
    certificates of ``tsa_chain_pem`` (the chain a bundle stores) only help to build the path.
    Without it, the certificates of ``tsa_chain_pem`` are the trusted ones; a TSA certificate
    listed there is trusted as it is. Every certificate in the path must be valid at genTime.
    Any failure raises TimestampError naming what did not match.
    """
    if len(digest) != 32:
        raise TimestampError(f"the digest to check is {len(digest)} bytes, not a 32-byte SHA-256 digest")
    token = _read_token(response)
    if token.content_type != TST_INFO:
        raise TimestampError(f"the signed content is of type {token.content_type}, not TSTInfo ({TST_INFO})")
    if token.content_type_attr != TST_INFO:
        raise TimestampError(f"the content-type attribute is {token.content_type_attr}, not TSTInfo ({TST_INFO})")
    hash_algorithm = _hash(token.digest_algorithm, "the signer's digest algorithm")
    content_hash = hashlib.new(hash_algorithm.name, token.content).digest()
    if token.message_digest_attr != content_hash:
        raise TimestampError(
            f"the message-digest attribute {_hex(token.message_digest_attr)} does not equal the "
            f"{hash_algorithm.name} of the TSTInfo, {content_hash.hex()}"
        )
    chain = _certificates(tsa_chain_pem, "tsa_chain_pem")
    roots = chain if roots_pem is None else _certificates(roots_pem, "roots_pem")
    if not roots:
        raise TimestampError("no trusted certificate was given: tsa_chain_pem and roots_pem hold none")
    embedded = [_der_certificate(der) for der in token.certificates]
    signer = _signer_certificate(token, [*embedded, *chain, *roots])
    _check_signing_certificate_attr(token, signer)
    _check_signature(token, signer, hash_algorithm)
    _check_time_stamping_usage(signer)
    gen_time = token.tst.gen_time
    _check_chain(signer, [*embedded, *chain], roots, gen_time)
    _check_imprint(token.tst, digest, nonce)
    return TimestampToken(
        gen_time=gen_time,
        digest=token.tst.imprint,
        serial_number=token.tst.serial_number,
        policy=token.tst.policy,
        tsa_subject=signer.subject.rfc4514_string(),
        signer_sha256=hashlib.sha256(signer.public_bytes(serialization.Encoding.DER)).hexdigest(),
    )


@dataclass(frozen=True, slots=True)
class _TstInfo:
    version: int
    policy: str
    imprint_algorithm: str
    imprint: bytes
    serial_number: int
    gen_time: datetime
    nonce: int | None


@dataclass(frozen=True, slots=True)
class _Token:
    """The parts of a TimeStampToken (CMS SignedData over a TSTInfo) that verification reads."""

    content_type: str
    content: bytes
    tst: _TstInfo
    certificates: tuple[bytes, ...]
    sid_issuer: bytes | None
    sid_serial: int | None
    sid_key_id: bytes | None
    digest_algorithm: str
    signature_algorithm: str
    signature: bytes
    signed_attrs: bytes
    content_type_attr: str | None
    message_digest_attr: bytes | None
    # (hash algorithm OID, hash) of the first certificate an ESS signing-certificate attribute names
    signing_certificate: tuple[str, bytes] | None


def _read_token(data: bytes) -> _Token:
    """Parse a TimeStampResp or a bare TimeStampToken; TimestampError if it is not one or not granted."""
    try:
        info = _token_content_info(data)
        if info["content_type"].dotted != SIGNED_DATA:
            raise TimestampError(
                f"the token is of CMS type {info['content_type'].dotted}, not SignedData ({SIGNED_DATA})"
            )
        return _token_parts(info["content"])
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as error:
        raise TimestampError(f"the response is not a DER TimeStampResp or TimeStampToken: {error}") from error


def _token_content_info(data: bytes) -> Any:
    """The ContentInfo of the token, from a TimeStampResp whose status is granted or from the token itself."""
    parts = _sequence_children(data)
    if parser.parse(parts[0])[2] == core.ObjectIdentifier.tag:  # a ContentInfo starts with its OID
        return cms.ContentInfo.load(data, strict=True)
    # asn1crypto's TimeStampResp requires the token, which RFC 3161 leaves out of a rejection: read the parts.
    if len(parts) > 2:
        raise ValueError(f"a TimeStampResp has at most 2 parts, not {len(parts)}")
    status = tsp.PKIStatusInfo.load(parts[0], strict=True)
    granted: str = status["status"].native
    if granted not in ("granted", "granted_with_mods"):
        words: list[str] | None = status["status_string"].native
        failures: set[str] | None = status["fail_info"].native
        said = f" ({'; '.join(words)})" if words else ""
        failed = f", failure {', '.join(sorted(_camel(f) for f in failures))}" if failures else ""
        raise TimestampError(f"the TSA did not grant a timestamp: status {_camel(granted)}{said}{failed}")
    if len(parts) == 1:
        raise TimestampError("the TSA granted a timestamp but the response carries no token")
    return cms.ContentInfo.load(parts[1], strict=True)


def _sequence_children(data: bytes) -> list[bytes]:
    """The encodings of the elements of a DER SEQUENCE; ValueError if it is not one or is empty."""
    class_, method, tag, _, contents, _ = parser.parse(data, strict=True)
    if (class_, method, tag) != (0, 1, core.Sequence.tag):
        raise ValueError("the outer element is not a SEQUENCE")
    children: list[bytes] = []
    while contents:
        _, _, _, header, body, trailer = parser.parse(contents)
        size = len(header) + len(body) + len(trailer)
        children.append(contents[:size])
        contents = contents[size:]
    if not children:
        raise ValueError("the SEQUENCE is empty")
    return children


def _token_parts(signed_data: Any) -> _Token:
    content_info = signed_data["encap_content_info"]
    content = _octets(content_info["content"], "the encapsulated TSTInfo")
    certificates = tuple(
        bytes(choice.chosen.dump()) for choice in signed_data["certificates"] if choice.name == "certificate"
    )
    signer_infos = signed_data["signer_infos"]
    if len(signer_infos) != 1:
        raise TimestampError(f"the token has {len(signer_infos)} signers, where RFC 3161 allows exactly one, the TSA")
    signer = signer_infos[0]
    if isinstance(signer["signed_attrs"], core.Void):
        raise TimestampError("the signer has no signed attributes, so nothing binds the signature to the TSTInfo")
    attributes: dict[str, Any] = {}
    for attribute in signer["signed_attrs"]:
        kind = attribute["type"].dotted
        if kind in attributes or len(attribute["values"]) != 1:
            raise TimestampError(f"the signed attribute {kind} is repeated or has other than one value")
        attributes[kind] = attribute["values"][0]
    # The signature covers the attributes as a DER SET OF, not under their [0] IMPLICIT tag.
    signed_attrs = b"\x31" + bytes(signer["signed_attrs"].dump())[1:]
    sid = signer["sid"]
    by_name = sid.name == "issuer_and_serial_number"
    content_type_attr = attributes.get(_CONTENT_TYPE_ATTR)
    message_digest_attr = attributes.get(_MESSAGE_DIGEST_ATTR)
    return _Token(
        content_type=str(content_info["content_type"].dotted),
        content=content,
        tst=_tst_info(tsp.TSTInfo.load(content, strict=True)),
        certificates=certificates,
        sid_issuer=bytes(sid.chosen["issuer"].dump()) if by_name else None,
        sid_serial=int(sid.chosen["serial_number"]) if by_name else None,
        sid_key_id=None if by_name else _octets(sid.chosen, "the subject key identifier"),
        digest_algorithm=str(signer["digest_algorithm"]["algorithm"].dotted),
        signature_algorithm=str(signer["signature_algorithm"]["algorithm"].dotted),
        signature=_octets(signer["signature"], "the signature"),
        signed_attrs=signed_attrs,
        content_type_attr=None if content_type_attr is None else str(content_type_attr.dotted),
        message_digest_attr=None if message_digest_attr is None else _octets(message_digest_attr, "message-digest"),
        signing_certificate=_ess_cert_id(attributes),
    )


def _tst_info(tst: Any) -> _TstInfo:
    gen_time = tst["gen_time"].native
    if not isinstance(gen_time, datetime):
        raise TimestampError(f"the genTime {gen_time} is not a date this verifier can represent")
    nonce = tst["nonce"]
    return _TstInfo(
        version=int(tst["version"]),
        policy=str(tst["policy"].dotted),
        imprint_algorithm=str(tst["message_imprint"]["hash_algorithm"]["algorithm"].dotted),
        imprint=_octets(tst["message_imprint"]["hashed_message"], "the message imprint"),
        serial_number=int(tst["serial_number"]),
        gen_time=gen_time.astimezone(timezone.utc),
        nonce=None if isinstance(nonce, core.Void) else int(nonce),
    )


def _ess_cert_id(attributes: dict[str, Any]) -> tuple[str, bytes] | None:
    if _SIGNING_CERTIFICATE_V2_ATTR in attributes:
        first = attributes[_SIGNING_CERTIFICATE_V2_ATTR]["certs"][0]
        return str(first["hash_algorithm"]["algorithm"].dotted), _octets(first["cert_hash"], "the ESS certHash")
    if _SIGNING_CERTIFICATE_ATTR in attributes:
        first = attributes[_SIGNING_CERTIFICATE_ATTR]["certs"][0]
        return _SHA1, _octets(first["cert_hash"], "the ESS certHash")
    return None


def _octets(value: Any, what: str) -> bytes:
    """The octets of an OCTET STRING; asn1crypto's ``bytes()`` of an absent value is its repr."""
    if not isinstance(value, (core.OctetString, core.ParsableOctetString)):
        raise TimestampError(f"{what} is absent or not an OCTET STRING")
    return bytes(value)


def _check_digest(digest: bytes) -> None:
    if len(digest) != 32:
        raise ValueError(f"a SHA-256 digest is 32 bytes, not {len(digest)}")


def _camel(name: str) -> str:
    """asn1crypto's ``granted_with_mods`` as RFC 3161 writes it, ``grantedWithMods``."""
    return re.sub(r"_([a-z])", lambda match: match.group(1).upper(), name)


def _hex(value: bytes | None) -> str:
    return "(absent)" if value is None else value.hex()


def _hash(oid: str, what: str) -> hashes.HashAlgorithm:
    if oid not in _HASHES:
        raise TimestampError(f"{what} {oid} is not SHA-256, SHA-384 or SHA-512")
    return _HASHES[oid]()


def _certificates(pem: bytes, what: str) -> list[x509.Certificate]:
    if not pem.strip():
        return []
    try:
        return [_parsed(certificate) for certificate in x509.load_pem_x509_certificates(pem)]
    except _BAD_CERTIFICATE as error:
        raise TimestampError(f"{what} is not a list of valid PEM certificates: {error}") from error


def _der_certificate(der: bytes) -> x509.Certificate:
    try:
        return _parsed(x509.load_der_x509_certificate(der))
    except _BAD_CERTIFICATE as error:
        raise TimestampError(f"a certificate in the token is not valid X.509: {error}") from error


def _parsed(certificate: x509.Certificate) -> x509.Certificate:
    """cryptography parses names and extensions when first asked: ask now, where errors are caught."""
    _ = certificate.issuer, certificate.subject, certificate.extensions
    return certificate


def _signer_certificate(token: _Token, candidates: list[x509.Certificate]) -> x509.Certificate:
    for certificate in candidates:
        if token.sid_key_id is not None:
            try:
                key_id = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
            except x509.ExtensionNotFound:
                continue
            if key_id == token.sid_key_id:
                return certificate
        elif certificate.serial_number == token.sid_serial and certificate.issuer.public_bytes() == token.sid_issuer:
            return certificate
    wanted = (
        f"key identifier {_hex(token.sid_key_id)}" if token.sid_key_id is not None else f"serial {token.sid_serial}"
    )
    raise TimestampError(f"no certificate in the token or in tsa_chain_pem is the signer's ({wanted})")


def _check_signing_certificate_attr(token: _Token, signer: x509.Certificate) -> None:
    if token.signing_certificate is None:
        raise TimestampError(
            "the signed attributes carry no ESS signing-certificate attribute naming the TSA certificate"
        )
    oid, cert_hash = token.signing_certificate
    algorithm = hashes.SHA1() if oid == _SHA1 else _hash(oid, "the ESS signing-certificate hash algorithm")
    actual = hashlib.new(algorithm.name, signer.public_bytes(serialization.Encoding.DER)).digest()
    if cert_hash != actual:
        raise TimestampError(
            f"the ESS signing-certificate attribute names the certificate with {algorithm.name} {cert_hash.hex()}, "
            f"not the signer's, {actual.hex()}"
        )


def _check_signature(token: _Token, signer: x509.Certificate, hash_algorithm: hashes.HashAlgorithm) -> None:
    if token.signature_algorithm not in _SIGNATURES:
        raise TimestampError(
            f"the signature algorithm {token.signature_algorithm} is neither RSA PKCS#1 v1.5 nor ECDSA"
        )
    kind, named_hash = _SIGNATURES[token.signature_algorithm]
    if named_hash not in (None, token.digest_algorithm):
        raise TimestampError(
            f"the signature algorithm {token.signature_algorithm} names another hash than the digest algorithm "
            f"{token.digest_algorithm}"
        )
    try:
        key = signer.public_key()
    except (ValueError, UnsupportedAlgorithm) as error:
        raise TimestampError(f"the TSA certificate's public key cannot be read: {error}") from error
    try:
        if kind == "RSA" and isinstance(key, rsa.RSAPublicKey):
            key.verify(token.signature, token.signed_attrs, padding.PKCS1v15(), hash_algorithm)
        elif kind == "ECDSA" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(token.signature, token.signed_attrs, ec.ECDSA(hash_algorithm))
        else:
            raise TimestampError(f"the token is signed with {kind} but the TSA certificate holds another kind of key")
    except InvalidSignature as error:
        raise TimestampError(
            "the signature over the signed attributes does not verify with the TSA certificate's key"
        ) from error


def _check_time_stamping_usage(signer: x509.Certificate) -> None:
    """RFC 3161 section 2.3: one critical extendedKeyUsage, timeStamping and nothing else."""
    try:
        usage = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound as error:
        raise TimestampError("the TSA certificate has no extendedKeyUsage extension") from error
    if not usage.critical:
        raise TimestampError("the TSA certificate's extendedKeyUsage extension is not critical")
    purposes = [oid.dotted_string for oid in usage.value]
    if purposes != [ExtendedKeyUsageOID.TIME_STAMPING.dotted_string]:
        raise TimestampError(f"the TSA certificate's extendedKeyUsage is {', '.join(purposes)}, not timeStamping alone")
    try:
        key_usage = signer.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not (key_usage.digital_signature or key_usage.content_commitment):
        raise TimestampError("the TSA certificate's keyUsage allows neither digitalSignature nor nonRepudiation")


def _check_chain(
    signer: x509.Certificate, intermediates: list[x509.Certificate], roots: list[x509.Certificate], at: datetime
) -> None:
    """Build a path from the TSA certificate to a root, every certificate valid at genTime.

    The leaf policy permits any extension: its purpose was checked by ``_check_time_stamping_usage``,
    and a client or server policy would ask for TLS purposes a TSA certificate must not have.
    """
    policy = (
        verification.PolicyBuilder()
        .store(verification.Store(roots))
        .time(at)
        .extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=verification.ExtensionPolicy.permit_all(),
        )
    )
    try:
        policy.build_client_verifier().verify(signer, intermediates)
    except verification.VerificationError as error:
        raise TimestampError(
            f"the TSA certificate does not verify against the trusted certificates at genTime {at.isoformat()}: {error}"
        ) from error


def _check_imprint(tst: _TstInfo, digest: bytes, nonce: int | None) -> None:
    if tst.version != 1:
        raise TimestampError(f"the TSTInfo version is {tst.version}, not 1")
    if tst.imprint_algorithm != SHA256:
        raise TimestampError(f"the token's message imprint is a {tst.imprint_algorithm} hash, not SHA-256 ({SHA256})")
    if tst.imprint != digest:
        raise TimestampError(
            f"the token's message imprint {tst.imprint.hex()} does not equal the digest {digest.hex()}"
        )
    if nonce is not None and tst.nonce != nonce:
        found = "no nonce" if tst.nonce is None else f"nonce {tst.nonce}"
        raise TimestampError(f"the token carries {found}, not the nonce {nonce} of the request")
