"""The correlations platform: registered by name, no kinds or artifacts, its correlators run on every check."""

from __future__ import annotations

from vestige.correlations.platform import PLATFORM
from vestige.platforms import BUILT_IN, CHECK_SCOPE, Registry


def test_the_correlations_platform_is_built_in_with_only_correlators_of_the_whole_check() -> None:
    assert "vestige.correlations.platform:PLATFORM" in BUILT_IN
    registry = Registry.discover()
    assert PLATFORM in registry.platforms
    assert (PLATFORM.kinds, PLATFORM.artifacts) == ((), ())
    assert [c.NAME for c in PLATFORM.correlators] == [
        "correlation.injection_on_device_and_wire",
        "correlation.indicator_on_device_and_wire",
        "correlation.baseband_during_injection",
    ]
    assert {c.SCOPE for c in PLATFORM.correlators} == {CHECK_SCOPE}
    names = [c.NAME for c in registry.correlators_for(["ios-backup"], CHECK_SCOPE)]
    assert names[-len(PLATFORM.correlators) :] == [c.NAME for c in PLATFORM.correlators]
    assert "correlations" not in {k.name for k in registry.kinds}
