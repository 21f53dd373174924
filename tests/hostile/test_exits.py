"""Clean exits: a check stopped by SIGINT or SIGTERM, or by its environment (an output folder that
cannot be made or written, a disk that fills, a path longer than the system allows, the output folder
removed under it), ends with one sentence and exit code 2, 130 or 143, never a traceback or 70, and
leaves no partial output, no temporary folder (in TMPDIR, here a private one) and no worker process.

The checks run as real processes (``python -m vestige``) on the demo backup, with a toy artifact
installed through the ``vestige.platforms`` entry point that holds sms.db open (its private copy in
TMPDIR) and waits, so that the signal arrives mid-run."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path

import pytest
from click.testing import CliRunner

import vestige
from tests.builders import tree_digest
from vestige.cli import main
from vestige.evidence.workers import can_fork, map_in_processes
from vestige.ios.sample.demo import build_demo_backup

STALL = '''
"""A toy artifact of the exit tests: on sms.db of an iOS backup, removes the folder named by
VESTIGE_TOY_REMOVE, or holds the database open and waits (after writing its pid to
VESTIGE_TOY_MARKER)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from vestige.model import Severity
from vestige.platforms import MatchPolicy, Platform

NAME = "toy.stall"
VERSION = 1
PATHS = {"ios-backup": ("HomeDomain/Library/SMS/sms.db",)}
DESCRIPTION = "waits, or removes a folder"
MATCHES = MatchPolicy(Severity.LOW, "A toy record")


def parse(acquisition, path):
    if "VESTIGE_TOY_REMOVE" in os.environ:
        shutil.rmtree(os.environ["VESTIGE_TOY_REMOVE"])
    if "VESTIGE_TOY_MARKER" in os.environ:
        with acquisition.sqlite(path):
            Path(os.environ["VESTIGE_TOY_MARKER"]).write_text(str(os.getpid()))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                time.sleep(0.01)
    yield from ()


def detect(records, indicators):
    for _ in records:
        pass
    return iter(())


PLATFORM = Platform("toy-stall", (), (__import__(__name__),))
'''


def install_stall(site: Path) -> Path:
    """Writes the toy module and its distribution's entry point under ``site``."""
    site.mkdir()
    (site / "toy_stall.py").write_text(textwrap.dedent(STALL))
    info = site / "toy_stall-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-stall\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[vestige.platforms]\nstall = toy_stall:PLATFORM\n")
    return site


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo backup, with a write-ahead log beside Manifest.db (read through a private copy)."""
    backup = build_demo_backup(tmp_path_factory.mktemp("demo") / "backup")
    (backup / "Manifest.db-wal").write_bytes(b"")
    return backup


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a vestige process: this source first, the toy, and a private TMPDIR."""
    source = str(Path(vestige.__file__).parents[1])  # the vestige these tests import
    paths = [str(install_stall(tmp_path / "site")), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    (tmp_path / "tmp").mkdir()
    return {**os.environ, "PYTHONPATH": os.pathsep.join([source, *paths]), "TMPDIR": str(tmp_path / "tmp"), **extra}


def wait_for(marker: Path, process: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + 60
    while not (marker.exists() and marker.read_text()):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the toy artifact never started"
        time.sleep(0.02)
    return int(marker.read_text())


def only_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize(
    ("signum", "whole_group", "jobs", "existing"),
    [
        (signal.SIGTERM, False, "2", False),  # `kill PID`: the workers are stopped by vestige
        (signal.SIGINT, True, "2", False),  # Ctrl-C: the terminal signals every process of the group
        (signal.SIGTERM, True, "2", True),  # a service manager stopping the group; -o made beforehand
        (signal.SIGTERM, False, "1", False),
    ],
)
def test_a_signal_mid_run_removes_partial_output_and_temporary_folders(
    demo: Path, tmp_path: Path, signum: int, whole_group: bool, jobs: str, existing: bool
) -> None:
    if jobs != "1" and not can_fork():
        pytest.skip("forked workers need Linux")
    before = tree_digest(demo)
    out, marker = tmp_path / "out", tmp_path / "marker"
    if existing:
        out.mkdir()
    env = environment(tmp_path, VESTIGE_TOY_MARKER=str(marker))
    command = [sys.executable, "-m", "vestige", "check", str(demo), "-o", str(out), "-j", jobs]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stalled = wait_for(marker, process)
        [run] = (tmp_path / "tmp").iterdir()  # every temporary folder of the run is in one
        made = {p.name.split("-")[1] for p in run.iterdir()}  # a worker may be reading another database too
        assert made == {"listing", "manifest", "sqlite", "timeline"}
        assert (stalled != process.pid) == (jobs != "1")
        if whole_group:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 128 + signum
        assert only_line(stderr) == (
            f"vestige: stopped by {signal.Signals(signum).name} before it finished; the evidence was only read, "
            "and a check leaves no partial output."
        )
        assert list(out.iterdir()) == [] if existing else not out.exists()
        assert list((tmp_path / "tmp").iterdir()) == []
        assert not Path(f"/proc/{stalled}").exists()  # the worker is gone, not orphaned
        assert tree_digest(demo) == before
    finally:  # whatever failed, leave no process of the run behind
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_an_output_folder_at_a_dangling_link_or_below_a_file_is_refused_with_exit_2(demo: Path, tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    code, output = run("check", str(demo), "-o", str(tmp_path / "link"), "-j", "1")
    assert (code, output) == (
        2,
        f"vestige: {tmp_path}/link: a symbolic link to {tmp_path}/nowhere, which does not exist; "
        "choose another with -o\n",
    )
    code, output = run("check", str(demo), "-o", str(tmp_path / "file" / "out"), "-j", "1")
    assert (code, output) == (
        2,
        f"vestige: {tmp_path}/file/out: the output folder cannot be written (Not a directory); "
        "choose another with -o\n",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "link"]


@contextmanager
def mounted_tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A small tmpfs at ``folder`` (root only, where mounting is allowed; otherwise the test is skipped)."""
    folder.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr!r}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_an_output_folder_on_a_read_only_file_system_is_refused_with_exit_2(demo: Path, tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "ro", "ro,size=1m") as read_only:
        code, output = run("check", str(demo), "-o", str(read_only / "out"), "-j", "1")
    assert (code, output) == (
        2,
        f"vestige: {read_only}/out: the output folder cannot be written (Read-only file system); "
        "choose another with -o\n",
    )


def test_a_disk_that_fills_mid_run_stops_the_check_with_exit_2_and_nothing_left(demo: Path, tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "small", "size=64k") as small:
        result = subprocess.run(
            [sys.executable, "-m", "vestige", "check", str(demo), "-o", str(small / "out"), "-j", "2"],
            env=environment(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
        left = list(small.iterdir())
    assert result.returncode == 2
    line = only_line(result.stderr)
    assert line.startswith(f"vestige: {small}/out/") and line.endswith(
        ": No space left on device; the check stopped and kept no output"
    ), line
    assert left == []
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_file_size_limit_mid_run_stops_the_check_with_exit_2_and_nothing_left(demo: Path, tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes a write past 60,000 bytes fail with EFBIG (Python ignores SIGXFSZ): the
    timeline, the largest output file of the demo, is the first to reach it."""
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "vestige", "check", str(demo), "-o", str(out), "-j", "2"],
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000)),
    )
    assert result.returncode == 2
    assert only_line(result.stderr) == (
        f"vestige: {out}/timeline.jsonl: File too large; the check stopped and kept no output"
    )
    assert not out.exists()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_the_output_folder_removed_mid_run_stops_the_check_with_exit_2(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "vestige", "check", str(demo), "-o", str(out), "-j", "1"],
        env=environment(tmp_path, VESTIGE_TOY_REMOVE=str(out)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    line = only_line(result.stderr)
    assert line.startswith(f"vestige: {out}/") and line.endswith(
        ": No such file or directory; the check stopped and kept no output"
    ), line
    assert not out.exists()
    assert list((tmp_path / "tmp").iterdir()) == []


@contextmanager
def deep_folder(base: Path) -> Iterator[Path]:
    """The working directory in a real folder whose full path is longer than PATH_MAX (made one short
    step at a time), removed after (by descriptors, which know no path length)."""
    os.chdir(base)
    for _ in range(25):
        Path("d" * 200).mkdir()
        os.chdir("d" * 200)
    try:
        yield Path()
    finally:
        os.chdir(base)
        shutil.rmtree(base / ("d" * 200))


def test_paths_longer_than_the_system_allows_are_refused_with_exit_2(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with deep_folder(tmp_path):
        shutil.copytree(demo, "backup")
        code, output = run("check", "backup", "-o", str(tmp_path / "out"), "-j", "1")
        assert (code, output) == (
            2,
            "vestige: backup: the acquisition has a full path longer than the system allows (4096 bytes); "
            "move it to a shorter path\n",
        )
        code, output = run("check", str(demo), "-o", "out", "-j", "1")
        assert (code, output) == (
            2,
            "vestige: out: the output folder has a full path longer than the system allows (4096 bytes); "
            "choose another with -o\n",
        )
        code, output = run("check", str(demo), "-j", "1")
        assert code == 2, output
        assert output.startswith("vestige: the working directory has a full path longer than the system allows")
    assert list(tmp_path.iterdir()) == []
    long_name = tmp_path / "/".join(["e" * 200] * 25)
    code, output = run("check", str(long_name), "-j", "1")
    assert code == 2
    assert output.startswith(f"vestige: {str(long_name)[:1000]}")
    assert " characters left out) …" in output
    assert output.endswith(f"{str(long_name)[-1000:]}: cannot be read (File name too long)\n")


def sleep_then_mark(folder: Path, item: int) -> int:
    (folder / f"{item}-{os.getpid()}").touch()
    time.sleep(30 if item else 0)
    return item


def test_closing_the_results_early_stops_the_worker_processes_at_once(tmp_path: Path) -> None:
    if not can_fork():
        pytest.skip("forked workers need Linux")
    started = time.monotonic()
    with closing(map_in_processes(sleep_then_mark, tmp_path, [0, 1, 2, 3], 2)) as results:
        assert next(results) == 0
        while len(list(tmp_path.iterdir())) < 2:  # item 1 sleeps in a worker
            time.sleep(0.01)
    assert time.monotonic() - started < 15
    pids = {int(p.name.split("-")[1]) for p in tmp_path.iterdir()}
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids)
    assert sorted(p.name.split("-")[0] for p in tmp_path.iterdir()) in (["0", "1"], ["0", "1", "2"])
