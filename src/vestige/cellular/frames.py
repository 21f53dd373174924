"""The contract between the readers of signalling logs and their decoders: a ``Frame`` is one signalling
message as the log carried it (over which radio technology, layer and logical channel, in which direction,
on which carrier and cell), with its undecoded bytes; a ``Cell`` is what is known of the cell a phone was
camped on, for the findings and the baseline."""

from __future__ import annotations

from dataclasses import dataclass

LTE, UMTS, GSM, NR = "LTE", "UMTS", "GSM", "NR"
RRC, NAS, RR, DTAP = "RRC", "NAS", "RR", "DTAP"


@dataclass(frozen=True, slots=True)
class Frame:
    """One signalling message of a log.

    ``number`` counts from 1 in file order: the packet number in a capture (as Wireshark numbers it), the
    number of the HDLC frame in a DIAG log, where every frame is numbered, those skipped as broken (bad CRC,
    oversize, unterminated) included, so that a number is a stable position in the file; ``offset`` is where
    it starts in the (uncompressed) file. ``time_ns`` is nanoseconds since the Unix epoch (UTC), None when the
    log gives no time.

    ``rat`` is LTE, UMTS, GSM or NR; ``layer`` is RRC (LTE/UMTS/NR RRC, ASN.1 UPER bytes), NAS (EPS NAS:
    EMM/ESM, or 5GS NAS), RR (GSM radio resources on a broadcast or common channel, with the L2 pseudo-length
    octet first, as pycrate's ``parse_NAS_MT(..., wl2=True)`` takes it) or DTAP (2G/3G layer 3: MM, CC, GMM, SM
    and dedicated-channel RR, without any L2 header). ``channel`` names the logical channel as 3GPP does
    (LTE RRC: ``BCCH-BCH``, ``BCCH-DL-SCH``, ``PCCH``, ``DL-CCCH``, ``DL-DCCH``, ``UL-CCCH``, ``UL-DCCH``,
    ``MCCH``; UMTS RRC: the same names plus ``BCCH-FACH`` and ``SIB<n>``; NAS: ``plain`` or ``protected``;
    GSM: ``BCCH``, ``CCCH``, ``SDCCH``, ``SACCH``, ``FACCH``). ``uplink`` is None when the log does not say
    (SCAT's LTE NAS). ``channel_number`` is the EARFCN, UARFCN or ARFCN; ``cell_index`` the LTE PCI, UMTS
    primary scrambling code or GSM BSIC, when the log gives them."""

    number: int
    offset: int
    time_ns: int | None
    rat: str
    layer: str
    channel: str
    uplink: bool | None
    channel_number: int | None
    cell_index: int | None
    payload: bytes


@dataclass(frozen=True, slots=True)
class Cell:
    """What the log showed of a cell: RAT, PLMN (``310-410``), TAC or LAC, cell identity, EARFCN/UARFCN/ARFCN
    and PCI/PSC/BSIC; each None until a message gives it."""

    rat: str
    plmn: str | None = None
    area: int | None = None
    """TAC (LTE) or LAC (GSM, UMTS)."""
    cell_id: int | None = None
    channel_number: int | None = None
    cell_index: int | None = None

    @property
    def text(self) -> str:
        parts = [self.rat]
        if self.plmn is not None:
            parts.append(f"PLMN {self.plmn}")
        if self.area is not None:
            parts.append(f"{'TAC' if self.rat == LTE else 'LAC'} {self.area}")
        if self.cell_id is not None:
            parts.append(f"cell {self.cell_id}")
        if self.channel_number is not None:
            parts.append(
                f"{'EARFCN' if self.rat == LTE else 'UARFCN' if self.rat == UMTS else 'ARFCN'} {self.channel_number}"
            )
        if self.cell_index is not None:
            parts.append(f"{'PCI' if self.rat == LTE else 'PSC' if self.rat == UMTS else 'BSIC'} {self.cell_index}")
        return ", ".join(parts)
