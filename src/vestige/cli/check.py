"""``vestige check PATH...``: analyse acquisitions offline and write the output folder."""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from vestige.analysis import Result
from vestige.cli.console import ProgressBar, new_console, print_line, render_summary, shown
from vestige.cli.report import SHOW_PERSONAL_DATA, personal_data_option
from vestige.evidence.budget import LIMITS, Limits, parse_limit
from vestige.evidence.workers import default_workers
from vestige.indicators.plain import TYPES_BY_STEM
from vestige.model import JSON, Severity
from vestige.pipeline import InputError, check_case_item, load_indicator_sets, run_check
from vestige.platforms import PlatformError, Registry
from vestige.report.findings import read_findings
from vestige.report.rayhunter import RAYHUNTER_NDJSON, write_rayhunter

if TYPE_CHECKING:
    from vestige.custody.keys import SigningKey

EXIT_COMPLETE = 0
EXIT_FINDINGS = 1
EXIT_UNREADABLE = 2
EXIT_INCOMPLETE = 3


def exit_code(result: Result, fail_on: Severity | None) -> int:
    """1 when a finding reaches ``--fail-on``, else 3 when artifacts were unreadable, else 0."""
    if fail_on is not None and any(f.severity >= fail_on for f in result.findings):
        return EXIT_FINDINGS
    return EXIT_COMPLETE if result.complete else EXIT_INCOMPLETE


def registry() -> Registry:
    """The platforms of this run; a plug-in that cannot be loaded is refused with exit code 2."""
    try:
        return Registry.discover()
    except PlatformError as error:
        raise InputError(str(error)) from None


def refuse(console: Console, problem: Exception) -> None:
    print_line(console, f"[bold red]vestige:[/] {shown(str(problem))}")
    sys.exit(EXIT_UNREADABLE)


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


RECORDABLE = 2**53 - 1
"""The largest limit that run.json and a case's signed parameters record exactly (I-JSON, RFC 7493)."""


def chosen_limits(_: click.Context, __: click.Parameter, texts: tuple[str, ...]) -> Limits:
    """The limits of each artifact task: the defaults, changed by each ``--limit NAME=VALUE``."""
    limits = Limits()
    for text in texts:
        try:
            limits = parse_limit(text, limits)
        except ValueError as error:
            raise click.BadParameter(str(error)) from None
        if any(not getattr(limits, name.replace("-", "_")) <= RECORDABLE for name in LIMITS):
            raise click.BadParameter(f"{text!r}: a limit may be at most {RECORDABLE}")
    return limits


LIMIT = click.option(
    "--limit",
    "limits",
    multiple=True,
    metavar="NAME=VALUE",
    callback=chosen_limits,
    help=f"Change a limit of each artifact task (repeatable): {', '.join(LIMITS)}; e.g. --limit seconds=3600 "
    "--limit memory=8G. See the README's Limits.",
)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
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
@click.option(
    "-v", "--verbose", is_flag=True, help="Print each finding in full: explanation, caveats, evidence, indicators."
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(["rayhunter"]),
    help="Also write the cellular findings in another tool's format into the output folder: rayhunter writes "
    "rayhunter.ndjson (Rayhunter's analysis report, version 2).",
)
@JOBS
@LIMIT
@SHOW_PERSONAL_DATA
def check(
    paths: tuple[Path, ...],
    output: Path | None,
    ioc_files: tuple[Path, ...],
    ioc_lists: tuple[tuple[str, Path], ...],
    no_bundled_iocs: bool,
    fail_on: str | None,
    quiet: bool,
    verbose: bool,
    jobs: int,
    case_dir: Path | None,
    key_file: Path | None,
    acquisition: Path | None,
    limits: Limits,
    show_personal_data: bool,
    formats: tuple[str, ...] = (),
) -> None:
    """Check the acquisitions at PATHS (of one device: an iOS backup, an archive of one, ...) against
    indicators and detectors; findings that join them are made across all of them.

    With --case, PATH is the id of an item of the bundle: the analysis is written into the bundle
    with the exact indicator sets it used, a signed attestation and an 'analyze' custody record.
    """
    console = new_console(stderr=True)
    try:
        sets = load_indicator_sets(ioc_files, not no_bundled_iocs, ioc_lists)
        platforms = registry()
        if formats and case_dir is not None:
            raise InputError("--format writes into the output folder of a check, not into a case bundle")
        signer = _case_signer(key_file, paths) if case_dir is not None else None
        with ProgressBar(console) as progress:
            if case_dir is not None:
                assert signer is not None
                parameters: dict[str, JSON] = {
                    "bundled_iocs": not no_bundled_iocs,
                    "indicator_sets": [s.name for s in sets],
                    **personal_data_option(show_personal_data),
                }
                item = str(paths[0])
                outcome = check_case_item(
                    case_dir, item, signer, acquisition, sets, platforms, parameters, progress, jobs, limits
                )
            else:
                options: dict[str, JSON] = {
                    "iocs": [str(p) for p in ioc_files],
                    "ioc_lists": [f"{kind}={p}" for kind, p in ioc_lists],
                    "bundled_iocs": not no_bundled_iocs,
                    "fail_on": fail_on,
                    "jobs": jobs,
                    **personal_data_option(show_personal_data),
                }
                outcome = run_check(list(paths), output, sets, platforms, options, progress, jobs, limits)
    except InputError as problem:
        refuse(console, problem)
    out = new_console()
    written = None
    if "rayhunter" in formats:
        try:
            written = _rayhunter(outcome.folder)
        except OSError as error:
            refuse(console, InputError(f"{error.filename or RAYHUNTER_NDJSON}: cannot be written ({error.strerror})"))
    if quiet:
        print_line(out, shown(str(outcome.folder)))
    else:
        render_summary(out, outcome.result, outcome.folder, verbose)
        if written is not None:
            print_line(out, written)
    # The process ends here: the collector's last full pass at exit, over the index and every set the
    # run held, would only cost time.
    gc.disable()
    sys.exit(exit_code(outcome.result, Severity.parse(fail_on) if fail_on else None))


def _rayhunter(folder: Path) -> str:
    """Writes rayhunter.ndjson into the output folder, from its findings.json read back as the typed document."""
    document = read_findings((folder / "findings.json").read_bytes(), str(folder / "findings.json"))
    target = folder / RAYHUNTER_NDJSON
    partial = folder / f".{RAYHUNTER_NDJSON}.partial"
    with partial.open("wb") as stream:
        count = write_rayhunter(document, stream)
    partial.replace(target)
    return f"Rayhunter NDJSON: [bold]{shown(str(target))}[/] ({count.rows} rows, {count.findings} cellular findings)"


def _case_signer(key_file: Path | None, paths: tuple[Path, ...]) -> SigningKey:
    """The custodian's key for ``check --case DIR ITEM``: loaded (and its passphrase asked for) before
    any progress is drawn; the custody layer is imported only here."""
    if key_file is None:
        raise InputError("--case needs the custodian's --key (or VESTIGE_KEY)")
    if len(paths) != 1:
        raise InputError("--case takes the id of one item of the bundle")
    from vestige.cli.signing import signing_key
    from vestige.custody.keys import KeyFileError

    try:
        return signing_key(key_file)
    except KeyFileError as error:
        raise InputError(str(error)) from None
