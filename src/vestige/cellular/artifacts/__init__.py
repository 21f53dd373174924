"""The artifacts of a cellular signalling log, in the order the cellular platform lists them."""

from __future__ import annotations

from vestige.cellular.artifacts import signalling
from vestige.platforms import Artifact

ARTIFACTS: tuple[Artifact, ...] = (signalling,)
