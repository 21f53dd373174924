"""What the signalling artifact records of a log: the payloads of its records, and ``Decoded``, the common
part of every decoded message (the ``lte`` and ``gsm`` decoders return subclasses of it with the typed fields
their detectors read).

Observations, not judgements: a ``SecurityContext`` says which ciphering a network put in force on a cell;
whether that matters is for the detectors, which weigh it against the ``CellBaseline`` of the same log."""

from __future__ import annotations

from dataclasses import dataclass

from vestige.cellular.frames import Cell


@dataclass(frozen=True, slots=True)
class Security:
    """Ciphering and integrity a message puts in force: ``layer`` AS (RRC, GSM RR) or NAS (EMM, GMM);
    ``ciphering`` as 3GPP names it (``eea0``..``eea3``, ``A5/0``..``A5/7`` with ``none`` for no ciphering,
    ``GEA0``..``GEA5``, ``UEA0``..``UEA2``); ``integrity`` likewise (``eia0``..``eia3``, ``UIA1``...), None where
    the RAT has none (GSM)."""

    layer: str
    ciphering: str
    integrity: str | None


@dataclass(frozen=True, slots=True)
class CellIdentity:
    """The identity a broadcast message gives the cell that sends it (LTE SIB1, GSM SI3/SI4, UMTS SIB3)."""

    plmns: tuple[str, ...]
    """``mcc-mnc`` as ``310-410``; the first is the primary PLMN."""
    area: int | None
    cell_id: int | None


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded signalling message: its name as the specification (and pycrate) names it
    (``RRCConnectionRelease``, ``SystemInformationBlockType1``, ``EMMIdentityRequest``, ``RRCipheringModeCmd``),
    its protocol (``LTE RRC``, ``EMM``, ``ESM``, ``UMTS RRC``, ``GSM RR``, ``MM``, ``GMM``, ``CC``, ``SM``),
    what it puts in force and what it says of the cell. ``error`` is set (and the rest is what could be
    read) when the bytes could not be decoded: one such frame is counted, never fatal."""

    name: str
    protocol: str
    security: Security | None = None
    identity: CellIdentity | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Signalling:
    """One signalling message of the log, decoded: the payload of the signalling artifact's records."""

    number: int
    rat: str
    layer: str
    channel: str
    uplink: bool | None
    cell: Cell
    """The serving cell as known when the message came (from the log's channel numbers and the last
    broadcast identity on them)."""
    message: Decoded


@dataclass(frozen=True, slots=True)
class SecurityContext:
    """Ciphering and integrity put in force on a cell (a security mode or cipher mode command)."""

    number: int
    cell: Cell
    security: Security


@dataclass(frozen=True, slots=True)
class CellChange:
    """The phone moved to another cell (or RAT); ``previous`` is None for the first cell of the log."""

    number: int
    previous: Cell | None
    current: Cell


@dataclass(frozen=True, slots=True)
class CellBaseline:
    """A cell the phone was camped on, over the whole log: when first and last seen, how many messages, and
    every ciphering and integrity it put in force (emitted once per cell at the end of the log)."""

    cell: Cell
    first_number: int
    first_time_ns: int | None
    last_time_ns: int | None
    messages: int
    ciphering: tuple[str, ...]
    integrity: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LogSummary:
    """What reading the log cost: frames read, frames with a bad CRC skipped, frames that were not signalling
    (other DIAG packets, other traffic), and frames that could not be decoded, by protocol."""

    frames: int
    bad_crc: int
    not_signalling: int
    undecodable: tuple[tuple[str, int], ...]
