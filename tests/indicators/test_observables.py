"""Tests of the normalisation of evidence values into observables (vestige.indicators.observables)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vestige.indicators import observables
from vestige.indicators.observables import (
    android_property_observable,
    app_cert_observable,
    app_id_observable,
    domain_observable,
    email_observable,
    extract_urls,
    hash_observable,
    ip_observable,
    normalise_host,
    observables_from_url,
    path_observables,
    process_observable,
    profile_observable,
    registrable_domain,
    url_host,
    url_key,
)
from vestige.model import Observable, ObservableKind

DOMAIN, IP, URL = ObservableKind.DOMAIN, ObservableKind.IP, ObservableKind.URL


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("WWW.Evil.Example.", Observable(DOMAIN, "www.evil.example")),
        ("evil.example:8443", Observable(DOMAIN, "evil.example")),
        ("*.evil.example", Observable(DOMAIN, "evil.example")),
        (".evil.example", Observable(DOMAIN, "evil.example")),
        ("bücher.example", Observable(DOMAIN, "xn--bcher-kva.example")),
        ("BÜCHER。example", Observable(DOMAIN, "xn--bcher-kva.example")),
        ("1ca43.appspot.com", Observable(DOMAIN, "1ca43.appspot.com")),
        ("_dmarc.evil.example", Observable(DOMAIN, "_dmarc.evil.example")),
        ("192.0.2.1", Observable(IP, "192.0.2.1")),
        ("192.0.2.1:443", Observable(IP, "192.0.2.1")),
        ("[2001:DB8::1]", Observable(IP, "2001:db8::1")),
        ("[2001:db8::1]:443", Observable(IP, "2001:db8::1")),
        ("::ffff:192.0.2.1", Observable(IP, "192.0.2.1")),
        ("fe80::1%en0", Observable(IP, "fe80::1")),
        ("bad host", None),
        ("evil..example", None),
        ("evil.example/path", None),
        ("", None),
        (".", None),
    ],
)
def test_domain_observable(host: str, expected: Observable | None) -> None:
    assert domain_observable(host) == expected


def test_ip_observable() -> None:
    assert ip_observable("2001:0DB8:0000::0001") == Observable(IP, "2001:db8::1")
    assert ip_observable("198.51.100.011") is None  # leading zeros are ambiguous (octal in inet_aton)
    assert ip_observable("evil.example") is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "HTTPS://User@Evil.Example:8443?q=1",
            (Observable(URL, "https://User@evil.example:8443/?q=1"), Observable(DOMAIN, "evil.example")),
        ),
        (
            "https://evil.example/A/B/?x=Y#Z",
            (Observable(URL, "https://evil.example/A/B/?x=Y#Z"), Observable(DOMAIN, "evil.example")),
        ),
        (
            "http://198.51.100.11/x",
            (Observable(URL, "http://198.51.100.11/x"), Observable(IP, "198.51.100.11")),
        ),
        (
            "http://[2001:db8::1]:80/",
            (Observable(URL, "http://[2001:db8::1]:80/"), Observable(IP, "2001:db8::1")),
        ),
        (
            "www.evil.example/path",
            (Observable(URL, "www.evil.example/path"), Observable(DOMAIN, "www.evil.example")),
        ),
        ("//evil.example/x", (Observable(URL, "//evil.example/x"), Observable(DOMAIN, "evil.example"))),
        (
            "mailto:Agent@Example.com?subject=hi",
            (
                Observable(URL, "mailto:Agent@Example.com?subject=hi"),
                Observable(ObservableKind.EMAIL, "agent@example.com"),
            ),
        ),
        ("javascript:alert(1)", (Observable(URL, "javascript:alert(1)"),)),
        ("http://[::1", (Observable(URL, "http://[::1/"),)),
        ("not a url at all", (Observable(URL, "not a url at all"),)),
        ("   ", ()),
    ],
)
def test_observables_from_url(url: str, expected: tuple[Observable, ...]) -> None:
    assert observables_from_url(url) == expected


@given(st.text(max_size=60))
def test_observables_from_url_never_raises(text: str) -> None:
    for observable in observables_from_url(text):
        assert observable.value


def test_url_key_treats_an_empty_path_as_slash_but_keeps_other_trailing_slashes() -> None:
    assert url_key("https://a.example") == url_key("https://a.example/") == "https://a.example/"
    assert url_key("https://a.example?x=1") == "https://a.example/?x=1"
    assert url_key("https://a.example/x") != url_key("https://a.example/x/")
    assert url_key("HTTPS://A.EXAMPLE/Path") == "https://a.example/Path"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:pw@Evil.Example:8443/x", "Evil.Example:8443"),
        ("www.evil.example:8080/a", "www.evil.example:8080"),
        ("evil.example", "evil.example"),
        ("//evil.example?x", "evil.example"),
        ("javascript:alert(1)", None),
        ("data:text/html,hi", None),
        ("tel:+33123456789", None),
        ("https:///path", None),
    ],
)
def test_url_host(url: str, expected: str | None) -> None:
    assert url_host(url) == expected


def test_extract_urls_from_an_sms_body() -> None:
    body = (
        "Your parcel is held: https://evil.example/track?id=1. Pay at www.other.example/x, "
        "(see https://x.example/a_(b)) or HTTP://CAPS.EXAMPLE! Again: https://evil.example/track?id=1 "
        "Mail bob@www.mail.example or visit https:// now"
    )
    assert extract_urls(body) == [
        "https://evil.example/track?id=1",
        "www.other.example/x",
        "https://x.example/a_(b)",
        "HTTP://CAPS.EXAMPLE",
    ]


def test_extract_urls_without_urls() -> None:
    assert extract_urls("call me at 5pm. www, http and https are words") == []


def test_path_observables() -> None:
    assert path_observables("/private/var//tmp/hooker/") == (
        Observable(ObservableKind.FILE_PATH, "/private/var/tmp/hooker"),
        Observable(ObservableKind.FILE_NAME, "hooker"),
    )
    assert path_observables("/") == (Observable(ObservableKind.FILE_PATH, "/"),)
    assert path_observables("") == ()


def test_process_observable_keeps_case_and_drops_the_directory() -> None:
    assert process_observable("/usr/libexec/roleaccountd") == Observable(ObservableKind.PROCESS, "roleaccountd")
    assert process_observable(" BackupAgent ") == Observable(ObservableKind.PROCESS, "BackupAgent")
    assert process_observable("  ") is None


def test_email_observable() -> None:
    assert email_observable("<Agent@Example.COM>") == Observable(ObservableKind.EMAIL, "agent@example.com")
    assert email_observable("mailto:x@y.example") == Observable(ObservableKind.EMAIL, "x@y.example")
    assert email_observable("no-at-sign") is None
    assert email_observable("a b@c.example") is None


def test_hash_observable() -> None:
    md5 = "D4:1D:8C:D9:8F:00:B2:04:E9:80:09:98:EC:F8:42:7E"
    assert hash_observable(md5) == Observable(ObservableKind.MD5, "d41d8cd98f00b204e9800998ecf8427e")
    assert hash_observable("a" * 40) == Observable(ObservableKind.SHA1, "a" * 40)
    assert hash_observable("A" * 64, "SHA-256") == Observable(ObservableKind.SHA256, "a" * 64)
    assert hash_observable("a" * 64, "md5") is None
    assert hash_observable("abc123") is None
    assert hash_observable("z" * 32) is None


def test_app_observables() -> None:
    assert app_id_observable(" Com.Example.App ") == Observable(ObservableKind.APP_ID, "com.example.app")
    assert app_cert_observable("AB:" * 19 + "CD") == Observable(ObservableKind.APP_CERT, "ab" * 19 + "cd")
    assert app_cert_observable("abcd") is None
    assert profile_observable("76dab334-7e17-475d-a5d6-0794eb5818a5") == Observable(
        ObservableKind.PROFILE_ID, "76DAB334-7E17-475D-A5D6-0794EB5818A5"
    )
    assert android_property_observable("sys.brand.note") == Observable(
        ObservableKind.ANDROID_PROPERTY, "sys.brand.note"
    )


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("www.example.co.uk", "example.co.uk"),
        ("a.b.c.example.com", "example.com"),
        ("EXAMPLE.COM.", "example.com"),
        ("example.com:443", "example.com"),
        ("1ca43.appspot.com", "1ca43.appspot.com"),
        ("co.uk", None),
        ("com", None),
        ("localhost", None),
        ("192.0.2.1", None),
        ("[2001:db8::1]", None),
        ("bad host", None),
    ],
)
def test_registrable_domain(host: str, expected: str | None) -> None:
    assert registrable_domain(host) == expected


def test_registrable_domain_is_cached() -> None:
    registrable_domain("cache-probe.example.org")
    hits = registrable_domain.cache_info().hits
    assert registrable_domain("cache-probe.example.org") == "example.org"
    assert registrable_domain.cache_info().hits == hits + 1


def test_normalise_host_refuses_overlong_names() -> None:
    assert normalise_host("a." * 127 + "example") is None


def reference_balance(candidate: str) -> str:
    """``_balance_parentheses`` as first written (recounting after each dropped ``)``): the behaviour
    the linear version must keep."""
    while candidate.endswith(")") and candidate.count(")") > candidate.count("("):
        candidate = candidate[:-1].rstrip(".,;:!?'\"]}>*")
    return candidate


def reference_host_start(host: str) -> str:
    """The leading ``*.`` and ``.`` strip of ``normalise_host`` as first written."""
    while host.startswith(("*.", ".")):
        host = host[1:].lstrip(".")
    return host


def reference_extract_urls(text: str) -> list[str]:
    found: dict[str, None] = {}
    for match in observables._URL_IN_TEXT.finditer(text):
        candidate = reference_balance(match.group().rstrip(observables._URL_TRAILING_PUNCTUATION))
        if candidate and not candidate.endswith("://"):
            found.setdefault(candidate, None)
    return list(found)


@given(st.lists(st.sampled_from(["https://", "www.", "x.example", "/a", "(", ")", ".", ",", "]", "'", " ", "_"])))
def test_extract_urls_keeps_its_first_behaviour(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert extract_urls(text) == reference_extract_urls(text)


@given(st.text(alphabet=st.sampled_from("*.ab-"), max_size=30))
def test_leading_wildcards_are_stripped_as_before(prefix: str) -> None:
    host = prefix + "evil.example"
    assert normalise_host(host) == normalise_host(reference_host_start(host))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(https://x.example/a)).", ["https://x.example/a"]),
        ("https://x.example/a).).).", ["https://x.example/a"]),
        ("https://x.example/(a)))", ["https://x.example/(a)"]),
        ("https://x.example/" + ")" * 1000, ["https://x.example/"]),
        ("https://x.example/a_(b)" + ")]." * 1000, ["https://x.example/a_(b)"]),
    ],
)
def test_extract_urls_drops_the_parentheses_around_a_url(text: str, expected: list[str]) -> None:
    assert extract_urls(text) == expected


def test_normalise_host_strips_any_run_of_leading_wildcards() -> None:
    assert normalise_host("*.*.*.evil.example") == "evil.example"
    assert normalise_host("..*..evil.example") == "evil.example"
    assert normalise_host("*." * 10_000 + "evil.example") == "evil.example"
    assert normalise_host("**.evil.example") is None
