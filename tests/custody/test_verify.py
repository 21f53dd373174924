"""verify: an untouched bundle verifies; every kind of tampering is caught with the right exit code.

The property tests generate over a thousand mutations of a real bundle (flipped bytes in any file,
files deleted, added or renamed, custody records dropped, reordered, duplicated, edited or
re-signed, attestations swapped, keys replaced, payloads changed with the bag manifests rewritten to
match, bytes around what records sign edited (bag-info.txt labels, key hint names, other tag
manifests, timestamp requests, fields around an envelope, blank lines in the log), links, FIFOs and
links to devices put anywhere) and check each exit code: 1 when a file no longer matches what the
bag or a signed record says or is not a regular file, 2 when a signature, the trust list or the
chain is violated.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.builders import zip_folder
from tests.builders.custody import ITEM, Built, cli
from vestige.custody.bag import write_manifest
from vestige.custody.dsse import Envelope
from vestige.custody.keys import SigningKey, generate, load_trust_list
from vestige.custody.log import LOG, canonical
from vestige.custody.verify import CHAIN, INTEGRITY, Report, verify_case

ATTACKER = generate("attacker")


def verify(root: Path, built: Built) -> Report:
    return verify_case(root, load_trust_list(built.trust))


def files_of(root: Path) -> list[str]:
    """The regular files under ``root`` (no link is followed: a mutated bundle may hold a link to /)."""
    files: list[str] = []
    for folder, _, names in os.walk(root):
        base = Path(folder)
        files += [
            (base / n).relative_to(root).as_posix()
            for n in names
            if (base / n).is_file() and not (base / n).is_symlink()
        ]
    return sorted(files)


def rewrite_manifests(root: Path) -> None:
    """What an attacker without the keys can always do: make the bag manifests and Payload-Oxum match
    the files (bag-info.txt is otherwise left as it is, whatever it holds)."""
    payload = {
        name: hashlib.sha256((root / name).read_bytes()).hexdigest()
        for name in files_of(root)
        if name.startswith("data/")
    }
    write_manifest(root / "manifest-sha256.txt", payload)
    octets = sum((root / name).stat().st_size for name in payload)
    info = root / "bag-info.txt"
    if info.is_file() and not info.is_symlink():
        oxum = re.sub(
            rb"Payload-Oxum: [0-9]+\.[0-9]+", f"Payload-Oxum: {octets}.{len(payload)}".encode(), info.read_bytes()
        )
        info.write_bytes(oxum)
    tags = {
        name: hashlib.sha256((root / name).read_bytes()).hexdigest()
        for name in files_of(root)
        if not name.startswith(("data/", "tagmanifest-"))
    }
    write_manifest(root / "tagmanifest-sha256.txt", tags)


def log_lines(root: Path) -> list[bytes]:
    return [line for line in (root / LOG).read_bytes().split(b"\n") if line]


def write_log(root: Path, lines: list[bytes]) -> None:
    (root / LOG).write_bytes(b"".join(line + b"\n" for line in lines))


def test_the_untouched_bundle_verifies(built: Built, tmp_path: Path) -> None:
    report = verify(built.copy(tmp_path / "b"), built)
    assert report.exit_code == 0, [c for c in report.checks if not c.ok]
    assert [c.area for c in report.checks] == [
        "integrity",
        "custody",
        "checkpoints",
        "timestamps",
        "bundle",
        "payload",
        "items",
        "attestations",
    ]
    assert report.facts["records"] == 6
    assert report.facts["items"] == [ITEM]
    assert report.facts["sealed"] is True
    assert {k: v["trusted"] for k, v in report.keys.items()} == dict.fromkeys(report.keys, True)


def test_a_key_missing_from_the_trust_list_is_a_chain_failure(built: Built, tmp_path: Path) -> None:
    root = built.copy(tmp_path / "b")
    only_a = tmp_path / "only-a.txt"
    only_a.write_text(built.trust.read_text().splitlines()[0] + "\n")
    report = verify_case(root, load_trust_list(only_a))
    assert report.exit_code == CHAIN
    assert "record 4 (receive): no valid signature by a trusted key of its actor" in [c.message for c in report.checks]


def test_changing_acquired_evidence_and_rewriting_the_manifests_is_caught(built: Built, tmp_path: Path) -> None:
    root = built.copy(tmp_path / "b")
    target = root / f"data/acquisition/{ITEM}/Info.plist"
    target.write_bytes(target.read_bytes().replace(b"17.5.1", b"17.5.2"))
    rewrite_manifests(root)
    report = verify(root, built)
    assert report.exit_code == INTEGRITY
    messages = [c.message for c in report.checks if not c.ok]
    assert "the payload manifest changed after the last signed record" in messages
    assert f"{ITEM}: the copied files differ from its signed file list" in messages


def test_a_forged_record_signed_by_an_untrusted_key_is_caught(built: Built, tmp_path: Path) -> None:
    root = built.copy(tmp_path / "b")
    lines = log_lines(root)
    record = orjson.loads(Envelope.parse(lines[2]).payload)
    record["digests"]["findings_sha256"] = "0" * 64
    lines[2] = Envelope("application/vnd.vestige.custody+json", canonical(record)).signed(ATTACKER).line()
    write_log(root, lines)
    rewrite_manifests(root)
    report = verify(root, built)
    assert report.exit_code == CHAIN
    messages = [c.message for c in report.checks if not c.ok]
    assert "record 2 (analyze): no valid signature by a trusted key of its actor" in messages
    assert "record 3: prev does not match the previous record" in messages


def mutate_flip(root: Path, data: st.DataObject) -> int:
    name = data.draw(st.sampled_from(files_of(root)), label="file")
    content = bytearray((root / name).read_bytes())
    if not content:
        (root / name).write_bytes(b"\x00")
        return INTEGRITY
    offset = data.draw(st.integers(0, len(content) - 1), label="offset")
    content[offset] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    (root / name).write_bytes(bytes(content))
    return INTEGRITY


def mutate_delete(root: Path, data: st.DataObject) -> int:
    (root / data.draw(st.sampled_from(files_of(root)), label="file")).unlink()
    return INTEGRITY


def mutate_add(root: Path, data: st.DataObject) -> int:
    folder = data.draw(st.sampled_from(["", "data/", "data/acquisition/", "custody/", "attestations/"]), label="folder")
    name = data.draw(st.text("abcxyz_.", min_size=1, max_size=8).filter(lambda n: n not in (".", "..")), label="name")
    target = root / folder / f"added-{name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data.draw(st.binary(max_size=16), label="content"))
    return INTEGRITY


def mutate_rename(root: Path, data: st.DataObject) -> int:
    name = data.draw(st.sampled_from(files_of(root)), label="file")
    (root / name).rename(root / f"{name}.renamed")
    return INTEGRITY


def mutate_records(root: Path, data: st.DataObject) -> int:
    """Drops, reorders, duplicates or edits records, then rewrites the manifests to match."""
    lines = log_lines(root)
    kind = data.draw(st.sampled_from(["drop", "swap", "duplicate", "edit", "resign"]), label="kind")
    index = data.draw(st.integers(0, len(lines) - 1), label="index")
    if kind == "drop":
        del lines[index]
    elif kind == "swap":
        other = data.draw(st.integers(0, len(lines) - 1).filter(lambda i: i != index), label="other")
        lines[index], lines[other] = lines[other], lines[index]
    elif kind == "duplicate":
        lines.insert(index, lines[index])
    else:
        envelope = Envelope.parse(lines[index])
        record = orjson.loads(envelope.payload)
        record["note"] = data.draw(st.text(max_size=12).filter(lambda n: n != record.get("note")), label="note")
        edited = Envelope(envelope.payload_type, canonical(record), envelope.signatures if kind == "edit" else ())
        lines[index] = (edited if kind == "edit" else edited.signed(ATTACKER)).line()
    write_log(root, lines)
    rewrite_manifests(root)
    return CHAIN


def mutate_attestation(root: Path, data: st.DataObject) -> int:
    """Swaps the analysis attestation for another Statement, re-signed by an untrusted key or unsigned."""
    path = root / "attestations/analysis-0001.intoto.jsonl"
    envelope = Envelope.parse(path.read_bytes().strip())
    statement = orjson.loads(envelope.payload)
    subject = data.draw(st.integers(0, len(statement["subject"]) - 1), label="subject")
    statement["subject"][subject]["digest"]["sha256"] = data.draw(st.binary(min_size=32, max_size=32), label="d").hex()
    swapped = Envelope(envelope.payload_type, canonical(statement))
    if data.draw(st.booleans(), label="signed"):
        swapped = swapped.signed(ATTACKER)
    path.write_bytes(swapped.line() + b"\n")
    rewrite_manifests(root)
    return CHAIN


def mutate_key(root: Path, data: st.DataObject) -> int:
    """Replaces a key hint with another key under the same name."""
    hints = sorted((root / "custody/keys").iterdir())
    target = data.draw(st.sampled_from(hints), label="hint")
    seed = data.draw(st.binary(min_size=32, max_size=32), label="seed")
    replacement = SigningKey(Ed25519PrivateKey.from_private_bytes(seed), "impostor")
    target.write_text(replacement.public.trust_line() + "\n")
    rewrite_manifests(root)
    return CHAIN


def mutate_checkpoint(root: Path, data: st.DataObject) -> int:
    """Removes a checkpoint, or replaces one with a tree head the log does not extend."""
    checkpoints = sorted((root / "custody/checkpoints").iterdir())
    target = data.draw(st.sampled_from(checkpoints), label="checkpoint")
    if data.draw(st.booleans(), label="remove"):
        target.unlink()
    else:
        body = orjson.loads(Envelope.parse(target.read_bytes().strip()).payload)
        body["root"] = data.draw(st.binary(min_size=32, max_size=32), label="root").hex()
        target.write_bytes(Envelope("application/vnd.vestige.checkpoint+json", canonical(body)).signed(ATTACKER).line())
    rewrite_manifests(root)
    return CHAIN


def mutate_unsigned_tags(root: Path, data: st.DataObject) -> int:
    """Edits what no record signs directly (VERIFY.md, bag-info.txt) or adds a file outside data/, then
    rewrites the manifests: the bundle check ties each to the signed log."""
    kind = data.draw(st.sampled_from(["verify", "case-id", "extra"]), label="kind")
    text = data.draw(st.text("abcdefghij ", min_size=1, max_size=20), label="text")
    if kind == "verify":
        (root / "VERIFY.md").write_text((root / "VERIFY.md").read_text() + text)
    elif kind == "case-id":
        info = (
            (root / "bag-info.txt")
            .read_text()
            .replace("External-Identifier: CASE-2026-0042", f"External-Identifier: {text}")
        )
        (root / "bag-info.txt").write_text(info)
    else:
        folder = data.draw(st.sampled_from(["custody", "attestations", "custody/keys", "custody/checkpoints", "."]))
        (root / folder / f"{text.strip() or 'x'}.txt").write_text(text)
    rewrite_manifests(root)
    return INTEGRITY


def mutate_payload(root: Path, data: st.DataObject) -> int:
    """Changes any payload file and rewrites the bag manifests to match."""
    payload = [name for name in files_of(root) if name.startswith("data/")]
    name = data.draw(st.sampled_from(payload), label="file")
    (root / name).write_bytes((root / name).read_bytes() + data.draw(st.binary(min_size=1, max_size=8), label="tail"))
    rewrite_manifests(root)
    return INTEGRITY


def mutate_tags(root: Path, data: st.DataObject) -> int:
    """Edits the bytes around what records sign (bag-info.txt labels, a key hint's name, another tag
    manifest, a timestamp request, a field around a DSSE envelope, blank lines in the log), then
    rewrites the bag manifests to match: each is refused, never passed off as signed."""
    kind = data.draw(
        st.sampled_from(
            ["label", "duplicate", "organisation", "tag-manifest", "request", "hint-name", "envelope", "log-bytes"]
        ),
        label="kind",
    )
    info = root / "bag-info.txt"
    words = st.text("abcdefghij ABCXYZ", min_size=1, max_size=24).map(str.strip).filter(bool)
    expected = INTEGRITY
    if kind == "label":
        label = data.draw(st.sampled_from(["External-Description", "Contact-Name", "Bag-Group-Identifier"]))
        lines = [*info.read_text().splitlines(), f"{label}: {data.draw(words, label='value')}"]
        info.write_text("".join(f"{line}\n" for line in sorted(lines)))
    elif kind == "duplicate":
        label = data.draw(st.sampled_from(["External-Identifier", "Bag-Type", "Bagging-Date"]), label="label")
        info.write_text(f"{label}: {data.draw(words, label='value')}\n" + info.read_text())
    elif kind == "organisation":
        lines = [*info.read_text().splitlines(), f"Source-Organization: {data.draw(words, label='value')}"]
        info.write_text("".join(f"{line}\n" for line in sorted(lines)))
    elif kind == "tag-manifest":
        algorithm = data.draw(st.sampled_from(["md5", "sha1", "sha512", "sha256x"]), label="algorithm")
        (root / f"tagmanifest-{algorithm}.txt").write_bytes(data.draw(st.binary(max_size=64), label="content"))
    elif kind == "request":
        folder = root / "custody/timestamps"
        folder.mkdir(exist_ok=True)
        number = data.draw(st.integers(1, len(log_lines(root))), label="checkpoint")
        (folder / f"{number:06d}.tsq").write_bytes(data.draw(st.binary(max_size=80), label="content"))
    elif kind == "hint-name":
        hint = data.draw(st.sampled_from(sorted((root / "custody/keys").iterdir())), label="hint")
        key, _, name = hint.read_text().rstrip("\n").rpartition(" ")
        hint.write_text(f"{key} {data.draw(words.filter(lambda n: n != name), label='name')}\n")
    elif kind == "envelope":
        expected = CHAIN
        target = data.draw(st.sampled_from(["log", "checkpoint"]), label="target")
        field = data.draw(st.sampled_from(["comment", "keyid", "payloadtype", "x"]), label="field")
        value = data.draw(words, label="value")
        if target == "log":
            lines = log_lines(root)
            index = data.draw(st.integers(0, len(lines) - 1), label="index")
            lines[index] = orjson.dumps({**orjson.loads(lines[index]), field: value}, option=orjson.OPT_SORT_KEYS)
            write_log(root, lines)
        else:
            path = data.draw(st.sampled_from(sorted((root / "custody/checkpoints").iterdir())), label="checkpoint")
            document = {**orjson.loads(path.read_bytes()), field: value}
            path.write_bytes(orjson.dumps(document, option=orjson.OPT_SORT_KEYS) + b"\n")
    else:
        expected = CHAIN
        lines = log_lines(root)
        index = data.draw(st.integers(0, len(lines)), label="index")
        filler = data.draw(st.sampled_from([b"", b" ", b"\t", b"\r"]), label="filler")
        write_log(root, [*lines[:index], filler, *lines[index:]])
    rewrite_manifests(root)
    return expected


def mutate_links(root: Path, data: st.DataObject) -> int:
    """Puts a symbolic link, a FIFO or a link to a device anywhere in the bundle (or a file or folder
    replaced by a link to an identical copy outside it): named, never followed or opened."""
    kind = data.draw(st.sampled_from(["file", "folder", "add", "fifo"]), label="kind")
    outside = root.parent / "outside"
    shutil.rmtree(outside, ignore_errors=True)
    outside.mkdir()
    if kind == "file":
        name = data.draw(st.sampled_from(files_of(root)), label="file")
        twin = outside / "twin"
        shutil.copyfile(root / name, twin)
        (root / name).unlink()
        (root / name).symlink_to(twin)
    elif kind == "folder":
        folders = sorted({str(Path(name).parent) for name in files_of(root)} - {"."})
        folder = data.draw(st.sampled_from(folders), label="folder")
        shutil.copytree(root / folder, outside / "twin")
        shutil.rmtree(root / folder)
        (root / folder).symlink_to(outside / "twin")
    else:
        folders = sorted({str(Path(name).parent) for name in files_of(root)})
        where = root / data.draw(st.sampled_from(folders), label="folder") / "added"
        if kind == "fifo":
            os.mkfifo(where)
        else:
            target = data.draw(st.sampled_from(["/", "/dev/zero", str(root), str(outside / "nowhere")]), label="to")
            where.symlink_to(target)
    if data.draw(st.booleans(), label="rewrite"):
        rewrite_manifests(root)
    return INTEGRITY


MUTATIONS: dict[str, Callable[[Path, st.DataObject], int]] = {
    "flip": mutate_flip,
    "delete": mutate_delete,
    "add": mutate_add,
    "rename": mutate_rename,
    "records": mutate_records,
    "attestation": mutate_attestation,
    "key": mutate_key,
    "checkpoint": mutate_checkpoint,
    "payload": mutate_payload,
    "unsigned": mutate_unsigned_tags,
    "tags": mutate_tags,
    "links": mutate_links,
}


EXAMPLES = {"flip": 160, "add": 120, "payload": 120, "records": 160, "attestation": 100, "key": 100, "checkpoint": 100}


def test_over_a_thousand_mutations_are_each_caught_with_their_exit_code(
    built: Built, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Each kind of mutation is generated until its examples (or its distinct cases) run out; every
    mutated bundle is verified and must fail with the kind's exit code."""
    pristine = built.copy(tmp_path_factory.mktemp("pristine") / "bundle")
    work = tmp_path_factory.mktemp("work") / "bundle"
    verified: dict[str, int] = dict.fromkeys(MUTATIONS, 0)

    def run(kind: str) -> None:
        mutation = MUTATIONS[kind]

        @settings(
            max_examples=EXAMPLES.get(kind, 100),
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
        @given(st.data())
        def check(data: st.DataObject) -> None:
            if work.exists():
                shutil.rmtree(work)
            shutil.copytree(pristine, work)
            expected = mutation(work, data)
            report = verify(work, built)
            assert report.exit_code == expected, (kind, [c.as_json() for c in report.checks if not c.ok])
            verified[kind] += 1

        check()

    for kind in sorted(MUTATIONS):
        run(kind)
    assert sum(verified.values()) >= 1000, verified
    assert min(verified.values()) >= 50, verified


def zipped_case(built: Built, tmp_path: Path) -> Path:
    """A bundle holding the demo backup as a zip (an archive item: its leaves are the zip's members)."""
    archive = zip_folder(built.sample, tmp_path / "backup.zip")
    bundle = tmp_path / "zip-bundle"
    key = built.key_a
    for step in (
        ("case", "new", str(bundle), "--case-id", "ZIP-1", "--examiner", str(key)),
        ("case", "add", str(bundle), str(archive), "--item-id", "Z", "--key", str(key)),
    ):
        code, output = cli(*step)
        assert code == 0, output
    return bundle


def test_an_archive_item_verifies_member_by_member_and_a_swapped_member_is_caught(built: Built, tmp_path: Path) -> None:
    bundle = zipped_case(built, tmp_path)
    description = orjson.loads((bundle / "data/items/Z/item.json").read_bytes())
    assert description["source"] == {"shape": "archive", "name": "backup.zip", "within": ""}
    assert description["files"] == 22  # the files the backup stores, its members
    report = verify(bundle, built)
    assert report.exit_code == 0, [c for c in report.checks if not c.ok]
    copied = bundle / "data/acquisition/Z/backup.zip"
    with zipfile.ZipFile(copied) as original:
        members = {info.filename: original.read(info) for info in original.infolist()}
    members["Info.plist"] = members["Info.plist"].replace(b"Reporter", b"Somebody")
    with zipfile.ZipFile(copied, "w") as forged:
        for name, data in members.items():
            forged.writestr(name, data)
    rewrite_manifests(bundle)
    report = verify(bundle, built)
    assert report.exit_code == INTEGRITY
    assert "Z: the copied archive is not the one its acquire record signed" in [c.message for c in report.checks]
