"""Tests of the plain-list reader (vestige.indicators.plain)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from vestige.indicators import types
from vestige.indicators.plain import plain_list_type, read_plain_list
from vestige.indicators.sets import (
    IndicatorFormatError,
    IndicatorProblem,
    IndicatorSet,
    ProblemKind,
    SetOrigin,
)

MOROCCO = (
    Path(__file__).parents[2]
    / "src"
    / "vestige"
    / "indicators"
    / "data"
    / "amnesty-investigations"
    / "2019-10-10_nso_morocco"
    / "domains.txt"
)


def read(data: bytes, path: str, indicator_type: str | None = None) -> IndicatorSet:
    origin = SetOrigin("test/list", "test", "test", path, hashlib.sha256(data).hexdigest())
    return read_plain_list(data, origin, indicator_type)


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("domains.txt", types.DOMAIN),
        ("v4_domains.txt", types.DOMAIN),
        ("v4_validation_domains.txt", types.DOMAIN),
        ("processes.txt", types.PROCESS),
        ("emails.txt", types.EMAIL),
        ("files.txt", types.FILE_NAME),
        ("file_paths.txt", types.FILE_PATH),
        ("config_profiles.txt", types.PROFILE_ID),
        ("android_properties.txt", types.ANDROID_PROPERTY),
        ("package_names.txt", types.APP_ID),
        ("package_cert_hashes.txt", types.APP_CERT),
        ("sha256.txt", types.SHA256),
        ("ips.txt", types.IPV4),
        ("urls.txt", types.URL),
        ("Domains.TXT", types.DOMAIN),
        ("notes.txt", None),
        ("mydomains.txt", None),
    ],
)
def test_type_from_the_file_name(file_name: str, expected: str | None) -> None:
    assert plain_list_type(file_name) == expected


def test_real_nso_morocco_domains() -> None:
    loaded = read(MOROCCO.read_bytes(), str(MOROCCO))
    assert [i.value for i in loaded.indicators] == [
        "stopsms.biz",
        "revolution-news.co",
        "videosdownload.co",
        "infospress.com",
        "business-today.info",
        "hmizat.co",
        "free247downloads.com",
        "bun54l2b67.get1tn0w.free247downloads.com",
    ]
    assert {i.collections for i in loaded.indicators} == {("test/list",)}
    assert loaded.format == "plain-list"


def test_comments_blank_lines_and_bad_lines() -> None:
    data = b"\xef\xbb\xbf# exported 2024-01-01\n\nEvil.Example\n  other.example  \nnot a host\n# end\n"
    loaded = read(data, "lists/domains.txt")
    assert [(i.value, i.origin) for i in loaded.indicators] == [
        ("evil.example", "line 3"),
        ("other.example", "line 4"),
    ]
    assert loaded.problems == (IndicatorProblem(ProblemKind.INVALID, "line 5", "'not a host' is not a host name"),)


def test_ips_list_mixes_addresses_networks_and_versions() -> None:
    loaded = read(b"198.51.100.1\n203.0.113.0/24\n2001:db8::1\n", "ips.txt")
    assert [(i.type, i.value) for i in loaded.indicators] == [
        (types.IPV4, "198.51.100.1"),
        (types.IPV4, "203.0.113.0/24"),
        (types.IPV4, "2001:db8::1"),
    ]


def test_certificate_hashes_take_their_algorithm_from_their_length() -> None:
    loaded = read(("ab" * 20 + "\n" + "CD" * 32 + "\n").encode(), "package_cert_hashes.txt")
    assert [(i.type, i.value) for i in loaded.indicators] == [
        ("app:cert.sha1", "ab" * 20),
        ("app:cert.sha256", "cd" * 32),
    ]


def test_explicit_type_overrides_the_name() -> None:
    loaded = read(b"roleaccountd\n", "whatever.txt", types.PROCESS)
    assert [(i.type, i.value) for i in loaded.indicators] == [(types.PROCESS, "roleaccountd")]


def test_unknown_name_without_type_is_refused() -> None:
    with pytest.raises(IndicatorFormatError) as raised:
        read(b"x\n", "lists/notes.txt")
    assert str(raised.value) == (
        "lists/notes.txt: the file name does not say what the values are (name it domains.txt, processes.txt, ... "
        "or give its type)"
    )


def test_unknown_type_is_refused() -> None:
    with pytest.raises(IndicatorFormatError) as raised:
        read(b"x\n", "notes.txt", "network-traffic:dst_port")
    assert str(raised.value) == "notes.txt: unsupported indicator type 'network-traffic:dst_port'"


def test_non_utf8_is_refused() -> None:
    with pytest.raises(IndicatorFormatError) as raised:
        read(b"evil.example\n\xff\xfe\n", "domains.txt")
    assert str(raised.value) == "domains.txt: not UTF-8 text (invalid start byte at byte 13)"
