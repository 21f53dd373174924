"""GSM (2G) and 2G/3G layer-3 signalling decoded with pycrate: radio resources (RR, 3GPP TS 44.018) and the
core-network protocols carried over GSM and UMTS (MM, CC, GMM, SM: TS 24.008), into typed ``Decoded`` messages.

A ``Frame`` of layer ``RR`` carries a broadcast or common-channel RR message with its L2 pseudo-length octet
first (TS 44.018 10.5.2.19), which pycrate's ``parse_NAS_MT(..., wl2=True)`` takes; a frame of layer ``DTAP``
carries layer 3 without any L2 header. Some loggers (QCSuper's ABIS frames) put broadcast RR messages (System
Information, Paging) on DTAP without the pseudo-length: those are retried with one prepended. UMTS RRC frames
are decoded by ``vestige.cellular.umts`` (which hands the NAS they carry back to ``decode_dtap``).

Only the fields the 2G/3G detectors read are typed: ciphering (RR Ciphering Mode Command, TS 44.018 9.1.9 and
10.5.2.9; GMM Authentication and Ciphering Request, TS 24.008 9.4.9 and 10.5.5.3), the MM location-update,
identity and authentication procedures, rejects with their causes, and the broadcast parameters of System
Information 2/2bis/2ter/3/4/5/5bis/5ter (TS 44.018 9.1.32-9.1.40). Every other message is a plain ``Decoded``
named as pycrate names it. pycrate's ``parse_*`` return ``(None, code)`` on bytes they cannot read, and its
decoders may raise on crafted ones: either way the frame becomes ``Decoded(error=...)``, never an exception.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vestige.cellular.frames import DTAP, GSM, RR, UMTS, Frame
from vestige.cellular.records import CellIdentity, Decoded, Security

# pycrate logs a warning for every rest-octets field it cannot read (common on real SI4/SI6/paging); without a
# handler Python prints them on stderr. A NullHandler keeps them for an application that configures logging.
logging.getLogger("pycrate_mobile").addHandler(logging.NullHandler())

IDENTITY_TYPES = {1: "IMSI", 2: "IMEI", 3: "IMEISV", 4: "TMSI", 5: "P-TMSI/RAI", 0: "none"}
"""Type of identity (TS 24.008 10.5.3.4 for the Identity Request; 10.5.1.4 for mobile identities)."""

PROTOCOLS = {3: "CC", 5: "MM", 6: "GSM RR", 8: "GMM", 9: "SMS", 10: "SM", 11: "SS"}
"""Protocol discriminators of TS 24.007 11.2.3.1.1 that 2G/3G logs carry."""

_PSEUDO_LENGTH_RETRY = frozenset({"GSM RR"})


@dataclass(frozen=True, slots=True)
class Layer3Message(Decoded):
    """A 2G/3G layer-3 message; ``carried_in`` names the UMTS RRC message that carried it as NAS
    (``downlinkDirectTransfer``, ``uplinkDirectTransfer``, ``initialDirectTransfer``), None over GSM."""

    carried_in: str | None = None


@dataclass(frozen=True, slots=True)
class CipherModeCommand(Layer3Message):
    """RR Ciphering Mode Command: ``ciphering`` (the SC bit) and ``algorithm`` (``A5/1``..``A5/7``,
    ``reserved`` for the reserved identifier, or ``none`` when SC is 0, whatever the algorithm bits say);
    ``imeisv_requested`` is the Cipher Response bit."""

    ciphering: bool = False
    algorithm: str = "none"
    imeisv_requested: bool = False


@dataclass(frozen=True, slots=True)
class GprsCipheringRequest(Layer3Message):
    """GMM Authentication and Ciphering Request: ``algorithm`` ``GEA0`` (ciphering not used) .. ``GEA7``."""

    algorithm: str = "GEA0"
    imeisv_requested: bool = False


@dataclass(frozen=True, slots=True)
class LocationUpdatingRequest(Layer3Message):
    """MM Location Updating Request: the old LAI (``plmn``, ``lac``) and the identity the phone gave."""

    plmn: str | None = None
    lac: int | None = None
    identity_type: str | None = None


@dataclass(frozen=True, slots=True)
class LocationUpdatingAccept(Layer3Message):
    """MM Location Updating Accept: the LAI the network registered."""

    plmn: str | None = None
    lac: int | None = None


@dataclass(frozen=True, slots=True)
class Reject(Layer3Message):
    """A reject with a cause: MM Location Updating Reject, CM Service Reject (reject cause, TS 24.008
    10.5.3.6), GMM Attach / Routing Area Update / Service Reject (GMM cause, 10.5.5.14); ``name`` says which."""

    cause: int | None = None


@dataclass(frozen=True, slots=True)
class IdentityRequest(Layer3Message):
    """MM or GMM Identity Request: ``identity_type`` 1 IMSI, 2 IMEI, 3 IMEISV, 4 TMSI."""

    identity_type: int = 0

    @property
    def identity_name(self) -> str:
        return IDENTITY_TYPES.get(self.identity_type, f"type {self.identity_type}")


@dataclass(frozen=True, slots=True)
class Authentication(Layer3Message):
    """A step of MM authentication or GMM authentication and ciphering: ``step`` is ``request``,
    ``response``, ``reject`` or ``failure``."""

    step: str = "request"


@dataclass(frozen=True, slots=True)
class SystemInformation3(Layer3Message):
    """SI3 (the cell's identity in ``identity``) with the parameters SnoopSnitch scores: ``t3212`` in
    decihours (0 = no periodic update), ``cell_reselect_hysteresis`` (the field, in 2 dB steps),
    ``cell_reselect_offset`` (the 6-bit field of the SI3 rest octets, in 2 dB steps; None when the optional
    selection parameters are absent), ``bs_ag_blks_res`` (0..7), ``bs_pa_mfrms`` (the field, 0..7, for 2..9
    multiframes) and ``ccch_combined`` (CCCH_CONF 1: one CCCH combined with SDCCHs)."""

    t3212: int = 0
    cell_reselect_hysteresis: int = 0
    cell_reselect_offset: int | None = None
    bs_ag_blks_res: int = 0
    bs_pa_mfrms: int = 0
    ccch_combined: bool = False

    @property
    def paging_groups(self) -> int:
        """(9 − BS_AG_BLKS_RES − 6·combined) · (BS_PA_MFRMS + 2): the paging groups of the cell (TS 45.002 6.5)."""
        return (9 - self.bs_ag_blks_res - 6 * int(self.ccch_combined)) * (self.bs_pa_mfrms + 2)


@dataclass(frozen=True, slots=True)
class NeighbourList(Layer3Message):
    """SI2, SI2bis, SI2ter, SI5, SI5bis or SI5ter: the ARFCNs of its BCCH allocation (neighbour) list."""

    arfcns: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Paging(Layer3Message):
    """RR Paging Request type 1, 2 or 3."""


Parser = Callable[..., tuple[Any, int]]


@functools.cache
def _nas() -> Any:
    """pycrate's NAS module, imported when the first message is decoded: importing it takes over half a
    second, which every command paid when the registry loaded the platforms (the baseband correlator
    imports this module for its message types)."""
    from pycrate_mobile import NAS  # type: ignore[import-untyped,unused-ignore]

    return NAS


def parse_nas_mt(*arguments: Any, **options: Any) -> tuple[Any, int]:
    """pycrate's downlink (mobile-terminated) layer-3 parser."""
    return _nas().parse_NAS_MT(*arguments, **options)  # type: ignore[no-any-return]


def parse_nas_mo(*arguments: Any, **options: Any) -> tuple[Any, int]:
    """pycrate's uplink (mobile-originated) layer-3 parser."""
    return _nas().parse_NAS_MO(*arguments, **options)  # type: ignore[no-any-return]


def decode(frame: Frame) -> Decoded | None:
    """The decoded message of a GSM or UMTS frame; None for LTE and NR frames (the ``lte`` decoder's)."""
    if frame.rat == UMTS and frame.layer not in (DTAP, RR):
        from vestige.cellular import umts  # umts hands its NAS back to decode_dtap: imported here to avoid a cycle

        return umts.decode_rrc(frame)
    if frame.rat not in (GSM, UMTS):
        return None
    if frame.layer == RR:
        return decode_rr(frame.payload)
    if frame.layer == DTAP:
        return decode_dtap(frame.payload, frame.uplink)
    return Decoded(name="unknown", protocol=frame.rat, error=f"no {frame.rat} decoder for layer {frame.layer}")


def decode_rr(payload: bytes) -> Decoded:
    """A GSM RR message with its L2 pseudo-length octet first (BCCH, CCCH, SACCH). A pseudo-length octet ends
    in the bits 01 (M = 0, EL = 1), an RR header's first octet (skip indicator 0, discriminator 6) in 10: a
    message that comes without one is read as DTAP."""
    if payload and payload[0] & 0x03 != 0x01:
        return decode_dtap(payload, False)
    return _decode_with(parse_nas_mt, payload, wl2=True)


def decode_dtap(payload: bytes, uplink: bool | None) -> Decoded:
    """A 2G/3G layer-3 message without L2 header: the downlink parser, the uplink one, or (direction
    unknown) the downlink one and then the uplink one. An RR broadcast message without its pseudo-length
    (QCSuper) is retried with one prepended."""
    if not payload:
        return Decoded(name="unknown", protocol="DTAP", error="empty message")
    parsers: tuple[Parser, ...] = (
        (parse_nas_mo,) if uplink else (parse_nas_mt,) if uplink is False else (parse_nas_mt, parse_nas_mo)
    )
    decoded = _decode_with(parsers[0], payload)
    for parser in parsers[1:]:
        if decoded.error is None:
            break
        decoded = _decode_with(parser, payload)
    # the pseudo-length field has 6 bits: a longer message cannot have had one
    if decoded.error is not None and decoded.protocol in _PSEUDO_LENGTH_RETRY and len(payload) < 64:
        retried = _decode_with(parse_nas_mt, bytes([(len(payload) << 2) | 1]) + payload, wl2=True)
        if retried.error is None:
            return retried
    return decoded


def _decode_with(parser: Parser, payload: bytes, wl2: bool = False) -> Decoded:
    start = 1 if wl2 else 0
    protocol = PROTOCOLS.get(payload[start] & 0x0F, "DTAP") if len(payload) > start else "DTAP"
    try:
        message, code = parser(payload, wl2=wl2) if wl2 else parser(payload)
        if message is None:
            return Decoded(name="unknown", protocol=protocol, error=f"pycrate could not decode it (code {code})")
        return _typed(type(message).__name__, protocol, message)
    except Exception as error:  # pycrate raises many types on crafted bytes: one frame, never the file
        return Decoded(name="unknown", protocol=protocol, error=f"{type(error).__name__}: {error}"[:200])


def _typed(name: str, protocol: str, message: Any) -> Decoded:
    build = _BUILDERS.get(name)
    if build is None:
        return Layer3Message(name=name, protocol=protocol)
    return build(name, protocol, message)


def _value(message: Any, *path: str) -> Any:
    """The value at ``path`` of a pycrate message (IE names), or None when an optional IE is absent."""
    element = message
    for key in path:
        try:
            element = element[key]
        except Exception:  # pycrate raises its own EltErr, or KeyError/IndexError, for an absent IE
            return None
    if element is None or getattr(element, "get_trans", lambda: False)():
        return None
    return element.get_val()


def _int(message: Any, *path: str) -> int | None:
    """An integer value, also when pycrate wraps it in a one-item list (a V IE of one field)."""
    value = _value(message, *path)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def plmn_text(octets: bytes) -> str | None:
    """The ``mcc-mnc`` of a 3-octet BCD PLMN (TS 24.008 10.5.1.3): MNC digit 3 of 0xF means a 2-digit MNC."""
    if len(octets) != 3:
        return None
    digits = [octets[0] & 0x0F, octets[0] >> 4, octets[1] & 0x0F, octets[2] & 0x0F, octets[2] >> 4, octets[1] >> 4]
    if any(d > 9 for d in digits[:5]) or (digits[5] > 9 and digits[5] != 0x0F):
        return None
    mnc = "".join(map(str, digits[3:5])) + ("" if digits[5] == 0x0F else str(digits[5]))
    return "".join(map(str, digits[:3])) + "-" + mnc


def _lai(message: Any) -> tuple[str | None, int | None]:
    """The PLMN and LAC of a message's LAI (a Type3V IE whose value is PLMN octets and the LAC)."""
    value = _value(message, "LAI")
    while isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], bytes) and isinstance(value[1], int):
        return plmn_text(value[0]), value[1]
    if isinstance(value, bytes) and len(value) == 5:
        return plmn_text(value[:3]), int.from_bytes(value[3:], "big")
    return None, None


def _cipher_mode_command(name: str, protocol: str, message: Any) -> Decoded:
    setting = _value(message, "CipherModeSetting", "CipherModeSetting")
    response = _value(message, "CipherResp", "CipherResp")
    if not (isinstance(setting, list) and len(setting) == 2):
        return Decoded(name=name, protocol=protocol, error="no cipher mode setting")
    algorithm_bits, sc = setting
    ciphering = sc == 1
    # algorithm identifier 0-6 is A5/1-A5/7; 7 is reserved (TS 44.018 10.5.2.9)
    algorithm = ("reserved" if algorithm_bits == 7 else f"A5/{algorithm_bits + 1}") if ciphering else "none"
    imeisv = isinstance(response, list) and len(response) == 2 and response[1] == 1
    return CipherModeCommand(
        name=name,
        protocol=protocol,
        security=Security(layer="AS", ciphering=algorithm, integrity=None),
        ciphering=ciphering,
        algorithm=algorithm,
        imeisv_requested=imeisv,
    )


def _gprs_ciphering(name: str, protocol: str, message: Any) -> Decoded:
    value = _int(message, "CiphAlgo", "V")
    algorithm = f"GEA{value if value is not None else 0}"
    return GprsCipheringRequest(
        name=name,
        protocol=protocol,
        security=Security(layer="NAS", ciphering=algorithm, integrity=None),
        algorithm=algorithm,
        imeisv_requested=_int(message, "IMEISVReq", "V") == 1,
    )


def _identity_request(name: str, protocol: str, message: Any) -> Decoded:
    return IdentityRequest(name=name, protocol=protocol, identity_type=_int(message, "IDType", "V") or 0)


def _location_updating_request(name: str, protocol: str, message: Any) -> Decoded:
    plmn, lac = _lai(message)
    identity = _value(message, "ID")
    kind: str | None = None
    # pycrate gives a mobile identity (TS 24.008 10.5.1.4) as [length, [digit 1, odd/even, type, digits]]
    if isinstance(identity, list) and len(identity) == 2 and isinstance(identity[1], list) and len(identity[1]) > 2:
        kind = IDENTITY_TYPES.get(identity[1][2]) if isinstance(identity[1][2], int) else None
    return LocationUpdatingRequest(name=name, protocol=protocol, plmn=plmn, lac=lac, identity_type=kind)


def _location_updating_accept(name: str, protocol: str, message: Any) -> Decoded:
    plmn, lac = _lai(message)
    return LocationUpdatingAccept(name=name, protocol=protocol, plmn=plmn, lac=lac)


def _reject(name: str, protocol: str, message: Any) -> Decoded:
    cause = _int(message, "RejectCause")
    if cause is None:
        cause = _int(message, "GMMCause")
    return Reject(name=name, protocol=protocol, cause=cause)


def _authentication(step: str) -> Callable[[str, str, Any], Decoded]:
    def build(name: str, protocol: str, message: Any) -> Decoded:
        return Authentication(name=name, protocol=protocol, step=step)

    return build


def _system_information_3(name: str, protocol: str, message: Any) -> Decoded:
    plmn, lac = _lai(message)
    cell_id = _int(message, "CellId")
    control = _value(message, "CtrlChanDesc", "CtrlChanDesc")
    selection = _value(message, "CellSelParams", "CellSelParams")
    if not (isinstance(control, list) and len(control) == 9 and isinstance(selection, list) and selection):
        return Decoded(name=name, protocol=protocol, error="no control channel description")
    _, _, ag_blocks, ccch_conf, _, _, _, pa_mfrms, t3212 = control
    return SystemInformation3(
        name=name,
        protocol=protocol,
        identity=CellIdentity(plmns=(plmn,) if plmn else (), area=lac, cell_id=cell_id),
        t3212=t3212,
        cell_reselect_hysteresis=selection[0],
        cell_reselect_offset=_cell_reselect_offset(message),
        bs_ag_blks_res=ag_blocks,
        bs_pa_mfrms=pa_mfrms,
        ccch_combined=ccch_conf == 1,
    )


def _cell_reselect_offset(message: Any) -> int | None:
    """CELL_RESELECT_OFFSET of the SI3 rest octets' optional selection parameters (TS 44.018 10.5.2.34):
    pycrate's value starts with ``['H', [CBQ, CELL_RESELECT_OFFSET, TEMPORARY_OFFSET, PENALTY_TIME]]``
    when they are present, ``['L']`` when not."""
    rest = _value(message, "SI3RestOctets")
    if not (isinstance(rest, list) and rest and isinstance(rest[0], list) and rest[0]):
        return None
    selection = rest[0][0]
    if (
        isinstance(selection, list)
        and len(selection) == 2
        and selection[0] == "H"
        and isinstance(selection[1], list)
        and len(selection[1]) == 4
        and isinstance(selection[1][1], int)
    ):
        return int(selection[1][1])
    return None


def _system_information_4(name: str, protocol: str, message: Any) -> Decoded:
    plmn, lac = _lai(message)
    return Layer3Message(
        name=name, protocol=protocol, identity=CellIdentity(plmns=(plmn,) if plmn else (), area=lac, cell_id=None)
    )


def _neighbour_list(name: str, protocol: str, message: Any) -> Decoded:
    field = "BCCHFreqList" if "BCCHFreqList" in _names(message) else "ExtBCCHFreqList"
    try:
        arfcns = tuple(sorted({int(a) for a in message[field][-1].decode() if 0 <= int(a) < 1024}))
    except Exception as error:  # a crafted frequency list: the message stays, its list is unknown
        return NeighbourList(name=name, protocol=protocol, error=f"frequency list: {type(error).__name__}")
    return NeighbourList(name=name, protocol=protocol, arfcns=arfcns)


def _names(message: Any) -> tuple[str, ...]:
    try:
        return tuple(message._by_name)
    except AttributeError:
        return ()


def _paging(name: str, protocol: str, message: Any) -> Decoded:
    return Paging(name=name, protocol=protocol)


_BUILDERS: dict[str, Callable[[str, str, Any], Decoded]] = {
    "RRCipheringModeCmd": _cipher_mode_command,
    "GMMAuthenticationCipheringRequest": _gprs_ciphering,
    "MMIdentityRequest": _identity_request,
    "GMMIdentityRequest": _identity_request,
    "MMLocationUpdatingRequest": _location_updating_request,
    "MMLocationUpdatingAccept": _location_updating_accept,
    "MMLocationUpdatingReject": _reject,
    "MMCMServiceReject": _reject,
    "GMMAttachReject": _reject,
    "GMMRoutingAreaUpdateReject": _reject,
    "GMMServiceReject": _reject,
    "MMAuthenticationRequest": _authentication("request"),
    "MMAuthenticationResponse": _authentication("response"),
    "MMAuthenticationReject": _authentication("reject"),
    "MMAuthenticationFailure": _authentication("failure"),
    "GMMAuthenticationCipheringResponse": _authentication("response"),
    "GMMAuthenticationCipheringReject": _authentication("reject"),
    "GMMAuthenticationCipheringFailure": _authentication("failure"),
    "RRSystemInfo3": _system_information_3,
    "RRSystemInfo4": _system_information_4,
    "RRSystemInfo2": _neighbour_list,
    "RRSystemInfo2bis": _neighbour_list,
    "RRSystemInfo2ter": _neighbour_list,
    "RRSystemInfo5": _neighbour_list,
    "RRSystemInfo5bis": _neighbour_list,
    "RRSystemInfo5ter": _neighbour_list,
    "RRPagingReq1": _paging,
    "RRPagingReq2": _paging,
    "RRPagingReq3": _paging,
}
