"""The serving cell of a signalling log, message by message, and the per-log baseline of the cells it shows.

A log names the cell of most messages only by its carrier and physical identity: the EARFCN and PCI of an LTE
RRC message, the UARFCN and primary scrambling code of a UMTS one, the ARFCN and BSIC of a GSM one (as the DIAG
log packet or the GSMTAP header gives them; ``frames.Frame``). Who the cell is (PLMN, TAC or LAC, cell identity)
comes from the cell's own broadcast: LTE SIB1, UMTS SIB3, GSM SI3/SI4 (``records.CellIdentity``, TS 36.331
6.2.2, TS 25.331 10.2.48.8.6, TS 44.018 9.1.35/9.1.36). So a cell is known here by its *channel* (RAT, carrier,
physical identity) and the last identity broadcast on that channel: a cell heard again after the phone moved
away keeps its identity, and another identity broadcast on the same channel (a PCI reused farther away, or a
station imitating a real cell's carrier and PCI) is another cell.

The serving cell is the cell of the last message that names a channel and is not broadcast: a phone reads
the master and system information blocks of cells it is not camped on (searching a network, measuring a
neighbour), so a broadcast message belongs to the cell that sent it but moves nothing; paging, common and
dedicated control messages come from the cell the phone is camped on (or connected to). Messages that carry no
channel (NAS messages, which DIAG logs apart from RRC; EPS NAS is taken as naming none whatever its header
says) belong to the serving cell when it is of the same RAT
(2G and 3G share their NAS, so MM and GMM belong to a GSM or UMTS serving cell alike). When the serving cell
is none or of another RAT, such a message makes the cell of its RAT whose broadcast was read last the serving
cell (a phone reads a cell's system information before it signals there: after a redirection to GSM, the
GSM cell). Otherwise a message with no channel belongs to its RAT's
"unidentified" cell, which is never a cell change.

Each cell is tallied once for the whole log (first and last message, how many, every ciphering and integrity
put in force while the phone was on it) for the baseline the detectors and the analyst compare against; the
tally holds at most ``MAX_CELLS`` cells (a real day-long log shows dozens), past which further new cells are
still reported in the records but not tallied.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from vestige.cellular.frames import DTAP, GSM, NAS, UMTS, Cell, Frame
from vestige.cellular.records import CellBaseline, CellChange, CellIdentity, Security

MAX_CELLS = 10_000
"""Cells tallied for the baseline of one log; channels whose identity is remembered, likewise."""
IDENTITIES_PER_CHANNEL = 64
"""Identities remembered per channel: past it, a cell broadcasting a partial identity may be tallied apart."""

Channel = tuple[str, int | None, int | None]
"""A cell as the radio shows it: RAT, EARFCN/UARFCN/ARFCN, PCI/PSC/BSIC."""

_SHARED_NAS = frozenset({GSM, UMTS})
BROADCAST_CHANNELS = frozenset({"BCCH-BCH", "BCCH-DL-SCH", "BCCH-FACH", "MCCH", "MIB", "BCCH"})
"""Logical channels that carry a cell's broadcast (LTE, UMTS: also ``SIB<n>``; GSM: ``BCCH``)."""


@dataclass(slots=True)
class _Tally:
    """What the log showed of one cell so far."""

    cell: Cell
    first_number: int
    first_time_ns: int | None
    last_time_ns: int | None
    messages: int = 0
    ciphering: dict[str, None] = field(default_factory=dict)
    integrity: dict[str, None] = field(default_factory=dict)

    def baseline(self) -> CellBaseline:
        return CellBaseline(
            cell=self.cell,
            first_number=self.first_number,
            first_time_ns=self.first_time_ns,
            last_time_ns=self.last_time_ns,
            messages=self.messages,
            ciphering=tuple(self.ciphering),
            integrity=tuple(self.integrity),
        )


def cell_of(channel: Channel, identity: CellIdentity | None) -> Cell:
    """The cell on ``channel`` that broadcast ``identity`` (its primary PLMN, area and cell id)."""
    rat, number, index = channel
    if identity is None:
        return Cell(rat, channel_number=number, cell_index=index)
    plmn = identity.plmns[0] if identity.plmns else None
    return Cell(rat, plmn, identity.area, identity.cell_id, number, index)


def _same_identity(known: CellIdentity, heard: CellIdentity) -> bool:
    """Whether two broadcasts name one cell: the same primary PLMN, area and cell id, each compared only where
    both give it (a UMTS SIB3 gives no area; the area comes from another block)."""
    pairs = (
        (known.plmns[:1] or None, heard.plmns[:1] or None),
        (known.area, heard.area),
        (known.cell_id, heard.cell_id),
    )
    return all(a is None or b is None or a == b for a, b in pairs)


def _merged(known: CellIdentity, heard: CellIdentity) -> CellIdentity:
    return CellIdentity(
        heard.plmns or known.plmns,
        heard.area if heard.area is not None else known.area,
        heard.cell_id if heard.cell_id is not None else known.cell_id,
    )


class CellTracker:
    """The serving cell, frame by frame, and the tally of every cell of one log (one instance per log)."""

    def __init__(self) -> None:
        self._identities: dict[Channel, CellIdentity] = {}
        """The identity last broadcast on each channel."""
        self._heard: dict[Channel, list[CellIdentity]] = {}
        """Every identity broadcast on each channel (a few: QCSuper gives every channel number as 0)."""
        self._pending: tuple[Channel, Security] | None = None
        """Security a handover command put in force on its target cell, until the phone is there."""
        self._tallies: dict[tuple[Channel, CellIdentity | None], _Tally] = {}
        self._serving: tuple[Channel, CellIdentity | None] | None = None
        self._serving_cell: Cell | None = None
        self._broadcaster: tuple[Channel, CellIdentity | None] | None = None
        """The cell whose broadcast was read last: where a phone that names no cell yet is camped."""
        self._last: _Tally | None = None
        """The tally of the last frame placed: where ``secure`` notes what it put in force."""

    @property
    def serving(self) -> Cell | None:
        """The cell of the last message that named a channel (None before the first)."""
        return self._serving_cell

    def place(self, frame: Frame, identity: CellIdentity | None) -> tuple[Cell, CellChange | None]:
        """The cell ``frame`` belongs to, given the identity it broadcasts (if it is a SIB1, SI3...), and the
        cell change it shows (None when the phone stayed on its cell, or when the frame names no channel)."""
        channel = self._channel(frame)
        if channel is None:
            camped = next((k for k in (self._serving, self._broadcaster) if k and _belongs(frame, k[0][0])), None)
            if camped is None:
                return self._place_at(((frame.rat, None, None), None), frame), None
            channel = camped[0]
        key = (channel, self._identify(channel, identity))
        cell = self._place_at(key, frame)
        if is_broadcast(frame):
            self._broadcaster = key
        if key == self._serving or is_broadcast(frame):
            return cell, None
        change = CellChange(frame.number, self._serving_cell, cell)
        self._serving, self._serving_cell = key, cell
        return cell, change

    def secure(self, security: Security) -> None:
        """Notes ``security`` put in force on the cell of the last frame placed."""
        tally = self._last
        if tally is not None:
            tally.ciphering.setdefault(f"{security.layer} {security.ciphering}")
            if security.integrity is not None:
                tally.integrity.setdefault(f"{security.layer} {security.integrity}")

    def secure_next(self, channel: Channel, security: Security) -> Cell:
        """Notes ``security`` that a handover command puts in force on its target ``channel``: it counts for that
        cell when the phone gets there. Returns the target cell as known now."""
        self._pending = (channel, security)
        return cell_of(channel, self._identities.get(channel))

    def baselines(self) -> Iterator[CellBaseline]:
        """Every cell tallied, in the order the log first showed it."""
        return (tally.baseline() for tally in self._tallies.values())

    @staticmethod
    def _channel(frame: Frame) -> Channel | None:
        # EPS NAS rides on whatever RRC connection there is: a GSMTAP header's ARFCN field on it is not a
        # carrier (writers leave it 0)
        if frame.layer == NAS or (frame.channel_number is None and frame.cell_index is None):
            return None
        return (frame.rat, frame.channel_number, frame.cell_index)

    def _identify(self, channel: Channel, identity: CellIdentity | None) -> CellIdentity | None:
        """The identity of the cell now on ``channel``: the one it broadcasts (completed by what an earlier
        broadcast of the same cell gave: a UMTS SIB3 names the cell but not its area), else the last known."""
        known = self._identities.get(channel)
        if identity is None:
            return known
        heard = self._heard.setdefault(channel, []) if len(self._heard) < MAX_CELLS else []
        ordered = ([known] if known is not None else []) + [i for i in heard if i != known]
        earlier = next((i for i in ordered if _same_identity(i, identity)), None)
        if earlier is None:
            if known is None:
                self._rekey(channel, None, identity)  # the cell tallied so far on this channel was this one
            if len(heard) < IDENTITIES_PER_CHANNEL:
                heard.append(identity)
        else:
            identity = _merged(earlier, identity)
            if identity != earlier:
                self._rekey(channel, earlier, identity)
                heard[:] = [identity if i == earlier else i for i in heard]
        if known is not None or len(self._identities) < MAX_CELLS:
            self._identities[channel] = identity
        return identity

    def _rekey(self, channel: Channel, old: CellIdentity | None, new: CellIdentity) -> None:
        """The cell tallied as ``(channel, old)`` is now known as ``(channel, new)`` (kept in its place)."""
        tally = self._tallies.get((channel, old))
        if tally is None or (channel, new) in self._tallies:
            return
        tally.cell = cell_of(channel, new)
        self._tallies = {((channel, new) if k == (channel, old) else k): t for k, t in self._tallies.items()}
        if self._serving == (channel, old):
            self._serving, self._serving_cell = (channel, new), tally.cell

    def _place_at(self, key: tuple[Channel, CellIdentity | None], frame: Frame) -> Cell:
        """The cell of ``key``, with ``frame`` counted in its tally."""
        tally = self._tallies.get(key)
        if tally is None and len(self._tallies) < MAX_CELLS:
            tally = self._tallies[key] = _Tally(cell_of(*key), frame.number, frame.time_ns, frame.time_ns)
        self._last = tally
        if tally is None:
            return cell_of(*key)
        if self._pending is not None and self._pending[0] == key[0]:
            self.secure(self._pending[1])
            self._pending = None
        tally.messages += 1
        if frame.time_ns is not None:
            if tally.first_time_ns is None:
                tally.first_time_ns = frame.time_ns
            tally.last_time_ns = frame.time_ns
        return tally.cell


def is_broadcast(frame: Frame) -> bool:
    """Whether ``frame`` is a cell's broadcast (MIB, system information), which a phone also reads of cells it
    is not camped on (searching a network, measuring a neighbour before reselection)."""
    return frame.channel in BROADCAST_CHANNELS or frame.channel.startswith("SIB")


def _belongs(frame: Frame, rat: str) -> bool:
    """Whether a frame that names no channel belongs to a serving cell of ``rat``."""
    return frame.rat == rat or (frame.layer == DTAP and frame.rat in _SHARED_NAS and rat in _SHARED_NAS)
