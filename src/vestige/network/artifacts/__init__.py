"""The network artifacts vestige reads, listed explicitly in the order the engine runs them."""

from __future__ import annotations

from vestige.network.artifacts import traffic
from vestige.platforms import Artifact

ARTIFACTS: tuple[Artifact, ...] = (traffic,)
