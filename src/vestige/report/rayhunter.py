"""A check's cellular findings as Rayhunter-compatible NDJSON, so that vestige and EFF's Rayhunter can be
compared on the same signalling log.

The format is Rayhunter's analysis report, version 2 (``daemon/src/analysis.rs`` and
``lib/src/analysis/analyzer.rs`` of EFForg/rayhunter; summarised in reference/cellular.md section 1.6), as
``rayhunter-check`` and the daemon write it: one JSON object per line,

- first a ``ReportMetadata``: ``{"analyzers": [{"name", "description", "version"}, ...], "rayhunter":
  {"rayhunter_version", "system_os", "arch"}, "report_version": 2}``; the ``rayhunter`` object holds vestige's
  own values (``vestige <version>``, the operating system and machine that wrote the file), since no Rayhunter
  took part;
- then one ``AnalysisRow`` per message that has an event: ``{"packet_timestamp": RFC 3339 or null,
  "skipped_message_reason": null, "events": [null | {"event_type": "Informational" | "Low" | "Medium" |
  "High", "message": "... (packet N)"}, ...]}``, the events positional in the analyzers' order.

Each analyzer is one family of vestige's cellular rules (``ANALYZERS``, named as Rayhunter names its
counterpart where it has one); a ``cellular.*`` rule of no family goes to the last, ``OTHER``. A finding's
message is the one its first evidence names by packet (the frame number of a DIAG log, the packet number of a
GSMTAP capture). Two findings of one family on one message (Rayhunter's analyzers give at most one event per
message) take two rows, so that nothing is dropped. Severities map as info -> Informational, low -> Low,
medium -> Medium, high and critical -> High. Findings of other platforms, and the correlators', are left out.

Written from the typed result document (``findings.read_findings``), never from the JSON by hand.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

import orjson

from vestige.model import JSON
from vestige.report.findings import FindingDocument, FindingsDocument

RAYHUNTER_NDJSON = "rayhunter.ndjson"
"""The file ``vestige check --format rayhunter`` writes into the output folder."""
REPORT_VERSION = 2
CELLULAR_PREFIX = "cellular."
CELLULAR_ARTIFACTS = "cellular."
EVENT_TYPES = {"info": "Informational", "low": "Low", "medium": "Medium", "high": "High", "critical": "High"}


@dataclass(frozen=True, slots=True)
class Analyzer:
    """One family of vestige's cellular rules, as a Rayhunter analyzer: its ``rules``, and for a rule this
    module does not list (a newer vestige's), the ``keywords`` one of which its name contains (families are
    tried in ``MATCH_ORDER``)."""

    name: str
    description: str
    rules: tuple[str, ...] = field(default=())
    keywords: tuple[str, ...] = field(default=())


REDIRECT = Analyzer(
    "Connection Release/Redirected Carrier 2G Downgrade",
    "vestige: an LTE RRC connection release redirecting the phone to GERAN (high) or UTRA (medium)",
    ("cellular.lte.redirect_downgrade",),
    ("redirect",),
)
SIB_PRIORITY = Analyzer(
    "LTE SIB 6/7 Downgrade",
    "vestige: SIB6/SIB7 reselection priority of UTRA or GERAN above every LTE priority of SIB3/SIB5",
    ("cellular.lte.sib_priority_downgrade",),
    ("sib6", "sib7", "priority", "reselection"),
)
AS_NULL_CIPHER = Analyzer(
    "Null Cipher",
    "vestige: RRC security mode command with eea0 (UMTS: UEA0); high only where the PLMN or cell was seen earlier "
    "with EEA1-3",
    ("cellular.lte.null_cipher_as", "cellular.umts.null_cipher"),
    ("null_cipher", "eea0", "null_ciphering"),
)
NAS_NULL_CIPHER = Analyzer(
    "NAS Null Cipher Requested",
    "vestige: EMM security mode command with EEA0; high only where the PLMN was seen earlier with EEA1-3",
    ("cellular.lte.null_cipher_nas",),
    ("null_cipher_nas", "nas_null", "nas_eea0"),
)
NULL_INTEGRITY = Analyzer(
    "Null Integrity",
    "vestige: eia0 put in force outside an emergency attach",
    ("cellular.lte.null_integrity",),
    ("integrity", "eia0"),
)
IDENTITY = Analyzer(
    "Identity (IMSI or IMEI) requested in suspicious manner",
    "vestige: the identity-request state machine (IMSI requested, then reject or detach without authentication; "
    "IMSI requested with no attach, TAU or service request before it)",
    (
        "cellular.lte.imsi_request_then_reject",
        "cellular.lte.imsi_request_unsolicited",
        "cellular.lte.equipment_identity_request",
        "cellular.lte.identity_request_then_no_service",
        "cellular.umts.imsi_request_reject",
    ),
    ("identity", "imsi_request", "imei"),
)
AUTHENTICATION = Analyzer(
    "Authentication failure (MAC failure)",
    "vestige: the phone answered an authentication request with Authentication Failure, cause MAC failure (#20)",
    ("cellular.lte.authentication_mac_failure",),
    ("authentication", "mac_failure"),
)
EXPOSING = Analyzer(
    "Diagnostic detector for messages which might lead to IMSI exposure",
    "vestige: IMSI-exposing reject causes and network-originated detach requests, as corroboration",
    ("cellular.lte.imsi_exposing_message",),
    ("reject", "exposing", "detach"),
)
INCOMPLETE_SIB = Analyzer(
    "Incomplete SIB",
    "vestige: SIB1 scheduling fewer than two system information messages",
    ("cellular.lte.incomplete_sib1",),
    ("incomplete", "sib1"),
)
GSM_CIPHER = Analyzer(
    "2G cipher downgrade",
    "vestige: GSM cipher mode command without ciphering where the network normally ciphers, a cipher weaker "
    "than earlier on the same cell, GEA0/GEA1",
    (
        "cellular.gsm.no_ciphering",
        "cellular.gsm.cipher_downgrade",
        "cellular.gsm.gprs_weak_cipher",
        "cellular.gsm.breakable_cipher",
    ),
    ("cipher", "a5", "gea"),
)
GSM_IDENTIFICATION = Analyzer(
    "2G identification catcher",
    "vestige: location update, then IMSI request, then reject without authentication",
    ("cellular.gsm.location_update_imsi_reject",),
    ("location_update", "identification"),
)
GSM_BROADCAST = Analyzer(
    "2G broadcast parameter score",
    "vestige: SnoopSnitch-style score of broadcast parameters (T3212, neighbours, reselect offset, paging), "
    "alarm above 2.6",
    ("cellular.gsm.catcher_score",),
    ("score", "broadcast", "t3212"),
)
OTHER = Analyzer("Other vestige cellular detectors", "vestige: cellular rules of no family above")

ANALYZERS = (
    REDIRECT,
    SIB_PRIORITY,
    AS_NULL_CIPHER,
    NAS_NULL_CIPHER,
    NULL_INTEGRITY,
    IDENTITY,
    AUTHENTICATION,
    EXPOSING,
    INCOMPLETE_SIB,
    GSM_CIPHER,
    GSM_IDENTIFICATION,
    GSM_BROADCAST,
    OTHER,
)
"""The analyzers in the order the metadata lists them and each row's events follow."""
MATCH_ORDER = (
    NAS_NULL_CIPHER,
    NULL_INTEGRITY,
    AS_NULL_CIPHER,
    REDIRECT,
    SIB_PRIORITY,
    INCOMPLETE_SIB,
    AUTHENTICATION,
    GSM_IDENTIFICATION,
    IDENTITY,
    EXPOSING,
    GSM_BROADCAST,
    GSM_CIPHER,
)
"""The specific before the general: ``nas_null_cipher`` is NAS, not AS; ``location_update`` before identity."""


@dataclass(frozen=True, slots=True)
class Host:
    """What the ``rayhunter`` object of the metadata says: vestige's version and the system that wrote the file."""

    version: str
    system_os: str
    arch: str

    @classmethod
    def this(cls, vestige_version: str) -> Host:
        return cls(
            f"vestige {vestige_version}", f"{platform.system()} {platform.release()}".strip(), platform.machine()
        )


@dataclass(frozen=True, slots=True)
class RayhunterCount:
    """What a report holds: its rows and the cellular findings they carry."""

    rows: int
    findings: int


_BY_RULE = {rule: analyzer for analyzer in ANALYZERS for rule in analyzer.rules}


def analyzer_of(rule: str) -> Analyzer:
    """The family of a cellular rule: the one listing it, else the first whose keyword its name holds."""
    if rule in _BY_RULE:
        return _BY_RULE[rule]
    name = rule.removeprefix(CELLULAR_PREFIX).lower()
    return next((a for a in MATCH_ORDER if any(k in name for k in a.keywords)), OTHER)


def metadata(document: FindingsDocument, host: Host) -> dict[str, JSON]:
    """The first line: the analyzers (each at the version of the cellular artifact that made the findings), and
    vestige's own values where Rayhunter names itself."""
    versions = [a.version for a in document.artifacts if a.name.startswith(CELLULAR_ARTIFACTS)]
    version = max(versions, default=0)
    return {
        "analyzers": [{"name": a.name, "description": a.description, "version": version} for a in ANALYZERS],
        "rayhunter": {"rayhunter_version": host.version, "system_os": host.system_os, "arch": host.arch},
        "report_version": REPORT_VERSION,
    }


_Place = tuple[int, str, int]
"""A message: the acquisition's position (-1 in a check of one), the file, the packet number."""


def _place(finding: FindingDocument) -> _Place | None:
    for evidence in finding.evidence:
        locator = evidence.locator
        if isinstance(locator.packet, int):
            return (locator.acquisition if locator.acquisition is not None else -1, locator.path, locator.packet)
    return None


def _order(finding: FindingDocument) -> tuple[int, str, str]:
    return (-list(EVENT_TYPES).index(finding.severity), finding.rule, finding.id)


def rows(document: FindingsDocument) -> Iterator[dict[str, JSON]]:
    """The ``AnalysisRow`` lines: one per message with an event (more when one analyzer has several), in the
    order of the messages; findings that name no packet come last, one row each, by time."""
    cellular = [f for f in document.findings if f.rule.startswith(CELLULAR_PREFIX)]
    placed: dict[_Place, list[FindingDocument]] = {}
    unplaced: list[FindingDocument] = []
    for finding in cellular:
        place = _place(finding)
        if place is None:
            unplaced.append(finding)
        else:
            placed.setdefault(place, []).append(finding)
    named = len({(acquisition, path) for acquisition, path, _ in placed}) > 1
    for place in sorted(placed):
        yield from _message_rows(sorted(placed[place], key=_order), place, named)
    for finding in sorted(unplaced, key=lambda f: (f.time or "~", *_order(f))):
        yield from _message_rows([finding], None, named)


def _message_rows(findings: list[FindingDocument], place: _Place | None, named: bool) -> Iterator[dict[str, JSON]]:
    slots: list[list[FindingDocument]] = [[] for _ in ANALYZERS]
    for finding in findings:
        slots[ANALYZERS.index(analyzer_of(finding.rule))].append(finding)
    for depth in range(max(len(slot) for slot in slots)):
        row = [slot[depth] if depth < len(slot) else None for slot in slots]
        times = sorted(f.time for f in row if f is not None and f.time is not None)
        yield {
            "packet_timestamp": times[0] if times else None,
            "skipped_message_reason": None,
            "events": [None if f is None else _event(f, place, named) for f in row],
        }


def _event(finding: FindingDocument, place: _Place | None, named: bool) -> JSON:
    message = finding.title
    if place is not None:
        message = f"{place[1]}: {message} (packet {place[2]})" if named else f"{message} (packet {place[2]})"
    return {"event_type": EVENT_TYPES[finding.severity], "message": message}


def rayhunter_lines(document: FindingsDocument, host: Host) -> Iterator[dict[str, JSON]]:
    yield metadata(document, host)
    yield from rows(document)


def write_rayhunter(document: FindingsDocument, out: IO[bytes], host: Host | None = None) -> RayhunterCount:
    """Writes the report, one JSON object per line; ``host`` defaults to this system."""
    lines = 0
    for line in rayhunter_lines(document, host or Host.this(document.vestige_version)):
        out.write(orjson.dumps(line) + b"\n")
        lines += 1
    cellular = sum(1 for f in document.findings if f.rule.startswith(CELLULAR_PREFIX))
    return RayhunterCount(lines - 1, cellular)
