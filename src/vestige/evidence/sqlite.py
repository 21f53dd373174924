"""Opening SQLite databases from evidence without ever writing next to them.

ARCHITECTURE.md principle 1: with no ``-wal`` or ``-journal`` beside it, a database is opened with
``mode=ro&immutable=1`` (SQLite then takes no locks and creates no ``-shm``/``-wal``). Otherwise the
database and its sidecars are copied into a private temporary folder and the copy is opened, so
that SQLite may replay the write-ahead log or roll back a hot journal on the copy only. Plain
``mode=ro`` is not enough: it creates ``-wal``/``-shm`` files beside a WAL-mode database.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
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
            uri = f"file:{quote(os.fsencode(path.resolve()))}?mode=ro&immutable=1"  # bytes: any name
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


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class Table:
    """A table an artifact reads: the columns it cannot do without, and those it reads when present."""

    name: str
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Structure:
    """What an artifact needs of a database (Plaso's ``REQUIRED_STRUCTURE``): tables that must be
    there with their required columns, and tables read only when present."""

    required: tuple[Table, ...]
    optional: tuple[Table, ...] = ()

    def read(self, connection: sqlite3.Connection, name: str) -> Schema:
        """The database's schema, checked against this structure; ``CorruptDatabaseError`` names the
        first missing table or column. Only real tables count: a view or virtual table standing in for
        an expected table is not read."""
        tables: dict[str, set[str]] = {}
        for (table,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            if isinstance(table, str):
                tables[table] = set()
        for table in (*self.required, *self.optional):
            if table.name in tables:
                rows = connection.execute(f"SELECT name FROM pragma_table_info({quote_literal(table.name)})")
                tables[table.name] = {row[0] for row in rows}
        schema = Schema(tables)
        for table in self.required:
            if table.name not in tables:
                raise CorruptDatabaseError(f"{name}: table {table.name} is missing; not the expected schema")
            schema.require(table, name)
        return schema


@dataclass(frozen=True, slots=True)
class Schema:
    """The real tables of one database and the columns of those an artifact declared."""

    tables: Mapping[str, set[str]]

    def has(self, table: Table) -> bool:
        """Whether ``table`` is there with every required column."""
        columns = self.tables.get(table.name)
        return columns is not None and all(c in columns for c in table.required)

    def require(self, table: Table, name: str) -> None:
        columns = self.tables.get(table.name, set())
        for column in table.required:
            if column not in columns:
                raise CorruptDatabaseError(
                    f"{name}: column {column} of table {table.name} is missing; not the expected schema"
                )

    def select(self, table: Table, alias: str) -> str:
        """The select list of ``table``'s declared columns, required then optional, an absent optional
        column read as NULL: the rows always unpack the same way."""
        present = self.tables.get(table.name, set())
        prefix = f"{alias}." if alias else ""
        return ", ".join(
            f"{prefix}{quote_identifier(column)}" if column in present else "NULL"
            for column in (*table.required, *table.optional)
        )


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
