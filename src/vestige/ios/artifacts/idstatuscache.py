"""iMessage and FaceTime identity lookups, ``com.apple.identityservices.idstatuscache.plist``.

Top-level keys are services (``com.apple.madrid`` for iMessage, ``com.apple.ess`` for FaceTime);
each maps handles (``mailto:...``, ``tel:...``) to ``{LookupDate (Mac absolute seconds), IDStatus}``
(docs/ios-formats.md section 6). Present in backups up to iOS 14.7. ``mailto:`` handles are checked
against ``email-addr`` indicators (Pegasus zero-click attempts looked up attacker iCloud accounts);
a handle containing ``\\x00\\x00`` is the lookup artefact Amnesty reported with Pegasus (high).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from vestige.evidence.acquisition import Acquisition
from vestige.evidence.plist import plain, plist_text
from vestige.indicators.observables import email_observable
from vestige.ios.acquisitions import IOS_BACKUP
from vestige.ios.timestamps import from_mac_absolute, plist_date
from vestige.model import JSON, Evidence, Finding, IndicatorLookup, Locator, Record, Severity
from vestige.platforms import MatchPolicy, excerpt

NAME = "ios.idstatuscache"
VERSION = 2
PATHS = {
    IOS_BACKUP: (
        "HomeDomain/Library/Preferences/com.apple.identityservices.idstatuscache.plist",
        "HomeDomain/Library/IdentityServices/idstatuscache.plist",
    ),
}
DESCRIPTION = "iMessage/FaceTime handle lookups from the identity services status cache"
MATCHES = MatchPolicy(
    Severity.HIGH,
    "An iMessage/FaceTime lookup",
    ("A lookup happens when the phone is sent a message or call from that account, or when the user types it.",),
)


@dataclass(frozen=True, slots=True)
class IdentityLookup:
    """One handle looked up by an identity service, with the status the service gave."""

    service: str
    handle: str
    id_status: JSON


def parse(acquisition: Acquisition, path: str) -> Iterator[Record]:
    sha256 = acquisition.file(path).sha256
    cache = acquisition.plist(path)
    for service in sorted(cache, key=plist_text):
        handles = cache[service]
        if not isinstance(handles, dict):
            continue
        for handle in sorted(handles, key=plist_text):
            entry = handles[handle]
            if not isinstance(entry, dict):
                continue
            lookup = entry.get("LookupDate")
            when = plist_date(lookup) or (from_mac_absolute(lookup) if isinstance(lookup, int | float) else None)
            name, user = plist_text(service), plist_text(handle)
            status = plain(entry.get("IDStatus"))  # any plist value: a crafted one may be deep, wide or odd
            email = email_observable(user.removeprefix("mailto:")) if user.startswith("mailto:") else None
            yield Record(
                artifact=NAME,
                locator=Locator(path, sha256, key=f"{name}/{user}"),
                time=when,
                summary=f"{name} looked up {user!r} (status {_status_text(status)})",
                payload=IdentityLookup(name, user, status),
                observables=() if email is None else (email,),
                time_kind="lookup date",
            )


def _status_text(status: JSON) -> str:
    """``IDStatus`` as the summary shows it: 1 or 2 as they are (``None`` when absent), anything else short."""
    return str(status) if status is None or isinstance(status, int) else plist_text(status)


def detect(records: Iterable[Record], indicators: IndicatorLookup) -> Iterator[Finding]:
    for record in records:
        handle = record.payload.handle if isinstance(record.payload, IdentityLookup) else ""
        if "\x00\x00" in handle:
            yield Finding(
                rule="ios.idstatuscache.null_bytes_lookup",
                severity=Severity.HIGH,
                title="An iMessage/FaceTime lookup of a handle containing two NUL bytes",
                explanation=(
                    f"{record.locator.path} records a lookup of {handle!r}. Amnesty's Pegasus methodology reports "
                    "handles containing '\\x00\\x00' in this cache as a trace of exploitation attempts."
                ),
                caveats=("Corrupted plist data could in principle produce the same bytes.",),
                evidence=(Evidence(record.locator, excerpt(repr(handle))),),
                time=record.time,
            )
