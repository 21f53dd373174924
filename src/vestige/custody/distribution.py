"""The identity of the installed vestige: its version and a digest of every file of the package.

An attestation names the analysis tool by this digest (docs/custody-design.md section 5: pin the tool by
content, not by name), so a verifier can tell whether the vestige that re-runs an analysis is the
one that produced it. Compiled caches (``__pycache__``) are left out: they differ between Python
versions without changing what the code does. So is ``custody/releases.py``, the list of release
digests: a release adds its own digest there, which must not change the digest it adds.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import vestige

UNHASHED = frozenset({"custody/releases.py"})


@functools.cache
def package_digest() -> str:
    """SHA-256 over ``path NUL sha256`` lines of every file of the installed package, in path order."""
    root = Path(vestige.__file__).resolve().parent
    lines = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        compiled = "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo")
        if path.is_file() and not compiled and relative not in UNHASHED:
            lines.append(f"{relative}\x00{hashlib.sha256(path.read_bytes()).hexdigest()}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()
