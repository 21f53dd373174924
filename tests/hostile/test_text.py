"""Quadratic text handling (issue 9, class 5): a message, URL, host or path of a few megabytes costs
time linear in its length in every function that turns evidence text into observables and in the
indicator lookups they feed.

Before the fix, 400,000 ``)`` after a URL took about a minute (each dropped parenthesis recounted
the whole URL), a host of ``*.`` repeated was copied once per pair, and a path or domain of many
components was copied and hashed once per component.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable

from tests.builders import plain_set
from vestige.indicators import IndicatorIndex
from vestige.indicators.observables import (
    domain_observable,
    email_observable,
    embedded_host_observable,
    extract_urls,
    ip_observable,
    normalise_hex,
    observables_from_url,
    path_observables,
    process_observable,
    registrable_domain,
    url_host,
    url_key,
)
from vestige.model import Observable, ObservableKind

LENGTH = 2_000_000
PER_FAMILY_SECONDS = 5.0
ALL_SECONDS = 120.0


def families(n: int) -> dict[str, str]:
    """Texts of about ``n`` characters built to make a backtracking or rescanning scan pay per start."""
    return {
        "runs of [": "http://a" + "[" * n,
        "runs of (": "http://a/" + "(" * n,
        "runs of )": "http://a/" + ")" * n,
        "runs of ).,": "http://a/" + ").," * (n // 3),
        "runs of <": "<" * n,
        "runs of >": "http://a" + ">" * n,
        "dots": "." * n,
        "dots after a scheme": "http://" + "." * n,
        "percent signs": "%" * n,
        "letters without a dot": "a" * n,
        "http:// repeated": "http://" * (n // 7),
        "https: repeated": "https:" * (n // 6),
        "www. repeated": "www." * (n // 4),
        "*. repeated": "*." * (n // 2),
        "colons": ":" * n,
        "at signs": "@" * n,
        "slashes": "/" * n,
        "bracketed colons": "[" + ":" * n,
        "digits and dots": "1." * (n // 2),
        "spaces": " " * n,
        "many short URLs": "http://a.b/(x). " * (n // 16),
        "mailto: repeated": "mailto:" * (n // 7),
        "non-ASCII labels": "ü." * (n // 2),
    }


def _index() -> IndicatorIndex:
    return IndicatorIndex(
        [
            plain_set("paths", "file_paths", ["/private/var/tmp/x", "Library/Preferences/x.plist"]),
            plain_set("domains", "domains", ["evil.example"]),
        ]
    )


def _lookups(index: IndicatorIndex, n: int) -> dict[str, Observable]:
    return {
        "absolute path of many components": Observable(
            ObservableKind.FILE_PATH, "/private" + "/a" * (n // 2) + "/x.plist"
        ),
        "relative path of many components": Observable(ObservableKind.FILE_PATH, "a/" * (n // 2) + "x.plist"),
        "domain of many labels": Observable(ObservableKind.DOMAIN, "a." * (n // 2) + "evil.example"),
    }


TEXT_FUNCTIONS: dict[str, Callable[[str], object]] = {
    "extract_urls": lambda text: [observables_from_url(url) for url in extract_urls(text)],
    "observables_from_url": observables_from_url,
    "domain_observable": domain_observable,
    "embedded_host_observable": embedded_host_observable,
    "registrable_domain": registrable_domain,
    "url_key": url_key,
    "url_host": url_host,
    "ip_observable": ip_observable,
    "path_observables": path_observables,
    "email_observable": email_observable,
    "normalise_hex": normalise_hex,
    "process_observable": process_observable,
}


def workload(n: int = LENGTH) -> dict[str, float]:
    """Seconds per family of texts (every function above on it) and per indicator lookup."""
    seconds: dict[str, float] = {}
    for name, text in families(n).items():
        start = time.perf_counter()
        for function in TEXT_FUNCTIONS.values():
            function(text)
        seconds[name] = time.perf_counter() - start
    index = _index()
    for name, observable in _lookups(index, n).items():
        start = time.perf_counter()
        index.match_record([observable])
        seconds[name] = time.perf_counter() - start
    return seconds


def test_text_handling_is_linear_on_megabytes_of_hostile_text() -> None:
    """A wall bound rather than a ratio of timings, which a loaded machine makes noisy: at 2,000,000
    characters the old code needed minutes on the worst families (about half an hour for the runs of
    ``)``, twenty seconds for ``*.``, ten minutes for a path of a million components) and the linear
    code a few hundredths of a second, so 3 s per family leaves a margin of about a hundred. The
    work runs in a child process with a time limit, so that quadratic code fails in two minutes
    instead of hanging the suite."""
    probe = f"import json; from tests.hostile.test_text import workload; print(json.dumps(workload({LENGTH})))"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    try:
        done = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, env=environment, timeout=ALL_SECONDS
        )
    except subprocess.TimeoutExpired as expired:
        raise AssertionError(f"hostile text took more than {ALL_SECONDS} s") from expired
    assert done.returncode == 0, done.stderr
    seconds = json.loads(done.stdout)
    assert set(seconds) == set(families(1)) | set(_lookups(_index(), 1))
    assert {name: took for name, took in seconds.items() if took > PER_FAMILY_SECONDS} == {}


def test_hostile_text_gives_the_same_observables_as_ordinary_text() -> None:
    n = 100_000
    assert extract_urls("http://a/" + ")" * n) == ["http://a/"]
    assert extract_urls("(see http://a/b_(c)" + ").," * n) == ["http://a/b_(c)"]
    assert extract_urls("http://a" + "[" * n) == ["http://a" + "[" * n]
    assert domain_observable("*." * n + "evil.example") == Observable(ObservableKind.DOMAIN, "evil.example")
    assert embedded_host_observable("*." * n + "a") is None
    index = _index()
    hits = index.match(Observable(ObservableKind.FILE_PATH, "/private/var/tmp/x" + "/a" * n))
    assert [m.value for m in hits] == ["/private/var/tmp/x"]
    hits = index.match(Observable(ObservableKind.FILE_PATH, "b/" * n + "Library/Preferences/x.plist"))
    assert [m.value for m in hits] == ["Library/Preferences/x.plist"]
    hits = index.match(Observable(ObservableKind.DOMAIN, "a." * n + "evil.example"))
    assert [m.value for m in hits] == ["evil.example"]
