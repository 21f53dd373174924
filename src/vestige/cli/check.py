"""``vestige check PATH``: analyse an acquisition offline and write the output folder."""

from __future__ import annotations

import gc
import shutil
import sqlite3
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import click
import orjson
from rich.console import Console

from vestige.analysis import Result, analyse, open_acquisition
from vestige.cli.console import ProgressBar, render_summary, shown
from vestige.evidence.errors import EvidenceError
from vestige.evidence.workers import default_workers
from vestige.indicators import (
    IndicatorFormatError,
    IndicatorIndex,
    IndicatorSet,
    bundled_sets,
    load_indicator_set,
)
from vestige.indicators.plain import TYPES_BY_STEM
from vestige.model import JSON, Severity
from vestige.report.folder import OutputFolder, run_metadata

EXIT_COMPLETE = 0
EXIT_FINDINGS = 1
EXIT_UNREADABLE = 2
EXIT_INCOMPLETE = 3


class UnreadableInputError(Exception):
    """Input vestige cannot start on: it is printed as one sentence and the exit code is 2."""


@dataclass(frozen=True)
class CheckOutcome:
    result: Result
    folder: Path
    findings_sha256: str


def exit_code(result: Result, fail_on: Severity | None) -> int:
    """1 when a finding reaches ``--fail-on``, else 3 when artifacts were unreadable, else 0."""
    if fail_on is not None and any(f.severity >= fail_on for f in result.findings):
        return EXIT_FINDINGS
    return EXIT_COMPLETE if result.complete else EXIT_INCOMPLETE


def indicator_sets(
    ioc_files: tuple[Path, ...], bundled: bool, ioc_lists: tuple[tuple[str, Path], ...] = ()
) -> list[IndicatorSet]:
    """The bundled sets (unless left out), then the user's files and typed lists, in the order given.

    A user's set is named by its file name, not its location, so findings.json does not depend on
    where the file sits.
    """
    sets = list(bundled_sets()) if bundled else []
    wanted: list[tuple[Path, str | None]] = [(path, None) for path in ioc_files]
    wanted.extend((path, TYPES_BY_STEM[kind]) for kind, path in ioc_lists)
    for path, kind in wanted:
        try:
            sets.append(load_indicator_set(path, name=path.name, source=f"file {path.name}", indicator_type=kind))
        except IndicatorFormatError as error:
            raise UnreadableInputError(str(error)) from None
    return sets


IOC_FILES = click.option(
    "--iocs",
    "ioc_files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Add an indicator set: STIX 2.x bundle, stalkerware ioc.yaml / network.csv, or a plain list named "
    "domains.txt, processes.txt, emails.txt, ... (repeatable).",
)
IOC_LISTS = click.option(
    "--ioc-list",
    "ioc_lists",
    multiple=True,
    type=(click.Choice(sorted(TYPES_BY_STEM)), click.Path(path_type=Path)),
    metavar="TYPE FILE",
    help="Add a plain list whose file name does not say its type, e.g. --ioc-list domains suspects.txt.",
)
JOBS = click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=default_workers,
    show_default="one per CPU",
    help="Worker processes; the results are the same for any number.",
)
NO_BUNDLED = click.option("--no-bundled-iocs", is_flag=True, help="Leave out the indicator sets bundled with vestige.")


def run_check(
    path: Path,
    output: Path | None,
    sets: list[IndicatorSet],
    console: Console,
    options: dict[str, object],
    workers: int = 1,
) -> CheckOutcome:
    """Analyse ``path`` into ``output`` (or a new folder in the working directory); nothing is left
    behind when the run stops on an error."""
    started = datetime.now(timezone.utc)
    try:
        acquisition = open_acquisition(path)
    except EvidenceError as error:
        raise UnreadableInputError(str(error)) from None
    index = IndicatorIndex(sets)
    quiet_collector()
    with acquisition:
        _refuse_inside(acquisition.root, output)
        staging, created = _staging_folder(output)
        folder = OutputFolder(staging, workers)
        try:
            with ProgressBar(console) as progress:
                result = analyse(acquisition, index, sets, sinks=folder, progress=progress, workers=workers)
            options = {**options, "input": str(path.resolve()), "acquisition_root": str(acquisition.root.resolve())}
            metadata = run_metadata(started, {k: _plain(v) for k, v in options.items()})
            digest = folder.finish(result, metadata)
        except BaseException as error:
            folder.discard_scratch()
            _discard(staging, created)
            if isinstance(error, EvidenceError | sqlite3.DatabaseError):
                raise UnreadableInputError(f"{path}: {error}") from None
            raise
    final = _final_folder(staging, output, result)
    return CheckOutcome(result, final, digest)


def quiet_collector() -> None:
    """Keeps the cyclic garbage collector from re-scanning the indicator index and the sets.

    A check allocates millions of short-lived objects; each full collection would traverse every
    object alive, the compiled index included. Freezing moves what exists now out of the collector's
    sight (and keeps those pages shared with forked workers); a larger first threshold makes young
    collections rarer. Reference counting still frees everything as usual.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def check_into_case(
    case_dir: Path,
    item: str,
    key_file: Path | None,
    acquisition: Path | None,
    sets: list[IndicatorSet],
    console: Console,
    parameters: dict[str, JSON],
    workers: int,
) -> CheckOutcome:
    """``check --case``: analyse a bundled item and record the analysis, signed, in the bundle."""
    if key_file is None:
        raise UnreadableInputError("--case needs the custodian's --key (or VESTIGE_KEY)")
    from vestige.cli.signing import signing_key  # the custody layer, loaded only for --case
    from vestige.custody.case import CASE_ERRORS, Case
    from vestige.custody.keys import KeyFileError

    try:
        signer = signing_key(key_file)
        with Case(case_dir, for_writing=True) as bundle:
            state = bundle.require_custodian(signer, "analyze")
            acquired = state.items.get(item)
            if acquired is None:
                items = ", ".join(sorted(state.items))
                raise UnreadableInputError(f"{case_dir}: has no item {item!r} (items: {items})")
            if acquired["item"]["by_reference"] and acquisition is None:
                raise UnreadableInputError(f"item {item} is kept by reference: give its location with --acquisition")
            location = acquisition or case_dir / "data" / "acquisition" / item
            staging = bundle.analysis_staging()
            try:
                outcome = run_check(location, staging, sets, console, dict(parameters), workers)
                where = "at --acquisition" if acquisition is not None else "in the bundle"
                _same_files(item, case_dir, staging, where)
                run = orjson.loads((staging / "run.json").read_bytes())
                started, finished = str(run["started"]), str(run["finished"])
                entry = bundle.record_analysis(signer, item, staging, sets, parameters, started, finished)
            finally:
                shutil.rmtree(staging, ignore_errors=True)  # recorded, it has been moved to its numbered folder
    except (KeyFileError, *CASE_ERRORS) as error:
        raise UnreadableInputError(str(error)) from None
    folder = case_dir / "data" / "analysis" / str(entry.record["run"])
    return CheckOutcome(outcome.result, folder, outcome.findings_sha256)


def _same_files(item: str, case_dir: Path, staging: Path, where: str) -> None:
    """An item must be analysed from exactly the files that were acquired (and signed)."""
    manifest = (case_dir / "data" / "items" / item / "manifest.jsonl").read_bytes().splitlines()
    signed = {(entry["path"], entry["sha256"]) for entry in map(orjson.loads, manifest)}
    lines = (staging / "manifest.jsonl").read_bytes().splitlines()
    seen = {
        (entry["stored_as"], entry["sha256"])
        for entry in map(orjson.loads, lines)
        if entry["stored_as"] is not None and entry["sha256"] is not None
    }
    if signed != seen:
        raise UnreadableInputError(f"{item}: the files {where} are not the ones its acquire record signed")


def _plain(value: object) -> JSON:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return str(value)


def _refuse_inside(root: Path, output: Path | None) -> None:
    """Evidence is never written: the output folder may not be inside the acquisition."""
    target = (output if output is not None else Path.cwd()).resolve()
    if target.is_relative_to(root.resolve()):
        where = f"{output}: the output folder" if output is not None else "the working directory"
        raise UnreadableInputError(
            f"{where} is inside the acquisition {root.resolve()}; write the results elsewhere with -o"
        )


def _staging_folder(output: Path | None) -> tuple[Path, bool]:
    """``-o DIR`` must be new or empty; without it, results are staged under a hidden name first.
    Returns the folder and whether this run created it."""
    if output is not None:
        if output.exists() and (not output.is_dir() or any(output.iterdir())):
            raise UnreadableInputError(f"{output}: the output folder exists and is not empty; choose another with -o")
        created = not output.exists()
        output.mkdir(parents=True, exist_ok=True)
        return output, created
    staging = Path.cwd() / f".vestige-partial-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}"
    staging.mkdir()
    return staging, True


def _discard(staging: Path, created: bool) -> None:
    """Removes what a failed run wrote; a folder the user made empty is left, empty."""
    if created:
        shutil.rmtree(staging, ignore_errors=True)
        return
    for child in staging.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _final_folder(staging: Path, output: Path | None, result: Result) -> Path:
    if output is not None:
        return output
    base = Path.cwd() / f"vestige-{result.merkle_root[:12]}"
    target, number = base, 1
    while target.exists():
        number += 1
        target = base.with_name(f"{base.name}-{number}")
    staging.rename(target)
    return target


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output folder (new or empty).")
@click.option(
    "--case",
    "case_dir",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Analyse the item PATH of this case bundle and record the analysis in it (needs --key).",
)
@click.option(
    "--key",
    "key_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    envvar="VESTIGE_KEY",
    help="With --case: the custodian's key file (or VESTIGE_KEY).",
)
@click.option(
    "--acquisition",
    type=click.Path(path_type=Path, exists=True),
    help="With --case: where an item kept by reference is.",
)
@IOC_FILES
@IOC_LISTS
@NO_BUNDLED
@click.option(
    "--fail-on",
    type=click.Choice([s.label for s in Severity]),
    help="Exit 1 when a finding reaches this severity (for scripts).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the location of the results.")
@JOBS
def check(
    path: Path,
    output: Path | None,
    ioc_files: tuple[Path, ...],
    ioc_lists: tuple[tuple[str, Path], ...],
    no_bundled_iocs: bool,
    fail_on: str | None,
    quiet: bool,
    jobs: int,
    case_dir: Path | None,
    key_file: Path | None,
    acquisition: Path | None,
) -> None:
    """Check the acquisition at PATH (an iOS backup folder) against indicators and detectors.

    With --case, PATH is the id of an item of the bundle: the analysis is written into the bundle
    with the exact indicator sets it used, a signed attestation and an 'analyze' custody record.
    """
    console = Console(stderr=True, soft_wrap=True)
    try:
        sets = indicator_sets(ioc_files, not no_bundled_iocs, ioc_lists)
        if case_dir is not None:
            parameters: dict[str, JSON] = {
                "bundled_iocs": not no_bundled_iocs,
                "indicator_sets": [s.name for s in sets],
            }
            outcome = check_into_case(case_dir, str(path), key_file, acquisition, sets, console, parameters, jobs)
        else:
            outcome = run_check(
                path,
                output,
                sets,
                console,
                {
                    "iocs": [str(p) for p in ioc_files],
                    "ioc_lists": [f"{kind}={p}" for kind, p in ioc_lists],
                    "bundled_iocs": not no_bundled_iocs,
                    "fail_on": fail_on,
                    "jobs": jobs,
                },
                workers=jobs,
            )
    except UnreadableInputError as problem:
        console.print(f"[bold red]vestige:[/] {shown(str(problem))}")
        sys.exit(EXIT_UNREADABLE)
    out = Console(soft_wrap=True)
    if quiet:
        out.print(str(outcome.folder))
    else:
        render_summary(out, outcome.result, outcome.folder)
    sys.exit(exit_code(outcome.result, Severity.parse(fail_on) if fail_on else None))
