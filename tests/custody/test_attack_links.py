"""Links, FIFOs and devices inside a bag: named, never followed, never opened (issue 10, class 2)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from vestige.custody.bag import Bag, NotRegularError, read_regular, regular_tree, validate


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
