"""The TLS ClientHello at the start of a client's payload: the server name it asks for (SNI, RFC 6066
section 3) and the highest protocol version it offers (``supported_versions``, RFC 8446 section 4.2.1,
else the hello's legacy version). Record and handshake layout: RFC 8446 sections 5.1 and 4.1.2 (TLS 1.0
to 1.2 hellos have the same layout, RFC 5246 section 7.4.1.2).

Every length is the sender's: each is checked against the bytes that are there, and a list that claims
more than its container holds ends where the container does. A hello cut by the end of the segment (a
large hello, such as one carrying a post-quantum key share, spans two segments) still gives its server
name when the name came before the cut; ``client_hello_size`` says how many bytes the whole record needs,
for a caller that wants to join the next segment to it.

What the name means: with Encrypted Client Hello (ECH, extension 0xfe0d) the SNI read here is the
outer hello's, the public name of the client-facing server, not the name the client wants; SSL 2.0
compatible hellos (a 1990s format no phone sends) are not read; QUIC carries its ClientHello inside
encrypted Initial packets and is not read here.
"""

from __future__ import annotations

from vestige.network.dns import host_text

HANDSHAKE = 22
CLIENT_HELLO = 1
SERVER_NAME = 0
SUPPORTED_VERSIONS = 43
HOST_NAME = 0
MAX_RECORD_BYTES = 2**14 + 2048
"""RFC 8446 section 5.2's limit on a record's length; a header claiming more is not TLS."""

VERSION_NAMES = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}


def client_hello_size(payload: bytes) -> int | None:
    """The bytes the TLS record that starts ``payload`` needs (header included) when it starts a
    ClientHello, else None."""
    if len(payload) < 6 or payload[0] != HANDSHAKE or payload[1] != 3 or payload[5] != CLIENT_HELLO:
        return None
    length = (payload[3] << 8) | payload[4]
    return 5 + length if 4 <= length <= MAX_RECORD_BYTES else None


def client_hello(payload: bytes) -> tuple[str | None, str] | None:
    """(server name, highest offered version) of the ClientHello that starts ``payload``, or None when the
    payload does not start one, or ends before the hello's extensions showed whether it names a server.

    The server name is the first ``host_name`` entry of the SNI extension, lower case (non-ASCII bytes as
    ``\\xNN``); the version is ``TLS 1.3``, ``TLS 1.2``... (``0x7f1c`` for a version without a name, such
    as a TLS 1.3 draft).
    """
    size = client_hello_size(payload)
    if size is None:
        return None
    cut = len(payload) < size
    record = payload[5:size]
    # The handshake message may claim more than its record: it is read up to the record's end.
    end = min(len(record), 4 + int.from_bytes(record[1:4], "big"))
    offset = 4
    if offset + 34 > end:
        return None
    legacy = (record[offset] << 8) | record[offset + 1]
    offset += 34  # version, random
    for length_bytes in (1, 2, 1):  # session id, cipher suites, compression methods
        if offset + length_bytes > end:
            return None
        offset += length_bytes + int.from_bytes(record[offset : offset + length_bytes], "big")
    if offset + 2 > end:
        # A hello without extensions (TLS 1.0 allowed it) names no server, unless it is only cut short.
        return None if cut or offset > end else (None, _version_text(legacy))
    claimed_end = offset + 2 + ((record[offset] << 8) | record[offset + 1])
    extensions_end = min(end, claimed_end)
    offset += 2
    server_name: str | None = None
    offered: list[int] = []
    while offset + 4 <= extensions_end:
        kind = (record[offset] << 8) | record[offset + 1]
        stop = offset + 4 + ((record[offset + 2] << 8) | record[offset + 3])
        if stop > extensions_end:
            break  # cut here, or a length that lies: a partial name must not pass for a name
        if kind == SERVER_NAME and server_name is None:
            server_name = _server_name(record[offset + 4 : stop])
        elif kind == SUPPORTED_VERSIONS and not offered:
            offered = _versions(record[offset + 4 : stop])
        offset = stop
    if server_name is None and cut and offset < claimed_end:
        return None
    return server_name, _version_text(max(offered, key=_rank) if offered else legacy)


def _server_name(data: bytes) -> str | None:
    """The first host_name of a ServerNameList (RFC 6066 section 3)."""
    end = min(len(data), 2 + ((data[0] << 8) | data[1])) if len(data) >= 2 else 0
    offset = 2
    while offset + 3 <= end:
        kind = data[offset]
        length = (data[offset + 1] << 8) | data[offset + 2]
        stop = offset + 3 + length
        if stop > end:
            return None
        if kind == HOST_NAME and length:
            return host_text(data[offset + 3 : stop])
        offset = stop
    return None


def _versions(data: bytes) -> list[int]:
    """The versions of a ClientHello's supported_versions, GREASE values (RFC 8701) left out."""
    if not data:
        return []
    end = min(len(data), 1 + data[0])
    return [
        version
        for version in ((data[i] << 8) | data[i + 1] for i in range(1, end - 1, 2))
        if version & 0x0F0F != 0x0A0A or version >> 8 != version & 0xFF
    ]


def _rank(version: int) -> float:
    # TLS 1.3 drafts (0x7fNN) came before TLS 1.3 itself although their numbers are larger.
    return 0x0303 + (version & 0xFF) / 256 if version >> 8 == 0x7F else version


def _version_text(version: int) -> str:
    return VERSION_NAMES.get(version) or f"0x{version:04x}"
