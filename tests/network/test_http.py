"""HTTP/1.x request and response heads, and whether a redirect leaves the request's site."""

from __future__ import annotations

import random

import pytest

from vestige.network.events import Flow, HttpRequest, HttpResponseHead
from vestige.network.http import cross_site_location, request, response_head

FLOW = Flow("tcp", "10.0.0.2", 51000, "93.184.216.34", 80)
FLOW_8080 = Flow("tcp", "10.0.0.2", 51000, "93.184.216.34", 8080)
FLOW_V6 = Flow("tcp", "2001:db8::2", 51000, "2001:db8::80", 8080)

SAFARI_GET = (
    b"GET /news/today?id=7 HTTP/1.1\r\n"
    b"Host: WWW.Example.com\r\n"
    b"Accept: text/html,application/xhtml+xml\r\n"
    b"User-Agent: Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15\r\n"
    b"Accept-Language: fr-FR,fr;q=0.9\r\n"
    b"Connection: keep-alive\r\n"
    b"\r\n"
)


def test_request_from_a_phone() -> None:
    assert request(FLOW, 4, SAFARI_GET) == HttpRequest(
        flow=FLOW,
        packet=4,
        method="GET",
        host="www.example.com",
        target="/news/today?id=7",
        url="http://www.example.com/news/today?id=7",
        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15",
    )


@pytest.mark.parametrize(
    ("flow", "head", "host", "url"),
    [
        (FLOW, b"GET / HTTP/1.1\r\nHost: example.com:80\r\n\r\n", "example.com:80", "http://example.com/"),
        (FLOW, b"GET /a HTTP/1.1\r\nHost: example.com:8000\r\n\r\n", "example.com:8000", "http://example.com:8000/a"),
        (FLOW_8080, b"GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n", "example.com", "http://example.com:8080/a"),
        (FLOW_8080, b"GET /a HTTP/1.0\r\n\r\n", None, "http://93.184.216.34:8080/a"),
        (FLOW_V6, b"GET /a HTTP/1.1\r\nhost:\r\n\r\n", None, "http://[2001:db8::80]:8080/a"),
        (FLOW_V6, b"GET /a HTTP/1.1\r\nHost: [2001:DB8::80]\r\n\r\n", "[2001:db8::80]", "http://[2001:db8::80]:8080/a"),
        (FLOW, b"GET /a HTTP/1.1\r\nHost: [2001:db8::80]:80\r\n\r\n", "[2001:db8::80]:80", "http://[2001:db8::80]/a"),
        (
            FLOW_8080,
            b"GET http://proxied.example/x?y HTTP/1.1\r\nHost: proxied.example\r\n\r\n",
            "proxied.example",
            "http://proxied.example/x?y",
        ),
        (
            FLOW_8080,
            b"CONNECT tunnel.example:443 HTTP/1.1\r\nHost: tunnel.example:443\r\n\r\n",
            "tunnel.example:443",
            "http://tunnel.example:443",
        ),
        (FLOW, b"OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n", "example.com", "http://example.com"),
    ],
)
def test_request_url(flow: Flow, head: bytes, host: str | None, url: str) -> None:
    parsed = request(flow, 1, head)
    assert parsed is not None
    assert (parsed.host, parsed.url) == (host, url)


def test_header_lines_without_colon_and_repeated_hosts() -> None:
    head = (
        b"POST /up HTTP/1.1\r\nthis line has no colon\r\nHost : spaced.example\r\n"
        b"Host: a.example\r\nHost: b.example\r\n\r\n"
    )
    parsed = request(FLOW, 9, head)
    assert parsed is not None
    assert (parsed.method, parsed.host, parsed.url) == ("POST", "a.example", "http://a.example/up")


def test_field_names_match_in_any_case_and_only_in_ascii() -> None:
    head = (
        b"GET / HTTP/1.1\r\nH\xc3\xb6st: umlaut.example\r\nUSER-AGENT: Loud/1\r\nhOsT: Mixed.Example\r\n"
        b"Host: later.example\r\nuser-agent: quiet/2\r\n\r\n"
    )
    parsed = request(FLOW, 3, head)
    assert parsed is not None
    assert (parsed.host, parsed.user_agent) == ("mixed.example", "Loud/1")


def test_non_ascii_bytes_are_escaped() -> None:
    head = b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: ex\xffample.com\r\nUser-Agent: \x00\x7fbot\r\n\r\n"
    parsed = request(FLOW, 2, head)
    assert parsed is not None
    assert (parsed.target, parsed.host, parsed.user_agent) == ("/caf\\xc3\\xa9", "ex\\xffample.com", "\x00\x7fbot")


def test_head_cut_by_the_segment_end() -> None:
    parsed = request(FLOW, 2, SAFARI_GET[:60])
    assert parsed is not None
    assert (parsed.host, parsed.user_agent) == ("www.example.com", None)


def host_of(payload: bytes) -> str | None:
    parsed = request(FLOW, 1, payload)
    assert parsed is not None
    return parsed.host


def test_only_the_first_8_kib_and_100_lines_are_read() -> None:
    filler = b"X-Filler: " + b"a" * 8200 + b"\r\n"
    assert host_of(b"GET / HTTP/1.1\r\n" + filler + b"Host: far.example\r\n\r\n") is None
    lines = b"".join(b"X-%d: y\r\n" % number for number in range(99))
    assert host_of(b"GET / HTTP/1.1\r\n" + lines + b"Host: h.example\r\n\r\n") == "h.example"
    lines += b"X-99: y\r\n"
    assert host_of(b"GET / HTTP/1.1\r\n" + lines + b"Host: h.example\r\n\r\n") is None
    huge = b"GET / HTTP/1.1\r\nHost: h.example\r\n" + b"X: " + b"z" * 10_000_000
    assert host_of(huge) == "h.example"


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"get / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/2\r\n\r\n",
        b"GET /\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"GET  / HTTP/1.1\r\n\r\n",
    ],
)
def test_not_a_request(payload: bytes) -> None:
    assert request(FLOW, 1, payload) is None


def test_injected_redirect_head() -> None:
    head = b"HTTP/1.1 302 Found\r\nLocation: http://7-zip.example:30495/7z.exe\r\nContent-Length: 0\r\n\r\n"
    assert response_head(head) == HttpResponseHead(302, "Found", "http://7-zip.example:30495/7z.exe", 0, False)


def test_injected_script() -> None:
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 66\r\n\r\n"
        b'<ScRiPt src="http://platform.twitter.example/widgets.js"></script>'
    )
    assert response_head(head) == HttpResponseHead(200, "OK", None, 66, True)
    # Fox-IT's qi_local_SYNACK_imgur_qdp.pcap, packet 1263: the script served for widgets.js.
    javascript = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/javascript\r\nConnection: close\r\nContent-Length: 108\r\n\r\n"
        b'alert("QUANTUM DPIC!"); window.onload = function(){$("img").attr("src", "http://i.imgur.com/CE4r5vR.jpg");};'
    )
    assert response_head(javascript) == HttpResponseHead(200, "OK", None, 108, True)
    legacy = b"HTTP/1.1 200 OK\r\nContent-Type: Application/X-JavaScript; charset=utf-8\r\n\r\n"
    assert response_head(legacy) == HttpResponseHead(200, "OK", None, None, True)
    json = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"script": "<scrip"}'
    assert response_head(json) == HttpResponseHead(200, "OK", None, None, False)
    assert response_head(b"HTTP/1.0 301 Moved\r\nLocation: JavaScript:alert(1)\r\n\r\n") == HttpResponseHead(
        301, "Moved", "JavaScript:alert(1)", None, True
    )


def test_response_head_details() -> None:
    assert response_head(b"HTTP/1.1 204\r\n\r\n") == HttpResponseHead(204, "", None, None, False)
    assert response_head(b"HTTP/1.1 200 OK\r\nContent-Length: 12, 12\r\n\r\n") == HttpResponseHead(
        200, "OK", None, None, False
    )
    assert response_head(b"HTTP/1.1 200 \xe9t\xe9\r\ncontent-length:  42 \r\n") == HttpResponseHead(
        200, "\\xe9t\\xe9", None, 42, False
    )
    assert response_head(b"HTTP/1.1 200 OK\r\n" + b"A: b\r\n" * 200 + b"Location: /x\r\n\r\n") == HttpResponseHead(
        200, "OK", None, None, False
    )


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"HTTP/1.1 20 OK\r\n",
        b"HTTP/2 200\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"GET / HTTP/1.1\r\n",
        b"HTTP/1.1 200 OK",
    ],
)
def test_not_a_response(head: bytes) -> None:
    assert response_head(head) is None


@pytest.mark.parametrize(
    ("location", "request_host", "cross"),
    [
        ("http://www.fox-it.example/", "www.linkedin.com", True),
        ("https://www.linkedin.com/in/x", "linkedin.com", False),
        ("https://static.licdn.com/x", "www.linkedin.com", True),
        ("http://a.example.co.uk/", "b.example.co.uk:80", False),
        ("http://example.co.uk/", "other.co.uk", True),
        ("/login?next=/", "www.example.com", False),
        ("login", "www.example.com", False),
        ("//evil.example/x", "www.example.com", True),
        ("/\\evil.example/x", "www.example.com", True),
        ("\t/\t/evil.example/", "www.example.com", True),
        ("HTTP://EVIL.EXAMPLE:30495/", "www.example.com", True),
        ("http://192.0.2.1/", "192.0.2.1:8080", False),
        ("http://192.0.2.1/", "www.example.com", True),
        ("http://[2001:db8::1]:8080/", "[2001:DB8::1]", False),
        ("http://[2001:db8::1/", "www.example.com", False),
        ("http://abc.appspot.com/", "xyz.appspot.com", True),
        ("https://www.example.com/", None, False),
        ("javascript:alert(1)", "www.example.com", False),
        ("http://www.example.com@evil.example/", "www.example.com", True),
        ("http://evil.example\\@www.example.com/", "www.example.com", True),
        ("https://WWW.Example.COM./x", "www.example.com", False),
    ],
)
def test_cross_site_location(location: str, request_host: str | None, cross: bool) -> None:
    assert cross_site_location(location, request_host) is cross


def test_mutated_heads_never_raise() -> None:
    generator = random.Random(3)
    redirect = b"HTTP/1.1 302 Found\r\nLocation: http://evil.example/\r\nContent-Length: 0\r\n\r\n"
    parsed = 0
    for _ in range(3000):
        request_bytes, response_bytes = bytearray(SAFARI_GET), bytearray(redirect)
        for data in (request_bytes, response_bytes):
            data[generator.randrange(len(data))] = generator.randrange(256)
        asked = request(FLOW, 1, bytes(request_bytes))
        answered = response_head(bytes(response_bytes))
        if answered is not None and answered.location is not None:
            assert cross_site_location(answered.location, asked.host if asked else None) in (True, False)
        parsed += asked is not None and answered is not None
    assert parsed > 1500
