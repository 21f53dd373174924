"""The indicator sets shipped inside vestige, pinned by SHA-256, with their origin and licence.

The files under ``data/`` are copies, unchanged, of public repositories at the commits recorded in
``data/SOURCES.md``: Amnesty Tech's investigations (CC-BY 2.0), the MVT project's community
indicators (MIT) and Echap's stalkerware indicators (CC-BY 4.0). A plain list is shipped only when
no STIX bundle of its folder already holds its values. Loading checks every file against its pinned
digest, so a finding that cites a bundled set cites exactly these bytes.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from importlib.resources import files

from vestige.indicators.loading import read_indicator_data
from vestige.indicators.sets import IndicatorFormatError, IndicatorSet, SetOrigin

AMNESTY = "https://github.com/AmnestyTech/investigations at commit 3d8f248"
MVT_INDICATORS = "https://github.com/mvt-project/mvt-indicators at commit e035f4f"
STALKERWARE = "https://github.com/AssoEchap/stalkerware-indicators at commit a04c5c1"


@dataclass(frozen=True, slots=True)
class BundledSet:
    """A shipped indicator file: its stable name, path under ``data/``, origin, licence and digest."""

    name: str
    path: str
    source: str
    licence: str
    sha256: str


def _amnesty(folder: str, file_name: str, sha256: str) -> BundledSet:
    path = f"amnesty-investigations/{folder}/{file_name}"
    return BundledSet(f"amnesty/{folder}/{file_name}", path, f"{AMNESTY}: {folder}/{file_name}", "CC-BY-2.0", sha256)


def _mvt(folder: str, file_name: str, sha256: str) -> BundledSet:
    path = f"mvt-indicators/{folder}/{file_name}"
    return BundledSet(
        f"mvt-indicators/{folder}/{file_name}", path, f"{MVT_INDICATORS}: {folder}/{file_name}", "MIT", sha256
    )


BUNDLED: tuple[BundledSet, ...] = (
    _amnesty(
        "2019-10-10_nso_morocco",
        "domains.txt",
        "29c183256cee9c04147e09bd50d29094f85a8b40dec500aa00ffcf02b368f63e",
    ),
    _amnesty("2021-07-18_nso", "pegasus.stix2", "df1bcaa78abc7b85781b1ebc2daa3cc225371e2024d9ef96e84f80f927256586"),
    _amnesty(
        "2021-12-16_cytrox",
        "cytrox.stix2",
        "6fe92193d9e17c21a16eb7abe93a418a2e40c0176dcb56fb30539f84136391bb",
    ),
    _amnesty(
        "2023-03-29_android_campaign",
        "malware.stix2",
        "28da50042006281d56c17dff08f06bba3ba310bc18cc23040780850131b2efdb",
    ),
    _amnesty(
        "2024-05-02_wintego_helios",
        "wintego_helios.stix2",
        "d0d546c388207e8a162eb3901259ee20c0ddd03efeff145d3cc9b3a0a02a5419",
    ),
    _amnesty(
        "2024-12-16_serbia_novispy",
        "novispy.stix2",
        "02bfceea5a2c32b159f11569736448398e35e7f0fc7d137385b943ec60697360",
    ),
    _mvt("2022-06-23_rcs_lab", "rcs.stix2", "7d390e0c298704944bbed681b8d650be5b3109c11eaffcaa8fa4c29a9f7fb383"),
    _mvt(
        "2023-04-11_quadream",
        "kingspawn.stix2",
        "f214079289b015a266bd996d651ee7ce4b228258b633cc02e5a671deaf3ca2ce",
    ),
    _mvt(
        "2023-06_01_operation_triangulation",
        "operation_triangulation.stix2",
        "6e7361aeae471b1a9560f3015b0709067169ae3828bdbdde031122d5c746d92c",
    ),
    _mvt(
        "2023-07-25_wyrmspy_dragonegg",
        "wyrmspy_dragonegg.stix2",
        "82143861aa57cf570acc19023a7059dc5d3901202dd7338b418a83169e1e7e87",
    ),
    _mvt(
        "2024-12-25_eaglemsgspy",
        "eaglemsgspy.stix2",
        "c40ca826d3eeef1e095af18d77531246b4849d2fa350464c07326d1b12015b50",
    ),
    _mvt(
        "2026-03-03_coruna_cryptowaters",
        "coruna.stix2",
        "0046552adf6127ebcaeac9f825a8082a9fa201dd7c921bb7d596fb0c02f12c24",
    ),
    _mvt(
        "2026-03-30_darksword",
        "darksword.stix2",
        "a2387f14ae7e7f176b0bd543be9b5ff151c77a22377cee5ae38ac5c3c4973a20",
    ),
    _mvt("ResidentBat", "residentbat.stix2", "47270c7236d55e2fa2a05a3fa432da79af138bbbe2b7f243109bfec0686996bf"),
    _mvt("candiru", "candiru.stix2", "a126c94d53ab655a0e7690c934bab58add11b3ed5bdd537ea415b5e71dd14616"),
    _mvt("cellebrite", "cellebrite.stix2", "8494eb07ff91a40ee0f0e3b4e5b677d20aa26a61b871f114fcfd03e182c48e50"),
    _mvt(
        "intellexa_predator",
        "predator.stix2",
        "74852711457069b37189d554b19baf641acbb8d08291be13b2ec7f2422726de9",
    ),
    BundledSet(
        "stalkerware/ioc.yaml",
        "stalkerware-indicators/ioc.yaml",
        f"{STALKERWARE}: ioc.yaml",
        "CC-BY-4.0",
        "6052636f093dce2d329fc06b7d572c6d4462d73539f72f13d1af1f96ea74864e",
    ),
)
"""Every shipped set, in the order in which matches are reported."""


def load_bundled(entry: BundledSet) -> IndicatorSet:
    """Load one shipped set, refusing bytes that do not have the pinned digest."""
    resource = files("vestige.indicators").joinpath("data", *entry.path.split("/"))
    data = resource.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.sha256:
        raise IndicatorFormatError(str(resource), f"SHA-256 {digest} is not the pinned {entry.sha256}")
    origin = SetOrigin(entry.name, entry.source, entry.licence, str(resource), digest)
    return read_indicator_data(data, origin)


@functools.cache
def _bundled() -> tuple[IndicatorSet, ...]:
    return tuple(load_bundled(entry) for entry in BUNDLED)


def bundled_sets() -> list[IndicatorSet]:
    """Every shipped set, parsed once per process (the sets are immutable, so they are shared)."""
    return list(_bundled())
