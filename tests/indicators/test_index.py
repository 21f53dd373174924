"""Tests of the compiled index (vestige.indicators.index), including the MVT bugs it must not repeat."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from vestige.indicators import types
from vestige.indicators.index import ConjunctionTracker, GroupWitness, IndicatorIndex
from vestige.indicators.loading import load_indicator_set
from vestige.indicators.observables import (
    app_cert_observable,
    app_id_observable,
    domain_observable,
    email_observable,
    hash_observable,
    ip_observable,
    observables_from_url,
    path_observables,
    process_observable,
)
from vestige.indicators.sets import IndicatorSet, IndicatorSetBuilder, SetOrigin
from vestige.indicators.types import normalise_indicator
from vestige.model import IndicatorMatch, Observable, ObservableKind

DATA = Path(__file__).parents[1] / "data" / "indicators"


def make_set(name: str, entries: list[tuple[str, str]], collection: str = "Family") -> IndicatorSet:
    builder = IndicatorSetBuilder(SetOrigin(name, "test", "test", f"{name}.txt", name[0] * 64), "plain-list")
    for number, (indicator_type, value) in enumerate(entries, start=1):
        builder.add_value(indicator_type, value, (collection,), f"line {number}")
    return builder.build()


def match_of(
    indicator_set: IndicatorSet, value: str, indicator_type: str, collection: str = "Family"
) -> IndicatorMatch:
    return IndicatorMatch(value, indicator_type, collection, indicator_set.name, indicator_set.sha256)


def domain(host: str) -> Observable:
    observable = domain_observable(host)
    assert observable is not None
    return observable


def ip(address: str) -> Observable:
    observable = ip_observable(address)
    assert observable is not None
    return observable


def path(value: str) -> Observable:
    return path_observables(value)[0]


def process(name: str) -> Observable:
    observable = process_observable(name)
    assert observable is not None
    return observable


# ----------------------------------------------------------------------------- domains


def test_domain_indicator_matches_the_host_and_its_subdomains() -> None:
    iocs = make_set("a/domains", [(types.DOMAIN, "evil.example")])
    index = IndicatorIndex([iocs])
    hit = (match_of(iocs, "evil.example", types.DOMAIN),)
    assert index.match(domain("evil.example")) == hit
    assert index.match(domain("WWW.Evil.Example.")) == hit
    assert index.match(domain("a.b.evil.example")) == hit
    assert index.match(domain("notevil.example")) == ()
    assert index.match(domain("evil.example.org")) == ()
    assert index.match(domain("example")) == ()


def test_subdomain_indicator_matches_deeper_subdomains_but_not_its_parent() -> None:
    # MVT compares with the registered domain, so an IOC c2.bad.net only ever matched itself
    iocs = make_set("a/domains", [(types.DOMAIN, "c2.bad.net")])
    index = IndicatorIndex([iocs])
    hit = (match_of(iocs, "c2.bad.net", types.DOMAIN),)
    assert index.match(domain("x.c2.bad.net")) == hit
    assert index.match(domain("y.x.c2.bad.net")) == hit
    assert index.match(domain("c2.bad.net")) == hit
    assert index.match(domain("bad.net")) == ()
    assert index.match(domain("xc2.bad.net")) == ()


def test_nested_domain_indicators_are_all_credited_most_specific_first() -> None:
    iocs = make_set("a/domains", [(types.DOMAIN, "bad.net"), (types.DOMAIN, "c2.bad.net")])
    index = IndicatorIndex([iocs])
    assert index.match(domain("x.c2.bad.net")) == (
        match_of(iocs, "c2.bad.net", types.DOMAIN),
        match_of(iocs, "bad.net", types.DOMAIN),
    )


def test_duplicate_domain_across_two_sets_credits_both() -> None:
    # MVT's Aho-Corasick add_word kept only the last set's collection
    first = make_set("a/pegasus", [(types.DOMAIN, "shared.example")], "Pegasus")
    second = make_set("b/other", [(types.DOMAIN, "shared.example")], "Other")
    index = IndicatorIndex([first, second])
    assert index.match(domain("www.shared.example")) == (
        match_of(first, "shared.example", types.DOMAIN, "Pegasus"),
        match_of(second, "shared.example", types.DOMAIN, "Other"),
    )


def test_indicator_in_two_collections_of_one_bundle_credits_both() -> None:
    bundle = load_indicator_set(DATA / "compound.stix2")
    index = IndicatorIndex([bundle])
    assert [m.collection for m in index.match(domain("shared.example"))] == ["FamilyA", "FamilyB"]


def domain_labels() -> st.SearchStrategy[str]:
    return st.sampled_from(["a", "b", "c", "evil", "com", "net", "x-y"])


def hosts() -> st.SearchStrategy[str]:
    return st.lists(domain_labels(), min_size=1, max_size=5).map(".".join)


@given(st.lists(hosts(), max_size=12), st.lists(hosts(), min_size=1, max_size=12))
def test_domain_matching_equals_a_brute_force_reference(indicators: list[str], seen: list[str]) -> None:
    iocs = make_set("a/random", [(types.DOMAIN, value) for value in indicators])
    index = IndicatorIndex([iocs])
    for host in seen:
        expected = {value for value in indicators if host == value or host.endswith("." + value)}
        found = [m.value for m in index.match(domain(host))]
        assert sorted(found) == sorted(expected)
        assert len(found) == len(set(found))


# ----------------------------------------------------------------------------- IPs


def test_ip_indicator_never_matches_as_a_substring() -> None:
    # MVT fell back to `ioc in url`, so 198.51.100.1 matched 198.51.100.11
    iocs = make_set("a/ips", [(types.IPV4, "198.51.100.1")])
    index = IndicatorIndex([iocs])
    assert index.match(ip("198.51.100.1")) == (match_of(iocs, "198.51.100.1", types.IPV4),)
    assert index.match(ip("198.51.100.11")) == ()
    assert [index.match(o) for o in observables_from_url("http://198.51.100.11/x")] == [(), ()]


def test_cidr_indicators_match_every_address_inside() -> None:
    iocs = make_set(
        "a/ips",
        [(types.IPV4, "203.0.113.0/24"), (types.IPV4, "203.0.0.0/16"), (types.IPV6, "2001:db8::/32")],
    )
    index = IndicatorIndex([iocs])
    assert index.match(ip("203.0.113.77")) == (
        match_of(iocs, "203.0.113.0/24", types.IPV4),
        match_of(iocs, "203.0.0.0/16", types.IPV4),
    )
    assert index.match(ip("203.0.114.1")) == (match_of(iocs, "203.0.0.0/16", types.IPV4),)
    assert index.match(ip("203.1.0.1")) == ()
    assert index.match(ip("2001:db8:1::5")) == (match_of(iocs, "2001:db8::/32", types.IPV6),)
    assert index.match(ip("2001:db9::1")) == ()
    assert index.match(ip("::ffff:203.0.113.9")) == index.match(ip("203.0.113.9"))


@given(
    st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(8, 32)), max_size=8),
    st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=8),
)
def test_ipv4_matching_equals_a_brute_force_reference(networks: list[tuple[int, int]], seen: list[int]) -> None:
    values = [str(ipaddress.ip_network((number, prefix), strict=False)) for number, prefix in networks]
    index = IndicatorIndex([make_set("a/networks", [(types.IPV4, value) for value in values])])
    for number in seen:
        address = ipaddress.ip_address(number)
        expected = {normalise_indicator(types.IPV4, v).value for v in values if address in ipaddress.ip_network(v)}
        assert {m.value for m in index.match(ip(str(address)))} == expected


def test_novispy_ip_written_as_a_domain_matches_an_ip_seen_in_a_url() -> None:
    novispy = load_indicator_set(
        Path(__file__).parents[2]
        / "src/vestige/indicators/data/amnesty-investigations/2024-12-16_serbia_novispy/novispy.stix2",
        name="amnesty/2024-12-16_serbia_novispy/novispy.stix2",
    )
    index = IndicatorIndex([novispy])
    url, host = observables_from_url("https://176.223.111.131:8443/api")
    assert host == Observable(ObservableKind.IP, "176.223.111.131")
    assert index.match(url) == ()
    assert index.match(host) == (match_of(novispy, "176.223.111.131", types.DOMAIN, "NoviSpy"),)


# ----------------------------------------------------------------------------- URLs


def test_url_indicator_with_equals_signs_matches_exactly() -> None:
    # MVT's split("=") crashed on this indicator
    bundle = load_indicator_set(DATA / "compound.stix2")
    index = IndicatorIndex([bundle])
    url, host = observables_from_url("https://evil.example/a?b=1&c=2")
    assert index.match(url) == (match_of(bundle, "https://evil.example/a?b=1&c=2", types.URL, "FamilyA"),)
    assert index.match(host) == ()
    assert index.match(observables_from_url("https://evil.example/a?b=1")[0]) == ()


def test_set_with_only_url_indicators() -> None:
    # MVT's empty automaton raised for every URL that was not an exact hit
    urls = load_indicator_set(DATA / "urls_only.stix2")
    index = IndicatorIndex([urls])
    assert index.match(observables_from_url("https://evil.example/login?next=/inbox")[0]) == (
        match_of(urls, "https://evil.example/login?next=/inbox", types.URL, "UrlOnly"),
    )
    for observable in observables_from_url("https://benign.example/"):
        assert index.match(observable) == ()
    assert index.match(ip("198.51.100.7")) == ()


def test_url_with_and_without_a_trailing_slash() -> None:
    iocs = make_set("a/urls", [(types.URL, "https://Evil.Example"), (types.URL, "https://evil.example/x")])
    index = IndicatorIndex([iocs])
    root = (match_of(iocs, "https://evil.example/", types.URL),)
    assert index.match(observables_from_url("https://evil.example/")[0]) == root
    assert index.match(observables_from_url("HTTPS://EVIL.EXAMPLE")[0]) == root
    assert index.match(observables_from_url("https://evil.example/x")[0]) == (
        match_of(iocs, "https://evil.example/x", types.URL),
    )
    assert index.match(observables_from_url("https://evil.example/x/")[0]) == ()
    assert index.match(observables_from_url("https://evil.example/X")[0]) == ()


# ----------------------------------------------------------------------------- paths, processes


def test_file_path_matches_as_a_prefix_on_component_boundaries() -> None:
    iocs = make_set("a/paths", [(types.FILE_PATH, "/private/var/tmp/hooker"), (types.FILE_PATH, "/data/local/tmp/wd/")])
    index = IndicatorIndex([iocs])
    hooker = (match_of(iocs, "/private/var/tmp/hooker", types.FILE_PATH),)
    assert index.match(path("/private/var/tmp/hooker")) == hooker
    assert index.match(path("/private/var/tmp/hooker/x")) == hooker
    assert index.match(path("/private/var/tmp/hookerx")) == ()
    assert index.match(path("/private/var/tmp")) == ()
    assert index.match(path("/data/local/tmp/wd/fs.db")) == (match_of(iocs, "/data/local/tmp/wd", types.FILE_PATH),)


def test_relative_file_path_matches_as_a_suffix_on_component_boundaries() -> None:
    # coruna.stix2 has file:path = 'Library/Preferences/com.apple.photolibraryd.plist'
    iocs = make_set("a/paths", [(types.FILE_PATH, "Library/Preferences/com.apple.photolibraryd.plist")])
    index = IndicatorIndex([iocs])
    hit = (match_of(iocs, "Library/Preferences/com.apple.photolibraryd.plist", types.FILE_PATH),)
    assert index.match(path("/private/var/mobile/Library/Preferences/com.apple.photolibraryd.plist")) == hit
    assert index.match(path("HomeDomain/Library/Preferences/com.apple.photolibraryd.plist")) == hit
    assert index.match(path("Library/Preferences/com.apple.photolibraryd.plist")) == hit
    assert index.match(path("/x/MyLibrary/Preferences/com.apple.photolibraryd.plist")) == ()


def test_file_name_matches_exactly() -> None:
    iocs = make_set("a/files", [(types.FILE_NAME, "roleaccountd.plist")])
    index = IndicatorIndex([iocs])
    name = path_observables("/Library/LaunchDaemons/roleaccountd.plist")[1]
    assert index.match(name) == (match_of(iocs, "roleaccountd.plist", types.FILE_NAME),)
    assert index.match(path_observables("/x/Roleaccountd.plist")[1]) == ()


def test_processes_match_exactly_and_truncated_names_match_by_prefix() -> None:
    iocs = make_set("a/processes", [(types.PROCESS, "CommsCenterRootHelper"), (types.PROCESS, "bh")])
    index = IndicatorIndex([iocs])
    helper = (match_of(iocs, "CommsCenterRootHelper", types.PROCESS),)
    assert index.match(process("CommsCenterRootHelper")) == helper
    assert index.match(process("CommsCenterRootH")) == helper  # 16 characters: a cut kernel name
    assert index.match(process("CommsCenterRoot")) == ()  # 15 characters: a real, different name
    assert index.match(process("commscenterroothelper")) == ()
    assert index.match(process("/usr/sbin/bh")) == (match_of(iocs, "bh", types.PROCESS),)
    assert index.match(process("bhx")) == ()


# ----------------------------------------------------------------------------- membership


def test_other_kinds_match_by_membership_after_normalisation() -> None:
    iocs = make_set(
        "a/misc",
        [
            (types.EMAIL, "Agent@Example.COM"),
            (types.APP_ID, "Com.Example.Spy"),
            (types.APP_CERT, "31A6ECECD97CF39BC4126B8745CD94A7C30BF81C"),
            (types.SHA256, "AB" * 32),
            (types.PROFILE_ID, "76dab334-7e17-475d-a5d6-0794eb5818a5"),
            (types.ANDROID_PROPERTY, "sys.brand.note"),
        ],
    )
    index = IndicatorIndex([iocs])
    seen = [
        email_observable("agent@example.com"),
        app_id_observable("com.example.SPY"),
        app_cert_observable("31:a6:ec:ec:d9:7c:f3:9b:c4:12:6b:87:45:cd:94:a7:c3:0b:f8:1c"),
        hash_observable("ab" * 32),
        Observable(ObservableKind.PROFILE_ID, "76DAB334-7E17-475D-A5D6-0794EB5818A5"),
        Observable(ObservableKind.ANDROID_PROPERTY, "sys.brand.note"),
    ]
    assert [[m.type for m in index.match(o)] for o in seen if o is not None] == [
        [types.EMAIL],
        [types.APP_ID],
        ["app:cert.sha1"],
        [types.SHA256],
        [types.PROFILE_ID],
        [types.ANDROID_PROPERTY],
    ]
    assert index.match(Observable(ObservableKind.SHA1, "ab" * 20)) == ()
    assert index.match(Observable(ObservableKind.MD5, "ab" * 16)) == ()
    assert len(index) == 6


def test_an_empty_index_matches_nothing() -> None:
    index = IndicatorIndex([])
    assert index.match(domain("evil.example")) == ()
    assert index.match_record([domain("evil.example")]) == []


# ----------------------------------------------------------------------------- compound patterns


def compound_index() -> tuple[IndicatorSet, IndicatorIndex]:
    bundle = load_indicator_set(DATA / "compound.stix2", name="tests/compound")
    return bundle, IndicatorIndex([bundle])


def test_or_inside_a_bracket_stays_on_the_fast_path() -> None:
    bundle, index = compound_index()
    assert index.match(domain("x.b.example")) == (match_of(bundle, "b.example", types.DOMAIN, "FamilyA"),)


def test_terms_of_one_bracket_must_hold_on_one_record() -> None:
    bundle, index = compound_index()
    name = Observable(ObservableKind.FILE_NAME, "it's.bin")
    digest = Observable(ObservableKind.MD5, "d41d8cd98f00b204e9800998ecf8427e")
    text = "[file:name = 'it\\'s.bin' AND file:hashes.MD5 = 'D41D8CD98F00B204E9800998ECF8427E']"
    expected = match_of(bundle, text, types.COMPOUND, "FamilyA")
    assert index.match(name) == ()
    assert index.match_record([name]) == []
    assert index.match_record([digest]) == []
    assert index.match_record([name, digest, domain("shared.example")]) == [
        (domain("shared.example"), match_of(bundle, "shared.example", types.DOMAIN, "FamilyA")),
        (domain("shared.example"), match_of(bundle, "shared.example", types.DOMAIN, "FamilyB")),
        (name, expected),
        (digest, expected),
    ]


def test_brackets_may_hold_on_different_records() -> None:
    bundle, index = compound_index()
    tracker: ConjunctionTracker[str] = ConjunctionTracker(index)
    implant, c2 = process("implantd"), domain("x.c2.example")
    assert index.match_record([implant]) == []
    assert index.match_record([c2]) == []
    tracker.observe("ps row 1", [implant])
    assert tracker.completed() == ()
    tracker.observe("safari row 7", [c2])
    tracker.observe("safari row 8", [c2])
    tracker.observe("ps row 9", [implant])
    (found,) = tracker.completed()
    assert found.match == match_of(
        bundle,
        "[process:name = 'implantd'] AND [domain-name:value = 'c2.example']",
        types.COMPOUND,
        "FamilyB",
    )
    assert found.witnesses == (
        GroupWitness(0, "ps row 1", (implant,)),
        GroupWitness(1, "safari row 7", (c2,)),
    )


def test_tracker_without_multi_bracket_patterns_does_nothing() -> None:
    tracker: ConjunctionTracker[int] = ConjunctionTracker(
        IndicatorIndex([make_set("a/d", [(types.DOMAIN, "x.example")])])
    )
    tracker.observe(1, [domain("x.example")])
    assert tracker.completed() == ()
