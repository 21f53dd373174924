"""Commands of the chain of custody: ``key``, ``case``, ``verify`` and ``disclose``."""

from __future__ import annotations

import contextlib
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson
from rich.console import Console

from vestige.cli.check import registry
from vestige.cli.console import json_visible, new_console, print_line, shown
from vestige.cli.signing import passphrase
from vestige.cli.signing import signing_key as open_key
from vestige.custody.case import CASE_ERRORS, SIMPLE_ACTIONS, Case, CaseError
from vestige.custody.checkpoint import Checkpoint, CheckpointError, current_checkpoint, parse_checkpoint
from vestige.custody.disclose import DOCUMENT, disclose, verify_disclosure
from vestige.custody.keys import (
    KeyFileError,
    PublicKey,
    SigningKey,
    generate,
    load_trust_list,
    public_key_of,
    save_key,
)
from vestige.custody.verify import WARNING, Report, verify_case
from vestige.evidence.errors import EvidenceError
from vestige.pipeline import InputError, reanalysis
from vestige.platforms import Registry

EXIT_USAGE = 2
F = TypeVar("F", bound=Callable[..., Any])

KEY_OPTION = click.option(
    "--key",
    "key_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    envvar="VESTIGE_KEY",
    required=True,
    help="The acting custodian's key file (or VESTIGE_KEY); its passphrase from VESTIGE_KEY_PASSPHRASE or a prompt.",
)
NOTE_OPTION = click.option("--note", default="", help="A note recorded in the custody log.")


def refuse(message: str) -> None:
    print_line(new_console(stderr=True), f"[bold red]vestige:[/] {one_line(message)}")
    sys.exit(EXIT_USAGE)


def signing_key(path: Path) -> SigningKey:
    try:
        return open_key(path)
    except KeyFileError as error:
        refuse(str(error))
        raise AssertionError from error


def open_case(path: Path) -> Case:
    try:
        return Case(path, for_writing=True)
    except CaseError as error:
        refuse(str(error))
        raise AssertionError from error


def platforms() -> Registry:
    try:
        return registry()
    except InputError as error:
        refuse(str(error))
        raise AssertionError from error


def guarded(action: Callable[[], object], bundle: Case | None = None) -> None:
    """Runs a case operation, turning refusals into one sentence and exit code 2; releases the
    bundle's lock either way."""
    try:
        action()
    except (*CASE_ERRORS, KeyFileError, EvidenceError) as error:
        refuse(str(error))
    finally:
        if bundle is not None:
            bundle.close()


@click.group()
def key() -> None:
    """Examiners' Ed25519 keys."""


@key.command("new")
@click.option("--name", required=True, help="The custodian's name or pseudonymous handle.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Key file (default ./<name>.key).")
def key_new(name: str, output: Path | None) -> None:
    """Make a key pair; the private key is written 0600, encrypted with a passphrase."""
    target = output or Path(f"{name}.key")

    def make() -> None:
        signing = generate(name)
        save_key(signing, target, passphrase(confirm=True))
        print_line(
            new_console(),
            f"{shown(str(target))}\n{shown(signing.public.trust_line())}\n"
            f"fingerprint {shown(signing.public.fingerprint)}",
        )

    guarded(make)


@key.command("export")
@click.argument("key_file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def key_export(key_file: Path) -> None:
    """Print the public key of KEY_FILE as a trust-list line."""
    guarded(lambda: print_line(new_console(), shown(public_key_of(key_file).trust_line())))


@click.group()
def case() -> None:
    """Case bundles: a BagIt bag with a signed, hash-chained custody log."""


@case.command("new")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--case-id", required=True)
@click.option("--examiner", "key_file", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True)
@click.option("--organisation", default=None, help="Recorded as Source-Organization in bag-info.txt.")
def case_new(bundle: Path, case_id: str, key_file: Path, organisation: str | None) -> None:
    """Create a new case bundle in BUNDLE, in the custody of the examiner."""
    examiner = signing_key(key_file)
    guarded(lambda: Case.create(bundle, case_id, examiner, organisation).close())
    print_line(
        new_console(), f"Case {shown(case_id)} opened in {shown(str(bundle))} by {shown(examiner.public.fingerprint)}"
    )


@case.command("add")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.argument("acquisition", type=click.Path(path_type=Path))
@click.option("--item-id", required=True)
@click.option(
    "--consent", type=click.Path(path_type=Path, exists=True, dir_okay=False), help="Recorded by digest only."
)
@click.option("--by-reference", is_flag=True, help="Keep only the file list and hashes; the evidence stays elsewhere.")
@NOTE_OPTION
@KEY_OPTION
def case_add(
    bundle: Path, acquisition: Path, item_id: str, consent: Path | None, by_reference: bool, note: str, key_file: Path
) -> None:
    """Take ACQUISITION (a folder, a file or an archive) into the bundle as an item and sign an 'acquire'
    record."""
    bag, signer = open_case(bundle), signing_key(key_file)

    def add() -> None:
        entry = bag.add(
            acquisition, item_id, signer, platforms(), consent=consent, note=note, by_reference=by_reference
        )
        digests = entry.record["digests"]
        print_line(
            new_console(),
            f"Item {shown(item_id)}: {shown(str(entry.record['files']))} files, {shown(str(entry.record['size']))} "
            f"bytes, Merkle root {shown(str(digests['merkle_root']))} (record {entry.seq})",
        )

    guarded(add, bag)


@case.command("transfer")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option(
    "--to",
    "receiver",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    required=True,
    help="The receiver's public key (a trust-list line or a key file).",
)
@NOTE_OPTION
@KEY_OPTION
def case_transfer(bundle: Path, receiver: Path, note: str, key_file: Path) -> None:
    """Hand the bundle over: signed now by you, countersigned when the receiver runs 'receive'."""
    bag, signer = open_case(bundle), signing_key(key_file)
    guarded(lambda: bag.transfer(signer, public_key_of(receiver), note), bag)


@case.command("receive")
@click.argument("bundle", type=click.Path(path_type=Path))
@NOTE_OPTION
@KEY_OPTION
def case_receive(bundle: Path, note: str, key_file: Path) -> None:
    """Accept a pending transfer: countersign it and become the custodian."""
    bag, signer = open_case(bundle), signing_key(key_file)
    guarded(lambda: bag.receive(signer, note), bag)


def _simple(action: str, summary: str) -> click.Command:
    @click.argument("bundle", type=click.Path(path_type=Path))
    @NOTE_OPTION
    @KEY_OPTION
    def command(bundle: Path, note: str, key_file: Path) -> None:
        bag, signer = open_case(bundle), signing_key(key_file)
        guarded(lambda: bag.simple(signer, action, note), bag)

    command.__doc__ = summary
    return click.command(action)(command)


case.add_command(_simple("seal", "Seal the bundle: only notes, exports and hand-overs until unsealed."))
case.add_command(_simple("unseal", "Unseal the bundle (recorded, with your reason in --note)."))


@case.command("record")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.argument("action", type=click.Choice(sorted(SIMPLE_ACTIONS - {"note", "seal", "unseal", "export"})))
@click.option(
    "--document",
    "documents",
    multiple=True,
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="A document kept outside the bundle, recorded by SHA-256 (repeatable).",
)
@NOTE_OPTION
@KEY_OPTION
def case_record(bundle: Path, action: str, documents: tuple[Path, ...], note: str, key_file: Path) -> None:
    """Record another custody action (consent, hash, verify, copy, store, redact, report, dispose)."""
    bag, signer = open_case(bundle), signing_key(key_file)
    guarded(lambda: bag.simple(signer, action, note, list(documents)), bag)


@case.command("rotate-key")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option(
    "--new-key",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    required=True,
    help="The custodian's new key file (same passphrase variable or prompt).",
)
@NOTE_OPTION
@KEY_OPTION
def case_rotate_key(bundle: Path, new_key: Path, note: str, key_file: Path) -> None:
    """Move the custody to a new key; the record is signed by the old and the new key."""
    bag, signer, new = open_case(bundle), signing_key(key_file), signing_key(new_key)
    guarded(lambda: bag.rotate_key(signer, new, note), bag)


@case.command("note")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.argument("text")
@KEY_OPTION
def case_note(bundle: Path, text: str, key_file: Path) -> None:
    """Record a signed note in the custody log."""
    bag, signer = open_case(bundle), signing_key(key_file)
    guarded(lambda: bag.simple(signer, "note", text), bag)


@case.command("export")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option(
    "--case-uco", "target", type=click.Path(path_type=Path), required=True, help="CASE/UCO JSON-LD file to write."
)
@KEY_OPTION
def case_export(bundle: Path, target: Path, key_file: Path) -> None:
    """Export the custody history as CASE/UCO JSON-LD (also kept as data/export/case.jsonld)."""
    bag, signer = open_case(bundle), signing_key(key_file)

    def export() -> None:
        bag.export_case_uco(signer, target)
        print_line(new_console(), shown(str(target)))

    guarded(export, bag)


@case.command("timestamp")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--tsa", "url", help="The time-stamping authority's URL (the only network use of this command).")
@click.option(
    "--tsa-cert",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="PEM file of the TSA's certificate chain, used to check the token.",
)
@click.option(
    "--response",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="A token obtained elsewhere for the request this command wrote earlier.",
)
@KEY_OPTION
def case_timestamp(bundle: Path, url: str | None, tsa_cert: Path | None, response: Path | None, key_file: Path) -> None:
    """Anchor the latest checkpoint with an RFC 3161 timestamp (offline: write the request for later)."""
    bag, signer = open_case(bundle), signing_key(key_file)

    def anchor() -> None:
        anchored = bag.timestamp(signer, url=url, tsa_chain=tsa_cert, response=response)
        if isinstance(anchored, Path):
            message = f"wrote {anchored}; send it to a TSA, then run this again with --response TOKEN --tsa-cert PEM"
        else:
            fields = anchored.record
            message = f"anchored {fields['checkpoint']}: the log existed before {fields['gen_time']} ({fields['tsa']})"
        print_line(new_console(), shown(message))

    guarded(anchor, bag)


@case.command("checkpoint")
@click.argument("bundle", type=click.Path(path_type=Path, exists=True, file_okay=False))
def case_checkpoint(bundle: Path) -> None:
    """Print the custody log's tree head as SIZE:ROOT, to hand to whoever must later detect a rollback
    with 'vestige verify --since SIZE:ROOT'."""
    try:
        head = current_checkpoint(bundle)
    except CheckpointError as error:
        refuse(str(error))
        raise AssertionError from error
    click.echo(head.line())


def since_checkpoint(_: click.Context, __: click.Parameter, value: str | None) -> Checkpoint | None:
    if value is None:
        return None
    try:
        return parse_checkpoint(value)
    except CheckpointError as error:
        refuse(f"--since: {error}")
        raise AssertionError from error


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--trust", "trust_file", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True)
@click.option("--reproduce", is_flag=True, help="Run each analysis again and compare the findings.json digest.")
@click.option(
    "--acquisition",
    "references",
    multiple=True,
    metavar="ITEM=PATH",
    help="Where an item kept by reference is, for --reproduce.",
)
@click.option(
    "--tsa-roots",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="PEM file of the TSA root certificates you trust, to check timestamp tokens against.",
)
@click.option(
    "--since",
    metavar="SIZE:ROOT",
    callback=since_checkpoint,
    help="A checkpoint you were given earlier ('vestige case checkpoint'): the log must extend it (rollback check).",
)
@click.option("--json", "as_json", is_flag=True, help="A JSON report on standard output.")
def verify(
    bundle: Path,
    trust_file: Path,
    reproduce: bool,
    references: tuple[str, ...],
    tsa_roots: Path | None,
    since: Checkpoint | None,
    as_json: bool,
) -> None:
    """Verify a case bundle or a disclosure package, offline, against your trust list."""
    try:
        trusted = load_trust_list(trust_file)
    except KeyFileError as error:
        refuse(str(error))
    roots = tsa_roots.read_bytes() if tsa_roots else None
    if _regular(bundle / DOCUMENT):
        report = verify_disclosure(bundle, trusted, roots, since)
    else:
        reanalyse = reanalysis(platforms(), dict(_pair(r) for r in references)) if reproduce else None
        report = verify_case(bundle, trusted, reanalyse, roots, since)
    if as_json:
        document = orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
        sys.stdout.write(json_visible(document) + "\n")
    else:
        render_report(new_console(), report, trusted)
    sys.exit(report.exit_code)


def _regular(path: Path) -> bool:
    """Whether ``path`` is a regular file itself (a link to one is not: the bundle check names it)."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _pair(text: str) -> tuple[str, Path]:
    item, sep, path = text.partition("=")
    if not sep:
        refuse(f"--acquisition {text!r}: expected ITEM=PATH")
    return item, Path(path)


def render_report(console: Console, report: Report, trusted: dict[str, PublicKey]) -> None:
    """One line per check (greppable, never wrapped into a table), then the keys, facts and verdict.
    Every text from the bundle is shown on one line (a line break in a file name is ``\\x0a``, so it
    cannot print a line of its own), and a key's name is the one your trust list gives it: a name
    the bundle gives a key it does not trust is shown as that, a claim."""
    print_line(console, f"[bold]{one_line(report.kind)}[/] {one_line(report.bundle)}")
    for check in report.checks:
        if check.ok:
            result = "[green]ok     [/]"
        else:
            result = "[yellow]warning[/]" if check.code == WARNING else "[bold red]FAIL   [/]"
        print_line(console, f"{result} {one_line(check.area):<13} {one_line(check.message)}")
    for fingerprint, seen in sorted(report.keys.items()):
        known = trusted.get(fingerprint)
        if known is not None:
            print_line(console, f"key {one_line(fingerprint)} {one_line(known.name)}: trusted")
        else:
            claim = (
                f" (the bundle claims it is {one_line(repr(str(seen.get('claimed', ''))))})"
                if seen.get("claimed")
                else ""
            )
            print_line(console, f"key {one_line(fingerprint)}{claim}: NOT in your trust list")
    for name, value in sorted(report.facts.items()):
        print_line(console, f"{one_line(name)}: {one_line(str(value))}")
    print_line(console, f"[bold]{VERDICTS[report.exit_code]}[/] (exit {report.exit_code})")


def one_line(text: str) -> str:
    """Text from a bundle made safe to print as part of one line: bytes of a name that is not UTF-8 as
    ``\\xNN`` (as manifests show them), then every invisible character escaped by ``shown``."""
    with contextlib.suppress(UnicodeEncodeError):  # a lone surrogate of no byte: ``shown`` escapes it
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return shown(text)


VERDICTS = {
    0: "verified",
    1: "integrity failure",
    2: "signature, trust or chain failure",
    3: "reproduction mismatch",
    4: "verified with warnings",
}


@click.command("disclose")
@click.argument("bundle", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--finding", "findings", multiple=True, required=True, help="A finding id (or an unambiguous prefix).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True)
@click.option(
    "--trust",
    "trust_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    required=True,
    help="Your trust list: the bundle must verify against it before anything is disclosed.",
)
@click.option(
    "--tsa-roots",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="PEM file of the TSA root certificates you trust, to check timestamp tokens against.",
)
@KEY_OPTION
def disclose_command(
    bundle: Path, findings: tuple[str, ...], output: Path, trust_file: Path, tsa_roots: Path | None, key_file: Path
) -> None:
    """Make a package with only FINDINGS and the files they cite, verifiable on its own; the bundle is
    verified first."""
    try:
        trusted = load_trust_list(trust_file)
    except KeyFileError as error:
        refuse(str(error))
        raise AssertionError from error
    signer = signing_key(key_file)

    def make() -> None:
        report = disclose(
            bundle, list(findings), output, signer, trusted, tsa_roots.read_bytes() if tsa_roots else None
        )
        console = new_console()
        for check in report.checks:
            if not check.ok:
                print_line(console, f"[yellow]warning[/] {one_line(check.area):<13} {one_line(check.message)}")
        print_line(console, shown(str(output)))

    guarded(make)
