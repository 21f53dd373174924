"""LTE signalling messages for the tests, encoded with pycrate's encoders (never hand-packed UPER) or written as
the NAS octets TS 24.301 gives, wrapped in ``Frame`` objects as a log reader would hand them over.

The attack messages exist only here, as bytes in memory; nothing transmits them."""

from __future__ import annotations

import copy
from typing import Any

from vestige.cellular.frames import LTE, NAS, RRC, Cell, Frame

EARFCN = 850
PCI = 101
START_NS = 1_600_000_000_000_000_000
"""2020-09-13T12:26:40Z: the time of the first frame of a test log."""

SIB1_RAYHUNTER = bytes.fromhex("484c469010600018fd1a9207e22103108ac21bdc09802292cdd20000")
"""A real SIB1 (PLMN 311-480, TAC 0x0600, cell 1637658, three scheduling entries) from Rayhunter's RRC test."""


def _rrc_definitions() -> Any:
    from pycrate_asn1dir import RRCLTE

    return RRCLTE.EUTRA_RRC_Definitions


def uper(message_type: str, value: dict[str, Any]) -> bytes:
    """``value`` encoded as the UPER of ``message_type`` (``DL_DCCH_Message``...)."""
    message = getattr(_rrc_definitions(), message_type)
    message.set_val(value)
    return bytes(message.to_uper())


def release(redirect: tuple[str, Any] | None = None) -> bytes:
    """DL-DCCH RRCConnectionRelease, redirecting to ``redirect`` (a ``redirectedCarrierInfo`` choice)."""
    body: dict[str, Any] = {"releaseCause": "other"}
    if redirect is not None:
        body["redirectedCarrierInfo"] = redirect
    return uper(
        "DL_DCCH_Message",
        {
            "message": (
                "c1",
                (
                    "rrcConnectionRelease",
                    {"rrc-TransactionIdentifier": 0, "criticalExtensions": ("c1", ("rrcConnectionRelease-r8", body))},
                ),
            )
        },
    )


GERAN_REDIRECT = (
    "geran",
    {"startingARFCN": 10, "bandIndicator": "dcs1800", "followingARFCNs": ("explicitListOfARFCNs", [20, 30])},
)
UTRA_REDIRECT = ("utra-FDD", 10700)
EUTRA_REDIRECT = ("eutra", 2175)


def rrc_security_mode_command(ciphering: str, integrity: str) -> bytes:
    """DL-DCCH SecurityModeCommand putting ``ciphering`` (``eea0``) and ``integrity`` (``eia2``) in force."""
    config = {"securityAlgorithmConfig": {"cipheringAlgorithm": ciphering, "integrityProtAlgorithm": integrity}}
    return uper(
        "DL_DCCH_Message",
        {
            "message": (
                "c1",
                (
                    "securityModeCommand",
                    {
                        "rrc-TransactionIdentifier": 1,
                        "criticalExtensions": ("c1", ("securityModeCommand-r8", {"securityConfigSMC": config})),
                    },
                ),
            )
        },
    )


def rrc_security_mode_complete() -> bytes:
    return uper(
        "UL_DCCH_Message",
        {
            "message": (
                "c1",
                (
                    "securityModeComplete",
                    {"rrc-TransactionIdentifier": 1, "criticalExtensions": ("securityModeComplete-r8", {})},
                ),
            )
        },
    )


HANDOVER_MOBILITY_SAMPLE = bytes.fromhex(
    "201baa00001004200bb6c16941828c77ffc7cadfb9421b014d0004008020200ba9d55e6a070032815fb006ef323850f950b000c020f9b3"
    "00023460942a12256200"
)
"""A real handover command (mobility_sample.mi2log): to PCI 438 on EARFCN 5780, with eea2 and eia2."""


def handover_reconfiguration(ciphering: str, integrity: str) -> bytes:
    """The real handover command, its target to use ``ciphering`` and ``integrity`` instead."""
    message = _rrc_definitions().DL_DCCH_Message
    message.from_uper(HANDOVER_MOBILITY_SAMPLE)
    value = copy.deepcopy(message.get_val())
    r8 = value["message"][1][1]["criticalExtensions"][1][1]
    handover = r8["securityConfigHO"]["handoverType"][1]
    handover["securityAlgorithmConfig"] = {"cipheringAlgorithm": ciphering, "integrityProtAlgorithm": integrity}
    return uper("DL_DCCH_Message", value)


def connection_request() -> bytes:
    """UL-CCCH RRCConnectionRequest (the one of Rayhunter's no-NAS analyzer test)."""
    return bytes.fromhex("400c8ec94289e0")


def sib1(plmns: list[tuple[str, str]], tac: int, cell_id: int, entries: int = 3) -> bytes:
    """SIB1 broadcasting ``plmns`` (``("310", "410")``; an MCC of ``""`` is left out, as the spec allows for the
    entries after the first), ``tac``, ``cell_id`` and ``entries`` scheduling entries, built on the real SIB1."""
    definitions = _rrc_definitions()
    message = definitions.BCCH_DL_SCH_Message
    message.from_uper(SIB1_RAYHUNTER)
    value = copy.deepcopy(message.get_val())
    body = value["message"][1][1]
    identities = []
    for mcc, mnc in plmns:
        identity: dict[str, Any] = {"mnc": [int(d) for d in mnc]}
        if mcc:
            identity["mcc"] = [int(d) for d in mcc]
        identities.append({"plmn-Identity": identity, "cellReservedForOperatorUse": "notReserved"})
    access = body["cellAccessRelatedInfo"]
    access["plmn-IdentityList"] = identities
    access["trackingAreaCode"] = (tac, 16)
    access["cellIdentity"] = (cell_id, 28)
    body["schedulingInfoList"] = [{"si-Periodicity": "rf16", "sib-MappingInfo": []} for _ in range(entries)]
    return uper("BCCH_DL_SCH_Message", value)


def system_information(
    serving: int | None = None,
    inter_frequency: tuple[int, ...] = (),
    utra_fdd: tuple[int, ...] = (),
    geran: tuple[int, ...] = (),
) -> bytes:
    """A SystemInformation message with SIB3 (serving priority), SIB5, SIB6 (UTRA FDD) and SIB7 as given."""
    sibs: list[tuple[str, Any]] = []
    if serving is not None:
        sibs.append(
            (
                "sib3",
                {
                    "cellReselectionInfoCommon": {"q-Hyst": "dB4"},
                    "cellReselectionServingFreqInfo": {"cellReselectionPriority": serving, "threshServingLow": 2},
                    "intraFreqCellReselectionInfo": {
                        "q-RxLevMin": -61,
                        "s-IntraSearch": 31,
                        "presenceAntennaPort1": True,
                        "neighCellConfig": (2, 2),
                        "t-ReselectionEUTRA": 2,
                    },
                },
            )
        )
    if inter_frequency:
        carriers = [
            {
                "dl-CarrierFreq": 5815 + index,
                "q-RxLevMin": -61,
                "t-ReselectionEUTRA": 2,
                "threshX-High": 3,
                "threshX-Low": 3,
                "allowedMeasBandwidth": "mbw25",
                "presenceAntennaPort1": True,
                "cellReselectionPriority": priority,
                "neighCellConfig": (2, 2),
            }
            for index, priority in enumerate(inter_frequency)
        ]
        sibs.append(("sib5", {"interFreqCarrierFreqList": carriers}))
    if utra_fdd:
        carriers = [
            {
                "carrierFreq": 687 + index,
                "cellReselectionPriority": priority,
                "threshX-High": 7,
                "threshX-Low": 15,
                "q-RxLevMin": -60,
                "p-MaxUTRA": 24,
                "q-QualMin": -24,
            }
            for index, priority in enumerate(utra_fdd)
        ]
        sibs.append(("sib6", {"carrierFreqListUTRA-FDD": carriers, "t-ReselectionUTRA": 2}))
    if geran:
        groups = [
            {
                "carrierFreqs": {
                    "startingARFCN": 787 + index,
                    "bandIndicator": "pcs1900",
                    "followingARFCNs": ("explicitListOfARFCNs", []),
                },
                "commonInfo": {
                    "cellReselectionPriority": priority,
                    "ncc-Permitted": (255, 8),
                    "q-RxLevMin": 5,
                    "threshX-High": 2,
                    "threshX-Low": 3,
                },
            }
            for index, priority in enumerate(geran)
        ]
        sibs.append(("sib7", {"t-ReselectionGERAN": 7, "carrierFreqsInfoList": groups}))
    return uper(
        "BCCH_DL_SCH_Message",
        {
            "message": (
                "c1",
                ("systemInformation", {"criticalExtensions": ("systemInformation-r8", {"sib-TypeAndInfo": sibs})}),
            )
        },
    )


# EPS NAS (TS 24.301), plain: security header 0, protocol discriminator 7 (EMM)
IDENTITY_REQUEST_IMSI = bytes.fromhex("075501")
IDENTITY_REQUEST_IMEI = bytes.fromhex("075502")
IDENTITY_REQUEST_IMEISV = bytes.fromhex("075503")
NAS_SMC_EEA0 = bytes.fromhex("075d020002e0e0")
"""Security Mode Command: NAS security algorithms 0x02 (EEA0, EIA2), KSI 0, UE security capability e0e0."""
NAS_SMC_EEA2 = bytes.fromhex("075d220002e0e0")
NAS_SMC_EEA0_EIA0 = bytes.fromhex("075d000002e0e0")
NAS_SMC_EEA0_PROTECTED = bytes.fromhex("370000000000075d020002e0e0")
"""The same, integrity protected with a new EPS security context (security header type 3)."""
CIPHERED_NAS = bytes.fromhex("27c066ee340f42ccfb")
"""Security header type 2 (integrity protected and ciphered), as sprint.mi2log logs it."""
ATTACH_REQUEST = bytes.fromhex(
    "0741020bf6130184fae6e9d347688805f070c04019003c0209d031d127358080211001000010810600000000830600000000000d00000300"
    "ff0003130184000100000c00000a00000500000e0000100000110052130184e60b5c0a013103e5e03e9011035758a6200a601404e29181"
    "0012164040080402600000021f005d0103c1"
)
"""A real combined EPS/IMSI attach with a GUTI of PLMN 311-480 and old TAI 311-480/0xe60b (attach_sample)."""
EMERGENCY_ATTACH_REQUEST = bytes.fromhex("0741760bf6130184fae6e9d347688802e0e000040201d011")
"""EPS emergency attach (KSI 7, type 6), the same GUTI, UE network capability e0e0, a PDN connectivity request."""
AUTHENTICATION_REQUEST = bytes.fromhex("075200" + "11" * 16 + "10" + "22" * 16)
AUTHENTICATION_RESPONSE = bytes.fromhex("075308" + "33" * 8)
AUTHENTICATION_REJECT = bytes.fromhex("0754")
ATTACH_COMPLETE = bytes.fromhex("074300035200c2")
TAU_REQUEST = bytes.fromhex(
    "0748420bf613002180130bd82445a65805f070c04018521300215e0a5c0a00570260003103e5e0349011035758a65d0100e0c1000000000000"
)
"""A real TAU request with a GUTI of PLMN 310-120 and an old TAI (sprint.mi2log)."""
SERVICE_REQUEST = bytes.fromhex("c70fa03b")
DETACH_MO = bytes.fromhex("0745090bf6130184fae6e9d3476888")
"""Switch-off EPS detach from the phone with its GUTI (attach_sample)."""


def attach_reject(cause: int) -> bytes:
    return bytes([0x07, 0x44, cause])


def tau_reject(cause: int) -> bytes:
    return bytes([0x07, 0x4B, cause])


def service_reject(cause: int) -> bytes:
    return bytes([0x07, 0x4E, cause])


def authentication_failure(cause: int) -> bytes:
    return bytes([0x07, 0x5C, cause])


def detach_mt(detach_type: int, cause: int | None = None) -> bytes:
    """Network-originated Detach Request of ``detach_type`` (1 re-attach required ... 3 IMSI detach)."""
    return bytes([0x07, 0x45, detach_type]) + (b"" if cause is None else bytes([0x53, cause]))


class Log:
    """Frames numbered from 1, one second apart, on one cell (EARFCN 850, PCI 101) unless told otherwise."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.offset_ns = 0

    def skip(self, seconds: int) -> None:
        """The next frames come ``seconds`` later."""
        self.offset_ns += seconds * 1_000_000_000

    def rrc(self, channel: str, payload: bytes, *, earfcn: int = EARFCN, pci: int = PCI) -> Frame:
        return self._add(RRC, channel, channel.startswith("UL"), payload, earfcn, pci)

    def nas(self, payload: bytes, *, uplink: bool | None) -> Frame:
        return self._add(NAS, "plain", uplink, payload, None, None)

    def _add(
        self, layer: str, channel: str, uplink: bool | None, payload: bytes, earfcn: int | None, pci: int | None
    ) -> Frame:
        number = len(self.frames) + 1
        frame = Frame(
            number,
            number * 100,
            START_NS + self.offset_ns + number * 1_000_000_000,
            LTE,
            layer,
            channel,
            uplink,
            earfcn,
            pci,
            payload,
        )
        self.frames.append(frame)
        return frame


def cell(plmn: str | None = "310-410", *, earfcn: int = EARFCN, pci: int = PCI, cell_id: int | None = 48897544) -> Cell:
    return Cell(LTE, plmn, 19980 if plmn else None, cell_id, earfcn, pci)
