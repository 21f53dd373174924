"""Tests of indicator sets and their builder (vestige.indicators.sets)."""

from __future__ import annotations

from vestige.indicators import types
from vestige.indicators.sets import (
    Indicator,
    IndicatorProblem,
    IndicatorSetBuilder,
    IndicatorTerm,
    ProblemKind,
    SetOrigin,
)
from vestige.model import ObservableKind

ORIGIN = SetOrigin("test/set", "unit test", "CC0-1.0", "test/set.txt", "0" * 64)


def test_single_values_are_normalised_and_credited() -> None:
    builder = IndicatorSetBuilder(ORIGIN, "plain-list")
    builder.add_value(types.DOMAIN, "Evil.Example.", ("Family",), "line 1")
    built = builder.build()
    term = IndicatorTerm(types.DOMAIN, ObservableKind.DOMAIN, "evil.example")
    assert built.indicators == (Indicator(types.DOMAIN, "evil.example", ((term,),), ("Family",), "line 1"),)
    assert (built.name, built.source, built.licence, built.path, built.sha256, built.format) == (
        "test/set",
        "unit test",
        "CC0-1.0",
        "test/set.txt",
        "0" * 64,
        "plain-list",
    )


def test_duplicates_merge_and_new_collections_are_added() -> None:
    builder = IndicatorSetBuilder(ORIGIN, "plain-list")
    builder.add_value(types.DOMAIN, "evil.example", ("A",), "line 1")
    builder.add_value(types.DOMAIN, "EVIL.example", ("A",), "line 2")
    builder.add_value(types.DOMAIN, "evil.example", ("B",), "line 3")
    built = builder.build()
    assert [(i.value, i.collections, i.origin) for i in built.indicators] == [("evil.example", ("A", "B"), "line 1")]
    assert built.duplicates == 1
    assert built.counts == {types.DOMAIN: 1}


def test_bad_values_and_patterns_become_problems() -> None:
    builder = IndicatorSetBuilder(ORIGIN, "stix2")
    builder.add_value(types.SHA256, "xyz", ("A",), "line 7")
    builder.add_pattern("[domain-name:value LIKE 'x%']", ("A",), "indicator--1")
    builder.add_pattern("[domain-name:value = 'x'", ("A",), "indicator--2")
    builder.add_pattern("[x-custom:value = 'x']", ("A",), "indicator--3")
    built = builder.build()
    assert built.indicators == ()
    assert built.problems == (
        IndicatorProblem(ProblemKind.INVALID, "line 7", "'xyz' is not a 64-digit hex digest for file:hashes.'SHA-256'"),
        IndicatorProblem(
            ProblemKind.UNSUPPORTED,
            "indicator--1",
            "operator LIKE is not supported: [domain-name:value LIKE 'x%']",
        ),
        IndicatorProblem(
            ProblemKind.INVALID,
            "indicator--2",
            "expected ']' closing the observation expression, found end of pattern at position 24: "
            "[domain-name:value = 'x'",
        ),
        IndicatorProblem(
            ProblemKind.UNSUPPORTED,
            "indicator--3",
            "object path x-custom:value is not supported: [x-custom:value = 'x']",
        ),
    )
    assert (built.invalid_count, built.unsupported_count) == (2, 2)


def test_compound_patterns_keep_their_text_as_value() -> None:
    builder = IndicatorSetBuilder(ORIGIN, "stix2")
    text = "[file:name = 'a.bin' AND file:hashes.MD5 = 'D41D8CD98F00B204E9800998ECF8427E']"
    builder.add_pattern(text, ("A",), "indicator--1")
    (indicator,) = builder.build().indicators
    assert (indicator.type, indicator.value) == (types.COMPOUND, text)
    assert indicator.alternatives == (
        (
            IndicatorTerm(types.FILE_NAME, ObservableKind.FILE_NAME, "a.bin", 0),
            IndicatorTerm(types.MD5, ObservableKind.MD5, "d41d8cd98f00b204e9800998ecf8427e", 0),
        ),
    )


def test_a_single_term_pattern_is_stored_like_a_single_value() -> None:
    builder = IndicatorSetBuilder(ORIGIN, "stix2")
    builder.add_pattern("[file:hashes.sha256 = '" + "AB" * 32 + "']", ("A",), "indicator--1")
    builder.add_value(types.SHA256, "ab" * 32, ("A",), "line 1")
    built = builder.build()
    assert [(i.type, i.value) for i in built.indicators] == [(types.SHA256, "ab" * 32)]
    assert built.duplicates == 1


def test_as_json_summarises_provenance_and_counts() -> None:
    builder = IndicatorSetBuilder(ORIGIN, "stix2")
    builder.add_value(types.PROCESS, "bh", ("A",), "line 1")
    builder.add_value(types.DOMAIN, "evil.example", ("A",), "line 2")
    builder.add_value(types.DOMAIN, "bad host", ("A",), "line 3")
    builder.unknown_object("x-custom")
    builder.dangling_relationship()
    assert builder.build().as_json() == {
        "name": "test/set",
        "source": "unit test",
        "licence": "CC0-1.0",
        "sha256": "0" * 64,
        "format": "stix2",
        "indicators": 2,
        "counts": {types.DOMAIN: 1, types.PROCESS: 1},
        "invalid": 1,
        "unsupported": 0,
        "unknown_objects": 1,
        "dangling_relationships": 1,
        "duplicates": 0,
    }
