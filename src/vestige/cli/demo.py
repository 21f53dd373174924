"""``vestige demo``: build a sample backup with planted Pegasus traces, check it, show the results."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import click

from vestige.cli.check import EXIT_UNREADABLE, JOBS, registry
from vestige.cli.console import ProgressBar, new_console, print_line, render_summary, shown
from vestige.ios.sample.demo import build_demo_backup
from vestige.pipeline import InputError, load_indicator_sets, run_check


@click.command()
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output folder (new or empty).")
@click.option(
    "--keep-sample",
    type=click.Path(path_type=Path),
    help="Write the sample backup to this new folder and keep it (default: a temporary folder).",
)
@JOBS
def demo(output: Path | None, keep_sample: Path | None, jobs: int) -> None:
    """Build a sample iOS backup with planted traces of a Pegasus attack, then check it."""
    console = new_console(stderr=True)
    scratch = Path(tempfile.mkdtemp(prefix="vestige-demo-"))
    try:
        if keep_sample is not None and keep_sample.exists():
            raise InputError(f"{keep_sample}: already exists; --keep-sample needs a new folder")
        sample = build_demo_backup(keep_sample if keep_sample is not None else scratch / "sample-backup")
        print_line(console, f"Built a sample iOS backup with planted traces at [bold]{shown(str(sample))}[/]")
        sets = load_indicator_sets((), bundled=True)
        with ProgressBar(console) as progress:
            outcome = run_check([sample], output, sets, registry(), {"demo": True, "jobs": jobs}, progress, jobs)
    except InputError as problem:
        print_line(console, f"[bold red]vestige:[/] {shown(str(problem))}")
        sys.exit(EXIT_UNREADABLE)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    out = new_console()
    render_summary(out, outcome.result, outcome.folder)
    print_line(
        out,
        f"The demo is done. Open [bold]{shown(str(outcome.folder / 'findings.json'))}[/] for the findings, "
        "or run `vestige check` on a backup of your own.",
    )
