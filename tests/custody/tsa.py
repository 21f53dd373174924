"""A real RFC 3161 time-stamping authority on loopback, made of the ``openssl`` command, for tests.

``build_pki`` makes, with ``openssl req`` and ``openssl x509``, a root CA, two time-stamping
certificates it issues (RSA and ECDSA P-256, extendedKeyUsage timeStamping, critical), an
"impostor" CA with the same name as the real one but another key, and an ``openssl ts`` config.
``TimestampAuthority`` serves ``POST /rsa`` and ``POST /ec`` on 127.0.0.1 by running
``openssl ts -reply`` on the posted request, as a TSA would (RFC 3161 section 3.4), plus a few
paths that misbehave on purpose. The ``tsa`` fixture builds and starts one per test session.
``resign`` makes what only a holder of a signing key could: a token re-signed with another
certificate, or over a changed genTime, to test the checks a real TSA never lets fail.
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
needs_openssl = pytest.mark.skipif(
    OPENSSL is None, reason="the openssl command is not installed (Debian package: openssl)"
)

CA_SUBJECT = "/O=Vestige Test/CN=Vestige Test Root CA"
POLICY = "1.2.3.4.1"
SECTIONS = ("rsa", "ec")

# One file for every openssl call, so that the host's openssl.cnf changes nothing.
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

# The RSA section writes ESS signingCertificate (SHA-1, RFC 2634), the EC one signingCertificateV2
# (SHA-256, RFC 5816), so both forms are exercised.
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
clock_precision_digits = 0
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = {ess_alg}
"""


@dataclass(frozen=True, slots=True)
class Pki:
    """Where ``build_pki`` left its files."""

    directory: Path
    config: Path

    def pem(self, name: str) -> bytes:
        """The PEM of a certificate: ``ca``, ``impostor-ca``, ``tsa-rsa``, ``tsa-ec``, ``tsa-eku-not-critical``."""
        return (self.directory / f"{name}.pem").read_bytes()

    def key(self, name: str) -> bytes:
        return (self.directory / f"{name}.key").read_bytes()


def openssl(*args: str | Path, cwd: Path) -> bytes:
    """Run the openssl command; its standard output, or AssertionError with its standard error."""
    assert OPENSSL is not None
    env = {**os.environ, "OPENSSL_CONF": str(cwd / "openssl.cnf")}
    done = subprocess.run([OPENSSL, *map(str, args)], cwd=cwd, env=env, capture_output=True, check=False)
    assert done.returncode == 0, f"openssl {' '.join(map(str, args))}: {done.stderr.decode(errors='replace')}"
    return done.stdout


def build_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "openssl.cnf"
    sections = [
        _TS_SECTION.format(name="rsa", dir=directory, policy=POLICY, ess_alg="sha1"),
        _TS_SECTION.format(name="ec", dir=directory, policy=POLICY, ess_alg="sha256"),
    ]
    config.write_text(_OPENSSL_CNF + "".join(sections))
    rsa = ("-newkey", "rsa:2048")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")
    _self_signed(directory, "ca", CA_SUBJECT, rsa)
    _self_signed(directory, "impostor-ca", CA_SUBJECT, ec)
    _issued(directory, "tsa-rsa", "/O=Vestige Test/CN=Vestige Test TSA RSA", rsa, "v3_tsa", serial=2)
    _issued(directory, "tsa-ec", "/O=Vestige Test/CN=Vestige Test TSA EC", ec, "v3_tsa", serial=3)
    _issued(directory, "tsa-eku-not-critical", "/CN=Vestige Test TSA EKU", ec, "v3_tsa_eku_not_critical", serial=4)
    for name in SECTIONS:
        (directory / f"serial-{name}").write_text("01\n")
    return Pki(directory, config)


def _self_signed(directory: Path, name: str, subject: str, newkey: tuple[str, ...]) -> None:
    openssl(
        "req", "-x509", *newkey, "-nodes", "-sha256", "-days", "3650", "-subj", subject,
        "-extensions", "v3_ca", "-keyout", f"{name}.key", "-out", f"{name}.pem",
        cwd=directory,
    )  # fmt: skip


def _issued(directory: Path, name: str, subject: str, newkey: tuple[str, ...], extensions: str, serial: int) -> None:
    openssl(
        "req",
        "-new",
        *newkey,
        "-nodes",
        "-subj",
        subject,
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.csr",
        cwd=directory,
    )
    openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", str(serial),
        "-days", "365", "-sha256", "-extfile", "openssl.cnf", "-extensions", extensions, "-out", f"{name}.pem",
        cwd=directory,
    )  # fmt: skip


def resign(response: bytes, cert_pem: bytes, key_pem: bytes, *, gen_time: datetime | None = None) -> bytes:
    """The token of ``response``, as a bare DER ContentInfo, signed anew with ``key_pem``.

    The new SignerInfo names ``cert_pem`` (issuer and serial, and an ESS signingCertificateV2
    attribute), which is the only certificate left in the token; ``gen_time`` replaces genTime.
    """
    token = tsp.TimeStampResp.load(response)["time_stamp_token"]
    signed_data = token["content"]
    tst_info = tsp.TSTInfo.load(bytes(signed_data["encap_content_info"]["content"]))
    if gen_time is not None:
        tst_info["gen_time"] = gen_time
    content = tst_info.dump(force=True)
    certificate = asn1_x509.Certificate.load(pem.unarmor(cert_pem)[2])
    attributes = cms.CMSAttributes(
        [
            {"type": "content_type", "values": ["tst_info"]},
            {"type": "message_digest", "values": [hashlib.sha256(content).digest()]},
            {"type": "signing_certificate_v2", "values": [{"certs": [{"cert_hash": certificate.sha256}]}]},
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
    signer = {
        "version": "v1",
        "sid": cms.SignerIdentifier(
            name="issuer_and_serial_number",
            value={"issuer": certificate.issuer, "serial_number": certificate.serial_number},
        ),
        "digest_algorithm": {"algorithm": "sha256"},
        "signed_attrs": attributes,
        "signature_algorithm": {"algorithm": algorithm},
        "signature": signature,
    }
    signed_data["encap_content_info"] = {"content_type": "tst_info", "content": tsp.TSTInfo.load(content)}
    signed_data["certificates"] = [certificate]
    signed_data["signer_infos"] = [signer]
    resigned: bytes = token.dump(force=True)
    return resigned


class TimestampAuthority:
    """An HTTP TSA on 127.0.0.1 and a free port, answering with ``openssl ts -reply``.

    Paths: ``/rsa`` and ``/ec`` (the two TSA sections), ``/status/500`` (an HTTP 500),
    ``/wrong-type`` (a 200 answer of type text/html), ``/slow`` (answers after 2 s).
    """

    def __init__(self, pki: Pki) -> None:
        self.pki = pki
        self.requests = 0
        self._lock = threading.Lock()  # openssl ts -reply updates the serial file
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="test-tsa", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def reply(self, section: str, query: bytes) -> bytes:
        """The DER TimeStampResp that ``openssl ts -reply`` gives for a DER query."""
        with self._lock:
            self.requests += 1
            work = self.pki.directory / "work"
            work.mkdir(exist_ok=True)
            query_file = work / f"query-{self.requests}.tsq"
            reply_file = work / f"reply-{self.requests}.tsr"
            query_file.write_bytes(query)
            openssl(
                "ts", "-reply", "-config", self.pki.config, "-section", section,
                "-queryfile", query_file, "-out", reply_file,
                cwd=self.pki.directory,
            )  # fmt: skip
            return reply_file.read_bytes()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        authority = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                path = self.path.strip("/")
                if path in SECTIONS and self.headers.get("Content-Type") == "application/timestamp-query":
                    self._answer(200, "application/timestamp-reply", authority.reply(path, body))
                elif path == "wrong-type":
                    self._answer(200, "text/html", b"<html>not a TSA</html>")
                elif path == "slow":
                    time.sleep(2)
                    self._answer(200, "application/timestamp-reply", b"")
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
                    pass  # the client gave up waiting (the timeout test)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


@pytest.fixture(scope="session", name="tsa")
def tsa_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TimestampAuthority]:
    """The fixture ``tsa``: a TSA serving on loopback for the whole session, skipped without openssl."""
    if OPENSSL is None:
        pytest.skip("the openssl command is not installed (Debian package: openssl)")
    authority = TimestampAuthority(build_pki(tmp_path_factory.mktemp("tsa")))
    authority.start()
    yield authority
    authority.stop()
