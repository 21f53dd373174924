"""Test-only builders: small iOS backups with the real schemas, and a way to analyse them.

The backups themselves are written by ``vestige.ios.sample.backup.BackupBuilder`` (shared with
``vestige demo`` and the benchmarks); this module adds what only tests need: running the engine on
a backup and collecting its records, and hashing a whole folder to prove nothing was written.
"""

from __future__ import annotations

import hashlib
import io
import sqlite3
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from vestige.analysis import Result, analyse
from vestige.indicators import IndicatorIndex, IndicatorSet, read_indicator_data
from vestige.indicators.sets import SetOrigin
from vestige.ios.sample.backup import BackupBuilder
from vestige.model import Finding, Record
from vestige.platforms import Registry

T0 = datetime(2024, 5, 14, 9, 0, tzinfo=timezone.utc)


@dataclass
class Collected:
    """A sink factory that keeps every record in memory (the engine runs in-process for tests)."""

    records: list[Record] = field(default_factory=list)

    def open(
        self, artifact: str, rank: int, acquisition: int | None, part: int | None = None, shard: int | None = None
    ) -> Collected:
        return self

    def record(self, record: Record) -> None:
        self.records.append(record)

    def close(self) -> object:
        return None

    def absorb(self, receipt: object) -> None:
        pass

    def manifest_file(self) -> IO[bytes]:
        return io.BytesIO()


@dataclass
class Checked:
    result: Result
    records: list[Record]

    def findings(self, rule: str) -> list[Finding]:
        return [f for f in self.result.findings if f.rule == rule]

    def rules(self) -> list[str]:
        return [f.rule for f in self.result.findings]

    def artifact_records(self, artifact: str) -> list[Record]:
        return [r for r in self.records if r.artifact == artifact]


def check(root: Path, sets: Sequence[IndicatorSet] = (), registry: Registry | None = None) -> Checked:
    """Analyse the acquisition at ``root`` with ``sets`` and keep every record."""
    sink = Collected()
    registry = registry or Registry.discover()
    with registry.open(root) as acquisition:
        result = analyse([acquisition], registry, IndicatorIndex(sets), sets, sinks=sink)
    return Checked(result, sink.records)


def plain_set(name: str, kind: str, values: Sequence[str]) -> IndicatorSet:
    """An indicator set from a plain list (``kind`` as a file name would give it: ``domains``...)."""
    data = "\n".join(values).encode()
    origin = SetOrigin(
        name=name, source="test", licence="CC0-1.0", path=f"{kind}.txt", sha256=hashlib.sha256(data).hexdigest()
    )
    return read_indicator_data(data, origin)


def backup_with(
    root: Path,
    databases: Sequence[tuple[str, str, str, Callable[[sqlite3.Connection], None]]] = (),
    **options: object,
) -> Path:
    """A backup holding the given ``(domain, relative path, schema, fill)`` databases."""
    builder = BackupBuilder(root, **options)  # type: ignore[arg-type]
    for domain, relative_path, schema, fill in databases:
        builder.add_database(domain, relative_path, schema, fill)
    return builder.finish()


def change_in_wal(database: Path, *statements: str) -> None:
    """Turns ``database`` to WAL mode and runs ``statements`` so that their changes stay in its
    ``-wal`` (as a phone leaves it), keeping the ``-wal`` and ``-shm`` beside it on disk."""
    live = sqlite3.connect(str(database))
    live.execute("PRAGMA journal_mode = WAL")
    live.execute("PRAGMA wal_autocheckpoint = 0")
    for statement in statements:
        live.execute(statement)
    live.commit()
    keep = {suffix: database.with_name(database.name + suffix).read_bytes() for suffix in ("", "-wal", "-shm")}
    live.close()  # closing the last connection checkpoints and removes the log: put them back
    for suffix, data in keep.items():
        database.with_name(database.name + suffix).write_bytes(data)


def zip_folder(
    root: Path, archive: Path, prefix: str = "", method: int = zipfile.ZIP_STORED, methods: dict[str, int] | None = None
) -> Path:
    """A zip of every file under ``root``, each under ``prefix`` + its relative path, compressed with
    ``method`` (or the one ``methods`` names for that path)."""
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            name = path.relative_to(root).as_posix()
            out.write(path, prefix + name, compress_type=(methods or {}).get(name, method))
    return archive


def tree_digest(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` by relative path: equal before and after means untouched."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }
