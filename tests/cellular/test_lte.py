"""LTE RRC and EPS NAS decoding (vestige.cellular.lte): every message kind a detector reads, from bytes built with
pycrate's encoders or taken from real logs, and every way a frame can fail to decode."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.cellular import lte_messages as m
from vestige.cellular.frames import GSM, LTE, NAS, RR, RRC, Frame
from vestige.cellular.lte import (
    CIPHERED,
    MAX_NAS_PAYLOAD,
    MAX_PAYLOAD,
    RRC_CHANNELS,
    EmmCauseMessage,
    EmmDetachRequest,
    EmmIdentityRequest,
    EmmRegistrationRequest,
    RrcConnectionReconfiguration,
    RrcConnectionRelease,
    RrcConnectionRequest,
    SystemInformation,
    SystemInformationBlockType1,
    decode,
)
from vestige.cellular.records import CellIdentity, Decoded, Security

EXPECTED_FUZZ_ERRORS = 1146


def rrc(channel: str, payload: bytes) -> Decoded | None:
    return decode(Frame(1, 0, None, LTE, RRC, channel, channel.startswith("UL"), 850, 101, payload))


def nas(payload: bytes, uplink: bool | None = None, channel: str = "plain") -> Decoded | None:
    return decode(Frame(1, 0, None, LTE, NAS, channel, uplink, None, None, payload))


def test_release_redirecting_to_geran_as_the_reference_encodes_it() -> None:
    payload = m.release(m.GERAN_REDIRECT)
    assert payload.hex() == "2822205010280f00"
    assert rrc("DL-DCCH", payload) == RrcConnectionRelease(
        name="RRCConnectionRelease", protocol="LTE RRC", redirect="geran", carrier=10, cause="other"
    )


@pytest.mark.parametrize(
    ("redirect", "kind", "carrier"),
    [(m.UTRA_REDIRECT, "utra-FDD", 10700), (m.EUTRA_REDIRECT, "eutra", 2175), (None, None, None)],
)
def test_release_redirects(redirect: tuple[str, object] | None, kind: str | None, carrier: int | None) -> None:
    decoded = rrc("DL-DCCH", m.release(redirect))
    assert isinstance(decoded, RrcConnectionRelease)
    assert (decoded.redirect, decoded.carrier, decoded.error) == (kind, carrier, None)


def test_rrc_security_mode_command_with_eea0() -> None:
    payload = m.rrc_security_mode_command("eea0", "eia2")
    assert payload.hex() == "320020"
    assert rrc("DL-DCCH", payload) == Decoded(
        name="SecurityModeCommand", protocol="LTE RRC", security=Security("AS", "eea0", "eia2")
    )


def test_rrc_security_mode_command_names_algorithms_without_their_release_suffix() -> None:
    decoded = rrc("DL-DCCH", m.rrc_security_mode_command("eea3-v1130", "eia0-v920"))
    assert decoded is not None and decoded.security == Security("AS", "eea3", "eia0")


def test_handover_reconfiguration_carries_its_target_and_security() -> None:
    real = rrc("DL-DCCH", m.HANDOVER_MOBILITY_SAMPLE)
    assert real == RrcConnectionReconfiguration(
        name="RRCConnectionReconfiguration",
        protocol="LTE RRC",
        security=Security("AS", "eea2", "eia2"),
        handover=True,
        target_pci=438,
        target_earfcn=5780,
    )
    decoded = rrc("DL-DCCH", m.handover_reconfiguration("eea0", "eia1"))
    assert isinstance(decoded, RrcConnectionReconfiguration)
    assert (decoded.security, decoded.target_pci) == (Security("AS", "eea0", "eia1"), 438)


def test_real_sib1() -> None:
    decoded = rrc("BCCH-DL-SCH", m.SIB1_RAYHUNTER)
    assert decoded == SystemInformationBlockType1(
        name="SystemInformationBlockType1",
        protocol="LTE RRC",
        identity=CellIdentity(("311-480",), 0x0600, 1637658),
        scheduling_entries=3,
    )


def test_sib1_plmns_with_two_and_three_digit_mncs_and_an_inherited_mcc() -> None:
    payload = m.sib1([("310", "410"), ("", "26"), ("311", "480")], tac=19980, cell_id=48897544, entries=1)
    decoded = rrc("BCCH-DL-SCH", payload)
    assert isinstance(decoded, SystemInformationBlockType1)
    assert decoded.identity == CellIdentity(("310-410", "310-26", "311-480"), 19980, 48897544)
    assert decoded.scheduling_entries == 1


def test_system_information_priorities() -> None:
    payload = m.system_information(serving=3, inter_frequency=(2, 4), utra_fdd=(1, 5), geran=(6,))
    assert rrc("BCCH-DL-SCH", payload) == SystemInformation(
        name="SystemInformation",
        protocol="LTE RRC",
        sibs=("sib3", "sib5", "sib6", "sib7"),
        serving_priority=3,
        inter_frequency_priorities=(2, 4),
        utra_fdd_priorities=(1, 5),
        geran_priorities=(6,),
    )


def test_connection_request_and_other_messages_by_their_specification_names() -> None:
    assert rrc("UL-CCCH", m.connection_request()) == RrcConnectionRequest(
        name="RRCConnectionRequest", protocol="LTE RRC", cause="mo-Data"
    )
    assert rrc("UL-DCCH", m.rrc_security_mode_complete()) == Decoded(name="SecurityModeComplete", protocol="LTE RRC")


def test_identity_requests() -> None:
    assert nas(m.IDENTITY_REQUEST_IMSI) == EmmIdentityRequest(
        name="EMMIdentityRequest", protocol="EMM", identity_type=1
    )
    decoded = nas(m.IDENTITY_REQUEST_IMEISV, uplink=False)
    assert isinstance(decoded, EmmIdentityRequest)
    assert (decoded.identity_type, decoded.identity_name) == (3, "IMEISV")


def test_nas_security_mode_command_plain_and_integrity_protected() -> None:
    expected = Decoded(name="EMMSecurityModeCommand", protocol="EMM", security=Security("NAS", "eea0", "eia2"))
    assert nas(m.NAS_SMC_EEA0) == expected
    assert nas(m.NAS_SMC_EEA0_PROTECTED, channel="protected") == expected


def test_ciphered_nas_is_named_not_read() -> None:
    assert nas(m.CIPHERED_NAS, channel="protected") == Decoded(name=CIPHERED, protocol="EMM")


def test_real_attach_request_gives_the_phones_plmn() -> None:
    decoded = nas(m.ATTACH_REQUEST, uplink=True)
    assert decoded == EmmRegistrationRequest(
        name="EMMAttachRequest", protocol="EMM", request_type=2, ue_plmn="311-480", emergency=False
    )


def test_emergency_attach() -> None:
    decoded = nas(m.EMERGENCY_ATTACH_REQUEST, uplink=True)
    assert isinstance(decoded, EmmRegistrationRequest)
    assert (decoded.request_type, decoded.emergency, decoded.ue_plmn) == (6, True, "311-480")


def test_real_tau_request() -> None:
    decoded = nas(m.TAU_REQUEST, uplink=True)
    assert isinstance(decoded, EmmRegistrationRequest)
    assert (decoded.name, decoded.ue_plmn, decoded.emergency) == ("EMMTrackingAreaUpdateRequest", "310-120", False)


@pytest.mark.parametrize(
    ("payload", "name", "cause"),
    [
        (m.attach_reject(8), "EMMAttachReject", 8),
        (m.tau_reject(12), "EMMTrackingAreaUpdateReject", 12),
        (m.service_reject(9), "EMMServiceReject", 9),
        (m.authentication_failure(20), "EMMAuthenticationFailure", 20),
    ],
)
def test_messages_with_a_cause(payload: bytes, name: str, cause: int) -> None:
    assert nas(payload) == EmmCauseMessage(name=name, protocol="EMM", cause=cause)


def test_detach_requests_of_both_sides() -> None:
    assert nas(m.detach_mt(3, cause=36), uplink=False) == EmmDetachRequest(
        name="EMMDetachRequestMT", protocol="EMM", network=True, detach_type=3, cause=36
    )
    # SCAT logs NAS without a direction: read as the network's first, then as the phone's
    assert nas(m.DETACH_MO, uplink=None) == EmmDetachRequest(
        name="EMMDetachRequestMO", protocol="EMM", network=False, detach_type=1
    )


def test_plain_messages_without_fields() -> None:
    assert nas(m.AUTHENTICATION_RESPONSE, uplink=True) == Decoded(name="EMMAuthenticationResponse", protocol="EMM")
    assert nas(m.SERVICE_REQUEST, uplink=True) == Decoded(name="EMMServiceRequest", protocol="EMM")


def test_frames_of_other_rats_or_layers_are_not_lte() -> None:
    assert decode(Frame(1, 0, None, GSM, RR, "BCCH", False, 10, None, b"\x01")) is None
    assert decode(Frame(1, 0, None, LTE, "PDCP", "DL", False, 10, None, b"\x01")) is None


@pytest.mark.parametrize(
    ("channel", "payload", "error"),
    [
        ("DL-DCCH", b"", "empty payload"),
        ("DL-DCCH", b"\x00" * (MAX_PAYLOAD + 1), f"payload of {MAX_PAYLOAD + 1} bytes, over {MAX_PAYLOAD}"),
        ("SC-MCCH", b"\x00", "no LTE RRC decoder for channel 'SC-MCCH'"),
    ],
)
def test_rrc_frames_that_are_not_decoded(channel: str, payload: bytes, error: str) -> None:
    decoded = rrc(channel, payload)
    assert decoded is not None and decoded.error == error


def test_truncated_uper_is_an_error_not_an_exception() -> None:
    decoded = rrc("BCCH-DL-SCH", m.SIB1_RAYHUNTER[:6])
    assert decoded is not None and decoded.protocol == "LTE RRC"
    assert decoded.error is not None and decoded.error.startswith("CharpyErr")


@pytest.mark.parametrize(
    ("payload", "uplink", "error"),
    [
        (
            bytes.fromhex("0000000000000000"),
            None,
            "pycrate NAS error 97 (message type non-existent or not implemented)",
        ),
        (bytes.fromhex("0755"), False, "pycrate NAS error 96 (invalid mandatory information)"),
        (bytes.fromhex("07"), None, "pycrate NAS error 111 (protocol error, unspecified)"),
    ],
)
def test_nas_that_cannot_be_read(payload: bytes, uplink: bool | None, error: str) -> None:
    decoded = nas(payload, uplink)
    assert decoded is not None and decoded.error == error


def test_every_truncation_of_every_message_decodes_or_fails_cleanly() -> None:
    payloads = [
        ("DL-DCCH", m.release(m.GERAN_REDIRECT)),
        ("BCCH-DL-SCH", m.SIB1_RAYHUNTER),
        ("BCCH-DL-SCH", m.system_information(serving=3, inter_frequency=(2,), utra_fdd=(1,), geran=(6,))),
        ("DL-DCCH", m.handover_reconfiguration("eea0", "eia1")),
    ]
    errors = 0
    for channel, payload in payloads:
        for end in range(len(payload)):
            decoded = rrc(channel, payload[:end])
            assert decoded is not None
            errors += decoded.error is not None
    for payload in (m.ATTACH_REQUEST, m.TAU_REQUEST, m.NAS_SMC_EEA0_PROTECTED, m.DETACH_MO):
        for end in range(len(payload)):
            decoded = nas(payload[:end])
            assert decoded is not None
            errors += decoded.error is not None
    assert errors > 0


def test_oversized_nas_is_not_decoded() -> None:
    decoded = nas(b"\x07\x41" + bytes(MAX_NAS_PAYLOAD - 1))
    assert decoded == Decoded(
        name="oversized", protocol="EMM", error=f"payload of {MAX_NAS_PAYLOAD + 1} bytes, over {MAX_NAS_PAYLOAD}"
    )


def test_random_and_mutated_bytes_never_raise() -> None:
    """Seeded: random payloads and real messages with a few bytes changed, on every channel and as NAS of either
    or no direction. Every one decodes or carries its error; how many fail is fixed by the seed and pycrate."""
    rng = random.Random(12)
    seeds = [
        m.SIB1_RAYHUNTER,
        m.release(m.GERAN_REDIRECT),
        m.HANDOVER_MOBILITY_SAMPLE,
        m.system_information(serving=3, inter_frequency=(2,), utra_fdd=(1,), geran=(6,)),
    ]
    results: list[Decoded | None] = []
    for channel in RRC_CHANNELS:
        for index in range(100):
            if index % 2:
                payload = rng.randbytes(rng.randrange(1, 200))
            else:
                mutated = bytearray(rng.choice(seeds))
                for _ in range(rng.randrange(1, 6)):
                    mutated[rng.randrange(len(mutated))] = rng.randrange(256)
                payload = bytes(mutated)
            results.append(rrc(channel, payload))
    for index in range(1000):
        payload = rng.randbytes(rng.randrange(1, 60))
        if index % 3 == 0:
            payload = bytes([0x07, rng.randrange(256)]) + payload
        results.append(nas(payload, rng.choice([None, True, False])))
    assert all(isinstance(result, Decoded) for result in results)
    assert len(results) == 1800
    assert sum(result is not None and result.error is not None for result in results) == EXPECTED_FUZZ_ERRORS


def test_decoding_from_several_threads_gives_what_one_thread_gives() -> None:
    payloads = [
        ("DL-DCCH", m.release(m.GERAN_REDIRECT)),
        ("BCCH-DL-SCH", m.SIB1_RAYHUNTER),
        ("DL-DCCH", m.HANDOVER_MOBILITY_SAMPLE),
        ("BCCH-DL-SCH", m.system_information(serving=3, geran=(6,))),
    ] * 25
    expected = [rrc(channel, payload) for channel, payload in payloads]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(lambda item: rrc(*item), payloads)) == expected
