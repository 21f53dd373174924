"""The defence's hypothesis on the phone's own baseband log: the same injection (a forged redirect winning a TCP
race in a capture) placed while the log shows a redirect to GERAN and a GSM cell with A5/0 (consistent with a
rogue base station), while it shows ciphered LTE on a known cell (argues against it), with no log (cannot be
tested), and the edges: a log that does not cover the time, and one that shows neither."""

from __future__ import annotations

from dataclasses import replace

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
from vestige.correlations.baseband import BasebandDuringInjection
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
        "Around an injected response, the baseband log shows a GSM (2G) cell, no ciphering (A5/0), a cell first "
        "seen then and a rogue-station finding (cellular.lte_redirect_to_geran)"
    )
    assert finding.time == INJECTION.time
    assert cited(finding) == [
        *WIRE,
        (2, LOG, 300, f"2024-05-14T09:11:51.250000Z: Cell change from {HOME_TEXT} to {FAKE_TEXT}"),
        (2, LOG, 12, "2024-05-14T08:52:51.250000Z: AS security on LTE: eea2/eia2"),
        (2, LOG, 305, "2024-05-14T09:12:01.250000Z: AS security on GSM: A5/0/None"),
        (2, LOG, None, f"2024-05-14T09:11:51.250000Z: Cell {FAKE_TEXT}"),
        (2, LOG, 299, "packet 299"),
    ]
    assert finding.explanation == (
        f"{OPENING} The baseband log diag.qmdl covers the ±300 s around it. The phone was camped on {FAKE_TEXT} "
        "(since 2024-05-14T09:11:51.250000Z). Ciphering and integrity in force or put in force: AS ciphering eea2, "
        f"integrity eia2 at 2024-05-14T08:52:51.250000Z on {HOME_TEXT}; AS ciphering A5/0 at "
        f"2024-05-14T09:12:01.250000Z on {FAKE_TEXT}. 1 cell change in the window: from {HOME_TEXT} to {FAKE_TEXT} "
        f"at 2024-05-14T09:11:51.250000Z. 1 cell first seen in the window: {FAKE_TEXT} at "
        "2024-05-14T09:11:51.250000Z. No identity request in the window. Rogue-station findings in the window: An "
        "LTE connection release redirected the phone to GERAN (2G) (cellular.lte_redirect_to_geran, high, at "
        "2024-05-14T09:11:41.250000Z). A rogue base station can tamper with traffic only after pulling the phone "
        "onto a network without mutual authentication or without ciphering (2G, or null ciphering); what the log "
        "shows here is consistent with that hypothesis: a GSM (2G) cell, no ciphering (A5/0), a cell first seen "
        "then and a rogue-station finding (cellular.lte_redirect_to_geran)."
    )
    assert finding.caveats[-1].startswith("2G, null ciphering, new cells and identity requests also occur")


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
        "No cell change in the window. No cell first seen in the window. No identity request in the window. No "
        "rogue-station finding (cellular, medium or above) in the window. A rogue base station can tamper with "
        "traffic only after pulling the phone onto a network without mutual authentication or without ciphering "
        "(2G, or null ciphering); the log shows the phone on LTE with eea2, eia2 in force on a cell it was on "
        "before the window opened and after it closed, with no cell change, no identity request and no "
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
        "Around an injected response, the baseband log shows no ciphering (eea0) and an identity request"
    )
    assert (2, LOG, 210, "2024-05-14T09:13:11.250000Z: EMM Identity Request (IMSI)") in cited(finding)


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
