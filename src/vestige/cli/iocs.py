"""``vestige iocs list``: the indicator sets a check would use, with counts and digests."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import click

from vestige.cli.check import EXIT_UNREADABLE, IOC_FILES, IOC_LISTS, NO_BUNDLED
from vestige.cli.console import new_console, print_line, shown
from vestige.indicators import IndicatorSet
from vestige.pipeline import InputError, load_indicator_sets


@click.group()
def iocs() -> None:
    """Indicator sets: list what a check would use."""


@iocs.command("list")
@IOC_FILES
@IOC_LISTS
@NO_BUNDLED
def list_sets(ioc_files: tuple[Path, ...], ioc_lists: tuple[tuple[str, Path], ...], no_bundled_iocs: bool) -> None:
    """Show each set: name, source, licence, SHA-256, indicators per type, what was not evaluated."""
    console = new_console()
    try:
        sets = load_indicator_sets(ioc_files, not no_bundled_iocs, ioc_lists)
    except InputError as problem:
        print_line(new_console(stderr=True), f"[bold red]vestige:[/] {shown(str(problem))}")
        sys.exit(EXIT_UNREADABLE)
    for indicator_set in sets:
        counts = ", ".join(f"{kind} {count}" for kind, count in sorted(indicator_set.counts.items()))
        print_line(console, f"[bold]{shown(indicator_set.name)}[/]")
        print_line(console, f"  source      {shown(indicator_set.source)}")
        print_line(console, f"  licence     {shown(indicator_set.licence)}")
        print_line(console, f"  sha256      {shown(indicator_set.sha256)}")
        print_line(console, f"  indicators  {len(indicator_set.indicators)}: {shown(counts)}")
        for line in _not_evaluated(indicator_set):
            print_line(console, f"  [yellow]not evaluated[/] {shown(line)}")
    print_line(console, f"{len(sets)} set(s), {sum(len(s.indicators) for s in sets)} indicators.")


def _not_evaluated(indicator_set: IndicatorSet) -> list[str]:
    """Patterns and objects left out, counted by kind and reason."""
    reasons = Counter(f"{p.kind.value}: {p.reason}" for p in indicator_set.problems)
    lines = [f"{count} {reason}" for reason, count in sorted(reasons.items())]
    if indicator_set.unknown_objects:
        lines.append(f"{indicator_set.unknown_object_count} objects of unknown types")
    if indicator_set.dangling_relationships:
        lines.append(f"{indicator_set.dangling_relationships} dangling relationships")
    return lines
