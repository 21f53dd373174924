"""Benchmark of signalling-log decoding: vestige against tshark on the GSMTAP pcap SCAT makes of the same log.

Run with ``PYTHONPATH=src python benchmarks/cellular.py`` (``--files attach_sample.mi2log`` for a quicker run).

The inputs are the real MobileInsight logs (``*.mi2log``: HDLC-framed Qualcomm DIAG, the framing of a QMDL) in
``--data`` (``../shared/data/cellular/mobileinsight`` beside the repository by default), each alone, then their
concatenation repeated ``--repeat`` times (10 by default; written once under ``--workdir``, a valid DIAG log
since every HDLC frame ends with its own ``0x7e``).

Measured in the same run, on each input:

1. vestige, the whole pipeline: ``vestige check FILE -o OUT -q`` as a subprocess (wall time and peak RSS);
2. vestige's own loop in this process: the DIAG reader, then the decoder of every signalling message it gives;
3. the peer, tshark: ``tshark -r PCAP`` (every packet dissected, its summary line written to /dev/null) on the
   GSMTAP pcap that SCAT writes of the same log (``scat -t qc -d FILE.qmdl -F PCAP``; SCAT's own conversion time
   is printed too, since SCAT decodes the DIAG log itself). Skipped, with the reason printed, when tshark or
   SCAT is not installed.

Printed: messages per second of each (vestige's count is the signalling messages its reader gave, tshark's the
packets of SCAT's pcap: both counts are printed, since SCAT wraps some messages vestige counts apart and the
other way round), the ratios vestige loop / tshark and vestige check / tshark (above 1: vestige is faster), and
vestige's peak memory.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cellular" / "mobileinsight"
READER, DECODER = "vestige.cellular.diag", "vestige.cellular.artifacts.signalling"
"""The modules of vestige's DIAG reader (``read_diag``) and of the signalling artifact's decoding (``decode``)."""


def vestige_loop_or_reason() -> Callable[[Path], int] | str:
    """vestige's read + decode loop, or why it cannot run (the cellular modules not in this vestige)."""
    try:
        reader = importlib.import_module(READER)
        decoder = importlib.import_module(DECODER)
        read_diag, decode = reader.read_diag, decoder.decode
    except (ImportError, AttributeError) as error:
        return f"vestige's cellular reader and decoders are not in this vestige ({error})"

    def loop(path: Path) -> int:
        messages = 0
        with path.open("rb") as stream:
            for frame in read_diag(stream, path.name):
                messages += 1
                decode(frame)
        return messages

    return loop


def inputs(data: Path, names: list[str], repeat: int, workdir: Path) -> list[Path]:
    """The chosen logs, then their concatenation repeated ``repeat`` times (made once, under ``workdir``)."""
    logs = sorted(data / name for name in names) if names else sorted(data.glob("*.mi2log"))
    missing = [str(p) for p in logs if not p.is_file()]
    if not logs or missing:
        raise SystemExit(f"no such log: {', '.join(missing) or data / '*.mi2log'} (see --data)")
    if repeat <= 1:
        return logs
    workdir.mkdir(parents=True, exist_ok=True)
    size = sum(p.stat().st_size for p in logs)
    joined = workdir / f"{'+'.join(p.stem for p in logs)[:80]}-{size}-x{repeat}.qmdl"
    if not joined.exists():
        partial = joined.with_suffix(".partial")
        with partial.open("wb") as out:
            for _ in range(repeat):
                for log in logs:
                    out.write(log.read_bytes())
        partial.rename(joined)
    return [*logs, joined]


def timed_command(command: list[str]) -> tuple[float, int, int, str]:
    """Wall seconds, exit status, peak RSS (bytes) and the end of stderr of a command, its output discarded."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    return elapsed, os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024, errors.decode(errors="replace")[-600:]


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>12,.0f} messages/s" if seconds > 0 else f"{'-':>12} messages/s"


def pcap_packets(path: Path) -> int:
    """The packets of a pcap or pcapng, read with vestige's capture reader."""
    from vestige.evidence.capture import read_capture

    with path.open("rb") as stream:
        return sum(1 for _ in read_capture(stream, path.name))


def scat_pcap(log: Path, scratch: Path, scat: str) -> tuple[Path | None, float, str]:
    """SCAT's GSMTAP pcap of ``log`` (SCAT takes a DIAG dump by its ``.qmdl`` name), its time, or why none."""
    dump = scratch / f"{log.stem}.qmdl"
    if not dump.exists():
        dump.symlink_to(log.resolve())
    pcap = scratch / f"{log.stem}.pcap"
    seconds, status, _, errors = timed_command([scat, "-t", "qc", "-d", str(dump), "-F", str(pcap)])
    if status != 0 or not pcap.exists():
        return None, seconds, f"scat exited {status}: {errors.strip()}"
    return pcap, seconds, ""


def measure(log: Path, loop: Callable[[Path], int], tshark: str | None, scat: str | None) -> None:
    print(f"{log.name} ({log.stat().st_size / 1e6:.1f} MB)")
    with tempfile.TemporaryDirectory(prefix="vestige-bench-cellular-") as folder:
        scratch = Path(folder)
        check = [sys.executable, "-m", "vestige", "check", str(log), "-o", str(scratch / "out"), "-q"]
        check_time, check_status, check_rss, check_errors = timed_command(check)
        gc.collect()
        start = time.perf_counter()
        messages = loop(log)
        loop_time = time.perf_counter() - start
        print(
            f"  vestige read + decode (in process):   {loop_time:7.2f} s {rate(messages, loop_time)}  "
            f"({messages:,} messages)"
        )
        failed = "" if check_status in (0, 1) else f"  FAILED (exit {check_status}: {check_errors.strip()})"
        print(
            f"  vestige check (pipeline, subprocess): {check_time:7.2f} s {rate(messages, check_time)}   "
            f"peak RSS {check_rss / 2**20:.0f} MiB{failed}"
        )
        if tshark is None or scat is None:
            missing = " and ".join(name for name, path in (("tshark", tshark), ("scat", scat)) if path is None)
            print(f"  tshark: skipped: {missing} not installed")
            return
        pcap, scat_time, reason = scat_pcap(log, scratch, scat)
        if pcap is None:
            print(f"  tshark: skipped: SCAT made no pcap ({reason})")
            return
        packets = pcap_packets(pcap)
        print(
            f"  SCAT conversion to GSMTAP (peer):     {scat_time:7.2f} s {rate(packets, scat_time)}  "
            f"({packets:,} GSMTAP packets)"
        )
        tshark_time, tshark_status, tshark_rss, tshark_errors = timed_command([tshark, "-r", str(pcap)])
        failed = "" if tshark_status == 0 else f"  FAILED (exit {tshark_status}: {tshark_errors.strip()})"
        print(
            f"  tshark -r (peer):                     {tshark_time:7.2f} s {rate(packets, tshark_time)}   "
            f"peak RSS {tshark_rss / 2**20:.0f} MiB{failed}"
        )
        if tshark_time > 0:
            tshark_rate = packets / tshark_time
            print(f"  ratio vestige loop / tshark (rate):   {messages / loop_time / tshark_rate:7.2f}")
            print(f"  ratio vestige check / tshark (rate):  {messages / check_time / tshark_rate:7.2f}")
            print(f"  ratio vestige loop / SCAT (rate):     {messages / loop_time / (packets / scat_time):7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the .mi2log files")
    parser.add_argument("--files", nargs="*", default=[], help="log names in --data (default: every *.mi2log)")
    parser.add_argument("--repeat", type=int, default=10, help="times the concatenation repeats the logs")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "vestige-bench-cellular")
    arguments = parser.parse_args()
    loop = vestige_loop_or_reason()
    if isinstance(loop, str):
        raise SystemExit(f"vestige cannot decode signalling logs yet: {loop}")
    tshark, scat = shutil.which("tshark"), shutil.which("scat")
    for log in inputs(arguments.data, arguments.files, arguments.repeat, arguments.workdir):
        measure(log, loop, tshark, scat)
    print(f"this process's peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
