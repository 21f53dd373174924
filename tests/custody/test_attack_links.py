"""Links, FIFOs and devices inside a bag: named, never followed, never opened (issue 10, class 2)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tests.builders.custody import ITEM, Built, cli
from vestige.custody.bag import (
    Bag,
    NotRegularError,
    read_manifest,
    read_regular,
    regular_tree,
    validate,
    write_manifest,
)


def small_bag(tmp_path: Path) -> Bag:
    bag = Bag.create(tmp_path / "bag", {"Bag-Type": "test", "External-Identifier": "X-1"})
    bag.write("data/a/file.txt", b"content")
    bag.save()
    return bag


def test_a_regular_tree_has_no_problems(tmp_path: Path) -> None:
    assert regular_tree(small_bag(tmp_path).root) == []


def test_links_fifos_and_links_to_folders_are_each_named_and_never_entered(tmp_path: Path) -> None:
    root = small_bag(tmp_path).root
    (root / "data/a/root").symlink_to("/")
    (root / "data/whole-bag").symlink_to(root)
    (root / "data/a/dangling").symlink_to(root / "nowhere")
    os.mkfifo(root / "data/a/pipe")
    assert regular_tree(root) == [
        "data/a/dangling: a symbolic link (to "
        + str(root / "nowhere")
        + "); a bag holds only regular files and folders",
        "data/a/pipe: a FIFO; a bag holds only regular files and folders",
        "data/a/root: a symbolic link (to /); a bag holds only regular files and folders",
        "data/whole-bag: a symbolic link (to " + str(root) + "); a bag holds only regular files and folders",
    ]


def test_validate_names_a_listed_file_replaced_by_a_link_and_never_reads_through_it(tmp_path: Path) -> None:
    bag = small_bag(tmp_path)
    twin = tmp_path / "twin.txt"
    twin.write_bytes(b"content")
    (bag.root / "data/a/file.txt").unlink()
    (bag.root / "data/a/file.txt").symlink_to(twin)
    problems = {(p.path, p.reason) for p in validate(bag.root)}
    assert problems == {
        ("data/a/file.txt", f"a symbolic link (to {twin}); a bag holds only regular files and folders"),
        ("data/a/file.txt", "listed in the payload manifest but missing"),
        ("bag-info.txt", "Payload-Oxum 7.1 does not match 0.1"),
    }


def test_a_fifo_is_refused_at_once_instead_of_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            read_regular(fifo)
        except NotRegularError as error:
            outcome.append(error)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(5)
    assert not reader.is_alive()
    assert [str(e) for e in outcome] == [f"[Errno 22] not a regular file: '{fifo}'"]


def test_a_final_link_is_refused_even_to_a_regular_file(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    target.write_bytes(b"secret")
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(NotRegularError, match="a symbolic link, not a regular file"):
        read_regular(tmp_path / "link")
    assert read_regular(target) == b"secret"


def verify_in_time(bundle: Path, trust: Path, seconds: float = 120) -> tuple[int, list[str]]:
    """``vestige verify`` run in a thread that must finish: a FIFO that is opened waits for a writer."""
    outcome: list[tuple[int, str]] = []
    worker = threading.Thread(target=lambda: outcome.append(cli("verify", str(bundle), "--trust", str(trust))))
    worker.daemon = True
    worker.start()
    worker.join(seconds)
    assert outcome, "verify did not finish: it is blocked on a file"
    code, output = outcome[0]
    return code, output.splitlines()


def failed(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith(("FAIL", "warning"))]


NOT_READ = "FAIL    integrity     nothing more was read: a bundle holding links or special files is refused"


def test_a_link_to_the_root_inside_an_acquisition_is_named_and_not_followed(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    (bundle / f"data/acquisition/{ITEM}/everything").symlink_to("/")
    (bundle / "data/loop").symlink_to(bundle)
    code, output = verify_in_time(bundle, built.trust)
    assert code == 1
    assert failed(output) == [
        f"FAIL    integrity     data/acquisition/{ITEM}/everything: a symbolic link (to /); a bag holds only "
        "regular files and folders",
        f"FAIL    integrity     data/loop: a symbolic link (to {bundle}); a bag holds only regular files and folders",
        NOT_READ,
    ]


def test_the_log_replaced_by_a_link_to_an_identical_file_is_refused(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    twin = tmp_path / "elsewhere.jsonl"
    twin.write_bytes((bundle / "custody/custody.jsonl").read_bytes())
    (bundle / "custody/custody.jsonl").unlink()
    (bundle / "custody/custody.jsonl").symlink_to(twin)
    code, output = verify_in_time(bundle, built.trust)
    assert code == 1
    assert failed(output) == [
        f"FAIL    integrity     custody/custody.jsonl: a symbolic link (to {twin}); a bag holds only regular files "
        "and folders",
        "FAIL    integrity     custody/custody.jsonl: listed in the tag manifest but missing",
        NOT_READ,
    ]


def test_a_fifo_or_a_link_to_dev_zero_listed_in_the_manifest_never_blocks(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    os.mkfifo(bundle / "data/iocs/pipe.txt")
    (bundle / "data/iocs/zeros.txt").symlink_to("/dev/zero")
    manifest = bundle / "manifest-sha256.txt"
    entries = read_manifest(manifest) | {"data/iocs/pipe.txt": "0" * 64, "data/iocs/zeros.txt": "0" * 64}
    write_manifest(manifest, entries)
    code, output = verify_in_time(bundle, built.trust)
    assert code == 1
    assert failed(output)[:2] == [
        "FAIL    integrity     data/iocs/pipe.txt: a FIFO; a bag holds only regular files and folders",
        "FAIL    integrity     data/iocs/zeros.txt: a symbolic link (to /dev/zero); a bag holds only regular files "
        "and folders",
    ]
    assert failed(output)[-1] == NOT_READ


def test_a_file_name_with_line_breaks_prints_on_one_line(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    fake = "x\nok      items         all evidence verified\nverified (exit 0)"
    (bundle / "data" / fake).write_bytes(b"planted")
    code, output = verify_in_time(bundle, built.trust)
    assert code == 1
    assert not any(line.startswith(("ok      items         all", "verified")) for line in output)
    assert failed(output) == [
        "FAIL    integrity     data/x\\x0aok      items         all evidence verified\\x0averified (exit 0): a "
        "payload file that the manifest does not list"
    ]
