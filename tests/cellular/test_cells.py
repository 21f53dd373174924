"""The serving-cell tracker: a cell is its channel (RAT, carrier, physical identity) and the last identity
broadcast on it; messages without a channel belong to the serving cell of their RAT; each cell is tallied once
for the log's baseline."""

from __future__ import annotations

from vestige.cellular.cells import MAX_CELLS, CellTracker
from vestige.cellular.frames import DTAP, GSM, LTE, NAS, RR, RRC, UMTS, Cell, Frame
from vestige.cellular.records import CellBaseline, CellChange, CellIdentity, Security

T = 1_600_000_000_000_000_000
SIB1 = CellIdentity(("310-410", "310-150"), 0x1A2B, 0x1234567)
OTHER = CellIdentity(("001-01",), 1, 7)


def frame(
    number: int,
    rat: str = LTE,
    layer: str = RRC,
    channel_number: int | None = 5230,
    cell_index: int | None = 101,
) -> Frame:
    return Frame(
        number, number * 100, T + number * 1_000_000, rat, layer, "DL-DCCH", False, channel_number, cell_index, b""
    )


def nas(number: int, rat: str = LTE, layer: str = NAS) -> Frame:
    return frame(number, rat, layer, None, None)


IDENTIFIED = Cell(LTE, "310-410", 0x1A2B, 0x1234567, 5230, 101)


def test_the_first_cell_is_a_change_from_none_and_its_broadcast_identifies_it_in_place() -> None:
    cells = CellTracker()
    first, change = cells.place(frame(1), None)
    assert first == Cell(LTE, channel_number=5230, cell_index=101)
    assert change == CellChange(1, None, first)
    second, change = cells.place(frame(2), SIB1)
    assert (second, change) == (IDENTIFIED, None)
    assert cells.serving == IDENTIFIED
    assert cells.place(nas(3), None) == (IDENTIFIED, None)
    assert list(cells.baselines()) == [CellBaseline(IDENTIFIED, 1, T + 1_000_000, T + 3_000_000, 3, (), ())]


def test_a_cell_heard_again_keeps_its_identity_and_its_tally() -> None:
    cells = CellTracker()
    cells.place(frame(1), SIB1)
    other, change = cells.place(frame(2, channel_number=850, cell_index=7), None)
    assert change == CellChange(2, IDENTIFIED, other)
    back, change = cells.place(frame(3), None)
    assert (back, change) == (IDENTIFIED, CellChange(3, other, IDENTIFIED))
    assert [(b.cell, b.first_number, b.messages) for b in cells.baselines()] == [(IDENTIFIED, 1, 2), (other, 2, 1)]


def test_another_identity_on_the_same_channel_is_another_cell() -> None:
    cells = CellTracker()
    cells.place(frame(1), SIB1)
    imitation, change = cells.place(frame(2), OTHER)
    assert imitation == Cell(LTE, "001-01", 1, 7, 5230, 101)
    assert change == CellChange(2, IDENTIFIED, imitation)
    assert cells.place(frame(3), None) == (imitation, None)  # the last identity broadcast on the channel
    assert [b.cell for b in cells.baselines()] == [IDENTIFIED, imitation]


def test_a_broadcast_giving_only_part_of_the_identity_completes_it() -> None:
    cells = CellTracker()
    cells.place(frame(1, UMTS, RRC, 10762, 300), CellIdentity(("208-10",), None, 0x2A))
    cell, change = cells.place(frame(2, UMTS, RRC, 10762, 300), CellIdentity((), 0x1F, None))
    assert (cell, change) == (Cell(UMTS, "208-10", 0x1F, 0x2A, 10762, 300), None)
    assert [b.cell for b in cells.baselines()] == [cell]


def test_security_is_tallied_on_the_cell_of_the_last_message_once_each() -> None:
    cells = CellTracker()
    cells.place(frame(1), SIB1)
    cells.secure(Security("AS", "eea2", "eia2"))
    cells.place(nas(2), None)
    cells.secure(Security("NAS", "eea0", "eia2"))
    cells.secure(Security("AS", "eea2", "eia2"))
    cells.place(frame(3, GSM, RR, 62, 12), None)
    cells.secure(Security("AS", "A5/1", None))
    assert [(b.cell.rat, b.ciphering, b.integrity) for b in cells.baselines()] == [
        (LTE, ("AS eea2", "NAS eea0"), ("AS eia2", "NAS eia2")),
        (GSM, ("AS A5/1",), ()),
    ]


def test_a_message_without_channel_of_another_rat_goes_to_that_rats_unidentified_cell() -> None:
    cells = CellTracker()
    cells.place(frame(1), SIB1)
    cell, change = cells.place(nas(2, UMTS, DTAP), None)
    assert (cell, change) == (Cell(UMTS), None)
    assert cells.serving == IDENTIFIED
    gsm_cell, change = cells.place(frame(3, GSM, RR, 62, 12), None)
    assert change == CellChange(3, IDENTIFIED, gsm_cell)
    assert cells.place(nas(4, UMTS, DTAP), None) == (gsm_cell, None)  # 2G and 3G share their NAS
    assert cells.place(nas(5, LTE, NAS), None) == (Cell(LTE), None)
    assert [(b.cell, b.messages) for b in cells.baselines()] == [
        (IDENTIFIED, 1),
        (Cell(UMTS), 1),
        (gsm_cell, 2),
        (Cell(LTE), 1),
    ]


def test_the_tally_is_bounded() -> None:
    cells = CellTracker()
    for number in range(MAX_CELLS + 5):
        cell, change = cells.place(frame(number + 1, channel_number=number), None)
        assert change is not None and cell.channel_number == number
    assert sum(1 for _ in cells.baselines()) == MAX_CELLS


def broadcast(number: int, channel_number: int, cell_index: int) -> Frame:
    return Frame(number, 0, T + number * 1_000_000, LTE, RRC, "BCCH-DL-SCH", False, channel_number, cell_index, b"")


def test_a_neighbours_broadcast_belongs_to_it_but_moves_nothing() -> None:
    cells = CellTracker()
    cells.place(frame(1), SIB1)
    neighbour, change = cells.place(broadcast(2, 850, 7), OTHER)
    assert (neighbour, change) == (Cell(LTE, "001-01", 1, 7, 850, 7), None)
    assert cells.serving == IDENTIFIED
    assert cells.place(nas(3), None) == (IDENTIFIED, None)
    assert [(b.cell, b.messages) for b in cells.baselines()] == [(IDENTIFIED, 2), (neighbour, 1)]


def test_before_any_serving_cell_a_message_without_channel_is_on_the_cell_last_heard() -> None:
    cells = CellTracker()
    cells.place(broadcast(1, 850, 7), OTHER)
    heard, _ = cells.place(broadcast(2, 5230, 101), SIB1)
    assert cells.serving is None
    cell, change = cells.place(nas(3), None)
    assert (cell, change) == (heard, CellChange(3, None, heard))
    # after a redirection to GSM, a 2G NAS message is on the GSM cell whose broadcast was read
    bcch = Frame(4, 0, None, GSM, RR, "BCCH", False, 70, 3, b"")
    on_bcch, change = cells.place(bcch, CellIdentity(("001-01",), 9, 9))
    assert change is None and cells.serving == heard
    cell, change = cells.place(nas(5, GSM, DTAP), None)
    assert (cell, change) == (on_bcch, CellChange(5, heard, on_bcch))
    assert on_bcch == Cell(GSM, "001-01", 9, 9, 70, 3)


def test_a_handover_commands_security_counts_for_its_target_once_the_phone_is_there() -> None:
    cells = CellTracker()
    cells.place(frame(1), SIB1)
    target = cells.secure_next((LTE, 5230, 102), Security("AS", "eea0", "eia2"))
    assert target == Cell(LTE, channel_number=5230, cell_index=102)
    cell, change = cells.place(frame(2, cell_index=102), None)
    assert change == CellChange(2, IDENTIFIED, cell)
    assert [(b.cell.cell_index, b.ciphering) for b in cells.baselines()] == [(101, ()), (102, ("AS eea0",))]


def test_a_partial_broadcast_completes_the_cell_it_names_among_those_of_its_channel() -> None:
    """QCSuper gives every channel number as 0: cells share a channel and are told apart by their identity."""
    cells = CellTracker()
    first, _ = cells.place(frame(1, UMTS, RRC, 0, None), CellIdentity(("208-10",), 0x2F46, 0x907DCA))
    second, _ = cells.place(frame(2, UMTS, RRC, 0, None), CellIdentity(("208-10",), 0x2F46, 0x90AE14))
    again, change = cells.place(frame(3, UMTS, RRC, 0, None), CellIdentity((), None, 0x907DCA))
    assert (again, change) == (first, CellChange(3, second, first))
    assert [b.cell.cell_id for b in cells.baselines()] == [0x907DCA, 0x90AE14]
