"""Process names that are findings in themselves, shared by the artifacts that record processes.

Operation Triangulation (Kaspersky, 2023) ran its implant as a process named ``BackupAgent``: a
legitimate iOS binary that has been unused since ``BackupAgent2`` replaced it, so network use by
``BackupAgent`` (and never ``BackupAgent2``) is the published sign.
"""

from __future__ import annotations

TRIANGULATION_PROCESSES = frozenset({"BackupAgent"})
