"""Benchmark: taking an acquisition into a case bundle (``case add``) and verifying the bundle, against
SHA-256 itself.

Run from the repository root with vestige importable (``pip install -e .`` or ``PYTHONPATH=src``)::

    python benchmarks/custody.py [--workdir DIR] [--size-gib 2] [--runs N] [--rebuild]

What it does, all offline:

1. Builds, once, an unencrypted iOS backup of ``--size-gib`` GiB of content with
   ``vestige.ios.sample.BackupBuilder`` (a real ``Manifest.db`` and ``Info.plist``, so ``Case.add``
   recognises it), from a fixed seed: about 10% of the bytes in many small files (200 B to 64 KiB,
   log-uniform: preferences, caches, app documents, SMS attachments), 40% in camera-roll photos of
   1 to 6 MB, and the rest in a few videos of 20 to 400 MB. Content is incompressible but cheap to
   make: a slice of one fixed random block (repeated for the large files) behind a per-file header.
   A second backup of a quarter of the size, with the same mix, is built for the memory check. Both
   are cached in the work folder (default ``$TMPDIR/vestige-bench-custody``) under
   ``acquisition-v<ACQUISITION_VERSION>-<size>GiB``.
2. Reads every file once, untimed, so that everything below starts with a warm page cache (the
   figures measure CPU and memory copies, not the disk). Before each timed operation the dirty
   pages of the previous one are flushed (``os.sync``, untimed), so no writeback runs in the
   background of a measurement.
3. Times, ``--runs`` times each (default 3, alternating), on the same files:

   - ``hashlib`` (the peer): ``hashlib.sha256`` of every file, one file after the other in one
     thread, with 1 MiB ``readinto`` into one buffer;
   - ``sha256sum`` (the other peer): GNU ``sha256sum`` over every file, given all the paths at once
     through ``xargs -0``;
   - ``case add``: ``Case.create`` of a new bundle in the work folder, then ``Case.add`` of the
     backup with a key from ``keys.generate``: every file copied into the bundle and hashed in the
     same pass, the item's manifest and Merkle root, the signed custody record, the checkpoint and
     the BagIt manifests. Dirty pages are not flushed to disk inside the timing (``Case.add`` does
     not ``fsync``);
   - ``case add --by-reference``: the same, hashing the files without copying them;
   - ``verify``: ``verify_case`` of the bundle the last ``case add`` made, with its key trusted and
     no reproduction of analyses (it re-hashes every payload file and checks the log).

   Each new bundle is deleted after use. With two runs the table shows the better one, with three
   or more the median. The three digests of every file (hashlib, sha256sum, the bundle's item
   manifest) are compared; a difference is a failure.
4. Measures the peak resident memory of ``case add`` and ``verify`` in a fresh interpreter, on the
   full backup and on the quarter-size one, plus an interpreter that only imports the same modules
   (the baseline). The peak is the child's ``ru_maxrss`` read with ``os.wait4``. The child is
   started by a small launcher interpreter (about 10 MiB), because on Linux a child's ``ru_maxrss``
   starts from the high-water mark of the process that spawned it: read directly from this script,
   it would show this script's peak, not the child's. The child also reports its own ``VmHWM``, which
   should agree.

How to read the tables: throughput is acquisition bytes (every file of the backup, MB = 10^6 bytes)
per second of wall time. ``vs hashlib`` is an operation's throughput divided by the single-stream
``hashlib`` throughput: 1.00 means it costs no more than hashing the files; the target is at least
0.90 for ``case add`` and ``verify``. vestige hashes in a few threads, so on more than one core it
can exceed 1.00; ``hashlib`` is one stream on purpose, as the speed of SHA-256 itself. ``vs
sha256sum`` is the same against ``sha256sum`` (higher is better; coreutils' own SHA-256 is much
slower than OpenSSL's on this kind of machine). For memory, ``full/quarter`` is the peak on the
full backup divided by the peak on the quarter-size one: four times the bytes should not need more
memory (target: at most ``MEMORY_GROWTH_TARGET``). What does grow is the per-file bookkeeping (a
path and a digest for each file), about four times the files' share above the baseline.

Timings are printed, never asserted. The script exits non-zero only when an operation fails (an
exception, a failed verification, ``sha256sum`` failing, or digests that disagree), never because a
target is missed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import random
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson

import vestige
from vestige.custody.case import Case
from vestige.custody.keys import PublicKey, SigningKey, generate
from vestige.custody.verify import verify_case
from vestige.ios.sample.backup import BackupBuilder

# Bump when anything below changes the generated backups: the cached copies are keyed by it.
ACQUISITION_VERSION = 1
SEED = 20240611
BLOCK = 1 << 20
CHUNK = 1 << 20
MB = 1_000_000

SMALL_SHARE = 0.10
PHOTO_SHARE = 0.40
SMALL_SIZES = (200, 64 << 10)
PHOTO_SIZES = (1_000_000, 6_000_000)
VIDEO_SIZES = (20_000_000, 400_000_000)

THROUGHPUT_TARGET = 0.90
MEMORY_GROWTH_TARGET = 1.10
ITEM = "phone"
CASE_ID = "bench-custody"
T = TypeVar("T")

SMALL_PLACES = (
    ("HomeDomain", "Library/Preferences", ".plist", b"bplist00"),
    ("HomeDomain", "Library/Caches/com.apple.mobilesafari", ".db", b"SQLite format 3\x00"),
    ("HomeDomain", "Library/Notes", ".sqlite", b"SQLite format 3\x00"),
    ("MediaDomain", "Library/SMS/Attachments", ".jpeg", b"\xff\xd8\xff\xe0"),
    ("AppDomain-net.whatsapp.WhatsApp", "Library/Caches", ".cache", b""),
    ("AppDomain-net.whatsapp.WhatsApp", "Documents", ".plist", b"bplist00"),
    ("AppDomain-ph.telegra.Telegraph", "Library/Caches", ".bin", b""),
    ("AppDomain-com.atebits.Tweetie2", "Library/Caches/images", ".jpg", b"\xff\xd8\xff\xe0"),
    ("AppDomainGroup-group.net.whatsapp.WhatsApp.shared", "Message/Media", ".jpg", b"\xff\xd8\xff\xe0"),
    ("AppDomain-com.apple.mobilesafari", "Library/Safari", ".plist", b"bplist00"),
)
PHOTO_MAGIC = b"\x00\x00\x00\x18ftypheic"
VIDEO_MAGIC = b"\x00\x00\x00\x14ftypqt  "

# A fresh interpreter that runs one operation and writes its wall time and own VmHWM to a JSON file.
CHILD = r"""
import json, sys, time
from pathlib import Path
from vestige.custody.case import Case
from vestige.custody.keys import generate, load_trust_list
from vestige.custody.verify import verify_case


def vm_hwm_kib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


operation, source, bundle, result = sys.argv[1:5]
bundle, trust = Path(bundle), Path(bundle + ".trust")
started = time.perf_counter()
exit_code = 0
if operation == "add":
    key = generate("benchmark examiner")
    Case.create(bundle, "bench-memory", key).add(Path(source), "phone", key)
    trust.write_text(key.public.trust_line() + "\n")
elif operation == "verify":
    exit_code = verify_case(bundle, load_trust_list(trust)).exit_code
wall = time.perf_counter() - started
Path(result).write_text(json.dumps({"wall": wall, "vm_hwm_kib": vm_hwm_kib(), "exit_code": exit_code}))
"""
# A launcher small enough that its own high-water mark, which the child inherits, is below any child's.
LAUNCHER = (
    "import os, sys\n"
    "pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)\n"
)


class OperationFailedError(RuntimeError):
    """An operation that did not complete (a target missed is not a failure)."""


# --------------------------------------------------------------------------------------------------
# The acquisitions


@dataclass(frozen=True)
class Acquisition:
    """A generated backup: its folder, every regular file in it (relative, sorted) and their bytes."""

    root: Path
    relatives: list[str]
    size: int
    facts: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.size / 2**30:.2f} GiB, {len(self.relatives):,} files"


def fill(header: bytes, size: int, block: bytes, offset: int) -> bytes:
    """``size`` bytes: the header, then the block from ``offset`` (repeated as often as needed)."""
    if size <= len(header):
        return header[:size]
    need = size - len(header)
    if offset + need <= len(block):
        return header + block[offset : offset + need]
    body = bytearray(size)
    body[: len(header)] = header
    view = memoryview(body)
    position = len(header)
    while position < size:
        count = min(len(block), size - position)
        view[position : position + count] = block[:count]
        position += count
    return bytes(body)


def build_acquisition(root: Path, content_bytes: int, seed: int) -> dict[str, Any]:
    """Writes the backup with ``content_bytes`` bytes of file content; returns what it holds."""
    started = time.perf_counter()
    rng = random.Random(seed)
    block = rng.randbytes(BLOCK)
    builder = BackupBuilder(root)
    counts = {"small": 0, "photos": 0, "videos": 0}
    written = {"small": 0, "photos": 0, "videos": 0}
    low, high = SMALL_SIZES
    while written["small"] < content_bytes * SMALL_SHARE:
        size = min(int(math.exp(rng.uniform(math.log(low), math.log(high)))), int(content_bytes * SMALL_SHARE))
        domain, folder, extension, magic = rng.choice(SMALL_PLACES)
        number = counts["small"]
        header = magic + f" vestige benchmark {seed} small file {number}\n".encode()
        path = f"{folder}/{number // 500:02d}/{number:06d}{extension}"
        builder.add_file(domain, path, fill(header, size, block, rng.randrange(BLOCK - high)))
        counts["small"] += 1
        written["small"] += size
    while written["photos"] < content_bytes * PHOTO_SHARE:
        size = rng.randint(*PHOTO_SIZES)
        number = counts["photos"]
        header = PHOTO_MAGIC + f" vestige benchmark {seed} photo {number}\n".encode()
        path = f"Media/DCIM/{100 + number // 1000}APPLE/IMG_{number % 10000:04d}.HEIC"
        builder.add_file("CameraRollDomain", path, fill(header, size, block, 0))
        counts["photos"] += 1
        written["photos"] += size
    remaining = content_bytes - written["small"] - written["photos"]
    while remaining > 0:
        size = min(remaining, rng.randint(*VIDEO_SIZES))
        if remaining - size < VIDEO_SIZES[0]:
            size = remaining
        number = counts["videos"]
        header = VIDEO_MAGIC + f" vestige benchmark {seed} video {number}\n".encode()
        path = f"Media/DCIM/100APPLE/IMG_{number:04d}.MOV"
        builder.add_file("CameraRollDomain", path, fill(header, size, block, 0))
        counts["videos"] += 1
        written["videos"] += size
        remaining -= size
    builder.finish()
    return {
        "version": ACQUISITION_VERSION,
        "seed": seed,
        "content_bytes": content_bytes,
        "counts": counts,
        "bytes": written,
        "generation_seconds": round(time.perf_counter() - started, 1),
    }


def walk(root: Path) -> list[str]:
    """Relative paths of every regular file under ``root``, sorted (what ``Case.add`` takes)."""
    found = [(Path(folder) / name).relative_to(root).as_posix() for folder, _, names in os.walk(root) for name in names]
    return sorted(found)


def cached_acquisition(workdir: Path, size_gib: float, rebuild: bool) -> tuple[Acquisition, bool]:
    """The backup of this size and ACQUISITION_VERSION, built now unless a complete copy is cached."""
    name = f"acquisition-v{ACQUISITION_VERSION}-{size_gib:g}GiB"
    root, facts_path = workdir / name, workdir / f"{name}.json"
    cached = root.is_dir() and facts_path.is_file() and not rebuild
    if not cached:
        shutil.rmtree(root, ignore_errors=True)
        staging = workdir / f"{name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        print(f"Generating {root} ({size_gib:g} GiB, seed {SEED}) ...", flush=True)
        facts = build_acquisition(staging, int(size_gib * 2**30), SEED)
        staging.rename(root)
        facts_path.write_text(json.dumps(facts, indent=2) + "\n")
    relatives = walk(root)
    size = sum((root / relative).stat().st_size for relative in relatives)
    return Acquisition(root, relatives, size, json.loads(facts_path.read_text())), cached


def warm(acquisition: Acquisition) -> float:
    """Reads every file once, untimed for the results, so that the page cache holds them; returns seconds."""
    started = time.perf_counter()
    buffer = bytearray(CHUNK)
    for relative in acquisition.relatives:
        with (acquisition.root / relative).open("rb", buffering=0) as stream:
            while stream.readinto(buffer):
                pass
    return time.perf_counter() - started


# --------------------------------------------------------------------------------------------------
# The operations


def hashlib_pass(paths: Sequence[Path]) -> list[str]:
    """SHA-256 of each file, one after the other in this thread, 1 MiB ``readinto`` into one buffer."""
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    digests: list[str] = []
    for path in paths:
        digest = hashlib.sha256()
        with path.open("rb", buffering=0) as stream:
            while count := stream.readinto(buffer):
                digest.update(view[:count])
        digests.append(digest.hexdigest())
    return digests


def sha256sum_pass(root: Path, file_list: Path, output: Path) -> None:
    """GNU sha256sum over every file of ``file_list`` (NUL-separated, relative to ``root``), via xargs."""
    with output.open("wb") as sink:
        result = subprocess.run(
            ["xargs", "-0", "-a", str(file_list), "sha256sum", "--"], cwd=root, stdout=sink, stderr=subprocess.PIPE
        )
    if result.returncode != 0:
        raise OperationFailedError(f"sha256sum failed (exit {result.returncode}): {result.stderr.decode()[-2000:]}")


def read_sha256sum(output: Path, relatives: Sequence[str]) -> list[str]:
    """sha256sum's digests, in the order of ``relatives`` ("missing" for a file it did not list)."""
    by_name = dict(reversed(line.split("  ", 1)) for line in output.read_text("utf-8").splitlines())
    return [by_name.get(relative, "missing") for relative in relatives]


def case_add(source: Path, bundle: Path, key: SigningKey, by_reference: bool) -> None:
    """``vestige case add``: a new bundle, then the acquisition taken into it (or listed, by reference)."""
    Case.create(bundle, CASE_ID, key).add(source, ITEM, key, by_reference=by_reference)


def verify(bundle: Path, trusted: dict[str, PublicKey]) -> None:
    """``vestige verify`` without reproduction; a verdict other than 'all verified' is a failure."""
    report = verify_case(bundle, trusted)
    if report.exit_code != 0:
        failed = [f"{check.area}: {check.message}" for check in report.checks if not check.ok]
        raise OperationFailedError(f"verify of {bundle} gave exit code {report.exit_code}: {failed[:5]}")


def item_digests(bundle: Path) -> list[str]:
    """The SHA-256 column of the bundle's item manifest, in path order."""
    lines = (bundle / f"data/items/{ITEM}/manifest.jsonl").read_bytes().splitlines()
    entries = [orjson.loads(line) for line in lines if line]
    return [entry["sha256"] for entry in sorted(entries, key=lambda entry: entry["path"])]


def timed(action: Callable[[], T]) -> tuple[float, T]:
    os.sync()
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    for extra in (path.with_name(path.name + ".trust"),):
        extra.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------------
# Peak memory in fresh interpreters


@dataclass(frozen=True)
class ChildRun:
    operation: str
    wall_seconds: float
    max_rss_mib: float
    vm_hwm_mib: float


def child_env() -> dict[str, str]:
    src = str(Path(vestige.__file__).resolve().parent.parent)
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}


def run_child(operation: str, source: Path, bundle: Path, result: Path) -> ChildRun:
    """Runs one operation in a fresh interpreter (through the small launcher); its wall time and peaks."""
    result.unlink(missing_ok=True)
    command = [sys.executable, "-I", "-S", "-c", LAUNCHER, sys.executable, "-c", CHILD, operation]
    command += [str(source), str(bundle), str(result)]
    os.sync()
    launched = subprocess.run(command, capture_output=True, text=True, env=child_env())
    if launched.returncode != 0 or not launched.stdout.strip():
        raise OperationFailedError(f"the {operation} launcher failed: {launched.stderr[-2000:]}")
    exit_code, max_rss_kib = (int(value) for value in launched.stdout.split()[-2:])
    if exit_code != 0 or not result.is_file():
        raise OperationFailedError(f"{operation} in a child failed (exit {exit_code}): {launched.stderr[-2000:]}")
    reported = json.loads(result.read_text())
    if reported["exit_code"] != 0:
        raise OperationFailedError(f"{operation} of {bundle} in a child gave verify exit code {reported['exit_code']}")
    return ChildRun(operation, reported["wall"], max_rss_kib / 1024, reported["vm_hwm_kib"] / 1024)


def memory_runs(acquisition: Acquisition, workdir: Path) -> dict[str, ChildRun]:
    bundle, result = workdir / "bundle-memory", workdir / "child-result.json"
    remove(bundle)
    try:
        runs = {"baseline": run_child("baseline", acquisition.root, bundle, result)}
        runs["case add"] = run_child("add", acquisition.root, bundle, result)
        runs["verify"] = run_child("verify", acquisition.root, bundle, result)
    finally:
        remove(bundle)
        result.unlink(missing_ok=True)
    return runs


# --------------------------------------------------------------------------------------------------
# Reporting


def pick(values: Sequence[float]) -> float:
    return min(values) if len(values) < 3 else statistics.median(values)


def tool_version(command: Sequence[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()[0]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "vestige-bench-custody",
        help="where the backups and the bundles live (default: %(default)s)",
    )
    parser.add_argument("--size-gib", type=float, default=2.0, help="content of the backup in GiB (default: 2)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each operation (2: best of two; 3+: median)")
    parser.add_argument("--rebuild", action="store_true", help="generate the backups again even if they are cached")
    args = parser.parse_args(argv)
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return run(workdir, args.size_gib, max(1, args.runs), args.rebuild)
    except OperationFailedError as error:
        print(f"\nFAILED: {error}", file=sys.stderr)
        return 1


def run(workdir: Path, size_gib: float, runs: int, rebuild: bool) -> int:
    sha256sum_version = tool_version(["sha256sum", "--version"])
    full, cached = cached_acquisition(workdir, size_gib, rebuild)
    quarter, quarter_cached = cached_acquisition(workdir, size_gib / 4, rebuild)
    for acquisition, was_cached in ((full, cached), (quarter, quarter_cached)):
        counts = acquisition.facts["counts"]
        print(
            f"Acquisition {acquisition.root} ({'cached' if was_cached else 'generated now'},"
            f" generation took {acquisition.facts['generation_seconds']} s): {acquisition.label}"
            f" ({acquisition.size:,} bytes): {counts['small']:,} small files, {counts['photos']:,} photos,"
            f" {counts['videos']} videos, plus Manifest.db and the plists",
            flush=True,
        )
    print(f"Warm-up read: {full.size / 2**30:.2f} GiB in {warm(full):.1f} s", flush=True)

    paths = [full.root / relative for relative in full.relatives]
    file_list = workdir / "file-list.bin"
    file_list.write_bytes(b"".join(relative.encode() + b"\0" for relative in full.relatives))
    sums = workdir / "sha256sum.out"
    key = generate("benchmark examiner")
    trusted = {key.public.fingerprint: key.public}
    seconds: dict[str, list[float]] = {name: [] for name in ("hashlib", "sha256sum", "add", "by-reference", "verify")}
    digests: dict[str, list[str]] = {}
    added = workdir / "bundle-add"
    referenced = workdir / "bundle-by-reference"
    remove(added)
    remove(referenced)
    try:
        for number in range(1, runs + 1):
            wall, digests["hashlib"] = timed(lambda: hashlib_pass(paths))
            seconds["hashlib"].append(wall)
            wall, _ = timed(lambda: sha256sum_pass(full.root, file_list, sums))
            seconds["sha256sum"].append(wall)
            remove(added)
            wall, _ = timed(lambda: case_add(full.root, added, key, by_reference=False))
            seconds["add"].append(wall)
            wall, _ = timed(lambda: case_add(full.root, referenced, key, by_reference=True))
            seconds["by-reference"].append(wall)
            if number == 1:
                digests["by-reference"] = item_digests(referenced)
            remove(referenced)
            print(
                f"  run {number}: hashlib {seconds['hashlib'][-1]:.2f} s, sha256sum {seconds['sha256sum'][-1]:.2f} s,"
                f" case add {seconds['add'][-1]:.2f} s, by reference {seconds['by-reference'][-1]:.2f} s",
                flush=True,
            )
        digests["sha256sum"] = read_sha256sum(sums, full.relatives)
        digests["case add"] = item_digests(added)
        for number in range(1, runs + 1):
            wall, _ = timed(lambda: verify(added, trusted))
            seconds["verify"].append(wall)
            print(f"  verify run {number}: {wall:.2f} s", flush=True)
    finally:
        remove(added)
        remove(referenced)
        sums.unlink(missing_ok=True)
        file_list.unlink(missing_ok=True)
    for name, values in digests.items():
        if values != digests["hashlib"]:
            differing = sum(a != b for a, b in zip(values, digests["hashlib"], strict=False))
            raise OperationFailedError(
                f"{name} digests differ from hashlib's: {len(values)} vs {len(digests['hashlib'])} files,"
                f" {differing} different"
            )

    print(f"Memory: warm-up read of the quarter-size backup in {warm(quarter):.1f} s", flush=True)
    peaks: dict[str, dict[str, ChildRun]] = {}
    for label, acquisition in (("quarter", quarter), ("full", full)):
        peaks[label] = memory_runs(acquisition, workdir)
        print(
            f"  {label}: "
            + ", ".join(
                f"{name} {child.max_rss_mib:.1f} MiB (VmHWM {child.vm_hwm_mib:.1f}) in {child.wall_seconds:.2f} s"
                for name, child in peaks[label].items()
            ),
            flush=True,
        )

    statistic = "best of" if runs < 3 else "median of"
    hashlib_rate = full.size / MB / pick(seconds["hashlib"])
    sha256sum_rate = full.size / MB / pick(seconds["sha256sum"])
    print()
    print(
        f"vestige {vestige.__version__}, Python {platform.python_version()} ({ssl.OPENSSL_VERSION}),"
        f" {sha256sum_version}; {os.cpu_count()} CPUs"
    )
    print(f"Acquisition: {full.label} ({full.size:,} bytes); {statistic} {runs} runs each, warm page cache")
    print()
    print(f"{'operation':<34}{'wall (s)':>9}{'MB/s':>8}{'vs hashlib':>12}{'vs sha256sum':>14}   {'target':<10}met")
    rows = (
        ("hashlib.sha256, single stream", "hashlib", None),
        ("sha256sum (xargs, all files)", "sha256sum", None),
        ("case add (copy + hash)", "add", THROUGHPUT_TARGET),
        ("case add --by-reference", "by-reference", None),
        ("verify (no reproduction)", "verify", THROUGHPUT_TARGET),
    )
    for label, name, target in rows:
        wall = pick(seconds[name])
        rate = full.size / MB / wall
        ratio = rate / hashlib_rate
        met = "" if target is None else ("yes" if ratio >= target else "no")
        target_text = "" if target is None else f">= {target:.2f}"
        line = (
            f"{label:<34}{wall:>9.2f}{rate:>8.0f}{ratio:>12.2f}{rate / sha256sum_rate:>14.2f}   {target_text:<10}{met}"
        )
        print(line.rstrip())
    print()
    print(f"Peak memory of a fresh interpreter (ru_maxrss, MiB): quarter = {quarter.label}; full = {full.label}")
    print(f"{'operation':<34}{'quarter':>9}{'full':>9}{'full/quarter':>14}   {'target':<10}met")
    for name in ("baseline", "case add", "verify"):
        low, high = peaks["quarter"][name].max_rss_mib, peaks["full"][name].max_rss_mib
        label = "imports only (baseline)" if name == "baseline" else name
        if name == "baseline":
            print(f"{label:<34}{low:>9.1f}{high:>9.1f}{high / low:>14.2f}")
            continue
        met = "yes" if high / low <= MEMORY_GROWTH_TARGET else "no"
        print(f"{label:<34}{low:>9.1f}{high:>9.1f}{high / low:>14.2f}   {f'<= {MEMORY_GROWTH_TARGET:.2f}':<10}{met}")
    print("Digests: hashlib, sha256sum and the bundles' item manifests agree on every file.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
