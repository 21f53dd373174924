"""Typed views of values read from evidence: what a column or key holds, taken as a detector needs it."""

from __future__ import annotations

from vestige.evidence.values import as_float, as_int, as_text


def test_each_view_takes_only_its_own_type() -> None:
    values: list[object] = [3, True, 2.5, "7", b"\x01", None]
    assert [as_int(v) for v in values] == [3, None, None, None, None, None]
    assert [as_float(v) for v in values] == [3.0, None, 2.5, None, None, None]
    assert [as_text(v) for v in values] == [None, None, None, "7", None, None]
    assert as_int(2**80) == 2**80
