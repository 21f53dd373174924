"""Captures for the tests, written with dpkt (an independent implementation of the formats, so that
vestige's own reader is checked against another writer): Ethernet (optionally VLAN-tagged) frames
carrying IPv4 or IPv6, TCP or UDP, and TCP conversations that keep their own sequence numbers.

    capture = CaptureBuilder()
    talk = capture.connect("10.0.0.2", 51000, "93.184.216.34", 80, at=1_600_000_000.0)
    talk.send(b"GET / HTTP/1.1\\r\\nHost: example.com\\r\\n\\r\\n")
    talk.reply(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
    capture.write_pcap(tmp_path / "capture.pcap")

Packet numbers count from 1 in the order frames were added, as Wireshark numbers them; each adding
method returns the number of the frame it added.
"""

from __future__ import annotations

import gzip
import io
import ipaddress
import struct
from dataclasses import dataclass, field
from pathlib import Path

import dpkt

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
ETHERNET, RAW, LINUX_SLL, LINUX_SLL2, NULL = 1, 101, 113, 276, 0
CLIENT_MAC = bytes.fromhex("020000000002")
SERVER_MAC = bytes.fromhex("020000000001")


def timestamps_option(value: int, echo: int) -> bytes:
    """NOP, NOP, TS: the options a Linux stack puts on every segment once timestamps are negotiated."""
    return b"\x01\x01\x08\x0a" + struct.pack(">II", value, echo)


SYN_OPTIONS = b"\x02\x04\x05\xb4\x04\x02\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x00\x01\x03\x03\x07"
"""MSS 1460, SACK permitted, TS, NOP, window scale 7: a Linux SYN's options (TSval 1)."""


@dataclass
class CaptureBuilder:
    """Frames in capture order, written as pcap (microsecond or nanosecond), pcapng or gzip."""

    linktype: int = ETHERNET
    frames: list[tuple[float, bytes]] = field(default_factory=list)

    def frame(self, at: float, data: bytes) -> int:
        self.frames.append((at, data))
        return len(self.frames)

    def ip_packet(
        self,
        at: float,
        src: str,
        dst: str,
        transport: dpkt.Packet,
        protocol: int,
        *,
        ttl: int = 64,
        ip_id: int = 0,
        df: bool = True,
        vlan: int | None = None,
    ) -> int:
        """Adds one IP packet carrying ``transport`` (TCP or UDP), framed for this capture's link type."""
        source, destination = ipaddress.ip_address(src), ipaddress.ip_address(dst)
        packet: dpkt.Packet
        if source.version == 4:
            packet = dpkt.ip.IP(
                src=source.packed, dst=destination.packed, p=protocol, ttl=ttl, id=ip_id, df=int(df), data=transport
            )
            ethertype = dpkt.ethernet.ETH_TYPE_IP
        else:
            packet = dpkt.ip6.IP6(
                src=source.packed,
                dst=destination.packed,
                nxt=protocol,
                hlim=ttl,
                plen=len(bytes(transport)),
                data=transport,
            )
            packet.extension_hdrs = {}
            ethertype = dpkt.ethernet.ETH_TYPE_IP6
        return self.frame(at, self._framed(bytes(packet), ethertype, vlan))

    def _framed(self, ip: bytes, ethertype: int, vlan: int | None) -> bytes:
        if self.linktype == RAW:
            return ip
        if self.linktype == NULL:
            family = 2 if ethertype == dpkt.ethernet.ETH_TYPE_IP else 30
            return struct.pack("<I", family) + ip
        if self.linktype == LINUX_SLL:
            return struct.pack(">HHH8sH", 0, 1, 6, CLIENT_MAC + b"\0\0", ethertype) + ip
        if self.linktype == LINUX_SLL2:
            return struct.pack(">HHIHBB8s", ethertype, 0, 2, 1, 0, 6, CLIENT_MAC + b"\0\0") + ip
        header = SERVER_MAC + CLIENT_MAC
        if vlan is not None:
            header += struct.pack(">HH", 0x8100, vlan)
        return header + struct.pack(">H", ethertype) + ip

    def tcp(
        self,
        at: float,
        src: str,
        sport: int,
        dst: str,
        dport: int,
        seq: int,
        ack: int,
        flags: int,
        payload: bytes = b"",
        *,
        window: int = 502,
        options: bytes = b"",
        ttl: int = 64,
        ip_id: int = 0,
        df: bool = True,
        vlan: int | None = None,
    ) -> int:
        segment = dpkt.tcp.TCP(
            sport=sport,
            dport=dport,
            seq=seq % 2**32,
            ack=ack % 2**32,
            flags=flags,
            win=window,
            opts=options,
            data=payload,
        )
        segment.off = (20 + len(options)) // 4
        return self.ip_packet(at, src, dst, segment, 6, ttl=ttl, ip_id=ip_id, df=df, vlan=vlan)

    def udp(
        self,
        at: float,
        src: str,
        sport: int,
        dst: str,
        dport: int,
        payload: bytes,
        *,
        ttl: int = 64,
        ip_id: int = 0,
        df: bool = True,
        vlan: int | None = None,
    ) -> int:
        datagram = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
        datagram.ulen = 8 + len(payload)
        return self.ip_packet(at, src, dst, datagram, 17, ttl=ttl, ip_id=ip_id, df=df, vlan=vlan)

    def connect(
        self,
        client: str,
        client_port: int,
        server: str,
        server_port: int,
        *,
        at: float,
        rtt: float = 0.030,
        client_isn: int = 1_000,
        server_isn: int = 5_000_000,
        timestamps: bool = True,
        server_ttl: int = 52,
        vlan: int | None = None,
    ) -> Conversation:
        """A TCP handshake (SYN, SYN/ACK, ACK); returns the conversation to go on with."""
        talk = Conversation(
            self,
            client,
            client_port,
            server,
            server_port,
            client_isn + 1,
            server_isn + 1,
            at,
            rtt,
            timestamps,
            server_ttl,
            vlan,
        )
        options = SYN_OPTIONS if timestamps else SYN_OPTIONS[:4]
        talk.syn = self.tcp(
            at, client, client_port, server, server_port, client_isn, 0, SYN, window=64240, options=options, vlan=vlan
        )
        talk.synack = self.tcp(
            at + rtt,
            server,
            server_port,
            client,
            client_port,
            server_isn,
            client_isn + 1,
            SYN | ACK,
            window=65160,
            options=options,
            ttl=server_ttl,
            ip_id=0,
            vlan=vlan,
        )
        talk.now = at + rtt + 0.0002
        self.tcp(
            talk.now,
            client,
            client_port,
            server,
            server_port,
            client_isn + 1,
            server_isn + 1,
            ACK,
            options=talk.options(),
            vlan=vlan,
        )
        return talk

    def write_pcap(self, path: Path, *, nano: bool = False, compress: bool = False, snaplen: int = 262144) -> Path:
        buffer = io.BytesIO()
        writer = dpkt.pcap.Writer(buffer, snaplen=snaplen, linktype=self.linktype, nano=nano)
        for at, data in self.frames:
            writer.writepkt(data, ts=at)
        content = buffer.getvalue()
        path.write_bytes(gzip.compress(content, mtime=0) if compress else content)
        return path

    def write_pcapng(self, path: Path) -> Path:
        with path.open("wb") as out:
            writer = dpkt.pcapng.Writer(out, snaplen=262144, linktype=self.linktype)
            for at, data in self.frames:
                writer.writepkt(data, ts=at)
        return path


@dataclass
class Conversation:
    """One TCP connection: sends data either way with the right sequence numbers, one segment each."""

    capture: CaptureBuilder
    client: str
    client_port: int
    server: str
    server_port: int
    client_seq: int
    server_seq: int
    now: float
    rtt: float
    timestamps: bool
    server_ttl: int
    vlan: int | None
    syn: int = 0
    synack: int = 0
    server_ip_id: int = 0
    clock: int = 100

    def options(self) -> bytes:
        self.clock += 1
        return timestamps_option(self.clock, self.clock - 1) if self.timestamps else b""

    def send(self, data: bytes, *, after: float = 0.001, flags: int = PSH | ACK) -> int:
        """The client sends ``data`` (one segment)."""
        self.now += after
        number = self.capture.tcp(
            self.now,
            self.client,
            self.client_port,
            self.server,
            self.server_port,
            self.client_seq,
            self.server_seq,
            flags,
            data,
            options=self.options(),
            vlan=self.vlan,
        )
        self.client_seq += len(data) + (1 if flags & (FIN | SYN) else 0)
        return number

    def reply(self, data: bytes, *, after: float | None = None, flags: int = PSH | ACK) -> int:
        """The server sends ``data`` (one segment), one round trip later unless told otherwise."""
        self.now += self.rtt if after is None else after
        self.server_ip_id += 1
        number = self.capture.tcp(
            self.now,
            self.server,
            self.server_port,
            self.client,
            self.client_port,
            self.server_seq,
            self.client_seq,
            flags,
            data,
            window=509,
            options=self.options(),
            ttl=self.server_ttl,
            ip_id=self.server_ip_id,
            vlan=self.vlan,
        )
        self.server_seq += len(data) + (1 if flags & (FIN | SYN) else 0)
        return number

    def inject(
        self,
        data: bytes,
        *,
        after: float,
        ttl: int = 64,
        ip_id: int = 1,
        df: bool = False,
        window: int = 8192,
        flags: int = PSH | ACK | FIN,
    ) -> int:
        """An on-path injector's segment at the server's next sequence number, as the Fox-IT lab injector
        sent it (Scapy defaults: IP-ID 1, DF clear, window 8192, no options); the server's own sequence
        number does not move, so the genuine reply that follows overlaps it."""
        self.now += after
        return self.capture.tcp(
            self.now,
            self.server,
            self.server_port,
            self.client,
            self.client_port,
            self.server_seq,
            self.client_seq,
            flags,
            data,
            window=window,
            ttl=ttl,
            ip_id=ip_id,
            df=df,
            vlan=self.vlan,
        )

    def close(self) -> None:
        """FIN from the client, FIN/ACK from the server, last ACK."""
        self.send(b"", flags=FIN | ACK)
        self.reply(b"", flags=FIN | ACK)
        self.send(b"", flags=ACK)


def dns_query(name: str, transaction: int, qtype: int = dpkt.dns.DNS_A) -> bytes:
    message = dpkt.dns.DNS(id=transaction, qr=dpkt.dns.DNS_Q, rd=1)
    message.qd = [dpkt.dns.DNS.Q(name=name, type=qtype, cls=dpkt.dns.DNS_IN)]
    return bytes(message)


def dns_answer(name: str, transaction: int, addresses: list[str], ttl: int = 300) -> bytes:
    message = dpkt.dns.DNS(id=transaction, qr=dpkt.dns.DNS_R, rd=1, ra=1, op=dpkt.dns.DNS_RA)
    message.qr = dpkt.dns.DNS_R
    message.qd = [dpkt.dns.DNS.Q(name=name, type=dpkt.dns.DNS_A, cls=dpkt.dns.DNS_IN)]
    answers = []
    for address in addresses:
        record = dpkt.dns.DNS.RR(name=name, type=dpkt.dns.DNS_A, cls=dpkt.dns.DNS_IN, ttl=ttl)
        record.ip = ipaddress.ip_address(address).packed
        record.rlen = 4
        record.rdata = record.ip
        answers.append(record)
    message.an = answers
    return bytes(message)
