"""``vestige iocs list``: the indicator sets a check would use, with counts and digests."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vestige.cli.check import EXIT_UNREADABLE, UnreadableInputError, indicator_sets
from vestige.indicators import IndicatorSet


@click.group()
def iocs() -> None:
    """Indicator sets: list what a check would use."""


@iocs.command("list")
@click.option("--iocs", "ioc_files", multiple=True, type=click.Path(path_type=Path), help="Add a set (repeatable).")
@click.option("--no-bundled-iocs", is_flag=True, help="Leave out the bundled sets.")
def list_sets(ioc_files: tuple[Path, ...], no_bundled_iocs: bool) -> None:
    """Show each set: name, source, licence, indicators per type, SHA-256, unevaluable patterns."""
    console = Console()
    try:
        sets = indicator_sets(ioc_files, bundled=not no_bundled_iocs)
    except UnreadableInputError as problem:
        Console(stderr=True).print(f"[bold red]vestige:[/] {escape(str(problem))}")
        sys.exit(EXIT_UNREADABLE)
    table = Table(show_lines=True)
    for column in ("set", "source / licence", "indicators by type", "not evaluated", "SHA-256"):
        table.add_column(column)
    for indicator_set in sets:
        table.add_row(
            escape(indicator_set.name),
            escape(f"{indicator_set.source}\n{indicator_set.licence}"),
            "\n".join(f"{kind}: {count}" for kind, count in sorted(indicator_set.counts.items())),
            escape(_not_evaluated(indicator_set)),
            indicator_set.sha256,
        )
    console.print(table)
    console.print(f"{len(sets)} set(s), {sum(len(s.indicators) for s in sets)} indicators.")


def _not_evaluated(indicator_set: IndicatorSet) -> str:
    """Patterns and objects left out, counted by kind and reason."""
    reasons = Counter(f"{p.kind.value}: {p.reason}" for p in indicator_set.problems)
    lines = [f"{count} {reason}" for reason, count in sorted(reasons.items())]
    if indicator_set.unknown_objects:
        lines.append(f"{indicator_set.unknown_object_count} objects of unknown types")
    if indicator_set.dangling_relationships:
        lines.append(f"{indicator_set.dangling_relationships} dangling relationships")
    return "\n".join(lines)
