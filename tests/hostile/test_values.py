"""Odd values evidence can produce (issue 9, classes 1 and 2, and "nothing lost"): every one is encoded,
none stops a report, and one bad row costs at most that row.

``plain`` (property list values as JSON), ``report.encoding`` (records and timeline lines, canonical
``findings.json``), ``Locator`` and ``finding_id`` are given cycles, nesting past the recursion limit,
keys that are not text, integers of any size, NaN, bytes, UIDs and times at the edges of the calendar;
a SQLite table keyed by BLOBs goes through ``vestige check``.
"""

from __future__ import annotations

import json
import plistlib
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import rfc8785
from click.testing import CliRunner

from tests.builders import backup_with
from vestige.cli import main
from vestige.evidence.plist import plain
from vestige.ios.sample.schemas import SMS_DB
from vestige.model import JSON, Locator, Record, finding_id, format_time
from vestige.report.encoding import dumps, i_json, record_json
from vestige.report.timeline import microseconds, record_line

HUGE = 10**5000  # Python refuses the decimal text of an integer this wide


def cyclic() -> list[object]:
    looping: list[object] = [1]
    looping.append(looping)
    return looping


def nested(levels: int) -> list[object]:
    value: list[object] = [0]
    for _ in range(levels - 1):
        value = [value]
    return value


def unwrap(value: object, levels: int) -> object:
    for _ in range(levels):
        assert isinstance(value, list) and len(value) == 1
        value = value[0]
    return value


def test_plain_encodes_cycles_and_keeps_shared_values_whole() -> None:
    shared = [1]
    mapping: dict[str, object] = {}
    mapping["self"] = mapping
    assert plain(cyclic()) == [1, {"$cycle": 1}]
    assert plain(mapping) == {"self": {"$cycle": 1}}
    assert plain([shared, shared]) == [[1], [1]]


def test_plain_keeps_nesting_past_the_recursion_limit_as_text() -> None:
    value = plain(nested(100_000))
    assert unwrap(value, 99) == {"$deep": "[" * 99_901 + "0" + "]" * 99_901}
    assert orjson.loads(orjson.dumps(value)) == value  # orjson stops at 255 levels: this is well within


def test_plain_keeps_keys_that_are_not_text_apart() -> None:
    assert plain({1: "a", "1": "b"}) == {"$pairs": [[1, "a"], ["1", "b"]]}
    assert plain({b"k": 1, (1, 2): 2, None: 3, "s": 4}) == {"$pairs": [["6b", 1], [[1, 2], 2], [None, 3], ["s", 4]]}


def test_plain_writes_what_json_cannot_hold_as_text() -> None:
    value = [
        HUGE,
        2**64,
        2**64 - 1,
        -(2**63),
        float("nan"),
        float("-inf"),
        b"\x00\xff",
        plistlib.UID(2**63),
        datetime.min,
        datetime.max.replace(tzinfo=timezone.utc),
    ]
    assert plain(value) == [
        hex(HUGE),
        "18446744073709551616",
        2**64 - 1,
        -(2**63),
        "nan",
        "-inf",
        "00ff",
        2**63,
        "0001-01-01T00:00:00",
        "9999-12-31T23:59:59.999999+00:00",
    ]


HOSTILE: dict[object, object] = {
    "cycle": cyclic(),
    "keys": {1: "a", "1": "b"},
    "huge": HUGE,
    "wide": 2**70,
    "blob": b"\x01",
    "uid": plistlib.UID(3),
    "nan": float("nan"),
}


def test_dumps_writes_every_odd_value_of_a_record_line() -> None:
    assert dumps(HOSTILE, orjson.OPT_SORT_KEYS) == (
        b'{"blob":{"base64":"AQ=="},"cycle":[1,{"$cycle":1}],"huge":"' + hex(HUGE).encode() + b'",'
        b'"keys":{"$pairs":[[1,"a"],["1","b"]]},"nan":null,"uid":"UID(3)","wide":"1180591620717411303424"}'
    )
    assert dumps({"text": "x\udcff"}, 0) == b'{"text":"x\\\\udcff"}'  # an undecodable byte, as Python keeps it
    deep = orjson.loads(dumps({"deep": nested(5_000)}, 0))
    assert unwrap(deep["deep"], 98) == {"$deep": "[" * 4_902 + "0" + "]" * 4_902}  # the record is level 1


def test_i_json_gives_canonical_json_of_every_odd_value() -> None:
    value = i_json({"cycle": cyclic(), "keys": {1: "a"}, "huge": HUGE, "nan": float("nan"), "row": 2**53})  # type: ignore[dict-item]
    assert rfc8785.dumps(value) == (
        b'{"cycle":[1,{"$cycle":1}],"huge":"' + hex(HUGE).encode() + b'","keys":{"$pairs":[[1,"a"]]},'
        b'"nan":"nan","row":"9007199254740992"}'
    )


@dataclass(frozen=True, slots=True)
class RawValue:
    """A payload carrying a raw plist value, as a plugin might."""

    value: JSON


def test_a_record_with_an_odd_payload_is_written_to_its_file_and_the_timeline() -> None:
    when = datetime(2024, 5, 14, 9, 0, tzinfo=timezone.utc)
    raw = {1: HUGE, "loop": cyclic()}
    record = Record("test.raw", Locator("a.plist", "00"), when, "odd", RawValue(raw))  # type: ignore[arg-type]
    line = dumps(record_json(record, record.locator.parts()), orjson.OPT_UTC_Z)
    assert orjson.loads(line)["fields"] == {"value": {"$pairs": [[1, hex(HUGE)], ["loop", [1, {"$cycle": 1}]]]}}
    event = record_line(record)
    assert event is not None and event[0] == 1715677200000000
    assert orjson.loads(event[1])["value"] == {"$pairs": [[1, hex(HUGE)], ["loop", [1, {"$cycle": 1}]]]}


def test_naive_and_edge_of_calendar_times_are_written() -> None:
    assert format_time(datetime(2024, 1, 1)) == "2024-01-01T00:00:00.000000Z"
    east = timezone(timedelta(hours=1))
    assert format_time(datetime(1, 1, 1, tzinfo=east)) == "0001-01-01T00:00:00.000000+01:00"
    assert microseconds(datetime(1970, 1, 1, 0, 0, 1)) == 1_000_000


# Row ids that are not integers (class 2)


def test_a_row_keyed_by_anything_but_an_integer_is_named_by_its_key() -> None:
    assert Locator.of_row("a.db", "00", "message", "ROWID", 7) == Locator("a.db", "00", "message", 7)
    assert Locator.of_row("a.db", "00", "message", "ROWID", b"\x01").key == "ROWID = x'01'"
    assert Locator.of_row("a.db", "00", "message", "ROWID", "it's").key == "ROWID = 'it''s'"
    assert Locator.of_row("a.db", "00", "message", "ROWID", 1.5).key == "ROWID = 1.5"
    assert Locator.of_row("a.db", "00", "message", "ROWID", None).key == "ROWID IS NULL"


def test_a_finding_id_takes_whatever_a_locator_holds() -> None:
    blob_row = Locator("a.db", "00", "message", b"\x01")  # type: ignore[arg-type]
    wide_row = Locator("a.db", "00", "message", 2**80)
    assert blob_row.as_json() == {"path": "a.db", "sha256": "00", "table": "message", "row": "x'01'"}
    assert wide_row.as_json()["row"] == "1208925819614629174706176"
    assert finding_id("r", [blob_row.as_json()], []) == finding_id(
        "r", [{"path": "a.db", "sha256": "00", "table": "message", "row": "x'01'"}], []
    )
    assert finding_id("r", [{"row": b"\x01"}], []) == finding_id("r", [{"row": "x'01'"}], [])  # type: ignore[dict-item]


def blob_keyed_sms(db: sqlite3.Connection) -> None:
    """Two messages with the same indicator link, in a ``message`` table whose ROWID column is a BLOB key."""
    for key, guid in ((b"\x01", "g1"), (b"\x02", "g2")):
        db.execute(
            "INSERT INTO message (ROWID, guid, text, service, date, is_from_me)"
            " VALUES (?, ?, 'Suivi: https://smscentro.com/p', 'SMS', 737366400000000000, 0)",
            (key, guid),
        )


def test_rows_keyed_by_blobs_give_one_finding_each(tmp_path: Path) -> None:
    schema = SMS_DB.replace(
        "CREATE TABLE message (ROWID INTEGER PRIMARY KEY AUTOINCREMENT,",
        "CREATE TABLE message (ROWID BLOB PRIMARY KEY,",
    )
    assert schema != SMS_DB
    backup = backup_with(tmp_path / "b", [("HomeDomain", "Library/SMS/sms.db", schema, blob_keyed_sms)])
    (tmp_path / "domains.txt").write_text("smscentro.com\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["check", str(backup), "-o", str(out), "--ioc-list", "domains", str(tmp_path / "domains.txt")]
    )
    assert result.exit_code == 0, result.output
    document = json.loads((out / "findings.json").read_bytes())
    matches = [f for f in document["findings"] if f["rule"] == "ios.sms.indicator_match"]
    assert sorted(m["evidence"][0]["locator"].get("key") for m in matches) == ["ROWID = x'01'", "ROWID = x'02'"]
    assert len({m["id"] for m in matches}) == 2
