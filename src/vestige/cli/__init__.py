"""The ``vestige`` command: thin click commands over the layers below, rendered with rich."""

from __future__ import annotations

import sys
import traceback
from typing import Any

import click

from vestige import __version__
from vestige.cli.check import check
from vestige.cli.custody import case, disclose_command, key, verify
from vestige.cli.demo import demo
from vestige.cli.iocs import iocs

EXIT_INTERNAL = 70  # EX_SOFTWARE (sysexits.h): a defect in vestige, not in the input


class VestigeGroup(click.Group):
    """Turns a defect into a clear report instead of a bare traceback: what happened, that the input
    was not modified, and exit code 70."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit, KeyboardInterrupt):
            raise
        except Exception as error:
            traceback.print_exc(file=sys.stderr)
            click.echo(
                f"vestige: internal error ({type(error).__name__}: {error}). This is a defect in vestige, not in "
                "your input, which was only read. Please report it with the traceback above.",
                err=True,
            )
            ctx.exit(EXIT_INTERNAL)


@click.group(cls=VestigeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vestige")
def main() -> None:
    """Verifiable mobile-spyware forensics. Offline unless a command says otherwise."""


main.add_command(check)
main.add_command(demo)
main.add_command(iocs)
main.add_command(key)
main.add_command(case)
main.add_command(verify)
main.add_command(disclose_command)
