"""Exceptions raised while reading evidence.

Low layers raise these; the analysis layer turns them into a reported problem (what, where, why)
and the run carries on. Each message names the file and the problem in one sentence.
"""

from __future__ import annotations


class EvidenceError(Exception):
    """Evidence that cannot be read as expected."""


class NotAnAcquisitionError(EvidenceError):
    """The path does not exist, or is not a kind of acquisition that vestige reads."""


class EncryptedBackupError(EvidenceError):
    """An encrypted iOS backup, which must be decrypted before it can be checked."""


class CorruptDatabaseError(EvidenceError):
    """A SQLite database that is malformed, truncated, encrypted or of an unknown schema."""


class SchemaManipulatedError(CorruptDatabaseError):
    """A database whose schema holds what its writer never creates: a view, a virtual table or a shadow
    table where a table is expected, or a generated column in a table that is read. Such a schema can
    show a reader rows other than those stored, or run for ever, so the database is not read; what was
    seen is itself evidence (``vestige.evidence.sqlite.findings_of``)."""

    def __init__(self, database: str, seen: tuple[tuple[str, str], ...], writer: str) -> None:
        """``seen``: each table concerned with what was seen of it (``("history_visits", "table
        history_visits is a view")``); ``writer``: who writes such databases (``iOS``), or empty."""
        clauses = "; ".join(what for _, what in seen)
        real = f"real {writer} databases hold none" if writer else "the software that writes it creates none"
        super().__init__(f"{database}: {clauses}; {real}, so the file was not read")
        self.database = database
        self.seen = seen
        self.writer = writer
        self.sha256: str | None = None
        """The database's SHA-256 in its acquisition, set by the acquisition that opened it."""


class UnexpectedFormatError(EvidenceError):
    """A file whose structure is not what its format says (a plist of the wrong shape, ...)."""


class MissingFileError(EvidenceError):
    """A file that the acquisition lists but does not hold."""


class CorruptArchiveError(EvidenceError):
    """A zip or tar archive that cannot be read at all (its central directory or first header is damaged),
    or a member opened as an archive that is not one."""
