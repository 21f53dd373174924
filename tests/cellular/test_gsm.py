"""GSM RR, 2G/3G DTAP and UMTS RRC decoding (vestige.cellular.gsm and .umts) on the verified bytes of
reference/cellular.md 3.3, messages built with pycrate's encoders, and real frames of QCSuper's sample."""

from __future__ import annotations

import random
from typing import Any

import pytest
from pycrate_asn1dir import RRC3G

from vestige.cellular.frames import DTAP, GSM, LTE, RR, RRC, UMTS, Frame
from vestige.cellular.gsm import (
    Authentication,
    CipherModeCommand,
    GprsCipheringRequest,
    IdentityRequest,
    Layer3Message,
    LocationUpdatingAccept,
    LocationUpdatingRequest,
    NeighbourList,
    Paging,
    Reject,
    SystemInformation3,
    decode,
    plmn_text,
)
from vestige.cellular.records import CellIdentity, Decoded, Security
from vestige.cellular.umts import UmtsSecurityModeCommand

SI3_WITH_PSEUDO_LENGTH = bytes.fromhex("49061b000100f1100001480501006800000000" + "2b2b2b2b")
SI3_QCSUPER = bytes.fromhex("061b678202f801b5adc8031e56a505b800008300404b")
"""SI3 of QCSuper's xperia sample (frame 589), as its ABIS frames carry it: without the pseudo-length."""
SI2_XPERIA = bytes.fromhex("061a15540000001548000000000000000000ffb80000")
SI5_XPERIA = bytes.fromhex("061d05540000001148000000000000000000")
LOCATION_UPDATING_REQUEST = bytes.fromhex("05081002f8012f465305f40843e8bc")
"""MM Location Updating Request of the xperia sample (frame 599): old LAI 208-10 LAC 12102, a TMSI."""
UMTS_SECURITY_MODE_COMMAND = bytes.fromhex("d30517e98c20e00060004a30804800004008300090c62e93c028")
"""UMTS RRC Security Mode Command (r7) of the xperia sample (frame 56): UEA1, UIA1."""


def frame(
    payload: bytes, rat: str = GSM, layer: str = DTAP, channel: str = "SDCCH", uplink: bool | None = False
) -> Frame:
    return Frame(1, 0, None, rat, layer, channel, uplink, 20, None, payload)


def umts_dl_dcch(value: dict[str, Any]) -> bytes:
    pdu = RRC3G.Class_definitions.DL_DCCH_Message
    pdu.set_val(value)
    return bytes(pdu.to_uper())


def direct_transfer(nas: bytes) -> bytes:
    return umts_dl_dcch(
        {
            "message": (
                "downlinkDirectTransfer",
                (
                    "r3",
                    {
                        "downlinkDirectTransfer-r3": {
                            "rrc-TransactionIdentifier": 0,
                            "cn-DomainIdentity": "cs-domain",
                            "nas-Message": nas,
                        }
                    },
                ),
            )
        }
    )


def security_mode_command(uea: str) -> bytes:
    """The xperia sample's Security Mode Command with its ciphering algorithm replaced, re-encoded by pycrate."""
    pdu = RRC3G.Class_definitions.DL_DCCH_Message
    pdu.from_uper(UMTS_SECURITY_MODE_COMMAND)
    value = pdu.get_val()
    command = value["message"][1][1]["criticalExtensions"][1]["securityModeCommand-r7"]
    command["cipheringModeInfo"]["cipheringModeCommand"] = {"startRestart": uea}
    return umts_dl_dcch(value)


def test_si3_with_pseudo_length_gives_the_cell_and_its_parameters() -> None:
    decoded = decode(frame(SI3_WITH_PSEUDO_LENGTH, layer=RR, channel="BCCH"))
    assert decoded == SystemInformation3(
        name="RRSystemInfo3",
        protocol="GSM RR",
        identity=CellIdentity(plmns=("001-01",), area=1, cell_id=1),
        t3212=1,
        cell_reselect_hysteresis=3,
        cell_reselect_offset=None,
        bs_ag_blks_res=1,
        bs_pa_mfrms=5,
        ccch_combined=False,
    )
    assert isinstance(decoded, SystemInformation3)
    assert decoded.paging_groups == 56  # (9 - 1 - 0) * (5 + 2)


def test_si3_without_pseudo_length_on_dtap_is_retried_with_one() -> None:
    decoded = decode(frame(SI3_QCSUPER, channel="BCCH"))
    assert isinstance(decoded, SystemInformation3)
    assert decoded.identity == CellIdentity(plmns=("208-10",), area=46509, cell_id=26498)
    assert (decoded.t3212, decoded.cell_reselect_hysteresis, decoded.cell_reselect_offset) == (30, 5, 3)
    assert (decoded.bs_ag_blks_res, decoded.bs_pa_mfrms, decoded.ccch_combined) == (1, 3, False)


def test_si3_without_pseudo_length_on_layer_rr_is_read_as_dtap() -> None:
    decoded = decode(frame(SI3_QCSUPER, layer=RR, channel="BCCH"))
    assert isinstance(decoded, SystemInformation3)
    assert decoded.identity == CellIdentity(plmns=("208-10",), area=46509, cell_id=26498)


def test_si3_rest_octets_give_the_cell_reselect_offset() -> None:
    # rest octets: H, CBQ 0, CELL_RESELECT_OFFSET 42, TEMPORARY_OFFSET 0, PENALTY_TIME 0, then all L
    crafted = bytes.fromhex("49061b000100f1100001400701006800000000" + "aa002b2b")
    decoded = decode(frame(crafted, layer=RR, channel="BCCH"))
    assert isinstance(decoded, SystemInformation3)
    assert (decoded.cell_reselect_offset, decoded.bs_ag_blks_res, decoded.bs_pa_mfrms) == (42, 0, 7)
    assert decoded.paging_groups == 81


def test_neighbour_lists_of_si2_and_si5() -> None:
    si2 = decode(frame(SI2_XPERIA, channel="BCCH"))
    si5 = decode(frame(SI5_XPERIA, channel="SACCH"))
    assert si2 == NeighbourList(
        name="RRSystemInfo2", protocol="GSM RR", arfcns=(76, 79, 81, 83, 85, 115, 117, 119, 121, 123)
    )
    assert si5 == NeighbourList(
        name="RRSystemInfo5", protocol="GSM RR", arfcns=(76, 79, 81, 85, 115, 117, 119, 121, 123)
    )


@pytest.mark.parametrize(
    ("hex_bytes", "ciphering", "algorithm", "imeisv"),
    [
        ("063500", False, "none", False),
        ("063511", True, "A5/1", True),
        ("063515", True, "A5/3", True),
        ("06350c", False, "none", False),
        ("06350f", True, "reserved", False),
    ],
)
def test_cipher_mode_command(hex_bytes: str, ciphering: bool, algorithm: str, imeisv: bool) -> None:
    decoded = decode(frame(bytes.fromhex(hex_bytes)))
    assert decoded == CipherModeCommand(
        name="RRCipheringModeCmd",
        protocol="GSM RR",
        security=Security(layer="AS", ciphering=algorithm, integrity=None),
        ciphering=ciphering,
        algorithm=algorithm,
        imeisv_requested=imeisv,
    )


def test_mm_messages() -> None:
    assert decode(frame(bytes.fromhex("051801"))) == IdentityRequest(
        name="MMIdentityRequest", protocol="MM", identity_type=1
    )
    assert decode(frame(LOCATION_UPDATING_REQUEST, uplink=True)) == LocationUpdatingRequest(
        name="MMLocationUpdatingRequest", protocol="MM", plmn="208-10", lac=12102, identity_type="TMSI"
    )
    accept = bytes.fromhex("050202f801b5ad1705f408467eec4a0902f80102f81102f831")
    assert decode(frame(accept)) == LocationUpdatingAccept(
        name="MMLocationUpdatingAccept", protocol="MM", plmn="208-10", lac=46509
    )
    assert decode(frame(bytes.fromhex("05040b"))) == Reject(name="MMLocationUpdatingReject", protocol="MM", cause=11)
    assert decode(frame(bytes.fromhex("052204"))) == Reject(name="MMCMServiceReject", protocol="MM", cause=4)
    assert decode(frame(bytes.fromhex("0511"))) == Authentication(
        name="MMAuthenticationReject", protocol="MM", step="reject"
    )


def test_gmm_messages() -> None:
    assert decode(frame(bytes.fromhex("08120100"))) == GprsCipheringRequest(
        name="GMMAuthenticationCipheringRequest",
        protocol="GMM",
        security=Security(layer="NAS", ciphering="GEA1", integrity=None),
        algorithm="GEA1",
    )
    assert decode(frame(bytes.fromhex("080411"))) == Reject(name="GMMAttachReject", protocol="GMM", cause=17)


def test_paging_and_other_messages_keep_pycrate_names() -> None:
    paging = bytes.fromhex("06210001f02b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b")
    assert decode(frame(paging, channel="CCCH")) == Paging(name="RRPagingReq1", protocol="GSM RR")
    assert decode(frame(bytes.fromhex("060d00"))) == Layer3Message(name="RRChannelRelease", protocol="GSM RR")


def test_direction_unknown_tries_both_parsers() -> None:
    assert decode(frame(LOCATION_UPDATING_REQUEST, uplink=None)) == LocationUpdatingRequest(
        name="MMLocationUpdatingRequest", protocol="MM", plmn="208-10", lac=12102, identity_type="TMSI"
    )


def test_undecodable_frames_are_counted_not_raised() -> None:
    assert decode(frame(b"")) == Decoded(name="unknown", protocol="DTAP", error="empty message")
    assert decode(frame(b"\x05\x18")) == Decoded(
        name="unknown", protocol="MM", error="pycrate could not decode it (code 96)"
    )
    assert decode(frame(b"\x01", layer=RR, channel="BCCH")) == Decoded(
        name="unknown", protocol="DTAP", error="pycrate could not decode it (code 111)"
    )
    broken = decode(frame(b"\xff\xff", rat=UMTS, layer=RRC, channel="DL-DCCH"))
    assert (broken.name, broken.protocol, broken.error is not None) == ("unknown", "UMTS RRC", True)
    unknown = decode(frame(b"\x00", rat=UMTS, layer=RRC, channel="nowhere"))
    assert unknown.error == "unknown UMTS RRC channel 'nowhere'"


def test_lte_and_nr_frames_are_not_for_this_decoder() -> None:
    assert decode(frame(b"\x07\x55\x01", rat=LTE, layer="NAS", channel="plain")) is None
    assert decode(frame(b"\x00", rat="NR", layer=RRC, channel="DL-DCCH")) is None


def test_umts_direct_transfer_gives_the_nas_it_carries() -> None:
    payload = direct_transfer(bytes.fromhex("051801"))
    assert payload == bytes.fromhex("1400040a3002")
    decoded = decode(frame(payload, rat=UMTS, layer=RRC, channel="DL-DCCH"))
    assert decoded == IdentityRequest(
        name="MMIdentityRequest", protocol="MM", identity_type=1, carried_in="downlinkDirectTransfer"
    )


def test_umts_security_mode_command() -> None:
    real = decode(frame(UMTS_SECURITY_MODE_COMMAND, rat=UMTS, layer=RRC, channel="DL-DCCH"))
    assert real == UmtsSecurityModeCommand(
        name="securityModeCommand",
        protocol="UMTS RRC",
        security=Security(layer="AS", ciphering="UEA1", integrity="UIA1"),
        ciphering="UEA1",
        integrity="UIA1",
    )
    null = decode(frame(security_mode_command("uea0"), rat=UMTS, layer=RRC, channel="DL-DCCH"))
    assert isinstance(null, UmtsSecurityModeCommand)
    assert (null.ciphering, null.integrity) == ("UEA0", "UIA1")


def test_plmn_text() -> None:
    assert plmn_text(bytes.fromhex("02f801")) == "208-10"
    assert plmn_text(bytes.fromhex("130014")) == "310-410"
    assert plmn_text(bytes.fromhex("ffffff")) is None
    assert plmn_text(b"\x02") is None


@pytest.mark.parametrize(
    ("rat", "layer", "channel"),
    [
        (GSM, RR, "BCCH"),
        (GSM, DTAP, "SDCCH"),
        (UMTS, RRC, "DL-DCCH"),
        (UMTS, RRC, "UL-DCCH"),
        (UMTS, RRC, "DL-CCCH"),
        (UMTS, RRC, "UL-CCCH"),
        (UMTS, RRC, "PCCH"),
        (UMTS, RRC, "BCCH-BCH"),
        (UMTS, RRC, "BCCH-FACH"),
        (UMTS, RRC, "SIB3"),
    ],
)
def test_random_and_mutated_bytes_never_raise(rat: str, layer: str, channel: str) -> None:
    generator = random.Random(f"{rat}-{channel}")
    seeds = [SI3_WITH_PSEUDO_LENGTH, SI3_QCSUPER, LOCATION_UPDATING_REQUEST, UMTS_SECURITY_MODE_COMMAND]
    errors = 0
    for round_number in range(150):
        if round_number % 2:
            payload = bytes(generator.randrange(256) for _ in range(generator.randrange(40)))
        else:
            mutated = bytearray(generator.choice(seeds))
            for _ in range(3):
                mutated[generator.randrange(len(mutated))] = generator.randrange(256)
            payload = bytes(mutated[: generator.randrange(1, len(mutated) + 1)])
        decoded = decode(frame(payload, rat=rat, layer=layer, channel=channel))
        assert isinstance(decoded, Decoded)
        errors += decoded.error is not None
    assert errors > 0  # the generator does reach the error paths
