"""Opening evidence databases without writing beside them (ARCHITECTURE.md principle 1)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from vestige.evidence.errors import CorruptDatabaseError
from vestige.evidence.sqlite import Structure, Table, open_database


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
        ("CREATE VIEW visits AS SELECT 1 AS id, 'u' AS url", r"^h\.db: table visits is missing"),
    ],
)
def test_a_missing_table_or_column_or_a_view_in_place_of_a_table_is_refused_by_name(
    tmp_path: Path, statement: str, message: str
) -> None:
    path = structured(tmp_path / "h.db", statement)
    with open_database(path, "h.db") as db, pytest.raises(CorruptDatabaseError, match=message):
        STRUCTURE.read(db, "h.db")


def test_an_optional_table_missing_a_required_column_is_not_read(tmp_path: Path) -> None:
    path = structured(
        tmp_path / "h.db", "CREATE TABLE visits (id INTEGER, url TEXT)", "CREATE TABLE items (other INTEGER)"
    )
    with open_database(path, "h.db") as db:
        assert STRUCTURE.read(db, "h.db").has(ITEMS) is False
