"""The jobs the CLI runs on top of the engine: a check written to an output folder, the check of a
case item recorded in its bundle, and the re-run of a recorded analysis for ``verify --reproduce``.

A check opens each acquisition through the registry, refuses an output folder inside any of them
(evidence is never written), stages its output (under a hidden name when no ``-o`` is given, so a
run that stops leaves nothing behind), runs the engine under the chosen limits with the garbage
collector tuned for the run and restored after it, writes the output folder and names it. Nothing
here prints: the CLI renders.

Whatever stops a run (an interrupt, a disk that fills, an output folder removed under it) removes
what the run wrote; a problem of the environment (an output folder that cannot be made, an error
writing it, a file that cannot be read outside any artifact) becomes ``InputError``: one sentence
naming the path, exit code 2, never a traceback.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from vestige.analysis import DEFAULT_LIMITS, OutputWriteError, Progress, Result, analyse, failed_path
from vestige.evidence.acquisition import Acquisition
from vestige.evidence.budget import LIMITS, Limits
from vestige.evidence.errors import EvidenceError
from vestige.evidence.sources import name_text
from vestige.evidence.workers import results_kept
from vestige.indicators import IndicatorFormatError, IndicatorIndex, IndicatorSet, bundled_sets, load_indicator_set
from vestige.indicators.plain import TYPES_BY_STEM
from vestige.model import JSON
from vestige.platforms import Registry
from vestige.report.findings import canonical_findings
from vestige.report.folder import OutputFolder, run_metadata

if TYPE_CHECKING:
    from vestige.custody.keys import SigningKey


class InputError(Exception):
    """Input a job cannot start on (no such acquisition, a non-empty output folder, an unreadable
    indicator file, ...): one sentence naming the file and the problem."""


@dataclass(frozen=True)
class CheckOutcome:
    result: Result
    folder: Path
    findings_sha256: str


def load_indicator_sets(
    ioc_files: Sequence[Path], bundled: bool, ioc_lists: Sequence[tuple[str, Path]] = ()
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
            raise InputError(str(error)) from None
    return sets


@contextmanager
def tuned_collector() -> Iterator[None]:
    """Keeps the cyclic garbage collector from re-scanning the indicator index and the sets during a
    run, and restores it after.

    A check allocates millions of short-lived objects; each full collection would traverse every
    object alive, the compiled index included. Freezing moves what exists now out of the collector's
    sight (and keeps those pages shared with forked workers); a larger first threshold makes young
    collections rarer. Reference counting still frees everything as usual.
    """
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@contextmanager
def temporary_root() -> Iterator[Path | None]:
    """For the process that runs one command (the CLI): every temporary folder made while the body
    runs, here or in a worker forked from here, is made inside one private folder, removed at the end
    whatever ends the command. Each part removes its own folders; this is what makes sure, when an
    interrupt or a full disk cuts a clean-up short. Sets the process's ``tempfile.tempdir`` (restored
    after): for a process's owner only, never for a library call."""
    try:
        root = Path(tempfile.mkdtemp(prefix="vestige-run-"))
    except OSError:  # no temporary folder at all: whatever needs one says so itself
        yield None
        return
    previous, tempfile.tempdir = tempfile.tempdir, str(root)
    try:
        yield root
    finally:
        tempfile.tempdir = previous
        shutil.rmtree(root, ignore_errors=True)


def open_acquisitions(paths: Sequence[Path], registry: Registry, stack: ExitStack) -> list[Acquisition]:
    """The reader of each path, closed with ``stack``; refuses what no platform reads, or cannot open."""
    acquisitions: list[Acquisition] = []
    for path in paths:
        try:
            acquisitions.append(stack.enter_context(registry.open(path)))
        except EvidenceError as error:
            raise InputError(str(error)) from None
        except OSError as error:  # a path too long, a folder that cannot be listed
            raise InputError(f"{path}: cannot be read ({error.strerror or error})") from None
    return acquisitions


def run_check(
    paths: Sequence[Path],
    output: Path | None,
    sets: list[IndicatorSet],
    registry: Registry,
    options: dict[str, JSON],
    progress: Progress | None = None,
    workers: int = 1,
    limits: Limits = DEFAULT_LIMITS,
) -> CheckOutcome:
    """Analyses the acquisitions at ``paths`` (of one device) into ``output`` (or a new folder in the
    working directory) under ``limits`` (recorded in run.json's options); nothing is left behind when
    the run stops, whatever stops it."""
    started = datetime.now(timezone.utc)
    index = IndicatorIndex(sets)
    with ExitStack() as stack:
        acquisitions = open_acquisitions(paths, registry, stack)
        staging, created = _output_folder([a.source.location for a in acquisitions], output)
        folder: OutputFolder | None = None
        try:
            folder = OutputFolder(staging, workers)
            with tuned_collector():
                result = analyse(
                    acquisitions, registry, index, sets, folder, progress=progress, workers=workers, limits=limits
                )
            where: dict[str, JSON] = {
                "inputs": [_shown(path) for path in paths],
                "acquisitions": [
                    {"kind": a.kind, "location": _shown(a.source.location), "within": a.source.prefix}
                    for a in acquisitions
                ],
                "limits": limits_record(limits),
            }
            digest = folder.finish(result, run_metadata(started, {**options, **where}))
            results_kept()  # complete: a signal from now on has nothing to undo
            final = _final_folder(staging, output, result)
        except BaseException as error:
            if folder is not None:
                folder.discard_scratch()
            _discard(staging, created)
            if isinstance(error, EvidenceError | sqlite3.DatabaseError):
                raise InputError(f"{', '.join(map(str, paths))}: {error}") from None
            if isinstance(error, OutputWriteError | OSError):
                raise InputError(f"{_environment(error, staging)}; the check stopped and kept no output") from None
            raise
    return CheckOutcome(result, final, digest)


def limits_record(limits: Limits) -> dict[str, JSON]:
    """The limits of a run as recorded (run.json, the parameters of a case's analysis), by the names
    ``--limit`` takes: every limit, so that a re-run uses these and not the defaults of its day."""
    return {name: getattr(limits, name.replace("-", "_")) for name in LIMITS}


def recorded_limits(record: JSON) -> Limits:
    """The limits ``limits_record`` recorded (the defaults for a run recorded before limits were);
    ``ValueError`` when the record is not one."""
    if record is None:
        return Limits()
    if not isinstance(record, dict) or not set(record) <= set(LIMITS):
        raise ValueError(f"the recorded limits {record!r} are not limits this version knows")
    values: dict[str, Any] = {}
    for name, value in record.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"the recorded limit {name}={value!r} is not a positive number")
        values[name.replace("-", "_")] = value if name == "seconds" else int(value)
    return dataclasses.replace(Limits(), **values)


def check_case_item(
    case_dir: Path,
    item: str,
    signer: SigningKey,
    location: Path | None,
    sets: list[IndicatorSet],
    registry: Registry,
    parameters: dict[str, JSON],
    progress: Progress | None = None,
    workers: int = 1,
    limits: Limits = DEFAULT_LIMITS,
) -> CheckOutcome:
    """``check --case``: analyses a bundled item (or, kept by reference, the copy at ``location``) and
    records the analysis, signed, in the bundle, its limits among its parameters (``verify
    --reproduce`` runs it again under the same). The item must be read from exactly the files its
    ``acquire`` record signed."""
    from vestige.custody.case import CASE_ERRORS, Case  # the custody layer, loaded only for --case

    parameters = {**parameters, "limits": limits_record(limits)}
    try:
        with Case(case_dir, for_writing=True) as bundle:
            state = bundle.require_custodian(signer, "analyze")
            acquired = state.items.get(item)
            if acquired is None:
                items = ", ".join(sorted(state.items))
                raise InputError(f"{case_dir}: has no item {item!r} (items: {items})")
            if acquired["item"]["by_reference"] and location is None:
                raise InputError(f"item {item} is kept by reference: give its location with --acquisition")
            source = location or bundle.item_location(item)
            staging = bundle.analysis_staging()
            try:
                outcome = run_check([source], staging, sets, registry, dict(parameters), progress, workers, limits)
                where = "at --acquisition" if location is not None else "in the bundle"
                bundle.require_acquired_files(item, staging / "manifest.jsonl", where)
                run = orjson.loads((staging / "run.json").read_bytes())
                started, finished = str(run["started"]), str(run["finished"])
                entry = bundle.record_analysis(signer, item, staging, sets, parameters, started, finished)
            finally:
                shutil.rmtree(staging, ignore_errors=True)  # recorded, it has been moved to its numbered folder
    except CASE_ERRORS as error:
        raise InputError(str(error)) from None
    folder = case_dir / "data" / "analysis" / str(entry.record["run"])
    return CheckOutcome(outcome.result, folder, outcome.findings_sha256)


Reanalyse = Callable[[str, Path], bytes]


def reanalysis(registry: Registry, references: dict[str, Path]) -> Reanalyse:
    """How ``verify --reproduce`` runs a recorded analysis again: on the bundled item (or the copy of
    an item kept by reference given in ``references``), with the indicator sets the bundle pinned;
    returns the findings.json a fresh run gives."""
    from vestige.custody.case import Case, analysis_parameters, pinned_sets
    from vestige.custody.dsse import EnvelopeError
    from vestige.custody.verify import ReproductionUnavailableError

    def reanalyse(run: str, root: Path) -> bytes:
        bundle = Case(root)
        sets = pinned_sets(root, root / "data" / "analysis" / run)
        try:
            limits = recorded_limits(analysis_parameters(root, run).get("limits"))
        except (OSError, ValueError, EnvelopeError) as error:  # the attestation's own check reports why
            raise ReproductionUnavailableError(f"its recorded limits cannot be read ({error})") from None
        record = next(a for a in bundle.state().analyses if str(a.get("run")) == run)
        item = str(record["item"]["id"])
        location = references.get(item)
        if location is None:
            if record["item"].get("by_reference"):
                raise ReproductionUnavailableError(f"item {item} is kept by reference; give --acquisition {item}=PATH")
            location = bundle.item_location(item)
        with ExitStack() as stack:
            try:
                acquisitions = open_acquisitions([location], registry, stack)
            except InputError as error:
                raise ReproductionUnavailableError(str(error)) from None
            with tuned_collector():
                result = analyse(acquisitions, registry, IndicatorIndex(sets), sets, limits=limits)
        return canonical_findings(result)

    return reanalyse


def _shown(path: Path) -> str:
    """A path as text run.json can hold (bytes of a name that is not UTF-8 as ``\\xNN``)."""
    return name_text(str(path.resolve()))[0]


def _output_folder(locations: Sequence[Path], output: Path | None) -> tuple[Path, bool]:
    """The folder the run writes to, made ready, and whether this run created it; ``InputError`` names
    the path when it cannot be used (inside an acquisition, not empty, not a folder, not writable)."""
    where = f"{output}: the output folder" if output is not None else "the working directory"
    target = _resolved(output if output is not None else Path(), where, "choose another with -o")
    for location in locations:
        root = _resolved(location, f"{location}: the acquisition", "move it to a shorter path")
        if target == root or (root.is_dir() and target.is_relative_to(root)):
            raise InputError(f"{where} is inside the acquisition {root}; write the results elsewhere with -o")
    try:
        return _staging_folder(output)
    except OSError as error:
        raise InputError(f"{where} cannot be written ({error.strerror or error}); choose another with -o") from None


def _resolved(path: Path, what: str, remedy: str) -> Path:
    """``path`` made absolute, its links followed (evidence is never written: the output folder is
    compared with each acquisition's real place); ``InputError`` when the system cannot (a path longer
    than it allows, a loop of links, a working directory removed)."""
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as error:  # RuntimeError: a loop of symbolic links (Python < 3.13)
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise InputError(f"{what} cannot be given as a full path ({reason}); {remedy}") from None
    if len(os.fsencode(resolved)) >= PATH_MAX:  # each file in it would be refused by the system, one by one
        raise InputError(f"{what} has a full path longer than the system allows ({PATH_MAX} bytes); {remedy}")
    return resolved


PATH_MAX = os.pathconf("/", "PC_PATH_MAX") if hasattr(os, "pathconf") else 4096
"""The longest path the system opens, in bytes with the final NUL (4096 on Linux)."""


def _staging_folder(output: Path | None) -> tuple[Path, bool]:
    """``-o DIR`` must be new or empty; without it, results are staged under a hidden name first.
    Returns the folder and whether this run created it."""
    if output is not None:
        if output.is_symlink() and not output.exists():
            target = output.readlink()
            raise InputError(f"{output}: a symbolic link to {target}, which does not exist; choose another with -o")
        if output.exists() and (not output.is_dir() or any(output.iterdir())):
            raise InputError(f"{output}: the output folder exists and is not empty; choose another with -o")
        created = not output.exists()
        output.mkdir(parents=True, exist_ok=True)
        return output, created
    staging = Path.cwd() / f".vestige-partial-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}"
    staging.mkdir()
    return staging, True


def _discard(staging: Path, created: bool) -> None:
    """Removes what a failed run wrote; a folder the user made empty is left, empty. Never raises: the
    error that stopped the run is the one to report (the folder may be gone already)."""
    if created:
        shutil.rmtree(staging, ignore_errors=True)
        return
    with suppress(OSError):
        for child in staging.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def _environment(error: OutputWriteError | OSError, folder: Path) -> str:
    """One sentence for an error of the environment: the path, and what the system said. An error that
    names no file arose writing: in the output ``folder``, most likely."""
    if isinstance(error, OutputWriteError):
        return str(error)
    return f"{failed_path(error) or f'writing in {folder}'}: {error.strerror or error}"


def _final_folder(staging: Path, output: Path | None, result: Result) -> Path:
    """``-o DIR``, or ``vestige-<first 12 hex of the Merkle root>`` (of the roots' digest for several
    acquisitions), numbered when it exists."""
    if output is not None:
        return output
    roots = [a.merkle_root for a in result.acquisitions]
    label = roots[0] if len(roots) == 1 else hashlib.sha256("\n".join(roots).encode()).hexdigest()
    base = Path.cwd() / f"vestige-{label[:12]}"
    target, number = base, 1
    while target.exists():
        number += 1
        target = base.with_name(f"{base.name}-{number}")
    staging.rename(target)
    return target
