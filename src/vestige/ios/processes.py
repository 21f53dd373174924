"""Process names on iOS: the rules and caveats shared by every artifact that records processes.

Operation Triangulation (Kaspersky, 2023) ran its implant as a process named ``BackupAgent``: a
legitimate iOS binary that has been unused since ``BackupAgent2`` replaced it, so network use by
``BackupAgent`` (and never ``BackupAgent2``) is the published sign. Indicator process names of
iOS spyware imitate Apple daemons, often by one letter, which every process match says.
"""

from __future__ import annotations

from collections.abc import Sequence

from vestige.model import Evidence, Finding, ObservableKind, Record, Severity
from vestige.platforms import excerpt

TRIANGULATION_PROCESSES = frozenset({"BackupAgent"})
CITED_EXAMPLES = 10

PROCESS_NAME_CAVEATS = {
    ObservableKind.PROCESS: (
        "Some indicator process names imitate Apple daemons by one letter; confirm the exact spelling.",
    )
}
"""The caveat of a process-name match on iOS (a ``MatchPolicy``'s ``kind_caveats``)."""


def backup_agent_finding(rule: str, seen: str, records: Sequence[Record]) -> Finding:
    """Network use by a process named ``BackupAgent``; ``seen`` says where, as the start of a sentence
    (``DataUsage.sqlite records network use by a process named BackupAgent``)."""
    return Finding(
        rule=rule,
        severity=Severity.HIGH,
        title="The BackupAgent process used the network",
        explanation=(
            f"{seen}. Kaspersky reported that Operation Triangulation's implant used this name, a deprecated "
            "binary that should not use the network during normal use of a phone; its triangle_check tool treats "
            "it as a detection."
        ),
        caveats=(
            "BackupAgent2, a different and legitimate process, is not matched; check the exact name.",
            "Very old devices may carry a legitimate BackupAgent entry from their own backups.",
        ),
        evidence=tuple(Evidence(r.locator, excerpt(r.summary)) for r in records[:CITED_EXAMPLES]),
        time=min((r.time for r in records if r.time), default=None),
    )
