"""Streaming SHA-256 of evidence files, in input order, fast for many small files and for big ones.

A phone backup holds a few large files and very many small ones. Small files (up to 1 MiB) are
hashed in the calling thread: for them the cost is the system calls, and handing them to threads
only adds lock traffic with the caller's own work. Large files go to a small thread pool, where
``hashlib`` and ``readinto`` release the GIL for each 1 MiB chunk, so their hashing overlaps with
everything else. Memory is bounded: one 1 MiB buffer per thread and at most ``window`` large files
in flight, behind at most ``BACKLOG`` waiting entries. A member of an archive has no path of its own:
it is given as a function that opens its stream, and is hashed in the calling thread.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, TypeVar

CHUNK = 1 << 20
BACKLOG = 4096
T = TypeVar("T")
HashResult = tuple[int, str] | OSError | None
"""The size and SHA-256 of a file, the error that stopped its reading, or None when there was no file."""
PathLike = str | os.PathLike[str]
HashTarget = PathLike | Callable[[], IO[bytes]]
"""Where a file's bytes are: a path, or a function that opens a stream of them."""
_buffers = threading.local()


def sha256_file(path: PathLike) -> tuple[int, str]:
    """The size and SHA-256 (hex) of a file, read in 1 MiB chunks into one buffer per thread."""
    with open(path, "rb", buffering=0) as stream:  # noqa: PTH123 - paths arrive as text, by the thousand
        return _sha256_raw(stream)


_NOT_FOLLOWED = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def open_regular(path: PathLike) -> io.FileIO:
    """``path`` opened for reading only if it is a regular file: a link in its place is not followed
    and a FIFO or device is not waited on (a file of an acquisition swapped after it was listed is
    an error to report, never another file's bytes, never a hang)."""
    descriptor = os.open(path, _NOT_FOLLOWED)
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", os.fsdecode(path))
        return io.FileIO(descriptor, "rb", closefd=True)
    except BaseException:
        os.close(descriptor)
        raise


def sha256_regular(path: PathLike) -> tuple[int, str]:
    """``sha256_file`` of a file of an acquisition, opened with ``open_regular``."""
    with open_regular(path) as stream:
        return _sha256_raw(stream)


def _sha256_raw(stream: io.RawIOBase) -> tuple[int, str]:
    buffer: bytearray | None = getattr(_buffers, "buffer", None)
    if buffer is None:
        buffer = _buffers.buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    digest = hashlib.sha256()
    size = 0
    while count := stream.readinto(buffer):
        digest.update(view[:count])
        size += count
    return size, digest.hexdigest()


def sha256_stream(stream: IO[bytes]) -> tuple[int, str]:
    """The size and SHA-256 (hex) of a stream (a member of an archive), read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _small_or_none(path: PathLike) -> tuple[int, str] | None:
    """The size and SHA-256 of a file of at most one chunk, or None for a larger file.

    The size comes first from ``lstat``: an empty regular file (most files of a phone backup are lock
    files, emptied journals and placeholders) then costs one system call instead of four, and its
    digest is the digest of no bytes. Anything else is opened with ``open_regular``: a link, a FIFO or
    a device put in the file's place is an error, never followed or waited on.
    """
    status = os.lstat(path)
    size = status.st_size
    if size == 0 and stat.S_ISREG(status.st_mode):
        return 0, EMPTY_SHA256
    if size > CHUNK and stat.S_ISREG(status.st_mode):
        return None
    with open_regular(path) as stream:
        data = stream.read(CHUNK + 1)
        if len(data) > CHUNK:
            stream.seek(0)
            return _sha256_raw(stream)
        return len(data), hashlib.sha256(data).hexdigest()


def hash_threads() -> int:
    """Threads for hashing or copying files: reads and SHA-256 release the GIL, and a few at once keep
    the disk busy even on one core (``workers.default_workers`` is the number of processes)."""
    return max(2, min(4, os.cpu_count() or 1))


def hash_in_order(
    items: Iterable[tuple[T, HashTarget | None]], workers: int | None = None, window: int = 16
) -> Iterator[tuple[T, HashResult]]:
    """Hash each item's file and yield ``(item, (size, sha256))`` in input order.

    An item with no target yields ``None``; a file that cannot be read yields its ``OSError`` so that
    the caller can report it and carry on.
    """
    pending: deque[tuple[T, HashResult | Future[tuple[int, str]]]] = deque()
    with ThreadPoolExecutor(max_workers=workers or hash_threads()) as pool:
        in_flight = 0
        for item, target in items:
            result: HashResult | Future[tuple[int, str]] = None
            if callable(target):
                result = _opened(target)
            elif target is not None:
                try:
                    result = _small_or_none(target)
                except OSError as error:
                    result = error
                if result is None:
                    result = pool.submit(sha256_regular, target)
                    in_flight += 1
            pending.append((item, result))
            while pending and (in_flight >= window or len(pending) > BACKLOG or not isinstance(pending[0][1], Future)):
                head, result = pending.popleft()
                if isinstance(result, Future):
                    in_flight -= 1
                    result = _result(result)
                yield head, result
        while pending:
            head, result = pending.popleft()
            yield head, _result(result) if isinstance(result, Future) else result


def _opened(opener: Callable[[], IO[bytes]]) -> tuple[int, str] | OSError:
    try:
        with opener() as stream:
            return sha256_stream(stream)
    except OSError as error:
        return error


def _result(future: Future[tuple[int, str]]) -> tuple[int, str] | OSError:
    try:
        return future.result()
    except OSError as error:
        return error
