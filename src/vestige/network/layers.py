"""Link, IP and transport headers of a captured frame. (CONTRACT: the capture helper writes the bodies
and this docstring; the signatures below are what the rest of the network package relies on.)"""

from __future__ import annotations

from dataclasses import dataclass

from vestige.network.capture import Packet

FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20


@dataclass(slots=True)
class Segment:
    """An IPv4 or IPv6 packet carrying TCP (``protocol`` 6) or UDP (17), decoded from one frame.
    Addresses are raw (4 or 16 bytes; ``address_text`` gives the canonical text); the TCP fields are 0
    for UDP; ``payload`` is the transport payload as captured (shorter than sent when the snap length
    cut it: ``cut`` is then True)."""

    number: int
    time_ns: int
    version: int
    src: bytes
    dst: bytes
    ttl: int
    ip_id: int | None
    df: bool
    protocol: int
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    window: int
    options: bytes
    payload: bytes
    cut: bool


def decode(packet: Packet) -> Segment | None:
    """The TCP or UDP segment the frame carries, or None (another protocol, a later IP fragment, a
    header cut short)."""
    raise NotImplementedError


def address_text(raw: bytes) -> str:
    """The canonical text of a 4- or 16-byte address."""
    raise NotImplementedError


def option_names(options: bytes) -> str:
    """TCP option kinds as ``MSS,NOP,WS,SACK_PERM,TS``."""
    raise NotImplementedError


def tcp_timestamp(options: bytes) -> tuple[int, int] | None:
    """The TCP timestamps option (TSval, TSecr), if present."""
    raise NotImplementedError


def window_scale(options: bytes) -> int | None:
    """The window scale shift of a SYN's options, if present."""
    raise NotImplementedError


def flag_letters(flags: int) -> str:
    """``S``, ``SA``, ``PA``, ``FA``, ``R``... (see ``events.SegmentView.flags``)."""
    raise NotImplementedError
