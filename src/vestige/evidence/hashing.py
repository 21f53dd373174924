"""Streaming SHA-256 of evidence files, in parallel threads but in input order.

``hashlib`` releases the GIL while it digests large buffers and ``readinto`` releases it while it
reads, so a few threads keep both cores and the disk busy. Memory is bounded: each thread holds one
buffer and at most ``window`` results wait to be consumed.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

CHUNK = 1 << 20
T = TypeVar("T")


def sha256_file(path: Path) -> tuple[int, str]:
    """The size and SHA-256 (hex) of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as stream:
        while True:
            count = stream.readinto(buffer)
            if not count:
                break
            digest.update(view[:count])
            size += count
    return size, digest.hexdigest()


def default_workers() -> int:
    return max(2, min(8, (os.cpu_count() or 1) * 2))


def hash_in_order(
    items: Iterable[tuple[T, Path | None]], workers: int | None = None, window: int = 256
) -> Iterator[tuple[T, tuple[int, str] | OSError | None]]:
    """Hash each item's file in a thread pool and yield ``(item, (size, sha256))`` in input order.

    An item with no path yields ``None``; a file that cannot be read yields the ``OSError`` so that
    the caller can report it and carry on.
    """
    pending: deque[tuple[T, Future[tuple[int, str]] | None]] = deque()
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        for item, path in items:
            pending.append((item, None if path is None else pool.submit(sha256_file, path)))
            while len(pending) >= window:
                yield _settle(*pending.popleft())
        while pending:
            yield _settle(*pending.popleft())


def _settle(item: T, future: Future[tuple[int, str]] | None) -> tuple[T, tuple[int, str] | OSError | None]:
    if future is None:
        return item, None
    try:
        return item, future.result()
    except OSError as error:
        return item, error
