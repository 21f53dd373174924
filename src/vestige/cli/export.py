"""``vestige export DIR``: the results of a check as STIX 2.1, a Timesketch timeline and CSV files.

DIR is an output folder of ``vestige check`` or a case bundle (its latest analysis, or the one named by
``--run``). The findings are read through the typed result document and the timeline one event at a
time; nothing in DIR is changed. Each file is written under a temporary name and renamed when complete,
so a failed export leaves nothing half-written.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import click

from vestige.cli.check import EXIT_UNREADABLE
from vestige.cli.console import new_console, print_line, shown
from vestige.report.csv import FINDINGS_CSV, TIMELINE_CSV, write_csv
from vestige.report.findings import FindingsDocument, FindingsFormatError, read_findings
from vestige.report.stix import stix_bundle, stix_json
from vestige.report.timeline import TimelineFormatError
from vestige.report.timesketch import write_timesketch


class ExportError(Exception):
    """An export that cannot be made: the message is one sentence naming the path."""


def analysis_folder(folder: Path, run: str | None) -> Path:
    """The folder holding findings.json: ``folder`` itself, or an analysis of the case bundle it is."""
    if (folder / "findings.json").is_file():
        if run is not None:
            raise ExportError(f"{folder}: an output folder of vestige check; --run is for a case bundle")
        return folder
    analyses = folder / "data" / "analysis"
    if not (folder / "bagit.txt").is_file() or not analyses.is_dir():
        raise ExportError(f"{folder}: neither an output folder of vestige check nor a case bundle")
    runs = sorted(p.name for p in analyses.iterdir() if p.is_dir() and not p.name.startswith("."))
    if run is None:
        if not runs:
            raise ExportError(f"{folder}: the case bundle holds no analysis yet")
        return analyses / runs[-1]
    if run not in runs:
        raise ExportError(f"{folder}: no analysis run {run!r} (the bundle holds {', '.join(runs) or 'none'})")
    return analyses / run


def new_target(path: Path) -> None:
    if path.exists() or path.is_symlink():
        raise ExportError(f"{path}: already exists; an export never overwrites a file")


@contextmanager
def written(path: Path) -> Iterator[IO[bytes]]:
    """A file written under a temporary name beside ``path``, renamed to it when the body ends, removed
    if it fails."""
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        with partial.open("xb") as out:
            yield out
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


@click.command()
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option(
    "--stix",
    "stix_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the findings as a STIX 2.1 bundle: sightings of the matched indicators, no victim data.",
)
@click.option(
    "--timesketch",
    "timesketch_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the timeline and the findings as JSON Lines that Timesketch imports.",
)
@click.option(
    "--csv",
    "csv_folder",
    type=click.Path(path_type=Path, file_okay=False),
    help=f"Write {FINDINGS_CSV} and {TIMELINE_CSV} into this folder (new or empty).",
)
@click.option("--run", "run", help="With a case bundle: the analysis run to export (default: the latest).")
def export(
    folder: Path, stix_file: Path | None, timesketch_file: Path | None, csv_folder: Path | None, run: str | None
) -> None:
    """Export the results in FOLDER (an output folder of vestige check, or a case bundle) for other tools."""
    if stix_file is None and timesketch_file is None and csv_folder is None:
        raise click.UsageError("say what to export: --stix FILE, --timesketch FILE and/or --csv DIR")
    console = new_console()
    try:
        source = analysis_folder(folder, run)
        document = _document(source)
        steps: list[Callable[[], str]] = []
        if stix_file is not None:
            new_target(stix_file)
            steps.append(lambda: _stix(document, stix_file))
        if timesketch_file is not None:
            new_target(timesketch_file)
            steps.append(lambda: _timesketch(document, source, timesketch_file))
        if csv_folder is not None:
            if csv_folder.exists() and any(csv_folder.iterdir()):
                raise ExportError(f"{csv_folder}: not empty; --csv needs a new or empty folder")
            steps.append(lambda: _csv(document, source, csv_folder))
        for step in steps:
            print_line(console, step())
    except (ExportError, FindingsFormatError, TimelineFormatError) as problem:
        print_line(new_console(stderr=True), f"[bold red]vestige:[/] {shown(str(problem))}")
        sys.exit(EXIT_UNREADABLE)
    except OSError as error:
        where = f"{error.filename}: " if error.filename is not None else ""
        print_line(new_console(stderr=True), f"[bold red]vestige:[/] {shown(where + (error.strerror or str(error)))}")
        sys.exit(EXIT_UNREADABLE)


def _document(source: Path) -> FindingsDocument:
    try:
        data = (source / "findings.json").read_bytes()
    except OSError as error:
        raise ExportError(f"{source / 'findings.json'}: cannot be read ({error.strerror})") from None
    return read_findings(data, str(source / "findings.json"))


def _timeline(source: Path) -> Path:
    timeline = source / "timeline.jsonl"
    if not timeline.is_file():
        raise ExportError(f"{timeline}: no such file; the output folder is incomplete")
    return timeline


def _stix(document: FindingsDocument, target: Path) -> str:
    bundle = stix_bundle(document)
    with written(target) as out:
        out.write(stix_json(bundle))
    kinds = [o["type"] for o in bundle["objects"]]
    return (
        f"STIX 2.1: [bold]{shown(str(target))}[/] ({kinds.count('indicator')} indicators, "
        f"{kinds.count('sighting')} sightings, {kinds.count('observed-data')} observed data, a report of "
        f"{len(document.findings)} findings)"
    )


def _timesketch(document: FindingsDocument, source: Path, target: Path) -> str:
    timeline = _timeline(source)
    with written(target) as out:
        count = write_timesketch(document, timeline, out)
    left_out = (
        f"; {count.undated_findings} findings without a time left out (Timesketch places events by time)"
        if count.undated_findings
        else ""
    )
    return f"Timesketch: [bold]{shown(str(target))}[/] ({count.events} events, {count.findings} findings{left_out})"


def _csv(document: FindingsDocument, source: Path, folder: Path) -> str:
    timeline = _timeline(source)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        count = write_csv(document, timeline, folder)
    except BaseException:
        for name in (FINDINGS_CSV, TIMELINE_CSV):
            (folder / name).unlink(missing_ok=True)
        if created:
            folder.rmdir()
        raise
    return (
        f"CSV: [bold]{shown(str(folder / FINDINGS_CSV))}[/] ({count.findings} findings), "
        f"[bold]{shown(str(folder / TIMELINE_CSV))}[/] ({count.events} events)"
    )
