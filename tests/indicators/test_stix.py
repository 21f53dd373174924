"""Tests of the STIX 2.x bundle reader (vestige.indicators.stix), on committed and real bundles."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import orjson
import pytest

from vestige.indicators import types
from vestige.indicators.sets import IndicatorFormatError, IndicatorSet, ProblemKind, SetOrigin
from vestige.indicators.stix import read_stix_bundle
from vestige.model import ObservableKind

DATA = Path(__file__).parents[1] / "data" / "indicators"
BUNDLED = Path(__file__).parents[2] / "src" / "vestige" / "indicators" / "data"


def read(path: Path, name: str = "test/bundle") -> IndicatorSet:
    data = path.read_bytes()
    return read_stix_bundle(data, SetOrigin(name, "test", "test", str(path), hashlib.sha256(data).hexdigest()))


def read_bytes(data: bytes, name: str = "test/bundle") -> IndicatorSet:
    return read_stix_bundle(data, SetOrigin(name, "test", "test", "generated.stix2", "0" * 64))


def test_compound_fixture_indicators_and_collections() -> None:
    loaded = read(DATA / "compound.stix2")
    assert [(i.type, i.value, i.collections) for i in loaded.indicators] == [
        (types.URL, "https://evil.example/a?b=1&c=2", ("FamilyA",)),
        (types.DOMAIN, "shared.example", ("FamilyA", "FamilyB")),
        (
            types.COMPOUND,
            "[domain-name:value = 'a.example' OR domain-name:value = 'b.example']",
            ("FamilyA",),
        ),
        (
            types.COMPOUND,
            "[file:name = 'it\\'s.bin' AND file:hashes.MD5 = 'D41D8CD98F00B204E9800998ECF8427E']",
            ("FamilyA",),
        ),
        (types.COMPOUND, "[process:name = 'implantd'] AND [domain-name:value = 'c2.example']", ("FamilyB",)),
        (types.EMAIL, "agent@example.com", ("Report R",)),
        (types.IPV4, "203.0.113.0/24", ("test/bundle",)),
    ]
    assert loaded.counts == {
        types.URL: 1,
        types.DOMAIN: 1,
        types.COMPOUND: 3,
        types.EMAIL: 1,
        types.IPV4: 1,
    }


def test_compound_fixture_problems_are_counted_with_reasons() -> None:
    loaded = read(DATA / "compound.stix2")
    indicator = "indicator--00000000-0000-4000-8000-0000000000"
    assert [(p.kind, p.where.removeprefix(indicator), p.reason.partition(":")[0]) for p in loaded.problems] == [
        (ProblemKind.UNSUPPORTED, "07", "operator LIKE is not supported"),
        (
            ProblemKind.INVALID,
            "08",
            "expected ']' closing the observation expression, found end of pattern at position 37",
        ),
        (ProblemKind.UNSUPPORTED, "09", "qualifier WITHIN is not supported"),
        (ProblemKind.REVOKED, "11", "revoked by its producer"),
        (ProblemKind.UNSUPPORTED, "12", "pattern_type 'yara' is not supported"),
        (ProblemKind.UNSUPPORTED, "13", "object path network-traffic"),
        (ProblemKind.INVALID, "14", "'not-a-digest' is not a 64-digit hex digest for file"),
    ]
    assert (loaded.invalid_count, loaded.unsupported_count) == (2, 4)
    assert loaded.unknown_objects == {"x-vestige-note": 1}
    assert loaded.unknown_object_count == 1
    assert loaded.ignored_objects == {"identity": 1}
    assert loaded.dangling_relationships == 2
    assert loaded.duplicates == 1


def test_compound_fixture_terms_keep_their_groups() -> None:
    loaded = read(DATA / "compound.stix2")
    cross = next(i for i in loaded.indicators if i.value.startswith("[process:name"))
    assert [(t.kind, t.value, t.group) for t in cross.alternatives[0]] == [
        (ObservableKind.PROCESS, "implantd", 0),
        (ObservableKind.DOMAIN, "c2.example", 1),
    ]


def test_stix_2_0_bundle_with_only_url_indicators() -> None:
    loaded = read(DATA / "urls_only.stix2")
    assert [(i.type, i.value, i.collections) for i in loaded.indicators] == [
        (types.URL, "https://evil.example/login?next=/inbox", ("UrlOnly",)),
        (types.URL, "http://198.51.100.7/x", ("UrlOnly",)),
    ]


def test_wintego_helios_dangling_relationship_is_counted() -> None:
    loaded = read(BUNDLED / "amnesty-investigations" / "2024-05-02_wintego_helios" / "wintego_helios.stix2")
    assert loaded.dangling_relationships == 1
    assert len(loaded.indicators) == 175
    assert {i.collections for i in loaded.indicators} == {("Wintego Helios",)}
    assert loaded.problems == ()


def test_novispy_ips_in_domain_patterns_become_ip_indicators() -> None:
    loaded = read(BUNDLED / "amnesty-investigations" / "2024-12-16_serbia_novispy" / "novispy.stix2")
    ips = [(i.type, i.value) for i in loaded.indicators if i.alternatives[0][0].kind is ObservableKind.IP]
    assert ips == [
        (types.DOMAIN, "176.223.111.131"),
        (types.DOMAIN, "195.178.51.251"),
        (types.DOMAIN, "94.140.125.174"),
        (types.DOMAIN, "178.220.122.57"),
        (types.DOMAIN, "185.86.148.174"),
        (types.DOMAIN, "188.93.127.34"),
        (types.DOMAIN, "79.101.110.108"),
    ]
    assert loaded.counts == {types.DOMAIN: 7, types.APP_ID: 4, "app:cert.sha256": 3, types.SHA256: 4}


def test_non_standard_object_paths_of_real_sets_are_read() -> None:
    cytrox = read(BUNDLED / "amnesty-investigations" / "2021-12-16_cytrox" / "cytrox.stix2")
    android = read(BUNDLED / "amnesty-investigations" / "2023-03-29_android_campaign" / "malware.stix2")
    coruna = read(BUNDLED / "mvt-indicators" / "2026-03-03_coruna_cryptowaters" / "coruna.stix2")
    assert cytrox.counts == {types.DOMAIN: 336, types.FILE_PATH: 6, types.PROFILE_ID: 1}
    assert android.counts == {types.DOMAIN: 2183, types.FILE_PATH: 1, types.ANDROID_PROPERTY: 3}
    # coruna spells the hash file:hashes.'SHA-256', the other sets file:hashes.sha256: one type for both
    assert coruna.counts == {types.DOMAIN: 177, types.SHA256: 20, types.FILE_PATH: 12, types.FILE_NAME: 7}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"[]", "not a STIX 2 bundle (no 'type': 'bundle' with 'objects')"),
        (
            b'{"type": "indicator", "pattern": "[a:b = \'c\']"}',
            "not a STIX 2 bundle (no 'type': 'bundle' with 'objects')",
        ),
        (b'{"type": "bundle", "objects": {}}', "not a STIX 2 bundle (no 'type': 'bundle' with 'objects')"),
    ],
)
def test_a_file_that_is_not_a_bundle_names_the_file(data: bytes, reason: str) -> None:
    with pytest.raises(IndicatorFormatError) as raised:
        read_bytes(data)
    assert str(raised.value) == f"generated.stix2: {reason}"


def test_invalid_json_names_the_file() -> None:
    with pytest.raises(IndicatorFormatError) as raised:
        read_bytes(b"{not json")
    assert raised.value.path == "generated.stix2"
    assert str(raised.value).startswith("generated.stix2: not JSON (")


def test_malformed_objects_are_counted_not_raised() -> None:
    bundle = {
        "type": "bundle",
        "objects": [
            "a string",
            {"no": "type"},
            {"type": "indicator", "id": "indicator--1"},
            {"type": "indicator", "id": "indicator--2", "pattern": 42},
            {"type": "indicator", "pattern": "[domain-name:value = 'ok.example']"},
            {
                "type": "relationship",
                "relationship_type": "indicates",
                "source_ref": ["x"],
                "target_ref": None,
            },
        ],
    }
    loaded = read_bytes(orjson.dumps(bundle))
    assert [(i.value, i.collections, i.origin) for i in loaded.indicators] == [
        ("ok.example", ("test/bundle",), "objects[4]")
    ]
    assert [(p.kind, p.where, p.reason) for p in loaded.problems] == [
        (ProblemKind.INVALID, "objects[0]", "not a STIX object (no 'type')"),
        (ProblemKind.INVALID, "objects[1]", "not a STIX object (no 'type')"),
        (ProblemKind.INVALID, "indicator--1", "indicator without a pattern string"),
        (ProblemKind.INVALID, "indicator--2", "indicator without a pattern string"),
    ]
    assert loaded.dangling_relationships == 1


def generated_bundle(size: int) -> bytes:
    objects: list[dict[str, object]] = [{"type": "malware", "id": "malware--0", "name": "Generated"}]
    for number in range(size):
        objects.append(
            {
                "type": "indicator",
                "id": f"indicator--{number}",
                "pattern": f"[domain-name:value = 'd{number}.example']",
            }
        )
        objects.append(
            {
                "type": "relationship",
                "id": f"relationship--{number}",
                "relationship_type": "indicates",
                "source_ref": f"indicator--{number}",
                "target_ref": "malware--0",
            }
        )
    objects.append(
        {
            "type": "report",
            "id": "report--0",
            "name": "All",
            "object_refs": [f"indicator--{n}" for n in range(size)],
        }
    )
    return orjson.dumps({"type": "bundle", "objects": objects})


def best_time(data: bytes) -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        loaded = read_bytes(data)
        times.append(time.perf_counter() - start)
        assert loaded.indicators[-1].collections == ("Generated", "All")
    return min(times)


def test_loading_is_linear_in_bundle_size() -> None:
    # MVT resolves relationships per indicator (quadratic): 8x the indicators cost it 64x the time.
    small, large = generated_bundle(2_000), generated_bundle(16_000)
    assert best_time(large) / best_time(small) < 24
