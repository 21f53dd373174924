"""TLS ClientHello: server name and highest offered version, from genuine hellos written by Python's ssl
module (OpenSSL, offline through memory BIOs) and from hellos built by hand per RFC 8446 section 4.1.2."""

from __future__ import annotations

import random
import ssl
import struct

import pytest

from vestige.network.tls import client_hello, client_hello_size


def openssl_hello(server_hostname: str | None, maximum: ssl.TLSVersion | None = None) -> bytes:
    """The first flight of a TLS client: its ClientHello record, produced without any socket."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if server_hostname is None:
        context.check_hostname = False
    if maximum is not None:
        context.maximum_version = maximum
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = context.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    return outgoing.read()


def extension(kind: int, data: bytes) -> bytes:
    return struct.pack(">HH", kind, len(data)) + data


def sni(*names: bytes, kind: int = 0) -> bytes:
    entries = b"".join(struct.pack(">BH", kind, len(name)) + name for name in names)
    return extension(0, struct.pack(">H", len(entries)) + entries)


def versions(*numbers: int) -> bytes:
    listed = b"".join(struct.pack(">H", number) for number in numbers)
    return extension(43, bytes([len(listed)]) + listed)


def hello(*extensions: bytes, legacy: int = 0x0303, extensions_length: int | None = None) -> bytes:
    body = struct.pack(">H", legacy) + bytes(range(32))  # legacy_version, random
    body += b"\x20" + bytes(32)  # legacy_session_id
    body += struct.pack(">H", 4) + b"\x13\x01\x13\x02"  # cipher_suites
    body += b"\x01\x00"  # legacy_compression_methods
    listed = b"".join(extensions)
    body += struct.pack(">H", len(listed) if extensions_length is None else extensions_length) + listed
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack(">H", len(handshake)) + handshake


FIXED = 5 + 4 + 2 + 32 + 33 + 6 + 2 + 2
"""Bytes before the first extension of ``hello``."""


def test_openssl_hello_offers_tls13_with_its_server_name() -> None:
    assert client_hello(openssl_hello("WWW.Example.com")) == ("www.example.com", "TLS 1.3")


def test_openssl_hello_capped_at_tls12() -> None:
    assert client_hello(openssl_hello("example.org", ssl.TLSVersion.TLSv1_2)) == ("example.org", "TLS 1.2")


def test_openssl_hello_without_server_name() -> None:
    assert client_hello(openssl_hello(None)) == (None, "TLS 1.3")
    assert client_hello(openssl_hello("192.0.2.1")) == (None, "TLS 1.3")  # no SNI for an address (RFC 6066)


def test_size_of_the_record() -> None:
    payload = openssl_hello("example.org")
    assert client_hello_size(payload) == len(payload)
    assert client_hello_size(payload[:6]) == len(payload)
    assert client_hello_size(b"\x16\x03\x01\x00\x04\x02") is None  # a ServerHello
    assert client_hello_size(b"GET / HTTP/1.1\r\n") is None


def test_hand_built_hello() -> None:
    assert client_hello(hello(versions(0x0304, 0x0303), sni(b"api.example.net"))) == ("api.example.net", "TLS 1.3")
    assert client_hello(hello(sni(b"old.example"), legacy=0x0301)) == ("old.example", "TLS 1.0")
    assert client_hello(hello(legacy=0x0302)) == (None, "TLS 1.1")


def test_grease_and_drafts_in_supported_versions() -> None:
    assert client_hello(hello(versions(0x3A3A, 0x0304, 0x0303))) == (None, "TLS 1.3")
    assert client_hello(hello(versions(0xFAFA, 0x7F1C, 0x0303))) == (None, "0x7f1c")
    assert client_hello(hello(versions(0x7F17, 0x0304))) == (None, "TLS 1.3")
    assert client_hello(hello(versions())) == (None, "TLS 1.2")


def test_first_host_name_of_several() -> None:
    # An entry of another name type (not defined, but the list allows it) comes first, then two host names.
    entries = (
        struct.pack(">BH", 7, 3) + b"odd" + struct.pack(">BH", 0, 9) + b"first.one" + struct.pack(">BH", 0, 3) + b"two"
    )
    ext = extension(0, struct.pack(">H", len(entries)) + entries)
    assert client_hello(hello(ext)) == ("first.one", "TLS 1.2")
    assert client_hello(hello(sni(b"a.example", b"b.example"))) == ("a.example", "TLS 1.2")


def test_non_ascii_server_name_is_escaped() -> None:
    assert client_hello(hello(sni(b"\xe9vil.Example\\x"))) == ("\\xe9vil.example\\x5cx", "TLS 1.2")


def test_hello_cut_after_its_server_name() -> None:
    payload = hello(sni(b"cut.example"), versions(0x0304, 0x0303), extension(21, bytes(400)))
    sni_end = FIXED + len(sni(b"cut.example"))
    assert client_hello(payload[:sni_end]) == ("cut.example", "TLS 1.2")
    assert client_hello(payload[: sni_end + 11]) == ("cut.example", "TLS 1.3")
    assert client_hello(payload[:-1]) == ("cut.example", "TLS 1.3")


def test_hello_cut_before_its_server_name_gives_nothing() -> None:
    payload = hello(extension(21, bytes(300)), sni(b"late.example"))
    sni_end = FIXED + 304 + len(sni(b"late.example"))
    assert [client_hello(payload[:length]) for length in (FIXED - 1, FIXED, FIXED + 100, sni_end - 1)] == [None] * 4
    assert client_hello(payload[:sni_end]) == ("late.example", "TLS 1.2")
    assert client_hello(payload[: FIXED + 304]) is None


def test_every_prefix_of_a_genuine_hello_is_handled() -> None:
    payload = openssl_hello("prefix.example")
    results = {client_hello(payload[:length]) for length in range(len(payload) + 1)}
    assert results <= {None, ("prefix.example", "TLS 1.2"), ("prefix.example", "TLS 1.3")}
    assert ("prefix.example", "TLS 1.3") in results


def test_lengths_that_lie() -> None:
    # The extension list claims 1000 bytes: the extensions that are there are read.
    assert client_hello(hello(sni(b"x.example"), extensions_length=1000)) == ("x.example", "TLS 1.2")
    # An extension that claims more than the list holds ends the list (no partial name).
    overrun = struct.pack(">HH", 0, 200) + b"\x00\x0c\x00\x00\x09y.example"
    assert client_hello(hello(overrun)) == (None, "TLS 1.2")
    # A server name list that claims more than its extension.
    lying_list = extension(0, b"\x00\xff\x00\x00\x09z.example")
    assert client_hello(hello(lying_list)) == ("z.example", "TLS 1.2")
    # A name that claims more than its list.
    lying_name = extension(0, b"\x00\x0c\x00\x00\xffz.example")
    assert client_hello(hello(lying_name)) == (None, "TLS 1.2")
    # A handshake message that claims more than its record, inside a complete record.
    payload = bytearray(hello(sni(b"h.example")))
    payload[6:9] = (0xFFFFFF).to_bytes(3, "big")
    assert client_hello(bytes(payload)) == ("h.example", "TLS 1.2")


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x16\x03\x01",
        b"\x16\x03\x01\xff\xff\x01",  # a record longer than RFC 8446 allows
        b"\x17\x03\x03\x00\x10" + bytes(16),  # application data
        b"\x16\x03\x03\x00\x04\x02\x00\x00\x00",  # a ServerHello
        b"\x16\x03\x01\x00\x04\x01\x00\x00\x00",  # a hello with nothing in it
        b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    ],
)
def test_not_a_client_hello(payload: bytes) -> None:
    assert client_hello(payload) is None


def test_mutated_hellos_give_a_name_or_nothing() -> None:
    payload = hello(versions(0x0304, 0x0303), sni(b"fuzz.example"), extension(21, bytes(64)))
    generator = random.Random(5)
    named = 0
    for _ in range(3000):
        mutated = bytearray(payload)
        for _ in range(generator.randrange(1, 4)):
            mutated[generator.randrange(len(mutated))] = generator.randrange(256)
        result = client_hello(bytes(mutated[: generator.randrange(len(mutated) + 1)]))
        assert result is None or ((result[0] is None or isinstance(result[0], str)) and isinstance(result[1], str))
        named += result is not None and result[0] == "fuzz.example"
    assert named > 500
