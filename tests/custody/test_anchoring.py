"""RFC 3161 anchoring of the custody log with a real TSA on loopback (openssl ts)."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.builders.custody import Built, cli
from tests.custody.tsa import TimestampAuthority
from tests.custody.tsa import tsa_fixture as tsa_fixture  # the session fixture "tsa"
from vestige.custody.keys import load_trust_list
from vestige.custody.verify import CHAIN, WARNING, verify_case


def test_online_anchor_then_offline_verification(built: Built, tsa: TimestampAuthority, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    chain = tmp_path / "tsa-chain.pem"
    chain.write_bytes(tsa.pki.pem("tsa-rsa") + tsa.pki.pem("ca"))
    code, output = cli(
        "case", "timestamp", str(bundle), "--tsa", tsa.url("/rsa"), "--tsa-cert", str(chain), "--key", str(built.key_b)
    )
    assert code == 0, output
    assert "anchored custody/checkpoints/000006.json" in output
    assert sorted(p.name for p in (bundle / "custody/timestamps").iterdir()) == [
        "000006.pem",
        "000006.tsq",
        "000006.tsr",
    ]
    anchor = orjson.loads(bundle.joinpath("custody/custody.jsonl").read_bytes().splitlines()[-1])
    assert anchor["payloadType"] == "application/vnd.vestige.custody+json"
    roots = tsa.pki.pem("ca")
    report = verify_case(bundle, load_trust_list(built.trust), tsa_roots=roots)
    assert report.exit_code == 0, [c for c in report.checks if not c.ok]
    [stamp] = [c.message for c in report.checks if c.area == "timestamps"]
    assert stamp.startswith("the log up to 000006.json existed before ")
    unanchored_roots = verify_case(bundle, load_trust_list(built.trust))
    assert unanchored_roots.exit_code == WARNING
    impostor = verify_case(bundle, load_trust_list(built.trust), tsa_roots=tsa.pki.pem("impostor-ca"))
    assert impostor.exit_code == CHAIN


def test_offline_request_then_a_token_brought_back(built: Built, tsa: TimestampAuthority, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    code, output = cli("case", "timestamp", str(bundle), "--key", str(built.key_b))
    assert code == 0, output
    request = bundle / "custody/timestamps/000006.tsq"
    assert "send it to a TSA" in output
    token = tmp_path / "token.tsr"
    token.write_bytes(tsa.reply("rsa", request.read_bytes()))
    chain = tmp_path / "chain.pem"
    chain.write_bytes(tsa.pki.pem("tsa-rsa") + tsa.pki.pem("ca"))
    code, output = cli(
        "case", "timestamp", str(bundle), "--response", str(token), "--tsa-cert", str(chain), "--key", str(built.key_b)
    )
    assert code == 0, output
    assert verify_case(bundle, load_trust_list(built.trust), tsa_roots=tsa.pki.pem("ca")).exit_code == 0


def test_a_token_for_another_checkpoint_is_refused(built: Built, tsa: TimestampAuthority, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    cli("case", "timestamp", str(bundle), "--key", str(built.key_b))
    other = built.copy(tmp_path / "other")
    cli("case", "note", str(other), "moves the log on", "--key", str(built.key_b))
    cli("case", "timestamp", str(other), "--key", str(built.key_b))
    token = tmp_path / "token.tsr"
    token.write_bytes(tsa.reply("rsa", (other / "custody/timestamps/000007.tsq").read_bytes()))
    chain = tmp_path / "chain.pem"
    chain.write_bytes(tsa.pki.pem("tsa-rsa") + tsa.pki.pem("ca"))
    code, output = cli(
        "case", "timestamp", str(bundle), "--response", str(token), "--tsa-cert", str(chain), "--key", str(built.key_b)
    )
    assert code == 2
    assert "vestige:" in output


def test_a_token_or_chain_other_than_the_signed_one_is_refused(
    built: Built, tsa: TimestampAuthority, tmp_path: Path
) -> None:
    from tests.custody.test_verify import rewrite_manifests

    bundle = built.copy(tmp_path / "b")
    chain = tmp_path / "tsa-chain.pem"
    chain.write_bytes(tsa.pki.pem("tsa-rsa") + tsa.pki.pem("ca"))
    code, output = cli(
        "case", "timestamp", str(bundle), "--tsa", tsa.url("/rsa"), "--tsa-cert", str(chain), "--key", str(built.key_b)
    )
    assert code == 0, output
    (bundle / "custody/timestamps/000006.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\njunk\n")
    rewrite_manifests(bundle)
    report = verify_case(bundle, load_trust_list(built.trust), tsa_roots=tsa.pki.pem("ca"))
    assert report.exit_code == CHAIN
    assert [c.message for c in report.checks if not c.ok] == [
        "000006.json: the token or chain is not the one the anchor record signed"
    ]
