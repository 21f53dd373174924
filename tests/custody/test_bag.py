"""BagIt bags: layout, manifests with percent-encoded names, copy with hash, validation."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import bagit
import pytest

from vestige.custody.bag import Bag, BagError, copy_with_hash, read_manifest, validate, write_manifest


def make(tmp_path: Path) -> Bag:
    bag = Bag.create(tmp_path / "bag", {"Bag-Type": "test", "External-Identifier": "X-1"})
    source = tmp_path / "source.bin"
    source.write_bytes(bytes(range(256)) * 9000)
    bag.copy_in(source, "data/acquisition/a/source.bin")
    bag.write("data/odd name\nwith newline.txt", b"odd")
    (bag.root / "custody").mkdir()
    (bag.root / "custody" / "log.jsonl").write_text("{}\n")
    bag.save()
    return bag


def test_a_new_bag_is_valid_for_the_library_of_congress_validator(tmp_path: Path) -> None:
    bag = make(tmp_path)
    assert validate(bag.root) == []
    reference = bagit.Bag(str(bag.root))
    reference.validate()
    assert reference.info["Payload-Oxum"] == f"{256 * 9000 + 3}.2"
    assert reference.info["External-Identifier"] == "X-1"


def test_manifest_lines_are_sorted_and_percent_encode_newlines(tmp_path: Path) -> None:
    bag = make(tmp_path)
    lines = (bag.root / "manifest-sha256.txt").read_text().splitlines()
    assert lines == [
        f"{hashlib.sha256(bytes(range(256)) * 9000).hexdigest()}  data/acquisition/a/source.bin",
        f"{hashlib.sha256(b'odd').hexdigest()}  data/odd name%0Awith newline.txt",
    ]
    assert (
        read_manifest(bag.root / "manifest-sha256.txt")["data/odd name\nwith newline.txt"]
        == hashlib.sha256(b"odd").hexdigest()
    )
    tags = read_manifest(bag.root / "tagmanifest-sha256.txt")
    assert sorted(tags) == ["bag-info.txt", "bagit.txt", "custody/log.jsonl", "manifest-sha256.txt"]


def test_percent_signs_are_encoded_as_rfc_8493_requires(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest-sha256.txt"
    write_manifest(manifest, {"data/100%\r\n.txt": "0" * 64})
    assert manifest.read_text() == f"{'0' * 64}  data/100%25%0D%0A.txt\n"
    assert read_manifest(manifest) == {"data/100%\r\n.txt": "0" * 64}


def test_validation_names_every_disagreement(tmp_path: Path) -> None:
    bag = make(tmp_path)
    (bag.root / "data/acquisition/a/source.bin").write_bytes(b"changed")
    (bag.root / "data/extra.txt").write_text("x")
    (bag.root / "custody/log.jsonl").unlink()
    (bag.root / "notes.txt").write_text("y")
    problems = {(p.path, p.reason) for p in validate(bag.root)}
    assert problems == {
        ("data/acquisition/a/source.bin", "its SHA-256 differs from the manifest"),
        ("data/extra.txt", "a payload file that the manifest does not list"),
        ("custody/log.jsonl", "listed in the tag manifest but missing"),
        ("notes.txt", "a tag file that the manifest does not list"),
        ("bag-info.txt", f"Payload-Oxum {256 * 9000 + 3}.2 does not match {7 + 3}.2"),
    }


def test_copy_with_hash_never_overwrites(tmp_path: Path) -> None:
    source = tmp_path / "s"
    source.write_bytes(b"abc")
    assert copy_with_hash(source, tmp_path / "out" / "t") == (3, hashlib.sha256(b"abc").hexdigest())
    with pytest.raises(FileExistsError):
        copy_with_hash(source, tmp_path / "out" / "t")


def test_a_folder_that_is_not_empty_or_not_a_bag_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "file").write_text("mine")
    with pytest.raises(BagError, match="exists and is not empty"):
        Bag.create(tmp_path / "x", {})
    with pytest.raises(BagError, match="not a bag"):
        Bag(tmp_path / "x")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"{'0' * 64} data/a\n", "line 1 is not '<sha256>  <path>' as vestige writes it"),
        (f"{'0' * 64}  data/b\n{'0' * 64}  data/a\n", "its lines are not sorted by path"),
        (f"{'0' * 64}  data/a\n{'0' * 64}  data/a\n", "line 2 repeats 'data/a'"),
        (f"{'0' * 64}  data/a%0a\n", "line 1 is not '<sha256>  <path>' as vestige writes it"),
        (f"{'0' * 64}  data/a", "the last line does not end with a line feed"),
        (f"{'0' * 64}  data/a\n\n", "line 2 is not '<sha256>  <path>' as vestige writes it"),
    ],
)
def test_a_manifest_is_read_only_in_the_form_vestige_writes(tmp_path: Path, text: str, reason: str) -> None:
    manifest = tmp_path / "manifest-sha256.txt"
    manifest.write_text(text)
    with pytest.raises(BagError, match=f"^manifest-sha256.txt: {re.escape(reason)}$"):
        read_manifest(manifest)


def test_bag_info_refuses_a_value_that_would_make_another_line(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="cannot be written"):
        Bag.create(tmp_path / "bag", {"Source-Organization": "ACME\nExternal-Description: approved by the court"})
    assert not (tmp_path / "bag").exists()
