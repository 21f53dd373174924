"""Platforms as plug-ins: a toy platform defined by this test alone, installed through the
``vestige.platforms`` entry-point group, goes through every command (check, case add, check --case,
verify --reproduce, disclose, verify of the disclosure) with no change outside the test: once as a
single-file kind, once as an archive kind. Also the registry's own rules."""

from __future__ import annotations

import textwrap
import zipfile
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from tests.builders.custody import PASSPHRASE
from vestige.cli import main
from vestige.custody.keys import generate, save_key
from vestige.evidence.errors import NotAnAcquisitionError
from vestige.ios.platform import PLATFORM as IOS
from vestige.platforms import PlatformError, Registry, load_platform

TOY_PACKAGE = '''
"""A toy platform: "toy-log" files (first line "TOYLOG 1", then one visited URL per line) and
"toy-bundle" zips (a member named TOYBUNDLE and logs under logs/)."""

from __future__ import annotations

from vestige.evidence.acquisition import FilesAcquisition
from vestige.evidence.sources import Source
from vestige.platforms import AcquisitionKind, Platform
from toy_vestige import lines

MAGIC = b"TOYLOG 1\\n"


def recognise_log(source: Source) -> Source | None:
    if source.shape != "file":
        return None
    [member] = list(source.members())
    with source.open(member.name) as stream:
        return source if stream.read(len(MAGIC)) == MAGIC else None


def recognise_bundle(source: Source) -> Source | None:
    return source if source.shape == "archive" and source.has_file("TOYBUNDLE") else None


PLATFORM = Platform(
    name="toy",
    kinds=(
        AcquisitionKind(
            "toy-log", "a toy log starts with TOYLOG 1", recognise_log, lambda s: FilesAcquisition(s, "toy-log")
        ),
        AcquisitionKind(
            "toy-bundle", "a toy bundle is a zip holding TOYBUNDLE", recognise_bundle,
            lambda s: FilesAcquisition(s, "toy-bundle"),
        ),
    ),
    artifacts=(lines,),
)
'''

TOY_ARTIFACT = '''
"""Toy log lines: one record per visited URL, matched against domain indicators."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from vestige.evidence.acquisition import Acquisition
from vestige.indicators.observables import observables_from_url
from vestige.model import Finding, IndicatorLookup, Locator, Record, Severity
from vestige.platforms import MatchPolicy

NAME = "toy.lines"
VERSION = 1
PATHS = {"toy-log": ("*",), "toy-bundle": ("logs/*",)}
DESCRIPTION = "URLs visited, one per line of a toy log"
MATCHES = MatchPolicy(Severity.HIGH, "A toy log line")


@dataclass(frozen=True, slots=True)
class ToyLine:
    url: str


def parse(acquisition: Acquisition, path: str) -> Iterator[Record]:
    sha256 = acquisition.file(path).sha256
    with acquisition.open(path) as stream:
        for number, raw in enumerate(stream.read().decode().splitlines()[1:], start=2):
            yield Record(NAME, Locator(path, sha256, line=number), None, f"visit to {raw}", ToyLine(raw),
                         observables_from_url(raw))


def detect(records: Iterable[Record], indicators: IndicatorLookup) -> Iterator[Finding]:
    for _ in records:
        pass
    return iter(())
'''


def install_toy(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Writes the toy package and its distribution's entry point, and puts them on sys.path."""
    package = site / "toy_vestige"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(TOY_PACKAGE))
    (package / "lines.py").write_text(textwrap.dedent(TOY_ARTIFACT))
    info = site / "toy_vestige-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-vestige\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[vestige.platforms]\ntoy = toy_vestige:PLATFORM\n")
    monkeypatch.syspath_prepend(str(site))


LOG = b"TOYLOG 1\nhttp://example.org/welcome\nhttps://c2.bad-toy.example/beacon\nhttps://example.net/\n"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"VESTIGE_KEY_PASSPHRASE": PASSPHRASE})
    return result.exit_code, result.output


@pytest.mark.parametrize("shape", ["file", "archive"])
def test_a_toy_platform_from_the_tests_alone_goes_through_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    install_toy(tmp_path / "site", monkeypatch)
    iocs = tmp_path / "domains.txt"
    iocs.write_text("bad-toy.example\n")
    if shape == "file":
        evidence, kind, cited = tmp_path / "phone.toylog", "toy-log", "phone.toylog"
        evidence.write_bytes(LOG)
    else:
        evidence, kind, cited = tmp_path / "phone.zip", "toy-bundle", "logs/b.toylog"
        with zipfile.ZipFile(evidence, "w") as archive:
            archive.writestr("TOYBUNDLE", b"1")
            archive.writestr("logs/a.toylog", b"TOYLOG 1\nhttps://example.com/\n")
            archive.writestr("logs/b.toylog", LOG)
    before = evidence.read_bytes()

    code, output = run("check", str(evidence), "-o", str(tmp_path / "out"), "--iocs", str(iocs), "-j", "1")
    assert code == 0, output
    document = orjson.loads((tmp_path / "out" / "findings.json").read_bytes())
    assert [a["kind"] for a in document["acquisitions"]] == [kind]
    assert [(a["name"], a["version"]) for a in document["artifacts"]] == [("toy.lines", 1)]
    [finding] = document["findings"]
    assert (finding["rule"], finding["severity"]) == ("toy.lines.indicator_match", "high")
    assert finding["evidence"][0]["locator"]["path"] == cited
    assert finding["evidence"][0]["locator"]["line"] == 3

    key, trust, bundle = tmp_path / "k.key", tmp_path / "trust.txt", tmp_path / "bundle"
    save_key(generate("toy-examiner"), key, PASSPHRASE)
    trust.write_text(run("key", "export", str(key))[1])
    for step in (
        ("case", "new", str(bundle), "--case-id", "TOY-1", "--examiner", str(key)),
        ("case", "add", str(bundle), str(evidence), "--item-id", "T1", "--key", str(key)),
        ("check", "--case", str(bundle), "T1", "--key", str(key), "--iocs", str(iocs), "-q", "-j", "1"),
    ):
        code, output = run(*step)
        assert code == 0, (step, output)
    item = orjson.loads((bundle / "data/items/T1/item.json").read_bytes())
    assert (item["kind"], item["source"]["shape"]) == (kind, shape)
    assert (bundle / "data/acquisition/T1" / evidence.name).read_bytes() == before
    code, output = run("verify", str(bundle), "--trust", str(trust), "--reproduce")
    assert code == 0, output
    assert "analysis 0001: a fresh run gives the same findings.json" in output

    package = ("-o", str(tmp_path / "pkg"), "--trust", str(trust), "--key", str(key))
    code, output = run("disclose", str(bundle), "--finding", finding["id"], *package)
    assert code == 0, output
    assert (tmp_path / "pkg" / "data/evidence/T1" / cited).read_bytes() == LOG
    code, output = run("verify", str(tmp_path / "pkg"), "--trust", str(trust))
    assert code == 0, output
    assert evidence.read_bytes() == before


def test_the_registry_lists_the_built_in_ios_platform_first() -> None:
    registry = Registry.discover()
    assert registry.platforms[0] is IOS
    assert [k.name for k in registry.kinds][:1] == ["ios-backup"]
    assert [a.NAME for a in registry.artifacts_for("ios-backup")] == [a.NAME for a in IOS.artifacts]
    assert registry.artifacts_for("no-such-kind") == ()


def test_two_platforms_may_not_claim_one_name_or_kind() -> None:
    with pytest.raises(PlatformError, match=r"^the platform 'ios' is declared twice$"):
        Registry([IOS, IOS])


def test_an_entry_point_that_cannot_be_loaded_is_named() -> None:
    with pytest.raises(PlatformError, match=r"^entry point 'x': the platform no_such_module:PLATFORM cannot be loaded"):
        load_platform("no_such_module:PLATFORM", "entry point 'x'")
    with pytest.raises(PlatformError, match=r"is not a vestige Platform$"):
        load_platform("vestige.ios.platform:IOS_BACKUP")


def test_a_path_no_platform_reads_is_refused_with_what_each_kind_looks_like(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(NotAnAcquisitionError, match=r"notes\.txt: not an acquisition vestige can read \(an iOS backup"):
        Registry.discover().open(tmp_path / "notes.txt")
