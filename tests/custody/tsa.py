"""A real RFC 3161 time-stamping authority on loopback, made of the ``openssl`` command, for tests.

``build_pki`` makes, with ``openssl req`` and ``openssl x509``, a root CA; two time-stamping
certificates it issues (RSA 2048 and ECDSA P-256, extendedKeyUsage timeStamping, critical); one
whose extendedKeyUsage is not critical; an "impostor" CA with the real CA's name but another key;
and an ``openssl ts`` configuration. ``TimestampAuthority`` serves ``POST /rsa`` and ``POST /ec``
on 127.0.0.1 by running ``openssl ts -reply`` on the posted request, as a TSA does (RFC 3161
section 3.4), and a few paths that misbehave on purpose. The ``tsa`` fixture builds and starts one
per test session. ``resign`` does what only a holder of a signing key could: it signs a token
anew with another certificate, or over another genTime, to reach checks a real TSA never fails.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from asn1crypto import cms, pem, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

OPENSSL = shutil.which("openssl")
NO_OPENSSL = "the openssl command is not installed (Debian package: openssl)"
CA_SUBJECT = "/O=Vestige Test/CN=Vestige Test Root CA"
POLICY = "1.2.3.4.1"
SECTIONS = ("rsa", "ec")
SLOW_SECONDS = 2.0

# Every openssl call reads this file (OPENSSL_CONF), so the host's openssl.cnf changes nothing.
_OPENSSL_CNF = """\
[ req ]
distinguished_name = req_dn
[ req_dn ]
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ v3_tsa ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
[ v3_tsa_eku_not_critical ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
[ tsa ]
default_tsa = rsa
"""

# The RSA section signs with an ESS signingCertificate attribute (SHA-1, RFC 2634) and whole
# seconds, the EC one with signingCertificateV2 (SHA-256, RFC 5816) and milliseconds.
_TS_SECTION = """\
[ {name} ]
dir = {dir}
serial = $dir/serial-{name}
crypto_device = builtin
signer_cert = $dir/tsa-{name}.pem
certs = $dir/ca.pem
signer_key = $dir/tsa-{name}.key
signer_digest = sha256
default_policy = {policy}
other_policies = 1.2.3.4.5
digests = sha256, sha384, sha512
accuracy = secs:1, millisecs:500, microsecs:100
clock_precision_digits = {precision}
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = {ess_alg}
"""


@dataclass(frozen=True, slots=True)
class Pki:
    """The files ``build_pki`` wrote, and the openssl command run beside them."""

    directory: Path

    def pem(self, name: str) -> bytes:
        """A certificate: ``ca``, ``impostor-ca``, ``tsa-rsa``, ``tsa-ec`` or ``tsa-eku-not-critical``."""
        return (self.directory / f"{name}.pem").read_bytes()

    def key(self, name: str) -> bytes:
        return (self.directory / f"{name}.key").read_bytes()

    def run(self, *args: str | Path) -> subprocess.CompletedProcess[bytes]:
        """Run ``openssl ARGS`` in the PKI directory, with its configuration; never raises on failure."""
        assert OPENSSL is not None, NO_OPENSSL
        env = {**os.environ, "OPENSSL_CONF": str(self.directory / "openssl.cnf")}
        command = [OPENSSL, *map(str, args)]
        return subprocess.run(command, cwd=self.directory, env=env, capture_output=True, check=False)

    def openssl(self, *args: str | Path) -> bytes:
        """The standard output of ``openssl ARGS``; AssertionError with its standard error if it fails."""
        done = self.run(*args)
        assert done.returncode == 0, f"openssl {' '.join(map(str, args))}: {done.stderr.decode(errors='replace')}"
        return done.stdout


def build_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    sections = [
        _TS_SECTION.format(name="rsa", dir=directory, policy=POLICY, precision=0, ess_alg="sha1"),
        _TS_SECTION.format(name="ec", dir=directory, policy=POLICY, precision=3, ess_alg="sha256"),
    ]
    (directory / "openssl.cnf").write_text(_OPENSSL_CNF + "".join(sections))
    for name in SECTIONS:
        (directory / f"serial-{name}").write_text("01\n")
    pki = Pki(directory)
    rsa_key: tuple[str, ...] = ("-newkey", "rsa:2048")
    ec_key: tuple[str, ...] = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")
    for name, key in (("ca", rsa_key), ("impostor-ca", ec_key)):
        pki.openssl(
            "req", "-x509", *key, "-nodes", "-sha256", "-days", "3650", "-subj", CA_SUBJECT,
            "-extensions", "v3_ca", "-keyout", f"{name}.key", "-out", f"{name}.pem",
        )  # fmt: skip
    issued = (
        ("tsa-rsa", "/O=Vestige Test/CN=Vestige Test TSA RSA", rsa_key, "v3_tsa"),
        ("tsa-ec", "/O=Vestige Test/CN=Vestige Test TSA EC", ec_key, "v3_tsa"),
        ("tsa-eku-not-critical", "/O=Vestige Test/CN=Vestige Test TSA EKU", ec_key, "v3_tsa_eku_not_critical"),
    )
    for serial, (name, subject, key, extensions) in enumerate(issued, start=2):
        pki.openssl("req", "-new", *key, "-nodes", "-subj", subject, "-keyout", f"{name}.key", "-out", f"{name}.csr")
        pki.openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", str(serial),
            "-days", "365", "-sha256", "-extfile", "openssl.cnf", "-extensions", extensions, "-out", f"{name}.pem",
        )  # fmt: skip
    return pki


def resign(
    response: bytes,
    cert_pem: bytes,
    key_pem: bytes,
    *,
    gen_time: datetime | None = None,
    ess_cert_pem: bytes | None = None,
    content_type_attr: str = "tst_info",
    by_key_identifier: bool = False,
) -> bytes:
    """The token of a TimeStampResp signed anew with ``key_pem``, as a bare DER ContentInfo.

    The new SignerInfo names ``cert_pem`` (by issuer and serial, or by subject key identifier), the
    only certificate left in the token. The signed attributes are content-type
    (``content_type_attr``), message-digest, and an ESS signingCertificateV2 naming ``cert_pem`` or
    ``ess_cert_pem``. ``gen_time``, if given, replaces genTime.
    """
    token = tsp.TimeStampResp.load(response)["time_stamp_token"]
    signed_data = token["content"]
    tst_info = tsp.TSTInfo.load(bytes(signed_data["encap_content_info"]["content"]))
    if gen_time is not None:
        tst_info["gen_time"] = gen_time
    content = tst_info.dump(force=True)
    certificate = asn1_x509.Certificate.load(pem.unarmor(cert_pem)[2])
    named = certificate if ess_cert_pem is None else asn1_x509.Certificate.load(pem.unarmor(ess_cert_pem)[2])
    attributes = cms.CMSAttributes(
        [
            {"type": "content_type", "values": [content_type_attr]},
            {"type": "message_digest", "values": [hashlib.sha256(content).digest()]},
            {"type": "signing_certificate_v2", "values": [{"certs": [{"cert_hash": named.sha256}]}]},
        ]
    )
    key = serialization.load_pem_private_key(key_pem, password=None)
    if isinstance(key, rsa.RSAPrivateKey):
        algorithm = "rsassa_pkcs1v15"
        signature = key.sign(attributes.dump(), padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        algorithm = "sha256_ecdsa"
        signature = key.sign(attributes.dump(), ec.ECDSA(hashes.SHA256()))
    if by_key_identifier:
        sid = cms.SignerIdentifier(name="subject_key_identifier", value=certificate.key_identifier)
    else:
        sid = cms.SignerIdentifier(
            name="issuer_and_serial_number",
            value={"issuer": certificate.issuer, "serial_number": certificate.serial_number},
        )
    signed_data["encap_content_info"] = {"content_type": "tst_info", "content": tsp.TSTInfo.load(content)}
    signed_data["certificates"] = [certificate]
    signed_data["signer_infos"] = [
        {
            "version": "v3" if by_key_identifier else "v1",
            "sid": sid,
            "digest_algorithm": {"algorithm": "sha256"},
            "signed_attrs": attributes,
            "signature_algorithm": {"algorithm": algorithm},
            "signature": signature,
        }
    ]
    resigned: bytes = token.dump(force=True)
    return resigned


class TimestampAuthority:
    """An HTTP TSA on 127.0.0.1 and a free port, answering with ``openssl ts -reply``.

    Paths: ``/rsa`` and ``/ec`` (the two TSA sections, for ``application/timestamp-query``
    bodies), ``/status/500`` (HTTP 500), ``/redirect`` (302 to ``/rsa``), ``/wrong-type`` (200
    with a text/html body) and ``/slow`` (answers after ``SLOW_SECONDS``); anything else is a 404.
    """

    def __init__(self, pki: Pki) -> None:
        self.pki = pki
        self._served = 0
        self._lock = threading.Lock()  # openssl ts -reply rewrites the serial file
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="test-tsa", daemon=True)

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/{path}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def reply(self, section: str, query: bytes) -> bytes:
        """The DER TimeStampResp that ``openssl ts -reply`` writes for a DER query."""
        with self._lock:
            self._served += 1
            work = self.pki.directory / "served"
            work.mkdir(exist_ok=True)
            query_file = work / f"{self._served}.tsq"
            reply_file = work / f"{self._served}.tsr"
            query_file.write_bytes(query)
            self.pki.openssl("ts", "-reply", "-section", section, "-queryfile", query_file, "-out", reply_file)
            return reply_file.read_bytes()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        authority = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                path = self.path.strip("/")
                if path in SECTIONS and self.headers.get("Content-Type") == "application/timestamp-query":
                    try:
                        self._answer(200, "application/timestamp-reply", authority.reply(path, body))
                    except AssertionError as error:  # openssl failed: say why, as a broken TSA might
                        self._answer(500, "text/plain", str(error).encode())
                elif path == "wrong-type":
                    self._answer(200, "text/html", b"<html>not a TSA</html>")
                elif path == "slow":
                    time.sleep(SLOW_SECONDS)
                    self._answer(200, "application/timestamp-reply", b"")
                elif path == "redirect":
                    self.send_response(302)
                    self.send_header("Location", authority.url("rsa"))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif path == "status/500":
                    self._answer(500, "text/plain", b"internal error")
                else:
                    self._answer(404, "text/plain", b"not found")

            def _answer(self, status: int, content_type: str, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped waiting: the timeout test

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep pytest's output to the tests

        return Handler


@pytest.fixture(scope="session", name="tsa")
def tsa_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TimestampAuthority]:
    """The fixture ``tsa``: a TSA on loopback for the whole session; skips the test without openssl."""
    if OPENSSL is None:
        pytest.skip(NO_OPENSSL)
    authority = TimestampAuthority(build_pki(tmp_path_factory.mktemp("tsa")))
    authority.start()
    yield authority
    authority.stop()
