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


class UnexpectedFormatError(EvidenceError):
    """A file whose structure is not what its format says (a plist of the wrong shape, ...)."""


class MissingFileError(EvidenceError):
    """A file that the acquisition lists but does not hold."""


class CorruptArchiveError(EvidenceError):
    """A zip or tar archive that cannot be read at all (its central directory or first header is damaged),
    or a member opened as an archive that is not one."""
