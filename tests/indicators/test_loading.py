"""Tests of loading indicator files by path (vestige.indicators.loading)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from vestige.indicators import types
from vestige.indicators.loading import default_set_name, load_indicator_set
from vestige.indicators.sets import IndicatorFormatError

DATA = Path(__file__).parents[1] / "data" / "indicators"
IOC_YAML = Path(__file__).parents[2] / "src" / "vestige" / "indicators" / "data" / "stalkerware-indicators" / "ioc.yaml"


def test_stix_by_extension_with_provenance() -> None:
    path = DATA / "compound.stix2"
    loaded = load_indicator_set(path, name="tests/compound", source="hand-written", licence="Apache-2.0")
    assert (loaded.name, loaded.source, loaded.licence, loaded.path, loaded.format) == (
        "tests/compound",
        "hand-written",
        "Apache-2.0",
        str(path),
        "stix2",
    )
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_defaults_name_the_set_after_its_folder_and_file() -> None:
    loaded = load_indicator_set(DATA / "urls_only.stix2")
    assert (loaded.name, loaded.source, loaded.licence) == (
        "indicators/urls_only.stix2",
        str(DATA / "urls_only.stix2"),
        "unknown",
    )
    assert default_set_name(Path("pegasus.stix2")) == "pegasus.stix2"


@pytest.mark.parametrize(
    ("source", "copy_as", "expected_format"),
    [
        (DATA / "compound.stix2", "bundle.json", "stix2"),
        (DATA / "compound.stix2", "bundle.dat", "stix2"),
        (DATA / "network.csv", "network.csv", "stalkerware-network-csv"),
        (DATA / "network.csv", "stalkerware-export", "stalkerware-network-csv"),
        (IOC_YAML, "ioc.yml", "stalkerware-ioc-yaml"),
        (IOC_YAML, "ioc", "stalkerware-ioc-yaml"),
    ],
)
def test_format_by_extension_or_content(source: Path, copy_as: str, expected_format: str, tmp_path: Path) -> None:
    target = tmp_path / copy_as
    shutil.copyfile(source, target)
    assert load_indicator_set(target).format == expected_format


def test_plain_list_by_name_or_by_explicit_type(tmp_path: Path) -> None:
    (tmp_path / "v4_domains.txt").write_text("evil.example\n")
    (tmp_path / "iocs").write_text("roleaccountd\n")
    by_name = load_indicator_set(tmp_path / "v4_domains.txt")
    by_type = load_indicator_set(tmp_path / "iocs", indicator_type=types.PROCESS)
    assert [(i.type, i.value, by_name.format) for i in by_name.indicators] == [
        (types.DOMAIN, "evil.example", "plain-list")
    ]
    assert [(i.type, i.value) for i in by_type.indicators] == [(types.PROCESS, "roleaccountd")]


def test_a_txt_file_is_a_plain_list_even_if_it_looks_like_json(tmp_path: Path) -> None:
    (tmp_path / "domains.txt").write_text("{evil.example}\n")
    loaded = load_indicator_set(tmp_path / "domains.txt")
    assert loaded.format == "plain-list"
    assert loaded.invalid_count == 1


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.stix2"
    with pytest.raises(IndicatorFormatError) as raised:
        load_indicator_set(missing)
    assert str(raised.value) == f"{missing}: cannot be read (No such file or directory)"


def test_a_stix2_file_that_is_not_a_bundle_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.stix2"
    path.write_bytes(b'{"type": "bundle", "objects": [')
    with pytest.raises(IndicatorFormatError) as raised:
        load_indicator_set(path)
    assert raised.value.path == str(path)
    assert str(raised.value).startswith(f"{path}: not JSON (")
