"""HTTP/1.0 and HTTP/1.1 message heads sent in clear (RFC 9112 sections 2-5: the request line, the status
line, header fields; the Host header and the URL it makes, RFC 9110 sections 7.2 and 4.2), and whether a
redirect leaves the site it came from (D11, reference/network-injection.md section 6).

Only the start of a head is read: its first ``HEAD_LIMIT`` bytes and ``MAX_HEADER_LINES`` header lines,
which hold the request line, Host, User-Agent, the status line and Location of any real message. Bytes
that are not ASCII are shown as ``\\xNN``; a header line without a colon is skipped; nothing raises.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from vestige.indicators.observables import registrable_domain
from vestige.network.events import Flow, HttpRequest, HttpResponseHead

HEAD_LIMIT = 8192
MAX_HEADER_LINES = 100
SCRIPT_LIMIT = 65536
"""The script markers are looked for in this many bytes of what the caller captured."""

_REQUEST_LINE = re.compile(rb"([A-Z][A-Z-]{1,19}) ([\x21-\xff]+) HTTP/1\.([01])\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-9][0-9][0-9])(?: ([^\r\n]*))?\r?\n")
_SCRIPT = re.compile(rb"<script|javascript:", re.IGNORECASE)
_JAVASCRIPT_TYPES = frozenset(
    {
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "text/ecmascript",
    }
)
"""RFC 9239's JavaScript media type and the older names it lists as still in use."""
_DIGITS = re.compile(r"[0-9]{1,18}")
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# What browsers drop from a URL before reading it (the WHATWG URL standard strips leading and trailing
# C0 controls and spaces, and tabs and newlines anywhere), so "\t//evil.example" is read as they read it.
_URL_NOISE = re.compile(r"[\t\n\r]")
_REQUEST_FIELDS = frozenset({b"host", b"user-agent"})
_RESPONSE_FIELDS = frozenset({b"location", b"content-length", b"content-type"})


def request(flow: Flow, packet: int, payload: bytes) -> HttpRequest | None:
    """The HTTP/1.x request whose head starts ``payload`` (a client's first bytes on a flow), or None."""
    head = payload[:HEAD_LIMIT]
    line = _REQUEST_LINE.match(head)
    if line is None:
        return None
    method, target = _text(line.group(1)), _text(line.group(2))
    fields = _fields(head[line.end() :], _REQUEST_FIELDS)
    host = fields.get("host")
    if host is not None:
        host = host.lower() or None
    return HttpRequest(
        flow=flow,
        packet=packet,
        method=method,
        host=host,
        target=target,
        url=_url(flow, host, method, target),
        user_agent=fields.get("user-agent"),
    )


def response_head(head: bytes) -> HttpResponseHead | None:
    """The HTTP/1.x response that starts ``head``: status, reason, Location, Content-Length, and whether
    it carries script: the captured bytes hold a ``<script`` element or a ``javascript:`` URL (any case),
    or the response says its body is JavaScript (Content-Type ``text/javascript`` and RFC 9239's other
    names), as the script Fox-IT's injector served in place of ``platform.twitter.com/widgets.js``."""
    line = _STATUS_LINE.match(head, 0, HEAD_LIMIT)
    if line is None:
        return None
    fields = _fields(head[line.end() : HEAD_LIMIT], _RESPONSE_FIELDS)
    length = fields.get("content-length")
    return HttpResponseHead(
        status=int(line.group(1)),
        reason=_text(line.group(2) or b"").strip(),
        location=fields.get("location"),
        content_length=int(length) if length is not None and _DIGITS.fullmatch(length) else None,
        script=_SCRIPT.search(head, 0, SCRIPT_LIMIT) is not None or _is_javascript(fields.get("content-type")),
    )


def _is_javascript(content_type: str | None) -> bool:
    return content_type is not None and content_type.partition(";")[0].strip().lower() in _JAVASCRIPT_TYPES


def cross_site_location(location: str, request_host: str | None) -> bool:
    """Whether a redirect's Location names a host of another site than the request's Host: another
    registrable domain (eTLD+1), or another address or name when either has none (an IP address, a bare
    public suffix). A relative Location stays on the site; with no request Host known, nothing is claimed
    (False)."""
    if request_host is None:
        return False
    target = _location_host(location)
    return target is not None and _site(target) != _site(request_host)


def _location_host(location: str) -> str | None:
    """The host a Location sends the browser to, or None when it stays on the request's host. Backslashes
    count as slashes, as browsers read them in http(s) URLs (``/\\evil.example`` leaves the site)."""
    text = _URL_NOISE.sub("", location).strip("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10 ")
    text = text.replace("\\", "/")
    if not (text.startswith("//") or _ABSOLUTE.match(text)):
        return None
    try:
        host = urlsplit(text if not text.startswith("//") else "http:" + text).hostname
    except ValueError:
        return None
    return host or None


def _site(host: str) -> str:
    """What two hosts must share to be one site: their registrable domain, else the host itself."""
    name = _strip_port(host.strip().lower()).strip("[]").rstrip(".")
    return registrable_domain(name) or name


def _strip_port(authority: str) -> str:
    if authority.startswith("["):
        return authority[: authority.find("]") + 1] if "]" in authority else authority
    name, colon, port = authority.rpartition(":")
    return name if colon and ":" not in name and port.isdigit() else authority


def _fields(block: bytes, wanted: frozenset[bytes]) -> dict[str, str]:
    """The ``wanted`` header fields (lower-case names; the first of repeated fields) up to the blank line
    that ends the head, or as many as the bytes hold. Only those are decoded: a request carries a dozen."""
    fields: dict[str, str] = {}
    for count, raw in enumerate(block.split(b"\n")):
        line = raw.rstrip(b"\r")
        if not line or count == MAX_HEADER_LINES:
            break
        name, colon, value = line.partition(b":")
        # Lowering the bytes finds the same names as lowering their text: both change ASCII letters only.
        if colon and name and not name[-1:].isspace() and name.lower() in wanted:
            fields.setdefault(_text(name).lower(), _text(value).strip())
    return fields


def _url(flow: Flow, host: str | None, method: str, target: str) -> str:
    """``http://host[:port]/path`` for an origin-form target; an absolute-form target as it is."""
    if _ABSOLUTE.match(target):
        return target
    authority = host or (f"[{flow.server}]" if ":" in flow.server else flow.server)
    if method == "CONNECT":
        authority = target  # the tunnel's host and port, as the client named them
    elif _strip_port(authority) == authority and flow.server_port != 80:
        authority = f"{authority}:{flow.server_port}"
    elif authority.endswith(":80") and _strip_port(authority) != authority:
        authority = authority[:-3]
    return f"http://{authority}{target if target.startswith('/') else ''}"


def _text(raw: bytes) -> str:
    return raw.decode("ascii", "backslashreplace")
