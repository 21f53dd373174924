"""``vestige report DIR``: (re)write the offline HTML report of an output folder or of a case bundle's analysis.

An output folder's report is written to ``DIR/report.html`` (as ``check`` writes it). A case bundle is
never written into (its files are signed): the report of its analysis (``--run``, by default the latest)
goes to ``-o FILE`` or ``./report-<case>-<run>.html``, and states the custody the bundle records; with
``--trust FILE`` the bundle is verified first (``vestige verify``'s checks) and the report says whether
it verified, against which trust list.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path
from typing import Any

import click

from vestige.cli.console import new_console, print_line, shown
from vestige.evidence.workers import default_workers
from vestige.model import JSON
from vestige.report.findings import FindingsFormatError
from vestige.report.html import REPORT, CustodyStatus, in_case_bundle, write_report

EXIT_REFUSED = 2
RUN = re.compile(r"[0-9]{1,12}")
SHOW_PERSONAL_DATA = click.option(
    "--show-personal-data",
    is_flag=True,
    help="Show personal data (message texts, contacts, page titles, the device's name and number) in report.html.",
)


def personal_data_option(show: bool) -> dict[str, JSON]:
    """``--show-personal-data`` as run.json records it (absent when not given), which report.html follows."""
    return {"show_personal_data": True} if show else {}


class ReportRefusedError(Exception):
    """A folder the report cannot be made from, or a place it may not be written; the message says why."""


@click.command()
@click.argument("directory", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the report (default: DIR/report.html; for a case bundle ./report-<case>-<run>.html).",
)
@click.option("--run", "run", help="With a case bundle: the analysis run to report (default: the latest).")
@click.option(
    "--trust",
    "trust_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="With a case bundle: verify it against this trust list and say so in the report.",
)
@SHOW_PERSONAL_DATA
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=default_workers,
    show_default="one per CPU",
    help="Worker processes; the report is the same for any number.",
)
def report(
    directory: Path,
    output: Path | None,
    run: str | None,
    trust_file: Path | None,
    show_personal_data: bool,
    jobs: int,
) -> None:
    """Write the offline HTML report of an output folder or of a case bundle's analysis (DIR)."""
    try:
        if (directory / "bagit.txt").is_file():
            folder, target, custody = _bundle_report(directory, output, run, trust_file)
        else:
            if run is not None or trust_file is not None:
                raise ReportRefusedError("--run and --trust apply to a case bundle only")
            folder, target, custody = directory, output or directory / REPORT, None
            if in_case_bundle(directory):
                _refuse_inside(directory.resolve().parents[2], target)
        if not (folder / "findings.json").is_file():
            raise ReportRefusedError(f"{folder}: holds no findings.json; give an output folder of vestige check")
        written = write_report(folder, target, show_personal_data=show_personal_data, custody=custody, workers=jobs)
    except (ReportRefusedError, FindingsFormatError) as problem:
        print_line(new_console(stderr=True), f"[bold red]vestige:[/] {shown(str(problem))}")
        sys.exit(EXIT_REFUSED)
    except OSError as error:
        where = error.filename or directory
        print_line(new_console(stderr=True), f"[bold red]vestige:[/] {shown(f'{where}: {error.strerror or error}')}")
        sys.exit(EXIT_REFUSED)
    print_line(new_console(), f"Report: [bold]{shown(str(written))}[/]")


def _bundle_report(
    root: Path, output: Path | None, run: str | None, trust_file: Path | None
) -> tuple[Path, Path, CustodyStatus]:
    """The analysis folder of a bundle, where its report goes, and the custody it records."""
    from vestige.custody.case import CASE_ERRORS, Case
    from vestige.custody.log import LogError

    try:
        with Case(root) as bundle:
            case = bundle.case_id
            entries = [entry.record for entry in bundle.log.entries()]
    except (*CASE_ERRORS, LogError) as error:
        raise ReportRefusedError(str(error)) from None
    analyses = [record for record in entries if record.get("action") == "analyze"]
    if not analyses:
        raise ReportRefusedError(f"{root}: the bundle records no analysis; run vestige check --case first")
    chosen = analyses[-1] if run is None else next((r for r in analyses if str(r.get("run")) == run), None)
    if chosen is None:
        runs = ", ".join(str(r.get("run")) for r in analyses)
        raise ReportRefusedError(f"{root}: records no analysis {run!r} (analyses: {runs})")
    number = str(chosen.get("run"))
    if not RUN.fullmatch(number):  # the log names a folder of the bundle: never a path out of it
        raise ReportRefusedError(f"{root}: the analysis record names the run {number!r}, which is not a run number")
    folder = root / "data" / "analysis" / number
    target = output if output is not None else Path.cwd() / f"report-{_file_part(case)}-{_file_part(number)}.html"
    if target.resolve().is_relative_to(root.resolve()):
        raise ReportRefusedError(
            f"{target}: inside the case bundle, whose files are signed; write the report elsewhere"
        )
    statements = custody_statements(entries, chosen, folder)
    status = CustodyStatus(case=case, run=number, statements=tuple(statements))
    if trust_file is not None:
        status = _verified(root, trust_file, status, chosen)
    return folder, target, status


def _refuse_inside(root: Path, target: Path) -> None:
    """Refuses a report written into a case bundle: every file of it is signed or listed."""
    if target.resolve().is_relative_to(root.resolve()):
        raise ReportRefusedError(
            f"{target}: inside the case bundle {root}, whose files are signed; give the bundle and -o FILE elsewhere"
        )


def _file_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:64] or "_"


def _who(record: dict[str, Any]) -> str:
    actor = record.get("actor")
    if not isinstance(actor, dict):
        return "an unnamed actor"
    return f"{actor.get('handle', '?')} (key {actor.get('key', '?')})"


def _when(record: dict[str, Any]) -> str:
    time = record.get("time")
    return f"{time.get('utc', '?')} by the host's clock" if isinstance(time, dict) else "an unrecorded time"


def custody_statements(entries: list[dict[str, Any]], analysis: dict[str, Any], folder: Path) -> list[str]:
    """What the custody log says of the case and of this analysis, as the bundle states it."""
    out: list[str] = []
    if entries and entries[0].get("action") == "open":
        out.append(f"The case was opened by {_who(entries[0])} at {_when(entries[0])}.")
    item = analysis.get("item")
    item_id = item.get("id", "?") if isinstance(item, dict) else "?"
    out.append(
        f"Analysis {analysis.get('run')} of item {item_id} was recorded by {_who(analysis)} at {_when(analysis)}."
    )
    digests = analysis.get("digests")
    recorded = digests.get("findings_sha256") if isinstance(digests, dict) else None
    findings = folder / "findings.json"
    if isinstance(recorded, str) and findings.is_file():
        actual = hashlib.sha256(findings.read_bytes()).hexdigest()
        out.append(
            f"The findings.json this report was made from has the SHA-256 the analysis record states ({recorded})."
            if actual == recorded
            else f"The findings.json this report was made from ({actual}) is NOT the one the analysis record states "
            f"({recorded})."
        )
    for record in entries:
        if record.get("action") in ("verify", "transfer", "receive", "seal", "unseal"):
            note = f": {record['note']}" if record.get("note") else ""
            out.append(f"{str(record.get('action')).capitalize()} recorded by {_who(record)} at {_when(record)}{note}.")
    out.append(f"The custody log holds {len(entries)} records.")
    return out


def _verified(root: Path, trust_file: Path, status: CustodyStatus, analysis: dict[str, Any]) -> CustodyStatus:
    """``status`` with the outcome of verifying the bundle against the trust list."""
    from dataclasses import replace

    from vestige.custody.keys import KeyFileError, load_trust_list
    from vestige.custody.verify import WARNING, verify_case

    try:
        trusted = load_trust_list(trust_file)
    except KeyFileError as error:
        raise ReportRefusedError(str(error)) from None
    outcome = verify_case(root, trusted)
    failed = tuple(f"{c.area}: {c.message}" for c in outcome.checks if not c.ok)
    actor = analysis.get("actor")
    key = str(actor.get("key", "")) if isinstance(actor, dict) else ""
    signer = (
        f"The analysis record is signed by the key your trust list names {trusted[key].name!r}."
        if key in trusted
        else "The analysis record's key is not in your trust list."
    )
    return replace(
        status,
        verified=outcome.exit_code in (0, WARNING),
        trust=hashlib.sha256(trust_file.read_bytes()).hexdigest(),
        checks=failed,
        statements=(*status.statements, signer),
    )
