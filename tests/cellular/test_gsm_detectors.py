"""The 2G/3G detectors (vestige.cellular.gsm_detectors): one synthetic log per rule that triggers exactly it,
the benign counterparts, and QCSuper's real (benign, France 2018) sample, which must raise nothing high."""

from __future__ import annotations

import dataclasses
import io
from collections import Counter
from pathlib import Path

import pytest

from tests.builders.diag import DiagLogBuilder
from tests.builders.gsmtap import GsmtapCapture
from tests.cellular.test_gsm import (
    LOCATION_UPDATING_REQUEST,
    direct_transfer,
    security_mode_command,
)
from tests.cellular.test_gsm import (
    SI3_WITH_PSEUDO_LENGTH as SI3_WITH_PSEUDO_LENGTH_HEX,
)
from vestige.cellular.diag import DiagReader
from vestige.cellular.frames import DTAP, GSM, RR, RRC, UMTS, Cell, Frame
from vestige.cellular.gsm import SystemInformation3, decode
from vestige.cellular.gsm_detectors import MAX_CELLS, GsmDetectors
from vestige.cellular.gsmtap import GsmtapReader
from vestige.model import Finding, Locator, Severity

GSM_CELL = Cell(GSM, plmn="001-01", area=1, cell_id=1, channel_number=20)
UMTS_CELL = Cell(UMTS, plmn="001-01", area=1, cell_id=9, channel_number=10700)
T0 = 1_700_000_000_000_000_000

IDENTITY_IMSI = bytes.fromhex("051801")
IDENTITY_IMEI = bytes.fromhex("051802")
LU_REJECT = bytes.fromhex("05040b")  # cause #11, PLMN not allowed
AUTH_REQUEST = bytes.fromhex("0512020d25ec81a35a15fadd021ee91e98c1812010829e0391a73d000043d1a5bee6d741f6")
CMC_NONE, CMC_A5_1, CMC_A5_3 = bytes.fromhex("063500"), bytes.fromhex("063511"), bytes.fromhex("063515")
CHANNEL_RELEASE = bytes.fromhex("060d00")
IDENTITY_RESPONSE = bytes.fromhex("0519080910101032547698")  # IMSI 001010123456789, encoded by pycrate


def run(
    messages: list[tuple[bytes, bool | None]],
    rat: str = GSM,
    cell: Cell = GSM_CELL,
    layer: str = DTAP,
    cells: dict[int, Cell] | None = None,
) -> list[Finding]:
    """Feeds the messages as frames 1, 2, ... of one log (UMTS ones as RRC DL-DCCH frames), on ``cell`` or, for
    the frame numbers ``cells`` names, on the cell it gives."""
    detectors = GsmDetectors()
    findings: list[Finding] = []
    for number, (payload, uplink) in enumerate(messages, 1):
        serving = (cells or {}).get(number, cell)
        channel = "DL-DCCH" if rat == UMTS else "SDCCH"
        frame = Frame(
            number, 0, T0 + number * 10**9, rat, RRC if rat == UMTS else layer, channel, uplink, 20, None, payload
        )
        message = decode(frame)
        assert message is not None and message.error is None, message
        findings += detectors.feed(frame, message, serving, Locator("log.pcap", None, packet=number))
    return findings + list(detectors.finish())


def packets(finding: Finding) -> list[int | None]:
    return [e.locator.packet for e in finding.evidence]


def summary(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.rule, f.severity.label) for f in findings]


def test_location_update_imsi_request_reject_without_authentication() -> None:
    findings = run([(LOCATION_UPDATING_REQUEST, True), (IDENTITY_IMSI, False), (LU_REJECT, False)])
    assert summary(findings) == [
        ("cellular.gsm.location_update_imsi_reject", "high"),
        ("cellular.gsm.catcher_score", "info"),
    ]
    c4 = findings[0]
    assert packets(c4) == [1, 2, 3]
    assert c4.title == (
        "A location update was answered with an IMSI request and a reject, without authentication, on "
        "GSM, PLMN 001-01, LAC 1, cell 1, ARFCN 20"
    )
    assert "(cause #11)" in c4.explanation
    assert c4.time is not None and c4.time.timestamp() == 1_700_000_003
    assert (
        findings[1].title
        == "GSM, PLMN 001-01, LAC 1, cell 1, ARFCN 20 scores 2.0 on SnoopSnitch's IMSI catcher criteria"
    )


def test_location_update_with_imei_request_too_scores_an_alarm() -> None:
    findings = run(
        [(LOCATION_UPDATING_REQUEST, True), (IDENTITY_IMSI, False), (IDENTITY_IMEI, False), (LU_REJECT, False)]
    )
    assert summary(findings) == [
        ("cellular.gsm.location_update_imsi_reject", "high"),
        ("cellular.gsm.catcher_score", "high"),
    ]
    assert packets(findings[0]) == [1, 2, 3, 4]
    assert "The IMEI or IMEISV was requested too." in findings[0].explanation
    assert findings[1].explanation.startswith("Sub-scores: C4 6. ")
    assert packets(findings[1]) == [1]


def test_location_update_reject_after_authentication_is_not_a_catcher() -> None:
    messages = [(LOCATION_UPDATING_REQUEST, True), (IDENTITY_IMSI, False), (AUTH_REQUEST, False), (LU_REJECT, False)]
    assert run(messages) == []


def test_a5_1_alone_is_information() -> None:
    findings = run([(LOCATION_UPDATING_REQUEST, True), (CMC_A5_1, False), (CHANNEL_RELEASE, False)])
    assert summary(findings) == [("cellular.gsm.breakable_cipher", "info")]
    assert findings[0].title == "1 GSM ciphering mode commands chose A5/1 on GSM, PLMN 001-01, LAC 1, cell 1, ARFCN 20"
    assert packets(findings[0]) == [2]


def test_a5_3_then_a5_1_on_the_same_cell_is_a_downgrade() -> None:
    findings = run([(CMC_A5_3, False), (CHANNEL_RELEASE, False), (CMC_A5_1, False)])
    assert summary(findings) == [
        ("cellular.gsm.cipher_downgrade", "high"),
        ("cellular.gsm.breakable_cipher", "info"),
        ("cellular.gsm.catcher_score", "info"),
    ]
    assert packets(findings[0]) == [1, 3]
    assert findings[0].title == "A GSM ciphering mode command chose A5/1 on a cell that used a stronger cipher earlier"
    assert findings[2].explanation.startswith("Sub-scores: C1 1. ")


def test_a5_1_then_a5_3_is_no_downgrade() -> None:
    findings = run([(CMC_A5_1, False), (CHANNEL_RELEASE, False), (CMC_A5_3, False)])
    assert summary(findings) == [("cellular.gsm.breakable_cipher", "info")]


def ciphered_sessions(count: int) -> list[tuple[bytes, bool | None]]:
    return [
        m
        for _ in range(count)
        for m in ((LOCATION_UPDATING_REQUEST, True), (CMC_A5_3, False), (CHANNEL_RELEASE, False))
    ]


@pytest.mark.parametrize(
    ("ciphered", "severity", "share", "c5"),
    [(10, "high", "91%", "C5 2"), (5, "medium", "83%", "C5 1.5"), (0, "low", "0%", "C5 1")],
)
def test_no_ciphering_is_weighed_by_the_share_of_ciphered_sessions(
    ciphered: int, severity: str, share: str, c5: str
) -> None:
    unciphered: list[tuple[bytes, bool | None]] = [
        (LOCATION_UPDATING_REQUEST, True),
        (CMC_NONE, False),
        (CHANNEL_RELEASE, False),
    ]
    # the ciphered sessions on another cell of the same PLMN: on the same cell, no ciphering after A5/3 is C1 too
    other = Cell(GSM, plmn="001-01", area=1, cell_id=2, channel_number=30)
    findings = run(ciphered_sessions(ciphered) + unciphered, cells=dict.fromkeys(range(1, 3 * ciphered + 1), other))
    assert summary(findings) == [("cellular.gsm.no_ciphering", severity), ("cellular.gsm.catcher_score", "info")]
    assert packets(findings[0]) == [3 * ciphered + 2]
    assert (
        f"In this log {ciphered} of the {ciphered + 1} sessions on 001-01 were ciphered ({share})"
        in findings[0].explanation
    )
    assert (
        findings[0].title
        == "A GSM ciphering mode command started no ciphering on GSM, PLMN 001-01, LAC 1, cell 1, ARFCN 20"
    )
    assert findings[1].explanation.startswith(f"Sub-scores: {c5}. ")
    assert packets(findings[1]) == [3 * ciphered + 1, 3 * ciphered + 2]


@pytest.mark.parametrize(("algorithm_octet", "name"), [("00", "GEA0"), ("01", "GEA1")])
def test_gprs_weak_cipher(algorithm_octet: str, name: str) -> None:
    findings = run([(bytes.fromhex(f"0812{algorithm_octet}00"), False)])
    assert summary(findings) == [("cellular.gsm.gprs_weak_cipher", "medium")]
    assert (
        findings[0].title
        == f"A GPRS authentication and ciphering request chose {name} on GSM, PLMN 001-01, LAC 1, cell 1, ARFCN 20"
    )
    assert packets(findings[0]) == [1]


def test_gea3_and_gea0_over_umts_are_not_weak_gprs_ciphering() -> None:
    assert run([(bytes.fromhex("08120300"), False)]) == []
    # over UMTS the GMM algorithm is not used (RRC ciphers): the xperia sample has GEA0 there
    assert run([(direct_transfer(bytes.fromhex("08120000")), False)], rat=UMTS, cell=UMTS_CELL) == []


def test_gea0_given_as_gsm_right_after_umts_rrc_is_not_judged() -> None:
    # SCAT writes 3G NAS as GSMTAP Abis frames, which read as GSM DTAP
    detectors = GsmDetectors()
    rrc = Frame(1, 0, None, UMTS, RRC, "DL-DCCH", False, 10700, None, security_mode_command("uea1"))
    nas = Frame(2, 0, None, GSM, DTAP, "DCCH", False, 0, None, bytes.fromhex("08120000"))
    findings: list[Finding] = []
    for frame, cell in ((rrc, UMTS_CELL), (nas, GSM_CELL)):
        message = decode(frame)
        assert message is not None
        findings += detectors.feed(frame, message, cell, Locator("log.pcap", None, packet=frame.number))
    assert findings + list(detectors.finish()) == []


def si3(control: str) -> bytes:
    return bytes.fromhex(f"49061b000100f1100001{control}006800000000" + "2b2b2b2b")


SI2_ONE_NEIGHBOUR = bytes.fromhex("59061a" + "00" * 15 + "01" + "00" + "000000")
"""SI2 with a bit map 0 BCCH allocation naming ARFCN 1 only."""


def test_broadcast_score_of_2_5_raises_no_alarm() -> None:
    # T3212 = 1 decihour (T1 1.5) and one neighbour (K1 1.0): 2.5
    findings = run([(si3("480501"), None), (SI2_ONE_NEIGHBOUR, None)], layer=RR)
    assert summary(findings) == [("cellular.gsm.catcher_score", "info")]
    assert (
        findings[0].title
        == "GSM, PLMN 001-01, LAC 1, cell 1, ARFCN 20 scores 2.5 on SnoopSnitch's IMSI catcher criteria"
    )
    assert findings[0].explanation.startswith("Sub-scores: T1 1.5 (T3212 1 decihours); K1 1 (1 neighbour ARFCNs). ")
    assert packets(findings[0]) == [1, 2]


def test_broadcast_score_above_2_6_is_an_alarm() -> None:
    # T1 1.5 + K1 1.0 + R2 1.0 ((9 - 0) * (7 + 2) = 81 paging groups) = 3.5
    findings = run([(si3("400701"), None), (SI2_ONE_NEIGHBOUR, None)], layer=RR)
    assert summary(findings) == [("cellular.gsm.catcher_score", "medium")]
    assert findings[0].title == (
        "GSM, PLMN 001-01, LAC 1, cell 1, ARFCN 20 scores 3.5 on SnoopSnitch's IMSI catcher criteria (above 2.6)"
    )
    assert "R2 1 (81 paging groups)" in findings[0].explanation


def test_high_cell_reselect_offset_scores_k2() -> None:
    crafted = bytes.fromhex("49061b000100f110000148011e006800000000" + "aa002b2b")
    findings = run([(crafted, None)], layer=RR)
    assert summary(findings) == [("cellular.gsm.catcher_score", "info")]
    assert findings[0].explanation.startswith("Sub-scores: K2 1 (CELL_RESELECT_OFFSET 42 (84 dB)). ")


def test_umts_imsi_request_then_reject_without_authentication() -> None:
    messages = [(direct_transfer(IDENTITY_IMSI), False), (direct_transfer(LU_REJECT), False)]
    findings = run(messages, rat=UMTS, cell=UMTS_CELL)
    assert summary(findings) == [("cellular.umts.imsi_request_reject", "high")]
    assert packets(findings[0]) == [1, 2]
    assert findings[0].title == (
        "An IMSI identity request was followed by a reject without authentication on UMTS, PLMN 001-01, LAC 1, "
        "cell 9, UARFCN 10700"
    )
    assert findings[0].evidence[0].excerpt == "frame 1: MM MMIdentityRequest (identity IMSI, in downlinkDirectTransfer)"


def test_umts_imsi_request_then_authentication_is_benign() -> None:
    messages = [
        (direct_transfer(IDENTITY_IMSI), False),
        (direct_transfer(AUTH_REQUEST), False),
        (direct_transfer(LU_REJECT), False),
    ]
    assert run(messages, rat=UMTS, cell=UMTS_CELL) == []


def test_umts_uea0_alone_is_medium_and_after_uea1_high() -> None:
    alone = run([(security_mode_command("uea0"), False)], rat=UMTS, cell=UMTS_CELL)
    assert summary(alone) == [("cellular.umts.null_cipher", "medium")]
    assert (
        alone[0].title
        == "A UMTS security mode command chose UEA0 (no ciphering) on UMTS, PLMN 001-01, LAC 1, cell 9, UARFCN 10700"
    )
    after = run(
        [(security_mode_command("uea1"), False), (security_mode_command("uea0"), False)], rat=UMTS, cell=UMTS_CELL
    )
    assert summary(after) == [("cellular.umts.null_cipher", "high")]
    assert packets(after[0]) == [2]


def test_undecodable_messages_are_skipped() -> None:
    detectors = GsmDetectors()
    frame = Frame(1, 0, None, GSM, DTAP, "SDCCH", False, 20, None, b"\x05\x18")
    message = decode(frame)
    assert message is not None and message.error is not None
    assert list(detectors.feed(frame, message, GSM_CELL, Locator("log.pcap", None, packet=1))) == []
    assert list(detectors.finish()) == []


def test_state_is_bounded_by_the_number_of_cells() -> None:
    detectors = GsmDetectors()
    message = SystemInformation3(name="RRSystemInfo3", protocol="GSM RR", t3212=1)
    frame = Frame(1, 0, None, GSM, RR, "BCCH", False, 20, None, b"")
    for number in range(MAX_CELLS + 50):
        cell = Cell(GSM, plmn="001-01", area=1, cell_id=number, channel_number=20)
        assert list(detectors.feed(frame, message, cell, Locator("log.pcap", None, packet=number + 1))) == []
    findings = list(detectors.finish())
    assert len(findings) == MAX_CELLS
    assert detectors.cells_not_followed == 50
    assert {(f.rule, f.severity) for f in findings} == {("cellular.gsm.catcher_score", Severity.INFO)}


DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cellular"
XPERIA = DATA / "qcsuper" / "sample_2g_3g_4g_xperia.pcap"


def check_log(frames: list[Frame], path: str) -> tuple[list[Finding], Counter[str]]:
    """Decodes and checks every GSM and UMTS frame of a log, the serving cell of each RAT taken from the last
    broadcast identity and the last carrier a frame gave (as the signalling artifact does); gives the findings
    and the undecodable frames by protocol."""
    detectors = GsmDetectors()
    known: dict[str, Cell] = {}
    findings: list[Finding] = []
    undecodable: Counter[str] = Counter()
    for frame in frames:
        message = decode(frame)
        if message is None:
            continue
        if message.error is not None:
            undecodable[message.protocol] += 1
        cell = known.get(frame.rat, Cell(frame.rat))
        if message.identity is not None:
            identity = message.identity
            cell = known[frame.rat] = Cell(
                frame.rat,
                plmn=identity.plmns[0] if identity.plmns else cell.plmn,
                area=cell.area if identity.area is None else identity.area,
                cell_id=cell.cell_id if identity.cell_id is None else identity.cell_id,
            )
        if frame.channel_number is not None:  # NAS frames carry no carrier: theirs is that of the RRC around them
            cell = known[frame.rat] = dataclasses.replace(
                cell, channel_number=frame.channel_number, cell_index=frame.cell_index
            )
        findings += detectors.feed(frame, message, cell, Locator(path, None, packet=frame.number))
    return findings + list(detectors.finish()), undecodable


@pytest.mark.skipif(not XPERIA.exists(), reason=f"the shared cellular data is not at {XPERIA}")
def test_qcsuper_xperia_sample_raises_nothing_high() -> None:
    with XPERIA.open("rb") as stream:
        frames = [f for f in GsmtapReader(stream, XPERIA.name).frames() if f.rat in (GSM, UMTS)]
    assert Counter(f.rat for f in frames) == {UMTS: 623, GSM: 152}
    findings, undecodable = check_log(frames, XPERIA.name)
    assert undecodable == Counter()
    assert summary(findings) == [("cellular.gsm.breakable_cipher", "info")]
    assert findings[0].evidence[0].excerpt == "frame 606: GSM RR RRCipheringModeCmd (SC=1, A5/1)"
    assert (
        findings[0].title
        == "1 GSM ciphering mode commands chose A5/1 on GSM, PLMN 208-10, LAC 46509, cell 47555, ARFCN 0"
    )


def capture_findings(capture: GsmtapCapture) -> list[Finding]:
    frames = list(GsmtapReader(io.BytesIO(capture.pcap()), "attack.pcap").frames())
    findings, undecodable = check_log(frames, "attack.pcap")
    assert undecodable == Counter()
    return findings


def test_identification_catcher_over_gsmtap_um() -> None:
    """The C4 attack as a phone's GSMTAP capture carries it: SI3 on the BCCH, then a location update on an
    SDCCH in LAPDm frames (SABM with the request, I frames after)."""
    capture = GsmtapCapture()
    capture.gsm_rr("BCCH", SI3_WITH_PSEUDO_LENGTH_HEX, arfcn=20)
    capture.gsm_dedicated("SDCCH", LOCATION_UPDATING_REQUEST, arfcn=20, uplink=True, frame="SABM")
    capture.gsm_dedicated("SDCCH", IDENTITY_IMSI, arfcn=20, frame="I", send=0)
    capture.gsm_dedicated("SDCCH", IDENTITY_RESPONSE, arfcn=20, uplink=True, frame="I")
    capture.gsm_dedicated("SDCCH", LU_REJECT, arfcn=20, frame="I", send=1)
    findings = capture_findings(capture)
    assert summary(findings) == [
        ("cellular.gsm.location_update_imsi_reject", "high"),
        ("cellular.gsm.catcher_score", "high"),
    ]
    assert packets(findings[0]) == [2, 3, 5]
    assert findings[0].title.endswith("on GSM, PLMN 001-01, LAC 1, cell 1, ARFCN 20")
    # T3212 of 1 decihour (T1 1.5) and the session's C4 2.0: 3.5, above SnoopSnitch's 2.6
    assert findings[1].title.endswith("scores 3.5 on SnoopSnitch's IMSI catcher criteria (above 2.6)")
    assert findings[1].explanation.startswith("Sub-scores: T1 1.5 (T3212 1 decihours); C4 2. ")


def test_umts_catcher_over_gsmtap() -> None:
    capture = GsmtapCapture()
    capture.umts_rrc("DL-DCCH", direct_transfer(IDENTITY_IMSI), uarfcn=10700)
    capture.umts_rrc("DL-DCCH", direct_transfer(LU_REJECT), uarfcn=10700)
    findings = capture_findings(capture)
    assert summary(findings) == [("cellular.umts.imsi_request_reject", "high")]
    assert packets(findings[0]) == [1, 2]


MOBILEINSIGHT = DATA / "mobileinsight"


@pytest.mark.parametrize(
    "name", ["att.mi2log", "attach_sample.mi2log", "mobility_sample.mi2log", "sprint.mi2log", "volte_sample.mi2log"]
)
def test_mobileinsight_logs_hold_no_2g_or_3g_signalling(name: str) -> None:
    """The public MobileInsight logs are LTE only (US 2015-2020): no GSM or UMTS frame, so no finding."""
    path = MOBILEINSIGHT / name
    if not path.exists():
        pytest.skip(f"the shared cellular data is not at {path}")
    with path.open("rb") as stream:
        frames = [f for f in DiagReader(stream, name).frames() if f.rat in (GSM, UMTS)]
    assert frames == []
    assert check_log(frames, name) == ([], Counter())


def qmdl_findings(log: DiagLogBuilder) -> tuple[list[Finding], list[Frame]]:
    frames = list(DiagReader(io.BytesIO(log.data()), "attack.qmdl").frames())
    findings, undecodable = check_log(frames, "attack.qmdl")
    assert undecodable == Counter()
    return findings, frames


def test_identification_catcher_in_a_qmdl() -> None:
    """The C4 attack as a Qualcomm modem logs it: the GSM cell (0x5134), SI3 (0x512F on BCCH) and the MM
    messages as UMTS NAS OTA (0x713A), which take the RAT of the GSM packets before them."""
    log = DiagLogBuilder()
    log.gsm_cell(20, 7)
    log.gsm_rr(SI3_WITH_PSEUDO_LENGTH_HEX, "BCCH")
    request = log.umts_nas(LOCATION_UPDATING_REQUEST, uplink=True)
    identity = log.umts_nas(IDENTITY_IMSI, uplink=False)
    log.umts_nas(IDENTITY_RESPONSE, uplink=True)
    reject = log.umts_nas(LU_REJECT, uplink=False)
    findings, frames = qmdl_findings(log)
    assert [(f.rat, f.layer) for f in frames] == [(GSM, RR)] + [(GSM, DTAP)] * 4
    assert summary(findings) == [
        ("cellular.gsm.location_update_imsi_reject", "high"),
        ("cellular.gsm.catcher_score", "high"),
    ]
    assert packets(findings[0]) == [request, identity, reject]
    assert findings[0].title.endswith("on GSM, PLMN 001-01, LAC 1, cell 1, ARFCN 20, BSIC 7")


def test_umts_catcher_and_null_cipher_in_a_qmdl() -> None:
    log = DiagLogBuilder()
    log.wcdma_cell(9750, 10700, 123)
    identity = log.wcdma_rrc(direct_transfer(IDENTITY_IMSI), "DL-DCCH")
    reject = log.wcdma_rrc(direct_transfer(LU_REJECT), "DL-DCCH")
    command = log.wcdma_rrc(security_mode_command("uea0"), "DL-DCCH")
    findings, _ = qmdl_findings(log)
    assert summary(findings) == [("cellular.umts.imsi_request_reject", "high"), ("cellular.umts.null_cipher", "medium")]
    assert packets(findings[0]) == [identity, reject]
    assert packets(findings[1]) == [command]
    assert findings[1].title == "A UMTS security mode command chose UEA0 (no ciphering) on UMTS, UARFCN 10700, PSC 123"
