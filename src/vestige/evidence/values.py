"""Values read from evidence, taken as the types a record declares.

SQLite keeps whatever a writer put in a column (an INTEGER column may hold text or a BLOB), and a
property list may hold any type under a key. Records keep such values as they were read
(``SqlValue``), so nothing is lost in the output; these functions give the typed view a detector or
a locator needs, or None when the value is not of that type.
"""

from __future__ import annotations

SqlValue = int | float | str | bytes | None
"""A value of a SQLite row as Python's sqlite3 module returns it."""


def as_int(value: object) -> int | None:
    """An integer (never a boolean), else None."""
    return value if type(value) is int else None


def as_float(value: object) -> float | None:
    """A number as a float (never a boolean), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def as_text(value: object) -> str | None:
    """Text, else None."""
    return value if isinstance(value, str) else None
