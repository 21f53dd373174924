"""The real signalling logs of ``../shared/data/cellular`` (benign networks, no attack; SOURCES.md gives their
origin and licences) through the whole check: no high or critical finding on any, Sprint's 2015 null ciphering
at medium at most with the caveat that some operators use it, and the exact findings and cells of each."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.builders import Checked, check
from vestige.cellular.artifacts import signalling
from vestige.cellular.records import CellBaseline, LogSummary, SecurityContext
from vestige.model import Severity

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cellular"
MOBILEINSIGHT = DATA / "mobileinsight"
QCSUPER = DATA / "qcsuper"


def real(path: Path) -> Checked:
    if not path.exists():
        pytest.skip(f"{path} is not here (the shared real data sit beside the repository in CI)")
    return check(path)


REAL = {
    MOBILEINSIGHT / "att.mi2log": (
        {},
        {None: 1},
        {"LTE": 1},
        LogSummary(33, 0, 1775, ()),
    ),
    MOBILEINSIGHT / "attach_sample.mi2log": (
        {("cellular.lte.sib_priority_downgrade", "low"): 1},
        {"310-120": 1, "310-260": 5, "310-410": 16, "311-480": 17},
        {"LTE": 39},
        LogSummary(3583, 0, 1475, (("ESM", 51),)),
    ),
    MOBILEINSIGHT / "mobility_sample.mi2log": (
        {("cellular.lte.sib_priority_downgrade", "low"): 3},
        {"310-120": 1, "310-260": 4, "310-410": 142, "311-480": 10, None: 12},
        {"LTE": 169},
        LogSummary(6690, 0, 1493, ()),
    ),
    MOBILEINSIGHT / "sprint.mi2log": (
        {("cellular.lte.null_cipher_as", "medium"): 13, ("cellular.lte.sib_priority_downgrade", "low"): 1},
        {"310-120": 38, "310-260": 7, "310-410": 9, "311-480": 3, "311-940": 7},
        {"LTE": 64},
        LogSummary(18183, 1, 28923, (("ESM", 83),)),
    ),
    MOBILEINSIGHT / "volte_sample.mi2log": (
        {("cellular.lte.sib_priority_downgrade", "low"): 1},
        {"310-260": 2, "310-410": 1, "311-480": 1},
        {"LTE": 4},
        LogSummary(3017, 0, 580, ()),
    ),
    QCSUPER / "sample_2g_3g_4g_xperia.pcap": (
        {("cellular.gsm.breakable_cipher", "info"): 1, ("cellular.lte.redirect_downgrade", "medium"): 1},
        {"208-10": 13},
        {"LTE": 2, "UMTS": 3, "GSM": 8},
        LogSummary(916, 0, 705, ()),
    ),
}
"""Per file: findings by rule and severity; the baseline's cells by PLMN (None: a cell whose SIB1 the log does
not hold, seen only in a handover) and by RAT; the log summary."""


@pytest.mark.parametrize("path", sorted(REAL), ids=lambda p: p.name)
def test_a_real_log_gives_its_exact_findings_and_cells_and_nothing_high(path: Path) -> None:
    result = real(path)
    findings, plmns, rats, summary = REAL[path]
    assert result.result.problems == []
    assert not [f for f in result.result.findings if f.severity >= Severity.HIGH]
    assert Counter((f.rule, f.severity.name.lower()) for f in result.result.findings) == findings
    records = result.artifact_records(signalling.NAME)
    cells = [r.payload.cell for r in records if isinstance(r.payload, CellBaseline)]
    assert Counter(c.plmn for c in cells) == plmns
    assert Counter(c.rat for c in cells) == rats
    assert len(set(cells)) == len(cells)  # one baseline per cell
    assert records[-1].payload == summary


def test_sprints_null_ciphering_is_medium_with_the_operator_caveat() -> None:
    """Sprint's band 41 (EARFCN 40978) put eea0 in force on every connection in 2015: 385 security mode
    commands and 4 handovers. A naive rule calls each high; weighed against the log's own baseline it is
    medium, and every finding says that operators do this."""
    result = real(MOBILEINSIGHT / "sprint.mi2log")
    contexts = [r.payload for r in result.artifact_records(signalling.NAME) if isinstance(r.payload, SecurityContext)]
    assert Counter((c.security.layer, c.security.ciphering, c.cell.channel_number) for c in contexts) == {
        ("AS", "eea0", 40978): 389,
        ("AS", "eea2", 8665): 278,
        ("AS", "eea2", 40978): 15,
        ("NAS", "eea2", 40978): 14,
        ("NAS", "eea2", 8665): 9,
    }
    null = result.findings("cellular.lte.null_cipher_as")
    assert {f.severity for f in null} == {Severity.MEDIUM}
    assert all(any("operators run null ciphering on purpose" in c for c in f.caveats) for f in null)
    assert sum(len(f.evidence) for f in null) == 82
