"""The LTE rogue-base-station rules (vestige.cellular.lte_detectors): each synthetic attack, built with pycrate's
encoders, triggers exactly its rule; each benign counterpart stays below it."""

from __future__ import annotations

import dataclasses
import functools
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.builders.diag import T0, DiagLogBuilder
from tests.cellular import lte_messages as m
from vestige.cellular.cells import CellTracker
from vestige.cellular.diag import DiagReader
from vestige.cellular.frames import LTE, RRC, Cell, Frame
from vestige.cellular.lte import SystemInformationBlockType1, decode
from vestige.cellular.lte_detectors import (
    CITED,
    EQUIPMENT_IDENTITY_RULE,
    IMSI_EXPOSING_RULE,
    IMSI_THEN_REJECT_RULE,
    INCOMPLETE_SIB1_RULE,
    MAC_FAILURE_RULE,
    MAX_KEYS,
    NO_SERVICE_RULE,
    NULL_CIPHER_AS_RULE,
    NULL_CIPHER_NAS_RULE,
    NULL_INTEGRITY_RULE,
    PRIORITY_RULE,
    REDIRECT_RULE,
    UNSOLICITED_IMSI_RULE,
    LteDetectors,
)
from vestige.cellular.records import CellIdentity
from vestige.model import Finding, Locator, Severity

HOME = m.cell("311-480")
"""The cell of most tests: PLMN 311-480, the network of the real attach request's GUTI and old TAI."""
OPERATOR_CAVEAT = (
    "Some operators run null ciphering on purpose: Sprint's band 41 (EARFCN 40978) in 2015 put eea0 in force on every "
    "connection (sprint.mi2log, MobileInsight), and China Mobile's NAS security mode commands use EEA0 routinely."
)


def analyse(frames: list[Frame], cell: Cell | Callable[[Frame], Cell] = HOME) -> list[Finding]:
    detectors = LteDetectors()
    found: list[Finding] = []
    cells: set[str] = set()
    for frame in frames:
        message = decode(frame)
        assert message is not None and message.error is None, (frame.number, message)
        serving = cell(frame) if callable(cell) else cell
        cells.add(serving.text)
        found.extend(detectors.feed(frame, message, serving, Locator("diag.qmdl", None, packet=frame.number)))
    found.extend(detectors.finish())
    for finding in found:  # every finding names the cell it saw, and cites messages of the log
        assert any(text in finding.explanation for text in cells), finding.explanation
        assert finding.evidence and finding.caveats and finding.time is not None
    return found


def summary(findings: list[Finding]) -> list[tuple[str, Severity, list[int | None]]]:
    return [(f.rule, f.severity, [e.locator.packet for e in f.evidence]) for f in findings]


def late_log() -> m.Log:
    """A log whose messages come after the 30 s grace period at its start."""
    log = m.Log()
    log.rrc("BCCH-DL-SCH", m.sib1([("311", "480")], tac=19980, cell_id=48897544))
    log.skip(40)
    return log


# ----------------------------------------------------------------------------------------------
# Connection release with redirection


def test_release_redirecting_to_geran_is_high() -> None:
    log = m.Log()
    log.rrc("BCCH-DL-SCH", m.sib1([("311", "480")], tac=19980, cell_id=48897544))
    log.rrc("DL-DCCH", m.release(m.GERAN_REDIRECT))
    [finding] = analyse(log.frames)
    assert summary([finding]) == [(REDIRECT_RULE, Severity.HIGH, [2])]
    assert finding.title == "An RRC connection release redirected the phone to GSM (GERAN), carrier 10"
    assert HOME.text in finding.explanation
    assert finding.evidence[0].excerpt == "frame 2: RRCConnectionRelease redirecting to geran carrier 10"
    assert finding.time is not None and finding.time.isoformat() == "2020-09-13T12:26:42+00:00"


def test_release_redirecting_to_utra_is_medium_and_to_eutra_nothing() -> None:
    log = m.Log()
    log.rrc("DL-DCCH", m.release(m.UTRA_REDIRECT))
    log.rrc("DL-DCCH", m.release(m.EUTRA_REDIRECT))
    log.rrc("DL-DCCH", m.release())
    [finding] = analyse(log.frames)
    assert summary([finding]) == [(REDIRECT_RULE, Severity.MEDIUM, [1])]
    assert finding.title == "An RRC connection release redirected the phone to UMTS (utra-FDD), carrier 10700"


# ----------------------------------------------------------------------------------------------
# SIB6/SIB7 priorities


def test_gsm_priority_above_every_lte_priority_is_high() -> None:
    log = m.Log()
    log.rrc("BCCH-DL-SCH", m.system_information(serving=3, inter_frequency=(2, 4)))
    log.rrc("BCCH-DL-SCH", m.system_information(geran=(6,)))
    log.rrc("BCCH-DL-SCH", m.system_information(serving=3, inter_frequency=(2, 4)))
    [finding] = analyse(log.frames)
    assert summary([finding]) == [(PRIORITY_RULE, Severity.HIGH, [2, 1])]
    assert finding.title == "SIB7 gives GSM a higher reselection priority (6) than every LTE frequency (4)"
    assert finding.evidence[0].excerpt == "frame 2: SystemInformation (sib7): priorities LTE [], GERAN [6]"


def test_gsm_priority_below_lte_gives_nothing() -> None:
    log = m.Log()
    log.rrc("BCCH-DL-SCH", m.system_information(serving=5, inter_frequency=(4,), geran=(1,), utra_fdd=(2,)))
    assert analyse(log.frames) == []


def test_umts_priority_above_lte_is_low_summed_up_by_network() -> None:
    """AT&T's cells did this in 2016 (mobility_sample.mi2log): UMTS 5 above LTE 2 to 4."""
    other = m.cell("311-480", pci=102, cell_id=48897545)
    log = m.Log()
    log.rrc("BCCH-DL-SCH", m.system_information(serving=3, inter_frequency=(2, 4), utra_fdd=(1, 5)))
    log.rrc("BCCH-DL-SCH", m.system_information(serving=3, utra_fdd=(5,)), pci=102)
    [finding] = analyse(log.frames, lambda frame: other if frame.cell_index == 102 else HOME)
    assert summary([finding]) == [(PRIORITY_RULE, Severity.LOW, [1, 2])]
    assert finding.title == (
        "SIB6 gives UMTS a higher reselection priority than every LTE frequency on 2 cells of PLMN 311-480"
    )
    assert f"{HOME.text}: LTE 4, UMTS 5; {other.text}: LTE 3, UMTS 5." in finding.explanation


def test_legacy_priorities_without_any_lte_priority_are_low() -> None:
    log = m.Log()
    log.rrc("BCCH-DL-SCH", m.system_information(geran=(1,)))
    [finding] = analyse(log.frames)
    assert summary([finding]) == [(PRIORITY_RULE, Severity.LOW, [1])]
    assert finding.title == (
        "System information gives 2G/3G reselection priorities and no LTE priority on 1 cell of PLMN 311-480"
    )


# ----------------------------------------------------------------------------------------------
# Null ciphering and null integrity


def test_as_null_cipher_on_a_network_never_seen_ciphering_is_medium_with_the_operator_caveat() -> None:
    log = m.Log()
    log.rrc("DL-DCCH", m.rrc_security_mode_command("eea0", "eia1"))
    log.rrc("DL-DCCH", m.rrc_security_mode_command("eea0", "eia1"))
    [finding] = analyse(log.frames)
    assert summary([finding]) == [(NULL_CIPHER_AS_RULE, Severity.MEDIUM, [1, 2])]
    assert finding.title == "2 RRC (AS) commands put the null cipher eea0 in force"
    assert OPERATOR_CAVEAT in finding.caveats
    assert HOME.text in finding.explanation


def test_as_null_cipher_after_eea2_on_the_same_network_and_carrier_is_high() -> None:
    neighbour = m.cell("311-480", pci=102, cell_id=48897545)
    log = m.Log()
    log.rrc("DL-DCCH", m.rrc_security_mode_command("eea2", "eia2"))
    log.rrc("DL-DCCH", m.rrc_security_mode_command("eea0", "eia2"), pci=102)
    [finding] = analyse(log.frames, lambda frame: neighbour if frame.cell_index == 102 else HOME)
    assert summary([finding]) == [(NULL_CIPHER_AS_RULE, Severity.HIGH, [2, 1])]
    assert finding.title == ("An RRC (AS) command put the null cipher eea0 in force where ciphering was seen before")
    assert f"the same network or carrier ({HOME.text}) put ciphering in force" in finding.explanation
    assert OPERATOR_CAVEAT in finding.caveats


def test_as_null_cipher_on_another_carrier_of_a_ciphering_network_stays_medium() -> None:
    """Sprint 2015: band 25 (EARFCN 8665) ciphered with eea2, band 41 (EARFCN 40978) did not cipher at all."""
    band41 = m.cell("311-480", earfcn=40978, pci=7, cell_id=198555699)
    log = m.Log()
    log.rrc("DL-DCCH", m.rrc_security_mode_command("eea2", "eia2"))
    log.rrc("DL-DCCH", m.rrc_security_mode_command("eea0", "eia1"), earfcn=40978, pci=7)
    [finding] = analyse(log.frames, lambda frame: band41 if frame.channel_number == 40978 else HOME)
    assert summary([finding]) == [(NULL_CIPHER_AS_RULE, Severity.MEDIUM, [2])]


def test_handover_to_a_target_that_ciphered_before_with_eea0_is_high() -> None:
    target = Cell(LTE, "311-480", 19980, 48897600, 5780, 438)
    log = m.Log()
    log.rrc("DL-DCCH", m.rrc_security_mode_command("eea2", "eia2"), earfcn=5780, pci=438)
    log.rrc("DL-DCCH", m.handover_reconfiguration("eea0", "eia2"))
    [finding] = analyse(log.frames, lambda frame: target if frame.cell_index == 438 else HOME)
    assert summary([finding]) == [(NULL_CIPHER_AS_RULE, Severity.HIGH, [2, 1])]
    assert f"turns RRC (AS) ciphering off for the handover to {target.text}:" in finding.explanation


def test_nas_null_cipher_alone_is_medium_and_after_eea2_high() -> None:
    log = m.Log()
    log.nas(m.NAS_SMC_EEA0, uplink=False)
    [finding] = analyse(log.frames)
    assert summary([finding]) == [(NULL_CIPHER_NAS_RULE, Severity.MEDIUM, [1])]
    assert finding.title == "A NAS command put the null cipher eea0 in force"
    assert OPERATOR_CAVEAT in finding.caveats

    log = m.Log()
    log.nas(m.NAS_SMC_EEA2, uplink=False)
    log.nas(m.NAS_SMC_EEA0_PROTECTED, uplink=False)
    [finding] = analyse(log.frames)
    assert summary([finding]) == [(NULL_CIPHER_NAS_RULE, Severity.HIGH, [2, 1])]


def test_null_integrity_is_high_outside_an_emergency_attach() -> None:
    log = m.Log()
    log.nas(m.ATTACH_REQUEST, uplink=True)
    log.rrc("DL-DCCH", m.rrc_security_mode_command("eea2", "eia0-v920"))
    [finding] = analyse(log.frames)
    assert summary([finding]) == [(NULL_INTEGRITY_RULE, Severity.HIGH, [2, 1])]
    assert finding.title == ("An RRC (AS) command put null integrity eia0 in force outside an emergency attach")


def test_null_integrity_in_an_emergency_attach_gives_nothing() -> None:
    log = m.Log()
    log.nas(m.EMERGENCY_ATTACH_REQUEST, uplink=True)
    log.rrc("DL-DCCH", m.rrc_security_mode_command("eea2", "eia0-v920"))
    assert analyse(log.frames) == []


# ----------------------------------------------------------------------------------------------
# The identity-request state machine


def test_imsi_request_then_reject_without_authentication_on_the_home_network_is_high() -> None:
    log = m.Log()
    log.rrc("BCCH-DL-SCH", m.sib1([("311", "480")], tac=19980, cell_id=48897544))
    log.nas(m.ATTACH_REQUEST, uplink=True)
    log.nas(m.IDENTITY_REQUEST_IMSI, uplink=False)
    log.nas(m.attach_reject(17), uplink=False)
    [finding] = analyse(log.frames)
    assert summary([finding]) == [(IMSI_THEN_REJECT_RULE, Severity.HIGH, [3, 4])]
    assert finding.title == (
        "An IMSI request without authentication was followed by EMMAttachReject with EMM cause #17 (Network failure)"
    )
    assert "The phone's own network 311-480 (from its attach or TAU request) is among the cell's PLMNs." in (
        finding.explanation
    )


def test_imsi_request_then_reject_while_roaming_is_low() -> None:
    roaming = m.cell("310-410")
    log = m.Log()
    log.rrc("BCCH-DL-SCH", m.sib1([("310", "410"), ("", "26")], tac=19980, cell_id=48897544))
    log.nas(m.ATTACH_REQUEST, uplink=True)
    log.nas(m.IDENTITY_REQUEST_IMSI, uplink=False)
    log.nas(m.detach_mt(3), uplink=False)
    [finding] = analyse(log.frames, roaming)
    assert summary([finding]) == [(IMSI_THEN_REJECT_RULE, Severity.LOW, [3, 4])]
    assert "The phone's network 311-480 is not among the cell's PLMNs (310-410, 310-26)" in finding.explanation


def test_imsi_request_then_authentication_then_reject_gives_only_the_exposing_reject() -> None:
    log = m.Log()
    log.nas(m.ATTACH_REQUEST, uplink=True)
    log.nas(m.IDENTITY_REQUEST_IMSI, uplink=False)
    log.nas(m.AUTHENTICATION_REQUEST, uplink=False)
    log.nas(m.AUTHENTICATION_RESPONSE, uplink=True)
    log.nas(m.tau_reject(3), uplink=False)
    [finding] = analyse(log.frames)
    assert summary([finding]) == [(IMSI_EXPOSING_RULE, Severity.INFO, [5])]
    assert (
        finding.title == "EMMTrackingAreaUpdateReject with EMM cause #3 (Illegal UE) makes the phone send its IMSI next"
    )


def test_imsi_exposing_reject_after_an_unauthenticated_imsi_request_is_medium() -> None:
    log = m.Log()
    log.rrc("BCCH-DL-SCH", m.sib1([("311", "480")], tac=19980, cell_id=48897544))
    log.nas(m.TAU_REQUEST, uplink=True)
    log.nas(m.IDENTITY_REQUEST_IMSI, uplink=False)
    log.nas(m.tau_reject(3), uplink=False)
    findings = analyse(log.frames)
    # the TAU request's network (310-120) is not the cell's: the state machine says roaming
    assert summary(findings) == [
        (IMSI_THEN_REJECT_RULE, Severity.LOW, [3, 4]),
        (IMSI_EXPOSING_RULE, Severity.MEDIUM, [4, 3]),
    ]


def test_imsi_exposing_messages_alone_are_informational() -> None:
    log = m.Log()
    log.nas(m.service_reject(9), uplink=False)
    log.nas(m.service_reject(10), uplink=False)  # implicitly detached: not on the list
    log.nas(m.detach_mt(1), uplink=False)
    log.nas(m.detach_mt(3), uplink=False)  # IMSI detach: the EPS identity stays
    log.nas(m.DETACH_MO, uplink=True)
    log.nas(m.attach_reject(15), uplink=False)
    findings = analyse(log.frames)
    assert summary(findings) == [
        (IMSI_EXPOSING_RULE, Severity.INFO, [1]),
        (IMSI_EXPOSING_RULE, Severity.INFO, [3]),
        (IMSI_EXPOSING_RULE, Severity.INFO, [6]),
    ]


def test_imsi_request_then_attach_reject_8_is_low() -> None:
    log = m.Log()
    log.nas(m.ATTACH_REQUEST, uplink=True)
    log.nas(m.IDENTITY_REQUEST_IMSI, uplink=False)
    log.nas(m.attach_reject(8), uplink=False)
    findings = analyse(log.frames)
    assert summary(findings) == [
        (NO_SERVICE_RULE, Severity.LOW, [2, 3]),
        (IMSI_EXPOSING_RULE, Severity.INFO, [3]),
    ]
    assert findings[0].title == "The network asked for the IMSI, then rejected the attach with EMM cause #8"


def test_imsi_request_with_no_request_before_it_after_the_grace_period_is_high() -> None:
    log = late_log()
    log.nas(m.IDENTITY_REQUEST_IMSI, uplink=False)
    [finding] = analyse(log.frames)
    assert summary([finding]) == [(UNSOLICITED_IMSI_RULE, Severity.HIGH, [2])]
    assert (
        finding.title
        == "The network asked for the IMSI with no attach, update, service or connection request before it"
    )


def test_imsi_request_with_no_request_before_it_in_the_grace_period_gives_nothing() -> None:
    log = m.Log()
    log.nas(m.IDENTITY_REQUEST_IMSI, uplink=False)
    assert analyse(log.frames) == []


def test_imsi_request_after_a_release_needs_a_new_connection_request() -> None:
    log = late_log()
    log.rrc("UL-CCCH", m.connection_request())
    log.nas(m.IDENTITY_REQUEST_IMSI, uplink=False)  # answers the connection request
    log.rrc("DL-DCCH", m.release())
    log.nas(m.IDENTITY_REQUEST_IMSI, uplink=False)  # comes out of nowhere
    [finding] = analyse(log.frames)
    assert summary([finding]) == [(UNSOLICITED_IMSI_RULE, Severity.HIGH, [5])]


def test_imeisv_after_authentication_is_informational_only() -> None:
    log = m.Log()
    log.nas(m.ATTACH_REQUEST, uplink=True)
    log.nas(m.AUTHENTICATION_REQUEST, uplink=False)
    log.nas(m.AUTHENTICATION_RESPONSE, uplink=True)
    log.nas(m.IDENTITY_REQUEST_IMEISV, uplink=False)
    log.nas(m.IDENTITY_REQUEST_IMEI, uplink=False)
    [finding] = analyse(log.frames)
    assert summary([finding]) == [(EQUIPMENT_IDENTITY_RULE, Severity.INFO, [4, 5])]
    assert finding.title == "The network asked for the equipment identity 2 time(s) after authenticating"


def test_imeisv_before_authentication_gives_nothing() -> None:
    log = late_log()
    log.nas(m.ATTACH_REQUEST, uplink=True)
    log.nas(m.IDENTITY_REQUEST_IMEISV, uplink=False)
    log.nas(m.AUTHENTICATION_REQUEST, uplink=False)
    log.nas(m.AUTHENTICATION_RESPONSE, uplink=True)
    assert analyse(log.frames) == []


# ----------------------------------------------------------------------------------------------
# Authentication failure and SIB1


def test_mac_failure_alone_is_medium() -> None:
    log = m.Log()
    log.nas(m.ATTACH_REQUEST, uplink=True)
    log.nas(m.AUTHENTICATION_REQUEST, uplink=False)
    log.nas(m.authentication_failure(20), uplink=True)
    log.nas(m.authentication_failure(21), uplink=True)  # synch failure: benign
    [finding] = analyse(log.frames)
    assert summary([finding]) == [(MAC_FAILURE_RULE, Severity.MEDIUM, [3])]
    assert finding.title == "The phone refused the network's authentication request with EMM cause #20, MAC failure"


def test_mac_failure_after_an_identity_request_is_high() -> None:
    log = m.Log()
    log.nas(m.ATTACH_REQUEST, uplink=True)
    log.nas(m.IDENTITY_REQUEST_IMSI, uplink=False)
    log.nas(m.AUTHENTICATION_REQUEST, uplink=False)
    log.nas(m.authentication_failure(20), uplink=True)
    [finding] = analyse(log.frames)
    assert summary([finding]) == [(MAC_FAILURE_RULE, Severity.HIGH, [4, 2])]
    assert "It follows an identity request (frame 2) with no authentication between." in finding.explanation


def test_repeated_mac_failure_is_high() -> None:
    log = m.Log()
    log.nas(m.authentication_failure(20), uplink=True)
    log.nas(m.SERVICE_REQUEST, uplink=True)
    log.nas(m.authentication_failure(20), uplink=True)
    findings = analyse(log.frames)
    assert summary(findings) == [
        (MAC_FAILURE_RULE, Severity.MEDIUM, [1]),
        (MAC_FAILURE_RULE, Severity.HIGH, [3, 1]),
    ]


def test_incomplete_sib1_is_informational_once_per_cell() -> None:
    log = m.Log()
    log.rrc("BCCH-DL-SCH", m.sib1([("311", "480")], tac=19980, cell_id=48897544, entries=1))
    log.rrc("BCCH-DL-SCH", m.sib1([("311", "480")], tac=19980, cell_id=48897544, entries=1))
    log.rrc("BCCH-DL-SCH", m.sib1([("311", "480")], tac=19980, cell_id=48897544, entries=2))
    [finding] = analyse(log.frames)
    assert summary([finding]) == [(INCOMPLETE_SIB1_RULE, Severity.INFO, [1])]
    assert finding.title == "SIB1 schedules 1 system information message(s)"
    assert finding.evidence[0].excerpt == "frame 1: SIB1 of 311-480, TAC 19980, cell 48897544, 1 scheduling entries"


# ----------------------------------------------------------------------------------------------
# Bounds


def test_state_is_bounded_per_cell() -> None:
    detectors = LteDetectors()
    frame = m.Log().rrc("BCCH-DL-SCH", b"\x00")
    sib1 = SystemInformationBlockType1(
        name="SystemInformationBlockType1",
        protocol="LTE RRC",
        identity=CellIdentity(("311-480",), 1, 1),
        scheduling_entries=0,
    )
    reported = 0
    for index in range(MAX_KEYS + 50):
        cell = Cell(LTE, "311-480", 1, index, 850, index % 504)
        reported += len(list(detectors.feed(frame, sib1, cell, Locator("diag.qmdl", None, packet=1))))
    assert reported == MAX_KEYS


def test_a_summed_up_finding_cites_at_most_the_first_messages() -> None:
    log = m.Log()
    for _ in range(CITED + 5):
        log.rrc("DL-DCCH", m.rrc_security_mode_command("eea0", "eia1"))
    [finding] = analyse(log.frames)
    assert finding.title == f"{CITED + 5} RRC (AS) commands put the null cipher eea0 in force"
    assert [e.locator.packet for e in finding.evidence] == list(range(1, CITED + 1))


def test_undecodable_and_ciphered_messages_are_skipped() -> None:
    detectors = LteDetectors()
    log = m.Log()
    for payload in (m.CIPHERED_NAS, bytes.fromhex("0000000000000000")):
        frame = log.nas(payload, uplink=None)
        message = decode(frame)
        assert message is not None
        assert list(detectors.feed(frame, message, HOME, Locator("diag.qmdl", None, packet=frame.number))) == []
    assert list(detectors.finish()) == []


def test_an_emergency_attach_logged_before_its_rrc_connection_request_stays_an_emergency() -> None:
    """Qualcomm modems log the NAS request, then the RRC connection request that carries it (sprint.mi2log)."""
    log = m.Log()
    log.nas(m.EMERGENCY_ATTACH_REQUEST, uplink=True)
    log.rrc("UL-CCCH", m.connection_request())
    log.rrc("DL-DCCH", m.rrc_security_mode_command("eea2", "eia0-v920"))
    assert analyse(log.frames) == []


# ----------------------------------------------------------------------------------------------
# Real logs of benign networks (MobileInsight's public samples, Apache-2.0; /work/shared/data/SOURCES.md)

MOBILEINSIGHT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cellular" / "mobileinsight"


@dataclass(frozen=True)
class RealRun:
    frames: int
    undecodable: dict[str, int]
    null_ciphers: int
    """Messages that put eea0 in force (RRC security mode commands and handover commands)."""
    findings: list[Finding]


@functools.cache
def real_run(name: str) -> RealRun:
    """Every LTE frame of a real log decoded, and the rules fed every one with the serving cell from the cell
    tracker (the security-protected NAS copies too: the rules skip the second copy of a message)."""
    path = MOBILEINSIGHT / f"{name}.mi2log"
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared data set beside the repository)")
    with path.open("rb") as stream:
        frames = [frame for frame in DiagReader(stream, name).frames() if frame.rat == LTE]
    tracker, detectors = CellTracker(), LteDetectors()
    findings: list[Finding] = []
    undecodable: Counter[str] = Counter()
    null_ciphers = 0
    for frame in frames:
        message = decode(frame)
        assert message is not None
        if message.error is not None:
            undecodable[message.name] += 1
        cell, _ = tracker.place(frame, message.identity)
        null_ciphers += message.security is not None and message.security.ciphering == "eea0" and frame.layer == RRC
        findings.extend(detectors.feed(frame, message, cell, Locator(path.name, None, packet=frame.number)))
    findings.extend(detectors.finish())
    return RealRun(len(frames), dict(undecodable), null_ciphers, findings)


@pytest.mark.parametrize(
    ("name", "frames", "undecodable", "counts"),
    [
        (
            "attach_sample",
            3583,
            {"ESMActDefaultEPSBearerCtxtRequest": 51},
            {(PRIORITY_RULE, Severity.LOW): 1},
        ),
        ("mobility_sample", 6690, {}, {(PRIORITY_RULE, Severity.LOW): 3}),
        ("volte_sample", 3017, {}, {(PRIORITY_RULE, Severity.LOW): 1}),
        ("att", 33, {}, {}),
        (
            "sprint",
            18183,
            {"ESMActDefaultEPSBearerCtxtRequest": 83, "NAS": 83},
            {(NULL_CIPHER_AS_RULE, Severity.MEDIUM): 13, (PRIORITY_RULE, Severity.LOW): 1},
        ),
    ],
)
def test_real_benign_logs(
    name: str, frames: int, undecodable: dict[str, int], counts: dict[tuple[str, Severity], int]
) -> None:
    """No high or critical finding on any benign network. The undecodable frames are standalone copies of the
    ESM message an Attach Accept carries (pycrate rejects one of its IEs) and, in sprint, uplink protected NAS
    copies logged as 8 zero bytes."""
    run = real_run(name)
    assert run.frames == frames
    assert run.undecodable == undecodable
    assert Counter((f.rule, f.severity) for f in run.findings) == counts
    assert max((f.severity for f in run.findings), default=Severity.INFO) < Severity.HIGH


def test_sprint_null_ciphering_is_medium_with_the_operator_caveat() -> None:
    """Sprint's band 41 (EARFCN 40978) put eea0 in force on 385 connections and 4 handovers in 2015, while its
    band 25 (EARFCN 8665) ciphered with eea2: compared by carrier, every one stays medium."""
    run = real_run("sprint")
    ciphers = [f for f in run.findings if f.rule == NULL_CIPHER_AS_RULE]
    assert run.null_ciphers == 389
    assert sum(int(f.title.split()[0]) if f.title[0].isdigit() else 1 for f in ciphers) == 389
    assert {f.severity for f in ciphers} == {Severity.MEDIUM}
    assert all(OPERATOR_CAVEAT in f.caveats for f in ciphers)
    assert all("EARFCN 40978" in f.explanation for f in ciphers)
    first = min(ciphers, key=lambda f: f.evidence[0].locator.packet or 0)
    assert first.title == "51 RRC (AS) commands put the null cipher eea0 in force"
    assert first.evidence[0].excerpt == "frame 130: SecurityModeCommand (ciphering eea0, integrity eia1)"


def test_att_umts_priorities_are_summed_up_by_network() -> None:
    run = real_run("mobility_sample")
    titles = sorted(f.title for f in run.findings)
    assert titles == [
        "SIB6 gives UMTS a higher reselection priority than every LTE frequency on 130 cells of PLMN 310-410",
        "SIB6 gives UMTS a higher reselection priority than every LTE frequency on 3 cells of a network the log "
        "does not name",
        "System information gives 2G/3G reselection priorities and no LTE priority on 1 cell of PLMN 310-410",
    ]


def test_the_second_copy_of_a_protected_nas_message_is_not_counted_twice() -> None:
    log = m.Log()
    log.nas(m.authentication_failure(20), uplink=True)
    protected = log.nas(bytes.fromhex("170102030405") + m.authentication_failure(20), uplink=True)
    frames = [log.frames[0], dataclasses.replace(protected, channel="protected", time_ns=log.frames[0].time_ns)]
    [finding] = analyse(frames)
    assert summary([finding]) == [(MAC_FAILURE_RULE, Severity.MEDIUM, [1])]


# ----------------------------------------------------------------------------------------------
# Attacks in QMDL framing, read back by the DIAG reader


def qmdl_findings(build: Callable[[DiagLogBuilder], None]) -> list[Finding]:
    builder = DiagLogBuilder()
    build(builder)
    frames = list(DiagReader(io.BytesIO(builder.data()), "attack.qmdl").frames())
    tracker, detectors = CellTracker(), LteDetectors()
    found: list[Finding] = []
    for frame in frames:
        message = decode(frame)
        assert message is not None and message.error is None
        cell, _ = tracker.place(frame, message.identity)
        found.extend(detectors.feed(frame, message, cell, Locator("attack.qmdl", None, packet=frame.number)))
    found.extend(detectors.finish())
    return found


def sib1_at(builder: DiagLogBuilder, pci: int = 312) -> None:
    builder.lte_rrc(m.sib1([("311", "480")], tac=19980, cell_id=48897544), "BCCH-DL-SCH", earfcn=5230, pci=pci, at=T0)


def test_qmdl_geran_redirect() -> None:
    def build(builder: DiagLogBuilder) -> None:
        sib1_at(builder)
        builder.lte_rrc(m.release(m.GERAN_REDIRECT), "DL-DCCH", earfcn=5230, pci=312, at=T0 + 10**9)

    [finding] = qmdl_findings(build)
    assert summary([finding]) == [(REDIRECT_RULE, Severity.HIGH, [2])]
    assert "LTE, PLMN 311-480, TAC 19980, cell 48897544, EARFCN 5230, PCI 312" in finding.explanation


def test_qmdl_imsi_catcher_exchange() -> None:
    def build(builder: DiagLogBuilder) -> None:
        sib1_at(builder)
        builder.lte_nas(m.ATTACH_REQUEST, uplink=True, at=T0 + 10**9)
        builder.lte_rrc(m.connection_request(), "UL-CCCH", earfcn=5230, pci=312, at=T0 + 2 * 10**9)
        builder.lte_nas(m.IDENTITY_REQUEST_IMSI, uplink=False, at=T0 + 3 * 10**9)
        builder.lte_nas(m.attach_reject(17), uplink=False, at=T0 + 4 * 10**9)

    [finding] = qmdl_findings(build)
    assert summary([finding]) == [(IMSI_THEN_REJECT_RULE, Severity.HIGH, [4, 5])]


def test_qmdl_null_cipher_after_ciphering_on_the_same_cell() -> None:
    def build(builder: DiagLogBuilder) -> None:
        sib1_at(builder)
        builder.lte_rrc(m.rrc_security_mode_command("eea2", "eia2"), "DL-DCCH", earfcn=5230, pci=312, at=T0 + 10**9)
        builder.lte_rrc(m.release(), "DL-DCCH", earfcn=5230, pci=312, at=T0 + 2 * 10**9)
        builder.lte_rrc(m.rrc_security_mode_command("eea0", "eia2"), "DL-DCCH", earfcn=5230, pci=312, at=T0 + 3 * 10**9)

    [finding] = qmdl_findings(build)
    assert summary([finding]) == [(NULL_CIPHER_AS_RULE, Severity.HIGH, [4, 2])]
    assert finding.title == "An RRC (AS) command put the null cipher eea0 in force where ciphering was seen before"
