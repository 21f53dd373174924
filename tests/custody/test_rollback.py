"""Rollback detection: RFC 9162 consistency proofs, and ``verify --since SIZE:ROOT`` against a log
that was truncated or forked after a checkpoint was handed over.

The proofs are checked against the Certificate Transparency reference vectors (the eight leaves and
the consistency proofs that certificate-transparency's merkle_tree_test and transparency-dev/merkle's
reference tests publish) and against a straightforward implementation of RFC 6962 section 2.1.2
written here, over every pair of sizes 1 <= m <= n <= 64.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest

from tests.builders.custody import PASSPHRASE, Built, cli
from vestige.custody.bag import Bag
from vestige.custody.case import Case
from vestige.custody.checkpoint import Checkpoint, CheckpointError, current_checkpoint, parse_checkpoint
from vestige.custody.disclose import disclose, verify_disclosure
from vestige.custody.dsse import Envelope
from vestige.custody.keys import PublicKey, SigningKey, load_key, load_trust_list
from vestige.custody.log import LOG, log_root
from vestige.custody.verify import INTEGRITY, WARNING, Report, verify_case
from vestige.evidence.merkle import (
    consistency_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
)

CT_LEAVES = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]


def reference_mth(leaves: Sequence[bytes]) -> bytes:
    """MTH of RFC 6962 section 2.1, by its definition (leaves not yet hashed)."""
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(reference_mth(leaves[:k]), reference_mth(leaves[k:]))


def reference_subproof(m: int, leaves: Sequence[bytes], whole: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 6962 section 2.1.2, word for word."""
    n = len(leaves)
    if m == n:
        return [] if whole else [reference_mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*reference_subproof(m, leaves[:k], whole), reference_mth(leaves[k:])]
    return [*reference_subproof(m - k, leaves[k:], False), reference_mth(leaves[:k])]


def test_roots_and_consistency_proofs_match_the_certificate_transparency_vectors() -> None:
    hashes = [leaf_hash(leaf) for leaf in CT_LEAVES]
    assert [root_of(hashes[:n]).hex() for n in range(1, 9)] == CT_ROOTS
    for old, new, expected in CT_CONSISTENCY:
        proof = consistency_proof(hashes[:new], old)
        assert [step.hex() for step in proof] == expected, (old, new)
        old_root, new_root = bytes.fromhex(CT_ROOTS[old - 1]), bytes.fromhex(CT_ROOTS[new - 1])
        assert verify_consistency(old, new, old_root, new_root, proof)


def test_consistency_proofs_agree_with_rfc_6962_for_every_size_up_to_64() -> None:
    leaves = [bytes([i, i * 7 % 256]) for i in range(64)]
    hashes = [leaf_hash(leaf) for leaf in leaves]
    for new in range(1, 65):
        new_root = reference_mth(leaves[:new])
        assert root_of(hashes[:new]) == new_root
        for old in range(1, new + 1):
            proof = consistency_proof(hashes[:new], old)
            assert proof == reference_subproof(old, leaves[:new], True), (old, new)
            assert verify_consistency(old, new, reference_mth(leaves[:old]), new_root, proof), (old, new)


def test_a_consistency_proof_holds_only_for_a_prefix_and_its_own_roots() -> None:
    """(The sizes are bound by the signed tree heads they come with: a proof alone can fit several.)"""
    leaves = [bytes([i]) for i in range(24)]
    hashes = [leaf_hash(leaf) for leaf in leaves]
    other = [leaf_hash(b"forked")]
    for new in range(2, 25):
        new_root = root_of(hashes[:new])
        for old in range(1, new):
            proof = consistency_proof(hashes[:new], old)
            old_root = root_of(hashes[:old])
            assert verify_consistency(old, new, old_root, new_root, proof)
            forked = root_of([*hashes[: old - 1], *other])  # the old tree with its last record replaced
            assert not verify_consistency(old, new, forked, new_root, proof), (old, new)
            assert not verify_consistency(old, new, old_root, root_of(hashes[: new - 1] + other), proof)
            for at in range(len(proof)):
                flipped = [*proof[:at], bytes([proof[at][0] ^ 1]) + proof[at][1:], *proof[at + 1 :]]
                assert not verify_consistency(old, new, old_root, new_root, flipped), (old, new, at)
                assert not verify_consistency(old, new, old_root, new_root, proof[:at] + proof[at + 1 :])
            assert not verify_consistency(old, new, old_root, new_root, [*proof, new_root])
            assert not verify_consistency(old, new, old_root, new_root, [])  # RFC 9162 2.1.4.2 step 1
        assert verify_consistency(new, new, new_root, new_root, [])
        assert not verify_consistency(new, new, new_root, new_root, [new_root])
        assert not verify_consistency(0, new, new_root, new_root, [])
        assert not verify_consistency(new + 1, new, new_root, new_root, [])
    with pytest.raises(IndexError, match="a tree of 3 leaves is not a prefix of a tree of 2 leaves"):
        consistency_proof(hashes[:2], 3)


# SIZE:ROOT, as handed over.


def test_a_checkpoint_line_is_parsed_strictly() -> None:
    root = "ab" * 32
    assert parse_checkpoint(f"  7:{root}\n") == Checkpoint(7, bytes.fromhex(root))
    assert Checkpoint(7, bytes.fromhex(root)).line() == f"7:{root}"
    for bad in ["", "7", f"0:{root}", f"07:{root}", f"+7:{root}", f"\u0663:{root}", f"7:{root[:-1]}",
                f"7:{root}0", f"7:{root.upper()}", f"7 :{root}", f"7:{root} x", "1" * 19 + f":{root}"]:  # fmt: skip
        with pytest.raises(CheckpointError, match="is not a checkpoint: expected SIZE:ROOT"):
            parse_checkpoint(bad)


def test_case_checkpoint_prints_the_tree_head_of_the_latest_signed_checkpoint(built: Built, tmp_path: Path) -> None:
    code, output = cli("case", "checkpoint", str(built.bundle))
    assert code == 0, output
    payloads = [Envelope.parse(line).payload for line in (built.bundle / LOG).read_bytes().splitlines()]
    assert output == f"6:{log_root(payloads)}\n"
    signed = orjson.loads(
        Envelope.parse((built.bundle / "custody/checkpoints/000006.json").read_bytes().strip()).payload
    )
    assert output == f"{signed['tree_size']}:{signed['root']}\n"
    assert current_checkpoint(built.bundle) == parse_checkpoint(output)


def test_case_checkpoint_refuses_a_log_its_checkpoint_does_not_state(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    (bundle / "custody/checkpoints/000006.json").unlink()
    code, output = cli("case", "checkpoint", str(bundle))
    assert code == 2
    assert output.startswith("vestige: custody/checkpoints/000006.json: the latest signed checkpoint cannot be read")
    (bundle / LOG).unlink()
    os.mkfifo(bundle / LOG)
    code, output = cli("case", "checkpoint", str(bundle))  # a FIFO is refused, never waited on
    assert (code, output) == (
        2,
        "vestige: custody/custody.jsonl: cannot be read (custody.jsonl is not a regular file)\n",
    )
    code, output = cli("case", "checkpoint", str(tmp_path))
    assert code == 2
    assert "custody/custody.jsonl: cannot be read" in output


# verify --since


@pytest.fixture(scope="module")
def keys(built: Built) -> dict[str, SigningKey]:
    a, b = load_key(built.key_a, PASSPHRASE), load_key(built.key_b, PASSPHRASE)
    return {a.public.fingerprint: a, b.public.fingerprint: b}


@pytest.fixture
def trusted(built: Built) -> dict[str, PublicKey]:
    return load_trust_list(built.trust)


def since(report: Report) -> list[str]:
    return [c.message for c in report.checks if c.area == "rollback"]


def truncate(root: Path, keep: int) -> None:
    """What whoever holds the bundle can always do: drop the latest records with their checkpoints
    and the key hints of signers who signed none of the records left."""
    lines = [line for line in (root / LOG).read_bytes().split(b"\n") if line][:keep]
    (root / LOG).write_bytes(b"".join(line + b"\n" for line in lines))
    for checkpoint in (root / "custody/checkpoints").iterdir():
        if int(checkpoint.stem) > keep:
            checkpoint.unlink()
    signers = {s.keyid.partition(":")[2] for line in lines for s in Envelope.parse(line).signatures}
    for hint in (root / "custody/keys").iterdir():
        if hint.stem not in signers:
            hint.unlink()
    Bag(root).save_tags()


def fork(root: Path, keep: int, notes: int, keys: dict[str, SigningKey]) -> None:
    """What a custodian holding their key can do: drop the latest records and write others."""
    truncate(root, keep)
    with Case(root, for_writing=True) as case:
        for number in range(notes):
            case.simple(keys[case.state().custodian], "note", f"rewritten history {number}")


def extend(root: Path, notes: int, keys: dict[str, SigningKey]) -> None:
    with Case(root, for_writing=True) as case:
        for number in range(notes):
            case.simple(keys[case.state().custodian], "note", f"a later record {number}")


def test_the_untouched_bundle_extends_its_own_and_earlier_checkpoints(
    built: Built, trusted: dict[str, PublicKey]
) -> None:
    head = current_checkpoint(built.bundle)
    report = verify_case(built.bundle, trusted, since=head)
    assert report.exit_code == 0
    assert since(report) == ["the log of 6 records extends the checkpoint you hold (6 records)"]
    assert report.facts["consistency_proof"] == []
    signed = orjson.loads(
        Envelope.parse((built.bundle / "custody/checkpoints/000003.json").read_bytes().strip()).payload
    )
    earlier = Checkpoint(3, bytes.fromhex(signed["root"]))
    report = verify_case(built.bundle, trusted, since=earlier)
    assert report.exit_code == 0
    proof = [bytes.fromhex(step) for step in report.facts["consistency_proof"]]
    assert verify_consistency(3, 6, earlier.root, head.root, proof)


def test_a_truncated_log_passes_alone_and_fails_against_the_checkpoint_handed_over(
    built: Built, trusted: dict[str, PublicKey], tmp_path: Path
) -> None:
    bundle = built.copy(tmp_path / "b")
    head = current_checkpoint(bundle)
    truncate(bundle, 5)  # the seal is gone
    assert verify_case(bundle, trusted).exit_code == 0  # the limit --since lifts
    code, output = cli("verify", str(bundle), "--trust", str(built.trust), "--since", head.line())
    assert code == INTEGRITY, output
    assert (
        "FAIL    rollback      the log has 5 records, fewer than the 6 of the checkpoint you hold: records were "
        "removed after it (a rollback)"
    ) in output


def test_a_forked_log_passes_alone_and_fails_against_the_checkpoint_handed_over(
    built: Built, trusted: dict[str, PublicKey], keys: dict[str, SigningKey], tmp_path: Path
) -> None:
    bundle = built.copy(tmp_path / "b")
    head = current_checkpoint(bundle)
    fork(bundle, 5, 1, keys)  # the seal replaced by a note, signed by its custodian: as long as before
    assert current_checkpoint(bundle).size == 6
    assert verify_case(bundle, trusted).exit_code == 0
    report = verify_case(bundle, trusted, since=head)
    assert report.exit_code == INTEGRITY
    assert since(report) == [
        "the log does not extend the checkpoint you hold (6 records): a record at or before record 5 was changed, "
        "removed or replaced (a forked log)"
    ]


def test_a_malformed_since_is_a_sentence_and_exit_2(built: Built) -> None:
    code, output = cli("verify", str(built.bundle), "--trust", str(built.trust), "--since", "6:xyz")
    assert code == 2
    assert output.startswith("vestige: --since: '6:xyz' is not a checkpoint: expected SIZE:ROOT")


def test_a_disclosure_package_is_checked_against_a_checkpoint_too(
    built: Built, trusted: dict[str, PublicKey], keys: dict[str, SigningKey], tmp_path: Path
) -> None:
    bundle = built.copy(tmp_path / "b")
    head = current_checkpoint(bundle)
    findings = orjson.loads((bundle / "data/analysis/0001/findings.json").read_bytes())["findings"]
    custodian = keys[Case(bundle).state().custodian]
    disclose(bundle, [findings[2]["id"]], tmp_path / "pkg", custodian, trusted)
    assert verify_disclosure(tmp_path / "pkg", trusted, since=head).exit_code == 0
    later = current_checkpoint(bundle)
    assert later.size == 7
    assert verify_disclosure(tmp_path / "pkg", trusted, since=later).exit_code == 0
    extend(bundle, 1, keys)
    report = verify_disclosure(tmp_path / "pkg", trusted, since=current_checkpoint(bundle))
    assert report.exit_code == INTEGRITY
    assert since(report) == [
        "the log has 7 records, fewer than the 8 of the checkpoint you hold: records were removed after it (a rollback)"
    ]


# The mutation suite: every truncation, fork and extension of the log against every checkpoint.

BASELINE = {1: INTEGRITY, 2: INTEGRITY, 3: 0, 4: WARNING, 5: 0}
"""The exit code of verify, without --since, for the log truncated to that many records: the
analysis outlives its record below 3; a transfer is pending at 4."""


def test_every_truncation_and_fork_is_caught_against_each_checkpoint_handed_over(
    built: Built, trusted: dict[str, PublicKey], keys: dict[str, SigningKey], tmp_path_factory: pytest.TempPathFactory
) -> None:
    pristine = built.copy(tmp_path_factory.mktemp("pristine") / "bundle")
    handed: list[Checkpoint] = []
    for number in range(1, 7):
        signed = Envelope.parse((pristine / f"custody/checkpoints/{number:06d}.json").read_bytes().strip())
        body = orjson.loads(signed.payload)
        handed.append(Checkpoint(body["tree_size"], bytes.fromhex(body["root"])))
    mutations: list[tuple[str, int, int]] = [("truncate", keep, 0) for keep in range(1, 6)]
    mutations += [("fork", keep, notes) for keep in (3, 5) for notes in (1, 2, 3)]
    mutations += [("extend", 6, notes) for notes in (1, 2)]
    work = tmp_path_factory.mktemp("work") / "bundle"
    checked = 0
    for kind, keep, notes in mutations:
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(pristine, work)
        if kind == "truncate":
            truncate(work, keep)
        elif kind == "fork":
            fork(work, keep, notes, keys)
        else:
            extend(work, notes, keys)
        alone = verify_case(work, trusted).exit_code
        assert alone == (BASELINE[keep] if kind == "truncate" else 0), (kind, keep, notes)
        for checkpoint in handed:
            expected = INTEGRITY if checkpoint.size > keep else alone
            report = verify_case(work, trusted, since=checkpoint)
            assert report.exit_code == expected, (kind, keep, notes, checkpoint.size, since(report))
            assert (report.exit_code == INTEGRITY and checkpoint.size > keep) == any(
                c.area == "rollback" and not c.ok for c in report.checks
            )
            checked += 1
    assert checked == 6 * len(mutations) == 78
