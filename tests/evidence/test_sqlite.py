"""Opening evidence databases without writing beside them (ARCHITECTURE.md principle 1)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from vestige.evidence import budget
from vestige.evidence.budget import Limits
from vestige.evidence.errors import CorruptDatabaseError, SchemaManipulatedError
from vestige.evidence.sqlite import (
    SCHEMA_MANIPULATED,
    Structure,
    Table,
    findings_of,
    open_database,
    schema_manipulated,
    settled_copy,
)
from vestige.evidence.values import lenient_text
from vestige.model import Locator, Severity


def make_database(path: Path, wal: bool) -> None:
    db = sqlite3.connect(str(path))
    if wal:
        db.execute("PRAGMA journal_mode = WAL")
    db.execute("CREATE TABLE t (a INTEGER)")
    db.execute("INSERT INTO t VALUES (1)")
    db.commit()
    db.close()


def test_a_database_without_sidecars_is_opened_immutable_and_nothing_appears(tmp_path: Path) -> None:
    db_path = tmp_path / "evidence.db"
    make_database(db_path, wal=True)
    before = db_path.read_bytes()
    with open_database(db_path, "evidence.db") as db:
        assert db.execute("SELECT a FROM t").fetchall() == [(1,)]
        with pytest.raises(sqlite3.OperationalError):
            db.execute("INSERT INTO t VALUES (2)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evidence.db"]
    assert db_path.read_bytes() == before


def test_a_database_with_a_wal_is_read_through_a_private_copy(tmp_path: Path) -> None:
    source = tmp_path / "live.db"
    writer = sqlite3.connect(str(source))
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("CREATE TABLE t (a INTEGER)")
    writer.execute("INSERT INTO t VALUES (1)")
    writer.commit()
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    for suffix in ("", "-wal", "-shm"):
        (evidence / f"sms.db{suffix}").write_bytes((tmp_path / f"live.db{suffix}").read_bytes())
    writer.close()
    before = {p.name: p.read_bytes() for p in evidence.iterdir()}
    sidecars = {"-wal": evidence / "sms.db-wal", "-shm": evidence / "sms.db-shm"}
    with open_database(evidence / "sms.db", "sms.db", sidecars) as db:
        assert db.execute("SELECT a FROM t").fetchall() == [(1,)]
    assert {p.name: p.read_bytes() for p in evidence.iterdir()} == before


def test_a_file_that_is_not_sqlite_is_reported_by_name(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    path.write_bytes(b"\x00" * 64)
    with (
        pytest.raises(CorruptDatabaseError, match=r"^HomeDomain/x\.db: not a SQLite database"),
        open_database(path, "HomeDomain/x.db"),
    ):
        pass


def test_a_truncated_database_is_reported_by_name(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    make_database(path, wal=False)
    path.write_bytes(path.read_bytes()[:100])
    with (
        pytest.raises(CorruptDatabaseError, match=r"^t\.db: unreadable SQLite database"),
        open_database(path, "t.db"),
    ):
        pass


VISITS = Table("visits", required=("id", "url"), optional=("title", "origin"))
ITEMS = Table("items", required=("id",))
STRUCTURE = Structure(required=(VISITS,), optional=(ITEMS,))


def structured(path: Path, *statements: str) -> Path:
    db = sqlite3.connect(str(path))
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()
    return path


def test_a_structure_selects_absent_optional_columns_as_null(tmp_path: Path) -> None:
    path = structured(
        tmp_path / "h.db",
        "CREATE TABLE visits (id INTEGER PRIMARY KEY, url TEXT, title TEXT)",
        "INSERT INTO visits VALUES (1, 'http://a.example/', 'A')",
    )
    with open_database(path, "h.db") as db:
        schema = STRUCTURE.read(db, "h.db")
        assert (schema.has(VISITS), schema.has(ITEMS)) == (True, False)
        assert schema.select(VISITS, "v") == 'v."id", v."url", v."title", NULL'
        rows = db.execute(f"SELECT {schema.select(VISITS, 'v')} FROM visits v").fetchall()
    assert rows == [(1, "http://a.example/", "A", None)]


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("CREATE TABLE other (x)", r"^h\.db: table visits is missing; not the expected schema$"),
        (
            "CREATE TABLE visits (id INTEGER)",
            r"^h\.db: column url of table visits is missing; not the expected schema$",
        ),
    ],
)
def test_a_missing_table_or_column_is_refused_by_name(tmp_path: Path, statement: str, message: str) -> None:
    path = structured(tmp_path / "h.db", statement)
    with open_database(path, "h.db") as db, pytest.raises(CorruptDatabaseError, match=message):
        STRUCTURE.read(db, "h.db")


def test_an_optional_table_missing_a_required_column_is_not_read(tmp_path: Path) -> None:
    path = structured(
        tmp_path / "h.db", "CREATE TABLE visits (id INTEGER, url TEXT)", "CREATE TABLE items (other INTEGER)"
    )
    with open_database(path, "h.db") as db:
        assert STRUCTURE.read(db, "h.db").has(ITEMS) is False


@pytest.mark.parametrize(
    ("statements", "seen"),
    [
        (["CREATE VIEW visits AS SELECT 1 AS id, 'u' AS url"], [("visits", "table visits is a view")]),
        (["CREATE VIRTUAL TABLE visits USING fts5(id, url)"], [("visits", "table visits is a virtual table")]),
        (
            ["CREATE TABLE visits (id, url, title AS (upper(url)) STORED, origin AS (1) VIRTUAL)"],
            [("visits", "table visits has generated columns: title (STORED), origin (VIRTUAL)")],
        ),
        (
            ["CREATE VIEW VISITS AS SELECT 1 AS id, 'u' AS url", "CREATE TABLE items (id, other AS (id + 1))"],
            [("visits", "table visits is a view"), ("items", "table items has generated columns: other (VIRTUAL)")],
        ),
    ],
    ids=["view", "virtual-table", "generated", "view-and-generated"],
)
def test_a_view_virtual_table_or_generated_column_where_a_table_is_read_is_manipulation(
    tmp_path: Path, statements: list[str], seen: list[tuple[str, str]]
) -> None:
    path = structured(tmp_path / "h.db", *statements)
    with open_database(path, "h.db") as db, pytest.raises(SchemaManipulatedError) as raised:
        STRUCTURE.read(db, "h.db")
    clauses = "; ".join(what for _, what in seen)
    assert str(raised.value) == f"h.db: {clauses}; the software that writes it creates none, so the file was not read"
    assert (raised.value.database, raised.value.seen, raised.value.sha256) == ("h.db", tuple(seen), None)


def test_a_shadow_table_of_a_virtual_table_is_manipulation(tmp_path: Path) -> None:
    path = structured(tmp_path / "f.db", "CREATE VIRTUAL TABLE f USING fts5(x)")
    with open_database(path, "f.db") as db, pytest.raises(SchemaManipulatedError) as raised:
        Structure(required=(Table("f_content"),), writer="iOS").read(db, "f.db")
    assert str(raised.value) == (
        "f.db: table f_content is a shadow table of a virtual table; real iOS databases hold none, so the file was "
        "not read"
    )


def test_many_generated_columns_are_named_within_bounds(tmp_path: Path) -> None:
    columns = ", ".join(f"g{n} AS (id)" for n in range(12))
    path = structured(tmp_path / "h.db", f"CREATE TABLE visits (id, url, {'x' * 100} AS (1), {columns})")
    with open_database(path, "h.db") as db, pytest.raises(SchemaManipulatedError) as raised:
        STRUCTURE.read(db, "h.db")
    [(_, what)] = raised.value.seen
    shown = ", ".join([f"{'x' * 79}… (VIRTUAL)", *(f"g{n} (VIRTUAL)" for n in range(9))])
    assert what == f"table visits has generated columns: {shown} and 3 more"


def test_names_are_compared_as_sqlite_compares_them(tmp_path: Path) -> None:
    path = structured(
        tmp_path / "h.db",
        "CREATE TABLE VISITS (ID INTEGER PRIMARY KEY, Url TEXT, TITLE TEXT)",
        "INSERT INTO VISITS VALUES (1, 'http://a.example/', 'A')",
    )
    with open_database(path, "h.db") as db:
        schema = STRUCTURE.read(db, "h.db")
        assert schema.has(VISITS)
        rows = db.execute(f"SELECT {schema.select(VISITS, 'v')} FROM visits v").fetchall()
    assert rows == [(1, "http://a.example/", "A", None)]


def test_a_manipulated_schema_is_a_medium_finding_citing_each_table(tmp_path: Path) -> None:
    error = SchemaManipulatedError(
        "a/h.db", (("visits", "table visits is a view"), ("items", "table items is a view")), ""
    )
    error.sha256 = "ab" * 32
    [finding] = findings_of(error)
    assert finding == schema_manipulated(error)
    assert (finding.rule, finding.severity, finding.time) == (SCHEMA_MANIPULATED, Severity.MEDIUM, None)
    assert finding.title == "In a/h.db, table visits is a view (and 1 more): a schema its writer never creates"
    assert "The software that writes it creates no views, virtual tables or generated columns" in finding.explanation
    assert [(e.locator, e.excerpt) for e in finding.evidence] == [
        (Locator("a/h.db", "ab" * 32, table="visits"), "table visits is a view"),
        (Locator("a/h.db", "ab" * 32, table="items"), "table items is a view"),
    ]
    assert findings_of(CorruptDatabaseError("a/h.db: broken")) == ()


def test_every_connection_is_hardened_and_its_value_limit_is_the_task_text_budget(tmp_path: Path) -> None:
    path = structured(tmp_path / "h.db", "CREATE TABLE visits (id, url)")
    with open_database(path, "h.db") as db:
        assert db.execute("PRAGMA trusted_schema").fetchone() == (0,)
        assert db.execute("PRAGMA temp_store").fetchone() == (2,)
        assert db.execute("PRAGMA query_only").fetchone() == (1,)
        assert db.getlimit(sqlite3.SQLITE_LIMIT_LENGTH) == Limits().text  # outside a task: the default
        assert [db.getlimit(n) for n in (sqlite3.SQLITE_LIMIT_ATTACHED, sqlite3.SQLITE_LIMIT_EXPR_DEPTH)] == [0, 256]
        with pytest.raises(sqlite3.OperationalError):
            db.execute("ATTACH ':memory:' AS other")
    with budget.task(Limits(text=4096)), open_database(path, "h.db") as db:
        assert db.getlimit(sqlite3.SQLITE_LIMIT_LENGTH) == 4096


def test_a_write_ahead_log_is_replayed_on_a_hardened_connection(tmp_path: Path) -> None:
    source = tmp_path / "live.db"
    writer = sqlite3.connect(str(source))
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("CREATE TABLE t (a TEXT)")
    writer.execute("INSERT INTO t VALUES (CAST(x'41ff' AS TEXT))")
    writer.commit()
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    for suffix in ("", "-wal"):
        (evidence / f"e.db{suffix}").write_bytes((tmp_path / f"live.db{suffix}").read_bytes())
    writer.close()
    folder = tmp_path / "settled"
    folder.mkdir()
    copy = settled_copy(evidence / "e.db", "e.db", {"-wal": evidence / "e.db-wal"}, folder)
    with open_database(copy, "e.db") as db:
        assert db.execute("SELECT a FROM t").fetchall() == [("A\\xff",)]


def undecodable(path: Path) -> Path:
    return structured(
        path,
        "CREATE TABLE t (n INTEGER, a TEXT)",
        "INSERT INTO t VALUES (1, 'ok'), (2, CAST(x'41ff42' AS TEXT)), (3, 'é'), (4, CAST(x'c3' AS TEXT))",
    )


EXPECTED = [(1, "ok"), (2, "A\\xffB"), (3, "é"), (4, "\\xc3")]


def test_text_that_is_not_utf8_is_kept_escaped_by_every_way_of_fetching(tmp_path: Path) -> None:
    path = undecodable(tmp_path / "u.db")
    with open_database(path, "u.db") as db:
        assert db.text_factory is str
        assert list(db.execute("SELECT n, a FROM t ORDER BY n")) == EXPECTED
        assert db.text_factory is lenient_text
    with open_database(path, "u.db") as db:
        cursor = db.execute("SELECT n, a FROM t ORDER BY n")
        assert [cursor.fetchone() for _ in range(5)] == [*EXPECTED, None]
    with open_database(path, "u.db") as db:
        assert db.execute("SELECT n, a FROM t ORDER BY n").fetchall() == EXPECTED
    with open_database(path, "u.db") as db:
        cursor = db.execute("SELECT n, a FROM t ORDER BY n")
        assert (cursor.fetchmany(3), cursor.fetchmany(), cursor.fetchmany(3)) == (EXPECTED[:3], [EXPECTED[3]], [])
    with open_database(path, "u.db") as db:
        cursor = db.execute("SELECT n, a FROM t ORDER BY n")
        assert next(iter(cursor)) == EXPECTED[0]  # an iteration left unfinished leaves the cursor open
        assert cursor.fetchall() == EXPECTED[1:]


def test_other_errors_while_fetching_are_not_taken_for_undecodable_text(tmp_path: Path) -> None:
    path = undecodable(tmp_path / "u.db")
    with open_database(path, "u.db") as db, pytest.raises(sqlite3.OperationalError, match="no such column"):
        list(db.execute("SELECT missing FROM t"))


class NoTableList(sqlite3.Connection):
    """A connection to a SQLite older than 3.37, which has no ``pragma table_list``."""

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        if "pragma_table_list" in sql:
            raise sqlite3.OperationalError("no such table: pragma_table_list")
        return super().execute(sql, parameters)


@pytest.mark.parametrize(
    ("statement", "what"),
    [
        ("CREATE VIEW visits AS SELECT 1 AS id, 'u' AS url", "a view"),
        ("create  virtual table visits using fts5(id, url)", "a virtual table"),
    ],
)
def test_without_table_list_views_and_virtual_tables_are_still_told(tmp_path: Path, statement: str, what: str) -> None:
    path = structured(tmp_path / "h.db", statement)
    db = sqlite3.connect(path, factory=NoTableList)
    try:
        with pytest.raises(SchemaManipulatedError, match=f"^h\\.db: table visits is {what};"):
            STRUCTURE.read(db, "h.db")
    finally:
        db.close()
