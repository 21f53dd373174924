"""The cellular platform as the registry sees it: one acquisition kind, a Qualcomm DIAG log given as a single
file (``.qmdl`` as Rayhunter and QXDM write it, MobileInsight's ``.mi2log``, which frames DIAG alike; plain or
gzip-compressed), and the signalling artifact, which also reads GSMTAP in the network platform's captures. No
correlator of its own: the one that weighs a rogue-station hypothesis against an injection finding joins two
platforms, so it belongs to the check scope."""

from __future__ import annotations

import zlib

from vestige.cellular.artifacts import ARTIFACTS
from vestige.cellular.diag import GZIP_MAGIC, HEAD_BYTES, is_diag_log
from vestige.evidence.acquisition import FilesAcquisition
from vestige.evidence.sources import Source
from vestige.platforms import AcquisitionKind, Platform

QMDL = "qmdl"
QMDL_DESCRIPTION = "a Qualcomm DIAG log (.qmdl, MobileInsight .mi2log; optionally gzip-compressed)"
_GZIP_READ = 64 * 1024
"""Compressed bytes read to find the head of a gzip-compressed log (a gzip header may name the file, and the
first deflate block carries its Huffman tables; a log compresses about 5:1, so this is plenty)."""


def recognise_diag_log(source: Source) -> Source | None:
    """The source itself when it is one file whose first bytes (decompressed if it is gzip) are DIAG frames."""
    if source.shape != "file":
        return None
    members = list(source.members())
    if len(members) != 1 or members[0].type != "file":
        return None
    with source.open(members[0].name) as stream:
        head = stream.read(HEAD_BYTES)
        if head.startswith(GZIP_MAGIC):
            compressed = head + stream.read(_GZIP_READ - len(head))
            try:
                head = zlib.decompressobj(31).decompress(compressed, HEAD_BYTES)
            except zlib.error:
                return None
    return source if is_diag_log(head) else None


def read_diag_acquisition(source: Source) -> FilesAcquisition:
    return FilesAcquisition(source, QMDL)


PLATFORM = Platform(
    name="cellular",
    kinds=(AcquisitionKind(QMDL, QMDL_DESCRIPTION, recognise_diag_log, read_diag_acquisition),),
    artifacts=ARTIFACTS,
    correlators=(),
)
