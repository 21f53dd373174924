"""The package digests of vestige's releases, which ``verify`` checks an attestation's tool against.

An attestation names the vestige that ran an analysis by version and by ``package_digest`` (the
SHA-256 over every file of the installed package). ``verify`` accepts a digest it can vouch for: the
one listed here for that version, or its own (the vestige running the check). A version listed here
with another digest is a modified copy of that release; a version not listed is reported with its
digest so that the reader can compare it with a digest they obtained elsewhere.

How a release adds its own line: build and install the release, run
``python -c "from vestige.custody.distribution import package_digest; print(package_digest())"``,
add ``"<version>": "<digest>"`` below, and tag. This file is left out of the digest
(``distribution.UNHASHED``), so adding the line does not change the digest it records; it holds
data only, no code.
"""

from __future__ import annotations

RELEASES: dict[str, str] = {}
"""Version -> package digest of each published release (none yet: 0.1.0 is unreleased)."""
