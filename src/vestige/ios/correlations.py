"""Detectors that join several iOS artifacts of one acquisition.

``RedirectThenNewProcess``: Amnesty's Pegasus methodology (2021) found the implant's processes (``bh``,
``roleaccountd``, ...) first using the network seconds after an injected redirect in Safari. A process
with no bundle identifier (not an app from the App Store) whose first network use DataUsage records
within 60 s after an ``http://`` visit redirected to another site joins the two traces: high, and
critical when an indicator names the process.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence

from vestige.ios.artifacts.datausage import DataUsageProcess
from vestige.ios.artifacts.safari_history import REDIRECT_RULES
from vestige.model import Evidence, Finding, IndicatorLookup, IndicatorMatch, ObservableKind, Record, Severity
from vestige.platforms import ACQUISITION_SCOPE, Correlator, excerpt


class RedirectThenNewProcess:
    """A bundle-less process first seen on the network within a minute after a cross-site redirect."""

    NAME = "ios.redirect_then_new_process"
    VERSION = 1
    DESCRIPTION = "A process with no bundle id first using the network within 60 s after a redirected http:// visit"
    NEEDS: tuple[type, ...] = (DataUsageProcess,)
    SCOPE = ACQUISITION_SCOPE
    WINDOW_SECONDS = 60.0

    def select(self, record: Record) -> bool:
        """Processes without a bundle identifier, with a first network use."""
        process = record.payload
        return isinstance(process, DataUsageProcess) and not process.bundle and record.time is not None

    def correlate(
        self, records: Sequence[Record], findings: Sequence[Finding], indicators: IndicatorLookup
    ) -> Iterator[Finding]:
        processes = sorted((r for r in records if r.time is not None), key=lambda r: (r.time, r.locator.row or 0))
        times = [r.time.timestamp() for r in processes if r.time is not None]
        for redirect in findings:
            if redirect.rule not in REDIRECT_RULES or redirect.time is None:
                continue
            start = redirect.time.timestamp()
            first = bisect.bisect_left(times, start)
            last = bisect.bisect_right(times, start + self.WINDOW_SECONDS)
            for process in processes[first:last]:
                yield self._finding(redirect, process, indicators)

    def _finding(self, redirect: Finding, process: Record, indicators: IndicatorLookup) -> Finding:
        assert process.time is not None and redirect.time is not None and isinstance(process.payload, DataUsageProcess)
        gap = (process.time - redirect.time).total_seconds()
        name = process.payload.process
        matches: set[IndicatorMatch] = set()
        for observable in process.observables:
            if observable.kind is ObservableKind.PROCESS:
                matches.update(indicators.match(observable))
        named = (
            " An indicator names the process: "
            + "; ".join(sorted(f"{m.type} '{m.value}' in {m.collection} (set {m.set_name})" for m in matches))
            + "."
            if matches
            else ""
        )
        return Finding(
            rule=self.NAME,
            severity=Severity.CRITICAL if matches else Severity.HIGH,
            title=f"The process {name!r}, with no app bundle, first used the network {gap:.1f} s after a redirected "
            "http:// visit",
            explanation=(
                f"{process.summary} ({process.locator.path}) {gap:.1f} s after this Safari trace: {redirect.title}. "
                "The process has no bundle identifier, so it is not an app installed from the App Store. In the "
                "Pegasus cases Amnesty published, the implant's processes first used the network seconds after "
                f"the injected redirect that delivered the exploit.{named}"
            ),
            caveats=(
                "System daemons have no bundle identifier either and start using the network at any moment; on a "
                "busy phone one may do so within a minute of an unrelated redirect by chance.",
                "DataUsage records when a process first used the network, not when it started, and the two times "
                "come from the phone's clock.",
            ),
            evidence=(*redirect.evidence, Evidence(process.locator, excerpt(process.summary))),
            indicators=tuple(sorted(matches, key=lambda m: (m.set_name, m.collection, m.type, m.value))),
            time=process.time,
        )


CORRELATORS: tuple[Correlator, ...] = (RedirectThenNewProcess(),)
