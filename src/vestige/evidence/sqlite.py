"""Opening SQLite databases from evidence without ever writing next to them, and without letting them
run away.

ARCHITECTURE.md principle 1: with no ``-wal`` or ``-journal`` beside it, a database is opened with
``mode=ro&immutable=1`` (SQLite then takes no locks and creates no ``-shm``/``-wal``). Otherwise the
database and its sidecars are copied into a private temporary folder and the copy is opened, so
that SQLite may replay the write-ahead log or roll back a hot journal on the copy only. Plain
``mode=ro`` is not enough: it creates ``-wal``/``-shm`` files beside a WAL-mode database.

A database from a compromised phone is the operator's to shape: its schema is SQL that SQLite runs
while reading (a view with an endless recursive query, a generated column computing gigabytes).
Every evidence connection is therefore hardened (``harden``): ``trusted_schema`` off, SQLite's limits
on value length (the task's ``text`` budget), SQL length, expression depth and the like, temporary
tables kept in memory (they count against the task's memory budget instead of filling the disk) and
a progress handler that checks the task's budget and lets Ctrl-C through. ``Structure.read`` reads
only real tables; a view, virtual or shadow table where a table is expected, or a generated column,
is ``SchemaManipulatedError``, reported as a finding (``findings_of``). Text that is not UTF-8 is kept,
each stray byte shown as ``\\xNN`` (``EvidenceCursor``).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any
from urllib.parse import quote

from vestige.evidence import budget
from vestige.evidence.budget import BudgetExceededError
from vestige.evidence.errors import CorruptDatabaseError, SchemaManipulatedError
from vestige.evidence.values import lenient_text
from vestige.model import Evidence, Finding, Locator, Severity

SQLITE_HEADER = b"SQLite format 3\x00"
SIDECARS = ("-wal", "-journal", "-shm")

PROGRESS_STEPS = 50_000
"""SQLite virtual-machine steps between two budget checks: a few hundred checks a second of a busy
query, which cost nothing measurable on the Manifest.db listing query (200,000 rows)."""
SQLITE_MAX_LENGTH = 1_000_000_000
"""The longest value SQLite itself allows (its compile-time ``SQLITE_MAX_LENGTH``)."""
SQL_LENGTH = 1_000_000
"""The longest SQL statement read, the schema's included (a real one is a few kilobytes)."""
_SQLITE_TOOBIG = 18
_UNDECODABLE = "Could not decode to UTF-8"
"""How Python's sqlite3 starts the error of a TEXT value that is not UTF-8."""


def is_sqlite(path: Path) -> bool:
    with path.open("rb") as stream:
        return stream.read(16) == SQLITE_HEADER


def value_limit() -> int:
    """The longest text or BLOB an evidence connection reads: the task's ``text`` budget."""
    return min(budget.current().limits.text, SQLITE_MAX_LENGTH)


def _limits() -> tuple[tuple[int, int], ...]:
    """SQLite's limits for evidence (``sqlite3.SQLITE_LIMIT_*``, Python 3.11 and later), each far above
    what a real schema or vestige's own SQL needs: a schema that exceeds one is refused when parsed."""
    if sys.version_info < (3, 11):
        return ()
    return (
        (sqlite3.SQLITE_LIMIT_LENGTH, value_limit()),
        (sqlite3.SQLITE_LIMIT_SQL_LENGTH, SQL_LENGTH),
        (sqlite3.SQLITE_LIMIT_EXPR_DEPTH, 256),
        (sqlite3.SQLITE_LIMIT_COMPOUND_SELECT, 64),
        (sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999),
        (sqlite3.SQLITE_LIMIT_FUNCTION_ARG, 32),
        (sqlite3.SQLITE_LIMIT_TRIGGER_DEPTH, 1),
        (sqlite3.SQLITE_LIMIT_ATTACHED, 0),
    )


def harden(connection: sqlite3.Connection) -> None:
    """Makes ``connection`` safe for a database an adversary wrote: no schema function with side
    effects, bounded values and SQL, temporary storage in memory, and the task's budget checked while
    a query runs. Call it before the first statement that reads the schema (the limits then apply to
    parsing it too)."""
    for category, value in _limits():
        connection.setlimit(category, value)  # type: ignore[attr-defined,unused-ignore]
    if sys.version_info < (3, 11):  # a failed row is lost there, so no retry: lenient from the start
        connection.text_factory = lenient_text
    connection.execute("PRAGMA trusted_schema = OFF")
    connection.execute("PRAGMA temp_store = MEMORY")
    connection.set_progress_handler(_budget_checks().__next__, PROGRESS_STEPS)


def _budget_checks() -> Generator[int, None, None]:
    """SQLite's progress handler (its ``__next__``): checks the task's budget, and gives 1 to stop the
    query. SQLite cannot carry a Python exception out of a query, so what stops it (over budget, or a
    KeyboardInterrupt from the signal handler) is kept in ``budget.current().stopped`` for
    ``raise_stopped``. A generator, because Python runs pending signal handlers on entering a function,
    before any ``try`` could catch what they raise (the sqlite3 module would then drop it, and Ctrl-C
    with it); a generator resumes inside its ``try``."""
    stop = 0
    while True:
        try:
            yield stop  # a pending signal handler runs here, inside the try
            stop = 0
            budget.check()
        except GeneratorExit:
            return
        except BaseException as error:  # every stop is handed over to raise_stopped, none swallowed
            budget.current().stopped = error
            stop = 1


def raise_stopped(error: BaseException) -> None:
    """Raises, in place of ``error`` (a query's failure), what stopped the query: the task's budget or
    an interrupt seen by the progress handler, or the ``text`` limit a value met. Returns when neither
    stopped it, and the caller re-raises ``error``.

    ``open_database`` applies it to every query run in its block; code that catches ``sqlite3.Error``
    around a query elsewhere calls it first, so that a budget or Ctrl-C is never taken for a broken
    database."""
    budget.current().raise_stopped()
    if getattr(error, "sqlite_errorcode", None) == _SQLITE_TOOBIG:
        raise BudgetExceededError("text", f"a SQLite value longer than {value_limit()} bytes") from None


class EvidenceCursor(sqlite3.Cursor):
    """A cursor that keeps TEXT that is not UTF-8 instead of failing the whole query.

    Python's sqlite3 decodes TEXT in C and raises at the first value that is not UTF-8. Decoding every
    value with a Python ``text_factory`` costs half the time of the Manifest.db listing query, so the
    connection decodes in C until a value fails, then switches to ``lenient_text`` for good and fetches
    the failed row again: on CPython 3.11 and later the row that failed stays the cursor's current one.
    """

    _delegating = False

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]  # a generator, not the cursor itself
        # Inside ``_rows`` iteration is the cursor's own (C, no Python call per row).
        return self if self._delegating else self._rows()

    def _rows(self) -> Iterator[Any]:
        self._delegating = True
        try:
            while True:
                try:
                    yield from chain(self)  # not the cursor itself: closing this generator must not close it
                    return
                except sqlite3.OperationalError as error:
                    _decode_leniently(self.connection, error)
        finally:
            self._delegating = False

    def fetchone(self) -> Any:
        while True:
            try:
                return super().fetchone()
            except sqlite3.OperationalError as error:
                _decode_leniently(self.connection, error)

    def fetchmany(self, size: int | None = None) -> list[Any]:
        return list(islice(self, self.arraysize if size is None else size))

    def fetchall(self) -> list[Any]:
        return list(self)


def _decode_leniently(connection: sqlite3.Connection, error: sqlite3.OperationalError) -> None:
    """Switches ``connection`` to lenient decoding after ``error``, or re-raises ``error`` when it is not
    a TEXT value that failed to decode (or decoding was already lenient)."""
    if not str(error).startswith(_UNDECODABLE) or connection.text_factory is lenient_text:
        raise error
    connection.text_factory = lenient_text


class EvidenceConnection(sqlite3.Connection):
    """A connection whose ``execute`` gives an ``EvidenceCursor`` (text that is not UTF-8 is kept)."""

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return EvidenceCursor(self).execute(sql, parameters)


def _connect(target: str, uri: bool = False) -> sqlite3.Connection:
    connection = sqlite3.connect(target, uri=uri, factory=EvidenceConnection)
    try:
        harden(connection)
    except BaseException:
        connection.close()
        raise
    return connection


@contextmanager
def open_database(path: Path, name: str, sidecars: Mapping[str, Path] | None = None) -> Iterator[sqlite3.Connection]:
    """A read-only, hardened connection to the database at ``path`` (``name`` is its path in the
    acquisition).

    ``sidecars`` maps ``-wal``, ``-journal`` and ``-shm`` to the files that sit beside the database in
    the acquisition (in a backup they are separate entries, not neighbours on disk). A query of the
    block that the task's budget or Ctrl-C stopped raises what stopped it (``raise_stopped``).
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
            connection = _connect(str(copy))
        else:
            uri = f"file:{quote(os.fsencode(path.resolve()))}?mode=ro&immutable=1"  # bytes: any name
            connection = _connect(uri, uri=True)
        try:
            connection.execute("PRAGMA query_only = 1")
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as error:
            connection.close()
            budget.current().raise_stopped()
            raise CorruptDatabaseError(f"{name}: unreadable SQLite database ({error}{_limits_met(error)})") from None
        try:
            yield connection
        except sqlite3.Error as error:
            raise_stopped(error)
            raise
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
    connection = _connect(str(copy))
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("PRAGMA journal_mode = DELETE")
    except sqlite3.DatabaseError as error:
        budget.current().raise_stopped()
        raise CorruptDatabaseError(f"{name}: unreadable SQLite database ({error}{_limits_met(error)})") from None
    finally:
        connection.close()
    return copy


def _limits_met(error: sqlite3.DatabaseError) -> str:
    """What limit a schema too big to read met, for the message of its error (else nothing)."""
    if "too big" not in str(error):
        return ""
    return f"; vestige reads SQL statements of at most {SQL_LENGTH} bytes and values of at most {value_limit()} bytes"


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class Table:
    """A table an artifact reads: the columns it cannot do without, and those it reads when present."""

    name: str
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


_KINDS = {"view": "a view", "virtual": "a virtual table", "shadow": "a shadow table of a virtual table"}
"""What ``pragma table_list`` may say an expected table is instead of a real one, in words."""
_GENERATED = {2: "VIRTUAL", 3: "STORED"}
"""``pragma table_xinfo``'s ``hidden`` for a generated column, and the kind of column it is."""
_VIRTUAL_TABLE = re.compile(r"\s*create\s+virtual\s", re.IGNORECASE)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_NAME_SHOWN = 80
_COLUMNS_SHOWN = 10


def fold(name: str) -> str:
    """A table or column name as SQLite compares them: ASCII letters in either case are the same."""
    return name.translate(_ASCII_LOWER)


@dataclass(frozen=True, slots=True)
class Structure:
    """What an artifact needs of a database (Plaso's ``REQUIRED_STRUCTURE``): tables that must be
    there with their required columns, and tables read only when present. ``writer`` names the
    software that writes such databases (``iOS``), for what a finding says of a manipulated schema."""

    required: tuple[Table, ...]
    optional: tuple[Table, ...] = ()
    writer: str = ""

    def read(self, connection: sqlite3.Connection, name: str) -> Schema:
        """The database's schema, checked against this structure. Only real tables are read: a view,
        virtual or shadow table standing in for an expected table, or a generated column in one, is
        ``SchemaManipulatedError`` (the writer creates none, and they can show other rows than those
        stored); otherwise ``CorruptDatabaseError`` names the first missing table or column."""
        harden(connection)
        kinds = _table_kinds(connection)
        seen: list[tuple[str, str]] = []
        tables: dict[str, set[str]] = {}
        for table in (*self.required, *self.optional):
            kind = kinds.get(fold(table.name))
            if kind is None:
                continue
            if kind != "table":
                seen.append((table.name, f"table {table.name} is {_KINDS.get(kind, kind)}"))
                continue
            columns, generated = _columns(connection, table.name)
            if generated:
                shown = ", ".join(generated[:_COLUMNS_SHOWN])
                more = f" and {len(generated) - _COLUMNS_SHOWN} more" if len(generated) > _COLUMNS_SHOWN else ""
                seen.append((table.name, f"table {table.name} has generated columns: {shown}{more}"))
            tables[table.name] = columns
        if seen:
            raise SchemaManipulatedError(name, tuple(seen), self.writer)
        schema = Schema(tables)
        for table in self.required:
            if table.name not in tables:
                raise CorruptDatabaseError(f"{name}: table {table.name} is missing; not the expected schema")
            schema.require(table, name)
        return schema


def _table_kinds(connection: sqlite3.Connection) -> dict[str, str]:
    """What each table-like name of the main schema is (table, view, virtual, shadow), by folded name."""
    try:
        rows = connection.execute("SELECT name, type FROM pragma_table_list WHERE schema = 'main'").fetchall()
    except sqlite3.OperationalError as error:  # SQLite before 3.37: no table_list, no shadow tables
        raise_stopped(error)
        rows = [
            (name, "virtual" if kind == "table" and _VIRTUAL_TABLE.match(str(sql)) else kind)
            for name, kind, sql in connection.execute(
                "SELECT name, type, sql FROM sqlite_master WHERE type IN ('table', 'view')"
            )
        ]
    return {fold(name): kind for name, kind in rows if isinstance(name, str) and isinstance(kind, str)}


def _columns(connection: sqlite3.Connection, table: str) -> tuple[set[str], list[str]]:
    """The folded names of ``table``'s columns, and its generated columns as shown in a finding."""
    columns: set[str] = set()
    generated: list[str] = []
    for column, hidden in connection.execute("SELECT name, hidden FROM pragma_table_xinfo(?)", (table,)):
        if not isinstance(column, str):
            continue
        columns.add(fold(column))
        if hidden in _GENERATED:
            shown = column if len(column) <= _NAME_SHOWN else column[: _NAME_SHOWN - 1] + "…"
            generated.append(f"{shown} ({_GENERATED[hidden]})")
    return columns, generated


@dataclass(frozen=True, slots=True)
class Schema:
    """The real tables of one database that an artifact declared, with their columns (names folded
    as SQLite compares them)."""

    tables: Mapping[str, set[str]]

    def has(self, table: Table) -> bool:
        """Whether ``table`` is there with every required column."""
        columns = self.tables.get(table.name)
        return columns is not None and all(fold(c) in columns for c in table.required)

    def require(self, table: Table, name: str) -> None:
        columns = self.tables.get(table.name, set())
        for column in table.required:
            if fold(column) not in columns:
                raise CorruptDatabaseError(
                    f"{name}: column {column} of table {table.name} is missing; not the expected schema"
                )

    def select(self, table: Table, alias: str) -> str:
        """The select list of ``table``'s declared columns, required then optional, an absent optional
        column read as NULL: the rows always unpack the same way."""
        present = self.tables.get(table.name, set())
        prefix = f"{alias}." if alias else ""
        return ", ".join(
            f"{prefix}{quote_identifier(column)}" if fold(column) in present else "NULL"
            for column in (*table.required, *table.optional)
        )


SCHEMA_MANIPULATED = "evidence.sqlite_schema_manipulated"


def findings_of(error: BaseException) -> tuple[Finding, ...]:
    """What a read error is evidence of: a manipulated schema is a finding (besides the problem that
    the file was not read); any other error is none."""
    if isinstance(error, SchemaManipulatedError):
        return (schema_manipulated(error),)
    return ()


def schema_manipulated(error: SchemaManipulatedError) -> Finding:
    """The finding of a database whose schema holds a view, virtual table or generated column where
    its writer creates plain tables, citing each table concerned."""
    database = error.database
    clauses = [what for _, what in error.seen]
    real = f"Real {error.writer} databases hold" if error.writer else "The software that writes it creates"
    more = f" (and {len(clauses) - 1} more)" if len(clauses) > 1 else ""
    return Finding(
        rule=SCHEMA_MANIPULATED,
        severity=Severity.MEDIUM,
        title=f"In {database}, {clauses[0]}{more}: a schema its writer never creates",
        explanation=(
            f"vestige reads {database} only through the real tables its writer creates, but in this file "
            f"{'; '.join(clauses)}. {real} no views, virtual tables or generated columns in place of "
            "these tables, so this schema is not the one its writer created. A view, a virtual table or a "
            "generated column decides what a reader sees (rows other than those stored, or a query that never "
            "ends), so the file was not read and its records are missing from this analysis."
        ),
        caveats=(
            "A forensic or repair tool, or a broken restore, could also rewrite a database's schema; the "
            "change alone does not show who made it or why.",
            "Examine the file by hand, on a copy: its schema (sqlite3's .schema) shows the definition of each "
            "view, virtual table or generated column, and which tables hold the rows it reads.",
        ),
        evidence=tuple(Evidence(Locator(database, error.sha256, table=table), what) for table, what in error.seen),
    )


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
