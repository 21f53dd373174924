"""The artifacts of a packet capture, in the order the network platform lists them."""

from __future__ import annotations

from vestige.platforms import Artifact

ARTIFACTS: tuple[Artifact, ...] = ()
