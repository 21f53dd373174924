"""Runs the harness without stopping at the first failure, and prints every distinct failure.

    PYTHONPATH=$PWD/src:$PWD python -m tests.hostile.fuzzing.explore [N] [--seed S] [--only-explicit]

Every explicit example of ``tests/hostile/test_fuzz.py`` runs once, then N random inputs (default
100) drawn by the same strategy; a failure is grouped by the properties it broke and, for an exit 70,
the exception and the frame it came from. Nothing is shrunk: a report names the mutations as drawn.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings

from tests.hostile.fuzzing import mutations as m
from tests.hostile.fuzzing.run import INDICATORS, Scene, Verdict, judge, snapshot
from tests.hostile.fuzzing.strategies import INPUTS
from vestige.ios.sample.demo import build_demo_backup


def say(text: str = "", flush: bool = False) -> None:
    sys.stdout.write(text + "\n")
    if flush:
        sys.stdout.flush()


def signature(verdict: Verdict) -> str:
    """What tells one failure from another: the properties and, for a defect, its origin."""
    parts = []
    for prop, details in sorted(verdict.broken.items()):
        for detail in details:
            origin = re.search(r"\[(\w+(?:\.\w+)*)[^\]]*? at (\S+:\d+) in (\S+)\]", detail)
            if origin:
                parts.append(f"{prop}: {origin[1]} at {origin[2]} in {origin[3]}")
            else:
                parts.append(f"{prop}: " + re.sub(r"-j\d|[0-9.]+ s|\d+", "#", detail)[:100])
    return " | ".join(sorted(set(parts)))


class Explorer:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.demo = build_demo_backup(work / "demo")
        self.indicators = work / "indicators"
        self.indicators.mkdir()
        for name, text in INDICATORS.items():
            (self.indicators / name).write_text(text)
        self.failures: dict[str, list[str]] = {}
        self.count = 0
        self.baseline = b""
        self.run([], "baseline: ")
        self.baseline = self.last_findings

    def run(self, mutations: Sequence[m.Mutation], label: str = "") -> None:
        self.count += 1
        base = Path(tempfile.mkdtemp(prefix="input-", dir=self.work))
        try:
            scene = Scene(base, mutations, self.indicators, self.baseline)
            scene.prepare(self.demo)
            before = {"backup": snapshot(scene.site.backup), "outside": snapshot(scene.site.outside)}
            started = time.monotonic()
            runs = scene.run_both()
            verdict = judge(scene, runs, before)
            self.last_findings = runs[0].output.joinpath("findings.json").read_bytes() if runs[0].completed else b""
            took = time.monotonic() - started
            status = "FAIL" if verdict.broken else "ok"
            say(f"[{self.count}] {status} {took:.1f}s {label}{list(mutations)!r}"[:400], flush=True)
            if verdict.broken:
                text = verdict.text(mutations, runs, scene.site.skipped)
                say("    " + text.replace("\n", "\n    ")[:3000], flush=True)
                self.failures.setdefault(signature(verdict), []).append(text)
        finally:
            shutil.rmtree(base, ignore_errors=True)

    def summary(self) -> None:
        say(f"\n{len(self.failures)} distinct failures in {self.count} inputs\n")
        for sig, texts in sorted(self.failures.items(), key=lambda item: -len(item[1])):
            say(f"== {len(texts)}x {sig}")
            shortest = min(texts, key=len)
            say("   " + shortest.replace("\n", "\n   ")[:2500])
            say()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int, nargs="?", default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only-explicit", action="store_true")
    parser.add_argument("--skip-explicit", action="store_true")
    args = parser.parse_args(argv)
    from tests.hostile.test_fuzz import CLASS_EXAMPLES

    with tempfile.TemporaryDirectory(prefix="vestige-fuzz-") as work:
        explorer = Explorer(Path(work))
        if not args.skip_explicit:
            for name, examples in CLASS_EXAMPLES.items():
                for inputs in examples:
                    explorer.run(inputs, f"class {name}: ")
        if not args.only_explicit and args.n:

            @seed(args.seed)
            @settings(
                max_examples=args.n,
                deadline=None,
                database=None,
                phases=(Phase.generate,),
                suppress_health_check=list(HealthCheck),
            )
            @given(mutations=INPUTS)
            def draw(mutations: list[m.Mutation]) -> None:
                explorer.run(mutations)

            draw()
        explorer.summary()


if __name__ == "__main__":
    main(sys.argv[1:])
