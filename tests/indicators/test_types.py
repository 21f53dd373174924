"""Tests of indicator types and value normalisation (vestige.indicators.types)."""

from __future__ import annotations

import pytest

from vestige.indicators import types
from vestige.indicators.types import (
    InvalidIndicatorValueError,
    NormalisedIndicator,
    canonical_type,
    normalise_indicator,
)
from vestige.model import ObservableKind


@pytest.mark.parametrize(
    ("object_path", "expected"),
    [
        ("domain-name:value", types.DOMAIN),
        ("url:value", types.URL),
        ("ipv4-addr:value", types.IPV4),
        ("ipv6-addr:value", types.IPV6),
        ("email-addr:value", types.EMAIL),
        ("process:name", types.PROCESS),
        ("file:name", types.FILE_NAME),
        ("file:path", types.FILE_PATH),
        ("directory:path", types.DIRECTORY_PATH),
        ("file:hashes.md5", "file:hashes.MD5"),
        ("file:hashes.MD5", "file:hashes.MD5"),
        ("file:hashes.'SHA-1'", "file:hashes.'SHA-1'"),
        ("file:hashes.sha1", "file:hashes.'SHA-1'"),
        ("file:hashes.'SHA-256'", "file:hashes.'SHA-256'"),
        ("file:hashes.sha256", "file:hashes.'SHA-256'"),
        ("file:hashes.SHA256", "file:hashes.'SHA-256'"),
        ("app:id", types.APP_ID),
        ("app:cert.md5", "app:cert.md5"),
        ("app:cert.SHA1", "app:cert.sha1"),
        ("app:cert.sha256", "app:cert.sha256"),
        ("configuration-profile:id", types.PROFILE_ID),
        ("android-property:name", types.ANDROID_PROPERTY),
        ("network-traffic:dst_port", None),
        ("file:hashes.'SHA3-256'", None),
        ("x-custom:value", None),
    ],
)
def test_canonical_type(object_path: str, expected: str | None) -> None:
    assert canonical_type(object_path) == expected


@pytest.mark.parametrize(
    ("indicator_type", "raw", "expected"),
    [
        (
            types.DOMAIN,
            "Evil.Example.",
            NormalisedIndicator(types.DOMAIN, ObservableKind.DOMAIN, "evil.example"),
        ),
        (
            types.DOMAIN,
            "bücher.example",
            NormalisedIndicator(types.DOMAIN, ObservableKind.DOMAIN, "xn--bcher-kva.example"),
        ),
        # NoviSpy writes IP addresses in domain-name patterns
        (
            types.DOMAIN,
            "176.223.111.131",
            NormalisedIndicator(types.DOMAIN, ObservableKind.IP, "176.223.111.131"),
        ),
        # stalkerware writes URLs in domain lists: a bare site becomes its host, a path stays a URL
        (
            types.DOMAIN,
            "https://Evil.Example/",
            NormalisedIndicator(types.DOMAIN, ObservableKind.DOMAIN, "evil.example"),
        ),
        (
            types.DOMAIN,
            "evil.example/download",
            NormalisedIndicator(types.DOMAIN, ObservableKind.DOMAIN, "evil.example"),
        ),
        (
            types.DOMAIN,
            "https://github.com/earthshakira/android_hack",
            NormalisedIndicator(types.DOMAIN, ObservableKind.URL, "https://github.com/earthshakira/android_hack"),
        ),
        (
            types.URL,
            "HTTPS://Evil.Example",
            NormalisedIndicator(types.URL, ObservableKind.URL, "https://evil.example/"),
        ),
        (types.IPV4, "198.51.100.1", NormalisedIndicator(types.IPV4, ObservableKind.IP, "198.51.100.1")),
        (
            types.IPV4,
            "198.51.100.77/24",
            NormalisedIndicator(types.IPV4, ObservableKind.IP, "198.51.100.0/24"),
        ),
        (types.IPV4, "198.51.100.1/32", NormalisedIndicator(types.IPV4, ObservableKind.IP, "198.51.100.1")),
        (types.IPV6, "2001:DB8::/32", NormalisedIndicator(types.IPV6, ObservableKind.IP, "2001:db8::/32")),
        (
            types.EMAIL,
            "Agent@Example.COM",
            NormalisedIndicator(types.EMAIL, ObservableKind.EMAIL, "agent@example.com"),
        ),
        (
            types.PROCESS,
            "BackupAgent",
            NormalisedIndicator(types.PROCESS, ObservableKind.PROCESS, "BackupAgent"),
        ),
        (
            types.FILE_NAME,
            "it's.bin",
            NormalisedIndicator(types.FILE_NAME, ObservableKind.FILE_NAME, "it's.bin"),
        ),
        (
            types.FILE_PATH,
            "/data/local/tmp/wd/",
            NormalisedIndicator(types.FILE_PATH, ObservableKind.FILE_PATH, "/data/local/tmp/wd"),
        ),
        (types.SHA256, "AB" * 32, NormalisedIndicator(types.SHA256, ObservableKind.SHA256, "ab" * 32)),
        (types.FILE_HASH, "ab" * 20, NormalisedIndicator(types.SHA1, ObservableKind.SHA1, "ab" * 20)),
        (
            types.APP_CERT,
            "31A6ECECD97CF39BC4126B8745CD94A7C30BF81C",
            NormalisedIndicator("app:cert.sha1", ObservableKind.APP_CERT, "31a6ececd97cf39bc4126b8745cd94a7c30bf81c"),
        ),
        (
            types.APP_ID,
            "App.EasyLogger",
            NormalisedIndicator(types.APP_ID, ObservableKind.APP_ID, "app.easylogger"),
        ),
        (
            types.PROFILE_ID,
            "76dab334-7e17-475d-a5d6-0794eb5818a5",
            NormalisedIndicator(types.PROFILE_ID, ObservableKind.PROFILE_ID, "76DAB334-7E17-475D-A5D6-0794EB5818A5"),
        ),
        (
            types.ANDROID_PROPERTY,
            "sys.brand.note",
            NormalisedIndicator(types.ANDROID_PROPERTY, ObservableKind.ANDROID_PROPERTY, "sys.brand.note"),
        ),
    ],
)
def test_normalise_indicator(indicator_type: str, raw: str, expected: NormalisedIndicator) -> None:
    assert normalise_indicator(indicator_type, raw) == expected


@pytest.mark.parametrize(
    ("indicator_type", "raw", "message"),
    [
        (types.DOMAIN, "not a host", "'not a host' is not a host name"),
        (types.IPV4, "198.51.100.300", "'198.51.100.300' is not an IP address or network"),
        (types.SHA256, "abc", "'abc' is not a 64-digit hex digest for file:hashes.'SHA-256'"),
        ("app:cert.sha1", "ab" * 32, f"'{'ab' * 32}' is not a 40-digit hex digest for app:cert.sha1"),
        (types.FILE_HASH, "xyz", "'xyz' is not an MD5, SHA-1 or SHA-256 hex digest"),
        (types.FILE_PATH, "/", "the root path '/' would match every file"),
        (types.FILE_NAME, "a/b", "'a/b' is not a valid file:name value"),
        (types.EMAIL, "nobody", "'nobody' is not a valid email-addr:value value"),
        ("network-traffic:dst_port", "443", "unsupported indicator type network-traffic:dst_port"),
    ],
)
def test_invalid_values_say_why(indicator_type: str, raw: str, message: str) -> None:
    with pytest.raises(InvalidIndicatorValueError) as raised:
        normalise_indicator(indicator_type, raw)
    assert str(raised.value) == message


def test_every_canonical_type_has_a_kind() -> None:
    assert {canonical_type(t) for t in types.KINDS} == set(types.KINDS)
