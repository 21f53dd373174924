"""Values JSON cannot hold (BLOBs in TEXT columns, 64-bit row ids, NaN) never stop a report, and
control characters in evidence never reach the analyst's terminal."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import orjson
import pytest
import rfc8785
from click.testing import CliRunner

from tests.builders import backup_with
from vestige.cli import main
from vestige.ios.sample.schemas import SMS_DB
from vestige.model import Locator, Record
from vestige.network.events import Flow
from vestige.report.encoding import RECORDS_LINE, dumps, i_json, payload_json, record_json, records_line
from vestige.report.timeline import record_line

BIG_ROWID = 2**62 + 1


def test_dumps_writes_bytes_as_base64_and_wide_integers_as_text() -> None:
    value = {"blob": b"\x00\xff", "wide": 2**70, "nan": float("nan"), "fine": 2**63}
    assert dumps(value, orjson.OPT_SORT_KEYS) == (
        b'{"blob":{"base64":"AP8="},"fine":9223372036854775808,"nan":null,"wide":"1180591620717411303424"}'
    )


def test_i_json_keeps_integers_exact_for_canonical_json() -> None:
    assert i_json({"row": 2**53 - 1, "big": [-(2**53), float("inf")], "t": True}) == {
        "row": 2**53 - 1,
        "big": ["-9007199254740992", "inf"],
        "t": True,
    }


def odd_sms(db: sqlite3.Connection) -> None:
    db.execute("INSERT INTO handle (ROWID, id, service) VALUES (1, X'2B3333', 'SMS')")
    db.execute(
        "INSERT INTO message (ROWID, guid, text, handle_id, service, date, is_from_me)"
        " VALUES (?, X'00FF', 'Suivi: https://smscentro.com/p', 1, X'534D53', 737366400000000000, 0)",
        (BIG_ROWID,),
    )


def test_control_characters_from_evidence_never_reach_the_terminal(tmp_path: Path) -> None:
    def hostile(db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT INTO message (ROWID, guid, text, service, date, is_from_me)"
            " VALUES (1, 'g1', ?, 'SMS', 737366400000000000, 0)",
            ("\x1b]0;owned\x07\x1b[2J https://smscentro.com/p",),
        )

    backup = backup_with(tmp_path / "b", [("HomeDomain", "Library/SMS/sms.db", SMS_DB, hostile)])
    (tmp_path / "domains.txt").write_text("smscentro.com\n")
    result = CliRunner().invoke(
        main,
        [
            "check",
            str(backup),
            "-o",
            str(tmp_path / "out"),
            "--ioc-list",
            "domains",
            str(tmp_path / "domains.txt"),
            "-v",
        ],
    )  # -v: the excerpt of each piece of evidence is printed
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert (
        "    SMS received from an unknown handle: \\x1b]0;owned\\x07\\x1b[2J https://smscentro.com/p" in result.output
    )


def test_a_check_reports_blob_fields_and_64_bit_rows(tmp_path: Path) -> None:
    backup = backup_with(tmp_path / "b", [("HomeDomain", "Library/SMS/sms.db", SMS_DB, odd_sms)])
    (tmp_path / "domains.txt").write_text("smscentro.com\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["check", str(backup), "-o", str(out), "--ioc-list", "domains", str(tmp_path / "domains.txt")]
    )
    assert result.exit_code == 0, result.output
    message = orjson.loads((out / "records/ios.sms.jsonl").read_bytes().splitlines()[0])
    assert (message["fields"]["guid"], message["fields"]["handle"], message["fields"]["service"]) == (
        {"base64": "AP8="},
        {"base64": "KzMz"},
        {"base64": "U01T"},
    )
    assert message["locator"]["row"] == BIG_ROWID
    raw = (out / "findings.json").read_bytes()
    document = json.loads(raw)
    assert rfc8785.dumps(document) == raw
    [finding] = [f for f in document["findings"] if f["rule"] == "ios.sms.indicator_match"]
    assert finding["evidence"][0]["locator"]["row"] == str(BIG_ROWID)


@dataclass(frozen=True, slots=True)
class Sample:
    """A payload as an artifact's record carries it: any value evidence may hold."""

    name: str
    value: object


def nested(depth: int) -> object:
    value: object = 0
    for _ in range(depth):
        value = [value]
    return value


MOMENT = datetime(2025, 12, 6, 5, 46, 40, 123456, tzinfo=timezone.utc)
SAMPLES = [
    Sample("plain", {"row": 3, "text": "é", "nan": float("nan"), "flag": True}),
    Sample("bytes", b"\x00\xff"),
    Sample("flow", Flow("tcp", "10.0.0.2", 40000, "93.184.216.34", 443)),
    Sample("64-bit", 2**64 - 1),
    Sample("wide", 2**64),  # orjson refuses it: no shared JSON
    Sample("time", MOMENT),  # the two lines write a time differently: no shared JSON
    Sample("date", date(2025, 12, 6)),
    Sample("keys", {1: "one"}),
    Sample("surrogate", "\udcff"),
    Sample("deep", nested(251)),
    Sample("deeper", nested(252)),
    Sample("deepest", nested(253)),
    Sample("too deep", nested(300)),
]


@pytest.mark.parametrize("payload", SAMPLES, ids=[sample.name for sample in SAMPLES])
@pytest.mark.parametrize("summary", ["a summary", "a summary cut in \udcff"])
def test_a_payload_written_once_gives_both_lines_byte_for_byte(payload: Sample, summary: str) -> None:
    record = Record("t", Locator("p", "00", packet=7), MOMENT, summary, payload, (), "packet time")
    locator = record.locator.parts()
    fields = payload_json(payload)
    assert (fields is None) == (payload.name in ("wide", "time", "date", "keys", "surrogate", "deepest", "too deep"))
    assert records_line(record, locator, 2, fields) == dumps(record_json(record, locator, 2), RECORDS_LINE)
    assert record_line(record, locator, fields) == record_line(record, locator)
