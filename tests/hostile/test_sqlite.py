"""Hostile SQLite databases (issue 9, classes 3 and 8): schemas as weapons, text that is not UTF-8 and
values of the wrong type. Each test builds its minimal hostile input (a mutated demo backup, or a
database of a few statements) and states what must hold: the run ends, within its budget, with a
problem naming the file and the limit, and what can be read is read."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from tests.builders import backup_with, check, plain_set
from vestige.cli import main
from vestige.evidence import budget
from vestige.evidence.budget import BudgetExceededError, Limits
from vestige.evidence.errors import CorruptDatabaseError
from vestige.evidence.sqlite import SCHEMA_MANIPULATED, open_database
from vestige.ios.acquisitions import file_id
from vestige.ios.artifacts.datausage import DataUsageProcess
from vestige.ios.artifacts.safari_history import SafariVisit
from vestige.ios.artifacts.sms import SmsAttachment, SmsMessage
from vestige.ios.artifacts.webkit_observations import ObservedDomain
from vestige.ios.sample.backup import BackupBuilder
from vestige.ios.sample.demo import build_demo_backup
from vestige.ios.sample.schemas import DATAUSAGE, OBSERVATIONS_DB, SAFARI_HISTORY, SMS_DB
from vestige.model import Locator, Severity

HISTORY = ("HomeDomain", "Library/Safari/History.db")
DATAUSAGE_DB = ("WirelessDomain", "Library/Databases/DataUsage.sqlite")
SMS = ("HomeDomain", "Library/SMS/sms.db")
OBSERVATIONS = ("AppDomain-com.atebits.Tweetie2", "Library/WebKit/WebsiteData/ResourceLoadStatistics/observations.db")
ENDLESS = "WITH RECURSIVE r(n) AS (SELECT 1 UNION SELECT n + 1 FROM r) SELECT n FROM r"
"""A query that never ends; ``UNION`` keeps every row in a temporary table to remove duplicates, which
SQLite would grow on disk without ``temp_store = MEMORY``."""


def stored(root: Path, domain: str, relative_path: str) -> Path:
    """Where a backup keeps the bytes of a file: ``<fileID[:2]>/<fileID>``."""
    name = file_id(domain, relative_path)
    return root / name[:2] / name


def mutate(root: Path, where: tuple[str, str], script: str) -> str:
    """Runs ``script`` on the database a backup holds for ``where``; its path in the acquisition."""
    db = sqlite3.connect(stored(root, *where))
    db.executescript(script)
    db.commit()
    db.close()
    return "/".join(where)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    return build_demo_backup(tmp_path / "backup")


# Manipulation is evidence: a view, a virtual table or a generated column where iOS writes a table.


def test_a_view_running_for_ever_in_place_of_a_table_is_a_finding_and_a_problem(demo: Path) -> None:
    path = mutate(
        demo,
        HISTORY,
        f"ALTER TABLE history_visits RENAME TO visits_kept; CREATE VIEW history_visits AS {ENDLESS};",
    )
    checked = check(demo)
    assert [(p.artifact, p.path, p.reason) for p in checked.result.problems] == [
        (
            "ios.safari_history",
            path,
            f"{path}: table history_visits is a view; real iOS databases hold none, so the file was not read",
        )
    ]
    [finding] = checked.findings(SCHEMA_MANIPULATED)
    assert (finding.severity, finding.title) == (
        Severity.MEDIUM,
        f"In {path}, table history_visits is a view: a schema its writer never creates",
    )
    assert finding.explanation.startswith(
        f"vestige reads {path} only through the real tables its writer creates, but in this file table "
        "history_visits is a view. Real iOS databases hold no views, virtual tables or generated columns"
    )
    assert [(e.locator, e.excerpt) for e in finding.evidence] == [
        (Locator(path, sha256(stored(demo, *HISTORY)), table="history_visits"), "table history_visits is a view")
    ]
    assert checked.artifact_records("ios.safari_history") == []
    assert (len(checked.artifact_records("ios.sms")), len(checked.artifact_records("ios.datausage"))) == (4, 23)


@pytest.mark.parametrize(
    ("where", "script", "clause"),
    [
        (
            DATAUSAGE_DB,
            "ALTER TABLE ZPROCESS ADD COLUMN ZHUGE GENERATED ALWAYS AS (zeroblob(2000000000)) VIRTUAL;",
            "table ZPROCESS has generated columns: ZHUGE (VIRTUAL)",
        ),
        (
            SMS,
            "ALTER TABLE message RENAME TO message_kept; CREATE VIRTUAL TABLE message USING fts5(guid, text);",
            "table message is a virtual table",
        ),
        (
            OBSERVATIONS,
            "ALTER TABLE ObservedDomains RENAME TO kept; CREATE TABLE ObservedDomains (domainID INTEGER PRIMARY "
            "KEY, registrableDomain TEXT AS ('decoy.example') STORED, lastSeen REAL, hadUserInteraction INTEGER);",
            "table ObservedDomains has generated columns: registrableDomain (STORED)",
        ),
    ],
    ids=["generated-virtual", "virtual-table", "generated-stored"],
)
def test_a_virtual_table_or_a_generated_column_is_a_finding_and_the_file_is_not_read(
    demo: Path, where: tuple[str, str], script: str, clause: str
) -> None:
    path = mutate(demo, where, script)
    checked = check(demo)
    assert [p.reason for p in checked.result.problems] == [
        f"{path}: {clause}; real iOS databases hold none, so the file was not read"
    ]
    [finding] = checked.findings(SCHEMA_MANIPULATED)
    assert finding.title == f"In {path}, {clause}: a schema its writer never creates"
    table = clause.split()[1]
    assert [(e.locator, e.excerpt) for e in finding.evidence] == [
        (Locator(path, sha256(stored(demo, *where)), table=table), clause)
    ]
    assert all(r.locator.path != path for r in checked.records)


def test_a_view_made_only_in_the_write_ahead_log_is_cited_with_the_log(tmp_path: Path) -> None:
    """The view lives only in sms.db-wal: the finding cites the log, so a disclosure can carry it."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    live = sqlite3.connect(scratch / "sms.db")
    live.executescript(SMS_DB)
    live.execute("PRAGMA journal_mode = WAL")
    live.execute("PRAGMA wal_autocheckpoint = 0")
    live.executescript(f"ALTER TABLE message RENAME TO kept; CREATE VIEW message AS {ENDLESS};")
    builder = BackupBuilder(tmp_path / "backup")
    digests = {}
    for suffix in ("", "-wal", "-shm"):
        data = (scratch / f"sms.db{suffix}").read_bytes()
        builder.add_file("HomeDomain", f"Library/SMS/sms.db{suffix}", data)
        digests[suffix] = hashlib.sha256(data).hexdigest()
    live.close()
    [finding] = check(builder.finish()).findings(SCHEMA_MANIPULATED)
    assert [(e.locator.path, e.locator.table, e.locator.sha256, e.excerpt) for e in finding.evidence] == [
        ("HomeDomain/Library/SMS/sms.db", "message", digests[""], "table message is a view"),
        (
            "HomeDomain/Library/SMS/sms.db-wal",
            None,
            digests["-wal"],
            "HomeDomain/Library/SMS/sms.db-wal: read by SQLite with HomeDomain/Library/SMS/sms.db",
        ),
    ]


def test_the_manipulation_finding_is_the_same_with_one_or_two_workers(demo: Path, tmp_path: Path) -> None:
    mutate(demo, HISTORY, f"ALTER TABLE history_visits RENAME TO kept; CREATE VIEW history_visits AS {ENDLESS};")
    documents = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out-{jobs}"
        result = CliRunner().invoke(main, ["check", str(demo), "-o", str(out), "-j", jobs])
        assert result.exit_code == 3, result.output
        documents.append((out / "findings.json").read_bytes())
    assert documents[0] == documents[1]
    rules = [f["rule"] for f in orjson.loads(documents[0])["findings"]]
    assert rules.count(SCHEMA_MANIPULATED) == 1


# Nothing lost: text that is not UTF-8 is kept, escaped.


def test_one_message_that_is_not_utf8_costs_only_its_escape(demo: Path) -> None:
    mutate(
        demo,
        SMS,
        "UPDATE message SET text = CAST(x'5669736974ff20687474703a2f2f6576696c2e6578616d706c652f' AS TEXT) "
        "WHERE ROWID = 1;",
    )
    checked = check(demo)
    assert checked.result.problems == []
    messages = [r.payload for r in checked.artifact_records("ios.sms") if isinstance(r.payload, SmsMessage)]
    assert len(messages) == 4
    assert (messages[0].text, messages[0].urls) == ("Visit\\xff http://evil.example/", ("http://evil.example/",))


# One bad row costs one row: values of any type are kept, and text stored as a BLOB is still read.


B = b"\x00\xff"
HUGE = 2**63 - 1


def test_rows_of_the_wrong_types_are_kept_and_blob_text_is_matched(tmp_path: Path) -> None:
    def history(db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT INTO history_items (id, url, visit_count, daily_visit_counts,"
            " should_recompute_derived_visit_counts, visit_count_score)"
            " VALUES (1, ?, ?, ?, ?, ?), (2, ?, 1, x'', 0, 0)",
            (B, B, B, B, B, b"http://blob.example/"),
        )
        db.execute(
            "INSERT INTO history_visits (id, history_item, visit_time, title, load_successful, redirect_source,"
            " redirect_destination, origin) VALUES (1, ?, ?, ?, ?, ?, ?, ?), (2, 2, 9e999, ?, ?, 2, 2, ?),"
            " (3, 1, ?, NULL, 1, NULL, NULL, 0)",
            (B, B, B, B, B, B, HUGE, HUGE, -HUGE - 1, B, -9e999),
        )
        db.execute("INSERT INTO history_tombstones (id, start_time, end_time, url) VALUES (1, ?, ?, ?)", (B, HUGE, B))

    def usage(db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT INTO ZPROCESS (Z_PK, ZFIRSTTIMESTAMP, ZTIMESTAMP, ZBUNDLENAME, ZPROCNAME)"
            " VALUES (?, ?, ?, ?, ?), (1, 9e999, ?, NULL, ?)",
            (HUGE, B, B, B, B, HUGE, b"BackupAgent"),
        )
        db.execute(
            "INSERT INTO ZLIVEUSAGE (Z_PK, ZHASPROCESS, ZTIMESTAMP, ZWIFIIN) VALUES (1, ?, ?, ?)", (B, B, -9e999)
        )
        db.execute("INSERT INTO Z_PRIMARYKEY (Z_ENT, Z_NAME, Z_MAX) VALUES (1, 'Process', ?)", (B,))

    def messages(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO handle (ROWID, id, service) VALUES (1, ?, ?)", (B, B))
        db.execute(
            "INSERT INTO message (ROWID, guid, text, attributedBody, service, date, date_read, is_from_me, handle_id)"
            " VALUES (1, ?, ?, ?, ?, ?, ?, ?, 1), (2, 'g2', ?, NULL, ?, 9e999, ?, ?, ?)",
            (B, B, B, B, B, B, B, b"see https://smscentro.com/c2q7", HUGE, HUGE, HUGE, HUGE),
        )
        db.execute(
            "INSERT INTO attachment (ROWID, guid, filename, mime_type, transfer_name, created_date, is_outgoing)"
            " VALUES (1, ?, ?, ?, ?, ?, ?)",
            (B, b"/var/tmp/com.apple.messages/x-1", B, B, B, B),
        )
        db.execute("INSERT INTO message_attachment_join (message_id, attachment_id) VALUES (?, 1)", (B,))

    def observations(db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT INTO ObservedDomains VALUES (1, ?, ?, ?, 0, 0, 0, 0, 0, 0, 0, 0, 0),"
            " (2, ?, 9e999, ?, 0, 0, 0, 0, 0, 0, 0, 0, 0)",
            (b"free247downloads.com", B, B, B, HUGE),
        )
        db.execute("INSERT INTO TopFrameUniqueRedirectsTo VALUES (?, 1)", (B,))

    root = backup_with(
        tmp_path / "backup",
        [
            (*HISTORY, SAFARI_HISTORY, history),
            (*DATAUSAGE_DB, DATAUSAGE, usage),
            (*SMS, SMS_DB, messages),
            (*OBSERVATIONS, OBSERVATIONS_DB, observations),
        ],
    )
    sets = [
        plain_set("s", "domains", ["free247downloads.com", "smscentro.com", "blob.example"]),
        plain_set("p", "processes", ["BackupAgent"]),
    ]
    checked = check(root, sets)
    assert checked.result.problems == []
    visits = [r.payload for r in checked.artifact_records("ios.safari_history") if isinstance(r.payload, SafariVisit)]
    assert [(v.visit_id, v.url, v.visit_time) for v in visits] == [
        (3, "\x00\\xff", float("-inf")),
        (2, "http://blob.example/", float("inf")),
        (1, None, B),
    ]
    processes = [r.payload for r in checked.artifact_records("ios.datausage")]
    assert [p.process for p in processes if isinstance(p, DataUsageProcess)] == [b"BackupAgent", B]
    sms = [r.payload for r in checked.artifact_records("ios.sms")]
    assert [(m.rowid, m.text, m.handle) for m in sms if isinstance(m, SmsMessage)] == [
        (1, "\x00\\xff", B),
        (2, "see https://smscentro.com/c2q7", None),
    ]
    assert [a.filename for a in sms if isinstance(a, SmsAttachment)] == ["/var/tmp/com.apple.messages/x-1"]
    domains = [r.payload for r in checked.artifact_records("ios.webkit_observations")]
    assert [d.registrable_domain for d in domains if isinstance(d, ObservedDomain)] == [
        "free247downloads.com",
        "\x00\\xff",
    ]
    matched = sorted(
        (f.rule, f.evidence[0].locator.table, f.evidence[0].locator.row)
        for f in checked.result.findings
        if f.indicators or f.rule in ("ios.sms.tmp_attachment", "ios.datausage.backupagent_network_use")
    )
    assert matched == [
        ("ios.datausage.backupagent_network_use", "ZPROCESS", 1),
        ("ios.datausage.indicator_match", "ZPROCESS", 1),
        ("ios.safari_history.indicator_match", "history_visits", 2),
        ("ios.sms.indicator_match", "message", 2),
        ("ios.sms.tmp_attachment", "attachment", 1),
        ("ios.webkit_observations.indicator_match", "ObservedDomains", 1),
        ("ios.webkit_observations.indicator_match", "TopFrameUniqueRedirectsTo", 1),
    ]


# Schemas as weapons, at the connection: each stops within the task's budget, naming the limit.


def endless_database(path: Path) -> Path:
    db = sqlite3.connect(path)
    db.executescript(
        f"CREATE VIEW endless AS {ENDLESS};"
        "CREATE TABLE t (a INTEGER, huge BLOB GENERATED ALWAYS AS (zeroblob(a)) VIRTUAL);"
        "INSERT INTO t (a) VALUES (10), (2000000);"
    )
    db.close()
    return path


def test_an_endless_view_stops_at_the_time_limit(tmp_path: Path) -> None:
    path = endless_database(tmp_path / "e.db")
    started = time.monotonic()
    with (
        budget.task(Limits(seconds=0.5)),
        pytest.raises(BudgetExceededError, match=r"^stopped at the seconds limit \(0\.5 s\)"),
        open_database(path, "e.db") as db,
    ):
        db.execute("SELECT count(*) FROM endless").fetchone()
    assert time.monotonic() - started < 5


def test_the_temporary_table_of_an_endless_view_counts_against_the_memory_limit(tmp_path: Path) -> None:
    path = endless_database(tmp_path / "e.db")
    with (
        budget.task(Limits(memory=24 << 20)),
        pytest.raises(BudgetExceededError, match=r"^stopped at the memory limit \(24 MiB more"),
        open_database(path, "e.db") as db,
    ):
        db.execute("SELECT count(*) FROM endless").fetchone()


def test_a_generated_value_longer_than_the_text_limit_stops_the_query(tmp_path: Path) -> None:
    path = endless_database(tmp_path / "e.db")
    with budget.task(Limits(text=1 << 20)):
        with open_database(path, "e.db") as db:
            assert db.execute("SELECT length(huge) FROM t WHERE a = 10").fetchone() == (10,)
        with (
            pytest.raises(
                BudgetExceededError, match=r"^stopped at the text limit \(a SQLite value longer than 1048576 bytes\)"
            ),
            open_database(path, "e.db") as db,
        ):
            db.execute("SELECT huge FROM t").fetchall()


def test_a_schema_nested_past_the_expression_limit_is_refused_by_name(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "deep.db")
    db.execute(f"CREATE TABLE t (a INTEGER CHECK ({'1 + ' * 300}a))")
    db.close()
    with (
        pytest.raises(CorruptDatabaseError, match=r"^deep\.db: unreadable SQLite database \(.*maximum depth 256\)"),
        open_database(tmp_path / "deep.db", "deep.db"),
    ):
        pass


def test_a_huge_default_is_refused_at_the_sql_limit_and_an_index_expression_is_never_run(tmp_path: Path) -> None:
    """A row written before ``ALTER TABLE ... ADD COLUMN`` reads the column's default, a literal in the
    schema: the schema's SQL is bounded. Expressions of an index, or a default that calls a function,
    are never evaluated by a read of stored rows."""
    huge, tame = tmp_path / "huge.db", tmp_path / "tame.db"
    for path, default in ((huge, f"x'{'00' * 600_000}'"), (tame, "0")):
        db = sqlite3.connect(path)
        db.executescript("CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (2), (1); CREATE INDEX i ON t (a);")
        db.execute(f"ALTER TABLE t ADD COLUMN b DEFAULT {default}")
        db.close()
    db = sqlite3.connect(tame)
    db.execute("PRAGMA writable_schema = ON")
    db.execute("UPDATE sqlite_master SET sql = 'CREATE INDEX i ON t (zeroblob(2000000000))' WHERE name = 'i'")
    db.execute(
        "UPDATE sqlite_master SET sql = replace(sql, 'DEFAULT 0', 'DEFAULT (printf(''%.*c'', 2000000000, ''x''))')"
        " WHERE name = 't'"
    )
    db.commit()
    db.close()
    started = time.monotonic()
    with budget.task(Limits()):
        with open_database(tame, "tame.db") as reader:
            assert reader.execute("SELECT a, b FROM t ORDER BY a").fetchall() == [(1, None), (2, None)]
        with (
            pytest.raises(
                CorruptDatabaseError,
                match=r"^huge\.db: unreadable SQLite database \(.*too big; vestige reads SQL statements of at most "
                r"1000000 bytes and values of at most 268435456 bytes\)$",
            ),
            open_database(huge, "huge.db"),
        ):
            pass
    assert time.monotonic() - started < 5


@pytest.fixture
def interruptible() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt in this process (a test runner started in the background may
    have inherited it ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("interruptible")
def test_ctrl_c_during_an_endless_query_interrupts_it(tmp_path: Path) -> None:
    path = endless_database(tmp_path / "e.db")
    interrupt = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    with (
        budget.task(Limits(seconds=60)),  # only if the interrupt were lost: the test then fails, never hangs
        pytest.raises(KeyboardInterrupt),
        open_database(path, "e.db") as db,
    ):
        interrupt.start()
        db.execute("SELECT count(*) FROM endless").fetchone()
    interrupt.join()
    assert budget.current().stopped is None


def _no_signal_handler_inherited() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _temporary_files(pid: int, folder: Path) -> list[str]:
    """The files under ``folder`` that process ``pid`` holds open (SQLite unlinks its temporary files
    as soon as it opens them, so only /proc shows them)."""
    found = []
    for descriptor in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(descriptor.readlink())
        except OSError:
            continue
        if target.startswith(str(folder)):
            found.append(target)
    return found


def test_an_endless_view_in_place_of_the_listing_is_refused_before_it_runs(tmp_path: Path) -> None:
    """Manifest.db's structure is checked before a single row is counted: an endless ``Files`` view
    never runs (it used to hang the check while a temporary file grew by ~110 MB/s)."""
    root = build_demo_backup(tmp_path / "backup")
    db = sqlite3.connect(root / "Manifest.db")
    db.executescript(
        "ALTER TABLE Files RENAME TO kept;"
        f"CREATE VIEW Files AS SELECT fileID, domain, relativePath, flags, file FROM kept, ({ENDLESS});"
    )
    db.close()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "SQLITE_TMPDIR": str(scratch)}
    command = [sys.executable, "-m", "vestige", "check", str(root), "-o", str(tmp_path / "out")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert "Manifest.db" in done.stderr and "table Files is a view" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(scratch.iterdir()) == []
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc")
def test_a_sort_of_a_large_table_writes_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "big.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE big (a BLOB)")
    db.execute(
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r LIMIT 200000) "
        "INSERT INTO big SELECT randomblob(100) FROM r"
    )
    db.commit()
    db.close()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from vestige.evidence.sqlite import open_database\n"
        "seen = set()\n"
        "def probe(n):\n"
        "    if n % 1000 == 0:\n"
        "        for d in os.listdir('/proc/self/fd'):\n"
        "            try:\n"
        "                seen.add(os.readlink(f'/proc/self/fd/{d}'))\n"
        "            except OSError:\n"
        "                pass\n"
        "    return n\n"
        "with open_database(Path(sys.argv[1]), 'big.db') as db:\n"
        "    db.create_function('probe', 1, probe)\n"
        "    rows = db.execute('SELECT probe(rowid), a FROM big ORDER BY a').fetchall()\n"
        "    sorted_rows = db.execute('SELECT probe(n) FROM (SELECT a, rowid AS n FROM big ORDER BY a)').fetchall()\n"
        "print(len(rows), len(sorted_rows), sorted(s for s in seen if s.startswith(sys.argv[2])))\n"
    )
    env = {**os.environ, "SQLITE_TMPDIR": str(scratch), "TMPDIR": str(scratch)}
    result = subprocess.run(
        [sys.executable, "-c", script, str(path), str(scratch)], env=env, capture_output=True, timeout=120, check=True
    )
    assert result.stdout.decode().split(" ", 2)[:2] == ["200000", "200000"]
    assert result.stdout.decode().split(" ", 2)[2] == "[]\n", result.stdout
