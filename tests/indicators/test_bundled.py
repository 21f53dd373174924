"""Tests of the shipped indicator sets (vestige.indicators.bundled) and their provenance notes."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path

import pytest

from vestige.indicators import types
from vestige.indicators.bundled import BUNDLED, bundled_sets, load_bundled
from vestige.indicators.index import IndicatorIndex
from vestige.indicators.observables import domain_observable
from vestige.indicators.sets import IndicatorFormatError

DATA = Path(__file__).parents[2] / "src" / "vestige" / "indicators" / "data"
SOURCES_ROW = re.compile(
    r"^\| `(?P<file>[^`]+)` \| (?P<repo>[^|]+) \| (?P<commit>\w+) \| "
    r"(?P<licence>[^|]+) \| `(?P<sha>\w{64})` \|$"
)


def sources_rows() -> dict[str, dict[str, str]]:
    rows = {}
    for line in (DATA / "SOURCES.md").read_text().splitlines():
        found = SOURCES_ROW.match(line)
        if found:
            rows[found["file"]] = {key: value.strip() for key, value in found.groupdict().items()}
    return rows


def test_every_shipped_file_is_recorded_with_its_digest() -> None:
    shipped = {p.relative_to(DATA).as_posix() for p in DATA.rglob("*") if p.is_file() and p.name != "SOURCES.md"}
    rows = sources_rows()
    assert set(rows) == shipped
    for name, row in rows.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == row["sha"], name


def test_pins_agree_with_the_sources_notes() -> None:
    rows = sources_rows()
    for entry in BUNDLED:
        row = rows[entry.path]
        assert (entry.sha256, entry.licence) == (row["sha"], row["licence"])
        assert row["repo"] in entry.source and row["commit"] in entry.source


def test_names_sources_and_licences() -> None:
    assert [(s.name, s.licence, s.format) for s in bundled_sets()] == [
        ("amnesty/2019-10-10_nso_morocco/domains.txt", "CC-BY-2.0", "plain-list"),
        ("amnesty/2021-07-18_nso/pegasus.stix2", "CC-BY-2.0", "stix2"),
        ("amnesty/2021-12-16_cytrox/cytrox.stix2", "CC-BY-2.0", "stix2"),
        ("amnesty/2023-03-29_android_campaign/malware.stix2", "CC-BY-2.0", "stix2"),
        ("amnesty/2024-05-02_wintego_helios/wintego_helios.stix2", "CC-BY-2.0", "stix2"),
        ("amnesty/2024-12-16_serbia_novispy/novispy.stix2", "CC-BY-2.0", "stix2"),
        ("mvt-indicators/2022-06-23_rcs_lab/rcs.stix2", "MIT", "stix2"),
        ("mvt-indicators/2023-04-11_quadream/kingspawn.stix2", "MIT", "stix2"),
        ("mvt-indicators/2023-06_01_operation_triangulation/operation_triangulation.stix2", "MIT", "stix2"),
        ("mvt-indicators/2023-07-25_wyrmspy_dragonegg/wyrmspy_dragonegg.stix2", "MIT", "stix2"),
        ("mvt-indicators/2024-12-25_eaglemsgspy/eaglemsgspy.stix2", "MIT", "stix2"),
        ("mvt-indicators/2026-03-03_coruna_cryptowaters/coruna.stix2", "MIT", "stix2"),
        ("mvt-indicators/2026-03-30_darksword/darksword.stix2", "MIT", "stix2"),
        ("mvt-indicators/ResidentBat/residentbat.stix2", "MIT", "stix2"),
        ("mvt-indicators/candiru/candiru.stix2", "MIT", "stix2"),
        ("mvt-indicators/cellebrite/cellebrite.stix2", "MIT", "stix2"),
        ("mvt-indicators/intellexa_predator/predator.stix2", "MIT", "stix2"),
        ("stalkerware/ioc.yaml", "CC-BY-4.0", "stalkerware-ioc-yaml"),
    ]
    pegasus = bundled_sets()[1]
    assert (
        pegasus.source
        == "https://github.com/AmnestyTech/investigations at commit 3d8f248: 2021-07-18_nso/pegasus.stix2"
    )
    assert pegasus.sha256 == "df1bcaa78abc7b85781b1ebc2daa3cc225371e2024d9ef96e84f80f927256586"


def test_indicator_counts_of_every_set() -> None:
    counts = {
        s.name: (len(s.indicators), s.invalid_count, s.unsupported_count, s.dangling_relationships)
        for s in bundled_sets()
    }
    assert counts == {
        "amnesty/2019-10-10_nso_morocco/domains.txt": (8, 0, 0, 0),
        "amnesty/2021-07-18_nso/pegasus.stix2": (1549, 0, 0, 0),
        "amnesty/2021-12-16_cytrox/cytrox.stix2": (343, 0, 0, 0),
        "amnesty/2023-03-29_android_campaign/malware.stix2": (2187, 0, 0, 0),
        "amnesty/2024-05-02_wintego_helios/wintego_helios.stix2": (175, 0, 0, 1),
        "amnesty/2024-12-16_serbia_novispy/novispy.stix2": (18, 0, 0, 0),
        "mvt-indicators/2022-06-23_rcs_lab/rcs.stix2": (40, 0, 0, 0),
        "mvt-indicators/2023-04-11_quadream/kingspawn.stix2": (167, 0, 0, 0),
        "mvt-indicators/2023-06_01_operation_triangulation/operation_triangulation.stix2": (112, 0, 0, 0),
        "mvt-indicators/2023-07-25_wyrmspy_dragonegg/wyrmspy_dragonegg.stix2": (53, 0, 0, 0),
        "mvt-indicators/2024-12-25_eaglemsgspy/eaglemsgspy.stix2": (51, 0, 0, 0),
        "mvt-indicators/2026-03-03_coruna_cryptowaters/coruna.stix2": (216, 0, 0, 0),
        "mvt-indicators/2026-03-30_darksword/darksword.stix2": (43, 0, 0, 0),
        "mvt-indicators/ResidentBat/residentbat.stix2": (48, 0, 0, 0),
        "mvt-indicators/candiru/candiru.stix2": (125, 0, 0, 0),
        "mvt-indicators/cellebrite/cellebrite.stix2": (1, 0, 0, 0),
        "mvt-indicators/intellexa_predator/predator.stix2": (585, 0, 0, 0),
        "stalkerware/ioc.yaml": (2606, 0, 6, 0),
    }


def test_sets_are_parsed_once_per_process() -> None:
    first, second = bundled_sets(), bundled_sets()
    assert first is not second
    assert all(a is b for a, b in zip(first, second, strict=True))


def test_bytes_that_differ_from_the_pin_are_refused() -> None:
    tampered = replace(BUNDLED[0], sha256="0" * 64)
    with pytest.raises(IndicatorFormatError) as raised:
        load_bundled(tampered)
    assert str(raised.value).endswith(f"SHA-256 {BUNDLED[0].sha256} is not the pinned {'0' * 64}")


def test_a_pegasus_domain_shared_by_two_bundled_sets() -> None:
    index = IndicatorIndex(bundled_sets())
    observable = domain_observable("bun54l2b67.get1tn0w.free247downloads.com")
    assert observable is not None
    assert [(m.value, m.type, m.collection, m.set_name) for m in index.match(observable)] == [
        (
            "bun54l2b67.get1tn0w.free247downloads.com",
            types.DOMAIN,
            "amnesty/2019-10-10_nso_morocco/domains.txt",
            "amnesty/2019-10-10_nso_morocco/domains.txt",
        ),
        (
            "free247downloads.com",
            types.DOMAIN,
            "amnesty/2019-10-10_nso_morocco/domains.txt",
            "amnesty/2019-10-10_nso_morocco/domains.txt",
        ),
        ("free247downloads.com", types.DOMAIN, "Pegasus", "amnesty/2021-07-18_nso/pegasus.stix2"),
    ]
