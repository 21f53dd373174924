"""Case bundles: the records each operation signs, and the operations the state refuses."""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import zipfile
from pathlib import Path

import orjson
import pytest

from tests.builders import tree_digest, zip_folder
from tests.builders.custody import ITEM, PASSPHRASE, Built, cli
from vestige.custody.bag import copy_with_hash
from vestige.custody.case import Case, CaseError, replay
from vestige.custody.keys import generate, load_key, load_trust_list
from vestige.custody.log import digest
from vestige.custody.verify import verify_case


def test_the_built_bundle_has_the_expected_records(built: Built) -> None:
    entries = Case(built.bundle).log.entries()
    assert [e.record["action"] for e in entries] == ["open", "acquire", "analyze", "transfer", "receive", "seal"]
    assert [e.record["seq"] for e in entries] == list(range(6))
    assert entries[0].record["prev"] is None
    assert all(e.record["prev"] == digest(p.envelope.payload) for p, e in itertools.pairwise(entries))
    acquire = entries[1].record
    consent = hashlib.sha256(b"%PDF-1.4 signed consent of the phone's owner").hexdigest()
    assert acquire["authority"] == {"type": "consent", "ref": f"sha256:{consent}"}
    assert acquire["item"] == {"id": ITEM, "kind": "ios-backup", "by_reference": False, "shape": "folder"}
    assert acquire["files"] == 22
    assert [len(e.envelope.signatures) for e in entries] == [1, 1, 1, 2, 1, 1]
    assert entries[5].record["note"] == "sealed for review"


def test_consent_is_recorded_by_digest_and_never_copied(built: Built) -> None:
    for path in built.bundle.rglob("*"):
        if path.is_file():
            assert b"signed consent of the phone" not in path.read_bytes(), path


def test_the_state_after_the_log(built: Built) -> None:
    state = replay(e.record for e in Case(built.bundle).log.entries())
    b = load_key(built.key_b, PASSPHRASE)
    assert (state.case, state.custodian, state.sealed, state.pending) == (
        "CASE-2026-0042",
        b.public.fingerprint,
        True,
        None,
    )
    assert sorted(state.items) == [ITEM]
    assert [a["run"] for a in state.analyses] == ["0001"]


def test_the_analysis_keeps_the_exact_indicator_sets_and_an_attestation(built: Built) -> None:
    folder = built.bundle / "data/analysis/0001"
    indicators = orjson.loads((folder / "indicators.json").read_bytes())
    pegasus = next(i for i in indicators if i["name"] == "amnesty/2021-07-18_nso/pegasus.stix2")
    assert pegasus["file"] == f"data/iocs/{pegasus['sha256']}.stix2"
    assert hashlib.sha256((built.bundle / pegasus["file"]).read_bytes()).hexdigest() == pegasus["sha256"]
    assert (built.bundle / "attestations/analysis-0001.intoto.jsonl").is_file()


def test_operations_that_the_state_refuses(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    a, b = load_key(built.key_a, PASSPHRASE), load_key(built.key_b, PASSPHRASE)
    case = Case(bundle, for_writing=True)
    with pytest.raises(CaseError, match="is not the current custodian"):
        case.simple(a, "note", "a is no longer the custodian")
    with pytest.raises(CaseError, match="the bundle is sealed; 'acquire' needs 'vestige case unseal' first"):
        case.add(built.sample, "ANOTHER", b)
    with pytest.raises(CaseError, match="no transfer is pending"):
        case.receive(a)
    case.transfer(b, a.public)
    with pytest.raises(CaseError, match="a transfer is pending"):
        case.simple(b, "note", "too early")
    stranger = generate("stranger")
    with pytest.raises(CaseError, match="the pending transfer is to"):
        case.receive(stranger)
    case.receive(a)
    case.simple(a, "unseal", "new acquisition")
    with pytest.raises(CaseError, match=f"item {ITEM} is already in the bundle"):
        case.add(built.sample, ITEM, a)
    with pytest.raises(CaseError, match="an item id is letters"):
        case.add(built.sample, "../escape", a)


def test_an_item_by_reference_keeps_only_its_file_list(built: Built, tmp_path: Path) -> None:
    bundle = tmp_path / "ref"
    code, output = cli("case", "new", str(bundle), "--case-id", "C-2", "--examiner", str(built.key_a))
    assert code == 0, output
    code, output = cli(
        "case", "add", str(bundle), str(built.sample), "--item-id", "R1", "--by-reference", "--key", str(built.key_a)
    )
    assert code == 0, output
    assert not (bundle / "data/acquisition").exists()
    assert len((bundle / "data/items/R1/manifest.jsonl").read_text().splitlines()) == 22
    code, output = cli("check", "--case", str(bundle), "R1", "--key", str(built.key_a), "-q")
    assert code == 2
    assert "give its location with --acquisition" in output
    code, output = cli(
        "check", "--case", str(bundle), "R1", "--key", str(built.key_a), "--acquisition", str(built.sample), "-q"
    )
    assert code == 0, output
    assert (bundle / "data/analysis/0001/findings.json").is_file()
    altered = shutil.copytree(built.sample, tmp_path / "altered")
    (altered / "Info.plist").write_bytes((altered / "Info.plist").read_bytes() + b"\n")
    before = tree_digest(bundle)
    code, output = cli(
        "check", "--case", str(bundle), "R1", "--key", str(built.key_a), "--acquisition", str(altered), "-q"
    )
    assert code == 2
    assert "R1: the files at --acquisition are not the ones its acquire record signed" in output
    assert tree_digest(bundle) == before  # nothing recorded, no staging folder left


def test_an_acquisition_that_cannot_be_taken_leaves_the_bundle_as_it_was(
    built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "c"
    assert cli("case", "new", str(bundle), "--case-id", "C-3", "--examiner", str(built.key_a))[0] == 0
    before = tree_digest(bundle)
    odd = shutil.copytree(built.sample, tmp_path / "odd")
    (odd / os.fsdecode(b"notes-\xff.txt")).write_bytes(b"x")
    code, output = cli("case", "add", str(bundle), str(odd), "--item-id", "I1", "--key", str(built.key_a))
    assert code == 2
    assert "notes-\\xff.txt: a file name that is not UTF-8; a case bundle's manifests cannot name it" in output
    copied: list[str] = []

    def failing_copy(source: Path, target: Path) -> tuple[int, str]:
        if len(copied) == 5:
            raise OSError(5, "Input/output error")
        copied.append(source.name)
        return copy_with_hash(source, target)

    monkeypatch.setattr("vestige.custody.case.copy_with_hash", failing_copy)
    with pytest.raises(CaseError, match=r"cannot be copied into the bundle \(Input/output error\)$"):
        Case(bundle, for_writing=True).add(built.sample, "I1", load_key(built.key_a, PASSPHRASE))
    assert tree_digest(bundle) == before
    assert sorted(p.name for p in (bundle / "data").iterdir()) == ["acquisition"]
    assert list((bundle / "data" / "acquisition").iterdir()) == []


def test_key_rotation_and_recorded_documents(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    b = load_key(built.key_b, PASSPHRASE)
    new = generate("examiner-b-2026")
    case = Case(bundle, for_writing=True)
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF report")
    entry = case.simple(b, "report", "report to counsel", [report])
    assert entry.record["inputs"] == [{"name": "report.pdf", "sha256": hashlib.sha256(b"%PDF report").hexdigest()}]
    rotation = case.rotate_key(b, new, "yearly rotation")
    assert {s.keyid for s in rotation.envelope.signatures} == {b.public.fingerprint, new.public.fingerprint}
    assert case.state().custodian == new.public.fingerprint
    with pytest.raises(CaseError, match="is not the current custodian"):
        case.simple(b, "note", "old key")
    case.simple(new, "note", "new key works")
    trust = load_trust_list(built.trust) | {new.public.fingerprint: new.public}
    assert verify_case(bundle, trust).exit_code == 0
    assert verify_case(bundle, load_trust_list(built.trust)).exit_code == 2
    with pytest.raises(CaseError, match="'acquire' is not recorded this way"):
        case.simple(new, "acquire")


def test_a_bundle_inside_the_acquisition_is_refused(built: Built, tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    shutil.copytree(built.sample, evidence)
    bundle = evidence / "case"
    assert cli("case", "new", str(bundle), "--case-id", "C-3", "--examiner", str(built.key_a))[0] == 0
    code, output = cli("case", "add", str(bundle), str(evidence), "--item-id", "I1", "--key", str(built.key_a))
    assert code == 2
    assert "the bundle is inside the acquisition it would take in; put it elsewhere" in output
    assert not (bundle / "data/acquisition").exists()


def test_an_archive_with_a_member_that_cannot_be_read_is_refused_with_nothing_written(
    built: Built, tmp_path: Path
) -> None:
    bzip2 = {p.relative_to(built.sample).as_posix(): zipfile.ZIP_BZIP2 for p in (built.sample / "3d").iterdir()}
    archive = zip_folder(built.sample, tmp_path / "backup.zip", methods=bzip2)
    bundle = tmp_path / "bundle"
    assert cli("case", "new", str(bundle), "--case-id", "C-4", "--examiner", str(built.key_a))[0] == 0
    code, output = cli("case", "add", str(bundle), str(archive), "--item-id", "Z", "--key", str(built.key_a))
    assert code == 2
    assert "cannot be read" in output
    assert sorted(p.name for p in (bundle / "data").iterdir()) == []
    assert cli("verify", str(bundle), "--trust", str(built.trust))[0] == 0
