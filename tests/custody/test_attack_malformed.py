"""Issue 10, class 10: malformed input makes ``verify`` answer exit 1 or 2 with a sentence, never a
crash (exit 70) or a hang; ``--reproduce`` runs only on a bundle that verified, reads only inside it,
and reports whatever stops a re-run as that analysis's result."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from tests.builders.custody import Built, cli
from tests.custody.test_verify import log_lines, rewrite_manifests, write_log
from vestige.custody.case import Case, CaseError, pinned_sets
from vestige.custody.dsse import CUSTODY_TYPE, Envelope
from vestige.custody.keys import load_trust_list
from vestige.custody.log import LogError, canonical, parse_line
from vestige.custody.verify import INTEGRITY, REPRODUCTION, ReproductionUnavailableError, verify_case


def failures(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(("FAIL", "warning"))]


def test_a_byte_that_is_not_utf8_in_bag_info_is_a_sentence(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    info = bundle / "bag-info.txt"
    info.write_bytes(info.read_bytes().replace(b"Bag-Type: vestige", b"Bag-Type: v\xffestige"))
    rewrite_manifests(bundle)
    code, output = cli("verify", str(bundle), "--trust", str(built.trust))
    assert code == 1
    assert failures(output) == [
        "FAIL    integrity     bag-info.txt: not UTF-8 text (byte 45)",
        "FAIL    bundle        bag-info.txt does not name the case and bundle type the log opened",
        "FAIL    bundle        bag-info.txt is not the one the last record signed",
    ]


@pytest.mark.parametrize("oxum", ["6052349.5\u0664", "\u00b2.54", "12.54 ", "0x10.54"])
def test_a_payload_oxum_that_is_not_ascii_digits_is_a_sentence(built: Built, tmp_path: Path, oxum: str) -> None:
    bundle = built.copy(tmp_path / "b")
    info = bundle / "bag-info.txt"
    lines = [
        f"Payload-Oxum: {oxum}" if line.startswith("Payload-Oxum") else line for line in info.read_text().split("\n")
    ]
    info.write_text("\n".join(lines))
    code, output = cli("verify", str(bundle), "--trust", str(built.trust))
    assert code == 1
    expected = (
        "FAIL    integrity     bag-info.txt: line 5 is not 'Label: value' as vestige writes it"
        if oxum.endswith(" ")
        else "FAIL    integrity     bag-info.txt: Payload-Oxum is not '<octets>.<files>' in ASCII digits"
    )
    assert expected in failures(output)


def test_an_integer_beyond_i_json_in_a_log_payload_is_a_sentence(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    lines = log_lines(bundle)
    record = orjson.loads(Envelope.parse(lines[-1]).payload)
    record["files"] = 2**60
    lines[-1] = Envelope(CUSTODY_TYPE, orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).line()
    write_log(bundle, lines)
    rewrite_manifests(bundle)
    code, output = cli("verify", str(bundle), "--trust", str(built.trust))
    assert code == 2
    assert failures(output)[0] == (
        "FAIL    custody       custody/custody.jsonl line 6: the payload is not RFC 8785 JSON (a number beyond the "
        "I-JSON range)"
    )
    with pytest.raises(LogError, match=r"line 9: the payload is not RFC 8785 JSON"):
        parse_line(lines[-1], 9)


def test_a_record_of_the_wrong_shape_is_named_field_by_field(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    lines = log_lines(bundle)
    record = orjson.loads(Envelope.parse(lines[3]).payload)
    record["counterparty"] = "examiner-b"
    record["seq"] = True
    lines[3] = Envelope(CUSTODY_TYPE, canonical(record)).line()
    write_log(bundle, lines)
    rewrite_manifests(bundle)
    code, output = cli("verify", str(bundle), "--trust", str(built.trust))
    assert code == 2
    assert failures(output)[:4] == [
        "FAIL    custody       record 3: seq is not of the type vestige writes",
        "FAIL    custody       record 3: counterparty is not an object",
        "FAIL    custody       record 3: seq is True, expected 3",
        "FAIL    custody       record 4: prev does not match the previous record",
    ]


def test_reproduce_is_not_run_on_a_bundle_that_did_not_verify(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    (bundle / "data/analysis/0001/timeline.jsonl").write_bytes(b"")
    ran: list[str] = []

    def reanalyse(run: str, root: Path) -> bytes:
        ran.append(run)
        return b"{}"

    report = verify_case(bundle, load_trust_list(built.trust), reanalyse)
    assert ran == []
    assert report.exit_code == INTEGRITY
    assert [c.message for c in report.checks if c.area == "reproduce"] == [
        "not run: only a bundle whose integrity and signatures verified is run again"
    ]


def test_whatever_stops_a_reproduction_is_its_result_not_a_crash(built: Built) -> None:
    def reanalyse(run: str, root: Path) -> bytes:
        raise sqlite3.DatabaseError("database disk image is malformed")

    report = verify_case(built.bundle, load_trust_list(built.trust), reanalyse)
    assert report.exit_code == REPRODUCTION
    assert [(c.message, c.code) for c in report.checks if c.area == "reproduce"] == [
        ("analysis 0001: could not be run again (DatabaseError: database disk image is malformed)", REPRODUCTION)
    ]


def test_reproduction_reads_indicator_sets_only_from_the_bundle(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    secret = tmp_path / "secret.txt"
    secret.write_text("example.com\n")
    folder = bundle / "data/analysis/0001"
    indicators = orjson.loads((folder / "indicators.json").read_bytes())
    indicators[0]["file"] = "../secret.txt"
    (folder / "indicators.json").write_bytes(orjson.dumps(indicators))
    with pytest.raises(ReproductionUnavailableError, match=r"^'\.\./secret\.txt': not an indicator set file inside"):
        pinned_sets(bundle, folder)
    indicators[0]["file"] = f"data/iocs/{'0' * 64}.txt"
    (folder / "indicators.json").write_bytes(orjson.dumps(indicators))
    (bundle / "data/iocs").joinpath(f"{'0' * 64}.txt").symlink_to(secret)
    with pytest.raises(OSError, match="a symbolic link, not a regular file"):
        pinned_sets(bundle, folder)


def test_an_item_file_name_leading_out_of_the_bundle_is_refused(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    description = bundle / "data/items/CASE-2026-0042-001A/item.json"
    document = orjson.loads(description.read_bytes())
    document["source"] = {"shape": "archive", "name": "../../../../etc/passwd", "within": ""}
    description.write_bytes(orjson.dumps(document))
    with pytest.raises(CaseError, match="is not a name inside the bundle"):
        Case(bundle).item_location("CASE-2026-0042-001A")
    with pytest.raises(CaseError, match="not an item id"):
        Case(bundle).item_location("../x")


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("bag-info.txt", b"\x00\x01\xfe", 1),
        ("bagit.txt", b"BagIt-Version: 0.97\n", 1),
        ("manifest-sha256.txt", b"not a manifest", 1),
        ("tagmanifest-sha256.txt", b"\xff", 1),
        ("custody/custody.jsonl", b"[]\n{}\n\xff\n", 2),
        ("custody/checkpoints/000003.json", b'{"payloadType": 1}', 2),
        ("attestations/analysis-0001.intoto.jsonl", b"null", 2),
        ("data/items/CASE-2026-0042-001A/item.json", b"[", 1),
        ("VERIFY.md", b"", 1),
    ],
)
def test_garbage_in_any_file_is_exit_1_or_2_with_a_sentence(
    built: Built, tmp_path: Path, name: str, content: bytes, code: int
) -> None:
    bundle = built.copy(tmp_path / "b")
    (bundle / name).write_bytes(content)
    if name not in ("manifest-sha256.txt", "tagmanifest-sha256.txt"):
        rewrite_manifests(bundle)
    result, output = cli("verify", str(bundle), "--trust", str(built.trust))
    assert (result, output.splitlines()[-1]) == (
        code,
        f"{'integrity failure' if code == 1 else 'signature, trust or chain failure'} (exit {code})",
    )
    result, output = cli("verify", str(bundle), "--trust", str(built.trust), "--json")
    assert orjson.loads(output)["exit_code"] == code
