"""The ``vestige`` command: thin click commands over the layers below, rendered with rich."""

from __future__ import annotations

import io
import signal
import sys
import traceback
from typing import Any

import click

from vestige import __version__
from vestige.cli.check import check
from vestige.cli.console import visible
from vestige.cli.demo import demo
from vestige.cli.export import export
from vestige.cli.iocs import iocs
from vestige.cli.report import report
from vestige.evidence.workers import Stopped, StopRequest, stopping_on_signals
from vestige.pipeline import temporary_root

EXIT_INTERNAL = 70  # EX_SOFTWARE (sysexits.h): a defect in vestige, not in the input
EXIT_INTERRUPTED = 128 + signal.SIGINT  # as a shell reports a process a signal stopped: 130, and 143 for SIGTERM


# The custody commands load cryptography and the custody layer only when one of them runs: a plain
# check forks its workers without those modules, whose pages each worker would otherwise copy.
LAZY_COMMANDS = {
    "key": "key",
    "case": "case",
    "verify": "verify",
    "disclose": "disclose_command",
}


class VestigeGroup(click.Group):
    """Turns a defect into a clear report instead of a bare traceback: what happened, that the input
    was not modified, and exit code 70. A command stopped by SIGINT or SIGTERM unwinds (its partial
    output and temporary folders removed, its workers stopped) and exits 130 or 143 with one sentence;
    its temporary folders are all made in one that is removed at its end. Loads the custody commands
    when they are asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            from vestige.cli import custody

            command = getattr(custody, LAZY_COMMANDS[cmd_name])
            assert isinstance(command, click.Command)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        request = StopRequest()
        try:
            with temporary_root(), stopping_on_signals(then_ignore=_process_ends) as request:
                return super().invoke(ctx)
        except KeyboardInterrupt as stop:  # SIGINT or SIGTERM: each ``finally`` on the way has cleaned up
            _stopped(ctx, stop.exit_code if isinstance(stop, Stopped) else EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except Exception as error:
            if request.signum is not None:  # the stop's doing (a worker it ended), not a defect
                _stopped(ctx, 128 + request.signum)
            # An exception's message may quote the evidence: it reaches the terminal made visible too.
            for line in traceback.format_exc().splitlines():
                click.echo(visible(line), err=True)
            click.echo(
                visible(
                    f"vestige: internal error ({type(error).__name__}: {error}). This is a defect in vestige, not in "
                )
                + "your input, which was only read. Please report it with the traceback above.",
                err=True,
            )
            ctx.exit(EXIT_INTERNAL)


@click.group(cls=VestigeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vestige")
def main() -> None:
    """Verifiable mobile-spyware forensics. Offline unless a command says otherwise."""
    _escape_what_cannot_be_encoded()


def _escape_what_cannot_be_encoded() -> None:
    """A character the terminal's encoding lacks (a name in Arabic under an ASCII locale) is written
    as a ``\\uNNNN`` escape instead of stopping the run with an encoding error."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")


def _stopped(ctx: click.Context, code: int) -> None:
    click.echo(
        f"vestige: stopped by {signal.Signals(code - 128).name} before it finished; the evidence was only "
        "read, and a check leaves no partial output.",
        err=True,
    )
    ctx.exit(code)


main.add_command(check)
main.add_command(demo)
main.add_command(export)
main.add_command(iocs)
main.add_command(report)

_process_ends = False
"""Set by ``run``: the command is the last thing this process does (not a test's in-process call)."""


def run() -> None:
    """The ``vestige`` program (the console script and ``python -m vestige``): ``main``, after which the
    process ends, so that once the command is over SIGINT and SIGTERM are ignored."""
    global _process_ends
    _process_ends = True
    main()
