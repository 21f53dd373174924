"""Selective disclosure: a package verifies on its own; substitutions and forged proofs are caught."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import pytest

from tests.builders.custody import PASSPHRASE, Built
from vestige.custody.disclose import DOCUMENT, disclose, verify_disclosure
from vestige.custody.keys import load_key, load_trust_list
from vestige.custody.verify import INTEGRITY


@pytest.fixture
def package(built: Built, tmp_path: Path) -> Path:
    bundle = built.copy(tmp_path / "bundle")
    findings = orjson.loads((bundle / "data/analysis/0001/findings.json").read_bytes())["findings"]
    sms = next(f["id"] for f in findings if f["rule"] == "ios.sms.indicator_match")
    return disclose(bundle, [sms[:8]], tmp_path / "package", load_key(built.key_b, PASSPHRASE))


def rewrite(root: Path) -> None:
    from tests.custody.test_verify import rewrite_manifests

    rewrite_manifests(root)


def test_a_package_verifies_without_the_rest_of_the_acquisition(package: Path, built: Built) -> None:
    report = verify_disclosure(package, load_trust_list(built.trust))
    assert report.exit_code == 0, [c for c in report.checks if not c.ok]
    assert report.facts["withheld"] == {"CASE-2026-0042-001A": {"files": 21, "of": 22}}
    evidence = sorted(p.relative_to(package).as_posix() for p in (package / "data/evidence").rglob("*") if p.is_file())
    assert evidence == ["data/evidence/CASE-2026-0042-001A/3d/3d0d7e5fb2ce288813306e4d4636395e047a3d28"]
    assert not (package / "data/acquisition").exists()
    assert [c.message.split(":")[0] for c in report.checks if c.area == "findings"] == [
        f"finding {orjson.loads((package / DOCUMENT).read_bytes())['findings'][0]['finding']['id']}"
    ]


def test_the_export_is_logged_in_the_case(package: Path) -> None:
    log = (package / "custody/custody.jsonl").read_bytes().splitlines()
    assert len(log) == 7


def test_a_substituted_cited_file_is_rejected(package: Path, built: Built) -> None:
    cited = next((package / "data/evidence").rglob("3d0d7e5f*"))
    cited.write_bytes(cited.read_bytes().replace(b"smscentro", b"example00"))
    rewrite(package)
    report = verify_disclosure(package, load_trust_list(built.trust))
    assert report.exit_code == INTEGRITY
    assert any("the disclosed file is not the one in the acquisition" in c.message for c in report.checks)


def test_a_proof_for_a_leaf_that_is_not_in_the_tree_is_rejected(package: Path, built: Built) -> None:
    document = orjson.loads((package / DOCUMENT).read_bytes())
    leaf = document["evidence"][0]["leaf"]
    forged = b"a file that was never acquired"
    leaf["sha256"] = hashlib.sha256(forged).hexdigest()
    leaf["size"] = len(forged)
    document["findings"][0]["finding"]["evidence"][0]["locator"]["sha256"] = leaf["sha256"]
    (package / DOCUMENT).write_bytes(orjson.dumps(document))
    next((package / "data/evidence").rglob("3d0d7e5f*")).write_bytes(forged)
    rewrite(package)
    report = verify_disclosure(package, load_trust_list(built.trust))
    assert report.exit_code == INTEGRITY
    messages = [c.message for c in report.checks if not c.ok]
    assert any("its inclusion proof does not reach the signed item root" in m for m in messages)
    assert any("not proven to be in the attested findings" in m for m in messages)


def test_a_planted_file_is_rejected(package: Path, built: Built) -> None:
    planted = package / "data/evidence/CASE-2026-0042-001A/HomeDomain/Library/SMS/sms-deleted.db"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"fabricated")
    rewrite(package)
    report = verify_disclosure(package, load_trust_list(built.trust))
    assert report.exit_code == INTEGRITY  # the document still matches, but the package holds a stray file
    messages = [c.message for c in report.checks if not c.ok]
    assert any("a file no proof accounts for" in m for m in messages)


def test_a_missing_cited_file_is_rejected(package: Path, built: Built) -> None:
    next((package / "data/evidence").rglob("3d0d7e5f*")).unlink()
    rewrite(package)
    report = verify_disclosure(package, load_trust_list(built.trust))
    assert report.exit_code == INTEGRITY
    messages = [c.message for c in report.checks if not c.ok]
    assert any(m.endswith("the cited file is missing from the package") for m in messages), messages


def test_the_document_must_be_the_one_a_signed_export_named(package: Path, built: Built) -> None:
    document = orjson.loads((package / DOCUMENT).read_bytes())
    document["withheld"] = {"CASE-2026-0042-001A": {"files": 0, "of": 1}}
    (package / DOCUMENT).write_bytes(orjson.dumps(document))
    rewrite(package)
    report = verify_disclosure(package, load_trust_list(built.trust))
    assert report.exit_code == INTEGRITY
    messages = [c.message for c in report.checks if not c.ok]
    assert f"{DOCUMENT} is not named by a signed export record of the log" in messages
    assert "the withheld counts the document states are not what its proofs show" in messages


def test_a_case_bundle_dressed_as_a_disclosure_does_not_verify(built: Built, tmp_path: Path) -> None:
    from tests.builders.custody import cli

    bundle = built.copy(tmp_path / "dressed")
    findings = bundle / "data/analysis/0001/findings.json"
    document = orjson.loads(findings.read_bytes())
    document["findings"] = []
    findings.write_bytes(orjson.dumps(document))
    info = (bundle / "bag-info.txt").read_text().replace("vestige-case/1", "vestige-disclosure/1")
    (bundle / "bag-info.txt").write_text(info)
    (bundle / DOCUMENT).write_bytes(b'{"findings": [], "evidence": []}')
    rewrite(bundle)
    code, output = cli("verify", str(bundle), "--trust", str(built.trust), "--reproduce")
    assert code != 0, output
    assert "is not named by a signed export record" in output
