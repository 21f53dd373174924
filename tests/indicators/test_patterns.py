"""Tests of the STIX pattern grammar (vestige.indicators.patterns)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vestige.indicators.patterns import (
    MAX_ALTERNATIVES,
    Conjunction,
    PatternSyntaxError,
    Term,
    UnsupportedPatternError,
    parse_pattern,
    parse_pattern_fully,
    quote,
)


def dnf(text: str) -> list[list[tuple[str, str, int]]]:
    return [[(t.object_path, t.value, t.group) for t in c.terms] for c in parse_pattern(text).alternatives]


def test_single_comparison() -> None:
    pattern = parse_pattern("[domain-name:value = 'evil.example']")
    assert pattern.text == "[domain-name:value = 'evil.example']"
    assert pattern.alternatives == (Conjunction((Term("domain-name:value", "evil.example", 0),)),)


@pytest.mark.parametrize(
    "text",
    [
        "[domain-name:value='evil.example']",
        "  [ domain-name:value   =   'evil.example' ]  ",
        "[\tdomain-name:value\n=\r\n'evil.example']",
        "[domain-name:value == 'evil.example']",
        "([domain-name:value = 'evil.example'])",
        "[(domain-name:value = 'evil.example')]",
    ],
)
def test_whitespace_and_equivalent_spellings(text: str) -> None:
    assert dnf(text) == [[("domain-name:value", "evil.example", 0)]]


def test_equals_sign_inside_a_value_is_part_of_the_value() -> None:
    assert dnf("[url:value = 'https://x/a?b=1&c==2']") == [[("url:value", "https://x/a?b=1&c==2", 0)]]


def test_escaped_quote_and_backslash() -> None:
    assert dnf(r"[file:name = 'it\'s a \\ name']") == [[("file:name", "it's a \\ name", 0)]]


def test_quoted_and_bare_hash_paths() -> None:
    assert dnf("[file:hashes.'SHA-256' = 'AB']") == [[("file:hashes.'SHA-256'", "AB", 0)]]
    assert dnf("[file:hashes.MD5 = 'ab']") == [[("file:hashes.MD5", "ab", 0)]]
    assert dnf("[app:cert.sha256 = 'ab']") == [[("app:cert.sha256", "ab", 0)]]


def test_list_index_and_nested_quoted_steps_are_kept_in_the_path() -> None:
    text = "[network-traffic:extensions.'http-request-ext'.request_header.'Accept'[0] = 'x']"
    assert dnf(text) == [[("network-traffic:extensions.'http-request-ext'.request_header.'Accept'[0]", "x", 0)]]
    assert dnf("[email-message:to_refs[*].value = 'a@b.example']") == [
        [("email-message:to_refs[*].value", "a@b.example", 0)]
    ]


def test_or_inside_a_bracket_gives_alternatives_of_one_group() -> None:
    assert dnf("[domain-name:value = 'a.example' OR domain-name:value = 'b.example']") == [
        [("domain-name:value", "a.example", 0)],
        [("domain-name:value", "b.example", 0)],
    ]


def test_and_inside_a_bracket_gives_one_conjunction_of_one_group() -> None:
    assert dnf("[file:name = 'x' AND file:hashes.MD5 = 'y']") == [[("file:name", "x", 0), ("file:hashes.MD5", "y", 0)]]


def test_and_binds_tighter_than_or_inside_a_bracket() -> None:
    assert dnf("[a:b = '1' OR a:b = '2' AND c:d = '3']") == [
        [("a:b", "1", 0)],
        [("a:b", "2", 0), ("c:d", "3", 0)],
    ]


def test_parentheses_inside_a_bracket_distribute() -> None:
    assert dnf("[(a:b = '1' OR a:b = '2') AND c:d = '3']") == [
        [("a:b", "1", 0), ("c:d", "3", 0)],
        [("a:b", "2", 0), ("c:d", "3", 0)],
    ]


def test_brackets_combined_with_and_and_or_number_their_groups() -> None:
    text = "[a:b = '1' OR c:d = '2'] AND ([e:f = '3'] OR [g:h = '4'])"
    assert dnf(text) == [
        [("a:b", "1", 0), ("e:f", "3", 1)],
        [("a:b", "1", 0), ("g:h", "4", 2)],
        [("c:d", "2", 0), ("e:f", "3", 1)],
        [("c:d", "2", 0), ("g:h", "4", 2)],
    ]
    assert parse_pattern(text).alternatives[0].groups == (0, 1)


def test_or_between_brackets_gives_independent_alternatives() -> None:
    assert dnf("[a:b = '1'] OR [c:d = '2']") == [[("a:b", "1", 0)], [("c:d", "2", 1)]]


def test_repeated_terms_and_alternatives_collapse() -> None:
    assert dnf("[a:b = '1' AND a:b = '1']") == [[("a:b", "1", 0)]]
    assert dnf("[a:b = '1' OR a:b = '1']") == [[("a:b", "1", 0)]]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[domain-name:value != 'x']", "operator != is not supported"),
        ("[domain-name:value <> 'x']", "operator <> is not supported"),
        ("[domain-name:value LIKE '%.x']", "operator LIKE is not supported"),
        ("[domain-name:value MATCHES '^x$']", "operator MATCHES is not supported"),
        ("[domain-name:value IN ('x', 'y')]", "operator IN is not supported"),
        ("[ipv4-addr:value ISSUBSET '198.51.100.0/24']", "operator ISSUBSET is not supported"),
        ("[file:size > 10]", "operator > is not supported"),
        ("[file:size >= 10]", "operator >= is not supported"),
        ("[domain-name:value NOT = 'x']", "NOT = is not supported"),
        ("[EXISTS file:name]", "EXISTS file:name is not supported"),
        ("[file:size = 10]", "number literal 10 is not supported"),
        ("[file:x = true]", "bool literal true is not supported"),
        ("[file:x = h'ff']", "hex literal ff is not supported"),
        ("[file:x = b'AA==']", "binary literal AA== is not supported"),
        (
            "[file:created = t'2020-01-01T00:00:00Z']",
            "timestamp literal 2020-01-01T00:00:00Z is not supported",
        ),
        ("[a:b = 'x'] WITHIN 300 SECONDS", "qualifier WITHIN is not supported"),
        ("[a:b = 'x'] REPEATS 3 TIMES", "qualifier REPEATS is not supported"),
        (
            "[a:b = 'x'] START t'2020-01-01T00:00:00Z' STOP t'2020-02-01T00:00:00Z'",
            "qualifier START/STOP is not supported",
        ),
        ("[a:b = 'x'] FOLLOWEDBY [c:d = 'y']", "FOLLOWEDBY is not supported"),
    ],
)
def test_unsupported_constructs(text: str, reason: str) -> None:
    with pytest.raises(UnsupportedPatternError) as raised:
        parse_pattern(text)
    assert raised.value.reason == reason


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("", "expected '[' or '(', found end of pattern", 0),
        ("[]", "expected an object path such as domain-name:value, found ']'", 1),
        (
            "[domain-name:value = 'x'",
            "expected ']' closing the observation expression, found end of pattern",
            24,
        ),
        ("[domain-name:value = 'x", "unterminated string literal", 21),
        ("[domain-name:value = 'x\\n']", "invalid escape \\n in a string literal", 23),
        ("[domain-name:value 'x']", "expected a comparison operator, found string 'x'", 19),
        ("[domain-name = 'x']", "expected ':' after the object type, found '='", 13),
        ("[domain-name:value = 'x' AND]", "expected an object path such as domain-name:value, found ']'", 28),
        ("[domain-name:value = 'x'] OR", "expected '[' or '(', found end of pattern", 28),
        ("[domain-name:value = 'x'] $", "unexpected character '$'", 26),
        ("[a:b = 'x'] and [c:d = 'y']", "unexpected 'and'", 12),
        ("[a:b = 'x'] WITHIN SECONDS", "expected a number of seconds, found 'SECONDS'", 19),
        ("[a:b[x] = 'x']", "expected a list index, found 'x'", 5),
        ("[a:b = ]", "expected a literal, found ']'", 7),
    ],
)
def test_syntax_errors_say_what_and_where(text: str, message: str, position: int) -> None:
    with pytest.raises(PatternSyntaxError) as raised:
        parse_pattern(text)
    assert raised.value.position == position
    assert str(raised.value) == f"{message} at position {position}"


def test_syntax_error_is_reported_before_an_unsupported_construct() -> None:
    with pytest.raises(PatternSyntaxError):
        parse_pattern("[a:b LIKE 'x'] AND [")


def test_dnf_blow_up_is_refused() -> None:
    bracket = "[a:b = '1' OR a:b = '2']"
    eleven_brackets = " AND ".join([bracket] * 11)  # 2**11 = 2048 alternatives
    with pytest.raises(UnsupportedPatternError) as raised:
        parse_pattern(eleven_brackets)
    assert raised.value.reason == f"pattern expands to more than {MAX_ALTERNATIVES} alternatives"
    assert len(parse_pattern(" AND ".join([bracket] * 10)).alternatives) == 1024


def test_deep_nesting_is_refused_without_recursing() -> None:
    with pytest.raises(UnsupportedPatternError) as raised:
        parse_pattern("(" * 10_000 + "[a:b = 'x']" + ")" * 10_000)
    assert raised.value.reason == "nesting deeper than 64 levels"


def test_quote_round_trips() -> None:
    value = "it's \\ here"
    assert dnf(f"[file:name = {quote(value)}]") == [[("file:name", value, 0)]]


_identifier = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
_object_type = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True).filter(lambda t: t not in ("true", "false"))
_step = st.one_of(_identifier, st.from_regex(r"[A-Za-z0-9 -]{1,8}", fullmatch=True).map(quote))
_value = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
_space = st.sampled_from(["", " ", "  ", "\t", "\n"])


@given(_object_type, _identifier, st.lists(_step, max_size=3), _value, _space, _space, _space)
def test_the_single_comparison_shortcut_agrees_with_the_parser(
    object_type: str, first: str, steps: list[str], value: str, before: str, around: str, after: str
) -> None:
    path = ":".join((object_type, ".".join([first, *steps])))
    text = f"{before}[{around}{path}{around}={around}{quote(value)}{around}]{after}"
    assert parse_pattern(text) == parse_pattern_fully(text)
    assert parse_pattern(text).alternatives == (Conjunction((Term(path, value, 0),)),)
