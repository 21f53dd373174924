"""Issue 10, class 1: bytes of a bundle that nothing signed used to pass as signed. Each one is now
either covered by a signature or refused: bag-info.txt (committed by every record; only the labels
vestige writes, each once), key hints (their names are claims, and must be the signed handle),
other manifests, timestamp requests (recomputed), and anything around a DSSE envelope."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest

from tests.builders.custody import Built, cli
from tests.custody.test_verify import log_lines, rewrite_manifests, write_log
from vestige.custody.dsse import Envelope, EnvelopeError
from vestige.custody.keys import generate


def verify(bundle: Path, trust: Path) -> tuple[int, list[str]]:
    code, output = cli("verify", str(bundle), "--trust", str(trust))
    return code, output.splitlines()


def failures(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith(("FAIL", "warning"))]


def test_a_rewritten_source_organization_is_not_signed(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    info = bundle / "bag-info.txt"
    info.write_text(info.read_text().replace("External-Identifier", "External-Identifier").rstrip("\n") + "\n")
    lines = info.read_text().splitlines()
    lines.append("Source-Organization: Office of the Chief Inspector")
    info.write_text("".join(f"{line}\n" for line in sorted(lines)))
    rewrite_manifests(bundle)
    code, output = verify(bundle, built.trust)
    assert code == 1
    assert failures(output) == ["FAIL    bundle        bag-info.txt is not the one the last record signed"]


def test_an_added_label_and_an_earlier_duplicate_identifier_are_refused(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    info = bundle / "bag-info.txt"
    text = info.read_text().replace("Bag-Type:", "External-Description: reviewed and approved by the court\nBag-Type:")
    info.write_text("External-Identifier: CASE-OTHER\n" + text)
    rewrite_manifests(bundle)
    code, output = verify(bundle, built.trust)
    assert code == 1
    assert failures(output) == [
        "FAIL    integrity     bag-info.txt: line 3 has the label 'External-Description', which vestige does not write",
        "FAIL    integrity     bag-info.txt: line 6 repeats the label External-Identifier",
        "FAIL    bundle        bag-info.txt does not name the case and bundle type the log opened",
        "FAIL    bundle        bag-info.txt is not the one the last record signed",
    ]


def test_a_key_hint_name_is_shown_as_a_claim_and_must_be_the_signed_one(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    trusted_a = built.trust.read_text().splitlines()[0]
    fingerprint_b = [p.stem for p in (bundle / "custody/keys").iterdir() if p.read_text().endswith(" examiner-b\n")]
    hint = bundle / f"custody/keys/{fingerprint_b[0]}.pub"
    hint.write_text(hint.read_text().replace(" examiner-b\n", " Chief Inspector Jane Roe\n"))
    rewrite_manifests(bundle)
    code, output = verify(bundle, built.trust)
    assert code == 1
    assert f"key ed25519:{fingerprint_b[0]} examiner-b: trusted" in output
    assert failures(output) == [
        f"FAIL    keys          custody/keys/{fingerprint_b[0]}.pub: its name 'Chief Inspector Jane Roe' is not "
        "the one the signed records give it"
    ]
    only_a = tmp_path / "only-a.txt"
    only_a.write_text(trusted_a + "\n")
    code, output = verify(bundle, only_a)
    assert code == 1
    assert (
        f"key ed25519:{fingerprint_b[0]} (the bundle claims it is 'Chief Inspector Jane Roe'): NOT in your trust list"
        in output
    )
    assert not any("Jane Roe: trusted" in line for line in output)


def test_another_tag_manifest_is_refused(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    (bundle / "tagmanifest-md5.txt").write_text("0123456789abcdef0123456789abcdef  bag-info.txt\n")
    (bundle / "manifest-md5.txt").write_text("0123456789abcdef0123456789abcdef  data/x\n")
    rewrite_manifests(bundle)
    code, output = verify(bundle, built.trust)
    assert code == 1
    assert failures(output) == [
        "FAIL    integrity     manifest-md5.txt: a manifest vestige does not write (it writes SHA-256 only)",
        "FAIL    integrity     tagmanifest-md5.txt: a manifest vestige does not write (it writes SHA-256 only)",
        "FAIL    bundle        manifest-md5.txt: a file that no record or checkpoint accounts for",
        "FAIL    bundle        tagmanifest-md5.txt: a file that no record or checkpoint accounts for",
    ]


def test_a_timestamp_request_is_recomputed_and_anything_else_refused(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    code, output = cli("case", "timestamp", str(bundle), "--key", str(built.key_b))
    assert code == 0, output
    assert verify(bundle, built.trust)[0] == 0
    request = bundle / "custody/timestamps/000006.tsq"
    request.write_bytes(request.read_bytes() + b"\x00hidden")
    (bundle / "custody/timestamps/000002.tsq").write_bytes(b"arbitrary bytes")
    rewrite_manifests(bundle)
    code, output = verify(bundle, built.trust)
    assert code == 1
    assert failures(output) == [
        "FAIL    timestamps    custody/timestamps/000002.tsq: not the RFC 3161 request for 000002.json vestige "
        "writes (15 bytes)",
        "FAIL    timestamps    custody/timestamps/000006.tsq: not the RFC 3161 request for 000006.json vestige "
        "writes (66 bytes)",
    ]


def test_an_extra_field_in_a_log_lines_envelope_is_refused(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    lines = log_lines(bundle)
    document = orjson.loads(lines[5])
    document["comment"] = "approved by the court"
    lines[5] = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    write_log(bundle, lines)
    rewrite_manifests(bundle)
    code, output = verify(bundle, built.trust)
    assert code == 2
    assert failures(output)[0] == (
        "FAIL    custody       custody/custody.jsonl line 6: not a DSSE envelope (its fields are not exactly "
        "payload, payloadType, signatures)"
    )


def test_a_blank_line_or_spacing_around_the_log_lines_is_refused(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    lines = log_lines(bundle)
    (bundle / "custody/custody.jsonl").write_bytes(b"\n".join(lines[:3]) + b"\n\n" + b"\n".join(lines[3:]) + b"\n ")
    rewrite_manifests(bundle)
    code, output = verify(bundle, built.trust)
    assert code == 2
    assert failures(output)[:3] == [
        "FAIL    custody       custody/custody.jsonl: the last line does not end with a line feed",
        "FAIL    custody       custody/custody.jsonl line 4: an empty line",
        "FAIL    custody       custody/custody.jsonl line 8: not a DSSE envelope (not JSON)",
    ]


@pytest.mark.parametrize(
    "spelling",
    [
        b'{"payload":"e30=","payloadType":"t","signatures":[]} ',
        b'{"payloadType":"t","payload":"e30=","signatures":[]}',
        b'{"payload":"e30=","payloadType":"t","payloadType":"t","signatures":[]}',
        b'{"payload":"e31=","payloadType":"t","signatures":[]}',
    ],
)
def test_an_envelope_is_read_only_in_the_one_encoding_vestige_writes(spelling: bytes) -> None:
    with pytest.raises(EnvelopeError, match="in the one encoding vestige writes"):
        Envelope.parse(spelling)
    assert Envelope.parse(b'{"payload":"e30=","payloadType":"t","signatures":[]}').payload == b"{}"


def test_an_envelope_signed_twice_by_one_key_or_with_a_foreign_signature_field_is_refused() -> None:
    key = generate("a")
    signed = Envelope("t", b"{}").signed(key).as_json()
    twice = {**signed, "signatures": signed["signatures"] * 2}  # type: ignore[operator]
    with pytest.raises(EnvelopeError, match="a key signs it twice"):
        Envelope.parse(orjson.dumps(twice, option=orjson.OPT_SORT_KEYS))
    extra = {**signed, "signatures": [{**signed["signatures"][0], "cert": base64.b64encode(b"x").decode()}]}  # type: ignore[index]
    with pytest.raises(EnvelopeError, match="a signature's fields are not exactly keyid, sig"):
        Envelope.parse(orjson.dumps(extra, option=orjson.OPT_SORT_KEYS))
