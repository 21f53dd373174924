"""(b) SQLite files the artifacts read: schemas, rows and pages."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from tests.hostile.fuzzing.mutations import (
    FORGED_TEXT,
    LINK_MESSAGE,
    LINK_MESSAGES,
    SMS,
    SMS_LINK_DOMAIN,
    TABLES,
    Mutation,
    Site,
    edit_bytes,
    open_for_writing,
    quote,
)

SQL_VALUES: dict[str, str] = {
    "blob": "x'ff00fe'",
    "text-not-utf8": "CAST(x'ff' AS TEXT)",
    "url-not-utf8": "CAST(x'687474703a2f2f736d7363656e74726f2e636f6dff2f78' AS TEXT)",
    "utf8-truncated": "CAST(x'e282' AS TEXT)",
    "surrogate": "CAST(x'eda080' AS TEXT)",
    "nul-inside": "CAST(x'61006200' AS TEXT)",
    "infinity": "9e999",
    "minus-infinity": "-9e999",
    "nan-text": "'NaN'",
    "int-max": "9223372036854775807",
    "int-min": "-9223372036854775808",
    "real-max": "1.7976931348623157e308",
    "real-tiny": "5e-324",
    "real": "1.5",
    "int": "7",
    "empty": "''",
    "null": "NULL",
    "forged-line": f"CAST(x'{FORGED_TEXT.encode().hex()}' AS TEXT)",
    "blob-8MiB": "zeroblob(8388608)",
    "text-8MiB": "printf('%.*c', 8388608, 'a')",
    "parens-400k": "printf('%.*c', 400000, '(') || printf('%.*c', 400000, ')')",
    "url-parens-400k": "'http://smscentro.com/' || printf('%.*c', 400000, ')')",
    "url-brackets-200k": "'http://[' || printf('%.*c', 200000, '[') || '.example/'",
    "urls-100k": "replace(hex(zeroblob(100000)), '00', 'http://a.io/ ')",
}
"""SQL expressions a row mutation writes, by name (the name is the reproduction)."""

GENERATED: dict[str, str] = {
    "text-900MB": "printf('%.*c', 900000000, 'x')",
    "blob-900MB": "zeroblob(900000000)",
    "random": "random()",
    "randomblob": "randomblob(16)",
    "not-utf8": "CAST(x'ff' AS TEXT)",
    "int-max": "9223372036854775807",
}
"""Expressions of a generated column that stands in for an expected column."""


def _sql(site: Site, target: str, what: str, *statements: str) -> None:
    path = site.path(target)
    if not path.is_file() or path.is_symlink():
        site.skipped.append(f"{what}: {target} is not a file")
        return
    try:
        db = open_for_writing(path)
        try:
            for statement in statements:
                db.execute(statement)
        finally:
            db.close()
    except sqlite3.Error as error:
        site.skipped.append(f"{what}: {error}")


def _columns(db: sqlite3.Connection, table: str) -> list[tuple[str, str, int]]:
    """(name, declared type, primary-key position) of each column of ``table``."""
    return [(r[1], r[2], r[5]) for r in db.execute(f"PRAGMA table_info({quote(table)})")]


@dataclass(frozen=True)
class TableToView(Mutation):
    """A table the artifact reads replaced by a view: of the real rows, or of an endless recursive
    CTE (``ordered``: sorted, so SQLite spools it to a temporary file)."""

    shows = True

    database: str
    table: str
    recursive: bool = False
    ordered: bool = False

    def apply(self, site: Site) -> None:
        path = site.path(self.database)
        if not path.is_file() or path.is_symlink():
            site.skipped.append(f"{self}: not a file")
            return
        try:
            db = open_for_writing(path)
            try:
                self._replace(db)
            finally:
                db.close()
        except sqlite3.Error as error:
            site.skipped.append(f"{self}: {error}")

    def _replace(self, db: sqlite3.Connection) -> None:
        columns = [name for name, _, _ in _columns(db, self.table)] or list(TABLES[self.database][self.table])
        hidden = quote(self.table + "_fuzz_real")
        db.execute(f"ALTER TABLE {quote(self.table)} RENAME TO {hidden}")
        if not self.recursive:
            body = f"SELECT * FROM {hidden}"
        else:
            select = ", ".join(f"n AS {quote(c)}" for c in columns)
            order = " ORDER BY randomblob(64)" if self.ordered else ""
            body = f"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT {select} FROM r{order}"
        db.execute(f"CREATE VIEW {quote(self.table)} AS {body}")


def _rebuild(
    db: sqlite3.Connection, table: str, define: Callable[[str, str, int], str | None], suffix: str = ""
) -> None:
    """Recreates ``table`` with each column defined by ``define(name, type, pk)`` (None: unchanged)
    and copies the rows of the columns that stay plain."""
    columns = _columns(db, table)
    definitions, copied = [], []
    for name, declared, pk in columns:
        changed = define(name, declared, pk)
        if changed is None:
            definitions.append(f"{quote(name)} {declared}" + (" PRIMARY KEY" if pk == 1 else ""))
            copied.append(quote(name))
        else:
            definitions.append(changed)
            if "GENERATED" not in changed:
                copied.append(quote(name))
    old = quote(table + "_fuzz_old")
    db.execute(f"ALTER TABLE {quote(table)} RENAME TO {old}")
    db.execute(f"CREATE TABLE {quote(table)} ({', '.join(definitions)}){suffix}")
    names = ", ".join(copied)
    db.execute(f"INSERT INTO {quote(table)} ({names}) SELECT {names} FROM {old}")
    db.execute(f"DROP TABLE {old}")


@dataclass(frozen=True)
class GeneratedColumn(Mutation):
    """An expected column turned into a generated one computing ``GENERATED[expression]``."""

    shows = True

    database: str
    table: str
    column: str
    expression: str

    def apply(self, site: Site) -> None:
        sql = GENERATED[self.expression]

        def define(name: str, declared: str, pk: int) -> str | None:
            if name != self.column:
                return None
            return f"{quote(name)} ANY GENERATED ALWAYS AS ({sql}) VIRTUAL"

        _with_db(site, self, lambda db: _rebuild(db, self.table, define))


@dataclass(frozen=True)
class ColumnType(Mutation):
    """An expected column's declaration rewritten in ``sqlite_master`` (an unknown collation, a
    declared type that changes affinity...)."""

    database: str
    table: str
    column: str
    declared: str

    def apply(self, site: Site) -> None:
        def edit(db: sqlite3.Connection) -> None:
            (sql,) = db.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (self.table,)
            ).fetchone()
            columns = {name: declared for name, declared, _ in _columns(db, self.table)}
            if self.column not in columns:
                return
            old = f"{self.column} {columns[self.column]}".strip()
            new = sql.replace(old, f"{self.column} {self.declared}", 1)
            if new == sql:  # quoted or oddly spaced: rebuild instead
                _rebuild(db, self.table, lambda n, d, pk: f"{quote(n)} {self.declared}" if n == self.column else None)
                return
            db.execute("PRAGMA writable_schema = ON")
            db.execute("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", (new, self.table))
            (version,) = db.execute("PRAGMA schema_version").fetchone()
            db.execute(f"PRAGMA schema_version = {version + 1}")
            db.execute("PRAGMA writable_schema = OFF")

        _with_db(site, self, edit)


@dataclass(frozen=True)
class TableShape(Mutation):
    """A table rebuilt: ``blob-key`` makes its first column a BLOB primary key holding BLOBs,
    ``without-rowid`` a WITHOUT ROWID table (no ``rowid`` to select)."""

    database: str
    table: str
    how: str

    def apply(self, site: Site) -> None:
        def edit(db: sqlite3.Connection) -> None:
            columns = _columns(db, self.table)
            if not columns:
                return
            key = next((n for n, _, pk in columns if pk == 1), columns[0][0])
            if self.how == "blob-key":
                _rebuild(
                    db,
                    self.table,
                    lambda n, d, pk: (
                        f"{quote(n)} BLOB PRIMARY KEY" if n == key else (f"{quote(n)} {d}" if pk else None)
                    ),
                )
                db.execute(f"UPDATE {quote(self.table)} SET {quote(key)} = CAST({quote(key)} AS BLOB) || x'ff'")
            else:
                _rebuild(
                    db,
                    self.table,
                    lambda n, d, pk: f"{quote(n)} {d} PRIMARY KEY" if n == key else (f"{quote(n)} {d}" if pk else None),
                    " WITHOUT ROWID",
                )

        _with_db(site, self, edit)


def _with_db(site: Site, mutation: Mutation, edit: Callable[[sqlite3.Connection], None]) -> None:
    target = mutation.database  # type: ignore[attr-defined]
    path = site.path(target)
    if not path.is_file() or path.is_symlink():
        site.skipped.append(f"{mutation}: not a file")
        return
    try:
        db = open_for_writing(path)
        try:
            edit(db)
        finally:
            db.close()
    except sqlite3.Error as error:
        site.skipped.append(f"{mutation}: {error}")


@dataclass(frozen=True)
class RowValue(Mutation):
    """One row's column (``row`` wraps over the rows by rowid; -1: every row) set to ``SQL_VALUES[value]``."""

    database: str
    table: str
    column: str
    row: int
    value: str

    def apply(self, site: Site) -> None:
        where = (
            ""
            if self.row < 0
            else f" WHERE rowid = (SELECT rowid FROM {quote(self.table)} ORDER BY rowid LIMIT 1 OFFSET "
            f"{self.row} % max(1, (SELECT count(*) FROM {quote(self.table)})))"
        )
        _sql(
            site,
            self.database,
            repr(self),
            f"UPDATE {quote(self.table)} SET {quote(self.column)} = {SQL_VALUES[self.value]}{where}",
        )

    @property
    def keeps(self) -> tuple[str, ...]:  # type: ignore[override]
        # One bad value costs its row: the message with the link (the third by rowid) is still read
        # when another message, or a handle, holds it.
        if self.database != SMS or self.row < 0 or self.column in ("ROWID", "guid"):
            return ()
        if (self.table == "message" and self.row % LINK_MESSAGES != LINK_MESSAGE) or self.table == "handle":
            return (SMS_LINK_DOMAIN,)
        return ()


@dataclass(frozen=True)
class RowidJump(Mutation):
    """The first (or last) row moved to ``rowid`` (a huge gap; negative; the largest integer)."""

    database: str
    table: str
    rowid: int
    last: bool = False

    def apply(self, site: Site) -> None:
        pick = "max" if self.last else "min"
        _sql(
            site,
            self.database,
            repr(self),
            f"UPDATE {quote(self.table)} SET rowid = {self.rowid} "
            f"WHERE rowid = (SELECT {pick}(rowid) FROM {quote(self.table)})",
        )


@dataclass(frozen=True)
class PageBytes(Mutation):
    """Bytes of a database file flipped, cut or inserted (``page`` picks a 4 KiB page, the edit's
    position is within it)."""

    database: str
    page: int
    edits: tuple[tuple[str, int, int], ...]

    def apply(self, site: Site) -> None:
        path = site.path(self.database)
        data = path.read_bytes()
        pages = max(1, len(data) // 4096)
        start = (self.page % pages) * 4096
        shifted = tuple((op, start + pos % 4096, value) for op, pos, value in self.edits)
        path.write_bytes(edit_bytes(data, shifted))
