"""Personal data in what a report shows: which record fields hold it, and how it is hidden.

A report is read by people who need the findings, not the victim's private life. By default the HTML
report (``report/html.py``) hides the fields below wherever a finding does not need them; a report made
with ``--show-personal-data`` shows them and says so. The policy is per artifact and field, and a
value that an indicator of the finding names (a matched e-mail handle) is never hidden from that
finding: it is the evidence.

- ``ios.sms``: ``text`` (the message: only the URLs it holds are shown) and ``handle`` (the
  correspondent's number or address).
- ``ios.idstatuscache``: ``handle`` (the contact looked up).
- ``ios.safari_history``: ``title`` (the page title; the URL, which indicators match, stays).
- the device: its ``name`` (often the owner's name) and the ``phone_number`` identifier.

Hiding replaces each value where it is quoted in a finding's title, explanation, excerpt or evidence
locator (a plist key may name a handle) and in a timeline event's message, locator and fields, whole
or as the excerpt an artifact made of it (whitespace flattened, cut with ``…``), by a placeholder that
says what was hidden and how long it was.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vestige.model import JSON

MESSAGE_TEXT = "message text"
PERSONAL_FIELDS: Mapping[str, Mapping[str, str]] = {
    "ios.sms": {"text": MESSAGE_TEXT, "handle": "contact"},
    "ios.idstatuscache": {"handle": "contact"},
    "ios.safari_history": {"title": "page title"},
}
"""Artifact -> field -> what the field holds, as the placeholder names it."""

PERSONAL_DEVICE_FIELDS = frozenset({"name"})
PERSONAL_IDENTIFIERS = frozenset({"phone_number"})
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s<>\"'…]+")
ANCHOR = 12
"""Characters of a value's start that locate an excerpt of it in a longer text."""


@dataclass(frozen=True, slots=True)
class Redaction:
    """One personal value and what stands in its place."""

    value: str
    placeholder: str


def redactions(artifact: str, fields: Mapping[str, JSON], needed: Sequence[str] = ()) -> list[Redaction]:
    """The personal values of a record's ``fields`` under the policy, longest first. A value containing
    one of ``needed`` (the indicator values of the finding that cites it) is kept, but for a message's
    text, whose placeholder keeps its URLs."""
    policy = PERSONAL_FIELDS.get(artifact, {})
    out: list[Redaction] = []
    for field, holds in policy.items():
        value = fields.get(field)
        if not isinstance(value, str) or not value.strip():
            continue
        if holds != MESSAGE_TEXT and any(item and item.lower() in value.lower() for item in needed):
            continue  # the value an indicator names is the evidence (a message's URLs stay in its placeholder)
        out.append(Redaction(value, placeholder(holds, value)))
    return sorted(out, key=lambda r: -len(r.value))


def placeholder(holds: str, value: str) -> str:
    """What replaces a hidden value: what it was and its length; a message keeps its URLs."""
    shown = f"[{holds} hidden: {len(value)} characters"
    if holds == MESSAGE_TEXT:
        urls = URL.findall(value)
        if urls:
            shown += "; its URLs: " + " ".join(urls)
    return shown + "]"


def hide(text: str, hidden: Sequence[Redaction], thorough: bool = True) -> str:
    """``text`` with each hidden value replaced where it is quoted, whole or as an excerpt; not
    ``thorough``, a value quoted whole is taken to be quoted only so (a timeline event's message, which
    is its record's summary)."""
    for redaction in hidden:
        text = _replace(text, redaction.value, redaction.placeholder, thorough)
    return text


def _replace(text: str, value: str, placeholder: str, thorough: bool) -> str:
    if value in text:
        text = text.replace(value, placeholder)
        if not thorough:
            return text
    anchor = " ".join(value[: 4 * ANCHOR].split())[:ANCHOR]  # as an excerpt flattens it
    if not anchor or anchor not in text:
        return text  # the common case, decided without flattening a long value
    flat = " ".join(value.split())
    if flat in text:
        return text.replace(flat, placeholder)
    out: list[str] = []
    start = 0
    while (found := text.find(anchor, start)) >= 0:
        end = found + len(anchor)
        while end < len(text) and end - found < len(flat) and text[end] == flat[end - found]:
            end += 1
        if end < len(text) and text[end] == "…":  # an excerpt cut short
            end += 1
        out.append(text[start:found] + placeholder)
        start = end
    out.append(text[start:])
    return "".join(out)


def hide_in_event(artifact: str, event: dict[str, JSON]) -> None:
    """Hides the personal values of a timeline event's record in place: its fields get their
    placeholders, and the values are hidden in its message and where its evidence is (a key may quote
    a handle). Runs for every such event of a timeline: kept to the few operations it needs."""
    hidden: list[tuple[str, str]] = []
    for name, holds in PERSONAL_FIELDS.get(artifact, {}).items():
        value = event.get(name)
        if isinstance(value, str) and value:
            shown = placeholder(holds, value)
            event[name] = shown
            if not value.isspace():
                hidden.append((value, shown))
    if len(hidden) > 1:
        hidden.sort(key=lambda pair: -len(pair[0]))
    message = event.get("message")
    message = str(message) if message else ""
    for value, shown in hidden:
        message = _replace(message, value, shown, thorough=False)
    event["message"] = message
    evidence = event.get("evidence")
    if isinstance(evidence, dict):
        key = evidence.get("key")
        if isinstance(key, str):
            for value, shown in hidden:
                key = _replace(key, value, shown, thorough=False)
            evidence["key"] = key
