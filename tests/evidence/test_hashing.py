"""Streaming SHA-256 in parallel threads, yielded in input order."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path

import pytest

from vestige.evidence import hashing
from vestige.evidence.hashing import CHUNK, hash_in_order, sha256_file


def test_sha256_file_streams_files_larger_than_a_chunk(tmp_path: Path) -> None:
    content = bytes(range(256)) * (CHUNK // 256 * 3 + 7)
    path = tmp_path / "big"
    path.write_bytes(content)
    assert sha256_file(path) == (len(content), hashlib.sha256(content).hexdigest())


def test_hash_in_order_keeps_order_and_reports_unreadable_files(tmp_path: Path) -> None:
    paths = []
    for number in range(600):
        path = tmp_path / f"f{number}"
        path.write_bytes(str(number).encode())
        paths.append(path)
    items: list[tuple[int, Path | None]] = [(n, p) for n, p in enumerate(paths)]
    items.append((600, None))
    items.append((601, tmp_path / "missing"))
    results = list(hash_in_order(items, workers=4, window=16))
    assert [item for item, _ in results] == list(range(602))
    assert results[42][1] == (2, hashlib.sha256(b"42").hexdigest())
    assert results[600][1] is None
    assert isinstance(results[601][1], FileNotFoundError)


def test_empty_small_and_large_files_each_get_their_own_digest(tmp_path: Path) -> None:
    contents = {"empty": b"", "small": b"x" * 1000, "chunk": b"y" * CHUNK, "large": b"z" * (CHUNK + 1)}
    for name, content in contents.items():
        (tmp_path / name).write_bytes(content)
    results = dict(hash_in_order([(name, tmp_path / name) for name in contents]))
    assert results == {name: (len(content), hashlib.sha256(content).hexdigest()) for name, content in contents.items()}
    assert results["empty"] == (0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


def test_large_files_go_through_the_thread_pool_and_still_come_back_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    real = hashing.sha256_regular

    def watched(path: hashing.PathLike) -> tuple[int, str]:
        threads.append(threading.current_thread().name)
        return real(path)

    monkeypatch.setattr(hashing, "sha256_regular", watched)
    contents = [bytes([n]) * (CHUNK + 1 + n * 4099 if n % 3 == 0 else 10 + n) for n in range(30)]
    for number, content in enumerate(contents):
        (tmp_path / f"f{number}").write_bytes(content)
    results = list(hash_in_order([(n, tmp_path / f"f{n}") for n in range(30)], workers=3, window=2))
    assert [n for n, _ in results] == list(range(30))
    assert [r for _, r in results] == [(len(c), hashlib.sha256(c).hexdigest()) for c in contents]
    assert len(threads) == 10  # every large file, each hashed on a worker thread of the pool
    assert threading.main_thread().name not in threads


def test_a_stream_target_is_hashed_and_a_failing_one_reported() -> None:
    def broken() -> io.BytesIO:
        raise OSError("member damaged")

    results = list(hash_in_order([("member", lambda: io.BytesIO(b"zip member")), ("bad", broken)]))
    assert results[0] == ("member", (10, hashlib.sha256(b"zip member").hexdigest()))
    assert results[1][0] == "bad" and isinstance(results[1][1], OSError)


def test_a_file_swapped_for_a_link_or_a_fifo_after_listing_is_an_error_never_followed(tmp_path: Path) -> None:
    """The hashing pass opens what was listed as a regular file without following a link or waiting
    on a FIFO put in its place: the secret behind the link is never read, and nothing blocks."""
    secret = tmp_path / "secret"
    secret.write_bytes(b"s" * 10)
    large = tmp_path / "large"
    large.write_bytes(b"l" * (CHUNK + 1))
    (tmp_path / "link").symlink_to(secret)
    (tmp_path / "large-link").symlink_to(large)
    os.mkfifo(tmp_path / "fifo")
    names = ["link", "large-link", "fifo", "secret"]
    results = dict(hash_in_order([(name, str(tmp_path / name)) for name in names]))
    assert [type(results[name]).__name__ for name in names] == ["OSError", "OSError", "OSError", "tuple"]
    assert results["secret"] == (10, hashlib.sha256(b"s" * 10).hexdigest())
