"""``python -m vestige`` runs the command-line interface."""

from vestige.cli import run

run()
