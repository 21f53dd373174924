"""How evidence text reaches the terminal (vestige.cli.console): visible escapes, no markup, no
emoji, and rows that evidence cannot forge."""

from __future__ import annotations

import io
import json
import re
import sys
import unicodedata

import orjson
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text

from vestige.cli.console import CONTINUATION, INVISIBLE, json_visible, new_console, print_line, shown, visible

_ESCAPE = re.compile(r"\\x([0-9a-f]{2})|\\u([0-9a-f]{4})|\\U([0-9a-f]{8})")


def read_back(printed: str) -> str:
    """Text with every ``\\xNN``, ``\\uNNNN`` and ``\\UNNNNNNNN`` taken as the character it names
    (any other backslash is itself): ``visible`` changes nothing of this reading."""
    return _ESCAPE.sub(lambda m: chr(int(next(g for g in m.groups() if g), 16)), printed)


def is_shown_as_itself(character: str) -> bool:
    return unicodedata.category(character) not in ("Cc", "Cf", "Zl", "Zp", "Cs")


def test_every_control_format_and_separator_character_is_escaped() -> None:
    missed = [
        f"U+{code:04X}"
        for code in range(sys.maxunicode + 1)
        if not is_shown_as_itself(chr(code)) and not any(first <= code <= last for first, last in INVISIBLE)
    ]
    assert missed == []
    assert [visible(c) for c in "\x00\t\n\r\x1b\x7f\x85\x9b\u00ad\u061c\u200b\u200d\u200e\u2028\u2029"] == [
        "\\x00",
        "\\x09",
        "\\x0a",
        "\\x0d",
        "\\x1b",
        "\\x7f",
        "\\x85",
        "\\x9b",
        "\\xad",
        "\\u061c",
        "\\u200b",
        "\\u200d",
        "\\u200e",
        "\\u2028",
        "\\u2029",
    ]
    assert [visible(chr(c)) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))] == [
        f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))
    ]
    assert visible("\U000e0041\udcff\u3164\ufeff") == "\\U000e0041\\udcff\\u3164\\ufeff"


def test_ordinary_text_is_shown_as_it_is() -> None:
    for text in (
        "Amina’s iPhone",
        "Votre colis est retenu: https://smscentro.com/c2q7/verify?a=1&b=[2]",
        "سلام عليكم",
        "日本語のテキスト",
        "❤️ 😀 é",
        r"C:\Program Files\app",
        "a\\b",
    ):
        assert visible(text) == text


def test_a_backslash_that_rich_would_read_is_escaped_itself() -> None:
    assert visible("\\\\") == "\\x5c\\x5c"
    assert visible("end\\") == "end\\x5c"
    assert visible("\\[b] \\\x1b") == "\\x5c[b] \\x5c\\x1b"
    assert visible("notes-\\xff.txt \\u202e") == "notes-\\xff.txt \\u202e"  # as vestige writes bytes


@given(
    st.text(alphabet=st.sampled_from("\\xuU0123456789abcdef[]/:\n\x1b\u202e é😀"), max_size=40) | st.text(max_size=40)
)
def test_only_invisible_characters_and_backslashes_rich_would_read_are_written_differently(text: str) -> None:
    printed = visible(text)
    assert read_back(printed) == read_back(text)
    assert all(is_shown_as_itself(c) for c in printed)
    assert "\\\\" not in printed  # no run of backslashes reaches rich
    assert "\\[" not in printed  # nor one that rich would take for an escaped bracket
    assert not printed.endswith("\\")


@given(st.text(alphabet=st.sampled_from("\\[]/#@abz:= \n\x1b"), max_size=40) | st.text(max_size=40))
def test_shown_is_markup_that_draws_exactly_the_visible_text(text: str) -> None:
    assert Text.from_markup(f"[bold]{shown(text)}[/]", emoji=False).plain == visible(text)
    assert Text.from_markup(shown(text) + "[dim]x[/]", emoji=False).plain == visible(text) + "x"


def test_a_long_value_is_cut_and_the_cut_is_said() -> None:
    assert (
        visible("a" * 5000 + "the reason") == "a" * 2048 + "… (914 characters left out) …" + "a" * 2038 + "the reason"
    )
    assert visible("abc", limit=2) == "a… (1 characters left out) …c"
    assert visible("abc", limit=1) == "a… (2 characters left out) …"
    assert Text.from_markup(shown("[b]" * 10, limit=4)).plain == "[b… (26 characters left out) …b]"


def test_the_console_draws_no_emoji_markup_or_highlighting_from_evidence() -> None:
    console = new_console()
    console.file = io.StringIO()
    print_line(console, f"device {shown(':skull: [red]x[/red] 127.0.0.1 https://x.example')}")
    assert console.file.getvalue() == "device :skull: [red]x[/red] 127.0.0.1 https://x.example\n"


def terminal(width: int) -> Console:
    return Console(
        file=io.StringIO(), force_terminal=True, color_system=None, width=width, emoji=False, highlight=False
    )


def test_on_a_terminal_every_row_fits_and_continuations_are_marked() -> None:
    console = terminal(40)
    padding_then_forged = "x" + " " * 300 + "CRITICAL all clear: this phone is clean " + "y" * 100
    print_line(console, f"\nHIGH a finding\n  {shown(padding_then_forged)}")
    rows = console.file.getvalue().split("\n")
    assert rows[:3] == ["", "HIGH a finding", "  x"]
    assert all(len(row) <= 40 for row in rows)
    assert all(row.startswith(CONTINUATION) for row in rows[3:-1])
    assert rows[3] == CONTINUATION + "CRITICAL all clear: this phone is"
    assert rows[-1] == ""


def test_off_a_terminal_a_line_is_one_line_however_long() -> None:
    console = Console(file=io.StringIO(), width=40, soft_wrap=True, emoji=False, highlight=False)
    print_line(console, f"  {shown('word ' * 30)}")
    assert console.file.getvalue() == "  " + "word " * 29 + "word \n"


@given(st.dictionaries(st.text(max_size=8), st.lists(st.text(max_size=12), max_size=3), max_size=4))
def test_a_json_document_shows_only_what_is_there_and_reads_back_the_same(values: dict[str, list[str]]) -> None:
    printed = json_visible(orjson.dumps(values, option=orjson.OPT_INDENT_2).decode())
    assert json.loads(printed) == values
    assert all(c == "\n" or is_shown_as_itself(c) for c in printed)
