"""Benchmark of the indicator engine: matching a million observables, and loading a large STIX bundle.

Run with ``PYTHONPATH=src python benchmarks/indicators.py`` (``--observables N`` to change the size).

1. Matching. The index holds every bundled set plus 100,000 generated domain indicators. A
   deterministic mix of raw evidence values (URLs, hosts, IPs, process names, file paths, digests,
   e-mail addresses; about 1% of them named by an indicator) is normalised into 1,000,000
   observables, then every observable is looked up. The peer, measured in the same run on the same
   values, is the bare loop that only normalises them (what every parser pays anyway): the ratio
   ``match / normalise`` is the extra cost of matching. Target: matching under 2 s.
2. Loading. A generated STIX 2.1 bundle of 100,000 indicators, each tied to its malware by a
   relationship (the shape of the real Amnesty and MVT bundles), is read into an indicator set.
   The peer is ``orjson.loads`` of the same bytes (the JSON floor, with the cyclic collector paused
   as the reader pauses it): ``load / json`` is the cost of everything else (pattern parsing,
   normalisation, relationship resolution). Target: under 5 s.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from vestige.indicators import types
from vestige.indicators.bundled import BUNDLED, bundled_sets, load_bundled
from vestige.indicators.index import IndicatorIndex
from vestige.indicators.observables import (
    domain_observable,
    email_observable,
    hash_observable,
    ip_observable,
    observables_from_url,
    path_observables,
    process_observable,
)
from vestige.indicators.sets import IndicatorSet, IndicatorSetBuilder, SetOrigin
from vestige.indicators.stix import read_stix_bundle
from vestige.model import Observable

SEED = 20240718
GENERATED_DOMAINS = 100_000
GENERATED_BUNDLE = 100_000

_VOCABULARY = """
cdn api mail img static news shop cloud video app login secure update media data sync push analytics
track edge auth store pay maps photos web mobile assets gateway support help
"""
_PROCESS_NAMES = """
SpringBoard backboardd mediaserverd locationd imagent identityservicesd apsd nsurlsessiond CommCenter
com.apple.WebKit.Networking com.apple.WebKit.WebContent wifid bluetoothd syslogd MobileSafari MobileSMS
mobileassetd cloudd bird assetsd photoanalysisd
"""
_WORDS = _VOCABULARY.split()
_PROCESSES = _PROCESS_NAMES.split()
_TLDS = ("com", "net", "org", "io", "co.uk", "de", "fr", "app", "info", "ru")


@dataclass(frozen=True, slots=True)
class RawValue:
    """A value as a parser finds it, with the function that turns it into observables."""

    text: str
    normalise: Callable[[str], tuple[Observable, ...]]


def _one(build: Callable[[str], Observable | None]) -> Callable[[str], tuple[Observable, ...]]:
    def normalise(text: str) -> tuple[Observable, ...]:
        observable = build(text)
        return () if observable is None else (observable,)

    return normalise


def _host(rng: random.Random) -> str:
    labels = [rng.choice(_WORDS) for _ in range(rng.randint(1, 3))]
    return ".".join([*labels, f"{rng.choice(_WORDS)}{rng.randint(0, 9999)}", rng.choice(_TLDS)])


def _address(rng: random.Random) -> str:
    return ".".join(str(rng.randint(1, 254)) for _ in range(4))


def _indicator_values(sets: list[IndicatorSet], kind_of_type: set[str]) -> list[str]:
    return [i.value for s in sets for i in s.indicators if i.type in kind_of_type]


def raw_values(count: int, sets: list[IndicatorSet], generated: list[str], rng: random.Random) -> list[RawValue]:
    """A realistic mix of evidence values; about 1% are named by an indicator (as subdomains or exact)."""
    known_domains = _indicator_values(sets, {types.DOMAIN}) + generated
    known_processes = _indicator_values(sets, {types.PROCESS})
    known_paths = _indicator_values(sets, {types.FILE_PATH})
    domain = _one(domain_observable)
    values: list[RawValue] = []
    for _ in range(count):
        hit = rng.random() < 0.01
        roll = rng.random()
        if roll < 0.35:
            host = f"www.{rng.choice(known_domains)}" if hit else _host(rng)
            query = f"?id={rng.randint(0, 10**6)}&ref=sms" if rng.random() < 0.3 else ""
            values.append(
                RawValue(f"https://{host}/{rng.choice(_WORDS)}/{rng.randint(0, 999)}{query}", observables_from_url)
            )
        elif roll < 0.60:
            values.append(RawValue(rng.choice(known_domains) if hit else _host(rng), domain))
        elif roll < 0.70:
            values.append(RawValue(_address(rng), _one(ip_observable)))
        elif roll < 0.80:
            name = rng.choice(known_processes) if hit else rng.choice(_PROCESSES)
            values.append(RawValue(name, _one(process_observable)))
        elif roll < 0.90:
            base = rng.choice(known_paths) if hit else f"/private/var/mobile/Library/{rng.choice(_WORDS)}"
            values.append(RawValue(f"{base}/{rng.choice(_WORDS)}{rng.randint(0, 99)}.db", path_observables))
        elif roll < 0.95:
            values.append(RawValue(f"{rng.getrandbits(256):064x}", _one(hash_observable)))
        else:
            values.append(RawValue(f"{rng.choice(_WORDS)}.{rng.randint(0, 9999)}@{_host(rng)}", _one(email_observable)))
    return values


def generated_domain_set(count: int, rng: random.Random) -> tuple[IndicatorSet, list[str]]:
    domains = [
        f"{rng.choice(_WORDS)}-{index}.{rng.choice(_WORDS)}{rng.randint(0, 99)}.{rng.choice(_TLDS)}"
        for index in range(count)
    ]
    builder = IndicatorSetBuilder(
        SetOrigin("benchmark/domains.txt", "generated", "none", "domains.txt", "0" * 64), "plain-list"
    )
    collections = ("Generated",)
    for number, value in enumerate(domains, start=1):
        builder.add_value(types.DOMAIN, value, collections, f"line {number}")
    return builder.build(), domains


def generated_bundle(count: int) -> bytes:
    malware = "malware--00000000-0000-4000-8000-000000000000"
    stamp = "2024-01-01T00:00:00.000Z"
    objects: list[dict[str, object]] = [
        {
            "type": "malware",
            "spec_version": "2.1",
            "id": malware,
            "created": stamp,
            "modified": stamp,
            "name": "Generated",
            "is_family": False,
        }
    ]
    for number in range(count):
        indicator = f"indicator--00000000-0000-4000-8000-{number:012d}"
        objects.append(
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": indicator,
                "created": stamp,
                "modified": stamp,
                "indicator_types": ["malicious-activity"],
                "pattern": f"[domain-name:value='host{number}.generated-{number % 997}.example']",
                "pattern_type": "stix",
                "pattern_version": "2.1",
                "valid_from": stamp,
            }
        )
        objects.append(
            {
                "type": "relationship",
                "spec_version": "2.1",
                "id": f"relationship--00000000-0000-4000-8000-{number:012d}",
                "created": stamp,
                "modified": stamp,
                "relationship_type": "indicates",
                "source_ref": indicator,
                "target_ref": malware,
            }
        )
    return orjson.dumps({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000", "objects": objects})


def timed(action: Callable[[], object]) -> tuple[float, object]:
    gc.collect()
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def normalise_all(values: list[RawValue], limit: int) -> list[Observable]:
    observables: list[Observable] = []
    for value in values:
        observables.extend(value.normalise(value.text))
    return observables[:limit]


def match_all(index: IndicatorIndex, observables: list[Observable]) -> int:
    match = index.match
    return sum(1 for observable in observables if match(observable))


def benchmark_matching(count: int) -> None:
    rng = random.Random(SEED)
    load_time, _ = timed(lambda: [load_bundled(entry) for entry in BUNDLED])
    sets = bundled_sets()
    generated, domains = generated_domain_set(GENERATED_DOMAINS, rng)
    build_time, index = timed(lambda: IndicatorIndex([*sets, generated]))
    assert isinstance(index, IndicatorIndex)
    values = raw_values(int(count * 0.8), sets, domains, rng)  # URLs give two observables each
    normalise_time, observables = timed(lambda: normalise_all(values, count))
    assert isinstance(observables, list)
    if len(observables) < count:
        raise SystemExit(f"generated only {len(observables)} observables")
    match_time, hits = timed(lambda: match_all(index, observables))
    indicators = sum(len(s.indicators) for s in sets) + len(generated.indicators)
    print(f"bundled sets: {len(sets)} loaded and parsed in {load_time:.3f} s (cold, no cache)")
    print(f"index: {indicators:,} indicators ({len(index):,} lookup keys) built in {build_time:.3f} s")
    print(f"observables: {len(observables):,} ({hits:,} matched)")
    print(f"  peer, normalise only (raw value -> Observable): {normalise_time:.3f} s")
    print(f"  match only (IndicatorIndex.match):               {match_time:.3f} s  target < 2 s")
    end_to_end = (normalise_time + match_time) / normalise_time
    print(f"  ratio match / normalise:                         {match_time / normalise_time:.2f}")
    print(f"  ratio (normalise + match) / normalise:           {end_to_end:.2f}")
    print(f"  per observable: {match_time / len(observables) * 1e6:.2f} us")


def json_without_collector(data: bytes) -> object:
    """``orjson.loads`` with the cyclic collector paused, as ``read_stix_bundle`` runs it."""
    gc.disable()
    try:
        return orjson.loads(data)
    finally:
        gc.enable()


def benchmark_loading(count: int) -> None:
    data = generated_bundle(count)
    origin = SetOrigin("benchmark/generated.stix2", "generated", "none", "generated.stix2", "0" * 64)
    json_time, _ = timed(lambda: json_without_collector(data))
    load_time, loaded = timed(lambda: read_stix_bundle(data, origin))
    assert isinstance(loaded, IndicatorSet) and len(loaded.indicators) == count
    print(f"STIX bundle: {count:,} indicators + {count:,} relationships, {len(data) / 1e6:.1f} MB")
    print(f"  peer, orjson.loads only (collector paused, as in the reader): {json_time:.3f} s")
    print(f"  read_stix_bundle:        {load_time:.3f} s  target < 5 s")
    print(f"  ratio load / json:       {load_time / json_time:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observables", type=int, default=1_000_000)
    parser.add_argument("--bundle", type=int, default=GENERATED_BUNDLE)
    arguments = parser.parse_args()
    benchmark_matching(arguments.observables)
    benchmark_loading(arguments.bundle)


if __name__ == "__main__":
    main()
