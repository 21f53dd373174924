"""Running ``vestige check`` on a mutated backup as an analyst would, and what every run must hold.

Each run is a real subprocess (``-j 1`` and ``-j 2`` side by side) with a wall timeout, caps on
its address space and on the size of any file it writes (``resource.setrlimit``: a run that would
fill the disk dies of SIGXFSZ instead), its own empty ``TMPDIR`` and working folder. Afterwards:

- exit code 0, 2 or 3: never 70 (a defect), never killed, never past the timeout;
- resident memory (of the largest process, forked workers included) and bytes written to disk
  (temporary files already unlinked included) within bounds far above what the demo needs;
- the evidence, and the files outside it that links point at, are unchanged: every name (as bytes),
  type, mode, inode, size, mtime and ctime, every byte of every regular file, every link target;
- nothing is left in ``TMPDIR`` nor beside the output folder; a run that did not complete left no
  output folder;
- ``findings.json`` of the two runs, and every other file of their output but ``run.json`` (times
  and host), are byte-identical when both completed (and their exit codes equal);
- nothing read from outside the acquisition (``OUTSIDE_MARKER``) reaches the output;
- the terminal output holds no control character but newline, no bidi control, no emoji made from a
  ``:code:``, and no line that evidence text forged (``FORGED_MARKER``);
- the genuine data a mutation must not hide (``Mutation.keeps``) is in the findings, and a
  manipulation that must be visible (``Mutation.shows``) changes the findings or problems.

``BrokenPropertyError``s are raised from one line per property, so that Hypothesis reports each property
that fails as a distinct bug.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.hostile.fuzzing.mutations import FORGED_MARKER, OUTSIDE_MARKER, Mutation, Site

TIMEOUT = float(os.environ.get("VESTIGE_FUZZ_TIMEOUT", "20"))
"""Wall seconds one run may take (the demo backup takes about half a second)."""
PEAK_MEMORY = int(os.environ.get("VESTIGE_FUZZ_MEMORY", str(1 << 30)))
"""The most resident memory any process of a run may reach (the demo takes about 50 MB)."""
ADDRESS_SPACE = 2 * PEAK_MEMORY
"""The cap on each process's address space: what stops a run that grows without bound."""
DISK = 256 << 20
"""The most a run may write to disk, temporary files that are already unlinked included (the
demo's output is about 0.5 MB)."""
FILE_SIZE = 1 << 30
"""The cap on the size of any one file a run writes: what stops a run that fills the disk."""

BUDGET_OPTIONS = True
"""Every run gets ``LIMITS``, so that vestige's own budgets, well inside the caps above, stop what
grows without bound (a task stopped by its budget is exit 3, never a timeout)."""
LIMITS = ("seconds=8", "memory=512M", "rows=2000000", "plist-objects=500000", "plist-depth=128", "text=64M")

INDICATORS = {"domains.txt": "smscentro.com\nfree247downloads.com\n", "processes.txt": "bh\n"}
"""A small indicator list (instead of the bundled sets, for speed) that names what the demo holds."""

INTERRUPTED = (1, 130, 143, -signal.SIGINT, -signal.SIGTERM)
"""Exits of an interrupted run (click's "Aborted!", the shell's 128 + signal, or the signal itself):
its cleaning up, not its exit code, is what the harness checks."""

_LAUNCH = "import sys; from vestige.cli import run; sys.argv[0] = 'vestige'; run()"
"""What the ``vestige`` program runs (``vestige.cli.run``, not ``main``, whose in-process callers keep their
own signal handlers after the command: a signal in the last moments of the process would then kill a run
whose output is complete)."""
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")
_FORGED_LINE = re.compile(rf"^\W*(CRITICAL\W+)?{FORGED_MARKER}", re.MULTILINE)
_EMOJI_FROM_CODES = ("\U0001f480",)  # what rich makes of ":skull:"
_EXCEPTION = re.compile(r"^(\w+(?:\.\w+)*(?:Error|Exception|Exit|Interrupt|Warning)|[A-Z]\w+Error)\b.*$", re.MULTILINE)
_FRAME = re.compile(r'^  File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)$', re.MULTILINE)


def _limit_resources() -> None:
    """In the child before exec: caps on address space and file size, no core files."""
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE, FILE_SIZE))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


@dataclass
class Run:
    """One ``vestige check`` subprocess and what it left."""

    jobs: int
    folder: Path
    output: Path
    tmpdir: Path
    code: int | None = None
    timed_out: bool = False
    seconds: float = 0.0
    stdout: str = ""
    stderr: str = ""
    before: frozenset[str] = frozenset()
    peak_memory: int = 0
    disk_written: int = 0

    @property
    def completed(self) -> bool:
        return self.code in (0, 3)

    def describe(self) -> str:
        """The exit, and for a defect its exception and innermost vestige frame."""
        if self.timed_out:
            return f"-j{self.jobs}: no exit within {TIMEOUT:g} s (killed)"
        assert self.code is not None
        if self.code < 0:
            return f"-j{self.jobs}: killed by {signal.Signals(-self.code).name} after {self.seconds:.1f} s"
        text = f"-j{self.jobs}: exit {self.code} after {self.seconds:.1f} s, {self.peak_memory >> 20} MiB"
        if self.code not in (0, 2, 3):
            text += " " + failure_summary(self.stderr)
        return text


def failure_summary(stderr: str) -> str:
    """``ExceptionType: message at file:line in function`` from a traceback (vestige's own frame)."""
    frames = [m for m in _FRAME.finditer(stderr) if "/vestige/" in m["file"]] or list(_FRAME.finditer(stderr))
    exceptions = _EXCEPTION.findall(stderr)
    where = ""
    if frames:
        last = frames[-1]
        path = last["file"]
        path = path[path.find("vestige/") :] if "vestige/" in path else path
        where = f" at {path}:{last['line']} in {last['func']}"
    what = exceptions[-1] if exceptions else stderr.strip().splitlines()[-1:] or ["(no output)"]
    return f"[{str(what if isinstance(what, str) else what[0])[:300]}{where}]"


def snapshot(root: Path) -> dict[bytes, tuple[object, ...]]:
    """Every entry under ``root`` (itself included), never following a link nor opening anything
    but regular files: name -> (type, mode, inode, size, mtime, ctime, content SHA-256 or link target)."""
    found: dict[bytes, tuple[object, ...]] = {}
    if not os.path.lexists(root):
        return found
    top = os.fsencode(root)
    found[b"."] = _entry(os.lstat(top), None)
    if not root.is_dir() or root.is_symlink():
        return found
    for folder, folders, files, fd in os.fwalk(top, follow_symlinks=False):
        relative = os.path.relpath(folder, top)
        for name in (*folders, *files):
            key = os.path.normpath(os.path.join(relative, name))  # noqa: PTH118 (bytes: names need not be UTF-8)
            info = os.lstat(name, dir_fd=fd)
            found[key] = _entry(info, _content(name, info, fd))
    return found


def _entry(info: os.stat_result, content: object) -> tuple[object, ...]:
    kind = stat.S_IFMT(info.st_mode)
    # A folder's times change when an entry is made or removed in it: a file written and deleted again.
    return (
        kind,
        info.st_mode,
        info.st_ino,
        info.st_size if kind != stat.S_IFDIR else 0,
        info.st_mtime_ns,
        info.st_ctime_ns,
        content,
    )


def _content(name: bytes, info: os.stat_result, fd: int) -> object:
    if stat.S_ISLNK(info.st_mode):
        return os.readlink(name, dir_fd=fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > 256 << 20:
        return None  # a huge (sparse) file: any write would change its mtime and ctime
    digest = hashlib.sha256()
    handle = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    with os.fdopen(handle, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Scene:
    """One test input laid out on disk: the mutated backup, the folder outside it, the runs' folders."""

    base: Path
    mutations: Sequence[Mutation]
    indicators: Path
    baseline: bytes = b""
    """findings.json of the unmutated demo (for ``Mutation.shows``)."""
    site: Site = field(init=False)

    def __post_init__(self) -> None:
        self.site = Site(self.base / "backup", self.base / "outside")

    def prepare(self, demo: Path) -> None:
        shutil.copytree(demo, self.site.backup, symlinks=True)
        self.site.outside.mkdir()
        for mutation in self.mutations:
            mutation.apply(self.site)

    def run_both(self) -> list[Run]:
        """``-j 1`` and ``-j 2`` at once (the two cores of CI), or only ``-j 2`` when interrupted."""
        interrupt = next((m for m in self.mutations if m.signal_after is not None), None)
        jobs = (2,) if interrupt is not None else (1, 2)
        runs = [self._launch(j) for j in jobs]
        processes = {self._start(run).pid: run for run in runs}
        started = time.monotonic()
        signalled = interrupt is None
        while processes:
            elapsed = time.monotonic() - started
            if not signalled and interrupt is not None and elapsed >= (interrupt.signal_after or 0):
                signalled = True
                name = getattr(interrupt, "signal_name", "SIGTERM")
                for pid in processes:  # Ctrl-C reaches the whole process group, kill(1) the one process
                    (os.killpg if name == "SIGINT" else os.kill)(pid, getattr(signal, name))
            for pid, run in list(processes.items()):
                done, status, usage = os.wait4(pid, os.WNOHANG)
                if done:
                    del processes[pid]
                    run.code = os.waitstatus_to_exitcode(status)
                    run.seconds = time.monotonic() - started
                    run.peak_memory = usage.ru_maxrss * 1024
                    run.disk_written = usage.ru_oublock * 512
                elif elapsed > TIMEOUT and not run.timed_out:
                    run.timed_out = True
                    os.killpg(pid, signal.SIGKILL)
            time.sleep(0.01)
        for run in runs:
            run.stdout = _read(run.folder.with_suffix(".stdout")).decode("utf-8", "backslashreplace")
            run.stderr = _read(run.folder.with_suffix(".stderr")).decode("utf-8", "backslashreplace")
        return runs

    def _launch(self, jobs: int) -> Run:
        folder = self.base / f"run-j{jobs}"
        folder.mkdir()
        tmpdir = self.base / f"tmp-j{jobs}"
        tmpdir.mkdir()
        output = self._output(folder)
        return Run(jobs, folder, output, tmpdir, before=frozenset(p.name for p in folder.iterdir()))

    def _output(self, folder: Path) -> Path:
        where = next((m.output for m in self.mutations if m.output is not None), None)
        if where == "dangling-symlink":
            (folder / "out").symlink_to(folder / "missing" / "out")
        elif where == "below-regular-file":
            (folder / "file").write_text("not a folder")
            return folder / "file" / "out"
        elif where == "not-empty":
            (folder / "out").mkdir()
            (folder / "out" / "analyst-notes.txt").write_text("keep me")
        elif where == "deeper-than-path-max":
            deep = folder
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            for _ in range(24):
                os.mkdir("p" * 200, dir_fd=fd)
                inner = os.open("p" * 200, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                os.close(fd)
                fd = inner
                deep = deep / ("p" * 200)
            os.close(fd)
            return deep / "out"
        elif where == "inside-acquisition":
            return self.site.backup / "out"
        return folder / "out"

    def _start(self, run: Run) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FORCE_COLOR", "NO_COLOR", "VESTIGE_"))}
        env.update(TMPDIR=str(run.tmpdir), COLUMNS="120", LC_ALL="C.UTF-8", PYTHONDONTWRITEBYTECODE="1")
        command = [sys.executable, "-c", _LAUNCH, "check", str(self.site.backup), "-o", str(run.output)]
        command += ["-j", str(run.jobs), "--no-bundled-iocs", "--iocs", str(self.indicators / "domains.txt")]
        command += ["--iocs", str(self.indicators / "processes.txt")]
        if BUDGET_OPTIONS:
            for limit in LIMITS:
                command += ["--limit", limit]
        with run.folder.with_suffix(".stdout").open("wb") as out, run.folder.with_suffix(".stderr").open("wb") as err:
            # Reaped with os.wait4 (for the peak memory and the bytes written), never by Popen.
            return subprocess.Popen(
                command,
                cwd=run.folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                preexec_fn=_limit_resources,  # no threads are started by the test
                start_new_session=True,
            )


class BrokenPropertyError(AssertionError):
    """A property of the harness that a run broke."""


@dataclass
class Verdict:
    """Which properties the runs of one input broke, each with what was seen."""

    broken: dict[str, list[str]] = field(default_factory=dict)

    def add(self, prop: str, detail: str) -> None:
        self.broken.setdefault(prop, []).append(detail)

    def text(self, mutations: Sequence[Mutation], runs: Sequence[Run], skipped: Sequence[str]) -> str:
        lines = [f"mutations: {list(mutations)!r}"]
        lines += [f"  (not applied: {s})" for s in skipped]
        lines += [f"  {run.describe()}" for run in runs]
        for prop, details in self.broken.items():
            lines += [f"  {prop}: {d}" for d in details]
        return "\n".join(lines)

    def raise_first(self, message: str) -> None:
        """Raises from the line of the first property broken (one Hypothesis bug per property)."""
        broken = self.broken
        if "exit" in broken:
            raise BrokenPropertyError(message)
        if "evidence" in broken:
            raise BrokenPropertyError(message)
        if "resources" in broken:
            raise BrokenPropertyError(message)
        if "leftovers" in broken:
            raise BrokenPropertyError(message)
        if "determinism" in broken:
            raise BrokenPropertyError(message)
        if "outside" in broken:
            raise BrokenPropertyError(message)
        if "terminal" in broken:
            raise BrokenPropertyError(message)
        if "kept" in broken:
            raise BrokenPropertyError(message)


def judge(scene: Scene, runs: Sequence[Run], before: dict[str, dict[bytes, tuple[object, ...]]]) -> Verdict:
    """Every property of the module docstring, over the runs of one input."""
    verdict = Verdict()
    interrupted = any(m.signal_after is not None for m in scene.mutations)
    for run in runs:
        _judge_exit(run, interrupted, verdict)
        if run.peak_memory > PEAK_MEMORY:
            verdict.add("resources", f"-j{run.jobs} reached {run.peak_memory >> 20} MiB of resident memory")
        if run.disk_written > DISK:
            verdict.add("resources", f"-j{run.jobs} wrote {run.disk_written >> 20} MiB to disk")
        if not run.timed_out:  # what SIGKILL interrupts cannot be cleaned up
            _judge_leftovers(run, verdict)
        if run.completed:
            _judge_output(run, verdict)
        _judge_terminal(run, verdict)
    for name, root in (("backup", scene.site.backup), ("outside", scene.site.outside)):
        after = snapshot(root)
        if after != before[name]:
            verdict.add("evidence", f"{name} changed: {_differences(before[name], after)}")
    completed = [run for run in runs if run.completed]
    if len(completed) == 2:
        one, two = completed
        if one.code != two.code:
            verdict.add("determinism", f"exit {one.code} with -j1, {two.code} with -j2")
        for name in sorted(_output_files(one.output) | _output_files(two.output)):
            a, b = _read(one.output / name), _read(two.output / name)
            if a != b:
                verdict.add("determinism", f"{name} differs between -j1 and -j2: {_first_difference(a, b)}")
    effective = [m for m in scene.mutations if m.output is None and m.signal_after is None]
    if len(effective) == 1 and not interrupted and not scene.site.skipped:
        for run in runs:
            findings = _read(run.output / "findings.json").decode("utf-8", "replace") if run.completed else ""
            for kept in effective[0].keeps:
                if kept not in findings:
                    verdict.add("kept", f"-j{run.jobs}: no finding names {kept} (the genuine data is hidden)")
            if effective[0].shows and run.completed and scene.baseline and _seen(findings) == _seen(scene.baseline):
                verdict.add(
                    "kept", f"-j{run.jobs}: the manipulation left no finding nor problem (findings as unmutated)"
                )
    return verdict


def _seen(findings: str | bytes) -> object:
    """The findings and problems of a findings.json (what an analyst reads), without the acquisition."""
    document = json.loads(findings)
    return document.get("findings"), document.get("problems")


def _judge_exit(run: Run, interrupted: bool, verdict: Verdict) -> None:
    if run.timed_out:
        verdict.add("exit", f"-j{run.jobs} did not finish within {TIMEOUT:g} s")
    elif run.code not in (0, 2, 3) and not (interrupted and run.code in INTERRUPTED):
        verdict.add("exit", run.describe())


def _judge_leftovers(run: Run, verdict: Verdict) -> None:
    stray = sorted(p.name for p in run.tmpdir.iterdir())
    if stray:
        verdict.add("leftovers", f"-j{run.jobs} left in TMPDIR: {stray[:5]}")
    present = {p.name for p in run.folder.iterdir()} - run.before
    expected = {run.output.name} if run.completed and run.output.parent == run.folder else set()
    if present - expected:
        verdict.add("leftovers", f"-j{run.jobs} left beside the output: {sorted(present - expected)[:5]}")
    fresh = run.output.parent == run.folder and run.output.name not in run.before
    if not run.completed and fresh and os.path.lexists(run.output):
        verdict.add("leftovers", f"-j{run.jobs} exit {run.code} left a partial output folder")


def _judge_output(run: Run, verdict: Verdict) -> None:
    if not (run.output / "findings.json").is_file():
        verdict.add("leftovers", f"-j{run.jobs} exit {run.code} without findings.json")
        return
    marker = OUTSIDE_MARKER.encode()
    for path in sorted(run.output.rglob("*")):
        if path.is_file() and marker in path.read_bytes():
            verdict.add("outside", f"-j{run.jobs}: {path.relative_to(run.output)} holds data read outside the backup")


def _judge_terminal(run: Run, verdict: Verdict) -> None:
    for stream, text in (("stdout", run.stdout), ("stderr", run.stderr)):
        if run.code not in (0, 2, 3):
            continue  # a traceback is judged as an exit, not as terminal output
        if found := _CONTROL.search(text):
            verdict.add(
                "terminal", f"-j{run.jobs} {stream} holds control character {found.group()!r}: {_around(text, found)}"
            )
        if found := _BIDI.search(text):
            verdict.add(
                "terminal", f"-j{run.jobs} {stream} holds bidi control {found.group()!r}: {_around(text, found)}"
            )
        if found := _FORGED_LINE.search(text):
            verdict.add("terminal", f"-j{run.jobs} {stream} shows a forged line: {_around(text, found)}")
        for emoji in _EMOJI_FROM_CODES:
            if emoji in text:
                verdict.add("terminal", f"-j{run.jobs} {stream} shows an emoji made from a :code: in evidence")


def _around(text: str, found: re.Match[str]) -> str:
    return repr(text[max(0, found.start() - 60) : found.end() + 60])


def _output_files(output: Path) -> set[str]:
    """The files of an output folder that the same input must give byte for byte (all but run.json,
    which holds times and the host)."""
    return {p.relative_to(output).as_posix() for p in output.rglob("*") if p.is_file()} - {"run.json"}


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _first_difference(a: bytes, b: bytes) -> str:
    at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return f"at byte {at}: -j1 {a[max(0, at - 80) : at + 80]!r} / -j2 {b[max(0, at - 80) : at + 80]!r}"


def _differences(before: dict[bytes, tuple[object, ...]], after: dict[bytes, tuple[object, ...]]) -> str:
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    return f"added {added[:5]}, removed {removed[:5]}, changed {changed[:5]}"
