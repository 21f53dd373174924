"""Rogue-base-station heuristics for GSM (2G) and UMTS (3G) signalling, after SnoopSnitch's IMSI Catcher Score
(SRLabs, ``analysis/catcher/sql``; reference/cellular.md 2.1) and reference/cellular.md section 6, items
10-12, re-implemented from their stated conditions.

``GsmDetectors.feed`` takes the messages of one log in log order with the serving cell and the record's
locator; ``finish`` gives what can only be judged over the whole log. Rules:

- ``cellular.gsm.cipher_downgrade`` (SnoopSnitch C1): a Ciphering Mode Command weaker than the best one seen
  earlier on the same cell (none < A5/2 < A5/1 < A5/3 < A5/4): high.
- ``cellular.gsm.no_ciphering`` (C5): a Ciphering Mode Command with SC = 0, weighed at the end of the log by the
  share of ciphered sessions on the same PLMN: > 0.9 high, > 0.8 medium, else low. A *session* is one
  dedicated connection: it opens with a Location Updating Request, CM Service Request, CM Re-establishment
  Request or Paging Response and closes with a Channel Release or the next opening; it is ciphered when a
  Ciphering Mode Command with SC = 1 came in it.
- ``cellular.gsm.breakable_cipher``: A5/1 (info: benign networks still use it) or A5/2 (medium), one finding
  per cell.
- ``cellular.gsm.location_update_imsi_reject`` (C4): in one session, a Location Updating Request, an Identity
  Request for the IMSI, then a Location Updating Reject, with no authentication and no ciphering: high.
- ``cellular.gsm.gprs_weak_cipher``: a GMM Authentication and Ciphering Request over GSM with GEA0 (no
  ciphering) or GEA1: medium. Over UMTS the GMM algorithm is not used (RRC ciphers): a GMM message carried
  in UMTS RRC, or given as GSM right after UMTS RRC messages (SCAT's Abis frames of 3G NAS), is not judged.
- ``cellular.gsm.catcher_score``: per cell, the sum of T1 (T3212 in 1-4 decihours 1.5, 5-8 0.7), K1 (BCCH
  allocation lists of SI2/2bis/2ter/5/5bis/5ter naming at most one ARFCN: 1.0), K2 (SI3 CELL_RESELECT_OFFSET
  field > 40: 1.0), R2 (paging groups > 80: 1.0) and the highest session score on the cell (C1 1.0; C4 2.0, x3
  when the IMEI was also requested; C5 2.0 / 1.5 / 1.0 by the share above). Above SnoopSnitch's 2.6: medium
  from broadcast parameters alone, high when a session criterion contributes; a score above 0 and at most 2.6
  is info.
- ``cellular.umts.imsi_request_reject``: an MM or GMM Identity Request for the IMSI, then a reject (Location
  Updating, CM Service, Attach, Routing Area Update, Service) with no authentication between: high.
- ``cellular.umts.null_cipher``: a UMTS RRC Security Mode Command with UEA0: high where the same PLMN was
  seen earlier in the log with UEA1 or UEA2, else medium.

State is bounded: at most ``MAX_CELLS`` cells and ``MAX_KEPT`` sessions and unciphered commands are kept (the
rest are counted).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from vestige.cellular.frames import GSM, RR, RRC, UMTS, Cell, Frame
from vestige.cellular.gsm import (
    Authentication,
    CipherModeCommand,
    GprsCipheringRequest,
    IdentityRequest,
    Layer3Message,
    LocationUpdatingRequest,
    NeighbourList,
    Reject,
    SystemInformation3,
)
from vestige.cellular.records import Decoded
from vestige.cellular.umts import UmtsSecurityModeCommand
from vestige.model import Evidence, Finding, Locator, Severity

MAX_CELLS = 4096
MAX_KEPT = 1000
ALARM_SCORE = 2.6
"""SnoopSnitch's ``catcher_min_score``: a score above it raises an event."""

CIPHER_RANK = {"none": 0, "A5/2": 1, "A5/1": 2, "A5/3": 3, "A5/4": 4}
"""Strength of the GSM ciphers as SnoopSnitch orders them (A5/2 was withdrawn in 2007, A5/1 is broken in
practice); A5/5-A5/7 are reserved and not compared."""

_SESSION_OPENERS = frozenset(
    {"MMLocationUpdatingRequest", "MMCMServiceRequest", "MMCMReestablishmentRequest", "RRPagingResponse"}
)
_ACCEPTS = frozenset({"MMLocationUpdatingAccept", "GMMAttachAccept", "GMMRoutingAreaUpdateAccept"})
_UMTS_REJECTS = frozenset(
    {
        "MMLocationUpdatingReject",
        "MMCMServiceReject",
        "GMMAttachReject",
        "GMMRoutingAreaUpdateReject",
        "GMMServiceReject",
    }
)


@dataclass(frozen=True, slots=True)
class Cited:
    """A message as a finding cites it."""

    evidence: Evidence
    time: datetime | None


@dataclass(slots=True)
class _Session:
    plmn: str | None
    cell: Cell
    opened: Cited
    location_update: Cited | None = None
    identity_requests: list[tuple[int, Cited]] = field(default_factory=list)
    authenticated: bool = False
    ciphered: bool = False
    unciphered: Cited | None = None
    downgrade: bool = False
    c4_score: float = 0.0
    c5_score: float = 0.0


@dataclass(slots=True)
class _CellState:
    cell: Cell
    best_cipher: tuple[int, Cited] | None = None
    a5_1: list[Cited] = field(default_factory=list)
    a5_1_count: int = 0
    a5_2: list[Cited] = field(default_factory=list)
    a5_2_count: int = 0
    system_information_3: tuple[SystemInformation3, Cited] | None = None
    neighbours: set[int] = field(default_factory=set)
    neighbour_lists: list[Cited] = field(default_factory=list)
    session_score: float = 0.0
    session_parts: tuple[str, ...] = ()
    session_evidence: tuple[Cited, ...] = ()


class GsmDetectors:
    """The 2G/3G detectors over one log (see the module docstring for the rules)."""

    def __init__(self) -> None:
        self._cells: dict[Cell, _CellState] = {}
        self.cells_not_followed = 0
        """Messages of cells beyond ``MAX_CELLS`` that no per-cell rule could weigh (for the log's summary)."""
        self._session: _Session | None = None
        self._sessions: dict[str | None, list[int]] = {}  # PLMN -> [sessions, ciphered sessions]
        self._kept: list[_Session] = []  # sessions with an unciphered command, a downgrade or C4
        self.sessions_not_kept = 0
        """Sessions beyond ``MAX_KEPT`` with something to report, left out of the findings (for the summary)."""
        self._umts_imsi_request: Cited | None = None
        self._umts_ciphered_plmns: set[str] = set()
        self._radio: str | None = None  # the RAT of the last radio-resource message (GSM RR, UMTS RRC)

    def feed(self, frame: Frame, message: Decoded, cell: Cell, locator: Locator) -> Iterator[Finding]:
        if message.error is not None:
            return
        cited = Cited(Evidence(locator, excerpt(frame, message)), frame_time(frame))
        if frame.layer in (RR, RRC) or message.protocol == "GSM RR":
            self._radio = frame.rat
        if frame.rat == GSM and not _carried(message):
            yield from self._gsm(message, cell, cited)
        if frame.rat == UMTS:
            yield from self._umts(message, cell, cited)

    def finish(self) -> Iterator[Finding]:
        self._close_session()
        for session in self._kept:
            finding = self._no_ciphering(session)
            if finding is not None:
                yield finding
        for state in self._cells.values():
            yield from _breakable_cipher(state)
        for session in self._kept:
            self._score_session(session)
        for state in self._cells.values():
            finding = _catcher_score(state)
            if finding is not None:
                yield finding

    # GSM

    def _gsm(self, message: Decoded, cell: Cell, cited: Cited) -> Iterator[Finding]:
        if message.name in _SESSION_OPENERS:
            self._open_session(message, cell, cited)
        elif message.name == "RRChannelRelease":
            self._close_session()
        if isinstance(message, CipherModeCommand):
            yield from self._cipher_mode_command(message, cell, cited)
        elif isinstance(message, IdentityRequest) and self._session is not None:
            if len(self._session.identity_requests) < 16:
                self._session.identity_requests.append((message.identity_type, cited))
        elif isinstance(message, Authentication | GprsCipheringRequest) and self._session is not None:
            self._session.authenticated = True
        if isinstance(message, Reject) and message.name == "MMLocationUpdatingReject":
            finding = self._location_update_reject(message, cited)
            if finding is not None:
                yield finding
        # SCAT writes 3G NAS as GSMTAP Abis, which reads as GSM: a GMM message right after UMTS RRC is 3G NAS,
        # whose GEA field means nothing (the xperia sample has GEA0 there).
        if isinstance(message, GprsCipheringRequest) and message.algorithm in ("GEA0", "GEA1") and self._radio != UMTS:
            yield _gprs_weak_cipher(message, cell, cited)
        if isinstance(message, SystemInformation3 | NeighbourList):
            self._broadcast(message, cell, cited)

    def _open_session(self, message: Decoded, cell: Cell, cited: Cited) -> None:
        self._close_session()
        self._session = _Session(plmn=cell.plmn, cell=cell, opened=cited)
        if isinstance(message, LocationUpdatingRequest):
            self._session.location_update = cited

    def _close_session(self) -> None:
        session = self._session
        if session is None:
            return
        self._session = None
        counts = self._sessions.get(session.plmn)
        if counts is None:
            if len(self._sessions) >= MAX_CELLS:
                return
            counts = self._sessions[session.plmn] = [0, 0]
        counts[0] += 1
        counts[1] += int(session.ciphered and session.unciphered is None)
        if session.unciphered is not None or session.downgrade or session.c4_score:
            if len(self._kept) < MAX_KEPT:
                self._kept.append(session)
            else:
                self.sessions_not_kept += 1

    def _cell(self, cell: Cell) -> _CellState | None:
        state = self._cells.get(cell)
        if state is None:
            if len(self._cells) >= MAX_CELLS:
                self.cells_not_followed += 1
                return None
            state = self._cells[cell] = _CellState(cell)
        return state

    def _cipher_mode_command(self, message: CipherModeCommand, cell: Cell, cited: Cited) -> Iterator[Finding]:
        session = self._session
        if session is None:  # a log that starts inside a connection: the command opens the session
            self._session = session = _Session(plmn=cell.plmn, cell=cell, opened=cited)
        if message.ciphering:
            session.ciphered = True
        elif session.unciphered is None:
            session.unciphered = cited
        state = self._cell(cell)
        if state is None:
            return
        if message.algorithm == "A5/1":
            state.a5_1_count += 1
            if len(state.a5_1) < 5:
                state.a5_1.append(cited)
        elif message.algorithm == "A5/2":
            state.a5_2_count += 1
            if len(state.a5_2) < 5:
                state.a5_2.append(cited)
        rank = CIPHER_RANK.get(message.algorithm)
        if rank is None:
            return
        best = state.best_cipher
        if best is not None and rank < best[0]:
            session.downgrade = True
            yield _downgrade(message, cell, best[1], cited)
        if best is None or rank > best[0]:
            state.best_cipher = (rank, cited)

    def _location_update_reject(self, message: Reject, cited: Cited) -> Finding | None:
        session = self._session
        if session is None or session.location_update is None or session.authenticated or session.ciphered:
            return None
        imsi = [c for kind, c in session.identity_requests if kind == 1]
        if not imsi:
            return None
        imei = [c for kind, c in session.identity_requests if kind in (2, 3)]
        session.c4_score = 2.0 * (3 if imei else 1)
        return _location_update_imsi_reject(session, message, imsi, imei, cited)

    def _broadcast(self, message: SystemInformation3 | NeighbourList, cell: Cell, cited: Cited) -> None:
        state = self._cell(cell)
        if state is None:
            return
        if isinstance(message, SystemInformation3):
            state.system_information_3 = (message, cited)
            return
        state.neighbours.update(message.arfcns)
        if len(state.neighbour_lists) < 6:
            state.neighbour_lists.append(cited)

    def _no_ciphering(self, session: _Session) -> Finding | None:
        if session.unciphered is None:
            return None
        total, ciphered = self._sessions.get(session.plmn, [0, 0])
        share = ciphered / total if total else 0.0
        severity, score = (
            (Severity.HIGH, 2.0) if share > 0.9 else (Severity.MEDIUM, 1.5) if share > 0.8 else (Severity.LOW, 1.0)
        )
        session.c5_score = score
        plmn = session.plmn or "an unknown PLMN"
        return Finding(
            rule="cellular.gsm.no_ciphering",
            severity=severity,
            title=f"A GSM ciphering mode command started no ciphering on {session.cell.text}",
            explanation=(
                f"The network sent a Ciphering Mode Command with SC = 0 (no ciphering) on {session.cell.text}. "
                f"In this log {ciphered} of the {total} sessions on {plmn} were ciphered ({share:.0%}); "
                "SnoopSnitch (criterion C5) weighs an unciphered session by that share: above 90 % high, above "
                "80 % medium, else low. Without ciphering, calls, SMS and signalling are readable over the air."
            ),
            caveats=(
                "Some networks leave some sessions unciphered (emergency calls, misconfiguration, load).",
                "The share counts only the sessions of this log; a short log says little about the network.",
            ),
            evidence=(session.unciphered.evidence,),
            time=session.unciphered.time,
        )

    def _score_session(self, session: _Session) -> None:
        parts: list[str] = []
        score = 0.0
        if session.downgrade:
            parts.append("C1 1")
            score += 1.0
        if session.c4_score:
            parts.append(f"C4 {session.c4_score:g}")
            score += session.c4_score
        if session.c5_score:
            parts.append(f"C5 {session.c5_score:g}")
            score += session.c5_score
        state = self._cell(session.cell)
        if state is None or score <= state.session_score:
            return
        evidence = [session.opened]
        if session.unciphered is not None and session.unciphered is not session.opened:
            evidence.append(session.unciphered)
        state.session_score, state.session_parts, state.session_evidence = score, tuple(parts), tuple(evidence)

    # UMTS

    def _umts(self, message: Decoded, cell: Cell, cited: Cited) -> Iterator[Finding]:
        resets = isinstance(message, Authentication | GprsCipheringRequest | UmtsSecurityModeCommand)
        if isinstance(message, IdentityRequest) and message.identity_type == 1:
            if self._umts_imsi_request is None:
                self._umts_imsi_request = cited
        elif resets or message.name in _ACCEPTS:
            self._umts_imsi_request = None
        elif isinstance(message, Reject) and message.name in _UMTS_REJECTS and self._umts_imsi_request is not None:
            yield _umts_imsi_reject(self._umts_imsi_request, message, cell, cited)
            self._umts_imsi_request = None
        if isinstance(message, UmtsSecurityModeCommand):
            if message.ciphering == "UEA0":
                yield _umts_null_cipher(cell, cited, cell.plmn in self._umts_ciphered_plmns)
            elif message.ciphering in ("UEA1", "UEA2") and cell.plmn and len(self._umts_ciphered_plmns) < MAX_CELLS:
                self._umts_ciphered_plmns.add(cell.plmn)


def frame_time(frame: Frame) -> datetime | None:
    """The frame's time as a UTC datetime; None when the log gives none or it is out of range."""
    if frame.time_ns is None:
        return None
    try:
        return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=frame.time_ns // 1000)
    except OverflowError:
        return None


def excerpt(frame: Frame, message: Decoded) -> str:
    """What a finding quotes of a message: its frame number, name and the fields the rules read."""
    details: list[str] = []
    if isinstance(message, CipherModeCommand):
        details.append(f"SC={int(message.ciphering)}, {message.algorithm}")
    elif isinstance(message, GprsCipheringRequest | UmtsSecurityModeCommand) and message.security is not None:
        details.append(message.security.ciphering)
        if message.security.integrity:
            details.append(message.security.integrity)
    elif isinstance(message, IdentityRequest):
        details.append(f"identity {message.identity_name}")
    elif isinstance(message, Reject) and message.cause is not None:
        details.append(f"cause #{message.cause}")
    elif isinstance(message, LocationUpdatingRequest) and message.identity_type:
        details.append(f"identity {message.identity_type}")
    elif isinstance(message, SystemInformation3):
        details.append(
            f"T3212={message.t3212}, CRO={message.cell_reselect_offset}, BS_AG_BLKS_RES={message.bs_ag_blks_res}, "
            f"BS_PA_MFRMS={message.bs_pa_mfrms}, combined={int(message.ccch_combined)}"
        )
    elif isinstance(message, NeighbourList):
        details.append(f"{len(message.arfcns)} ARFCNs")
    carried = message.carried_in if isinstance(message, Layer3Message) else None
    if carried:
        details.append(f"in {carried}")
    text = f"frame {frame.number}: {message.protocol} {message.name}"
    return f"{text} ({', '.join(details)})" if details else text


def _carried(message: Decoded) -> bool:
    return isinstance(message, Layer3Message) and message.carried_in is not None


def _downgrade(message: CipherModeCommand, cell: Cell, best: Cited, cited: Cited) -> Finding:
    earlier = best.evidence.excerpt
    return Finding(
        rule="cellular.gsm.cipher_downgrade",
        severity=Severity.HIGH,
        title=f"A GSM ciphering mode command chose {message.algorithm} on a cell that used a stronger cipher earlier",
        explanation=(
            f"On {cell.text} the network commanded {message.algorithm} ({cited.evidence.excerpt}) after it had "
            f"commanded a stronger cipher earlier in this log ({earlier}). A fake base station that cannot break "
            "the operator's cipher asks for a weaker one or none (SnoopSnitch criterion C1)."
        ),
        caveats=(
            "An operator may configure cells of the same network differently, or change the configuration.",
            "Rarely, a hardware fault makes a real cell fall back to no ciphering.",
        ),
        evidence=(best.evidence, cited.evidence),
        time=cited.time,
    )


def _gprs_weak_cipher(message: GprsCipheringRequest, cell: Cell, cited: Cited) -> Finding:
    what = "no ciphering (GEA0)" if message.algorithm == "GEA0" else "GEA1, a cipher broken in practice"
    return Finding(
        rule="cellular.gsm.gprs_weak_cipher",
        severity=Severity.MEDIUM,
        title=f"A GPRS authentication and ciphering request chose {message.algorithm} on {cell.text}",
        explanation=(
            f"The GMM Authentication and Ciphering Request ({cited.evidence.excerpt}) set {what} for the phone's "
            "GPRS data: traffic over this connection can be read (and, without integrity protection in GPRS, "
            "altered) by whoever operates or overhears the cell."
        ),
        caveats=("Some operators still run GPRS with GEA0 or GEA1; compare with other logs of the same network.",),
        evidence=(cited.evidence,),
        time=cited.time,
    )


def _location_update_imsi_reject(
    session: _Session, message: Reject, imsi: list[Cited], imei: list[Cited], cited: Cited
) -> Finding:
    assert session.location_update is not None
    also = " The IMEI or IMEISV was requested too." if imei else ""
    cause = f" (cause #{message.cause})" if message.cause is not None else ""
    return Finding(
        rule="cellular.gsm.location_update_imsi_reject",
        severity=Severity.HIGH,
        title=f"A location update was answered with an IMSI request and a reject, without authentication, on "
        f"{session.cell.text}",
        explanation=(
            "The phone asked to register (Location Updating Request), the network asked for its IMSI and then "
            f"rejected the registration{cause} without authenticating it or starting ciphering.{also} This is how "
            "an identification-mode IMSI catcher collects the identities of the phones nearby and sends them back "
            "to their network (SnoopSnitch criterion C4)."
        ),
        caveats=(
            "A real network may ask for the IMSI when it cannot resolve the TMSI, and reject a SIM that is not "
            "allowed on it (roaming, an inactive subscription): check the reject cause.",
        ),
        evidence=(session.location_update.evidence, *(c.evidence for c in imsi + imei), cited.evidence),
        time=cited.time,
    )


def _breakable_cipher(state: _CellState) -> Iterator[Finding]:
    for algorithm, cited_list, count, severity, why in (
        ("A5/1", state.a5_1, state.a5_1_count, Severity.INFO, "broken in practice but still used by many networks"),
        ("A5/2", state.a5_2, state.a5_2_count, Severity.MEDIUM, "withdrawn from phones in 2007 as too weak"),
    ):
        if not count:
            continue
        yield Finding(
            rule="cellular.gsm.breakable_cipher",
            severity=severity,
            title=f"{count} GSM ciphering mode commands chose {algorithm} on {state.cell.text}",
            explanation=(
                f"The network ciphered this cell's connections with {algorithm}, a cipher {why}: a passive "
                f"listener with the right equipment can decrypt them (the first {len(cited_list)} are cited)."
            ),
            caveats=("This is the network's configuration, common on real 2G networks; alone it shows no attack.",),
            evidence=tuple(c.evidence for c in cited_list),
            time=cited_list[0].time if cited_list else None,
        )


def broadcast_scores(state: _CellState) -> list[tuple[str, float, str]]:
    """The SnoopSnitch sub-scores of a cell's broadcast parameters: (criterion, score, reason)."""
    parts: list[tuple[str, float, str]] = []
    if state.system_information_3 is not None:
        si3 = state.system_information_3[0]
        if 0 < si3.t3212 < 5:
            parts.append(("T1", 1.5, f"T3212 {si3.t3212} decihours"))
        elif 0 < si3.t3212 < 9:
            parts.append(("T1", 0.7, f"T3212 {si3.t3212} decihours"))
        if si3.cell_reselect_offset is not None and si3.cell_reselect_offset > 40:
            parts.append(
                ("K2", 1.0, f"CELL_RESELECT_OFFSET {si3.cell_reselect_offset} ({2 * si3.cell_reselect_offset} dB)")
            )
        if si3.paging_groups > 80:
            parts.append(("R2", 1.0, f"{si3.paging_groups} paging groups"))
    if state.neighbour_lists and len(state.neighbours) <= 1:
        parts.append(("K1", 1.0, f"{len(state.neighbours)} neighbour ARFCNs"))
    return parts


def _catcher_score(state: _CellState) -> Finding | None:
    parts = broadcast_scores(state)
    score = sum(p[1] for p in parts) + state.session_score
    if score <= 0:
        return None
    listed = [f"{name} {value:g} ({reason})" for name, value, reason in parts] + list(state.session_parts)
    evidence = [state.system_information_3[1]] if state.system_information_3 is not None else []
    evidence += state.neighbour_lists if any(p[0] == "K1" for p in parts) else []
    evidence += state.session_evidence
    alarm = score > ALARM_SCORE
    severity = (Severity.HIGH if state.session_score else Severity.MEDIUM) if alarm else Severity.INFO
    return Finding(
        rule="cellular.gsm.catcher_score",
        severity=severity,
        title=f"{state.cell.text} scores {score:.1f} on SnoopSnitch's IMSI catcher criteria"
        + (" (above 2.6)" if alarm else ""),
        explanation=(
            f"Sub-scores: {'; '.join(listed)}. SnoopSnitch sums these per session and raises an event above "
            f"{ALARM_SCORE}; here the broadcast parameters of the cell are added to the highest session score "
            "seen on it. Each parameter alone is a configuration choice; a cell built to attract and hold phones "
            "tends to show several."
        ),
        caveats=(
            "Operators lower T3212 during MSC maintenance; small islands, femtocells and indoor cells have few "
            "neighbours; poor-coverage areas use high reselection offsets (SnoopSnitch's wiki).",
        ),
        evidence=tuple(c.evidence for c in evidence),
        time=evidence[0].time if evidence else None,
    )


def _umts_imsi_reject(request: Cited, message: Reject, cell: Cell, cited: Cited) -> Finding:
    cause = f" (cause #{message.cause})" if message.cause is not None else ""
    return Finding(
        rule="cellular.umts.imsi_request_reject",
        severity=Severity.HIGH,
        title=f"An IMSI identity request was followed by a reject without authentication on {cell.text}",
        explanation=(
            f"The network asked the phone for its IMSI ({request.evidence.excerpt}) and then sent "
            f"{message.name}{cause} without any authentication between them. A real network authenticates a "
            "subscriber it has identified; a catcher that only collects identities rejects the phone instead."
        ),
        caveats=(
            "A real network may reject a SIM it cannot serve (roaming not allowed, an inactive subscription) "
            "after asking for its IMSI: check the reject cause and the PLMN.",
        ),
        evidence=(request.evidence, cited.evidence),
        time=cited.time,
    )


def _umts_null_cipher(cell: Cell, cited: Cited, seen_ciphered: bool) -> Finding:
    earlier = (
        f"{cell.plmn} was seen earlier in this log with UEA1 or UEA2"
        if seen_ciphered
        else "no earlier ciphered command on this PLMN is in the log"
    )
    return Finding(
        rule="cellular.umts.null_cipher",
        severity=Severity.HIGH if seen_ciphered else Severity.MEDIUM,
        title=f"A UMTS security mode command chose UEA0 (no ciphering) on {cell.text}",
        explanation=(
            f"The RRC Security Mode Command ({cited.evidence.excerpt}) started UEA0: the connection is integrity "
            f"protected but not ciphered; {earlier}."
        ),
        caveats=("Some operators use UEA0 in parts of their network or for some subscribers.",),
        evidence=(cited.evidence,),
        time=cited.time,
    )
