"""Rogue LTE base station ("IMSI catcher") heuristics over one signalling log, message by message.

The signalling artifact feeds every decoded LTE message (``lte.decode``) in log order with the serving cell and
the locator of its record; each rule below says what it reads and where the condition comes from:

- EFF Rayhunter (lib 0.12.0, ``lib/src/analysis/``): the connection release redirecting to 2G, the SIB6/7
  priority downgrade, the AS and NAS null cipher, the identity-request state machine, incomplete SIB1 and the
  "IMSI exposing" diagnostic list, whose causes come from Marlin (NDSS 2025, ``code/analysis/macros.py``);
- SnoopSnitch (SRLabs): a cipher weaker than the one seen before on the same cell or network (its C1 and C5),
  which is how the null cipher rules weigh a benign network that never ciphers against a downgrade;
- 3GPP: TS 33.401's integrity requirements (EIA0 only for unauthenticated emergency calls; the clause was not
  checked against the specification text here), TS 24.301 (EMM causes, attach and detach types), TS 36.304
  5.2.4.1 (reselection priorities).

Every finding names the cell (``Cell.text``), cites the messages that triggered it and says what innocent
explanation there may be: benign public logs contain each of these signals (null ciphering on Sprint's band 41 in
2015 and China Mobile's NAS, UTRA priorities above LTE on AT&T in 2016, IMEISV requests), so each rule is
weighed against what the same log showed of the same network or cell before. State is bounded: per cell and per
network sets and counters of at most ``MAX_KEYS`` entries, and at most ``CITED`` messages cited by a finding.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from vestige.cellular.frames import NAS, Cell, Frame
from vestige.cellular.lte import (
    CIPHERED,
    IMSI_DETACH_MT,
    EmmCauseMessage,
    EmmDetachRequest,
    EmmIdentityRequest,
    EmmRegistrationRequest,
    RrcConnectionReconfiguration,
    RrcConnectionRelease,
    SystemInformation,
    SystemInformationBlockType1,
)
from vestige.cellular.records import Decoded, Security
from vestige.model import Evidence, Finding, Locator, Severity
from vestige.platforms import excerpt

REDIRECT_RULE = "cellular.lte.redirect_downgrade"
PRIORITY_RULE = "cellular.lte.sib_priority_downgrade"
NULL_CIPHER_AS_RULE = "cellular.lte.null_cipher_as"
NULL_CIPHER_NAS_RULE = "cellular.lte.null_cipher_nas"
NULL_INTEGRITY_RULE = "cellular.lte.null_integrity"
IMSI_THEN_REJECT_RULE = "cellular.lte.imsi_request_then_reject"
UNSOLICITED_IMSI_RULE = "cellular.lte.imsi_request_unsolicited"
EQUIPMENT_IDENTITY_RULE = "cellular.lte.equipment_identity_request"
NO_SERVICE_RULE = "cellular.lte.identity_request_then_no_service"
IMSI_EXPOSING_RULE = "cellular.lte.imsi_exposing_message"
MAC_FAILURE_RULE = "cellular.lte.authentication_mac_failure"
INCOMPLETE_SIB1_RULE = "cellular.lte.incomplete_sib1"

MAX_KEYS = 4_096
"""Cells and networks remembered per table (a day-long log shows dozens)."""
CITED = 10
"""Messages a finding that sums up many cites: the first ones."""
GRACE_NS = 30_000_000_000
"""At the start of a log, an identity request may answer an attach the log began too late to show (Rayhunter
issue #557): within 30 s of the first message, or the first ``GRACE_MESSAGES`` when the log gives no time, an
identity request with no request before it is not reported."""
GRACE_MESSAGES = 100
SAME_NS = 1_000_000_000
"""The two copies of a protected NAS message come within this of each other (tens of microseconds in practice)."""
MIN_SCHEDULING_ENTRIES = 2
"""SIB1 schedules SIB2 and at least one more SI (Rayhunter's ``incomplete_sib``, v2)."""

NULL_CIPHER = "eea0"
NULL_INTEGRITY = "eia0"
CIPHERS = frozenset({"eea1", "eea2", "eea3"})
IMSI, IMEI, IMEISV = 1, 2, 3
MAC_FAILURE = 20
NO_EPS_NOR_NON_EPS = 8
"""EMM cause #8, "EPS services and non-EPS services not allowed": a SIM without an active plan (Rayhunter)."""

EMM_CAUSES = {
    3: "Illegal UE",
    6: "Illegal ME",
    7: "EPS services not allowed",
    8: "EPS services and non-EPS services not allowed",
    9: "UE identity cannot be derived by the network",
    11: "PLMN not allowed",
    12: "Tracking area not allowed",
    13: "Roaming not allowed in this tracking area",
    14: "EPS services not allowed in this PLMN",
    15: "No suitable cells in tracking area",
    17: "Network failure",
    20: "MAC failure",
    21: "Synch failure",
    26: "Non-EPS authentication unacceptable",
    35: "Requested service option not authorized in this PLMN",
}
"""TS 24.301 9.9.3.9, for the causes the rules name."""

IMSI_EXPOSING_CAUSES = {
    "EMMTrackingAreaUpdateReject": frozenset({3, 6, 7, 8, 12, 14, 35}),
    "EMMAttachReject": frozenset({3, 6, 7, 8, 11, 12, 13, 14, 15, 35}),
    "EMMServiceReject": frozenset({3, 6, 7, 9, 12, 14, 35}),
}
"""Rejects after which the phone drops its temporary identity and must send its IMSI next (Marlin's LTE list)."""

REJECTS = frozenset({*IMSI_EXPOSING_CAUSES, "EMMAuthenticationReject"})
OPENINGS = frozenset(
    {
        "EMMAttachRequest",
        "EMMTrackingAreaUpdateRequest",
        "EMMServiceRequest",
        "EMMExtServiceRequest",
        "RRCConnectionRequest",
        "RRCConnectionReestablishmentRequest",
    }
)
"""Messages by which the phone opens an exchange with the network (Rayhunter's "AttachRequest" state)."""
PROOFS = frozenset(
    {"EMMAuthenticationResponse", "EMMSecurityModeComplete", "EMMAttachComplete", "EMMTrackingAreaUpdateComplete"}
)
"""Messages after which the network has proved it holds the subscriber's keys (the phone checked AUTN or the MAC
of a security mode command), or the phone completed a registration it accepted."""

_UTRA = ("utra-FDD", "utra-TDD", "utra-TDD-r10")
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

_NULL_CIPHER_CAVEATS = (
    "Some operators run null ciphering on purpose: Sprint's band 41 (EARFCN 40978) in 2015 put eea0 in force "
    "on every connection (sprint.mi2log, MobileInsight), and China Mobile's NAS security mode commands use EEA0 "
    "routinely.",
    "A failed algorithm negotiation, a test network or a regulated emergency session also ends in null ciphering.",
)


def _an(layer: str) -> str:
    return f"An {layer}" if layer.startswith("RRC") else f"A {layer}"


def _moment(time_ns: int | None) -> datetime | None:
    if time_ns is None:
        return None
    try:
        return _UNIX_EPOCH + timedelta(microseconds=time_ns // 1000)
    except OverflowError:
        return None


@dataclass(frozen=True, slots=True)
class _Seen:
    """A message a later finding may cite."""

    locator: Locator
    text: str
    number: int
    time_ns: int | None
    cell: Cell

    @property
    def evidence(self) -> Evidence:
        return Evidence(self.locator, excerpt(f"frame {self.number}: {self.text}"))


@dataclass(slots=True)
class _Tally:
    """Many messages of one kind on one cell (or network), summed up in one finding at the end of the log."""

    cell: Cell
    count: int = 0
    cited: list[_Seen] = field(default_factory=list)

    def add(self, seen: _Seen) -> None:
        self.count += 1
        if len(self.cited) < CITED:
            self.cited.append(seen)


@dataclass(slots=True)
class _Priorities:
    """The highest reselection priorities one cell's system information gave, with the messages that gave them."""

    cell: Cell
    lte: int | None = None
    lte_seen: _Seen | None = None
    utra: int | None = None
    utra_seen: _Seen | None = None
    geran: int | None = None
    geran_seen: _Seen | None = None


@dataclass(slots=True)
class _Exchange:
    """What the phone and network did since the phone last opened an exchange (an attach, TAU or service request,
    an RRC connection request), until a reject, detach or release closed it."""

    opening: _Seen | None = None
    by_nas: bool = False
    """The exchange was opened by a NAS request (attach, TAU, service), not by an RRC connection request."""
    emergency: bool = False
    proof: _Seen | None = None
    imsi_request: _Seen | None = None
    identity_request: _Seen | None = None


class LteDetectors:
    """The LTE rules over one log (one instance per log; not shared between threads)."""

    def __init__(self) -> None:
        self._first_time_ns: int | None = None
        self._messages = 0
        self._exchange = _Exchange()
        self._ue_plmn: str | None = None
        self._cell_plmns: dict[Cell, tuple[str, ...]] = {}
        self._ciphered: dict[tuple[object, ...], _Seen] = {}
        self._null_tallies: dict[tuple[str, Cell], _Tally] = {}
        self._equipment_tallies: dict[Cell, _Tally] = {}
        self._priorities: dict[Cell, _Priorities] = {}
        self._incomplete_reported: set[Cell] = set()
        self._mac_failure: _Seen | None = None
        self._as_integrity: str | None = None
        self._known_cells: dict[tuple[int | None, int | None], Cell] = {}
        """The last cell identified on each carrier and PCI, for the target of a handover command."""
        self._last_nas: tuple[Frame, Decoded] | None = None

    # ------------------------------------------------------------------------------------------
    # Feeding

    def feed(self, frame: Frame, message: Decoded, cell: Cell, locator: Locator) -> Iterator[Finding]:
        """The findings ``message`` (decoded from ``frame``, on the serving ``cell``) gives at once."""
        self._messages += 1
        if self._first_time_ns is None and frame.time_ns is not None:
            self._first_time_ns = frame.time_ns
        if message.error is not None or message.name == CIPHERED or self._second_copy(frame, message):
            return
        seen = _Seen(locator, describe(message), frame.number, frame.time_ns, cell)
        if isinstance(message, SystemInformationBlockType1):
            yield from self._sib1(message, seen)
        elif isinstance(message, SystemInformation):
            self._system_information(message, seen)
        elif isinstance(message, RrcConnectionRelease):
            yield from self._release(message, seen)
        self._know(cell)
        if message.security is not None:
            yield from self._security(message.security, seen, self._secured_cell(message, cell))
        yield from self._exchange_step(message, seen)

    def _second_copy(self, frame: Frame, message: Decoded) -> bool:
        """Whether ``message`` is the other copy of the NAS message just fed: a Qualcomm modem logs each
        security-protected NAS message twice, protected and plain, tens of microseconds apart (diag.py). The
        signalling artifact deduplicates them; this keeps a caller that does not from counting one message
        twice (a repeated MAC failure is high)."""
        if frame.layer != NAS:
            return False
        last, self._last_nas = self._last_nas, (frame, message)
        if last is None:
            return False
        previous, decoded = last
        close = frame.time_ns is None or previous.time_ns is None or abs(frame.time_ns - previous.time_ns) < SAME_NS
        return previous.channel != frame.channel and decoded == message and close

    def finish(self) -> Iterator[Finding]:
        """The findings that sum up the log: null ciphering by cell, equipment identity requests by cell,
        reselection priorities by cell."""
        for (layer, _), tally in self._null_tallies.items():
            yield _null_cipher_finding(layer, tally)
        for tally in self._equipment_tallies.values():
            yield _equipment_finding(tally)
        grouped: dict[tuple[str, str | None], list[_Priorities]] = {}
        for priorities in self._priorities.values():
            kind = _priority_kind(priorities)
            if kind == "gsm":
                yield _gsm_priority_finding(priorities)
            elif kind is not None:
                grouped.setdefault((kind, priorities.cell.plmn), []).append(priorities)
        for (kind, plmn), cells in grouped.items():
            yield _grouped_priority_finding(kind, plmn, cells)

    # ------------------------------------------------------------------------------------------
    # Broadcast

    def _sib1(self, message: SystemInformationBlockType1, seen: _Seen) -> Iterator[Finding]:
        """Rayhunter ``incomplete_sib`` (v2): fewer than two scheduling entries; once per cell."""
        if message.identity is not None and message.identity.plmns and len(self._cell_plmns) < MAX_KEYS:
            self._cell_plmns[seen.cell] = message.identity.plmns
        if message.scheduling_entries >= MIN_SCHEDULING_ENTRIES or seen.cell in self._incomplete_reported:
            return
        if len(self._incomplete_reported) >= MAX_KEYS:
            return
        self._incomplete_reported.add(seen.cell)
        yield Finding(
            rule=INCOMPLETE_SIB1_RULE,
            severity=Severity.INFO,
            title=f"SIB1 schedules {message.scheduling_entries} system information message(s)",
            explanation=(
                f"The SIB1 of {seen.cell.text} (frame {seen.number}) lists {message.scheduling_entries} entries in "
                "schedulingInfoList. A cell normally schedules SIB2 and at least one more message (neighbours, "
                "reselection); a simple fake base station often broadcasts only what a phone needs to camp "
                "(Rayhunter, incomplete SIB). It weighs only together with other signs such as identity requests."
            ),
            caveats=(
                "A small cell, a misconfigured or newly commissioned cell may schedule few system information "
                "messages.",
            ),
            evidence=(seen.evidence,),
            time=_moment(seen.time_ns),
        )

    def _system_information(self, message: SystemInformation, seen: _Seen) -> None:
        """Rayhunter ``priority_2g_downgrade`` (v2) and Shinjo Park's heuristic T7 ("Why We Cannot Win"): the
        highest priority of each RAT, per cell, judged at the end of the log (``_priority_kind``)."""
        priorities = self._priorities.get(seen.cell)
        if priorities is None:
            if len(self._priorities) >= MAX_KEYS:
                return
            priorities = self._priorities[seen.cell] = _Priorities(seen.cell)
        lte = max(message.lte_priorities, default=None)
        utra = max(message.utra_fdd_priorities + message.utra_tdd_priorities, default=None)
        geran = max(message.geran_priorities, default=None)
        if lte is not None and (priorities.lte is None or lte > priorities.lte):
            priorities.lte, priorities.lte_seen = lte, seen
        if utra is not None and (priorities.utra is None or utra > priorities.utra):
            priorities.utra, priorities.utra_seen = utra, seen
        if geran is not None and (priorities.geran is None or geran > priorities.geran):
            priorities.geran, priorities.geran_seen = geran, seen

    def _release(self, message: RrcConnectionRelease, seen: _Seen) -> Iterator[Finding]:
        """Rayhunter ``connection_redirect_downgrade`` (v1; Lin Huang, HITB 2016): a release redirecting to GERAN
        is high, to UTRA medium; to another LTE carrier nothing."""
        self._exchange = _Exchange()
        if message.redirect == "geran":
            severity, target = Severity.HIGH, "GSM (GERAN)"
        elif message.redirect in _UTRA:
            severity, target = Severity.MEDIUM, f"UMTS ({message.redirect})"
        else:
            return
        carrier = f", carrier {message.carrier}" if message.carrier is not None else ""
        weaker = (
            "GSM has no mutual authentication and allows weak or no ciphering, so a station there can impersonate "
            "the network"
            if message.redirect == "geran"
            else "UMTS authenticates the network, but a 3G station can still ask for the IMSI before authentication"
        )
        yield Finding(
            rule=REDIRECT_RULE,
            severity=severity,
            title=f"An RRC connection release redirected the phone to {target}{carrier}",
            explanation=(
                f"On {seen.cell.text}, the RRCConnectionRelease of frame {seen.number} carries redirectedCarrierInfo "
                f"{message.redirect}{carrier}: the phone leaves LTE for that carrier at once. A fake LTE base "
                f"station uses this to push a phone onto a network it controls. {weaker}."
            ),
            caveats=(
                "Networks redirect to 2G or 3G for circuit-switched fallback (a voice call or SMS on a network "
                "without VoLTE), at the edge of LTE coverage, or when an LTE cell is overloaded.",
                "US networks shut their 2G down (AT&T in 2017), where a redirection to GERAN is now unusual.",
            ),
            evidence=(seen.evidence,),
            time=_moment(seen.time_ns),
        )

    # ------------------------------------------------------------------------------------------
    # Security

    def _know(self, cell: Cell) -> None:
        """Remembers the cell identified on a carrier and PCI."""
        if cell.cell_index is None or (cell.plmn is None and cell.cell_id is None):
            return
        channel = (cell.channel_number, cell.cell_index)
        if len(self._known_cells) < MAX_KEYS or channel in self._known_cells:
            self._known_cells[channel] = cell

    def _secured_cell(self, message: Decoded, serving: Cell) -> Cell:
        """The cell a message's security is for: a handover command's target (the cell last identified on the
        carrier and PCI the command names, else just those), else the serving cell."""
        if not isinstance(message, RrcConnectionReconfiguration) or message.target_pci is None:
            return serving
        earfcn = message.target_earfcn if message.target_earfcn is not None else serving.channel_number
        known = self._known_cells.get((earfcn, message.target_pci))
        return known or Cell(serving.rat, channel_number=earfcn, cell_index=message.target_pci)

    def _security(self, security: Security, seen: _Seen, secured: Cell) -> Iterator[Finding]:
        """``security`` put in force on ``secured``: the serving cell, or a handover's target."""
        if security.ciphering == NULL_CIPHER:
            yield from self._null_cipher(security, seen, secured)
        elif security.ciphering in CIPHERS:
            for key in _cipher_keys(security.layer, secured):
                if key not in self._ciphered and len(self._ciphered) < MAX_KEYS:
                    self._ciphered[key] = seen
        if security.integrity == NULL_INTEGRITY and not self._exchange.emergency:
            yield _null_integrity_finding(security, seen, secured, self._exchange.opening)
        if security.layer == "AS":
            self._as_integrity = security.integrity

    def _null_cipher(self, security: Security, seen: _Seen, secured: Cell) -> Iterator[Finding]:
        """Rayhunter ``null_cipher`` and ``nas_null_cipher`` (v1), weighed as SnoopSnitch's C1 (a cipher weaker
        than the best seen on the same cell) and C5 (on the same network): high where the same cell, or the same
        network (on the same carrier for AS, since an operator may cipher one band and not another: Sprint 2015),
        put EEA1-3 in force earlier in the log; else summed up by cell at the end of the log, medium."""
        keys = _cipher_keys(security.layer, secured)
        before = next((self._ciphered[key] for key in keys if key in self._ciphered), None)
        if before is not None:
            yield _downgrade_finding(security, seen, secured, before)
            return
        tally_key = (security.layer, secured)
        tally = self._null_tallies.get(tally_key)
        if tally is None:
            if len(self._null_tallies) >= MAX_KEYS:
                return
            tally = self._null_tallies[tally_key] = _Tally(secured)
        tally.add(seen)

    # ------------------------------------------------------------------------------------------
    # The identity-request state machine

    def _exchange_step(self, message: Decoded, seen: _Seen) -> Iterator[Finding]:
        """Rayhunter ``imsi_requested`` (v4), with identity types told apart (TS 24.301 8.2.18) and a grace
        period at the start of the log; Marlin's IMSI-exposing messages; the MAC failure rule."""
        name = message.name
        exchange = self._exchange
        if name in OPENINGS:
            by_nas = not name.startswith("RRC")
            if not by_nas and _waiting(exchange):
                return  # the modem logs a NAS request before the RRC connection that carries it
            self._exchange = _Exchange(opening=seen, by_nas=by_nas)
            if isinstance(message, EmmRegistrationRequest):
                self._exchange.emergency = message.emergency
                if message.ue_plmn is not None:
                    self._ue_plmn = message.ue_plmn
            return
        if name in PROOFS or (name == "SecurityModeComplete" and self._as_integrity not in (None, NULL_INTEGRITY)):
            exchange.proof = exchange.proof or seen
            return
        if isinstance(message, EmmIdentityRequest):
            yield from self._identity_request(message, seen)
        elif isinstance(message, EmmCauseMessage) and name == "EMMAuthenticationFailure":
            yield from self._authentication_failure(message, seen)
        elif name in REJECTS or isinstance(message, EmmDetachRequest):
            yield from self._closing(message, seen)

    def _in_grace(self, seen: _Seen) -> bool:
        if seen.time_ns is not None and self._first_time_ns is not None:
            return seen.time_ns - self._first_time_ns < GRACE_NS
        return self._messages <= GRACE_MESSAGES

    def _identity_request(self, message: EmmIdentityRequest, seen: _Seen) -> Iterator[Finding]:
        """Rayhunter ``imsi_requested`` (v4) with identity types told apart: an IMSI request before any proof of
        the network's keys is remembered for the reject or detach that may follow, and is high at once when
        nothing opened the exchange (after the grace period: Rayhunter issue #557); an IMEI or IMEISV request
        after authentication is informational, summed up by cell (benign in sprint.mi2log; issue #557)."""
        exchange = self._exchange
        if exchange.proof is None:
            exchange.identity_request = exchange.identity_request or seen
        if message.identity_type == IMSI and exchange.proof is None:
            exchange.imsi_request = exchange.imsi_request or seen
            if exchange.opening is None and not self._in_grace(seen):
                yield _unsolicited_finding(seen)
        elif message.identity_type in (IMEI, IMEISV) and exchange.proof is not None:
            tally = self._equipment_tallies.get(seen.cell)
            if tally is None:
                if len(self._equipment_tallies) >= MAX_KEYS:
                    return
                tally = self._equipment_tallies[seen.cell] = _Tally(seen.cell)
            tally.add(seen)

    def _authentication_failure(self, message: EmmCauseMessage, seen: _Seen) -> Iterator[Finding]:
        """TS 24.301 (authentication not accepted by the UE) and TS 33.401 (EPS AKA): the phone checks the
        network's AUTN with the subscriber's key; cause #20 says the check failed. High after an unanswered
        identity request or a second time in the log, else medium. Not in Rayhunter."""
        if message.cause != MAC_FAILURE:
            return
        yield _mac_failure_finding(seen, self._exchange.identity_request, self._mac_failure)
        self._mac_failure = seen

    def _closing(self, message: Decoded, seen: _Seen) -> Iterator[Finding]:
        """A reject or detach ends the exchange: after an IMSI request with no authentication, Rayhunter's
        ``imsi_requested`` (high on the phone's own network, low when roaming; Attach Reject #8 low); and
        Marlin's IMSI-exposing causes (Rayhunter ``diagnostic``): informational alone, medium after such an IMSI
        request."""
        exchange = self._exchange
        self._exchange = _Exchange()
        pending = exchange.imsi_request if exchange.proof is None else None
        cause = message.cause if isinstance(message, EmmCauseMessage) else None
        if pending is not None:
            if message.name == "EMMAttachReject" and cause == NO_EPS_NOR_NON_EPS:
                yield _no_service_finding(seen, pending)
                pending = None  # a SIM without a plan explains the reject: it corroborates nothing
            else:
                yield self._imsi_then_reject_finding(seen, pending)
        if _exposes_imsi(message):
            yield _exposing_finding(message, seen, pending)

    def _imsi_then_reject_finding(self, closing: _Seen, request: _Seen) -> Finding:
        plmns = self._cell_plmns.get(request.cell) or ((request.cell.plmn,) if request.cell.plmn else ())
        ue_plmn = self._ue_plmn
        if ue_plmn is not None and ue_plmn in plmns:
            severity = Severity.HIGH
            home = f"The phone's own network {ue_plmn} (from its attach or TAU request) is among the cell's PLMNs."
        elif ue_plmn is not None:
            severity = Severity.LOW
            home = (
                f"The phone's network {ue_plmn} is not among the cell's PLMNs ({', '.join(plmns) or 'unknown'}): "
                "a roaming phone's home network may be out of reach."
            )
        else:
            severity = Severity.MEDIUM
            home = "The log shows no attach or TAU request that names the phone's own network."
        return Finding(
            rule=IMSI_THEN_REJECT_RULE,
            severity=severity,
            title=f"An IMSI request without authentication was followed by {closing.text}",
            explanation=(
                f"On {request.cell.text}, the network asked the phone for its IMSI (frame {request.number}) and "
                f"then, with no authentication in between, sent or caused {closing.text} (frame {closing.number}). "
                "A genuine network that cannot resolve a temporary identity asks for the IMSI and then "
                "authenticates the phone; a station that holds no keys collects the IMSI and lets the phone go "
                f"(Rayhunter, IMSI requested). {home}"
            ),
            caveats=(
                "A phone coming back after a long disconnection (a landing aircraft) or roaming where its home "
                "network cannot be reached may be asked for its IMSI and rejected.",
            ),
            evidence=(request.evidence, closing.evidence),
            time=_moment(request.time_ns),
        )


def _waiting(exchange: _Exchange) -> bool:
    """Whether the exchange is a NAS request that nothing has answered yet."""
    return exchange.by_nas and exchange.proof is None and exchange.identity_request is None


# ----------------------------------------------------------------------------------------------
# Findings


def _cipher_keys(layer: str, cell: Cell) -> tuple[tuple[object, ...], ...]:
    """Where a ciphering counts as the norm: the cell by its identity, the cell by its carrier and PCI, and its
    network (for AS on the same carrier; NAS security belongs to the core network, whatever the carrier)."""
    keys: list[tuple[object, ...]] = []
    if cell.plmn is not None or cell.cell_id is not None:
        keys.append((layer, "cell", cell.channel_number, cell.cell_index, cell.plmn, cell.area, cell.cell_id))
    if cell.cell_index is not None:
        keys.append((layer, "channel", cell.channel_number, cell.cell_index))
    if cell.plmn is not None:
        keys.append(
            (layer, "network", cell.plmn, cell.channel_number) if layer == "AS" else (layer, "network", cell.plmn)
        )
    return tuple(keys)


def _downgrade_finding(security: Security, seen: _Seen, secured: Cell, before: _Seen) -> Finding:
    same_cell = before.cell == secured
    where = "the same cell" if same_cell else f"the same network or carrier ({before.cell.text})"
    layer = "RRC (AS)" if security.layer == "AS" else "NAS"
    target = f" for the handover to {secured.text}" if secured != seen.cell else ""
    return Finding(
        rule=NULL_CIPHER_AS_RULE if security.layer == "AS" else NULL_CIPHER_NAS_RULE,
        severity=Severity.HIGH,
        title=f"{_an(layer)} command put the null cipher eea0 in force where ciphering was seen before",
        explanation=(
            f"On {seen.cell.text}, {seen.text} (frame {seen.number}) turns {layer} ciphering off{target}: the "
            f"phone's traffic and signalling go in clear over the air. Earlier in the log {where} put ciphering "
            f"in force ({before.text}, frame {before.number}), so the network does cipher: a station that turns "
            "it off is what a fake base station does to read or alter traffic (Rayhunter null cipher; "
            "SnoopSnitch C1)."
        ),
        caveats=_NULL_CIPHER_CAVEATS,
        evidence=(seen.evidence, before.evidence),
        time=_moment(seen.time_ns),
    )


def _null_cipher_finding(layer: str, tally: _Tally) -> Finding:
    first = tally.cited[0]
    name = "RRC (AS)" if layer == "AS" else "NAS"
    count = f"{tally.count} {name} commands" if tally.count > 1 else f"{_an(name)} command"
    return Finding(
        rule=NULL_CIPHER_AS_RULE if layer == "AS" else NULL_CIPHER_NAS_RULE,
        severity=Severity.MEDIUM,
        title=f"{count} put the null cipher eea0 in force",
        explanation=(
            f"On {tally.cell.text}, {tally.count} {name} security mode or handover command(s) from frame "
            f"{first.number} on turned ciphering off (eea0): traffic and signalling went in clear over the air. "
            "Nothing earlier in the log shows this cell or network ciphering, so this is weighed as a network's "
            "setting rather than a downgrade (the first ones are cited)."
        ),
        caveats=_NULL_CIPHER_CAVEATS,
        evidence=tuple(seen.evidence for seen in tally.cited),
        time=_moment(first.time_ns),
    )


def _null_integrity_finding(security: Security, seen: _Seen, secured: Cell, opening: _Seen | None) -> Finding:
    layer = "RRC (AS)" if security.layer == "AS" else "NAS"
    target = f" for the handover to {secured.text}" if secured != seen.cell else ""
    opened = f" The exchange began with {opening.text} (frame {opening.number})." if opening is not None else ""
    evidence = (seen.evidence,) + ((opening.evidence,) if opening is not None else ())
    return Finding(
        rule=NULL_INTEGRITY_RULE,
        severity=Severity.HIGH,
        title=f"{_an(layer)} command put null integrity eia0 in force outside an emergency attach",
        explanation=(
            f"On {seen.cell.text}, {seen.text} (frame {seen.number}) selects eia0{target}: the phone then accepts "
            "signalling that nobody has to sign, so a station without the subscriber's keys can send any command. "
            "TS 33.401 allows EIA0 only for unauthenticated emergency sessions, and the log shows no "
            f"emergency attach in this exchange.{opened}"
        ),
        caveats=(
            "Test networks and lab equipment use null integrity.",
            "An emergency attach the log did not capture (it began after the attach) would allow EIA0.",
        ),
        evidence=evidence,
        time=_moment(seen.time_ns),
    )


def _unsolicited_finding(seen: _Seen) -> Finding:
    return Finding(
        rule=UNSOLICITED_IMSI_RULE,
        severity=Severity.HIGH,
        title="The network asked for the IMSI with no attach, update, service or connection request before it",
        explanation=(
            f"On {seen.cell.text}, the network sent an identity request for the IMSI (frame {seen.number}) with no "
            "attach, tracking area update, service request or RRC connection request from the phone before it in "
            "this exchange. A network asks for the IMSI only while registering a phone it cannot identify; a "
            "station that pages or keeps a phone to collect its IMSI does not wait for one (Rayhunter, IMSI "
            "requested without attach)."
        ),
        caveats=("A log that lost the message which opened the exchange (a gap in the DIAG stream) looks the same.",),
        evidence=(seen.evidence,),
        time=_moment(seen.time_ns),
    )


def _equipment_finding(tally: _Tally) -> Finding:
    first = tally.cited[0]
    return Finding(
        rule=EQUIPMENT_IDENTITY_RULE,
        severity=Severity.INFO,
        title=f"The network asked for the equipment identity {tally.count} time(s) after authenticating",
        explanation=(
            f"On {tally.cell.text}, {tally.count} identity request(s) for the IMEI or IMEISV came after the network "
            f"had authenticated the phone or set up security (from frame {first.number}; the first ones are "
            "cited). Networks ask for the equipment identity to check it against lists of stolen devices; it is "
            "recorded so an analyst sees what the phone disclosed."
        ),
        caveats=("Operators routinely ask for the IMEISV after authentication (Sprint in 2015, 66 times in one log).",),
        evidence=tuple(seen.evidence for seen in tally.cited),
        time=_moment(first.time_ns),
    )


def _no_service_finding(closing: _Seen, request: _Seen) -> Finding:
    return Finding(
        rule=NO_SERVICE_RULE,
        severity=Severity.LOW,
        title="The network asked for the IMSI, then rejected the attach with EMM cause #8",
        explanation=(
            f"On {request.cell.text}, the network asked for the IMSI (frame {request.number}) and then rejected the "
            f"attach with cause #8, EPS and non-EPS services not allowed (frame {closing.number}), without "
            "authenticating the phone. That is what a network says to a SIM without an active plan, and what a "
            "station that collected the IMSI may say to let the phone go (Rayhunter, IMSI requested)."
        ),
        caveats=("A SIM without an active subscription is rejected this way by its own network.",),
        evidence=(request.evidence, closing.evidence),
        time=_moment(request.time_ns),
    )


def _exposes_imsi(message: Decoded) -> bool:
    if isinstance(message, EmmDetachRequest):
        return message.network and message.detach_type != IMSI_DETACH_MT
    causes = IMSI_EXPOSING_CAUSES.get(message.name)
    return causes is not None and isinstance(message, EmmCauseMessage) and message.cause in causes


def _exposing_finding(message: Decoded, seen: _Seen, pending: _Seen | None) -> Finding:
    after = (
        f" It follows an identity request for the IMSI (frame {pending.number}) with no authentication between."
        if pending is not None
        else ""
    )
    return Finding(
        rule=IMSI_EXPOSING_RULE,
        severity=Severity.MEDIUM if pending is not None else Severity.INFO,
        title=f"{seen.text} makes the phone send its IMSI next",
        explanation=(
            f"On {seen.cell.text}, {seen.text} (frame {seen.number}) makes the phone drop its temporary identity, "
            "so its next attach carries the IMSI in clear; fake base stations send such messages to collect IMSIs "
            f"(Marlin, NDSS 2025; Rayhunter's diagnostic list).{after}"
        ),
        caveats=(
            "Networks send these rejects to phones that are not allowed on them (roaming, barred or unpaid "
            "subscriptions) and detach phones during maintenance.",
        ),
        evidence=(seen.evidence,) + ((pending.evidence,) if pending is not None else ()),
        time=_moment(seen.time_ns),
    )


def _mac_failure_finding(seen: _Seen, identity: _Seen | None, earlier: _Seen | None) -> Finding:
    reasons = []
    if identity is not None:
        reasons.append(f"it follows an identity request (frame {identity.number}) with no authentication between")
    if earlier is not None:
        reasons.append(f"the phone already refused an authentication with MAC failure (frame {earlier.number})")
    judged = ("; ".join(reasons) + ".") if reasons else "It is the only one in the log."
    cited = [seen.evidence]
    cited.extend(other.evidence for other in (identity, earlier) if other is not None)
    return Finding(
        rule=MAC_FAILURE_RULE,
        severity=Severity.HIGH if reasons else Severity.MEDIUM,
        title="The phone refused the network's authentication request with EMM cause #20, MAC failure",
        explanation=(
            f"On {seen.cell.text}, the phone answered an authentication request with Authentication Failure, cause "
            f"#20 MAC failure (frame {seen.number}): the network's AUTN was not made with the subscriber's key, so "
            "the network could not prove it holds it, which is what a station impersonating the network cannot do "
            f"(TS 33.401, EPS AKA; TS 24.301, authentication not accepted by the UE). {judged[0].upper() + judged[1:]}"
        ),
        caveats=(
            "A SIM swapped between networks, or a core network fault, can fail one authentication; a synch "
            "failure (#21) is the usual benign failure and is not reported.",
        ),
        evidence=tuple(cited),
        time=_moment(seen.time_ns),
    )


_PRIORITY_CAVEATS = (
    "Operators set their own reselection priorities: AT&T's cells in 2016 gave UMTS carriers priority 5 or 6 above "
    "their LTE carriers (2 to 4) in the public MobileInsight logs.",
    "A cell's SIB3 or SIB5 may have been missed by the log or failed to decode, hiding its LTE priorities.",
)


def _priority_kind(priorities: _Priorities) -> str | None:
    """SIB7 (GERAN) above every LTE priority: ``gsm`` (high); SIB6 (UTRA) above every LTE priority: ``umts``
    (low, since UMTS keeps mutual authentication and AT&T broadcast it routinely); 2G or 3G priorities with no LTE
    priority at all: ``no-lte`` (low); else None."""
    lte, geran, utra = priorities.lte, priorities.geran, priorities.utra
    if geran is None and utra is None:
        return None
    if lte is None:
        return "no-lte"
    if geran is not None and geran > lte:
        return "gsm"
    if utra is not None and utra > lte:
        return "umts"
    return None


def _priority_evidence(priorities: _Priorities) -> list[_Seen]:
    cited = (priorities.geran_seen, priorities.utra_seen, priorities.lte_seen)
    return list(dict.fromkeys(seen for seen in cited if seen is not None))


def _gsm_priority_finding(priorities: _Priorities) -> Finding:
    cited = _priority_evidence(priorities)
    cell, geran, lte = priorities.cell, priorities.geran, priorities.lte
    return Finding(
        rule=PRIORITY_RULE,
        severity=Severity.HIGH,
        title=f"SIB7 gives GSM a higher reselection priority ({geran}) than every LTE frequency ({lte})",
        explanation=(
            f"On {cell.text}, SIB7 gives GSM (GERAN) frequencies priority {geran} while the highest LTE priority "
            f"(SIB3 serving frequency, SIB5 other frequencies) is {lte}: an idle phone leaves LTE for GSM as soon as "
            "a GSM cell is good enough, and GSM has no mutual authentication (Rayhunter, SIB 6/7 downgrade; "
            "Shinjo Park's heuristic T7)."
        ),
        caveats=_PRIORITY_CAVEATS,
        evidence=tuple(seen.evidence for seen in cited),
        time=_moment(min((seen.time_ns for seen in cited if seen.time_ns is not None), default=None)),
    )


def _grouped_priority_finding(kind: str, plmn: str | None, cells: list[_Priorities]) -> Finding:
    """The low-severity priority findings of one network, one finding for all its cells (the first cited)."""
    cited: list[_Seen] = []
    for priorities in cells:
        cited.extend(_priority_evidence(priorities))
    cited = cited[:CITED]
    network = f"PLMN {plmn}" if plmn is not None else "a network the log does not name"
    listed = "; ".join(f"{p.cell.text}: {_levels(p)}" for p in cells[:CITED])
    more = f" (and {len(cells) - CITED} more)" if len(cells) > CITED else ""
    count = f"{len(cells)} cell{'s' if len(cells) > 1 else ''} of {network}"
    if kind == "umts":
        title = f"SIB6 gives UMTS a higher reselection priority than every LTE frequency on {count}"
        why = (
            "An idle phone leaves LTE for UMTS when a UMTS cell is good enough. UMTS keeps mutual authentication, "
            "so this is a weaker sign than a GSM priority above LTE (Rayhunter's SIB 6/7 downgrade rates both high)."
        )
    else:
        title = f"System information gives 2G/3G reselection priorities and no LTE priority on {count}"
        why = (
            "The log shows no SIB3 or SIB5 priority for LTE frequencies on these cells (Rayhunter, SIB 6/7 downgrade)."
        )
    return Finding(
        rule=PRIORITY_RULE,
        severity=Severity.LOW,
        title=title,
        explanation=f"Highest reselection priorities by cell: {listed}{more}. {why}",
        caveats=_PRIORITY_CAVEATS,
        evidence=tuple(seen.evidence for seen in cited),
        time=_moment(min((seen.time_ns for seen in cited if seen.time_ns is not None), default=None)),
    )


def _levels(priorities: _Priorities) -> str:
    parts = [f"LTE {priorities.lte}" if priorities.lte is not None else "no LTE"]
    if priorities.utra is not None:
        parts.append(f"UMTS {priorities.utra}")
    if priorities.geran is not None:
        parts.append(f"GSM {priorities.geran}")
    return ", ".join(parts)


def describe(message: Decoded) -> str:
    """A message in a few words, for the evidence excerpt and the explanation."""
    if isinstance(message, RrcConnectionReconfiguration) and message.handover:
        earfcn = f"EARFCN {message.target_earfcn}, " if message.target_earfcn is not None else ""
        security = message.security
        algorithms = f" (ciphering {security.ciphering}, integrity {security.integrity})" if security else ""
        return f"{message.name} handing over to {earfcn}PCI {message.target_pci}{algorithms}"
    if isinstance(message, RrcConnectionRelease):
        if message.redirect is None:
            return "RRCConnectionRelease"
        carrier = f" carrier {message.carrier}" if message.carrier is not None else ""
        return f"RRCConnectionRelease redirecting to {message.redirect}{carrier}"
    if message.security is not None:
        security = message.security
        integrity = f", integrity {security.integrity}" if security.integrity is not None else ""
        return f"{message.name} (ciphering {security.ciphering}{integrity})"
    if isinstance(message, EmmIdentityRequest):
        return f"EMMIdentityRequest for the {message.identity_name}"
    if isinstance(message, EmmCauseMessage) and message.cause is not None:
        return f"{message.name} with EMM cause #{message.cause} ({EMM_CAUSES.get(message.cause, 'other')})"
    if isinstance(message, EmmDetachRequest):
        side = "from the network" if message.network else "from the phone"
        return f"{message.name} {side}, detach type {message.detach_type}"
    if isinstance(message, SystemInformationBlockType1) and message.identity is not None:
        plmns = ", ".join(message.identity.plmns) or "no PLMN"
        return (
            f"SIB1 of {plmns}, TAC {message.identity.area}, cell {message.identity.cell_id}, "
            f"{message.scheduling_entries} scheduling entries"
        )
    if isinstance(message, SystemInformation):
        parts = [f"LTE {list(message.lte_priorities)}"]
        if message.utra_fdd_priorities or message.utra_tdd_priorities:
            parts.append(f"UTRA {list(message.utra_fdd_priorities + message.utra_tdd_priorities)}")
        if message.geran_priorities:
            parts.append(f"GERAN {list(message.geran_priorities)}")
        return f"SystemInformation ({', '.join(message.sibs)}): priorities " + ", ".join(parts)
    if isinstance(message, EmmRegistrationRequest):
        kind = "emergency " if message.emergency else ""
        plmn = f" from PLMN {message.ue_plmn}" if message.ue_plmn else ""
        return f"{kind}{message.name}{plmn}"
    return message.name
