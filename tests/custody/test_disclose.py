"""Selective disclosure: a package verifies on its own and is checked as a case bundle is; the
disclosing custodian can neither misstate it nor be made to leak through it; withheld findings and
files cannot be confirmed from it.

The mutation suite at the end changes a two-finding package anchored with an RFC 3161 token in
every way a holder of the files can (bits, VERIFY.md, bag-info.txt, tokens, tag files, links and
special files, the document without a signature) and every way the disclosing custodian can (any
field of the document, then signed anew), and checks the exit code of each.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.builders.custody import ITEM, PASSPHRASE, Built, cli
from tests.custody.tsa import TimestampAuthority
from tests.custody.tsa import tsa_fixture as tsa_fixture  # the session fixture "tsa"
from vestige.cli import main
from vestige.custody import disclose as disclosing
from vestige.custody.anchoring import checkpoint_digest
from vestige.custody.attestation import FINDING_SALTS, analysis_statement, finding_proof
from vestige.custody.bag import Bag, encode_path
from vestige.custody.case import CaseError
from vestige.custody.disclose import DOCUMENT, disclose, verify_disclosure
from vestige.custody.dsse import CHECKPOINT_TYPE, CUSTODY_TYPE, Envelope
from vestige.custody.keys import PublicKey, SigningKey, load_key, load_trust_list
from vestige.custody.log import LOG, canonical, digest, log_root
from vestige.custody.timestamp import timestamp_request
from vestige.custody.verify import CHAIN, INTEGRITY, WARNING, Report, verify_case
from vestige.evidence.merkle import leaf_hash, verify_inclusion

SMS = "3d/3d0d7e5fb2ce288813306e4d4636395e047a3d28"  # HomeDomain/Library/SMS/sms.db, stored by its hash
CITED = f"data/evidence/{ITEM}/{SMS}"


@pytest.fixture(scope="module")
def custodian(built: Built) -> SigningKey:
    """examiner-b, the custodian who discloses (the bundle was handed over to them)."""
    return load_key(built.key_b, PASSPHRASE)


@pytest.fixture
def trusted(built: Built) -> dict[str, PublicKey]:
    return load_trust_list(built.trust)


def finding_id(bundle: Path, rule: str) -> str:
    findings = orjson.loads((bundle / "data/analysis/0001/findings.json").read_bytes())["findings"]
    return str(next(f["id"] for f in findings if f["rule"] == rule))


@pytest.fixture
def package(built: Built, custodian: SigningKey, trusted: dict[str, PublicKey], tmp_path: Path) -> Path:
    bundle = built.copy(tmp_path / "bundle")
    disclose(bundle, [finding_id(bundle, "ios.sms.indicator_match")[:8]], tmp_path / "package", custodian, trusted)
    return tmp_path / "package"


def files_of(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rewrite(root: Path) -> None:
    """What anyone holding the package can do: make the bag manifests match its files."""
    bag = Bag(root)
    bag.payload = {name: sha256(root / name) for name in files_of(root) if name.startswith("data/")}
    bag.sizes = {}
    bag.save()


def retag(root: Path) -> None:
    """The tag manifest alone made to match, as any tool can (bag-info.txt and the payload manifest are
    left as the mutation wrote them)."""
    names = [n for n in files_of(root) if not n.startswith(("data/", "tagmanifest-"))]
    lines = "".join(f"{sha256(root / n)}  {encode_path(n)}\n" for n in names)
    (root / "tagmanifest-sha256.txt").write_text(lines)


def log_lines(root: Path) -> list[bytes]:
    return [line for line in (root / LOG).read_bytes().split(b"\n") if line]


def write_log(root: Path, lines: list[bytes]) -> None:
    (root / LOG).write_bytes(b"".join(line + b"\n" for line in lines))


def document_of(root: Path) -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads((root / DOCUMENT).read_bytes())
    return document


def write_document(root: Path, document: dict[str, Any]) -> None:
    (root / DOCUMENT).write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))


def resign(root: Path, key: SigningKey, *, bag_signed: bool = True) -> None:
    """What the disclosing custodian can always do: make the package say something else and sign it.
    The export record ends the package's log, so it and its checkpoint are simply made anew."""
    rewrite(root)
    lines = log_lines(root)
    record = orjson.loads(Envelope.parse(lines[-1]).payload)
    assert record["action"] == "export"
    names = {"disclosure.json": DOCUMENT}
    if bag_signed:
        names |= {"bag-info.txt": "bag-info.txt", "manifest-sha256.txt": "manifest-sha256.txt"}
    record["outputs"] = [{"name": name, "sha256": sha256(root / path)} for name, path in sorted(names.items())]
    lines[-1] = Envelope(CUSTODY_TYPE, canonical(record)).signed(key).line()
    write_log(root, lines)
    checkpoint = root / f"custody/checkpoints/{len(lines):06d}.json"
    body = orjson.loads(Envelope.parse(checkpoint.read_bytes().strip()).payload)
    payloads = [Envelope.parse(line).payload for line in lines]
    body["root"], body["last"] = log_root(payloads), digest(payloads[-1])
    checkpoint.write_bytes(Envelope(CHECKPOINT_TYPE, canonical(body)).signed(key).line() + b"\n")
    retag(root)


def failures(report: Report) -> list[str]:
    return [c.message for c in report.checks if not c.ok]


@contextlib.contextmanager
def within_seconds(seconds: int) -> Iterator[None]:
    """Fails the test instead of hanging it (a FIFO opened for reading blocks until a writer comes)."""

    def expire(_: int, __: FrameType | None) -> None:
        raise TimeoutError(f"blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# A package as it is written, and what verify says of it.


def test_a_package_verifies_without_the_rest_of_the_acquisition(package: Path, trusted: dict[str, PublicKey]) -> None:
    report = verify_disclosure(package, trusted)
    assert report.exit_code == 0, failures(report)
    assert report.facts["withheld"] == {ITEM: {"files": 21, "of": 22}}
    evidence = sorted(p.relative_to(package).as_posix() for p in (package / "data/evidence").rglob("*") if p.is_file())
    assert evidence == [CITED]
    assert not (package / "data/acquisition").exists()
    assert [c.area for c in report.checks] == [
        "integrity",
        "custody",
        "checkpoints",
        "timestamps",
        "disclosure",
        "findings",
        "evidence",
    ]
    assert [c.message for c in report.checks if c.area == "findings"] == [
        f"finding {document_of(package)['findings'][0]['finding']['id']}: finding 3 of 10 in the signed analysis 0001"
    ]


def test_the_export_record_signs_the_document_bag_info_and_payload_manifest(package: Path) -> None:
    log = log_lines(package)
    assert len(log) == 7
    export = orjson.loads(Envelope.parse(log[-1]).payload)
    assert export["action"] == "export"
    assert export["outputs"] == [
        {"name": "bag-info.txt", "sha256": sha256(package / "bag-info.txt")},
        {"name": "disclosure.json", "sha256": sha256(package / DOCUMENT)},
        {"name": "manifest-sha256.txt", "sha256": sha256(package / "manifest-sha256.txt")},
    ]
    labels = [line.split(": ")[0] for line in (package / "bag-info.txt").read_text().splitlines()]
    assert labels == ["Bag-Software-Agent", "Bag-Type", "Bagging-Date", "External-Identifier", "Payload-Oxum"]
    keys = sorted(p.name for p in (package / "custody/keys").iterdir())
    assert [n for n in files_of(package) if not n.startswith(("data/", "custody/keys/"))] == [
        "VERIFY.md",
        "attestations/analysis-0001.intoto.jsonl",
        "bag-info.txt",
        "bagit.txt",
        *(f"custody/checkpoints/{n:06d}.json" for n in range(1, 8)),
        "custody/custody.jsonl",
        "manifest-sha256.txt",
        "tagmanifest-sha256.txt",
    ]
    assert len(keys) == 2


def test_a_substituted_cited_file_is_rejected(
    package: Path, trusted: dict[str, PublicKey], custodian: SigningKey
) -> None:
    cited = package / CITED
    cited.write_bytes(cited.read_bytes().replace(b"smscentro", b"example00"))
    resign(package, custodian)
    report = verify_disclosure(package, trusted)
    assert report.exit_code == INTEGRITY
    assert failures(report) == [
        f"{ITEM}/{SMS}: the disclosed file is not the one in the acquisition",
        "the withheld counts the document states are not what its proofs show",
    ]


def test_a_planted_file_is_rejected(package: Path, trusted: dict[str, PublicKey], custodian: SigningKey) -> None:
    planted = package / f"data/evidence/{ITEM}/HomeDomain/Library/SMS/sms-deleted.db"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"fabricated")
    resign(package, custodian)
    report = verify_disclosure(package, trusted)
    assert report.exit_code == INTEGRITY
    assert failures(report) == [
        f"data/evidence/{ITEM}/HomeDomain/Library/SMS/sms-deleted.db: a file no proof accounts for"
    ]


def test_a_missing_cited_file_is_rejected(package: Path, trusted: dict[str, PublicKey], custodian: SigningKey) -> None:
    (package / CITED).unlink()
    resign(package, custodian)
    report = verify_disclosure(package, trusted)
    assert report.exit_code == INTEGRITY
    assert failures(report) == [
        f"{ITEM}/{SMS}: the cited file is missing from the package",
        "the withheld counts the document states are not what its proofs show",
    ]


def test_a_proof_for_a_leaf_that_is_not_in_the_tree_is_rejected(
    package: Path, trusted: dict[str, PublicKey], custodian: SigningKey
) -> None:
    document = document_of(package)
    leaf = document["evidence"][0]["leaf"]
    forged = b"a file that was never acquired"
    leaf["sha256"], leaf["size"] = hashlib.sha256(forged).hexdigest(), len(forged)
    document["findings"][0]["finding"]["evidence"][0]["locator"]["sha256"] = leaf["sha256"]
    write_document(package, document)
    (package / CITED).write_bytes(forged)
    resign(package, custodian)
    report = verify_disclosure(package, trusted)
    assert report.exit_code == INTEGRITY
    finding = document["findings"][0]["finding"]["id"]
    assert failures(report) == [
        f"finding {finding}: not proven to be in the attested findings of analysis 0001",
        f"{ITEM}/{SMS}: its inclusion proof does not reach the signed item root",
        "the withheld counts the document states are not what its proofs show",
    ]


def test_a_manifest_line_leaving_the_package_is_refused_before_anything_is_read(
    package: Path, trusted: dict[str, PublicKey], tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not part of the package")
    manifest = package / "manifest-sha256.txt"
    lines = [*manifest.read_text().splitlines(), f"{sha256(outside)}  data/../../outside.txt"]
    manifest.write_text("".join(f"{line}\n" for line in sorted(lines, key=lambda line: line.split("  ")[1])))
    retag(package)
    report = verify_disclosure(package, trusted)
    assert report.exit_code == INTEGRITY
    assert [m.partition(":")[0] for m in failures(report)] == ["manifest-sha256.txt"], failures(report)


def test_a_file_no_disclosed_finding_cites_is_rejected(
    package: Path, trusted: dict[str, PublicKey], custodian: SigningKey
) -> None:
    document = document_of(package)
    locator = document["findings"][0]["finding"]["evidence"][0]["locator"]
    locator["sha256"] = "0" * 64
    write_document(package, document)
    resign(package, custodian)
    report = verify_disclosure(package, trusted)
    assert report.exit_code == INTEGRITY
    assert f"{ITEM}/{SMS}: no disclosed finding cites this file" in failures(report)


def test_the_document_must_be_the_one_a_signed_export_named(package: Path, trusted: dict[str, PublicKey]) -> None:
    document = document_of(package)
    document["withheld"] = {ITEM: {"files": 0, "of": 1}}
    write_document(package, document)
    rewrite(package)
    report = verify_disclosure(package, trusted)
    assert report.exit_code == CHAIN
    assert failures(report) == [
        f"{DOCUMENT} is not named by a signed export record of the log",
        "not checked: no signed export record names the document, so it proves nothing",
    ]


def test_a_case_bundle_dressed_as_a_disclosure_does_not_verify(built: Built, tmp_path: Path) -> None:
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
    assert code == CHAIN, output
    assert "is not named by a signed export record" in output


# Issue 10, class 3: a package is checked as a case bundle is.


def test_a_rewritten_verify_md_in_a_package_is_caught(package: Path, trusted: dict[str, PublicKey]) -> None:
    verify_md = package / "VERIFY.md"
    verify_md.write_text(verify_md.read_text() + "\nThe public keys in custody/keys/ may be trusted as they are.\n")
    retag(package)
    report = verify_disclosure(package, trusted)
    assert report.exit_code == INTEGRITY
    assert failures(report) == ["VERIFY.md is not the one the opening record signed"]


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda text: text.replace(b"vestige-disclosure/1", b"vestige-case/1"), None),
        (lambda text: text + b"External-Description: reviewed and approved by the court\n", "External-Description"),
        (lambda text: b"External-Identifier: CASE-2026-0001\n" + text, "'External-Identifier: CASE-2026-0042'"),
        (lambda text: text.replace(b"Bag-Type", b"Bag-Type\xff"), None),
    ],
    ids=["bag-type", "added-label", "earlier-duplicate", "not-utf8"],
)
def test_an_edited_bag_info_in_a_package_is_caught(
    package: Path, trusted: dict[str, PublicKey], edit: Callable[[bytes], bytes], named: str | None
) -> None:
    info = package / "bag-info.txt"
    info.write_bytes(edit(info.read_bytes()))
    retag(package)
    report = verify_disclosure(package, trusted)
    assert report.exit_code == INTEGRITY
    messages = failures(report)
    if b"\xff" in info.read_bytes():
        assert messages == ["bag-info.txt is not UTF-8 text"]
        return
    assert "bag-info.txt is not the one the export record signed" in messages
    assert named is None or any(named in m for m in messages), messages


def test_a_package_made_before_bag_info_was_signed_verifies_with_a_warning(
    package: Path, trusted: dict[str, PublicKey], custodian: SigningKey
) -> None:
    resign(package, custodian, bag_signed=False)
    report = verify_disclosure(package, trusted)
    assert report.exit_code == WARNING
    assert failures(report) == [
        "bag-info.txt and the payload manifest are not signed (a package made before vestige signed them): "
        "their labels were checked, the Bagging-Date and Bag-Software-Agent are claims"
    ]
    info = package / "bag-info.txt"
    info.write_bytes(info.read_bytes() + b"External-Description: reviewed and approved by the court\n")
    retag(package)
    assert verify_disclosure(package, trusted).exit_code == INTEGRITY


def test_a_timestamp_request_must_be_the_one_vestige_writes_and_no_other_tag_manifest_is_allowed(
    package: Path, trusted: dict[str, PublicKey]
) -> None:
    requests = package / "custody/timestamps"
    requests.mkdir()
    (requests / "000001.tsq").write_bytes(
        timestamp_request(checkpoint_digest(package / "custody/checkpoints/000001.json"))
    )
    retag(package)
    assert verify_disclosure(package, trusted).exit_code == 0  # as packages made before carried them
    (requests / "000002.tsq").write_bytes(b"arbitrary bytes")
    (requests / "000008.tsq").write_bytes((requests / "000001.tsq").read_bytes())
    (package / "tagmanifest-md5.txt").write_text("0" * 32 + "  bag-info.txt\n")
    retag(package)
    report = verify_disclosure(package, trusted)
    assert report.exit_code == INTEGRITY
    assert {
        "custody/timestamps/000002.tsq: not the RFC 3161 request for 000002.json vestige writes (15 bytes)",
        "custody/timestamps/000008.tsq: a file that no record or checkpoint accounts for",
        "tagmanifest-md5.txt: a tag manifest vestige does not write",
    } <= set(failures(report))  # the bag check may name the extra tag manifest too


@pytest.fixture(scope="module")
def anchored(
    built: Built, tsa: TimestampAuthority, custodian: SigningKey, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A two-finding package of a bundle anchored with an RFC 3161 token (examiner-b's)."""
    root = tmp_path_factory.mktemp("anchored")
    bundle = built.copy(root / "bundle")
    chain = root / "tsa-chain.pem"
    chain.write_bytes(tsa.pki.pem("tsa-rsa") + tsa.pki.pem("ca"))
    code, output = cli(
        "case", "timestamp", str(bundle), "--tsa", tsa.url("/rsa"), "--tsa-cert", str(chain), "--key", str(built.key_b)
    )
    assert code == 0, output
    wanted = [finding_id(bundle, "ios.sms.indicator_match"), finding_id(bundle, "ios.datausage.indicator_match")]
    disclose(bundle, wanted, root / "package", custodian, load_trust_list(built.trust), tsa.pki.pem("ca"))
    return root / "package"


def test_junk_in_place_of_the_token_and_the_tsa_chain_is_caught(
    anchored: Path, tsa: TimestampAuthority, trusted: dict[str, PublicKey], tmp_path: Path
) -> None:
    package = Path(shutil.copytree(anchored, tmp_path / "package"))
    assert sorted(p.name for p in (package / "custody/timestamps").iterdir()) == ["000006.pem", "000006.tsr"]
    assert verify_disclosure(package, trusted, tsa.pki.pem("ca")).exit_code == 0
    (package / "custody/timestamps/000006.tsr").write_bytes(b"\x30\x03junk")
    (package / "custody/timestamps/000006.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\njunk\n")
    retag(package)
    report = verify_disclosure(package, trusted, tsa.pki.pem("ca"))
    assert report.exit_code == CHAIN
    assert failures(report) == ["000006.json: the token or chain is not the one the anchor record signed"]


# Issue 10, class 2: no link, FIFO, device or socket anywhere in a package.


def link_to_identical_copy(package: Path, outside: Path) -> str:
    copy = outside / "custody.jsonl"
    shutil.copyfile(package / LOG, copy)
    (package / LOG).unlink()
    (package / LOG).symlink_to(copy)
    return f"{LOG}: a symbolic link (to {copy})"


def link_to_root(package: Path, outside: Path) -> str:
    (package / f"data/evidence/{ITEM}/root").symlink_to("/")
    return f"data/evidence/{ITEM}/root: a symbolic link (to /)"


def link_to_the_package(package: Path, outside: Path) -> str:
    (package / "custody/whole").symlink_to(package)
    return f"custody/whole: a symbolic link (to {package})"


def fifo(package: Path, outside: Path) -> str:
    os.mkfifo(package / (CITED + ".wal"))
    return f"{CITED}.wal: a FIFO"


def fifo_in_place_of_the_cited_file(package: Path, outside: Path) -> str:
    (package / CITED).unlink()
    os.mkfifo(package / CITED)
    return f"{CITED}: a FIFO"


def zero_device(package: Path, outside: Path) -> str:
    try:
        os.mknod(package / f"data/evidence/{ITEM}/zero", stat.S_IFCHR | 0o600, os.makedev(1, 5))
    except PermissionError:
        pytest.skip("making a device node needs CAP_MKNOD")
    return f"data/evidence/{ITEM}/zero: a character device"


def unix_socket(package: Path, outside: Path) -> str:
    here = Path.cwd()
    os.chdir(package / "custody")
    try:
        with socket.socket(socket.AF_UNIX) as listener:
            listener.bind("s")
    finally:
        os.chdir(here)
    return "custody/s: a socket"


@pytest.mark.parametrize(
    "plant",
    [
        link_to_identical_copy,
        link_to_root,
        link_to_the_package,
        fifo,
        fifo_in_place_of_the_cited_file,
        zero_device,
        unix_socket,
    ],
)
def test_links_and_special_files_in_a_package_are_named_and_never_followed(
    package: Path, built: Built, tmp_path: Path, plant: Callable[[Path, Path], str]
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    named = plant(package, outside) + "; a bag holds only regular files and folders"
    with within_seconds(30):
        report = verify_disclosure(package, load_trust_list(built.trust))
        code, output = cli("verify", str(package), "--trust", str(built.trust))
    assert report.exit_code == INTEGRITY
    assert failures(report) == [named]
    assert code == INTEGRITY
    assert named in output


# Issue 10, class 4: finding leaves are salted; a withheld finding cannot be confirmed.


def test_a_withheld_finding_cannot_be_confirmed_from_a_disclosed_proof(package: Path, built: Built) -> None:
    findings_json = (built.bundle / "data/analysis/0001/findings.json").read_bytes()
    withheld = [canonical(f) for i, f in enumerate(orjson.loads(findings_json)["findings"]) if i != 2]
    [disclosed] = document_of(package)["findings"]
    proof = [bytes.fromhex(step) for step in disclosed["proof"]]
    guesses = {leaf_hash(leaf) for leaf in withheld}
    assert guesses.isdisjoint(proof)
    # Unsalted, the sibling of finding 3 was the leaf hash of finding 4: a right guess of it matched.
    assert finding_proof(findings_json, 2)[0] == leaf_hash(withheld[2])
    assert len(bytes.fromhex(disclosed["salt"])) == 32


def test_finding_salts_are_revealed_only_for_disclosed_findings(package: Path, built: Built) -> None:
    seed = orjson.loads((built.bundle / f"data/analysis/0001/{FINDING_SALTS}").read_bytes())["salt_seed"]
    for path in package.rglob("*"):
        if path.is_file():
            assert seed.encode() not in path.read_bytes(), path
    assert not (package / f"data/analysis/0001/{FINDING_SALTS}").exists()
    [disclosed] = document_of(package)["findings"]
    assert sorted(disclosed) == ["count", "finding", "index", "item", "proof", "run", "salt"]


def test_an_analysis_made_before_salting_still_verifies_and_its_disclosure_says_what_it_leaks(
    built: Built, trusted: dict[str, PublicKey], custodian: SigningKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As vestige made them before salting: the attestation commits the bare JSON of each finding."""
    monkeypatch.setattr(
        "vestige.custody.case.analysis_statement",
        lambda **fields: analysis_statement(**{**fields, "finding_seed": None}),
    )
    bundle = tmp_path / "old"
    key = str(built.key_a)
    for step in (
        ("case", "new", str(bundle), "--case-id", "OLD-1", "--examiner", key),
        ("case", "add", str(bundle), str(built.sample), "--item-id", ITEM, "--key", key),
        ("check", "--case", str(bundle), ITEM, "--key", key, "-q", "-j", "1"),
    ):
        code, output = cli(*step)
        assert code == 0, output
    assert verify_case(bundle, trusted).exit_code == 0
    a = load_key(built.key_a, PASSPHRASE)
    report = disclose(bundle, [finding_id(bundle, "ios.sms.indicator_match")], tmp_path / "pkg", a, trusted)
    assert report.exit_code == WARNING
    [disclosed] = document_of(tmp_path / "pkg")["findings"]
    assert failures(report) == [
        f"finding {disclosed['finding']['id']}: analysis 0001 was made before vestige salted finding leaves; a "
        "reader who guesses one of its withheld findings can confirm the guess against this proof"
    ]
    assert "salt" not in disclosed


# Issue 10, class 5: the disclosing custodian cannot misstate the package.


def test_a_tree_size_other_than_the_signed_file_count_is_caught(
    package: Path, trusted: dict[str, PublicKey], custodian: SigningKey
) -> None:
    document = document_of(package)
    leaf = document["evidence"][0]["leaf"]
    proof, root = [bytes.fromhex(s) for s in leaf["proof"]], bytes.fromhex(leaf_root(package))
    digest_ = leaf_hash(bytes.fromhex(leaf["salt"]) + f"{SMS}\x00{leaf['size']}\x00{leaf['sha256']}".encode())
    # The tree sizes for which this very proof also verifies: the withheld count could be inflated.
    other = [n for n in range(1, 64) if n != 22 and verify_inclusion(digest_, leaf["index"], n, proof, root)]
    assert other, "no other tree size accepts this proof"
    leaf["tree_size"] = other[-1]
    document["withheld"] = {ITEM: {"files": other[-1] - 1, "of": other[-1]}}
    write_document(package, document)
    resign(package, custodian)
    report = verify_disclosure(package, trusted)
    assert report.exit_code == INTEGRITY
    assert failures(report) == [
        f"{ITEM}/{SMS}: its proof is for a tree of {other[-1]} files; the acquire record signed 22",
        "the withheld counts the document states are not what its proofs show",
    ]
    assert report.facts["withheld"] == {ITEM: {"files": 22, "of": 22}}


def leaf_root(package: Path) -> str:
    for line in log_lines(package):
        record = orjson.loads(Envelope.parse(line).payload)
        if record["action"] == "acquire":
            return str(record["digests"]["merkle_root"])
    raise AssertionError("no acquire record")


def test_path_bytes_moved_into_the_salt_cannot_relabel_a_file(
    package: Path, trusted: dict[str, PublicKey], custodian: SigningKey
) -> None:
    document = document_of(package)
    leaf = document["evidence"][0]["leaf"]
    moved = "3d/"
    leaf["salt"] += moved.encode().hex()
    leaf["path"] = SMS.removeprefix(moved)
    document["evidence"][0]["file"] = f"data/evidence/{ITEM}/{leaf['path']}"
    write_document(package, document)
    relabelled = package / document["evidence"][0]["file"]
    relabelled.parent.mkdir(parents=True, exist_ok=True)
    (package / CITED).rename(relabelled)
    resign(package, custodian)
    report = verify_disclosure(package, trusted)
    assert report.exit_code == INTEGRITY
    assert failures(report)[0] == f"{ITEM}/?: its salt is not 32 bytes (64 lowercase hex digits)"


# Issue 10, class 6: disclose trusts nothing it reads.


def log_length(bundle: Path) -> int:
    return len(log_lines(bundle))


def test_disclose_refuses_a_bundle_that_does_not_verify(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "bundle")
    target = bundle / f"data/acquisition/{ITEM}/{SMS}"
    target.write_bytes(target.read_bytes() + b"\x00")
    sms = finding_id(bundle, "ios.sms.indicator_match")
    code, output = cli(
        "disclose", str(bundle), "--finding", sms, "-o", str(tmp_path / "pkg"), "--trust", str(built.trust), "--key",
        str(built.key_b),
    )  # fmt: skip
    assert code == 2, output
    assert "the bundle does not verify" in output
    assert f"data/acquisition/{ITEM}/{SMS}: its SHA-256 differs from the manifest" in output
    assert not (tmp_path / "pkg").exists()
    assert log_length(bundle) == 6


def passes(*_: object, **__: object) -> Report:
    """verify_case as it would answer for a bundle whose checks missed the attack."""
    return Report("bundle", "vestige-case/1")


@pytest.mark.broken_findings  # the findings.json is made to cite the planted line
@pytest.mark.parametrize("path", ["../../../../../secret.txt", "ABSOLUTE", "HomeDomain/./x", "a//b"])
def test_disclose_refuses_dot_dot_and_absolute_paths_in_a_manifest(
    built: Built,
    trusted: dict[str, PublicKey],
    custodian: SigningKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
) -> None:
    bundle = built.copy(tmp_path / "cases" / "bundle")
    secret = b"the examiner's private notes"
    (tmp_path / "secret.txt").write_bytes(secret)
    line = {
        "path": str(tmp_path / "secret.txt") if path == "ABSOLUTE" else path,
        "size": len(secret),
        "sha256": hashlib.sha256(secret).hexdigest(),
    }
    manifest = bundle / f"data/items/{ITEM}/manifest.jsonl"
    manifest.write_bytes(manifest.read_bytes() + orjson.dumps(line) + b"\n")
    findings = bundle / "data/analysis/0001/findings.json"
    findings.write_bytes(findings.read_bytes().replace(sha256(bundle / f"data/acquisition/{ITEM}/{SMS}").encode(),
                                                       line["sha256"].encode()))  # fmt: skip
    monkeypatch.setattr(disclosing, "verify_case", passes)
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(CaseError, match=r"not a relative path inside the bundle; refusing to disclose through it"):
        disclose(bundle, [finding_id(bundle, "ios.sms.indicator_match")], tmp_path / "pkg", custodian, trusted)
    assert sorted(tmp_path.rglob("*")) == before
    assert log_length(bundle) == 6


@pytest.mark.parametrize("link", ["file-to-secret", "file-to-identical-copy", "folder-to-identical-copy", "fifo"])
def test_disclose_refuses_an_evidence_file_reached_through_a_link(
    built: Built,
    trusted: dict[str, PublicKey],
    custodian: SigningKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    link: str,
) -> None:
    bundle = built.copy(tmp_path / "bundle")
    cited = bundle / f"data/acquisition/{ITEM}/{SMS}"
    sms = finding_id(bundle, "ios.sms.indicator_match")
    secret = tmp_path / "secret"
    if link == "file-to-secret":
        secret.write_bytes(b"the examiner's private key")
        cited.unlink()
        cited.symlink_to(secret)
    elif link == "file-to-identical-copy":
        shutil.copyfile(cited, secret)
        cited.unlink()
        cited.symlink_to(secret)
    elif link == "fifo":
        cited.unlink()
        os.mkfifo(cited)
    else:
        shutil.copytree(bundle / f"data/acquisition/{ITEM}/3d", secret)
        shutil.rmtree(bundle / f"data/acquisition/{ITEM}/3d")
        (bundle / f"data/acquisition/{ITEM}/3d").symlink_to(secret)
    monkeypatch.setattr(disclosing, "verify_case", passes)  # a bundle check that missed the link
    expected = {
        "folder-to-identical-copy": "a part of its path is a symbolic link or not a folder, which vestige never "
        "follows",
        "fifo": r"not a regular file \(a FIFO, a device or a socket\), which vestige never reads",
    }.get(link, "a symbolic link, which vestige never follows")
    with (
        within_seconds(30),
        pytest.raises(CaseError, match=f"^data/acquisition/{ITEM}/3d/.*: {expected}$"),
    ):
        disclose(bundle, [sms], tmp_path / "pkg", custodian, trusted)
    assert not (tmp_path / "pkg").exists()
    assert log_length(bundle) == 6
    monkeypatch.undo()
    with within_seconds(30):
        code, output = cli(
            "disclose", str(bundle), "--finding", sms, "-o", str(tmp_path / "pkg"), "--trust", str(built.trust),
            "--key", str(built.key_b),
        )  # fmt: skip
    assert code == 2, output
    assert not (tmp_path / "pkg").exists()


def test_disclose_checks_each_copied_file_against_its_proof_before_signing(
    built: Built, trusted: dict[str, PublicKey], custodian: SigningKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = built.copy(tmp_path / "bundle")
    cited = bundle / f"data/acquisition/{ITEM}/{SMS}"
    cited.write_bytes(cited.read_bytes().replace(b"smscentro", b"example00"))
    monkeypatch.setattr(disclosing, "verify_case", passes)
    with pytest.raises(CaseError, match=f"^{ITEM}/{SMS}: the bundle's copy is not the file its acquire record signed$"):
        disclose(bundle, [finding_id(bundle, "ios.sms.indicator_match")], tmp_path / "pkg", custodian, trusted)
    assert not (tmp_path / "pkg").exists()
    assert log_length(bundle) == 6


def test_disclose_writes_only_into_a_new_or_empty_folder(
    built: Built, trusted: dict[str, PublicKey], custodian: SigningKey, tmp_path: Path
) -> None:
    bundle = built.copy(tmp_path / "bundle")
    sms = finding_id(bundle, "ios.sms.indicator_match")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "link").symlink_to(elsewhere)
    with pytest.raises(CaseError, match="link: exists and is not an empty folder; a disclosure needs a new folder"):
        disclose(bundle, [sms], tmp_path / "link", custodian, trusted)
    assert list(elsewhere.iterdir()) == []
    (tmp_path / "full").mkdir()
    (tmp_path / "full/keep.txt").write_text("keep")
    with pytest.raises(CaseError, match="full: exists and is not an empty folder"):
        disclose(bundle, [sms], tmp_path / "full", custodian, trusted)
    assert log_length(bundle) == 6
    (tmp_path / "empty").mkdir()
    assert disclose(bundle, [sms], tmp_path / "empty", custodian, trusted).exit_code == 0


def test_a_bad_trust_list_or_unknown_finding_is_a_sentence_and_exit_2(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "bundle")
    junk = tmp_path / "junk.txt"
    junk.write_bytes(b"\xff\xfe not keys")
    runner = CliRunner()
    env = {"VESTIGE_KEY_PASSPHRASE": PASSPHRASE}
    common = ["-o", str(tmp_path / "pkg"), "--key", str(built.key_b)]
    result = runner.invoke(main, ["disclose", str(bundle), "--finding", "0", "--trust", str(junk), *common], env=env)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("vestige:")
    result = runner.invoke(
        main, ["disclose", str(bundle), "--finding", "zz", "--trust", str(built.trust), *common], env=env
    )
    assert result.exit_code == 2, result.output
    assert "finding 'zz' matches 0 findings in the bundle; give more of its id" in result.output
    assert not (tmp_path / "pkg").exists()


# The mutation suite.


def flip(root: Path, data: st.DataObject, key: SigningKey) -> int:
    name = data.draw(st.sampled_from(files_of(root)), label="file")
    content = bytearray((root / name).read_bytes())
    offset = data.draw(st.integers(0, len(content) - 1), label="offset")
    content[offset] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    (root / name).write_bytes(bytes(content))
    return INTEGRITY


def verify_md(root: Path, data: st.DataObject, key: SigningKey) -> int:
    text = data.draw(st.text("abcdefghij ", min_size=1, max_size=30), label="text")
    (root / "VERIFY.md").write_text((root / "VERIFY.md").read_text() + text)
    retag(root)
    return INTEGRITY


BAG_INFO_EDITS: dict[str, Callable[[bytes, bytes], bytes]] = {
    "bag-type": lambda info, text: info.replace(b"vestige-disclosure/1", b"vestige-case/1"),
    "added-label": lambda info, text: info + b"External-Description: " + text + b"\n",
    "earlier-duplicate": lambda info, text: b"External-Identifier: " + text + b"\n" + info,
    "not-utf8": lambda info, text: info + b"Source-Organization: \xff" + text + b"\n",
    "dropped-label": lambda info, text: b"".join(line for line in info.splitlines(True) if b"Bagging-Date" not in line),
    "reordered": lambda info, text: b"".join(sorted(info.splitlines(True), reverse=True)),
    "value": lambda info, text: info.replace(b"Bag-Software-Agent: vestige", b"Bag-Software-Agent: " + text),
}


def bag_info(root: Path, data: st.DataObject, key: SigningKey) -> int:
    edit = BAG_INFO_EDITS[data.draw(st.sampled_from(sorted(BAG_INFO_EDITS)), label="edit")]
    text = data.draw(st.text("abcdefghij", min_size=1, max_size=12), label="text").encode()
    (root / "bag-info.txt").write_bytes(edit((root / "bag-info.txt").read_bytes(), text))
    retag(root)
    return INTEGRITY


def timestamps(root: Path, data: st.DataObject, key: SigningKey) -> int:
    kind = data.draw(st.sampled_from(["000006.tsr", "000006.pem", "000006.tsq", "000001.tsq"]), label="file")
    junk = data.draw(st.binary(min_size=1, max_size=64), label="junk")
    (root / "custody/timestamps" / kind).write_bytes(junk)
    retag(root)
    return INTEGRITY if kind.endswith(".tsq") else CHAIN


def tag_file(root: Path, data: st.DataObject, key: SigningKey) -> int:
    name = data.draw(
        st.sampled_from(["tagmanifest-md5.txt", "manifest-md5.txt", "custody/notes.txt", "attestations/x.jsonl"]),
        label="name",
    )
    (root / name).write_bytes(data.draw(st.binary(max_size=32), label="content"))
    retag(root)
    return INTEGRITY


def special(root: Path, data: st.DataObject, key: SigningKey) -> int:
    """A file replaced by a link to an identical copy outside, a link to /, a FIFO, anywhere."""
    names = files_of(root)
    kind = data.draw(st.sampled_from(["identical-link", "root-link", "fifo"]), label="kind")
    if kind == "identical-link":
        name = data.draw(st.sampled_from(names), label="file")
        copy = root.parent / "outside" / hashlib.sha256(name.encode()).hexdigest()
        copy.parent.mkdir(exist_ok=True)
        shutil.copyfile(root / name, copy)
        (root / name).unlink()
        (root / name).symlink_to(copy)
        return INTEGRITY
    folder = data.draw(st.sampled_from(sorted({str(Path(n).parent) for n in names})), label="folder")
    target = root / folder / "planted"
    if kind == "root-link":
        target.symlink_to("/")
    else:
        os.mkfifo(target)
    return INTEGRITY


def unsigned_document(root: Path, data: st.DataObject, key: SigningKey) -> int:
    document = document_of(root)
    document["withheld"][ITEM]["files"] += data.draw(st.integers(-5, 5).filter(bool), label="delta")
    write_document(root, document)
    rewrite(root)
    return CHAIN


def export_dropped(root: Path, data: st.DataObject, key: SigningKey) -> int:
    """The export record (and perhaps the records before it) removed with their checkpoints."""
    lines = log_lines(root)
    keep = len(lines) - data.draw(st.integers(1, 3), label="dropped")
    for number in range(keep + 1, len(lines) + 1):
        (root / f"custody/checkpoints/{number:06d}.json").unlink()
    write_log(root, lines[:keep])
    retag(root)
    return CHAIN


def _evidence(document: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    entry: dict[str, Any] = document["evidence"][data.draw(st.integers(0, len(document["evidence"]) - 1), label="e")]
    return entry


def _finding(document: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    entry: dict[str, Any] = document["findings"][data.draw(st.integers(0, len(document["findings"]) - 1), label="f")]
    return entry


def _hex(data: st.DataObject, size: int, label: str) -> str:
    return data.draw(st.binary(min_size=size, max_size=size), label=label).hex()


def _tree_size(root: Path, document: dict[str, Any], data: st.DataObject) -> int:
    _evidence(document, data)["leaf"]["tree_size"] = data.draw(st.integers(0, 1 << 20).filter(lambda n: n != 22))
    return INTEGRITY


def _withheld(root: Path, document: dict[str, Any], data: st.DataObject) -> int:
    counts = document["withheld"][ITEM]
    counts[data.draw(st.sampled_from(["files", "of"]))] += data.draw(st.integers(-20, 20).filter(bool), label="d")
    return INTEGRITY


def _salt_moved(root: Path, document: dict[str, Any], data: st.DataObject) -> int:
    entry = _evidence(document, data)
    leaf = entry["leaf"]
    cut = data.draw(st.integers(1, len(leaf["path"]) - 1), label="cut")
    leaf["salt"] += leaf["path"][:cut].encode().hex()
    leaf["path"] = leaf["path"][cut:]
    moved = root / f"data/evidence/{ITEM}/{leaf['path']}"
    moved.parent.mkdir(parents=True, exist_ok=True)
    (root / entry["file"]).rename(moved)
    entry["file"] = f"data/evidence/{ITEM}/{leaf['path']}"
    return INTEGRITY


def _salt_length(root: Path, document: dict[str, Any], data: st.DataObject) -> int:
    leaf = _evidence(document, data)["leaf"]
    size = data.draw(st.integers(0, 48).filter(lambda n: n != 32), label="size")
    leaf["salt"] = (bytes.fromhex(leaf["salt"]) * 2)[:size].hex()
    return INTEGRITY


def _finding_salt(root: Path, document: dict[str, Any], data: st.DataObject) -> int:
    finding = _finding(document, data)
    kind = data.draw(st.sampled_from(["other", "removed", "longer", "upper"]), label="kind")
    if kind == "removed":
        del finding["salt"]
    elif kind == "longer":
        finding["salt"] += "00"
    elif kind == "upper":
        finding["salt"] = finding["salt"].upper()
    else:
        finding["salt"] = _hex(data, 32, "salt")
    return INTEGRITY


def _leaf_index(root: Path, document: dict[str, Any], data: st.DataObject) -> int:
    leaf = _evidence(document, data)["leaf"]
    leaf["index"] = data.draw(st.integers(0, 40).filter(lambda n: n != leaf["index"]), label="index")
    return INTEGRITY


def _proof(root: Path, document: dict[str, Any], data: st.DataObject) -> int:
    target = _evidence(document, data)["leaf"] if data.draw(st.booleans(), label="leaf") else _finding(document, data)
    steps = target["proof"]
    kind = data.draw(st.sampled_from(["changed", "dropped", "added", "not-hex"]), label="kind")
    at = data.draw(st.integers(0, len(steps) - 1), label="at")
    if kind == "changed":
        steps[at] = _hex(data, 32, "step")
    elif kind == "dropped":
        del steps[at]
    elif kind == "added":
        steps.insert(at, _hex(data, 32, "step"))
    else:
        steps[at] = steps[at][:-1] + "g"
    return INTEGRITY


def _finding_content(root: Path, document: dict[str, Any], data: st.DataObject) -> int:
    finding = _finding(document, data)
    kind = data.draw(st.sampled_from(["title", "severity", "index", "count", "item"]), label="kind")
    if kind == "title":
        finding["finding"]["title"] += data.draw(st.text(min_size=1, max_size=8), label="text")
    elif kind == "severity":
        finding["finding"]["severity"] = "critical" if finding["finding"]["severity"] != "critical" else "low"
    elif kind == "index":
        finding["index"] = data.draw(st.integers(0, 8).filter(lambda n: n != finding["index"]), label="i")
    elif kind == "count":
        finding["count"] = data.draw(st.integers(0, 40).filter(lambda n: n != 9), label="n")
    else:
        finding["item"] = "CASE-2026-0042-002B"
    return INTEGRITY


def _duplicate(root: Path, document: dict[str, Any], data: st.DataObject) -> int:
    document["evidence"].append(dict(_evidence(document, data)))
    return INTEGRITY


def _stray(root: Path, document: dict[str, Any], data: st.DataObject) -> int:
    name = data.draw(st.sampled_from([f"data/evidence/{ITEM}/extra.db", "data/notes.txt", "data/evidence/x"]))
    (root / name).write_bytes(data.draw(st.binary(max_size=16), label="content"))
    return INTEGRITY


def _malformed_leaf(root: Path, document: dict[str, Any], data: st.DataObject) -> int:
    leaf = _evidence(document, data)["leaf"]
    kind = data.draw(st.sampled_from(["sha-upper", "dot-dot", "absolute", "nul", "size-text", "size-bool"]))
    if kind == "sha-upper":
        leaf["sha256"] = leaf["sha256"].upper()
    elif kind == "dot-dot":
        leaf["path"] = "../" + leaf["path"]
    elif kind == "absolute":
        leaf["path"] = "/" + leaf["path"]
    elif kind == "nul":
        leaf["path"] += "\x00"
    elif kind == "size-text":
        leaf["size"] = str(leaf["size"])
    else:
        leaf["size"] = True
    return INTEGRITY


def _other_case_or_schema(root: Path, document: dict[str, Any], data: st.DataObject) -> int:
    document[data.draw(st.sampled_from(["case", "schema"]), label="field")] = "CASE-2026-0001"
    return INTEGRITY


def _other_run(root: Path, document: dict[str, Any], data: st.DataObject) -> int:
    _finding(document, data)["run"] = data.draw(st.sampled_from(["0002", "../0001", "0001/..", ""]), label="run")
    return CHAIN  # the other disclosed finding still names analysis 0001, whose attestation stays


def _other_item(root: Path, document: dict[str, Any], data: st.DataObject) -> int:
    _evidence(document, data)["item"] = "CASE-2026-0042-002B"
    return INTEGRITY  # never acquired (a chain failure), and the withheld counts then differ


CUSTODIAN_EDITS: dict[str, Callable[[Path, dict[str, Any], st.DataObject], int]] = {
    "tree-size": _tree_size,
    "withheld": _withheld,
    "salt-moved": _salt_moved,
    "salt-length": _salt_length,
    "finding-salt": _finding_salt,
    "leaf-index": _leaf_index,
    "proof": _proof,
    "finding": _finding_content,
    "duplicate": _duplicate,
    "stray": _stray,
    "malformed-leaf": _malformed_leaf,
    "case-or-schema": _other_case_or_schema,
    "run": _other_run,
    "item": _other_item,
}


def custodian_edit(root: Path, data: st.DataObject, key: SigningKey) -> int:
    """The disclosing custodian changes a field of the document and signs the package anew."""
    document = document_of(root)
    expected = CUSTODIAN_EDITS[data.draw(st.sampled_from(sorted(CUSTODIAN_EDITS)), label="edit")](root, document, data)
    write_document(root, document)
    resign(root, key)
    return expected


MUTATIONS: dict[str, Callable[[Path, st.DataObject, SigningKey], int]] = {
    "flip": flip,
    "verify-md": verify_md,
    "bag-info": bag_info,
    "timestamps": timestamps,
    "tag-file": tag_file,
    "special": special,
    "unsigned-document": unsigned_document,
    "export-dropped": export_dropped,
    "custodian": custodian_edit,
}
EXAMPLES = {"flip": 80, "bag-info": 40, "timestamps": 20, "special": 30, "custodian": 300}


def test_every_mutation_of_a_package_is_caught_with_its_exit_code(
    anchored: Path,
    tsa: TimestampAuthority,
    custodian: SigningKey,
    trusted: dict[str, PublicKey],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    roots = tsa.pki.pem("ca")
    assert verify_disclosure(anchored, trusted, roots).exit_code == 0
    work = tmp_path_factory.mktemp("mutated") / "package"
    verified = dict.fromkeys(MUTATIONS, 0)

    def run(kind: str) -> None:
        @settings(
            max_examples=EXAMPLES.get(kind, 15),
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
        @given(st.data())
        def check(data: st.DataObject) -> None:
            shutil.rmtree(work.parent)
            shutil.copytree(anchored, work)
            expected = MUTATIONS[kind](work, data, custodian)
            with within_seconds(60):
                report = verify_disclosure(work, trusted, roots)
            assert report.exit_code == expected, (kind, failures(report))
            verified[kind] += 1

        check()

    for kind in sorted(MUTATIONS):
        run(kind)
    assert sum(verified.values()) >= 500, verified
    assert min(verified.values()) >= 3, verified
