"""The fuzzing harness of issue 9: ``vestige check`` survives anything a compromised phone can hold.

Each input is a copy of the demo backup changed by up to three mutations (``fuzzing/``):
(a) property lists, byte by byte and by structure (nesting past the recursion limit, reference
cycles, shared sub-graphs that unfold exponentially, non-string keys, 128-bit integers, odd types,
oversized values and files); (b) SQLite files (a table replaced by a view, an endless recursive
view, generated and oddly typed columns, BLOB primary keys, WITHOUT ROWID, values of every wrong
type, non-UTF-8 text, 2**63-1, huge blobs, flipped or cut pages); (c) Manifest.db rows (duplicate
paths with decoys, a fileID that is not SHA-1 of its path, non-UTF-8 or BLOB paths, any flags,
rowid gaps, flipped or hand-written MBFile archives, a poisoned layout cache); (d) names and links
(files at device paths not listed, names that are not UTF-8, symlinks in place of top-level and
stored files and as -wal/-journal sidecars, to a file outside, to /, to /dev/zero, dangling; named
pipes; folders deeper than PATH_MAX), and the output folder or the run itself (``-o`` where nothing
can be written, SIGTERM/SIGINT mid-run).

For every input, ``vestige check -j 1`` and ``-j 2`` run as real subprocesses, with a wall timeout
and capped address space and file size, and must: exit 0, 2 or 3; leave every byte, name, link and
time of the evidence unchanged; leave nothing in their private TMPDIR nor a partial output folder;
write byte-identical findings.json; never put data read outside the acquisition in their output;
show evidence text on the terminal only as visible escapes; and keep the genuine data a decoy or a
bad row must not hide (``fuzzing/run.py`` states each property).

CI runs a fixed-seed slice (``derandomize=True``): the explicit examples, one or more per class of
the issue (1-11), and ``VESTIGE_FUZZ_EXAMPLES`` random inputs (default 40; about two minutes on two
cores). A longer run, with a random seed each time unless derandomized::

    VESTIGE_FUZZ_EXAMPLES=2000 PYTHONPATH=$PWD/src pytest -p no:cacheprovider tests/hostile/test_fuzz.py

``VESTIGE_FUZZ_RANDOM=1`` draws new inputs on every run; ``VESTIGE_FUZZ_TIMEOUT`` (seconds per run,
default 30) and ``VESTIGE_FUZZ_MEMORY`` (bytes of address space per process, default 2 GiB) set the
caps; ``VESTIGE_FUZZ_SHRINK=0`` reports a failing input as drawn instead of shrinking it (each
shrinking step is two runs). ``python -m tests.hostile.fuzzing.explore N`` runs every explicit
example and N random inputs without stopping at the first failure, and prints each distinct failure.
Switch ``fuzzing.run.BUDGET_OPTIONS`` on once ``vestige check --limit`` exists.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings

from tests.hostile.fuzzing import databases, files, listing, plists
from tests.hostile.fuzzing import mutations as m
from tests.hostile.fuzzing.run import INDICATORS, Scene, judge, snapshot
from tests.hostile.fuzzing.strategies import INPUTS
from vestige.ios.sample.demo import build_demo_backup

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("VESTIGE_FUZZ_EXAMPLES", "40"))
SHRINK = os.environ.get("VESTIGE_FUZZ_SHRINK", "1") != "0"

ID_STATUS = ("com.apple.madrid", "tel:+212612345699", "IDStatus")
"""The raw ``IDStatus`` value of one handle in the idstatuscache plist."""

CLASS_EXAMPLES: dict[str, list[list[m.Mutation]]] = {
    "1 plist values": [
        [plists.PlistValue(m.IDSTATUS, ID_STATUS, plists.Shape("nested-array", 300))],
        [plists.PlistValue(m.IDSTATUS, ID_STATUS, plists.Shape("cycle", 1))],
        [plists.PlistValue(m.OSANALYTICS, ("netUsageBaseline", "apsd"), plists.Shape("shared", 32))],
        [plists.PlistValue(m.IDSTATUS, ("com.apple.madrid",), plists.Shape("odd-keys", 8))],
        [plists.PlistValue(m.IDSTATUS, ID_STATUS, plists.Shape("scalar", 0))],
        [plists.PlistValue("Info.plist", ("Device Name",), plists.Shape("cycle", 2))],
        [plists.PlistValue("Manifest.plist", ("Lockdown",), plists.Shape("nested-dict", 5000))],
        [listing.MBFileBytes(m.SMS, (), plists.Shape("shared", 32))],
        [listing.MBFileBytes(m.SMS, (), plists.Shape("scalar", 0))],  # a 128-bit Size in the MBFile
    ],
    "2 row ids that are not integers": [
        [databases.TableShape(m.HISTORY, "history_visits", "blob-key")],
        [databases.RowValue(m.HISTORY, "history_visits", "id", 32, "blob")],
        [databases.RowValue(m.SMS, "message", "ROWID", 2, "int-max")],
    ],
    "3 schemas as weapons": [
        [databases.TableToView(m.MANIFEST_DB, "Files", recursive=True, ordered=True)],
        [databases.TableToView(m.SMS, "handle", recursive=True, ordered=True)],
        [databases.GeneratedColumn(m.SMS, "message", "text", "text-900MB")],
        [databases.GeneratedColumn(m.HISTORY, "history_items", "url", "random")],
        [databases.RowidJump(m.MANIFEST_DB, "Files", (1 << 63) - 1, last=True)],
    ],
    "4 oversized top-level files": [
        [plists.Oversized("Status.plist", 300 << 20)],
        [plists.Oversized(m.IDSTATUS, 300 << 20)],
    ],
    "5 quadratic text": [
        [databases.RowValue(m.SMS, "message", "text", 0, "url-parens-400k")],
        [databases.RowValue(m.SMS, "message", "text", 1, "parens-400k")],
    ],
    "6 forged terminal lines": [
        [plists.PlistXml("Info.plist", "forged-name")],
        [databases.RowValue(m.SMS, "handle", "id", 1, "forged-line")],
        [databases.RowValue(m.HISTORY, "history_items", "url", 8, "forged-line")],
        [files.OddName(b"\x1b]0;vestige-fuzz-forged\x07\nCRITICAL vestige-fuzz-forged", top=False)],
    ],
    "7 decoys and ambiguity": [
        [listing.DuplicateRow(m.SMS, "empty-database", first=True)],
        [listing.ForgedFileID(m.SMS, "other")],
        [files.UnlistedFile(m.SMS, "empty-database", as_device_path=True)],
        [files.OddName(b"\xff")],
    ],
    "8 lost data": [
        [listing.ManifestField(m.PHOTO, "relativePath", "text-not-utf8")],
        [databases.RowValue(m.SMS, "message", "text", 0, "text-not-utf8")],
    ],
    "9 non-determinism": [
        [listing.PadRows(5_000), listing.PoisonedLayout()],
    ],
    "10 symlinks at the top level": [
        [files.Symlink("Manifest.db-wal", "outside-copy")],
        [files.Symlink("Info.plist", "outside-copy")],
        [files.Symlink(m.SMS, "dev-zero")],
    ],
    "11 environment errors": [
        [files.Output("dangling-symlink")],
        [files.Output("below-regular-file")],
        [files.DeepFolder(24)],
        [listing.PadRows(5_100), files.Interrupt(0.8, "SIGTERM")],
        [listing.PadRows(5_100), files.Interrupt(0.8, "SIGINT")],
    ],
}
"""At least one minimal input for each class of the issue: the slice always covers them."""

T = TypeVar("T")


def _with_examples(test: T) -> T:
    for inputs in (i for examples in CLASS_EXAMPLES.values() for i in examples):
        test = example(mutations=inputs)(test)  # type: ignore[assignment]
    return test


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_backup(tmp_path_factory.mktemp("fuzz-demo") / "backup")


@pytest.fixture(scope="session")
def indicators(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz-indicators")
    for name, text in INDICATORS.items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture(scope="session")
def baseline(demo: Path, indicators: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """findings.json of the unmutated demo, whose runs must hold every property too."""
    base = tmp_path_factory.mktemp("fuzz-baseline")
    run_and_judge(demo, indicators, base, [])
    return (base / "run-j1" / "out" / "findings.json").read_bytes()


def run_and_judge(
    demo: Path, indicators: Path, base: Path, mutations: Sequence[m.Mutation], baseline: bytes = b""
) -> None:
    """Lays out one input under ``base``, runs both checks, and raises for the first property broken."""
    scene = Scene(base, mutations, indicators, baseline)
    scene.prepare(demo)
    before = {"backup": snapshot(scene.site.backup), "outside": snapshot(scene.site.outside)}
    runs = scene.run_both()
    verdict = judge(scene, runs, before)
    if verdict.broken:
        verdict.raise_first(verdict.text(mutations, runs, scene.site.skipped))


PHASES = (Phase.explicit, Phase.generate, Phase.shrink) if SHRINK else (Phase.explicit, Phase.generate)


@settings(
    derandomize=os.environ.get("VESTIGE_FUZZ_RANDOM") != "1",
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=PHASES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(mutations=INPUTS)
@_with_examples
def test_check_survives_mutations(
    demo: Path,
    indicators: Path,
    baseline: bytes,
    tmp_path_factory: pytest.TempPathFactory,
    mutations: list[m.Mutation],
) -> None:
    base = tmp_path_factory.mktemp("fuzz")
    try:
        run_and_judge(demo, indicators, base, mutations, baseline)
    finally:
        _remove(base)


def _remove(base: Path) -> None:
    """Removes an input's folders (named pipes and PATH_MAX-deep folders included: rmtree works by
    file descriptor)."""
    shutil.rmtree(base, ignore_errors=True)
