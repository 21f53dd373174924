"""Tests of the stalkerware-indicators readers (vestige.indicators.stalkerware), on the real files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from vestige.indicators import types
from vestige.indicators.sets import IndicatorFormatError, IndicatorSet, ProblemKind, SetOrigin
from vestige.indicators.stalkerware import read_stalkerware_network_csv, read_stalkerware_yaml
from vestige.model import ObservableKind

IOC_YAML = Path(__file__).parents[2] / "src" / "vestige" / "indicators" / "data" / "stalkerware-indicators" / "ioc.yaml"
NETWORK_CSV = Path(__file__).parents[1] / "data" / "indicators" / "network.csv"


def origin(data: bytes, path: str) -> SetOrigin:
    return SetOrigin("stalkerware", "test", "CC-BY-4.0", path, hashlib.sha256(data).hexdigest())


def read_yaml(data: bytes) -> IndicatorSet:
    return read_stalkerware_yaml(data, origin(data, "ioc.yaml"))


@pytest.fixture(scope="module")
def ioc_yaml() -> IndicatorSet:
    return read_yaml(IOC_YAML.read_bytes())


def values(loaded: IndicatorSet, value: str) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(i.type, i.value, i.collections) for i in loaded.indicators if i.value == value]


def test_real_ioc_yaml_counts(ioc_yaml: IndicatorSet) -> None:
    assert ioc_yaml.format == "stalkerware-ioc-yaml"
    assert ioc_yaml.counts == {
        types.APP_ID: 612,
        "app:cert.sha1": 471,
        types.DOMAIN: 1455,
        types.IPV4: 68,
    }
    assert ioc_yaml.duplicates == 137
    assert ioc_yaml.invalid_count == 0


def test_real_ioc_yaml_entries_map_to_types(ioc_yaml: IndicatorSet) -> None:
    assert values(ioc_yaml, "com.thetruth") == [(types.APP_ID, "com.thetruth", ("TheTruthSpy",))]
    assert values(ioc_yaml, "31a6ececd97cf39bc4126b8745cd94a7c30bf81c") == [
        ("app:cert.sha1", "31a6ececd97cf39bc4126b8745cd94a7c30bf81c", ("TheTruthSpy",))
    ]
    assert values(ioc_yaml, "69.64.74.239") == [(types.IPV4, "69.64.74.239", ("TheTruthSpy",))]
    # three entries write c2.ip instead of c2.ips (generated/network.csv misses them)
    assert values(ioc_yaml, "72.167.46.196") == [(types.IPV4, "72.167.46.196", ("MobiStealth",))]
    assert values(ioc_yaml, "85.10.199.40") == [(types.IPV4, "85.10.199.40", ("Ahmyth",))]


def test_real_ioc_yaml_duplicates_and_shared_values(ioc_yaml: IndicatorSet) -> None:
    # copy9.com is both a website and a C2 domain of TheTruthSpy: one indicator
    assert values(ioc_yaml, "copy9.com") == [(types.DOMAIN, "copy9.com", ("TheTruthSpy",))]
    # a package shared by two apps is credited to both
    assert values(ioc_yaml, "com.sc.spyier.v2") == [(types.APP_ID, "com.sc.spyier.v2", ("Cocospy", "Spyier"))]
    # app.EasyLogger and app.Easylogger are one package name
    assert values(ioc_yaml, "app.easylogger") == [(types.APP_ID, "app.easylogger", ("EasyLogger",))]


def test_real_ioc_yaml_urls_typed_as_domains(ioc_yaml: IndicatorSet) -> None:
    urls = [(i.value, i.collections) for i in ioc_yaml.indicators if i.alternatives[0][0].kind is ObservableKind.URL]
    assert urls == [
        ("https://github.com/earthshakira/android_hack", ("Buhsam",)),
        ("https://github.com/karma9874/AndroRAT", ("AndroRat",)),
    ]
    assert values(ioc_yaml, "github.com") == []


def test_real_ioc_yaml_certificate_subjects_are_unsupported(ioc_yaml: IndicatorSet) -> None:
    assert sorted(p.where for p in ioc_yaml.problems) == [
        "KidsShield.certificate_cname_re",
        "KidsShield.certificate_organizations",
        "MobiStealth.certificate_organizations",
        "Mrecorder.certificate_organizations",
        "MyCellSpy.certificate_organizations",
        "SmartKeylogger.certificate_organizations",
    ]
    assert {p.kind for p in ioc_yaml.problems} == {ProblemKind.UNSUPPORTED}


def test_yaml_entries_that_are_not_usable_are_counted() -> None:
    data = b"""
- names: [NoName]
- name: Odd
  packages: com.not.a.list
  websites: [ok.example, 42]
  c2:
    ips: ['2001:db8::1']
    urls: [http://x.example/]
"""
    loaded = read_yaml(data)
    assert [(i.type, i.value) for i in loaded.indicators] == [
        (types.DOMAIN, "ok.example"),
        (types.IPV6, "2001:db8::1"),
    ]
    assert [(p.kind, p.where, p.reason) for p in loaded.problems] == [
        (ProblemKind.INVALID, "entry 0", "an app entry without a name"),
        (ProblemKind.INVALID, "Odd.packages", "expected a list"),
        (ProblemKind.INVALID, "Odd.websites[1]", "42 is not a string"),
        (ProblemKind.UNSUPPORTED, "Odd.c2.urls", "unknown c2 field"),
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"name: [unclosed", "not YAML ("),
        (b"name: TheTruthSpy\n", "not a stalkerware ioc.yaml (expected a list of apps)"),
    ],
)
def test_yaml_that_is_not_an_ioc_list_names_the_file(data: bytes, reason: str) -> None:
    with pytest.raises(IndicatorFormatError) as raised:
        read_yaml(data)
    assert str(raised.value).startswith(f"ioc.yaml: {reason}")


def test_real_network_csv() -> None:
    data = NETWORK_CSV.read_bytes()
    loaded = read_stalkerware_network_csv(data, origin(data, str(NETWORK_CSV)))
    assert loaded.format == "stalkerware-network-csv"
    assert len(loaded.indicators) == 1025
    assert loaded.counts == {types.DOMAIN: 960, types.IPV4: 65}
    assert loaded.duplicates == 9  # e.g. "domain,e-spy.org,Tracku" on lines 840 and 847
    assert loaded.problems == ()
    assert [(i.value, i.collections, i.origin) for i in loaded.indicators if i.value == "e-spy.org"] == [
        ("e-spy.org", ("Tracku",), "line 840")
    ]
    github = [i.value for i in loaded.indicators if i.alternatives[0][0].kind is ObservableKind.URL]
    assert github == ["https://github.com/earthshakira/android_hack", "https://github.com/karma9874/AndroRAT"]


def test_network_csv_rows_of_unknown_type_are_counted() -> None:
    data = b"type,indicator,app\nsha1,abcd,App\ndomain,,App\ndomain,ok.example,\n"
    loaded = read_stalkerware_network_csv(data, origin(data, "network.csv"))
    assert [(i.value, i.collections) for i in loaded.indicators] == [("ok.example", ("stalkerware",))]
    assert [(p.kind, p.where, p.reason) for p in loaded.problems] == [
        (ProblemKind.UNSUPPORTED, "line 2", "indicator type 'sha1'"),
        (ProblemKind.INVALID, "line 3", "empty indicator"),
    ]


def test_csv_without_the_header_names_the_file() -> None:
    with pytest.raises(IndicatorFormatError) as raised:
        read_stalkerware_network_csv(b"a,b\n1,2\n", origin(b"", "network.csv"))
    assert str(raised.value) == "network.csv: not a stalkerware network.csv (no type,indicator,app header)"
