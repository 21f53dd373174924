"""The signalling artifact: from a DIAG log or a GSMTAP capture to records and findings, through ``vestige
check``. Every attack log is built twice, as a QMDL (``tests/builders/diag.py``) and as a GSMTAP pcap
(``tests/builders/gsmtap.py``), from messages encoded with pycrate (``tests/cellular/lte_messages.py``), and
must give exactly its detector's findings, at the same packets, in both framings."""

from __future__ import annotations

import dataclasses
import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.builders import check
from tests.builders.captures import CaptureBuilder
from tests.builders.diag import DiagLogBuilder
from tests.builders.gsmtap import GsmtapCapture
from tests.cellular import lte_messages as m
from tests.cellular.test_gsm import LOCATION_UPDATING_REQUEST, direct_transfer, security_mode_command
from vestige.cellular.artifacts import signalling
from vestige.cellular.artifacts.signalling import _NasCopies
from vestige.cellular.frames import DTAP, GSM, LTE, NAS, RR, RRC, UMTS, Cell, Frame
from vestige.cellular.records import CellBaseline, CellChange, LogSummary, SecurityContext, Signalling
from vestige.cli import main
from vestige.evidence.errors import NotAnAcquisitionError
from vestige.platforms import Registry

GSM_ARFCN, GSM_BSIC = 20, 12
UARFCN, PSC = 10700, 300


# ----------------------------------------------------------------------------------------------
# The same messages as a QMDL and as a GSMTAP capture


@dataclass(frozen=True)
class Written:
    path: Path
    numbers: list[int]
    """The frame (QMDL) or packet (pcap) number of each message, in order."""


def as_qmdl(frames: list[Frame], path: Path, *, compress: bool = False) -> Written:
    log = DiagLogBuilder()
    numbers: list[int] = []
    gsm_cell = False
    for frame in frames:
        at = frame.time_ns
        if frame.rat == LTE and frame.layer == RRC:
            numbers.append(
                log.lte_rrc(
                    frame.payload, frame.channel, at, earfcn=frame.channel_number or 0, pci=frame.cell_index or 0
                )
            )
        elif frame.rat == LTE:
            protected = frame.channel == "protected"
            numbers.append(log.lte_nas(frame.payload, uplink=bool(frame.uplink), protected=protected, at=at))
        elif frame.rat == UMTS:
            numbers.append(log.wcdma_rrc(frame.payload, frame.channel, at, uarfcn=UARFCN, psc=PSC))
        else:
            if not gsm_cell:  # DIAG gives the ARFCN in a cell information packet of its own
                log.gsm_cell(GSM_ARFCN, GSM_BSIC, at)
                gsm_cell = True
            if frame.layer == RR:
                numbers.append(log.gsm_rr(frame.payload, frame.channel, uplink=bool(frame.uplink), at=at))
            else:
                numbers.append(log.umts_nas(frame.payload, uplink=bool(frame.uplink), at=at))
    return Written(log.write(path, compress=compress), numbers)


def as_pcap(frames: list[Frame], path: Path) -> Written:
    capture = GsmtapCapture()
    numbers: list[int] = []
    for frame in frames:
        at = frame.time_ns
        if frame.rat == LTE and frame.layer == RRC:
            numbers.append(capture.lte_rrc(frame.channel, frame.payload, at, earfcn=frame.channel_number or 0))
        elif frame.rat == LTE:
            protected = frame.channel == "protected"
            numbers.append(capture.lte_nas(frame.payload, at, protected=protected, uplink=bool(frame.uplink)))
        elif frame.rat == UMTS:
            numbers.append(capture.umts_rrc(frame.channel, frame.payload, at, uarfcn=UARFCN))
        elif frame.layer == RR:
            numbers.append(capture.gsm_rr(frame.channel, frame.payload, at, arfcn=GSM_ARFCN))
        else:
            numbers.append(capture.gsm_abis(frame.payload, at, arfcn=GSM_ARFCN, uplink=bool(frame.uplink)))
    path.write_bytes(capture.pcap())
    return Written(path, numbers)


FRAMINGS = {"qmdl": as_qmdl, "pcap": as_pcap}


def vestige_check(path: Path, out: Path) -> tuple[int, dict[str, object]]:
    result = CliRunner().invoke(main, ["check", str(path), "-o", str(out), "--no-bundled-iocs", "-j", "1"])
    return result.exit_code, json.loads((out / "findings.json").read_bytes())


def found(document: dict[str, object], numbers: list[int]) -> list[tuple[str, str, list[int]]]:
    """Each finding's rule, severity and cited messages (by their index in the log, from 1)."""
    index = {number: position for position, number in enumerate(numbers, 1)}
    findings = document["findings"]
    assert isinstance(findings, list)
    return [(f["rule"], f["severity"], [index[e["locator"]["packet"]] for e in f["evidence"]]) for f in findings]


# ----------------------------------------------------------------------------------------------
# One attack per detector


HOME_SIB1 = m.sib1([("311", "480")], tac=19980, cell_id=48897544)
T = m.START_NS


def lte_log() -> m.Log:
    """A log that starts with the cell's SIB1, its next messages 40 s later (past the identity grace period)."""
    log = m.Log()
    log.rrc("BCCH-DL-SCH", HOME_SIB1)
    log.skip(40)
    return log


def gsm_frame(number: int, layer: str, channel: str, payload: bytes, uplink: bool) -> Frame:
    return Frame(number, 0, T + number * 1_000_000_000, GSM, layer, channel, uplink, GSM_ARFCN, GSM_BSIC, payload)


def redirect_to_geran() -> list[Frame]:
    log = lte_log()
    log.rrc("UL-CCCH", m.connection_request())
    log.rrc("DL-DCCH", m.release(m.GERAN_REDIRECT))
    return log.frames


def redirect_to_utra() -> list[Frame]:
    log = lte_log()
    log.rrc("DL-DCCH", m.release(m.UTRA_REDIRECT))
    return log.frames


def priority_downgrade() -> list[Frame]:
    log = lte_log()
    log.rrc("BCCH-DL-SCH", m.system_information(serving=3, inter_frequency=(2, 4)))
    log.rrc("BCCH-DL-SCH", m.system_information(geran=(6,)))
    return log.frames


def as_null_cipher_after_eea2() -> list[Frame]:
    log = lte_log()
    log.rrc("DL-DCCH", m.rrc_security_mode_command("eea2", "eia2"))
    log.rrc("DL-DCCH", m.release())
    log.rrc("DL-DCCH", m.rrc_security_mode_command("eea0", "eia2"))
    return log.frames


def nas_null_cipher() -> list[Frame]:
    log = lte_log()
    log.nas(m.NAS_SMC_EEA0, uplink=False)
    return log.frames


def null_integrity() -> list[Frame]:
    log = lte_log()
    log.rrc("DL-DCCH", m.rrc_security_mode_command("eea2", "eia0-v920"))
    return log.frames


def imsi_then_reject() -> list[Frame]:
    log = lte_log()
    log.nas(m.ATTACH_REQUEST, uplink=True)
    log.nas(m.IDENTITY_REQUEST_IMSI, uplink=False)
    log.nas(m.attach_reject(15), uplink=False)
    return log.frames


def unsolicited_imsi() -> list[Frame]:
    log = lte_log()
    log.nas(m.IDENTITY_REQUEST_IMSI, uplink=False)
    return log.frames


def mac_failure() -> list[Frame]:
    log = lte_log()
    log.nas(m.ATTACH_REQUEST, uplink=True)
    log.nas(m.AUTHENTICATION_REQUEST, uplink=False)
    log.nas(m.authentication_failure(20), uplink=True)
    return log.frames


def equipment_identity() -> list[Frame]:
    log = lte_log()
    log.nas(m.ATTACH_REQUEST, uplink=True)
    log.nas(m.AUTHENTICATION_REQUEST, uplink=False)
    log.nas(m.AUTHENTICATION_RESPONSE, uplink=True)
    log.nas(m.IDENTITY_REQUEST_IMEISV, uplink=False)
    return log.frames


def imsi_exposing_reject() -> list[Frame]:
    log = lte_log()
    log.nas(m.TAU_REQUEST, uplink=True)
    log.nas(m.tau_reject(3), uplink=False)
    return log.frames


def incomplete_sib1() -> list[Frame]:
    log = m.Log()
    log.rrc("BCCH-DL-SCH", m.sib1([("311", "480")], tac=19980, cell_id=48897544, entries=1))
    return log.frames


SI3 = bytes.fromhex("49061b000100f1100001480500006800000000" + "2b2b2b2b")
"""System Information 3 with its L2 pseudo-length: PLMN 001-01, LAC 1, cell 1 (reference/cellular.md 3.3), with
T3212 0 (no periodic location update), which SnoopSnitch does not score."""
SI3_SHORT_T3212 = bytes.fromhex("49061b000100f1100001480501006800000000" + "2b2b2b2b")
"""The same with T3212 1 (a location update every 6 minutes): SnoopSnitch's T1 scores it 1.5."""
IDENTITY_REQUEST_IMSI = bytes.fromhex("051801")
LOCATION_UPDATING_REJECT = bytes.fromhex("05040b")
CIPHER_MODE_NONE = bytes.fromhex("063500")
CIPHER_MODE_A5_1 = bytes.fromhex("063501")
CIPHER_MODE_A5_3 = bytes.fromhex("063505")
GMM_GEA1 = bytes.fromhex("08120100")
CHANNEL_RELEASE = bytes.fromhex("060d00")


def gsm_identification_catcher() -> list[Frame]:
    """SnoopSnitch C4: a location update, an IMSI request, a reject; no authentication, no ciphering."""
    return [
        gsm_frame(1, RR, "BCCH", SI3, False),
        gsm_frame(2, DTAP, "SDCCH", LOCATION_UPDATING_REQUEST, True),
        gsm_frame(3, DTAP, "SDCCH", IDENTITY_REQUEST_IMSI, False),
        gsm_frame(4, DTAP, "SDCCH", LOCATION_UPDATING_REJECT, False),
        gsm_frame(5, DTAP, "SDCCH", CHANNEL_RELEASE, False),
    ]


def gsm_catcher_score() -> list[Frame]:
    """The identification catcher on a cell that asks for a location update every 6 minutes (T3212 1)."""
    return [gsm_frame(1, RR, "BCCH", SI3_SHORT_T3212, False), *gsm_identification_catcher()[1:]]


def gsm_cipher_downgrade() -> list[Frame]:
    """SnoopSnitch C1: A5/3 on a cell, then no ciphering on the same cell."""
    frames = [gsm_frame(1, RR, "BCCH", SI3, False)]
    for cipher in (CIPHER_MODE_A5_3, CIPHER_MODE_NONE):
        base = len(frames)
        frames += [
            gsm_frame(base + 1, DTAP, "SDCCH", LOCATION_UPDATING_REQUEST, True),
            gsm_frame(base + 2, DTAP, "SDCCH", cipher, False),
            gsm_frame(base + 3, DTAP, "SDCCH", CHANNEL_RELEASE, False),
        ]
    return frames


def gsm_breakable_cipher() -> list[Frame]:
    """A5/1 on a cell: benign networks still use it (information)."""
    return [
        gsm_frame(1, RR, "BCCH", SI3, False),
        gsm_frame(2, DTAP, "SDCCH", LOCATION_UPDATING_REQUEST, True),
        gsm_frame(3, DTAP, "SDCCH", CIPHER_MODE_A5_1, False),
        gsm_frame(4, DTAP, "SDCCH", CHANNEL_RELEASE, False),
    ]


def gprs_weak_cipher() -> list[Frame]:
    """A GMM Authentication and Ciphering Request choosing GEA1 over GSM."""
    return [gsm_frame(1, RR, "BCCH", SI3, False), gsm_frame(2, DTAP, "SDCCH", GMM_GEA1, False)]


def umts_frame(number: int, payload: bytes) -> Frame:
    return Frame(number, 0, T + number * 1_000_000_000, UMTS, RRC, "DL-DCCH", False, UARFCN, PSC, payload)


def umts_imsi_reject() -> list[Frame]:
    """An MM Identity Request for the IMSI, then a Location Updating Reject, carried in UMTS RRC."""
    return [
        umts_frame(1, direct_transfer(IDENTITY_REQUEST_IMSI)),
        umts_frame(2, direct_transfer(LOCATION_UPDATING_REJECT)),
    ]


def umts_null_cipher() -> list[Frame]:
    """A UMTS Security Mode Command with UEA0, on a network never seen ciphering in the log."""
    return [umts_frame(1, security_mode_command("uea0"))]


def lte_imsi_then_no_service() -> list[Frame]:
    log = lte_log()
    log.nas(m.ATTACH_REQUEST, uplink=True)
    log.nas(m.IDENTITY_REQUEST_IMSI, uplink=False)
    log.nas(m.attach_reject(8), uplink=False)
    return log.frames


SCENARIOS = {
    "redirect_to_geran": redirect_to_geran,
    "redirect_to_utra": redirect_to_utra,
    "priority_downgrade": priority_downgrade,
    "as_null_cipher_after_eea2": as_null_cipher_after_eea2,
    "nas_null_cipher": nas_null_cipher,
    "null_integrity": null_integrity,
    "imsi_then_reject": imsi_then_reject,
    "unsolicited_imsi": unsolicited_imsi,
    "mac_failure": mac_failure,
    "equipment_identity": equipment_identity,
    "imsi_exposing_reject": imsi_exposing_reject,
    "incomplete_sib1": incomplete_sib1,
    "gsm_identification_catcher": gsm_identification_catcher,
    "gsm_catcher_score": gsm_catcher_score,
    "gsm_cipher_downgrade": gsm_cipher_downgrade,
    "gsm_breakable_cipher": gsm_breakable_cipher,
    "gprs_weak_cipher": gprs_weak_cipher,
    "umts_imsi_reject": umts_imsi_reject,
    "umts_null_cipher": umts_null_cipher,
    "lte_imsi_then_no_service": lte_imsi_then_no_service,
}

EXPECTED = {
    "redirect_to_geran": [("cellular.lte.redirect_downgrade", "high", [3])],
    "redirect_to_utra": [("cellular.lte.redirect_downgrade", "medium", [2])],
    "priority_downgrade": [("cellular.lte.sib_priority_downgrade", "high", [3, 2])],
    "as_null_cipher_after_eea2": [("cellular.lte.null_cipher_as", "high", [4, 2])],
    "nas_null_cipher": [("cellular.lte.null_cipher_nas", "medium", [2])],
    "null_integrity": [("cellular.lte.null_integrity", "high", [2])],
    "imsi_then_reject": [
        ("cellular.lte.imsi_request_then_reject", "high", [3, 4]),
        ("cellular.lte.imsi_exposing_message", "medium", [4, 3]),  # the reject exposing the IMSI corroborates
    ],
    "unsolicited_imsi": [("cellular.lte.imsi_request_unsolicited", "high", [2])],
    "mac_failure": [("cellular.lte.authentication_mac_failure", "medium", [4])],
    "equipment_identity": [("cellular.lte.equipment_identity_request", "info", [5])],
    "imsi_exposing_reject": [("cellular.lte.imsi_exposing_message", "info", [3])],
    "incomplete_sib1": [("cellular.lte.incomplete_sib1", "info", [1])],
    "gsm_identification_catcher": [
        ("cellular.gsm.location_update_imsi_reject", "high", [2, 3, 4]),
        ("cellular.gsm.catcher_score", "info", [1, 2]),  # SnoopSnitch's score of the cell: C4 alone is 2.0
    ],
    "gsm_catcher_score": [
        ("cellular.gsm.catcher_score", "high", [1, 2]),  # C4 and T3212 of 1 decihour: 3.5, above 2.6
        ("cellular.gsm.location_update_imsi_reject", "high", [2, 3, 4]),
    ],
    "gsm_cipher_downgrade": [
        ("cellular.gsm.cipher_downgrade", "high", [3, 6]),
        ("cellular.gsm.no_ciphering", "low", [6]),  # weighed by the share of ciphered sessions: 1 of 2
        ("cellular.gsm.catcher_score", "info", [1, 5, 6]),
    ],
    "gsm_breakable_cipher": [("cellular.gsm.breakable_cipher", "info", [3])],
    "gprs_weak_cipher": [("cellular.gsm.gprs_weak_cipher", "medium", [2])],
    "umts_imsi_reject": [("cellular.umts.imsi_request_reject", "high", [1, 2])],
    "umts_null_cipher": [("cellular.umts.null_cipher", "medium", [1])],
    "lte_imsi_then_no_service": [
        ("cellular.lte.identity_request_then_no_service", "low", [3, 4]),
        ("cellular.lte.imsi_exposing_message", "info", [4]),
    ],
}


@pytest.mark.parametrize("framing", sorted(FRAMINGS))
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_each_attack_gives_exactly_its_detectors_findings_through_vestige_check(
    tmp_path: Path, scenario: str, framing: str
) -> None:
    written = FRAMINGS[framing](SCENARIOS[scenario](), tmp_path / f"attack.{framing}")
    code, document = vestige_check(written.path, tmp_path / "out")
    assert code == 0
    assert found(document, written.numbers) == EXPECTED[scenario]
    assert document["problems"] == []
    [acquisition] = document["acquisitions"]  # type: ignore[misc]
    assert acquisition["kind"] == framing


def test_a_finding_cites_its_packets_in_the_log_and_names_the_cell(tmp_path: Path) -> None:
    written = as_qmdl(redirect_to_geran(), tmp_path / "attack.qmdl")
    assert written.numbers == [1, 2, 3]
    code, document = vestige_check(written.path, tmp_path / "out")
    assert code == 0
    [finding] = document["findings"]  # type: ignore[misc]
    assert finding["title"] == "An RRC connection release redirected the phone to GSM (GERAN), carrier 10"
    [evidence] = finding["evidence"]
    assert evidence["locator"]["path"] == "attack.qmdl" and evidence["locator"]["packet"] == 3
    assert "LTE, PLMN 311-480, TAC 19980, cell 48897544, EARFCN 850, PCI 101" in finding["explanation"]


# ----------------------------------------------------------------------------------------------
# Plain and protected copies of one NAS message


SMC_PLAIN = bytes.fromhex("075d020002e0e0")
SMC_PROTECTED = bytes.fromhex("370a0b0c0d00") + SMC_PLAIN
CIPHERED = bytes.fromhex("270102030405") + b"\x99" * 10
ATTACH_COMPLETE = bytes.fromhex("0743000352c100")


def nas_frame(number: int, payload: bytes, channel: str, uplink: bool | None = False) -> Frame:
    return Frame(number, number * 64, None, LTE, NAS, channel, uplink, None, None, payload)


def rrc_frame(number: int) -> Frame:
    return Frame(number, number * 64, None, LTE, RRC, "DL-DCCH", False, 5230, 101, b"\x28")


def kept(*frames: Frame) -> list[int]:
    copies = _NasCopies()
    out = [f.number for frame in frames for f in copies.take(frame)]
    return out + [f.number for f in copies.finish()]


def test_an_integrity_protected_copy_and_its_plain_copy_are_one_message_in_either_order() -> None:
    assert kept(nas_frame(1, SMC_PROTECTED, "protected"), nas_frame(2, SMC_PLAIN, "plain")) == [1]
    assert kept(nas_frame(1, SMC_PLAIN, "plain"), nas_frame(2, SMC_PROTECTED, "protected")) == [1]
    assert kept(nas_frame(1, SMC_PLAIN, "plain", None), rrc_frame(2), nas_frame(3, SMC_PROTECTED, "protected")) == [
        1,
        2,
    ]


def test_a_ciphered_copy_gives_way_to_the_plain_copy_before_or_after_it() -> None:
    assert kept(nas_frame(1, CIPHERED, "protected"), nas_frame(2, ATTACH_COMPLETE, "plain")) == [2]
    assert kept(nas_frame(1, ATTACH_COMPLETE, "plain"), nas_frame(2, CIPHERED, "protected")) == [1]
    # the modem logs some uplink copies as zeros, before the plain copy and the ciphered one (sprint.mi2log)
    zeros = nas_frame(1, bytes(8), "protected", True)
    assert kept(zeros, nas_frame(2, ATTACH_COMPLETE, "plain", True), nas_frame(3, CIPHERED, "protected", True)) == [2]


def test_an_uplink_protected_copy_logged_with_the_plain_length_is_a_copy() -> None:
    tau = bytes.fromhex("0748420bf613002180130bd82445")
    protected = bytes.fromhex("17294c484432") + tau[:-6]  # as sprint.mi2log logs it: cut to the plain length
    assert kept(nas_frame(1, tau, "plain", True), nas_frame(2, protected, "protected", True)) == [1]
    other = bytes.fromhex("17294c484432") + bytes(len(tau) - 6)
    assert kept(nas_frame(1, tau, "plain", True), nas_frame(2, other, "protected", True)) == [1, 2]


def test_messages_that_are_not_copies_are_all_kept() -> None:
    # another message, the other direction, two plain messages alike (a retransmission is a message of its own)
    assert kept(nas_frame(1, SMC_PROTECTED, "protected"), nas_frame(2, ATTACH_COMPLETE, "plain")) == [1, 2]
    assert kept(nas_frame(1, CIPHERED, "protected", True), nas_frame(2, ATTACH_COMPLETE, "plain", False)) == [1, 2]
    assert kept(nas_frame(1, SMC_PLAIN, "plain"), nas_frame(2, SMC_PLAIN, "plain")) == [1, 2]
    # a ciphered copy whose plain copy never comes is kept, at most HOLD_FRAMES frames late
    assert kept(nas_frame(1, CIPHERED, "protected"), *(rrc_frame(n) for n in range(2, 8))) == [2, 3, 4, 5, 1, 6, 7]
    assert kept(nas_frame(1, CIPHERED, "protected"), rrc_frame(2)) == [2, 1]
    # copies farther apart than HOLD_FRAMES are not paired
    far = (
        nas_frame(1, SMC_PLAIN, "plain"),
        *(rrc_frame(n) for n in range(2, 7)),
        nas_frame(7, SMC_PROTECTED, "protected"),
    )
    assert kept(*far) == [1, 2, 3, 4, 5, 6, 7]


# ----------------------------------------------------------------------------------------------
# Records: messages, cell changes, security contexts, baselines, the summary


def two_cells() -> list[Frame]:
    """The phone on a cell of 311-480 (EARFCN 850, PCI 101) with eea2, then on one of 310-410 (EARFCN 5230, PCI
    312) with eea1; the NAS security mode command is logged twice (protected, then plain), as Qualcomm does."""
    log = m.Log()
    log.rrc("BCCH-DL-SCH", HOME_SIB1)  # 1
    log.rrc("UL-CCCH", m.connection_request())  # 2
    log.rrc("DL-DCCH", m.rrc_security_mode_command("eea2", "eia2"))  # 3
    log.nas(PROTECTED_SMC_EEA2, uplink=False)  # 4
    log.frames[-1] = dataclasses.replace(log.frames[-1], channel="protected")
    log.nas(m.NAS_SMC_EEA2, uplink=False)  # 5: the plain copy of 4
    log.rrc("DL-DCCH", m.release())  # 6
    log.rrc("BCCH-DL-SCH", m.sib1([("310", "410")], tac=0x1A2B, cell_id=0x1234567), earfcn=5230, pci=312)  # 7
    log.rrc("UL-CCCH", m.connection_request(), earfcn=5230, pci=312)  # 8
    log.rrc("DL-DCCH", m.rrc_security_mode_command("eea1", "eia1"), earfcn=5230, pci=312)  # 9
    return log.frames


PROTECTED_SMC_EEA2 = bytes.fromhex("370102030400") + m.NAS_SMC_EEA2
HOME = Cell(LTE, "311-480", 0x4E0C, 0x2EA1E08, 850, 101)
OTHER = Cell(LTE, "310-410", 0x1A2B, 0x1234567, 5230, 312)


HOME_TEXT = "EARFCN 850, PCI 101 (PLMN 311-480, TAC 0x4e0c, cell 0x2ea1e08)"
OTHER_TEXT = "EARFCN 5230, PCI 312 (PLMN 310-410, TAC 0x1a2b, cell 0x1234567)"


def test_a_log_of_two_cells_gives_their_changes_security_and_baselines(tmp_path: Path) -> None:
    written = as_qmdl(two_cells(), tmp_path / "two.qmdl")
    assert written.numbers == list(range(1, 10))
    records = check(written.path).artifact_records(signalling.NAME)
    assert [(type(r.payload).__name__, r.locator.packet, r.summary) for r in records] == [
        ("Signalling", 1, f"LTE RRC BCCH-DL-SCH SystemInformationBlockType1, downlink on {HOME_TEXT}"),
        ("CellChange", 2, f"First cell of the log: LTE {HOME_TEXT}"),
        ("Signalling", 2, f"LTE RRC UL-CCCH RRCConnectionRequest, uplink on {HOME_TEXT}"),
        ("Signalling", 3, f"LTE RRC DL-DCCH SecurityModeCommand, downlink on {HOME_TEXT}"),
        ("SecurityContext", 3, f"AS ciphering eea2 and integrity eia2 put in force on {HOME_TEXT}"),
        ("Signalling", 4, f"EMM EMMSecurityModeCommand (security-protected copy), downlink on {HOME_TEXT}"),
        ("SecurityContext", 4, f"NAS ciphering eea2 and integrity eia2 put in force on {HOME_TEXT}"),
        # 5, the plain copy of 4, is the same message
        ("Signalling", 6, f"LTE RRC DL-DCCH RRCConnectionRelease, downlink on {HOME_TEXT}"),
        ("Signalling", 7, f"LTE RRC BCCH-DL-SCH SystemInformationBlockType1, downlink on {OTHER_TEXT}"),
        ("CellChange", 8, f"Cell change from LTE {HOME_TEXT} to LTE {OTHER_TEXT}"),
        ("Signalling", 8, f"LTE RRC UL-CCCH RRCConnectionRequest, uplink on {OTHER_TEXT}"),
        ("Signalling", 9, f"LTE RRC DL-DCCH SecurityModeCommand, downlink on {OTHER_TEXT}"),
        ("SecurityContext", 9, f"AS ciphering eea1 and integrity eia1 put in force on {OTHER_TEXT}"),
        ("CellBaseline", 1, f"LTE {HOME_TEXT}: 5 messages, ciphering AS eea2, NAS eea2; integrity AS eia2, NAS eia2"),
        ("CellBaseline", 7, f"LTE {OTHER_TEXT}: 3 messages, ciphering AS eea1; integrity AS eia1"),
        ("LogSummary", None, "9 signalling frames"),
    ]
    payloads = [r.payload for r in records]
    assert [p for p in payloads if isinstance(p, CellBaseline)] == [
        CellBaseline(
            HOME, 1, T + 1_000_000_000, T + 6_000_000_000, 5, ("AS eea2", "NAS eea2"), ("AS eia2", "NAS eia2")
        ),
        CellBaseline(OTHER, 7, T + 7_000_000_000, T + 9_000_000_000, 3, ("AS eea1",), ("AS eia1",)),
    ]
    assert [p for p in payloads if isinstance(p, CellChange)] == [CellChange(2, None, HOME), CellChange(8, HOME, OTHER)]
    assert [(p.number, p.cell, p.security.ciphering) for p in payloads if isinstance(p, SecurityContext)] == [
        (3, HOME, "eea2"),
        (4, HOME, "eea2"),
        (9, OTHER, "eea1"),
    ]
    assert payloads[-1] == LogSummary(9, 0, 0, ())
    offsets = [r.locator.offset for r in records if isinstance(r.payload, Signalling)]
    assert offsets == [0, 62, 107, 148, 215, 255, 317, 362]  # where each frame starts in the file
    assert records[0].time is not None and records[0].time.isoformat() == "2020-09-13T12:26:41+00:00"


def test_a_gsmtap_capture_names_cells_by_carrier_alone_and_is_read_alike(tmp_path: Path) -> None:
    """GSMTAP v2 carries no PCI: the cells are told apart by their EARFCN and identity."""
    records = check(as_pcap(two_cells(), tmp_path / "two.pcap").path).artifact_records(signalling.NAME)
    baselines = [r.payload for r in records if isinstance(r.payload, CellBaseline)]
    assert [(b.cell, b.messages, b.ciphering) for b in baselines] == [
        (dataclasses.replace(HOME, cell_index=None), 5, ("AS eea2", "NAS eea2")),
        (dataclasses.replace(OTHER, cell_index=None), 3, ("AS eea1",)),
    ]
    assert [r.payload for r in records][-1] == LogSummary(9, 0, 0, ())
    assert [r.locator.packet for r in records if isinstance(r.payload, Signalling)] == [1, 2, 3, 4, 6, 7, 8, 9]


# ----------------------------------------------------------------------------------------------
# Cut logs and captures without signalling


def test_a_cut_gzip_log_keeps_its_records_and_is_a_problem(tmp_path: Path) -> None:
    written = as_qmdl(two_cells(), tmp_path / "two.qmdl.gz", compress=True)
    whole = written.path.read_bytes()
    assert whole.startswith(b"\x1f\x8b") and len(whole) == 242
    written.path.write_bytes(whole[:-20])
    out = tmp_path / "out"
    code, document = vestige_check(written.path, out)
    assert code == 3
    reason = "two.qmdl.gz: the gzip stream is cut short after byte 373 of the log: the frames before it were read"
    assert [(p["artifact"], p["reason"]) for p in document["problems"]] == [(signalling.NAME, reason)]  # type: ignore[union-attr]
    lines = [json.loads(line) for line in (out / "records" / "cellular.signalling.jsonl").read_bytes().splitlines()]
    assert [(line["type"], line["locator"].get("packet")) for line in lines][-5:] == [
        ("CellChange", 8),
        ("Signalling", 8),
        ("CellBaseline", 1),
        ("CellBaseline", 7),
        ("LogSummary", None),
    ]
    assert lines[-1]["summary"] == "8 signalling frames, not decoded: 1 HDLC frame unterminated"


def test_a_cut_gsmtap_capture_is_a_problem_of_both_artifacts(tmp_path: Path) -> None:
    written = as_pcap(two_cells(), tmp_path / "two.pcap")
    whole = written.path.read_bytes()
    written.path.write_bytes(whole[:-10])  # inside the last packet
    result = check(written.path)
    assert sorted(p.artifact for p in result.result.problems) == ["cellular.signalling", "network.traffic"]
    records = result.artifact_records(signalling.NAME)
    assert [r.locator.packet for r in records if isinstance(r.payload, Signalling)] == [1, 2, 3, 4, 6, 7, 8]
    assert records[-1].payload == LogSummary(8, 0, 0, ())


def traffic_capture(tmp_path: Path) -> Path:
    built = CaptureBuilder()
    talk = built.connect("10.0.0.2", 51000, "93.184.216.34", 80, at=1_600_000_000.0)
    talk.send(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
    talk.reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    return built.write_pcap(tmp_path / "traffic.pcap")


def test_a_capture_without_gsmtap_gives_only_the_summary(tmp_path: Path) -> None:
    result = check(traffic_capture(tmp_path))
    [record] = result.artifact_records(signalling.NAME)
    assert record.payload == LogSummary(0, 0, 5, ())
    assert record.summary == "0 signalling frames, 5 not signalling"
    assert result.result.problems == [] and result.result.findings == []


def test_a_cut_capture_without_gsmtap_is_left_to_the_traffic_artifact(tmp_path: Path) -> None:
    path = traffic_capture(tmp_path)
    path.write_bytes(path.read_bytes()[:-10])
    result = check(path)
    assert [p.artifact for p in result.result.problems] == ["network.traffic"]
    [record] = result.artifact_records(signalling.NAME)
    assert record.payload == LogSummary(0, 0, 4, ())


def test_a_diag_log_is_recognised_plain_or_gzip_and_other_files_are_not(tmp_path: Path) -> None:
    registry = Registry.discover()
    for path in (
        as_qmdl(two_cells(), tmp_path / "a.qmdl").path,
        as_qmdl(two_cells(), tmp_path / "a.qmdl.gz", compress=True).path,
        as_qmdl(two_cells(), tmp_path / "a.mi2log").path,
    ):
        with registry.recognise(path) as recognised:
            assert recognised.kind.name == "qmdl"
    (tmp_path / "notes.gz").write_bytes(gzip.compress(b"~not a log~" * 100))
    with registry.recognise(as_pcap(two_cells(), tmp_path / "a.pcap").path) as recognised:
        assert recognised.kind.name == "pcap"
    assert registry.kind("qmdl").description == (
        "a Qualcomm DIAG log (.qmdl, MobileInsight .mi2log; optionally gzip-compressed)"
    )
    assert [a.NAME for a in registry.artifacts_for("qmdl")] == [signalling.NAME]
    assert [a.NAME for a in registry.artifacts_for("pcap")] == ["network.traffic", signalling.NAME]
    with pytest.raises(NotAnAcquisitionError):
        registry.open(tmp_path / "notes.gz")


def test_messages_that_cannot_be_decoded_are_recorded_and_counted_never_fatal(tmp_path: Path) -> None:
    garbage = [
        Frame(1, 0, T, LTE, RRC, "DL-DCCH", False, 850, 101, b"\xff" * 9),  # valid UPER: a class extension
        Frame(2, 0, T, LTE, NAS, "plain", False, None, None, b"\x07\xff\xff"),
        Frame(3, 0, T, LTE, RRC, "BCCH-DL-SCH", False, 850, 101, b""),
        Frame(4, 0, T, GSM, RR, "BCCH", False, GSM_ARFCN, GSM_BSIC, b"\x01\x06"),
        *redirect_to_geran()[1:],  # the detectors still see what comes after
    ]
    written = as_qmdl(garbage, tmp_path / "garbage.qmdl")
    assert written.numbers == [1, 2, 3, 5, 6, 7]  # 4: the GSM cell information packet
    result = check(written.path)
    assert result.result.problems == []
    assert [(f.rule, [e.locator.packet for e in f.evidence]) for f in result.result.findings] == [
        ("cellular.lte.redirect_downgrade", [7])
    ]
    records = result.artifact_records(signalling.NAME)
    messages = [r for r in records if isinstance(r.payload, Signalling)]
    errors = [r.payload.message.error for r in messages if isinstance(r.payload, Signalling)]
    assert [(r.locator.packet, r.summary) for r in messages][:4] == [
        (1, "LTE RRC DL-DCCH DL-DCCH message class extension, downlink on EARFCN 850, PCI 101"),
        (2, f"EMM plain message not decoded ({errors[1]}) on EARFCN 850, PCI 101"),
        (3, "LTE RRC BCCH-DL-SCH message not decoded (empty payload) on EARFCN 850, PCI 101"),
        (5, f"GSM RR BCCH message not decoded ({errors[3]}) on ARFCN 20, BSIC 12"),
    ]
    assert errors[1] is not None and errors[1].startswith("pycrate NAS error 97")  # the decoder's own words
    assert errors[3] is not None and errors[3].startswith("pycrate could not decode it")
    assert records[-1].payload == LogSummary(6, 0, 1, (("EMM", 1), ("GSM RR", 1), ("LTE RRC", 1)))
    assert records[-1].summary == "6 signalling frames, 1 not signalling, not decoded: 1 EMM, 1 GSM RR, 1 LTE RRC"
