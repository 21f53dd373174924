"""The iOS artifacts vestige reads, listed explicitly in the order the engine runs them."""

from __future__ import annotations

from vestige.ios.artifacts import (
    backup_info,
    datausage,
    idstatuscache,
    manifest,
    osanalytics_addaily,
    safari_history,
    sms,
    webkit_observations,
)
from vestige.platforms import Artifact

ARTIFACTS: tuple[Artifact, ...] = (
    backup_info,
    manifest,
    safari_history,
    datausage,
    osanalytics_addaily,
    sms,
    idstatuscache,
    webkit_observations,
)
