"""Benchmark of packet-capture analysis: vestige against a bare dpkt loop and tshark, on one generated capture.

Run with ``PYTHONPATH=src python benchmarks/pcap.py`` (``--packets N`` for a quicker run).

The capture is generated once (deterministic, seeded) and cached under ``--workdir``: an Ethernet pcap of
``--packets`` frames (2,000,000 by default) from many interleaved flows: HTTP/1.1 exchanges (handshake,
request, a response of one to eight segments, close), TLS connections (handshake, a ClientHello with SNI,
server records, application data, close) and DNS queries with their answers, about one flow in ten over
IPv6. Frames are built with ``struct``, not with dpkt objects, so that a large capture is quick to write.

Measured in the same run, on the same file, after one untimed read that puts it in the page cache:

1. vestige, the whole pipeline: ``vestige check FILE -o OUT`` as a subprocess (wall time); then once more,
   untimed, for its peak memory: the largest sum of proportional set size (PSS) over the process and its
   workers, sampled every 50 ms (``memory.py``; the capture's two shards are read by two processes);
2. vestige's own loop in this process: ``read_capture`` then ``decode`` of every frame, with the same field
   accesses as the dpkt loop;
3. the peer, a bare dpkt loop: ``dpkt.pcap.Reader``, ``Ethernet``, then the IP and TCP/UDP fields;
4. tshark: ``tshark -r FILE -Y tcp.segment.overlap.conflict -o tcp.reassemble_out_of_order:TRUE`` (skipped,
   with the reason printed, when tshark is not installed).

Before that, the decoder's hot path alone: the first ``--hot-path`` (100,000) Ethernet/IPv4/TCP frames of
the capture, read and decoded by vestige and by dpkt, ``--runs`` times each, alternating, the best kept.

Each is timed by the wall clock and by the CPU time it used (user and system, of the process and every
process it waited for: ``time.process_time`` for the loops, ``wait4`` for the commands). On a machine that
other work shares, wall time measures the load as much as the tool, and a long run (tshark, the pipeline)
suffers more of it than a short one; CPU time does not, and is the fairer comparison there. On an idle
machine the two agree, except that vestige's CPU time counts every worker process it forks.

Printed: packets per second of each, the ratios vestige/dpkt and vestige/tshark (above 1 is faster), and
vestige's peak memory; a run that failed gets no ratio, and a failed ``vestige check`` makes the script exit
non-zero. Targets (issue 11): vestige's pipeline at least half the dpkt loop's rate and faster
than tshark, peak memory under 500 MB; vestige's own loop at least twice the dpkt loop's rate.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dpkt

from memory import PeakSampler
from vestige.evidence.capture import read_capture
from vestige.evidence.headers import decode

SEED = 20261206
CAPTURE_VERSION = 2
"""Raised when the generator changes, so that a cached capture is made again."""
CONCURRENT_FLOWS = 2_000
START = 1_765_000_000

Frame = tuple[int, bytes]
"""A frame and the microseconds since the previous one."""


class Endpoints:
    """One flow's addresses and the headers that do not change, built once."""

    def __init__(self, rng: random.Random, version: int, server_port: int) -> None:
        self.version = version
        self.client_port = rng.randint(32768, 60999)
        self.server_port = server_port
        if version == 4:
            self.client = bytes((10, rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254)))
            self.server = bytes((rng.randint(1, 223), rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254)))
            ethertype = b"\x08\x00"
        else:
            self.client = b"\xfd\x00" + rng.randbytes(14)
            self.server = b"\x20\x01\x0d\xb8" + rng.randbytes(12)
            ethertype = b"\x86\xdd"
        client_mac, server_mac = b"\x02" + rng.randbytes(5), b"\x02\x00\x5e\x00\x00\x01"
        self.to_server = server_mac + client_mac + ethertype
        self.to_client = client_mac + server_mac + ethertype
        self.ip_id = rng.randint(0, 65535)

    def ip(self, to_server: bool, protocol: int, transport: bytes) -> bytes:
        src, dst = (self.client, self.server) if to_server else (self.server, self.client)
        ttl = 64 if to_server else 52
        if self.version == 6:
            header = struct.pack("!IHBB", 0x60000000, len(transport), protocol, ttl) + src + dst
        else:
            self.ip_id = (self.ip_id + 1) & 0xFFFF
            header = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(transport), self.ip_id, 0x4000, ttl, protocol, 0)
            header += src + dst
        return (self.to_server if to_server else self.to_client) + header + transport


def tcp_flow(rng: random.Random, ends: Endpoints, requests: list[bytes], responses: list[bytes]) -> Iterator[Frame]:
    """A TCP connection: handshake, each request then its response (in MSS segments, each acknowledged
    every other segment), then FIN from the client."""
    client_seq, server_seq = rng.getrandbits(32), rng.getrandbits(32)
    timestamps = b"\x01\x01\x08\x0a" + struct.pack("!II", rng.getrandbits(32), rng.getrandbits(32))
    rtt = rng.randint(2_000, 80_000)

    def segment(to_server: bool, flags: int, payload: bytes = b"", options: bytes = timestamps) -> bytes:
        seq, ack = (client_seq, server_seq) if to_server else (server_seq, client_seq)
        sport, dport = (ends.client_port, ends.server_port) if to_server else (ends.server_port, ends.client_port)
        header = struct.pack(
            "!HHIIBBHHH", sport, dport, seq, ack, (20 + len(options)) << 2, flags, 502, 0, 0
        )  # fmt: skip
        return ends.ip(to_server, 6, header + options + payload)

    syn_options = b"\x02\x04\x05\xb4\x04\x02" + timestamps[2:] + b"\x01\x03\x03\x07"
    yield 0, segment(True, 0x02, options=syn_options)
    client_seq += 1
    yield rtt, segment(False, 0x12, options=syn_options)
    server_seq += 1
    yield 200, segment(True, 0x10)
    for request, response in zip(requests, responses, strict=True):
        yield rng.randint(100, 5_000), segment(True, 0x18, request)
        client_seq = (client_seq + len(request)) & 0xFFFFFFFF
        for index, start in enumerate(range(0, len(response), 1448)):
            piece = response[start : start + 1448]
            yield (
                (rtt if index == 0 else rng.randint(10, 300)),
                segment(False, 0x18 if start + 1448 >= len(response) else 0x10, piece),
            )
            server_seq = (server_seq + len(piece)) & 0xFFFFFFFF
            if index % 2:
                yield 50, segment(True, 0x10)
    yield rng.randint(1_000, 50_000), segment(True, 0x11)
    client_seq += 1
    yield rtt, segment(False, 0x11)
    server_seq += 1
    yield 100, segment(True, 0x10)


def dns_flow(rng: random.Random, ends: Endpoints, name: str) -> Iterator[Frame]:
    transaction = rng.getrandbits(16)
    question = b"".join(bytes((len(label),)) + label.encode() for label in name.split(".")) + b"\0\x00\x01\x00\x01"
    query = struct.pack("!HHHHHH", transaction, 0x0100, 1, 0, 0, 0) + question
    answer = struct.pack("!HHHHHH", transaction, 0x8180, 1, 1, 0, 0) + question
    answer += b"\xc0\x0c\x00\x01\x00\x01" + struct.pack("!IH", rng.randint(30, 3600), 4) + rng.randbytes(4)

    def datagram(to_server: bool, payload: bytes) -> bytes:
        sport, dport = (ends.client_port, 53) if to_server else (53, ends.client_port)
        header = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
        if ends.version == 6:  # a zero UDP checksum is invalid over IPv6 (RFC 8200 section 8.1)
            src, dst = (ends.client, ends.server) if to_server else (ends.server, ends.client)
            header = header[:6] + struct.pack("!H", udp6_checksum(src, dst, header + payload))
        return ends.ip(to_server, 17, header + payload)

    yield 0, datagram(True, query)
    yield rng.randint(1_000, 40_000), datagram(False, answer)


def udp6_checksum(src: bytes, dst: bytes, datagram: bytes) -> int:
    pseudo = src + dst + struct.pack("!IxxxB", len(datagram), 17) + datagram + b"\0" * (len(datagram) % 2)
    total = sum(struct.unpack(f"!{len(pseudo) // 2}H", pseudo))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total & 0xFFFF) or 0xFFFF


def client_hello(rng: random.Random, server_name: str) -> bytes:
    name = server_name.encode()
    sni = struct.pack("!HHHBH", 0, len(name) + 5, len(name) + 3, 0, len(name)) + name
    versions = b"\x00\x2b\x00\x05\x04\x03\x04\x03\x03"
    groups = b"\x00\x0a\x00\x08\x00\x06\x00\x1d\x00\x17\x00\x18"
    extensions = sni + versions + groups
    suites = b"\x13\x01\x13\x02\x13\x03\xc0\x2b\xc0\x2f\xc0\x2c\xc0\x30"
    body = b"\x03\x03" + rng.randbytes(32) + b"\x20" + rng.randbytes(32)
    body += struct.pack("!H", len(suites)) + suites + b"\x01\x00" + struct.pack("!H", len(extensions)) + extensions
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


WORDS = ("cdn api mail img static news shop cloud video app login update media data sync push maps web").split()  # noqa: SIM905


def host(rng: random.Random) -> str:
    return f"{rng.choice(WORDS)}.{rng.choice(WORDS)}{rng.randint(1, 5000)}.{rng.choice(('com', 'net', 'org', 'io'))}"


def new_flow(rng: random.Random, blob: bytes) -> Iterator[Frame]:
    version = 6 if rng.random() < 0.1 else 4
    kind = rng.random()
    if kind < 0.35:
        return dns_flow(rng, Endpoints(rng, version, 53), host(rng))
    if kind < 0.65:
        name = host(rng)
        requests, responses = [], []
        for _ in range(rng.randint(1, 3)):
            path = f"/{rng.choice(WORDS)}/{rng.randint(1, 10**6)}"
            requests.append(
                f"GET {path} HTTP/1.1\r\nHost: {name}\r\nUser-Agent: bench/1.0\r\nAccept: */*\r\n\r\n".encode()
            )
            size = rng.randint(200, 8 * 1448)
            start = rng.randint(0, len(blob) - size)
            head = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {size}\r\n\r\n".encode()
            responses.append(head + blob[start : start + size])
        return tcp_flow(rng, Endpoints(rng, version, 80), requests, responses)
    ends = Endpoints(rng, version, 443)
    hello = client_hello(rng, host(rng))
    server_size = rng.randint(2_000, 5_000)
    start = rng.randint(0, len(blob) - server_size - 8 * 1448)
    records = [hello, rng.randbytes(80), rng.randbytes(rng.randint(100, 600))]
    answers = [blob[start : start + server_size], rng.randbytes(60), blob[start : start + rng.randint(200, 8 * 1448)]]
    return tcp_flow(rng, ends, records, answers)


def generate(path: Path, count: int) -> None:
    rng = random.Random(SEED)
    blob = rng.randbytes(1 << 20)
    flows = [new_flow(rng, blob) for _ in range(CONCURRENT_FLOWS)]
    clock = START * 1_000_000
    record = struct.Struct("<IIII").pack
    batch: list[bytes] = []
    partial = path.with_suffix(".partial")
    with partial.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        written = 0
        while written < count:
            index = rng.randrange(CONCURRENT_FLOWS)
            try:
                gap, frame = next(flows[index])
            except StopIteration:
                flows[index] = new_flow(rng, blob)
                continue
            clock += 1 + gap // 64  # flows interleave: a flow's gap is spread over the others' packets
            batch.append(record(clock // 1_000_000, clock % 1_000_000, len(frame), len(frame)))
            batch.append(frame)
            written += 1
            if len(batch) >= 20_000:
                out.write(b"".join(batch))
                batch.clear()
        out.write(b"".join(batch))
    partial.rename(path)


def capture_path(workdir: Path, count: int, rebuild: bool) -> Path:
    path = workdir / f"traffic-v{CAPTURE_VERSION}-{count}.pcap"
    if rebuild or not path.exists():
        workdir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        generate(path, count)
        print(f"generated {path} in {time.perf_counter() - start:.1f} s")
    return path


def vestige_loop(path: Path) -> int:
    """read_capture and decode, touching the fields the dpkt loop touches."""
    frames = 0
    with path.open("rb") as stream:
        for packet in read_capture(stream, path.name):
            frames += 1
            segment = decode(packet)
            if segment is not None:
                _ = (segment.src, segment.dst, segment.sport, segment.dport, segment.seq, segment.flags)
                _ = len(segment.payload)
    return frames


def dpkt_loop(path: Path) -> int:
    frames = 0
    with path.open("rb") as stream:
        for _, buffer in dpkt.pcap.Reader(stream):
            frames += 1
            ip = dpkt.ethernet.Ethernet(buffer).data
            if isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
                transport = ip.data
                if isinstance(transport, dpkt.tcp.TCP):
                    _ = (ip.src, ip.dst, transport.sport, transport.dport, transport.seq, transport.flags)
                    _ = len(transport.data)
                elif isinstance(transport, dpkt.udp.UDP):
                    _ = (ip.src, ip.dst, transport.sport, transport.dport)
                    _ = len(transport.data)
    return frames


@dataclass(frozen=True)
class Timing:
    """One measured run: wall seconds and CPU seconds (user and system, of every process it waited for)."""

    wall: float
    cpu: float
    status: int = 0
    peak_rss: int = 0
    """The largest RSS of the process and those it waited for, in bytes."""
    peak_pss: int = 0
    """The largest sum of PSS over the process tree, in bytes (a sampled run only)."""


def timed_loop(loop: Callable[[Path], int], path: Path) -> tuple[Timing, int]:
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    frames = loop(path)
    return Timing(time.perf_counter() - start, time.process_time() - cpu), frames


def timed_command(command: list[str], sampled: bool = False) -> Timing:
    """Wall and CPU seconds, exit status and peak RSS (bytes) of a command, its output discarded; with
    ``sampled``, also the peak PSS of its process tree (a run whose times then count the sampling)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = PeakSampler(process.pid) if sampled else None
    assert process.stderr is not None
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    peak_pss = sampler.stop() * 1024 if sampler is not None else 0
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        print(f"  {command[0]} exited {process.returncode}: {errors.decode(errors='replace')[-2000:]}")
    return Timing(elapsed, usage.ru_utime + usage.ru_stime, process.returncode, usage.ru_maxrss * 1024, peak_pss)


def rate(frames: int, seconds: float) -> str:
    return f"{frames / seconds:>12,.0f} packets/s"


def ipv4_tcp_capture(path: Path, count: int) -> Path:
    """The first ``count`` Ethernet/IPv4/TCP frames of the capture at ``path``, as a pcap beside it."""
    target = path.with_name(f"{path.stem}-ipv4-tcp-{count}.pcap")
    if target.exists():
        return target
    with path.open("rb") as stream, target.with_suffix(".partial").open("wb") as out:
        out.write(stream.read(24))
        written = 0
        while written < count:
            header = stream.read(16)
            if len(header) < 16:
                raise SystemExit(f"{path} holds fewer than {count} IPv4/TCP frames")
            frame = stream.read(struct.unpack("<IIII", header)[2])
            if frame[12:14] == b"\x08\x00" and frame[23] == 6:
                out.write(header + frame)
                written += 1
    target.with_suffix(".partial").rename(target)
    return target


def hot_path(path: Path, runs: int) -> None:
    """read_capture + decode against dpkt on Ethernet/IPv4/TCP frames only (the decoder's fast path),
    each loop ``runs`` times, alternating, the best CPU time kept."""
    frames = 0
    best = {"vestige": float("inf"), "dpkt": float("inf")}
    for _ in range(runs):
        for name, loop in (("vestige", vestige_loop), ("dpkt", dpkt_loop)):
            timing, frames = timed_loop(loop, path)
            best[name] = min(best[name], timing.cpu)
    print(f"hot path: {path.name} ({frames:,} Ethernet/IPv4/TCP frames), best CPU time of {runs}")
    print(f"  vestige read_capture + decode:         {best['vestige']:7.2f} s {rate(frames, best['vestige'])}")
    print(f"  peer, dpkt Reader + Ethernet + fields: {best['dpkt']:7.2f} s {rate(frames, best['dpkt'])}")
    print(f"  ratio vestige / dpkt (rate):           {best['dpkt'] / best['vestige']:7.2f}  target >= 2")


def warm(path: Path) -> None:
    """Reads the file once, untimed: whichever tool runs first must not pay for the disk alone."""
    with path.open("rb") as stream:
        while stream.read(1 << 20):
            pass


def full_capture(path: Path, count: int) -> None:
    print(f"capture: {path} ({count:,} packets, {path.stat().st_size / 1e6:.0f} MB)")
    warm(path)
    command = [sys.executable, "-m", "vestige", "check", str(path), "-o", "OUT", "-q"]
    with tempfile.TemporaryDirectory(prefix="vestige-bench-pcap-") as scratch:
        check = timed_command([str(Path(scratch) / "timed") if part == "OUT" else part for part in command])
        memory = timed_command([str(Path(scratch) / "sampled") if part == "OUT" else part for part in command], True)
    check = dataclasses.replace(check, peak_pss=memory.peak_pss, peak_rss=max(check.peak_rss, memory.peak_rss))
    loop, frames = timed_loop(vestige_loop, path)
    if frames != count:
        raise SystemExit(f"vestige read {frames} packets, not {count}")
    peer, dpkt_frames = timed_loop(dpkt_loop, path)
    if dpkt_frames != frames:
        raise SystemExit(f"dpkt read {dpkt_frames} packets, vestige {frames}")
    tshark_path = shutil.which("tshark")
    tshark = None
    if tshark_path is not None:
        command = [tshark_path, "-r", str(path), "-Y", "tcp.segment.overlap.conflict"]
        tshark = timed_command([*command, "-o", "tcp.reassemble_out_of_order:TRUE"])
    print(f"  {'':40s} {'wall':>8s} {'packets/s':>10s} {'CPU':>8s} {'packets/s':>10s}")
    shown(frames, "vestige check (pipeline, subprocess)", check, "(target < 500)")
    shown(frames, "vestige read_capture + decode", loop)
    shown(frames, "peer, dpkt Reader + Ethernet + fields", peer)
    if tshark is None:
        print("  tshark: not installed, skipped")
    else:
        shown(frames, "tshark -Y tcp.segment.overlap.conflict", tshark)
    print(f"  ratios of packets/s (above 1: vestige is faster) {'wall':>10s} {'CPU':>8s}")
    ratio("vestige loop / dpkt", loop, peer, "target >= 2")
    ratio("vestige check / dpkt", check, peer, "target >= 0.5")
    if tshark is not None:
        ratio("vestige check / tshark", check, tshark, "target > 1")
    if check.status != 0:
        raise SystemExit("vestige check failed: see its error above")


def shown(frames: int, name: str, timing: Timing, target: str = "") -> None:
    wall, cpu = f"{timing.wall:7.2f}s {frames / timing.wall:10,.0f}", f"{timing.cpu:7.2f}s {frames / timing.cpu:10,.0f}"
    line = f"  {name:40s} {wall} {cpu}"
    if timing.peak_pss:
        line += f"  peak PSS of all its processes {timing.peak_pss / 2**20:.0f} MiB {target}".rstrip()
    elif timing.peak_rss:
        line += f"  peak RSS {timing.peak_rss / 2**20:.0f} MiB {target}".rstrip()
    print(line + ("" if timing.status == 0 else "  FAILED"))


def ratio(name: str, ours: Timing, theirs: Timing, target: str) -> None:
    # A failed run stops early: its time says nothing of its rate, so no ratio is printed for it.
    if ours.status != 0 or theirs.status != 0:
        print(f"  {name:46s} n/a, a run failed")
        return
    print(f"  {name:46s} {theirs.wall / ours.wall:10.2f} {theirs.cpu / ours.cpu:8.2f}  {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=2_000_000)
    parser.add_argument("--hot-path", type=int, default=100_000, help="Ethernet/IPv4/TCP frames of the hot-path run")
    parser.add_argument("--runs", type=int, default=3, help="runs of each hot-path loop (the best is kept)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "vestige-bench-pcap")
    parser.add_argument("--rebuild", action="store_true", help="generate the capture again")
    arguments = parser.parse_args()
    path = capture_path(arguments.workdir, arguments.packets, arguments.rebuild)
    hot_path(ipv4_tcp_capture(path, min(arguments.hot_path, arguments.packets // 2)), arguments.runs)
    full_capture(path, arguments.packets)
    print(f"this process's peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
