"""The STIX 2.x patterning language: a tokenizer, a recursive-descent parser and a DNF normaliser.

The grammar is the one of STIX 2.1 part 9 (``STIXPattern.g4`` in oasis-open/cti-pattern-validator),
which STIX 2.0 part 5 shares for everything used here::

    pattern      := obs_seq EOF
    obs_seq      := obs_or ('FOLLOWEDBY' obs_or)*
    obs_or       := obs_and ('OR' obs_and)*
    obs_and      := obs_unit ('AND' obs_unit)*
    obs_unit     := ('[' cmp_or ']' | '(' obs_seq ')') qualifier*
    qualifier    := 'WITHIN' number 'SECONDS' | 'REPEATS' int 'TIMES' | 'START' t'..' 'STOP' t'..'
    cmp_or       := cmp_and ('OR' cmp_and)*
    cmp_and      := cmp_unit ('AND' cmp_unit)*
    cmp_unit     := '(' cmp_or ')' | 'EXISTS' path | path 'NOT'? operator literal
    path         := type ':' step ('.' step | '[' (int | '*') ']')*

Keywords are upper case, as in the specification. String literals are quoted with ``'`` and the
only escapes are ``\\'`` and ``\\\\``.

vestige evaluates what a set lookup can answer: equality of an object path with a string. A pattern
that parses but asks for anything else (another operator, ``NOT``, a qualifier, ``FOLLOWEDBY``, a
non-string literal, ``EXISTS``) raises ``UnsupportedPatternError``; text that is not a pattern
raises ``PatternSyntaxError`` with the character position. The result is in disjunctive normal
form: a ``Pattern`` holds alternatives, each a ``Conjunction`` of ``Term`` objects, and each term
keeps the number of the observation bracket it came from, because the terms of one bracket must
hold on one observed object while different brackets may hold anywhere in an acquisition.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product
from typing import TypeAlias

MAX_ALTERNATIVES = 1024
"""A pattern whose DNF has more alternatives than this is refused (``(a OR b) AND ...`` grows fast)."""

MAX_NESTING = 64
"""Deeper nesting of brackets and parentheses than this is refused rather than recursed into."""


class PatternError(ValueError):
    """A STIX pattern that vestige cannot use."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PatternSyntaxError(PatternError):
    """Text that is not a STIX pattern. ``position`` is the 0-based character offset of the fault."""

    def __init__(self, reason: str, position: int) -> None:
        super().__init__(f"{reason} at position {position}")
        self.position = position


class UnsupportedPatternError(PatternError):
    """A well-formed STIX pattern that asks for something vestige does not evaluate."""


@dataclass(frozen=True, slots=True)
class Term:
    """``object_path = 'value'`` inside observation bracket number ``group`` (counted from 0)."""

    object_path: str
    value: str
    group: int


@dataclass(frozen=True, slots=True)
class Conjunction:
    """Terms that must all hold for one alternative of a pattern."""

    terms: tuple[Term, ...]

    @property
    def groups(self) -> tuple[int, ...]:
        """The observation brackets this conjunction needs, in ascending order."""
        return tuple(sorted({term.group for term in self.terms}))


@dataclass(frozen=True, slots=True)
class Pattern:
    """A parsed pattern: it matches when any one of its alternatives holds."""

    text: str
    alternatives: tuple[Conjunction, ...]


# ----------------------------------------------------------------------------------------------
# Tokens

_KEYWORDS = frozenset(
    {
        "AND",
        "OR",
        "NOT",
        "FOLLOWEDBY",
        "LIKE",
        "MATCHES",
        "IN",
        "ISSUBSET",
        "ISSUPERSET",
        "EXISTS",
        "WITHIN",
        "SECONDS",
        "REPEATS",
        "TIMES",
        "START",
        "STOP",
    }
)
_OPERATORS = frozenset({"<=", ">=", "!=", "<>", "==", "=", "<", ">"})
_STRING_OPERATORS = frozenset({"LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET"})
_LITERAL_PREFIXES = {"t": "timestamp", "h": "hex", "b": "binary"}
_LITERAL_KINDS = frozenset({"string", "number", "bool", *_LITERAL_PREFIXES.values()})
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<prefix>[thb])?'(?P<string>(?:[^'\\]|\\.)*)'
    | (?P<operator><=|>=|!=|<>|==|=|<|>)
    | (?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
    | (?P<punctuation>[\[\]():.,*])
    | (?P<word>[A-Za-z_][A-Za-z0-9_-]*)
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # ident, keyword, string, number, bool, timestamp/hex/binary, an operator, punctuation, end
    text: str
    position: int


def _string_value(body: str, start: int) -> str:
    """The value of a string literal whose text between the quotes is ``body``, starting at ``start``."""
    if "\\" not in body:
        return body
    for escape in _ESCAPE.finditer(body):
        if escape.group(1) not in ("'", "\\"):
            raise PatternSyntaxError(f"invalid escape \\{escape.group(1)} in a string literal", start + escape.start())
    return _ESCAPE.sub(r"\1", body)


def _tokens(text: str) -> Iterator[_Token]:
    index = 0
    length = len(text)
    while index < length:
        found = _TOKEN.match(text, index)
        if found is None:
            if text[index] == "'":
                raise PatternSyntaxError("unterminated string literal", index)
            raise PatternSyntaxError(f"unexpected character {text[index]!r}", index)
        kind = found.lastgroup
        value = found.group()
        if kind == "string":
            prefix = found.group("prefix")
            literal = _string_value(found.group("string"), index + (2 if prefix else 1))
            yield _Token(_LITERAL_PREFIXES[prefix] if prefix else "string", literal, index)
        elif kind == "word":
            if value in _KEYWORDS:
                yield _Token("keyword", value, index)
            else:
                yield _Token("bool" if value in ("true", "false") else "ident", value, index)
        elif kind == "operator" or kind == "punctuation":
            yield _Token(value, value, index)
        elif kind == "number":
            yield _Token("number", value, index)
        index = found.end()
    yield _Token("end", "", length)


# ----------------------------------------------------------------------------------------------
# Syntax tree. Unsupported constructs are kept as nodes so that a syntax error anywhere in the text
# is reported before the question of what vestige can evaluate.


@dataclass(frozen=True, slots=True)
class _Comparison:
    path: str
    operator: str
    negated: bool
    literal_kind: str
    literal: str


@dataclass(frozen=True, slots=True)
class _Unsupported:
    reason: str


@dataclass(frozen=True, slots=True)
class _Boolean:
    operator: str  # "AND" or "OR"
    operands: tuple[_CompareNode, ...]


@dataclass(frozen=True, slots=True)
class _Observation:
    group: int
    comparison: _CompareNode


@dataclass(frozen=True, slots=True)
class _ObservationBoolean:
    operator: str  # "AND", "OR" or "FOLLOWEDBY"
    operands: tuple[_ObservationNode, ...]


@dataclass(frozen=True, slots=True)
class _Qualified:
    qualifier: str
    observation: _ObservationNode


_CompareNode: TypeAlias = "_Comparison | _Boolean | _Unsupported"
_ObservationNode: TypeAlias = "_Observation | _ObservationBoolean | _Qualified"


class _Parser:
    """Recursive descent over the token stream, one method per grammar rule."""

    def __init__(self, text: str) -> None:
        self._tokens = list(_tokens(text))
        self._at = 0
        self._groups = 0
        self._depth = 0

    @property
    def _current(self) -> _Token:
        return self._tokens[self._at]

    def _advance(self) -> _Token:
        token = self._tokens[self._at]
        if token.kind != "end":
            self._at += 1
        return token

    def _accept_keyword(self, keyword: str) -> bool:
        if self._current.kind == "keyword" and self._current.text == keyword:
            self._at += 1
            return True
        return False

    def _expect(self, kind: str, what: str) -> _Token:
        token = self._current
        if token.kind != kind:
            raise PatternSyntaxError(f"expected {what}, found {_describe(token)}", token.position)
        return self._advance()

    def _expect_keyword(self, keyword: str) -> None:
        if not self._accept_keyword(keyword):
            token = self._current
            raise PatternSyntaxError(f"expected {keyword}, found {_describe(token)}", token.position)

    def _enter(self) -> None:
        self._depth += 1
        if self._depth > MAX_NESTING:
            raise UnsupportedPatternError(f"nesting deeper than {MAX_NESTING} levels")

    def parse(self) -> _ObservationNode:
        node = self._observation_sequence()
        token = self._current
        if token.kind != "end":
            raise PatternSyntaxError(f"unexpected {_describe(token)}", token.position)
        return node

    def _observation_sequence(self) -> _ObservationNode:
        operands = [self._observation_or()]
        while self._accept_keyword("FOLLOWEDBY"):
            operands.append(self._observation_or())
        return operands[0] if len(operands) == 1 else _ObservationBoolean("FOLLOWEDBY", tuple(operands))

    def _observation_or(self) -> _ObservationNode:
        operands = [self._observation_and()]
        while self._accept_keyword("OR"):
            operands.append(self._observation_and())
        return operands[0] if len(operands) == 1 else _ObservationBoolean("OR", tuple(operands))

    def _observation_and(self) -> _ObservationNode:
        operands = [self._observation_unit()]
        while self._accept_keyword("AND"):
            operands.append(self._observation_unit())
        return operands[0] if len(operands) == 1 else _ObservationBoolean("AND", tuple(operands))

    def _observation_unit(self) -> _ObservationNode:
        self._enter()
        token = self._current
        node: _ObservationNode
        if token.kind == "[":
            self._advance()
            group = self._groups
            self._groups += 1
            comparison = self._comparison_or()
            self._expect("]", "']' closing the observation expression")
            node = _Observation(group, comparison)
        elif token.kind == "(":
            self._advance()
            node = self._observation_sequence()
            self._expect(")", "')'")
        else:
            raise PatternSyntaxError(f"expected '[' or '(', found {_describe(token)}", token.position)
        self._depth -= 1
        while (qualifier := self._qualifier()) is not None:
            node = _Qualified(qualifier, node)
        return node

    def _qualifier(self) -> str | None:
        if self._accept_keyword("WITHIN"):
            self._expect("number", "a number of seconds")
            self._expect_keyword("SECONDS")
            return "WITHIN"
        if self._accept_keyword("REPEATS"):
            self._expect("number", "a repeat count")
            self._expect_keyword("TIMES")
            return "REPEATS"
        if self._accept_keyword("START"):
            self._expect("timestamp", "a timestamp literal t'...'")
            self._expect_keyword("STOP")
            self._expect("timestamp", "a timestamp literal t'...'")
            return "START/STOP"
        return None

    def _comparison_or(self) -> _CompareNode:
        operands = [self._comparison_and()]
        while self._accept_keyword("OR"):
            operands.append(self._comparison_and())
        return operands[0] if len(operands) == 1 else _Boolean("OR", tuple(operands))

    def _comparison_and(self) -> _CompareNode:
        operands = [self._comparison_unit()]
        while self._accept_keyword("AND"):
            operands.append(self._comparison_unit())
        return operands[0] if len(operands) == 1 else _Boolean("AND", tuple(operands))

    def _comparison_unit(self) -> _CompareNode:
        token = self._current
        if token.kind == "(":
            self._enter()
            self._advance()
            node = self._comparison_or()
            self._expect(")", "')'")
            self._depth -= 1
            return node
        if self._accept_keyword("EXISTS"):
            path = self._object_path()
            return _Unsupported(f"EXISTS {path} is not supported")
        path = self._object_path()
        negated = self._accept_keyword("NOT")
        operator_token = self._current
        if operator_token.kind in _OPERATORS:
            self._advance()
            return self._literal_comparison(path, operator_token, negated)
        if operator_token.kind == "keyword" and operator_token.text in _STRING_OPERATORS:
            self._advance()
            self._expect("string", f"a string after {operator_token.text}")
            return _Unsupported(f"operator {operator_token.text} is not supported")
        if operator_token.kind == "keyword" and operator_token.text == "IN":
            self._advance()
            self._set_literal()
            return _Unsupported("operator IN is not supported")
        raise PatternSyntaxError(
            f"expected a comparison operator, found {_describe(operator_token)}", operator_token.position
        )

    def _literal_comparison(self, path: str, operator: _Token, negated: bool) -> _Comparison:
        literal = self._literal()
        return _Comparison(path, operator.text, negated, literal.kind, literal.text)

    def _literal(self) -> _Token:
        literal = self._current
        if literal.kind not in _LITERAL_KINDS:
            raise PatternSyntaxError(f"expected a literal, found {_describe(literal)}", literal.position)
        return self._advance()

    def _set_literal(self) -> None:
        self._expect("(", "'(' opening a set literal")
        while True:
            self._literal()
            if self._current.kind == ")":
                self._advance()
                return
            self._expect(",", "',' or ')' in a set literal")

    def _object_path(self) -> str:
        object_type = self._expect("ident", "an object path such as domain-name:value")
        self._expect(":", "':' after the object type")
        parts = [object_type.text, ":", self._path_step()]
        while True:
            if self._current.kind == ".":
                self._advance()
                parts.extend((".", self._path_step()))
            elif self._current.kind == "[":
                self._advance()
                index = self._current
                if index.kind == "*" or (index.kind == "number" and index.text.lstrip("+-").isdigit()):
                    self._advance()
                else:
                    raise PatternSyntaxError(f"expected a list index, found {_describe(index)}", index.position)
                self._expect("]", "']' closing a list index")
                parts.append(f"[{index.text}]")
            else:
                return "".join(parts)

    def _path_step(self) -> str:
        token = self._current
        if token.kind in ("ident", "keyword", "bool"):
            self._advance()
            return token.text
        if token.kind == "string":
            self._advance()
            return quote(token.text)
        raise PatternSyntaxError(f"expected a property name, found {_describe(token)}", token.position)


def _describe(token: _Token) -> str:
    if token.kind == "end":
        return "end of pattern"
    if token.kind == "string":
        return f"string {quote(token.text)}"
    return repr(token.text)


def quote(value: str) -> str:
    """``value`` as a STIX string literal, with ``\\`` and ``'`` escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# ----------------------------------------------------------------------------------------------
# Disjunctive normal form

_Alternatives: TypeAlias = list[tuple[Term, ...]]


def _comparison_dnf(node: _CompareNode, group: int) -> _Alternatives:
    if isinstance(node, _Unsupported):
        raise UnsupportedPatternError(node.reason)
    if isinstance(node, _Comparison):
        return [(_equality_term(node, group),)]
    return _combine(node.operator, [_comparison_dnf(operand, group) for operand in node.operands])


def _equality_term(node: _Comparison, group: int) -> Term:
    if node.negated:
        raise UnsupportedPatternError(f"NOT {node.operator} is not supported")
    if node.operator not in ("=", "=="):
        raise UnsupportedPatternError(f"operator {node.operator} is not supported")
    if node.literal_kind != "string":
        raise UnsupportedPatternError(f"{node.literal_kind} literal {node.literal} is not supported")
    return Term(node.path, node.literal, group)


def _observation_dnf(node: _ObservationNode) -> _Alternatives:
    if isinstance(node, _Qualified):
        raise UnsupportedPatternError(f"qualifier {node.qualifier} is not supported")
    if isinstance(node, _Observation):
        return _comparison_dnf(node.comparison, node.group)
    if node.operator == "FOLLOWEDBY":
        raise UnsupportedPatternError("FOLLOWEDBY is not supported")
    return _combine(node.operator, [_observation_dnf(operand) for operand in node.operands])


def _combine(operator: str, operands: list[_Alternatives]) -> _Alternatives:
    if operator == "OR":
        combined = [alternative for operand in operands for alternative in operand]
        _check_size(len(combined))
        return combined
    size = 1
    for operand in operands:
        size *= len(operand)
        _check_size(size)
    return [tuple(term for part in parts for term in part) for parts in product(*operands)]


def _check_size(size: int) -> None:
    if size > MAX_ALTERNATIVES:
        raise UnsupportedPatternError(f"pattern expands to more than {MAX_ALTERNATIVES} alternatives")


def _unique(items: tuple[Term, ...]) -> tuple[Term, ...]:
    return tuple(dict.fromkeys(items))


_SINGLE_COMPARISON = re.compile(
    r"\s*\[\s*"
    r"((?!(?:true|false):)[a-z][a-z0-9-]*:[A-Za-z_][A-Za-z0-9_]*(?:\.(?:[A-Za-z_][A-Za-z0-9_]*|'[^'\\]*'))*)"
    r"\s*=\s*'([^'\\]*)'\s*\]\s*"
)
"""``[type:path = 'value']`` without escapes: the form of nearly every published indicator."""


def parse_pattern(text: str) -> Pattern:
    """Parse a STIX 2.x pattern into DNF.

    Raises ``PatternSyntaxError`` for text that is not a pattern and ``UnsupportedPatternError`` for
    a pattern that needs more than string equality (see the module docstring). The common
    single-comparison form is recognised by one regular expression, which gives what the full
    parser would (``tests/indicators/test_patterns.py`` checks that they agree).
    """
    single = _SINGLE_COMPARISON.fullmatch(text)
    if single is not None:
        return Pattern(text, (Conjunction((Term(single.group(1), single.group(2), 0),)),))
    return parse_pattern_fully(text)


def parse_pattern_fully(text: str) -> Pattern:
    """Parse a pattern with the recursive-descent parser alone (``parse_pattern`` is the entry point)."""
    tree = _Parser(text).parse()
    alternatives = tuple(dict.fromkeys(Conjunction(_unique(terms)) for terms in _observation_dnf(tree)))
    return Pattern(text, alternatives)
