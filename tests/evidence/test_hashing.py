"""Streaming SHA-256 in parallel threads, yielded in input order."""

from __future__ import annotations

import hashlib
from pathlib import Path

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
