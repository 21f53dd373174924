"""Values read from evidence, taken as the types a record declares.

SQLite keeps whatever a writer put in a column (an INTEGER column may hold text or a BLOB), and a
property list may hold any type under a key. Records keep such values as they were read
(``SqlValue``), so nothing is lost in the output; these functions give the typed view a detector or
a locator needs, or None when the value is not of that type.

Text that is not valid UTF-8 is kept, each byte that is not part of a character shown as the four
characters ``\\xNN`` (as ``sources.name_text`` shows file names): one stray byte costs that escape,
never the value or its row.
"""

from __future__ import annotations

import re

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


def lenient_text(data: bytes) -> str:
    """UTF-8 bytes as text, each byte that is not part of a character escaped as ``\\xNN``."""
    return data.decode("utf-8", "backslashreplace")


def text_of(value: object) -> str | None:
    """Text, or a BLOB read as the text a program reading the column as text would see (SQLite keeps
    whatever type a writer stored, and a reader such as Messages or Safari asks for text); else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return lenient_text(value)
    return None


_LEADING_NUMBER = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def as_flag(value: object) -> bool:
    """A boolean column as the program that reads it sees it (SQLite's integer view of any value): a
    number is true when it is not zero; text or a BLOB when it begins with a number that is not zero.
    ``bool()`` would call any non-empty BLOB true, so a crafted row could pass for an outgoing one."""
    if isinstance(value, int | float):
        return value != 0
    text = text_of(value)
    match = _LEADING_NUMBER.match(text) if text is not None else None
    return match is not None and float(match.group()) != 0
