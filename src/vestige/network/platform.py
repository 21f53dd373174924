"""The network platform as the registry sees it: one acquisition kind, a packet capture (pcap or
pcapng, optionally gzip-compressed) given as a single file, its artifacts and no correlators of its
own (a correlator joining a capture with a phone's records belongs to the check scope)."""

from __future__ import annotations

from vestige.evidence.acquisition import FilesAcquisition
from vestige.evidence.capture import capture_head, is_capture
from vestige.evidence.sources import Source
from vestige.network.artifacts import ARTIFACTS
from vestige.network.packets import PACKETS
from vestige.platforms import AcquisitionKind, Platform

PCAP = "pcap"
PCAP_DESCRIPTION = "a packet capture (pcap or pcapng, optionally gzip-compressed)"


def recognise_capture(source: Source) -> Source | None:
    """The source itself when it is one file whose first bytes (decompressed if it is gzip) are a pcap
    or pcapng header."""
    if source.shape != "file":
        return None
    members = list(source.members())
    if len(members) != 1 or members[0].type != "file":
        return None
    with source.open(members[0].name) as stream:
        return source if is_capture(capture_head(stream)) else None


def read_capture_acquisition(source: Source) -> FilesAcquisition:
    return FilesAcquisition(source, PCAP)


PLATFORM = Platform(
    name="network",
    kinds=(AcquisitionKind(PCAP, PCAP_DESCRIPTION, recognise_capture, read_capture_acquisition, units=PACKETS),),
    artifacts=ARTIFACTS,
    correlators=(),
)
