"""Hostile property lists (issue 9, classes 1 and 4): cycles, exponential sharing, nesting, odd keys,
odd values and oversized files cost their own file or value, never the run.

Each test builds its minimal hostile plist here (``tests.hostile.bplist`` writes the binary shapes
``plistlib`` cannot), loads it under explicit limits, and, for the shapes a phone could hold in an
artifact's file, runs ``vestige check`` on a copy of the demo backup carrying it.
"""

from __future__ import annotations

import json
import plistlib
import shutil
import time
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.hostile.bplist import array, bplist, data, date, dictionary, doubling, integer, nested, text
from vestige.cli import main
from vestige.evidence import budget
from vestige.evidence.budget import Limits
from vestige.evidence.errors import UnexpectedFormatError
from vestige.evidence.plist import load_plist, plain
from vestige.evidence.sources import open_source
from vestige.ios.acquisitions import _read_plist, file_id
from vestige.ios.sample.demo import build_demo_backup

IDSTATUS = ("HomeDomain", "Library/Preferences/com.apple.identityservices.idstatuscache.plist")
IDSTATUS_PATH = "/".join(IDSTATUS)
RAISE = " (the {0} limit; raise it with --limit {0}=VALUE if needed)"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_backup(tmp_path_factory.mktemp("demo") / "backup")


def with_idstatus(demo: Path, root: Path, content: bytes) -> Path:
    """A copy of the demo backup whose identity-services cache holds ``content``."""
    backup = Path(shutil.copytree(demo, root / "backup"))
    name = file_id(*IDSTATUS)
    (backup / name[:2] / name).write_bytes(content)
    return backup


def check(backup: Path, out: Path) -> tuple[int, dict[str, object]]:
    result = CliRunner().invoke(main, ["check", str(backup), "-o", str(out)])
    assert result.exit_code in (0, 3), result.output
    return result.exit_code, json.loads((out / "findings.json").read_bytes())


def lookup(status: bytes) -> list[bytes]:
    """The objects of a cache with one lookup whose ``IDStatus`` is object 0 (``status``)."""
    return [
        status,
        text("com.apple.madrid"),
        text("mailto:amina.benali@example.org"),
        text("LookupDate"),
        text("IDStatus"),
        date(737366400.0),
        dictionary([(3, 5), (4, 0)]),  # 6: the entry
        dictionary([(2, 6)]),  # 7: the handles
        dictionary([(1, 7)]),  # 8: the top
    ]


def refused(content: bytes, limits: Limits | None = None) -> str:
    with budget.task(limits or Limits()), pytest.raises(UnexpectedFormatError) as error:
        load_plist(content, "x.plist")
    return str(error.value)


# Binary object graphs


def test_a_reference_cycle_is_refused_naming_the_object() -> None:
    looping = bplist([text("a"), array(0, 2), array(1)], top=1)  # 1 -> 2 -> 1
    assert refused(looping) == "x.plist: not a valid property list (reference cycle at object 1)"


def test_a_shared_object_expanding_exponentially_is_refused_in_milliseconds() -> None:
    bomb = doubling(45)  # 451 bytes that plistlib builds as 2^46 - 1 values
    assert len(bomb) == 451
    started = time.perf_counter()
    message = refused(bomb)
    assert time.perf_counter() - started < 0.5
    assert message == (
        "x.plist: expands to more than 5000000 objects, shared ones counted at each use" + RAISE.format("plist-objects")
    )


def test_expansion_counts_each_use_of_a_shared_object_up_to_the_limit() -> None:
    # 4 levels: 1 + 2 * (1 + 2 * (1 + 2 * (1 + 2 * 1))) = 31 objects once expanded, from 5 in the file.
    assert load_plist(doubling(4), "x.plist") == [[[[0, 0]] * 2] * 2] * 2
    with budget.task(Limits(plist_objects=31)):
        assert plain(load_plist(doubling(4), "x.plist")) == [[[[0, 0]] * 2] * 2] * 2
    assert refused(doubling(4), Limits(plist_objects=30)) == (
        "x.plist: expands to more than 30 objects, shared ones counted at each use" + RAISE.format("plist-objects")
    )


def test_the_object_count_of_the_trailer_is_bounded_before_anything_is_read() -> None:
    assert refused(doubling(4), Limits(plist_objects=4)) == "x.plist: 5 objects" + RAISE.format("plist-objects")


def test_nesting_is_bounded_in_binary_plists() -> None:
    with budget.task(Limits(plist_depth=300)):
        value = load_plist(nested(300), "x.plist")
    for _ in range(300):
        value = value[0]
    assert value == 7
    assert refused(nested(257)) == (
        "x.plist: arrays and dictionaries nested deeper than 256" + RAISE.format("plist-depth")
    )


def test_a_reference_to_a_missing_object_is_refused() -> None:
    assert refused(bplist([array(0, 9)])) == ("x.plist: not a valid property list (object 0 refers to object 9, of 1)")


# XML


def xml(body: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?><plist version="1.0">{body}</plist>'.encode()


def test_nesting_and_elements_are_bounded_in_xml_plists() -> None:
    deep = "<array>" * 257 + "<true/>" + "</array>" * 257
    assert refused(xml(deep)) == "x.plist: arrays and dictionaries nested deeper than 256" + RAISE.format("plist-depth")
    wide = "<array>" + "<integer>1</integer>" * 10 + "</array>"
    assert refused(xml(wide), Limits(plist_objects=10)) == "x.plist: more than 10 elements" + RAISE.format(
        "plist-objects"
    )
    with budget.task(Limits(plist_objects=11)):
        assert load_plist(xml(wide), "x.plist") == [1] * 10


def test_entity_declarations_stay_refused() -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE plist [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        b"<plist><string>&b;&b;&b;</string></plist>"
    )
    assert refused(laughs) == (
        "x.plist: not a valid property list (XML entity declarations are not supported in plist files)"
    )


# Size (class 4)


def test_a_plist_larger_than_the_text_limit_is_refused() -> None:
    content = plistlib.dumps({"a": "x" * 100})
    assert refused(content, Limits(text=len(content) - 1)) == (
        f"x.plist: larger than {len(content) - 1} bytes" + RAISE.format("text")
    )


def test_a_top_level_plist_is_read_no_further_than_the_text_limit(demo: Path, tmp_path: Path) -> None:
    backup = Path(shutil.copytree(demo, tmp_path / "backup"))
    (backup / "Status.plist").write_bytes(plistlib.dumps({"SnapshotState": "finished", "Pad": "x" * 5000}))
    with open_source(backup) as source, budget.task(Limits(text=4096)), pytest.raises(UnexpectedFormatError) as error:
        _read_plist(source, "Status.plist")
    assert str(error.value) == "Status.plist: larger than 4096 bytes, not a backup's plist"


# Values a phone can write and iOS reads


def test_a_date_no_datetime_holds_costs_its_value_not_the_file() -> None:
    content = bplist([text("Far"), date(1e300), text("Near"), date(0.0), dictionary([(0, 1), (2, 3)])], top=4)
    assert load_plist(content, "x.plist") == {"Far": 1e300, "Near": datetime(2001, 1, 1)}


def test_keys_that_are_not_text_are_kept_apart() -> None:
    content = bplist([integer(1), text("1"), text("one"), text("string one"), dictionary([(0, 2), (1, 3)])], top=4)
    value = load_plist(content, "x.plist")
    assert value == {1: "one", "1": "string one"}
    assert plain(value) == {"$pairs": [[1, "one"], ["1", "string one"]]}


# Through ``vestige check``: the lookups the cache holds survive whatever one IDStatus holds


def test_a_cache_with_a_reference_cycle_is_a_problem_and_the_run_completes(demo: Path, tmp_path: Path) -> None:
    objects = lookup(array(0))  # IDStatus: an array holding itself
    code, findings = check(with_idstatus(demo, tmp_path, bplist(objects, top=8)), tmp_path / "out")
    assert code == 3
    assert findings["problems"] == [
        {
            "artifact": "ios.idstatuscache",
            "path": IDSTATUS_PATH,
            "reason": f"{IDSTATUS_PATH}: not a valid property list (reference cycle at object 0)",
        }
    ]


def test_a_cache_that_expands_exponentially_is_a_problem_and_the_run_completes(demo: Path, tmp_path: Path) -> None:
    bomb = [integer(0, 1)] + [array(9 + level, 9 + level) for level in range(45)]  # objects 9 to 54
    objects = lookup(array(54)) + bomb  # IDStatus: [the top of the bomb]
    started = time.perf_counter()
    code, findings = check(with_idstatus(demo, tmp_path, bplist(objects, top=8)), tmp_path / "out")
    assert time.perf_counter() - started < 60
    assert code == 3
    assert findings["problems"] == [
        {
            "artifact": "ios.idstatuscache",
            "path": IDSTATUS_PATH,
            "reason": f"{IDSTATUS_PATH}: expands to more than 5000000 objects, shared ones counted at each use"
            + RAISE.format("plist-objects"),
        }
    ]


def records(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "records/ios.idstatuscache.jsonl").read_bytes().splitlines()]


def test_an_idstatus_nested_deeper_than_json_writers_go_is_kept_as_text(demo: Path, tmp_path: Path) -> None:
    around_seven = [integer(7, 1)] + [array(9 + level) for level in range(200)]  # objects 9 to 209
    objects = lookup(array(209)) + around_seven  # IDStatus: 201 arrays around 7
    code, findings = check(with_idstatus(demo, tmp_path, bplist(objects, top=8)), tmp_path / "out")
    assert (code, findings["problems"]) == (0, [])
    [record] = records(tmp_path / "out")
    status = record["fields"]["id_status"]  # type: ignore[index]
    for _ in range(99):
        [status] = status
    assert status == {"$deep": "[" * 102 + "7" + "]" * 102}


def test_an_idstatus_with_keys_that_are_not_text_and_a_huge_integer_is_written(demo: Path, tmp_path: Path) -> None:
    status = dictionary([(9, 10), (11, 12)])
    objects = [*lookup(status), integer(1), integer(1 << 200, 32), text("1"), data(b"\xff")]
    code, findings = check(with_idstatus(demo, tmp_path, bplist(objects, top=8)), tmp_path / "out")
    assert (code, findings["problems"]) == (0, [])
    [record] = records(tmp_path / "out")
    assert record["fields"]["id_status"] == {"$pairs": [[1, str(1 << 200)], ["1", "ff"]]}  # type: ignore[index]
    assert record["summary"] == (
        "com.apple.madrid looked up 'mailto:amina.benali@example.org' "
        f'(status {{"$pairs":[[1,"{1 << 200}"],["1","ff"]]}})'
    )


def test_a_service_and_a_handle_that_are_not_text_are_named_by_their_json(demo: Path, tmp_path: Path) -> None:
    huge = integer((1 << 262_000) + 5, 1 << 15)  # 32 KiB: Python refuses its decimal text
    objects = lookup(integer(1, 1))
    objects[1], objects[2] = huge, data(b"\x00\x01")  # the service and the handle
    code, findings = check(with_idstatus(demo, tmp_path, bplist(objects, top=8)), tmp_path / "out")
    assert (code, findings["problems"]) == (0, [])
    [record] = records(tmp_path / "out")
    service = ('"' + hex((1 << 262_000) + 5))[:199] + "…"  # cut at 200 characters
    assert record["locator"]["key"] == f'{service}/"0001"'  # type: ignore[index]
    assert record["fields"] == {"service": service, "handle": '"0001"', "id_status": 1}
