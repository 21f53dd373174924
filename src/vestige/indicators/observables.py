"""Turning raw evidence values into normalised ``Observable`` objects, the form the index looks up.

Parsers call these functions; the indicator loaders call the same normalisers on indicator values
(see ``vestige.indicators.types``), so that both sides of a lookup agree. The rules:

- hosts (RFC 1034 names): lower case, without trailing dots, leading ``*.``/``.``, brackets or a
  port; non-ASCII names become their IDNA A-label (RFC 3490) when the ``idna`` codec accepts them;
  an IP literal is an IP, not a host name;
- IP addresses: the canonical text of Python's ``ipaddress`` (RFC 5952 for IPv6), IPv4-mapped IPv6
  addresses as the IPv4 address, without a zone (``%en0``);
- URLs: the string as written, except that the scheme and host are lower-cased and an empty path
  is written ``/`` (the scheme-based normalisation of RFC 3986 section 6.2.3, under which
  ``https://a.example`` and ``https://a.example/`` are the same resource). A non-empty path is kept
  as it is, trailing slash included: ``/x`` and ``/x/`` may be different resources. Nothing is
  fetched and shorteners are never expanded (ARCHITECTURE.md, principle 2);
- file paths: repeated ``/`` collapsed and a trailing ``/`` removed; case kept;
- digests and certificate fingerprints: lower-case hex without ``:`` or spaces.

Registrable domains (eTLD+1) come from the Public Suffix List snapshot shipped inside the
``publicsuffixlist`` package, private section included (as browsers use it), so no network is used.
"""

from __future__ import annotations

import functools
import ipaddress
import re

from publicsuffixlist import PublicSuffixList

from vestige.model import Observable, ObservableKind

_ASCII_HOST = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_UNICODE_HOST = re.compile(r"[\w-]+(?:\.[\w-]+)*")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_AUTHORITY_END = re.compile(r"[/?#]")
_PORT = re.compile(r":[0-9]+(?:[/?#]|$)")
_REPEATED_SLASHES = re.compile(r"/{2,}")
_HEX = re.compile(r"[0-9a-f]+")
_HEX_SEPARATORS = re.compile(r"[:\s]")
_WHITESPACE = re.compile(r"\s")
_URL_IN_TEXT = re.compile(r"(?:\bhttps?://|(?<![\w.@/-])www\.)[^\s<>\"'`{}|\\^]+", re.IGNORECASE)
_URL_TRAILING_PUNCTUATION = ".,;:!?'\"]}>*"
_WILDCARD_RUN = re.compile(r"[*.]*")
_DIGEST_KINDS = {32: ObservableKind.MD5, 40: ObservableKind.SHA1, 64: ObservableKind.SHA256}
_DIGEST_ALGORITHMS = {"md5": 32, "sha1": 40, "sha256": 64}


# ----------------------------------------------------------------------------------------------
# Normalisers shared with the indicator loaders


def normalise_ip(text: str) -> str | None:
    """The canonical text of an IPv4 or IPv6 address, or None if ``text`` is not one."""
    candidate = text.strip()
    if not _looks_like_ip(candidate):
        return None
    if candidate.startswith("[") and candidate.endswith("]"):
        candidate = candidate[1:-1]
    candidate = candidate.partition("%")[0]
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _looks_like_ip(host: str) -> bool:
    return bool(host) and (host[-1].isdigit() or ":" in host or host[0] == "[")


def _strip_port(host: str) -> str:
    if ":" not in host:
        return host
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    if host.count(":") == 1:
        name, _, port = host.partition(":")
        if port.isdigit() or not port:
            return name
    return host


def normalise_host(text: str) -> str | None:
    """A host name in lookup form (see the module docstring), or None if ``text`` is not one.

    IP literals are returned as they are written (use ``normalise_ip`` on them); call
    ``domain_observable`` to get the right kind of observable for either.
    """
    host = _without_leading_wildcards(_strip_port(text.strip()).lower().rstrip("."))
    if not host or len(host) > 253:
        return None
    if host.isascii():
        return host if _ASCII_HOST.fullmatch(host) else None
    try:
        encoded = host.encode("idna").decode("ascii")
    except UnicodeError:
        return host if _UNICODE_HOST.fullmatch(host) else None
    return encoded if _ASCII_HOST.fullmatch(encoded) else None


def _without_leading_wildcards(host: str) -> str:
    """``host`` without the ``*.`` and ``.`` before its name: ``*.evil.example``, ``..evil.example``.

    They are taken off one at a time up to the first ``*`` not followed by a dot, which is the
    first ``**`` of the leading run of ``*`` and ``.``, or its last character if that is a ``*``.
    Found this way (a run of one character class, then one search), the cost is linear and needs
    no memory per character, however long the run.
    """
    run = _WILDCARD_RUN.match(host)
    if run is None or not run.end():
        return host
    prefix = host[: run.end()]
    stop = prefix.find("**")
    if stop < 0:
        stop = len(prefix) - 1 if prefix.endswith("*") else len(prefix)
    return host[stop:]


def url_key(url: str) -> str:
    """A URL in lookup form: scheme and host lower-cased and ``/`` for an empty path (RFC 3986 6.2.3)."""
    text = url.strip()
    scheme, separator, rest = text.partition("://")
    if not separator or not _SCHEME.fullmatch(scheme):
        return text
    end = _AUTHORITY_END.search(rest)
    authority, tail = (rest[: end.start()], rest[end.start() :]) if end else (rest, "")
    userinfo, at, hostport = authority.rpartition("@")
    if not tail or tail[0] in "?#":
        tail = "/" + tail
    return f"{scheme.lower()}://{userinfo}{at}{hostport.lower()}{tail}"


def url_host(url: str) -> str | None:
    """The host part of a URL as written (``https://h/``, ``//h/``, or schemeless ``h/path``), if any."""
    text = url.strip()
    scheme, separator, rest = text.partition("://")
    if separator and _SCHEME.fullmatch(scheme):
        remainder = rest
    elif text.startswith("//"):
        remainder = text[2:]
    else:
        prefix = _SCHEME.match(text)
        if prefix and text[prefix.end() : prefix.end() + 1] == ":" and not _PORT.match(text, prefix.end()):
            return None  # mailto:, data:, javascript: ... have no host
        remainder = text
    end = _AUTHORITY_END.search(remainder)
    authority = remainder[: end.start()] if end else remainder
    host = authority.rpartition("@")[2]
    return host or None


def normalise_path(path: str) -> str | None:
    """A file path with repeated ``/`` collapsed and no trailing ``/`` (the root stays ``/``)."""
    if not path:
        return None
    collapsed = _REPEATED_SLASHES.sub("/", path) if "//" in path else path
    if len(collapsed) > 1 and collapsed.endswith("/"):
        collapsed = collapsed.rstrip("/") or "/"
    return collapsed


def normalise_hex(text: str) -> str | None:
    """Lower-case hex without ``:`` or whitespace (fingerprints are often printed ``AB:CD:...``)."""
    digest = _HEX_SEPARATORS.sub("", text).lower()
    return digest if digest and _HEX.fullmatch(digest) else None


def normalise_email(text: str) -> str | None:
    """An e-mail address, lower-cased, without ``mailto:`` or angle brackets; None if not one."""
    address = text.strip()
    if address[:7].lower() == "mailto:":
        address = address[7:]
    address = address.strip("<> ").lower()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or _WHITESPACE.search(address):
        return None
    return address


def normalise_process_name(name: str) -> str | None:
    """A process name: the last component of a path, case kept; None if empty."""
    text = name.strip()
    if "/" in text:
        text = text.rstrip("/").rpartition("/")[2]
    return text or None


# ----------------------------------------------------------------------------------------------
# Observables


def ip_observable(text: str) -> Observable | None:
    """An IP observable from an address (brackets, zone and IPv4-mapped form tolerated)."""
    address = normalise_ip(text)
    return None if address is None else Observable(ObservableKind.IP, address)


def domain_observable(host: str) -> Observable | None:
    """A DOMAIN observable from a host name, or an IP observable if ``host`` is an IP literal."""
    stripped = _strip_port(host.strip())
    if _looks_like_ip(stripped):
        address = ip_observable(stripped)
        if address is not None:
            return address
    name = normalise_host(stripped)
    return None if name is None else Observable(ObservableKind.DOMAIN, name)


def observables_from_url(url: str) -> tuple[Observable, ...]:
    """The URL itself and its host (DOMAIN or IP), for a URL seen in evidence.

    Never raises and never touches the network: text that is not a URL gives at most the URL
    observable; ``mailto:`` URLs give the e-mail address instead of a host.
    """
    text = url.strip()
    if not text:
        return ()
    found = [Observable(ObservableKind.URL, url_key(text))]
    if text[:7].lower() == "mailto:":
        email = email_observable(text.partition("?")[0])
        if email is not None:
            found.append(email)
        return tuple(found)
    host = url_host(text)
    host_observable = domain_observable(host) if host else None
    if host_observable is not None:
        found.append(host_observable)
    return tuple(found)


def extract_urls(text: str) -> list[str]:
    """The ``http(s)://`` URLs and bare ``www.`` hosts in free text (an SMS body, a note), in order.

    Each is returned as written, without trailing punctuation; duplicates are dropped.
    """
    found: dict[str, None] = {}
    for match in _URL_IN_TEXT.finditer(text):
        candidate = _balance_parentheses(match.group().rstrip(_URL_TRAILING_PUNCTUATION))
        if candidate and not candidate.endswith("://"):
            found.setdefault(candidate, None)
    return list(found)


def _balance_parentheses(candidate: str) -> str:
    """Drop closing parentheses that close text around the URL: ``(see https://x/a_(b))``.

    Each dropped ``)`` takes the trailing punctuation before it too. The counts are taken once and
    the end moves back one character at a time, so a run of ``)`` costs its length, not its square
    (the punctuation stripped never holds a parenthesis, so the counts change only by the ``)``
    dropped).
    """
    if not candidate.endswith(")"):
        return candidate
    excess = candidate.count(")") - candidate.count("(")
    end = len(candidate)
    while excess > 0 and end and candidate[end - 1] == ")":
        end -= 1
        excess -= 1
        while end and candidate[end - 1] in _URL_TRAILING_PUNCTUATION:
            end -= 1
    return candidate[:end]


def email_observable(address: str) -> Observable | None:
    """An EMAIL observable (lower-cased), or None if ``address`` is not an e-mail address."""
    normalised = normalise_email(address)
    return None if normalised is None else Observable(ObservableKind.EMAIL, normalised)


def process_observable(name: str) -> Observable | None:
    """A PROCESS observable: the executable name (last path component), case-sensitive."""
    normalised = normalise_process_name(name)
    return None if normalised is None else Observable(ObservableKind.PROCESS, normalised)


def path_observables(path: str) -> tuple[Observable, ...]:
    """A FILE_PATH observable for ``path`` and a FILE_NAME observable for its last component."""
    normalised = normalise_path(path)
    if normalised is None:
        return ()
    found = [Observable(ObservableKind.FILE_PATH, normalised)]
    name = normalised.rpartition("/")[2]
    if name:
        found.append(Observable(ObservableKind.FILE_NAME, name))
    return tuple(found)


def hash_observable(digest: str, algorithm: str | None = None) -> Observable | None:
    """An MD5, SHA1 or SHA256 observable; the algorithm is taken from the length unless given.

    ``algorithm`` accepts ``md5``, ``sha1``/``SHA-1`` and ``sha256``/``SHA-256``. A digest whose
    length does not fit gives None.
    """
    normalised = normalise_hex(digest)
    if normalised is None:
        return None
    if algorithm is not None:
        expected = _DIGEST_ALGORITHMS.get(algorithm.lower().replace("-", ""))
        if expected != len(normalised):
            return None
    kind = _DIGEST_KINDS.get(len(normalised))
    return None if kind is None else Observable(kind, normalised)


def app_id_observable(package: str) -> Observable | None:
    """An APP_ID observable (Android package name or iOS bundle id), lower-cased."""
    normalised = package.strip().lower()
    return Observable(ObservableKind.APP_ID, normalised) if normalised else None


def app_cert_observable(fingerprint: str) -> Observable | None:
    """An APP_CERT observable: an MD5, SHA-1 or SHA-256 signing-certificate fingerprint."""
    normalised = normalise_hex(fingerprint)
    if normalised is None or len(normalised) not in _DIGEST_KINDS:
        return None
    return Observable(ObservableKind.APP_CERT, normalised)


def profile_observable(identifier: str) -> Observable | None:
    """A configuration-profile observable: the profile's UUID, upper-cased."""
    normalised = identifier.strip().upper()
    return Observable(ObservableKind.PROFILE_ID, normalised) if normalised else None


def android_property_observable(name: str) -> Observable | None:
    """An Android system property name (``sys.brand.note``), exact."""
    normalised = name.strip()
    return Observable(ObservableKind.ANDROID_PROPERTY, normalised) if normalised else None


# ----------------------------------------------------------------------------------------------
# Registrable domains


@functools.cache
def _public_suffix_list() -> PublicSuffixList:
    return PublicSuffixList()


@functools.lru_cache(maxsize=1 << 16)
def registrable_domain(host: str) -> str | None:
    """The registrable domain (eTLD+1) of a host, or None for IPs, bare public suffixes and garbage.

    ``www.example.co.uk`` -> ``example.co.uk``; ``1ca43.appspot.com`` -> ``1ca43.appspot.com``
    (``appspot.com`` is in the private section of the Public Suffix List).
    """
    stripped = _strip_port(host.strip())
    if _looks_like_ip(stripped) and normalise_ip(stripped) is not None:
        return None
    name = normalise_host(stripped)
    if name is None:
        return None
    suffix: str | None = _public_suffix_list().privatesuffix(name)
    return suffix


def embedded_host_observable(token: str) -> Observable | None:
    """A DOMAIN (or IP) observable for a host name found inside other text, such as a folder name.

    Stricter than ``domain_observable``: the name must end in a suffix of the Public Suffix List, so
    ``sms.db`` or ``Info.plist`` give None while ``evil.com`` and ``x.co.uk`` give a domain.
    """
    stripped = token.strip()
    if "." not in stripped:
        return None
    if _looks_like_ip(stripped):
        return ip_observable(stripped)
    name = normalise_host(stripped)
    if name is None or _public_suffix_list().privatesuffix(name, accept_unknown=False) is None:
        return None
    return Observable(ObservableKind.DOMAIN, name)
