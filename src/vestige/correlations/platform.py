"""The correlations between platforms as the registry sees them: no acquisition kind, no artifact, only
correlators of scope ``check`` (the registry runs those of every platform on a check of several
acquisitions)."""

from __future__ import annotations

from vestige.correlations.baseband import BasebandDuringInjection
from vestige.correlations.indicator_hosts import IndicatorOnDeviceAndWire
from vestige.correlations.injection import InjectionOnDeviceAndWire
from vestige.platforms import Platform

PLATFORM = Platform(
    name="correlations",
    kinds=(),
    artifacts=(),
    correlators=(InjectionOnDeviceAndWire(), IndicatorOnDeviceAndWire(), BasebandDuringInjection()),
)
