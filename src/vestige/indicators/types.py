"""Indicator types: which STIX object paths vestige evaluates, and how their values are normalised.

The object paths are those of STIX 2.1 part 6 (``domain-name:value``, ``url:value``,
``ipv4-addr:value``, ``ipv6-addr:value``, ``email-addr:value``, ``process:name``, ``file:name``,
``file:hashes.*``, ``directory:path``) plus the non-standard ones that the mobile indicator sets use
(MVT's ``indicators.py`` and the AmnestyTech/mvt-indicators bundles): ``file:path``, ``app:id``,
``app:cert.md5|sha1|sha256``, ``configuration-profile:id`` and ``android-property:name``.

Hash names are accepted in every spelling seen in the wild (``file:hashes.'SHA-256'``,
``file:hashes.sha256``, ``file:hashes.SHA256``) and reported under the STIX hash-algorithm-ov
spelling (``MD5``, ``'SHA-1'``, ``'SHA-256'``). A value is normalised with the same functions that
parsers use on evidence (``vestige.indicators.observables``), so the two sides of a lookup agree.
Two quirks of real sets are handled here, for ``domain-name:value``: an IP address written as a
domain (NoviSpy) becomes an IP indicator, and a URL written as a domain (stalkerware
``distribution`` entries) becomes a URL indicator when it names a path, or its host when it does
not, so that ``https://github.com/someone/tool`` does not turn every visit to GitHub into a hit.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from vestige.indicators.observables import (
    normalise_email,
    normalise_hex,
    normalise_host,
    normalise_ip,
    normalise_path,
    normalise_process_name,
    url_host,
    url_key,
)
from vestige.model import ObservableKind

DOMAIN = "domain-name:value"
URL = "url:value"
IPV4 = "ipv4-addr:value"
IPV6 = "ipv6-addr:value"
EMAIL = "email-addr:value"
PROCESS = "process:name"
FILE_NAME = "file:name"
FILE_PATH = "file:path"
DIRECTORY_PATH = "directory:path"
MD5 = "file:hashes.MD5"
SHA1 = "file:hashes.'SHA-1'"
SHA256 = "file:hashes.'SHA-256'"
APP_ID = "app:id"
APP_CERT_MD5 = "app:cert.md5"
APP_CERT_SHA1 = "app:cert.sha1"
APP_CERT_SHA256 = "app:cert.sha256"
PROFILE_ID = "configuration-profile:id"
ANDROID_PROPERTY = "android-property:name"

FILE_HASH = "file:hashes"
"""A file digest of any algorithm, resolved from its length (plain lists such as ``hashes.txt``)."""
APP_CERT = "app:cert"
"""A signing-certificate fingerprint of any algorithm, resolved from its length."""

COMPOUND = "stix-pattern"
"""The type reported for a match of a pattern alternative with more than one term."""

KINDS: dict[str, ObservableKind] = {
    DOMAIN: ObservableKind.DOMAIN,
    URL: ObservableKind.URL,
    IPV4: ObservableKind.IP,
    IPV6: ObservableKind.IP,
    EMAIL: ObservableKind.EMAIL,
    PROCESS: ObservableKind.PROCESS,
    FILE_NAME: ObservableKind.FILE_NAME,
    FILE_PATH: ObservableKind.FILE_PATH,
    DIRECTORY_PATH: ObservableKind.FILE_PATH,
    MD5: ObservableKind.MD5,
    SHA1: ObservableKind.SHA1,
    SHA256: ObservableKind.SHA256,
    APP_ID: ObservableKind.APP_ID,
    APP_CERT_MD5: ObservableKind.APP_CERT,
    APP_CERT_SHA1: ObservableKind.APP_CERT,
    APP_CERT_SHA256: ObservableKind.APP_CERT,
    PROFILE_ID: ObservableKind.PROFILE_ID,
    ANDROID_PROPERTY: ObservableKind.ANDROID_PROPERTY,
}
"""Every indicator type vestige evaluates, by its canonical spelling."""

_BY_PATH_KEY: dict[str, str] = {
    "file:hashes.md5": MD5,
    "file:hashes.sha1": SHA1,
    "file:hashes.sha256": SHA256,
    **{canonical: canonical for canonical in KINDS if not canonical.startswith("file:hashes.")},
    FILE_HASH: FILE_HASH,
    APP_CERT: APP_CERT,
}
_DIGEST_LENGTHS = {MD5: 32, SHA1: 40, SHA256: 64, APP_CERT_MD5: 32, APP_CERT_SHA1: 40, APP_CERT_SHA256: 64}
_FILE_HASH_BY_LENGTH = {32: MD5, 40: SHA1, 64: SHA256}
_APP_CERT_BY_LENGTH = {32: APP_CERT_MD5, 40: APP_CERT_SHA1, 64: APP_CERT_SHA256}


class InvalidIndicatorValueError(ValueError):
    """An indicator value that cannot be what its type says (a SHA-256 of 12 characters, ...)."""


@dataclass(frozen=True, slots=True)
class NormalisedIndicator:
    """An indicator value ready for lookup: the type it is reported as, what it matches, the value."""

    type: str
    kind: ObservableKind
    value: str


def canonical_type(object_path: str) -> str | None:
    """The canonical spelling of a supported object path, or None if vestige does not evaluate it.

    ``file:hashes.sha256``, ``file:hashes.'SHA-256'`` and ``file:hashes.SHA256`` all give
    ``file:hashes.'SHA-256'``; ``app:cert.SHA1`` gives ``app:cert.sha1``.
    """
    key = object_path.strip().lower().replace("'", "")
    if key.startswith(("file:hashes.", "app:cert.")):
        key = key.replace("-", "")
    return _BY_PATH_KEY.get(key)


def normalise_indicator(indicator_type: str, raw: str) -> NormalisedIndicator:
    """Normalise the value of an indicator of a canonical type (see ``canonical_type``).

    Raises ``InvalidIndicatorValueError`` with the reason when the value cannot be of that type.
    """
    if indicator_type == DOMAIN:
        return _domain_indicator(raw)
    if indicator_type in (IPV4, IPV6):
        return NormalisedIndicator(indicator_type, ObservableKind.IP, _network(raw))
    if indicator_type in (FILE_HASH, APP_CERT):
        return _digest_of_any_algorithm(indicator_type, raw)
    kind = KINDS.get(indicator_type)
    if kind is None:
        raise InvalidIndicatorValueError(f"unsupported indicator type {indicator_type}")
    return NormalisedIndicator(indicator_type, kind, _value_of_kind(indicator_type, kind, raw))


def _value_of_kind(indicator_type: str, kind: ObservableKind, raw: str) -> str:
    value: str | None
    if kind is ObservableKind.URL:
        value = url_key(raw) or None
    elif kind is ObservableKind.EMAIL:
        value = normalise_email(raw)
    elif kind is ObservableKind.PROCESS:
        value = normalise_process_name(raw)
    elif kind is ObservableKind.FILE_NAME:
        value = raw if raw.strip() and "/" not in raw else None
    elif kind is ObservableKind.FILE_PATH:
        value = _file_path(raw)
    elif kind in (ObservableKind.MD5, ObservableKind.SHA1, ObservableKind.SHA256, ObservableKind.APP_CERT):
        value = _digest(indicator_type, raw)
    elif kind is ObservableKind.APP_ID:
        value = raw.strip().lower() or None
    elif kind is ObservableKind.PROFILE_ID:
        value = raw.strip().upper() or None
    else:
        value = raw.strip() or None
    if value is None:
        raise InvalidIndicatorValueError(f"{raw!r} is not a valid {indicator_type} value")
    return value


def _domain_indicator(raw: str) -> NormalisedIndicator:
    text = raw.strip()
    if "/" in text:
        if "://" in text and url_key(text).partition("://")[2].partition("/")[2]:
            return NormalisedIndicator(DOMAIN, ObservableKind.URL, url_key(text))
        text = url_host(text) or ""
    address = normalise_ip(text)
    if address is not None:
        return NormalisedIndicator(DOMAIN, ObservableKind.IP, address)
    host = normalise_host(text)
    if host is None:
        raise InvalidIndicatorValueError(f"{raw!r} is not a host name")
    return NormalisedIndicator(DOMAIN, ObservableKind.DOMAIN, host)


def _network(raw: str) -> str:
    """An IP address, or a CIDR network in canonical form (host bits cleared, /32 and /128 as addresses)."""
    address = normalise_ip(raw)
    if address is not None:
        return address
    try:
        network = ipaddress.ip_network(raw.strip(), strict=False)
    except ValueError:
        raise InvalidIndicatorValueError(f"{raw!r} is not an IP address or network") from None
    if network.num_addresses == 1:
        return str(network.network_address)
    return str(network)


def _file_path(raw: str) -> str | None:
    path = normalise_path(raw.strip())
    if path == "/":
        raise InvalidIndicatorValueError("the root path '/' would match every file")
    return path


def _digest(indicator_type: str, raw: str) -> str:
    digest = normalise_hex(raw)
    expected = _DIGEST_LENGTHS[indicator_type]
    if digest is None or len(digest) != expected:
        raise InvalidIndicatorValueError(f"{raw!r} is not a {expected}-digit hex digest for {indicator_type}")
    return digest


def _digest_of_any_algorithm(indicator_type: str, raw: str) -> NormalisedIndicator:
    digest = normalise_hex(raw)
    by_length = _FILE_HASH_BY_LENGTH if indicator_type == FILE_HASH else _APP_CERT_BY_LENGTH
    resolved = by_length.get(len(digest)) if digest else None
    if digest is None or resolved is None:
        raise InvalidIndicatorValueError(f"{raw!r} is not an MD5, SHA-1 or SHA-256 hex digest")
    return NormalisedIndicator(resolved, KINDS[resolved], digest)
