"""Opening SQLite databases from evidence without ever writing next to them.

ARCHITECTURE.md principle 1: with no ``-wal`` or ``-journal`` beside it, a database is opened with
``mode=ro&immutable=1`` (SQLite then takes no locks and creates no ``-shm``/``-wal``). Otherwise the
database and its sidecars are copied into a private temporary folder and the copy is opened, so
that SQLite may replay the write-ahead log or roll back a hot journal on the copy only. Plain
``mode=ro`` is not enough: it creates ``-wal``/``-shm`` files beside a WAL-mode database.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from vestige.evidence.errors import CorruptDatabaseError

SQLITE_HEADER = b"SQLite format 3\x00"
SIDECARS = ("-wal", "-journal", "-shm")


def is_sqlite(path: Path) -> bool:
    with path.open("rb") as stream:
        return stream.read(16) == SQLITE_HEADER


@contextmanager
def open_database(path: Path, name: str, sidecars: Mapping[str, Path] | None = None) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the database at ``path`` (``name`` is its path in the acquisition).

    ``sidecars`` maps ``-wal``, ``-journal`` and ``-shm`` to the files that sit beside the database in
    the acquisition (in a backup they are separate entries, not neighbours on disk).
    """
    sidecars = dict(sidecars or {})
    if not is_sqlite(path):
        raise CorruptDatabaseError(f"{name}: not a SQLite database (the header is wrong)")
    with tempfile.TemporaryDirectory(prefix="vestige-sqlite-") as scratch:
        if "-wal" in sidecars or "-journal" in sidecars:
            copy = Path(scratch) / "db"
            shutil.copyfile(path, copy)
            for suffix, sidecar in sidecars.items():
                shutil.copyfile(sidecar, Path(scratch) / f"db{suffix}")
            connection = sqlite3.connect(str(copy))
        else:
            uri = f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1"
            connection = sqlite3.connect(uri, uri=True)
        try:
            connection.execute("PRAGMA query_only = 1")
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as error:
            connection.close()
            raise CorruptDatabaseError(f"{name}: unreadable SQLite database ({error})") from None
        try:
            yield connection
        finally:
            connection.close()


def settled_copy(path: Path, name: str, sidecars: Mapping[str, Path], folder: Path) -> Path:
    """A private copy of a database with its write-ahead log or hot journal applied, in ``folder``:
    a plain file that any number of connections, in any process, may then open with ``open_database``
    (immutable) instead of copying the database again for each."""
    if not is_sqlite(path):
        raise CorruptDatabaseError(f"{name}: not a SQLite database (the header is wrong)")
    copy = folder / "db"
    shutil.copyfile(path, copy)
    for suffix, sidecar in sidecars.items():
        shutil.copyfile(sidecar, folder / f"db{suffix}")
    connection = sqlite3.connect(str(copy))
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("PRAGMA journal_mode = DELETE")
    except sqlite3.DatabaseError as error:
        raise CorruptDatabaseError(f"{name}: unreadable SQLite database ({error})") from None
    finally:
        connection.close()
    return copy


def table_columns(connection: sqlite3.Connection, table: str) -> set[str]:
    """The column names of ``table`` (empty when the table does not exist)."""
    return {row[1] for row in connection.execute(f"PRAGMA table_info({quote_identifier(table)})")}


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_names(connection: sqlite3.Connection) -> set[str]:
    return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def require_tables(connection: sqlite3.Connection, name: str, *tables: str) -> None:
    """Raise ``CorruptDatabaseError`` naming the first of ``tables`` that the database lacks."""
    present = table_names(connection)
    for table in tables:
        if table not in present:
            raise CorruptDatabaseError(f"{name}: table {table} is missing; not the expected schema")
