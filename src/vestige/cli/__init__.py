"""The ``vestige`` command: thin click commands over the layers below, rendered with rich."""

from __future__ import annotations

import click

from vestige import __version__
from vestige.cli.check import check
from vestige.cli.custody import case, disclose_command, key, verify
from vestige.cli.demo import demo
from vestige.cli.iocs import iocs


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
