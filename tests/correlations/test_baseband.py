"""The defence's hypothesis on the phone's own baseband log: the same injection (a forged redirect winning a TCP
race in a capture) placed while the log shows a redirect to GERAN and a GSM cell with A5/0 (consistent with a
rogue base station), while it shows ciphered LTE on a known cell (argues against it), with no log (cannot be
tested), and the edges: a log that does not cover the time, and one that shows neither."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.builders.captures import CaptureBuilder
from tests.builders.diag import DiagLogBuilder
from tests.builders.gsmtap import GsmtapCapture
from tests.cellular.lte_messages import GERAN_REDIRECT, release, rrc_security_mode_command, sib1
from tests.cellular.test_gsm import SI3_WITH_PSEUDO_LENGTH
from tests.correlations.baseband_log import (
    HOME,
    LOG,
    baseline,
    change,
    ciphered,
    context,
    downgraded,
    identity_request,
    summary,
)
from tests.correlations.wire import CAPTURE, NO_INDICATORS, race, race_finding
from vestige.cellular.records import Decoded, Signalling
from vestige.cli import main
from vestige.correlations.baseband import BasebandDuringInjection
from vestige.ios.sample.demo import INJECTION as DEMO_INJECTION
from vestige.model import Finding, Record, Severity

CORRELATOR = BasebandDuringInjection()
RULE = "correlation.baseband_during_injection"
INJECTION = race_finding(race())
OPENING = "A forged redirect won a TCP race (network.injected_response, at 2024-05-14T09:12:41.250000Z)."
HOME_TEXT = "LTE, PLMN 310-260, TAC 10753, cell 1715004, EARFCN 5230, PCI 101"
FAKE_TEXT = "GSM, PLMN 310-260, LAC 42, cell 77, ARFCN 128, BSIC 7"
WIRE = [(1, CAPTURE, 7, "packet 7"), (1, CAPTURE, 8, "packet 8"), (1, CAPTURE, 6, "packet 6")]


def judged(records: list[Record], findings: list[Finding] | None = None) -> list[Finding]:
    kept = [r for r in records if CORRELATOR.select(r)]
    return list(CORRELATOR.correlate(kept, [INJECTION, *(findings or [])], NO_INDICATORS))


def cited(finding: Finding) -> list[tuple[int | None, str, int | None, str]]:
    return [(e.locator.acquisition, e.locator.path, e.locator.packet, e.excerpt) for e in finding.evidence]


def test_a_gsm_cell_with_a5_0_after_a_redirect_to_geran_is_consistent_with_a_rogue_station() -> None:
    records, rogue = downgraded()
    [finding] = judged(records, rogue)
    assert finding.rule == RULE
    assert finding.severity is Severity.MEDIUM
    assert finding.title == (
        "Around an injected response, the baseband log shows a GSM (2G) cell, no ciphering (A5/0), a serving "
        "cell first seen then, without integrity protection and a rogue-station finding "
        "(cellular.lte_redirect_to_geran)"
    )
    assert finding.time == INJECTION.time
    assert cited(finding) == [
        *WIRE,
        (2, LOG, 300, f"2024-05-14T09:11:51.250000Z: Cell change from {HOME_TEXT} to {FAKE_TEXT}"),
        (2, LOG, 12, "2024-05-14T08:52:51.250000Z: AS security on LTE: eea2/eia2"),
        (2, LOG, 305, "2024-05-14T09:12:01.250000Z: AS security on GSM: none/None"),
        (2, LOG, None, f"2024-05-14T09:11:51.250000Z: Cell {FAKE_TEXT}"),
        (2, LOG, 299, "packet 299"),
    ]
    assert finding.explanation == (
        f"{OPENING} The baseband log diag.qmdl covers the ±300 s around it. The phone was camped on {FAKE_TEXT} "
        "(since 2024-05-14T09:11:51.250000Z). Ciphering and integrity in force or put in force: AS ciphering eea2, "
        f"integrity eia2 at 2024-05-14T08:52:51.250000Z on {HOME_TEXT}; AS ciphering none at "
        f"2024-05-14T09:12:01.250000Z on {FAKE_TEXT}. 1 cell change in the window: from {HOME_TEXT} to {FAKE_TEXT} "
        "at 2024-05-14T09:11:51.250000Z. 1 serving cell first seen without integrity protection in the window: "
        f"{FAKE_TEXT} at "
        "2024-05-14T09:11:51.250000Z. No IMSI request in the window. Rogue-station findings in the window: An "
        "LTE connection release redirected the phone to GERAN (2G) (cellular.lte_redirect_to_geran, high, at "
        "2024-05-14T09:11:41.250000Z). A rogue base station can tamper with traffic only after pulling the phone "
        "onto a network without mutual authentication or without ciphering (2G, or null ciphering); what the log "
        "shows here is consistent with that hypothesis: a GSM (2G) cell, no ciphering (A5/0), a serving "
        "cell first seen then, without integrity protection and a rogue-station finding "
        "(cellular.lte_redirect_to_geran)."
    )
    assert finding.caveats[-1].startswith("2G, null ciphering, new cells and IMSI requests also occur")


def test_ciphered_lte_on_a_cell_seen_before_and_after_argues_against_a_rogue_station() -> None:
    [finding] = judged(ciphered())
    assert finding.severity is Severity.INFO
    assert finding.title == (
        "Around an injected response, the baseband log shows ciphered LTE (eea2, eia2) on a cell seen before and "
        "after it, with no cell change"
    )
    assert cited(finding) == [
        *WIRE,
        (2, LOG, 10, f"2024-05-14T08:52:41.250000Z: Cell change to {HOME_TEXT}"),
        (2, LOG, 11, "2024-05-14T08:52:46.250000Z: NAS security on LTE: eea2/eia2"),
        (2, LOG, 12, "2024-05-14T08:52:51.250000Z: AS security on LTE: eea2/eia2"),
        (2, LOG, 200, "2024-05-14T09:10:41.250000Z: AS security on LTE: eea2/eia2"),
        (2, LOG, None, f"2024-05-14T08:52:41.250000Z: Cell {HOME_TEXT}"),
    ]
    assert finding.explanation.endswith(
        "No cell change in the window. No serving cell first seen without integrity protection in the window. "
        "No IMSI request in the window. No "
        "rogue-station finding (cellular, medium or above) in the window. A rogue base station can tamper with "
        "traffic only after pulling the phone onto a network without mutual authentication or without ciphering "
        "(2G, or null ciphering); the log shows the phone on LTE with eea2, eia2 in force on a cell it was on "
        "before the window opened and after it closed, with no cell change, no IMSI request and no "
        "rogue-station finding, which argues against that hypothesis."
    )
    assert finding.caveats[-1] == (
        "The log is what the modem reported: it argues against a rogue base station on the radio link, not against "
        "an injection elsewhere on the path."
    )


def test_without_a_baseband_log_the_hypothesis_cannot_be_tested() -> None:
    [finding] = judged([])
    assert (finding.rule, finding.severity) == (RULE, Severity.INFO)
    assert finding.title == (
        "Whether an injected response came through a rogue base station cannot be tested: no baseband log in this check"
    )
    assert cited(finding) == WIRE
    assert finding.explanation == (
        f"{OPENING} The check holds no baseband log, so what the phone's modem was camped on at that time is not "
        "known. Whether a rogue base station carried this injection (the hypothesis that a device mimicking the "
        "network did it) cannot be tested from the evidence given."
    )


def test_a_log_that_ends_before_the_window_cannot_test_it() -> None:
    early = [change(10, -3600, None, HOME), baseline(HOME, 10, -3600, -301, ()), summary()]
    [finding] = judged(early)
    assert finding.severity is Severity.INFO
    assert finding.title.endswith("cannot be tested: the baseband log does not cover its time")
    assert (
        "The baseband log covers diag.qmdl from 2024-05-14T08:12:41.250000Z to 2024-05-14T09:07:40.250000Z: nothing "
        "of it falls within ±300 s of the injection." in finding.explanation
    )
    # two seconds later, the log's last message is inside the window
    [inside] = judged([change(10, -3600, None, HOME), baseline(HOME, 10, -3600, -299, ()), summary()])
    assert inside.title.startswith("Around an injected response, the baseband log shows LTE with no ciphering seen")


def test_lte_without_a_security_mode_command_and_a_cell_change_neither_fits_nor_argues_against() -> None:
    other = replace(HOME, cell_id=0x1A2B3D, cell_index=102)
    records = [
        change(10, -1200, None, HOME),
        context(12, -1190, HOME, "AS", "eea2", "eia2"),
        change(200, -100, HOME, other),
        baseline(HOME, 10, -1200, -100, ("eea2",)),
        baseline(other, 200, -1500, 1200, ()),
        summary(),
    ]
    [finding] = judged(records)
    assert finding.severity is Severity.INFO
    assert finding.title == (
        "Around an injected response, the baseband log shows LTE with no ciphering seen: neither a downgrade nor a "
        "ciphered cell held throughout"
    )
    assert finding.explanation.endswith(
        "but does not argue against a rogue base station either: the phone changed cells in the window and no "
        "ciphering of the radio link is seen on the serving cell."
    )


def test_an_identity_request_and_a_null_integrity_are_consistent_signs() -> None:
    records = [*ciphered(), identity_request(210, 30, HOME), context(211, 31, HOME, "NAS", "eea0", "eia0")]
    [finding] = judged(records)
    assert finding.severity is Severity.MEDIUM
    assert finding.title == (
        "Around an injected response, the baseband log shows no ciphering (eea0) and an IMSI request"
    )
    assert (2, LOG, 210, "2024-05-14T09:13:11.250000Z: EMM Identity Request (IMSI)") in cited(finding)


def test_an_imeisv_request_and_a_new_serving_cell_that_put_integrity_in_force_are_no_sign() -> None:
    # Sprint's benign logs hold dozens of IMEISV requests after authentication; a cell that integrity-protected
    # its security mode command derived its keys from AKA, so it is the phone's network
    other = replace(HOME, cell_id=0x1A2B3D, cell_index=102)
    records = [
        *ciphered(),
        identity_request(210, -30, HOME, identity_type=3),
        change(220, -20, HOME, other),
        baseline(other, 220, -20, 1100, ("AS eea2",)),
    ]
    proven = replace(records[-1], payload=replace(records[-1].payload, integrity=("AS eia2",)))
    [finding] = judged([*records[:-1], proven])
    assert finding.severity is Severity.INFO
    assert finding.title == (
        "Around an injected response, the baseband log shows LTE with no ciphering seen: neither a downgrade nor a "
        "ciphered cell held throughout"
    )
    [unproven] = judged(records)
    assert unproven.severity is Severity.MEDIUM
    assert unproven.title == (
        "Around an injected response, the baseband log shows a serving cell first seen then, without integrity "
        "protection"
    )


def test_every_injection_rule_is_tested_and_nothing_else() -> None:
    race_only = replace(INJECTION, rule="network.tcp_race", title="A TCP race")
    other = replace(INJECTION, rule="network.dns_race", title="A DNS race")
    found = list(CORRELATOR.correlate([], [race_only, other], NO_INDICATORS))
    assert [f.title for f in found] == [
        "Whether a TCP race came through a rogue base station cannot be tested: no baseband log in this check"
    ]
    assert list(CORRELATOR.correlate([], [other], NO_INDICATORS)) == []


def test_only_what_can_join_is_kept() -> None:
    kept = [*ciphered(), identity_request(210, 30, HOME)]
    assert all(CORRELATOR.select(r) for r in kept)
    sib = replace(
        kept[-1],
        payload=Signalling(
            211, "LTE", "RRC", "BCCH-DL-SCH", False, HOME, Decoded("SystemInformationBlockType1", "LTE RRC")
        ),
    )
    assert not CORRELATOR.select(sib)
    assert not CORRELATOR.select(race())


# ------------------------------------------------------------------------------------------------------------
# End to end: `vestige check capture.pcap log.pcap` with the same generated injection and a synthetic GSMTAP log
# (tests/builders/gsmtap.py) of the phone's modem over the same period.

PHONE, WEB = "10.0.0.2", "203.0.113.80"
REQUEST = b"GET / HTTP/1.1\r\nHost: yahoo.fr\r\nUser-Agent: Mozilla/5.0 (iPhone)\r\nAccept: */*\r\n\r\n"
FORGED = b"HTTP/1.1 302 Found\r\nLocation: http://bun54l2b67.get1tn0w.free247downloads.com:30495/szev4hz\r\n\r\n"
GENUINE = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 12\r\n\r\n<p>Yahoo</p>"
EARFCN, PCI, ARFCN = 5230, 101, 20


def injection_capture(path: Path) -> Path:
    """The phone's request (packet 4) raced by a forged redirect (5) and the server's reply (6), at INJECTION."""
    capture = CaptureBuilder()
    talk = capture.connect(PHONE, 51000, WEB, 80, at=DEMO_INJECTION.timestamp(), rtt=0.030)
    talk.send(REQUEST)
    talk.inject(FORGED, after=0.004)
    talk.reply(GENUINE, after=0.026)
    return capture.write_pcap(path)


def log_time(seconds: float) -> int:
    return round((DEMO_INJECTION.timestamp() + seconds) * 1e6) * 1000


def lte_cell(log: GsmtapCapture, seconds: float) -> int:
    return log.lte_rrc("BCCH-DL-SCH", sib1([("310", "260")], 0x2A01, 0x1A2B3C), log_time(seconds), EARFCN)


def downgraded_log(path: Path) -> Path:
    """The home LTE cell with eea2/eia2, a release redirecting to GERAN 60 s before the injection, a GSM cell
    broadcasting 50 s before it, then a cipher mode command without ciphering (A5/0) 40 s before it."""
    log = GsmtapCapture()
    lte_cell(log, -1200)
    log.lte_rrc("DL-DCCH", rrc_security_mode_command("eea2", "eia2"), log_time(-1190), EARFCN)
    log.lte_rrc("DL-DCCH", release(GERAN_REDIRECT), log_time(-60), EARFCN)
    log.gsm_rr("BCCH", SI3_WITH_PSEUDO_LENGTH, log_time(-50), ARFCN)
    log.gsm_dedicated("SDCCH", bytes.fromhex("063500"), log_time(-40), ARFCN)
    log.gsm_rr("BCCH", SI3_WITH_PSEUDO_LENGTH, log_time(240), ARFCN)
    path.write_bytes(log.pcap())
    return path


def ciphered_log(path: Path) -> Path:
    """The home LTE cell from 20 minutes before the injection to 20 minutes after, each connection with
    eea2/eia2, one 120 s before it."""
    log = GsmtapCapture()
    lte_cell(log, -1200)
    log.lte_rrc("DL-DCCH", rrc_security_mode_command("eea2", "eia2"), log_time(-1190), EARFCN)
    log.lte_rrc("DL-DCCH", rrc_security_mode_command("eea2", "eia2"), log_time(-120), EARFCN)
    lte_cell(log, 1200)
    path.write_bytes(log.pcap())
    return path


def checked(tmp_path: Path, *paths: Path) -> list[dict[str, object]]:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["check", *(str(p) for p in paths), "-o", str(out), "--no-bundled-iocs"])
    assert result.exit_code == 0, result.output
    findings: list[dict[str, object]] = json.loads((out / "findings.json").read_bytes())["findings"]
    return [f for f in findings if f["rule"] == RULE]


def places(finding: dict[str, object]) -> list[tuple[object, ...]]:
    evidence = finding["evidence"]
    assert isinstance(evidence, list)
    return [(e["locator"].get("acquisition"), e["locator"]["path"], e["locator"].get("packet")) for e in evidence]


def test_the_check_of_a_capture_and_a_downgraded_log_is_consistent_with_a_rogue_station(tmp_path: Path) -> None:
    capture = injection_capture(tmp_path / "capture.pcap")
    [finding] = checked(tmp_path, capture, downgraded_log(tmp_path / "log.pcap"))
    assert (finding["severity"], finding["time"]) == ("medium", "2024-05-14T09:12:41.285200Z")
    assert finding["title"] == (
        "Around an injected response, the baseband log shows a GSM (2G) cell, no ciphering (A5/0), a serving "
        "cell first seen then, without integrity protection and a rogue-station finding "
        "(cellular.lte.redirect_downgrade)"
    )
    assert places(finding) == [
        (0, "capture.pcap", 5),  # the forged segment, the genuine one, the request
        (0, "capture.pcap", 6),
        (0, "capture.pcap", 4),
        (1, "log.pcap", 5),  # the change to the GSM cell (with its cipher mode command, one frame)
        (1, "log.pcap", 2),  # the LTE security mode command in force when the window opened
        (1, "log.pcap", 4),  # the GSM cell's baseline: first seen 50 s before the injection
        (1, "log.pcap", 3),  # the release to GERAN that the LTE detector reported
    ]


def test_the_check_of_a_capture_and_a_ciphered_lte_log_argues_against_a_rogue_station(tmp_path: Path) -> None:
    capture = injection_capture(tmp_path / "capture.pcap")
    [finding] = checked(tmp_path, capture, ciphered_log(tmp_path / "log.pcap"))
    assert finding["severity"] == "info"
    assert finding["title"] == (
        "Around an injected response, the baseband log shows ciphered LTE (eea2, eia2) on a cell seen before and "
        "after it, with no cell change"
    )
    assert places(finding) == [
        (0, "capture.pcap", 5),
        (0, "capture.pcap", 6),
        (0, "capture.pcap", 4),
        (1, "log.pcap", 2),  # the first cell (with the first security mode command, one frame)
        (1, "log.pcap", 3),  # the security mode command 120 s before the injection
        (1, "log.pcap", 1),  # the LTE cell's baseline, from its SIB1 20 minutes before to 20 minutes after
    ]


def test_the_check_of_a_capture_alone_says_the_hypothesis_cannot_be_tested(tmp_path: Path) -> None:
    capture = injection_capture(tmp_path / "capture.pcap")
    [finding] = checked(tmp_path, capture)
    assert (finding["severity"], finding["time"]) == ("info", "2024-05-14T09:12:41.285200Z")
    assert finding["title"] == (
        "Whether an injected response came through a rogue base station cannot be tested: no baseband log in this check"
    )
    assert places(finding) == [(None, "capture.pcap", 5), (None, "capture.pcap", 6), (None, "capture.pcap", 4)]


def downgraded_diag_log(path: Path) -> Path:
    """The downgraded log of ``downgraded_log`` as the phone's modem writes it: a Qualcomm DIAG log."""
    log = DiagLogBuilder()
    home = sib1([("310", "260")], 0x2A01, 0x1A2B3C)
    log.lte_rrc(home, "BCCH-DL-SCH", at=log_time(-1200), earfcn=EARFCN, pci=PCI)
    log.lte_rrc(rrc_security_mode_command("eea2", "eia2"), "DL-DCCH", at=log_time(-1190), earfcn=EARFCN, pci=PCI)
    log.lte_rrc(release(GERAN_REDIRECT), "DL-DCCH", at=log_time(-60), earfcn=EARFCN, pci=PCI)
    log.gsm_cell(ARFCN, 7, at=log_time(-50))
    log.gsm_rr(SI3_WITH_PSEUDO_LENGTH, "BCCH", at=log_time(-50))
    log.gsm_rr(bytes.fromhex("063500"), "SDCCH", at=log_time(-40))
    log.gsm_rr(SI3_WITH_PSEUDO_LENGTH, "BCCH", at=log_time(240))
    return log.write(path)


def test_the_check_of_a_capture_and_a_downgraded_diag_log_is_consistent_with_a_rogue_station(tmp_path: Path) -> None:
    capture = injection_capture(tmp_path / "capture.pcap")
    [finding] = checked(tmp_path, capture, downgraded_diag_log(tmp_path / "diag.qmdl"))
    assert finding["severity"] == "medium"
    assert finding["title"] == (
        "Around an injected response, the baseband log shows a GSM (2G) cell, no ciphering (A5/0), a serving "
        "cell first seen then, without integrity protection and a rogue-station finding "
        "(cellular.lte.redirect_downgrade)"
    )
    assert places(finding) == [
        (0, "capture.pcap", 5),
        (0, "capture.pcap", 6),
        (0, "capture.pcap", 4),
        (1, "diag.qmdl", 6),  # the HDLC frame of the cipher mode command, where the phone is on the GSM cell
        (1, "diag.qmdl", 2),
        (1, "diag.qmdl", 5),
        (1, "diag.qmdl", 3),
    ]
    assert (
        "The phone was camped on GSM, PLMN 001-01, LAC 1, cell 1, ARFCN 20, BSIC 7 (since 2024-05-14T09:12:01.250000Z)."
        in str(finding["explanation"])
    )


def test_a_log_of_absurd_times_costs_nothing_but_its_place_in_the_window() -> None:
    # a crafted DIAG timestamp: a time no calendar holds (the records' own times are then None)
    absurd = replace(
        baseline(HOME, 10, 0, 0, ()),
        payload=replace(baseline(HOME, 10, 0, 0, ()).payload, first_time_ns=10**30, last_time_ns=10**30),
    )
    [finding] = judged([absurd, summary()])
    assert finding.title.endswith("cannot be tested: the baseband log does not cover its time")
    assert (
        "The baseband log covers diag.qmdl from 1000000000000000000000.000000 s after the Unix epoch to "
        "1000000000000000000000.000000 s after the Unix epoch: nothing of it falls within ±300 s of the injection."
        in finding.explanation
    )


REAL_LOGS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cellular" / "mobileinsight"


def test_an_injection_in_the_middle_of_a_real_benign_log_neither_fits_nor_is_argued_against(tmp_path: Path) -> None:
    """MobileInsight's attach_sample.mi2log (Apache-2.0; 2020, US LTE, about 50 attach/detach cycles): around its
    middle the phone is on LTE with eea2/eia2 but changes cells within minutes, so neither outcome holds."""
    log = REAL_LOGS / "attach_sample.mi2log"
    if not log.is_file():
        pytest.skip(f"the real MobileInsight logs are not at {REAL_LOGS} (../shared/data beside the repository)")
    capture = CaptureBuilder()
    talk = capture.connect(PHONE, 51000, WEB, 80, at=1_588_959_612.943205, rtt=0.030)
    talk.send(REQUEST)
    talk.inject(FORGED, after=0.004)
    talk.reply(GENUINE, after=0.026)
    [finding] = checked(tmp_path, capture.write_pcap(tmp_path / "capture.pcap"), log)
    assert (finding["severity"], finding["time"]) == ("info", "2020-05-08T17:40:12.978405Z")
    assert finding["title"] == (
        "Around an injected response, the baseband log shows LTE with AS ciphering eea2, integrity eia2: neither a "
        "downgrade nor a ciphered cell held throughout"
    )
    assert str(finding["explanation"]).endswith(
        "but does not argue against a rogue base station either: the phone changed cells in the window."
    )
