"""Benchmark: taking an acquisition into a case bundle (``case add``) and verifying the bundle, against
SHA-256 itself.

Run from the repository root with vestige importable (``pip install -e .`` or ``PYTHONPATH=src``)::

    python benchmarks/custody.py [--workdir DIR] [--size-gib 2] [--runs N] [--rebuild]

What it does, all offline:

1. Builds, once, an unencrypted iOS backup of ``--size-gib`` GiB of file content with
   ``vestige.ios.sample.BackupBuilder`` (a real ``Manifest.db`` and ``Info.plist``, so ``Case.add``
   recognises it), from a fixed seed: 10% of the bytes in many small files (200 B to 64 KiB,
   log-uniform: preferences, caches, app documents, SMS attachments; about 19,000 at 2 GiB), 40% in
   camera-roll photos of 1 to 6 MB, the rest in a few videos of 20 to 400 MB. The content is
   incompressible but cheap to make: a slice of one fixed random block (repeated in large files)
   behind a per-file header. Backups are cached in the work folder (default
   ``$TMPDIR/vestige-bench-custody``) as ``acquisition-v<ACQUISITION_VERSION>-<size>GiB[...]``.
2. Reads every file once, untimed, so that everything starts with a warm page cache: the figures
   measure CPU and memory copies, not the disk. Before each timed operation the dirty pages of the
   previous one are flushed (``os.sync``, untimed), so no writeback runs behind a measurement.
3. Times, ``--runs`` times each (default 3), alternating, on the same files:

   - ``hashlib`` (the peer): ``hashlib.sha256`` of every file, one after the other in one thread,
     1 MiB ``readinto`` into one buffer: the speed of SHA-256 itself, with the per-file opens;
   - ``sha256sum``: GNU ``sha256sum`` over every file, all the paths given at once through ``xargs -0``;
   - ``cp -r``: GNU ``cp`` of the backup into a new folder next to it, hashing nothing: what writing
     a copy of these files costs on this file system (the floor of any copying ``case add``);
   - ``case add``: ``Case.create`` of a new bundle in the work folder, then ``Case.add`` of the
     backup with a key from ``keys.generate``: every file copied in and hashed in the same pass,
     the item's manifest and Merkle root, the signed record, the checkpoint, the BagIt manifests.
     Dirty pages are not flushed inside the timing (``Case.add`` does not ``fsync``);
   - ``case add --by-reference``: the same, hashing the files without copying them;
   - ``verify``: ``verify_case`` of the bundle of the last ``case add``, its key trusted, no
     reproduction of analyses (it re-hashes every payload file and checks the log and the item).

   Copies and bundles are deleted after use. With two runs the table shows the better one, with
   three or more the median. The digests of every file by hashlib, sha256sum and both bundles' item
   manifests are compared; any difference is a failure. The load average is printed before and
   after: other work on the machine slows the threaded operations most.
4. Measures the peak resident memory of ``case add`` and ``verify`` in a fresh interpreter, on three
   backups: C, the full one; A, a quarter of its size with the same mix (a quarter of the files);
   B, a quarter of its bytes holding the same small files as C (nearly as many files). Also an
   interpreter that only imports the same modules (the baseline). The peak is the child's
   ``ru_maxrss`` from ``os.wait4``. The child is started by a tiny launcher interpreter (under
   10 MiB), because on Linux a child's ``ru_maxrss`` starts at the high-water mark of the process
   that spawned it: spawned from this script, it would show this script's peak. The child also
   reports its own ``VmHWM``, which should agree.

How to read the tables: throughput is acquisition bytes (every file of the backup; MB = 10^6 bytes)
per second of wall time. ``vs hashlib`` is an operation's throughput over the single-stream
``hashlib`` throughput: 1.00 means it costs no more than hashing the files once; the target is at
least 0.90 for ``case add`` and ``verify``. vestige hashes in a few threads, so with more than one
core it can pass 1.00. ``vs sha256sum`` is the same against ``sha256sum`` (higher is better;
coreutils' SHA-256 is far slower than OpenSSL's on SHA-NI machines). The line under the table
compares ``case add`` with ``cp -r``: when the copy alone is slower than hashing, no copying
``case add`` can meet its target on that file system, and ``--by-reference`` shows vestige's own
overhead. For memory, ``C/B`` is the growth from a quarter of the bytes to all of them with about
the same files: it should be about 1 (target: at most ``MEMORY_GROWTH_TARGET``), since files are
streamed in 1 MiB chunks. ``C/A`` also has four times the files: the per-file bookkeeping (a path,
a size and a digest for each file) grows with the file count, and the last line gives it per file.

Timings are printed, never asserted. The script exits non-zero only when an operation fails (an
exception, a bundle that does not verify, ``sha256sum`` or ``cp`` failing, digests that disagree),
never because a target is missed.
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

OPERATIONS = {
    "hashlib": "hashlib.sha256, single stream",
    "sha256sum": "sha256sum (xargs, all files)",
    "cp": "cp -r (copy only, no hashing)",
    "add": "case add (copy + hash)",
    "by-reference": "case add --by-reference",
    "verify": "verify (no reproduction)",
}
THROUGHPUT_TARGETS = {"add": 0.90, "verify": 0.90}
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
    largest: int
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


def build_acquisition(root: Path, content_bytes: int, small_bytes: int, seed: int) -> dict[str, Any]:
    """Writes a backup of ``content_bytes`` bytes of file content, ``small_bytes`` of them in small files
    (the same seed and ``small_bytes`` give the same small files); returns what it holds."""
    started = time.perf_counter()
    rng = random.Random(seed)
    block = rng.randbytes(BLOCK)
    builder = BackupBuilder(root)
    counts = {"small": 0, "photos": 0, "videos": 0}
    written = {"small": 0, "photos": 0, "videos": 0}
    low, high = SMALL_SIZES
    while written["small"] < small_bytes:
        size = min(int(math.exp(rng.uniform(math.log(low), math.log(high)))), small_bytes)
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
        "small_bytes": small_bytes,
        "counts": counts,
        "bytes": written,
        "generation_seconds": round(time.perf_counter() - started, 1),
    }


def walk(root: Path) -> list[str]:
    """Relative paths of every regular file under ``root``, sorted (what ``Case.add`` takes)."""
    found = [(Path(folder) / name).relative_to(root).as_posix() for folder, _, names in os.walk(root) for name in names]
    return sorted(found)


def cached_acquisition(workdir: Path, size_gib: float, small_of_gib: float, rebuild: bool) -> tuple[Acquisition, bool]:
    """The backup of ``size_gib`` GiB whose small files are those of a ``small_of_gib`` GiB backup, built now
    unless a complete copy of this ACQUISITION_VERSION is cached."""
    name = f"acquisition-v{ACQUISITION_VERSION}-{size_gib:g}GiB"
    if small_of_gib != size_gib:
        name += f"-small-files-of-{small_of_gib:g}GiB"
    root, facts_path = workdir / name, workdir / f"{name}.json"
    cached = root.is_dir() and facts_path.is_file() and not rebuild
    if not cached:
        shutil.rmtree(root, ignore_errors=True)
        staging = workdir / f"{name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        print(f"Generating {root} (seed {SEED}) ...", flush=True)
        facts = build_acquisition(staging, int(size_gib * 2**30), int(small_of_gib * 2**30 * SMALL_SHARE), SEED)
        staging.rename(root)
        facts_path.write_text(json.dumps(facts, indent=2) + "\n")
    relatives = walk(root)
    sizes = [(root / relative).stat().st_size for relative in relatives]
    return Acquisition(root, relatives, sum(sizes), max(sizes), json.loads(facts_path.read_text())), cached


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


def cp_pass(source: Path, target: Path) -> None:
    """GNU ``cp -r`` of the backup into a new folder: the cost of the copy alone, without hashing."""
    result = subprocess.run(["cp", "-r", "--", str(source), str(target)], stderr=subprocess.PIPE)
    if result.returncode != 0:
        raise OperationFailedError(f"cp -r failed (exit {result.returncode}): {result.stderr.decode()[-2000:]}")


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
    """Deletes a bundle, a copy or a file made by this script (and a bundle's trust file), if present."""
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    path.with_name(path.name + ".trust").unlink(missing_ok=True)


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


def describe(acquisition: Acquisition, cached: bool) -> str:
    counts = acquisition.facts["counts"]
    return (
        f"{acquisition.root.name} ({'cached' if cached else 'generated now'}, generation took"
        f" {acquisition.facts['generation_seconds']} s): {acquisition.label} ({acquisition.size:,} bytes):"
        f" {counts['small']:,} small files, {counts['photos']:,} photos, {counts['videos']} videos,"
        f" Manifest.db and the plists; largest file {acquisition.largest / MB:.0f} MB"
    )


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def timed_runs(full: Acquisition, workdir: Path, runs: int) -> dict[str, list[float]]:
    """Every timed operation, ``runs`` times, alternating; checks that all digests agree."""
    paths = [full.root / relative for relative in full.relatives]
    file_list, sums = workdir / "file-list.bin", workdir / "sha256sum.out"
    file_list.write_bytes(b"".join(relative.encode() + b"\0" for relative in full.relatives))
    key = generate("benchmark examiner")
    trusted = {key.public.fingerprint: key.public}
    seconds: dict[str, list[float]] = {name: [] for name in OPERATIONS}
    digests: dict[str, list[str]] = {}
    added, referenced, copied = workdir / "bundle-add", workdir / "bundle-by-reference", workdir / "cp-copy"
    for stale in (added, referenced, copied):
        remove(stale)
    try:
        for number in range(1, runs + 1):
            wall, digests["hashlib"] = timed(lambda: hashlib_pass(paths))
            seconds["hashlib"].append(wall)
            seconds["sha256sum"].append(timed(lambda: sha256sum_pass(full.root, file_list, sums))[0])
            seconds["cp"].append(timed(lambda: cp_pass(full.root, copied))[0])
            remove(copied)
            remove(added)
            seconds["add"].append(timed(lambda: case_add(full.root, added, key, by_reference=False))[0])
            seconds["by-reference"].append(timed(lambda: case_add(full.root, referenced, key, by_reference=True))[0])
            if number == 1:
                digests["case add --by-reference"] = item_digests(referenced)
            remove(referenced)
            print(
                f"  run {number}: "
                + ", ".join(f"{name} {values[-1]:.2f} s" for name, values in seconds.items() if values),
                flush=True,
            )
        digests["sha256sum"] = read_sha256sum(sums, full.relatives)
        digests["case add"] = item_digests(added)
        for number in range(1, runs + 1):
            seconds["verify"].append(timed(lambda: verify(added, trusted))[0])
            print(f"  verify run {number}: {seconds['verify'][-1]:.2f} s", flush=True)
    finally:
        for leftover in (added, referenced, copied, sums, file_list):
            remove(leftover)
    for name, values in digests.items():
        if values != digests["hashlib"]:
            differing = sum(a != b for a, b in zip(values, digests["hashlib"], strict=False))
            raise OperationFailedError(
                f"{name} digests differ from hashlib's: {len(values)} vs {len(digests['hashlib'])} files,"
                f" {differing} different"
            )
    return seconds


def run(workdir: Path, size_gib: float, runs: int, rebuild: bool) -> int:
    versions = {tool: tool_version([tool, "--version"]) for tool in ("sha256sum", "cp")}
    full, cached = cached_acquisition(workdir, size_gib, size_gib, rebuild)
    print(describe(full, cached), flush=True)
    print(f"Warm-up read: {full.size / 2**30:.2f} GiB in {warm(full):.1f} s; load average {load()}", flush=True)
    seconds = timed_runs(full, workdir, runs)
    print(f"Load average after the timed runs: {load()}", flush=True)

    # Memory: the full backup (C), a quarter of it with the same mix (A), and a quarter of its bytes
    # holding the same small files as the full one (B): C/A mixes bytes and files, C/B is bytes only.
    quarter, quarter_cached = cached_acquisition(workdir, size_gib / 4, size_gib / 4, rebuild)
    same_files, same_files_cached = cached_acquisition(workdir, size_gib / 4, size_gib, rebuild)
    subjects = {"A": quarter, "B": same_files, "C": full}
    print(describe(quarter, quarter_cached), flush=True)
    print(describe(same_files, same_files_cached), flush=True)
    peaks: dict[str, dict[str, ChildRun]] = {}
    for letter, acquisition in subjects.items():
        warm(acquisition)
        peaks[letter] = memory_runs(acquisition, workdir)
        print(
            f"  memory {letter}: "
            + ", ".join(
                f"{name} {child.max_rss_mib:.1f} MiB (VmHWM {child.vm_hwm_mib:.1f}) in {child.wall_seconds:.2f} s"
                for name, child in peaks[letter].items()
            ),
            flush=True,
        )

    statistic = "best of" if runs < 3 else "median of"
    rates = {name: full.size / MB / pick(values) for name, values in seconds.items()}
    print()
    print(
        f"vestige {vestige.__version__}, Python {platform.python_version()} ({ssl.OPENSSL_VERSION}),"
        f" {versions['sha256sum']}, {versions['cp']}; {os.cpu_count()} CPUs"
    )
    print(f"Acquisition: {full.label} ({full.size:,} bytes); {statistic} {runs} runs each, warm page cache")
    print()
    print(f"{'operation':<34}{'wall (s)':>9}{'MB/s':>8}{'vs hashlib':>12}{'vs sha256sum':>14}   {'target':<10}met")
    for name, label in OPERATIONS.items():
        target = THROUGHPUT_TARGETS.get(name)
        ratio = rates[name] / rates["hashlib"]
        met = "" if target is None else ("yes" if ratio >= target else "no")
        target_text = "" if target is None else f">= {target:.2f}"
        line = (
            f"{label:<34}{pick(seconds[name]):>9.2f}{rates[name]:>8.0f}{ratio:>12.2f}"
            f"{rates[name] / rates['sha256sum']:>14.2f}   {target_text:<10}{met}"
        )
        print(line.rstrip())
    print(
        f"case add takes {pick(seconds['add']) / pick(seconds['cp']):.2f}x the time of cp -r, which copies the same"
        " files without hashing them (the cost of writing them on this file system)."
    )

    print()
    print("Peak memory of a fresh interpreter (ru_maxrss by os.wait4, MiB):")
    for letter, acquisition in subjects.items():
        what = {"A": "a quarter of the size, same mix", "B": "a quarter of the bytes, the small files of C"}
        print(f"  {letter} = {acquisition.label}" + (f" ({what[letter]})" if letter in what else " (the full backup)"))
    print(f"{'operation':<34}{'A':>8}{'B':>8}{'C':>8}{'C/A':>8}{'C/B':>8}   {'target':<13}met")
    for name in ("baseline", "case add", "verify"):
        a, b, c = (peaks[letter][name].max_rss_mib for letter in "ABC")
        label = "imports only (baseline)" if name == "baseline" else name
        line = f"{label:<34}{a:>8.1f}{b:>8.1f}{c:>8.1f}{c / a:>8.2f}{c / b:>8.2f}"
        if name != "baseline":
            met = "yes" if c / b <= MEMORY_GROWTH_TARGET else "no"
            line += f"   {f'C/B <= {MEMORY_GROWTH_TARGET:.2f}':<13}{met}"
        print(line)
    extra_files = len(full.relatives) - len(quarter.relatives)
    print(
        "Per-file bookkeeping (C minus A, per extra file): "
        + ", ".join(
            f"{name} {(peaks['C'][name].max_rss_mib - peaks['A'][name].max_rss_mib) * 1024 / extra_files:.2f} KiB"
            for name in ("case add", "verify")
        )
    )
    print("Digests: hashlib, sha256sum and both bundles' item manifests agree on every file.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
