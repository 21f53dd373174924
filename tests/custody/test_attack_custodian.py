"""Issue 10, classes 7 to 9: what a trusted but dishonest custodian could sign past ``verify``.

Sealed now means unchanged (the payload manifest of every record while sealed is the seal's),
run.json is attested and an analysis folder holds only the files its attestation lists; an item is
acquired once; an action vestige does not know, or an actor calling itself by another name than
your trust list gives its key, fails; the vestige package an analysis names is checked against the
releases this vestige knows."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import pytest

from tests.builders.custody import ITEM, PASSPHRASE, Built, cli
from tests.custody.forge import append_record
from vestige.custody.case import Case
from vestige.custody.dsse import Envelope
from vestige.custody.keys import load_key, load_trust_list
from vestige.custody.verify import CHAIN, INTEGRITY, WARNING, Report, verify_case


def problems(report: Report) -> list[tuple[str, str, int]]:
    return [(c.area, c.message, c.code) for c in report.checks if not c.ok]


def rewrite_analysis(bundle: Path, key_file: Path) -> None:
    """Another examiner's run.json rewritten and a fabricated records file added to their analysis,
    recorded in the payload manifest as the custodian's own next record would."""
    case = Case(bundle, for_writing=True)
    run = bundle / "data/analysis/0001/run.json"
    run.write_bytes(run.read_bytes().replace(b'"host"', b'"host_note": "reviewed", "host"'))
    fabricated = bundle / "data/analysis/0001/records/ios.fabricated.jsonl"
    fabricated.write_bytes(b'{"artifact": "ios.fabricated", "text": "the suspect\'s message"}\n')
    for path in (run, fabricated):
        data = path.read_bytes()
        case.bag.add(path.relative_to(bundle).as_posix(), len(data), hashlib.sha256(data).hexdigest())
    case.simple(load_key(key_file, PASSPHRASE), "note", "routine note")
    case.close()


def test_a_sealed_bundle_changed_and_committed_with_a_note_fails(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    rewrite_analysis(bundle, built.key_b)
    report = verify_case(bundle, load_trust_list(built.trust))
    assert report.exit_code == CHAIN
    assert problems(report) == [
        ("custody", "record 6 (note): it changed the payload while the bundle was sealed", CHAIN),
        ("items", "not checked: the custody log did not verify, so its records prove nothing", CHAIN),
    ]


def test_an_analysis_folder_holding_files_its_attestation_does_not_list_fails(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    assert cli("case", "unseal", str(bundle), "--key", str(built.key_b), "--note", "review")[0] == 0
    rewrite_analysis(bundle, built.key_b)
    report = verify_case(bundle, load_trust_list(built.trust))
    assert report.exit_code == INTEGRITY
    assert problems(report) == [
        ("attestations", "analysis 0001: data/analysis/0001/run.json is not the attested file", INTEGRITY),
        (
            "attestations",
            "analysis 0001: data/analysis/0001/records/ios.fabricated.jsonl is in the analysis folder but not in its "
            "attestation",
            INTEGRITY,
        ),
    ]


def test_run_json_is_attested(built: Built) -> None:
    envelope = Envelope.parse((built.bundle / "attestations/analysis-0001.intoto.jsonl").read_bytes().strip())
    subjects = {s["name"] for s in orjson.loads(envelope.payload)["subject"]}
    assert "data/analysis/0001/run.json" in subjects


def test_a_payload_file_no_record_accounts_for_fails(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    assert cli("case", "unseal", str(bundle), "--key", str(built.key_b), "--note", "review")[0] == 0
    case = Case(bundle, for_writing=True)
    case.bag.write("data/notes/statement.txt", b"the examiner confirms the findings")
    case.simple(load_key(built.key_b, PASSPHRASE), "note", "added a statement")
    case.close()
    report = verify_case(bundle, load_trust_list(built.trust))
    assert problems(report) == [
        ("payload", "data/notes/statement.txt: a payload file no signed record accounts for", INTEGRITY)
    ]


def test_an_export_while_sealed_leaves_the_payload_as_sealed(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    target = tmp_path / "case.jsonld"
    code, output = cli("case", "export", str(bundle), "--case-uco", str(target), "--key", str(built.key_b))
    assert code == 0, output
    assert target.is_file()
    assert not (bundle / "data/export").exists()
    report = verify_case(bundle, load_trust_list(built.trust))
    assert report.exit_code == 0, problems(report)


def test_a_second_acquire_of_the_same_item_fails(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    assert cli("case", "unseal", str(bundle), "--key", str(built.key_b), "--note", "more evidence")[0] == 0
    first = Case(bundle).log.entries()[1].record
    fields = {k: first[k] for k in ("action", "item", "digests", "size", "files", "note")}
    append_record(bundle, load_key(built.key_b, PASSPHRASE), fields)
    report = verify_case(bundle, load_trust_list(built.trust))
    assert report.exit_code == CHAIN
    assert problems(report)[0] == ("custody", f"record 7: a second 'acquire' of item {ITEM} (record 1)", CHAIN)


def test_an_unknown_action_fails(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    append_record(bundle, load_key(built.key_b, PASSPHRASE), {"action": "erase", "note": "nothing happened"})
    report = verify_case(bundle, load_trust_list(built.trust))
    assert report.exit_code == CHAIN
    assert problems(report) == [
        ("custody", "record 6: unknown action 'erase'", CHAIN),
        ("items", "not checked: the custody log did not verify, so its records prove nothing", CHAIN),
    ]


def test_an_actor_calling_itself_by_another_name_than_the_trust_list_fails(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    b = load_key(built.key_b, PASSPHRASE)
    disguise = {"handle": "examiner-a", "key": b.public.fingerprint}
    append_record(bundle, b, {"action": "note", "note": "signed as a", "actor": disguise})
    report = verify_case(bundle, load_trust_list(built.trust))
    assert report.exit_code == CHAIN
    assert problems(report)[:2] == [
        (
            "custody",
            f"record 6: its actor calls itself 'examiner-a', but your trust list names key {b.public.fingerprint} "
            "'examiner-b'",
            CHAIN,
        ),
        (
            "custody",
            f"key {b.public.fingerprint} is named 'examiner-a' and 'examiner-b' by the signed records: "
            "one key, one name",
            CHAIN,
        ),
    ]


def attested_tool(built: Built) -> tuple[str, str]:
    envelope = Envelope.parse((built.bundle / "attestations/analysis-0001.intoto.jsonl").read_bytes().strip())
    statement = orjson.loads(envelope.payload)
    [tool] = [d for d in statement["predicate"]["buildDefinition"]["resolvedDependencies"] if d["name"] == "vestige"]
    return tool["annotations"]["version"], tool["digest"]["sha256"]


def test_an_analysis_by_a_vestige_this_one_does_not_know_warns_with_its_digest(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    version, digest = attested_tool(built)
    monkeypatch.setattr("vestige.custody.verify.package_digest", lambda: "f" * 64)  # another build verifies
    report = verify_case(built.bundle, load_trust_list(built.trust))
    assert report.exit_code == WARNING
    assert problems(report) == [
        (
            "attestations",
            f"analysis 0001: ran with vestige {version}, a version this vestige does not know; its package digest "
            f"is {digest}",
            WARNING,
        )
    ]
    monkeypatch.setattr("vestige.custody.verify.RELEASES", {version: digest})
    assert verify_case(built.bundle, load_trust_list(built.trust)).exit_code == 0
    monkeypatch.setattr("vestige.custody.verify.RELEASES", {version: "e" * 64})
    report = verify_case(built.bundle, load_trust_list(built.trust))
    assert report.exit_code == CHAIN
    assert problems(report) == [
        (
            "attestations",
            f"analysis 0001: names vestige {version}, but its package digest {digest} is not that release's "
            f"({'e' * 64})",
            CHAIN,
        )
    ]


def test_the_release_list_is_left_out_of_the_package_digest() -> None:
    from vestige.custody.distribution import UNHASHED
    from vestige.custody.releases import RELEASES

    assert frozenset({"custody/releases.py"}) == UNHASHED
    assert all(len(digest) == 64 for digest in RELEASES.values())
