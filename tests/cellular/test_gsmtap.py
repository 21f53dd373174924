"""GSMTAP v2/v3 and user link type NAS captures to signalling frames (vestige.cellular.gsmtap)."""

from __future__ import annotations

import io
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.builders.gsmtap import (
    ETHERNET,
    IPV4,
    LTE_RRC,
    RAW,
    T0,
    TAG_TIMESLOT,
    TYPE_ABIS,
    TYPE_LTE_MAC,
    TYPE_LTE_NAS,
    TYPE_LTE_RRC,
    TYPE_UM,
    TYPE_UMTS_RRC,
    UM,
    UM_ACCH,
    USER0,
    USER1,
    V3_ABIS,
    V3_LTE_RRC,
    V3_LTE_RRC_SUB,
    V3_NAS_EPS,
    V3_NR_RRC,
    V3_UM,
    V3_UM_ACCH,
    V3_UMTS_RRC,
    GsmtapCapture,
    channel_number,
    ethernet,
    gsmtap_v2,
    gsmtap_v3,
    lapdm,
    link_frame,
    nas_user_capture,
    pcapng_bytes,
    sacch_l1,
)
from vestige.cellular.frames import DTAP, GSM, LTE, NAS, RR, RRC, UMTS, Frame
from vestige.cellular.gsmtap import GsmtapReader, GsmtapStats, read_gsmtap
from vestige.evidence.capture import Packet, TruncatedCaptureError

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cellular"
XPERIA = DATA / "qcsuper" / "sample_2g_3g_4g_xperia.pcap"

SI3 = bytes.fromhex("061b678202f801b5adc8031e56a505b800008300404b")
"""SI3 of the QCSuper capture (packet 589), as QCSuper writes it: without the L2 pseudo-length."""
SI5 = bytes.fromhex("061d05540000001148000000000000000000")
PAGING = bytes.fromhex("06210001f0")
MM_IDENTITY_REQUEST = bytes.fromhex("051801")
CIPHER_MODE_COMMAND = bytes.fromhex("063511")


def read(data: bytes, name: str = "capture.pcap") -> tuple[list[Frame], GsmtapStats]:
    reader = GsmtapReader(io.BytesIO(data), name)
    frames = list(reader.frames())
    return frames, reader.stats


def summary(frames: list[Frame]) -> list[tuple[int, str, str, str, bool | None, str]]:
    return [(f.number, f.rat, f.layer, f.channel, f.uplink, f.payload.hex()) for f in frames]


# GSMTAP v2, type by type.


def test_lte_rrc_sub_types_give_their_channel_and_direction() -> None:
    capture = GsmtapCapture()
    for name, sub_type in LTE_RRC.items():
        capture.add(TYPE_LTE_RRC, sub_type, bytes((0x40, sub_type)), arfcn=6300, uplink=name.startswith("UL-"))
    capture.add(TYPE_LTE_RRC, 8, b"\x40\x08")  # BCCH-BCH-MBMS
    capture.add(TYPE_LTE_RRC, 9, b"\x40\x09")  # BCCH-DL-SCH-BR
    frames, stats = read(capture.pcap())
    assert summary(frames) == [
        (1, LTE, RRC, "DL-CCCH", False, "4000"),
        (2, LTE, RRC, "DL-DCCH", False, "4001"),
        (3, LTE, RRC, "UL-CCCH", True, "4002"),
        (4, LTE, RRC, "UL-DCCH", True, "4003"),
        (5, LTE, RRC, "BCCH-BCH", False, "4004"),
        (6, LTE, RRC, "BCCH-DL-SCH", False, "4005"),
        (7, LTE, RRC, "PCCH", False, "4006"),
        (8, LTE, RRC, "MCCH", False, "4007"),
    ]
    assert {f.channel_number for f in frames} == {6300}
    assert {f.cell_index for f in frames} == {None}
    assert [f.time_ns for f in frames[:2]] == [T0, T0 + 1_000_000]
    assert (stats.packets, stats.frames, stats.unmapped, stats.malformed) == (10, 8, 2, 0)
    assert stats.unmapped_kinds == {"v2 0x0d/0x08": 1, "v2 0x0d/0x09": 1}


def test_direction_of_rrc_comes_from_the_channel_not_the_arfcn_bit() -> None:
    capture = GsmtapCapture()
    capture.add(TYPE_LTE_RRC, LTE_RRC["DL-DCCH"], b"\x28\x00", uplink=True)
    capture.add(TYPE_LTE_RRC, LTE_RRC["UL-DCCH"], b"\x48\x00", uplink=False)
    frames, _ = read(capture.pcap())
    assert [(f.channel, f.uplink) for f in frames] == [("DL-DCCH", False), ("UL-DCCH", True)]


def test_v2_header_fields_channel_number_and_a_longer_header() -> None:
    capture = GsmtapCapture()
    capture.add(TYPE_UM, UM["BCCH"], b"\x59" + SI3, arfcn=810, pcs=True)  # PCS 1900 ARFCN 810
    capture.add_gsmtap(gsmtap_v2(TYPE_LTE_NAS, 0, b"\x07\x55\x01", arfcn=16383, header_words=5))
    frames, _ = read(capture.pcap())
    assert [(f.channel_number, f.uplink, f.payload[:3].hex()) for f in frames] == [
        (810, False, "59061b"),
        (16383, None, "075501"),  # the payload starts at hdr_len * 4 = 20
    ]


def test_lte_nas_plain_and_protected_uplink_only_from_a_set_bit() -> None:
    capture = GsmtapCapture()
    capture.lte_nas(bytes.fromhex("075501"), earfcn=1300)  # no uplink bit: SCAT, or a downlink message
    capture.lte_nas(bytes.fromhex("27a1b2c3d405075601"), protected=True, uplink=True, earfcn=1300)
    capture.add(TYPE_LTE_NAS, 2, b"\x07\x55\x01")
    capture.add(TYPE_LTE_MAC, 0, b"\x3c\x00")
    frames, stats = read(capture.pcap())
    assert summary(frames) == [
        (1, LTE, NAS, "plain", None, "075501"),
        (2, LTE, NAS, "protected", True, "27a1b2c3d405075601"),
    ]
    assert [f.channel_number for f in frames] == [1300, 1300]  # the uplink bit is not part of the number
    assert stats.unmapped_kinds == {"v2 0x12/0x02": 1, "v2 0x0e/0x00": 1}


def test_umts_rrc_sub_types() -> None:
    capture = GsmtapCapture()
    sub_types = [0, 1, 2, 3, 4, 7, 8, 16, 17, 18, 19, 22, 29, 32, 43, 57, 58, 59, 5, 13, 60]
    for sub_type in sub_types:
        capture.add(TYPE_UMTS_RRC, sub_type, bytes((sub_type,)), arfcn=10700)
    frames, stats = read(capture.pcap())
    assert [(f.channel, f.uplink) for f in frames] == [
        ("DL-DCCH", False),
        ("UL-DCCH", True),
        ("DL-CCCH", False),
        ("UL-CCCH", True),
        ("PCCH", False),
        ("BCCH-FACH", False),
        ("BCCH-BCH", False),
        ("MIB", False),
        ("SIB1", False),
        ("SIB2", False),
        ("SIB3", False),
        ("SIB5bis", False),
        ("SIB11bis", False),
        ("SIB13.1", False),
        ("SIB15.2ter", False),
        ("SIB22", False),
        ("SB1", False),
        ("SB2", False),
    ]
    assert {(f.rat, f.layer, f.channel_number) for f in frames} == {(UMTS, RRC, 10700)}
    assert stats.unmapped_kinds == {"v2 0x0c/0x05": 1, "v2 0x0c/0x0d": 1, "v2 0x0c/0x3c": 1}


def test_um_common_channels_keep_or_gain_the_pseudo_length() -> None:
    capture = GsmtapCapture()
    with_length = bytes(((len(SI3) << 2) | 1,)) + SI3
    capture.gsm_rr("BCCH", with_length, arfcn=20)
    capture.gsm_rr("BCCH", SI3, arfcn=20)  # a writer that left the pseudo-length out
    capture.gsm_rr("CCCH", bytes.fromhex("2d063f0061700e1f55640001032b2b2b2b"), arfcn=20)
    capture.gsm_rr("AGCH", bytes.fromhex("2d063f0061700e1f55640001032b2b2b2b"), arfcn=20)
    capture.gsm_rr("PCH", PAGING + b"\x2b" * 3, arfcn=20)
    capture.gsm_rr("BCCH", b"\x01\x2b\x2b", arfcn=20)  # not RR: kept as carried
    capture.add(TYPE_UM, UM["RACH"], b"\x12", arfcn=20, uplink=True)
    capture.add(TYPE_UM, UM["PACCH"], b"\x40\x00", arfcn=20)
    frames, stats = read(capture.pcap())
    assert summary(frames) == [
        (1, GSM, RR, "BCCH", False, "59" + SI3.hex()),
        (2, GSM, RR, "BCCH", False, "59" + SI3.hex()),
        (3, GSM, RR, "CCCH", False, "2d063f0061700e1f55640001032b2b2b2b"),
        (4, GSM, RR, "CCCH", False, "2d063f0061700e1f55640001032b2b2b2b"),
        (5, GSM, RR, "CCCH", False, "21" + PAGING.hex() + "2b2b2b"),
        (6, GSM, RR, "BCCH", False, "012b2b"),
    ]
    assert {f.channel_number for f in frames} == {20}
    assert stats.unmapped_kinds == {"v2 0x01/0x03": 1, "v2 0x01/0x0b": 1}


def test_um_dedicated_channels_lose_their_lapdm_header() -> None:
    capture = GsmtapCapture()
    capture.gsm_dedicated("SDCCH/8", MM_IDENTITY_REQUEST, arfcn=20)  # UI
    capture.gsm_dedicated("SDCCH", CIPHER_MODE_COMMAND, arfcn=20, frame="I", send=0)
    capture.gsm_dedicated("SDCCH", bytes.fromhex("05080200f1100001"), arfcn=20, uplink=True, frame="SABM")
    capture.gsm_dedicated("SDCCH", bytes.fromhex("05080200f1100001"), arfcn=20, frame="UA")  # the echo
    capture.gsm_dedicated("SDCCH", b"", arfcn=20, uplink=True, frame="RR", receive=1)
    capture.gsm_dedicated("SDCCH", b"", arfcn=20)  # an empty UI frame (fill)
    capture.gsm_dedicated("TCH/F", bytes.fromhex("032d"), arfcn=20, frame="I", send=0)  # CC on FACCH
    capture.gsm_dedicated("TCH/H", bytes.fromhex("0325"), arfcn=20, uplink=True, frame="I", send=0)
    capture.gsm_dedicated("SDCCH/4", bytes.fromhex("0901"), arfcn=20, frame="I", sapi=3)  # SMS on SAPI 3
    frames, stats = read(capture.pcap())
    assert summary(frames) == [
        (1, GSM, DTAP, "SDCCH", False, "051801"),
        (2, GSM, DTAP, "SDCCH", False, "063511"),
        (3, GSM, DTAP, "SDCCH", True, "05080200f1100001"),
        (7, GSM, DTAP, "FACCH", False, "032d"),
        (8, GSM, DTAP, "FACCH", True, "0325"),
        (9, GSM, DTAP, "SDCCH", False, "0901"),
    ]
    assert stats.lapdm_empty == 3
    assert (stats.frames, stats.malformed, stats.unmapped) == (6, 0, 0)


def test_sacch_skips_its_l1_header_in_either_lapdm_format() -> None:
    capture = GsmtapCapture()
    # Format B4 (a downlink UI frame without a length octet), as a BTS sends SI5.
    capture.add(TYPE_UM, UM["SDCCH"] | UM_ACCH, sacch_l1() + lapdm(SI5, length_octet=False), arfcn=20)
    # Format B with a length octet, as SCAT writes the SACCH messages of DIAG logs.
    capture.add(TYPE_UM, UM["SDCCH/8"] | UM_ACCH, sacch_l1() + lapdm(bytes.fromhex("0615aa")), arfcn=20, uplink=True)
    frames, _ = read(capture.pcap())
    si5_block = SI5 + b"\x2b" * (23 - 2 - len(SI5))
    assert summary(frames) == [
        (1, GSM, RR, "SACCH", False, f"{(len(si5_block) << 2) | 1:02x}" + si5_block.hex()),
        (2, GSM, DTAP, "SACCH", True, "0615aa"),
    ]


def test_segmented_lapdm_messages_are_reassembled_from_consecutive_frames() -> None:
    capture = GsmtapCapture()
    first, second, third = bytes(range(0x10, 0x24)), bytes(range(0x30, 0x44)), bytes.fromhex("aabb")
    capture.gsm_dedicated("SDCCH", first, arfcn=20, frame="I", send=3, more=True)
    capture.gsm_dedicated("SDCCH", first, arfcn=20, frame="I", send=3, more=True)  # retransmitted
    capture.gsm_dedicated("SDCCH", b"\x06\x35\x11", arfcn=20, uplink=True, frame="I", send=3)  # the other way
    capture.gsm_dedicated("SDCCH", second, arfcn=20, frame="I", send=4, more=True)
    capture.gsm_dedicated("SDCCH", third, arfcn=20, frame="I", send=5)
    # A segment lost (N(S) 1 never seen): the message cannot be rebuilt.
    capture.gsm_dedicated("SDCCH", first, arfcn=20, frame="I", send=0, more=True)
    capture.gsm_dedicated("SDCCH", third, arfcn=20, frame="I", send=2)
    # A message still in segments when the capture ends.
    capture.gsm_dedicated("SDCCH", first, arfcn=20, timeslot=2, frame="I", send=0, more=True)
    frames, stats = read(capture.pcap())
    assert summary(frames) == [
        (3, GSM, DTAP, "SDCCH", True, "063511"),
        (5, GSM, DTAP, "SDCCH", False, (first + second + third).hex()),
        (7, GSM, DTAP, "SDCCH", False, "aabb"),
    ]
    assert (stats.lapdm_retransmitted, stats.lapdm_incomplete) == (1, 2)


def test_abis_recognises_broadcast_radio_resources_with_or_without_pseudo_length() -> None:
    capture = GsmtapCapture()
    capture.gsm_abis(SI3, sub_type=UM["BCCH"])
    capture.gsm_abis(bytes(((len(SI3) << 2) | 1,)) + SI3)
    capture.gsm_abis(PAGING + b"\x2b" * 4, sub_type=UM["CCCH"])
    capture.gsm_abis(bytes.fromhex("063f0061700e1f5564000103"), sub_type=UM["CCCH"])  # Immediate Assignment
    capture.gsm_abis(SI5, sub_type=UM["SDCCH"] | UM_ACCH)
    capture.gsm_abis(CIPHER_MODE_COMMAND, sub_type=UM["SDCCH"])
    capture.gsm_abis(bytes.fromhex("0615aa"), uplink=True, sub_type=UM["SDCCH"] | UM_ACCH)  # Measurement Report
    capture.gsm_abis(MM_IDENTITY_REQUEST)  # SCAT: sub-type 0, the channel is not named
    capture.gsm_abis(bytes.fromhex("0541"), uplink=True, sub_type=UM["TCH/F"])
    frames, stats = read(capture.pcap())
    assert summary(frames) == [
        (1, GSM, RR, "BCCH", False, "59" + SI3.hex()),
        (2, GSM, RR, "BCCH", False, "59" + SI3.hex()),
        (3, GSM, RR, "CCCH", False, "25" + PAGING.hex() + "2b2b2b2b"),
        (4, GSM, RR, "CCCH", False, "31063f0061700e1f5564000103"),
        (5, GSM, RR, "SACCH", False, "49" + SI5.hex()),
        (6, GSM, DTAP, "SDCCH", False, "063511"),
        (7, GSM, DTAP, "SACCH", True, "0615aa"),
        (8, GSM, DTAP, "DCCH", False, "051801"),
        (9, GSM, DTAP, "FACCH", True, "0541"),
    ]
    assert stats.frames == 9


def test_pseudo_length_makes_the_bytes_pycrate_parses() -> None:
    nas = pytest.importorskip("pycrate_mobile.NAS")
    frames, _ = read(_one(TYPE_ABIS, 1, SI3))
    message, error = nas.parse_NAS_MT(frames[0].payload, wl2=True)
    assert (type(message).__name__, error) == ("RRSystemInfo3", 0)
    assert message["CtrlChanDesc"]["CtrlChanDesc"]["T3212"].get_val() == 30


def _one(kind: int, sub_type: int, payload: bytes) -> bytes:
    capture = GsmtapCapture()
    capture.add(kind, sub_type, payload)
    return capture.pcap()


# GSMTAP v3.


def test_v3_lte_rrc_reads_metadata_and_starts_after_the_end_tag() -> None:
    capture = GsmtapCapture(linktype=ETHERNET)
    # 8 + 8 (channel number) + 6 (PCI, u16) + 2 (end) = 24 bytes: hdr_len 6 is exact.
    capture.lte_rrc("DL-DCCH", bytes.fromhex("2822205010280f00"), earfcn=40978, pci=301, version=3)
    # 8 + 8 + 2 = 18 bytes: hdr_len 5 (20 bytes) points 2 bytes into the message, as SCAT writes it.
    overshoot = gsmtap_v3(
        V3_LTE_RRC, V3_LTE_RRC_SUB["UL-CCCH"], bytes.fromhex("4a1b2c"), metadata=[channel_number(66886)]
    )
    assert overshoot[2:4] == b"\x00\x05"
    capture.add_gsmtap(overshoot)
    frames, stats = read(capture.pcapng())
    assert [(f.number, f.channel, f.uplink, f.channel_number, f.cell_index, f.payload.hex()) for f in frames] == [
        (1, "DL-DCCH", False, 40978, 301, "2822205010280f00"),
        (2, "UL-CCCH", True, 66886, None, "4a1b2c"),
    ]
    assert stats.malformed == 0


def test_v3_sub_types_map_to_v2_numbering() -> None:
    capture = GsmtapCapture()
    for name, sub_type in V3_LTE_RRC_SUB.items():
        capture.add_v3(V3_LTE_RRC, sub_type, name.encode())
    capture.add_v3(V3_NAS_EPS, 0, bytes.fromhex("075501"))
    capture.add_v3(V3_NAS_EPS, 1, bytes.fromhex("17a1b2c3d405074100"))
    capture.add_v3(V3_UMTS_RRC, 0x0001, b"\x01")  # DL-DCCH
    capture.add_v3(V3_UMTS_RRC, 0x0004, b"\x04")  # UL-CCCH
    capture.add_v3(V3_UMTS_RRC, 0x0009, b"\x09")  # BCCH-BCH
    capture.add_v3(V3_UMTS_RRC, 0x0106, b"\x10")  # MasterInformationBlock
    capture.add_v3(V3_UMTS_RRC, 0x0109, b"\x13")  # SysInfoType3
    capture.add_v3(V3_UM, 0x0001, bytes(((len(SI3) << 2) | 1,)) + SI3, metadata=[channel_number(0x4000 | 20)])
    sacch = sacch_l1() + lapdm(bytes.fromhex("0615aa"))
    capture.add_v3(V3_UM, 0x0008 | V3_UM_ACCH, sacch, metadata=[channel_number(20), (TAG_TIMESLOT, b"\x02")])
    capture.add_v3(V3_ABIS, 0, MM_IDENTITY_REQUEST, metadata=[channel_number(0x4000 | 20)])
    capture.add_v3(V3_UMTS_RRC, 0x000A, b"\x0a")  # BCCH-BCH2: no v2 number
    capture.add_v3(V3_LTE_RRC, 0x0004, b"\x04")  # BCCH-DL-SCH-BR
    capture.add_v3(V3_NR_RRC, 0x0001, b"\x00")
    capture.add_v3(V3_UM, 0x0203, b"\x00")  # a GPRS coding scheme
    frames, stats = read(capture.pcap())
    assert [(f.rat, f.layer, f.channel, f.uplink, f.payload) for f in frames] == [
        (LTE, RRC, "BCCH-BCH", False, b"BCCH-BCH"),
        (LTE, RRC, "BCCH-DL-SCH", False, b"BCCH-DL-SCH"),
        (LTE, RRC, "MCCH", False, b"MCCH"),
        (LTE, RRC, "PCCH", False, b"PCCH"),
        (LTE, RRC, "DL-CCCH", False, b"DL-CCCH"),
        (LTE, RRC, "DL-DCCH", False, b"DL-DCCH"),
        (LTE, RRC, "UL-CCCH", True, b"UL-CCCH"),
        (LTE, RRC, "UL-DCCH", True, b"UL-DCCH"),
        (LTE, NAS, "plain", None, bytes.fromhex("075501")),
        (LTE, NAS, "protected", None, bytes.fromhex("17a1b2c3d405074100")),
        (UMTS, RRC, "DL-DCCH", False, b"\x01"),
        (UMTS, RRC, "UL-CCCH", True, b"\x04"),
        (UMTS, RRC, "BCCH-BCH", False, b"\x09"),
        (UMTS, RRC, "MIB", False, b"\x10"),
        (UMTS, RRC, "SIB3", False, b"\x13"),
        (GSM, RR, "BCCH", True, bytes(((len(SI3) << 2) | 1,)) + SI3),
        (GSM, DTAP, "SACCH", False, bytes.fromhex("0615aa")),
        (GSM, DTAP, "DCCH", True, MM_IDENTITY_REQUEST),
    ]
    assert [f.channel_number for f in frames[-3:]] == [20, 20, 20]
    assert stats.unmapped_kinds == {
        "v3 0x0303/0x000a": 1,
        "v3 0x0403/0x0004": 1,
        "v3 0x0503/0x0001": 1,
        "v3 0x0200/0x0203": 1,
    }


# Link types and file formats.


@pytest.mark.parametrize("linktype", [ETHERNET, RAW, IPV4])
@pytest.mark.parametrize("layout", ["pcap", "pcap-ns", "pcapng"])
def test_every_link_type_and_file_format(linktype: int, layout: str) -> None:
    capture = GsmtapCapture(linktype=linktype)
    capture.lte_rrc("PCCH", bytes.fromhex("4008ccf738e500"), time_ns=T0 + 123_456_789, earfcn=6300)
    capture.gsm_abis(SI3, time_ns=T0 + 2_000_000_000, sub_type=1)
    data = {"pcap": capture.pcap(), "pcap-ns": capture.pcap(nanoseconds=True), "pcapng": capture.pcapng()}[layout]
    frames, stats = read(data)
    expected_time = T0 + 123_456_000 if layout == "pcap" else T0 + 123_456_789
    assert [(f.number, f.time_ns, f.rat, f.channel, f.payload[-3:].hex()) for f in frames] == [
        (1, expected_time, LTE, "PCCH", "38e500"),
        (2, T0 + 2_000_000_000, GSM, "BCCH", "00404b"),
    ]
    assert (stats.packets, stats.not_gsmtap) == (2, 0)


def test_offsets_point_at_the_packet_records() -> None:
    capture = GsmtapCapture()
    capture.lte_nas(bytes.fromhex("075501"))
    capture.lte_nas(bytes.fromhex("075601"))
    data = capture.pcap()
    frames, _ = read(data)
    first_length = len(capture.packets[0][1])
    assert [f.offset for f in frames] == [24, 24 + 16 + first_length]


def test_nas_in_user_link_type_148() -> None:
    messages = [
        bytes.fromhex("0741020bf602f8010001020304050607"),  # Attach Request, plain EMM
        bytes.fromhex("27a1b2c3d405075500"),  # security header type 2 (integrity protected and ciphered)
        bytes.fromhex("17a1b2c3d405075d020002e0e0"),  # type 1: an integrity-protected Security Mode Command
        bytes.fromhex("c70501a1b2"),  # the Service Request's own header (type 12): not a protected message
        bytes.fromhex("5201c101"),  # ESM: the high nibble is the bearer identity
        b"",
    ]
    for pcapng in (False, True):
        frames, stats = read(nas_user_capture(messages, pcapng=pcapng))
        assert [(f.number, f.rat, f.layer, f.channel, f.uplink, f.payload) for f in frames] == [
            (1, LTE, NAS, "plain", None, messages[0]),
            (2, LTE, NAS, "protected", None, messages[1]),
            (3, LTE, NAS, "protected", None, messages[2]),
            (4, LTE, NAS, "plain", None, messages[3]),
            (5, LTE, NAS, "plain", None, messages[4]),
        ]
        assert [f.time_ns for f in frames] == [T0 + n * 1_000_000 for n in range(5)]
        assert (stats.malformed, stats.examples) == (1, [(6, "an empty NAS packet")])


def test_a_pcapng_with_gsmtap_and_nas_interfaces() -> None:
    gsmtap = link_frame(IPV4, gsmtap_v2(TYPE_LTE_RRC, LTE_RRC["PCCH"], b"\x40\x08"))
    nas = bytes.fromhex("075501")
    packets = [
        Packet(1, T0, IPV4, gsmtap, len(gsmtap), 0),
        Packet(2, T0 + 1, USER1, nas, len(nas), 0),
        Packet(3, T0 + 2, IPV4, gsmtap, len(gsmtap), 0),
    ]
    frames, _ = read(pcapng_bytes(packets))
    assert [(f.number, f.layer, f.channel) for f in frames] == [(1, RRC, "PCCH"), (2, NAS, "plain"), (3, RRC, "PCCH")]


def test_user_link_type_147_is_mac_lte_not_nas() -> None:
    frames, stats = read(nas_user_capture([bytes.fromhex("075501")], linktype=USER0))
    assert (frames, stats.not_gsmtap) == ([], 1)


# What is not signalling.


def test_other_traffic_is_skipped_and_counted() -> None:
    import dpkt

    capture = GsmtapCapture(linktype=ETHERNET)
    tcp = dpkt.tcp.TCP(sport=4729, dport=4729, flags=dpkt.tcp.TH_ACK, data=gsmtap_v2(TYPE_LTE_NAS, 0, b"\x07\x55\x01"))
    ip = dpkt.ip.IP(src=b"\x0a\0\0\x01", dst=b"\x0a\0\0\x02", p=dpkt.ip.IP_PROTO_TCP, data=tcp)
    ip.len = len(ip)
    capture.add_frame(ethernet(bytes(ip)))  # GSMTAP bytes over TCP
    capture.add_frame(link_frame(ETHERNET, b"\x12\x34\x01\x00\x00\x01", sport=53000, dport=53))  # DNS
    capture.add_frame(ethernet(b"\x00\x01\x08\x00\x06\x04\x00\x01" + b"\0" * 20, ethertype=0x0806))  # ARP
    udp6 = dpkt.udp.UDP(sport=40000, dport=4729, data=gsmtap_v2(TYPE_LTE_NAS, 0, b"\x07\x55\x02"))
    udp6.ulen = len(udp6)
    ip6 = dpkt.ip6.IP6(src=b"\0" * 15 + b"\x01", dst=b"\0" * 15 + b"\x01", nxt=17, hlim=64, data=udp6)
    ip6.plen = len(udp6)
    capture.add_frame(ethernet(bytes(ip6), ethertype=dpkt.ethernet.ETH_TYPE_IP6))  # GSMTAP over IPv6
    vlan = b"\x81\x00\x00\x64\x08\x00"  # an 802.1Q tag, then IPv4
    tagged = ethernet(b"")[:12] + vlan + link_frame(RAW, gsmtap_v2(TYPE_LTE_NAS, 0, b"\x07\x55\x03"))
    capture.add_frame(tagged)
    capture.add_frame(link_frame(ETHERNET, gsmtap_v2(TYPE_LTE_NAS, 0, b"\x07\x55\x04"), sport=4729, dport=5000))
    capture.add_frame(b"\x02\x00")  # a runt
    ack = dpkt.tcp.TCP(sport=443, dport=50000, flags=dpkt.tcp.TH_ACK)
    ip = dpkt.ip.IP(src=b"\x0a\0\0\x01", dst=b"\x0a\0\0\x02", p=dpkt.ip.IP_PROTO_TCP, data=ack)
    ip.len = len(ip)
    capture.add_frame(ethernet(bytes(ip)))  # a bare ACK: 54 bytes
    tcp6 = dpkt.tcp.TCP(sport=443, dport=50000, flags=dpkt.tcp.TH_ACK, data=b"x" * 40)
    ip6 = dpkt.ip6.IP6(src=b"\0" * 15 + b"\x01", dst=b"\0" * 15 + b"\x02", nxt=6, hlim=64, data=tcp6)
    ip6.plen = len(tcp6)
    capture.add_frame(ethernet(bytes(ip6), ethertype=dpkt.ethernet.ETH_TYPE_IP6))
    frames, stats = read(capture.pcap())
    assert len(capture.packets[7][1]) == 54
    assert [(f.number, f.payload.hex()) for f in frames] == [(4, "075502"), (5, "075503"), (6, "075504")]
    assert (stats.packets, stats.not_gsmtap, stats.frames, stats.malformed) == (9, 6, 3, 0)


# Hostile headers: one bad packet is counted, never fatal.


def test_hostile_headers_cost_only_their_packet() -> None:
    good = gsmtap_v2(TYPE_LTE_NAS, 0, b"\x07\x55\x01")
    hostile = [
        good[:1] + b"\x00" + good[2:],  # hdr_len 0
        good[:1] + b"\xc8" + good[2:],  # hdr_len 200, beyond the packet
        good[:1] + b"\x03" + good[2:],  # hdr_len 3, inside the fixed header
        good[:12],
        gsmtap_v2(TYPE_LTE_NAS, 0, b""),
        gsmtap_v3(V3_NAS_EPS, 0, b"\x07\x55\x01", metadata=[(0x0002, b"\0\0\0\1")], header_words=0),
        gsmtap_v3(V3_NAS_EPS, 0, b"\x07\x55\x01", header_words=60),
        gsmtap_v3(V3_NAS_EPS, 0, b"", metadata=[(0x0002, b"\0\0\0\1")], end=False),  # no end tag
        bytes.fromhex("03000004040400000002ffff00000001") + b"\x07\x55\x01",  # a TLV longer than the packet
        bytes.fromhex("0300000204040000") + b"\x00\x02\x00",  # a TLV cut inside its length
        gsmtap_v3(V3_NAS_EPS, 0, b"\x07\x55\x01", end=False),  # the message read as a tag
        b"\x07" + good[1:],
        b"\x01" + good[1:],
        b"",
    ]
    capture = GsmtapCapture()
    for data in hostile:
        capture.add_gsmtap(data)
    capture.add_gsmtap(good)
    frames, stats = read(capture.pcap())
    assert [(f.number, f.payload.hex()) for f in frames] == [(15, "075501")]
    assert stats.malformed == 14
    assert stats.examples == [
        (1, "v2 header length 0 words (0 bytes) in a packet of 19 bytes, where the header takes at least 16"),
        (2, "v2 header length 200 words (800 bytes) in a packet of 19 bytes, where the header takes at least 16"),
        (3, "v2 header length 3 words (12 bytes) in a packet of 19 bytes, where the header takes at least 16"),
        (4, "a v2 header of 12 bytes, shorter than 16"),
        (5, "a GSMTAP header without a message"),
        (6, "v3 header length 0 words (0 bytes) in a packet of 21 bytes"),
        (7, "v3 header length 60 words (240 bytes) in a packet of 13 bytes"),
        (8, "v3 metadata without its end tag (0xfffe)"),
        (9, "v3 metadata tag 0x0002 at byte 8 claims 65535 bytes, past the end of the packet"),
        (10, "v3 metadata tag 0x0002 at byte 8 is cut short"),
        (11, "v3 metadata tag 0x0755 at byte 8 is cut short"),
        (12, "GSMTAP version 7, not 2 or 3"),
        (13, "GSMTAP version 1, not 2 or 3"),
        (14, "0 bytes, shorter than any GSMTAP header"),
    ]


def test_hostile_lapdm_frames_cost_only_their_packet() -> None:
    capture = GsmtapCapture()
    capture.add(TYPE_UM, UM["SDCCH"], b"\x01\x03")  # no length octet room
    capture.add(TYPE_UM, UM["SDCCH"], b"\x01\x03\xfd\x05")  # length 63 in a 4-byte block
    capture.add(TYPE_UM, UM["SDCCH"] | UM_ACCH, b"\x00\x01")  # a SACCH block of its L1 header only
    capture.add(TYPE_UM, UM["SDCCH"], b"\x00\x11\x22")  # a short L2 header (format Bter)
    capture.gsm_dedicated("SDCCH", MM_IDENTITY_REQUEST)
    frames, stats = read(capture.pcap())
    assert [(f.number, f.payload.hex()) for f in frames] == [(5, "051801")]
    assert (stats.malformed, stats.lapdm_empty) == (3, 1)
    assert stats.examples == [
        (1, "a LAPDm frame of 2 bytes"),
        (2, "a LAPDm length of 63 in a block of 4 bytes"),
        (3, "a LAPDm frame of 0 bytes"),
    ]


def test_long_runs_of_segments_and_links_stay_bounded() -> None:
    capture = GsmtapCapture()
    for sequence in range(80):  # 80 segments of 20 bytes: more than one message may hold
        capture.gsm_dedicated("SDCCH", bytes(20), frame="I", send=sequence % 8, more=True)
    for timeslot in range(1100):  # more links than are kept at once, each with a segment pending
        capture.gsm_dedicated("SDCCH", bytes(20), frame="I", send=0, more=True, timeslot=timeslot % 8, arfcn=timeslot)
    frames, stats = read(capture.pcap())
    assert frames == []
    assert stats.lapdm_incomplete == 1 + 1100


def test_unmapped_kinds_are_named_up_to_a_bound() -> None:
    capture = GsmtapCapture()
    for sub_type in range(0x1000, 0x1000 + 100):
        capture.add_v3(V3_NR_RRC, sub_type, b"\x00")
    _, stats = read(capture.pcap())
    assert stats.unmapped == 100
    assert len(stats.unmapped_kinds) == 65
    assert (stats.unmapped_kinds["v3 0x0503/0x1000"], stats.unmapped_kinds["other"]) == (1, 36)


def test_a_damaged_capture_raises_after_its_sound_frames() -> None:
    capture = GsmtapCapture()
    capture.lte_nas(bytes.fromhex("075501"))
    capture.lte_nas(bytes.fromhex("075601"))
    data = capture.pcap()[:-5]
    reader = GsmtapReader(io.BytesIO(data), "cut.pcap")
    seen = []
    with pytest.raises(TruncatedCaptureError, match=r"^cut\.pcap: the capture ends inside packet 2 "):
        seen.extend(reader.frames())
    assert [f.payload.hex() for f in seen] == ["075501"]
    assert (reader.stats.packets, reader.stats.frames) == (1, 1)


def test_read_gsmtap_is_the_reader_without_counts() -> None:
    capture = GsmtapCapture()
    capture.lte_nas(bytes.fromhex("075501"))
    assert [f.payload for f in read_gsmtap(io.BytesIO(capture.pcap()), "x.pcap")] == [b"\x07\x55\x01"]


# The real QCSuper capture (France, 2018), against tshark's own dissection.

_TSHARK_LTE_ELEMENTS = {
    "lte-rrc.BCCH_BCH_Message_element": "BCCH-BCH",
    "lte-rrc.BCCH_DL_SCH_Message_element": "BCCH-DL-SCH",
    "lte-rrc.MCCH_Message_element": "MCCH",
    "lte-rrc.PCCH_Message_element": "PCCH",
    "lte-rrc.DL_CCCH_Message_element": "DL-CCCH",
    "lte-rrc.DL_DCCH_Message_element": "DL-DCCH",
    "lte-rrc.UL_CCCH_Message_element": "UL-CCCH",
    "lte-rrc.UL_DCCH_Message_element": "UL-DCCH",
}
_GSMTAP_H_UMTS = {0: "DL-DCCH", 1: "UL-DCCH", 2: "DL-CCCH", 3: "UL-CCCH", 4: "PCCH", 7: "BCCH-FACH", 8: "BCCH-BCH"}
_TS44018_BROADCAST = {
    **dict.fromkeys([0x00, 0x02, 0x03, 0x07, 0x19, 0x1A, 0x1B, 0x1C], "BCCH"),  # SI13, 2bis, 2ter, 2quater, 1-4
    **dict.fromkeys([0x05, 0x06, 0x1D, 0x1E], "SACCH"),  # SI5bis, SI5ter, SI5, SI6
    **dict.fromkeys([0x21, 0x22, 0x24, 0x3F, 0x39, 0x3A], "CCCH"),  # Paging Request 1-3, Immediate Assignment
}


def _xperia() -> tuple[list[Frame], GsmtapStats]:
    if not XPERIA.exists():
        pytest.skip(f"the QCSuper sample capture is not at {XPERIA}")
    with XPERIA.open("rb") as stream:
        reader = GsmtapReader(stream, XPERIA.name)
        return list(reader.frames()), reader.stats


def test_qcsuper_capture_counts() -> None:
    frames, stats = _xperia()
    assert Counter((f.rat, f.layer, f.channel) for f in frames) == {
        (LTE, RRC, "PCCH"): 53,
        (LTE, RRC, "DL-CCCH"): 5,
        (LTE, RRC, "UL-CCCH"): 5,
        (LTE, RRC, "DL-DCCH"): 32,
        (LTE, RRC, "UL-DCCH"): 38,
        (LTE, RRC, "BCCH-DL-SCH"): 8,
        (UMTS, RRC, "DL-DCCH"): 109,
        (UMTS, RRC, "UL-DCCH"): 172,
        (UMTS, RRC, "DL-CCCH"): 5,
        (UMTS, RRC, "UL-CCCH"): 6,
        (UMTS, RRC, "BCCH-BCH"): 331,
        (GSM, RR, "BCCH"): 32,
        (GSM, RR, "CCCH"): 26,
        (GSM, RR, "SACCH"): 22,
        (GSM, DTAP, "SDCCH"): 49,
        (GSM, DTAP, "SACCH"): 23,
    }
    assert (stats.packets, stats.frames, stats.unmapped, stats.malformed, stats.not_gsmtap) == (1621, 916, 705, 0, 0)
    assert stats.unmapped_kinds == {"v2 0x01/0x0b": 705}  # GPRS RLC/MAC on PACCH


def test_qcsuper_capture_payloads() -> None:
    frames, _ = _xperia()
    by_number = {f.number: f for f in frames}
    si3 = by_number[589]
    assert (si3.rat, si3.layer, si3.channel, si3.uplink, si3.channel_number) == (GSM, RR, "BCCH", False, 0)
    assert si3.payload == bytes.fromhex("59") + SI3
    assert si3.payload[5:8] == bytes.fromhex("02f801")  # the LAI's PLMN: MCC 208, MNC 10
    assert si3.time_ns == 1_521_877_210_050_000_000
    identity_request = by_number[58]  # MM Identity Request (IMEISV) in a DownlinkDirectTransfer
    assert (identity_request.rat, identity_request.layer, identity_request.channel) == (UMTS, RRC, "DL-DCCH")
    assert identity_request.payload == bytes.fromhex("9395e68009480040a30060")
    location_update = by_number[599]
    assert (location_update.layer, location_update.channel, location_update.uplink) == (DTAP, "SDCCH", True)
    assert location_update.payload == bytes.fromhex("05081002f8012f465305f40843e8bc")
    paging = by_number[1]
    assert (paging.rat, paging.channel, paging.payload) == (LTE, "PCCH", bytes.fromhex("4008ccf738e500"))


def test_qcsuper_capture_agrees_with_tshark() -> None:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed: the independent dissection cannot be compared")
    frames, _ = _xperia()
    fields = ["frame.number", "gsmtap.type", "gsmtap.chan_type", "gsmtap.rrc_sub_type", "gsmtap.uplink"]
    fields += ["gsm_a.L3_protocol_discriminator", "gsm_a.dtap.msg_rr_type", *_TSHARK_LTE_ELEMENTS]
    command = [tshark, "-n", "-r", str(XPERIA), "-T", "fields", "-E", "occurrence=f"]
    for name in fields:
        command += ["-e", name]
    lines = subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()
    oracle: dict[int, tuple[str, str, str, bool]] = {}
    for line in lines:
        number, kind, _chan, umts_sub, uplink, protocol, rr_type, *elements = line.split("\t")
        up = uplink == "1"
        if kind == "13":
            (channel,) = [name for name, value in zip(_TSHARK_LTE_ELEMENTS.values(), elements, strict=True) if value]
            oracle[int(number)] = (LTE, RRC, channel, up)
        elif kind == "12":
            oracle[int(number)] = (UMTS, RRC, _GSMTAP_H_UMTS[int(umts_sub)], up)
        elif kind == "2":
            broadcast = protocol == "0x06" and int(rr_type, 16) in _TS44018_BROADCAST
            layer, channel = (RR, _TS44018_BROADCAST[int(rr_type, 16)]) if broadcast else (DTAP, "")
            oracle[int(number)] = (GSM, layer, channel, up)
    assert len(lines) == 1621
    ours = {f.number: (f.rat, f.layer, f.channel if f.layer != DTAP else "", f.uplink) for f in frames}
    assert ours == oracle


# SCAT's own GSMTAP (Ethernet, v2 with v3 for EARFCNs above 16383, or v3 throughout with -3) of a real DIAG log.

ATTACH_SAMPLE = DATA / "mobileinsight" / "attach_sample.mi2log"


def _scat_capture(tmp_path: Path, *options: str) -> list[Frame]:
    scat = shutil.which("scat")
    if scat is None:
        pytest.skip("signalcat (scat) is not installed: the captures it writes cannot be made")
    if not ATTACH_SAMPLE.exists():
        pytest.skip(f"the MobileInsight sample log is not at {ATTACH_SAMPLE}")
    output = tmp_path / f"scat{''.join(options)}.pcap"
    command = [scat, "-t", "qc", *options, "-d", str(ATTACH_SAMPLE), "-F", str(output)]
    subprocess.run(command, capture_output=True, check=True, timeout=300)
    with output.open("rb") as stream:
        reader = GsmtapReader(stream, output.name)
        frames = list(reader.frames())
    assert (reader.stats.packets, reader.stats.malformed, reader.stats.unmapped) == (3583, 0, 0)
    return frames


def test_scat_v2_and_v3_captures_of_one_log_give_the_same_frames(tmp_path: Path) -> None:
    v2 = _scat_capture(tmp_path)
    v3 = _scat_capture(tmp_path, "-3")
    assert Counter((f.rat, f.layer, f.channel, f.uplink) for f in v2) == {
        (LTE, NAS, "plain", None): 539,
        (LTE, RRC, "BCCH-DL-SCH", False): 1377,
        (LTE, RRC, "DL-CCCH", False): 58,
        (LTE, RRC, "DL-DCCH", False): 469,
        (LTE, RRC, "PCCH", False): 99,
        (LTE, RRC, "UL-CCCH", True): 58,
        (LTE, RRC, "UL-DCCH", True): 983,
    }
    # v3 metadata rounded up to whole words (hdr_len past the end tag) must not shift a single message.
    assert [(f.number, f.channel, f.payload) for f in v3] == [(f.number, f.channel, f.payload) for f in v2]
    # Band 66 EARFCNs do not fit v2's 14 bits: SCAT writes those frames as v3, with the PCI.
    high = [(f.channel_number, f.cell_index) for f in v2 if (f.channel_number or 0) > 16383]
    assert Counter(high) == {
        (66586, 312): 280,
        (66586, 192): 19,
        (66586, 336): 19,
        (66586, 329): 8,
        (66586, 158): 7,
        (66836, 192): 2,
        (66836, 312): 2,
    }
    assert Counter(f.cell_index for f in v2 if f.cell_index is not None) == Counter(c for _, c in high)


# Anything at all in the GSMTAP payload, the v3 metadata or a LAPDm block.

_PREFIXES = [
    b"",
    gsmtap_v2(TYPE_UM, UM["SDCCH"], b""),
    gsmtap_v2(TYPE_UM, UM["SDCCH"] | UM_ACCH, b""),
    gsmtap_v2(TYPE_ABIS, 0, b""),
    gsmtap_v2(TYPE_UM, UM["BCCH"], b""),
    bytes.fromhex("03000002"),
    bytes.fromhex("0300000202000008"),
]


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_PREFIXES), st.binary(max_size=48)), min_size=1, max_size=12))
def test_any_bytes_cost_at_most_their_packet(packets: list[tuple[bytes, bytes]]) -> None:
    capture = GsmtapCapture()
    for prefix, tail in packets:
        capture.add_gsmtap(prefix + tail)
    capture.lte_nas(bytes.fromhex("075501"))
    frames, stats = read(capture.pcap())
    assert frames[-1].payload == bytes.fromhex("075501")
    assert stats.packets == len(packets) + 1
    numbers = [f.number for f in frames]
    assert numbers == sorted(set(numbers))
    assert (numbers[-1], stats.frames) == (len(packets) + 1, len(frames))
