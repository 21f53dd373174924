"""A baseband log's records and rogue-station findings, built as the cellular signalling artifact shapes them
(``cellular.records``), placed in acquisition 2 beside the capture of ``wire`` (acquisition 1): the scenes of the
defence's hypothesis around the injection of ``ios.sample.demo.INJECTION``."""

from __future__ import annotations

from datetime import datetime, timedelta

from vestige.cellular.frames import GSM, LTE, Cell
from vestige.cellular.lte import EmmIdentityRequest
from vestige.cellular.records import (
    CellBaseline,
    CellChange,
    LogSummary,
    Security,
    SecurityContext,
    Signalling,
)
from vestige.ios.sample.demo import INJECTION
from vestige.model import Evidence, Finding, Locator, Record, RecordPayload, Severity

LOG = "diag.qmdl"
LOG_SHA = "c" * 64
ARTIFACT = "cellular.signalling"
HOME = Cell(LTE, "310-260", 0x2A01, 0x1A2B3C, 5230, 101)
"""The phone's usual LTE cell."""
FAKE = Cell(GSM, "310-260", 0x002A, 77, 128, 7)
"""A GSM cell that appears after an LTE release redirecting to GERAN."""


def at(seconds: float) -> datetime:
    """``seconds`` after the injection's time (negative: before)."""
    return INJECTION + timedelta(seconds=seconds)


def ns(seconds: float) -> int:
    return round(at(seconds).timestamp() * 1e6) * 1000


def record(number: int, seconds: float | None, summary: str, payload: RecordPayload) -> Record:
    return Record(
        artifact=ARTIFACT,
        locator=Locator(LOG, LOG_SHA, packet=number, acquisition=2),
        time=at(seconds) if seconds is not None else None,
        summary=summary,
        payload=payload,
        time_kind="message time",
    )


def change(number: int, seconds: float, previous: Cell | None, current: Cell) -> Record:
    told = f"from {previous.text} " if previous is not None else ""
    return record(number, seconds, f"Cell change {told}to {current.text}", CellChange(number, previous, current))


def context(number: int, seconds: float, cell: Cell, layer: str, ciphering: str, integrity: str | None) -> Record:
    security = Security(layer, ciphering, integrity)
    return record(
        number,
        seconds,
        f"{layer} security on {cell.rat}: {ciphering}/{integrity}",
        SecurityContext(number, cell, security),
    )


def identity_request(number: int, seconds: float, cell: Cell, identity_type: int = 1) -> Record:
    """An EMM Identity Request as the LTE decoder gives it: for the IMSI (1), IMEI (2) or IMEISV (3)."""
    message = EmmIdentityRequest("EMMIdentityRequest", "EMM", identity_type=identity_type)
    payload = Signalling(number, cell.rat, "NAS", "plain", False, cell, message)
    return record(number, seconds, f"EMM Identity Request ({message.identity_name})", payload)


def baseline(cell: Cell, first_number: int, first: float, last: float, ciphering: tuple[str, ...]) -> Record:
    payload = CellBaseline(cell, first_number, ns(first), ns(last), 40, ciphering, ())
    return Record(
        artifact=ARTIFACT,
        locator=Locator(LOG, LOG_SHA, key=f"cell {cell.text}", acquisition=2),
        time=at(first),
        summary=f"Cell {cell.text}",
        payload=payload,
        time_kind="first seen",
    )


def summary() -> Record:
    return Record(
        artifact=ARTIFACT,
        locator=Locator(LOG, LOG_SHA, acquisition=2),
        time=None,
        summary="Signalling log: 400 frames",
        payload=LogSummary(400, 0, 0, ()),
    )


def redirect_finding(number: int, seconds: float) -> Finding:
    """The LTE detector's finding on a release redirecting to GERAN (its rule as named by the cellular detectors)."""
    return Finding(
        rule="cellular.lte_redirect_to_geran",
        severity=Severity.HIGH,
        title="An LTE connection release redirected the phone to GERAN (2G)",
        explanation="...",
        caveats=(),
        evidence=(Evidence(Locator(LOG, LOG_SHA, packet=number, acquisition=2), f"packet {number}"),),
        time=at(seconds),
    )


def downgraded() -> tuple[list[Record], list[Finding]]:
    """Twenty minutes on the home LTE cell (eea2/eia2), a release to GERAN 60 s before the injection, the phone on
    a GSM cell first seen 50 s before it, which starts no ciphering (A5/0: ``none``, as the GSM decoder names it)
    40 s before it."""
    records = [
        change(10, -1200, None, HOME),
        context(12, -1190, HOME, "AS", "eea2", "eia2"),
        change(300, -50, HOME, FAKE),
        context(305, -40, FAKE, "AS", "none", None),
        baseline(HOME, 10, -1200, -60, ("eea2",)),
        baseline(FAKE, 300, -50, 240, ("A5/0",)),
        summary(),
    ]
    return records, [redirect_finding(299, -60)]


def ciphered() -> list[Record]:
    """Forty minutes on the home LTE cell, each connection with eea2/eia2 (NAS and AS), one 120 s before the
    injection; no cell change."""
    return [
        change(10, -1200, None, HOME),
        context(11, -1195, HOME, "NAS", "eea2", "eia2"),
        context(12, -1190, HOME, "AS", "eea2", "eia2"),
        context(200, -120, HOME, "AS", "eea2", "eia2"),
        baseline(HOME, 10, -1200, 1200, ("eea2",)),
        summary(),
    ]
