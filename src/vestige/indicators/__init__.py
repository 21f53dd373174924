"""Indicators of compromise: loading sets (STIX 2.x, plain lists, stalkerware YAML/CSV) and matching.

A pure engine that knows nothing about phones. Parsers build ``Observable`` objects with the
functions of ``observables``; the analysis engine builds an ``IndicatorIndex`` from sets loaded with
``load_indicator_set`` or ``bundled_sets`` and asks it about each observable.
"""

from vestige.indicators.bundled import BUNDLED, BundledSet, bundled_sets
from vestige.indicators.index import ConjunctionMatch, ConjunctionTracker, GroupWitness, IndicatorIndex
from vestige.indicators.loading import load_indicator_set, read_indicator_data
from vestige.indicators.patterns import (
    Conjunction,
    Pattern,
    PatternError,
    PatternSyntaxError,
    Term,
    UnsupportedPatternError,
    parse_pattern,
)
from vestige.indicators.sets import (
    Indicator,
    IndicatorFormatError,
    IndicatorProblem,
    IndicatorSet,
    IndicatorTerm,
    ProblemKind,
    SetOrigin,
)

__all__ = [
    "BUNDLED",
    "BundledSet",
    "Conjunction",
    "ConjunctionMatch",
    "ConjunctionTracker",
    "GroupWitness",
    "Indicator",
    "IndicatorFormatError",
    "IndicatorIndex",
    "IndicatorProblem",
    "IndicatorSet",
    "IndicatorTerm",
    "Pattern",
    "PatternError",
    "PatternSyntaxError",
    "ProblemKind",
    "SetOrigin",
    "Term",
    "UnsupportedPatternError",
    "bundled_sets",
    "load_indicator_set",
    "parse_pattern",
    "read_indicator_data",
]
